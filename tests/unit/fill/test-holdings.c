/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>

#include "tests.h"

#include "holdings.h"

#define HA "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HB "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

TEST(holdings_listing_url_escapes_prefix)
{
        char *u = holdings_listing_url("http://127.0.0.1:8081//", "/t 1/v1/seg-1.m4s?x&y");

        ASSERT_TRUE(u != NULL);
        ASSERT_STREQ(u, "http://127.0.0.1:8081/admin/objects"
                        "?prefix=%2Ft%201%2Fv1%2Fseg-1.m4s%3Fx%26y");
        free(u);
        u = holdings_listing_url("http://e:1", NULL);
        ASSERT_STREQ(u, "http://e:1/admin/objects");
        free(u);
        u = holdings_listing_url("http://e:1/", "");
        ASSERT_STREQ(u, "http://e:1/admin/objects");
        free(u);
}

/* A page's cursor (the last key before it, any bytes) is percent-encoded, and the arguments
 * go in the order the edge documents. */
TEST(holdings_page_url_carries_limit_and_cursor)
{
        char *u = holdings_page_url("http://e:1/", NULL, 10000, "/t 1/seg-9.m4s", 14);

        ASSERT_STREQ(u, "http://e:1/admin/objects?limit=10000&after=%2Ft%201%2Fseg-9.m4s");
        free(u);
        u = holdings_page_url("http://e:1", "/t1/", 2, "/t1/\xc3\xa9&x", 8);
        ASSERT_STREQ(u, "http://e:1/admin/objects?prefix=%2Ft1%2F&limit=2&after=%2Ft1%2F%C3%A9%26x");
        free(u);
        u = holdings_page_url("http://e:1", "/t1/", 0, NULL, 0);
        ASSERT_STREQ(u, "http://e:1/admin/objects?prefix=%2Ft1%2F");
        free(u);
        u = holdings_page_url("http://e:1", NULL, 5, NULL, 0);
        ASSERT_STREQ(u, "http://e:1/admin/objects?limit=5");
        free(u);
}

/* A prefix listing may name longer keys too; only the exact key with the same size and
 * SHA-256 counts as committed. */
TEST(holdings_has_needs_key_size_and_hash)
{
        static const char listing[] =
            "[{\"key\":\"/t/seg-1.m4s\",\"size\":10,\"sha256\":\"" HA "\"},"
            "{\"key\":\"/t/seg-1.m4s.bak\",\"size\":20,\"sha256\":\"" HB "\"},"
            "{\"key\":\"/t/seg-2.m4s\",\"size\":30,\"sha256\":null},"
            "{\"key\":\"/t/seg-3.m4s\",\"size\":40,\"sha256\":\"" HB "\"}]";
        struct holdings h;
        char err[256];

        ASSERT_EQ(holdings_parse(listing, sizeof(listing) - 1, &h, err, sizeof(err)), 0);
        ASSERT_TRUE(holdings_has(&h, "/t/seg-1.m4s", 12, 10, HA));
        ASSERT_TRUE(!holdings_has(&h, "/t/seg-1.m4s", 12, 11, HA));
        ASSERT_TRUE(!holdings_has(&h, "/t/seg-1.m4s", 12, 10, HB));
        ASSERT_TRUE(!holdings_has(&h, "/t/seg-1", 8, 10, HA));
        ASSERT_TRUE(!holdings_has(&h, "/t/seg-2.m4s", 12, 30, HA));
        ASSERT_TRUE(holdings_has(&h, "/t/seg-3.m4s", 12, 40, HB));
        ASSERT_TRUE(!holdings_has(&h, "/t/seg-4.m4s", 12, 40, HB));
        holdings_done(&h);
}

/* A size no object can have is refused by entry: summed, 2^63 - 1 twice and 4 read as 2. */
TEST(holdings_refuses_sizes_over_4_tib)
{
        static const char ok[] = "[{\"key\":\"/a\",\"size\":4398046511104},"
                                 "{\"key\":\"/b\",\"size\":4398046511104},"
                                 "{\"key\":\"/c\",\"size\":4}]";
        static const char over[] = "[{\"key\":\"/a\",\"size\":1},"
                                   "{\"key\":\"/b\",\"size\":4398046511105}]";
        static const char wraps[] = "[{\"key\":\"/a\",\"size\":9223372036854775807},"
                                    "{\"key\":\"/b\",\"size\":9223372036854775807},"
                                    "{\"key\":\"/c\",\"size\":4}]";
        struct holdings h;
        char err[256];

        ASSERT_EQ(holdings_parse(ok, sizeof(ok) - 1, &h, err, sizeof(err)), 0);
        ASSERT_EQ(h.bytes, 2 * HOLDINGS_MAX_SIZE + 4);
        holdings_done(&h);
        ASSERT_EQ(holdings_parse(over, sizeof(over) - 1, &h, err, sizeof(err)), -EINVAL);
        ASSERT_STREQ(err, "listing[1].size: 4398046511105 bytes, more than an object may be "
                          "(4 TiB)");
        ASSERT_EQ(h.n, 0);
        ASSERT_EQ(holdings_parse(wraps, sizeof(wraps) - 1, &h, err, sizeof(err)), -EINVAL);
        ASSERT_STREQ(err, "listing[0].size: 9223372036854775807 bytes, more than an object may "
                          "be (4 TiB)");
}

TEST_MAIN()
