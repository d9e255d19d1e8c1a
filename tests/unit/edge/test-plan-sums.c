/* SPDX-License-Identifier: MIT */
/* The fill plan's SHA-256 table (edge/plan-sums.c): what is kept, what is skipped, lookups. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bug.h"
#include "plan-sums.h"
#include "json-alloc.h"
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

/* A plan of PLAN_SUMS_MAX objects as control writes them (docs/control.md), kept whole. */
TEST(full_plan_kept)
{
        const char *obj = "{\"path\":\"t/video-1080p/seg-100.m4s\",\"size\":123456,\"sha256\":"
                          "\"" A64 "\",\"url\":\"http://origin.example:9000/t/video-1080p/"
                          "seg-100.m4s\",\"asset\":\"t\",\"score\":12.5}";
        struct plan_sums *t = NULL;
        size_t len, skipped = 0;
        char *s = json_repeated("{\"objects\":[", obj, PLAN_SUMS_MAX, "]}", &len);

        ASSERT_TRUE(s != NULL);
        ASSERT_EQ(plan_sums_parse(s, len, &t, &skipped), 0);
        /* One path, listed PLAN_SUMS_MAX times with one sum: kept once. */
        ASSERT_EQ(plan_sums_count(t), 1);
        ASSERT_EQ(skipped, PLAN_SUMS_MAX - 1);
        plan_sums_free(t);
        free(s);
}

/*
 * An answer of a few MB that is no plan's shape costs jansson about 70 times its length in
 * memory (an empty object about 200 bytes): a 64 MB one, the most a fetch takes, took 5 GB
 * before it was refused for holding over PLAN_SUMS_MAX objects. It is refused from its text.
 */
TEST(garbage_refused_before_it_is_built)
{
        static const char *const units[] = {"{}", "[]", "0", "{\"a\":0,\"b\":0,\"c\":0}"};
        struct plan_sums *t = NULL;

        for (size_t i = 0; i < ARRAY_SIZE(units); i++) {
                size_t len;
                char *s = json_repeated("{\"objects\":[", units[i], 4000000, "]}", &len);

                ASSERT_TRUE(s != NULL);
                json_counting_start(len);
                ASSERT_EQ(plan_sums_parse(s, len, &t, NULL), -EINVAL);
                ASSERT_TRUE(t == NULL);
                if (json_counting_stop()) {
                        printf("  %s x 4000000 (%zu bytes): jansson wanted more than that\n",
                               units[i], len);
                        ASSERT_TRUE(false);
                }
                free(s);
        }
}

TEST_MAIN()
