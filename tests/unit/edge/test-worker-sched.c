/* SPDX-License-Identifier: MIT */
/* worker-sched.c: when a client worker yields its core. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "tests.h"
#include "worker-sched.h"

static uint64_t now_ms(void)
{
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

TEST(first_reading_only_sets_the_base)
{
        struct worker_yield y;

        worker_yield_init(&y);
        worker_yield_update(&y, 1000, 500); /* a busy past is not this period's */
        ASSERT_TRUE(!y.on);
        ASSERT_EQ(y.preempted, 500);
        ASSERT_EQ(y.next_ms, 1000 + WORKER_YIELD_PERIOD_MS);
}

TEST(on_while_preempted_off_after_a_quiet_second)
{
        struct worker_yield y;
        uint64_t t = 1000;

        worker_yield_init(&y);
        worker_yield_update(&y, t, 10);
        t += WORKER_YIELD_PERIOD_MS;
        worker_yield_update(&y, t, 10 + WORKER_YIELD_PREEMPTED - 1); /* one short */
        ASSERT_TRUE(!y.on);
        t += WORKER_YIELD_PERIOD_MS;
        worker_yield_update(&y, t, y.preempted + WORKER_YIELD_PREEMPTED);
        ASSERT_TRUE(y.on);
        /* Quiet periods keep it on, and a preemption among them starts the count over. */
        for (unsigned i = 1; i < WORKER_YIELD_HOLD; i++) {
                t += WORKER_YIELD_PERIOD_MS;
                worker_yield_update(&y, t, y.preempted + (i == 10 ? 40 : 0));
                ASSERT_TRUE(y.on);
        }
        ASSERT_EQ(y.quiet, WORKER_YIELD_HOLD - 11); /* quiet since the 40 */
        while (y.quiet < WORKER_YIELD_HOLD - 1) {
                t += WORKER_YIELD_PERIOD_MS;
                worker_yield_update(&y, t, y.preempted);
                ASSERT_TRUE(y.on);
        }
        t += WORKER_YIELD_PERIOD_MS; /* the WORKER_YIELD_HOLD-th quiet period in a row */
        worker_yield_update(&y, t, y.preempted);
        ASSERT_TRUE(!y.on);
        t += WORKER_YIELD_PERIOD_MS;
        worker_yield_update(&y, t, y.preempted + 1); /* one preemption does not start it */
        ASSERT_TRUE(!y.on);
}

TEST(reads_once_a_period)
{
        struct worker_yield y;
        struct rusage ru;

        worker_yield_init(&y);
        ASSERT_TRUE(!worker_sched_yield(&y, 5000)); /* the first call reads the base */
        ASSERT_TRUE(y.preempted >= 0);
        ASSERT_EQ(y.next_ms, 5000 + WORKER_YIELD_PERIOD_MS);

        /* Within the period the count is not read again: a made-up one stays, and so does on. */
        y.preempted = -1000;
        y.on = true;
        ASSERT_TRUE(worker_sched_yield(&y, 5000 + WORKER_YIELD_PERIOD_MS - 1));
        ASSERT_EQ(y.preempted, -1000);

        /* At the period's end it is read: the thread's own count. A negative one is no base, so
         * this period counts as quiet, and the loop goes on yielding for the hold. */
        ASSERT_TRUE(worker_sched_yield(&y, 5000 + WORKER_YIELD_PERIOD_MS));
        ASSERT_EQ(y.quiet, 1);
        ASSERT_EQ(getrusage(RUSAGE_THREAD, &ru), 0);
        ASSERT_TRUE(y.preempted >= 0 && y.preempted <= ru.ru_nivcsw);
        ASSERT_EQ(y.next_ms, 5000 + 2 * WORKER_YIELD_PERIOD_MS);
}

static atomic_bool spin_stop;

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

        worker_yield_init(&y);
        end = now_ms() + 3000;
        while (now_ms() < end && yields < 100) {
                volatile unsigned work = 0;
                for (unsigned i = 0; i < 20000; i++) /* a loop iteration's worth of work */
                        work += i;
                yields += worker_sched_yield(&y, now_ms());
        }
        atomic_store(&spin_stop, true);
        ASSERT_EQ(pthread_join(th, NULL), 0);
        ASSERT_EQ(pthread_setaffinity_np(pthread_self(), sizeof(saved), &saved), 0);
        if (yields < 100)
                TEST_FAIL_AT("sharing CPU %d with a spinning thread for 3 s: %u yields, want 100 "
                             "(preempted %ld times, on=%d)",
                             cpu, yields, y.preempted, y.on);
}

TEST_MAIN()
