/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#include "fnv.h"
#include "http-cond.h"
#include "http1-parse.h"
#include "log.h"
#include "path-norm.h"
#include "uring-loop.h"

#include "edge-cfg.h"
#include "upstream-head.h"
#include "upstream.h"

#define MAX_CONNECTS     64 /* idle keep-alive connections kept per worker */
#define BACKOFF_FIRST_MS 1000u
#define BACKOFF_MAX_MS   30000u
#define URL_MAX          (4096 + 3 * 512)

/* One socket curl asked us to watch. Freed through the loop once its poll is gone. */
struct usock {
        struct upstream_ctx *ctx;
        struct usock *next; /* ctx->socks (live) or ctx->dead */
        curl_socket_t fd;
        uint32_t slot;
        int want; /* CURL_POLL_IN/OUT/INOUT */
        unsigned armed_events;
        uint64_t armed_ud;
        bool armed;
        bool cancelling; /* a cancel is in flight for the armed poll */
        bool removed;
};

/* A socket libcurl opened through us, while it is open: found again by its local address when
 * a request is about to go on it (on_prereq). */
struct uconn {
        curl_socket_t fd;
        long lport; /* 0 until first looked up */
        char lip[INET6_ADDRSTRLEN];
};

struct upstream_fetch {
        struct upstream_ctx *ctx;
        struct upstream_fetch *prev, *next;
        CURL *easy;
        struct curl_slist *hdrs;
        const struct upstream_cbs *cbs;
        void *ud;
        struct uring_timer first_byte; /* armed until the response head arrives */
        uint64_t first_byte_ms;        /* from the request's send (on_prereq) to its head */
        /* The body's pace, from the head on (on_low_speed_tick): below low_speed_bytes a
         * second for low_speed_ms, the fetch fails. curl's own check would count the wait for
         * the head too, and cut a slow-heading origin before first_byte_timeout. */
        struct uring_timer low_speed;
        uint64_t body_bytes, ls_mark_bytes;
        uint64_t ls_mark_ms, ls_below_since_ms; /* ls_below_since_ms 0: not below */
        uint64_t ls_ms, ls_bytes;
        bool head_seen;
        bool stopped; /* a callback asked to stop */
        bool unclean; /* its connection held bytes before the request went (on_prereq) */
        bool tls;     /* an https:// upstream */
        /* What was read of the response's head so far. */
        struct upstream_head head;
};

struct upstream_ctx {
        struct uring_loop *loop;
        struct upstream_ops ops;
        CURLM *multi;
        struct uring_timer timer;
        struct upstream_fetch *fetches;
        struct usock *socks;
        struct usock *dead;
        struct uconn *conns; /* every socket open through open_socket */
        size_t n_conns, cap_conns;
        bool in_action; /* inside curl: completions are collected afterwards */
};

bool upstream_ctx_busy(const struct upstream_ctx *ctx)
{
        return ctx && ctx->fetches;
}

/* ---- health ---- */

/* By position, each slot naming the URL its state is about (its hash): a reload may put
 * another upstream in that position, which starts with a clean slate. */
static struct {
        atomic_uint fails;
        _Atomic uint64_t down_until_ms;
        _Atomic uint64_t url_hash;
} health[UPSTREAM_MAX];

static uint64_t now_ms(void)
{
        return uring_loop_clock_us() / 1000;
}

bool upstream_health_usable(unsigned idx, const char *url)
{
        if (idx >= UPSTREAM_MAX)
                return true;
        if (atomic_load(&health[idx].url_hash) != key_hash64(url, strlen(url)))
                return true; /* what is known there is about another upstream */
        return atomic_load(&health[idx].down_until_ms) <= now_ms();
}

