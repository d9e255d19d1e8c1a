/* SPDX-License-Identifier: MIT */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "holdings.h"
#include "journal.h"
#include "plan.h"
#include "progress.h"
#include "ratecap.h"

/*
 * Origin → edge transfers over one libcurl multi handle. Each object is a GET from its origin
 * URL piped into a PUT to the edge's admin API (Content-Length and X-Sluice-SHA256 from the
 * plan) through a bounded ring buffer: the GET pauses when the ring is full or its edge's rate
 * cap is spent, the PUT pauses when the ring is empty. Bytes are hashed as they arrive and the
 * PUT's last byte is held back until the hash matches, so a wrong object is never completed
 * at the edge (which checks the hash again on its side).
 *
 * Outcomes per object: committed (201/204, journalled with fsync), refused (the origin sent
 * other bytes or an error status, or the edge refused it: 400 or 413; not retried), or, for
 * transport errors, stalls and 5xx, retried with backoff up to `retries` times and then
 * counted failed. A stall is a GET or PUT that moved no byte for stall_timeout_ms (libcurl's
 * low-speed check; transfers paused by us are exempt), the GET's the origin's and the PUT's
 * the edge's. Before a retry whose whole body reached the edge, the edge is asked whether it
 * committed it, so nothing committed is sent twice: a listing request on the same multi handle,
 * during which the transfer keeps its edge's in-flight place and the others go on.
 */
#define TRANSFER_RING_BYTES (1u << 20)
/* The most a GET takes from its edge's rate cap at once; the GETs take turns (transfer.c). */
#define TRANSFER_GET_CHUNK 65536

enum transfer_gate {
        TRANSFER_GO,   /* start transfers */
        TRANSFER_WAIT, /* not yet (a window about to open): keep polling */
        TRANSFER_STOP, /* no more (the window closed): finish what is in flight */
};

struct xfer; /* one object's transfer (transfer.c) */

struct transfer_edge {
        /* set by the caller */
        const char *id;
        const char *admin_url;
        const char *bearer;
        unsigned parallel;
        uint64_t rate_bps;
        const struct plan_obj **queue; /* in order; borrowed */
        size_t n_queue;
        struct journal *journal;    /* borrowed */
        struct progress_edge *prog; /* borrowed */
        /* May this edge start another transfer now? NULL: always. */
        enum transfer_gate (*gate)(void *ud);
        void *gate_ud;
        /* The objects to delete from the edge to make room for queue[i]: deleted one by one
         * on the multi handle, like the transfers, once gate said GO and before queue[i]'s
         * GET starts (each reported "evicted" or "evict-failed"). Returns their number, the
         * array (borrowed) in *ret. NULL: nothing to delete. */
        size_t (*victims)(void *ud, size_t i, const struct held_obj *const **ret);
        /* Its queue is not known yet (the edge's plan or listing is still being asked for):
         * the run goes on until the caller, in opts->tick, fills it in or gives up on the
         * edge, and clears this. */
        bool pending;
        /* results */
        uint64_t committed, refused, failed;
        uint64_t failed_closed; /* of failed: given up because the window closed */
        /* Every byte read from the origin, a retried attempt's too: the origin's load. The
         * progress's bytes_moved takes an attempt's bytes back when it is retried, since its
         * rate and ETA are about the objects still to come. */
        uint64_t origin_bytes;
        bool fatal; /* the edge refused our token: stop it */
        char fatal_msg[256];
        /* engine state */
        size_t next;
        unsigned in_flight;
        struct ratecap rc;
        struct xfer *cap_wait; /* GETs waiting for the rate cap, first come first served */
};

struct transfer_opts {
        unsigned retries;
        long connect_timeout_ms;
        long stall_timeout_ms; /* >= 1000; libcurl counts whole seconds, rounded up */
        long delete_timeout_ms; /* a whole DELETE of a victim, answer included */
        struct progress *progress;
        volatile sig_atomic_t *stop; /* set by a signal: abort in-flight transfers */
        /* Called on every turn of the loop, on its thread, at least every 200 ms: where the
         * caller queues a pending edge's objects (NULL: none). */
        void (*tick)(void *ud);
        void *tick_ud;
};

/*
 * Run every edge's queue to the end (or until its gate says stop and nothing is in flight,
 * or *stop), an edge still pending until it is not. Returns 0, -EINTR when stopped, or -ENOMEM / -EIO when libcurl could not be set
 * up. Per-edge counts are in the edges.
 */
int transfer_run(struct transfer_edge *edges, size_t n, const struct transfer_opts *opts);
