/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/*
 * Fills: one upstream fetch per cache key however many requests want it, in this process
 * (a per-process in-flight table behind a mutex, so requests on every worker collapse onto
 * one fill).
 *
 * A fill runs on the worker that created it: it tries the upstreams in order (parents, then
 * the origin; a parent marked down by passive health is skipped; a parent that fails before
 * its response head is left for the next upstream), streams a 200 body into a store put
 * (a temp file) and commits it only when the body is whole and matches its Content-Length
 * and, when the upstream sent one, its X-Sluice-SHA256. Readers stream from the temp file
 * while it is written: fill_avail() says how many bytes they may send. The last byte is held
 * back until the commit succeeded, so a fill that fails at the very end (short body, SHA
 * mismatch) still never looks complete to a client.
 *
 * An upstream 404 is remembered (negative cache) for cache.negative_ttl; any other answer
 * than 200/404 is never cached and reads as 502.
 *
 * A revalidation (fill_get_reval) is a fill of a key the store holds, made conditional on the
 * stored copy's validators (If-Modified-Since to every upstream, If-None-Match, the edge's own
 * content-hash tag, to parents only): a 304 ends it FILL_FRESH (the stored copy answers), a
 * 200 fills and replaces the copy as any fill does. Keys answered with a short max-age
 * (serve_key_short_lived: manifests) are noted fresh for that long whenever a fill of them
 * commits or is answered 304 (fill_fresh).
 *
 * Waiters are notified through their worker: each fill keeps a mask of the workers that have
 * waiters on it, and every state change or body chunk sets those workers' miss_kick and wakes
 * their loops (miss_worker_kick() then looks at its waiters).
 */

struct edge_worker;
struct store_put;

/* The edge's ETag: the first 8 bytes of the body's SHA-256 in hex, quoted (as the store's). */
#define FILL_ETAG_LEN 18

enum fill_state {
        FILL_PENDING, /* no response head yet */
        FILL_BODY,    /* 200 head known (size, type); body streaming into the temp file */
        FILL_DONE,    /* committed: every byte is readable */
        FILL_FAILED,  /* no usable answer (502), or the body broke off */
        FILL_MISSING, /* the upstream said 404 */
        FILL_FRESH,   /* a revalidation the upstream answered 304: the stored copy answers */
};

/* The stored copy's validators, for a revalidation. */
struct fill_reval {
        time_t last_modified; /* 0: none */
        char etag[48];        /* the edge's strong tag, quoted (STORE_ETAG_MAX + 1); "" none */
};

struct fill {
        atomic_int refs;
        _Atomic int state; /* enum fill_state; written by the owner, release/acquire */
        _Atomic uint64_t written;
        _Atomic uint64_t workers_mask; /* workers with waiters */
        struct fill *hnext;            /* in-flight table chain */
        uint64_t hash;
        char *key;
        size_t key_len;

        /* Set by the owner before the state leaves FILL_PENDING, read-only afterwards. */
        uint64_t size;
        int rfd; /* O_RDONLY on the temp file; -1 before FILL_BODY */
        bool from_parent;
        bool has_sha;
        bool plan_checked; /* sha_hex is the fill plan's (else the commit looks again) */
        char sha_hex[65];
        char ctype[64];
        char upstream_status[160]; /* the upstream's Cache-Status, for the chain */
        time_t last_modified;      /* the upstream's Last-Modified, 0 if none */
        /* When the upstream's copy was made, on this edge's clock (ms, uring_loop_clock_us()/
         * 1000): the head's arrival less the upstream's Age; 0 when it sent none. */
        uint64_t made_ms;
        /* Set by the committer before the state becomes FILL_DONE: the ETag of the verified
         * body ("" when it could not be derived). */
        char done_etag[FILL_ETAG_LEN + 1];

        /* Owner's (the fetching worker's) fields. */
        struct edge_worker *owner;
        const struct edge_runtime *rt;
        struct store_put *put;
        unsigned upstream_idx;
        int verdict; /* what the head decided: 0, 304 (a revalidation's), 404, 502, or 503 (the
                      * store is full) */
        int gone_status; /* FILL_MISSING: the upstream's own 404 or 410 (Cache-Status) */
        /* FILL_FAILED by an answer about this object (a status other than 200 and 404, or a
         * 200 that cannot be kept: coded, no length, too large): the upstream's status, said
         * as fwd-status, so that a child can tell its parent's relay of an origin's answer
         * from the parent failing; 0 when the upstream gave no answer or this edge failed. */
        int answered_status;
        bool retry;  /* the head asked for the next upstream */
        bool fresh_tried; /* this upstream was retried on a new connection */
        bool in_table;
        bool store_full; /* disk or index full: counted apart from upstream failures */
        bool superseded; /* the key was pushed or deleted during the fill: not kept */
        atomic_bool dropped; /* an admin DELETE of the key came during the fill */
        bool base_known;     /* base_file was read as the fill began (a worker's reader) */
        uint64_t base_file;  /* the file the key named then (0: none) */
        bool too_large;  /* over cache.max_size: refused (503) before anything was evicted */
        bool reval;      /* a revalidation: the request is conditional on reval_with */
        struct fill_reval reval_with;
        struct fill *cnext; /* the committer's queue */
        /* Set by the owner as it queues the commit: the monotonic ms (uring_loop_now_ms's
         * clock) past which answers stop waiting on it (limits.commit_timeout; 0: not
         * committing). */
        _Atomic uint64_t commit_until_ms;
        atomic_bool commit_overdue; /* said once: logged and counted */
};

