/* SPDX-License-Identifier: MIT */
/*
 * --metadata FILE: the title's catalog fields, read with the table-driven YAML loader and
 * turned into the JSON members control's POST /v1/admin/titles takes. The tables mirror
 * control's sluice_register_title(); the checks after loading mirror its table constraints
 * (migrations/001_schema.sql), so what passes here is stored, not refused after the encode.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cfg.h"

#include "metadata.h"

/* A number the document may leave out: absent and 0 must differ (season 0 is valid). */
struct md_count {
        int64_t v;
        bool set;
};

struct md_time {
        double v;
        bool set;
};

struct md_span {
        struct md_time start, end;
};

struct md_person {
        char *name, *role, *character;
};

struct md_info {
        char *name, *synopsis, *maturity_rating;
        int64_t year; /* 0: not given (the table's bounds exclude it) */
        struct cfg_strlist genres;
        struct cfg_list cast; /* struct md_person */
};

struct md_series {
        char *id, *name, *episode_name, *episode_synopsis;
        struct md_count season, episode;
};

struct md_markers {
        struct md_span intro, credits;
};

struct md_doc {
        struct md_info metadata;
        struct md_series series;
        struct md_markers markers;
};

static int parse_count(const char *s, void *dst, char *err, size_t errlen)
{
        struct md_count *c = dst;
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno || end == s || *end || v < 0 || v > METADATA_NUMBER_MAX) {
                snprintf(err, errlen, "must be a whole number in 0..%d", METADATA_NUMBER_MAX);
                return -EINVAL;
        }
        c->v = v;
        c->set = true;
        return 0;
}

static int parse_seconds(const char *s, void *dst, char *err, size_t errlen)
{
        struct md_time *t = dst;
        char *end;
        /* Decimal notation only: strtod alone would also take "inf", "nan" and hex. */
        if (!*s || strspn(s, "0123456789.eE+-") != strlen(s)) {
                snprintf(err, errlen, "must be seconds (a decimal number)");
                return -EINVAL;
        }
        errno = 0;
        double v = strtod(s, &end);
        if (errno || *end || !isfinite(v) || v < 0 || v > METADATA_MARKER_MAX) {
                snprintf(err, errlen, "must be seconds in 0..%.0f", METADATA_MARKER_MAX);
                return -EINVAL;
        }
        t->v = v;
        t->set = true;
        return 0;
}

/* Tables keep one row per key; clang-format would put every member on its own line. */
/* clang-format off */
static const struct cfg_field person_fields[] = {
        {.key = "name", .type = CFG_STRING, .offset = offsetof(struct md_person, name),
         .required = true},
        {.key = "role", .type = CFG_STRING, .offset = offsetof(struct md_person, role)},
        {.key = "character", .type = CFG_STRING,
         .offset = offsetof(struct md_person, character)},
        {0},
};

static const struct cfg_field info_fields[] = {
        {.key = "name", .type = CFG_STRING, .offset = offsetof(struct md_info, name)},
        {.key = "synopsis", .type = CFG_STRING, .offset = offsetof(struct md_info, synopsis)},
        {.key = "year", .type = CFG_INT, .offset = offsetof(struct md_info, year),
         .min = 1870, .max = 3000},
        {.key = "maturity_rating", .type = CFG_STRING,
         .offset = offsetof(struct md_info, maturity_rating)},
        {.key = "genres", .type = CFG_STRLIST, .offset = offsetof(struct md_info, genres),
         .max = METADATA_GENRES_MAX},
        {.key = "cast", .type = CFG_SECTION_LIST, .offset = offsetof(struct md_info, cast),
         .max = METADATA_CAST_MAX, .sub = person_fields, .elem_size = sizeof(struct md_person)},
        {0},
};