void upstream_health_report(unsigned idx, const char *url, bool ok)
{
        uint64_t h = key_hash64(url, strlen(url));
        unsigned fails;
        uint64_t backoff;

        if (idx >= UPSTREAM_MAX)
                return;
        if (atomic_exchange(&health[idx].url_hash, h) != h) {
                /* The first word on this upstream in this position: nothing before counts. */
                atomic_store(&health[idx].fails, 0);
                atomic_store(&health[idx].down_until_ms, 0);
        }
        if (ok) {
                /* Only the transitions are logged: one line when it goes down, one back. */
                fails = atomic_exchange(&health[idx].fails, 0);
                atomic_store(&health[idx].down_until_ms, 0);
                if (fails)
                        log_info("upstream %s recovered after %u failure(s)", url, fails);
                return;
        }
        fails = atomic_fetch_add(&health[idx].fails, 1) + 1;
        backoff = BACKOFF_FIRST_MS << (fails > 6 ? 5 : fails - 1);
        if (backoff > BACKOFF_MAX_MS)
                backoff = BACKOFF_MAX_MS;
        atomic_store(&health[idx].down_until_ms, now_ms() + backoff);
        if (fails == 1)
                log_warn("upstream %s is down: fills skip it for %llu ms, doubling while it "
                         "keeps failing (the origin is still always tried)",
                         url, (unsigned long long)backoff);
}

/* ---- sockets ---- */

static void sock_free(struct uring_loop *loop, void *owner)
{
        free(owner);
}

static unsigned events_of(int want)
{
        unsigned ev = 0;

        if (want == CURL_POLL_IN || want == CURL_POLL_INOUT)
                ev |= POLLIN;
        if (want == CURL_POLL_OUT || want == CURL_POLL_INOUT)
                ev |= POLLOUT;
        return ev;
}

/* Cancel s's armed poll precisely (by user_data: curl may already have reused the fd number). */
static int cancel_armed(struct usock *s)
{
        struct io_uring_sqe *sqe;

        if (!s->armed || s->cancelling)
                return 0;
        sqe = uring_loop_sqe(s->ctx->loop, s->slot, s->ctx->ops.cancel);
        if (!sqe)
                return -EBUSY;
        io_uring_prep_cancel64(sqe, s->armed_ud, 0);
        s->cancelling = true;
        return 0;
}

static void sock_arm(struct usock *s)
{
        struct upstream_ctx *ctx = s->ctx;
        unsigned ev = events_of(s->want);

        if (s->removed || !ev)
                return;
        if (s->armed) {
                /* The armed mask no longer matches: cancel; the completion re-arms. */
                if (s->armed_events != ev)
                        (void)cancel_armed(s);
                return;
        }
        s->armed_ud = uring_loop_user_data(ctx->loop, s->slot, ctx->ops.poll);
        if (uring_loop_poll(ctx->loop, s->slot, ctx->ops.poll, s->fd, ev) < 0) {
                /* No SQE: the timer path still drives curl; try again on the next event. */
                log_debug("cannot arm poll on fd %d, ignoring", s->fd);
                return;
        }
        s->armed = true;
        s->cancelling = false;
        s->armed_events = ev;
}

/* Release sockets curl is done with (deferred so no caller up the stack holds one). */
static void sweep_dead(struct upstream_ctx *ctx)
{
        while (ctx->dead) {
                struct usock *s = ctx->dead;
                ctx->dead = s->next;
                (void)cancel_armed(s);
                uring_loop_slot_close(ctx->loop, s->slot);
        }
}

static void unlink_sock(struct upstream_ctx *ctx, struct usock *s)
{
        for (struct usock **pp = &ctx->socks; *pp; pp = &(*pp)->next)
                if (*pp == s) {
                        *pp = s->next;
                        return;
                }
}

static int conn_track(struct upstream_ctx *ctx, curl_socket_t fd)
{
        if (ctx->n_conns == ctx->cap_conns) {
                size_t cap = ctx->cap_conns ? 2 * ctx->cap_conns : 16;
                struct uconn *n = realloc(ctx->conns, cap * sizeof(*n));
                if (!n)
                        return -ENOMEM;
                ctx->conns = n;
                ctx->cap_conns = cap;
        }
        ctx->conns[ctx->n_conns++] = (struct uconn){.fd = fd};
        return 0;
}

