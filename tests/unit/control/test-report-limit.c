/* SPDX-License-Identifier: MIT */
/* Playback reports per session: a burst, then one per interval. */

#include "report-limit.h"
#include "tests.h"

#define REPORT_BURST     10
#define REPORT_REFILL_MS 2000

static bool take(struct report_limit *rl, const char *id, int64_t now, int64_t *retry)
{
        return report_limit_take(rl, id, now, REPORT_BURST, REPORT_REFILL_MS, retry);
}

TEST(burst_then_refill)
{
        struct report_limit *rl = NULL;
        int64_t retry = -1;
        ASSERT_EQ(report_limit_new(1024, 7, &rl), 0);
        for (int i = 0; i < REPORT_BURST; i++)
                ASSERT_TRUE(take(rl, "s1", 1000, &retry));
        ASSERT_TRUE(!take(rl, "s1", 1000, &retry));
        ASSERT_EQ(retry, REPORT_REFILL_MS);
        /* another session has its own bucket */
        ASSERT_TRUE(take(rl, "s2", 1000, NULL));
        /* part of a token: still refused, told how long is left */
        ASSERT_TRUE(!take(rl, "s1", 1000 + REPORT_REFILL_MS / 2, &retry));
        ASSERT_EQ(retry, REPORT_REFILL_MS - REPORT_REFILL_MS / 2);
        /* one token earned, the half kept: the next comes one interval after the first */
        ASSERT_TRUE(take(rl, "s1", 1000 + REPORT_REFILL_MS * 3 / 2, NULL));
        ASSERT_TRUE(!take(rl, "s1", 1000 + REPORT_REFILL_MS * 3 / 2, &retry));
        ASSERT_EQ(retry, REPORT_REFILL_MS / 2);
        ASSERT_TRUE(take(rl, "s1", 1000 + REPORT_REFILL_MS * 2, NULL));
        /* a long pause fills the bucket up to the burst, no further */
        int64_t later = 1000 + REPORT_REFILL_MS * 1000;
        for (int i = 0; i < REPORT_BURST; i++)
                ASSERT_TRUE(take(rl, "s1", later, NULL));
        ASSERT_TRUE(!take(rl, "s1", later, NULL));
        /* a clock that does not move refills nothing and breaks nothing */
        ASSERT_TRUE(!take(rl, "s1", later - 5, &retry));
        ASSERT_TRUE(retry > 0);
        /* a reload that lowers the burst clips a fuller bucket (s2 holds 9); interval 0
         * turns the limit off */
        ASSERT_TRUE(report_limit_take(rl, "s2", later, 2, REPORT_REFILL_MS, NULL));
        ASSERT_TRUE(report_limit_take(rl, "s2", later, 2, REPORT_REFILL_MS, NULL));
        ASSERT_TRUE(!report_limit_take(rl, "s2", later, 2, REPORT_REFILL_MS, NULL));
        for (int i = 0; i < 100; i++)
                ASSERT_TRUE(report_limit_take(rl, "s1", later, REPORT_BURST, 0, NULL));
        report_limit_free(rl);
}

TEST_MAIN()
