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

TEST(ktls_sendfile)
{
        enum { SIZE = 256 << 10 };
        static char file[SIZE], got[SIZE], head[SIZE], again[SIZE];
        bool cut = false;
        struct tls_fixture fx;
        struct edge_cfg_tls_cert certs[1];
        struct edge_cfg_tls cfg = {.listen = (char *)"127.0.0.1:0",
                                   .certs = {.items = certs, .n = 1},
                                   .ticket_rotation_ms = 3600000,
                                   .tickets = true,
                                   .ktls = true};
        struct tls_ctx *t;
        struct tls_conn *tc;
        SSL_CTX *cc;
        SSL *c;
        char err[256], path[160], buf[16384];
        size_t off = 0, have = 0;
        int sfd, cfd, fd, r = 0;

        if (!kernel_has_tls())
                TEST_SKIP("the kernel has no tls module (tcp_available_ulp lacks \"tls\"); "
                          "kTLS cannot be exercised here");
        if (tls_fixture_make(&fx) < 0)
                TEST_SKIP("cannot make test certificates with the openssl CLI");
        certs[0] = (struct edge_cfg_tls_cert){.cert = fx.a_cert, .key = fx.a_key};
        ASSERT_EQ(tls_ctx_new(&cfg, NULL, &t, err, sizeof(err)), 0);
        ASSERT_EQ(tcp_pair(&sfd, &cfd), 0);
        ASSERT_EQ(tls_conn_new(t, sfd, &tc), 0);
        cc = SSL_CTX_new(TLS_client_method());
        SSL_CTX_set_verify(cc, SSL_VERIFY_PEER, NULL);
        ASSERT_EQ(SSL_CTX_load_verify_locations(cc, fx.ca, NULL), 1);
        c = SSL_new(cc);
        ASSERT_EQ(SSL_set_fd(c, cfd), 1);
        (void)SSL_set_tlsext_host_name(c, "a.test");
        (void)SSL_set1_host(c, "a.test");
        /* The client blocks, so it runs its handshake in steps with the server's. */
        (void)fcntl(cfd, F_SETFL, O_NONBLOCK);
        for (int i = 0; i < 1000 && r != 1; i++) {
                ssize_t n;
                (void)SSL_do_handshake(c);
                while ((n = recv(sfd, buf, sizeof(buf), 0)) > 0)
                        ASSERT_EQ(tls_conn_feed(tc, buf, (size_t)n), 0);
                r = tls_conn_handshake(tc);
                ASSERT_TRUE(r >= 0 || r == -EAGAIN);
        }
        ASSERT_EQ(r, 1);
        ASSERT_TRUE(tls_conn_ktls(tc));
        ASSERT_STREQ(tls_conn_path(tc), "ktls");

        /* Heads go through SSL_write: a record the socket did not take goes out again from
         * the connection's own copy, never from the caller's buffer, which the caller reuses
         * at once (a worker's head buffer); the retry comes from another copy of the bytes. */
        (void)setsockopt(sfd, SOL_SOCKET, SO_SNDBUF, &(int){16384}, sizeof(int));
        (void)setsockopt(cfd, SOL_SOCKET, SO_RCVBUF, &(int){16384}, sizeof(int));
        for (size_t i = 0; i < SIZE; i++)
                again[i] = head[i] = (char)(i * 7 + (i >> 11));
        for (int i = 0; i < 100000 && have < SIZE; i++) {
                if (off < SIZE) {
                        ssize_t n = tls_conn_write(tc, (cut ? again : head) + off, SIZE - off);
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
                for (size_t n = 0; SSL_read_ex(c, got + have, SIZE - have, &n) == 1; n = 0)
                        have += n;
                ERR_clear_error();
        }
        ASSERT_TRUE(cut);
        ASSERT_EQ(have, SIZE);
        ASSERT_TRUE(memcmp(again, got, SIZE) == 0);
        off = have = 0;

        for (size_t i = 0; i < SIZE; i++)
                file[i] = (char)(i ^ (i >> 9));
        snprintf(path, sizeof(path), "%s/body", fx.dir);
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
        ASSERT_EQ(write(fd, file, SIZE), SIZE);
        for (int i = 0; i < 100000 && have < SIZE; i++) {
                if (off < SIZE) {
                        ssize_t n = tls_conn_sendfile(tc, fd, (off_t)off, SIZE - off, buf,
                                                      sizeof(buf));
                        if (n > 0)
                                off += (size_t)n;
                        else
                                ASSERT_EQ(n, -EAGAIN);
                }
                for (size_t n = 0; SSL_read_ex(c, got + have, SIZE - have, &n) == 1; n = 0)
                        have += n;
                ERR_clear_error();
        }
        ASSERT_EQ(have, SIZE);
        ASSERT_TRUE(memcmp(file, got, SIZE) == 0);
        (void)close(fd);
        SSL_free(c);
        SSL_CTX_free(cc);
        tls_conn_free(tc);
        tls_ctx_unref(t);
        (void)close(sfd);
        (void)close(cfd);
        tls_fixture_remove(&fx);
}

TEST_MAIN()
