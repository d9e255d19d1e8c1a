/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The TLS code's insides, shared by tls.c (connections, the send path) and tls-ctx.c (contexts:
 * certificates and the ClientHello's choice among them, ALPN, OCSP, ticket keys) only.
 * Everyone else goes through tls.h.
 */

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "tls-seal.h"
#include "tls.h"

struct tls_tickets;


struct tls_cert {
        SSL_CTX *ctx;
        X509 *leaf; /* borrowed from ctx */
        bool ecdsa; /* its key is an EC key */
        int64_t not_after;   /* the chain's earliest, Unix seconds (0: unreadable) */
        char *ocsp_path;     /* configured response file, for warnings; NULL: none */
        unsigned char *ocsp; /* the checked response (DER); NULL: nothing to staple */
        size_t ocsp_len;
        int64_t ocsp_next;      /* its nextUpdate, Unix seconds; 0: none given */
        atomic_bool ocsp_stale; /* nextUpdate passed while serving: said once, not stapled */
};

struct tls_ctx {
        atomic_int refs;
        struct tls_cert *certs; /* certs[0] is the default */
        size_t n_certs;
        struct tls_tickets *tickets;
        /* For a client that cannot take ECDSA and names no host we know, when certs[0] is an
         * ECDSA one: the certificate served instead (default_pick); 0 when none. */
        size_t default_rsa;
        bool ktls;
        bool ktls_able;         /* ktls on and the kernel has the tls module */
        unsigned char alpn[32]; /* server preference, wire format */
        size_t alpn_len;
};

struct tls_conn {
        struct tls_ctx *t;
        SSL *ssl;
        BIO *rbio;
        size_t retry_len; /* the len OpenSSL sealed before answering WANT_WRITE; 0 when none */
        bool done;
        bool fed;    /* a byte of the handshake came: gone before done is a failed one */
        bool failed; /* counted in tls_stats.failed (once) */
        bool ktls;
        enum tls_alpn alpn;
        int fd;
        int werr; /* a send error seen while flushing gathered records (-errno), or 0 */
        /* Sealed bytes the socket did not take (at most TLS_GATHER): sent before anything
         * else; malloc'd only while the socket is full. */
        char *left;
        size_t left_off, left_len;
        /* Where left's first record ends (from left's start; 0: unknown) and its plaintext,
         * and what a record adds to its plaintext: for tls_conn_unsent. */
        size_t left_first_end, left_first_plain, rec_overhead;
        size_t lost_plain; /* in records dropped unsent after a send error */
        /* Plaintext taken by tls_conn_write_all but not sealed yet (the socket was full):
         * sealed before anything else by tls_conn_flush; malloc'd only while held. */
        char *plain;
        size_t plain_off, plain_len;
        /* kTLS: the plaintext of the record OpenSSL is writing, kbuf_len bytes of it (see
         * ktls_write); kept while the connection lives, at most KTLS_CHUNK. */
        char *kbuf;
        size_t kbuf_len;
        /* The edge's own sealing (tls-seal.h). 'counted': every record OpenSSL wrote went
         * through the gathering BIO, so ossl_seq, the records it wrote since its write key
         * last changed, is known: TLS 1.3, since the key log gave the server's application
         * secret (secret_len > 0); TLS 1.2, since its ChangeCipherSpec (ccs_seen). Once
         * 'seal' is made, the edge seals application data itself; a record OpenSSL still
         * writes (an alert, a KeyUpdate) is opened with 'ossl' and sealed again with 'seal'. */
        bool counted, no_seal, ccs_seen;
        bool hello_seen; /* a second ClientHello (after a HelloRetryRequest) is not counted */
        unsigned suite;  /* the TLS 1.3 cipher suite's two-byte id */
        uint64_t ossl_seq;
        size_t plain_max; /* the most plaintext per record the edge seals */
        size_t secret_len;
        unsigned char secret[TLS_SEAL_SECRET_MAX];
        struct tls_seal *seal, *ossl;
};

/* Empties this thread's OpenSSL error queue, logging its first entry at debug level
 * under what. */
void tls_errors_drain(const char *what);
