/* SPDX-License-Identifier: MIT */
/*
 * Table-driven YAML loader. The document is read as a stream of libyaml events and walked
 * against the caller's tables directly, without building a node tree: memory stays bounded by
 * the input limits, and every error has the mark of the event that caused it.
 *
 * Aliases are refused outright. They are never needed in a configuration file and are the
 * only way a small document can expand into a large one ("billion laughs"); anchors alone are
 * harmless and are ignored.
 *
 * Ownership: everything the loader allocates hangs off the destination struct at all times
 * (list counts include a partly filled element), so cfg_free() cleans up after an error at any
 * point. CFG_CUSTOM destinations must not own memory: the loader cannot free them.
 *
 * Secrets pass through here (token keys, a conninfo's password): every copy the loader frees
 * is wiped first, the file's bytes, each string, each event's scalar and libyaml's input
 * buffers. libyaml's scanner still frees the shorter buffers a scalar outgrows unwiped.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <yaml.h>

#include "cfg.h"
#include "log.h"
#include "net-addr.h"

/* Fields per table; a seen-bitmap of this size lives on the stack per nesting level. */
#define CFG_MAX_FIELDS 64
#define CFG_MAX_PATH   256

struct loader {
        yaml_parser_t parser;
        yaml_event_t ev;
        bool have_ev;
        const char *name;
        const char *buf; /* for positions of reader errors, which carry only an offset */
        size_t len;
        struct cfg_error *err;
        unsigned depth;
        char path[CFG_MAX_PATH]; /* dotted key path for messages: "limits.max_headers" */
        size_t path_len;
};

/* Wipe and free a NUL-terminated string (NULL is fine). */
static void str_free(char *s)
{
        if (!s)
                return;
        explicit_bzero(s, strlen(s));
        free(s);
}

/* Delete an event, its scalar's bytes wiped first: that text may be a secret. */
static void event_delete(yaml_event_t *ev)
{
        if (ev->type == YAML_SCALAR_EVENT && ev->data.scalar.value)
                explicit_bzero(ev->data.scalar.value, ev->data.scalar.length);
        yaml_event_delete(ev);
}

/* Delete a parser, its copies of the input wiped first: the raw bytes, their decoding and
 * the scalars of tokens not yet made into events. */
static void parser_delete(yaml_parser_t *p)
{
        if (p->raw_buffer.start)
                explicit_bzero(p->raw_buffer.start,
                               (size_t)(p->raw_buffer.end - p->raw_buffer.start));
        if (p->buffer.start)
                explicit_bzero(p->buffer.start, (size_t)(p->buffer.end - p->buffer.start));
        for (yaml_token_t *t = p->tokens.head; t && t != p->tokens.tail; t++)
                if (t->type == YAML_SCALAR_TOKEN && t->data.scalar.value)
                        explicit_bzero(t->data.scalar.value, t->data.scalar.length);
        yaml_parser_delete(p);
}

/* Position of an event: 1-based line and column. */
struct pos {
        size_t line, col;
};

static struct pos mark_pos(yaml_mark_t m)
{
        return (struct pos){m.line + 1, m.column + 1};
}

