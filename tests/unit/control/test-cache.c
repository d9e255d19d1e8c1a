/* SPDX-License-Identifier: MIT */
/*
 * control/cache.c, included so that its allocations can fail on demand: the edge snapshot
 * stays valid for the cache and for the caller when the index of its holdings cannot be made;
 * and the holdings kept from one snapshot to the next.
 */
#include <stdlib.h>

#include <jansson.h>

#include "tests.h"

static int calloc_fail_in = -1; /* 0: the next calloc fails; -1: none does */

static void *test_calloc(size_t n, size_t size)
{
        if (calloc_fail_in >= 0 && calloc_fail_in-- == 0)
                return NULL;
        return calloc(n, size);
}

#define calloc test_calloc
#include "cache.c"
#undef calloc

static json_t *edges_of(const char *text)
{
        return json_loads(text, 0, NULL);
}

TEST(edges_put_without_memory_for_their_index)
{
        struct ctl_cache *c = NULL;
        json_t *edges = edges_of("[{\"id\":\"a\",\"titles_gen\":3}]"), *got;
        struct ctl_edge_titles t[] = {{"a", 3, "t1", 2}};
        char *known;

        ASSERT_TRUE(edges);
        ASSERT_EQ(ctl_cache_new(1000, &c), 0);
        calloc_fail_in = 0; /* the index of the edges' holdings */
        got = ctl_cache_edges_put(c, edges, t, 1, 0);
        calloc_fail_in = -1;
        ASSERT_TRUE(got == edges);
        ASSERT_EQ(edges->refcount, 2); /* the cache's and the caller's */
        ASSERT_TRUE(!ctl_cache_edge_holds(c, edges, 0, "t1"));
        known = ctl_cache_edges_known(c); /* asked for again */
        ASSERT_STREQ(known, "{}");
        free(known);
        json_decref(got);
        got = ctl_cache_edges_get(c, 1);
        ASSERT_TRUE(got == edges);
        json_decref(got);
        ctl_cache_free(c);
}

TEST(edges_put_without_memory_for_one_edge)
{
        struct ctl_cache *c = NULL;
        json_t *edges =
            edges_of("[{\"id\":\"a\",\"titles_gen\":3},{\"id\":\"b\",\"titles_gen\":4}]");
        struct ctl_edge_titles t[] = {{"a", 3, "t1", 2}, {"b", 4, "t2", 2}};
        json_t *got;
        char *known;

        ASSERT_TRUE(edges);
        ASSERT_EQ(ctl_cache_new(1000, &c), 0);
        calloc_fail_in = 1; /* the first edge's titles */
        got = ctl_cache_edges_put(c, edges, t, 2, 0);
        calloc_fail_in = -1;
        ASSERT_TRUE(got == edges);
        ASSERT_EQ(edges->refcount, 2);
        ASSERT_TRUE(!ctl_cache_edge_holds(c, edges, 0, "t1"));
        ASSERT_TRUE(ctl_cache_edge_holds(c, edges, 1, "t2"));
        /* The edge whose holdings could not be kept is asked for again. */
        known = ctl_cache_edges_known(c);
        ASSERT_STREQ(known, "{\"b\":4}");
        free(known);
        json_decref(got);
        ctl_cache_free(c);
}

/* Holdings come once per titles_gen: a snapshot without them keeps those held, by edge id
 * whatever the order, also with the cache off; an edge left out of the set is forgotten. */
TEST(edges_holdings_kept_across_snapshots)
{
        for (uint64_t ttl = 0; ttl <= 1000; ttl += 1000) {
                struct ctl_cache *c = NULL;
                json_t *e1 = edges_of("[{\"id\":\"a\",\"titles_gen\":3},"
                                      "{\"id\":\"b\",\"titles_gen\":4},"
                                      "{\"id\":\"c\",\"titles_gen\":0}]");
                json_t *e2 = edges_of("[{\"id\":\"b\",\"titles_gen\":9},"
                                      "{\"id\":\"a\",\"titles_gen\":3}]");
                struct ctl_edge_titles t1[] = {{"b", 4, "", 0}, {"a", 3, "z\nm1\n\nb\n", 8}};
                struct ctl_edge_titles t2[] = {{"b", 9, "m1", 2}};
                json_t *got;
                char *known;

                ASSERT_TRUE(e1 && e2);
                ASSERT_EQ(ctl_cache_new(ttl, &c), 0);
                got = ctl_cache_edges_put(c, e1, t1, 2, 0);
                ASSERT_TRUE(ctl_cache_edge_holds(c, got, 0, "m1"));
                ASSERT_TRUE(ctl_cache_edge_holds(c, got, 0, "z"));
                ASSERT_TRUE(ctl_cache_edge_holds(c, got, 0, "b"));
                ASSERT_TRUE(!ctl_cache_edge_holds(c, got, 0, "m"));
                ASSERT_TRUE(!ctl_cache_edge_holds(c, got, 0, ""));
                ASSERT_TRUE(!ctl_cache_edge_holds(c, got, 1, "m1"));
                ASSERT_TRUE(!ctl_cache_edge_holds(c, got, 2, "m1"));
                known = ctl_cache_edges_known(c);
                ASSERT_STREQ(known, "{\"a\":3,\"b\":4}");
                free(known);
                ctl_cache_edges_forget(c);
                ASSERT_TRUE(ctl_cache_edge_holds(c, got, 0, "m1")); /* kept past a forget */
                json_decref(got);
                got = ctl_cache_edges_put(c, e2, t2, 1, 1);
                ASSERT_TRUE(ctl_cache_edge_holds(c, got, 0, "m1"));
                ASSERT_TRUE(!ctl_cache_edge_holds(c, got, 0, "b"));
                ASSERT_TRUE(ctl_cache_edge_holds(c, got, 1, "m1"));
                ASSERT_TRUE(ctl_cache_edge_holds(c, got, 1, "b"));
                known = ctl_cache_edges_known(c);
                ASSERT_STREQ(known, "{\"b\":9,\"a\":3}");
                free(known);
                json_decref(got);
                ctl_cache_free(c);
        }
}

TEST_MAIN()
