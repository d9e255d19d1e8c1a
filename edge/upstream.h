/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/*
 * Fetches from upstreams (parent edges, then the origin) over HTTP/1.1 with libcurl's multi
 * socket interface, driven from the worker's own io_uring loop: curl's socket callback arms a
 * one-shot uring_loop_poll() on the socket (re-armed after each event), its timer callback
 * arms a uring_timer. No thread per fetch and no blocking call. Each worker has one context
 * (one multi handle), so its keep-alive pool is per worker.
 *
 * A fetch is a GET of base-url + cache key (percent-encoded); redirects are not followed, no
 * proxy from the environment is used, and a bearer token is sent when the upstream has one
 * (how a parent tells a child's fill from a player's request: docs/edge.md). Timeouts:
 * connect, first byte (request sent → response head) and low speed.
 *
 * Passive health is process-wide, by upstream position and URL: a failure (connect error, timeout,
 * 5xx, or a parent refusing our peer token) marks the upstream down for a backoff that doubles
 * per consecutive failure (1 s .. 30 s); a usable response clears it. Going down and coming
 * back are logged once each, naming the URL.
 */

struct uring_loop;
struct upstream_ctx;
struct upstream_fetch;
struct edge_cfg_upstream;

/* Loop op codes the worker registers for upstream_on_poll / upstream_on_cancel. */
struct upstream_ops {
        uint8_t poll;
        uint8_t cancel;
        /* A connection's socket found the descriptor table full (EMFILE/ENFILE): close
         * descriptors that can go and return how many, 0 to give up. NULL: never asked. */
        unsigned (*fds_full)(struct uring_loop *loop);
};

/* The response head, valid during on_head only. Strings are NUL-terminated or NULL. */
struct upstream_resp {
        long status;
        int64_t content_length; /* -1: absent, or framed by Transfer-Encoding */
        const char *content_type;
        const char *sha256_hex;     /* X-Sluice-SHA256 */
        const char *cache_status;   /* the upstream's own Cache-Status, for the chain */
        const char *content_coding; /* a Content-Encoding other than identity, or NULL */
        time_t last_modified;       /* Last-Modified; 0 when absent or unparsable */
        int64_t age;                /* Age in seconds (a cache upstream); -1 when none */
};

struct upstream_cbs {
        /* The final (non-1xx) head. Return 0 to receive the body, < 0 to stop the fetch. */
        int (*on_head)(void *ud, const struct upstream_resp *resp);
        /* Body bytes. Return 0 to go on, < 0 to stop the fetch. */
        int (*on_body)(void *ud, const char *buf, size_t len);
        /* The fetch ended: 0 when the body arrived whole, -errno otherwise (-ECANCELED when
         * on_head/on_body stopped it or the context is going away, -ETIMEDOUT for timeouts,
         * -EPIPE for a connection from the pool that failed before any head).
         * The fetch is freed after this returns; on_done may start another fetch. */
        void (*on_done)(void *ud, int err);
};

/* Defaults applied where the config leaves a timeout at 0. */
#define UPSTREAM_CONNECT_TIMEOUT_MS    2000
#define UPSTREAM_FIRST_BYTE_TIMEOUT_MS 10000
#define UPSTREAM_LOW_SPEED_TIME_S      10
#define UPSTREAM_LOW_SPEED_BYTES       4096
#define UPSTREAM_MAX                   16

/*
 * Create the calling worker's context on loop (its handler ops must be routed to
 * upstream_on_poll / upstream_on_cancel). Start-up only. Returns 0 or -errno.
 */
int upstream_ctx_new(struct uring_loop *loop, const struct upstream_ops *ops,
                     struct upstream_ctx **ret);
/* Stop every fetch (on_done(-ECANCELED)) and free the context. ctx may be NULL. */
void upstream_ctx_free(struct upstream_ctx *ctx);
/* Whether a fetch of ctx's is under way. ctx may be NULL. */
bool upstream_ctx_busy(const struct upstream_ctx *ctx);

/* The preconditions of a revalidation: a stored copy's validators. */
struct upstream_cond {
        time_t if_modified_since;  /* 0: none */
        const char *if_none_match; /* an entity-tag, or NULL */
};

/*
 * Start a GET of u->url + key on ctx. bearer (may be NULL/empty) is sent as
 * "Authorization: Bearer". fresh: open a new connection rather than reuse a pooled one (the
 * retry after a pooled connection turned out dead or desynchronised). cond (NULL: none) makes
 * the GET conditional, so that 304 can answer it. Callbacks run on the loop's thread, never
 * nested in the caller. Returns 0, or -errno (nothing started, no callback will run).
 */
int upstream_fetch_start(struct upstream_ctx *ctx, const struct edge_cfg_upstream *u,
                         const char *bearer, const char *key, size_t key_len, bool fresh,
                         const struct upstream_cond *cond, const struct upstream_cbs *cbs,
                         void *ud);

/* Health, by upstream position in the config and its URL: what was learnt of the upstream a
 * position held before a reload is not held against another one there. Thread-safe. */
bool upstream_health_usable(unsigned idx, const char *url);
/* One fetch's outcome for upstream idx, whose URL is url (it names it in the log lines of a
 * transition). */
void upstream_health_report(unsigned idx, const char *url, bool ok);

/* Loop handlers. */
struct io_uring_cqe;
void upstream_on_poll(struct uring_loop *loop, void *owner, const struct io_uring_cqe *cqe);
void upstream_on_cancel(struct uring_loop *loop, void *owner, const struct io_uring_cqe *cqe);
