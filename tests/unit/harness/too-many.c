/* SPDX-License-Identifier: MIT */
/*
 * Not a test on its own: a file with one TEST more than tests.h's table holds, the last one
 * failing. tests.h must fail the file (exit 1) rather than drop that test and pass the others;
 * tests/meson.build checks the exit status.
 */
#include "tests.h"

#define ONE(n) TEST(case_##n) {}
#define EIGHT(p) ONE(p##0) ONE(p##1) ONE(p##2) ONE(p##3) ONE(p##4) ONE(p##5) ONE(p##6) ONE(p##7)
#define SIXTY_FOUR(p)                                                                              \
        EIGHT(p##0) EIGHT(p##1) EIGHT(p##2) EIGHT(p##3) EIGHT(p##4) EIGHT(p##5) EIGHT(p##6)        \
        EIGHT(p##7)

SIXTY_FOUR(a) SIXTY_FOUR(b) SIXTY_FOUR(c) SIXTY_FOUR(d)
SIXTY_FOUR(e) SIXTY_FOUR(f) SIXTY_FOUR(g) SIXTY_FOUR(h)

_Static_assert(8 * 64 == TESTS_MAX, "the table is full before the next test");

TEST(past_the_table)
{
        ASSERT_EQ(1 + 1, 3);
}

TEST_MAIN()
