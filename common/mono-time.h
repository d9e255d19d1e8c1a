/* SPDX-License-Identifier: MIT */
#pragma once

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
