/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "tests.h"
#include "net-addr.h"

TEST(ipv4_forms)
{
        struct sockaddr_storage ss;
        struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
        socklen_t len = 0;
        char buf[64];

        ASSERT_EQ(net_addr_parse("127.0.0.1:8081", &ss, &len), 0);
        ASSERT_EQ(ss.ss_family, AF_INET);
        ASSERT_EQ(len, sizeof(struct sockaddr_in));
        ASSERT_EQ(ntohs(a4->sin_port), 8081);
        ASSERT_STREQ(inet_ntop(AF_INET, &a4->sin_addr, buf, sizeof(buf)), "127.0.0.1");

        ASSERT_EQ(net_addr_parse(":80", &ss, &len), 0);
        ASSERT_EQ(a4->sin_addr.s_addr, htonl(INADDR_ANY));
        ASSERT_EQ(ntohs(a4->sin_port), 80);
        ASSERT_EQ(net_addr_parse("localhost:1", &ss, &len), 0);
        ASSERT_EQ(a4->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
        ASSERT_EQ(net_addr_parse("LocalHost:1", &ss, &len), 0);
        ASSERT_EQ(a4->sin_addr.s_addr, htonl(INADDR_LOOPBACK));
        /* Port 0: the kernel picks one (tests use it). */
        ASSERT_EQ(net_addr_parse("127.0.0.1:0", &ss, &len), 0);
        ASSERT_EQ(ntohs(a4->sin_port), 0);
        ASSERT_EQ(net_addr_parse("0.0.0.0:65535", &ss, &len), 0);
        ASSERT_EQ(ntohs(a4->sin_port), 65535);
}

TEST(ipv6_forms)
{
        struct sockaddr_storage ss;
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
        socklen_t len = 0;
        char buf[64];

        ASSERT_EQ(net_addr_parse("[2001:db8::1]:443", &ss, &len), 0);
        ASSERT_EQ(ss.ss_family, AF_INET6);
        ASSERT_EQ(len, sizeof(struct sockaddr_in6));
        ASSERT_EQ(ntohs(a6->sin6_port), 443);
        ASSERT_STREQ(inet_ntop(AF_INET6, &a6->sin6_addr, buf, sizeof(buf)), "2001:db8::1");
        ASSERT_EQ(net_addr_parse("[::]:65535", &ss, &len), 0);
        ASSERT_TRUE(IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr));
        ASSERT_EQ(net_addr_parse("[::ffff:10.0.0.1]:8", &ss, &len), 0);
        ASSERT_TRUE(IN6_IS_ADDR_V4MAPPED(&a6->sin6_addr));
}

TEST(refusals)
{
        static const char *const bad[] = {
            "",
            ":",
            "1.2.3.4",
            "1.2.3.4:",
            "1.2.3.4:65536",
            "1.2.3.4:99999",
            "1.2.3.4:+80",
            "1.2.3.4:80a",
            "1.2.3.4: 80",
            "1.2.3.4:000080",
            "1.2.3.4:-1",
            "::1:80",
            "[::1]80",
            "[::1]:",
            "[1.2.3.4]:80",
            "[::1:80",
            "[]:80",
            "host.example:80",
            "1.2.3:80",
            "1.2.3.4.5:80",
            " 1.2.3.4:80",
        };
        struct sockaddr_storage ss;
        socklen_t len;

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                if (net_addr_parse(bad[i], &ss, &len) != -EINVAL)
                        TEST_FAIL_AT("accepted \"%s\"", bad[i]);
        }
        ASSERT_EQ(net_addr_parse(NULL, &ss, &len), -EINVAL);
}

TEST(length_limit)
{
        struct sockaddr_storage ss;
        socklen_t len;
        char s[NET_ADDR_TEXT_MAX + 32];

        /* At the limit the form decides; one byte over is refused before any parsing. */
        memset(s, '0', sizeof(s));
        memcpy(s, "[::1]:", 6);
        s[NET_ADDR_TEXT_MAX] = '\0';
        ASSERT_EQ(net_addr_parse(s, &ss, &len), -EINVAL);
        s[NET_ADDR_TEXT_MAX] = '0';
        s[NET_ADDR_TEXT_MAX + 1] = '\0';
        ASSERT_EQ(net_addr_parse(s, &ss, &len), -E2BIG);
        /* A host part longer than any address, well within the limit otherwise. */
        memset(s, '1', 60);
        memcpy(s + 60, ":80", 4);
        ASSERT_EQ(net_addr_parse(s, &ss, &len), -EINVAL);
}