/* libcurl's own socket(2), but for a full descriptor table: the worker may free some. */
static curl_socket_t open_socket(void *clientp, curlsocktype purpose, struct curl_sockaddr *a)
{
        struct upstream_ctx *ctx = clientp;
        int fd;

        (void)purpose;
        for (;;) {
                fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
                if (fd >= 0 || (errno != EMFILE && errno != ENFILE) || !ctx->ops.fds_full ||
                    ctx->ops.fds_full(ctx->loop) == 0)
                        break;
        }
        if (fd >= 0 && conn_track(ctx, fd) < 0) {
                (void)close(fd); /* a socket on_prereq could not check is not used */
                fd = -1;
        }
        return fd < 0 ? CURL_SOCKET_BAD : fd;
}

static int close_socket(void *clientp, curl_socket_t fd)
{
        struct upstream_ctx *ctx = clientp;

        for (size_t i = 0; i < ctx->n_conns; i++)
                if (ctx->conns[i].fd == fd) {
                        ctx->conns[i] = ctx->conns[--ctx->n_conns];
                        break;
                }
        return close(fd);
}

/* The socket of ours bound to local_ip:local_port, or -1. */
static curl_socket_t conn_find(struct upstream_ctx *ctx, const char *local_ip, long local_port)
{
        for (size_t i = 0; i < ctx->n_conns; i++) {
                struct uconn *u = &ctx->conns[i];
                if (!u->lport) {
                        struct sockaddr_storage sa;
                        socklen_t len = sizeof(sa);
                        const void *addr = NULL;
                        if (getsockname(u->fd, (struct sockaddr *)&sa, &len) < 0)
                                continue;
                        if (sa.ss_family == AF_INET) {
                                const struct sockaddr_in *in = (const void *)&sa;
                                addr = &in->sin_addr;
                                u->lport = ntohs(in->sin_port);
                        } else if (sa.ss_family == AF_INET6) {
                                const struct sockaddr_in6 *in6 = (const void *)&sa;
                                addr = &in6->sin6_addr;
                                u->lport = ntohs(in6->sin6_port);
                        }
                        if (!addr || !u->lport ||
                            !inet_ntop(sa.ss_family, addr, u->lip, sizeof(u->lip))) {
                                u->lport = 0; /* not bound yet, or not an IP socket */
                                continue;
                        }
                }
                if (u->lport == local_port && strcmp(u->lip, local_ip) == 0)
                        return u->fd;
        }
        return -1;
}

/*
 * Just before a request goes on a connection, new or from the pool: it must hold nothing
 * unread. Bytes there came before any request on it: the rest of an earlier answer that ran
 * past its Content-Length, or a whole answer the upstream sent out of step, which libcurl
 * (7.88 takes a pooled connection with unread bytes as alive) would read as this request's
 * answer, and the fill would store under this key. Such a connection is closed unused and
 * the fetch said -EPIPE (collect_done): the fill asks again on a new connection. Over TLS
 * the socket is not looked at: what waits there may be a session ticket sent after the
 * handshake, which cannot be told apart from a stray answer's records.
 */
