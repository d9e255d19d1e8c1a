/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/*
 * HTTP/2 on a client connection: prior-knowledge h2c (a plain connection whose first bytes
 * are the client preface) and h2 after ALPN on a TLS listener.
 * conn.c hands the connection over and then routes its input and POLLOUT here; each stream
 * is admitted and answered by the rules HTTP/1.1 uses (serve-admit.c, serve-plan.c: tokens,
 * preflight, preconditions, ranges, hits and fills), rendered as h2 header fields with the
 * body sent behind each DATA frame header by sendfile, or on h2c in zero-copy batches of frames
 * (h2-zc.c).
 */

struct conn;
struct edge_worker;

/* The first bytes of a connection: 1 = the whole HTTP/2 preface, 0 = a prefix of it (wait
 * for more), -1 = not HTTP/2. */
int h2_serve_sniff(const char *buf, size_t len);

/* Switch c to HTTP/2 and process buf (starting with the preface). Returns false when c was
 * closed. */
bool h2_serve_start(struct conn *c, const char *buf, size_t len);
/* More plaintext from the client. Returns false when c was closed. */
bool h2_serve_input(struct conn *c, const char *buf, size_t len);
/* A send batch completed (h2-zc.c): write what comes next. */
void h2_serve_output(struct conn *c);
/* The socket has room again. */
void h2_serve_pollout(struct conn *c);
/* Drain c's session (RFC 9113 §6.8): the notice now, the final GOAWAY after the notice's PING
 * comes back, or H2_NOTICE_MS (h2.h). Returns whether the notice was queued. */
bool h2_serve_shutdown(struct conn *c);
/* Free c's session and release every stream's object (close path). */
void h2_serve_free(struct conn *c);
/* Fill progress on w (its wake hook): answer the h2 streams waiting on a fill and resume the
 * bodies that follow one. */
void h2_serve_kick(struct edge_worker *w);
/* Whether a stream of c waits on its fill rather than on the client, and the fill goes on
 * (fill_in_flight): before its answer can begin (the upstream's head not in yet, or a range or
 * a condition on an object whose SHA-256 is known, waiting for the check), or with every byte
 * the fill had sent. Then the send deadline moves on, as for an HTTP/1.1 miss, rather than
 * ending every stream of the connection. */
bool h2_serve_wait_moved(struct conn *c);
