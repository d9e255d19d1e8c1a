/* SPDX-License-Identifier: MIT */
/*
 * The edge's own record sealing: TLS 1.3's key schedule against RFC 8448's example
 * handshake, records opened again for each suite and each TLS 1.2 AEAD, tampering and bad
 * framing refused, the sequence number moving only on success, and KeyUpdate's next key.
 * Interoperation with a real OpenSSL client (which derives TLS 1.2's key block itself) is in
 * test-tls.c.
 */
#include "bug.h"
#include "hex.h"
#include "tests.h"
#include "tls-seal.c"

static void unhex(const char *h, unsigned char *out, size_t n)
{
        ASSERT_EQ(hex_decode(h, strlen(h), out, n), 0);
}

/* RFC 8448 section 3: the server's application traffic secret, and the write key and IV
 * derived from it. */
TEST(key_schedule_matches_rfc8448)
{
        unsigned char secret[32], key[16], iv[12], want_key[16], want_iv[12];

        unhex("a11af9f05531f856ad47116b45a950328204b4f44bfb6b3a4b4f1f3fcb631643", secret, 32);
        unhex("9f02283b6c9c07efc26bb9f2ac92e356", want_key, 16);
        unhex("cf782b88dd83549aadf1e984", want_iv, 12);
        ASSERT_EQ(expand_label(EVP_sha256(), secret, 32, "key", key, 16), 0);
        ASSERT_EQ(expand_label(EVP_sha256(), secret, 32, "iv", iv, 12), 0);
        ASSERT_MEMEQ(key, 16, want_key, 16);
        ASSERT_MEMEQ(iv, 12, want_iv, 12);
}

static void round_trip(unsigned suite, size_t secret_len)
{
        static unsigned char plain[TLS_SEAL_PLAIN_MAX], rec[TLS_SEAL_PLAIN_MAX + 64],
            got[TLS_SEAL_PLAIN_MAX + 64];
        unsigned char secret[TLS_SEAL_SECRET_MAX];
        struct tls_seal *tx, *rx;
        size_t got_len;
        uint8_t type;

        for (size_t i = 0; i < sizeof(secret); i++)
                secret[i] = (unsigned char)(i * 13 + suite);
        for (size_t i = 0; i < sizeof(plain); i++)
                plain[i] = (unsigned char)(i * 7);
        ASSERT_EQ(tls_seal_new(suite, secret, secret_len, 5, &tx), 0);
        ASSERT_EQ(tls_seal_new(suite, secret, secret_len, 5, &rx), 0);
        for (size_t len = 0; len <= TLS_SEAL_PLAIN_MAX; len += len < 64 ? 1 : 4093) {
                ASSERT_EQ(tls_seal_record(tx, TLS_CT_APP_DATA, plain, len, rec), 0);
                ASSERT_EQ(rec[0], TLS_CT_APP_DATA);
                ASSERT_EQ((size_t)rec[3] << 8 | rec[4], len + TLS_SEAL_OVERHEAD - 5);
                ASSERT_EQ(tls_seal_open(rx, rec, len + TLS_SEAL_OVERHEAD, got, &got_len, &type), 0);
                ASSERT_EQ(type, TLS_CT_APP_DATA);
                ASSERT_MEMEQ(got, got_len, plain, len);
        }
        ASSERT_EQ(tls_seal_seq(tx), tls_seal_seq(rx));
        /* Too long for one record. */
        ASSERT_EQ(tls_seal_record(tx, TLS_CT_APP_DATA, plain, TLS_SEAL_PLAIN_MAX + 1, rec), -EIO);
        tls_seal_free(tx);
        tls_seal_free(rx);
}

TEST(records_open_again_for_each_suite)
{
        round_trip(0x1301, 32);
        round_trip(0x1302, 48);
        round_trip(0x1303, 32);
}

TEST(unknown_suite_or_wrong_secret_refused)
{
        unsigned char secret[48] = {0};
        struct tls_seal *s = NULL;

        ASSERT_EQ(tls_seal_new(0x1304, secret, 32, 0, &s), -ENOTSUP);
        ASSERT_EQ(tls_seal_new(0x1301, secret, 48, 0, &s), -ENOTSUP);
        ASSERT_EQ(tls_seal_new(0x1302, secret, 32, 0, &s), -ENOTSUP);
        ASSERT_TRUE(s == NULL);
}