static int on_prereq(void *clientp, char *primary_ip, char *local_ip, int primary_port,
                     int local_port)
{
        struct upstream_fetch *f = clientp;
        curl_socket_t fd = f->tls ? -1 : conn_find(f->ctx, local_ip, local_port);
        char b;
        ssize_t n;

        n = fd < 0 ? -1 : recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
        if (fd < 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))) {
                /* Connected: first_byte_timeout runs from here, the request's send (it was
                 * armed for the connect as well until now). */
                if (uring_timer_arm(f->ctx->loop, &f->first_byte,
                                    uring_loop_now_ms(f->ctx->loop) + f->first_byte_ms) < 0)
                        return CURL_PREREQFUNC_ABORT; /* unwatched, it could wait for ever */
                return CURL_PREREQFUNC_OK;
        }
        f->unclean = true;
        (void)curl_easy_setopt(f->easy, CURLOPT_FORBID_REUSE, 1L);
        log_warn("upstream %s:%d: a connection held %s before a request went on it (an answer "
                 "ran past its length, or came unasked): closed unused",
                 primary_ip, primary_port, n > 0 ? "unread bytes" : "its close");
        return CURL_PREREQFUNC_ABORT;
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
        struct upstream_ctx *ctx = userp;
        struct usock *s = socketp;

        if (what == CURL_POLL_REMOVE) {
                if (s) {
                        (void)curl_multi_assign(ctx->multi, fd, NULL);
                        s->removed = true;
                        unlink_sock(ctx, s);
                        s->next = ctx->dead;
                        ctx->dead = s;
                }
                return 0;
        }
        if (!s) {
                s = calloc(1, sizeof(*s));
                if (!s)
                        return -1;
                s->ctx = ctx;
                s->fd = fd;
                if (uring_loop_slot_alloc(ctx->loop, s, sock_free, &s->slot) < 0) {
                        free(s);
                        return -1;
                }
                s->next = ctx->socks;
                ctx->socks = s;
                (void)curl_multi_assign(ctx->multi, fd, s);
        }
        s->want = what;
        sock_arm(s);
        return 0;
}

static int on_timer_set(CURLM *multi, long timeout_ms, void *userp)
{
        struct upstream_ctx *ctx = userp;

        if (timeout_ms < 0) {
                uring_timer_cancel(ctx->loop, &ctx->timer);
                return 0;
        }
        return uring_timer_arm(ctx->loop, &ctx->timer,
                               uring_loop_now_ms(ctx->loop) + (uint64_t)timeout_ms) < 0
                   ? -1
                   : 0;
}

/* ---- fetch completion ---- */

/* A fetch's header list, one line of which may carry the upstream's bearer token: each line
 * is wiped before the list is freed. */
static void hdrs_free(struct curl_slist *list)
{
        for (struct curl_slist *l = list; l; l = l->next)
                explicit_bzero(l->data, strlen(l->data));
        curl_slist_free_all(list);
}

static void fetch_finish(struct upstream_fetch *f, int err)
{
        struct upstream_ctx *ctx = f->ctx;

        uring_timer_cancel(ctx->loop, &f->first_byte);
        uring_timer_cancel(ctx->loop, &f->low_speed);
        (void)curl_multi_remove_handle(ctx->multi, f->easy);
        if (f->prev)
                f->prev->next = f->next;
        else
                ctx->fetches = f->next;
        if (f->next)
                f->next->prev = f->prev;
        f->cbs->on_done(f->ud, err);
        curl_easy_cleanup(f->easy);
        hdrs_free(f->hdrs);
        free(f);
}

static int err_of(CURLcode rc)
{
        switch (rc) {
        case CURLE_OK:
                return 0;
        case CURLE_OPERATION_TIMEDOUT:
                return -ETIMEDOUT;
        case CURLE_COULDNT_CONNECT:
        case CURLE_COULDNT_RESOLVE_HOST:
                return -ECONNREFUSED;
        case CURLE_PARTIAL_FILE:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
                return -ECONNRESET;
        case CURLE_WRITE_ERROR:
        case CURLE_ABORTED_BY_CALLBACK:
                return -ECANCELED;
        default:
                return -EPROTO;
        }
}

static void collect_done(struct upstream_ctx *ctx)
{
        CURLMsg *msg;
        int left;

        while ((msg = curl_multi_info_read(ctx->multi, &left))) {
                struct upstream_fetch *f = NULL;
                if (msg->msg != CURLMSG_DONE)
                        continue;
                (void)curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&f);
                if (!f)
                        continue;
                int err = f->stopped ? -ECANCELED : err_of(msg->data.result);
                long conns = 0;

                if (f->unclean && !f->stopped)
                        err = -EPROTO; /* said -EPIPE below when the connection was pooled */

                /* Before any head on a connection from the pool (none was made for it): the
                 * upstream had closed it, or an earlier answer left it out of step. Said as
                 * -EPIPE, which the fill tries once more on a new connection; a new
                 * connection that fails so is the upstream's answer, not worth another. */
                if ((err == -ECONNRESET || err == -EPROTO) && !f->head_seen &&
                    curl_easy_getinfo(msg->easy_handle, CURLINFO_NUM_CONNECTS, &conns) ==
                        CURLE_OK &&
                    conns == 0)
                        err = -EPIPE;
                fetch_finish(f, err);
        }
}

