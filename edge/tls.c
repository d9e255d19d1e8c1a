/* SPDX-License-Identifier: MIT */
/*
 * TLS connections and their send path (see tls.h for the model; contexts are tls-ctx.c's).
 * OpenSSL error codes and queues are translated here (tls-ctx.c drains through tls_errors_drain)
 * and nowhere else: callers see -errno.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "log.h"

#include "tls-priv.h"
#include "tls-rec.h"
#include "tls-seal.h"
#include "tls-tickets.h"
#include "tls.h"

/*
 * Userspace send path: OpenSSL hands the write BIO one sealed record (at most 16 KiB + 22) per
 * call. A socket BIO would make each a write(2); the gathering BIO below copies records into
 * a per-thread buffer and sends TLS_GATHER bytes at a time (a 64 KiB response in one send), at
 * the price of that one copy.
 * The buffer holds one connection's records at a time (the owner); it is emptied (sent, or
 * the unsent tail moved to the owner's left) by tls_conn_flush, before another connection's
 * records go in, and when the owner goes.
 */
#define TLS_GATHER (256u << 10)

static __thread struct {
        char *buf;
        size_t len;
        struct tls_conn *owner;
} gather;
static BIO_METHOD *gather_method;
static pthread_once_t gather_once = PTHREAD_ONCE_INIT;
static pthread_key_t gather_key;

/* The OpenSSL error queue belongs to this thread; a stale entry would be blamed on the next
 * call, so every failure path drains it (logging the first at debug level). */
void tls_errors_drain(const char *what)
{
        unsigned long e = ERR_get_error();
        char buf[256];

        if (e) {
                ERR_error_string_n(e, buf, sizeof(buf));
                log_debug("%s: %s", what, buf);
        }
        ERR_clear_error();
}


/* ---- connections ---- */

/* buf[0..len) holds whole records, its first 'sent' bytes on the socket, the rest dropped after
 * a send error: their plaintext never goes out (tls_conn_unsent). */
static void lose(struct tls_conn *tc, const char *buf, size_t len, size_t sent)
{
        tc->lost_plain += tls_rec_unsent((const unsigned char *)buf, len, sent, tc->rec_overhead);
}

/* Send what can go of buf; the rest becomes tc->left. Returns 0 or -errno (not -EAGAIN). */
static int send_or_keep(struct tls_conn *tc, const char *buf, size_t len)
{
        const char *whole = buf;
        size_t whole_len = len;
        ssize_t n = 0;

        while (len) {
                n = send(tc->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        break;
                buf += n;
                len -= (size_t)n;
        }
        if (len == 0)
                return 0;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
                tc->werr = -errno;
                goto lost;
        }
        tc->left = malloc(len);
        if (!tc->left) {
                tc->werr = -ENOMEM;
                goto lost;
        }
        memcpy(tc->left, buf, len);
        tc->left_off = 0;
        tc->left_len = len;
        tls_rec_cut((const unsigned char *)whole, whole_len, whole_len - len, tc->rec_overhead,
                    &tc->left_first_end, &tc->left_first_plain);
        return 0;
lost:
        lose(tc, whole, whole_len, whole_len - len);
        return tc->werr;
}

/* Empty the gather buffer into its owner's socket (or left). */
static void gather_out(void)
{
        struct tls_conn *tc = gather.owner;

        if (tc && gather.len && tc->werr) {
                lose(tc, gather.buf, gather.len, 0);
        } else if (tc && gather.len) {
                if (!tc->left_len) {
                        (void)send_or_keep(tc, gather.buf, gather.len);
                } else {
                        /* Not expected (records go in only once left is out); keep order. */
                        char *p = realloc(tc->left, tc->left_off + tc->left_len + gather.len);
                        if (p) {
                                memcpy(p + tc->left_off + tc->left_len, gather.buf, gather.len);
                                tc->left = p;
                                tc->left_len += gather.len;
                        } else {
                                tc->werr = -ENOMEM;
                                lose(tc, gather.buf, gather.len, 0);
                        }
                }
        }
        gather.len = 0;
        gather.owner = NULL;
}

