/* SPDX-License-Identifier: MIT */
/*
 * The UTF-8 check (common/utf8.c) on arbitrary bytes: the edge's admin listing and the fill
 * agent's holdings ask it whether a cache key, which came off the network, may go into JSON
 * as it is. Its answer must agree with a decoder written from RFC 3629's table of
 * well-formed byte sequences (section 4), byte range by byte range, rather than from code
 * points, and a valid text must split into sequences that are valid on their own.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Built in rather than linked, so the fuzzer's instrumentation sees the checker's branches. */
#include "../../common/utf8.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond, const char *what)
{
        if (!cond) {
                fprintf(stderr, "utf8 invariant violated: %s\n", what);
                abort();
        }
}

static bool in(uint8_t b, uint8_t lo, uint8_t hi)
{
        return b >= lo && b <= hi;
}

/* The sequence at p[0..n) by RFC 3629's table: its length, or 0 when it is not one. */
static size_t table_len(const uint8_t *p, size_t n)
{
        if (n == 0)
                return 0;
        if (p[0] <= 0x7f)
                return 1;
        if (in(p[0], 0xc2, 0xdf))
                return n >= 2 && in(p[1], 0x80, 0xbf) ? 2 : 0;
        if (n < 3 || !in(p[2], 0x80, 0xbf))
                return 0;
        if (p[0] == 0xe0)
                return in(p[1], 0xa0, 0xbf) ? 3 : 0;
        if (in(p[0], 0xe1, 0xec) || in(p[0], 0xee, 0xef))
                return in(p[1], 0x80, 0xbf) ? 3 : 0;
        if (p[0] == 0xed)
                return in(p[1], 0x80, 0x9f) ? 3 : 0;
        if (n < 4 || !in(p[3], 0x80, 0xbf))
                return 0;
        if (p[0] == 0xf0)
                return in(p[1], 0x90, 0xbf) ? 4 : 0;
        if (in(p[0], 0xf1, 0xf3))
                return in(p[1], 0x80, 0xbf) ? 4 : 0;
        if (p[0] == 0xf4)
                return in(p[1], 0x80, 0x8f) ? 4 : 0;
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const char *s = (const char *)data;

        for (size_t i = 0; i < size; i++) {
                size_t k = utf8_seq_len(s + i, size - i);

                check(k == table_len(data + i, size - i), "sequence length differs from RFC 3629");
                check(k <= 4 && k <= size - i, "sequence longer than the text");
        }
        check(utf8_seq_len(s, 0) == 0, "a sequence in no bytes");

        size_t i = 0, k = 0;
        while (i < size && (k = table_len(data + i, size - i)) != 0) {
                check(utf8_valid(s + i, k), "one well-formed sequence refused alone");
                i += k;
        }
        check(utf8_valid(s, size) == (i == size), "whole-text answer differs from RFC 3629");
        check(utf8_valid(s, i), "the well-formed prefix refused");
        check(utf8_valid(s, 0), "the empty text refused");
        return 0;
}
