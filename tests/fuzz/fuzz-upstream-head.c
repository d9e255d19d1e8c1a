/* SPDX-License-Identifier: MIT */
/*
 * The edge's reading of a parent's or origin's response head (edge/upstream-head.c), fed the
 * input's lines as libcurl hands them over: a line that starts "HTTP/" begins a new head, as
 * after a 1xx. What is kept must be safe to repeat in our own answers (no control byte, no
 * space at either end), and the framing must be the one RFC 9112 section 6.3 allows: no
 * length once Transfer-Encoding was named, or Content-Length lines disagreed, were a list,
 * were not 1*DIGIT or could not be read; otherwise the first Content-Length line's value is
 * the one kept.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http1-parse.h"
#include "upstream-head.h"

#define BIG 8192

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond, const char *what)
{
        if (!cond) {
                fprintf(stderr, "upstream-head invariant violated: %s\n", what);
                abort();
        }
}

/* A kept value: NUL-terminated within its field, no control byte, trimmed. */
static void check_value(const char *v, size_t cap, const char *what)
{
        size_t n = strnlen(v, cap);

        check(n < cap, what);
        for (size_t i = 0; i < n; i++)
                check(((unsigned char)v[i] >= 0x20 || v[i] == '\t') && v[i] != 0x7f, what);
        check(n == 0 || (v[0] != ' ' && v[0] != '\t' && v[n - 1] != ' ' && v[n - 1] != '\t'), what);
}

/* What the lines since the last "HTTP/" say about the framing, read without size limits. */
struct framing {
        bool te, cl_bad;
        char cl[BIG];
};

static void expect_line(struct framing *e, const char *line, size_t len)
{
        static char v[BIG];
        int r;

        if (http1_field_line_value(line, len, "Transfer-Encoding", v, sizeof(v)) != -ENOENT)
                e->te = true;
        r = http1_field_line_value(line, len, "Content-Length", v, sizeof(v));
        if (r == -ENOENT)
                return;
        if (r < 0 || (size_t)r >= sizeof(((struct upstream_head *)0)->cl) || r == 0 ||
            r > UPSTREAM_CL_DIGITS_MAX || strspn(v, "0123456789") != (size_t)r)
                e->cl_bad = true;
        else if (!e->cl[0])
                memcpy(e->cl, v, (size_t)r + 1);
        else if (strcmp(e->cl, v) != 0)
                e->cl_bad = true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct upstream_head h;
        static struct framing e;
        const char *p = (const char *)data, *end = p + size;

        if (size > BIG)
                return 0;
        upstream_head_reset(&h);
        memset(&e, 0, sizeof(e));
        while (p < end) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                size_t len = nl ? (size_t)(nl + 1 - p) : (size_t)(end - p);

                if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
                        upstream_head_reset(&h);
                        memset(&e, 0, sizeof(e));
                } else if (!(len <= 2 && (p[0] == '\r' || p[0] == '\n'))) {
                        upstream_head_line(&h, p, len);
                        expect_line(&e, p, len);
                }
                p += len;
        }

        check_value(h.ctype, sizeof(h.ctype), "Content-Type unsafe");
        check_value(h.sha, sizeof(h.sha), "X-Sluice-SHA256 unsafe");
        check_value(h.cstatus, sizeof(h.cstatus), "Cache-Status unsafe");
        check_value(h.lastmod, sizeof(h.lastmod), "Last-Modified unsafe");
        check_value(h.cenc, sizeof(h.cenc), "Content-Encoding unsafe");
        check_value(h.cl, sizeof(h.cl), "Content-Length unsafe");
        check(h.age == -1 || (h.age >= 0 && h.age <= INT32_MAX + 1ll), "Age out of range");

        bool unknown = e.te || e.cl_bad;
        int64_t said = e.cl[0] ? strtoll(e.cl, NULL, 10) : 1234;

        check(upstream_head_length(&h, said) == (unknown ? -1 : said), "framing");
        /* A curl that read the line otherwise (a prefix of it) is never believed. */
        if (e.cl[0])
                check(upstream_head_length(&h, said + 1) == -1, "a length the line never said");
        if (!unknown)
                check(strcmp(h.cl, e.cl) == 0, "Content-Length kept is not the first line's");
        return 0;
}