TEST(urls)
{
        ASSERT_TRUE(net_url_ok("http://origin.example:9000"));
        ASSERT_TRUE(net_url_ok("https://control.example/"));
        ASSERT_TRUE(net_url_ok("HTTP://127.0.0.1:7000/base/path"));
        ASSERT_TRUE(net_url_ok("http://[::1]:8080"));

        ASSERT_TRUE(!net_url_ok(NULL));
        ASSERT_TRUE(!net_url_ok(""));
        ASSERT_TRUE(!net_url_ok("http://"));
        ASSERT_TRUE(!net_url_ok("https:///path"));
        /* No host: the authority ends at '?' or '#' too, and a port or userinfo is no host. */
        ASSERT_TRUE(!net_url_ok("http://?x"));
        ASSERT_TRUE(!net_url_ok("https://#frag"));
        ASSERT_TRUE(!net_url_ok("http://?"));
        ASSERT_TRUE(!net_url_ok("http://:80/"));
        ASSERT_TRUE(!net_url_ok("http://@/"));
        ASSERT_TRUE(!net_url_ok("http://u:p@:80/x"));
        ASSERT_TRUE(net_url_ok("http://u:p@origin.example:80/x"));
        ASSERT_TRUE(net_url_ok("http://h?x"));
        ASSERT_TRUE(!net_url_ok("ftp://origin.example"));
        ASSERT_TRUE(!net_url_ok("origin.example:9000"));
        ASSERT_TRUE(!net_url_ok("http://a b"));
        ASSERT_TRUE(!net_url_ok("http://a\tb"));
        ASSERT_TRUE(!net_url_ok("http://a\"b"));
        ASSERT_TRUE(!net_url_ok("http://a<b>"));
        /* A base for appended paths: no query, fragment or userinfo. */
        ASSERT_TRUE(net_url_base_ok("https://edge-a.example:8443"));
        ASSERT_TRUE(net_url_base_ok("http://edge-a.example/cdn/"));
        ASSERT_TRUE(!net_url_base_ok("http://a/b?c"));
        ASSERT_TRUE(!net_url_base_ok("http://a/b#d"));
        ASSERT_TRUE(!net_url_base_ok("http://user:pw@a"));
        ASSERT_TRUE(!net_url_base_ok("ftp://a"));
        ASSERT_TRUE(!net_url_base_ok(NULL));
        /* What a browser's Origin can be. */
        ASSERT_TRUE(net_origin_ok("*"));
        ASSERT_TRUE(net_origin_ok("https://player.example"));
        ASSERT_TRUE(net_origin_ok("http://127.0.0.1:8080"));
        ASSERT_TRUE(!net_origin_ok("example.com"));
        ASSERT_TRUE(!net_origin_ok("https://player.example/"));
        ASSERT_TRUE(!net_origin_ok("https://player.example/app"));
        ASSERT_TRUE(!net_origin_ok("https://user@player.example"));
        ASSERT_TRUE(!net_origin_ok("**"));
        /* Byte for byte what a browser sends: lower case, no default port, a port as a number
         * (an entry a browser never sends would match no player). */
        ASSERT_TRUE(net_origin_ok("https://player.example:8443"));
        ASSERT_TRUE(net_origin_ok("http://[::1]:8080"));
        ASSERT_TRUE(net_origin_ok("https://player.example.")); /* a page at an absolute name */
        ASSERT_TRUE(!net_origin_ok("https://player.example:443"));
        ASSERT_TRUE(!net_origin_ok("http://player.example:80"));
        ASSERT_TRUE(net_origin_ok("http://player.example:443"));
        ASSERT_TRUE(!net_origin_ok("https://Player.Example"));
        ASSERT_TRUE(!net_origin_ok("HTTPS://player.example"));
        ASSERT_TRUE(!net_origin_ok("https://player.example:0443"));
        ASSERT_TRUE(!net_origin_ok("https://player.example:99999"));
        ASSERT_TRUE(!net_origin_ok("https://player.example:"));
        ASSERT_TRUE(!net_origin_ok("https://player.example:0"));
        ASSERT_TRUE(!net_origin_ok("https://player.example:8a"));
        ASSERT_TRUE(!net_origin_ok("http://[]:8080"));
        ASSERT_TRUE(!net_origin_ok("http://[::1"));
        ASSERT_TRUE(!net_origin_ok("https://:8443"));
        ASSERT_TRUE(!net_origin_ok("https://pl%61yer.example"));
        ASSERT_TRUE(!net_origin_ok(NULL));
        ASSERT_TRUE(!net_url_ok("http://a\\b"));
        ASSERT_TRUE(!net_url_ok("http://a\x7f"));

        static char long_url[NET_URL_MAX + 2];
        memset(long_url, 'a', sizeof(long_url) - 1);
        memcpy(long_url, "http://h/", 9);
        long_url[NET_URL_MAX] = '\0';
        ASSERT_TRUE(net_url_ok(long_url));
        long_url[NET_URL_MAX] = 'a';
        ASSERT_TRUE(!net_url_ok(long_url));
}

