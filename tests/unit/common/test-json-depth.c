/* SPDX-License-Identifier: MIT */
#include <stdint.h>
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

TEST_MAIN()
