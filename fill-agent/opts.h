/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "fill-cfg.h"
#include "progress.h"

/*
 * One invocation's settings after the YAML file and the flags are merged (cli.c), handed to
 * the commands (survey.c: plan; run.c; status.c; verify.c).
 */

/* Exit statuses (documented in --help, sluice-fill.1 and docs/fill.md). */
#define FILL_EXIT_OK          0 /* everything planned is on the edge (or nothing to do) */
#define FILL_EXIT_ERROR       1 /* an edge or control unreachable, I/O error, token refused */
#define FILL_EXIT_USAGE       2 /* bad flags or config */
#define FILL_EXIT_PARTIAL     3 /* some objects refused or failed (verify: mismatches) */
#define FILL_EXIT_WINDOW      4 /* outside the window: nothing done, or stopped when it closed */
#define FILL_EXIT_INTERRUPTED 5 /* SIGINT/SIGTERM: in-flight transfers dropped; rerun resumes */

/* The worse of two exit statuses, as several edges' are combined: 2 > 1 > 5 > 3 > 4 > 0. */
int fill_exit_worse(int a, int b);

struct fill_opts {
        struct fill_cfg cfg;
        struct fill_edge_cfg *edges; /* the edges this invocation acts on (owned) */
        size_t n_edges;
        bool json;
        bool dry_run;
        bool verbose;
        enum progress_mode progress;
        int64_t progress_interval_ms;
        uint64_t sample; /* verify: objects per edge; 0 with all */
        bool all;
        uint64_t limit; /* run: at most this many objects per edge (0: no limit) */
        /* Given as flags (--rate, --window, --tz, --parallel): those beat every edge's own key
         * as they beat the file's top-level ones. */
        bool flag_rate, flag_window, flag_tz, flag_parallel;
};

/* Effective per-edge values: a flag's, else the edge's own setting, else the file's. */
uint64_t opts_edge_rate(const struct fill_opts *o, const struct fill_edge_cfg *e);
/* Was a cap (or "unlimited") given for e, by its own key, the run's key or --rate? */
bool opts_edge_rate_set(const struct fill_opts *o, const struct fill_edge_cfg *e);
const char *opts_edge_window(const struct fill_opts *o, const struct fill_edge_cfg *e);
const char *opts_edge_tz(const struct fill_opts *o, const struct fill_edge_cfg *e);
unsigned opts_edge_parallel(const struct fill_opts *o, const struct fill_edge_cfg *e);

/* <state_dir>/<id><suffix>, each id byte outside [A-Za-z0-9._-] (and a leading '.') written
 * as %XX, so distinct ids have distinct files; suffix at most 8 bytes (".journal", ".lock").
 * Returns buf. */
const char *opts_state_path(const struct fill_opts *o, const char *id, const char *suffix,
                            char *buf, size_t cap);
/* <state_dir>/<id>.journal. Returns buf. */
const char *opts_journal_path(const struct fill_opts *o, const char *id, char *buf, size_t cap);
/* The longest state_dir taken: room is left for the edge's id in the 4200-byte buffers the
 * journals' paths are made in. */
#define OPTS_STATE_DIR_MAX 3800
