/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>

#include <jansson.h>

#include "buf.h"
#include "json-depth.h"
#include "json-alloc.h"
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

/*
 * Text that is no plan's shape costs jansson far more than its length (about 200 bytes an
 * empty object, 70 a string, 30 a number): 256 MB of "{}," would be about 18 GB. It is
 * refused from its text, before jansson is asked for more than the text's length. The counts
 * are just past what PLAN_MAX_OBJECTS objects may hold: 2 containers and 32 values each.
 */
TEST(plan_garbage_refused_before_it_is_built)
{
        static const struct {
                const char *unit;
                size_t n;
        } cases[] = {{"{}", 4100000}, {"[]", 4100000}, {"0", 64100000},
                     {"{\"a\":0,\"b\":0,\"c\":0}", 4100000}};
        struct plan p;
        char err[256];

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                size_t len;
                char *s = json_repeated("{\"edge\":\"e\",\"objects\":[", cases[i].unit, cases[i].n,
                                   "]}", &len);

                ASSERT_TRUE(s != NULL);
                json_counting_start(len);
                ASSERT_EQ(plan_parse(s, len, &p, err, sizeof(err)), -E2BIG);
                free(s);
                if (json_counting_stop()) {
                        printf("  %s x %zu (%zu bytes): jansson wanted more than that\n",
                               cases[i].unit, cases[i].n, len);
                        ASSERT_TRUE(false);
                }
                ASSERT_TRUE(strstr(err, "plan: more JSON values than ") != NULL);
        }
}

/* The same for an edge's listing page, whose counts stop at 2 containers and 32 values for
 * each of HOLDINGS_MAX_OBJECTS entries. */
TEST(listing_garbage_refused_before_it_is_built)
{
        static const char *const units[] = {"{}", "[]", "{\"a\":0,\"b\":0,\"c\":0}"};
        struct holdings h;
        char err[256];

        for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
                size_t len;
                char *s = json_repeated("[", units[i], 8100000, "]", &len);

                ASSERT_TRUE(s != NULL);
                json_counting_start(len);
                ASSERT_EQ(holdings_parse(s, len, &h, err, sizeof(err)), -E2BIG);
                free(s);
                if (json_counting_stop()) {
                        printf("  %s x 8100000 (%zu bytes): jansson wanted more than that\n",
                               units[i], len);
                        ASSERT_TRUE(false);
                }
                ASSERT_TRUE(strstr(err, "listing: more JSON values than ") != NULL);
        }
}

/*
 * What the counts let through: the text of a full plan, PLAN_MAX_OBJECTS objects as control
 * writes them (all six members), and of a full listing page, HOLDINGS_MAX_OBJECTS entries as
 * the edge writes them (key_pct too, the most members an entry has), each within its limits.
 * Only their counts are checked here (jansson would build GBs of them, and the text is a few
 * hundred MB already); a plan of 100,000 objects, control's default, is parsed whole.
 */
TEST(full_plan_and_listing_pass_the_counts)
{
        static const char obj[] = "{\"path\":\"t/s.m4s\",\"size\":1,\"sha256\":\"" H64 "\","
                                  "\"url\":\"http://o/t/s.m4s\",\"asset\":\"t\",\"score\":1.5}";
        static const char entry[] = "{\"key\":\"/\\u00ff\",\"key_pct\":\"%FF\",\"size\":1,"
                                    "\"sha256\":null,\"hits\":1,\"last_access\":1}";
        struct plan p;
        char err[256];
        size_t len;
        char *s = json_repeated("{\"edge\":\"e\",\"region\":\"eu\",\"generated\":1,\"tz\":\"UTC\","
                           "\"objects\":[",
                           obj, PLAN_MAX_OBJECTS, "]}", &len);

        ASSERT_TRUE(s != NULL);
        ASSERT_TRUE(json_shape_within(s, len, PLAN_MAX_CONTAINERS, PLAN_MAX_VALUES));
        free(s);
        s = json_repeated("[", entry, HOLDINGS_MAX_OBJECTS, "]", &len);
        ASSERT_TRUE(s != NULL);
        ASSERT_TRUE(json_shape_within(s, len, HOLDINGS_MAX_CONTAINERS, HOLDINGS_MAX_VALUES));
        free(s);

        struct buf b;
        buf_init(&b, PLAN_MAX_BYTES);
        (void)buf_printf(&b, "{\"edge\":\"e\",\"objects\":[");
        for (size_t i = 0; i < 100000; i++)
                (void)buf_printf(&b,
                                 "%s{\"path\":\"t/v/seg-%zu.m4s\",\"size\":%zu,\"sha256\":\"" H64
                                 "\",\"url\":\"http://o:9000/t/v/seg-%zu.m4s\",\"asset\":\"t\","
                                 "\"score\":%zu.5}",
                                 i ? "," : "", i, i, i, 100000 - i);
        (void)buf_printf(&b, "]}");
        ASSERT_TRUE(!b.err);
        ASSERT_EQ(plan_parse(b.p, b.len, &p, err, sizeof(err)), 0);
        ASSERT_EQ(p.n, 100000);
        plan_done(&p);
        buf_done(&b);
}

TEST_MAIN()
