/* SPDX-License-Identifier: MIT */
/*
 * The hex decoders (common/hex.c) on arbitrary text: the signature of a signed request and
 * the digests of a fill plan come off the network, the store's file names off the disk. A
 * text is accepted exactly when it has the length asked for and only hex digits, and what is
 * accepted encodes back to the same text in lowercase; an id's value is the one strtoull()
 * reads.
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Built in rather than linked, so the fuzzer's instrumentation sees the decoders' branches. */
#include "../../common/hex.c"

#define OUT_MAX 64 /* a digest, and then some */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond, const char *what)
{
        if (!cond) {
                fprintf(stderr, "hex invariant violated: %s\n", what);
                abort();
        }
}

/* A digit's value read from its place in the list of digits. */
static int ref_digit(char c)
{
        static const char list[] = "0123456789abcdef";
        const char *p = c ? strchr(list, tolower((unsigned char)c)) : NULL;

        return p ? (int)(p - list) : -1;
}

static bool all_hex(const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (ref_digit(s[i]) < 0)
                        return false;
        return true;
}

static bool same_lower(const char *enc, const char *s, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (enc[i] != tolower((unsigned char)s[i]))
                        return false;
        return enc[n] == '\0';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        const char *s = (const char *)data;
        uint8_t out[OUT_MAX];
        char enc[2 * OUT_MAX + 1], id[17], text[17];
        uint64_t v = 0;

        for (size_t i = 0; i < size && i < 256; i++)
                check(hex_digit(s[i]) == ref_digit(s[i]), "digit value");

        /* Every output length up to the limit, so both a length that fits and ones that do not. */
        for (size_t want = 0; want <= OUT_MAX; want++) {
                int r = hex_decode(s, size, out, want);

                check(r == 0 || r == -EINVAL, "decode: unexpected error");
                check((r == 0) == (size == 2 * want && all_hex(s, size)), "decode: wrong answer");
                if (r == 0)
                        check(same_lower(hex_encode(out, want, enc), s, size),
                              "decode: does not encode back");
        }

        int r = hex_u64_decode(s, size, &v);
        check(r == 0 || r == -EINVAL, "id: unexpected error");
        check((r == 0) == (size == 16 && all_hex(s, size)), "id: wrong answer");
        if (r == 0) {
                memcpy(text, s, 16);
                text[16] = '\0';
                check(v == strtoull(text, NULL, 16), "id: value differs from strtoull");
                check(same_lower(hex_u64_encode(v, id), s, 16), "id: does not encode back");
        }
        return 0;
}
