/* SPDX-License-Identifier: MIT */
#pragma once

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "tls.h"

/*
 * Session ticket keys, rotated on a schedule: a key per period of period_ms (made on the
 * first use in a new period), tickets sealed with the current one and opened with it or the
 * previous one, so a ticket lives two periods at most. Shared by a listener's successive
 * contexts (reloads), so tickets survive SIGHUP; the listener's TLS counters live here for
 * the same reason.
 */

#define TLS_TICKET_KEYS 3 /* current, previous, and one spare slot (kept wiped) */

struct tls_ticket_key {
        uint64_t epoch; /* floor(now / period) + 1; 0 = slot unused */
        unsigned char name[16];
        unsigned char aes[32];
        unsigned char hmac[32];
};

struct tls_tickets {
        atomic_int refs;
        pthread_mutex_t mu;
        uint64_t period_ms;
        struct tls_ticket_key keys[TLS_TICKET_KEYS]; /* keys[0] newest */
        struct tls_stats stats;
};

/* One reference; NULL when out of memory. */
struct tls_tickets *tls_tickets_new(uint64_t period_ms);
void tls_tickets_ref(struct tls_tickets *k);
/* The keys are wiped with the last reference. k may be NULL. */
void tls_tickets_unref(struct tls_tickets *k);

/*
 * OpenSSL's ticket key callback (SSL_CTX_set_tlsext_ticket_key_evp_cb) at wall-clock time
 * now_ms. enc: the current key, name and iv filled. Decrypt: the key found by name; 1 = fine,
 * 2 = fine but seal a fresh ticket (it was the previous period's), 0 = unknown or expired
 * (full handshake), -1 = error (OpenSSL's error queue says what; the caller drains it).
 */
int tls_tickets_cb(struct tls_tickets *k, uint64_t now_ms, unsigned char name[16],
                   unsigned char *iv, EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc);
