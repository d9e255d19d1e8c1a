/* SPDX-License-Identifier: MIT */
#include <stdint.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "json-depth.h"
#include "tests.h"

static bool exceeds(const char *s, size_t max)
{
        return json_depth_exceeds(s, strlen(s), max);
}

TEST(depths)
{
        ASSERT_TRUE(!exceeds("", 0));
        ASSERT_TRUE(!exceeds("1", 0));
        ASSERT_TRUE(exceeds("{}", 0));
        ASSERT_TRUE(!exceeds("{}", 1));
        ASSERT_TRUE(!exceeds("{\"a\":[1,2,{\"b\":3}]}", 3));
        ASSERT_TRUE(exceeds("{\"a\":[1,2,{\"b\":3}]}", 2));
        /* siblings do not add up: depth, not count */
        ASSERT_TRUE(!exceeds("[[],[],[],{},{}]", 2));
        ASSERT_TRUE(exceeds("[[],[[]]]", 2));
}

/* The depth itself, and the scan stopping at the first bracket past the limit. */
TEST(depth_value)
{
        ASSERT_EQ(json_depth("", 0, 0), 0);
        ASSERT_EQ(json_depth("[[],[[]]] {}", 12, 8), 3);
        ASSERT_EQ(json_depth("[[],[[]]] {}", 12, 3), 3);
        ASSERT_EQ(json_depth("[[],[[]]] {}", 12, 2), 3);
        ASSERT_EQ(json_depth("[[[[[[", 6, 2), 3);
        ASSERT_EQ(json_depth("[[[[[[", 6, 0), 1);
        ASSERT_EQ(json_depth("[[[[[[", 6, SIZE_MAX), 6);
}

/* Brackets inside strings are text, escaped quotes included. */
TEST(strings_are_not_counted)
{
        ASSERT_TRUE(!exceeds("{\"a\":\"[[[[{{{{\"}", 1));
        ASSERT_TRUE(!exceeds("{\"a\":\"\\\"[[[[\"}", 1));
        ASSERT_TRUE(!exceeds("{\"a\\\\\":\"x\",\"b\":[1]}", 2));
        ASSERT_TRUE(exceeds("{\"a\\\\\":\"x\",\"b\":[1]}", 1));
}

/* Malformed text is measured all the same: the parser refuses it later. */
TEST(malformed_is_measured)
{
        char deep[4097];

        memset(deep, '[', sizeof(deep) - 1);
        deep[sizeof(deep) - 1] = '\0';
        ASSERT_TRUE(exceeds(deep, 64));
        ASSERT_TRUE(!exceeds(deep, 4096));
        ASSERT_TRUE(!exceeds("]]]]}}}}", 0));
        ASSERT_TRUE(!exceeds("\"[[[[", 0)); /* an unclosed string holds the rest */
        /* the length bounds the scan, not a NUL */
        ASSERT_TRUE(!json_depth_exceeds("[[[[", 1, 1));
        ASSERT_TRUE(json_depth_exceeds("[[[[", 2, 1));
}

/* ---- the depth itself, case by case (a body control took from clients) ---- */

#define S(lit) lit, sizeof(lit) - 1

struct depth_case {
        const char *buf;
        size_t len;
        size_t limit;
        size_t depth; /* exact when within the limit; else only > limit is asked */
};

static const struct depth_case depth_cases[] = {
        /* no brackets */
        {S(""), 0, 0},
        {S("1"), 0, 0},
        {S("\"x\""), 0, 0},
        {S("true"), 4, 0},
        /* depth, not count: siblings do not add up */
        {S("{}"), 1, 1},
        {S("[]"), 1, 1},
        {S("[[]]"), 2, 2},
        {S("[[],[],{},{\"a\":1}]"), 2, 2},
        {S("{\"a\":[1,2,{\"b\":3}],\"c\":{}}"), 8, 3},
        {S("[[[]]] [[]] ["), 8, 3},
        /* brackets in strings are text; escapes, escaped quotes and backslashes included */
        {S("{\"a\":\"[[[[{{{{\"}"), 1, 1},
        {S("[\"\\\"[[[\"]"), 1, 1},
        {S("[\"\\\\\",[1]]"), 2, 2},
        {S("[\"\\\\\\\"[\",[1]]"), 2, 2},
        {S("{\"[[\":{\"}}\":[\"]]\"]}}"), 3, 3},
        {S("\"[[[["), 0, 0},          /* an unclosed string holds the rest */
        {S("\"\\\"[[[["), 0, 0},      /* so does one whose quote is escaped */
        {S("\"\\"), 0, 0},            /* and one cut in an escape */
        /* malformed text is measured all the same: stray closers never go below zero,
         * mismatched ones close */
        {S("]]]]}}}}"), 0, 0},
        {S("]]][[["), 3, 3},
        {S("[]][["), 2, 2},
        {S("[}[}[}"), 1, 1},
        {S("{]{]{"), 1, 1},
        {S("[[[[[["), 6, 6},
        /* the length bounds the scan, not a NUL */
        {"[[[[", 2, 2, 2},
        {"[[[[", 0, 0, 0},
        {S("[\0[\0["), 3, 3},
        {S("[\"\0[\"]"), 1, 1},
        /* at the limit accepted, one past refused */
        {S("[1]"), 1, 1},
        {S("[[1]]"), 1, 2},
        {S("{\"a\":{\"b\":{}}}"), 3, 3},
        {S("{\"a\":{\"b\":{\"c\":[]}}}"), 3, 4},
        {S("{\"a\":[[[[[[[1]]]]]]]}"), 8, 8},
        {S("{\"a\":[[[[[[[[1]]]]]]]]}"), 8, 9},
        {S("{\"x\":[1]}"), 2, 2},
        {S("{\"x\":[[1]]}"), 2, 3},
        {S("{}"), 0, 1},
        {S("[[],[[]]]"), 3, 3},
        {S("[[],[[[]]]]"), 3, 4},
        /* the depth past the limit may come after the shallow part */
        {S("[1,2,3,4,5,6,7,8,9,[[2]]]"), 2, 3},
        {S("{\"a\":\"[[[\",\"b\":[[]]}"), 2, 3},
};