TEST(tampered_or_misframed_records_refused)
{
        unsigned char secret[32] = {1}, rec[64 + TLS_SEAL_OVERHEAD], got[128];
        struct tls_seal *tx, *rx;
        size_t got_len, n = 64 + TLS_SEAL_OVERHEAD;
        uint8_t type;

        ASSERT_EQ(tls_seal_new(0x1301, secret, 32, 0, &tx), 0);
        ASSERT_EQ(tls_seal_new(0x1301, secret, 32, 0, &rx), 0);
        ASSERT_EQ(tls_seal_record(tx, TLS_CT_ALERT,
                                  "0123456789abcdef0123456789abcdef"
                                  "0123456789abcdef0123456789abcdef",
                                  64, rec),
                  0);
        for (size_t i = 0; i < n; i++) {
                rec[i] ^= 0x01; /* any bit: header (AAD), ciphertext or tag */
                ASSERT_TRUE(tls_seal_open(rx, rec, n, got, &got_len, &type) < 0);
                rec[i] ^= 0x01;
        }
        ASSERT_EQ(tls_seal_open(rx, rec, n - 1, got, &got_len, &type), -EBADMSG);
        ASSERT_EQ(tls_seal_open(rx, rec, 4, got, &got_len, &type), -EBADMSG);
        ASSERT_EQ(tls_seal_seq(rx), 0); /* failures do not advance it */
        ASSERT_EQ(tls_seal_open(rx, rec, n, got, &got_len, &type), 0);
        ASSERT_EQ(type, TLS_CT_ALERT);
        ASSERT_EQ(got_len, 64);
        /* The same record again: sequence number 1 now, it does not authenticate. */
        ASSERT_EQ(tls_seal_open(rx, rec, n, got, &got_len, &type), -EBADMSG);
        tls_seal_free(tx);
        tls_seal_free(rx);
}

TEST(key_update_moves_both_sides_to_the_next_key)
{
        unsigned char secret[32] = {9}, rec[16 + TLS_SEAL_OVERHEAD], got[64];
        struct tls_seal *tx, *rx, *stale;
        size_t got_len, n = 16 + TLS_SEAL_OVERHEAD;
        uint8_t type;

        ASSERT_EQ(tls_seal_new(0x1303, secret, 32, 7, &tx), 0);
        ASSERT_EQ(tls_seal_new(0x1303, secret, 32, 7, &rx), 0);
        ASSERT_EQ(tls_seal_new(0x1303, secret, 32, 0, &stale), 0);
        ASSERT_EQ(tls_seal_update(tx), 0);
        ASSERT_EQ(tls_seal_update(rx), 0);
        ASSERT_EQ(tls_seal_seq(tx), 0);
        ASSERT_EQ(tls_seal_record(tx, TLS_CT_APP_DATA, "sixteen bytes ok", 16, rec), 0);
        ASSERT_EQ(tls_seal_open(stale, rec, n, got, &got_len, &type), -EBADMSG);
        ASSERT_EQ(tls_seal_open(rx, rec, n, got, &got_len, &type), 0);
        ASSERT_MEMEQ(got, got_len, "sixteen bytes ok", 16);
        tls_seal_free(tx);
        tls_seal_free(rx);
        tls_seal_free(stale);
}

/* TLS 1.2: a master secret and the two randoms, made up. */
static unsigned char master[TLS_SEAL_MASTER_LEN], client_random[32], server_random[32];

static void tls12_inputs(unsigned salt)
{
        for (size_t i = 0; i < sizeof(master); i++)
                master[i] = (unsigned char)(i * 5 + salt);
        for (size_t i = 0; i < 32; i++) {
                client_random[i] = (unsigned char)(i + 1);
                server_random[i] = (unsigned char)(200 - i);
        }
}

