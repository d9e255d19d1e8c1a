/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

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
 * Load the plan (and, with want_held, the holdings and the diff) for cfg. Returns 0, or
 * -errno with s->err and s->rc set. s is reset first; free with survey_done().
 */
int survey_load(struct survey *s, const struct fill_opts *o, const struct fill_edge_cfg *cfg,
                bool want_held);

/* Re-list the edge and recompute the diff (after a wait). Returns 0 or -errno (s->err). */
int survey_refresh(struct survey *s, const struct fill_opts *o);

void survey_done(struct survey *s);

/* `sluice-fill plan`: print every edge's diff. Returns an exit status. */
int survey_cmd_plan(const struct fill_opts *o);
