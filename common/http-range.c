/* SPDX-License-Identifier: MIT */
/*
 * Range = ranges-specifier (RFC 9110 §14.1.1):
 *   ranges-specifier = range-unit "=" range-set
 *   range-set        = 1#range-spec
 *   range-spec       = int-range / suffix-range / other-range
 *   int-range        = first-pos "-" [ last-pos ]
 *   suffix-range     = "-" suffix-length
 * Only "bytes" is understood (range units are case-insensitive, §14.1). Anything we cannot
 * read is ignored (§14.2 lets a server ignore Range), which serves the whole object.
 */
#include <stdbool.h>
#include <string.h>

#include "http-range.h"

#define RANGE_VALUE_MAX 1024

static bool ows(char c)
{
        return c == ' ' || c == '\t';
}

/* 1*DIGIT at s[*i..n); returns false when there is none. A number past uint64_t reads as
 * UINT64_MAX: past the end of any object, which is what it says (RFC 9110 section 14.1.1
 * puts no bound on it: a last position past the end is cut to the last byte). */
static bool number(const char *s, size_t n, size_t *i, uint64_t *ret)
{
        size_t b = *i;
        uint64_t v = 0;
        while (*i < n && s[*i] >= '0' && s[*i] <= '9') {
                unsigned d = (unsigned)(s[*i] - '0');
                v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
                (*i)++;
        }
        *ret = v;
        return *i > b;
}

enum http_range_result http_range_parse(const char *value, size_t len, uint64_t size,
                                        struct http_range *ret)
{
        size_t i = 6, specs = 0, satisfiable = 0;
        struct http_range first = {0, 0};

        if (!value || len > RANGE_VALUE_MAX || len < 6)
                return HTTP_RANGE_NONE;
        static const char unit[] = "bytes=";
        for (size_t k = 0; k < 6; k++) {
                char c = value[k];
                if (c >= 'A' && c <= 'Z')
                        c = (char)(c + 32);
                if (c != unit[k])
                        return HTTP_RANGE_NONE;
        }

        for (;;) {
                /* Empty list elements and OWS around commas are allowed (§5.6.1). */
                while (i < len && (ows(value[i]) || value[i] == ','))
                        i++;
                if (i >= len)
                        break;
                if (++specs > HTTP_RANGE_MAX_SPECS)
                        return HTTP_RANGE_NONE;

                struct http_range r;
                bool ok;
                uint64_t a, b;
                if (value[i] == '-') {
                        i++;
                        if (!number(value, len, &i, &b))
                                return HTTP_RANGE_NONE;
                        /* A zero suffix or an empty object leaves nothing to send. */
                        ok = b > 0 && size > 0;
                        r.first = b >= size ? 0 : size - b;
                        r.last = size - 1;
                } else {
                        if (!number(value, len, &i, &a) || i >= len || value[i] != '-')
                                return HTTP_RANGE_NONE;
                        i++;
                        if (i < len && value[i] >= '0' && value[i] <= '9') {
                                if (!number(value, len, &i, &b))
                                        return HTTP_RANGE_NONE;
                                if (b < a)
                                        return HTTP_RANGE_NONE; /* invalid, §14.1.1 */
                        } else {
                                b = UINT64_MAX;
                        }
                        ok = a < size;
                        r.first = a;
                        r.last = ok && b >= size ? size - 1 : b;
                }
                while (i < len && ows(value[i]))
                        i++;
                if (i < len && value[i] != ',')
                        return HTTP_RANGE_NONE;
                if (ok && satisfiable++ == 0)
                        first = r;
        }
        if (specs == 0)
                return HTTP_RANGE_NONE;
        if (satisfiable == 0)
                return HTTP_RANGE_UNSATISFIABLE;
        if (satisfiable > 1)
                return HTTP_RANGE_MULTI;
        if (ret)
                *ret = first;
        return HTTP_RANGE_SINGLE;
}