/* An origin as an operator may write it, taken as the one a browser sends (an older release
 * took these; refusing them stopped an upgraded edge or control at start). */
static void canon_is(const char *in, int want, const char *out)
{
        char got[64] = "";

        ASSERT_EQ(net_origin_canon(in, got, sizeof(got)), want);
        if (want > 0)
                ASSERT_STREQ(got, out);
}

TEST(origin_canon)
{
        char small[8];

        canon_is("https://player.example", 0, NULL);
        canon_is("*", 0, NULL);
        canon_is("https://player.example/", 1, "https://player.example");
        canon_is("https://Player.Example", 1, "https://player.example");
        canon_is("HTTPS://player.example", 1, "https://player.example");
        canon_is("https://player.example:443", 1, "https://player.example");
        canon_is("http://player.example:80/", 1, "http://player.example");
        canon_is("HTTP://[::1]:80/", 1, "http://[::1]");
        canon_is("https://Player.example:8443/", 1, "https://player.example:8443");
        canon_is("http://player.example:443", 0, NULL);
        /* Still no origin: a path, a query, two slashes, an escape, a bad port, no scheme. */
        canon_is("https://player.example/app", -1, NULL);
        canon_is("https://player.example/?a", -1, NULL);
        canon_is("https://player.example//", -1, NULL);
        canon_is("https://Pl%61yer.example", -1, NULL);
        canon_is("https://player.example:0443", -1, NULL);
        canon_is("https://player.example:99999/", -1, NULL);
        canon_is("player.example", -1, NULL);
        canon_is("ftp://player.example", -1, NULL);
        canon_is("http://[::1/", -1, NULL);
        ASSERT_EQ(net_origin_canon(NULL, small, sizeof(small)), -1);
        ASSERT_EQ(net_origin_canon("https://A.example", small, sizeof(small)), -1);
}

/* The authority as every URL parser reads it: a player's refused each of these in a BaseURL
 * (port out of range or not a number, an unclosed or empty bracket, an IPv4-looking name). */
TEST(url_authority)
{
        static const char *const good[] = {
                "http://h:1", "http://h:65535", "http://h:08080/", "https://[::1]/s",
                "http://[2001:db8::7]:8443", "http://[::ffff:192.0.2.1]:80",
                "http://1.2.3.4:8080/p", "http://edge-1.example./", "http://a_b.example~x",
                "http://1.2.3.4a", "http://u:p%41@h:80/", "http://h:80?x",
        };
        static const char *const bad[] = {
                "http://bad-port.test:99999", "http://bad-port.test:abc", "http://[::1",
                "http://h:0", "http://h:65536", "http://h:/", "http://h:123456", "http://h:+80",
                "http://h: 80", "http://h:-1", "http://[]:80", "http://[::1]x/", "http://[::1]:",
                "http://[zz]/", "http://[fe80::1%25]/", "http://[fe80::1%25e^x]/",
                "http://[fe80::1%25e%zz]/", "http://[v1.x]/", "http://h]/",
                "http://h[/", "http://a%2Fb/", "http://h^x/", "http://h|x/", "http://1.2.3.999/",
                "http://1.2.3/", "http://010.1.1.1/", "http://h.0x1f/", "http://a:b:80/",
                "http://[::1]:80:80/", "http://u[@h/",
        };

        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
                if (!net_url_ok(good[i]))
                        fprintf(stderr, "refused: %s\n", good[i]);
                ASSERT_TRUE(net_url_ok(good[i]));
        }
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                if (net_url_ok(bad[i]))
                        fprintf(stderr, "accepted: %s\n", bad[i]);
                ASSERT_TRUE(!net_url_ok(bad[i]));
                ASSERT_TRUE(!net_url_base_ok(bad[i]));
        }
        ASSERT_TRUE(net_url_base_ok("http://[::1]:8080/cdn/"));
        /* An upstream may name an IPv6 zone (libcurl takes it); no URL a player reads may. */
        ASSERT_TRUE(net_url_ok("http://[fe80::1%25lo]:9"));
        ASSERT_TRUE(net_url_ok("http://[fe80::1%25eth0.5%2D1]/"));
        ASSERT_TRUE(!net_url_base_ok("http://[fe80::1%25lo]:9/"));
        ASSERT_TRUE(!net_origin_ok("http://[fe80::1%25lo]"));
        /* Origins take the same host rules. */
        ASSERT_TRUE(!net_origin_ok("http://[zz]:8080"));
        ASSERT_TRUE(!net_origin_ok("http://1.2.3.999"));
        ASSERT_TRUE(net_origin_ok("http://[2001:db8::1]"));
}

TEST_MAIN()