__attribute__((format(printf, 3, 4))) static int fail(struct loader *l, struct pos p,
                                                      const char *fmt, ...)
{
        int n = snprintf(l->err->msg, sizeof(l->err->msg), "%s:%zu:%zu: ", l->name, p.line, p.col);
        if (n < 0 || (size_t)n >= sizeof(l->err->msg))
                return -EINVAL;
        va_list ap;
        va_start(ap, fmt);
        (void)vsnprintf(l->err->msg + n, sizeof(l->err->msg) - (size_t)n, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

static const char *path_str(const struct loader *l)
{
        return l->path_len ? l->path : "(top level)";
}

/* Append ".key" or "[i]" to the path; returns the old length for path_pop(). */
static size_t path_push(struct loader *l, const char *key, size_t idx)
{
        size_t old = l->path_len;
        int n;
        if (key)
                n = snprintf(l->path + old, sizeof(l->path) - old, "%s%s", old ? "." : "", key);
        else
                n = snprintf(l->path + old, sizeof(l->path) - old, "[%zu]", idx);
        if (n < 0)
                n = 0;
        l->path_len = old + (size_t)n < sizeof(l->path) ? old + (size_t)n : sizeof(l->path) - 1;
        return old;
}

static void path_pop(struct loader *l, size_t old)
{
        l->path_len = old;
        l->path[old] = '\0';
}

/* Position of byte off of the document: the column counts characters, as libyaml's marks do. */
static struct pos pos_at(const struct loader *l, size_t off)
{
        struct pos at = {1, 1};

        for (size_t i = 0; i < off && i < l->len; i++) {
                if (l->buf[i] == '\n') {
                        at.line++;
                        at.col = 1;
                } else if (((unsigned char)l->buf[i] & 0xc0) != 0x80) {
                        at.col++;
                }
        }
        return at;
}

/* Translate a libyaml failure into our message. */
static int fail_yaml(struct loader *l)
{
        yaml_parser_t *p = &l->parser;
        if (p->error == YAML_MEMORY_ERROR) {
                snprintf(l->err->msg, sizeof(l->err->msg), "%s: out of memory", l->name);
                return -ENOMEM;
        }
        /* Reader errors (bad encoding, control bytes) only know the byte offset. */
        struct pos at = p->error == YAML_READER_ERROR ? pos_at(l, p->problem_offset)
                                                      : mark_pos(p->problem_mark);
        const char *problem = p->problem ? p->problem : "invalid YAML";
        if (!p->context)
                return fail(l, at, "%s", problem);
        struct pos ctx = mark_pos(p->context_mark), end = pos_at(l, l->len);
        /* A quote or bracket left open runs to the end of the file, where there is nothing to
         * show: the error is placed where it was opened. */
        if (at.line == end.line && at.col == end.col && (ctx.line != at.line || ctx.col != at.col))
                return fail(l, ctx, "%s %s that starts here", problem, p->context);
        if (ctx.line != at.line)
                return fail(l, at, "%s %s that starts at %zu:%zu", problem, p->context, ctx.line,
                            ctx.col);
        return fail(l, at, "%s %s", problem, p->context);
}

/* Advance to the next event; l->ev holds it until the next call. */
static int next(struct loader *l)
{
        if (l->have_ev) {
                event_delete(&l->ev);
                l->have_ev = false;
        }
        if (!yaml_parser_parse(&l->parser, &l->ev))
                return fail_yaml(l);
        l->have_ev = true;
        if (l->ev.type == YAML_ALIAS_EVENT)
                return fail(l, mark_pos(l->ev.start_mark),
                            "'%s': aliases (*%.64s) are not supported", path_str(l),
                            (const char *)l->ev.data.alias.anchor);
        return 0;
}

static bool is_null_scalar(const yaml_event_t *ev)
{
        if (ev->type != YAML_SCALAR_EVENT || ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
                return false;
        const char *v = (const char *)ev->data.scalar.value;
        return !*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") ||
               !strcmp(v, "NULL");
}

/* ---- value parsers shared with CLI flags ---- */

/* Leading decimal digits into *ret; returns the first byte after them or NULL on overflow or
 * when there are none. */
static const char *parse_digits(const char *s, uint64_t *ret)
{
        uint64_t v = 0;
        const char *p = s;
        for (; *p >= '0' && *p <= '9'; p++) {
                unsigned d = (unsigned)(*p - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return NULL;
                v = v * 10 + d;
        }
        if (p == s)
                return NULL;
        *ret = v;
        return p;
}

int cfg_parse_size(const char *s, uint64_t *ret)
{
        uint64_t v, mult = 1;
        if (!s)
                return -EINVAL;
        const char *p = parse_digits(s, &v);
        if (!p)
                return -EINVAL;
        switch (*p) {
        case 'k':
        case 'K':
                mult = 1ull << 10;
                break;
        case 'm':
        case 'M':
                mult = 1ull << 20;
                break;
        case 'g':
        case 'G':
                mult = 1ull << 30;
                break;
        case 't':
        case 'T':
                mult = 1ull << 40;
                break;
        default:
                break;
        }
        if (mult > 1) {
                p++;
                /* "800Gi" and "800GiB" mean the same as "800G": the units are binary anyway. */
                if (*p == 'i')
                        p++;
        }
        /* "b" is a bit to most readers of "100Mb" (a rate above all): refused, not bytes. */
        if (*p == 'B')
                p++;
        if (*p)
                return -EINVAL;
        if (v > UINT64_MAX / mult)
                return -EINVAL;
        *ret = v * mult;
        return 0;
}

int cfg_parse_duration_ms(const char *s, int64_t *ret)
{
        uint64_t v, mult;
        if (!s)
                return -EINVAL;
        const char *p = parse_digits(s, &v);
        if (!p)
                return -EINVAL;
        if (!*p || !strcmp(p, "s"))
                mult = 1000;
        else if (!strcmp(p, "ms"))
                mult = 1;
        else if (!strcmp(p, "m"))
                mult = 60 * 1000;
        else if (!strcmp(p, "h"))
                mult = 3600 * 1000;
        else if (!strcmp(p, "d"))
                mult = 86400 * 1000;
        else
                return -EINVAL;
        if (v > (uint64_t)INT64_MAX / mult)
                return -EINVAL;
        *ret = (int64_t)(v * mult);
        return 0;
}

static int parse_bool(const char *s, bool *ret)
{
        static const char *const yes[] = {"true", "yes", "on"};
        static const char *const no[] = {"false", "no", "off"};
        for (size_t i = 0; i < 3; i++) {
                if (!strcasecmp(s, yes[i])) {
                        *ret = true;
                        return 0;
                }
                if (!strcasecmp(s, no[i])) {
                        *ret = false;
                        return 0;
                }
        }
        return -EINVAL;
}

static int parse_int(const char *s, int64_t *ret)
{
        bool neg = *s == '-';
        uint64_t v;
        const char *p = parse_digits(s + (neg || *s == '+'), &v);
        if (!p || *p)
                return -EINVAL;
        if (neg) {
                if (v > (uint64_t)INT64_MAX + 1)
                        return -EINVAL;
                *ret = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
        } else {
                if (v > (uint64_t)INT64_MAX)
                        return -EINVAL;
                *ret = (int64_t)v;
        }
        return 0;
}

/* ---- generic setters: text → destination, used for values and for defaults ---- */

static void strlist_clear(struct cfg_strlist *sl)
{
        for (size_t i = 0; i < sl->n; i++)
                str_free(sl->items[i]);
        free(sl->items);
        sl->items = NULL;
        sl->n = 0;
}

static int strlist_append(struct cfg_strlist *sl, const char *s)
{
        char *dup = strdup(s);
        if (!dup)
                return -ENOMEM;
        char **items = realloc(sl->items, (sl->n + 1) * sizeof(*items));
        if (!items) {
                str_free(dup);
                return -ENOMEM;
        }
        items[sl->n++] = dup;
        sl->items = items;
        return 0;
}

static const char *type_name(enum cfg_type t)
{
        switch (t) {
        case CFG_BOOL:
                return "a boolean (true/false)";
        case CFG_INT:
                return "an integer";
        case CFG_SIZE:
                return "a size (e.g. 512M, 800G)";
        case CFG_DURATION:
                return "a duration (e.g. 500ms, 10s, 5m, 1h, 7d)";
        case CFG_STRING:
                return "a string";
        case CFG_STRLIST:
                return "a string or a list of strings";
        case CFG_SECTION:
                return "a mapping";
        case CFG_SECTION_LIST:
                return "a list of mappings";
        case CFG_CUSTOM:
                return "a scalar";
        }
        return "?";
}

/* ms as the file would write it: the largest unit it is a whole number of ("7d", "90s"). */
static void duration_text(int64_t ms, char *buf, size_t cap)
{
        static const struct {
                int64_t ms;
                const char *unit;
        } units[] = {{86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}};

        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
                if (ms != 0 && ms % units[i].ms == 0) {
                        snprintf(buf, cap, "%" PRId64 "%s", ms / units[i].ms, units[i].unit);
                        return;
                }
        snprintf(buf, cap, "%" PRId64 "ms", ms);
}

/* A duration value outside the field's bounds: the message writes them as the file would. */
static int check_duration_bounds(const struct cfg_field *f, int64_t v, char *err, size_t errlen)
{
        char lo[32], hi[32];

        if (v >= f->min && (f->max == 0 || v <= f->max))
                return 0;
        duration_text(f->min, lo, sizeof(lo));
        duration_text(f->max, hi, sizeof(hi));
        if (f->max == 0)
                snprintf(err, errlen, "must be at least %s", lo);
        else
                snprintf(err, errlen, "must be between %s and %s", lo, hi);
        return -ERANGE;
}

/* Checks value v against the field's numeric bounds; the unit is only for the message. */
static int check_bounds(const struct cfg_field *f, int64_t v, const char *unit, char *err,
                        size_t errlen)
{
        if (v >= f->min && (f->max == 0 || v <= f->max))
                return 0;
        if (f->max == 0)
                snprintf(err, errlen, "must be at least %" PRId64 "%s", f->min, unit);
        else
                snprintf(err, errlen, "must be between %" PRId64 "%s and %" PRId64 "%s", f->min,
                         unit, f->max, unit);
        return -ERANGE;
}

/*
 * Set a scalar-typed field (everything but lists and sections, plus the one-scalar form of a
 * string list) from text. On a value error writes err and returns -EINVAL/-ERANGE; -ENOMEM.
 */
static int set_scalar(const struct cfg_field *f, void *dst, const char *text, char *err,
                      size_t errlen)
{
        int r;
        switch (f->type) {
        case CFG_BOOL:
                if (parse_bool(text, dst) < 0)
                        goto bad_type;
                return 0;
        case CFG_INT: {
                int64_t v;
                if (parse_int(text, &v) < 0)
                        goto bad_type;
                if ((r = check_bounds(f, v, "", err, errlen)) < 0)
                        return r;
                *(int64_t *)dst = v;
                return 0;
        }
        case CFG_SIZE: {
                uint64_t v;
                if (cfg_parse_size(text, &v) < 0) {
                        char as_bytes[32];
                        size_t n = strlen(text);
                        /* A size but for its lowercase b: say why it is refused. */
                        if (n > 1 && n < sizeof(as_bytes) && text[n - 1] == 'b') {
                                memcpy(as_bytes, text, n - 1);
                                as_bytes[n - 1] = 'B';
                                as_bytes[n] = '\0';
                                if (cfg_parse_size(as_bytes, &v) == 0) {
                                        const char *why =
                                            "must be a size in bytes: write B, not b (bits)";
                                        snprintf(err, errlen, "%s", why);
                                        return -EINVAL;
                                }
                        }
                        goto bad_type;
                }
                /* Bounds are int64_t; sizes above INT64_MAX only pass an unbounded field. */
                if (v > (uint64_t)INT64_MAX) {
                        if (f->max != 0) {
                                snprintf(err, errlen, "must be at most %" PRId64 " bytes", f->max);
                                return -ERANGE;
                        }
                } else if ((r = check_bounds(f, (int64_t)v, " bytes", err, errlen)) < 0) {
                        return r;
                }
                *(uint64_t *)dst = v;
                return 0;
        }
        case CFG_DURATION: {
                int64_t v;
                if (cfg_parse_duration_ms(text, &v) < 0)
                        goto bad_type;
                if ((r = check_duration_bounds(f, v, err, errlen)) < 0)
                        return r;
                *(int64_t *)dst = v;
                return 0;
        }
        case CFG_STRING: {
                char *s = strdup(text);
                if (!s)
                        return -ENOMEM;
                str_free(*(char **)dst);
                *(char **)dst = s;
                return 0;
        }
        case CFG_STRLIST:
                strlist_clear(dst);
                return strlist_append(dst, text);
        case CFG_CUSTOM:
                if (!f->parse)
                        return -EINVAL;
                err[0] = '\0';
                r = f->parse(text, dst, err, errlen);
                if (r < 0 && !err[0])
                        snprintf(err, errlen, "invalid value");
                return r < 0 ? (r == -ENOMEM ? r : -EINVAL) : 0;
        case CFG_SECTION:
        case CFG_SECTION_LIST:
                break;
        }
        snprintf(err, errlen, "must be %s", type_name(f->type));
        return -EINVAL;
bad_type:
        snprintf(err, errlen, "must be %s", type_name(f->type));
        return -EINVAL;
}

static size_t table_len(const struct cfg_field *t)
{
        size_t n = 0;
        while (t[n].key)
                n++;
        return n;
}

/* Apply every default in table t (recursing into sections) to obj. */
static int apply_defaults_at(struct loader *l, const struct cfg_field *t, char *obj, unsigned depth)
{
        char err[256];
        for (; t->key; t++) {
                void *dst = obj + t->offset;
                int r = 0;
                /* The depth bound also ends tables that contain themselves. A section has no
                 * default of its own: a failure inside it has already said which key broke. */
                if (t->type == CFG_SECTION) {
                        if (t->sub && depth < CFG_MAX_DEPTH &&
                            (r = apply_defaults_at(l, t->sub, dst, depth + 1)) < 0)
                                return r;
                        continue;
                }
                if (t->def && t->type != CFG_SECTION_LIST)
                        r = set_scalar(t, dst, t->def, err, sizeof(err));
                if (r == -ENOMEM) {
                        snprintf(l->err->msg, sizeof(l->err->msg), "%s: out of memory", l->name);
                        return r;
                }
                if (r < 0) {
                        /* A broken table is a programmer error; say where it is. */
                        snprintf(l->err->msg, sizeof(l->err->msg),
                                 "%s: invalid default \"%s\" for '%s'", l->name, t->def, t->key);
                        return -EINVAL;
                }
        }
        return 0;
}

static int apply_defaults(struct loader *l, const struct cfg_field *t, char *obj)
{
        return apply_defaults_at(l, t, obj, 1);
}

/* ---- the walk ---- */

static int parse_mapping(struct loader *l, const struct cfg_field *t, char *obj);
static int check_required(struct loader *l, const struct cfg_field *t, const bool *seen,
                          struct pos at, unsigned depth);

/* The current event is a scalar: check limits, hand back its text. */
static int scalar_text(struct loader *l, const char **ret)
{
        const yaml_event_t *ev = &l->ev;
        if (ev->data.scalar.length > CFG_MAX_SCALAR)
                return fail(l, mark_pos(ev->start_mark), "'%s': value longer than %u bytes",
                            path_str(l), (unsigned)CFG_MAX_SCALAR);
        if (memchr(ev->data.scalar.value, '\0', ev->data.scalar.length))
                return fail(l, mark_pos(ev->start_mark), "'%s': value contains a NUL byte",
                            path_str(l));
        *ret = (const char *)ev->data.scalar.value;
        return 0;
}

static int enter(struct loader *l)
{
        if (++l->depth > CFG_MAX_DEPTH)
                return fail(l, mark_pos(l->ev.start_mark), "nesting deeper than %d levels",
                            CFG_MAX_DEPTH);
        return 0;
}

/* The field's own maximum, or CFG_MAX_LIST for a field that sets none. */
static size_t list_limit(const struct cfg_field *f)
{
        return f->max > 0 ? (size_t)f->max : CFG_MAX_LIST;
}

static int parse_strlist(struct loader *l, const struct cfg_field *f, struct cfg_strlist *sl)
{
        struct pos start = mark_pos(l->ev.start_mark);
        int r = enter(l);
        if (r < 0)
                return r;
        strlist_clear(sl);
        for (;;) {
                if ((r = next(l)) < 0)
                        return r;
                if (l->ev.type == YAML_SEQUENCE_END_EVENT)
                        break;
                size_t old = path_push(l, NULL, sl->n);
                if (l->ev.type != YAML_SCALAR_EVENT)
                        return fail(l, mark_pos(l->ev.start_mark), "'%s' must be a string",
                                    path_str(l));
                if (sl->n >= list_limit(f))
                        return fail(l, mark_pos(l->ev.start_mark),
                                    "'%.*s' has more than %zu entries", (int)old, l->path,
                                    list_limit(f));
                const char *text;
                if ((r = scalar_text(l, &text)) < 0)
                        return r;
                if ((r = strlist_append(sl, text)) < 0)
                        return r;
                path_pop(l, old);
        }
        l->depth--;
        if (sl->n < (size_t)(f->min > 0 ? f->min : 0))
                return fail(l, start, "'%s' needs at least %" PRId64 " entr%s", path_str(l), f->min,
                            f->min == 1 ? "y" : "ies");
        return 0;
}

static int parse_section_list(struct loader *l, const struct cfg_field *f, struct cfg_list *cl)
{
        struct pos start = mark_pos(l->ev.start_mark);
        int r = enter(l);
        if (r < 0)
                return r;
        for (;;) {
                if ((r = next(l)) < 0)
                        return r;
                if (l->ev.type == YAML_SEQUENCE_END_EVENT)
                        break;
                size_t old = path_push(l, NULL, cl->n);
                if (l->ev.type != YAML_MAPPING_START_EVENT)
                        return fail(l, mark_pos(l->ev.start_mark), "'%s' must be a mapping",
                                    path_str(l));
                if (cl->n >= list_limit(f))
                        return fail(l, mark_pos(l->ev.start_mark),
                                    "'%.*s' has more than %zu entries", (int)old, l->path,
                                    list_limit(f));
                char *items = realloc(cl->items, (cl->n + 1) * f->elem_size);
                if (!items)
                        return -ENOMEM;
                cl->items = items;
                char *elem = items + cl->n * f->elem_size;
                memset(elem, 0, f->elem_size);
                cl->n++; /* counted before filling, so cfg_free sees a partial element */
                if ((r = apply_defaults(l, f->sub, elem)) < 0)
                        return r;
                if ((r = enter(l)) < 0)
                        return r;
                if ((r = parse_mapping(l, f->sub, elem)) < 0)
                        return r;
                l->depth--;
                path_pop(l, old);
        }
        l->depth--;
        if (cl->n < (size_t)(f->min > 0 ? f->min : 0))
                return fail(l, start, "'%s' needs at least %" PRId64 " entr%s", path_str(l), f->min,
                            f->min == 1 ? "y" : "ies");
        return 0;
}

/* The current event starts the value of field f (path already names it). */
static int parse_value(struct loader *l, const struct cfg_field *f, void *dst)
{
        yaml_event_t *ev = &l->ev;
        struct pos at = mark_pos(ev->start_mark);
        char err[256];
        const char *text;
        int r;

        switch (f->type) {
        case CFG_SECTION:
                /* "admin:" with nothing under it: all defaults, but a required key inside is
                 * as missing as when the section is absent. */
                if (is_null_scalar(ev))
                        return check_required(l, f->sub, NULL, at, l->depth + 1);
                if (ev->type != YAML_MAPPING_START_EVENT)
                        break;
                if ((r = enter(l)) < 0)
                        return r;
                if ((r = parse_mapping(l, f->sub, dst)) < 0)
                        return r;
                l->depth--;
                return 0;
        case CFG_SECTION_LIST:
                if (is_null_scalar(ev) && f->min <= 0)
                        return 0;
                if (ev->type != YAML_SEQUENCE_START_EVENT)
                        break;
                return parse_section_list(l, f, dst);
        case CFG_STRLIST:
                if (ev->type == YAML_SEQUENCE_START_EVENT)
                        return parse_strlist(l, f, dst);
                /* An empty value is an empty list, not a list of one empty string. */
                if (is_null_scalar(ev) && f->min > 0)
                        return fail(l, at, "'%s' needs at least %" PRId64 " entr%s", path_str(l),
                                    f->min, f->min == 1 ? "y" : "ies");
                if (is_null_scalar(ev)) {
                        strlist_clear(dst);
                        return 0;
                }
                if (ev->type != YAML_SCALAR_EVENT)
                        break;
                if (f->min > 1)
                        return fail(l, at, "'%s' needs at least %" PRId64 " entries", path_str(l),
                                    f->min);
                if ((r = scalar_text(l, &text)) < 0)
                        return r;
                return set_scalar(f, dst, text, err, sizeof(err));
        case CFG_STRING:
                if (is_null_scalar(ev) && !f->required) {
                        /* An explicit null clears a default: "access_log: ~" turns it off. */
                        str_free(*(char **)dst);
                        *(char **)dst = NULL;
                        return 0;
                }
                __attribute__((fallthrough));
        case CFG_BOOL:
        case CFG_INT:
        case CFG_SIZE:
        case CFG_DURATION:
        case CFG_CUSTOM:
                if (ev->type != YAML_SCALAR_EVENT)
                        break;
                if (is_null_scalar(ev))
                        return fail(l, at, "'%s' needs a value (%s)", path_str(l),
                                    type_name(f->type));
                if ((r = scalar_text(l, &text)) < 0)
                        return r;
                r = set_scalar(f, dst, text, err, sizeof(err));
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return fail(l, at, "'%s' %s, got \"%s\"", path_str(l), err, text);
                return 0;
        }
        return fail(l, at, "'%s' must be %s", path_str(l), type_name(f->type));
}

/* Reports the first required key of t missing from obj's mapping (seen marks the present
 * ones; NULL: the whole section was absent). Recurses into absent sections. */
static int check_required(struct loader *l, const struct cfg_field *t, const bool *seen,
                          struct pos at, unsigned depth)
{
        for (size_t i = 0; t[i].key; i++) {
                if (seen && seen[i])
                        continue;
                size_t old = path_push(l, t[i].key, 0);
                int r = 0;
                if (t[i].required)
                        r = fail(l, at, "missing required key '%s'", path_str(l));
                else if (t[i].type == CFG_SECTION && t[i].sub && depth < CFG_MAX_DEPTH)
                        r = check_required(l, t[i].sub, NULL, at, depth + 1);
                if (r < 0)
                        return r;
                path_pop(l, old);
        }
        return 0;
}

/* The current event is MAPPING_START; reads through its MAPPING_END. */
static int parse_mapping(struct loader *l, const struct cfg_field *t, char *obj)
{
        struct pos start = mark_pos(l->ev.start_mark);
        bool seen[CFG_MAX_FIELDS] = {false};
        size_t n = table_len(t);
        int r;

        if (n > CFG_MAX_FIELDS) {
                snprintf(l->err->msg, sizeof(l->err->msg), "%s: table '%s' has more than %d keys",
                         l->name, path_str(l), CFG_MAX_FIELDS);
                return -EINVAL;
        }
        for (;;) {
                if ((r = next(l)) < 0)
                        return r;
                if (l->ev.type == YAML_MAPPING_END_EVENT)
                        break;
                struct pos kpos = mark_pos(l->ev.start_mark);
                if (l->ev.type != YAML_SCALAR_EVENT)
                        return fail(l, kpos, "keys in '%s' must be plain strings", path_str(l));
                const char *key;
                if ((r = scalar_text(l, &key)) < 0)
                        return r;
                size_t i;
                for (i = 0; i < n; i++)
                        if (!strcmp(t[i].key, key))
                                break;
                size_t old = path_push(l, key, 0);
                if (i == n)
                        return fail(l, kpos, "unknown key '%s'", path_str(l));
                if (seen[i])
                        return fail(l, kpos, "duplicate key '%s'", path_str(l));
                seen[i] = true;
                if ((r = next(l)) < 0)
                        return r;
                if ((r = parse_value(l, &t[i], obj + t[i].offset)) < 0)
                        return r;
                path_pop(l, old);
        }
        return check_required(l, t, seen, start, l->depth);
}

static int parse_stream(struct loader *l, const struct cfg_field *root, void *obj)
{
        static const bool none[CFG_MAX_FIELDS];
        int r;

        if ((r = apply_defaults(l, root, obj)) < 0)
                return r;
        if ((r = next(l)) < 0) /* STREAM_START */
                return r;
        if ((r = next(l)) < 0)
                return r;
        if (l->ev.type == YAML_STREAM_END_EVENT) /* empty file: every key takes its default */
                return check_required(l, root, none, (struct pos){1, 1}, 1);
        /* DOCUMENT_START, then the root node. */
        if ((r = next(l)) < 0)
                return r;
        if (is_null_scalar(&l->ev)) {
                if ((r = check_required(l, root, none, mark_pos(l->ev.start_mark), 1)) < 0)
                        return r;
        } else if (l->ev.type == YAML_MAPPING_START_EVENT) {
                if ((r = enter(l)) < 0)
                        return r;
                if ((r = parse_mapping(l, root, obj)) < 0)
                        return r;
        } else {
                return fail(l, mark_pos(l->ev.start_mark), "the top level must be a mapping");
        }
        if ((r = next(l)) < 0) /* DOCUMENT_END */
                return r;
        if ((r = next(l)) < 0)
                return r;
        if (l->ev.type != YAML_STREAM_END_EVENT)
                return fail(l, mark_pos(l->ev.start_mark),
                            "only one YAML document is allowed per file");
        return 0;
}

int cfg_load_buf(const char *name, const char *buf, size_t len, const struct cfg_field *root,
                 void *ret, struct cfg_error *err)
{
        struct loader l = {.name = name ? name : "(config)", .buf = buf, .len = len, .err = err};
        int r;

        err->msg[0] = '\0';
        l.path[0] = '\0';
        if (len > CFG_MAX_FILE) {
                snprintf(err->msg, sizeof(err->msg), "%s: larger than %u bytes", l.name,
                         (unsigned)CFG_MAX_FILE);
                cfg_free(root, ret);
                return -EINVAL;
        }
        if (!yaml_parser_initialize(&l.parser)) {
                snprintf(err->msg, sizeof(err->msg), "%s: out of memory", l.name);
                cfg_free(root, ret);
                return -ENOMEM;
        }
        yaml_parser_set_input_string(&l.parser, (const unsigned char *)buf, len);
        r = parse_stream(&l, root, ret);
        if (l.have_ev)
                event_delete(&l.ev);
        parser_delete(&l.parser);
        if (r < 0) {
                if (r == -ENOMEM && !err->msg[0])
                        snprintf(err->msg, sizeof(err->msg), "%s: out of memory", l.name);
                cfg_free(root, ret);
        }
        return r;
}

int cfg_read_file(const char *path, char **ret_buf, size_t *ret_len, struct cfg_error *err)
{
        char *buf = NULL;
        size_t len = 0;
        int r = 0;
        int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                r = -errno;
                goto out;
        }
        /* Read one byte past the limit to tell "at" from "over" without trusting st_size
         * (pipes and /proc files report 0). */
        buf = malloc(CFG_MAX_FILE + 1);
        if (!buf) {
                r = -ENOMEM;
                goto out;
        }
        while (len < CFG_MAX_FILE + 1) {
                ssize_t n = read(fd, buf + len, CFG_MAX_FILE + 1 - len);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0) {
                        r = -errno;
                        goto out;
                }
                if (n == 0)
                        break;
                len += (size_t)n;
        }
        if (len > CFG_MAX_FILE) {
                snprintf(err->msg, sizeof(err->msg), "%s: larger than %u bytes", path,
                         (unsigned)CFG_MAX_FILE);
                r = -EFBIG;
                goto out;
        }
        *ret_buf = buf;
        *ret_len = len;
        buf = NULL;
out:
        if (r < 0 && r != -EFBIG)
                snprintf(err->msg, sizeof(err->msg), "%s: %s", path, strerror(-r));
        if (fd >= 0)
                (void)close(fd);
        if (buf)
                cfg_file_free(buf, len);
        return r;
}

void cfg_file_free(char *buf, size_t len)
{
        if (!buf)
                return;
        explicit_bzero(buf, len);
        free(buf);
}

int cfg_load_buf_checked(const char *name, const char *buf, size_t len,
                         const struct cfg_field *root, void *ret, cfg_check_fn *check,
                         struct cfg_error *err)
{
        int r = cfg_load_buf(name, buf, len, root, ret, err);

        if (r == 0 && check) {
                r = check(ret, name ? name : "(config)", buf, len, err);
                if (r < 0)
                        cfg_free(root, ret);
        }
        return r;
}

int cfg_load_file_checked(const char *path, const struct cfg_field *root, void *ret,
                          cfg_check_fn *check, struct cfg_error *err)
{
        char *buf = NULL;
        size_t len = 0;
        int r = cfg_read_file(path, &buf, &len, err);
        if (r < 0) {
                cfg_free(root, ret);
                return r;
        }
        r = cfg_load_buf_checked(path, buf, len, root, ret, check, err);
        cfg_file_free(buf, len);
        return r;
}

int cfg_load_file(const char *path, const struct cfg_field *root, void *ret, struct cfg_error *err)
{
        return cfg_load_file_checked(path, root, ret, NULL, err);
}

int cfg_load_new(const char *name, const char *buf, size_t len, const struct cfg_field *root,
                 size_t size, cfg_check_fn *check, void **ret, struct cfg_error *err)
{
        void *obj = calloc(1, size);
        int r;

        if (!obj) {
                snprintf(err->msg, sizeof(err->msg), "%s: out of memory", name ? name : "(config)");
                return -ENOMEM;
        }
        r = buf ? cfg_load_buf_checked(name, buf, len, root, obj, check, err)
                : cfg_load_file_checked(name, root, obj, check, err);
        if (r < 0) {
                free(obj); /* its insides already freed */
                return r;
        }
        *ret = obj;
        return 0;
}

/* ---- positions for checks made after loading ---- */

struct walk {
        yaml_parser_t parser;
        yaml_event_t ev;
        bool have_ev;
};

static bool walk_next(struct walk *w)
{
        if (w->have_ev)
                event_delete(&w->ev);
        w->have_ev = yaml_parser_parse(&w->parser, &w->ev) != 0;
        return w->have_ev;
}

/* The current event starts a node; consume through its end. */
static bool walk_skip(struct walk *w)
{
        int depth = 0;
        do {
                switch (w->ev.type) {
                case YAML_MAPPING_START_EVENT:
                case YAML_SEQUENCE_START_EVENT:
                        depth++;
                        break;
                case YAML_MAPPING_END_EVENT:
                case YAML_SEQUENCE_END_EVENT:
                        depth--;
                        break;
                default:
                        break;
                }
                if (depth == 0)
                        return true;
        } while (walk_next(w));
        return false;
}

/* Descend from the current node along one path component; false when it is absent. */
static bool walk_step(struct walk *w, const char **pathp)
{
        const char *p = *pathp;
        if (*p == '[') {
                char *end;
                unsigned long idx = strtoul(p + 1, &end, 10);
                if (*end != ']')
                        return false;
                *pathp = end + 1;
                if (w->ev.type == YAML_SCALAR_EVENT)
                        return idx == 0; /* the one-scalar form of a list */
                if (w->ev.type != YAML_SEQUENCE_START_EVENT)
                        return false;
                for (unsigned long i = 0;; i++) {
                        if (!walk_next(w) || w->ev.type == YAML_SEQUENCE_END_EVENT)
                                return false;
                        if (i == idx)
                                return true;
                        if (!walk_skip(w))
                                return false;
                }
        }
        size_t klen = strcspn(p, ".[");
        *pathp = p + klen;
        if (w->ev.type != YAML_MAPPING_START_EVENT)
                return false;
        for (;;) {
                if (!walk_next(w) || w->ev.type != YAML_SCALAR_EVENT)
                        return false;
                bool match =
                    w->ev.data.scalar.length == klen && !memcmp(w->ev.data.scalar.value, p, klen);
                if (!walk_next(w))
                        return false;
                if (match)
                        return true;
                if (!walk_skip(w))
                        return false;
        }
}

static struct pos find_pos(const char *buf, size_t len, const char *path)
{
        struct walk w = {.have_ev = false};
        struct pos at = {1, 1};
        if (!yaml_parser_initialize(&w.parser))
                return at;
        yaml_parser_set_input_string(&w.parser, (const unsigned char *)buf, len);
        /* STREAM_START, DOCUMENT_START, root node */
        if (!walk_next(&w) || !walk_next(&w) || w.ev.type != YAML_DOCUMENT_START_EVENT ||
            !walk_next(&w))
                goto out;
        at = mark_pos(w.ev.start_mark);
        const char *p = path ? path : "";
        while (*p) {
                if (*p == '.')
                        p++;
                if (!walk_step(&w, &p))
                        break;
                at = mark_pos(w.ev.start_mark);
        }
out:
        if (w.have_ev)
                event_delete(&w.ev);
        parser_delete(&w.parser);
        return at;
}

int cfg_error_at(struct cfg_error *err, const char *name, const char *buf, size_t len,
                 const char *node_path, const char *fmt, ...)
{
        struct pos at = find_pos(buf, len, node_path);
        int n = snprintf(err->msg, sizeof(err->msg), "%s:%zu:%zu: ", name ? name : "(config)",
                         at.line, at.col);
        if (n < 0 || (size_t)n >= sizeof(err->msg))
                return -EINVAL;
        va_list ap;
        va_start(ap, fmt);
        (void)vsnprintf(err->msg + n, sizeof(err->msg) - (size_t)n, fmt, ap);
        va_end(ap);
        return -EINVAL;
}

void cfg_warn_at(const char *name, const char *buf, size_t len, const char *node_path,
                 const char *fmt, ...)
{
        struct pos at = find_pos(buf, len, node_path);
        char msg[512];
        va_list ap;

        va_start(ap, fmt);
        (void)vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        log_warn("%s:%zu:%zu: %s", name ? name : "(config)", at.line, at.col, msg);
}

int cfg_origins_canon(struct cfg_strlist *l, const char *key, size_t max_len, const char *name,
                      const char *buf, size_t len, struct cfg_error *err)
{
        char path[64], canon[512];

        for (size_t i = 0; i < l->n; i++) {
                char *o = l->items[i], *d;
                int k;

                snprintf(path, sizeof(path), "%s[%zu]", key, i);
                if (max_len && strlen(o) > max_len)
                        return cfg_error_at(err, name, buf, len, path,
                                            "'%s': longer than an origin can be (%zu bytes)",
                                            path, max_len);
                k = net_origin_canon(o, canon, sizeof(canon));
                if (k < 0 || (k > 0 && max_len && strlen(canon) > max_len))
                        return cfg_error_at(err, name, buf, len, path,
                                            "'%s': \"%s\" is not an origin: \"*\", or "
                                            "http(s)://host[:port] as a browser sends it (no "
                                            "path, no query)",
                                            path, o);
                if (k == 0)
                        continue;
                /* A browser's Origin is compared byte for byte: the entry is taken as the one
                 * it sends (an older release took it as written, and matched no player). */
                d = strdup(canon);
                if (!d)
                        return cfg_error_at(err, name, buf, len, path, "out of memory");
                cfg_warn_at(name, buf, len, path,
                            "'%s': \"%s\" taken as \"%s\", the origin a browser sends; write it "
                            "so",
                            path, o, d);
                free(o);
                l->items[i] = d;
        }
        return 0;
}

static void free_at(const struct cfg_field *root, void *obj, unsigned depth)
{
        if (!obj || !root || depth > CFG_MAX_DEPTH + 1)
                return;
        for (const struct cfg_field *f = root; f->key; f++) {
                void *dst = (char *)obj + f->offset;
                switch (f->type) {
                case CFG_STRING:
                        str_free(*(char **)dst);
                        *(char **)dst = NULL;
                        break;
                case CFG_STRLIST:
                        strlist_clear(dst);
                        break;
                case CFG_SECTION:
                        free_at(f->sub, dst, depth + 1);
                        break;
                case CFG_SECTION_LIST: {
                        struct cfg_list *cl = dst;
                        for (size_t i = 0; i < cl->n; i++)
                                free_at(f->sub, (char *)cl->items + i * f->elem_size, depth + 1);
                        free(cl->items);
                        cl->items = NULL;
                        cl->n = 0;
                        break;
                }
                case CFG_BOOL:
                case CFG_INT:
                case CFG_SIZE:
                case CFG_DURATION:
                case CFG_CUSTOM:
                        break;
                }
        }
}

void cfg_free(const struct cfg_field *root, void *obj)
{
        free_at(root, obj, 1);
}

bool cfg_str_eq(const char *a, const char *b)
{
        return strcmp(a ? a : "", b ? b : "") == 0;
}

bool cfg_strlist_eq(const struct cfg_strlist *a, const struct cfg_strlist *b)
{
        if (a->n != b->n)
                return false;
        for (size_t i = 0; i < a->n; i++)
                if (strcmp(a->items[i], b->items[i]) != 0)
                        return false;
        return true;
}

void cfg_names_add(char *out, size_t cap, const char *name)
{
        size_t n = strlen(out);

        if (n < cap)
                (void)snprintf(out + n, cap - n, "%s%s", n ? ", " : "", name);
}
