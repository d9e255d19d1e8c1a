/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http1-parse.h"

#include "upstream-head.h"

void upstream_head_reset(struct upstream_head *h)
{
        h->ctype[0] = h->sha[0] = h->cstatus[0] = h->lastmod[0] = h->cenc[0] = '\0';
        h->cl[0] = '\0';
        h->te = h->cl_bad = false;
        h->age = -1;
}

/* Copy a header value (trimmed) into out when name matches. Returns whether it did. */
static bool header_value(const char *line, size_t len, const char *name, char *out, size_t cap)
{
        return http1_field_line_value(line, len, name, out, cap) != -ENOENT;
}

/*
 * A Content-Encoding line: out gets the coding when it is not identity (the edge asks for
 * identity and stores what it receives as the object itself), "?" when the value is not one
 * the edge can read. Returns whether the line was one.
 */
static bool content_coding(const char *line, size_t len, char *out, size_t cap)
{
        char v[32];
        int r = http1_field_line_value(line, len, "Content-Encoding", v, sizeof(v));

        if (r == -ENOENT)
                return false;
        if (r < 0)
                (void)snprintf(out, cap, "?");
        else if (r > 0 && strcasecmp(v, "identity") != 0)
                (void)snprintf(out, cap, "%s", v);
        return true;
}

/* Whether v is a length as RFC 9110 section 8.6 writes it (1*DIGIT) that fits an int64_t. */
static bool length_digits(const char *v)
{
        size_t n = strspn(v, "0123456789");

        return n > 0 && v[n] == '\0' && n <= UPSTREAM_CL_DIGITS_MAX;
}

/*
 * A Content-Length line: the first one's value is kept; a later one with another value, a
 * list, or one that is not 1*DIGIT ("1e3", "0x10", "+5": curl reads a prefix of them) makes
 * the framing unknown (cl_bad). curl takes one of them and would end the body there. Returns
 * whether the line was one.
 */
static bool content_length(struct upstream_head *h, const char *line, size_t len)
{
        char v[sizeof(h->cl)];
        int r = http1_field_line_value(line, len, "Content-Length", v, sizeof(v));

        if (r == -ENOENT)
                return false;
        if (r < 0 || !length_digits(v))
                h->cl_bad = true;
        else if (!h->cl[0])
                memcpy(h->cl, v, strlen(v) + 1);
        else if (strcmp(h->cl, v) != 0)
                h->cl_bad = true;
        return true;
}

/*
 * An Age line: delta-seconds (RFC 9111 section 1.2.2), the first line's; a value past 2^31 is
 * taken as 2^31, and one that is not 1*DIGIT is ignored. Returns whether the line was one.
 */
static bool age_line(struct upstream_head *h, const char *line, size_t len)
{
        char v[32];
        int r = http1_field_line_value(line, len, "Age", v, sizeof(v));
        size_t n;

        if (r == -ENOENT)
                return false;
        n = r > 0 ? strspn(v, "0123456789") : 0;
        if (h->age < 0 && n > 0 && v[n] == '\0')
                h->age = n > 10 ? INT32_MAX + 1ll : strtoll(v, NULL, 10);
        if (h->age > INT32_MAX + 1ll)
                h->age = INT32_MAX + 1ll;
        return true;
}

void upstream_head_line(struct upstream_head *h, const char *line, size_t len)
{
        char scratch[8];

        if (!header_value(line, len, "Content-Type", h->ctype, sizeof(h->ctype)) &&
            !header_value(line, len, "X-Sluice-SHA256", h->sha, sizeof(h->sha)) &&
            !header_value(line, len, "Cache-Status", h->cstatus, sizeof(h->cstatus)) &&
            !header_value(line, len, "Last-Modified", h->lastmod, sizeof(h->lastmod)) &&
            !content_coding(line, len, h->cenc, sizeof(h->cenc)) && !content_length(h, line, len) &&
            !age_line(h, line, len) &&
            header_value(line, len, "Transfer-Encoding", scratch, sizeof(scratch)))
                h->te = true;
}

int64_t upstream_head_length(const struct upstream_head *h, int64_t curl_cl)
{
        if (h->te || h->cl_bad)
                return -1;
        /* curl's reading must be the line's, digit for digit: otherwise the body would be
         * checked against a length the upstream never said. */
        if (h->cl[0] && (curl_cl < 0 || strtoll(h->cl, NULL, 10) != curl_cl))
                return -1;
        return curl_cl;
}

/* The next byte of cs at or after p that is outside a quoted string (RFC 8941 section 3.3.3)
 * and one of stops, or the end. */
static const char *sf_next(const char *p, const char *stops)
{
        bool quoted = false;

        for (; *p; p++) {
                if (quoted && *p == '\\' && p[1])
                        p++;
                else if (*p == '"')
                        quoted = !quoted;
                else if (!quoted && strchr(stops, *p))
                        break;
        }
        return p;
}

int upstream_head_fwd_status(const char *cs)
{
        const char *last = cs, *p;
        int status = 0;

        if (!cs)
                return 0;
        for (p = sf_next(cs, ","); *p; p = sf_next(p + 1, ","))
                last = p + 1;
        /* The last member's parameters: ";" key "=" value, each. */
        for (p = sf_next(last, ";"); *p; p = sf_next(p + 1, ";")) {
                const char *k = p + 1 + strspn(p + 1, " \t"), *v;

                if (strncmp(k, "fwd-status=", 11) != 0)
                        continue;
                v = k + 11;
                status = strspn(v, "0123456789") == 3 && strchr("; \t", v[3])
                             ? (v[0] - '0') * 100 + (v[1] - '0') * 10 + (v[2] - '0')
                             : 0;
        }
        return status >= 100 ? status : 0;
}
