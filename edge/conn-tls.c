/* SPDX-License-Identifier: MIT */
/*
 * The TLS transport of a client connection (see conn-tls.h). Ciphertext from the ring's recv
 * buffers is fed to the connection's tls_conn; plaintext goes to conn.c's input path as if it
 * had come from a plain socket. Output goes through tls_conn_write/tls_conn_sendfile; file
 * bodies are read into this thread's buffer (reused by every connection of the worker) unless
 * the kernel took the send side (kTLS).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"

#include "conn-tls.h"
#include "conn.h"
#include "miss.h"
#include "tls.h"
#include "worker.h"

/* 256 KiB: sixteen full records per call, few enough calls per 1 MiB body. */
#define TLS_SCRATCH (256u << 10)
#define TLS_TURN    (4u << 20)

static __thread char *scratch;  /* per worker thread, freed when the thread exits */
static __thread char *plain_in; /* decrypted input; apart so answers can use scratch */
#define PLAIN_IN (64u << 10)
static __thread char *burst; /* h2 frames gathered for one SSL_write (h2-tls.c) */
#define H2_BURST (256u << 10)

static pthread_key_t bufs_key;
static pthread_once_t bufs_once = PTHREAD_ONCE_INIT;

/* Runs in the exiting thread (its thread-locals are still there). */
static void bufs_free(void *unused)
{
        (void)unused;
        free(scratch);
        scratch = NULL;
        free(plain_in);
        plain_in = NULL;
        free(burst);
        burst = NULL;
}

static void bufs_key_make(void)
{
        (void)pthread_key_create(&bufs_key, bufs_free);
}

/* Have this thread's buffers freed when it exits (the value only needs to be non-NULL). */
static void *bufs_track(void *p)
{
        if (p) {
                (void)pthread_once(&bufs_once, bufs_key_make);
                (void)pthread_setspecific(bufs_key, &bufs_key);
        }
        return p;
}

char *conn_tls_scratch(size_t *cap)
{
        if (!scratch)
                scratch = bufs_track(malloc(TLS_SCRATCH));
        *cap = TLS_SCRATCH;
        return scratch;
}

char *conn_tls_h2_burst(size_t *cap)
{
        if (!burst)
                burst = bufs_track(malloc(H2_BURST));
        *cap = H2_BURST;
        return burst;
}

int conn_tls_start(struct conn *c, struct tls_ctx *t)
{
        return tls_conn_new(t, c->fd, &c->tls);
}

static const char *alpn_name(enum tls_alpn a)
{
        return a == TLS_ALPN_H2 ? "h2" : a == TLS_ALPN_HTTP11 ? "http/1.1" : "none";
}

/* Drive the handshake; then decrypt what is buffered and hand it on. */
static bool drain(struct conn *c)
{
        size_t cap;
        char *buf;

        if (!c->tls_ready) {
                int r = tls_conn_handshake(c->tls);
                if (r == 0)
                        return true;
                if (r == -EAGAIN)
                        return conn_arm_pollout(c);
                if (r < 0) {
                        conn_close(c, "TLS handshake failed");
                        return false;
                }
                c->tls_ready = true; /* counted in the context's tls_stats (tls-metrics.c) */
                log_conn(LOG_LVL_DEBUG, c->id, "tls %s %s alpn=%s send=%s%s",
                         tls_conn_version(c->tls), tls_conn_cipher(c->tls),
                         alpn_name(tls_conn_alpn(c->tls)),
                         tls_conn_path(c->tls), tls_conn_resumed(c->tls) ? " resumed" : "");
        }
        if (!plain_in)
                plain_in = bufs_track(malloc(PLAIN_IN));
        buf = plain_in;
        cap = PLAIN_IN;
        if (!buf) {
                conn_close(c, "out of memory");
                return false;
        }
        for (;;) {
                ssize_t n = tls_conn_read(c->tls, buf, cap);
                if (n == -EAGAIN)
                        return true;
                if (n == 0) {
                        /* TLS 1.3 closes each direction on its own (RFC 8446 §6.1): an answer
                         * under way is finished first, as after a plain FIN, and our
                         * close_notify follows it (conn_close); so is the answer to a head
                         * refused and still read for its Origin. TLS 1.2 discards what is
                         * pending (RFC 5246 §7.2.1). */
                        c->tls_peer_closed = true;
                        if ((c->state == CONN_SEND || c->state == CONN_MISS_WAIT || c->refusal) &&
                            strcmp(tls_conn_version(c->tls), "TLSv1.3") == 0) {
                                c->peer_eof = true;
                                conn_refusal_end(c);
                                return c->state != CONN_CLOSED;
                        }
                        conn_close(c, "TLS close_notify");
                        return false;
                }
                if (n < 0) {
                        conn_close(c, "TLS read error");
                        return false;
                }
                /* The plaintext lives in the scratch buffer only until the call returns:
                 * conn.c copies what it keeps, as it does for ring buffers. */
                if (!conn_input_plain(c, buf, (size_t)n) || c->state == CONN_CLOSED)
                        return false;
        }
}

