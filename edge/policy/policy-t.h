/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Types shared by every cache eviction policy. The policies are pure state machines: they
 * never touch a file, a socket or a clock. The edge feeds them the requests it sees and the
 * objects it commits; sluice-cachesim feeds them a trace. Both get the same decisions.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Object will not be requested again (Belady's input); also "unknown" for online policies. */
#define POLICY_NEVER UINT64_MAX

/*
 * Per-object hints given at insert (and refreshed on hits). Online baselines ignore them;
 * the sluice policy turns them into extra weight. They come from what the edge knows about
 * the object's place in a title, or from the fill plan.
 */
enum policy_hint {
        POLICY_HINT_FIRST_SEGMENTS = 1u << 0, /* one of a title's first segments (startup) */
        POLICY_HINT_LOW_RUNG = 1u << 1,       /* lowest bitrate rung (fallback for every player) */
        POLICY_HINT_PLAN_HIGH = 1u << 2,      /* the fill plan ranks this title high */
        /* On insert only: the object comes without a request (the fill plan pushed it), so
         * the title's heat is not its own yet (see policy-sluice.c). */
        POLICY_HINT_PUSHED = 1u << 3,
};

/* How many segments from a title's start carry POLICY_HINT_FIRST_SEGMENTS: the edge (from
 * `seg-<n>.m4s`) and sluice-cachesim's default derive the hint with the same count, so the
 * simulator's figures are the edge's. */
#define POLICY_FIRST_SEGMENTS 4

/* The representation directory of the ladder's lowest rung, as sluice-ingest names it
 * (<title>/video-240p/...): the edge marks its files POLICY_HINT_LOW_RUNG, as sluice-cachesim
 * marks rung 0 of its generated titles. */
#define POLICY_LOW_RUNG_DIR "video-240p"

/* One request, or one object to insert. */
struct policy_req {
        uint64_t id;          /* cache key hash, unique per object */
        uint64_t size;        /* bytes; 0 is treated as 1 for accounting */
        uint64_t group;       /* title the object belongs to; id when unknown */
        uint64_t next_access; /* virtual time of the next request, POLICY_NEVER if none */
        uint32_t hints;       /* enum policy_hint bits */
        /*
         * The media segment's place in its representation, from 1: the n of seg-<n>.m4s on
         * the edge (ingest numbers from 1; a seg-0 counts as 1), the generator's segment
         * index + 1 in sluice-cachesim, so both name a segment alike. 0: not a numbered
         * segment (init.mp4, a manifest, a bare id). The sluice policy learns from it how
         * often sessions get that far.
         */
        uint32_t position;
};

/* Called once per object the policy drops, so its owner can delete the file. */
typedef void (*policy_evict_fn)(void *ctx, uint64_t id, uint64_t size);

struct policy_cfg {
        uint64_t budget; /* byte budget, > 0 */
        /*
         * Watermarks in per-mille of the budget (sluice only; baselines evict to fit). When
         * an insert takes use above `high`, eviction runs until use is at or below `low`,
         * so eviction happens in batches and not on every commit. 0 means the defaults.
         */
        unsigned high_permille;
        unsigned low_permille;
        /* Initial counters per row of the admission sketch, rounded up to a power of two;
         * 0 = auto. The sluice policy widens it as the cache fills. */
        uint32_t sketch_width;
        policy_evict_fn on_evict; /* may be NULL */
        void *evict_ctx;
};

/* Counters every policy keeps; read with policy_stats_get(). */
struct policy_stats {
        uint64_t used;      /* bytes held */
        uint64_t objects;   /* objects held */
        uint64_t evictions; /* objects evicted */
        uint64_t rejected;  /* inserts declined by admission (or too large) */
};

/*
 * A resident object's persistent state, as the edge keeps it in LMDB next to the object's
 * index entry so the policy survives a restart. Encoded with policy_record_encode() into
 * POLICY_RECORD_SIZE little-endian bytes with a version byte in front.
 */
#define POLICY_RECORD_VERSION 1
#define POLICY_RECORD_SIZE    48

struct policy_record {
        uint64_t id;
        uint64_t size;
        uint64_t group;
        uint32_t hints;
        uint32_t freq;     /* accesses counted while resident (saturating) */
        uint64_t priority; /* eviction priority relative to the policy clock, fixed point */
        uint64_t seq;      /* last-access order, for ties */
};

/* What the sluice policy has noted since its owner last took its changes
 * (policy_sluice_changes_get). */
struct policy_changes {
        size_t changed; /* resident objects whose record changed */
        size_t gone;    /* ids evicted or removed (may repeat; may be resident again) */
        bool lost;      /* a change went unnoted (out of memory): save every record */
};