/* Send tc->left. Returns 1 when empty, 0 when the socket is full, -errno. */
static int left_out(struct tls_conn *tc)
{
        while (tc->left_len) {
                ssize_t n = send(tc->fd, tc->left + tc->left_off, tc->left_len,
                                 MSG_DONTWAIT | MSG_NOSIGNAL);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : (tc->werr = -errno);
                tc->left_off += (size_t)n;
                tc->left_len -= (size_t)n;
        }
        free(tc->left);
        tc->left = NULL;
        tc->left_off = 0;
        return 1;
}

/* This thread's gather buffer, made on first use (freed by gather_free). */
static char *gather_buf(void)
{
        if (!gather.buf) {
                gather.buf = malloc(TLS_GATHER);
                if (gather.buf)
                        (void)pthread_setspecific(gather_key, gather.buf);
        }
        return gather.buf;
}

/*
 * Records OpenSSL sealed under its write key before the edge took the sealing over: the
 * sequence number to go on from. A ChangeCipherSpec starts the next key (TLS 1.2, RFC 5246
 * section 6.1; in TLS 1.3 it comes before the key log's application secret, which starts the
 * count again). One written after the handshake (before the edge sealed anything: a
 * KeyUpdate, an alert) may have changed OpenSSL's key: then OpenSSL keeps sealing.
 */
static void count_records(struct tls_conn *tc, const unsigned char *p, size_t len)
{
        if (tc->done)
                tc->no_seal = true;
        while (len >= 5) {
                size_t n = tls_rec_len(p);
                if (n > len)
                        break;
                if (p[0] == TLS_CT_CCS)
                        tc->ccs_seen = true, tc->ossl_seq = 0;
                else
                        tc->ossl_seq++;
                p += n;
                len -= n;
        }
        if (len)
                tc->no_seal = true; /* not whole records: the count cannot be trusted */
}

/*
 * A record OpenSSL wrote after the edge took the sealing over (a close_notify, or the
 * KeyUpdate that answers the client's): open it under OpenSSL's key and sequence number, seal
 * it again under the edge's, into the gather buffer (the caller made room for len bytes). A
 * KeyUpdate moves both to the next secret, as OpenSSL moves itself after writing it.
 */
static int reseal(struct tls_conn *tc, const unsigned char *p, size_t len)
{
        unsigned char *plain = malloc(len);
        int r = plain ? 0 : -ENOMEM;

        if (r == 0 && !tc->ossl)
                r = tls_seal_new(tc->suite, tc->secret, tc->secret_len, tc->ossl_seq, &tc->ossl);
        while (r == 0 && len >= 5) {
                size_t n = tls_rec_len(p), plen;
                uint8_t type;

                if (n > len) {
                        r = -EBADMSG;
                        break;
                }
                r = tls_seal_open(tc->ossl, p, n, plain, &plen, &type);
                if (r == 0)
                        r = tls_seal_record(tc->seal, type, plain, plen,
                                            (unsigned char *)gather.buf + gather.len);
                if (r < 0)
                        break;
                gather.len += plen + tls_seal_overhead(tc->seal);
                gather.owner = tc;
                if (type == TLS_CT_HANDSHAKE && plen > 0 && plain[0] == 24 /* key_update */) {
                        r = tls_seal_update(tc->ossl);
                        if (r == 0)
                                r = tls_seal_update(tc->seal);
                }
                p += n;
                len -= n;
        }
        if (r == 0 && len)
                r = -EBADMSG;
        free(plain);
        if (r < 0) {
                tc->werr = r;
                errno = -r;
        }
        return r;
}

