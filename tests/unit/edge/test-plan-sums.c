/* SPDX-License-Identifier: MIT */
/* The fill plan's SHA-256 table (edge/plan-sums.c): what is kept, what is skipped, lookups. */
#include <errno.h>
#include <string.h>

#include "plan-sums.h"
#include "tests.h"

#define A64 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define B64 "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"

/* The table, or NULL when json was refused. */
static struct plan_sums *parse(const char *json, size_t *skipped)
{
        struct plan_sums *t = NULL;

        return plan_sums_parse(json, strlen(json), &t, skipped) == 0 ? t : NULL;
}

TEST(kept_and_found)
{
        size_t skipped = 9;
        struct plan_sums *t = parse(
            "{\"edge\":\"e\",\"objects\":["
            "{\"path\":\"t1/video-240p/seg-2.m4s\",\"size\":5,\"sha256\":\"" A64 "\"},"
            "{\"path\":\"t1/video-240p/init.mp4\",\"size\":5,\"sha256\":\"" B64 "\"}]}",
            &skipped);
        char hex[65];

        ASSERT_TRUE(t != NULL);
        ASSERT_EQ(skipped, 0);
        ASSERT_EQ(plan_sums_count(t), 2);
        ASSERT_TRUE(plan_sums_find(t, "/t1/video-240p/seg-2.m4s", 24, hex));
        ASSERT_STREQ(hex, A64);
        ASSERT_TRUE(plan_sums_find(t, "/t1/video-240p/init.mp4", 23, hex));
        ASSERT_EQ(strlen(hex), 64);
        ASSERT_TRUE(hex[0] == 'b'); /* lowercased */
        ASSERT_TRUE(!plan_sums_find(t, "/t1/video-240p/seg-2.m4", 23, hex));
        ASSERT_TRUE(!plan_sums_find(t, "/t1/video-240p/seg-2.m4s/", 25, hex));
        ASSERT_TRUE(!plan_sums_find(t, "t1/video-240p/seg-2.m4s", 23, hex));
        ASSERT_TRUE(!plan_sums_find(NULL, "/t1", 3, hex));
        plan_sums_free(t);
}

TEST(bad_objects_skipped)
{
        size_t skipped = 0;
        struct plan_sums *t = parse(
            "{\"objects\":["
            "{\"path\":\"ok/seg-1.m4s\",\"sha256\":\"" A64 "\"},"
            "{\"path\":\"/absolute\",\"sha256\":\"" A64 "\"},"
            "{\"path\":\"\",\"sha256\":\"" A64 "\"},"
            "{\"path\":\"short/sha\",\"sha256\":\"abc\"},"
            "{\"path\":\"not/hex\",\"sha256\":\"" "g" A64 "\"},"
            "{\"path\":5,\"sha256\":\"" A64 "\"},"
            "{\"sha256\":\"" A64 "\"},"
            "{\"path\":\"no/sha\"},"
            "7]}",
            &skipped);

        ASSERT_TRUE(t != NULL);
        ASSERT_EQ(plan_sums_count(t), 1);
        ASSERT_EQ(skipped, 8);
        plan_sums_free(t);
}

TEST(repeats_kept_once_conflicts_dropped)
{
        size_t skipped = 0;
        char hex[65];
        struct plan_sums *t = parse(
            "{\"objects\":["
            "{\"path\":\"same/a\",\"sha256\":\"" A64 "\"},"
            "{\"path\":\"differ/b\",\"sha256\":\"" A64 "\"},"
            "{\"path\":\"same/a\",\"sha256\":\"" A64 "\"},"
            "{\"path\":\"differ/b\",\"sha256\":\"" B64 "\"},"
            "{\"path\":\"z\",\"sha256\":\"" B64 "\"}]}",
            &skipped);

        ASSERT_TRUE(t != NULL);
        ASSERT_EQ(plan_sums_count(t), 2);
        ASSERT_EQ(skipped, 3);
        ASSERT_TRUE(plan_sums_find(t, "/same/a", 7, hex));
        ASSERT_TRUE(!plan_sums_find(t, "/differ/b", 9, hex));
        ASSERT_TRUE(plan_sums_find(t, "/z", 2, hex));
        plan_sums_free(t);
}

TEST(not_a_plan)
{
        struct plan_sums *t = NULL;

        ASSERT_EQ(plan_sums_parse("", 0, &t, NULL), -EINVAL);
        ASSERT_EQ(plan_sums_parse("[]", 2, &t, NULL), -EINVAL);
        ASSERT_EQ(plan_sums_parse("{\"objects\":{}}", 14, &t, NULL), -EINVAL);
        ASSERT_EQ(plan_sums_parse("{\"objects\":[]", 13, &t, NULL), -EINVAL);
        ASSERT_TRUE(t == NULL);
        t = parse("{\"objects\":[]}", NULL);
        ASSERT_TRUE(t != NULL);
        ASSERT_EQ(plan_sums_count(t), 0);
        plan_sums_free(t);
}

TEST_MAIN()