static const struct cfg_field series_fields[] = {
        {.key = "id", .type = CFG_STRING, .offset = offsetof(struct md_series, id)},
        {.key = "name", .type = CFG_STRING, .offset = offsetof(struct md_series, name)},
        {.key = "season", .type = CFG_CUSTOM, .offset = offsetof(struct md_series, season),
         .parse = parse_count},
        {.key = "episode", .type = CFG_CUSTOM, .offset = offsetof(struct md_series, episode),
         .parse = parse_count},
        {.key = "episode_name", .type = CFG_STRING,
         .offset = offsetof(struct md_series, episode_name)},
        {.key = "episode_synopsis", .type = CFG_STRING,
         .offset = offsetof(struct md_series, episode_synopsis)},
        {0},
};

static const struct cfg_field span_fields[] = {
        {.key = "start", .type = CFG_CUSTOM, .offset = offsetof(struct md_span, start),
         .parse = parse_seconds},
        {.key = "end", .type = CFG_CUSTOM, .offset = offsetof(struct md_span, end),
         .parse = parse_seconds},
        {0},
};

static const struct cfg_field markers_fields[] = {
        {.key = "intro", .type = CFG_SECTION, .offset = offsetof(struct md_markers, intro),
         .sub = span_fields},
        {.key = "credits", .type = CFG_SECTION, .offset = offsetof(struct md_markers, credits),
         .sub = span_fields},
        {0},
};

static const struct cfg_field doc_fields[] = {
        {.key = "metadata", .type = CFG_SECTION, .offset = offsetof(struct md_doc, metadata),
         .sub = info_fields},
        {.key = "series", .type = CFG_SECTION, .offset = offsetof(struct md_doc, series),
         .sub = series_fields},
        {.key = "markers", .type = CFG_SECTION, .offset = offsetof(struct md_doc, markers),
         .sub = markers_fields},
        {0},
};
/* clang-format on */

/* Control's id alphabet (the sluice_id domain): [A-Za-z0-9][A-Za-z0-9._-]{0,127}. */
static bool id_valid(const char *s)
{
        size_t n = strlen(s);
        if (n == 0 || n > 128)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];
                bool alnum =
                    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
                if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
                        return false;
        }
        return true;
}

struct checker {
        struct cfg_error *err;
        const char *name, *buf;
        size_t len;
};

/* A string field, when given, is lo..hi bytes long. */
static int check_len(const struct checker *c, const char *path, const char *s, size_t lo, size_t hi)
{
        if (!s || (strlen(s) >= lo && strlen(s) <= hi))
                return 0;
        if (lo > 0 && !*s)
                return cfg_error_at(c->err, c->name, c->buf, c->len, path, "'%s' must not be empty",
                                    path);
        return cfg_error_at(c->err, c->name, c->buf, c->len, path, "'%s' is longer than %zu bytes",
                            path, hi);
}

static int check_span(const struct checker *c, const char *path, const struct md_span *s)
{
        if (!s->start.set && !s->end.set)
                return 0;
        if (!s->start.set || !s->end.set)
                return cfg_error_at(c->err, c->name, c->buf, c->len, path,
                                    "'%s' needs both start and end", path);
        if (!(s->end.v > s->start.v))
                return cfg_error_at(c->err, c->name, c->buf, c->len, path,
                                    "'%s': end must be after start", path);
        return 0;
}

static bool series_given(const struct md_series *s)
{
        return s->id || s->name || s->episode_name || s->episode_synopsis || s->season.set ||
               s->episode.set;
}

