/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bug.h"
#include "log.h"
#include "metrics.h"

#include "admin.h"
#include "conn-tls.h"
#include "conn.h"
#include "cors.h"
#include "edge-cfg.h"
#include "h2-serve.h"
#include "h2.h"
#include "h2-tls.h"
#include "h2-zc.h"
#include "tls.h"
#include "fill.h"
#include "miss.h"
#include "request.h"
#include "serve-plan.h"
#include "worker.h"

#define LINGER_MS 2000u
/* Per worker: up to this many connections keep their TLS record buffers while idle. */
#define TLS_IDLE_KEEP_CONNS 512u
/* Longest wait for a fill's head; the fill's own upstream timeouts end it well before. */
#define MISS_WAIT_MS 120000u

/* How often a miss waiting for its answer to begin looks at its fill: often enough to stop
 * waiting on a commit that ran past limits.commit_timeout. */
static uint64_t miss_wait_step(const struct edge_limits *l)
{
        return l->commit_timeout_ms < MISS_WAIT_MS ? l->commit_timeout_ms : MISS_WAIT_MS;
}
/* A connection sends at most this much of a body per turn (other connections get the core
 * in between), in one sendfile(2) when the socket takes it: a 4 MiB segment is one call on a
 * socket with room, where 1 MiB calls made it four and a fifth that only said EAGAIN. */
#define SENDFILE_TURN (4u << 20)
/* A file body up to this size leaves in the head's send, from the object's mapping (see
 * out_submit_with_body); a larger one by sendfile(2). Measured (docs/bench.md): less CPU per
 * response at 2 and 4 KiB, none at 8 KiB, where the copy costs what the system call saves. */
#define SMALL_BODY_MAX (4u << 10)

static const char *const state_names[] = {
    [CONN_READ_HEAD] = "read-head", [CONN_IDLE] = "idle",     [CONN_READ_BODY] = "read-body",
    [CONN_SEND] = "send",           [CONN_LINGER] = "linger", [CONN_CLOSED] = "closed",
    [CONN_MISS_WAIT] = "miss-wait",
};

const char *conn_state_name(enum conn_state s)
{
        return (unsigned)s < ARRAY_SIZE(state_names) ? state_names[s] : "?";
}

static void on_timer(struct uring_loop *loop, struct uring_timer *t);
static void free_conn(struct uring_loop *loop, void *owner);
static bool process(struct conn *c, const char *buf, size_t len, bool from_in);
static void refusal_answer(struct conn *c, int found) __attribute__((cold, noinline));

static struct conn *conn_of_timer(struct uring_timer *t)
{
        return (struct conn *)((char *)t - offsetof(struct conn, timer));
}

/* Deadlines are lazy: the timer is only moved earlier; a timer that fires before the current
 * deadline re-arms itself. Most requests therefore touch the heap not at all. */
static void deadline_set(struct conn *c, uint64_t ms)
{
        struct uring_loop *loop = c->w->loop;

        c->deadline_ms = uring_loop_now_ms(loop) + ms;
        if (!uring_timer_armed(&c->timer) || c->deadline_ms < c->timer.deadline_ms)
                (void)uring_timer_arm(loop, &c->timer, c->deadline_ms);
}

/* Bytes written to the socket and not yet acknowledged by the client; -1 when unknown. */
static int64_t sock_unsent(int fd)
{
        int n;

        return ioctl(fd, SIOCOUTQ, &n) == 0 && n >= 0 ? n : -1;
}

/* sock_unsent before the first look of a send. */
#define UNSENT_UNKNOWN UINT32_MAX

/* How often a connection waiting for room looks at what its client acknowledged. */
static uint64_t probe_ms(const struct conn *c)
{
        uint64_t q = c->w->limits.send_timeout_ms / 4;

        return q ? q : 1;
}

/* The socket's unacknowledged bytes are unsent; on_timer() looks again a quarter of
 * send_timeout from now. */
static void probe_start(struct conn *c, uint32_t unsent)
{
        struct uring_loop *loop = c->w->loop;
        uint64_t look = uring_loop_now_ms(loop) + probe_ms(c);

        c->sock_unsent = unsent;
        if (!uring_timer_armed(&c->timer) || look < c->timer.deadline_ms)
                (void)uring_timer_arm(loop, &c->timer, look);
}

void conn_set_state(struct conn *c, enum conn_state state)
{
        const struct edge_limits *l = &c->w->limits;
        enum conn_state old = c->state;

        if (old == CONN_CLOSED)
                return;
        c->state = state;
        if (old != state)
                log_conn(LOG_LVL_DEBUG, c->id, "state %s -> %s", conn_state_name(old),
                         conn_state_name(state));
        switch (state) {
        case CONN_READ_HEAD:
                deadline_set(c, l->header_timeout_ms);
                break;
        case CONN_IDLE:
                deadline_set(c, l->idle_timeout_ms);
                /* Record buffers (about 34 KiB) are kept for the next request unless the
                 * worker holds many connections: then idle ones give them back. */
                if (c->tls && c->w->n_conns > TLS_IDLE_KEEP_CONNS)
                        tls_conn_idle(c->tls);
                break;
        case CONN_READ_BODY:
                deadline_set(c, l->send_timeout_ms);
                break;
        case CONN_SEND:
                deadline_set(c, l->send_timeout_ms);
                /* Looked at first when the timer fires (on_timer), unless a wait for room
                 * (conn_arm_pollout) just did. */
                if (old != CONN_SEND && !c->poll_armed)
                        c->sock_unsent = UNSENT_UNKNOWN;
                break;
        case CONN_MISS_WAIT:
                deadline_set(c, miss_wait_step(l));
                break;
        case CONN_LINGER:
                deadline_set(c, l->idle_timeout_ms < LINGER_MS ? l->idle_timeout_ms : LINGER_MS);
                break;
        case CONN_CLOSED:
                uring_timer_cancel(c->w->loop, &c->timer);
                break;
        }
}

