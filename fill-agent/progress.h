/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * Run progress: on a terminal, one redrawn bar per run (objects, bytes, rate, ETA) on stderr;
 * otherwise JSON lines on stdout, one per event and one per edge every interval:
 *
 *   {"event":"progress","t":1.20,"edge":"edge-a","objects_done":3,"objects_total":9,
 *    "bytes_done":…,"bytes_total":…,"bytes_moved":…,"refused":0,"failed":0,"rate_bps":…,
 *    "eta_s":…}
 *   {"event":"committed","t":1.31,"edge":"edge-a","key":"/t1/v1/seg-1.m4s","size":…}
 *   {"event":"refused","t":1.40,"edge":"edge-a","key":…,"reason":"sha256-mismatch",…}
 *
 * t is seconds since the run started (monotonic); bytes_moved counts bytes read from the
 * origin (rate-capped), bytes_done those of committed objects; refused the objects refused,
 * failed those whose retries ran out (apart, as the run's "done" line counts them).
 */
enum progress_mode { PROGRESS_NONE = 0, PROGRESS_BAR, PROGRESS_JSON };

#define PROGRESS_SAMPLES 64

struct progress_edge {
        const char *id;
        uint64_t objects_total, bytes_total;
        uint64_t objects_done, bytes_done, refused, failed;
        uint64_t bytes_moved;
        int64_t sample_ns[PROGRESS_SAMPLES];
        uint64_t sample_bytes[PROGRESS_SAMPLES];
        unsigned n_samples, next_sample;
};

struct progress {
        enum progress_mode mode;
        int64_t start_ns, interval_ns, last_ns;
        struct progress_edge *edges;
        size_t n;
        bool bar_drawn;
};

/* mode: resolved by the caller (auto = isatty(stderr) ? BAR : JSON). edges owned by caller. */
void progress_init(struct progress *p, enum progress_mode mode, int64_t interval_ms,
                   struct progress_edge *edges, size_t n, int64_t now_ns);

/* One event line (JSON mode); in bar mode refusals and errors print above the bar. */
void progress_event(struct progress *p, const char *event, const char *edge, const char *key,
                    uint64_t size, const char *reason, const char *detail);

/* Emit periodic progress when the interval passed (or force). */
void progress_tick(struct progress *p, int64_t now_ns, bool force);

/* Bits per second over the last few seconds for e. */
double progress_rate_bps(const struct progress_edge *e, int64_t now_ns);

/* End a drawn bar's line so that other output can follow it; the next tick draws it again. */
void progress_clear(struct progress *p);

/* Final line; ends the bar. */
void progress_finish(struct progress *p, int64_t now_ns);