static int check_doc(const struct checker *c, const struct md_doc *d)
{
        static const char *const roles[] = {"actor", "director", "writer", "producer", "creator"};
        const struct md_info *m = &d->metadata;
        const struct md_series *s = &d->series;
        char path[64];
        int r;

        if ((r = check_len(c, "metadata.name", m->name, 1, METADATA_NAME_MAX)) < 0 ||
            (r = check_len(c, "metadata.maturity_rating", m->maturity_rating, 1,
                           METADATA_RATING_MAX)) < 0)
                return r;
        for (size_t i = 0; i < m->genres.n; i++) {
                snprintf(path, sizeof(path), "metadata.genres[%zu]", i);
                if ((r = check_len(c, path, m->genres.items[i], 1, METADATA_GENRE_MAX)) < 0)
                        return r;
        }
        for (size_t i = 0; i < m->cast.n; i++) {
                const struct md_person *p = (const struct md_person *)m->cast.items + i;
                size_t k;
                snprintf(path, sizeof(path), "metadata.cast[%zu].name", i);
                if ((r = check_len(c, path, p->name, 1, METADATA_PERSON_MAX)) < 0)
                        return r;
                snprintf(path, sizeof(path), "metadata.cast[%zu].character", i);
                if ((r = check_len(c, path, p->character, 0, METADATA_NAME_MAX)) < 0)
                        return r;
                for (k = 0; p->role && k < sizeof(roles) / sizeof(roles[0]); k++)
                        if (!strcmp(p->role, roles[k]))
                                break;
                snprintf(path, sizeof(path), "metadata.cast[%zu].role", i);
                if (p->role && k == sizeof(roles) / sizeof(roles[0]))
                        return cfg_error_at(c->err, c->name, c->buf, c->len, path,
                                            "'%s' must be actor, director, writer, producer or "
                                            "creator",
                                            path);
        }
        if (series_given(s)) {
                if (!s->id || !id_valid(s->id))
                        return cfg_error_at(c->err, c->name, c->buf, c->len, "series.id",
                                            "'series.id' must be 1-128 of [A-Za-z0-9._-], "
                                            "starting with a letter or digit");
                if (!s->season.set || !s->episode.set)
                        return cfg_error_at(c->err, c->name, c->buf, c->len, "series",
                                            "'series' needs season and episode");
                if ((r = check_len(c, "series.name", s->name, 1, METADATA_NAME_MAX)) < 0 ||
                    (r = check_len(c, "series.episode_name", s->episode_name, 0,
                                   METADATA_NAME_MAX)) < 0)
                        return r;
        }
        if ((r = check_span(c, "markers.intro", &d->markers.intro)) < 0 ||
            (r = check_span(c, "markers.credits", &d->markers.credits)) < 0)
                return r;
        return 0;
}

/* Set o[key] to a string when s is given. -EILSEQ: not UTF-8 (libyaml decodes escapes). */
static int put_str(json_t *o, const char *key, const char *s)
{
        if (!s)
                return 0;
        json_t *v = json_string(s);
        if (!v)
                return -EILSEQ;
        return json_object_set_new(o, key, v) < 0 ? -ENOMEM : 0;
}

static int put_new(json_t *o, const char *key, json_t *v)
{
        if (!v)
                return -ENOMEM;
        return json_object_set_new(o, key, v) < 0 ? -ENOMEM : 0;
}

/* Attach child to o under key when it has members; takes child in every case. */
static int put_nonempty(json_t *o, const char *key, json_t *child)
{
        if (json_object_size(child) == 0) {
                json_decref(child);
                return 0;
        }
        return put_new(o, key, child);
}

static int info_json(const struct md_info *m, json_t *out)
{
        json_t *o = json_object(), *a;
        int r;
        if (!o)
                return -ENOMEM;
        if ((r = put_str(o, "name", m->name)) < 0 ||
            (r = put_str(o, "synopsis", m->synopsis)) < 0 ||
            (r = put_str(o, "maturity_rating", m->maturity_rating)) < 0)
                goto fail;
        if (m->year && (r = put_new(o, "year", json_integer(m->year))) < 0)
                goto fail;
        /* Control keeps its genres and cast when none are sent: an empty list sends none. */
        if (m->genres.n) {
                if ((r = put_new(o, "genres", a = json_array())) < 0)
                        goto fail;
                for (size_t i = 0; i < m->genres.n; i++) {
                        json_t *g = json_string(m->genres.items[i]);
                        if (!g || json_array_append_new(a, g) < 0) {
                                r = g ? -ENOMEM : -EILSEQ;
                                goto fail;
                        }
                }
        }
        if (m->cast.n) {
                if ((r = put_new(o, "cast", a = json_array())) < 0)
                        goto fail;
                for (size_t i = 0; i < m->cast.n; i++) {
                        const struct md_person *p = (const struct md_person *)m->cast.items + i;
                        json_t *e = json_object();
                        if (!e || json_array_append_new(a, e) < 0) {
                                r = -ENOMEM;
                                goto fail;
                        }
                        if ((r = put_str(e, "name", p->name)) < 0 ||
                            (r = put_str(e, "role", p->role ? p->role : "actor")) < 0 ||
                            (r = put_str(e, "character", p->character)) < 0)
                                goto fail;
                }
        }
        return put_nonempty(out, "metadata", o);
fail:
        json_decref(o);
        return r;
}

