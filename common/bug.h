/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdio.h>
#include <stdlib.h>

/*
 * BUG_ON_HOT(cond): a programmer-error check on a hot path. It exists only in builds configured
 * with -Dhot-checks=true (debug and CI); release builds compile it away. Never use it for input.
 */
#if defined(SLUICE_HOT_CHECKS) && SLUICE_HOT_CHECKS
#define BUG_ON_HOT(cond)                                                                           \
        do {                                                                                       \
                if (__builtin_expect(!!(cond), 0)) {                                               \
                        fprintf(stderr, "BUG at %s:%d: %s\n", __FILE__, __LINE__, #cond);          \
                        abort();                                                                   \
                }                                                                                  \
        } while (0)
#else
#define BUG_ON_HOT(cond) ((void)0)
#endif

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define likely(x)     __builtin_expect(!!(x), 1)
#define unlikely(x)   __builtin_expect(!!(x), 0)
