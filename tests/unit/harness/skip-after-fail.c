/* SPDX-License-Identifier: MIT */
/*
 * Not a test on its own: a file whose first test fails and whose second skips. tests.h must
 * report it failed (exit 1), not skipped (77); tests/meson.build checks the exit status.
 */
#include "tests.h"

TEST(fails)
{
        ASSERT_EQ(1 + 1, 3);
}

TEST(skips)
{
        TEST_SKIP("skipping after a failure must not hide it");
}

TEST_MAIN()