/*
 * The fill for key: an in-flight one (joined), or a new one started on w (*ret_created).
 * The caller holds a reference (fill_unref). Returns 0, -ENOENT when key is in the negative
 * cache (no fill), -EEXIST when the store holds key after all (a fill committed after the
 * caller's lookup: serve it as a hit), or -errno (-ENOMEM). A fill that failed to start comes
 * back FILL_FAILED.
 */
int fill_get(struct edge_worker *w, const char *key, size_t key_len, struct fill **ret,
             bool *ret_created);
/*
 * fill_get() for a key the store holds whose copy is to be revalidated (rv: its validators;
 * NULL: a plain fill_get()). An in-flight fill of the key is joined whatever its kind; a new
 * one is a revalidation, and never -EEXIST.
 */
int fill_get_reval(struct edge_worker *w, const char *key, size_t key_len,
                   const struct fill_reval *rv, struct fill **ret, bool *ret_created);

/* Whether one more fill would still leave one of cache.max_fills free, for a player's own
 * miss: what a prefetch asks before it starts one. A snapshot (another worker may take the
 * slot meanwhile). */
bool fill_room_to_spare(const struct edge_worker *w);

/* Whether key was filled or revalidated within the last SERVE_MANIFEST_MAX_AGE_MS (only keys
 * serve_key_short_lived() names are noted; a collision of hashes at worst revalidates early). */
bool fill_fresh(const char *key, size_t key_len);

/* For a key noted by a fill or revalidation, fresh or not (a stale manifest served when its
 * revalidation failed or found no fill free), the whole seconds since then (its Age, RFC 9111
 * section 4.2.3), the upstream's Age included; -1 when it is not in the table. */
int64_t fill_age_s(const char *key, size_t key_len);

/* The Age of a miss answer from f: the upstream's, and the time since its head came; -1
 * when the upstream sent none. */
int64_t fill_answer_age_s(const struct fill *f);

/* Mark worker idx as having waiters on f, so it is kicked on progress. */
void fill_watch(struct fill *f, unsigned idx);
/* An admin DELETE of key is about to land: an in-flight fill of it still serves its waiters
 * but keeps nothing, whether its commit comes before the delete's or after. */
void fill_drop_commit(const char *key, size_t key_len);

/* Drop a reference; the last one closes the reader fd and frees f. f may be NULL. */
void fill_unref(struct fill *f);

static inline enum fill_state fill_state_get(struct fill *f)
{
        return (enum fill_state)atomic_load_explicit(&f->state, memory_order_acquire);
}

/* Bytes a reader may send from f->rfd now (see above). Valid from FILL_BODY on. */
uint64_t fill_avail(struct fill *f);

/*
 * Whether f's body is still coming (or its commit, which releases the last byte, still runs):
 * an answer that has sent every byte f had waits on f, not on its client, at its send
 * deadline. An upstream that stops sending is ended by its own low-speed limit
 * (upstreams[].low_speed_time), which ends the answer too; a commit is waited on until
 * limits.commit_timeout after it was queued (a stalled disk), then no longer: the first call
 * past it logs and counts it. now_ms is uring_loop_now_ms().
 */
bool fill_in_flight(struct fill *f, uint64_t now_ms);

/*
 * f's ETag into out (FILL_ETAG_LEN + 1 bytes): known from the head when the upstream sent
 * X-Sluice-SHA256, else once the fill is FILL_DONE. Returns false while it is not known.
 * Valid from FILL_BODY on.
 */
bool fill_etag(struct fill *f, char *out);

/* The URL of the upstream f asked last (settled once f left FILL_PENDING), NULL with none. */
const char *fill_upstream_url(const struct fill *f);

/* Wait until every queued commit has run (shutdown, after the workers stopped fetching and
 * before their loops are freed). */
void fill_commits_drain(void);

/* Whether key is in the negative cache (an upstream 404 seen lately). */
bool fill_negative(const char *key, size_t key_len);
