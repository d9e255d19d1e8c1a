/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Replays a trace through one policy at one cache size and counts misses. The simulator
 * plays the edge: policy_access() on every request, policy_insert() after each miss.
 */

#include <stdbool.h>
#include <stdint.h>

#include "policy.h"
#include "trace.h"

struct sim_opts {
        /* Object ids follow the gen-dash layout: pass the title as the group and derive the
         * first-segment and low-rung hints, as the edge does from its URL paths. */
        bool dash_ids;
        unsigned first_segments; /* segments counted as "first" for the hint */
        /* Fill-plan hint: titles among the previous day's `plan_top` most requested. 0: off. */
        unsigned plan_top;
        unsigned high_permille, low_permille; /* sluice watermarks in the simulator */
};

struct sim_result {
        uint64_t requests, misses;
        uint64_t bytes, miss_bytes;
        uint64_t rejected;
};

/*
 * Runs the trace (t->next filled by trace_analyse()) through a new `ops` policy of `budget`
 * bytes. Returns 0 and fills *ret, or -errno (from policy_new or out of memory).
 */
int sim_run(const struct trace *t, const struct policy_ops *ops, uint64_t budget,
            const struct sim_opts *o, struct sim_result *ret);
