/* SPDX-License-Identifier: MIT */
#pragma once

#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "http1-parse.h"
#include "uring-loop.h"

#include "access-log.h"
#include "edge-metrics.h"
#include "prefetch.h"
#include "worker-sched.h"

/*
 * The process and its worker threads. Each client worker owns one io_uring loop, one
 * SO_REUSEPORT listener per configured address, a store reader (with its fd cache) and the
 * connections it accepted; nothing on the data path is shared between workers except the
 * metrics registry (per-worker slots) and the store's LMDB environment. One more worker of
 * the same shape serves the admin listener, so that disk writes of admin PUTs never stall
 * client traffic.
 */

struct edge_cfg;
struct store;
struct store_reader;
struct token_keyset;
struct conn;
struct listener;
struct upstream_ctx;
struct miss_wait;
struct fill;
struct tls_ctx;
struct evict;

/* Loop op codes. */
enum edge_op {
        EDGE_OP_ACCEPT = 1,
        EDGE_OP_RECV,
        EDGE_OP_POLLOUT,
        EDGE_OP_CANCEL,
        EDGE_OP_ACCEPT_CANCEL,
        EDGE_OP_UPSTREAM_POLL,
        EDGE_OP_UPSTREAM_CANCEL,
        EDGE_OP_SEND,
        EDGE_OP_H2ZC0, /* h2c batch 0 (h2-zc.c) */
        EDGE_OP_H2ZC1, /* h2c batch 1 */
};

/*
 * What a reload can change, published as one immutable snapshot. Each holder keeps a reference
 * (runtime.h), so a worker reads its snapshot without locks and an old one is freed once its
 * last holder has moved on.
 */
struct edge_runtime {
        struct edge_cfg *cfg;
        char admin_token[256];
        size_t admin_token_len;
        struct token_keyset *keys;  /* NULL unless tokens.required */
        char peer_token[256];       /* tokens.peer_token_file: children's fill bearer */
        size_t peer_token_len;
        char upstream_bearer[16][256]; /* upstreams[i].token_file, "" when none */
        char heartbeat_secret[256];    /* control.secret_file; signs heartbeats */
        size_t heartbeat_secret_len;
        struct tls_ctx *tls[16];    /* per tls[] listener (main.c builds them; reload shares
                                     * their ticket keys) */
        atomic_uint refs;
};

/* Effective limits with defaults applied (cfg zeroes mean "default"). */
struct edge_limits {
        uint64_t max_connections;
        uint32_t max_header_bytes;
        uint32_t max_headers;
        uint64_t header_timeout_ms;
        uint64_t idle_timeout_ms;
        uint64_t send_timeout_ms;
        uint64_t commit_timeout_ms;
        uint32_t max_pipeline;
};

/* The longest HTTP/1.1 request-target taken (414 past it), limits.max_header_bytes if less. */
#define WORKER_MAX_TARGET 4096u
/* A response head of up to CONN_OUT_SMALL bytes (every hit's) goes out from a buffer of the
 * worker's pool of at most CONN_OUT_POOL (conn.c). */
#define CONN_OUT_SMALL 1024u
#define CONN_OUT_POOL  128u

struct edge_worker {
        struct edge_server *srv;
        unsigned idx;
        bool admin;
        pthread_t thread;
        bool started;
        struct uring_loop *loop;
        struct store_reader *reader;

        struct listener *listeners;
        unsigned n_listeners;
        unsigned listeners_open;
        int *listen_fds; /* opened by main, adopted by the thread */

        sem_t ready; /* posted when the thread's setup is done */
        int setup_err;
        sem_t go;      /* posted once the process is sandboxed: only then does it serve */
        bool released;

        struct conn *conns; /* all live connections, for drain */
        unsigned n_conns;

        /* Snapshot in use (a reference); refreshed when the server's generation moves. */
        const struct edge_runtime *rt;
        unsigned rt_gen;
        int64_t slice_us; /* the time slice last asked for (client workers); -1 before that */
        struct worker_yield yield; /* client workers: yielding while the core is shared */
        struct edge_limits limits;
        struct http1_limits plimits;

        bool draining;
        struct uring_timer drain_timer;
        struct uring_timer drain_poll;  /* drained but for fills: look again */
        bool drain_expired;             /* past the drain deadline: fills no longer wait */
        struct uring_timer flush_timer; /* admin worker: popularity counters */
        struct uring_timer dead_timer;  /* client workers: close fds of files unlinked since */