static void action(struct upstream_ctx *ctx, curl_socket_t fd, int flags)
{
        int running;

        ctx->in_action = true;
        (void)curl_multi_socket_action(ctx->multi, fd, flags, &running);
        ctx->in_action = false;
        collect_done(ctx);
}

static void on_timer_fire(struct uring_loop *loop, struct uring_timer *t)
{
        struct upstream_ctx *ctx = (struct upstream_ctx *)((char *)t -
                                                           offsetof(struct upstream_ctx, timer));

        action(ctx, CURL_SOCKET_TIMEOUT, 0);
        sweep_dead(ctx);
}

void upstream_on_poll(struct uring_loop *loop, void *owner, const struct io_uring_cqe *cqe)
{
        struct usock *s = owner;
        struct upstream_ctx *ctx = s->ctx;
        int flags = 0;

        s->armed = false;
        s->cancelling = false;
        if (s->removed)
                return;
        if (cqe->res > 0) {
                if (cqe->res & (POLLIN | POLLHUP | POLLRDHUP))
                        flags |= CURL_CSELECT_IN;
                if (cqe->res & POLLOUT)
                        flags |= CURL_CSELECT_OUT;
                if (cqe->res & POLLERR)
                        flags |= CURL_CSELECT_ERR;
        } else if (cqe->res != -ECANCELED) {
                flags = CURL_CSELECT_ERR;
        }
        if (flags)
                action(ctx, s->fd, flags);
        /* curl may have removed s meanwhile: it sits on the dead list, freed only by the
         * sweep below (closing its slot frees it at once, nothing being in flight). */
        if (!s->removed)
                sock_arm(s);
        sweep_dead(ctx);
}

void upstream_on_cancel(struct uring_loop *loop, void *owner, const struct io_uring_cqe *cqe)
{
        /* Nothing to do: the cancelled poll's own completion re-arms or is dropped. */
}

/* ---- callbacks from curl ---- */

/* The next look at the body's pace: a second on, or sooner when low_speed_time is shorter. */
static int low_speed_arm(struct upstream_fetch *f, uint64_t now)
{
        return uring_timer_arm(f->ctx->loop, &f->low_speed,
                               now + (f->ls_ms < 1000 ? f->ls_ms : 1000));
}

static void on_low_speed_tick(struct uring_loop *loop, struct uring_timer *t)
{
        struct upstream_fetch *f =
            (struct upstream_fetch *)((char *)t - offsetof(struct upstream_fetch, low_speed));
        struct upstream_ctx *ctx = f->ctx;
        uint64_t now = uring_loop_now_ms(loop);
        uint64_t span = now > f->ls_mark_ms ? now - f->ls_mark_ms : 1;

        if ((f->body_bytes - f->ls_mark_bytes) * 1000 < f->ls_bytes * span) {
                if (!f->ls_below_since_ms)
                        f->ls_below_since_ms = f->ls_mark_ms ? f->ls_mark_ms : 1;
                if (now - f->ls_below_since_ms >= f->ls_ms) {
                        fetch_finish(f, -ETIMEDOUT);
                        sweep_dead(ctx);
                        return;
                }
        } else {
                f->ls_below_since_ms = 0;
        }
        f->ls_mark_ms = now;
        f->ls_mark_bytes = f->body_bytes;
        if (low_speed_arm(f, now) < 0) { /* cannot watch it: let it go as it is */
                fetch_finish(f, -ENOMEM);
                sweep_dead(ctx);
        }
}

