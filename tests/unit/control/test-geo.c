/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>

#include "geo.h"
#include "tests.h"

static const struct geo_entry cfg[] = {
    {"10.0.0.0/8", "NO"}, {"10.1.0.0/16", "se"},   {"10.1.2.0/24", "DK"},     {"10.1.2.3", "FI"},
    {"0.0.0.0/0", "ZZ"},  {"2001:db8::/32", "NL"}, {"2001:db8:1::/48", "BE"},
};
#define N_CFG (sizeof(cfg) / sizeof(cfg[0]))

static const char *cc(const struct geo_table *t, const char *addr)
{
        static char out[3];
        int r = geo_table_lookup_str(t, addr, out);
        return r == 0 ? out : r == -ENOENT ? "--" : "!!";
}

TEST(longest_prefix)
{
        struct geo_table *t = NULL;
        ASSERT_EQ(geo_table_build(cfg, N_CFG, &t, NULL), 0);
        ASSERT_EQ(geo_table_size(t), N_CFG);
        ASSERT_STREQ(cc(t, "10.1.2.3"), "FI");
        ASSERT_STREQ(cc(t, "10.1.2.4"), "DK");
        ASSERT_STREQ(cc(t, "10.1.3.4"), "SE");
        ASSERT_STREQ(cc(t, "10.200.0.1"), "NO");
        ASSERT_STREQ(cc(t, "192.0.2.1"), "ZZ");
        ASSERT_STREQ(cc(t, "2001:db8:1:2::5"), "BE");
        ASSERT_STREQ(cc(t, "2001:db8:2::5"), "NL");
        ASSERT_STREQ(cc(t, "2001:db9::1"), "--");
        /* IPv4-mapped IPv6 (a dual-stack socket) uses the IPv4 table. */
        ASSERT_STREQ(cc(t, "::ffff:10.1.2.9"), "DK");
        ASSERT_STREQ(cc(t, "not-an-address"), "!!");

        struct sockaddr_in in = {.sin_family = AF_INET};
        inet_pton(AF_INET, "10.1.9.9", &in.sin_addr);
        char out[3];
        ASSERT_EQ(geo_table_lookup(t, (struct sockaddr *)&in, out), 0);
        ASSERT_STREQ(out, "SE");
        struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
        inet_pton(AF_INET6, "2001:db8:1::1", &in6.sin6_addr);
        ASSERT_EQ(geo_table_lookup(t, (struct sockaddr *)&in6, out), 0);
        ASSERT_STREQ(out, "BE");
        struct sockaddr sa = {.sa_family = AF_UNIX};
        ASSERT_EQ(geo_table_lookup(t, &sa, out), -EAFNOSUPPORT);
        geo_table_free(t);
}

TEST(no_default)
{
        struct geo_table *t = NULL;
        ASSERT_EQ(geo_table_build(cfg, 4, &t, NULL), 0);
        ASSERT_STREQ(cc(t, "192.0.2.1"), "--");
        ASSERT_STREQ(cc(t, "2001:db8::1"), "--");
        geo_table_free(t);
        ASSERT_EQ(geo_table_build(NULL, 0, &t, NULL), 0);
        ASSERT_STREQ(cc(t, "10.1.2.3"), "--");
        geo_table_free(t);
        geo_table_free(NULL);
}

TEST(mapped_prefixes_name_ipv4)
{
        /* A prefix written as IPv4-mapped IPv6 names IPv4 addresses: it matches them whether
         * they come as IPv4 or mapped (a dual-stack socket); it was kept with the IPv6
         * entries, which no IPv4 or mapped client is looked up in, so it matched nobody. */
        struct geo_entry e[] = {{"::ffff:10.9.0.0/112", "FR"}, {"::ffff:192.0.2.7", "DE"},
                                {"::/0", "ZZ"}};
        struct geo_table *t = NULL;
        size_t bad = 99;

        ASSERT_EQ(geo_table_build(e, 3, &t, NULL), 0);
        ASSERT_STREQ(cc(t, "10.9.1.2"), "FR");
        ASSERT_STREQ(cc(t, "::ffff:10.9.1.2"), "FR");
        ASSERT_STREQ(cc(t, "192.0.2.7"), "DE");
        ASSERT_STREQ(cc(t, "::ffff:192.0.2.8"), "--");
        ASSERT_STREQ(cc(t, "10.10.0.1"), "--");
        ASSERT_STREQ(cc(t, "2001:db8::1"), "ZZ");
        geo_table_free(t);
        t = NULL;
        /* The same prefix in both notations is the same prefix twice. */
        struct geo_entry twice[] = {{"10.9.0.0/16", "FR"}, {"::ffff:10.9.0.0/112", "FR"}};
        ASSERT_EQ(geo_table_build(twice, 2, &t, &bad), -EEXIST);
        ASSERT_EQ(bad, 1);
        ASSERT_TRUE(t == NULL);
}

