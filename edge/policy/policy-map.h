/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Open-addressing hash map from a 64-bit object id to a pointer the caller owns. Linear
 * probing with backward-shift deletion, so there are no tombstones and lookups stay short
 * under churn. Grows by doubling at 70% load; never shrinks.
 */

#include <stddef.h>
#include <stdint.h>

struct policy_map {
        uint64_t *keys;
        void **vals; /* NULL marks an empty slot */
        size_t cap;  /* power of two */
        size_t count;
};

/* Initialises an empty map (no allocation until the first put). Never fails. */
void policy_map_init(struct policy_map *m);

/* Frees the table, not the values. The map is empty and reusable afterwards. */
void policy_map_done(struct policy_map *m);

/* Returns the value stored for key, or NULL. */
void *policy_map_get(const struct policy_map *m, uint64_t key);

/*
 * Stores val (non-NULL) for key, replacing any previous value. Returns 0 or -ENOMEM (the map
 * is unchanged then).
 */
int policy_map_put(struct policy_map *m, uint64_t key, void *val);

/* Removes key. Returns the value it had, or NULL if absent. */
void *policy_map_del(struct policy_map *m, uint64_t key);

/* A well-mixed 64-bit hash (splitmix64 finaliser); ids from traces are often sequential. */
static inline uint64_t policy_hash64(uint64_t x)
{
        x ^= x >> 30;
        x *= 0xbf58476d1ce4e5b9ULL;
        x ^= x >> 27;
        x *= 0x94d049bb133111ebULL;
        x ^= x >> 31;
        return x;
}
