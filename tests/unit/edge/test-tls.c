/* SPDX-License-Identifier: MIT */
/*
 * The TLS module against a real OpenSSL client over a socketpair: the handshake matrix
 * (versions, suites of the intermediate profile and suites outside it), SNI over two
 * certificates and an unknown name, ALPN, resumption across ticket-key rotation and a reload,
 * the userspace send path with socket-full retries, and the checks an OCSP response passes
 * before it is stapled (responses crafted here with the fixture's CA).
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ocsp.h>
#include <openssl/pem.h>

#include "bug.h"
#include "tls.c"
#include "tls-ctx.c"
#include "tests.h"
#include "tls-fixture.h"

static struct tls_fixture fx;
static uint64_t fake_now = 1000000000000ull;
static uint64_t fake_clock(void)
{
        return fake_now;
}

#define HOUR_MS 3600000ull

static int make_ctx(bool tickets, struct tls_ctx *prev, struct tls_ctx **ret)
{
        struct edge_cfg_tls_cert certs[2] = {
            {.cert = fx.a_cert, .key = fx.a_key},
            {.cert = fx.b_cert, .key = fx.b_key},
        };
        struct edge_cfg_tls cfg = {
            .listen = (char *)"127.0.0.1:0",
            .certs = {.items = certs, .n = 2},
            .ticket_rotation_ms = (int64_t)HOUR_MS,
            .tickets = tickets,
            .ktls = false,
        };
        char err[256];
        int r = tls_ctx_new(&cfg, prev, ret, err, sizeof(err));
        if (r < 0)
                fprintf(stderr, "tls_ctx_new: %s\n", err);
        return r;
}

static SSL_CTX *client_ctx(int minv, int maxv, const char *ciphers12, const char *suites13)
{
        SSL_CTX *c = SSL_CTX_new(TLS_client_method());
        char list[512];

        if (!c)
                return NULL;
        SSL_CTX_set_verify(c, SSL_VERIFY_PEER, NULL);
        if (SSL_CTX_load_verify_locations(c, fx.ca, NULL) != 1)
                goto fail;
        (void)SSL_CTX_set_min_proto_version(c, minv);
        (void)SSL_CTX_set_max_proto_version(c, maxv);
        /* Old versions need security level 0 on the client, so that the attempt is made at
         * all and the refusal is the server's. */
        if (ciphers12 || minv < TLS1_2_VERSION) {
                snprintf(list, sizeof(list), "%s%s", ciphers12 ? ciphers12 : "DEFAULT",
                         minv < TLS1_2_VERSION ? ":@SECLEVEL=0" : "");
                if (SSL_CTX_set_cipher_list(c, list) != 1)
                        goto fail;
        }
        if (suites13 && SSL_CTX_set_ciphersuites(c, suites13) != 1)
                goto fail;
        return c;
fail:
        SSL_CTX_free(c);
        return NULL;
}

struct pair {
        int sfd, cfd;
        struct tls_conn *s;
        SSL *c;
        unsigned long client_err;
        int server_err;
};

static void pair_free(struct pair *p)
{
        /* A clean close: OpenSSL invalidates TLS 1.2 sessions of connections that just drop. */
        if (p->c && SSL_is_init_finished(p->c))
                (void)SSL_shutdown(p->c);
        ERR_clear_error();
        tls_conn_free(p->s);
        SSL_free(p->c);
        if (p->sfd >= 0)
                (void)close(p->sfd);
        if (p->cfd >= 0)
                (void)close(p->cfd);
        memset(p, 0, sizeof(*p));
        p->sfd = p->cfd = -1;
}

/* Move whatever the client wrote into the server's read BIO. */
static int pump_server(struct pair *p)
{
        char buf[16384];
        ssize_t n;

        while ((n = recv(p->sfd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
                if (tls_conn_feed(p->s, buf, (size_t)n) < 0)
                        return -1;
        return 0;
}

struct hs_opts {
        const char *sni;
        const char *verify_host; /* name the client checks; NULL: sni */
        const unsigned char *alpn;
        unsigned alpn_len;
        SSL_SESSION *sess;
};

/* Returns 0 when both sides completed, -1 when either failed. */
static int handshake(struct tls_ctx *t, SSL_CTX *cctx, const struct hs_opts *o, struct pair *p)
{
        int fds[2];
        bool cdone = false, sdone = false, cfail = false, sfail = false;
        const char *host = o->verify_host ? o->verify_host : o->sni;

        memset(p, 0, sizeof(*p));
        p->sfd = p->cfd = -1;
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds) < 0)
                return -1;
        p->sfd = fds[0];
        p->cfd = fds[1];
        if (tls_conn_new(t, p->sfd, &p->s) < 0)
                return -1;
        p->c = SSL_new(cctx);
        if (!p->c || SSL_set_fd(p->c, p->cfd) != 1)
                return -1;
        if (o->sni)
                (void)SSL_set_tlsext_host_name(p->c, o->sni);
        if (host)
                (void)SSL_set1_host(p->c, host);
        if (o->alpn)
                (void)SSL_set_alpn_protos(p->c, o->alpn, o->alpn_len);
        if (o->sess)
                (void)SSL_set_session(p->c, o->sess);
        SSL_set_connect_state(p->c);

        for (int i = 0; i < 64 && !(cdone && sdone) && !(cfail && (sfail || sdone)); i++) {
                if (!cdone && !cfail) {
                        int r = SSL_do_handshake(p->c);
                        if (r == 1) {
                                cdone = true;
                        } else {
                                int e = SSL_get_error(p->c, r);
                                if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
                                        cfail = true;
                                        p->client_err = ERR_peek_error();
                                        ERR_clear_error();
                                }
                        }
                }
                if (pump_server(p) < 0)
                        return -1;
                if (!sdone && !sfail) {
                        int r = tls_conn_handshake(p->s);
                        if (r == 1)
                                sdone = true;
                        else if (r < 0 && r != -EAGAIN) {
                                sfail = true;
                                p->server_err = r;
                        }
                }
                if (sfail && !cdone && !cfail) {
                        /* Let the client read the server's alert. */
                        continue;
                }
        }
        return cdone && sdone ? 0 : -1;
}

/* After the handshake: the server sends msg, the client reads it (processing any TLS 1.3
 * tickets on the way). Returns 0 when the client got exactly msg. */
/* Push what the edge holds, then read all the client can into got (cap bytes, *have of them
 * read so far). Returns -1 when the flush failed. */
static int flush_and_read(struct pair *p, char *got, size_t cap, size_t *have)
{
        if (tls_conn_flush(p->s) < 0)
                return -1;
        for (;;) {
                size_t n = 0;
                if (SSL_read_ex(p->c, got + *have, cap - *have, &n) != 1)
                        break;
                *have += n;
        }
        ERR_clear_error();
        return 0;
}

