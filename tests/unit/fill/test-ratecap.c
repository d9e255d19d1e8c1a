/* SPDX-License-Identifier: MIT */
#include "tests.h"

#include "ratecap.h"

#define NS 1000000000ll

/* Feed chunks of `chunk` bytes as fast as the bucket allows for `secs` of fake time, after
 * `idle` seconds of none; check every window of `win` seconds passes at most rate*win + burst
 * (a chunk passes only when the bucket holds it: no overdraft). */
static bool cap_holds_chunks(uint64_t bps, double secs, double win, uint64_t chunk, double idle)
{
        struct ratecap rc;
        static int64_t t_at[200000];
        static uint64_t b_at[200000];
        size_t n = 0;
        uint64_t passed = 0;
        int64_t now = 5 * NS;

        ratecap_init(&rc, bps, now);
        now += (int64_t)(idle * NS);
        while (now < 5 * NS + (int64_t)((idle + secs) * NS) && n < 200000) {
                if (ratecap_may_pass(&rc, chunk, now)) {
                        ratecap_take(&rc, chunk, now);
                        passed += chunk;
                        t_at[n] = now;
                        b_at[n] = passed;
                        n++;
                } else {
                        now += ratecap_wait_ms(&rc, now) * 1000000ll;
                }
        }
        double rate = (double)bps / 8;
        for (size_t i = 0, j = 0; i < n; i++) {
                while (j < n && t_at[j] - t_at[i] <= (int64_t)(win * NS))
                        j++;
                double bytes = (double)(b_at[j - 1] - (i ? b_at[i - 1] : 0));
                if (bytes > rate * win + rc.burst)
                        return false;
        }
        /* And it is not far under: the whole run moved about rate * secs. */
        return (double)passed > rate * secs * 0.97;
}

static bool cap_holds(uint64_t bps, double secs, double win)
{
        return cap_holds_chunks(bps, secs, win, 16384, 0);
}

TEST(ratecap_800mbit_any_second)
{
        ASSERT_TRUE(cap_holds(800000000ull, 12, 1.0));
}

TEST(ratecap_2gbit_any_10s)
{
        ASSERT_TRUE(cap_holds(2000000000ull, 12, 10.0));
}

TEST(ratecap_slow_rate)
{
        ASSERT_TRUE(cap_holds_chunks(8000000ull, 20, 10.0, ratecap_chunk(8000000ull), 0));
}

/* libcurl's whole chunks (its buffer, ratecap_chunk() of the cap), after an idle spell (a
 * retry's back-off): no second passes more than the rate and one bucket. A chunk used to pass
 * while the bucket held a byte, overdrawing it by nearly a chunk: 1.31 x the cap over a second
 * at 2 Mbit/s with 64 KiB chunks. */
TEST(ratecap_whole_chunks_never_overdraw)
{
        ASSERT_TRUE(cap_holds_chunks(2000000ull, 20, 1.0, ratecap_chunk(2000000ull), 2.0));
        ASSERT_TRUE(cap_holds_chunks(8000000ull, 20, 1.0, ratecap_chunk(8000000ull), 2.0));
        ASSERT_TRUE(cap_holds_chunks(100000000ull, 12, 1.0, 65536, 2.0));
}

/* Low caps read in chunks of 5 ms of the rate (1 KiB at least), and the bucket holds two: any
 * second passes within 1% of the cap from about 1.6 Mbit/s up, and the whole run is not held
 * under the cap by the waits' rounding. With 64 KiB chunks and bucket the floor showed: 26%
 * over a second at 2 Mbit/s, 6.6% at 8 Mbit/s. */
TEST(ratecap_low_caps_one_percent_over_a_second)
{
        static const uint64_t caps[] = {1640000ull, 2000000ull, 8000000ull, 40000000ull};
        struct ratecap rc;

        for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
                uint64_t chunk = ratecap_chunk(caps[i]);
                ratecap_init(&rc, caps[i], 0);
                ASSERT_TRUE(chunk >= RATECAP_CHUNK_MIN && chunk <= RATECAP_CHUNK_MAX);
                ASSERT_TRUE(rc.burst <= rc.rate * 0.01 + 1);
                ASSERT_TRUE(cap_holds_chunks(caps[i], 20, 1.0, chunk, 2.0));
        }
        /* The floor and the ceiling. */
        ASSERT_EQ(ratecap_chunk(10000ull), RATECAP_CHUNK_MIN);
        ASSERT_EQ(ratecap_chunk(0), RATECAP_CHUNK_MAX);
        ASSERT_EQ(ratecap_chunk(10000000000ull), RATECAP_CHUNK_MAX);
        ASSERT_EQ(ratecap_chunk(2000000ull), 1250);
}

/* Where 10 ms of the rate is over 64 KiB, any second passes within 1% of the cap. */
TEST(ratecap_one_percent_over_a_second)
{
        struct ratecap rc;

        ratecap_init(&rc, 100000000ull, 0);
        ASSERT_TRUE(rc.burst <= rc.rate * 0.01 + 1);
        ASSERT_TRUE(cap_holds_chunks(100000000ull, 12, 1.0, 65536, 2.0));
}

TEST(ratecap_uncapped_passes)
{
        struct ratecap rc;
        ratecap_init(&rc, 0, 0);
        for (int i = 0; i < 1000; i++) {
                ASSERT_TRUE(ratecap_may_pass(&rc, 1 << 20, 0));
                ratecap_take(&rc, 1 << 20, 0);
        }
        ASSERT_EQ(ratecap_wait_ms(&rc, 0), 0);
}

TEST(ratecap_starts_empty_and_repays_debt)
{
        struct ratecap rc;
        ratecap_init(&rc, 8000000ull, 0); /* 1 MB/s */
        ASSERT_TRUE(!ratecap_may_pass(&rc, 1000, 0));
        ASSERT_TRUE(!ratecap_may_pass(&rc, 1001, NS / 1000)); /* 1 ms: 1000 bytes, not 1001 */
        ASSERT_EQ(ratecap_wait_ms(&rc, NS / 1000), 1);
        ASSERT_TRUE(ratecap_may_pass(&rc, 1000, NS / 1000));
        ratecap_take(&rc, 1000000, NS / 1000); /* overdraw a whole second */
        ASSERT_TRUE(!ratecap_may_pass(&rc, 1, NS / 2));
        ASSERT_TRUE(ratecap_wait_ms(&rc, NS / 2) >= 490);
        ASSERT_TRUE(ratecap_may_pass(&rc, 1000, NS + NS / 100));
}

TEST_MAIN()
