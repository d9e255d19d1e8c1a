/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "asset.h"
#include "hex.h"
#include "json-depth.h"

/* Parsing context: where we are, for the error message. */
struct ctx {
        char *err;
        size_t errlen;
};

static int fail(struct ctx *c, int r, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(struct ctx *c, int r, const char *fmt, ...)
{
        if (c->err && c->errlen) {
                va_list ap;
                va_start(ap, fmt);
                (void)vsnprintf(c->err, c->errlen, fmt, ap);
                va_end(ap);
        }
        return r;
}

/* Character classes for strings that end up in URLs and XML. */
enum cls {
        CLS_ID,    /* A-Z a-z 0-9 . _ - ; not starting with '.' */
        CLS_PATH,  /* CLS_ID plus '/', no "..", no empty segment, no leading '/' or '.' */
        CLS_LANG,  /* A-Z a-z 0-9 - */
        CLS_CODEC, /* A-Z a-z 0-9 . + - */
        CLS_MIME,  /* a-z 0-9 / . + - */
};

static int char_ok(enum cls cls, char ch)
{
        int alnum =
            (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
        switch (cls) {
        case CLS_ID:
                return alnum || ch == '.' || ch == '_' || ch == '-';
        case CLS_PATH:
                return alnum || ch == '.' || ch == '_' || ch == '-' || ch == '/';
        case CLS_LANG:
                return alnum || ch == '-';
        case CLS_CODEC:
                return alnum || ch == '.' || ch == '+' || ch == '-';
        case CLS_MIME:
                return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '/' ||
                       ch == '.' || ch == '+' || ch == '-';
        }
        return 0;
}

static int str_ok(enum cls cls, const char *s)
{
        if (!*s)
                return 0;
        for (const char *p = s; *p; p++)
                if (!char_ok(cls, *p))
                        return 0;
        if (cls == CLS_ID && s[0] == '.')
                return 0;
        if (cls == CLS_PATH) {
                /* Every segment non-empty and not starting with '.' (no "..", no hidden files). */
                const char *seg = s;
                for (const char *p = s;; p++) {
                        if (*p == '/' || *p == '\0') {
                                if (p == seg || *seg == '.')
                                        return 0;
                                if (*p == '\0')
                                        break;
                                seg = p + 1;
                        }
                }
        }
        return 1;
}

/*
 * Copy member key of obj into out (size cap) after checking its class. A missing member is an
 * error unless def is given, which is then copied instead.
 */
static int get_str(struct ctx *c, const json_t *obj, const char *where, const char *key,
                   enum cls cls, char *out, size_t cap, const char *def)
{
        const json_t *v = json_object_get(obj, key);
        const char *s;
        if (!v || json_is_null(v)) {
                if (!def)
                        return fail(c, -EBADMSG, "%s.%s: missing", where, key);
                s = def;
        } else {
                if (!json_is_string(v))
                        return fail(c, -EBADMSG, "%s.%s: not a string", where, key);
                s = json_string_value(v);
                if (strlen(s) != json_string_length(v))
                        return fail(c, -EBADMSG, "%s.%s: contains NUL", where, key);
        }
        size_t n = strlen(s);
        if (n >= cap)
                return fail(c, -EBADMSG, "%s.%s: longer than %zu bytes", where, key, cap - 1);
        if (!str_ok(cls, s))
                return fail(c, -EBADMSG, "%s.%s: unexpected characters", where, key);
        memcpy(out, s, n + 1);
        return 0;
}

/* An integer member in [min, max]; missing → def when has_def, else an error. */
static int get_uint(struct ctx *c, const json_t *obj, const char *where, const char *key,
                    uint64_t min, uint64_t max, int has_def, uint64_t def, uint64_t *ret)
{
        const json_t *v = json_object_get(obj, key);
        if (!v || json_is_null(v)) {
                if (!has_def)
                        return fail(c, -EBADMSG, "%s.%s: missing", where, key);
                *ret = def;
                return 0;
        }
        if (!json_is_integer(v))
                return fail(c, -EBADMSG, "%s.%s: not an integer", where, key);
        json_int_t i = json_integer_value(v);
        if (i < 0 || (uint64_t)i < min || (uint64_t)i > max)
                return fail(c, -EBADMSG, "%s.%s: %" JSON_INTEGER_FORMAT " out of range", where, key,
                            i);
        *ret = (uint64_t)i;
        return 0;
}

/* "25/1", "30000/1001" or "25". */
static int parse_fps(const char *s, uint32_t *ret_num, uint32_t *ret_den)
{
        uint64_t num = 0, den = 0;
        const char *p = s;
        if (*p < '0' || *p > '9')
                return -EINVAL;
        for (; *p >= '0' && *p <= '9'; p++) {
                num = num * 10 + (uint64_t)(*p - '0');
                if (num > 1000000)
                        return -EINVAL;
        }
        if (*p == '\0') {
                den = 1;
        } else {
                if (*p++ != '/' || *p < '0' || *p > '9')
                        return -EINVAL;
                for (; *p >= '0' && *p <= '9'; p++) {
                        den = den * 10 + (uint64_t)(*p - '0');
                        if (den > 1000000)
                                return -EINVAL;
                }
                if (*p != '\0')
                        return -EINVAL;
        }
        if (num == 0 || den == 0)
                return -EINVAL;
        *ret_num = (uint32_t)num;
        *ret_den = (uint32_t)den;
        return 0;
}

static int parse_segments(struct ctx *c, const json_t *arr, const char *where, struct asset_rep *r)
{
        size_t n = json_array_size(arr);
        if (n > ASSET_SEGMENTS_MAX)
                return fail(c, -E2BIG, "%s.segments: more than %u", where, ASSET_SEGMENTS_MAX);
        if (n == 0)
                return 0;
        r->segments = calloc(n, sizeof(*r->segments));
        if (!r->segments)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const json_t *s = json_array_get(arr, i);
                char w[96];
                uint64_t t, d;
                int e;
                (void)snprintf(w, sizeof(w), "%s.segments[%zu]", where, i);
                if (!json_is_object(s))
                        return fail(c, -EBADMSG, "%s: not an object", w);
                if ((e = get_uint(c, s, w, "t", 0, INT64_MAX, 0, 0, &t)) < 0 ||
                    (e = get_uint(c, s, w, "d", 1, UINT32_MAX, 0, 0, &d)) < 0)
                        return e;
                if (i > 0 && t < r->segments[i - 1].t + r->segments[i - 1].d)
                        return fail(c, -EBADMSG, "%s.t: overlaps the previous segment", w);
                r->segments[i] = (struct asset_segment){.t = t, .d = d};
                r->n_segments = i + 1;
        }
        return 0;
}

static int parse_rep(struct ctx *c, const json_t *o, size_t idx, struct asset_rep *r)
{
        char where[48], type[16], fps[32];
        uint64_t v;
        int e;

        (void)snprintf(where, sizeof(where), "representations[%zu]", idx);
        if (!json_is_object(o))
                return fail(c, -EBADMSG, "%s: not an object", where);
        if ((e = get_str(c, o, where, "id", CLS_ID, r->id, sizeof(r->id), NULL)) < 0 ||
            (e = get_str(c, o, where, "type", CLS_ID, type, sizeof(type), NULL)) < 0)
                return e;
        if (strcmp(type, "video") == 0)
                r->kind = ASSET_VIDEO;
        else if (strcmp(type, "audio") == 0)
                r->kind = ASSET_AUDIO;
        else
                return fail(c, -EBADMSG, "%s.type: \"%s\" is neither video nor audio", where, type);
        if ((e = get_str(c, o, where, "mime_type", CLS_MIME, r->mime_type, sizeof(r->mime_type),
                         r->kind == ASSET_VIDEO ? "video/mp4" : "audio/mp4")) < 0 ||
            (e = get_str(c, o, where, "codec", CLS_CODEC, r->codec, sizeof(r->codec), NULL)) < 0)
                return e;
        if ((e = get_uint(c, o, where, "bandwidth", 1, UINT32_MAX * 16ull, 0, 0, &v)) < 0)
                return e;
        r->bandwidth = v;
        /* The average (sluice-ingest writes it) is never over the peak rate "bandwidth" is. */
        if ((e = get_uint(c, o, where, "average_bitrate", 0, r->bandwidth, 1, 0, &v)) < 0)
                return e;
        r->average_bitrate = v;
        if ((e = get_uint(c, o, where, "timescale", 1, UINT32_MAX, 0, 0, &v)) < 0)
                return e;
        r->timescale = (uint32_t)v;
        if ((e = get_uint(c, o, where, "start_number", 0, UINT32_MAX / 2, 1, 1, &v)) < 0)
                return e;
        r->start_number = (uint32_t)v;
        if ((e = get_uint(c, o, where, "segment_count", 1, ASSET_SEGMENTS_MAX, 0, 0, &v)) < 0)
                return e;
        r->segment_count = (uint32_t)v;
        if ((e = get_uint(c, o, where, "segment_duration", 1, 3600, 0, 0, &v)) < 0)
                return e;
        r->segment_duration = (uint32_t)v;

        if (r->kind == ASSET_VIDEO) {
                if ((e = get_uint(c, o, where, "width", 1, 16384, 0, 0, &v)) < 0)
                        return e;
                r->width = (uint32_t)v;
                if ((e = get_uint(c, o, where, "height", 1, 16384, 0, 0, &v)) < 0)
                        return e;
                r->height = (uint32_t)v;
                const json_t *f = json_object_get(o, "frame_rate");
                if (f && !json_is_null(f)) {
                        e = get_str(c, o, where, "frame_rate", CLS_PATH, fps, sizeof(fps), NULL);
                        if (e < 0)
                                return e;
                        if (parse_fps(fps, &r->fps_num, &r->fps_den) < 0)
                                return fail(c, -EBADMSG, "%s.frame_rate: \"%s\" is not N or N/D",
                                            where, fps);
                }
        } else {
                if ((e = get_str(c, o, where, "lang", CLS_LANG, r->lang, sizeof(r->lang), "und")) <
                    0)
                        return e;
                if ((e = get_uint(c, o, where, "sample_rate", 1, 768000, 1, 0, &v)) < 0)
                        return e;
                r->sample_rate = (uint32_t)v;
                if ((e = get_uint(c, o, where, "channels", 1, 64, 1, 0, &v)) < 0)
                        return e;
                r->channels = (uint32_t)v;
        }

        const json_t *segs = json_object_get(o, "segments");
        if (segs && !json_is_null(segs)) {
                if (!json_is_array(segs))
                        return fail(c, -EBADMSG, "%s.segments: not an array", where);
                if ((e = parse_segments(c, segs, where, r)) < 0)
                        return e;
                if (r->n_segments != r->segment_count)
                        return fail(c, -EBADMSG, "%s: %zu segments listed, segment_count %u", where,
                                    r->n_segments, r->segment_count);
        }
        return 0;
}

static int parse_text(struct ctx *c, const json_t *o, size_t idx, struct asset_text *t)
{
        char where[40];
        int e;
        (void)snprintf(where, sizeof(where), "subtitles[%zu]", idx);
        if (!json_is_object(o))
                return fail(c, -EBADMSG, "%s: not an object", where);
        if ((e = get_str(c, o, where, "id", CLS_ID, t->id, sizeof(t->id), NULL)) < 0 ||
            (e = get_str(c, o, where, "lang", CLS_LANG, t->lang, sizeof(t->lang), "und")) < 0 ||
            (e = get_str(c, o, where, "path", CLS_PATH, t->path, sizeof(t->path), NULL)) < 0 ||
            (e = get_str(c, o, where, "mime_type", CLS_MIME, t->mime_type, sizeof(t->mime_type),
                         "text/vtt")) < 0)
                return e;
        return 0;
}

static int parse_file(struct ctx *c, const json_t *o, size_t idx, struct asset_file *f)
{
        char where[40], hex[65];
        uint64_t v;
        int e;
        (void)snprintf(where, sizeof(where), "files[%zu]", idx);
        if (!json_is_object(o))
                return fail(c, -EBADMSG, "%s: not an object", where);
        if ((e = get_str(c, o, where, "path", CLS_PATH, f->path, sizeof(f->path), NULL)) < 0)
                return e;
        if ((e = get_uint(c, o, where, "size", 0, INT64_MAX, 0, 0, &v)) < 0)
                return e;
        f->size = v;
        if ((e = get_str(c, o, where, "sha256", CLS_ID, hex, sizeof(hex), NULL)) < 0)
                return e;
        if (hex_decode(hex, strlen(hex), f->sha256, sizeof(f->sha256)) < 0)
                return fail(c, -EBADMSG, "%s.sha256: not 64 hex digits", where);
        return 0;
}

static int parse_encryption(struct ctx *c, const json_t *o, struct asset *a)
{
        char scheme[16], kid[40];
        uint64_t v;
        int e;
        if (!o || json_is_null(o))
                return 0;
        if (!json_is_object(o))
                return fail(c, -EBADMSG, "encryption: neither null nor an object");
        if ((e = get_str(c, o, "encryption", "scheme", CLS_ID, scheme, sizeof(scheme), NULL)) < 0)
                return e;
        if (strcmp(scheme, "cenc") != 0)
                return fail(c, -ENOTSUP, "encryption.scheme: \"%s\" not supported (cenc only)",
                            scheme);
        if ((e = get_str(c, o, "encryption", "kid", CLS_ID, kid, sizeof(kid), NULL)) < 0)
                return e;
        if (hex_decode(kid, strlen(kid), a->kid, sizeof(a->kid)) < 0)
                return fail(c, -EBADMSG, "encryption.kid: not 32 hex digits");
        if ((e = get_uint(c, o, "encryption", "iv_size", 8, 16, 1, 8, &v)) < 0)
                return e;
        if (v != 8 && v != 16)
                return fail(c, -EBADMSG, "encryption.iv_size: %" PRIu64 " is not 8 or 16", v);
        a->iv_size = (unsigned)v;
        a->encrypted = true;
        return 0;
}

static int file_cmp(const void *x, const void *y)
{
        const struct asset_file *a = x, *b = y;
        return strcmp(a->path, b->path);
}

/* Check the count of a JSON array member and allocate room for it. */
static int get_array(struct ctx *c, const json_t *root, const char *key, size_t max, size_t elsz,
                     int required, const json_t **ret_arr, void **ret_mem, size_t *ret_n)
{
        const json_t *arr = json_object_get(root, key);
        *ret_arr = NULL;
        *ret_mem = NULL;
        *ret_n = 0;
        if (!arr || json_is_null(arr)) {
                if (required)
                        return fail(c, -EBADMSG, "%s: missing", key);
                return 0;
        }
        if (!json_is_array(arr))
                return fail(c, -EBADMSG, "%s: not an array", key);
        size_t n = json_array_size(arr);
        if (n > max)
                return fail(c, -E2BIG, "%s: more than %zu entries", key, max);
        if (n) {
                *ret_mem = calloc(n, elsz);
                if (!*ret_mem)
                        return -ENOMEM;
        }
        *ret_arr = arr;
        *ret_n = n;
        return 0;
}

int asset_json_load(const json_t *root, struct asset **ret, char *err, size_t errlen)
{
        struct ctx c = {.err = err, .errlen = errlen};
        struct asset *a = NULL;
        const json_t *arr;
        void *mem;
        uint64_t v;
        size_t n;
        int r;

        if (err && errlen)
                err[0] = '\0';
        if (!json_is_object(root))
                return fail(&c, -EBADMSG, "not a JSON object");
        a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;

        if ((r = get_uint(&c, root, "asset", "version", 0, UINT32_MAX, 0, 0, &v)) < 0)
                goto out;
        if (v != 1) {
                r = fail(&c, -ENOTSUP, "version: %" PRIu64 " not supported (1 only)", v);
                goto out;
        }
        a->version = (unsigned)v;
        if ((r = get_str(&c, root, "asset", "title", CLS_ID, a->title, sizeof(a->title), NULL)) < 0)
                goto out;
        const json_t *d = json_object_get(root, "duration");
        if (!json_is_number(d) || !(json_number_value(d) > 0) || !(json_number_value(d) < 1e7)) {
                r = fail(&c, -EBADMSG, "duration: missing or not a positive number of seconds");
                goto out;
        }
        a->duration = json_number_value(d);
        if ((r = get_uint(&c, root, "asset", "segment_duration", 1, 3600, 0, 0, &v)) < 0)
                goto out;
        a->segment_duration = (uint32_t)v;
        if ((r = get_uint(&c, root, "asset", "segment_count", 0, ASSET_SEGMENTS_MAX, 1, 0, &v)) < 0)
                goto out;
        a->segment_count = (uint32_t)v;
        if ((r = parse_encryption(&c, json_object_get(root, "encryption"), a)) < 0)
                goto out;

        r = get_array(&c, root, "representations", ASSET_REPS_MAX, sizeof(*a->reps), 1, &arr, &mem,
                      &n);
        if (r < 0)
                goto out;
        a->reps = mem;
        for (size_t i = 0; i < n; i++) {
                a->n_reps = i + 1;
                if ((r = parse_rep(&c, json_array_get(arr, i), i, &a->reps[i])) < 0)
                        goto out;
                for (size_t j = 0; j < i; j++)
                        if (strcmp(a->reps[j].id, a->reps[i].id) == 0) {
                                r = fail(&c, -EBADMSG, "representations[%zu].id: \"%s\" repeated",
                                         i, a->reps[i].id);
                                goto out;
                        }
        }
        int has_video = 0;
        for (size_t i = 0; i < a->n_reps; i++)
                has_video |= a->reps[i].kind == ASSET_VIDEO;
        if (!has_video) {
                r = fail(&c, -EBADMSG, "representations: no video");
                goto out;
        }

        r = get_array(&c, root, "subtitles", ASSET_TEXTS_MAX, sizeof(*a->texts), 0, &arr, &mem, &n);
        if (r < 0)
                goto out;
        a->texts = mem;
        a->n_texts = n;
        for (size_t i = 0; i < n; i++) {
                if ((r = parse_text(&c, json_array_get(arr, i), i, &a->texts[i])) < 0)
                        goto out;
                int clash = asset_rep_find(a, a->texts[i].id) != NULL;
                for (size_t j = 0; j < i; j++)
                        clash |= strcmp(a->texts[j].id, a->texts[i].id) == 0;
                if (clash) {
                        r = fail(&c, -EBADMSG, "subtitles[%zu].id: \"%s\" repeated", i,
                                 a->texts[i].id);
                        goto out;
                }
        }

        r = get_array(&c, root, "files", ASSET_FILES_MAX, sizeof(*a->files), 1, &arr, &mem, &n);
        if (r < 0)
                goto out;
        a->files = mem;
        a->n_files = n;
        for (size_t i = 0; i < n; i++)
                if ((r = parse_file(&c, json_array_get(arr, i), i, &a->files[i])) < 0)
                        goto out;
        if (n > 1)
                qsort(a->files, n, sizeof(*a->files), file_cmp);
        for (size_t i = 1; i < n; i++)
                if (strcmp(a->files[i - 1].path, a->files[i].path) == 0) {
                        r = fail(&c, -EBADMSG, "files: \"%s\" listed twice", a->files[i].path);
                        goto out;
                }

        *ret = a;
        a = NULL;
        r = 0;
out:
        asset_free(a);
        return r;
}

int asset_json_parse(const char *buf, size_t len, struct asset **ret, char *err, size_t errlen)
{
        struct ctx c = {.err = err, .errlen = errlen};
        json_error_t je;
        int r;

        if (len > ASSET_JSON_MAX)
                return fail(&c, -E2BIG, "larger than %u bytes", ASSET_JSON_MAX);
        if (json_depth_exceeds(buf, len, ASSET_DEPTH_MAX))
                return fail(&c, -EBADMSG, "nested deeper than %d", ASSET_DEPTH_MAX);
        json_t *root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
        if (!root)
                return fail(&c, -EBADMSG, "line %d column %d: %s", je.line, je.column, je.text);
        r = asset_json_load(root, ret, err, errlen);
        json_decref(root);
        return r;
}

void asset_free(struct asset *a)
{
        if (!a)
                return;
        for (size_t i = 0; i < a->n_reps; i++)
                free(a->reps[i].segments);
        free(a->reps);
        free(a->texts);
        free(a->files);
        free(a);
}

const struct asset_rep *asset_rep_find(const struct asset *a, const char *id)
{
        for (size_t i = 0; i < a->n_reps; i++)
                if (strcmp(a->reps[i].id, id) == 0)
                        return &a->reps[i];
        return NULL;
}

const struct asset_text *asset_text_find(const struct asset *a, const char *id)
{
        for (size_t i = 0; i < a->n_texts; i++)
                if (strcmp(a->texts[i].id, id) == 0)
                        return &a->texts[i];
        return NULL;
}

const struct asset_file *asset_file_find(const struct asset *a, const char *path)
{
        size_t lo = 0, hi = a->n_files;
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int cmp = strcmp(path, a->files[mid].path);
                if (cmp == 0)
                        return &a->files[mid];
                if (cmp < 0)
                        hi = mid;
                else
                        lo = mid + 1;
        }
        return NULL;
}

char *asset_kid_hex(const uint8_t kid[16], char out[33])
{
        return hex_encode(kid, 16, out);
}

char *asset_kid_uuid(const uint8_t kid[16], char out[37])
{
        char hex[33];
        size_t o = 0;
        hex_encode(kid, 16, hex);
        for (size_t i = 0; i < 32; i++) {
                if (i == 8 || i == 12 || i == 16 || i == 20)
                        out[o++] = '-';
                out[o++] = hex[i];
        }
        out[o] = '\0';
        return out;
}
