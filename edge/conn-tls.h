/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/*
 * TLS transport for conn.c: a connection accepted on a `tls:` listener carries a tls_conn
 * (c->tls); conn.c branches on that pointer once per recv completion and once per write
 * burst, so the plain path is unchanged. See tls.h for the send paths.
 */

struct conn;
struct conn_resp;
struct tls_ctx;

/* Attach a TLS session to c (just accepted). Returns 0 or -ENOMEM (caller closes). */
int conn_tls_start(struct conn *c, struct tls_ctx *t);
/* Ciphertext from the socket: handshake, then plaintext into conn_input_plain. Returns false
 * when c was closed. */
bool conn_tls_input(struct conn *c, const char *data, size_t n);
/* POLLOUT during the handshake: returns true when it was for the handshake (consumed). */
bool conn_tls_pollout(struct conn *c);
/* An answer's head, then any memory body, encrypted as one write: same contract as
 * tls_conn_write. Under kTLS, a head with a cached file's bytes to follow goes straight to the
 * socket instead, its record completed by the body's first bytes (tls_conn_ktls_send_more):
 * no retry contract then. */
ssize_t conn_tls_write_head(struct conn *c, const struct conn_resp *r);
/* conn.c's flush_out for TLS: same return values (1 done, 0 socket full, 2 fill behind,
 * -errno). */
int conn_tls_flush(struct conn *c);
/* Plaintext of c's answer taken by TLS and not on the socket (tls_conn_unsent). */
size_t conn_tls_unsent(const struct conn *c);
void conn_tls_free(struct conn *c);
/* This worker thread's reused buffer (file bytes to encrypt, decrypted input). NULL on OOM. */
char *conn_tls_scratch(size_t *cap);
/* This worker thread's buffer for h2 bursts (h2-tls.c), apart from the scratch buffer so that
 * no other output can write over a burst. NULL on OOM. */
char *conn_tls_h2_burst(size_t *cap);
