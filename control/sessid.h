/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "token.h"

/*
 * Session ids that carry the session: "S1.<claims>.<mac>", both parts base64url without
 * padding. The claims are one line per field (kid, nonce, title, episode, asset, asset
 * version, country, region, created, expires, profile); the MAC is HMAC-SHA256 over
 * "S1.<claims>" with a key derived from the shared key set's secret named by kid (the URI
 * signing keys, so a rotation with overlap covers ids too; derived, so an id is never a valid
 * MAC for anything else those keys sign). Any instance holding the key set can serve the
 * session without its row; the nonce (32 lowercase hex) is the row's id.
 *
 * Limits: an id is at most SESSID_MAX bytes; each field as in struct sessid_claims.
 * No I/O, no logging. One thread: the module keeps the keys it derived (a few, fixed size).
 */
#define SESSID_MAX        1024
#define SESSID_ID_MAX     128 /* title, episode, asset: the schema's sluice_id */
#define SESSID_REGION_MAX 64
#define SESSID_NONCE_HEX  32

struct sessid_claims {
        char kid[TOKEN_KID_MAX + 1];
        char nonce[SESSID_NONCE_HEX + 1];
        char title[SESSID_ID_MAX + 1];
        char episode[SESSID_ID_MAX + 1]; /* "" for a movie */
        char asset[SESSID_ID_MAX + 1];
        int64_t asset_version;
        char country[3];                    /* "" unknown */
        char region[SESSID_REGION_MAX + 1]; /* "" none */
        int64_t created, expires;           /* epoch seconds */
        int64_t profile;                    /* 0: none */
};

/*
 * Sign c (its kid is replaced by key's) into out (NUL-terminated). Returns the id's length,
 * -ENOBUFS when cap is too small, -EINVAL for a field that does not fit its limit or holds a
 * control byte, or -EIO.
 */
int sessid_sign(const struct token_key *key, const struct sessid_claims *c, char *out, size_t cap);

/*
 * Check id[0..len): its form, its kid in ks, its MAC (constant-time compare), then parse the
 * claims into *ret. Expiry is the caller's (it has the clock). Returns 0; -EINVAL malformed;
 * -ENOKEY unknown kid; -EPERM bad MAC.
 */
int sessid_verify(const struct token_keyset *ks, const char *id, size_t len,
                  struct sessid_claims *ret);

/*
 * Ids seen verified, so a session's next requests cost a lookup rather than two HMACs: a
 * direct-mapped table of slots entries (a colliding id replaces the older), emptied whenever
 * the key set differs from the one its entries were verified under. -ENOMEM or 0.
 */
struct sessid_seen;
int sessid_seen_new(size_t slots, struct sessid_seen **ret);
void sessid_seen_free(struct sessid_seen *s); /* accepts NULL */

/*
 * sessid_verify() through seen: an id equal byte for byte (compared in constant time) to one
 * verified under this same key set is accepted with the claims found then; another is
 * verified and, when good, remembered. Same returns as sessid_verify().
 */
int sessid_verify_seen(struct sessid_seen *seen, const struct token_keyset *ks, const char *id,
                       size_t len, struct sessid_claims *ret);
/* Remember id (just signed with a key of ks) as verified with claims c. */
void sessid_seen_put(struct sessid_seen *seen, const struct token_keyset *ks, const char *id,
                     size_t len, const struct sessid_claims *c);

/* Parse the claims part alone (decoded bytes, unauthenticated): 0 or -EINVAL. For
 * sessid_verify and the fuzz target. */
int sessid_claims_parse(const char *buf, size_t len, struct sessid_claims *ret);
