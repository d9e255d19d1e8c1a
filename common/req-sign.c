/* SPDX-License-Identifier: MIT */
/*
 * HMAC-SHA256 request signatures (req-sign.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "hex.h"
#include "req-sign.h"

bool req_sign_secret_ok(const char *s, size_t len)
{
        if (!s || len < REQ_SIGN_SECRET_MIN || len > REQ_SIGN_SECRET_MAX)
                return false;
        for (size_t i = 0; i < len; i++)
                if (s[i] < 0x21 || s[i] > 0x7e)
                        return false;
        return true;
}

static int mac(const char *secret, size_t secret_len, const char *method, const char *path,
               int64_t time_ms, const void *body, size_t body_len, unsigned char md[32])
{
        char head[REQ_SIGN_TIME_DIGITS + 8];
        EVP_MAC *m = NULL;
        EVP_MAC_CTX *ctx = NULL;
        size_t md_len = 0;
        int n, r = -EIO;

        if (!req_sign_secret_ok(secret, secret_len) || time_ms < 0 || !method || !path ||
            (!body && body_len))
                return -EINVAL;
        n = snprintf(head, sizeof(head), "\n%" PRId64 "\n", time_ms);
        if (n < 0 || (size_t)n >= sizeof(head))
                return -EINVAL;
        OSSL_PARAM params[] = {
                OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
                OSSL_PARAM_construct_end(),
        };
        m = EVP_MAC_fetch(NULL, "HMAC", NULL);
        ctx = m ? EVP_MAC_CTX_new(m) : NULL;
        if (!ctx || EVP_MAC_init(ctx, (const unsigned char *)secret, secret_len, params) != 1)
                goto out;
        if (EVP_MAC_update(ctx, (const unsigned char *)method, strlen(method)) != 1 ||
            EVP_MAC_update(ctx, (const unsigned char *)"\n", 1) != 1 ||
            EVP_MAC_update(ctx, (const unsigned char *)path, strlen(path)) != 1 ||
            EVP_MAC_update(ctx, (const unsigned char *)head, (size_t)n) != 1 ||
            (body_len && EVP_MAC_update(ctx, body, body_len) != 1))
                goto out;
        if (EVP_MAC_final(ctx, md, &md_len, 32) != 1 || md_len != 32)
                goto out;
        r = 0;
out:
        EVP_MAC_CTX_free(ctx);
        EVP_MAC_free(m);
        return r;
}

int req_sign(const char *secret, size_t secret_len, const char *method, const char *path,
             int64_t time_ms, const void *body, size_t body_len, char out[REQ_SIGN_HEX + 1])
{
        unsigned char md[32];
        int r = mac(secret, secret_len, method, path, time_ms, body, body_len, md);

        out[0] = '\0';
        if (r < 0)
                return r;
        hex_encode(md, sizeof(md), out);
        return 0;
}

int req_sign_verify(const char *secret, size_t secret_len, const char *method, const char *path,
                    int64_t time_ms, const void *body, size_t body_len, const char *sig,
                    size_t sig_len)
{
        unsigned char md[32], got[32];
        int r = mac(secret, secret_len, method, path, time_ms, body, body_len, md);

        if (r < 0)
                return r;
        /* The length is public (always 64); only the digits are compared in constant time. */
        if (!sig || sig_len != REQ_SIGN_HEX || hex_decode(sig, sig_len, got, sizeof(got)) < 0)
                return -EPERM;
        r = CRYPTO_memcmp(md, got, sizeof(md)) == 0 ? 0 : -EPERM;
        OPENSSL_cleanse(md, sizeof(md));
        return r;
}

int req_sign_time_parse(const char *s, size_t len, int64_t *ret)
{
        int64_t v = 0;

        if (!s || len == 0 || len > REQ_SIGN_TIME_DIGITS)
                return -EINVAL;
        for (size_t i = 0; i < len; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                v = v * 10 + (s[i] - '0');
        }
        *ret = v;
        return 0;
}
