/* SPDX-License-Identifier: MIT */
/*
 * Signed session ids (control/sessid.c). The first byte picks the input's use: an id to verify
 * against a key set (never accepted without the MAC of its own signed part, never a crash), or
 * claims text to parse. Claims that parse must survive signing and verifying unchanged, and
 * the signed id must not verify once any byte of it is changed.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "sessid.h"

static void keyset(struct token_keyset *ks)
{
        memset(ks, 0, sizeof(*ks));
        for (size_t i = 0; i < 2; i++) {
                struct token_key *k = &ks->keys[i];
                memcpy(k->kid, i ? "k2" : "k1", 3);
                memset(k->secret, 0x5a + (int)i, 32);
                k->secret_len = 32;
        }
        ks->n = 2;
}

static bool same(const struct sessid_claims *a, const struct sessid_claims *b)
{
        return !strcmp(a->nonce, b->nonce) && !strcmp(a->title, b->title) &&
               !strcmp(a->episode, b->episode) && !strcmp(a->asset, b->asset) &&
               a->asset_version == b->asset_version && !strcmp(a->country, b->country) &&
               !strcmp(a->region, b->region) && a->created == b->created &&
               a->expires == b->expires && a->profile == b->profile;
}

static void round_trip(const struct token_keyset *ks, const struct sessid_claims *c)
{
        char id[SESSID_MAX + 1];
        struct sessid_claims back;
        int n = sessid_sign(&ks->keys[1], c, id, sizeof(id));

        if (n < 0)
                return; /* too long once encoded: refused, not truncated */
        CHECK((size_t)n == strlen(id) && n <= SESSID_MAX);
        CHECK(sessid_verify(ks, id, (size_t)n, &back) == 0);
        CHECK(same(c, &back) && !strcmp(back.kid, "k2"));
        /* One changed byte anywhere: refused. */
        for (int i = 0; i < n; i += 7) {
                char saved = id[i];
                id[i] = saved == 'A' ? 'B' : 'A';
                CHECK(sessid_verify(ks, id, (size_t)n, &back) < 0);
                id[i] = saved;
        }
        CHECK(sessid_verify(ks, id, (size_t)n - 1, &back) < 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct token_keyset ks;
        struct sessid_claims c;

        if (size < 1)
                return 0;
        keyset(&ks);
        if (data[0] & 1) {
                static struct sessid_seen *seen;
                struct sessid_claims c2;
                int r = sessid_verify(&ks, (const char *)data + 1, size - 1, &c);
                /* Through the table of ids seen: the same verdict, first time and again. */
                if (!seen)
                        CHECK(sessid_seen_new(64, &seen) == 0);
                for (int i = 0; i < 2; i++) {
                        CHECK(sessid_verify_seen(seen, &ks, (const char *)data + 1, size - 1,
                                                 &c2) == r);
                        CHECK(r < 0 || same(&c, &c2));
                }
                if (r == 0) {
                        /* Only an id some key signed verifies: re-signing it gives the same id. */
                        char id[SESSID_MAX + 1];
                        const struct token_key *k =
                            !strcmp(c.kid, "k1") ? &ks.keys[0] : &ks.keys[1];
                        int n = sessid_sign(k, &c, id, sizeof(id));
                        CHECK(n == (int)(size - 1) && !memcmp(id, data + 1, size - 1));
                }
        } else if (sessid_claims_parse((const char *)data + 1, size - 1, &c) == 0) {
                round_trip(&ks, &c);
        }
        return 0;
}
