/* SPDX-License-Identifier: MIT */
#pragma once

#include <signal.h>
#include <stdint.h>
#include <time.h>

/* The monotonic clock in nanoseconds: for intervals and deadlines, never for dates. */
static inline int64_t mono_ns(void)
{
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static inline int64_t mono_ms(void)
{
        return mono_ns() / 1000000;
}

/* Sleep until mono_ns() reaches end, in steps of at most 200 ms, returning early once *stop
 * is set (stop may be NULL). */
static inline void mono_sleep_until(int64_t end, volatile sig_atomic_t *stop)
{
        for (int64_t now = mono_ns(); now < end && !(stop && *stop); now = mono_ns()) {
                int64_t step = end - now < 200000000ll ? end - now : 200000000ll;
                struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)step};
                (void)nanosleep(&ts, NULL);
        }
}