static void round_trip12(int nid, const EVP_MD *prf, size_t overhead)
{
        static unsigned char plain[TLS_SEAL_PLAIN_MAX], rec[TLS_SEAL_PLAIN_MAX + 64],
            got[TLS_SEAL_PLAIN_MAX + 64];
        struct tls_seal *tx, *rx;
        size_t got_len;
        uint8_t type;

        tls12_inputs((unsigned)nid);
        for (size_t i = 0; i < sizeof(plain); i++)
                plain[i] = (unsigned char)(i * 11);
        ASSERT_EQ(
            tls_seal_new12(nid, prf, master, sizeof(master), client_random, server_random, 1, &tx),
            0);
        ASSERT_EQ(
            tls_seal_new12(nid, prf, master, sizeof(master), client_random, server_random, 1, &rx),
            0);
        ASSERT_EQ(tls_seal_overhead(tx), overhead);
        for (size_t len = 0; len <= TLS_SEAL_PLAIN_MAX; len += len < 64 ? 1 : 4093) {
                uint8_t want = len % 2 ? TLS_CT_ALERT : TLS_CT_APP_DATA;
                uint64_t seq = tls_seal_seq(tx);

                ASSERT_EQ(tls_seal_record(tx, want, plain, len, rec), 0);
                /* TLS 1.2 records carry their own type; AES-GCM's explicit nonce is the
                 * sequence number (RFC 5288 section 3). */
                ASSERT_EQ(rec[0], want);
                ASSERT_EQ((size_t)rec[3] << 8 | rec[4], len + overhead - 5);
                if (overhead == 29)
                        for (int i = 0; i < 8; i++)
                                ASSERT_EQ(rec[5 + i], (unsigned char)(seq >> (56 - 8 * i)));
                ASSERT_EQ(tls_seal_open(rx, rec, len + overhead, got, &got_len, &type), 0);
                ASSERT_EQ(type, want);
                ASSERT_MEMEQ(got, got_len, plain, len);
        }
        ASSERT_EQ(tls_seal_seq(tx), tls_seal_seq(rx));
        /* Any bit changed, header (additional data), nonce, ciphertext or tag: refused, and
         * the sequence number stays. */
        ASSERT_EQ(tls_seal_record(tx, TLS_CT_APP_DATA, plain, 40, rec), 0);
        for (size_t i = 0; i < 40 + overhead; i++) {
                rec[i] ^= 0x10;
                ASSERT_TRUE(tls_seal_open(rx, rec, 40 + overhead, got, &got_len, &type) < 0);
                rec[i] ^= 0x10;
        }
        ASSERT_EQ(tls_seal_seq(rx) + 1, tls_seal_seq(tx));
        ASSERT_EQ(tls_seal_open(rx, rec, 40 + overhead, got, &got_len, &type), 0);
        ASSERT_EQ(tls_seal_update(tx), -ENOTSUP); /* no KeyUpdate before TLS 1.3 */
        tls_seal_free(tx);
        tls_seal_free(rx);
}

TEST(tls12_records_open_again_for_each_aead)
{
        round_trip12(NID_aes_128_gcm, EVP_sha256(), 29);
        round_trip12(NID_aes_256_gcm, EVP_sha384(), 29);
        round_trip12(NID_chacha20_poly1305, EVP_sha256(), 21);
}

/* The server's key and IV are not the client's: with the randoms the other way round, or
 * another PRF hash, a record does not open. */
TEST(tls12_keys_are_the_servers)
{
        unsigned char rec[16 + 29], got[64];
        struct tls_seal *tx, *swapped, *other_prf, *s = NULL;
        size_t got_len;
        uint8_t type;

        tls12_inputs(3);
        ASSERT_EQ(tls_seal_new12(NID_aes_128_gcm, EVP_sha256(), master, sizeof(master),
                                 client_random, server_random, 0, &tx),
                  0);
        ASSERT_EQ(tls_seal_new12(NID_aes_128_gcm, EVP_sha256(), master, sizeof(master),
                                 server_random, client_random, 0, &swapped),
                  0);
        ASSERT_EQ(tls_seal_new12(NID_aes_128_gcm, EVP_sha384(), master, sizeof(master),
                                 client_random, server_random, 0, &other_prf),
                  0);
        ASSERT_EQ(tls_seal_record(tx, TLS_CT_APP_DATA, "sixteen bytes ok", 16, rec), 0);
        ASSERT_EQ(tls_seal_open(swapped, rec, sizeof(rec), got, &got_len, &type), -EBADMSG);
        ASSERT_EQ(tls_seal_open(other_prf, rec, sizeof(rec), got, &got_len, &type), -EBADMSG);
        /* Not an AEAD of the profile. */
        ASSERT_EQ(tls_seal_new12(NID_aes_128_cbc, EVP_sha256(), master, sizeof(master),
                                 client_random, server_random, 0, &s),
                  -ENOTSUP);
        ASSERT_TRUE(s == NULL);
        tls_seal_free(tx);
        tls_seal_free(swapped);
        tls_seal_free(other_prf);
}

TEST_MAIN()
