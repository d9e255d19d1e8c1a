/* SPDX-License-Identifier: MIT */
/*
 * control/cache.c, included so that its allocations can fail on demand: the edge snapshot
 * stays valid for the cache and for the caller when the index of its titles cannot be made.
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

TEST(edges_put_without_memory_for_their_index)
{
        struct ctl_cache *c = NULL;
        json_t *edges = json_loads("[{\"titles\":[\"t1\"]}]", 0, NULL), *got;

        ASSERT_TRUE(edges);
        ASSERT_EQ(ctl_cache_new(1000, &c), 0);
        calloc_fail_in = 0; /* the index of the edges' titles */
        got = ctl_cache_edges_put(c, edges, 0);
        calloc_fail_in = -1;
        ASSERT_TRUE(got == edges);
        ASSERT_EQ(edges->refcount, 2); /* the cache's and the caller's */
        json_decref(got);
        got = ctl_cache_edges_get(c, 1);
        ASSERT_TRUE(got == edges);
        json_decref(got);
        ctl_cache_free(c);
}

TEST(edges_put_without_memory_for_one_edge)
{
        struct ctl_cache *c = NULL;
        json_t *edges = json_loads("[{\"titles\":[\"t1\"]},{\"titles\":[\"t2\"]}]", 0, NULL);
        json_t *got;

        ASSERT_TRUE(edges);
        ASSERT_EQ(ctl_cache_new(1000, &c), 0);
        calloc_fail_in = 1; /* the first edge's titles */
        got = ctl_cache_edges_put(c, edges, 0);
        calloc_fail_in = -1;
        ASSERT_TRUE(got == edges);
        ASSERT_EQ(edges->refcount, 2);
        ASSERT_TRUE(ctl_cache_edge_holds(c, edges, 1, "t2"));
        json_decref(got);
        ctl_cache_free(c);
}

TEST_MAIN()
