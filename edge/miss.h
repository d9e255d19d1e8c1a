/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The miss: a client request for a key the store does not hold. It joins (or starts) the
 * key's fill (fill.c) and is answered from it:
 *   - before the upstream's head: the connection waits (CONN_MISS_WAIT);
 *   - upstream 200: 200 (or 206 for one Range) with Content-Length, the body streamed from the
 *     fill's temp file as it grows (sendfile up to fill_avail());
 *   - upstream 404: 404 (and 404 again from the negative cache for a few seconds);
 *   - anything else, or a fill that failed before its head: 502;
 *   - a fill that fails after the head: the connection is closed mid-body;
 *   - a conditional request (If-None-Match, If-Modified-Since, If-Match,
 *     If-Unmodified-Since): 304 or 412 as for a hit, against the upstream's Last-Modified and
 *     the edge's content-hash ETag. That ETag is known at the head when the upstream sent
 *     X-Sluice-SHA256 (a parent always does), else only once the body is whole and verified:
 *     an entity-tag condition then waits for the fill's end before the answer.
 * Every answer carries Cache-Status (RFC 9211): "<name>; fwd=miss; fwd-status=200", plus
 * "collapsed" for a request that joined a fill another request started, after the upstream's
 * own Cache-Status entry when it sent one.
 */

struct conn;
struct edge_worker;
struct fill;
struct http1_req;
struct path_norm;

/* A request waiting on (or streaming from) a fill. Owned by the connection (c->mw). */
struct miss_wait {
        struct conn *c;
        struct fill *fill; /* a reference */
        struct miss_wait *prev, *next; /* the worker's miss_waiters */
        bool head_sent;
        bool head_only;
        bool collapsed;
        bool peer; /* a child edge's fill (answer with X-Sluice-SHA256) */
        uint8_t minor;
        char range[128];   /* "" when none or ignored (If-Range) */
        char origin[256];  /* Origin, for CORS */
        size_t origin_len;
        /* Conditional headers, evaluated once the validators are known (see miss_serve). */
        char if_none_match[256];
        char if_match[256];
        char if_modified_since[40];
        char if_unmodified_since[40];
        char if_range[64];
        size_t key_len;
        char key[];
};

/* Answer req for pn's key by a fill (called by hit_serve when the store has no entry). */
void miss_serve(struct conn *c, const struct http1_req *req, const struct path_norm *pn,
                bool peer);

/* Bytes of the body c may send now, and whether the fill broke off (then nothing more). */
uint64_t miss_body_avail(struct conn *c, bool *ret_failed);

/* Free c's miss_wait (response done or connection closed). */
void miss_release(struct conn *c);

/* Any thread: note that w has fill progress to look at and wake its loop. */
void miss_notify(struct edge_worker *w);

/* Loop thread: look at every waiter of w (called from the worker's wake hook). */
void miss_worker_kick(struct edge_worker *w);

/* The Cache-Status name of this edge (control.edge_id, or "sluice"). */
const char *miss_cache_name(const struct edge_worker *w);