static int gather_write(BIO *b, const char *data, int dlen)
{
        struct tls_conn *tc = BIO_get_data(b);
        size_t len = dlen > 0 ? (size_t)dlen : 0;
        int r;

        BIO_clear_retry_flags(b);
        if (tc->werr) {
                errno = -tc->werr;
                return -1;
        }
        if (gather.owner != tc || gather.len + len > TLS_GATHER)
                gather_out();
        r = left_out(tc);
        if (r <= 0) {
                if (r == 0)
                        BIO_set_retry_write(b);
                else
                        errno = -r;
                return -1;
        }
        if (!gather_buf()) {
                tc->werr = -ENOMEM;
                errno = ENOMEM;
                return -1;
        }
        if (tc->seal)
                return reseal(tc, (const unsigned char *)data, len) < 0 ? -1 : dlen;
        if (tc->counted)
                count_records(tc, (const unsigned char *)data, len);
        if (len > TLS_GATHER) { /* never from OpenSSL's record layer; kept correct anyway */
                r = send_or_keep(tc, data, len);
                return r < 0 ? -1 : dlen;
        }
        memcpy(gather.buf + gather.len, data, len);
        gather.len += len;
        gather.owner = tc;
        return dlen;
}

static long gather_ctrl(BIO *b, int cmd, long num, void *ptr)
{
        struct tls_conn *tc = BIO_get_data(b);

        (void)num;
        (void)ptr;
        switch (cmd) {
        case BIO_CTRL_FLUSH:
                if (gather.owner == tc)
                        gather_out();
                if (!tc->done && left_out(tc) == 0) {
                        /* A handshake flight the socket did not take: OpenSSL asks again
                         * (WANT_WRITE) rather than wait for the peer's answer to it. */
                        BIO_set_retry_write(b);
                        return -1;
                }
                return 1;
        case BIO_CTRL_WPENDING:
                return (long)(tc->left_len + (gather.owner == tc ? gather.len : 0));
        default:
                return 0;
        }
}

/* Runs in the exiting thread. */
static void gather_free(void *buf)
{
        free(buf);
        gather.buf = NULL;
        gather.len = 0;
        gather.owner = NULL;
}

static void gather_init(void)
{
        (void)pthread_key_create(&gather_key, gather_free);
        gather_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "sluice gather");
        if (gather_method && (!BIO_meth_set_write(gather_method, gather_write) ||
                              !BIO_meth_set_ctrl(gather_method, gather_ctrl))) {
                BIO_meth_free(gather_method);
                gather_method = NULL;
        }
}

/* Records go out through the gathering BIO: from the start without kTLS, after the handshake
 * when kTLS was wanted and not had. Best effort: without it (out of memory) the socket BIO
 * stays. Returns whether it is attached. */
static bool gather_attach(struct tls_conn *tc)
{
        BIO *b;

        (void)pthread_once(&gather_once, gather_init);
        if (!gather_method || BIO_wpending(SSL_get_wbio(tc->ssl)) > 0)
                return false;
        b = BIO_new(gather_method);
        if (!b)
                return false;
        BIO_set_data(b, tc);
        BIO_set_init(b, 1);
        SSL_set0_wbio(tc->ssl, b); /* frees the socket BIO (BIO_NOCLOSE: the fd stays) */
        return true;
}

/* Seal the plaintext tls_conn_write_all kept. Returns 1 when none is left, 0, -errno. */
static int plain_out(struct tls_conn *tc)
{
        while (tc->plain_off < tc->plain_len) {
                ssize_t n =
                    tls_conn_write(tc, tc->plain + tc->plain_off, tc->plain_len - tc->plain_off);
                if (n == -EAGAIN)
                        return 0;
                if (n < 0)
                        return (int)n;
                tc->plain_off += (size_t)n;
        }
        free(tc->plain);
        tc->plain = NULL;
        tc->plain_off = tc->plain_len = 0;
        return 1;
}

