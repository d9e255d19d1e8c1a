/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"

#include "conn.h"
#include "edge-cfg.h"
#include "evict.h"
#include "h2-mem.h"
#include "h2-serve.h"
#include "h2-zc.h"
#include "listener.h"
#include "miss.h"
#include "prefetch.h"
#include "runtime.h"
#include "sandbox.h"
#include "store.h"
#include "upstream.h"
#include "worker-sched.h"
#include "worker.h"

#define DRAIN_MS          5000u /* in-flight responses get this long after SIGTERM */
#define DRAIN_POLL_MS     50u   /* how often a drained worker looks at its fills again */
#define FLUSH_COUNTERS_MS 5000u
/* How soon an idle worker lets go of files deleted, replaced or evicted elsewhere: until it
 * does, their disk space is not free. A busy one does it at its next lookup anyway. */
#define DEAD_FILES_MS 1000u
/* Idle cached files closed at once when a fill's socket finds the fd table full: libcurl
 * may want more than the one descriptor (a resolver's socketpair). */
#define FDS_FULL_SHED 16u

#define DEFAULT_MAX_CONNECTIONS 100000
#define DEFAULT_HEADER_BYTES    8192
#define DEFAULT_HEADERS         64
#define DEFAULT_HEADER_TIMEOUT  10000
#define DEFAULT_IDLE_TIMEOUT    60000
#define DEFAULT_SEND_TIMEOUT    30000
#define DEFAULT_COMMIT_TIMEOUT  60000
#define DEFAULT_PIPELINE        16

static uint64_t or_default(int64_t v, uint64_t def)
{
        return v > 0 ? (uint64_t)v : def;
}

uint64_t worker_fds_cached_most(const struct edge_cfg *cfg, unsigned n)
{
        return (uint64_t)n * (uint64_t)cfg->cache.fd_cache + 256;
}

uint64_t worker_conns_most(const struct edge_cfg *cfg)
{
        return or_default(cfg->limits.max_connections, DEFAULT_MAX_CONNECTIONS);
}

void worker_limits_from_cfg(const struct edge_cfg *cfg, struct edge_limits *l)
{
        const struct edge_cfg_limits *c = &cfg->limits;

        l->max_connections = or_default(c->max_connections, DEFAULT_MAX_CONNECTIONS);
        l->max_header_bytes = (uint32_t)or_default(c->max_header_bytes, DEFAULT_HEADER_BYTES);
        if (l->max_header_bytes > 65536)
                l->max_header_bytes = 65536;
        l->max_headers = (uint32_t)or_default(c->max_headers, DEFAULT_HEADERS);
        if (l->max_headers > HTTP1_MAX_HEADERS_CAP)
                l->max_headers = HTTP1_MAX_HEADERS_CAP;
        l->header_timeout_ms = or_default(c->header_timeout_ms, DEFAULT_HEADER_TIMEOUT);
        l->idle_timeout_ms = or_default(c->idle_timeout_ms, DEFAULT_IDLE_TIMEOUT);
        l->send_timeout_ms = or_default(c->send_timeout_ms, DEFAULT_SEND_TIMEOUT);
        l->commit_timeout_ms = or_default(c->commit_timeout_ms, DEFAULT_COMMIT_TIMEOUT);
        l->max_pipeline = (uint32_t)or_default(c->max_pipeline, DEFAULT_PIPELINE);
}

/* A client worker asks for the configured time slice at start and when a reload changes it. */
static void slice_refresh(struct edge_worker *w)
{
        int64_t want = w->rt->cfg->worker_slice_us;
        int r;

        if (w->admin || want == w->slice_us)
                return;
        r = worker_sched_slice((unsigned)want);
        if (r < 0)
                log_warn("worker %u: time slice of %lld us not set: %s, ignoring", w->idx,
                         (long long)want, strerror(-r));
        else if (w->idx == 0 && want)
                log_info("client workers ask for a %lld us time slice", (long long)want);
        else if (w->idx == 0)
                log_info("client workers take the kernel's time slice");
        w->slice_us = want;
}

