/* SPDX-License-Identifier: MIT */
/*
 * The bearer-token check of the edge's admin API, its children's peer fills and control's
 * admin routes (bearer.h).
 */
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "bearer.h"

bool bearer_ok(const char *v, size_t n, const char *want, size_t want_len)
{
        unsigned char got_md[EVP_MAX_MD_SIZE], want_md[EVP_MAX_MD_SIZE];
        unsigned int got_len = 0, want_md_len = 0;
        size_t i = 7;

        if (!v || !want || want_len == 0 || n < 8 || strncasecmp(v, "Bearer ", 7) != 0)
                return false;
        while (i < n && v[i] == ' ')
                i++;
        if (i == n)
                return false;
        /* Digests of equal length whatever the tokens': comparing them takes the same time
         * for a token of any length, and differ whenever the tokens do. */
        if (EVP_Digest(v + i, n - i, got_md, &got_len, EVP_sha256(), NULL) != 1 ||
            EVP_Digest(want, want_len, want_md, &want_md_len, EVP_sha256(), NULL) != 1 ||
            got_len != want_md_len)
                return false;
        return CRYPTO_memcmp(got_md, want_md, got_len) == 0;
}