static int exchange(struct pair *p, const char *msg)
{
        char buf[256];
        size_t got = 0, want = strlen(msg);

        if (tls_conn_write(p->s, msg, want) != (ssize_t)want || tls_conn_flush(p->s) != 1)
                return -1;
        for (int i = 0; i < 64 && got < want; i++) {
                size_t n = 0;
                if (SSL_read_ex(p->c, buf + got, sizeof(buf) - got, &n) == 1)
                        got += n;
        }
        return got == want && !memcmp(buf, msg, want) ? 0 : -1;
}

/* The server says close_notify; the client must read it as a clean end. */
static int close_notify_read(struct pair *p)
{
        char buf[16];
        size_t n = 0;
        int r;

        tls_conn_shutdown(p->s);
        r = SSL_read_ex(p->c, buf, sizeof(buf), &n) == 0 &&
                    SSL_get_error(p->c, 0) == SSL_ERROR_ZERO_RETURN
                ? 0
                : -1;
        ERR_clear_error();
        return r;
}

static const char *leaf_cn(SSL *c)
{
        static char cn[64];
        X509 *x = SSL_get1_peer_certificate(c);

        cn[0] = '\0';
        if (x) {
                (void)X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn,
                                                sizeof(cn));
                X509_free(x);
        }
        return cn;
}

TEST(setup)
{
        ticket_clock = fake_clock;
        if (tls_fixture_make(&fx) < 0)
                TEST_SKIP("cannot make test certificates with the openssl CLI");
}

TEST(old_versions_refused)
{
        static const int versions[] = {TLS1_VERSION, TLS1_1_VERSION};
        struct tls_ctx *t;

        ASSERT_EQ(make_ctx(true, NULL, &t), 0);
        for (size_t i = 0; i < 2; i++) {
                SSL_CTX *cc = client_ctx(versions[i], versions[i], NULL, NULL);
                struct pair p;
                uint64_t failed = atomic_load(&tls_ctx_stats(t)->failed);
                ASSERT_TRUE(cc != NULL);
                ASSERT_EQ(handshake(t, cc, &(struct hs_opts){.sni = "a.test"}, &p), -1);
                /* The server refused (its failure counter moved) and said why. */
                ASSERT_EQ(p.server_err, -EPROTO);
                ASSERT_EQ(atomic_load(&tls_ctx_stats(t)->failed), failed + 1);
                ASSERT_EQ(ERR_GET_REASON(p.client_err), SSL_R_TLSV1_ALERT_PROTOCOL_VERSION);
                pair_free(&p);
                SSL_CTX_free(cc);
        }
        tls_ctx_unref(t);
}

struct suite_case {
        int version;
        const char *suite;
        const char *sni; /* picks an ECDSA (a) or RSA (b) certificate */
        bool ok;
};

