/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "tests.h"

#include "holdings.h"
#include "plan.h"

#define H64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static int parse(const char *s, struct plan *p)
{
        char err[256];
        return plan_parse(s, strlen(s), p, err, sizeof(err));
}

TEST(plan_parses_control_shape)
{
        struct plan p;
        const char *doc =
            "{\"edge\":\"edge-a\",\"region\":\"eu\",\"generated\":1767225600,\"objects\":["
            "{\"path\":\"t1/v1/init.mp4\",\"size\":812,\"sha256\":\"" H64 "\","
            "\"url\":\"http://o:9000/t1/v1/init.mp4\",\"asset\":\"t1\",\"score\":4.5},"
            "{\"path\":\"t1/v1/seg-1.m4s\",\"size\":0,\"sha256\":\"" H64 "\","
            "\"url\":\"https://o/t1/v1/seg-1.m4s\"},"
            "{\"path\":\"t1/v1/init.mp4\",\"size\":9,\"sha256\":\"" H64 "\","
            "\"url\":\"http://o/dup\"}]}";
        ASSERT_EQ(parse(doc, &p), 0);
        ASSERT_EQ(p.n, 2);
        ASSERT_EQ(p.dropped_dups, 1);
        ASSERT_STREQ(p.edge, "edge-a");
        ASSERT_EQ(p.generated, 1767225600);
        ASSERT_STREQ(p.objs[0].key, "/t1/v1/init.mp4");
        ASSERT_EQ(p.objs[0].size, 812);
        ASSERT_TRUE(p.objs[0].score == 4.5);
        ASSERT_EQ(p.objs[1].rank, 1);
        const struct plan_obj *o = plan_find(&p, "/t1/v1/seg-1.m4s", 16);
        ASSERT_TRUE(o == &p.objs[1]);
        ASSERT_TRUE(plan_find(&p, "/t1/v1/seg-2.m4s", 16) == NULL);
        plan_done(&p);
}

TEST(plan_refuses_bad_objects)
{
        struct plan p;
        static const char *bad[] = {
            "[]",
            "{\"objects\":{}}",
            "{\"objects\":[{\"path\":\"/abs\",\"size\":1,\"sha256\":\"" H64
            "\",\"url\":\"http://o/a\"}]}",
            "{\"objects\":[{\"path\":\"a/../b\",\"size\":1,\"sha256\":\"" H64
            "\",\"url\":\"http://o/a\"}]}",
            "{\"objects\":[{\"path\":\"a//b\",\"size\":1,\"sha256\":\"" H64
            "\",\"url\":\"http://o/a\"}]}",
            "{\"objects\":[{\"path\":\"a?b\",\"size\":1,\"sha256\":\"" H64
            "\",\"url\":\"http://o/a\"}]}",
            "{\"objects\":[{\"path\":\"a\",\"size\":-1,\"sha256\":\"" H64
            "\",\"url\":\"http://o/a\"}]}",
            "{\"objects\":[{\"path\":\"a\",\"size\":1,\"sha256\":\"abc\",\"url\":\"http://o/a\"}]}",
            "{\"objects\":[{\"path\":\"a\",\"size\":1,\"sha256\":\"" H64
            "\",\"url\":\"file:///etc/passwd\"}]}",
            "{\"objects\":[{\"path\":\"a\",\"size\":1,\"sha256\":\"" H64
            "\",\"url\":\"http://o/a\",\"score\":-1}]}",
            "{\"objects\":[], \"objects\":[]}",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                ASSERT_EQ(parse(bad[i], &p), -EINVAL);
}

TEST(holdings_parse_and_find)
{
        struct holdings h;
        char err[256];
        const char *doc =
            "[{\"key\":\"/b\",\"size\":2,\"sha256\":null,\"hits\":3,\"last_access\":9},"
            "{\"key\":\"/a\",\"size\":1,\"sha256\":\"" H64 "\"}]";
        ASSERT_EQ(holdings_parse(doc, strlen(doc), &h, err, sizeof(err)), 0);
        ASSERT_EQ(h.n, 2);
        ASSERT_STREQ(h.objs[0].key, "/a");
        ASSERT_TRUE(h.objs[0].has_sha256);
        const struct held_obj *b = holdings_find(&h, "/b", 2);
        ASSERT_TRUE(b && !b->has_sha256 && b->hits == 3);
        holdings_done(&h);
        const char *dup = "[{\"key\":\"/a\",\"size\":1},{\"key\":\"/a\",\"size\":1}]";
        ASSERT_EQ(holdings_parse(dup, strlen(dup), &h, err, sizeof(err)), -EINVAL);
        const char *rel = "[{\"key\":\"a\",\"size\":1}]";
        ASSERT_EQ(holdings_parse(rel, strlen(rel), &h, err, sizeof(err)), -EINVAL);
        uint64_t bytes, max;
        ASSERT_EQ(holdings_parse_health("{\"bytes\":5,\"max_bytes\":9}", 25, &bytes, &max), 0);
        ASSERT_EQ(max, 9);
}

TEST_MAIN()
