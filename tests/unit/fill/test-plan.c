/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "tests.h"

#include "diff.h"
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

/*
 * A path the edge would refuse as a key (400 "bad object path" or "key too long"), or store
 * under another key, fails the plan before anything is sent, naming the object: a space
 * (the edge refuses it encoded as %20 as well), a leading s/<token> segment (the edge takes
 * it for a signed-URL token) and a key over 511 bytes. A space passed, and every object
 * with one was refused 400 by the edge at its PUT.
 */
TEST(plan_refuses_paths_the_edge_refuses)
{
        struct plan p;
        char doc[2048], path[600], err[256];
        static const char obj[] = "{\"edge\":\"e\",\"objects\":[{\"path\":\"t1/v1/ok.m4s\","
                                  "\"size\":1,\"sha256\":\"" H64 "\",\"url\":\"http://o/a\"},"
                                  "{\"path\":\"%s\",\"size\":1,\"sha256\":\"" H64
                                  "\",\"url\":\"http://o/b\"}]}";
        static const char *const bad[] = {"t1/v1/seg 1.m4s", " t1/a.m4s", "t1/a.m4s ",
                                          "s/abc/t1/a.m4s", "s/eyJh.eyJi.c2ln/t1/a.m4s"};

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                snprintf(doc, sizeof(doc), obj, bad[i]);
                err[0] = '\0';
                ASSERT_EQ(plan_parse(doc, strlen(doc), &p, err, sizeof(err)), -EINVAL);
                ASSERT_TRUE(strstr(err, "objects[1].path: ") != NULL);
        }
        snprintf(doc, sizeof(doc), obj, "t1/v1/seg 1.m4s");
        ASSERT_EQ(plan_parse(doc, strlen(doc), &p, err, sizeof(err)), -EINVAL);
        ASSERT_TRUE(strstr(err, "space") != NULL);

        /* The longest key the edge takes is 511 bytes, "/" included. */
        memset(path, 'a', sizeof(path));
        path[510] = '\0';
        snprintf(doc, sizeof(doc), obj, path);
        ASSERT_EQ(plan_parse(doc, strlen(doc), &p, err, sizeof(err)), 0);
        ASSERT_EQ(p.objs[1].key_len, 511);
        plan_done(&p);
        path[510] = 'a';
        path[511] = '\0';
        snprintf(doc, sizeof(doc), obj, path);
        ASSERT_EQ(plan_parse(doc, strlen(doc), &p, err, sizeof(err)), -EINVAL);
        ASSERT_TRUE(strstr(err, "objects[1].path: ") != NULL);

        /* What the edge does take stays: s/ further in, a name "s", bytes past ASCII. */
        snprintf(doc, sizeof(doc), obj, "t1/s/abc/a.m4s");
        ASSERT_EQ(plan_parse(doc, strlen(doc), &p, err, sizeof(err)), 0);
        plan_done(&p);
        snprintf(doc, sizeof(doc), obj, "s");
        ASSERT_EQ(plan_parse(doc, strlen(doc), &p, err, sizeof(err)), 0);
        plan_done(&p);
        snprintf(doc, sizeof(doc), obj, "t1/\xc3\xa9t\xc3\xa9.m4s");
        ASSERT_EQ(plan_parse(doc, strlen(doc), &p, err, sizeof(err)), 0);
        ASSERT_STREQ(p.objs[1].key, "/t1/\xc3\xa9t\xc3\xa9.m4s");
        plan_done(&p);
}

/*
 * Sizes are bounded (4 TiB) so that a plan's totals are right whatever it says: three objects
 * of 2^63 - 1 bytes were taken and their "no room" sum wrapped to 2^63 - 3.
 */
TEST(plan_sizes_bounded_so_totals_hold)
{
        struct plan p;
        struct holdings h;
        struct diff d;
        char doc[1024], err[256];
        static const char obj[] = "{\"path\":\"%c\",\"size\":%s,\"sha256\":\"" H64
                                  "\",\"url\":\"http://o/a\"}";
        char o1[256], o2[256], o3[256];
        const char *tib4 = "4398046511104";

        snprintf(o1, sizeof(o1), obj, 'a', tib4);
        snprintf(o2, sizeof(o2), obj, 'b', tib4);
        snprintf(o3, sizeof(o3), obj, 'c', tib4);
        snprintf(doc, sizeof(doc), "{\"edge\":\"e\",\"objects\":[%s,%s,%s]}", o1, o2, o3);
        ASSERT_EQ(parse(doc, &p), 0);
        memset(&h, 0, sizeof(h));
        ASSERT_EQ(diff_compute(&p, &h, true, 0, &d), 0);
        ASSERT_EQ(d.no_room_objects, 3);
        ASSERT_EQ(d.no_room_bytes, 3 * 4398046511104ull);
        diff_done(&d);
        plan_done(&p);

        static const char *const over[] = {"4398046511105", "9223372036854775807"};
        for (size_t i = 0; i < 2; i++) {
                snprintf(o1, sizeof(o1), obj, 'a', over[i]);
                snprintf(doc, sizeof(doc), "{\"edge\":\"e\",\"objects\":[%s]}", o1);
                ASSERT_EQ(plan_parse(doc, strlen(doc), &p, err, sizeof(err)), -EINVAL);
                ASSERT_TRUE(strstr(err, "objects[0].size: ") != NULL);
                ASSERT_TRUE(strstr(err, " bytes, more than an object may be (4 TiB)") != NULL);
        }
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
