/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "holdings.h"
#include "plan.h"

/*
 * What an edge should hold (the plan) against what it holds: per plan object whether it is
 * held (same SHA-256, or same size where the edge recorded no hash), to add, to replace (held
 * with other content), left out for want of room, or left for a later run by a limit on the
 * objects a run sends; and which unplanned objects to evict to make room for those it sends
 * (none for those over the limit). I/O-free.
 *
 * Room: the edge's free budget (max_bytes - bytes), plus, with evict, the unplanned objects
 * (fewest hits first, then least recently used), taken only when that makes the next object
 * fit. Objects are considered in plan order (most valuable first); one that does not fit is
 * skipped and smaller later ones may still fit.
 *
 * Predicted hit gain: each object's demand weight is score × size (the plan's score predicts
 * requests for every file of an asset). Coverage is the share of the plan's total weight the
 * edge holds; the gain is coverage after the run minus coverage before.
 */
enum diff_state { DIFF_HELD = 0, DIFF_ADD, DIFF_REPLACE, DIFF_NO_ROOM, DIFF_OVER_LIMIT };

struct diff_item {
        const struct plan_obj *obj;
        enum diff_state state;
        /* The victims that make room for it: evict[evict_first .. evict_first + n_evict). A run
         * deletes them just before it sends this object, not before. */
        size_t evict_first, n_evict;
};

struct diff {
        struct diff_item *items; /* one per plan object, in plan order */
        size_t n;
        const struct held_obj **evict; /* in eviction order */
        size_t n_evict;
        uint64_t held_objects, held_bytes;
        uint64_t add_objects, add_bytes; /* ADD and REPLACE */
        uint64_t no_room_objects, no_room_bytes;
        uint64_t over_limit_objects, over_limit_bytes; /* wanted, beyond the run's limit */
        uint64_t evict_bytes;
        uint64_t unplanned_objects, unplanned_bytes; /* held, not in the plan */
        uint64_t free_bytes, max_bytes;
        double coverage_before, coverage_after, gain;
};

/* Compute into *ret: at most limit objects to add or replace (0: no limit). Returns 0 or
 * -ENOMEM. Free with diff_done(). plan and h must outlive it. */
int diff_compute(const struct plan *plan, const struct holdings *h, bool evict, uint64_t limit,
                 struct diff *ret);

void diff_done(struct diff *d);

/* "held", "add", "replace", "no-room". */
const char *diff_state_name(enum diff_state s);

/* Print a table for people (objects listed when verbose). */
void diff_print_table(FILE *f, const char *edge_id, const struct diff *d, bool verbose);

/* Print one JSON object (one line) describing the diff; objects listed when verbose. */
void diff_print_json(FILE *f, const char *edge_id, const struct diff *d, bool verbose);

/* "1.50 GB" style. Returns buf. */
const char *diff_bytes_format(uint64_t n, char *buf, size_t cap);
