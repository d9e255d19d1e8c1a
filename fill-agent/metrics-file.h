/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The run's figures for Prometheus, as a text file for node_exporter's textfile collector
 * (`metrics_file`, `--metrics-file`): written when a run starts (running 1), while it runs
 * (each queued edge's figures so far, without exit statuses) and when it ends,
 * each time whole into FILE.tmp and renamed over FILE, so the collector never reads half of
 * one. A run that crashed leaves running 1 behind. One run at a time reports to a file
 * (metrics_file_claim): a second one started beside it would overwrite the first's running 1
 * with its own end.
 */

/* The longest path taken (FILE.tmp must fit a path buffer). */
#define METRICS_PATH_MAX 4000

struct metrics_edge {
        const char *id;
        int exit_status;
        uint64_t queued, committed, refused, failed;
        uint64_t bytes_committed; /* of the committed objects */
        uint64_t bytes_moved;     /* read from the origin, retried attempts included */
};

struct metrics_run {
        bool running;
        int64_t start_s, end_s; /* Unix time; end_s only once ended */
        int exit_status;        /* once ended */
        const struct metrics_edge *edges; /* while running: the edges queued so far */
        size_t n_edges;
};

/*
 * Claim path for this run: an exclusive flock() on PATH.lock (created 0644 beside it; the
 * collector reads only *.prom), held until *ret_fd is closed (by exit at the latest). Returns
 * 0 with *ret_fd, -EBUSY while another run holds it (that run's figures stay as they are), or
 * -errno.
 */
int metrics_file_claim(const char *path, int *ret_fd);

/* Write r to path as above (mode 0644: the collector runs as another user), holding its claim
 * (a FILE.tmp left behind is replaced). Returns 0 or -errno; path is then as it was. */
int metrics_file_write(const char *path, const struct metrics_run *r);
