/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * TLS for client listeners (OpenSSL 3), Mozilla's intermediate profile: TLS 1.2 and 1.3 only,
 * AEAD suites with forward secrecy, client's suite order (every suite offered is strong).
 *
 * A tls_ctx is built from one `tls:` listener entry: one SSL_CTX per certificate, the first
 * being the default. SNI picks the certificate whose names match (X509_check_host, so
 * wildcards work); an unknown or absent name gets the default certificate, as browsers then
 * show the name mismatch themselves and scanners still see a valid chain.
 *
 * Resumption uses tickets sealed with keys rotated on a wall-clock schedule: the key for
 * period floor(now / rotation) seals new tickets, the previous period's key still opens them
 * (and the ticket is re-issued). Keys live in a ring shared across reloads, so SIGHUP keeps
 * sessions resumable.
 *
 * A connection reads ciphertext from a memory BIO (fed from the io_uring recv buffers) and
 * writes to the socket directly, so kernel TLS can take over the send side: when the ctx
 * allows it and BIO_get_ktls_send says so after the handshake, file bodies go out with
 * SSL_sendfile (zero copy); otherwise they are read into a per-worker buffer the caller reuses
 * and encrypted by SSL_write, or, for TLS 1.3, by the edge itself straight into the send
 * buffer (tls-seal.h), the one copy encryption needs.
 *
 * Thread safety: a tls_ctx is shared by every worker (OpenSSL contexts are thread-safe once
 * built; the ticket ring has its own lock). A tls_conn belongs to one worker.
 */

struct edge_cfg_tls;
struct tls_ctx;
struct tls_conn;
struct tls_tickets;

/* Per-listener counters, read by the metrics endpoint. */
struct tls_stats {
        atomic_uint_fast64_t handshakes;      /* completed */
        atomic_uint_fast64_t resumed;         /* of which resumed a session */
        atomic_uint_fast64_t failed;          /* alerts, protocol errors, refused versions,
                                               * first bytes neither TLS nor HTTP */
        atomic_uint_fast64_t ktls;            /* connections sending through kernel TLS */
        atomic_uint_fast64_t userspace;       /* connections encrypting in userspace */
        atomic_uint_fast64_t edge_sealed;     /* of which the edge sealed the records
                                               * itself (tls-seal.h) */
        atomic_uint_fast64_t sni_unknown;     /* served the default certificate */
        atomic_uint_fast64_t alpn_h2;         /* negotiated h2 */
        atomic_uint_fast64_t ocsp_stapled;    /* status requests answered with a staple */
        atomic_uint_fast64_t ocsp_none;       /* status requests answered without (none loaded,
                                               * it failed its checks, or it expired) */
};

/* What a connection negotiated, for the access log. */
enum tls_alpn { TLS_ALPN_NONE, TLS_ALPN_HTTP11, TLS_ALPN_H2 };

/* Mozilla intermediate, as OpenSSL spells it (exported for tests and docs). */
#define TLS_CIPHERS_12                                                                             \
        "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                               \
        "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                               \
        "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"                               \
        "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305"
#define TLS_SUITES_13 "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
#define TLS_GROUPS    "X25519:prime256v1:secp384r1"

/*
 * Build the contexts for cfg. prev (may be NULL) is the context this one replaces on reload:
 * its ticket ring is shared so tickets it issued keep resuming. Certificates, keys and OCSP
 * responses are read now; a missing OCSP file is logged at debug level and ignored (stapling
 * is optional); a response that does not parse, is not for the certificate, is not signed by
 * its issuer (or a responder it authorised), does not say good or is out of its validity is
 * logged as a warning and not stapled. A response is stapled until its nextUpdate. Returns 0 with
 * *ret (release with tls_ctx_unref), or -errno with a message in err ("tls[...]: cert: reason").
 * Start-up or reload only.
 */
int tls_ctx_new(const struct edge_cfg_tls *cfg, struct tls_ctx *prev, struct tls_ctx **ret,
                char *err, size_t errlen);
/* Make t use prev's ticket keys and counters (a reload: tickets prev issued keep resuming).
 * Keeps t's own when the rotation periods differ. */
void tls_ctx_share_tickets(struct tls_ctx *t, struct tls_ctx *prev);
/* References: connections hold one for their handshake's SNI lookups. Accept NULL. */
struct tls_ctx *tls_ctx_ref(struct tls_ctx *t);
struct tls_ctx *tls_ctx_unref(struct tls_ctx *t);
/* Counters; they carry over a reload (the new ctx shares them). */
struct tls_stats *tls_ctx_stats(struct tls_ctx *t);
/* certs[i]'s notAfter, Unix seconds (0: unreadable, or no such certificate). */
int64_t tls_ctx_cert_not_after(const struct tls_ctx *t, size_t i);
/* Whether kernel TLS may be tried (config ktls: true). */
bool tls_ctx_ktls_wanted(const struct tls_ctx *t);

/*
 * A connection on socket fd (non-blocking, owned by the caller). Returns 0 with *ret, or
 * -ENOMEM (a per-connection error: close it).
 */
