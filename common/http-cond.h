/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* HTTP dates and conditional requests (RFC 9110 §5.6.7, §8.8, §13). */

#define HTTP_DATE_LEN 29 /* "Sun, 06 Nov 1994 08:49:37 GMT" */

/* Parse IMF-fixdate, obsolete RFC 850 or asctime dates. Returns 0 and *ret, or -EINVAL. */
int http_date_parse(const char *s, size_t len, time_t *ret);

/* Format t as IMF-fixdate into out (at least HTTP_DATE_LEN + 1 bytes). Returns HTTP_DATE_LEN. */
int http_date_format(time_t t, char *out);

/*
 * ETag list matching for If-None-Match (weak comparison) and If-Match (strong). etag is the
 * entity tag including quotes (and W/ if weak). Returns true when list contains "*" or a
 * matching tag. A malformed list does not match.
 */
bool http_etag_match_weak(const char *list, size_t len, const char *etag, size_t etag_len);
bool http_etag_match_strong(const char *list, size_t len, const char *etag, size_t etag_len);

/* The validators of a representation, and the request's conditional headers (NULL if absent). */
struct http_validators {
        const char *etag; /* strong, quoted */
        size_t etag_len;
        time_t last_modified;
};

struct http_cond_hdrs {
        const char *if_match, *if_none_match, *if_modified_since, *if_unmodified_since, *if_range;
        size_t if_match_len, if_none_match_len, if_modified_since_len, if_unmodified_since_len,
                if_range_len;
        /*
         * If-Match and If-None-Match sent on several lines are one list (RFC 9110 §5.3), of
         * which if_match and if_none_match are the first line. When set, more(more_ctx, name,
         * &pos, &len) gives the lines after it ("If-Match" or "If-None-Match"), one a call from
         * *pos 0, and NULL after the last. Each line is judged where it lies and the answers
         * combined as for the lines joined by commas, so no list is too long to be judged.
         */
        const char *(*more)(const void *more_ctx, const char *name, unsigned *pos, size_t *len);
        const void *more_ctx;
};

/*
 * Evaluate preconditions in RFC 9110 §13.2.2 order for a GET/HEAD. Returns 412, 304, or 0
 * (proceed).
 */
int http_cond_eval(const struct http_cond_hdrs *c, const struct http_validators *v);

/*
 * If-Range (§13.1.5): true when the Range header should be honoured. An entity-tag must match
 * strongly; a date must equal Last-Modified exactly (and we only treat it as strong when the
 * validator is). Absent If-Range: true.
 */
bool http_if_range_ok(const struct http_cond_hdrs *c, const struct http_validators *v);