int tls_conn_write_all(struct tls_conn *tc, const void *buf, size_t len)
{
        ssize_t n = 0;

        if (tc->plain_len)
                return -EBUSY; /* a caller bug: what is held goes first */
        if (len)
                n = tls_conn_write(tc, buf, len);
        if (n == -EAGAIN)
                n = 0;
        if (n < 0)
                return (int)n;
        if ((size_t)n == len)
                return 1;
        /* OpenSSL may hold a record sealed from buf + n: the copy hands it the same bytes. */
        tc->plain = malloc(len - (size_t)n);
        if (!tc->plain)
                return -ENOMEM;
        memcpy(tc->plain, (const char *)buf + n, len - (size_t)n);
        tc->plain_off = 0;
        tc->plain_len = len - (size_t)n;
        return 0;
}

bool tls_conn_holding(const struct tls_conn *tc)
{
        return tc->plain_len > 0;
}

size_t tls_conn_unsent(const struct tls_conn *tc)
{
        size_t n = tc->plain_len - tc->plain_off + tc->lost_plain, end = tc->left_first_end;
        size_t total = tc->left_off + tc->left_len;
        const unsigned char *left = (const unsigned char *)tc->left;

        if (tc->left_len && end) {
                if (tc->left_off < end)
                        n += tc->left_first_plain;
                if (total > end)
                        n += tls_rec_unsent(left + end, total - end,
                                            tc->left_off > end ? tc->left_off - end : 0,
                                            tc->rec_overhead);
        }
        if (gather.owner == tc)
                n += tls_rec_unsent((const unsigned char *)gather.buf, gather.len, 0,
                                    tc->rec_overhead);
        return n;
}

int tls_conn_flush(struct tls_conn *tc)
{
        for (;;) {
                int p = tc->plain_len ? plain_out(tc) : 1, r = 1;
                bool had_left;

                if (p < 0)
                        return p;
                if (gather.owner == tc)
                        gather_out();
                if (tc->werr)
                        return tc->werr;
                had_left = tc->left_len > 0;
                if (had_left)
                        r = left_out(tc);
                if (r <= 0)
                        return r;
                /* Kept plaintext waits on the socket: go round only if it just made room. */
                if (p == 1 || !had_left)
                        return p;
        }
}

int tls_conn_new(struct tls_ctx *t, int fd, struct tls_conn **ret)
{
        struct tls_conn *tc = calloc(1, sizeof(*tc));
        BIO *wbio = NULL;

        if (!tc)
                return -ENOMEM;
        tc->ssl = SSL_new(t->certs[0].ctx);
        tc->rbio = BIO_new(BIO_s_mem());
        wbio = BIO_new_socket(fd, BIO_NOCLOSE);
        if (!tc->ssl || !tc->rbio || !wbio) {
                BIO_free(tc->rbio);
                BIO_free(wbio);
                SSL_free(tc->ssl);
                free(tc);
                tls_errors_drain("new connection");
                return -ENOMEM;
        }
        /* An empty read BIO means "more to come", not EOF. */
        BIO_set_mem_eof_return(tc->rbio, -1);
        SSL_set_bio(tc->ssl, tc->rbio, wbio);
        SSL_set_accept_state(tc->ssl);
        SSL_set_app_data(tc->ssl, tc);
        tc->fd = fd;
        tc->t = tls_ctx_ref(t);
        if (!t->ktls_able)
                tc->counted = gather_attach(tc);
        *ret = tc;
        return 0;
}

void tls_conn_free(struct tls_conn *tc)
{
        if (!tc)
                return;
        if (tc->fed && !tc->done)
                tls_conn_fail(tc);
        if (gather.owner == tc) {
                gather.len = 0;
                gather.owner = NULL;
        }
        SSL_free(tc->ssl); /* frees both BIOs; the fd stays open (BIO_NOCLOSE) */
        (void)tls_ctx_unref(tc->t);
        tls_seal_free(tc->seal);
        tls_seal_free(tc->ossl);
        OPENSSL_cleanse(tc->secret, sizeof(tc->secret));
        free(tc->left);
        free(tc->plain);
        free(tc->kbuf);
        free(tc);
}