enum first_bytes { FIRST_TLS, FIRST_WAIT, FIRST_HTTP, FIRST_JUNK };

/*
 * A connection's first bytes on a TLS listener, before any reach the TLS session: an HTTP/1.x
 * request line (a method's three to eight capital letters, then a space) or a TLS record,
 * which never starts with a capital letter (its first byte is a record type, 0x14-0x18, or
 * has the top bit set in an SSLv2-format ClientHello, which OpenSSL still reads). Such a
 * client (a health check or a person with an http:// URL) gets a plain 400 saying what the
 * port wants, not a bare close: it could not read an alert. The capitals are counted across
 * reads (c->tls_capitals), so a request line that arrives a few bytes at a time is known too;
 * until the byte after them comes, nothing is decided. Neither (capitals, then anything else;
 * or any other first byte, as an SSH greeting's or a zero) is no TLS either: closed, and
 * counted as a failed handshake.
 */
static enum first_bytes first_bytes(struct conn *c, const char *data, size_t n)
{
        size_t i = 0;

        if (c->tls_capitals == 0 && n > 0 && !(data[0] >= 'A' && data[0] <= 'Z')) {
                unsigned char b = (unsigned char)data[0];
                return (b >= 0x14 && b <= 0x18) || b >= 0x80 ? FIRST_TLS : FIRST_JUNK;
        }
        while (i < n && c->tls_capitals <= 8 && data[i] >= 'A' && data[i] <= 'Z') {
                c->tls_capitals++;
                i++;
        }
        if (c->tls_capitals > 8)
                return FIRST_JUNK;
        if (i == n)
                return FIRST_WAIT;
        return c->tls_capitals >= 3 && data[i] == ' ' ? FIRST_HTTP : FIRST_JUNK;
}

static void refuse_plain_http(struct conn *c)
{
        static const char ans[] = "HTTP/1.1 400 Bad Request\r\n"
                                  "Content-Type: text/plain; charset=utf-8\r\n"
                                  "Content-Length: 52\r\n"
                                  "Connection: close\r\n"
                                  "\r\n"
                                  "This port speaks HTTPS: ask for an https:// URL.\r\n\r\n";

        _Static_assert(sizeof("This port speaks HTTPS: ask for an https:// URL.\r\n\r\n") - 1 == 52,
                       "Content-Length");
        ssize_t sent = send(c->fd, ans, sizeof(ans) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);

        /* A request answered, as the parser's other refusals are: in the status classes (whose
         * sum counts every request), the sent bytes and the worker's count. */
        edge_metrics_refusal(&c->w->srv->m, 400);
        edge_metrics_request(&c->w->srv->m, c->w->idx, 400, sent > 0 ? (uint64_t)sent : 0);
        conn_close(c, "plain HTTP on a TLS listener");
}