static int series_json(const struct md_series *s, json_t *out)
{
        json_t *o;
        int r;
        if (!series_given(s))
                return 0;
        if (!(o = json_object()))
                return -ENOMEM;
        if ((r = put_str(o, "id", s->id)) < 0 || (r = put_str(o, "name", s->name)) < 0 ||
            (r = put_new(o, "season", json_integer(s->season.v))) < 0 ||
            (r = put_new(o, "episode", json_integer(s->episode.v))) < 0 ||
            (r = put_str(o, "episode_name", s->episode_name)) < 0 ||
            (r = put_str(o, "episode_synopsis", s->episode_synopsis)) < 0) {
                json_decref(o);
                return r;
        }
        return put_new(out, "series", o);
}

static int markers_json(const struct md_markers *m, json_t *out)
{
        const struct md_span *spans[] = {&m->intro, &m->credits};
        const char *names[] = {"intro", "credits"};
        json_t *o = json_object();
        if (!o)
                return -ENOMEM;
        for (size_t i = 0; i < 2; i++) {
                if (!spans[i]->start.set)
                        continue;
                if (put_new(o, names[i],
                            json_pack("{s:f, s:f}", "start", spans[i]->start.v, "end",
                                      spans[i]->end.v)) < 0) {
                        json_decref(o);
                        return -ENOMEM;
                }
        }
        return put_nonempty(out, "markers", o);
}

int metadata_buf_parse(const char *name, const char *buf, size_t len, json_t **ret, char *err,
                       size_t errlen)
{
        struct md_doc d = {0};
        struct cfg_error ce;
        struct checker c = {.err = &ce, .name = name, .buf = buf, .len = len};
        json_t *out = NULL;
        int r;

        r = cfg_load_buf(name, buf, len, doc_fields, &d, &ce);
        if (r < 0) {
                snprintf(err, errlen, "%s", ce.msg);
                return r == -ENOMEM ? r : -EINVAL;
        }
        if ((r = check_doc(&c, &d)) < 0) {
                snprintf(err, errlen, "%s", ce.msg);
                goto out;
        }
        if (!(out = json_object())) {
                r = -ENOMEM;
                goto out;
        }
        if ((r = info_json(&d.metadata, out)) < 0 || (r = series_json(&d.series, out)) < 0 ||
            (r = markers_json(&d.markers, out)) < 0) {
                if (r == -EILSEQ)
                        snprintf(err, errlen, "%s: a value is not valid UTF-8", name);
                else
                        snprintf(err, errlen, "%s: out of memory", name);
                r = r == -EILSEQ ? -EINVAL : r;
                goto out;
        }
        *ret = out;
        out = NULL;
out:
        json_decref(out);
        cfg_free(doc_fields, &d);
        return r;
}

int metadata_file_load(const char *path, json_t **ret, char *err, size_t errlen)
{
        struct cfg_error ce;
        char *buf = NULL;
        size_t len = 0;
        int r = cfg_read_file(path, &buf, &len, &ce);
        if (r < 0) {
                snprintf(err, errlen, "%s", ce.msg);
                return r;
        }
        r = metadata_buf_parse(path, buf, len, ret, err, errlen);
        free(buf);
        return r;
}

int metadata_markers_check(const json_t *meta, double duration, const char *what, char *err,
                           size_t errlen)
{
        const json_t *markers = json_object_get(meta, "markers");
        const char *kind;
        const json_t *span;

        json_object_foreach((json_t *)markers, kind, span)
        {
                double end = json_number_value(json_object_get(span, "end"));
                if (end > duration) {
                        snprintf(err, errlen, "markers.%s: end %g is past %s duration (%g s)", kind,
                                 end, what, duration);
                        return -ERANGE;
                }
        }
        return 0;
}
