/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
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

/*
 * A 64-bit hash of len bytes, never 0 (0 can mean "none" to a caller): the id a cache key
 * has in the edge's eviction policy and saved state, its negative-cache and prefetch slots,
 * and the fill agent's journal index. The multiply is FNV-1a's; the start value is the
 * project's own, and ids the edge has saved depend on it, so it stays.
 */
static inline uint64_t key_hash64(const char *k, size_t len)
{
        uint64_t h = 1469598103934665603ull;

        for (size_t i = 0; i < len; i++)
                h = (h ^ (uint8_t)k[i]) * 1099511628211ull;
        return h ? h : 1;
}