static void refresh_runtime(struct edge_worker *w)
{
        struct edge_server *srv = w->srv;
        unsigned gen = atomic_load(&srv->rt_gen);

        if (w->rt && gen == w->rt_gen)
                return;
        /* Nothing on this thread keeps a pointer into the old one past a callback, but for
         * fills, which hold their own reference. */
        edge_runtime_put(w->rt);
        w->rt = edge_runtime_get(srv);
        w->rt_gen = gen;
        worker_limits_from_cfg(w->rt->cfg, &w->limits);
        w->plimits.max_header_bytes = w->limits.max_header_bytes;
        w->plimits.max_headers = (uint16_t)w->limits.max_headers;
        w->plimits.max_target =
            w->limits.max_header_bytes < WORKER_MAX_TARGET ? w->limits.max_header_bytes
                                                        : WORKER_MAX_TARGET;
        slice_refresh(w);
}

/* No connection or listener left; its fills aside. */
static bool idle(const struct edge_worker *w)
{
        return w->draining && w->n_conns == 0 && w->listeners_open == 0;
}

/*
 * A fill this worker runs may have waiters on other workers (a client that joined it there,
 * while the one that started it here has gone), so it runs to its end, or to the drain
 * deadline, before the worker stops: stopping ends its fills, and their waiters' answers with
 * them.
 */
static bool drained(const struct edge_worker *w)
{
        return idle(w) && (w->drain_expired || !upstream_ctx_busy(w->up));
}

static void on_drain_poll(struct uring_loop *loop, struct uring_timer *t);

void worker_conn_gone(struct edge_worker *w)
{
        if (drained(w))
                uring_loop_stop(w->loop);
        else if (idle(w) && !uring_timer_armed(&w->drain_poll))
                (void)uring_timer_arm(w->loop, &w->drain_poll,
                                      uring_loop_now_ms(w->loop) + DRAIN_POLL_MS);
}

static void on_drain_poll(struct uring_loop *loop, struct uring_timer *t)
{
        (void)t;
        worker_conn_gone(worker_of(loop));
}

static void on_drain_deadline(struct uring_loop *loop, struct uring_timer *t)
{
        struct edge_worker *w = worker_of(loop);

        w->drain_expired = true;
        if (w->n_conns)
                log_info("worker %u: drain deadline, closing %u connection(s)", w->idx, w->n_conns);
        while (w->conns)
                conn_close(w->conns, "drain deadline");
        worker_conn_gone(w);
}

static void drain_begin(struct edge_worker *w)
{
        struct conn *c, *next;

        uring_timer_init(&w->drain_poll, on_drain_poll);
        w->draining = true;
        for (unsigned i = 0; i < w->n_listeners; i++)
                listener_stop(&w->listeners[i]);
        for (c = w->conns; c; c = next) {
                next = c->next;
                conn_drain(c);
        }
        uring_timer_init(&w->drain_timer, on_drain_deadline);
        (void)uring_timer_arm(w->loop, &w->drain_timer, uring_loop_now_ms(w->loop) + DRAIN_MS);
        worker_conn_gone(w);
}

static void on_wake(struct uring_loop *loop, void *userdata)
{
        struct edge_worker *w = userdata;

        atomic_store(&w->probe_seen, atomic_load(&w->srv->probe));
        if (atomic_load_explicit(&w->fds_wanted, memory_order_relaxed) && w->reader)
                (void)store_reader_shed(w->reader, atomic_exchange(&w->fds_wanted, 0));
        /* A disk short of room waits for evicted files to be closed (evict_make_room). */
        if (w->reader)
                store_reader_sync(w->reader);
        /* Not only on_reap's work: on a ring without DEFER_TASKRUN a completion can be
         * posted while a batch is dispatched, so a wake for a runtime published after that
         * batch's reap hook can still be handled in it. */
        refresh_runtime(w);
        if (atomic_load(&w->srv->draining) && !w->draining)
                drain_begin(w);
        miss_worker_kick(w);
        h2_serve_kick(w);
}

/* Before each batch of completions: a configuration published before a request's bytes came
 * in is the one that request is served under, whether or not this loop's wake was reaped
 * first. */
static void on_reap(struct uring_loop *loop, void *userdata)
{
        refresh_runtime(userdata);
}

static void on_iteration(struct uring_loop *loop, void *userdata)
{
        struct edge_worker *w = userdata;

        access_log_flush(&w->alog);
        if (!w->admin && w->rt->cfg->worker_yield &&
            worker_sched_yield(&w->yield, uring_loop_now_ms(loop)))
                edge_metrics_yield(&w->srv->m, w->idx);
}

