/* SPDX-License-Identifier: MIT */
/*
 * The edge's TLS 1.3 record opener (edge/tls-seal.c), which reads the records OpenSSL writes
 * after the edge took the sealing over. The first byte picks the suite; the rest is offered as
 * one record under a fixed secret. Never a crash; a record that opens, sealed again under the
 * same secret and sequence number, gives back exactly the input when it had no padding; and
 * sealing any plaintext then opening it gives the plaintext back.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz.h"
#include "tls-seal.h"

static const unsigned suites[] = {0x1301, 0x1302, 0x1303};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static unsigned char out[TLS_SEAL_PLAIN_MAX + 512], again[TLS_SEAL_PLAIN_MAX + 512];
        unsigned char secret[TLS_SEAL_SECRET_MAX];
        struct tls_seal *rx, *tx;
        unsigned suite;
        size_t secret_len, plen;
        uint8_t type;
        int r;

        if (size < 1 || size - 1 > sizeof(out))
                return 0;
        suite = suites[data[0] % 3];
        secret_len = suite == 0x1302 ? 48 : 32;
        memset(secret, 0xa5, sizeof(secret));
        CHECK(tls_seal_new(suite, secret, secret_len, 3, &rx) == 0);
        CHECK(tls_seal_new(suite, secret, secret_len, 3, &tx) == 0);
        r = tls_seal_open(rx, data + 1, size - 1, out, &plen, &type);
        if (r == 0) {
                CHECK(plen + TLS_SEAL_OVERHEAD <= size - 1 && type != 0);
                CHECK(tls_seal_seq(rx) == 4);
                if (plen + TLS_SEAL_OVERHEAD == size - 1 && plen <= TLS_SEAL_PLAIN_MAX) {
                        CHECK(tls_seal_record(tx, type, out, plen, again) == 0);
                        CHECK(memcmp(again, data + 1, size - 1) == 0);
                }
        } else {
                CHECK(tls_seal_seq(rx) == 3);
                /* The input as plaintext instead: sealed, then opened again. */
                plen = size - 1 < TLS_SEAL_PLAIN_MAX ? size - 1 : TLS_SEAL_PLAIN_MAX;
                CHECK(tls_seal_record(tx, TLS_CT_APP_DATA, data + 1, plen, again) == 0);
                CHECK(tls_seal_open(rx, again, plen + TLS_SEAL_OVERHEAD, out, &plen, &type) == 0);
                CHECK(type == TLS_CT_APP_DATA && memcmp(out, data + 1, plen) == 0);
        }
        tls_seal_free(rx);
        tls_seal_free(tx);
        return 0;
}
