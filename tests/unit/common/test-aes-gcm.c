/* SPDX-License-Identifier: MIT */
/*
 * AES-GCM sealing with VAES (common/aes-gcm.c): the GCM specification's test cases 3 and 15,
 * then every length up to 600 bytes and the record sizes TLS uses, each additional-data
 * length and each tail length, compared byte for byte (ciphertext and tag) with OpenSSL's
 * AES-GCM under random keys and nonces, in place and not.
 */
#include <pthread.h>

#include <openssl/evp.h>

#include "aes-gcm.h"
#include "hex.h"
#include "tests.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static void fill(uint8_t *p, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                p[i] = (uint8_t)rng;
        }
}

/* Each case ends here, with the reason, where the processor cannot run the edge's sealing. */
#define SKIP_UNLESS_USABLE()                                                                       \
        do {                                                                                       \
                if (!aes_gcm_usable())                                                             \
                        TEST_SKIP_CASE("this processor has no VAES/VPCLMULQDQ/AVX-512 (or "        \
                                       "SLUICE_AES_GCM=openssl): OpenSSL seals instead");          \
        } while (0)

/* OpenSSL's AES-GCM of in || tail: ciphertext into out, tag into tag. */
static int reference(const uint8_t *key, size_t key_len, const uint8_t *nonce, const uint8_t *aad,
                     size_t aad_len, const uint8_t *in, size_t len, const uint8_t *tail,
                     size_t tail_len, uint8_t *out, uint8_t *tag)
{
        EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
        int n, ok;

        ok = c && EVP_EncryptInit_ex(c, key_len == 16 ? EVP_aes_128_gcm() : EVP_aes_256_gcm(), NULL,
                                     key, nonce) == 1;
        ok = ok && (aad_len == 0 || EVP_EncryptUpdate(c, NULL, &n, aad, (int)aad_len) == 1);
        ok = ok && (len == 0 || EVP_EncryptUpdate(c, out, &n, in, (int)len) == 1);
        ok = ok && (tail_len == 0 || EVP_EncryptUpdate(c, out + len, &n, tail, (int)tail_len) == 1);
        ok = ok && EVP_EncryptFinal_ex(c, out + len + tail_len, &n) == 1;
        ok = ok && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, tag) == 1;
        EVP_CIPHER_CTX_free(c);
        return ok ? 0 : -1;
}

static void unhex(const char *h, uint8_t *out, size_t n)
{
        ASSERT_EQ(hex_decode(h, strlen(h), out, n), 0);
}

#define GCM_KEY "feffe9928665731c6d6a8f9467308308"
#define GCM_PLAIN                                                                                  \
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"                         \
        "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255"

static void spec_case(const char *key_hex, size_t key_len, const char *cipher_hex,
                      const char *tag_hex)
{
        uint8_t key[32], nonce[12], plain[64], want[64], want_tag[16], got[64], tag[16];
        struct aes_gcm_key k;

        unhex(key_hex, key, key_len);
        unhex("cafebabefacedbaddecaf888", nonce, 12);
        unhex(GCM_PLAIN, plain, 64);
        unhex(cipher_hex, want, 64);
        unhex(tag_hex, want_tag, 16);
        ASSERT_EQ(aes_gcm_key_init(&k, key, key_len), 0);
        aes_gcm_seal(&k, nonce, NULL, 0, plain, 64, NULL, 0, got, tag);
        ASSERT_MEMEQ(got, 64, want, 64);
        ASSERT_MEMEQ(tag, 16, want_tag, 16);
        /* The same 64 bytes as 60 and a tail of 4. */
        aes_gcm_seal(&k, nonce, NULL, 0, plain, 60, plain + 60, 4, got, tag);
        ASSERT_MEMEQ(got, 64, want, 64);
        ASSERT_MEMEQ(tag, 16, want_tag, 16);
        aes_gcm_key_wipe(&k);
}

/* The GCM specification (McGrew and Viega, revised), test cases 3 (AES-128) and 15
 * (AES-256): 64 bytes, no additional data. */
TEST(spec_test_cases)
{
        SKIP_UNLESS_USABLE();
        spec_case(GCM_KEY, 16,
                  "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
                  "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985",
                  "4d5c2af327cd64a62cf35abd2ba6fab4");
        spec_case(GCM_KEY GCM_KEY, 32,
                  "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
                  "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
                  "b094dac5d93471bdec1a502270e3cc6c");
}

static void compare(size_t key_len, size_t aad_len, size_t len, size_t tail_len, bool in_place)
{
        static uint8_t in[16384 + 32], out[16384 + 32], want[16384 + 32];
        uint8_t key[32], nonce[12], aad[16], tail[16], tag[16], want_tag[16];
        struct aes_gcm_key k;

        fill(key, key_len);
        fill(nonce, sizeof(nonce));
        fill(aad, aad_len);
        fill(in, len);
        fill(tail, tail_len);
        ASSERT_EQ(
            reference(key, key_len, nonce, aad, aad_len, in, len, tail, tail_len, want, want_tag),
            0);
        ASSERT_EQ(aes_gcm_key_init(&k, key, key_len), 0);
        if (in_place) {
                memcpy(out, in, len);
                aes_gcm_seal(&k, nonce, aad, aad_len, out, len, tail, tail_len, out, tag);
        } else {
                aes_gcm_seal(&k, nonce, aad, aad_len, in, len, tail, tail_len, out, tag);
        }
        aes_gcm_key_wipe(&k);
        if (memcmp(out, want, len + tail_len) != 0 || memcmp(tag, want_tag, 16) != 0)
                fprintf(stderr, "  key %zu aad %zu len %zu tail %zu in place %d:\n", key_len,
                        aad_len, len, tail_len, in_place);
        ASSERT_MEMEQ(out, len + tail_len, want, len + tail_len);
        ASSERT_MEMEQ(tag, 16, want_tag, 16);
}