static void on_flush_counters(struct uring_loop *loop, struct uring_timer *t)
{
        struct edge_worker *w = worker_of(loop);
        int r = store_flush_counters(w->srv->store);

        if (r < 0)
                log_warn("flushing popularity counters failed: %s, ignoring", strerror(-r));
        r = evict_flush(w->srv);
        if (r < 0)
                log_warn("saving the cache policy state failed: %s, ignoring", strerror(-r));
        (void)uring_timer_arm(loop, t, uring_loop_now_ms(loop) + FLUSH_COUNTERS_MS);
}

static void on_dead_files(struct uring_loop *loop, struct uring_timer *t)
{
        struct edge_worker *w = worker_of(loop);

        store_reader_sync(w->reader);
        (void)uring_timer_arm(loop, t, uring_loop_now_ms(loop) + DEAD_FILES_MS);
}

/* A fill's socket found the descriptor table full: this worker's idle cached files go first. */
static unsigned fds_full(struct uring_loop *loop)
{
        struct edge_worker *w = worker_of(loop);

        return w->reader ? store_reader_shed(w->reader, FDS_FULL_SHED) : 0;
}

static int setup(struct edge_worker *w)
{
        struct edge_server *srv = w->srv;
        struct uring_loop_params p = {0};
        int r;

        /* Client requests are small: 4 KiB buffers; admin PUT bodies want big reads. */
        p.sq_entries = w->admin ? 256 : 1024;
        p.buf_count = w->admin ? 64 : 1024;
        p.buf_size = w->admin ? 65536 : 4096;
        refresh_runtime(w);
        sandbox_uring_restrict(w->rt->cfg, &p);
        r = uring_loop_new(&p, &w->loop);
        if (r < 0)
                return r;
        uring_loop_set_userdata(w->loop, w);
        uring_loop_set_handler(w->loop, EDGE_OP_ACCEPT, listener_on_accept);
        uring_loop_set_fd_op(w->loop, EDGE_OP_ACCEPT);
        uring_loop_set_handler(w->loop, EDGE_OP_RECV, conn_on_recv);
        uring_loop_set_handler(w->loop, EDGE_OP_POLLOUT, conn_on_pollout);
        uring_loop_set_handler(w->loop, EDGE_OP_SEND, conn_on_send);
        uring_loop_set_handler(w->loop, EDGE_OP_H2ZC0, h2_zc_on_cqe);
        uring_loop_set_handler(w->loop, EDGE_OP_H2ZC1, h2_zc_on_cqe);
        uring_loop_set_wake_hook(w->loop, on_wake, w);
        uring_loop_set_iter_hook(w->loop, on_iteration, w);
        uring_loop_set_reap_hook(w->loop, on_reap, w);
        access_log_buf_init(&w->alog, srv->access_fd);

        if (!w->admin) {
                static const struct upstream_ops uops = {.poll = EDGE_OP_UPSTREAM_POLL,
                                                         .cancel = EDGE_OP_UPSTREAM_CANCEL,
                                                         .fds_full = fds_full};
                uring_loop_set_handler(w->loop, EDGE_OP_UPSTREAM_POLL, upstream_on_poll);
                uring_loop_set_handler(w->loop, EDGE_OP_UPSTREAM_CANCEL, upstream_on_cancel);
                r = upstream_ctx_new(w->loop, &uops, &w->up);
                if (r < 0)
                        return r;
                r = store_reader_new(
                    srv->store, (unsigned)w->rt->cfg->cache.fd_cache, /* 0: none kept */
                    &w->reader);
                if (r < 0)
                        return r;
                store_reader_set_metrics(w->reader,
                                         &(struct store_reader_metrics){.files = srv->m.fd_files,
                                                                        .opens = srv->m.fd_opens,
                                                                        .shed = srv->m.fd_shed});
                uring_timer_init(&w->dead_timer, on_dead_files);
                r = uring_timer_arm(w->loop, &w->dead_timer,
                                    uring_loop_now_ms(w->loop) + DEAD_FILES_MS);
                if (r < 0)
                        return r;
        } else {
                uring_timer_init(&w->flush_timer, on_flush_counters);
                r = uring_timer_arm(w->loop, &w->flush_timer,
                                    uring_loop_now_ms(w->loop) + FLUSH_COUNTERS_MS);
                if (r < 0)
                        return r;
        }

        for (unsigned i = 0; i < w->n_listeners; i++) {
                r = listener_start(w, &w->listeners[i], w->listen_fds[i], w->admin);
                w->listen_fds[i] = -1;
                if (r < 0)
                        return r;
                /* main.c passes the plain addresses first, then one per tls[] listener. */
                if (!w->admin && i >= w->rt->cfg->listen.n)
                        w->listeners[i].tls_idx = (int)(i - w->rt->cfg->listen.n);
        }
        return 0;
}

