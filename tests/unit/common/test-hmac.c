/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include "hex.h"
#include "hmac.h"
#include "tests.h"

/* HMAC-SHA256 of the concatenation of parts, as lowercase hex. */
static const char *mac_hex(const void *key, size_t key_len, const struct iovec *parts, size_t n)
{
        static char hex[65];
        uint8_t out[32];

        if (hmac_sha256(key, key_len, parts, n, out) != 0)
                return "hmac_sha256 failed";
        return hex_encode(out, sizeof(out), hex);
}

static const char *mac1_hex(const void *key, size_t key_len, const char *msg)
{
        struct iovec part = {.iov_base = (void *)msg, .iov_len = strlen(msg)};

        return mac_hex(key, key_len, &part, 1);
}

/* RFC 4231, test cases 1, 2 and 6 (a key longer than SHA-256's block). */
TEST(rfc4231_vectors)
{
        uint8_t k1[20], k6[131];

        memset(k1, 0x0b, sizeof(k1));
        memset(k6, 0xaa, sizeof(k6));
        ASSERT_STREQ(mac1_hex(k1, sizeof(k1), "Hi There"),
                     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
        ASSERT_STREQ(mac1_hex("Jefe", 4, "what do ya want for nothing?"),
                     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        ASSERT_STREQ(
            mac1_hex(k6, sizeof(k6), "Test Using Larger Than Block-Size Key - Hash Key First"),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

/* The pieces are MACed in order as one message: any split gives the same MAC, empty pieces
 * and no pieces included. */
TEST(parts_are_one_message)
{
        const char *msg = "what do ya want for nothing?";
        const char *want = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        size_t len = strlen(msg);

        for (size_t a = 0; a <= len; a++) {
                struct iovec parts[4] = {
                    {.iov_base = (void *)msg, .iov_len = a},
                    {.iov_base = (void *)"", .iov_len = 0},
                    {.iov_base = (void *)(msg + a), .iov_len = (len - a) / 2},
                    {.iov_base = (void *)(msg + a + (len - a) / 2),
                     .iov_len = len - a - (len - a) / 2},
                };
                ASSERT_STREQ(mac_hex("Jefe", 4, parts, 4), want);
        }
        ASSERT_STREQ(mac_hex("", 0, NULL, 0),
                     "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

/* The order of the pieces matters, and so does the key. */
TEST(order_and_key_matter)
{
        struct iovec ab[2] = {{.iov_base = (void *)"a", .iov_len = 1},
                              {.iov_base = (void *)"b", .iov_len = 1}};
        struct iovec ba[2] = {ab[1], ab[0]};
        char x[65];

        snprintf(x, sizeof(x), "%s", mac_hex("k", 1, ab, 2));
        ASSERT_TRUE(strcmp(x, mac_hex("k", 1, ba, 2)) != 0);
        ASSERT_TRUE(strcmp(x, mac_hex("K", 1, ab, 2)) != 0);
}

TEST_MAIN()
