/* SPDX-License-Identifier: MIT */
/*
 * The edge's TLS record opener (edge/tls-seal.c), which reads the records OpenSSL writes after
 * the edge took the sealing over. The first byte picks the protection: the three TLS 1.3
 * suites, then TLS 1.2's three AEADs; the rest is offered as one record under fixed keys.
 * Never a crash; a record that opens, sealed again under the same keys and sequence number,
 * gives back exactly the input when it had no padding (and, for TLS 1.2 AES-GCM, carried the
 * explicit nonce the edge would send); and sealing any plaintext then opening it gives the
 * plaintext back.
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/obj_mac.h>

#include "fuzz.h"
#include "tls-seal.h"

#define SEQ 3

static const unsigned suites[] = {0x1301, 0x1302, 0x1303};
static const int nids12[] = {NID_aes_128_gcm, NID_aes_256_gcm, NID_chacha20_poly1305};

static void make(unsigned pick, struct tls_seal **ret)
{
        unsigned char secret[TLS_SEAL_SECRET_MAX], cr[TLS_SEAL_RANDOM_LEN], sr[TLS_SEAL_RANDOM_LEN];

        memset(secret, 0xa5, sizeof(secret));
        if (pick < 3) {
                CHECK(tls_seal_new(suites[pick], secret, suites[pick] == 0x1302 ? 48 : 32, SEQ,
                                   ret) == 0);
                return;
        }
        memset(cr, 0x11, sizeof(cr));
        memset(sr, 0x22, sizeof(sr));
        CHECK(tls_seal_new12(nids12[pick - 3], pick == 4 ? EVP_sha384() : EVP_sha256(), secret,
                             TLS_SEAL_MASTER_LEN, cr, sr, SEQ, ret) == 0);
}

/* Whether a TLS 1.2 AES-GCM record names the explicit nonce the edge would send (SEQ). */
static bool nonce_is_ours(unsigned pick, const uint8_t *rec, size_t len)
{
        static const uint8_t want[8] = {0, 0, 0, 0, 0, 0, 0, SEQ};

        return (pick != 3 && pick != 4) || (len >= 13 && memcmp(rec + 5, want, 8) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static unsigned char out[TLS_SEAL_PLAIN_MAX + 512], again[TLS_SEAL_PLAIN_MAX + 512];
        struct tls_seal *rx, *tx;
        size_t plen, over;
        unsigned pick;
        uint8_t type;
        int r;

        if (size < 1 || size - 1 > sizeof(out))
                return 0;
        pick = data[0] % 6u;
        make(pick, &rx);
        make(pick, &tx);
        over = tls_seal_overhead(tx);
        r = tls_seal_open(rx, data + 1, size - 1, out, &plen, &type);
        if (r == 0) {
                CHECK(plen + over <= size - 1 && type != 0);
                CHECK(tls_seal_seq(rx) == SEQ + 1);
                if (plen + over == size - 1 && plen <= TLS_SEAL_PLAIN_MAX &&
                    nonce_is_ours(pick, data + 1, size - 1)) {
                        CHECK(tls_seal_record(tx, type, out, plen, again) == 0);
                        CHECK(memcmp(again, data + 1, size - 1) == 0);
                }
        } else {
                CHECK(tls_seal_seq(rx) == SEQ);
                /* The input as plaintext instead: sealed, then opened again. */
                plen = size - 1 < TLS_SEAL_PLAIN_MAX ? size - 1 : TLS_SEAL_PLAIN_MAX;
                CHECK(tls_seal_record(tx, TLS_CT_APP_DATA, data + 1, plen, again) == 0);
                CHECK(tls_seal_open(rx, again, plen + over, out, &plen, &type) == 0);
                CHECK(type == TLS_CT_APP_DATA && memcmp(out, data + 1, plen) == 0);
        }
        tls_seal_free(rx);
        tls_seal_free(tx);
        return 0;
}
