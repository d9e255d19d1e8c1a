/* SPDX-License-Identifier: MIT */
/*
 * Kernel TLS: with ktls enabled and the kernel's tls module present, a TCP connection's send
 * side moves into the kernel after the handshake and file bodies go out with SSL_sendfile.
 * Skips where the module is absent (the userspace path is tested in test-tls.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bug.h"
#include "edge-cfg.h"
#include "tls.c"
#include "tests.h"
#include "tls-fixture.h"

static bool kernel_has_tls(void)
{
        char buf[256] = {0};
        FILE *f = fopen("/proc/sys/net/ipv4/tcp_available_ulp", "r");

        if (!f)
                return false;
        if (!fgets(buf, sizeof(buf), f))
                buf[0] = '\0';
        (void)fclose(f);
        for (char *p = buf; (p = strstr(p, "tls")); p += 3)
                if ((p == buf || p[-1] == ' ') && (p[3] == ' ' || p[3] == '\n' || !p[3]))
                        return true;
        return false;
}

/* A connected loopback TCP pair: *s accepted, *c connecting. */
static int tcp_pair(int *s, int *c)
{
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof(a);
        int l = socket(AF_INET, SOCK_STREAM, 0);

        if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 1) < 0 ||
            getsockname(l, (struct sockaddr *)&a, &len) < 0)
                return -1;
        *c = socket(AF_INET, SOCK_STREAM, 0);
        if (*c < 0 || connect(*c, (struct sockaddr *)&a, sizeof(a)) < 0)
                return -1;
        *s = accept4(l, NULL, NULL, SOCK_NONBLOCK);
        (void)close(l);
        return *s < 0 ? -1 : 0;
}

/* A kTLS connection with its handshake done: the edge's end (tc over sfd) and a client's (c over
 * cfd, non-blocking). Skips the whole file where the kernel lacks the module. */
struct kt {
        struct tls_fixture fx;
        struct edge_cfg_tls_cert certs[1];
        struct tls_ctx *t;
        struct tls_conn *tc;
        SSL_CTX *cc;
        SSL *c;
        int sfd, cfd;
};

static void kt_open(struct kt *k)
{
        struct edge_cfg_tls cfg = {.listen = (char *)"127.0.0.1:0",
                                   .certs = {.items = k->certs, .n = 1},
                                   .ticket_rotation_ms = 3600000,
                                   .tickets = true,
                                   .ktls = true};
        char err[256], buf[16384];
        int r = 0;

        if (!kernel_has_tls())
                TEST_SKIP("the kernel has no tls module (tcp_available_ulp lacks \"tls\"); "
                          "kTLS cannot be exercised here");
        if (tls_fixture_make(&k->fx) < 0)
                TEST_SKIP("cannot make test certificates with the openssl CLI");
        k->certs[0] = (struct edge_cfg_tls_cert){.cert = k->fx.a_cert, .key = k->fx.a_key};
        ASSERT_EQ(tls_ctx_new(&cfg, NULL, &k->t, err, sizeof(err)), 0);
        ASSERT_EQ(tcp_pair(&k->sfd, &k->cfd), 0);
        ASSERT_EQ(tls_conn_new(k->t, k->sfd, &k->tc), 0);
        k->cc = SSL_CTX_new(TLS_client_method());
        SSL_CTX_set_verify(k->cc, SSL_VERIFY_PEER, NULL);
        ASSERT_EQ(SSL_CTX_load_verify_locations(k->cc, k->fx.ca, NULL), 1);
        k->c = SSL_new(k->cc);
        ASSERT_EQ(SSL_set_fd(k->c, k->cfd), 1);
        (void)SSL_set_tlsext_host_name(k->c, "a.test");
        (void)SSL_set1_host(k->c, "a.test");
        /* The client blocks, so it runs its handshake in steps with the server's. */
        (void)fcntl(k->cfd, F_SETFL, O_NONBLOCK);
        for (int i = 0; i < 1000 && r != 1; i++) {
                ssize_t n;
                (void)SSL_do_handshake(k->c);
                while ((n = recv(k->sfd, buf, sizeof(buf), 0)) > 0)
                        ASSERT_EQ(tls_conn_feed(k->tc, buf, (size_t)n), 0);
                r = tls_conn_handshake(k->tc);
                ASSERT_TRUE(r >= 0 || r == -EAGAIN);
        }
        ASSERT_EQ(r, 1);
        ASSERT_TRUE(tls_conn_ktls(k->tc));
        ASSERT_STREQ(tls_conn_path(k->tc), "ktls");
}