int tls_conn_feed(struct tls_conn *tc, const void *buf, size_t len)
{
        if (BIO_ctrl_pending(tc->rbio) + len > TLS_IN_MAX)
                return -ENOBUFS;
        if (len > 0 && BIO_write(tc->rbio, buf, (int)len) != (int)len) {
                tls_errors_drain("feed");
                return -ENOMEM;
        }
        tc->fed = tc->fed || len > 0;
        return 0;
}

/* SSL_get_error → -errno. ret is what the SSL call returned. */
static int ssl_errno(struct tls_conn *tc, int ret, const char *what)
{
        int e = SSL_get_error(tc->ssl, ret);

        switch (e) {
        case SSL_ERROR_WANT_READ:
                return -EAGAIN;
        case SSL_ERROR_WANT_WRITE:
                return -EAGAIN;
        case SSL_ERROR_ZERO_RETURN:
                return 0;
        case SSL_ERROR_SYSCALL:
                tls_errors_drain(what);
                return errno ? -errno : -ECONNRESET;
        default:
                tls_errors_drain(what);
                return -EPROTO;
        }
}

static void handshake_done(struct tls_conn *tc)
{
        struct tls_stats *st = &tc->t->tickets->stats;
        const unsigned char *p;
        unsigned n;

        tc->done = true;
        SSL_get0_alpn_selected(tc->ssl, &p, &n);
        if (n == 2 && !memcmp(p, "h2", 2)) {
                tc->alpn = TLS_ALPN_H2;
                atomic_fetch_add(&st->alpn_h2, 1);
        } else {
                tc->alpn = n ? TLS_ALPN_HTTP11 : TLS_ALPN_NONE;
        }
        tc->ktls = BIO_get_ktls_send(SSL_get_wbio(tc->ssl)) == 1;
        tc->rec_overhead = tls_rec_overhead(
            SSL_version(tc->ssl), SSL_CIPHER_get_cipher_nid(SSL_get_current_cipher(tc->ssl)));
        if (!tc->ktls && !tc->counted)
                (void)gather_attach(tc);
        atomic_fetch_add(&st->handshakes, 1);
        if (SSL_session_reused(tc->ssl))
                atomic_fetch_add(&st->resumed, 1);
        atomic_fetch_add(tc->ktls ? &st->ktls : &st->userspace, 1);
}

int tls_conn_handshake(struct tls_conn *tc)
{
        int r;

        if (tc->done)
                return 1;
        ERR_clear_error();
        errno = 0;
        r = SSL_do_handshake(tc->ssl);
        if (r == 1) {
                handshake_done(tc);
                return 1;
        }
        if (SSL_get_error(tc->ssl, r) == SSL_ERROR_WANT_READ) {
                ERR_clear_error();
                return 0;
        }
        r = ssl_errno(tc, r, "handshake");
        if (r == -EAGAIN)
                return -EAGAIN;
        tls_conn_fail(tc);
        return r == 0 ? -EPROTO : r;
}

void tls_conn_fail(struct tls_conn *tc)
{
        if (tc->failed)
                return;
        tc->failed = true;
        atomic_fetch_add(&tc->t->tickets->stats.failed, 1);
}

ssize_t tls_conn_read(struct tls_conn *tc, void *buf, size_t cap)
{
        size_t got = 0;
        int r;

        /* Nothing fed and nothing held: the call could only say so, at the cost of clearing
         * and reading the error queue. A drain ends with this case every time. */
        if (BIO_ctrl_pending(tc->rbio) == 0 && !SSL_has_pending(tc->ssl) && !SSL_in_init(tc->ssl))
                return -EAGAIN;
        ERR_clear_error();
        errno = 0;
        r = SSL_read_ex(tc->ssl, buf, cap, &got);
        if (r == 1)
                return (ssize_t)got;
        return ssl_errno(tc, r, "read");
}