TEST(cidr_parse)
{
        struct geo_prefix p;
        ASSERT_EQ(geo_cidr_parse("10.1.0.0/16", &p), 0);
        ASSERT_EQ(p.family, AF_INET);
        ASSERT_EQ(p.len, 16);
        ASSERT_EQ(p.addr[1], 1);
        ASSERT_EQ(geo_cidr_parse("2001:db8::/32", &p), 0);
        ASSERT_EQ(p.family, AF_INET6);
        ASSERT_EQ(p.len, 32);
        ASSERT_EQ(geo_cidr_parse("::/0", &p), 0);
        ASSERT_EQ(geo_cidr_parse("192.0.2.1", &p), 0);
        ASSERT_EQ(p.len, 32);
        ASSERT_EQ(geo_cidr_parse("10.1.2.3/16", &p), -EINVAL); /* host bits */
        ASSERT_EQ(geo_cidr_parse("10.1.0.0/33", &p), -EINVAL);
        ASSERT_EQ(geo_cidr_parse("2001:db8::/129", &p), -EINVAL);
        ASSERT_EQ(geo_cidr_parse("10.1.0.0/", &p), -EINVAL);
        ASSERT_EQ(geo_cidr_parse("10.1.0.0/-1", &p), -EINVAL);
        ASSERT_EQ(geo_cidr_parse("10.1.0.0/0016", &p), -EINVAL);
        ASSERT_EQ(geo_cidr_parse("/8", &p), -EINVAL);
        ASSERT_EQ(geo_cidr_parse("10.1/16", &p), -EINVAL);
        ASSERT_EQ(geo_cidr_parse("host.example/8", &p), -EINVAL);
        ASSERT_EQ(geo_cidr_parse("", &p), -EINVAL);
}

TEST(build_errors)
{
        struct geo_table *t = NULL;
        size_t bad = 99;
        struct geo_entry e[3] = {{"10.0.0.0/8", "NO"}, {"10.1.0.0/16", "SWE"}, {"x", "SE"}};
        ASSERT_EQ(geo_table_build(e, 3, &t, &bad), -EINVAL);
        ASSERT_EQ(bad, 1);
        e[1].country = "S1";
        ASSERT_EQ(geo_table_build(e, 3, &t, &bad), -EINVAL);
        ASSERT_EQ(bad, 1);
        e[1].country = "SE";
        ASSERT_EQ(geo_table_build(e, 3, &t, &bad), -EINVAL);
        ASSERT_EQ(bad, 2);
        e[2].cidr = "10.0.0.0/8";
        ASSERT_EQ(geo_table_build(e, 3, &t, &bad), -EEXIST);
        ASSERT_EQ(bad, 2);
        e[2].cidr = NULL;
        ASSERT_EQ(geo_table_build(e, 3, &t, &bad), -EINVAL);
        ASSERT_TRUE(t == NULL);
        ASSERT_EQ(geo_table_build(e, GEO_ENTRIES_MAX + 1, &t, &bad), -E2BIG);
}

TEST(many_entries)
{
        /* A full table of /24s: every one found, its neighbours outside the range not. */
        static struct geo_entry e[GEO_ENTRIES_MAX];
        static char names[GEO_ENTRIES_MAX][20];
        for (unsigned i = 0; i < GEO_ENTRIES_MAX; i++) {
                snprintf(names[i], sizeof(names[i]), "11.%u.%u.0/24", i >> 8, i & 0xff);
                e[i] = (struct geo_entry){names[i], i % 2 ? "AA" : "BB"};
        }
        struct geo_table *t = NULL;
        ASSERT_EQ(geo_table_build(e, GEO_ENTRIES_MAX, &t, NULL), 0);
        ASSERT_STREQ(cc(t, "11.0.0.1"), "BB");
        ASSERT_STREQ(cc(t, "11.0.1.200"), "AA");
        ASSERT_STREQ(cc(t, "11.255.255.255"), "AA");
        ASSERT_STREQ(cc(t, "12.0.0.0"), "--");
        geo_table_free(t);
}

TEST_MAIN()
