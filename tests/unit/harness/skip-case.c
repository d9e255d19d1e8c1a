/* SPDX-License-Identifier: MIT */
/*
 * Not a test on its own: a file whose first test passes, whose second ends with
 * TEST_SKIP_CASE and whose third must still run. Built twice: plain, tests.h must exit 77
 * (a case not run is never reported as passed) and print the third test's line; with
 * SKIP_CASE_FAIL the third fails and it must exit 1 (a skip never hides a failure).
 * tests/meson.build checks both.
 */
#include "tests.h"

TEST(passes)
{
        ASSERT_EQ(1 + 1, 2);
}

TEST(skips_alone)
{
        TEST_SKIP_CASE("this case cannot run here");
}

TEST(runs_after_the_skip)
{
#ifdef SKIP_CASE_FAIL
        ASSERT_EQ(1 + 1, 3);
#else
        ASSERT_EQ(2 + 2, 4);
#endif
}

TEST_MAIN()
