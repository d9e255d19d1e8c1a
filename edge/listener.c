/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"

#include "conn.h"
#include "listener.h"
#include "store.h"
#include "worker.h"

#define BACKLOG        4096
#define EMFILE_RETRYMS 100
#define ACCEPT_SHED    16    /* cached files closed per accept that found the fd table full */
#define FULL_LOG_MS    10000 /* a full descriptor table is logged once per this, per listener */

int listener_socket(const struct sockaddr_storage *addr, socklen_t len, bool reuseport)
{
        int fd, one = 1, r;

        fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) ||
            bind(fd, (const struct sockaddr *)addr, len) < 0 || listen(fd, BACKLOG) < 0) {
                r = -errno;
                (void)close(fd);
                return r;
        }
        return fd;
}

static void free_listener(struct uring_loop *loop, void *owner)
{
        struct listener *l = owner;

        (void)close(l->fd);
        l->fd = -1;
        l->w->listeners_open--;
        worker_conn_gone(l->w);
}

static void arm(struct listener *l)
{
        if (uring_loop_accept_multishot(l->w->loop, l->slot, EDGE_OP_ACCEPT, l->fd) < 0)
                (void)uring_timer_arm(l->w->loop, &l->retry,
                                      uring_loop_now_ms(l->w->loop) + EMFILE_RETRYMS);
}

static void on_retry(struct uring_loop *loop, struct uring_timer *t)
{
        struct listener *l = (struct listener *)((char *)t - offsetof(struct listener, retry));

        if (l->open)
                arm(l);
}

int listener_start(struct edge_worker *w, struct listener *l, int fd, bool admin)
{
        int r;

        l->w = w;
        l->fd = fd;
        l->admin = admin;
        l->tls_idx = -1;
        uring_timer_init(&l->retry, on_retry);
        r = uring_loop_slot_alloc(w->loop, l, free_listener, &l->slot);
        if (r < 0)
                return r;
        l->open = true;
        w->listeners_open++;
        r = uring_loop_accept_multishot(w->loop, l->slot, EDGE_OP_ACCEPT, fd);
        return r;
}

void listener_stop(struct listener *l)
{
        if (!l->open)
                return;
        l->open = false;
        uring_timer_cancel(l->w->loop, &l->retry);
        if (uring_loop_cancel_fd(l->w->loop, l->slot, EDGE_OP_ACCEPT_CANCEL, l->fd) < 0)
                (void)shutdown(l->fd, SHUT_RDWR);
        uring_loop_slot_close(l->w->loop, l->slot);
}

void listener_on_accept(struct uring_loop *loop, void *owner, const struct io_uring_cqe *cqe)
{
        struct listener *l = owner;
        struct edge_worker *w = l->w;
        struct edge_server *srv = w->srv;
        bool more = cqe->flags & IORING_CQE_F_MORE;
        /* One connection's trouble (it went before we took it, or a filter refused it) ends
         * no more than that accept; another error may come again at once: a re-arm then
         * waits, as for a full table, rather than spin on it. */
        bool transient = cqe->res >= 0 || cqe->res == -ECONNABORTED || cqe->res == -EINTR ||
                         cqe->res == -EAGAIN || cqe->res == -EPERM || cqe->res == -EPROTO ||
                         cqe->res == -ECANCELED;

        if (cqe->res >= 0) {
                int fd = cqe->res;
                if (!l->open || w->draining) {
                        (void)close(fd);
                } else if (l->admin) {
                        (void)conn_accept(w, fd, true);
                } else {
                        int_fast64_t n = atomic_fetch_add(&srv->conns_open, 1) + 1;
                        metrics_add(srv->m.conns_accepted, 1);
                        if ((uint64_t)n > w->limits.max_connections && !conn_close_idle(w)) {
                                /* Over the limit with none of this worker's connections idle
                                 * to close for it: refuse at once rather than let the backlog
                                 * grow behind a full server. */
                                atomic_fetch_sub(&srv->conns_open, 1);
                                metrics_add(srv->m.conns_refused, 1);
                                (void)close(fd);
                        } else if ((l->tls_idx >= 0
                                        ? conn_accept_tls(w, fd, w->rt->tls[l->tls_idx])
                                        : conn_accept(w, fd, false)) < 0) {
                                atomic_fetch_sub(&srv->conns_open, 1);
                        }
                }
        } else if (cqe->res == -EMFILE || cqe->res == -ENFILE) {
                uint64_t now = uring_loop_now_ms(loop);
                if (!l->full_logged_ms || now - l->full_logged_ms >= FULL_LOG_MS) {
                        l->full_logged_ms = now;
                        log_warn("%s worker %u: accept failed: %s; closing idle cached files "
                                 "(raise the hard descriptor limit, ulimit -Hn, or lower "
                                 "cache.fd_cache)",
                                 l->admin ? "admin" : "client", w->idx, strerror(-cqe->res));
                }
        } else if (!transient) {
                uint64_t now = uring_loop_now_ms(loop);
                if (!l->full_logged_ms || now - l->full_logged_ms >= FULL_LOG_MS) {
                        l->full_logged_ms = now;
                        log_warn("%s worker %u: accept failed: %s; trying again in %u ms",
                                 l->admin ? "admin" : "client", w->idx, strerror(-cqe->res),
                                 EMFILE_RETRYMS);
                }
        } else if (cqe->res != -ECANCELED) {
                log_debug("worker %u: accept failed: %s", w->idx, strerror(-cqe->res));
        }
        if (!more && l->open) {
                bool full = cqe->res == -EMFILE || cqe->res == -ENFILE;
                /* A full descriptor table: this worker's idle cached files give way to new
                 * connections (nothing else may let go for a long time); with none, the
                 * other workers' do (the admin worker caches none) while this one waits. */
                if (full && w->reader && store_reader_shed(w->reader, ACCEPT_SHED) > 0) {
                        arm(l);
                } else if (full || !transient) {
                        if (full)
                                worker_fds_wanted(srv, ACCEPT_SHED);
                        (void)uring_timer_arm(loop, &l->retry,
                                              uring_loop_now_ms(loop) + EMFILE_RETRYMS);
                } else {
                        arm(l);
                }
        }
}

const char *listener_addr_str(const struct sockaddr_storage *addr, char *buf, size_t cap)
{
        char host[INET6_ADDRSTRLEN];

        if (addr->ss_family == AF_INET) {
                const struct sockaddr_in *a = (const struct sockaddr_in *)addr;
                (void)inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
                (void)snprintf(buf, cap, "%s:%u", host, ntohs(a->sin_port));
        } else if (addr->ss_family == AF_INET6) {
                const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)addr;
                (void)inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
                (void)snprintf(buf, cap, "[%s]:%u", host, ntohs(a->sin6_port));
        } else {
                (void)snprintf(buf, cap, "?");
        }
        return buf;
}
