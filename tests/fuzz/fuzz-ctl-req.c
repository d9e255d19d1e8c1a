/* SPDX-License-Identifier: MIT */
/*
 * sluice-control request parsers (control/req-parse.c): query parameters, JSON body nesting
 * (then jansson on what passes, as the handlers do) and X-Forwarded-For. The first byte picks
 * the parser; the rest is its input.
 */
#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "req-parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool trusted_127(const char *addr, void *ud)
{
        (void)ud;
        return !strncmp(addr, "127.", 4);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const char *const names[] = {"profile", "q", "genre", "session", "edge", "limit",
                                            "", "_DASH_pathway"};
        char buf[130];

        if (size < 1 || size > 1 << 20)
                return 0;
        const char *in = (const char *)data + 1;
        size_t len = size - 1;

        switch (data[0] % 3) {
        case 0:
                for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                        for (size_t cap = 1; cap <= sizeof(buf); cap += 64) {
                                int r = req_query_get(in, len, names[i], buf, cap);
                                if (r >= 0) {
                                        assert((size_t)r < cap && buf[r] == '\0');
                                        assert(strlen(buf) == (size_t)r);
                                        for (int k = 0; k < r; k++)
                                                assert((unsigned char)buf[k] >= 0x20 &&
                                                       buf[k] != 0x7f);
                                }
                        }
                }
                break;
        case 1: {
                size_t d = req_json_depth(in, len, 8);
                if (d <= 8) {
                        json_error_t e;
                        json_t *v = json_loadb(in, len, JSON_REJECT_DUPLICATES, &e);
                        json_decref(v);
                }
                break;
        }
        case 2: {
                int r = req_xff_client(in, len, trusted_127, NULL, buf, sizeof(buf));
                if (r == 1) {
                        assert(strlen(buf) < sizeof(buf));
                        assert(!trusted_127(buf, NULL));
                }
                break;
        }
        }
        return 0;
}
