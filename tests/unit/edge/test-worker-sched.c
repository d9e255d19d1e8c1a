/* SPDX-License-Identifier: MIT */
/* worker-sched.c: when a client worker yields its core. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>

#include "tests.h"
#include "uring-loop.h"
#include "worker-sched.h"

static uint64_t now_ms(void)
{
        return uring_loop_clock_us() / 1000;
}

#define MS 1000000ull /* ns */
/* Run-queue delay, in ns, that a period of WORKER_YIELD_PERIOD_MS needs to count as shared. */
#define MARK (WORKER_YIELD_PERIOD_MS * MS * WORKER_YIELD_WAITED_PCT / 100)

static void at_rest(struct worker_yield *y)
{
        worker_yield_init(y);
        worker_yield_close(y); /* the pure part needs no file */
}

TEST(first_reading_only_sets_the_base)
{
        struct worker_yield y;

        at_rest(&y);
        worker_yield_update(&y, 1000, 500 * MS); /* a long wait before is not this period's */
        ASSERT_TRUE(!y.on);
        ASSERT_EQ(y.waited, 500 * MS);
        ASSERT_EQ(y.next_ms, 1000 + WORKER_YIELD_PERIOD_MS);
}

TEST(on_while_waiting_off_after_a_quiet_second)
{
        struct worker_yield y;
        uint64_t t = 1000;
        unsigned restart = WORKER_YIELD_HOLD / 2;

        at_rest(&y);
        worker_yield_update(&y, t, 10 * MS);
        t += WORKER_YIELD_PERIOD_MS;
        worker_yield_update(&y, t, y.waited + MARK - 1); /* one nanosecond short */
        ASSERT_TRUE(!y.on);
        t += WORKER_YIELD_PERIOD_MS;
        worker_yield_update(&y, t, y.waited + MARK);
        ASSERT_TRUE(y.on);
        /* Quiet periods keep it on, and a waiting one among them starts the count over. */
        for (unsigned i = 1; i < WORKER_YIELD_HOLD; i++) {
                t += WORKER_YIELD_PERIOD_MS;
                worker_yield_update(&y, t, y.waited + (i == restart ? 8 * MS : MS / 10));
                ASSERT_TRUE(y.on);
        }
        ASSERT_EQ(y.quiet, WORKER_YIELD_HOLD - 1 - restart);
        while (y.quiet < WORKER_YIELD_HOLD - 1) {
                t += WORKER_YIELD_PERIOD_MS;
                worker_yield_update(&y, t, y.waited);
                ASSERT_TRUE(y.on);
        }
        t += WORKER_YIELD_PERIOD_MS; /* the WORKER_YIELD_HOLD-th quiet period in a row */
        worker_yield_update(&y, t, y.waited);
        ASSERT_TRUE(!y.on);
}

TEST(the_mark_scales_with_the_period)
{
        struct worker_yield y;

        /* A late reading (a long iteration) covers a longer period and needs more delay. */
        at_rest(&y);
        worker_yield_update(&y, 1000, 0);
        worker_yield_update(&y, 1000 + 3 * WORKER_YIELD_PERIOD_MS, 2 * MARK);
        ASSERT_TRUE(!y.on);
        worker_yield_update(&y, 1000 + 4 * WORKER_YIELD_PERIOD_MS, y.waited + MARK);
        ASSERT_TRUE(y.on);
        /* A count that went backwards, or no time passed, decides nothing. */
        at_rest(&y);
        worker_yield_update(&y, 1000, 50 * MS);
        worker_yield_update(&y, 1020, 10 * MS);
        ASSERT_TRUE(!y.on);
        worker_yield_update(&y, 1020, 90 * MS);
        ASSERT_TRUE(!y.on);
}

TEST(reads_once_a_period)
{
        struct worker_yield y;

        ASSERT_EQ(worker_yield_init(&y), 0);
        ASSERT_TRUE(!worker_sched_yield(&y, 5000)); /* the first call reads the base */
        ASSERT_TRUE(y.waited != UINT64_MAX);
        ASSERT_EQ(y.next_ms, 5000 + WORKER_YIELD_PERIOD_MS);

        /* Within the period the file is not read again: a made-up delay stays, and so does on. */
        y.waited = 12345;
        y.on = true;
        ASSERT_TRUE(worker_sched_yield(&y, 5000 + WORKER_YIELD_PERIOD_MS - 1));
        ASSERT_EQ(y.waited, 12345);

        /* At the period's end it is read: the thread's own delay. */
        (void)worker_sched_yield(&y, 5000 + WORKER_YIELD_PERIOD_MS);
        ASSERT_TRUE(y.waited != 12345 && y.waited != UINT64_MAX);
        ASSERT_EQ(y.next_ms, 5000 + 2 * WORKER_YIELD_PERIOD_MS);

        /* Without the file it never yields. */
        worker_yield_close(&y);
        y.on = true;
        ASSERT_TRUE(!worker_sched_yield(&y, 9000));
}

static atomic_bool spin_stop;
static volatile unsigned work_sink; /* keeps the busy loop below from being optimised away */

static void *spin(void *arg)
{
        (void)arg;
        while (!atomic_load_explicit(&spin_stop, memory_order_relaxed))
                ;
        return NULL;
}

/* The real kernel: a thread that spins on this thread's only CPU preempts it, and within a few
 * periods the worker's loop starts yielding. */
TEST(a_spinning_neighbour_turns_yielding_on)
{
        struct worker_yield y;
        cpu_set_t one, saved;
        pthread_attr_t attr;
        pthread_t th;
        int cpu = sched_getcpu();
        unsigned yields = 0;
        uint64_t end;

        ASSERT_TRUE(cpu >= 0);
        ASSERT_EQ(pthread_getaffinity_np(pthread_self(), sizeof(saved), &saved), 0);
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        ASSERT_EQ(pthread_setaffinity_np(pthread_self(), sizeof(one), &one), 0);
        ASSERT_EQ(pthread_attr_init(&attr), 0);
        ASSERT_EQ(pthread_attr_setaffinity_np(&attr, sizeof(one), &one), 0);
        atomic_store(&spin_stop, false);
        ASSERT_EQ(pthread_create(&th, &attr, spin, NULL), 0);
        (void)pthread_attr_destroy(&attr);

        ASSERT_EQ(worker_yield_init(&y), 0);
        end = now_ms() + 3000;
        while (now_ms() < end && yields < 100) {
                for (unsigned i = 0; i < 20000; i++) /* a loop iteration's worth of work */
                        work_sink += i;
                yields += worker_sched_yield(&y, now_ms());
        }
        atomic_store(&spin_stop, true);
        ASSERT_EQ(pthread_join(th, NULL), 0);
        worker_yield_close(&y);
        ASSERT_EQ(pthread_setaffinity_np(pthread_self(), sizeof(saved), &saved), 0);
        if (yields < 100)
                TEST_FAIL_AT("sharing CPU %d with a spinning thread for 3 s: %u yields, want 100 "
                             "(run-queue delay at the last reading %llu ns)",
                             cpu, yields, (unsigned long long)y.waited);
}

TEST_MAIN()
