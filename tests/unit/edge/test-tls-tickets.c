/* SPDX-License-Identifier: MIT */
/*
 * Session ticket keys (edge/tls-tickets.c) across rotations: a ticket opens in its own period
 * and the next, not after; and no key too old to open a ticket stays in the ring.
 */
#include <dlfcn.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tests.h"
#include "tls-tickets.h"

#define PERIOD_MS 1000u

/* The RNG as tls-tickets.c calls it: OpenSSL's, unless fail_after is set, when it fills each
 * buffer with MARK and fails the call after fail_after good ones. */
#define MARK 0xa7
static int fail_after = -1;

int RAND_bytes(unsigned char *buf, int num)
{
        static int (*real)(unsigned char *, int);

        if (fail_after < 0) {
                if (!real)
                        real = (int (*)(unsigned char *, int))dlsym(RTLD_NEXT, "RAND_bytes");
                return real ? real(buf, num) : 0;
        }
        if (fail_after-- == 0)
                return 0;
        memset(buf, MARK, (size_t)num);
        return 1;
}

/* One call of the callback at now_ms; name is filled (enc) or looked up (decrypt). -2 when
 * the test could not make OpenSSL's contexts. */
static int call(struct tls_tickets *k, uint64_t now_ms, unsigned char name[16], int enc)
{
        EVP_CIPHER_CTX *cctx = EVP_CIPHER_CTX_new();
        EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
        EVP_MAC_CTX *hctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
        unsigned char iv[16] = {0};
        int r = -2;

        if (cctx && hctx)
                r = tls_tickets_cb(k, now_ms, name, iv, cctx, hctx, enc);
        EVP_MAC_CTX_free(hctx);
        EVP_MAC_free(mac);
        EVP_CIPHER_CTX_free(cctx);
        return r;
}

/* Every slot holds a key that still opens tickets at now_ms, or nothing at all (zeros). */
static void only_live_keys(const struct tls_tickets *k, uint64_t now_ms)
{
        static const struct tls_ticket_key zero;
        uint64_t epoch = now_ms / PERIOD_MS + 1;

        for (size_t i = 0; i < TLS_TICKET_KEYS; i++) {
                if (k->keys[i].epoch && k->keys[i].epoch + 1 >= epoch)
                        continue;
                ASSERT_TRUE(memcmp(&k->keys[i], &zero, sizeof(zero)) == 0);
        }
}

TEST(tickets_open_for_two_periods)
{
        struct tls_tickets *k = tls_tickets_new(PERIOD_MS);
        unsigned char first[16], name[16];

        ASSERT_TRUE(k != NULL);
        ASSERT_EQ(call(k, 0, first, 1), 1);
        memcpy(name, first, 16);
        ASSERT_EQ(call(k, 500, name, 0), 1); /* its own period */
        ASSERT_EQ(call(k, 1500, name, 0), 2); /* the next: opens, and a fresh one is sealed */
        ASSERT_EQ(call(k, 2500, name, 0), 0); /* the one after: a full handshake */
        tls_tickets_unref(k);
}

TEST(keys_past_their_window_wiped)
{
        struct tls_tickets *k = tls_tickets_new(PERIOD_MS);
        unsigned char name[16];

        ASSERT_TRUE(k != NULL);
        for (uint64_t now = 0; now < 6 * PERIOD_MS; now += PERIOD_MS) {
                ASSERT_EQ(call(k, now, name, 1), 1);
                only_live_keys(k, now);
        }
        /* A quiet listener: the next handshake comes several periods later. */
        ASSERT_EQ(call(k, 20 * PERIOD_MS, name, 1), 1);
        only_live_keys(k, 20 * PERIOD_MS);
        tls_tickets_unref(k);
}

struct first {
        struct tls_tickets *k;
        int r;
};

/* A key's first call in a new period, made on a stack of the test's own. */
static void *first_call(void *arg)
{
        struct first *f = arg;
        unsigned char name[16];

        f->r = call(f->k, 0, name, 1);
        return NULL;
}

/* The RNG failing part way through a new key: the part it made is wiped, not left behind on
 * the stack (the key's name and AES key were, 48 bytes of it). */
TEST(half_made_key_wiped_when_the_rng_fails)
{
        const size_t size = 1u << 20;
        unsigned char *stack = calloc(1, size), run[16];
        pthread_attr_t attr;
        pthread_t t;
        struct first f = {tls_tickets_new(PERIOD_MS), 0};
        size_t found = 0;

        ASSERT_TRUE(stack != NULL && f.k != NULL);
        memset(run, MARK, sizeof(run));
        fail_after = 2; /* the name and the AES key made, the HMAC key failed */
        ASSERT_EQ(pthread_attr_init(&attr), 0);
        ASSERT_EQ(pthread_attr_setstack(&attr, stack, size), 0);
        ASSERT_EQ(pthread_create(&t, &attr, first_call, &f), 0);
        ASSERT_EQ(pthread_join(t, NULL), 0);
        (void)pthread_attr_destroy(&attr);
        fail_after = -1;
        tls_tickets_unref(f.k);
        ASSERT_EQ(f.r, -1);
        /* 16 bytes of it at a time: a part of the name or of the AES key, anywhere. */
        for (size_t i = 0; i + sizeof(run) <= size; i++)
                found += memcmp(stack + i, run, sizeof(run)) == 0;
        free(stack);
        ASSERT_EQ(found, 0);
}

TEST_MAIN()