int conn_accept(struct edge_worker *w, int fd, bool admin)
{
        struct edge_server *srv = w->srv;
        struct conn *c;
        int one = 1, r;

        c = calloc(1, sizeof(*c));
        if (!c) {
                (void)close(fd);
                return -ENOMEM;
        }
        c->w = w;
        c->fd = fd;
        c->admin = admin;
        c->id = atomic_fetch_add(&srv->conn_seq, 1) + 1;
        c->state = CONN_READ_HEAD;
        uring_timer_init(&c->timer, on_timer);
        http1_parser_init(&c->parser);

        r = uring_loop_slot_alloc(w->loop, c, free_conn, &c->slot);
        if (r < 0) {
                (void)close(fd);
                free(c);
                return r;
        }
        /* Responses end with a partial segment; do not let Nagle hold it back. */
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

        c->next = w->conns;
        if (w->conns)
                w->conns->prev = c;
        w->conns = c;
        w->n_conns++;
        if (!admin)
                metrics_gauge_add(srv->m.conns_open, 1);

        r = uring_loop_recv_multishot(w->loop, c->slot, EDGE_OP_RECV, fd);
        if (r < 0) {
                /* Registered by now: conn_close() does all the accounting. */
                conn_close(c, "cannot arm recv");
                return 0;
        }
        c->recv_armed = true;
        /* The header deadline runs from accept: a silent connection is a slowloris too. */
        deadline_set(c, w->limits.header_timeout_ms);
        log_conn(LOG_LVL_DEBUG, c->id, "accepted on worker %u", w->idx);
        return 0;
}

int conn_accept_tls(struct edge_worker *w, int fd, struct tls_ctx *t)
{
        struct conn *c;
        int r = conn_accept(w, fd, false);

        /* conn_accept put the connection at the head of the worker's list (unless it was
         * closed again at once); its first recv completes on a later loop turn. */
        c = w->conns;
        if (r < 0 || !c || c->fd != fd || c->state == CONN_CLOSED)
                return r;
        if (conn_tls_start(c, t) < 0)
                conn_close(c, "out of memory");
        return 0;
}

/*
 * When c began to hold no part of a request, or UINT64_MAX while it holds one: kept alive
 * between requests (HTTP/1.1, or HTTP/2 with no stream open and nothing left to send), or
 * accepted and not yet sent a byte of one. A TLS connection's handshake, once a byte of it
 * came and until it is done, is part of a request; done, with no byte of a request after it
 * (tls_conn_quiet), the connection is as idle as a silent plain one, and counts from its
 * accept as that does. Read from the state's deadline, so that nothing is kept for it per
 * request.
 */
static uint64_t idle_since(const struct conn *c)
{
        const struct edge_limits *l = &c->w->limits;
        uint64_t t;

        if (c->admin || c->processing || c->send_armed || c->poll_armed || c->close_after)
                return UINT64_MAX;
        if (c->state == CONN_IDLE && !(c->h2 && (h2_conn_busy(c->h2) || h2_zc_pending(c))))
                t = l->idle_timeout_ms;
        else if (c->state == CONN_READ_HEAD && !c->in_len && !c->h1_seen && !c->h2 &&
                 ((!c->tls_fed && !c->tls_capitals) || (c->tls_ready && tls_conn_quiet(c->tls))))
                t = l->header_timeout_ms;
        else
                return UINT64_MAX;
        return c->deadline_ms > t ? c->deadline_ms - t : 0;
}

bool conn_close_idle(struct edge_worker *w)
{
        uint64_t now = uring_loop_now_ms(w->loop), best_since = UINT64_MAX;
        struct conn *c, *best = NULL;

        if (now < w->idle_look_after_ms)
                return false;
        for (c = w->conns; c; c = c->next) {
                uint64_t since = idle_since(c);
                /* <=: the list runs newest first, so of equals the one accepted first. */
                if (since != UINT64_MAX && since <= best_since) {
                        best = c;
                        best_since = since;
                }
        }
        if (!best) {
                w->idle_look_after_ms = now + IDLE_LOOK_BACKOFF_MS;
                return false;
        }
        metrics_add(w->srv->m.conns_idle_closed, 1);
        conn_close(best, "idle, closed for a new connection at max_connections");
        return true;
}

const char *conn_peer_str(struct conn *c, char *buf, size_t cap)
{
        if (!c->peer_known) {
                socklen_t len = sizeof(c->peer);
                if (getpeername(c->fd, (struct sockaddr *)&c->peer, &len) < 0)
                        memset(&c->peer, 0, sizeof(c->peer));
                c->peer_known = true;
        }
        if (c->peer.sin6_family == AF_INET) {
                const struct sockaddr_in *s4 = (const struct sockaddr_in *)&c->peer;
                if (inet_ntop(AF_INET, &s4->sin_addr, buf, (socklen_t)cap))
                        return buf;
        } else if (c->peer.sin6_family == AF_INET6) {
                if (inet_ntop(AF_INET6, &c->peer.sin6_addr, buf, (socklen_t)cap))
                        return buf;
        }
        return "-";
}

/* The access log's duration of the request being answered: 0 when it began with the log off
 * (a reload turned it on since). */
static uint64_t req_dur_us(const struct conn *c)
{
        return c->req_start_us ? uring_loop_clock_us() - c->req_start_us : 0;
}

/* ---- response head buffers ---- */

/* A buffer for n bytes of c->out: a pooled one of CONN_OUT_SMALL bytes when n fits. */
static char *out_get(struct edge_worker *w, size_t n)
{
        if (n > CONN_OUT_SMALL)
                return malloc(n);
        if (w->n_out_pool > 0)
                return w->out_pool[--w->n_out_pool];
        return malloc(CONN_OUT_SMALL);
}

/* Give c->out back (to the pool when it is one of its size) and clear it. A pooled buffer is a
 * plain malloc() block, so free() also does: out_len of an abandoned send may be 0 by now. */
static void out_put(struct conn *c)
{
        struct edge_worker *w = c->w;

        if (c->out && c->out_len > 0 && c->out_len <= CONN_OUT_SMALL &&
            w->n_out_pool < CONN_OUT_POOL)
                w->out_pool[w->n_out_pool++] = c->out;
        else
                free(c->out);
        c->out = NULL;
}

void conn_out_pool_free(struct edge_worker *w)
{
        while (w->n_out_pool > 0)
                free(w->out_pool[--w->n_out_pool]);
}

/* ---- closing ---- */

