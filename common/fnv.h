/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>

/*
 * FNV-1a, 32 bits, over a NUL-terminated string, continuing from h (FNV1A_INIT to start):
 * the slot index of the small direct-mapped tables (control's caches). Not for anything an
 * attacker may aim collisions at beyond evicting a cache entry.
 */
#define FNV1A_INIT 2166136261u

static inline uint32_t fnv1a_str(uint32_t h, const char *s)
{
        for (; *s; s++)
                h = (h ^ (unsigned char)*s) * 16777619u;
        return h;
}
