/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Count-min sketch with conservative update and periodic halving ("aging"), the frequency
 * estimator behind sluice's admission filter. Fixed memory (4 rows x width x 16 bits) however
 * many distinct ids pass through, so one-hit wonders cost nothing once they age out.
 */

#include <stdint.h>

#define POLICY_SKETCH_ROWS 4
/* Widest sketch: 4 rows x 2^26 x 16 bits = 512 MiB; init and grow stop here. */
#define POLICY_SKETCH_MAX_WIDTH (1u << 26)

struct policy_sketch {
        uint16_t *cells; /* POLICY_SKETCH_ROWS * width */
        uint32_t width;  /* power of two */
        uint64_t added;  /* increments since the last halving */
        uint64_t window; /* halve every `window` increments */
};

/*
 * Allocates a sketch of `width` counters per row (rounded up to a power of two, at least 64)
 * that halves itself every `window` increments (0: 10 x width). Returns 0 or -ENOMEM.
 */
int policy_sketch_init(struct policy_sketch *s, uint32_t width, uint64_t window);

/* Frees the cells. */
void policy_sketch_done(struct policy_sketch *s);

/* Counts one occurrence of key; may trigger a halving. Returns the new estimate. */
uint32_t policy_sketch_add(struct policy_sketch *s, uint64_t key);

/* Estimated occurrences of key in the recent window (never an under-estimate before aging). */
uint32_t policy_sketch_get(const struct policy_sketch *s, uint64_t key);

/* Halves every counter now. */
void policy_sketch_age(struct policy_sketch *s);

/*
 * Widens the sketch to at least `width` counters per row (a power of two, at most
 * POLICY_SKETCH_MAX_WIDTH), keeping every key's estimate: new keys then collide less, old
 * overestimates fade with the next halvings. O(new width); no-op if already that wide.
 * Returns 0 or -ENOMEM (the sketch is unchanged then).
 */
int policy_sketch_grow(struct policy_sketch *s, uint32_t width);
