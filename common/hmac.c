/* SPDX-License-Identifier: MIT */
/*
 * HMAC-SHA256 with the implementation fetched once (hmac.h).
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "hmac.h"

/* Kept for the life of the process: reachable from here, so never reported as a leak. */
static EVP_MAC *hmac_impl;
static pthread_once_t hmac_once = PTHREAD_ONCE_INIT;

static void hmac_fetch(void)
{
        hmac_impl = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

int hmac_sha256(const void *key, size_t key_len, const struct iovec *parts, size_t n,
                uint8_t out[32])
{
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
            OSSL_PARAM_construct_end(),
        };
        EVP_MAC_CTX *ctx;
        size_t len = 0;
        int r = -EIO;

        (void)pthread_once(&hmac_once, hmac_fetch);
        ctx = hmac_impl ? EVP_MAC_CTX_new(hmac_impl) : NULL;
        if (!ctx || EVP_MAC_init(ctx, key, key_len, params) != 1)
                goto out;
        for (size_t i = 0; i < n; i++)
                if (parts[i].iov_len &&
                    EVP_MAC_update(ctx, parts[i].iov_base, parts[i].iov_len) != 1)
                        goto out;
        if (EVP_MAC_final(ctx, out, &len, 32) == 1 && len == 32)
                r = 0;
out:
        if (r < 0)
                memset(out, 0, 32);
        EVP_MAC_CTX_free(ctx);
        return r;
}