static void response_reset(struct conn *c)
{
        /* A ring send that carries the body reads the object's mapping until its completion:
         * the reference goes in free_conn(), so the mapping cannot be reused under it. */
        if (c->has_obj && !(c->send_armed && c->send_body)) {
                store_obj_release(c->w->reader, &c->obj);
                c->has_obj = false;
        }
        if (c->mw)
                miss_release(c);
        /* A ring send in flight still owns c->out: free_conn() frees it. */
        if (!c->send_armed)
                out_put(c);
        c->out_len = c->out_off = 0;
        c->body_off = c->body_end = 0;
}

static void free_conn(struct uring_loop *loop, void *owner)
{
        struct conn *c = owner;

        (void)close(c->fd);
        h2_zc_free(c); /* after the batches' last completions */
        if (c->has_obj)
                store_obj_release(c->w->reader, &c->obj);
        out_put(c);
        free(c);
}

/*
 * A send of c's may outlive its close and hold the connection (its slot, descriptor, buffers
 * and object pins) for as long as the peer wants: a ring send waiting for room, or one not
 * yet started behind its guard read, which the cancel cannot reach; and zero-copy pages the
 * kernel keeps until the peer acknowledges them, which a client that advertises a zero window
 * and answers the probes never does. So the socket is shut (such a send fails at once; what is
 * already queued still goes, then the FIN) and the bytes queued get at most timeout_ms to be
 * acknowledged (TCP_USER_TIMEOUT), after which the kernel drops the connection and lets go of
 * its pages.
 */
static void sock_let_go(int fd, int64_t timeout_ms)
{
        unsigned ms = timeout_ms <= 0         ? 1000u
                      : timeout_ms > UINT_MAX ? UINT_MAX
                                              : (unsigned)timeout_ms;

        (void)setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof(ms));
        (void)shutdown(fd, SHUT_RDWR);
}

void conn_close(struct conn *c, const char *why)
{
        struct edge_worker *w = c->w;

        if (c->state == CONN_CLOSED)
                return;
        log_conn(LOG_LVL_DEBUG, c->id, "close: %s", why);
        /* close_notify before the FIN, whoever closes (RFC 8446 §6.1): answering the
         * client's lets it keep its session, and a close of the edge's own (a deadline, a
         * drain) is then told from a cut connection. TLS writes are never in flight in the
         * ring, so the alert follows the last record whole. */
        if (c->tls)
                tls_conn_shutdown(c->tls);
        if (c->tls && !c->h2) {
                /* An answer cut short over TLS: what the edge still held never went out (a
                 * finished answer's bytes are all on the socket before its line is written). */
                size_t held = conn_tls_unsent(c);
                c->req_bytes -= held < c->req_bytes ? held : c->req_bytes;
        }
        /* An answer begun and cut short (the client left, the send deadline) is counted as
         * HTTP/2 counts a reset stream's: its status and the bytes that went out. */
        if (c->req_client && c->req_status && (c->state == CONN_SEND || c->state == CONN_MISS_WAIT))
                edge_metrics_request(&w->srv->m, w->idx, c->req_status, c->req_bytes);
        if (c->pending_log) {
                struct access_log_outcome o = {c->req_cache, c->req_upstream};

                /* 499: closed (client gone, deadline, drain) before an answer began. */
                access_log_end_detached(&w->alog, c->pending_log,
                                        c->req_status ? c->req_status : 499, c->req_bytes,
                                        req_dur_us(c), &o);
                c->pending_log = NULL;
        } else if (access_log_on(&w->alog)) {
                struct access_log_outcome o = {c->req_cache, c->req_upstream};

                /* Closed while its request was being answered, before the line was detached
                 * (the first write of a TLS answer failed: the client reset): still logged. */
                access_log_end_conn(&w->alog, c->id, c->req_status ? c->req_status : 499,
                                    c->req_bytes, req_dur_us(c), &o);
        }
        conn_set_state(c, CONN_CLOSED);
        response_reset(c);
        if (c->put)
                admin_put_abort(c);
        if (c->tls)
                h2_tls_forget(c); /* before the streams let their files go: nothing to read */
        if (c->h2)
                h2_serve_free(c);
        if (c->tls)
                conn_tls_free(c);
        free(c->in);
        c->in = NULL;
        c->in_len = c->in_cap = 0;
        free(c->refusal);
        c->refusal = NULL;

        if (c->prev)
                c->prev->next = c->next;
        else
                w->conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        c->prev = c->next = NULL;
        w->n_conns--;
        if (!c->admin) {
                metrics_gauge_add(w->srv->m.conns_open, -1);
                atomic_fetch_sub(&w->srv->conns_open, 1);
        }

        if (c->send_armed || h2_zc_pending(c))
                sock_let_go(c->fd, w->limits.send_timeout_ms);
        /*
         * The free comes after the cancel's completion, or (no room to queue one) once the
         * callback under way returns: either way callers up the stack may still look at
         * c->state after this returns.
         */
        if (uring_loop_cancel_fd(w->loop, c->slot, EDGE_OP_CANCEL, c->fd) < 0)
                (void)shutdown(c->fd, SHUT_RDWR);
        uring_loop_slot_close(w->loop, c->slot);
        worker_conn_gone(w);
}

void conn_drain(struct conn *c)
{
        c->close_after = true;
        if (c->h2 && c->state != CONN_LINGER) {
                /* h2c and h2 alike: GOAWAYs first, idle or not (RFC 9113 §6.8), so the client
                 * knows which of its requests were taken. Streams under way finish; the output
                 * closes the connection when none is left (or the drain deadline does). */
                (void)h2_serve_shutdown(c);
                h2_serve_output(c);
                return;
        }
        if (c->refusal)
                refusal_answer(c, -ENOENT); /* answered now, as far as the head was read */
        else if (c->state == CONN_IDLE || (c->state == CONN_READ_HEAD && c->in_len == 0))
                conn_close(c, "drain");
}