/*
 * TLS 1.2: the server's write key from the session's master secret and the randoms, twice:
 * one state for the edge's records, one to open what OpenSSL still writes (see reseal).
 */
static int seal_start12(struct tls_conn *tc, const SSL_CIPHER *c, const SSL_SESSION *sess)
{
        unsigned char master[TLS_SEAL_MASTER_LEN], cr[TLS_SEAL_RANDOM_LEN], sr[TLS_SEAL_RANDOM_LEN];
        size_t n = SSL_SESSION_get_master_key(sess, master, sizeof(master));
        const EVP_MD *prf = SSL_CIPHER_get_handshake_digest(c);
        int nid = SSL_CIPHER_get_cipher_nid(c), r = -EIO;

        if (n == sizeof(master) && prf &&
            SSL_get_client_random(tc->ssl, cr, sizeof(cr)) == sizeof(cr) &&
            SSL_get_server_random(tc->ssl, sr, sizeof(sr)) == sizeof(sr)) {
                r = tls_seal_new12(nid, prf, master, n, cr, sr, tc->ossl_seq, &tc->seal);
                if (r == 0)
                        r = tls_seal_new12(nid, prf, master, n, cr, sr, tc->ossl_seq, &tc->ossl);
        }
        OPENSSL_cleanse(master, sizeof(master));
        if (r < 0) {
                tls_seal_free(tc->seal);
                tc->seal = NULL;
        }
        return r;
}

/* Whether the edge seals this connection's records itself from now on (see struct tls_conn). */
static bool seal_start(struct tls_conn *tc)
{
        const SSL_CIPHER *c = SSL_get_current_cipher(tc->ssl);
        SSL_SESSION *sess = SSL_get_session(tc->ssl);
        int r = -ENOTSUP;
        uint8_t mfl;

        if (!tc->counted || !tc->done || tc->no_seal || tc->retry_len || !c || !sess)
                goto no;
        /* A client that asked for shorter records (max_fragment_length, RFC 6066 section 4:
         * 2^9 to 2^12 bytes) gets them from the edge too. */
        mfl = SSL_SESSION_get_max_fragment_length(sess);
        if (mfl >= TLSEXT_max_fragment_length_512 && mfl <= TLSEXT_max_fragment_length_4096)
                tc->plain_max = 256u << mfl;
        else if (mfl == TLSEXT_max_fragment_length_DISABLED)
                tc->plain_max = TLS_SEAL_PLAIN_MAX;
        else
                goto no;
        if (SSL_version(tc->ssl) == TLS1_3_VERSION && tc->secret_len) {
                tc->suite = SSL_CIPHER_get_protocol_id(c);
                r = tls_seal_new(tc->suite, tc->secret, tc->secret_len, tc->ossl_seq, &tc->seal);
        } else if (SSL_version(tc->ssl) == TLS1_2_VERSION && tc->ccs_seen) {
                r = seal_start12(tc, c, sess);
        }
        if (r == 0) {
                atomic_fetch_add(&tc->t->tickets->stats.edge_sealed, 1);
                return true;
        }
no:
        tc->no_seal = true;
        return false;
}

/*
 * OpenSSL answers a client's KeyUpdate request when it next writes, which it no longer does
 * once the edge seals: have it write the answer now, ahead of any application data (it goes
 * through reseal, which moves the edge to the next key). OpenSSL forgets the request as it
 * builds the message, before writing it: a KeyUpdate the socket could not take yet (bytes of
 * ours still waiting) shows only as the handshake still under way, and goes out first too.
 * Returns 0, -EAGAIN, -errno.
 */