        /* The miss path (client workers): this worker's upstream fetches, and its requests
         * waiting on a fill (any worker's). A fill sets miss_kick and wakes the loop. */
        struct upstream_ctx *up;
        struct miss_wait *miss_waiters;
        atomic_bool miss_kick;
        struct fill *prefetch[PREFETCH_SLOTS]; /* CMCD nor fills this worker started */
        unsigned n_prefetch;

        /* Scratch reused by every request on this thread (never held across a wait). */
        struct http1_req req;
        char head[4096];
        /* Response heads sent through the ring, CONN_OUT_SMALL bytes each, kept for the next
         * response instead of a malloc() and free() per response (conn.c). */
        char *out_pool[CONN_OUT_POOL];
        unsigned n_out_pool;
        struct access_log_buf alog;
        atomic_uint_fast64_t probe_seen; /* the last edge_server.probe this loop answered */
        atomic_uint fds_wanted; /* cached files another thread asks this one to close */
        /* At max_connections conn_close_idle found no connection idle: none looked for before
         * this (loop ms). Last, so that the fields the hit path reads keep their places. */
        uint64_t idle_look_after_ms;
};

struct edge_server {
        _Atomic(struct edge_runtime *) rt; /* swapped under rt_lock (runtime.c) */
        atomic_uint rt_gen;
        pthread_mutex_t rt_lock;
        atomic_bool draining;
        atomic_bool titles_cut_said; /* heartbeat.c warned of a titles list cut short */
        atomic_uint_fast64_t conn_seq;
        atomic_int_fast64_t conns_open;
        /* Watchdog probe: main.c raises it and wakes every loop; each loop's wake hook copies
         * it into its worker's probe_seen, so a loop that stopped turning is seen. */
        atomic_uint_fast64_t probe;

        struct store *store;
        struct evict *evict; /* the cache policy (evict.c) */
        struct metrics_reg *reg;
        struct edge_metrics m;
        int access_fd; /* -1: off; dup2()'d over on reopen so workers keep the number */
        char *access_path; /* the file access_fd writes to, reopened by each SIGHUP */

        struct edge_worker *workers; /* n_workers client workers, then the admin worker */
        unsigned n_workers;

        pthread_mutex_t sums_lock; /* the fill plan's SHA-256 sums (plan-sums.c) */
        struct plan_sums *sums;
        /* The configuration as the edge started (main thread only): the keys read at start
         * only keep these values, and a reload's warning compares with them. */
        struct edge_cfg *start_cfg;
};

/*
 * Start the thread running w with the listening sockets fds[0..n) (adopted: closed by the
 * worker). The ring is created on the thread itself (single-issuer rings belong to their
 * creator). Waits for the thread's setup; start-up only: on error the caller exits. Returns
 * 0 or -errno.
 */
int worker_start(struct edge_server *srv, struct edge_worker *w, unsigned idx, bool admin, int *fds,
                 unsigned n);
/* Wait for w's thread to end (its resources stay until worker_join). */
/* Let a started worker serve: main calls it once the sandbox is complete. */
void worker_release(struct edge_worker *w);
void worker_wait(struct edge_worker *w);
/* Join and free w's resources. */
void worker_join(struct edge_worker *w);
/* Any thread: tell w to look at the server's state again (reload, drain). */
void worker_notify(struct edge_worker *w);
/* Any thread: an accept found the process's descriptor table full. Every client worker
 * closes up to n of its idle cached files at its next wake-up. */
void worker_fds_wanted(struct edge_server *srv, unsigned n);

/* Apply cfg's limits with defaults into ret. */
void worker_limits_from_cfg(const struct edge_cfg *cfg, struct edge_limits *ret);
/* What n client workers under cfg may hold open: their file caches and a margin for the rest
 * (listeners, fills, logs, the store), and apart the connections allowed. */
uint64_t worker_fds_cached_most(const struct edge_cfg *cfg, unsigned n);
uint64_t worker_conns_most(const struct edge_cfg *cfg);

/* The worker running on the calling loop. */
static inline struct edge_worker *worker_of(struct uring_loop *loop)
{
        return uring_loop_get_userdata(loop);
}

/* Called by conn.c when a connection is gone, so a draining worker can finish. */
void worker_conn_gone(struct edge_worker *w);
