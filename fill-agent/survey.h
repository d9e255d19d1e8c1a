/* SPDX-License-Identifier: MIT */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "diff.h"
#include "holdings.h"
#include "opts.h"
#include "plan.h"

/*
 * One edge's picture: control's plan, the edge's holdings, and the diff between them.
 * Shared by plan, run, status and verify.
 */
struct survey {
        const struct fill_edge_cfg *cfg;
        char *bearer; /* admin token */
        struct plan plan;
        struct holdings held;
        struct diff diff;
        bool have_plan, have_held, have_diff;
        int rc; /* FILL_EXIT_* for this edge when loading failed */
        char err[512];
};

/*
 * How long a survey keeps asking control and the edge after a failure that may pass
 * (unreachable, no answer, 5xx, 408, 429): until deadline_ns (CLOCK_MONOTONIC), backing off
 * from 1 s, doubling to SURVEY_BACKOFF_MAX_S, or waiting what a Retry-After asks (at most
 * SURVEY_RETRY_AFTER_MAX_S). A wait that would end past the deadline is not started. Each
 * retry is logged at warning level with its reason. stop (may be NULL) set: give up with
 * -EINTR. A NULL struct survey_retry: one attempt.
 */
#define SURVEY_BACKOFF_MAX_S     60
#define SURVEY_RETRY_AFTER_MAX_S 300

struct survey_retry {
        int64_t deadline_ns;
        volatile sig_atomic_t *stop;
};

/*
 * Load the plan (and, with want_held, the holdings and the diff) for cfg, retrying as rt says
 * (may be NULL). Returns 0, or -errno (-EINTR: stopped) with s->err and s->rc set. s is reset
 * first; free with survey_done().
 */
int survey_load(struct survey *s, const struct fill_opts *o, const struct fill_edge_cfg *cfg,
                bool want_held, const struct survey_retry *rt);

/* After survey_load without want_held: read the edge's admin token, list the edge and compute
 * the diff, retrying as rt says. Returns 0 or -errno with s->err and s->rc set. */
int survey_hold(struct survey *s, const struct fill_opts *o, const struct survey_retry *rt);

/* Re-list the edge and recompute the diff (after a wait), retrying as rt says. Returns 0 or
 * -errno (s->err). */
int survey_refresh(struct survey *s, const struct fill_opts *o, const struct survey_retry *rt);

void survey_done(struct survey *s);

/* `sluice-fill plan`: print every edge's diff. Returns an exit status. */
int survey_cmd_plan(const struct fill_opts *o);