static void on_timer(struct uring_loop *loop, struct uring_timer *t)
{
        struct conn *c = conn_of_timer(t);
        struct edge_metrics *m = &c->w->srv->m;

        if (c->state == CONN_CLOSED)
                return;
        /* Sending, the socket is looked at every quarter of send_timeout: bytes the client
         * acknowledged since the last look are progress, and the deadline runs from that
         * look (so from a quarter after the progress at most). That covers a wait for room
         * (POLLOUT) and a ring send under way (h2c's batches) alike. */
        if (c->state == CONN_SEND) {
                uint64_t now = uring_loop_now_ms(loop), look = probe_ms(c);
                int64_t n = sock_unsent(c->fd);
                bool first = c->sock_unsent == UNSENT_UNKNOWN;

                if (n >= 0) {
                        if (!first && n < c->sock_unsent)
                                c->deadline_ms = now + c->w->limits.send_timeout_ms;
                        else if (first && now >= c->deadline_ms)
                                c->deadline_ms = now + look; /* a second look first */
                        c->sock_unsent = n < UNSENT_UNKNOWN ? (uint32_t)n : UNSENT_UNKNOWN - 1;
                }
                if (now < c->deadline_ms) {
                        (void)uring_timer_arm(
                            loop, t, now + look < c->deadline_ms ? now + look : c->deadline_ms);
                        return;
                }
        }
        if (uring_loop_now_ms(loop) < c->deadline_ms) {
                (void)uring_timer_arm(loop, t, c->deadline_ms);
                return;
        }
        /* A miss waiting for its fill's head or check (a range or a condition on an object
         * whose SHA-256 is known) waits as long as the fill moves: a large object from a slow
         * upstream may take longer than one wait, and the upstream's own low-speed limit
         * ends a fill that stops. It waits MISS_WAIT_MS at most without a new byte, and on a
         * commit no longer than fill_in_flight() allows. */
        if (c->state == CONN_MISS_WAIT && c->mw && c->mw->fill) {
                struct miss_wait *mw = c->mw;
                uint64_t now = uring_loop_now_ms(loop);

                if (fill_avail(mw->fill) > mw->seen) {
                        mw->seen = fill_avail(mw->fill);
                        mw->moved_ms = now;
                }
                if (now - mw->moved_ms < MISS_WAIT_MS &&
                    (fill_state_get(mw->fill) == FILL_PENDING || fill_in_flight(mw->fill, now))) {
                        deadline_set(c, miss_wait_step(&c->w->limits));
                        return;
                }
        }
        /* An answer that sent every byte its fill had waits on the fill, not on its client:
         * for as long as the fill goes on (fill_in_flight). */
        if (c->state == CONN_SEND && c->mw && c->mw->body_waits &&
            fill_in_flight(c->mw->fill, uring_loop_now_ms(loop))) {
                deadline_set(c, c->w->limits.send_timeout_ms);
                return;
        }
        if (c->state == CONN_SEND && c->h2 && h2_serve_wait_moved(c)) {
                deadline_set(c, c->w->limits.send_timeout_ms);
                return;
        }
        /* The head's deadline ends the search for its Origin, not the answer. */
        if (c->refusal) {
                refusal_answer(c, -ENOENT);
                return;
        }

        switch (c->state) {
        case CONN_READ_HEAD:
                metrics_add(m->timeouts[0], 1);
                break;
        case CONN_IDLE:
                /* Idle after an h2 drain's notice: its wait is over (h2_serve_shutdown). */
                if (c->h2 && c->close_after && h2_conn_shutdown_final(c->h2)) {
                        h2_serve_output(c);
                        return;
                }
                metrics_add(m->timeouts[1], 1);
                if (c->h2 && !c->close_after) {
                        /* An idle h2 session gets its GOAWAY first; the output closes it
                         * (or the send deadline does, when the client reads nothing). */
                        c->close_after = true;
                        h2_serve_output(c);
                        return;
                }
                break;
        case CONN_SEND:
        case CONN_MISS_WAIT:
        case CONN_READ_BODY:
                metrics_add(m->timeouts[2], 1);
                break;
        default:
                break;
        }
        conn_close(c, "deadline");
}

/* ---- input ---- */

static uint32_t in_limit(const struct conn *c)
{
        const struct edge_limits *l = &c->w->limits;

        return l->max_header_bytes * (l->max_pipeline ? l->max_pipeline : 1) +
               uring_loop_buf_size(c->w->loop);
}

static void in_release(struct conn *c)
{
        /* An idle connection keeps no input buffer. */
        free(c->in);
        c->in = NULL;
        c->in_len = c->in_cap = 0;
}

/*
 * Append to c->in. Over the limit while an answer is under way, that answer still goes out
 * whole: what was queued behind it is dropped and the connection closes after it (a client
 * retries the requests a close left unanswered, RFC 9112 §9.3.2). Otherwise returns false
 * and closes.
 */
static bool in_append(struct conn *c, const char *data, size_t n)
{
        if ((uint64_t)c->in_len + n > in_limit(c)) {
                if (c->state == CONN_SEND || c->state == CONN_MISS_WAIT) {
                        log_conn(LOG_LVL_DEBUG, c->id,
                                 "input queue over limit: closing after this answer");
                        c->close_after = true;
                        in_release(c);
                        return true;
                }
                conn_close(c, "input queue over limit");
                return false;
        }
        if (c->in_len + n > c->in_cap) {
                uint32_t cap = c->in_cap ? c->in_cap : 1024;
                char *p;
                while (cap < c->in_len + n)
                        cap *= 2;
                p = realloc(c->in, cap);
                if (!p) {
                        conn_close(c, "out of memory");
                        return false;
                }
                c->in = p;
                c->in_cap = cap;
        }
        memcpy(c->in + c->in_len, data, n);
        c->in_len += (uint32_t)n;
        return true;
}

/* The response is out: account for it and move to what comes next. */
void conn_linger(struct conn *c, const char *why)
{
        if (c->peer_eof || !c->recv_armed) {
                conn_close(c, why);
                return;
        }
        log_conn(LOG_LVL_DEBUG, c->id, "linger: %s", why);
        /* FIN after the last byte; keep reading so that bytes the client still sends (a late
         * request, HTTP/2 WINDOW_UPDATEs for the DATA it reads) cannot cause a reset that
         * would destroy the answer in flight. */
        if (c->tls)
                tls_conn_shutdown(c->tls);
        (void)shutdown(c->fd, SHUT_WR);
        in_release(c);
        conn_set_state(c, CONN_LINGER);
}