TEST(every_short_length_matches_openssl)
{
        SKIP_UNLESS_USABLE();
        for (size_t key_len = 16; key_len <= 32; key_len += 16)
                for (size_t len = 0; len <= 600; len++) {
                        compare(key_len, len % 17, len, len % 3 == 0 ? 1 : len % 17, false);
                        if (test_failed)
                                return;
                }
}

TEST(every_aad_and_tail_length_matches_openssl)
{
        SKIP_UNLESS_USABLE();
        for (size_t aad_len = 0; aad_len <= AES_GCM_AAD_MAX; aad_len++)
                for (size_t tail_len = 0; tail_len <= AES_GCM_TAIL_MAX; tail_len++)
                        for (size_t len = 250; len <= 262; len += 3) {
                                compare(aad_len & 1 ? 32 : 16, aad_len, len, tail_len,
                                        tail_len & 1);
                                if (test_failed)
                                        return;
                        }
}

/* What TLS seals: full records (2^14 bytes and the inner content type) and the sizes around
 * the sixteen-block stride. */
TEST(record_sizes_match_openssl)
{
        static const size_t lens[] = {255,  256,  257,  511,   512,   4095, 4096,
                                      4097, 8191, 8192, 16375, 16383, 16384};

        SKIP_UNLESS_USABLE();
        for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
                for (int rep = 0; rep < 4; rep++) {
                        compare(rep & 1 ? 32 : 16, 5, lens[i], 1, rep & 2);
                        if (test_failed)
                                return;
                }
}

/* Nothing to encrypt or authenticate: the parts may be NULL, and the tag is GMAC of nothing. */
TEST(empty_parts_may_be_null)
{
        uint8_t key[16] = {7}, nonce[12] = {9}, out[1], tag[16], want_tag[16];
        struct aes_gcm_key k;

        SKIP_UNLESS_USABLE();
        ASSERT_EQ(reference(key, 16, nonce, NULL, 0, NULL, 0, NULL, 0, out, want_tag), 0);
        ASSERT_EQ(aes_gcm_key_init(&k, key, 16), 0);
        aes_gcm_seal(&k, nonce, NULL, 0, NULL, 0, NULL, 0, out, tag);
        ASSERT_MEMEQ(tag, 16, want_tag, 16);
}

TEST(bad_key_length_refused)
{
        struct aes_gcm_key k;
        uint8_t key[24] = {0};

        SKIP_UNLESS_USABLE();
        ASSERT_EQ(aes_gcm_key_init(&k, key, 24), -1);
}

/* A key expanded and a record sealed on a stack of the test's own, which it then reads. */
struct on_stack {
        struct aes_gcm_key k;
        uint8_t key[32], nonce[12], aad[13], in[1000], tail[1], out[1001], tag[16];
};

static void *expand_and_seal(void *arg)
{
        struct on_stack *w = arg;

        if (aes_gcm_key_init(&w->k, w->key, sizeof(w->key)) == 0)
                aes_gcm_seal(&w->k, w->nonce, w->aad, sizeof(w->aad), w->in, sizeof(w->in),
                             w->tail, sizeof(w->tail), w->out, w->tag);
        return NULL;
}

/* Whether 16 bytes of s (at any alignment) are the block b. */
static bool holds_block(const uint8_t *s, size_t n, const uint8_t b[16])
{
        for (size_t i = 0; i + 16 <= n; i++)
                if (memcmp(s + i, b, 16) == 0)
                        return true;
        return false;
}

/* Neither expanding a key nor sealing leaves round keys or the hash key on the stack: each
 * copied them there (the schedule, the per-call copies and their 512-bit broadcasts, and the
 * compiler's spills), and returned without wiping them. */
TEST(no_round_key_left_on_the_stack)
{
        const size_t size = 1u << 20;
        struct on_stack *w;
        uint8_t *stack;
        pthread_attr_t attr;
        pthread_t t;
        unsigned found = 0;

        SKIP_UNLESS_USABLE();
#ifndef __OPTIMIZE__
        /* Every helper has a frame of its own then, holding what it was passed, deeper than
         * the wipe reaches (aes-gcm.c's STACK_WIPE sizes it for optimised builds). */
        TEST_SKIP_CASE("an unoptimised build's frames reach past the stack wipe");
#endif
        w = calloc(1, sizeof(*w));
        stack = calloc(1, size);
        ASSERT_TRUE(w && stack);
        fill(w->key, sizeof(w->key));
        fill(w->nonce, sizeof(w->nonce));
        fill(w->in, sizeof(w->in));
        ASSERT_EQ(pthread_attr_init(&attr), 0);
        ASSERT_EQ(pthread_attr_setstack(&attr, stack, size), 0);
        ASSERT_EQ(pthread_create(&t, &attr, expand_and_seal, w), 0);
        ASSERT_EQ(pthread_join(t, NULL), 0);
        (void)pthread_attr_destroy(&attr);
        ASSERT_EQ(w->k.rounds, 14);
        for (unsigned i = 0; i <= w->k.rounds; i++)
                found += holds_block(stack, size, w->k.rk[i]);
        found += holds_block(stack, size, w->k.hpow[15]);
        ASSERT_EQ(found, 0);
        aes_gcm_key_wipe(&w->k);
        free(stack);
        free(w);
}

TEST_MAIN()
