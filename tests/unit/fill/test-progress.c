/* SPDX-License-Identifier: MIT */
#include "tests.h"

#include "progress.h"

#define SEC 1000000000ll

static void at(struct progress *p, struct progress_edge *e, int64_t t, uint64_t moved)
{
        e->bytes_moved = moved;
        progress_tick(p, t, true);
}

TEST(rate_over_the_last_samples)
{
        struct progress_edge e = {.id = "e1", .bytes_total = 100000000};
        struct progress p;

        progress_init(&p, PROGRESS_NONE, 100, &e, 1, 0);
        at(&p, &e, 1 * SEC, 0);
        at(&p, &e, 2 * SEC, 1000000);
        at(&p, &e, 3 * SEC, 2000000);
        /* 2,000,000 bytes over the 2 s since the first sample: 8 Mbit/s. */
        ASSERT_TRUE(progress_rate_bps(&e, 3 * SEC) > 7.99e6);
        ASSERT_TRUE(progress_rate_bps(&e, 3 * SEC) < 8.01e6);
}

/* A retry takes back the bytes of the failed attempt: the count falls below older samples.
 * The rate is then 0, never the wrapped difference of two unsigned counts. */
TEST(rate_after_bytes_taken_back_is_zero)
{
        struct progress_edge e = {.id = "e1", .bytes_total = 100000000};
        struct progress p;

        progress_init(&p, PROGRESS_JSON, 100, &e, 1, 0);
        at(&p, &e, 1 * SEC, 5000000);
        at(&p, &e, 2 * SEC, 6000000);
        e.bytes_moved = 1000000; /* a retry of a 5 MB attempt */
        ASSERT_TRUE(progress_rate_bps(&e, 3 * SEC) == 0.0);
        progress_tick(&p, 3 * SEC, true); /* and the JSON line for it stays in range */
        at(&p, &e, 4 * SEC, 9000000);
        ASSERT_TRUE(progress_rate_bps(&e, 4 * SEC) > 0);
}
TEST_MAIN()