bool conn_tls_input(struct conn *c, const char *data, size_t n)
{
        int r;

        if (!c->tls_fed) {
                switch (first_bytes(c, data, n)) {
                case FIRST_WAIT:
                        return true;
                case FIRST_HTTP:
                        refuse_plain_http(c);
                        return false;
                case FIRST_JUNK:
                        tls_conn_fail(c->tls);
                        conn_close(c, "neither TLS nor an HTTP request line on a TLS listener");
                        return false;
                case FIRST_TLS:
                        break;
                }
        }
        c->tls_fed = true;
        r = tls_conn_feed(c->tls, data, n);

        if (r < 0) {
                conn_close(c, r == -ENOBUFS ? "TLS input over limit" : "out of memory");
                return false;
        }
        return drain(c);
}

bool conn_tls_pollout(struct conn *c)
{
        if (c->tls_ready)
                return false;
        c->poll_armed = false;
        (void)drain(c);
        return true;
}

/* a then b as one write: a head and a small memory body in one record. */
static ssize_t write2(struct conn *c, const char *a, size_t alen, const char *b, size_t blen)
{
        size_t cap;
        char *buf;

        if (blen == 0)
                return tls_conn_write(c->tls, a, alen);
        /* Both copied into the scratch buffer. */
        buf = conn_tls_scratch(&cap);
        if (!buf || alen + blen > cap)
                return -ENOMEM;
        memcpy(buf, a, alen);
        memcpy(buf + alen, b, blen);
        return tls_conn_write(c->tls, buf, alen + blen);
}

ssize_t conn_tls_write_head(struct conn *c, const struct conn_resp *r)
{
        /* The body's first bytes follow at once (SSL_sendfile, conn_tls_flush): one record
         * fewer per answer. Not for a fill's body, which may be a while coming. */
        if (r->obj && r->len && !r->body_len && tls_conn_ktls(c->tls))
                return tls_conn_ktls_send_more(c->tls, r->head, r->head_len);
        return write2(c, r->head, r->head_len, r->body, r->body_len);
}

int conn_tls_flush(struct conn *c)
{
        size_t cap, turn = 0;
        char *buf = conn_tls_scratch(&cap);

        if (!buf)
                return -ENOMEM;
        while (c->out_off < c->out_len) {
                ssize_t n = tls_conn_write(c->tls, c->out + c->out_off, c->out_len - c->out_off);
                if (n == -EAGAIN)
                        return 0;
                if (n < 0)
                        return (int)n;
                c->out_off += (uint32_t)n;
                c->req_bytes += (uint64_t)n;
        }
        while (c->body_off < c->body_end) {
                uint64_t want = c->body_end - c->body_off;
                ssize_t n;

                if (c->mw) {
                        bool failed;
                        uint64_t avail = miss_body_avail(c, &failed);
                        if (avail <= c->body_off) {
                                int r = failed ? -EIO : tls_conn_flush(c->tls);
                                return r == 1 ? 2 : r; /* what is sealed goes out first */
                        }
                        if (want > avail - c->body_off)
                                want = avail - c->body_off;
                }
                n = tls_conn_sendfile(c->tls, c->obj.fd, (off_t)c->body_off, (size_t)want, buf,
                                      cap);
                if (n == -EAGAIN)
                        return 0;
                if (n == -EIO && !c->mw) /* most likely the file shrank under us */
                        store_obj_distrust(c->w->reader, &c->obj);
                if (n < 0)
                        return (int)n;
                c->body_off += (uint64_t)n;
                c->req_bytes += (uint64_t)n;
                turn += (size_t)n;
                if (turn >= TLS_TURN && c->body_off < c->body_end) {
                        int r = tls_conn_flush(c->tls);
                        if (r < 0)
                                return r;
                        if (r == 0)
                                return 0;
                        return conn_arm_pollout(c) ? 0 : -EIO; /* let other connections run */
                }
        }
        return tls_conn_flush(c->tls);
}

size_t conn_tls_unsent(const struct conn *c)
{
        return tls_conn_unsent(c->tls);
}

void conn_tls_free(struct conn *c)
{
        tls_conn_free(c->tls);
        c->tls = NULL;
}
