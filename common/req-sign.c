/* SPDX-License-Identifier: MIT */
/*
 * HMAC-SHA256 request signatures (req-sign.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "hex.h"
#include "hmac.h"
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
        int n;

        if (!req_sign_secret_ok(secret, secret_len) || time_ms < 0 || !method || !path ||
            (!body && body_len))
                return -EINVAL;
        n = snprintf(head, sizeof(head), "\n%" PRId64 "\n", time_ms);
        if (n < 0 || (size_t)n >= sizeof(head))
                return -EINVAL;
        const struct iovec parts[] = {
            {(void *)method, strlen(method)}, {(void *)"\n", 1},
            {(void *)path, strlen(path)},     {head, (size_t)n},
            {(void *)body, body_len},
        };
        return hmac_sha256(secret, secret_len, parts, 5, md);
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

/* The last stamp a request of this process was signed with (req_sign_time()). */
static _Atomic int64_t last_stamp_ms;

int64_t req_sign_time(int64_t wall_ms)
{
        int64_t last = atomic_load(&last_stamp_ms), t;

        do
                t = wall_ms > last ? wall_ms : last + 1;
        while (!atomic_compare_exchange_weak(&last_stamp_ms, &last, t));
        return t;
}

int req_sign_headers(const char *secret, size_t secret_len, const char *method,
                     const char *path, const void *body, size_t body_len,
                     char time_line[REQ_SIGN_LINE_MAX], char sig_line[REQ_SIGN_LINE_MAX])
{
        char sig[REQ_SIGN_HEX + 1];
        struct timespec now;
        int64_t t;
        int r;

        clock_gettime(CLOCK_REALTIME, &now);
        t = req_sign_time((int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000);
        r = req_sign(secret, secret_len, method, path, t, body, body_len, sig);
        if (r < 0)
                return r;
        snprintf(time_line, REQ_SIGN_LINE_MAX, REQ_SIGN_TIME_HEADER ": %" PRId64, t);
        snprintf(sig_line, REQ_SIGN_LINE_MAX, REQ_SIGN_SIG_HEADER ": %s", sig);
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