static void response_done(struct conn *c)
{
        struct edge_worker *w = c->w;
        struct access_log_outcome o = {c->req_cache, c->req_upstream};

        if (c->req_client)
                edge_metrics_request(&w->srv->m, w->idx, c->req_status, c->req_bytes);
        c->req_client = false; /* counted: a close from here on counts it no more */
        if (c->pending_log) {
                access_log_end_detached(&w->alog, c->pending_log, c->req_status, c->req_bytes,
                                        req_dur_us(c), &o);
                c->pending_log = NULL;
        } else if (access_log_on(&w->alog)) {
                access_log_end(&w->alog, c->req_status, c->req_bytes, req_dur_us(c), &o);
        }
        c->req_cache = NULL;
        c->req_upstream[0] = '\0';
        response_reset(c);

        if (c->close_after || w->draining) {
                conn_linger(c, "response done, closing");
                return;
        }
        if (c->in_len > 0) {
                /* Inside process() (a TLS answer written at once), c->in is the buffer it is
                 * reading: it goes on with the rest, and finds whether a head follows. Until
                 * then the connection is idle, not inside a head, whose deadline is shorter
                 * and which is never idle at max_connections. */
                conn_set_state(c, c->processing ? CONN_IDLE : CONN_READ_HEAD);
                if (!c->processing)
                        (void)process(c, c->in, c->in_len, true);
                return;
        }
        if (c->peer_eof) {
                conn_close(c, "peer closed");
                return;
        }
        conn_set_state(c, CONN_IDLE);
}

/* ---- refusals ---- */

/* How much of a refused head is read for its Origin, in limits.max_header_bytes: as much as
 * the parser may have read, and as much again. */
#define REFUSAL_READ_HEADS 2

struct conn_refusal {
        int status;
        const char *reason; /* static */
        bool head_only;
        uint64_t start_us; /* c->req_start_us when the head was refused */
        char origin[SERVE_ORIGIN_MAX];
        struct http1_field_seek seek;
};

/* Answer the refusal c owes; found is the search's result (> 0: its Origin's length). */
static void refusal_answer(struct conn *c, int found)
{
        struct conn_refusal *rf = c->refusal;

        c->refusal = NULL;
        http1_parser_init(&c->parser);
        c->req_start_us = rf->start_us;
        request_refuse(c, rf->status, rf->reason, found > 0 ? rf->origin : NULL,
                       found > 0 ? (size_t)found : 0, rf->head_only);
        free(rf);
}

/*
 * A request the parser refused; head[0..len) is what came of it so far. With cors_origins a
 * list without "*", the answer echoes the request's Origin when it is listed, so that the
 * player can read the status; but the parser may have stopped before that line came (a
 * request-target too long is refused while it still arrives). The rest of the head is then
 * read for it and not kept, up to its blank line, REFUSAL_READ_HEADS times max_header_bytes in
 * all, the client's FIN, a drain or the header deadline, whichever comes first; the answer
 * follows. Meanwhile c stays in CONN_READ_HEAD with c->refusal set, its parser still holding
 * the refusal, so that process() hands each further piece to refusal_input() from its branch
 * for refusals: the path of requests that parse is the same as without. Otherwise (and out of
 * memory) the answer goes at once.
 */
__attribute__((cold, noinline)) static void refuse(struct conn *c, int status, const char *reason,
                                                   const char *head, size_t len, bool head_only)
{
        struct conn_refusal *rf = NULL;
        int r;

        if (!c->admin && cors_needs_origin(&c->w->rt->cfg->cors_origins))
                rf = malloc(sizeof(*rf));
        if (!rf) {
                http1_parser_init(&c->parser);
                request_refuse(c, status, reason, NULL, 0, head_only);
                return;
        }
        rf->status = status;
        rf->reason = reason;
        rf->head_only = head_only;
        rf->start_us = c->req_start_us;
        http1_field_seek_init(&rf->seek, "Origin",
                              REFUSAL_READ_HEADS * c->w->limits.max_header_bytes);
        c->refusal = rf;
        r = http1_field_seek_feed(&rf->seek, head, len, rf->origin, sizeof(rf->origin));
        if (r != -EAGAIN || c->peer_eof)
                refusal_answer(c, r);
}

void conn_refusal_end(struct conn *c)
{
        if (c->refusal)
                refusal_answer(c, -ENOENT);
}

/* More of a head refused before its end (see refuse()). */
__attribute__((cold, noinline)) static void refusal_input(struct conn *c, const char *data,
                                                          size_t n)
{
        struct conn_refusal *rf = c->refusal;
        int r = http1_field_seek_feed(&rf->seek, data, n, rf->origin, sizeof(rf->origin));

        if (r != -EAGAIN)
                refusal_answer(c, r);
}

/*
 * Parse and answer requests from buf. from_in says buf is c->in (leftovers are then moved to
 * its start) rather than a ring buffer (leftovers are copied into c->in). Returns false when
 * c was closed.
 */
