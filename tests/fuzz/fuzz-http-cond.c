/* SPDX-License-Identifier: MIT */
/*
 * Fuzz HTTP dates, entity-tag lists, preconditions and If-Range (common/http-cond.c). The
 * input is up to four fields separated by '\n': an entity-tag list (If-Match and
 * If-None-Match), the representation's own tag, a date (If-Modified-Since,
 * If-Unmodified-Since, and Last-Modified when it parses), and an If-Range value. Missing
 * fields are absent headers. Each field is copied to a buffer of its exact length so a read
 * past it is caught.
 *
 * Aborts when: a parsed date does not survive formatting and parsing again; a strong match is
 * not also a weak one; a valid tag does not match itself (strongly, unless weak); a
 * precondition answers other than 0, 304 or 412, or If-None-Match's answer is not its list's
 * weak match; the list cut at its commas into lines (http_cond_hdrs.more) is judged other than
 * those lines joined by ", "; or If-Range is honoured for a tag other than ours.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http-cond.h"

#include "fuzz.h"

enum { F_LIST, F_ETAG, F_DATE, F_IF_RANGE, F_N };

#define YEAR_10000 ((time_t)253402300800) /* 10000-01-01T00:00:00Z */

static void check_date(const char *s, size_t len, time_t *ret)
{
        char out[HTTP_DATE_LEN + 1];
        time_t t = 0, again = 0;
        int r = http_date_parse(s, len, &t);

        CHECK(r == 0 || r == -EINVAL);
        if (r < 0)
                return;
        CHECK(http_date_format(t, out) == HTTP_DATE_LEN);
        CHECK(out[HTTP_DATE_LEN] == '\0');
        /* A date that parses lies in years 0..9999, which IMF-fixdate holds exactly; bar the
         * leap second 9999-12-31 23:59:60, which is 10000-01-01 and formats as the epoch. */
        if (t >= YEAR_10000)
                return;
        CHECK(http_date_parse(out, HTTP_DATE_LEN, &again) == 0);
        CHECK(again == t);
        *ret = t;
}

/* The list's lines for http_cond_hdrs.more: what follows each ',' after the first line. */
struct cut {
        const char *list;
        size_t len;
};

static const char *cut_more(const void *ctx, const char *name, unsigned *pos, size_t *len)
{
        const struct cut *c = ctx;
        const char *start, *end;
        size_t at;

        (void)name;
        if (*pos == 0) { /* the first line is the field's own: the next starts past its ',' */
                end = memchr(c->list, ',', c->len);
                if (!end)
                        return NULL;
                *pos = (unsigned)(end - c->list) + 2;
        }
        /* *pos is where the next line starts, plus one: past len + 1 after the last. */
        if (*pos > c->len + 1)
                return NULL;
        at = *pos - 1;
        start = c->list + at;
        end = memchr(start, ',', c->len - at);
        *len = end ? (size_t)(end - start) : c->len - at;
        *pos = (unsigned)(at + *len + 2);
        return start;
}

/* If-Match and If-None-Match on the list cut into lines at its commas answer as the lines
 * joined by ", " on one do. */
static void check_lines(const char *list, size_t n, const struct http_validators *v)
{
        struct cut cut = {list, n};
        const char *comma = memchr(list, ',', n);
        size_t first = comma ? (size_t)(comma - list) : n, jlen = 0;
        char *joined = malloc(2 * n + 1);

        if (!joined)
                return;
        for (size_t i = 0; i < n; i++) {
                joined[jlen++] = list[i];
                if (list[i] == ',')
                        joined[jlen++] = ' ';
        }
        struct http_cond_hdrs lines = {.if_match = list, .if_match_len = first,
                                       .more = cut_more, .more_ctx = &cut};
        struct http_cond_hdrs one = {.if_match = joined, .if_match_len = jlen};
        CHECK(http_cond_eval(&lines, v) == http_cond_eval(&one, v));
        lines = (struct http_cond_hdrs){.if_none_match = list, .if_none_match_len = first,
                                        .more = cut_more, .more_ctx = &cut};
        one = (struct http_cond_hdrs){.if_none_match = joined, .if_none_match_len = jlen};
        CHECK(http_cond_eval(&lines, v) == http_cond_eval(&one, v));
        free(joined);
}

static void check_etags(const char *list, size_t n, const char *etag, size_t elen)
{
        bool strong = http_etag_match_strong(list, n, etag, elen);
        bool weak = http_etag_match_weak(list, n, etag, elen);

        CHECK(!strong || weak);
        /* A tag matches itself weakly; strongly unless it is weak. */
        if (etag && http_etag_match_weak(etag, elen, etag, elen))
                CHECK(http_etag_match_strong(etag, elen, etag, elen) ==
                      !(elen >= 2 && etag[0] == 'W' && etag[1] == '/'));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        char *f[F_N] = {NULL};
        size_t len[F_N] = {0};
        size_t start = 0;
        unsigned nf = 0;

        for (size_t i = 0; i <= size && nf < F_N; i++) {
                if (i < size && data[i] != '\n')
                        continue;
                len[nf] = i - start;
                f[nf] = malloc(len[nf] ? len[nf] : 1);
                if (!f[nf])
                        goto out;
                if (len[nf])
                        memcpy(f[nf], data + start, len[nf]);
                nf++;
                start = i + 1;
        }

        struct http_validators v = {.etag = f[F_ETAG], .etag_len = len[F_ETAG],
                                    .last_modified = 784111777};
        time_t t = 0;
        for (unsigned i = 0; i < nf; i++)
                check_date(f[i], len[i], &t);
        if (f[F_DATE]) {
                t = 0;
                check_date(f[F_DATE], len[F_DATE], &t);
                if (t > 0)
                        v.last_modified = t;
        }
        check_etags(f[F_LIST], len[F_LIST], f[F_ETAG], len[F_ETAG]);
        if (f[F_LIST])
                check_lines(f[F_LIST], len[F_LIST], &v);

        struct http_cond_hdrs c = {
            .if_match = f[F_LIST],
            .if_match_len = len[F_LIST],
            .if_unmodified_since = f[F_DATE],
            .if_unmodified_since_len = len[F_DATE],
        };
        int r = http_cond_eval(&c, &v);
        CHECK(r == 0 || r == 412);
        c = (struct http_cond_hdrs){
            .if_none_match = f[F_LIST],
            .if_none_match_len = len[F_LIST],
            .if_modified_since = f[F_DATE],
            .if_modified_since_len = len[F_DATE],
        };
        r = http_cond_eval(&c, &v);
        CHECK(r == 0 || r == 304);
        /* If-None-Match stands in for If-Modified-Since whenever it is there (§13.2.2). */
        if (f[F_LIST])
                CHECK((r == 304) ==
                      http_etag_match_weak(f[F_LIST], len[F_LIST], v.etag, v.etag_len));

        c = (struct http_cond_hdrs){.if_range = f[F_IF_RANGE], .if_range_len = len[F_IF_RANGE]};
        bool ok = http_if_range_ok(&c, &v);
        if (!f[F_IF_RANGE])
                CHECK(ok);
        else if (ok && len[F_IF_RANGE] > 0 && f[F_IF_RANGE][0] == '"')
                CHECK(v.etag && len[F_IF_RANGE] == v.etag_len &&
                      !memcmp(f[F_IF_RANGE], v.etag, v.etag_len));
out:
        for (unsigned i = 0; i < F_N; i++)
                free(f[i]);
        return 0;
}
