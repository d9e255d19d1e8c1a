/* SPDX-License-Identifier: MIT */
/*
 * Token verification must refuse garbage without crashing, and never accept it. A token it
 * accepts must carry the HMAC of its own signed part, and must round-trip: re-signing its
 * claims with the same key gives a token that verifies to the same claims, and, when the
 * input's signed part is byte for byte what the signer writes, the same MAC.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "hmac.h"
#include "token.h"

#define NOW 1700000000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The signer writes printable ASCII only; it refuses (-EINVAL) a claim with anything else. */
static bool signable(const char *s)
{
        for (; *s; s++)
                if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
                        return false;
        return true;
}

/* The decoded MAC of a token with exactly two dots, or abort. */
static void mac_of(const char *jwt, size_t len, size_t *ret_signed_len, uint8_t mac[32])
{
        const char *d2 = memrchr(jwt, '.', len);
        uint8_t got[33];

        if (!d2 || b64url_decode(d2 + 1, len - (size_t)(d2 + 1 - jwt), got, sizeof(got)) != 32)
                abort();
        memcpy(mac, got, 32);
        *ret_signed_len = (size_t)(d2 - jwt);
}

static void check_accepted(const struct token_key *key, const char *jwt, size_t len,
                           const struct token_claims *c)
{
        struct iovec part;
        struct token_claims back;
        uint8_t mac[32], want[32], again_mac[32];
        size_t signed_len, again_signed_len;
        char again[TOKEN_MAX];

        /* Only a correctly signed token may pass: its MAC is the HMAC of its signed part. */
        mac_of(jwt, len, &signed_len, mac);
        part = (struct iovec){(void *)jwt, signed_len};
        if (hmac_sha256(key->secret, key->secret_len, &part, 1, want) < 0 ||
            CRYPTO_memcmp(mac, want, 32) != 0)
                abort();

        int n = token_sign(key, c, again, sizeof(again));
        if (n == -EINVAL && (!signable(c->uc) || !signable(c->ip)))
                return; /* accepted by the verifier, but not a token this signer makes */
        if (n <= 0)
                abort();
        if (token_verify(&(struct token_keyset){.keys = {*key}, .n = 1}, again, (size_t)n, NOW,
                         0, &back) != 0)
                abort();
        if (back.exp != c->exp || back.nbf != c->nbf || strcmp(back.uc, c->uc) != 0 ||
            strcmp(back.ip, c->ip) != 0)
                abort();
        mac_of(again, (size_t)n, &again_signed_len, again_mac);
        if (again_signed_len == signed_len && memcmp(again, jwt, signed_len) == 0 &&
            memcmp(again_mac, mac, 32) != 0)
                abort();

        /* The scope decision is the documented one, and the same on the re-signed claims. */
        int s = token_scope_check(c, "http://h/t1/x", 13, "127.0.0.1");
        if (s != 0 && s != -EPERM && s != -EINVAL)
                abort();
        if (token_scope_check(&back, "http://h/t1/x", 13, "127.0.0.1") != s)
                abort();
}

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
        if (token_verify(&ks, (const char *)data, size, NOW, 0, &c) == 0)
                check_accepted(&ks.keys[0], (const char *)data, size, &c);
        uint8_t out[TOKEN_MAX];
        (void)b64url_decode((const char *)data, size, out, sizeof(out));
        return 0;
}
