/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Signed URLs: RFC 9246 (CDNI URI Signing) JWTs, HS256 with a "kid" header.
 * Claims used: exp, nbf, cdniv (must be 1), cdniuc ("regex:<POSIX ERE>", matched against the
 * request URI with the URI Signing Package removed), and optionally cdniip (client address).
 * Unknown claims are ignored; "crit" claims are not supported and are refused.
 *
 * Limits: a token is at most TOKEN_MAX bytes; a key set holds at most TOKEN_MAX_KEYS keys.
 */
#define TOKEN_MAX       2048
#define TOKEN_MAX_KEYS  16
#define TOKEN_KID_MAX   63
#define TOKEN_SECRET_MAX 64
#define TOKEN_UC_MAX    511
#define TOKEN_IP_MAX    63

struct token_key {
        char kid[TOKEN_KID_MAX + 1];
        uint8_t secret[TOKEN_SECRET_MAX];
        size_t secret_len;
        int64_t retire_at; /* Unix seconds after which it verifies nothing; 0: never */
};

struct token_keyset {
        struct token_key keys[TOKEN_MAX_KEYS];
        size_t n;
        size_t sign_idx; /* key used for signing */
};

struct token_claims {
        int64_t exp; /* 0: absent */
        int64_t nbf; /* 0: absent */
        char uc[TOKEN_UC_MAX + 1]; /* cdniuc, including the "regex:" prefix; "" if absent */
        char ip[TOKEN_IP_MAX + 1]; /* cdniip; "" if absent */
};

/*
 * Sign claims with key into out (NUL-terminated). Returns the token length, -ENOBUFS when cap
 * is too small, or -EINVAL.
 */
int token_sign(const struct token_key *key, const struct token_claims *c, char *out, size_t cap);

/*
 * Verify a token's structure, signature (constant-time compare), cdniv, exp and nbf at now
 * (seconds since the epoch, with skew_s seconds of tolerance). Fills *ret on success.
 * Returns 0; -EINVAL malformed; -ENOKEY unknown kid; -EPERM bad signature; -ESTALE expired;
 * -EAGAIN not yet valid.
 */
int token_verify(const struct token_keyset *ks, const char *jwt, size_t len, int64_t now,
                 int64_t skew_s, struct token_claims *ret);

/*
 * Check the claims' scope: cdniuc against uri (regex: prefix only; other container types are
 * refused) and cdniip against client_ip (may be NULL when unknown → refused if the claim is
 * present). Returns 0 when allowed, -EPERM when not, -EINVAL for an unusable claim.
 */
int token_scope_check(const struct token_claims *c, const char *uri, size_t uri_len,
                      const char *client_ip);

/* The shortest secret a verifier loads; a signer needs TOKEN_SIGN_SECRET_MIN (HS256 wants a
 * key as long as the hash, RFC 7518 section 3.2). */
#define TOKEN_SECRET_MIN      16
#define TOKEN_SIGN_SECRET_MIN 32

/*
 * Load a key file (YAML: `keys: [{kid: k1, secret: <64+ hex chars or base64>}]`, first key
 * signs), each secret min_secret..TOKEN_SECRET_MAX bytes. Start-up/reload only. Returns 0, or
 * -errno / -EINVAL with a message in err ("path:line:col: ..." at the key at fault).
 */
int token_keyset_load(const char *path, size_t min_secret, struct token_keyset *ret, char *err,
                      size_t errlen);

/* Wipe a malloc'd key set (its secrets) and free it. ks may be NULL. */
void token_keyset_free(struct token_keyset *ks);

/* base64url without padding. Return the output length, or -ENOBUFS / -EINVAL. */
int b64url_encode(const uint8_t *in, size_t len, char *out, size_t cap);
int b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap);
