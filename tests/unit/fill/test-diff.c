/* SPDX-License-Identifier: MIT */
#include "tests.h"

#include "diff.h"

#define HA "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define HB "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static void load(struct plan *p, struct holdings *h, const char *pj, const char *hj, uint64_t used,
                 uint64_t max)
{
        char err[256];
        if (plan_parse(pj, strlen(pj), p, err, sizeof(err)) < 0)
                fprintf(stderr, "plan: %s\n", err);
        if (holdings_parse(hj, strlen(hj), h, err, sizeof(err)) < 0)
                fprintf(stderr, "holdings: %s\n", err);
        h->bytes = used;
        h->max_bytes = max;
}

#define OBJ(path, size, sha, score)                                                                \
        "{\"path\":\"" path "\",\"size\":" #size ",\"sha256\":\"" sha                              \
        "\",\"url\":\"http://o/" path "\",\"score\":" #score "}"

TEST(diff_held_add_replace)
{
        struct plan p;
        struct holdings h;
        struct diff d;
        load(&p, &h,
             "{\"objects\":[" OBJ("a", 100, HA, 2) "," OBJ("b", 100, HA, 1) "," OBJ("c", 50, HB,
                                                                                    1) "]}",
             "[{\"key\":\"/a\",\"size\":100,\"sha256\":\"" HA "\"},"
             "{\"key\":\"/c\",\"size\":50,\"sha256\":\"" HA "\"}]",
             150, 1000);
        ASSERT_EQ(diff_compute(&p, &h, true, 0, &d), 0);
        ASSERT_EQ(d.items[0].state, DIFF_HELD);
        ASSERT_EQ(d.items[1].state, DIFF_ADD);
        ASSERT_EQ(d.items[2].state, DIFF_REPLACE);
        ASSERT_EQ(d.add_objects, 2);
        ASSERT_EQ(d.add_bytes, 150);
        ASSERT_EQ(d.n_evict, 0);
        /* weights: a 200, b 100, c 50 of 350; before 200/350, after all. */
        ASSERT_TRUE(d.coverage_before > 0.571 && d.coverage_before < 0.572);
        ASSERT_TRUE(d.coverage_after > 0.999);
        diff_done(&d);
        plan_done(&p);
        holdings_done(&h);
}

TEST(diff_budget_and_eviction)
{
        struct plan p;
        struct holdings h;
        struct diff d;
        /* 1000 budget, 900 used by two unplanned objects; the plan wants 600 + 300 + 50. */
        load(&p, &h,
             "{\"objects\":[" OBJ("big", 600, HA, 3) "," OBJ("mid", 300, HA, 2) "," OBJ("small", 50,
                                                                                        HA, 1) "]}",
             "[{\"key\":\"/cold\",\"size\":500,\"hits\":1},{\"key\":\"/"
             "warm\",\"size\":400,\"hits\":9}]",
             900, 1000);
        ASSERT_EQ(diff_compute(&p, &h, false, 0, &d), 0);
        ASSERT_EQ(d.items[0].state, DIFF_NO_ROOM);
        ASSERT_EQ(d.items[1].state, DIFF_NO_ROOM);
        ASSERT_EQ(d.items[2].state, DIFF_ADD); /* a smaller later object still fits */
        ASSERT_EQ(d.n_evict, 0);
        diff_done(&d);

        ASSERT_EQ(diff_compute(&p, &h, true, 0, &d), 0);
        /* big needs 600: evict cold (fewest hits) then warm; mid then fits in what is left. */
        ASSERT_EQ(d.items[0].state, DIFF_ADD);
        ASSERT_EQ(d.n_evict, 2);
        ASSERT_STREQ(d.evict[0]->key, "/cold");
        ASSERT_EQ(d.evict_bytes, 900);
        ASSERT_EQ(d.items[1].state, DIFF_ADD);
        ASSERT_EQ(d.items[2].state, DIFF_ADD);
        ASSERT_EQ(d.free_bytes, 100);
        diff_done(&d);

        /* A run limited to one object makes room for that one only: cold goes, warm stays. */
        ASSERT_EQ(diff_compute(&p, &h, true, 1, &d), 0);
        ASSERT_EQ(d.items[0].state, DIFF_ADD);
        ASSERT_EQ(d.items[1].state, DIFF_OVER_LIMIT);
        ASSERT_EQ(d.items[2].state, DIFF_OVER_LIMIT);
        ASSERT_EQ(d.add_objects, 1);
        ASSERT_EQ(d.over_limit_objects, 2);
        ASSERT_EQ(d.over_limit_bytes, 350);
        ASSERT_EQ(d.n_evict, 1);
        ASSERT_STREQ(d.evict[0]->key, "/cold");
        ASSERT_EQ(d.evict_bytes, 500);
        diff_done(&d);
        plan_done(&p);
        holdings_done(&h);
}

TEST(diff_unhashed_object_of_same_size_is_held)
{
        struct plan p;
        struct holdings h;
        struct diff d;
        load(&p, &h, "{\"objects\":[" OBJ("a", 10, HA, 1) "]}",
             "[{\"key\":\"/a\",\"size\":10,\"sha256\":null}]", 10, 100);
        ASSERT_EQ(diff_compute(&p, &h, true, 0, &d), 0);
        ASSERT_EQ(d.items[0].state, DIFF_HELD);
        ASSERT_EQ(d.unplanned_objects, 0);
        diff_done(&d);
        plan_done(&p);
        holdings_done(&h);
}

TEST_MAIN()