static bool process(struct conn *c, const char *buf, size_t len, bool from_in)
{
        struct edge_worker *w = c->w;
        const char *p = buf;
        size_t left = len;

        c->processing = true;
        while (left > 0) {
                size_t used = 0;
                int r;

                if (c->state == CONN_IDLE)
                        conn_set_state(c, CONN_READ_HEAD);
                if (c->state != CONN_READ_HEAD)
                        break;
                /* Prior-knowledge h2c: only a connection's first bytes are looked at. */
                if (!c->h1_seen && !c->admin) {
                        int h2 = h2_serve_sniff(p, left);
                        if (h2 == 0)
                                break; /* a prefix of the preface: wait for the rest */
                        if (h2 == 1 && (c->tls ? tls_conn_alpn(c->tls) == TLS_ALPN_H2
                                               : w->rt->cfg->http2.cleartext)) {
                                bool alive;
                                c->processing = false;
                                alive = h2_serve_start(c, p, left);
                                if (alive && (from_in || c->in_len))
                                        in_release(c);
                                return alive;
                        }
                        /* ALPN chose h2: anything but its preface is a connection error
                         * (RFC 9113 §3.4), never HTTP/1.1; its GOAWAY may be left out. */
                        if (c->tls && tls_conn_alpn(c->tls) == TLS_ALPN_H2) {
                                c->processing = false;
                                conn_close(c, "no HTTP/2 preface after ALPN h2");
                                return false;
                        }
                        c->h1_seen = true;
                }
                r = http1_req_parse(&c->parser, p, left, &w->plimits, &w->req);
                if (r == -EAGAIN)
                        break;
                /* Only the access log reads the duration: no clock read with it off. */
                c->req_start_us = access_log_on(&w->alog) ? uring_loop_clock_us() : 0;
                c->req_bytes = 0;
                c->req_status = 0; /* none yet: a close before the answer logs 499 */
                if (r < 0) {
                        if (c->refusal) {
                                refusal_input(c, p, left);
                                left = 0;
                                break;
                        }
                        int status = c->parser.status ? c->parser.status : 400;
                        const char *reason = c->parser.reason; /* static */
                        log_conn(LOG_LVL_DEBUG, c->id, "refused %d: %s", status,
                                 reason ? reason : "?");
                        /* A HEAD refused (its target or head too long) gets no body either,
                         * also after the empty lines RFC 9112 §2.2 lets a client send first. */
                        size_t lead = 0;
                        while (lead < left && (p[lead] == '\r' || p[lead] == '\n'))
                                lead++;
                        bool head = left - lead >= 5 && memcmp(p + lead, "HEAD ", 5) == 0;
                        refuse(c, status, reason, p, left, head);
                        left = 0;
                        break;
                }
                http1_parser_init(&c->parser);
                if (c->admin)
                        admin_handle(c, &w->req, p + r, left - (size_t)r, &used);
                else
                        request_handle(c, &w->req);
                p += (size_t)r + used;
                left -= (size_t)r + used;
                if (c->state == CONN_CLOSED)
                        return false;
        }
        c->processing = false;
        if (c->state == CONN_CLOSED)
                return false;
        /* No more bytes will come: a partial head can never complete. */
        if (c->peer_eof && (c->state == CONN_IDLE || c->state == CONN_READ_HEAD)) {
                conn_close(c, "peer closed");
                return false;
        }

        if (left == 0 || c->state == CONN_LINGER) {
                if (from_in || c->in_len)
                        in_release(c);
                return true;
        }
        if (from_in) {
                memmove(c->in, p, left);
                c->in_len = (uint32_t)left;
                return true;
        }
        return in_append(c, p, left);
}

/* Bytes from the socket. Returns false when c was closed. */
static bool input(struct conn *c, const char *data, size_t n)
{
        if (c->tls)
                return conn_tls_input(c, data, n);
        return conn_input_plain(c, data, n);
}

bool conn_input_plain(struct conn *c, const char *data, size_t n)
{
        if (c->h2)
                return c->state == CONN_LINGER || h2_serve_input(c, data, n);
        switch (c->state) {
        case CONN_LINGER:
        case CONN_CLOSED:
                return true;
        case CONN_SEND:
        case CONN_MISS_WAIT:
                /* Nothing is read after an answer that closes the connection (a refused
                 * body's rest, say): dropped, never queued against the limit. */
                return c->close_after || in_append(c, data, n);
        case CONN_READ_BODY: {
                size_t used = admin_body(c, data, n);
                if (c->state == CONN_CLOSED)
                        return false;
                data += used;
                n -= used;
                if (n == 0)
                        return true;
                if (c->state == CONN_SEND || c->state == CONN_LINGER)
                        return c->state == CONN_LINGER || c->close_after || in_append(c, data, n);
                break;
        }
        case CONN_IDLE:
        case CONN_READ_HEAD:
                break;
        }
        if (c->in_len == 0)
                return process(c, data, n, false);
        if (!in_append(c, data, n))
                return false;
        return process(c, c->in, c->in_len, true);
}

void conn_on_recv(struct uring_loop *loop, void *owner, const struct io_uring_cqe *cqe)
{
        struct conn *c = owner;
        bool more = cqe->flags & IORING_CQE_F_MORE;
        bool alive;

        if (!more)
                c->recv_armed = false;
        if (cqe->res <= 0) {
                uring_loop_buf_recycle(loop, cqe);
                if (cqe->res == -ENOBUFS && !more) {
                        /* The ring ran dry under load; the data is still in the socket. */
                        if (uring_loop_recv_multishot(loop, c->slot, EDGE_OP_RECV, c->fd) == 0)
                                c->recv_armed = true;
                        else
                                conn_close(c, "cannot re-arm recv");
                        return;
                }
                if (cqe->res < 0 && cqe->res != -ECANCELED) {
                        conn_close(c, "recv error");
                        return;
                }
                /* EOF: finish what is under way, then close. A PUT body still owed can
                 * never complete: drop it now (conn_close aborts the PUT), not at the
                 * progress deadline. */
                c->peer_eof = true;
                if (c->state == CONN_SEND || c->state == CONN_MISS_WAIT)
                        return;
                if (c->refusal) {
                        refusal_answer(c, -ENOENT); /* no more of the head will come */
                        return;
                }
                conn_close(c, c->state == CONN_READ_BODY ? "peer closed mid-body" : "peer closed");
                return;
        }
        {
                const char *buf = uring_loop_cqe_buf(loop, cqe);
                alive = buf ? input(c, buf, (size_t)cqe->res) : false;
                uring_loop_buf_recycle(loop, cqe);
                if (!buf) {
                        conn_close(c, "recv without buffer");
                        return;
                }
        }
        if (!alive || c->state == CONN_CLOSED)
                return;
        if (!c->recv_armed && !c->peer_eof) {
                if (uring_loop_recv_multishot(loop, c->slot, EDGE_OP_RECV, c->fd) == 0)
                        c->recv_armed = true;
                else
                        conn_close(c, "cannot re-arm recv");
        }
}

/* ---- output ---- */

/*
 * Write what is pending: c->out (TLS; a plain socket's went through the ring), then the file
 * range. Returns 1 when all is written, 0 when the socket is full or the turn is over, 2 when
 * a fill has not yet written the next bytes, -errno on a write error or a fill that broke
 * off.
 */
