/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Replays a trace through one policy at one cache size and counts misses. The simulator
 * plays the edge: policy_access() on every request, policy_insert() after each miss.
 */

#include <stdbool.h>
#include <stdint.h>

#include "gen-dash.h"
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
        /*
         * Nightly pre-push, as sluice-fill runs it (needs dash_ids). With a catalogue, the
         * counters also cover "next day" requests apart: those from the first push time (day 1
         * at prepush_at) on. With `prepush` set, at prepush_at of every day from day 1 on, the
         * control plane's plan is computed from the requests seen so far and pushed through
         * policy_insert() before the next request is replayed. NULL catalogue: no split.
         */
        const struct gen_dash_catalog *catalog;
        bool prepush;
        uint32_t prepush_at; /* seconds after midnight, < 86400 */
        double halflife_s;   /* decay of the views that rank titles (control: demand.halflife) */
        double horizon_s;    /* releases this far ahead are pushed (demand.release_horizon) */
        /*
         * Rank files, not titles: each file by its own decayed requests, and a due release's
         * init and first segments (every rung) by the release score. Not what control does
         * today (it has no per-file counts); it measures what such a plan would gain.
         */
        bool plan_files;
        /* Rank the files the next 24 hours will request, by their requests: a ceiling for any
         * plan, since it reads the future. Overrides plan_files. */
        bool plan_oracle;
};

struct sim_result {
        uint64_t requests, misses;
        uint64_t bytes, miss_bytes;
        uint64_t rejected;
        /* Requests from the first push time on (zero without a catalogue). */
        uint64_t next_requests, next_misses;
        uint64_t next_bytes, next_miss_bytes;
        /* Objects and bytes the pushes inserted (admitted), over all nights. */
        uint64_t pushes, pushed_objects, pushed_bytes;
};

/*
 * Runs the trace (t->next filled by trace_analyse()) through a new `ops` policy of `budget`
 * bytes. Returns 0 and fills *ret, -EINVAL if o->prepush asks for an offline policy (it has
 * no next access for a pushed object) or the trace names a title outside o->catalog, or
 * -errno (from policy_new or out of memory).
 */
int sim_run(const struct trace *t, const struct policy_ops *ops, uint64_t budget,
            const struct sim_opts *o, struct sim_result *ret);