int tls_conn_new(struct tls_ctx *t, int fd, struct tls_conn **ret);
/* Free it (no close_notify: call tls_conn_shutdown first for a clean end). Accepts NULL. A
 * connection freed after a byte of its handshake came and before it completed (the client
 * left, or a deadline closed it) counts as a failed handshake, once. */
void tls_conn_free(struct tls_conn *tc);

/*
 * Ciphertext that arrived on the socket. Copied into the read BIO. Returns 0, or -ENOBUFS
 * when more than TLS_IN_MAX bytes would be waiting undecrypted (a peer that sends faster
 * than we read: close it).
 */
#define TLS_IN_MAX (256u << 10)
int tls_conn_feed(struct tls_conn *tc, const void *buf, size_t len);

/*
 * Drive the handshake. Returns 1 when complete (ALPN and the send path are then known),
 * 0 when it needs more input, -EAGAIN when the socket is full (wait for POLLOUT, call again),
 * -EPROTO on a failed handshake (alert sent where possible), other -errno on socket errors.
 */
int tls_conn_handshake(struct tls_conn *tc);
/* The connection's first bytes are neither TLS nor an HTTP request: its handshake counts as
 * failed (tls_stats.failed, once per connection) before the caller closes it. */
void tls_conn_fail(struct tls_conn *tc);

/*
 * Plaintext into buf. Returns bytes (> 0), 0 on a clean close_notify, -EAGAIN when no whole
 * record is buffered, -EPROTO/-errno on errors.
 */
ssize_t tls_conn_read(struct tls_conn *tc, void *buf, size_t cap);

/*
 * Encrypt and send up to len bytes of buf. Returns bytes taken (> 0), -EAGAIN when the socket
 * is full, -errno on errors. After -EAGAIN the next call must pass at least the same len and
 * the same bytes (OpenSSL has sealed them already); the buffer may have moved.
 */
ssize_t tls_conn_write(struct tls_conn *tc, const void *buf, size_t len);

/*
 * Take all of buf: encrypt and send what the socket takes now and keep a copy of the rest,
 * which tls_conn_flush sends before anything else. Returns 1 when all went to OpenSSL, 0 when
 * some is kept (flush on POLLOUT), -EBUSY while an earlier call's bytes are still kept (a
 * caller bug: ask tls_conn_holding first), -errno.
 */
int tls_conn_write_all(struct tls_conn *tc, const void *buf, size_t len);
bool tls_conn_holding(const struct tls_conn *tc);
/* Plaintext taken (written, or sealed by sendfile) and not wholly on the socket yet: held
 * before sealing, or in sealed records the edge still holds (a record begun on the socket
 * counts as not sent: the peer cannot open it). 0 under kTLS, whose records the kernel takes. */
size_t tls_conn_unsent(const struct tls_conn *tc);

/*
 * Send [off, off+len) of file fd. kTLS: SSL_sendfile, no copy. Otherwise at most cap bytes
 * are read into scratch (the caller's reused buffer) and encrypted. Returns bytes sent
 * (> 0), -EAGAIN (socket full; retry with the same off and at least the same len), -EIO when
 * the file ends early, -errno otherwise.
 */
ssize_t tls_conn_sendfile(struct tls_conn *tc, int fd, off_t off, size_t len, char *scratch,
                          size_t cap);

/*
 * kTLS only: send len bytes of buf straight to the socket with MSG_MORE, which holds the
 * kernel's record open, so that the next tls_conn_sendfile's bytes join them in one record
 * (an h2 DATA frame's header and its payload): the kernel seals what the socket is given.
 * Returns bytes taken (>= 0; no retry contract: the rest is offered again like any bytes),
 * -EAGAIN, -EINVAL on a connection not on kTLS or with an SSL_write still under way, -errno.
 */
ssize_t tls_conn_ktls_send_more(struct tls_conn *tc, const void *buf, size_t len);

/*
 * Without kTLS, sealed records are gathered and sent several at a time; call this when a burst
 * of writes is over (before waiting for anything else) to push them out. Returns 1 when all is
 * on the socket, 0 when the socket is full (wait for POLLOUT and call again), -errno.
 */
int tls_conn_flush(struct tls_conn *tc);

/*
 * Whether the handshake is done and nothing is under way in either direction: no ciphertext
 * fed and not yet read (the start of a record), no plaintext left unread, and nothing sealed
 * or held for the socket. Such a connection holds no part of a request.
 */
bool tls_conn_quiet(const struct tls_conn *tc);
/* The connection has nothing under way (keep-alive idle): return OpenSSL's record buffers,
 * so idle connections cost little memory. */
void tls_conn_idle(struct tls_conn *tc);
/* Send close_notify (best effort, never blocks). */
void tls_conn_shutdown(struct tls_conn *tc);

/* After the handshake: what was negotiated. */
enum tls_alpn tls_conn_alpn(const struct tls_conn *tc);
bool tls_conn_ktls(const struct tls_conn *tc);
bool tls_conn_resumed(const struct tls_conn *tc);
/* "TLSv1.3", "TLSv1.2" (static strings), and the suite's OpenSSL name. */
const char *tls_conn_version(const struct tls_conn *tc);
const char *tls_conn_cipher(const struct tls_conn *tc);
/* The send path as logged: "ktls" or "user". */
const char *tls_conn_path(const struct tls_conn *tc);