static int flush_out(struct conn *c)
{
        size_t turn = 0;

        if (c->tls)
                return conn_tls_flush(c);
        BUG_ON_HOT(c->out_off < c->out_len); /* plain sockets send c->out through the ring */
        while (c->body_off < c->body_end) {
                off_t off = (off_t)c->body_off;
                uint64_t want = c->body_end - c->body_off;
                ssize_t n;

                if (c->mw) {
                        bool failed;
                        uint64_t avail = miss_body_avail(c, &failed);
                        if (avail <= c->body_off)
                                return failed ? -EIO : 2;
                        if (want > avail - c->body_off)
                                want = avail - c->body_off;
                }

                if (want > SENDFILE_TURN - turn)
                        want = SENDFILE_TURN - turn;
                n = sendfile(c->fd, c->obj.fd, &off, (size_t)want);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return errno == EAGAIN ? 0 : -errno;
                }
                if (n == 0) { /* the file shrank under us: never pad a response */
                        if (!c->mw)
                                store_obj_distrust(c->w->reader, &c->obj);
                        return -EIO;
                }
                c->body_off += (uint64_t)n;
                c->req_bytes += (uint64_t)n;
                turn += (size_t)n;
                if (c->body_off == c->body_end)
                        break;
                /* Short: the socket is full, and another call would only say so. */
                if ((uint64_t)n < want)
                        return 0;
                if (turn >= SENDFILE_TURN)
                        return 0; /* let other connections have the core; POLLOUT resumes */
        }
        return 1;
}

/*
 * The response goes on outside the input path (a ring send, a fill, room in the socket): park
 * the connection in CONN_SEND, or push the send-progress deadline on.
 */
static void send_wait(struct conn *c)
{
        if (c->state != CONN_SEND) {
                if (!c->pending_log)
                        c->pending_log = access_log_detach(&c->w->alog);
                conn_set_state(c, CONN_SEND);
        } else {
                deadline_set(c, c->w->limits.send_timeout_ms);
        }
}

void conn_wait_miss(struct conn *c)
{
        if (!c->pending_log)
                c->pending_log = access_log_detach(&c->w->alog);
        if (c->mw)
                c->mw->moved_ms = uring_loop_now_ms(c->w->loop);
        conn_set_state(c, CONN_MISS_WAIT);
}

bool conn_arm_pollout(struct conn *c)
{
        int64_t n;

        if (c->poll_armed)
                return true;
        if (uring_loop_poll(c->w->loop, c->slot, EDGE_OP_POLLOUT, c->fd, POLLOUT) < 0) {
                conn_close(c, "cannot arm poll");
                return false;
        }
        c->poll_armed = true;
        n = sock_unsent(c->fd);
        probe_start(c, n < 0                ? UNSENT_UNKNOWN
                       : n < UNSENT_UNKNOWN ? (uint32_t)n
                                            : UNSENT_UNKNOWN - 1);
        return true;
}

static void wait_writable(struct conn *c)
{
        if (conn_arm_pollout(c))
                send_wait(c);
}

/*
 * Send the rest of c->out through the ring; MSG_MORE while a file body follows, so the head
 * and the body's first bytes share a segment. c->out belongs to the operation until
 * conn_on_send().
 */
static int out_submit(struct conn *c)
{
        int r = uring_loop_send(c->w->loop, c->slot, EDGE_OP_SEND, c->fd, c->out + c->out_off,
                                c->out_len - c->out_off, c->body_off < c->body_end ? MSG_MORE : 0);

        if (r == 0)
                c->send_armed = true;
        return r;
}

/* The msghdr of a head-and-body send, and the guard read's byte, at the end of the head's
 * pooled buffer. */
struct out_msg {
        struct msghdr msg;
        struct iovec iov[2];
        char last;
};
#define OUT_MSG_AT ((CONN_OUT_SMALL - sizeof(struct out_msg)) & ~(size_t)7)

/*
 * A small file body leaves with the head in one sendmsg through the ring (plain sockets, an
 * object held in the store's fd cache). Its second iovec points into the object's read-only
 * mapping, so the kernel takes the bytes from the page cache into the socket buffer in the
 * same call as the head: no read(2) into a buffer of ours, no userspace copy, and one send
 * where the head's send and a sendfile(2) were two.
 *
 * A mapping reads zeros past a file's end inside its last page, where sendfile(2) stops short.
 * So the send is linked behind a one-byte read of the body's last byte, in the same submit: a
 * file that shrank below it behind the edge's back makes that read come back short, the send
 * is cancelled before any byte goes out, and the object is distrusted (conn_on_send).
 *
 * Returns 1 when queued, 0 when the body is not such a body (the caller sends the head alone),
 * -errno when the ring refused.
 */
static int out_submit_with_body(struct conn *c)
{
        uint64_t len = c->body_end - c->body_off;
        struct uring_loop_guard guard;
        const void *map;
        struct out_msg *m;
        int r;

        if (!c->has_obj || c->mw || len == 0 || len > SMALL_BODY_MAX || c->out_off != 0 ||
            c->out_len > OUT_MSG_AT || c->body_end > c->obj.size ||
            store_obj_map(&c->obj, &map) != 0)
                return 0;
        m = (struct out_msg *)(void *)(c->out + OUT_MSG_AT);
        m->iov[0] = (struct iovec){c->out, c->out_len};
        m->iov[1] = (struct iovec){(char *)(uintptr_t)map + c->body_off, (size_t)len};
        m->msg = (struct msghdr){.msg_iov = m->iov, .msg_iovlen = 2};
        guard = (struct uring_loop_guard){c->obj.fd, &m->last, 1, c->body_end - 1};
        r = uring_loop_sendmsg_after_reads(c->w->loop, c->slot, EDGE_OP_SEND, c->fd, &m->msg, 0,
                                           false, &guard, 1);
        if (r < 0)
                return r;
        c->send_armed = true;
        c->send_body = true;
        return 1;
}

/*
 * Keep what is still to write of head a and memory body b, past the first skip bytes of the
 * two, in c->out (left NULL when nothing is). Returns false when out of memory.
 */