static void on_first_byte_timeout(struct uring_loop *loop, struct uring_timer *t)
{
        struct upstream_fetch *f =
            (struct upstream_fetch *)((char *)t - offsetof(struct upstream_fetch, first_byte));

        struct upstream_ctx *ctx = f->ctx;

        fetch_finish(f, -ETIMEDOUT);
        sweep_dead(ctx);
}

static size_t on_header(char *buf, size_t size, size_t nmemb, void *userp)
{
        struct upstream_fetch *f = userp;
        size_t len = size * nmemb;
        struct upstream_resp resp;
        struct upstream_head *h = &f->head;
        curl_off_t cl = -1;

        if (len >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
                /* A new response (after a 1xx): forget the previous head's fields. */
                upstream_head_reset(h);
                return len;
        }
        if (!(len <= 2 && (buf[0] == '\r' || buf[0] == '\n'))) {
                upstream_head_line(h, buf, len);
                return len;
        }
        memset(&resp, 0, sizeof(resp));
        (void)curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &resp.status);
        if (resp.status < 200)
                return len;
        f->head_seen = true;
        uring_timer_cancel(f->ctx->loop, &f->first_byte);
        f->ls_mark_ms = uring_loop_now_ms(f->ctx->loop);
        f->ls_mark_bytes = f->body_bytes;
        if (low_speed_arm(f, f->ls_mark_ms) < 0)
                return 0; /* no watch on its pace: stop it */
        (void)curl_easy_getinfo(f->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
        /* Framed by Transfer-Encoding, or by lengths that disagree (RFC 9112 section 6.3):
         * no length to check the body against, which the fill refuses. */
        resp.content_length = upstream_head_length(h, (int64_t)cl);
        resp.content_type = h->ctype[0] ? h->ctype : NULL;
        resp.sha256_hex = h->sha[0] ? h->sha : NULL;
        resp.cache_status = h->cstatus[0] ? h->cstatus : NULL;
        resp.content_coding = h->cenc[0] ? h->cenc : NULL;
        resp.age = h->age;
        if (h->lastmod[0] &&
            http_date_parse(h->lastmod, strlen(h->lastmod), &resp.last_modified) < 0)
                resp.last_modified = 0; /* unparsable: as if absent */
        if (f->cbs->on_head(f->ud, &resp) < 0) {
                f->stopped = true;
                return 0; /* anything but len stops the transfer */
        }
        return len;
}

static size_t on_write(char *buf, size_t size, size_t nmemb, void *userp)
{
        struct upstream_fetch *f = userp;
        size_t len = size * nmemb;

        if (f->stopped || f->cbs->on_body(f->ud, buf, len) < 0) {
                f->stopped = true;
                return 0;
        }
        f->body_bytes += len;
        return len;
}

/* ---- public ---- */

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;