static int key_update_out(struct tls_conn *tc)
{
        int r;

        if (SSL_get_key_update_type(tc->ssl) == SSL_KEY_UPDATE_NONE && !SSL_in_init(tc->ssl))
                return 0;
        ERR_clear_error();
        errno = 0;
        if (!SSL_in_init(tc->ssl) && SSL_key_update(tc->ssl, SSL_KEY_UPDATE_NOT_REQUESTED) != 1) {
                tls_errors_drain("key update");
                return tc->werr = -EPROTO;
        }
        r = SSL_do_handshake(tc->ssl);
        if (r == 1)
                return 0;
        r = ssl_errno(tc, r, "key update");
        return r == 0 ? -EPROTO : r;
}

/* tls_conn_write once the edge seals: each record straight from buf into the gather buffer. */
static ssize_t seal_write(struct tls_conn *tc, const unsigned char *buf, size_t len)
{
        size_t total = 0;
        int k = key_update_out(tc);

        if (k < 0)
                return k;

        while (total < len) {
                size_t n = len - total < tc->plain_max ? len - total : tc->plain_max;
                int r;

                if (gather.owner != tc || gather.len + n + TLS_SEAL_OVERHEAD_MAX > TLS_GATHER)
                        gather_out();
                r = tc->werr ? tc->werr : left_out(tc);
                if (r <= 0)
                        return total ? (ssize_t)total : r == 0 ? -EAGAIN : r;
                if (!gather_buf())
                        return tc->werr = -ENOMEM;
                r = tls_seal_record(tc->seal, TLS_CT_APP_DATA, buf + total, n,
                                    (unsigned char *)gather.buf + gather.len);
                if (r < 0)
                        return tc->werr = r;
                gather.len += n + tls_seal_overhead(tc->seal);
                gather.owner = tc;
                total += n;
        }
        return (ssize_t)total;
}

/*
 * tls_conn_write under kTLS. There OpenSSL seals nothing itself: a record the socket did not
 * take stays pointed at in the caller's buffer, and the retry sends its rest from that pointer
 * whatever buffer it is given (SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER is not honoured). The
 * edge's buffers are shared (a worker's head buffer, the h2 burst) and its retries come from a
 * copy, so another connection's bytes would go out in the rest. The plaintext therefore goes
 * through kbuf, the connection's own, one record at a time, and a retry (whose bytes start
 * with kbuf's, the callers' contract) hands OpenSSL kbuf again.
 */
#define KTLS_CHUNK 16384

static ssize_t ktls_write(struct tls_conn *tc, const char *buf, size_t len)
{
        size_t total = 0;

        if (len < tc->kbuf_len)
                return -EINVAL; /* a caller bug: a retry hands at least the bytes it held */
        while (total < len) {
                size_t put = 0;
                int r;

                if (tc->kbuf_len == 0) {
                        if (!tc->kbuf && !(tc->kbuf = malloc(KTLS_CHUNK)))
                                return total ? (ssize_t)total : -ENOMEM;
                        tc->kbuf_len = len - total < KTLS_CHUNK ? len - total : KTLS_CHUNK;
                        memcpy(tc->kbuf, buf + total, tc->kbuf_len);
                }
                ERR_clear_error();
                errno = 0;
                r = SSL_write_ex(tc->ssl, tc->kbuf, tc->kbuf_len, &put);
                if (r != 1) {
                        r = ssl_errno(tc, r, "write");
                        if (r == -EAGAIN)
                                return total ? (ssize_t)total : -EAGAIN;
                        return r == 0 ? -EPIPE : r;
                }
                total += put;
                tc->kbuf_len -= put;
                memmove(tc->kbuf, tc->kbuf + put, tc->kbuf_len);
        }
        return (ssize_t)total;
}