TEST(json_depth)
{
        for (size_t i = 0; i < sizeof(depth_cases) / sizeof(depth_cases[0]); i++) {
                const struct depth_case *c = &depth_cases[i];
                size_t d = json_depth(c->buf, c->len, c->limit);
                bool over = c->depth > c->limit;

                if (over ? d <= c->limit : d != c->depth)
                        TEST_FAIL_AT("case %zu (\"%.*s\", limit %zu): %zu, want %s%zu", i,
                                     (int)c->len, c->buf, c->limit, d, over ? "> " : "",
                                     over ? c->limit : c->depth);
        }
}

/* Every depth around every limit from 0 to 10: n levels of arrays pass a limit of n and fail
 * one of n - 1, whatever surrounds them. */
TEST(json_depth_every_limit)
{
        char buf[64];

        for (size_t n = 0; n <= 10; n++) {
                size_t len = 0;

                buf[len++] = '1';
                for (size_t k = 0; k < n; k++)
                        buf[len++] = '[';
                buf[len++] = '0';
                for (size_t k = 0; k < n; k++)
                        buf[len++] = ']';
                ASSERT_EQ(json_depth(buf, len, n), n);
                ASSERT_EQ(json_depth(buf, len, n + 1), n);
                ASSERT_EQ(json_depth(buf, len, SIZE_MAX), n);
                if (n > 0)
                        ASSERT_TRUE(json_depth(buf, len, n - 1) > n - 1);
        }
}

/* Far past the limit, the scan stops at the first bracket over it. */
TEST(json_depth_stops_early)
{
        static char deep[1 << 20];

        memset(deep, '[', sizeof(deep));
        ASSERT_EQ(json_depth(deep, sizeof(deep), 8), 9);
        ASSERT_EQ(json_depth(deep, sizeof(deep), 0), 1);
        ASSERT_EQ(json_depth(deep, sizeof(deep), sizeof(deep)), sizeof(deep));
        ASSERT_EQ(json_depth(deep, sizeof(deep), sizeof(deep) - 1), sizeof(deep));
}

static bool within(const char *s, size_t containers, size_t values)
{
        return json_shape_within(s, strlen(s), containers, values);
}

/*
 * The counts json_shape_within holds to: containers, and one value plus one a ',', ':' or '['
 * outside strings. Each text is let through at its exact counts and refused one below either.
 */
TEST(json_shape_counts)
{
        static const struct {
                const char *s;
                size_t containers, values;
        } cases[] = {
            {"", 0, 1},
            {"0", 0, 1},
            {"[]", 1, 2},
            {"{}", 1, 1},
            {"[0,0,0]", 1, 4},
            {"{\"a\":0,\"b\":[1,2]}", 2, 6},
            /* separators and brackets inside strings, escaped quotes too, count nothing */
            {"[\"a,b:[{\",\"\\\",[{\"]", 1, 3},
            {"{\"\\\\\":\"]\"}", 1, 2},
            /* malformed text is counted all the same */
            {",,,:::", 0, 7},
            {"]]]}}}", 0, 1},
        };

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                const char *s = cases[i].s;
                size_t c = cases[i].containers, v = cases[i].values;

                if (!within(s, c, v) || (c && within(s, c - 1, v)) || within(s, c, v - 1)) {
                        printf("  %s: not %zu containers and %zu values\n", s, c, v);
                        ASSERT_TRUE(false);
                }
        }
}

/* A megabyte of '[': let through at its counts, refused one below either, or at none. */
TEST(json_shape_bounds)
{
        static char many[1 << 20];

        memset(many, '[', sizeof(many));
        ASSERT_TRUE(json_shape_within(many, sizeof(many), sizeof(many), sizeof(many) + 1));
        ASSERT_TRUE(!json_shape_within(many, sizeof(many), sizeof(many) - 1, SIZE_MAX));
        ASSERT_TRUE(!json_shape_within(many, sizeof(many), SIZE_MAX, sizeof(many)));
        ASSERT_TRUE(!json_shape_within(many, sizeof(many), 0, SIZE_MAX));
}

TEST_MAIN()