static void global_init(void)
{
        global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

int upstream_ctx_new(struct uring_loop *loop, const struct upstream_ops *ops,
                     struct upstream_ctx **ret)
{
        struct upstream_ctx *ctx;

        /* Once per process, before any handle, from whichever worker starts first. */
        (void)pthread_once(&global_once, global_init);
        if (global_rc != CURLE_OK)
                return -EIO;
        ctx = calloc(1, sizeof(*ctx));
        if (!ctx)
                return -ENOMEM;
        ctx->loop = loop;
        ctx->ops = *ops;
        uring_timer_init(&ctx->timer, on_timer_fire);
        ctx->multi = curl_multi_init();
        if (!ctx->multi) {
                free(ctx);
                return -ENOMEM;
        }
        (void)curl_multi_setopt(ctx->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
        (void)curl_multi_setopt(ctx->multi, CURLMOPT_SOCKETDATA, ctx);
        (void)curl_multi_setopt(ctx->multi, CURLMOPT_TIMERFUNCTION, on_timer_set);
        (void)curl_multi_setopt(ctx->multi, CURLMOPT_TIMERDATA, ctx);
        (void)curl_multi_setopt(ctx->multi, CURLMOPT_MAXCONNECTS, (long)MAX_CONNECTS);
        *ret = ctx;
        return 0;
}

void upstream_ctx_free(struct upstream_ctx *ctx)
{
        if (!ctx)
                return;
        while (ctx->fetches)
                fetch_finish(ctx->fetches, -ECANCELED);
        uring_timer_cancel(ctx->loop, &ctx->timer);
        /* Cleanup closes the pooled connections and reports their sockets removed. */
        (void)curl_multi_cleanup(ctx->multi);
        /* The loop is going away with the worker: free what it would have freed. */
        while (ctx->dead) {
                struct usock *s = ctx->dead;
                ctx->dead = s->next;
                free(s);
        }
        while (ctx->socks) {
                struct usock *s = ctx->socks;
                ctx->socks = s->next;
                free(s);
        }
        free(ctx->conns);
        free(ctx);
}

static int build_url(const struct edge_cfg_upstream *u, const char *key, size_t key_len,
                     char *out, size_t cap)
{
        size_t blen = strlen(u->url);
        int n;

        while (blen && u->url[blen - 1] == '/')
                blen--;
        if (blen + 1 >= cap)
                return -ENAMETOOLONG;
        memcpy(out, u->url, blen);
        n = path_norm_encode(key, key_len, out + blen, cap - blen);
        return n < 0 ? n : 0;
}

/* Append "name: value" to *list. Returns 0, -EINVAL when it is longer than any we send, or
 * -ENOMEM. */
static int add_header(struct curl_slist **list, const char *name, const char *value)
{
        char h[128];
        struct curl_slist *t;
        int n = snprintf(h, sizeof(h), "%s: %s", name, value);

        if (n < 0 || (size_t)n >= sizeof(h))
                return -EINVAL;
        t = curl_slist_append(*list, h);
        if (!t)
                return -ENOMEM;
        *list = t;
        return 0;
}

int upstream_fetch_start(struct upstream_ctx *ctx, const struct edge_cfg_upstream *u,
                         const char *bearer, const char *key, size_t key_len, bool fresh,
                         const struct upstream_cond *cond, const struct upstream_cbs *cbs,
                         void *ud)
{
        struct upstream_fetch *f;
        char url[URL_MAX];
        long first_byte;
        int r;

        r = build_url(u, key, key_len, url, sizeof(url));
        if (r < 0)
                return r;
        f = calloc(1, sizeof(*f));
        if (!f)
                return -ENOMEM;
        f->ctx = ctx;
        f->tls = strncasecmp(u->url, "https:", 6) == 0;
        f->cbs = cbs;
        f->ud = ud;
        uring_timer_init(&f->first_byte, on_first_byte_timeout);
        uring_timer_init(&f->low_speed, on_low_speed_tick);
        f->ls_ms = u->low_speed_time_ms > 0 ? (uint64_t)u->low_speed_time_ms
                                            : UPSTREAM_LOW_SPEED_TIME_S * 1000ull;
        f->ls_bytes = u->low_speed_bytes > 0 ? (uint64_t)u->low_speed_bytes
                                             : UPSTREAM_LOW_SPEED_BYTES;
        f->easy = curl_easy_init();
        if (!f->easy) {
                r = -ENOMEM;
                goto fail;
        }
        if (bearer && *bearer) {
                char h[300];
                (void)snprintf(h, sizeof(h), "Authorization: Bearer %s", bearer);
                f->hdrs = curl_slist_append(f->hdrs, h);
                explicit_bzero(h, sizeof(h));
                if (!f->hdrs) {
                        r = -ENOMEM;
                        goto fail;
                }
        }
        /* Objects are stored as sent: no content coding, no range; conditional only to
         * revalidate a stored copy. */
        r = add_header(&f->hdrs, "Accept-Encoding", "identity");
        /* A gateway says it forwarded the request (RFC 9110 section 7.6.3), by a pseudonym:
         * a parent adds its own, and an upstream can tell a loop. */
        if (r == 0)
                r = add_header(&f->hdrs, "Via", "1.1 sluice-edge");
        if (r == 0 && cond && cond->if_modified_since > 0) {
                char date[HTTP_DATE_LEN + 1];
                if (http_date_format(cond->if_modified_since, date) < 0)
                        r = -EINVAL;
                else
                        r = add_header(&f->hdrs, "If-Modified-Since", date);
        }
        if (r == 0 && cond && cond->if_none_match && *cond->if_none_match)
                r = add_header(&f->hdrs, "If-None-Match", cond->if_none_match);
        if (r < 0)
                goto fail;
        (void)curl_easy_setopt(f->easy, CURLOPT_URL, url);
        (void)curl_easy_setopt(f->easy, CURLOPT_HTTPHEADER, f->hdrs);
        (void)curl_easy_setopt(f->easy, CURLOPT_PRIVATE, f);
        (void)curl_easy_setopt(f->easy, CURLOPT_HEADERFUNCTION, on_header);
        (void)curl_easy_setopt(f->easy, CURLOPT_HEADERDATA, f);
        (void)curl_easy_setopt(f->easy, CURLOPT_WRITEFUNCTION, on_write);
        (void)curl_easy_setopt(f->easy, CURLOPT_WRITEDATA, f);
        (void)curl_easy_setopt(f->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
        (void)curl_easy_setopt(f->easy, CURLOPT_FOLLOWLOCATION, 0L);
        (void)curl_easy_setopt(f->easy, CURLOPT_NOSIGNAL, 1L);
        (void)curl_easy_setopt(f->easy, CURLOPT_PROXY, ""); /* never an environment proxy */
        (void)curl_easy_setopt(f->easy, CURLOPT_USERAGENT, "sluice-edge");
        (void)curl_easy_setopt(f->easy, CURLOPT_OPENSOCKETFUNCTION, open_socket);
        (void)curl_easy_setopt(f->easy, CURLOPT_OPENSOCKETDATA, ctx);
        (void)curl_easy_setopt(f->easy, CURLOPT_CLOSESOCKETFUNCTION, close_socket);
        (void)curl_easy_setopt(f->easy, CURLOPT_CLOSESOCKETDATA, ctx);
        (void)curl_easy_setopt(f->easy, CURLOPT_PREREQFUNCTION, on_prereq);
        (void)curl_easy_setopt(f->easy, CURLOPT_PREREQDATA, f);
        if (fresh)
                (void)curl_easy_setopt(f->easy, CURLOPT_FRESH_CONNECT, 1L);
        (void)curl_easy_setopt(f->easy, CURLOPT_CONNECTTIMEOUT_MS,
                               u->connect_timeout_ms > 0 ? (long)u->connect_timeout_ms
                                                         : (long)UPSTREAM_CONNECT_TIMEOUT_MS);
        first_byte = u->first_byte_timeout_ms > 0 ? (long)u->first_byte_timeout_ms
                                                  : (long)UPSTREAM_FIRST_BYTE_TIMEOUT_MS;
        f->first_byte_ms = (uint64_t)first_byte;
        /* Until the request goes (on_prereq moves it), the connect's time counts too. */
        first_byte += u->connect_timeout_ms > 0 ? (long)u->connect_timeout_ms
                                                : (long)UPSTREAM_CONNECT_TIMEOUT_MS;
        if (uring_timer_arm(ctx->loop, &f->first_byte,
                            uring_loop_now_ms(ctx->loop) + (uint64_t)first_byte) < 0) {
                r = -ENOMEM;
                goto fail;
        }
        if (curl_multi_add_handle(ctx->multi, f->easy) != CURLM_OK) {
                r = -ENOMEM;
                goto fail;
        }
        f->next = ctx->fetches;
        if (ctx->fetches)
                ctx->fetches->prev = f;
        ctx->fetches = f;
        return 0;
fail:
        uring_timer_cancel(ctx->loop, &f->first_byte);
        if (f->easy)
                curl_easy_cleanup(f->easy);
        hdrs_free(f->hdrs);
        free(f);
        return r;
}
