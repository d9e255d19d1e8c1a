/* SPDX-License-Identifier: MIT */
/*
 * The edge listing and health parsers (fill-agent/holdings.c): any bytes from an edge. A
 * refused listing says why in a NUL-terminated message. An accepted one keeps holdings.h's
 * promises, checked here in every build (the plain replay has no sanitizer): at most
 * HOLDINGS_MAX_OBJECTS entries sorted by key, each key unique, starting with '/', at most
 * HOLDINGS_MAX_KEY bytes without a NUL, a SHA-256 (when there is one) of 64 lowercase hex
 * digits, and each key found again by holdings_find().
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "holdings.h"

static int key_cmp(const struct held_obj *a, const struct held_obj *b)
{
        size_t n = a->key_len < b->key_len ? a->key_len : b->key_len;
        int c = memcmp(a->key, b->key, n);

        return c ? c : (a->key_len > b->key_len) - (a->key_len < b->key_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct holdings h;
        char err[256];
        uint64_t a, b;

        memset(err, 0x55, sizeof(err));
        if (holdings_parse((const char *)data, size, &h, err, sizeof(err)) == 0) {
                uint64_t sum = 0;

                CHECK(h.n <= HOLDINGS_MAX_OBJECTS && h.bytes <= INT64_MAX);
                for (size_t i = 0; i < h.n; i++) {
                        const struct held_obj *o = &h.objs[i];

                        CHECK(o->size <= HOLDINGS_MAX_SIZE);
                        sum += o->size;

                        CHECK(o->key_len >= 1 && o->key_len <= HOLDINGS_MAX_KEY);
                        CHECK(o->key[0] == '/' && strlen(o->key) == o->key_len);
                        CHECK(!o->has_sha256 || (strlen(o->sha256) == 64 &&
                                                 strspn(o->sha256, "0123456789abcdef") == 64));
                        CHECK(i == 0 || key_cmp(&h.objs[i - 1], o) < 0);
                        CHECK(holdings_find(&h, o->key, o->key_len) == o);
                }
                CHECK(sum == h.bytes);
                holdings_done(&h);
        } else {
                CHECK(memchr(err, '\0', sizeof(err)) && err[0]);
        }
        (void)holdings_parse_health((const char *)data, size, &a, &b);
        return 0;
}
