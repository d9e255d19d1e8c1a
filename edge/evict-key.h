/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * What the eviction policy reads from a cache key alone: its id, its title, the hints its
 * name carries and its position. Pure (no I/O, no state), so sluice-cachesim's reading of the
 * generator's ids can be checked against it and any key bytes can be fuzzed through it
 * (tests/fuzz/fuzz-evict-key.c). Only the last two path components are looked at; a segment
 * number is at most EVICT_SEG_DIGITS digits.
 */
#define EVICT_SEG_DIGITS 9

/* The policy's id of a key (FNV-1a, never 0). */
uint64_t evict_key_id(const char *key, size_t len);

/* The key's title, the policy's group: the id of its first path component ("/t1/v1/seg-3.m4s"
 * → "/t1"), or of the whole key when it has no second component. */
uint64_t evict_key_group(const char *key, size_t len);

/* The policy hints a cache key carries: first segments (init.mp4, and seg-<n>.<ext> with
 * n <= POLICY_FIRST_SEGMENTS, numbered from 1 or 0, zero-padded or not), the lowest rung's
 * directory (POLICY_LOW_RUNG_DIR) and, when plan, the fill plan's. */
uint32_t evict_hints(const char *key, size_t len, bool plan);

/* The policy's position of a cache key: n for seg-<n>.<ext> (a seg-0 counts as 1), 0 for any
 * other name (init.mp4, manifests). */
uint32_t evict_position(const char *key, size_t len);
