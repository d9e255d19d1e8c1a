/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "route-match.h"
#include "tests.h"

static char arg[ROUTE_ARGS][ROUTE_ARG_CAP];

/* pre, then n copies of c, then post, as a path. */
static const char *path_of(const char *pre, size_t n, char c, const char *post)
{
        static char buf[2 * ROUTE_ARG_CAP];
        size_t l = strlen(pre), m = strlen(post);

        memcpy(buf, pre, l);
        memset(buf + l, c, n);
        memcpy(buf + l + n, post, m + 1);
        return buf;
}

TEST(literal_and_captures)
{
        ASSERT_TRUE(route_match("/healthz", "/healthz", false, arg));
        ASSERT_TRUE(!route_match("/healthz", "/healthz/", false, arg));
        ASSERT_TRUE(!route_match("/healthz", "", false, arg));
        ASSERT_TRUE(
            route_match("/v1/manifest/*/*", "/v1/manifest/S1.a.b/video-720p.m3u8", true, arg));
        ASSERT_STREQ(arg[0], "S1.a.b");
        ASSERT_STREQ(arg[1], "video-720p.m3u8");
        ASSERT_TRUE(route_match("/v1/edges/*/heartbeat", "/v1/edges/edge-1/heartbeat", false, arg));
        ASSERT_STREQ(arg[0], "edge-1");
}

TEST(refused_segments)
{
        ASSERT_TRUE(!route_match("/v1/titles/*", "/v1/titles/", false, arg));
        ASSERT_TRUE(!route_match("/v1/titles/*", "/v1/titles/.x", false, arg));
        ASSERT_TRUE(!route_match("/v1/titles/*", "/v1/titles/a%2Fb", false, arg));
        ASSERT_TRUE(!route_match("/v1/titles/*", "/v1/titles/a/b", false, arg));
        ASSERT_TRUE(!route_match("/v1/edges/*/heartbeat", "/v1/edges//heartbeat", false, arg));
}

/* An id is 1..128 characters (the schema's sluice_id), as router.h promises. */
TEST(id_length)
{
        ASSERT_TRUE(route_match("/v1/titles/*", path_of("/v1/titles/", 128, 'a', ""), false, arg));
        ASSERT_EQ(strlen(arg[0]), 128);
        ASSERT_TRUE(!route_match("/v1/titles/*", path_of("/v1/titles/", 129, 'a', ""), false, arg));
        ASSERT_TRUE(!route_match("/v1/edges/*/heartbeat",
                                 path_of("/v1/edges/", 129, 'e', "/heartbeat"), false, arg));
        ASSERT_TRUE(!route_match("/v1/manifest/*/*", path_of("/v1/manifest/S1.a/", 129, 'v', ""),
                                 true, arg));
}

/* The first capture of a session route is a signed session id: up to ROUTE_ARG_CAP - 1. */
TEST(session_length)
{
        ASSERT_TRUE(route_match("/v1/steering/*",
                                path_of("/v1/steering/", ROUTE_ARG_CAP - 1, 's', ""), true, arg));
        ASSERT_EQ(strlen(arg[0]), ROUTE_ARG_CAP - 1);
        ASSERT_TRUE(!route_match("/v1/steering/*", path_of("/v1/steering/", ROUTE_ARG_CAP, 's', ""),
                                 true, arg));
        ASSERT_TRUE(
            !route_match("/v1/steering/*", path_of("/v1/steering/", 129, 's', ""), false, arg));
}

TEST_MAIN()
