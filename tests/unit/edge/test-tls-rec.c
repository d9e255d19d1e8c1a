/* SPDX-License-Identifier: MIT */
/*
 * Plaintext counted in sealed TLS records the edge still holds (edge/tls-rec.c): whole records
 * after a cut, the record a cut falls in, each suite's overhead, and a buffer that ends inside
 * a record.
 */
#include <openssl/obj_mac.h>
#include <openssl/ssl.h>
#include <string.h>

#include "tests.h"
#include "tls-rec.h"

/* Records of the given payload lengths, back to back, into buf; returns their total length. */
static size_t records(unsigned char *buf, const size_t *payloads, size_t n)
{
        size_t at = 0;

        for (size_t i = 0; i < n; i++) {
                buf[at] = 23; /* application_data */
                buf[at + 1] = 3;
                buf[at + 2] = 3;
                buf[at + 3] = (unsigned char)(payloads[i] >> 8);
                buf[at + 4] = (unsigned char)payloads[i];
                memset(buf + at + 5, 0xa5, payloads[i]);
                at += 5 + payloads[i];
        }
        return at;
}

TEST(overheads)
{
        ASSERT_EQ(tls_rec_overhead(TLS1_3_VERSION, NID_aes_128_gcm), 17);
        ASSERT_EQ(tls_rec_overhead(TLS1_3_VERSION, NID_chacha20_poly1305), 17);
        ASSERT_EQ(tls_rec_overhead(TLS1_2_VERSION, NID_aes_256_gcm), 24);
        ASSERT_EQ(tls_rec_overhead(TLS1_2_VERSION, NID_chacha20_poly1305), 16);
}

TEST(unsent_after_a_cut)
{
        static unsigned char buf[3 * (5 + 16401)];
        const size_t pay[3] = {16401, 117, 1017}; /* plaintext 16384, 100, 1000 in TLS 1.3 */
        size_t len = records(buf, pay, 3);

        ASSERT_EQ(len, 5 + 16401 + 5 + 117 + 5 + 1017);
        ASSERT_EQ(tls_rec_unsent(buf, len, 0, 17), 16384 + 100 + 1000);
        /* A record begun on the socket is not sent: the peer cannot open half of it. */
        ASSERT_EQ(tls_rec_unsent(buf, len, 1, 17), 16384 + 100 + 1000);
        ASSERT_EQ(tls_rec_unsent(buf, len, 5 + 16401 - 1, 17), 16384 + 100 + 1000);
        ASSERT_EQ(tls_rec_unsent(buf, len, 5 + 16401, 17), 100 + 1000);
        ASSERT_EQ(tls_rec_unsent(buf, len, 5 + 16401 + 5 + 117, 17), 1000);
        ASSERT_EQ(tls_rec_unsent(buf, len, len, 17), 0);
        /* A buffer ending inside a record counts that record for nothing. */
        ASSERT_EQ(tls_rec_unsent(buf, len - 1, 0, 17), 16384 + 100);
        ASSERT_EQ(tls_rec_unsent(buf, 3, 0, 17), 0);
        /* TLS 1.2 GCM: 24 bytes a record. */
        ASSERT_EQ(tls_rec_unsent(buf, len, 0, 24), 16377 + 93 + 993);
}

TEST(cut_inside_and_at_a_record)
{
        static unsigned char buf[2 * (5 + 16401)];
        const size_t pay[2] = {16401, 517};
        size_t len = records(buf, pay, 2), end, plain;

        tls_rec_cut(buf, len, 1000, 17, &end, &plain);
        ASSERT_EQ(end, 5 + 16401 - 1000);
        ASSERT_EQ(plain, 16384);
        tls_rec_cut(buf, len, 5 + 16401, 17, &end, &plain); /* at the second's header */
        ASSERT_EQ(end, 5 + 517);
        ASSERT_EQ(plain, 500);
        tls_rec_cut(buf, len, 0, 17, &end, &plain);
        ASSERT_EQ(end, 5 + 16401);
        ASSERT_EQ(plain, 16384);
        /* Nothing to cut in: end 0, which tls.c reads as "unknown". */
        tls_rec_cut(buf, 4, 0, 17, &end, &plain);
        ASSERT_EQ(end, 0);
        ASSERT_EQ(plain, 0);
}

TEST_MAIN()