static void *worker_main(void *arg)
{
        struct edge_worker *w = arg;
        int r;

        metrics_own_slot(w->admin ? w->srv->n_workers + 1 : w->idx + 1);
        worker_sched_name(w->idx, w->admin);
        w->slice_us = -1;
        w->yield.fd = -1;
        if (!w->admin && (r = worker_yield_init(&w->yield)) < 0)
                log_warn("worker %u: /proc/thread-self/schedstat: %s; it will not yield its core "
                         "when the core is shared (worker_yield)",
                         w->idx, strerror(-r));
        r = setup(w);
        if (r < 0)
                worker_yield_close(&w->yield);
        w->setup_err = r;
        (void)sem_post(&w->ready);
        if (r < 0)
                return NULL;
        /* Rings and listeners exist, but no request is read before main has loaded the
         * seccomp filter (which needs every ring set up first): see worker_release(). */
        while (sem_wait(&w->go) < 0 && errno == EINTR)
                ;
        /* A drain may have been asked for before the first wake read was armed. */
        on_wake(w->loop, w);

        r = uring_loop_run(w->loop);
        if (r < 0)
                log_error("worker %u: ring failed: %s", w->idx, strerror(-r));
        while (w->conns)
                conn_close(w->conns, "exit");
        /* Fills still running end now (past the drain deadline, or the ring failed): their
         * waiters on other workers see them fail. */
        upstream_ctx_free(w->up);
        w->up = NULL;
        prefetch_worker_done(w);
        /* Closed connections are freed by their cancel completions: reap those too. */
        if (uring_loop_settle(w->loop, 1000) < 0)
                log_warn("worker %u: connections still in flight at exit, ignoring", w->idx);
        h2_mem_thread_release();
        access_log_flush(&w->alog);
        worker_yield_close(&w->yield);
        return NULL;
}

int worker_start(struct edge_server *srv, struct edge_worker *w, unsigned idx, bool admin, int *fds,
                 unsigned n)
{
        int r;

        w->srv = srv;
        w->idx = idx;
        w->admin = admin;
        w->listen_fds = fds;
        w->n_listeners = n;
        w->listeners = calloc(n ? n : 1, sizeof(*w->listeners));
        if (!w->listeners)
                return -ENOMEM;
        if (sem_init(&w->ready, 0, 0) < 0 || sem_init(&w->go, 0, 0) < 0)
                return -errno;
        r = pthread_create(&w->thread, NULL, worker_main, w);
        if (r != 0)
                return -r;
        w->started = true;
        while (sem_wait(&w->ready) < 0 && errno == EINTR)
                ;
        return w->setup_err;
}

void worker_notify(struct edge_worker *w)
{
        if (w->loop)
                (void)uring_loop_wake(w->loop);
}

void worker_fds_wanted(struct edge_server *srv, unsigned n)
{
        for (unsigned i = 0; i < srv->n_workers; i++) {
                atomic_fetch_add(&srv->workers[i].fds_wanted, n);
                worker_notify(&srv->workers[i]);
        }
}

void worker_release(struct edge_worker *w)
{
        if (w->started && !w->released) {
                w->released = true;
                (void)sem_post(&w->go);
        }
}

void worker_wait(struct edge_worker *w)
{
        worker_release(w); /* a start that failed half-way: let the thread see the drain */
        if (w->started) {
                (void)pthread_join(w->thread, NULL);
                w->started = false;
        }
}

void worker_join(struct edge_worker *w)
{
        worker_release(w);
        if (w->started) {
                (void)pthread_join(w->thread, NULL);
                w->started = false;
        }
        if (!w->listeners) {
                edge_runtime_put(w->rt);
                w->rt = NULL;
                return;
        }
        for (unsigned i = 0; w->listen_fds && i < w->n_listeners; i++)
                if (w->listen_fds[i] >= 0)
                        (void)close(w->listen_fds[i]);
        if (w->reader)
                store_reader_free(w->reader);
        w->reader = NULL;
        uring_loop_free(w->loop);
        w->loop = NULL;
        conn_out_pool_free(w);
        free(w->listeners);
        w->listeners = NULL;
        edge_runtime_put(w->rt);
        w->rt = NULL;
        (void)sem_destroy(&w->ready);
        (void)sem_destroy(&w->go);
}