ssize_t tls_conn_write(struct tls_conn *tc, const void *buf, size_t len)
{
        size_t total = 0;
        int r;

        if (len == 0)
                return 0;
        if (tc->seal || (!tc->no_seal && seal_start(tc)))
                return seal_write(tc, buf, len);
        if (tc->ktls)
                return ktls_write(tc, buf, len);
        if (tc->retry_len && len < tc->retry_len)
                return -EINVAL; /* a caller bug: OpenSSL would refuse it as a bad retry */
        /* Partial-write mode returns after each record: keep sealing until the socket is full
         * or all is taken. */
        while (total < len) {
                size_t put = 0;
                ERR_clear_error();
                errno = 0;
                r = SSL_write_ex(tc->ssl, (const char *)buf + total, len - total, &put);
                if (r == 1) {
                        tc->retry_len = 0;
                        total += put;
                        continue;
                }
                r = ssl_errno(tc, r, "write");
                if (r == -EAGAIN) {
                        /* OpenSSL holds a sealed record of the bytes from buf + total: the
                         * next call starts there with at least this many. */
                        tc->retry_len = len - total;
                        return total ? (ssize_t)total : -EAGAIN;
                }
                return r == 0 ? -EPIPE : r;
        }
        return (ssize_t)total;
}

ssize_t tls_conn_sendfile(struct tls_conn *tc, int fd, off_t off, size_t len, char *scratch,
                          size_t cap)
{
        ssize_t n;

        if (len == 0)
                return 0;
        if (tc->ktls) {
                ERR_clear_error();
                errno = 0;
                n = SSL_sendfile(tc->ssl, fd, off, len, 0);
                if (n > 0)
                        return n;
                n = n == 0 ? 0 : ssl_errno(tc, (int)n, "sendfile");
                return n == 0 ? -EIO : n;
        }
        /* A retry must hand OpenSSL the same bytes again: re-read exactly those. */
        if (len > cap)
                len = cap;
        do
                n = pread(fd, scratch, len, off);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return -errno;
        if (n == 0 || (tc->retry_len && (size_t)n < tc->retry_len))
                return -EIO;
        return tls_conn_write(tc, scratch, (size_t)n);
}

ssize_t tls_conn_ktls_send_more(struct tls_conn *tc, const void *buf, size_t len)
{
        ssize_t n;

        /* An SSL_write still under way holds the bytes before these (a caller bug). */
        if (!tc->ktls || tc->kbuf_len)
                return -EINVAL;
        do
                n = send(tc->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL | MSG_MORE);
        while (n < 0 && errno == EINTR);
        return n < 0 ? -errno : n;
}

bool tls_conn_quiet(const struct tls_conn *tc)
{
        return tc->done && BIO_ctrl_pending(tc->rbio) == 0 && !SSL_has_pending(tc->ssl) &&
               tc->left_len == 0 && tc->plain_len == 0 && gather.owner != tc;
}

void tls_conn_idle(struct tls_conn *tc)
{
        /* Fails harmlessly while a record is still pending: then they are kept. */
        (void)SSL_free_buffers(tc->ssl);
        if (tc->kbuf_len == 0) {
                free(tc->kbuf);
                tc->kbuf = NULL;
        }
}

void tls_conn_shutdown(struct tls_conn *tc)
{
        if (!tc->done)
                return;
        ERR_clear_error();
        (void)SSL_shutdown(tc->ssl);
        ERR_clear_error();
        (void)tls_conn_flush(tc); /* the alert may sit in the gather buffer */
}

enum tls_alpn tls_conn_alpn(const struct tls_conn *tc)
{
        return tc->alpn;
}

bool tls_conn_ktls(const struct tls_conn *tc)
{
        return tc->ktls;
}

bool tls_conn_resumed(const struct tls_conn *tc)
{
        return SSL_session_reused(tc->ssl) == 1;
}

const char *tls_conn_version(const struct tls_conn *tc)
{
        return SSL_get_version(tc->ssl);
}

const char *tls_conn_cipher(const struct tls_conn *tc)
{
        return SSL_get_cipher_name(tc->ssl);
}

const char *tls_conn_path(const struct tls_conn *tc)
{
        return tc->ktls ? "ktls" : "user";
}