static void kt_close(struct kt *k)
{
        SSL_free(k->c);
        SSL_CTX_free(k->cc);
        tls_conn_free(k->tc);
        tls_ctx_unref(k->t);
        (void)close(k->sfd);
        (void)close(k->cfd);
        tls_fixture_remove(&k->fx);
}

/* The client reads what it can into got[*have..cap). */
static void kt_read(struct kt *k, char *got, size_t *have, size_t cap)
{
        for (size_t n = 0; SSL_read_ex(k->c, got + *have, cap - *have, &n) == 1; n = 0)
                *have += n;
        ERR_clear_error();
}

/* A file of size bytes in the fixture's directory, its content from pattern. */
static int kt_file(struct kt *k, const char *pattern, size_t size)
{
        char path[160];
        int fd;

        snprintf(path, sizeof(path), "%s/body", k->fx.dir);
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || write(fd, pattern, size) != (ssize_t)size)
                return -1;
        return fd;
}

TEST(ktls_sendfile)
{
        enum { SIZE = 256 << 10 };
        static char file[SIZE], got[SIZE], head[SIZE], again[SIZE];
        bool cut = false;
        struct kt k;
        size_t off = 0, have = 0;
        char buf[16384];
        int fd;

        kt_open(&k);
        if (test_failed)
                return;
        /* Heads go through SSL_write: a record the socket did not take goes out again from
         * the connection's own copy, never from the caller's buffer, which the caller reuses
         * at once (a worker's head buffer); the retry comes from another copy of the bytes. */
        (void)setsockopt(k.sfd, SOL_SOCKET, SO_SNDBUF, &(int){16384}, sizeof(int));
        (void)setsockopt(k.cfd, SOL_SOCKET, SO_RCVBUF, &(int){16384}, sizeof(int));
        for (size_t i = 0; i < SIZE; i++)
                again[i] = head[i] = (char)(i * 7 + (i >> 11));
        for (int i = 0; i < 100000 && have < SIZE; i++) {
                if (off < SIZE) {
                        ssize_t n = tls_conn_write(k.tc, (cut ? again : head) + off, SIZE - off);
                        if (n > 0) {
                                off += (size_t)n;
                        } else {
                                ASSERT_EQ(n, -EAGAIN);
                                memset(head, 0x5a, SIZE);
                                cut = true;
                        }
                }
                if (!cut && off < SIZE)
                        continue; /* the client reads once the socket is full */
                kt_read(&k, got, &have, SIZE);
        }
        ASSERT_TRUE(cut);
        ASSERT_EQ(have, SIZE);
        ASSERT_TRUE(memcmp(again, got, SIZE) == 0);
        off = have = 0;

        for (size_t i = 0; i < SIZE; i++)
                file[i] = (char)(i ^ (i >> 9));
        fd = kt_file(&k, file, SIZE);
        ASSERT_TRUE(fd >= 0);
        for (int i = 0; i < 100000 && have < SIZE; i++) {
                if (off < SIZE) {
                        ssize_t n =
                            tls_conn_sendfile(k.tc, fd, (off_t)off, SIZE - off, buf, sizeof(buf));
                        if (n > 0)
                                off += (size_t)n;
                        else
                                ASSERT_EQ(n, -EAGAIN);
                }
                kt_read(&k, got, &have, SIZE);
        }
        ASSERT_EQ(have, SIZE);
        ASSERT_TRUE(memcmp(file, got, SIZE) == 0);
        (void)close(fd);
        kt_close(&k);
}

/* Application records the client received, and those holding 9 bytes of plaintext alone. */
static unsigned records, records_lone;