TEST(suites_matrix)
{
        static const struct suite_case cases[] = {
            /* TLS 1.2: every suite of the profile, for its certificate type. */
            {TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256", "a.test", true},
            {TLS1_2_VERSION, "ECDHE-ECDSA-AES256-GCM-SHA384", "a.test", true},
            {TLS1_2_VERSION, "ECDHE-ECDSA-CHACHA20-POLY1305", "a.test", true},
            {TLS1_2_VERSION, "ECDHE-RSA-AES128-GCM-SHA256", "b.test", true},
            {TLS1_2_VERSION, "ECDHE-RSA-AES256-GCM-SHA384", "b.test", true},
            {TLS1_2_VERSION, "ECDHE-RSA-CHACHA20-POLY1305", "b.test", true},
            {TLS1_2_VERSION, "DHE-RSA-AES128-GCM-SHA256", "b.test", true},
            {TLS1_2_VERSION, "DHE-RSA-AES256-GCM-SHA384", "b.test", true},
            {TLS1_2_VERSION, "DHE-RSA-CHACHA20-POLY1305", "b.test", true},
            /* Outside it: CBC, static RSA key exchange, SHA-1 MACs. */
            {TLS1_2_VERSION, "ECDHE-RSA-AES128-SHA256", "b.test", false},
            {TLS1_2_VERSION, "ECDHE-ECDSA-AES128-SHA", "a.test", false},
            {TLS1_2_VERSION, "AES128-GCM-SHA256", "b.test", false},
            {TLS1_2_VERSION, "AES256-SHA", "b.test", false},
            {TLS1_2_VERSION, "DHE-RSA-AES128-SHA", "b.test", false},
            /* TLS 1.3: the three suites; CCM is not in the profile. */
            {TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256", "a.test", true},
            {TLS1_3_VERSION, "TLS_AES_256_GCM_SHA384", "b.test", true},
            {TLS1_3_VERSION, "TLS_CHACHA20_POLY1305_SHA256", "a.test", true},
            {TLS1_3_VERSION, "TLS_AES_128_CCM_SHA256", "a.test", false},
        };
        struct tls_ctx *t;

        ASSERT_EQ(make_ctx(true, NULL, &t), 0);
        for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
                const struct suite_case *k = &cases[i];
                bool v13 = k->version == TLS1_3_VERSION;
                SSL_CTX *cc = client_ctx(k->version, k->version, v13 ? NULL : k->suite,
                                         v13 ? k->suite : NULL);
                struct pair p;
                int r;
                ASSERT_TRUE(cc != NULL);
                r = handshake(t, cc, &(struct hs_opts){.sni = k->sni}, &p);
                if (k->ok != (r == 0))
                        TEST_FAIL_AT("%s: expected %s", k->suite, k->ok ? "success" : "refusal");
                if (k->ok) {
                        ASSERT_STREQ(SSL_get_cipher_name(p.c), k->suite);
                        ASSERT_STREQ(tls_conn_cipher(p.s), k->suite);
                        ASSERT_STREQ(tls_conn_version(p.s), v13 ? "TLSv1.3" : "TLSv1.2");
                        /* This kernel has no tls module: the userspace path, where the edge
                         * seals the records of every suite itself and OpenSSL's close_notify
                         * is carried over to the edge's key and sequence number. */
                        ASSERT_STREQ(tls_conn_path(p.s), "user");
                        ASSERT_EQ(exchange(&p, "first"), 0);
                        ASSERT_TRUE(p.s->seal != NULL);
                        ASSERT_EQ(exchange(&p, "second"), 0);
                        ASSERT_EQ(close_notify_read(&p), 0);
                }
                pair_free(&p);
                SSL_CTX_free(cc);
        }
        tls_ctx_unref(t);
}

TEST(sni_picks_certificate)
{
        struct tls_ctx *t;
        SSL_CTX *cc;
        struct pair p;

        ASSERT_EQ(make_ctx(true, NULL, &t), 0);
        cc = client_ctx(TLS1_2_VERSION, TLS1_3_VERSION, NULL, NULL);
        ASSERT_TRUE(cc != NULL);

        ASSERT_EQ(handshake(t, cc, &(struct hs_opts){.sni = "a.test"}, &p), 0);
        ASSERT_STREQ(leaf_cn(p.c), "a.test");
        pair_free(&p);
        ASSERT_EQ(handshake(t, cc, &(struct hs_opts){.sni = "b.test"}, &p), 0);
        ASSERT_STREQ(leaf_cn(p.c), "b.test");
        pair_free(&p);
        /* The wildcard name of b. */
        ASSERT_EQ(handshake(t, cc, &(struct hs_opts){.sni = "img.b.test"}, &p), 0);
        ASSERT_STREQ(leaf_cn(p.c), "b.test");
        pair_free(&p);

        /* Unknown name: the default certificate (a), still a valid chain for its own name. */
        ASSERT_EQ(atomic_load(&tls_ctx_stats(t)->sni_unknown), 0);
        ASSERT_EQ(handshake(t, cc,
                            &(struct hs_opts){.sni = "unknown.test", .verify_host = "a.test"}, &p),
                  0);
        ASSERT_STREQ(leaf_cn(p.c), "a.test");
        ASSERT_EQ(atomic_load(&tls_ctx_stats(t)->sni_unknown), 1);
        pair_free(&p);
        /* A client that checks the name it asked for refuses it, as it must. */
        ASSERT_EQ(handshake(t, cc, &(struct hs_opts){.sni = "unknown.test"}, &p), -1);
        pair_free(&p);
        /* No SNI at all (an address): the default certificate. */
        ASSERT_EQ(handshake(t, cc, &(struct hs_opts){.verify_host = "a.test"}, &p), 0);
        ASSERT_STREQ(leaf_cn(p.c), "a.test");
        pair_free(&p);

        SSL_CTX_free(cc);
        tls_ctx_unref(t);
}

/* What the server picked for a client offering alpn (NULL: no ALPN extension); -1 when the
 * handshake failed. */
static int alpn_picked(struct tls_ctx *t, SSL_CTX *cc, const unsigned char *alpn, unsigned alpn_len)
{
        struct pair p;
        int got = -1;

        if (handshake(t, cc, &(struct hs_opts){.sni = "a.test", .alpn = alpn, .alpn_len = alpn_len},
                      &p) == 0)
                got = (int)tls_conn_alpn(p.s);
        pair_free(&p); /* a failed handshake's pair too */
        return got;
}

TEST(alpn)
{
        static const unsigned char both[] = "\x02h2\x08http/1.1";
        static const unsigned char h11[] = "\x08http/1.1";
        static const unsigned char other[] = "\x06spdy/3";
        struct tls_ctx *t;
        SSL_CTX *cc;

        ASSERT_EQ(make_ctx(true, NULL, &t), 0);
        cc = client_ctx(TLS1_2_VERSION, TLS1_3_VERSION, NULL, NULL);
        ASSERT_TRUE(cc != NULL);
        ASSERT_EQ(alpn_picked(t, cc, both, sizeof(both) - 1), TLS_ALPN_H2);
        ASSERT_EQ(alpn_picked(t, cc, h11, sizeof(h11) - 1), TLS_ALPN_HTTP11);
        ASSERT_EQ(alpn_picked(t, cc, NULL, 0), TLS_ALPN_NONE);
        /* Nothing in common: a fatal no_application_protocol alert (RFC 7301 section 3.2). */
        ASSERT_EQ(alpn_picked(t, cc, other, sizeof(other) - 1), -1);
        ASSERT_EQ(atomic_load(&tls_ctx_stats(t)->alpn_h2), 1);
        SSL_CTX_free(cc);
        tls_ctx_unref(t);
}

/* One full handshake, then a session to resume. */
static SSL_SESSION *first_session(struct tls_ctx *t, SSL_CTX *cc)
{
        struct pair p;
        SSL_SESSION *s = NULL;

        if (handshake(t, cc, &(struct hs_opts){.sni = "a.test"}, &p) == 0 &&
            exchange(&p, "hello") == 0 && !SSL_session_reused(p.c))
                s = SSL_get1_session(p.c);
        pair_free(&p);
        return s;
}

/* Resume sess; returns 1 resumed, 0 full handshake, -1 failure. */
static int resume(struct tls_ctx *t, SSL_CTX *cc, SSL_SESSION *sess)
{
        struct pair p;
        int r = -1;

        if (handshake(t, cc, &(struct hs_opts){.sni = "a.test", .sess = sess}, &p) == 0 &&
            exchange(&p, "again") == 0)
                r = SSL_session_reused(p.c) ? 1 : 0;
        if (r >= 0 && (r == 1) != tls_conn_resumed(p.s))
                r = -1;
        if (r >= 0 && !p.s->seal) /* the edge seals records after a resumption too */
                r = -1;
        pair_free(&p);
        return r;
}

TEST(resumption_and_rotation)
{
        static const int versions[] = {TLS1_2_VERSION, TLS1_3_VERSION};

        for (size_t i = 0; i < 2; i++) {
                struct tls_ctx *t, *t2;
                SSL_CTX *cc = client_ctx(versions[i], versions[i], NULL, NULL);
                SSL_SESSION *s;
                ASSERT_TRUE(cc != NULL);
                fake_now = 1000000000000ull; /* a period boundary: 10^12 ms is whole hours */
                ASSERT_EQ(make_ctx(true, NULL, &t), 0);

                s = first_session(t, cc);
                ASSERT_TRUE(s != NULL);
                ASSERT_EQ(resume(t, cc, s), 1);
                ASSERT_EQ(atomic_load(&tls_ctx_stats(t)->resumed), 1);

                /* A reload keeps the ticket keys: the new context resumes it. */
                ASSERT_EQ(make_ctx(true, t, &t2), 0);
                ASSERT_EQ(resume(t2, cc, s), 1);
                ASSERT_EQ(atomic_load(&tls_ctx_stats(t2)->resumed), 2);

                /* Next period: the previous key still opens it. */
                fake_now += HOUR_MS;
                ASSERT_EQ(resume(t2, cc, s), 1);
                /* Two periods on: that key is gone, a full handshake follows. */
                fake_now += HOUR_MS;
                ASSERT_EQ(resume(t2, cc, s), 0);

                SSL_SESSION_free(s);
                tls_ctx_unref(t);
                tls_ctx_unref(t2);
                SSL_CTX_free(cc);
        }
}

TEST(no_tickets_no_ticket_resumption)
{
        struct tls_ctx *t;
        SSL_CTX *cc = client_ctx(TLS1_3_VERSION, TLS1_3_VERSION, NULL, NULL);
        SSL_SESSION *s;

        ASSERT_TRUE(cc != NULL);
        ASSERT_EQ(make_ctx(false, NULL, &t), 0);
        s = first_session(t, cc);
        /* TLS 1.3 without tickets: OpenSSL's stateful cache may still resume; either way the
         * session must not carry a ticket sealed by our keys. */
        if (s) {
                const unsigned char *tick = NULL;
                size_t len = 0;
                SSL_SESSION_get0_ticket(s, &tick, &len);
                ASSERT_TRUE(len == 0 || len < 64); /* a stateful id, not a sealed ticket */
                SSL_SESSION_free(s);
        }
        tls_ctx_unref(t);
        SSL_CTX_free(cc);
}

/*
 * The userspace path: a 1 MiB file read into the caller's buffer and encrypted, through a
 * 16 KiB send buffer so that the socket fills and retries happen; the buffer is scribbled over
 * between calls (another connection's turn) and every byte must still arrive, in order.
 * The edge seals the records (tls-seal.h), TLS 1.2's and TLS 1.3's, with each AEAD; for a
 * client that asked for a max_fragment_length (mfl), no longer than that (the client's
 * OpenSSL refuses a longer record).
 */
static void sendfile_through(int version, const char *suite, uint8_t mfl)
{
        enum { SIZE = 1 << 20 };
        static char file[SIZE], got[SIZE];
        char scratch[65536], path[160];
        struct tls_ctx *t;
        SSL_CTX *cc;
        struct pair p;
        size_t off = 0, have = 0;
        int fd, sndbuf = 16384, retries = 0;

        for (size_t i = 0; i < SIZE; i++)
                file[i] = (char)(i * 7 + i / 4096);
        snprintf(path, sizeof(path), "%s/body", fx.dir);
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(write(fd, file, SIZE), SIZE);

        ASSERT_EQ(make_ctx(true, NULL, &t), 0);
        cc = client_ctx(version, version, version == TLS1_2_VERSION ? suite : NULL,
                        version == TLS1_3_VERSION ? suite : NULL);
        ASSERT_EQ(SSL_CTX_set_tlsext_max_fragment_length(cc, mfl), 1);
        ASSERT_EQ(handshake(t, cc, &(struct hs_opts){.sni = "b.test"}, &p), 0);
        ASSERT_EQ(setsockopt(p.sfd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);

        for (int i = 0; i < 100000 && have < SIZE; i++) {
                if (off < SIZE) {
                        ssize_t n = tls_conn_sendfile(p.s, fd, (off_t)off, SIZE - off, scratch,
                                                      sizeof(scratch));
                        memset(scratch, 0xAA, sizeof(scratch));
                        if (n > 0)
                                off += (size_t)n;
                        else if (n != -EAGAIN)
                                TEST_FAIL_AT("sendfile: %zd", n);
                        if (n == -EAGAIN)
                                retries++;
                }
                /* Records gathered for one send: push them (what the full socket refuses is
                 * kept and sent first next time). */
                if (flush_and_read(&p, got, SIZE, &have) < 0)
                        TEST_FAIL_AT("flush");
        }
        ASSERT_EQ(have, SIZE);
        ASSERT_TRUE(retries > 0);
        ASSERT_TRUE(memcmp(file, got, SIZE) == 0);
        ASSERT_TRUE(p.s->seal != NULL);
        ASSERT_STREQ(SSL_get_cipher_name(p.c), suite);
        ASSERT_EQ(SSL_SESSION_get_max_fragment_length(SSL_get_session(p.c)), mfl);
        /* A short file is an error, never padding. */
        ASSERT_EQ(tls_conn_sendfile(p.s, fd, SIZE, 100, scratch, sizeof(scratch)), -EIO);
        (void)close(fd);
        pair_free(&p);
        SSL_CTX_free(cc);
        tls_ctx_unref(t);
}

TEST(userspace_sendfile_retries)
{
        const uint8_t none = TLSEXT_max_fragment_length_DISABLED;

        sendfile_through(TLS1_2_VERSION, "ECDHE-RSA-AES128-GCM-SHA256", none);
        sendfile_through(TLS1_2_VERSION, "ECDHE-RSA-AES256-GCM-SHA384", none);
        sendfile_through(TLS1_2_VERSION, "ECDHE-RSA-CHACHA20-POLY1305", none);
        sendfile_through(TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256", none);
        sendfile_through(TLS1_3_VERSION, "TLS_AES_256_GCM_SHA384", none);
        sendfile_through(TLS1_3_VERSION, "TLS_CHACHA20_POLY1305_SHA256", none);
        sendfile_through(TLS1_2_VERSION, "ECDHE-RSA-AES128-GCM-SHA256",
                         TLSEXT_max_fragment_length_512);
        sendfile_through(TLS1_3_VERSION, "TLS_CHACHA20_POLY1305_SHA256",
                         TLSEXT_max_fragment_length_4096);
}

/*
 * Once the edge seals TLS 1.3 records itself, the records OpenSSL still writes are carried
 * over: the KeyUpdate that answers a client's request (both sides then move to the next key,
 * twice over here) and the close_notify.
 */
TEST(edge_sealing_answers_key_update_and_closes_cleanly)
{
        struct tls_ctx *t;
        SSL_CTX *cc;
        struct pair p;
        char buf[64], rounds[2][8] = {"two", "three"};
        size_t n = 0;

        ASSERT_EQ(make_ctx(true, NULL, &t), 0);
        cc = client_ctx(TLS1_3_VERSION, TLS1_3_VERSION, NULL, NULL);
        ASSERT_EQ(handshake(t, cc, &(struct hs_opts){.sni = "a.test"}, &p), 0);
        ASSERT_EQ(exchange(&p, "one"), 0);
        ASSERT_TRUE(p.s->seal != NULL);
        for (int i = 0; i < 2; i++) {
                ASSERT_EQ(SSL_key_update(p.c, SSL_KEY_UPDATE_REQUESTED), 1);
                ASSERT_EQ(SSL_write(p.c, "x", 1), 1);
                ASSERT_EQ(pump_server(&p), 0);
                ASSERT_EQ(tls_conn_read(p.s, buf, sizeof(buf)), 1);
                ASSERT_EQ(buf[0], 'x');
                ASSERT_EQ(exchange(&p, rounds[i]), 0);
                /* OpenSSL's KeyUpdate went through reseal, then one record under the new key */
                ASSERT_TRUE(p.s->ossl != NULL);
                ASSERT_EQ(tls_seal_seq(p.s->seal), 1);
        }
        tls_conn_shutdown(p.s);
        ASSERT_EQ(SSL_read_ex(p.c, buf, sizeof(buf), &n), 0);
        ASSERT_EQ(SSL_get_error(p.c, 0), SSL_ERROR_ZERO_RETURN);
        ERR_clear_error();
        pair_free(&p);
        SSL_CTX_free(cc);
        tls_ctx_unref(t);
}

/* The direct send of h2 over kTLS (tls_conn_ktls_send_more) refuses a connection not on kTLS:
 * nothing reaches the socket unsealed, and the next record still opens at the client. */
TEST(ktls_send_more_refused_in_userspace)
{
        struct tls_ctx *t;
        SSL_CTX *cc;
        struct pair p;

        ASSERT_EQ(make_ctx(true, NULL, &t), 0);
        cc = client_ctx(TLS1_3_VERSION, TLS1_3_VERSION, NULL, NULL);
        ASSERT_EQ(handshake(t, cc, &(struct hs_opts){.sni = "a.test"}, &p), 0);
        ASSERT_EQ(exchange(&p, "one"), 0);
        ASSERT_EQ(tls_conn_ktls_send_more(p.s, "plaintext", 9), -EINVAL);
        ASSERT_EQ(exchange(&p, "two"), 0);
        pair_free(&p);
        SSL_CTX_free(cc);
        tls_ctx_unref(t);
}

/*
 * TLS 1.2: a client asking to renegotiate once the edge seals gets OpenSSL's no_renegotiation
 * alert carried over to the edge's key and sequence number. The client must read it as that
 * alert (one resealed wrongly would be a bad_record_mac; one not carried over, never sent).
 */
TEST(tls12_renegotiation_refused_under_edge_sealing)
{
        struct tls_ctx *t;
        SSL_CTX *cc;
        struct pair p;
        char buf[64];
        unsigned long err = 0;
        int r = 0;

        ASSERT_EQ(make_ctx(true, NULL, &t), 0);
        cc = client_ctx(TLS1_2_VERSION, TLS1_2_VERSION, NULL, NULL);
        ASSERT_EQ(handshake(t, cc, &(struct hs_opts){.sni = "a.test"}, &p), 0);
        ASSERT_EQ(exchange(&p, "one"), 0);
        ASSERT_TRUE(p.s->seal != NULL);
        ASSERT_EQ(SSL_renegotiate(p.c), 1);
        ASSERT_TRUE(SSL_do_handshake(p.c) <= 0); /* its ClientHello out, waiting for ours */
        ERR_clear_error();
        ASSERT_EQ(pump_server(&p), 0);
        ASSERT_EQ(tls_conn_read(p.s, buf, sizeof(buf)), -EAGAIN);
        ASSERT_EQ(tls_conn_flush(p.s), 1);
        for (int i = 0; i < 16 && r <= 0 && !err; i++) {
                r = SSL_do_handshake(p.c);
                if (r <= 0 && SSL_get_error(p.c, r) != SSL_ERROR_WANT_READ)
                        err = ERR_peek_error();
        }
        ASSERT_EQ(ERR_GET_REASON(err), SSL_R_NO_RENEGOTIATION);
        ERR_clear_error();
        pair_free(&p);
        SSL_CTX_free(cc);
        tls_ctx_unref(t);
}

/*
 * The KeyUpdate that answers a client's request while the socket is full (earlier records
 * still held by the edge) waits for room, and goes before any application data sealed after
 * it: once all is read, the edge is at the next key with one record sealed under it.
 */
TEST(key_update_held_back_goes_before_new_data)
{
        enum { BURST = 200000 };
        static char burst[BURST], got[BURST + 16];
        struct tls_ctx *t;
        SSL_CTX *cc;
        struct pair p;
        char buf[16];
        size_t have = 0;
        int sndbuf = 16384, wrote = 0;

        memset(burst, 'b', sizeof(burst));
        ASSERT_EQ(make_ctx(true, NULL, &t), 0);
        cc = client_ctx(TLS1_3_VERSION, TLS1_3_VERSION, NULL, NULL);
        ASSERT_EQ(handshake(t, cc, &(struct hs_opts){.sni = "a.test"}, &p), 0);
        ASSERT_EQ(exchange(&p, "one"), 0);
        ASSERT_TRUE(p.s->seal != NULL);
        ASSERT_EQ(setsockopt(p.sfd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
        ASSERT_TRUE(tls_conn_write_all(p.s, burst, BURST) >= 0);
        (void)tls_conn_flush(p.s);
        ASSERT_TRUE(p.s->left_len > 0 || tls_conn_holding(p.s)); /* full: the rest kept */

        ASSERT_EQ(SSL_key_update(p.c, SSL_KEY_UPDATE_REQUESTED), 1);
        ASSERT_EQ(SSL_write(p.c, "x", 1), 1);
        ASSERT_EQ(pump_server(&p), 0);
        ASSERT_EQ(tls_conn_read(p.s, buf, sizeof(buf)), 1);
        ASSERT_EQ(buf[0], 'x');

        /* New data while the socket is still full, then everything read. */
        for (int i = 0; i < 100000 && (have < BURST + 5 || !wrote); i++) {
                if (!wrote) {
                        ssize_t n = tls_conn_write(p.s, "after", 5);
                        if (n == 5)
                                wrote = 1;
                        else if (n != -EAGAIN && n != -EBUSY)
                                TEST_FAIL_AT("write: %zd", n);
                }
                if (flush_and_read(&p, got, sizeof(got), &have) < 0)
                        TEST_FAIL_AT("flush");
        }
        ASSERT_EQ(have, BURST + 5);
        ASSERT_TRUE(memcmp(got + BURST, "after", 5) == 0);
        /* The KeyUpdate went first (resealed: the next key), then "after" under the new key. */
        ASSERT_EQ(tls_seal_seq(p.s->seal), 1);
        pair_free(&p);
        SSL_CTX_free(cc);
        tls_ctx_unref(t);
}

/* Bursts taken whole: what the full socket refuses is kept (copied: the caller's buffer is
 * scribbled over at once) and goes before anything else; a second burst waits until the
 * first is out; every byte arrives in order. */
TEST(write_all_keeps_what_the_socket_refuses)
{
        enum { BURST = 200000, BURSTS = 6 };
        static char want[BURST * BURSTS], got[BURST * BURSTS];
        char *buf = malloc(BURST);
        struct tls_ctx *t;
        SSL_CTX *cc;
        struct pair p;
        size_t have = 0;
        int sent = 0, sndbuf = 16384, kept = 0, refused = 0;

        ASSERT_TRUE(buf != NULL);
        for (size_t i = 0; i < sizeof(want); i++)
                want[i] = (char)(i * 13 + i / 1000);
        ASSERT_EQ(make_ctx(true, NULL, &t), 0);
        cc = client_ctx(TLS1_2_VERSION, TLS1_3_VERSION, NULL, NULL);
        ASSERT_EQ(handshake(t, cc, &(struct hs_opts){.sni = "b.test"}, &p), 0);
        ASSERT_EQ(setsockopt(p.sfd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);

        for (int i = 0; i < 100000 && have < sizeof(want); i++) {
                if (sent < BURSTS) {
                        int r;
                        if (tls_conn_holding(p.s)) {
                                ASSERT_EQ(tls_conn_write_all(p.s, buf, 1), -EBUSY);
                                refused++;
                        } else {
                                memcpy(buf, want + (size_t)sent * BURST, BURST);
                                r = tls_conn_write_all(p.s, buf, BURST);
                                memset(buf, 0x55, BURST);
                                if (r < 0)
                                        TEST_FAIL_AT("write_all: %d", r);
                                kept += r == 0;
                                sent++;
                        }
                }
                if (flush_and_read(&p, got, sizeof(got), &have) < 0)
                        TEST_FAIL_AT("flush");
        }
        ASSERT_EQ(have, sizeof(want));
        ASSERT_TRUE(kept > 0);
        ASSERT_TRUE(refused > 0);
        ASSERT_TRUE(!tls_conn_holding(p.s));
        ASSERT_EQ(tls_conn_flush(p.s), 1);
        ASSERT_TRUE(memcmp(want, got, sizeof(want)) == 0);
        free(buf);
        pair_free(&p);
        SSL_CTX_free(cc);
        tls_ctx_unref(t);
}

TEST(bad_certificates)
{
        struct edge_cfg_tls_cert certs[1] = {{.cert = fx.a_cert, .key = fx.b_key}};
        struct edge_cfg_tls cfg = {.listen = (char *)"127.0.0.1:0",
                                   .certs = {.items = certs, .n = 1},
                                   .ticket_rotation_ms = (int64_t)HOUR_MS};
        struct tls_ctx *t = NULL;
        char err[256];

        ASSERT_EQ(tls_ctx_new(&cfg, NULL, &t, err, sizeof(err)), -EINVAL);
        ASSERT_TRUE(strstr(err, "does not match") != NULL);
        /* A key of the certificate's own type that is another key (the CA's, P-256 as a's):
         * OpenSSL refuses it as it loads, and that is a mismatch, not a passphrase. */
        char ca_key[160];
        snprintf(ca_key, sizeof(ca_key), "%s/ca.key", fx.dir);
        certs[0].key = ca_key;
        ASSERT_EQ(tls_ctx_new(&cfg, NULL, &t, err, sizeof(err)), -EINVAL);
        ASSERT_TRUE(strstr(err, "does not match") != NULL);
        ASSERT_TRUE(strstr(err, "passphrase") == NULL);
        certs[0].key = fx.b_key;
        /* A file that cannot be opened is the system's failure, with its reason (a start
         * exits 1), not contents that cannot be used (-EINVAL, 2). */
        certs[0].cert = (char *)"/nonexistent.pem";
        ASSERT_EQ(tls_ctx_new(&cfg, NULL, &t, err, sizeof(err)), -ENOENT);
        ASSERT_TRUE(strstr(err, "certs[0]: /nonexistent.pem: No such file or directory") != NULL);
        /* A missing OCSP response only disables stapling. */
        certs[0].cert = fx.a_cert;
        certs[0].key = fx.a_key;
        certs[0].ocsp = (char *)"/nonexistent.der";
        ASSERT_EQ(tls_ctx_new(&cfg, NULL, &t, err, sizeof(err)), 0);
        tls_ctx_unref(t);
}

/* ---- OCSP ---- */

static X509 *load_cert(const char *path)
{
        FILE *f = fopen(path, "r");
        X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;

        if (f)
                (void)fclose(f);
        return x;
}

static EVP_PKEY *load_key(const char *path)
{
        FILE *f = fopen(path, "r");
        EVP_PKEY *k = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;

        if (f)
                (void)fclose(f);
        return k;
}

struct ocsp_fx {
        X509 *ca, *a, *b;
        EVP_PKEY *ca_key, *b_key;
        X509 *responder; /* issued by the CA with extendedKeyUsage OCSPSigning */
        EVP_PKEY *responder_key;
        STACK_OF(X509) * chain; /* [ca], as a configured chain after the leaf */
};
static struct ocsp_fx ofx;

struct resp_opts {
        X509 *subject;       /* the certificate the single response is about */
        int cert_status;     /* V_OCSP_CERTSTATUS_* */
        long this_s, next_s; /* thisUpdate, nextUpdate relative to now; next_s 0: absent */
        X509 *signer;        /* NULL: the CA */
        EVP_PKEY *signer_key;
        unsigned long flags; /* OCSP_basic_sign flags (OCSP_NOCERTS) */
};

/* A DER response signed as o says; returns its length (> 0) with *der (OPENSSL_free). */
static int make_resp(const struct resp_opts *o, unsigned char **der)
{
        OCSP_BASICRESP *bs = OCSP_BASICRESP_new();
        OCSP_CERTID *id = OCSP_cert_to_id(NULL, o->subject, ofx.ca);
        ASN1_TIME *thisupd = X509_gmtime_adj(NULL, o->this_s);
        ASN1_TIME *nextupd = o->next_s ? X509_gmtime_adj(NULL, o->next_s) : NULL;
        ASN1_TIME *revt = X509_gmtime_adj(NULL, -3600);
        OCSP_RESPONSE *resp = NULL;
        int n = -1;

        if (!bs || !id || !thisupd || !revt)
                goto out;
        if (!OCSP_basic_add1_status(
                bs, id, o->cert_status,
                o->cert_status == V_OCSP_CERTSTATUS_REVOKED ? OCSP_REVOKED_STATUS_KEYCOMPROMISE : 0,
                o->cert_status == V_OCSP_CERTSTATUS_REVOKED ? revt : NULL, thisupd, nextupd))
                goto out;
        if (OCSP_basic_sign(bs, o->signer ? o->signer : ofx.ca,
                            o->signer_key ? o->signer_key : ofx.ca_key, EVP_sha256(), NULL,
                            o->flags) != 1)
                goto out;
        resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs);
        if (resp)
                n = i2d_OCSP_RESPONSE(resp, der);
out:
        OCSP_RESPONSE_free(resp);
        ASN1_TIME_free(thisupd);
        ASN1_TIME_free(nextupd);
        ASN1_TIME_free(revt);
        OCSP_CERTID_free(id);
        OCSP_BASICRESP_free(bs);
        return n;
}

/* ocsp_check on a crafted response for a: 0 or -EINVAL; -100 when it cannot be made, -101
 * when the reason is not want_why. */
static int check_resp(const struct resp_opts *o, STACK_OF(X509) * chain, const char *want_why,
                      int64_t *next)
{
        unsigned char *der = NULL;
        char why[160] = "";
        int n = make_resp(o, &der), r;
        int64_t nx = -1;

        if (n <= 0)
                return -100;
        r = ocsp_check(der, (size_t)n, ofx.a, chain, &nx, why, sizeof(why));
        OPENSSL_free(der);
        if (want_why && !strstr(why, want_why)) {
                fprintf(stderr, "reason \"%s\", want \"%s\"\n", why, want_why);
                return -101;
        }
        if (next)
                *next = nx;
        return r;
}

TEST(ocsp_fixture)
{
        char path[160], cmd[768];

        ofx.ca = load_cert(fx.ca);
        ofx.a = load_cert(fx.a_cert);
        ofx.b = load_cert(fx.b_cert);
        snprintf(path, sizeof(path), "%s/ca.key", fx.dir);
        ofx.ca_key = load_key(path);
        ofx.b_key = load_key(fx.b_key);
        ASSERT_TRUE(ofx.ca && ofx.a && ofx.b && ofx.ca_key && ofx.b_key);
        snprintf(cmd, sizeof(cmd),
                 "(cd %s && printf 'extendedKeyUsage=OCSPSigning\\nbasicConstraints=CA:FALSE\\n' "
                 "> r.ext && openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
                 "-subj /CN=responder -keyout r.key -out r.csr && openssl x509 -req -in r.csr "
                 "-CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile r.ext -out r.pem) "
                 ">/dev/null 2>&1",
                 fx.dir);
        ASSERT_EQ(system(cmd), 0);
        snprintf(path, sizeof(path), "%s/r.pem", fx.dir);
        ofx.responder = load_cert(path);
        snprintf(path, sizeof(path), "%s/r.key", fx.dir);
        ofx.responder_key = load_key(path);
        ofx.chain = sk_X509_new_null();
        ASSERT_TRUE(ofx.chain && sk_X509_push(ofx.chain, ofx.ca) > 0);
}

TEST(ocsp_good_responses_pass)
{
        struct resp_opts o = {.subject = ofx.a,
                              .cert_status = V_OCSP_CERTSTATUS_GOOD,
                              .this_s = -60,
                              .next_s = 86400};
        int64_t next = 0, now = (int64_t)time(NULL);

        /* The issuer from the chain. */
        ASSERT_EQ(check_resp(&o, ofx.chain, NULL, &next), 0);
        ASSERT_TRUE(next >= now + 86400 - 60 && next <= now + 86400 + 60);
        /* A leaf-only configuration: the issuer is the CA certificate the response carries
         * (it signed the leaf, which is checked). */
        ASSERT_EQ(check_resp(&o, NULL, NULL, NULL), 0);
        /* No nextUpdate: fresh information is always available (RFC 6960); kept, no expiry. */
        o.next_s = 0;
        ASSERT_EQ(check_resp(&o, ofx.chain, NULL, &next), 0);
        ASSERT_EQ(next, 0);
        /* thisUpdate a minute ahead: clock skew within the leeway. */
        o.this_s = 60;
        o.next_s = 86400;
        ASSERT_EQ(check_resp(&o, ofx.chain, NULL, NULL), 0);
}

TEST(ocsp_bad_responses_refused)
{
        struct resp_opts o = {.subject = ofx.a,
                              .cert_status = V_OCSP_CERTSTATUS_GOOD,
                              .this_s = -60,
                              .next_s = 86400};
        static const unsigned char garbage[] = "\x30\x03garbage";
        unsigned char *der = NULL, *p;
        char why[160];
        int64_t next = 1;
        OCSP_RESPONSE *later;
        int n;

        /* Not a response: garbage, empty, a good one cut short or with bytes after it. */
        ASSERT_EQ(
            ocsp_check(garbage, sizeof(garbage) - 1, ofx.a, ofx.chain, &next, why, sizeof(why)),
            -EINVAL);
        ASSERT_TRUE(strstr(why, "not a DER OCSP response") != NULL);
        ASSERT_EQ(next, 0);
        ASSERT_EQ(ocsp_check(garbage, 0, ofx.a, ofx.chain, &next, why, sizeof(why)), -EINVAL);
        n = make_resp(&o, &der);
        ASSERT_TRUE(n > 8);
        ASSERT_EQ(ocsp_check(der, (size_t)n - 5, ofx.a, ofx.chain, &next, why, sizeof(why)),
                  -EINVAL);
        ASSERT_TRUE(strstr(why, "not a DER OCSP response") != NULL);
        p = malloc((size_t)n + 1);
        ASSERT_TRUE(p != NULL);
        memcpy(p, der, (size_t)n);
        p[n] = 0;
        ASSERT_EQ(ocsp_check(p, (size_t)n + 1, ofx.a, ofx.chain, &next, why, sizeof(why)), -EINVAL);
        free(p);
        OPENSSL_free(der);
        der = NULL;
        /* A responder's error status (tryLater carries no basic response). */
        later = OCSP_response_create(OCSP_RESPONSE_STATUS_TRYLATER, NULL);
        ASSERT_TRUE(later != NULL);
        n = i2d_OCSP_RESPONSE(later, &der);
        OCSP_RESPONSE_free(later);
        ASSERT_TRUE(n > 0);
        ASSERT_EQ(ocsp_check(der, (size_t)n, ofx.a, ofx.chain, &next, why, sizeof(why)), -EINVAL);
        ASSERT_TRUE(strstr(why, "trylater") != NULL);
        OPENSSL_free(der);
        /* Another certificate's response, signed by the same CA. */
        o.subject = ofx.b;
        ASSERT_EQ(check_resp(&o, ofx.chain, "no status for this certificate", NULL), -EINVAL);
        o.subject = ofx.a;
        /* Revoked; unknown. */
        o.cert_status = V_OCSP_CERTSTATUS_REVOKED;
        ASSERT_EQ(check_resp(&o, ofx.chain, "certificate status revoked", NULL), -EINVAL);
        o.cert_status = V_OCSP_CERTSTATUS_UNKNOWN;
        ASSERT_EQ(check_resp(&o, ofx.chain, "certificate status unknown", NULL), -EINVAL);
        o.cert_status = V_OCSP_CERTSTATUS_GOOD;
        /* Expired: nextUpdate yesterday; and a second ago (inside the leeway, still refused:
         * nextUpdate is a hard end). */
        o.this_s = -2 * 86400;
        o.next_s = -86400;
        ASSERT_EQ(check_resp(&o, ofx.chain, "validity", NULL), -EINVAL);
        o.this_s = -3600;
        o.next_s = -1;
        ASSERT_EQ(check_resp(&o, ofx.chain, "expired", NULL), -EINVAL);
        /* thisUpdate an hour ahead: not valid yet. */
        o.this_s = 3600;
        o.next_s = 86400;
        ASSERT_EQ(check_resp(&o, ofx.chain, "validity", NULL), -EINVAL);
        o.this_s = -60;
        /* A delegated responder: a certificate the CA issued for OCSP signing. */
        ASSERT_TRUE(ofx.responder && ofx.responder_key);
        o.signer = ofx.responder;
        o.signer_key = ofx.responder_key;
        ASSERT_EQ(check_resp(&o, ofx.chain, NULL, NULL), 0);
        ASSERT_EQ(check_resp(&o, NULL, NULL, NULL), -EINVAL); /* the CA is in neither */
        /* Signed by a certificate the CA did not authorise to answer (b's own key). */
        o.signer = ofx.b;
        o.signer_key = ofx.b_key;
        ASSERT_EQ(check_resp(&o, ofx.chain, "signature", NULL), -EINVAL);
        o.signer = NULL;
        o.signer_key = NULL;
        /* Leaf-only configuration and a response without certificates: no issuer to check
         * against. */
        o.flags = OCSP_NOCERTS;
        ASSERT_EQ(check_resp(&o, NULL, "issuer", NULL), -EINVAL);
        /* ... which the chain supplies. */
        ASSERT_EQ(check_resp(&o, ofx.chain, NULL, NULL), 0);
        ASSERT_EQ(ERR_peek_error(), 0ul);
}

/* The client asks for status; returns the stapled response's length, or -1 for none. */
static long staple_len(struct tls_ctx *t)
{
        SSL_CTX *cc = client_ctx(TLS1_3_VERSION, TLS1_3_VERSION, NULL, NULL);
        struct hs_opts o = {.sni = "a.test"};
        const unsigned char *resp = NULL;
        struct pair p;
        long n = -2;

        if (!cc)
                return -2;
        (void)SSL_CTX_set_tlsext_status_type(cc, TLSEXT_STATUSTYPE_ocsp);
        if (handshake(t, cc, &o, &p) == 0)
                n = SSL_get_tlsext_status_ocsp_resp(p.c, &resp);
        pair_free(&p);
        SSL_CTX_free(cc);
        return n;
}

TEST(ocsp_stapled_until_next_update)
{
        struct resp_opts o = {
            .subject = ofx.a, .cert_status = V_OCSP_CERTSTATUS_GOOD, .this_s = -60, .next_s = 3600};
        struct edge_cfg_tls_cert certs[1] = {{.cert = fx.a_cert, .key = fx.a_key}};
        struct edge_cfg_tls cfg = {.listen = (char *)"127.0.0.1:0",
                                   .certs = {.items = certs, .n = 1},
                                   .ticket_rotation_ms = (int64_t)HOUR_MS};
        uint64_t saved = fake_now, now_ms = (uint64_t)time(NULL) * 1000u;
        unsigned char *der = NULL;
        char path[160], err[256];
        struct tls_ctx *t = NULL;
        struct tls_stats *st;
        FILE *f;
        int n;

        n = make_resp(&o, &der);
        ASSERT_TRUE(n > 0);
        snprintf(path, sizeof(path), "%s/a.ocsp", fx.dir);
        f = fopen(path, "wb");
        ASSERT_TRUE(f && fwrite(der, 1, (size_t)n, f) == (size_t)n);
        ASSERT_EQ(fclose(f), 0);
        certs[0].ocsp = path;
        ASSERT_EQ(tls_ctx_new(&cfg, NULL, &t, err, sizeof(err)), 0);
        st = tls_ctx_stats(t);
        fake_now = now_ms;
        ASSERT_EQ(staple_len(t), (long)n);
        /* Half a second before nextUpdate: still stapled. */
        fake_now = now_ms + 3600 * 1000u - 1500u;
        ASSERT_EQ(staple_len(t), (long)n);
        ASSERT_TRUE(!atomic_load(&t->certs[0].ocsp_stale));
        /* Past it: no staple (and the warning, once). */
        fake_now = now_ms + 3601 * 1000u;
        ASSERT_EQ(staple_len(t), -1);
        ASSERT_TRUE(atomic_load(&t->certs[0].ocsp_stale));
        ASSERT_EQ(staple_len(t), -1);
        ASSERT_EQ(atomic_load(&st->ocsp_stapled), 2u);
        ASSERT_EQ(atomic_load(&st->ocsp_none), 2u);
        fake_now = saved;
        tls_ctx_unref(t);
        /* The file replaced by another certificate's response: loaded, not stapled. */
        OPENSSL_free(der);
        der = NULL;
        o.subject = ofx.b;
        n = make_resp(&o, &der);
        f = fopen(path, "wb");
        ASSERT_TRUE(f && fwrite(der, 1, (size_t)n, f) == (size_t)n);
        ASSERT_EQ(fclose(f), 0);
        OPENSSL_free(der);
        ASSERT_EQ(tls_ctx_new(&cfg, NULL, &t, err, sizeof(err)), 0);
        ASSERT_TRUE(t->certs[0].ocsp == NULL);
        ASSERT_EQ(staple_len(t), -1);
        tls_ctx_unref(t);
        /* An empty file likewise never stops the context. */
        f = fopen(path, "wb");
        ASSERT_TRUE(f != NULL);
        ASSERT_EQ(fclose(f), 0);
        ASSERT_EQ(tls_ctx_new(&cfg, NULL, &t, err, sizeof(err)), 0);
        ASSERT_EQ(staple_len(t), -1);
        tls_ctx_unref(t);
}

TEST(ocsp_fixture_free)
{
        sk_X509_free(ofx.chain);
        X509_free(ofx.ca);
        X509_free(ofx.a);
        X509_free(ofx.b);
        EVP_PKEY_free(ofx.ca_key);
        EVP_PKEY_free(ofx.b_key);
        X509_free(ofx.responder);
        EVP_PKEY_free(ofx.responder_key);
}

TEST(teardown)
{
        tls_fixture_remove(&fx);
}

TEST_MAIN()
