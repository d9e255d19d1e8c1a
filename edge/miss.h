/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "serve-plan.h"

/*
 * The miss over HTTP/1.1 (the rules are serve_plan_fill's, shared with HTTP/2): a client
 * request for a key the store does not hold. It joins (or starts) the
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
struct fill_reval;
struct http1_req;
struct path_norm;

/* A request waiting on (or streaming from) a fill. Owned by the connection (c->mw). */
struct miss_wait {
        struct conn *c;
        struct fill *fill; /* a reference */
        struct miss_wait *prev, *next; /* the worker's miss_waiters */
        bool head_sent;
        uint8_t minor;
        bool body_waits; /* every byte the fill had is sent: the body waits for more */
        uint64_t seen;   /* the fill's bytes at the last wait deadline (conn.c) */
        uint64_t moved_ms; /* uring_loop_now_ms when seen last grew, or the wait began */
        struct serve_kept kept; /* what the answer needs of the request */
        size_t key_len;
        char key[];
};

/* Answer req for pn's key by a fill (called by hit_serve when the store has no entry), or with
 * reval (NULL: none) by a revalidation of the stored copy with those validators: its 304, or
 * an upstream failing before its head, is answered from the store, a 200 as a miss. */
void miss_serve(struct conn *c, const struct http1_req *req, const struct path_norm *pn,
                bool peer, const struct fill_reval *reval);

/* Bytes of the body c may send now, and whether the fill broke off (then nothing more). */
uint64_t miss_body_avail(struct conn *c, bool *ret_failed);

/* Free c's miss_wait (response done or connection closed). */
void miss_release(struct conn *c);

/* Any thread: note that w has fill progress to look at and wake its loop. */
void miss_notify(struct edge_worker *w);

/* Loop thread: look at every waiter of w (called from the worker's wake hook). */
void miss_worker_kick(struct edge_worker *w);