static void on_record(int write_p, int version, int content_type, const void *buf, size_t len,
                      SSL *ssl, void *arg)
{
        const unsigned char *h = buf;

        (void)version;
        (void)ssl;
        (void)arg;
        if (write_p || content_type != SSL3_RT_HEADER || len < 5 || h[0] != 23)
                return;
        records++;
        /* TLS 1.3: the plaintext, its one-byte type and a 16-byte tag. */
        records_lone += ((size_t)h[3] << 8 | h[4]) == 9 + 17;
}

/*
 * h2 DATA frames over kTLS as h2-serve.c sends them: each 9-byte header with
 * tls_conn_ktls_send_more, its payload by tls_conn_sendfile. The header waits in the kernel's
 * open record for its payload: no record holds a header alone. Then through a full socket,
 * partial headers and payloads offered again from where they stopped; every byte arrives in
 * order both times.
 */
TEST(ktls_frame_header_joins_its_payload)
{
        enum { FRAMES = 24, PAYLOAD = 16384 - 9, SIZE = FRAMES * PAYLOAD };
        static char file[SIZE], want[FRAMES * 16384], got[FRAMES * 16384];
        size_t have = 0, hdr_off, pay_off;
        struct kt k;
        char one;
        int fd;

        kt_open(&k);
        if (test_failed)
                return;
        /* The session tickets arrive first, before any record counted. */
        ASSERT_EQ(tls_conn_write(k.tc, "x", 1), 1);
        for (int i = 0; i < 1000 && have < 1; i++)
                kt_read(&k, &one, &have, 1);
        ASSERT_EQ(have, 1);
        ASSERT_EQ(SSL_version(k.c), TLS1_3_VERSION);
        SSL_set_msg_callback(k.c, on_record);
        for (size_t i = 0; i < SIZE; i++)
                file[i] = (char)(i * 13 ^ (i >> 10));
        fd = kt_file(&k, file, SIZE);
        ASSERT_TRUE(fd >= 0);
        for (int full = 0; full < 2; full++) {
                records = records_lone = 0;
                have = 0;
                if (full) {
                        (void)setsockopt(k.sfd, SOL_SOCKET, SO_SNDBUF, &(int){8192}, sizeof(int));
                        (void)setsockopt(k.cfd, SOL_SOCKET, SO_RCVBUF, &(int){8192}, sizeof(int));
                }
                for (unsigned f = 0; f < FRAMES; f++) {
                        char hdr[9] = {0, 0x3f, (char)0xf7, 0, 0, 0, 0, 0, (char)(2 * f + 1)};
                        memcpy(want + f * 16384, hdr, 9);
                        memcpy(want + f * 16384 + 9, file + f * PAYLOAD, PAYLOAD);
                        hdr_off = pay_off = 0;
                        for (int i = 0; i < 100000 && pay_off < PAYLOAD; i++) {
                                ssize_t n;
                                if (hdr_off < 9) {
                                        n = tls_conn_ktls_send_more(k.tc, hdr + hdr_off,
                                                                    9 - hdr_off);
                                        if (n > 0)
                                                hdr_off += (size_t)n;
                                        else
                                                ASSERT_EQ(n, -EAGAIN);
                                }
                                if (hdr_off == 9) {
                                        n = tls_conn_sendfile(k.tc, fd,
                                                              (off_t)(f * PAYLOAD + pay_off),
                                                              PAYLOAD - pay_off, NULL, 0);
                                        if (n > 0)
                                                pay_off += (size_t)n;
                                        else
                                                ASSERT_EQ(n, -EAGAIN);
                                }
                                kt_read(&k, got, &have, sizeof(got));
                        }
                        ASSERT_EQ(pay_off, PAYLOAD);
                }
                for (int i = 0; i < 100000 && have < sizeof(got); i++)
                        kt_read(&k, got, &have, sizeof(got));
                ASSERT_EQ(have, sizeof(got));
                ASSERT_TRUE(memcmp(want, got, sizeof(got)) == 0);
                ASSERT_TRUE(records >= FRAMES);
                if (!full)
                        ASSERT_EQ(records_lone, 0);
        }
        (void)close(fd);
        kt_close(&k);
}

TEST_MAIN()