static bool out_take(struct conn *c, const char *a, size_t alen, const char *b, size_t blen,
                     size_t skip)
{
        size_t rest = alen + blen - skip;
        char *p;

        if (rest == 0)
                return true;
        if (rest > UINT32_MAX)
                return false;
        p = out_get(c->w, rest);
        if (!p)
                return false;
        if (skip < alen) {
                memcpy(p, a + skip, alen - skip);
                if (blen)
                        memcpy(p + alen - skip, b, blen);
        } else {
                memcpy(p, b + (skip - alen), rest);
        }
        c->out = p;
        c->out_len = (uint32_t)rest;
        c->out_off = 0;
        return true;
}

/* The file part of r becomes c's body range (an obj's ownership passes to c). */
static void body_take(struct conn *c, const struct conn_resp *r)
{
        bool file = (r->obj || r->from_fill) && r->len > 0;

        if (r->obj) {
                c->obj = *r->obj;
                c->has_obj = true;
        } else if (r->from_fill) {
                c->obj.fd = r->fill_fd;
                c->obj.priv = NULL;
        } else {
                return;
        }
        c->body_off = r->off;
        c->body_end = file ? r->off + r->len : r->off;
}

/*
 * Write on from c->out and the body range. When all is out the response is done; resume says
 * the caller is not the input path, which would otherwise re-arm the receive itself.
 */
static void output_step(struct conn *c, bool resume)
{
        int r = flush_out(c);

        if (c->mw)
                c->mw->body_waits = r == 2;
        if (r < 0) {
                conn_close(c, r == -EIO && c->mw ? "fill broke off" : "send error");
                return;
        }
        if (r == 2) {
                send_wait(c);
                return;
        }
        if (r == 0) {
                wait_writable(c);
                return;
        }
        response_done(c);
        if (resume)
                conn_resume_input(c);
}

/*
 * Plain sockets: the head (with any memory body) goes through the ring, in the submit that
 * also waits for the next receives, and the file body follows by sendfile(2) from the send's
 * completion (conn_on_send) — one system call per small response instead of two. TLS writes
 * records now and keeps what did not fit for POLLOUT.
 */
void conn_respond(struct conn *c, const struct conn_resp *r)
{
        size_t sent = 0;

        c->req_status = r->status;
        c->req_client = r->client;
        c->req_bytes = 0;
        BUG_ON_HOT(c->has_obj || c->out || c->send_armed);

        body_take(c, r);
        if (c->tls) {
                ssize_t n = conn_tls_write_head(c, r);
                if (n < 0 && n != -EAGAIN) {
                        conn_close(c, "send error");
                        return;
                }
                sent = n > 0 ? (size_t)n : 0;
                c->req_bytes = sent;
        }
        if (!out_take(c, r->head, r->head_len, r->body, r->body_len, sent)) {
                conn_close(c, "out of memory");
                return;
        }
        if (!c->out) {
                output_step(c, false);
                return;
        }
        if (c->tls) {
                wait_writable(c);
                return;
        }
        if (out_submit_with_body(c) < 0 || (!c->send_armed && out_submit(c) < 0)) {
                conn_close(c, "cannot queue send");
                return;
        }
        send_wait(c);
}

void conn_on_send(struct uring_loop *loop, void *owner, const struct io_uring_cqe *cqe)
{
        struct conn *c = owner;
        bool with_body = c->send_body;
        uint32_t head = (uint32_t)cqe->res;

        (void)loop;
        c->send_armed = false;
        c->send_body = false;
        if (c->state == CONN_CLOSED)
                return;
        if (cqe->res == -EAGAIN) {
                /* Nothing taken, the socket full: a wakeup without room (the client's FIN)
                 * sends the ring's second try to a worker that cannot wait on a nonblocking
                 * socket. The same send again waits for room; the send deadline still ends a
                 * client that never reads. */
                if (out_submit_with_body(c) < 0 || (!c->send_armed && out_submit(c) < 0))
                        conn_close(c, "cannot queue send");
                else
                        send_wait(c);
                return;
        }
        if (cqe->res <= 0) {
                /* ECANCELED: the guard read found the file short; EFAULT: it shrank between
                 * the read and the send. Either way it was damaged behind the edge's back. */
                if (with_body && (cqe->res == -ECANCELED || cqe->res == -EFAULT)) {
                        log_conn(LOG_LVL_WARN, c->id,
                                 "cached file changed size behind the edge's back; dropped");
                        store_obj_distrust(c->w->reader, &c->obj);
                }
                conn_close(c, cqe->res == 0 ? "send made no progress" : "send error");
                return;
        }
        if (with_body && head > c->out_len - c->out_off) {
                head = c->out_len - c->out_off;
                c->body_off += (uint64_t)cqe->res - head;
        }
        c->out_off += head;
        c->req_bytes += (uint64_t)cqe->res;
        if (c->out_off < c->out_len) {
                /* The socket took part of it (a slow reader): send the rest. */
                if (out_submit(c) < 0)
                        conn_close(c, "cannot queue send");
                else
                        send_wait(c);
                return;
        }
        out_put(c);
        c->out_len = c->out_off = 0;
        output_step(c, true);
}

void conn_on_pollout(struct uring_loop *loop, void *owner, const struct io_uring_cqe *cqe)
{
        struct conn *c = owner;

        if (c->tls && conn_tls_pollout(c))
                return;
        c->poll_armed = false;
        if (c->h2) {
                if (c->state == CONN_CLOSED)
                        return;
                if (cqe->res < 0 && cqe->res != -ECANCELED)
                        conn_close(c, "poll error");
                else
                        h2_serve_pollout(c);
                return;
        }
        if (c->state != CONN_SEND || c->send_armed)
                return;
        if (cqe->res < 0 && cqe->res != -ECANCELED) {
                conn_close(c, "poll error");
                return;
        }
        output_step(c, true);
}

void conn_resume_input(struct conn *c)
{
        if (c->state == CONN_CLOSED)
                return;
        if (!c->recv_armed && !c->peer_eof && c->state != CONN_LINGER) {
                if (uring_loop_recv_multishot(c->w->loop, c->slot, EDGE_OP_RECV, c->fd) == 0)
                        c->recv_armed = true;
                else
                        conn_close(c, "cannot re-arm recv");
        }
}

void conn_output_resume(struct conn *c)
{
        /* A send or poll in flight carries on by itself when it completes. */
        if (c->state != CONN_SEND || c->poll_armed || c->send_armed || !c->mw)
                return;
        output_step(c, true);
}
