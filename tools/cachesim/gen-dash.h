/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Synthetic DASH viewing traces, and the object-id layout they use so a simulator can tell
 * which title, bitrate rung and segment an id names (and derive the edge's hints from it):
 *
 *     id = title << 32 | rung << 24 | segment        (title >= 1, rung < 256, segment < 2^24)
 *
 * Segment GEN_DASH_INIT_SEGMENT is the rung's init.mp4.
 */

#include <stdint.h>

#include "trace.h"

#define GEN_DASH_INIT_SEGMENT 0xffffffu
#define GEN_DASH_RUNGS        5
#define GEN_DASH_SEGMENT_SECS 4

static inline uint64_t gen_dash_id(uint32_t title, uint32_t rung, uint32_t segment)
{
        return (uint64_t)title << 32 | (uint64_t)(rung & 0xff) << 24 | (segment & 0xffffff);
}

static inline uint32_t gen_dash_id_title(uint64_t id)
{
        return (uint32_t)(id >> 32);
}

static inline uint32_t gen_dash_id_rung(uint64_t id)
{
        return (uint32_t)(id >> 24) & 0xff;
}

static inline uint32_t gen_dash_id_segment(uint64_t id)
{
        return (uint32_t)id & 0xffffff;
}

struct gen_dash_opts {
        uint64_t seed;
        unsigned days;
        unsigned titles; /* catalogue at day 0 */
        unsigned sessions_per_day;
        double zipf;               /* exponent of the initial title popularity */
        unsigned releases_per_day; /* new titles per day, entering near the top */
        double churn;              /* sigma of the daily log-normal popularity drift */
};

/*
 * What the generator can publish: every title's length and release schedule, as a control
 * plane knows its catalogue and licences. Title id i + 1 is entry i; ids above
 * `titles` are the releases, `releases_per_day` a day in birth order.
 */
struct gen_dash_catalog {
        size_t n;
        uint32_t *segs;   /* media segments of each title (each rung has the same) */
        int *release_day; /* day the title is released on, -1 for the day-0 catalogue */
};

/*
 * Rebuilds the catalogue gen_dash_run() would draw for the same seed, titles, releases and
 * days (the other options do not change it). Returns 0 and fills *ret (release with
 * gen_dash_catalog_done()), -EINVAL for nonsensical options, -ENOMEM.
 */
int gen_dash_catalog_new(const struct gen_dash_opts *o, struct gen_dash_catalog *ret);

/* Frees the arrays and empties c; accepts an empty catalogue. */
void gen_dash_catalog_done(struct gen_dash_catalog *c);

/* Size in bytes of the object the generator names by id; 0 for a rung outside the ladder. */
uint32_t gen_dash_object_size(uint64_t id);

/* The defaults documented in --help. */
struct gen_dash_opts gen_dash_opts_default(void);

/*
 * Generates a trace into t (appended, time-ordered). Returns 0, -EINVAL for nonsensical
 * options, -E2BIG over lim, -ENOMEM.
 */
int gen_dash_run(const struct gen_dash_opts *o, const struct trace_limits *lim, struct trace *t);
