/* SPDX-License-Identifier: MIT */
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

TEST_MAIN()
