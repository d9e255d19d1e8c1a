/* SPDX-License-Identifier: MIT */
/*
 * h2c frames gathered into batches, each sent by one sendmsg through the ring, zero-copy or
 * copying (see h2-zc.h). The mapped payload bytes are only ever named in iovecs: userspace
 * never reads them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "bug.h"
#include "log.h"

#include "conn.h"
#include "h2-serve.h"
#include "h2-zc.h"
#include "store.h"
#include "worker.h"

#define ZC_IOVS       (2 * H2_ZC_FRAMES + 8)
#define ZC_BUDGET_MIN (256u << 10)
#define ZC_BUDGET_MAX (256u << 20)

struct zc_batch {
        struct msghdr msg;
        struct iovec iov[ZC_IOVS];
        unsigned n_iov;
        unsigned first;    /* iov[first] is the first not wholly sent (after a short send) */
        unsigned n_frames; /* DATA frames with a mapped payload */
        unsigned n_pins;
        unsigned notifs; /* notification CQEs still to come */
        bool in_flight;  /* a send's result CQE is still to come */
        bool copy;       /* send it by plain sendmsg (zero copy refused or out of budget) */
        bool failed;
        size_t bytes_len;
        size_t len;     /* bytes queued */
        size_t charged; /* bytes counted in this thread's pinned total */
        void *pins[H2_ZC_FRAMES];
        /* Per pin: its file, and the end of the last of its payloads in the batch. The send
         * goes behind a one-byte read of each such last byte (see submit). */
        int pin_fd[H2_ZC_FRAMES];
        uint64_t pin_end[H2_ZC_FRAMES];
        char guard_bytes[H2_ZC_FRAMES]; /* where those reads land */
        char bytes[H2_ZC_BYTES];
};

struct h2_zc {
        struct zc_batch b[2];
        unsigned cur;  /* the batch being filled */
        bool loopback; /* the peer has a loopback address: every batch copies */
};

/*
 * Per worker thread: whether the kernel refused zero-copy sends, and the bytes of batches sent
 * but not yet notified. The kernel pins those pages against RLIMIT_MEMLOCK (shared by every
 * process and thread of the user), and a send over it fails with ENOMEM: the edge's client
 * workers share three quarters of the limit equally (a quarter is left to the user's other
 * processes), and a frame that would go past a thread's share leaves by sendfile(2) instead.
 */
static __thread bool refused;
static __thread size_t pinned, budget;

bool h2_zc_enabled(void)
{
        return !refused;
}

/* This thread's share of the locked-memory limit, split equally among the client workers. */
static size_t budget_get(unsigned workers)
{
        struct rlimit rl;
        uint64_t share;

        if (budget)
                return budget;
        if (getrlimit(RLIMIT_MEMLOCK, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY) {
                budget = ZC_BUDGET_MAX;
                return budget;
        }
        share = (uint64_t)rl.rlim_cur / 4 * 3 / (workers ? workers : 1);
        budget = share > ZC_BUDGET_MAX   ? ZC_BUDGET_MAX
                 : share < ZC_BUDGET_MIN ? ZC_BUDGET_MIN
                                         : (size_t)share;
        return budget;
}

static bool batch_free(const struct zc_batch *b)
{
        return !b->in_flight && b->notifs == 0;
}

/* Drop b's pins and make it empty (no send of it may be in flight or unnotified). */
static void batch_reset(struct conn *c, struct zc_batch *b)
{
        for (unsigned i = 0; i < b->n_pins; i++) {
                if (b->failed)
                        store_obj_pin_distrust(c->w->reader, b->pins[i]);
                store_obj_unpin(c->w->reader, b->pins[i]);
        }
        pinned -= b->charged;
        b->n_pins = b->n_iov = b->first = b->n_frames = 0;
        b->bytes_len = b->len = b->charged = 0;
        b->copy = b->failed = false;
}

static bool any_in_flight(const struct h2_zc *z)
{
        return z->b[0].in_flight || z->b[1].in_flight;
}

/* Whether a batch (sent, or waiting for its notification) stands before new bytes. */
static bool held(const struct h2_zc *z)
{
        return z && (any_in_flight(z) || z->b[z->cur].notifs > 0);
}

static void advance(struct zc_batch *b, size_t n);
static void batch_reset(struct conn *c, struct zc_batch *b);

/*
 * Whether a frame may now go out directly (-E2BIG) or must wait for the batch (-EAGAIN). A
 * batch of copied bytes only (control frames, a response's HEADERS) is written at once, as
 * the direct path would have: a ring round trip for it would only delay the sendfile behind.
 */
static int direct(struct conn *c)
{
        struct zc_batch *b;
        ssize_t n;

        if (!c->zc)
                return -E2BIG;
        if (held(c->zc))
                return -EAGAIN;
        b = &c->zc->b[c->zc->cur];
        if (b->n_iov == 0)
                return -E2BIG;
        if (b->n_frames > 0)
                return -EAGAIN;
        b->msg = (struct msghdr){.msg_iov = b->iov + b->first, .msg_iovlen = b->n_iov - b->first};
        do
                n = sendmsg(c->fd, &b->msg, MSG_DONTWAIT | MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return errno == EAGAIN ? -EAGAIN : -errno; /* the ring sends it, or fails */
        advance(b, (size_t)n);
        if (b->first < b->n_iov)
                return -EAGAIN;
        batch_reset(c, b);
        return -E2BIG;
}

/*
 * Whether c's peer has a loopback address. A zero-copy send's pages are copied anyway when
 * they reach a socket on this host (the kernel cannot hand pinned user pages to a local
 * reader), and that copy, charged to the sender, costs more than a plain copying send:
 * pinning, notifications and the locked-memory share on top (docs/tls-bench.md).
 */
static bool peer_loopback(const struct conn *c)
{
        struct sockaddr_in6 sa;
        socklen_t len = sizeof(sa);
        const struct sockaddr_in6 *p = &c->peer;

        if (!c->peer_known) {
                if (getpeername(c->fd, (struct sockaddr *)&sa, &len) < 0)
                        return false;
                p = &sa;
        }
        if (p->sin6_family == AF_INET)
                return (ntohl(((const struct sockaddr_in *)p)->sin_addr.s_addr) >> 24) == 127;
        if (p->sin6_family != AF_INET6)
                return false;
        if (IN6_IS_ADDR_V4MAPPED(&p->sin6_addr))
                return p->sin6_addr.s6_addr[12] == 127;
        return IN6_IS_ADDR_LOOPBACK(&p->sin6_addr);
}

/* The batch to add to (allocated on first use), or NULL. */
static struct zc_batch *filling(struct conn *c)
{
        if (!c->zc) {
                c->zc = calloc(1, sizeof(*c->zc));
                if (!c->zc)
                        return NULL;
                c->zc->loopback = peer_loopback(c);
        }
        return &c->zc->b[c->zc->cur];
}

/* Append len bytes to b's copied buffer, merging with the previous iovec when adjacent. */
static void add_bytes(struct zc_batch *b, const void *p, size_t len)
{
        char *dst = b->bytes + b->bytes_len;
        struct iovec *last = b->n_iov ? &b->iov[b->n_iov - 1] : NULL;

        if (!len)
                return;
        memcpy(dst, p, len);
        b->bytes_len += len;
        b->len += len;
        if (last && (char *)last->iov_base + last->iov_len == dst)
                last->iov_len += len;
        else
                b->iov[b->n_iov++] = (struct iovec){dst, len};
}

int h2_zc_queue(void *ctx, const void *a, size_t alen, const void *b_, size_t blen)
{
        struct conn *c = ctx;
        struct zc_batch *b;

        if (refused || alen + blen == 0 || alen + blen > H2_ZC_BYTES)
                return direct(c);
        if (held(c->zc))
                return -EAGAIN;
        b = filling(c);
        if (!b)
                return -ENOMEM;
        if (b->bytes_len + alen + blen > H2_ZC_BYTES || b->n_iov + 2 > ZC_IOVS)
                return -EAGAIN;
        add_bytes(b, a, alen);
        add_bytes(b, b_, blen);
        return 0;
}

int h2_zc_queue_map(void *ctx, const void *hdr, const char *payload, size_t len,
                    const void *map_obj, bool copy)
{
        struct conn *c = ctx;
        const struct store_obj *obj = map_obj;
        struct zc_batch *b;
        const void *map;
        uint64_t end;

        if (refused)
                return direct(c);
        if (held(c->zc))
                return -EAGAIN;
        b = filling(c);
        if (!b)
                return -ENOMEM;
        if (b->n_frames == H2_ZC_FRAMES || b->bytes_len + 9 > H2_ZC_BYTES || b->n_iov + 2 > ZC_IOVS)
                return -EAGAIN;
        /* A frame that would take the pinned bytes past the share makes its batch a copying
         * one: the kernel copies every payload of it into the socket and pins nothing. */
        copy = copy || c->zc->loopback;
        if (!b->copy && !copy && pinned + b->len + 9 + len > budget_get(c->w->srv->n_workers))
                copy = true;
        b->copy |= copy;
        if (store_obj_map(obj, &map) != 0)
                return -EINVAL; /* not mapped, so never queued */
        end = (uint64_t)(payload - (const char *)map) + len;
        if (b->n_pins == 0 || b->pins[b->n_pins - 1] != obj->priv) {
                void *pin = store_obj_pin(obj);
                if (!pin)
                        return -EINVAL;
                b->pin_fd[b->n_pins] = obj->fd;
                b->pin_end[b->n_pins] = 0;
                b->pins[b->n_pins++] = pin;
        }
        if (end > b->pin_end[b->n_pins - 1])
                b->pin_end[b->n_pins - 1] = end;
        add_bytes(b, hdr, 9);
        b->iov[b->n_iov++] = (struct iovec){(void *)payload, len};
        b->len += len;
        b->n_frames++;
        return 0;
}

/*
 * A mapping reads zeros past a file's end inside its last page, with no fault: a file cut
 * behind the edge's back to just under a payload's end would send zeros in a body that looks
 * whole. So the send goes behind a one-byte read of each file's last payload byte in the
 * batch, in the same submit (as conn.c's small bodies): one that comes back short cancels the
 * send (-ECANCELED) before any byte of the batch goes out. A file cut deeper than that faults
 * in the send instead (EFAULT), as before.
 */
static unsigned guards(struct zc_batch *b, struct uring_loop_guard *g)
{
        unsigned n = 0;

        for (unsigned i = 0; i < b->n_pins; i++)
                if (b->pin_end[i] > 0)
                        g[n++] = (struct uring_loop_guard){b->pin_fd[i], &b->guard_bytes[i], 1,
                                                           b->pin_end[i] - 1};
        return n;
}

static int submit(struct conn *c, unsigned idx)
{
        struct zc_batch *b = &c->zc->b[idx];
        struct uring_loop_guard g[H2_ZC_FRAMES];
        unsigned n_guards;
        int r;

        /* Frame headers and control frames alone are a few hundred bytes: pinning them
         * would cost more than the copy. */
        if (b->n_frames == 0 || c->zc->loopback)
                b->copy = true;
        b->msg = (struct msghdr){.msg_iov = b->iov + b->first, .msg_iovlen = b->n_iov - b->first};
        /* WAITALL: the ring waits for room and sends the rest itself where it can. */
        n_guards = guards(b, g);
        if (n_guards)
                r = uring_loop_sendmsg_after_reads(c->w->loop, c->slot,
                                                   (uint8_t)(EDGE_OP_H2ZC0 + idx), c->fd, &b->msg,
                                                   MSG_WAITALL, !b->copy, g, n_guards);
        else
                r = uring_loop_sendmsg(c->w->loop, c->slot, (uint8_t)(EDGE_OP_H2ZC0 + idx), c->fd,
                                       &b->msg, MSG_WAITALL, !b->copy);
        if (r < 0)
                return r;
        if (!b->copy && !b->charged) {
                b->charged = b->len;
                pinned += b->charged;
        }
        b->in_flight = true;
        return 0;
}

int h2_zc_flush(void *ctx)
{
        struct conn *c = ctx;
        struct h2_zc *z = c->zc;
        int r;

        if (!z)
                return 1;
        if (held(z))
                return 0; /* its completion or notification resumes output */
        if (z->b[z->cur].n_iov == 0)
                return 1;
        r = submit(c, z->cur);
        if (r < 0)
                return r;
        z->cur ^= 1;
        return 0;
}

uint64_t h2_zc_unsent(void *ctx)
{
        const struct conn *c = ctx;
        uint64_t n = 0;

        if (!c->zc)
                return 0;
        for (unsigned i = 0; i < 2; i++) {
                const struct zc_batch *b = &c->zc->b[i];
                for (unsigned k = b->first; k < b->n_iov; k++)
                        n += b->iov[k].iov_len;
        }
        return n;
}

bool h2_zc_waiting(const struct conn *c)
{
        return held(c->zc);
}

bool h2_zc_pending(const struct conn *c)
{
        const struct h2_zc *z = c->zc;

        return z && (any_in_flight(z) || z->b[0].notifs > 0 || z->b[1].notifs > 0);
}

/* Skip n sent bytes of b's iovecs. */
static void advance(struct zc_batch *b, size_t n)
{
        while (n > 0 && b->first < b->n_iov) {
                struct iovec *v = &b->iov[b->first];
                if (n < v->iov_len) {
                        v->iov_base = (char *)v->iov_base + n;
                        v->iov_len -= n;
                        return;
                }
                n -= v->iov_len;
                b->first++;
        }
}

/* A send the kernel would not take zero-copy: this batch goes again by plain sendmsg. */
static void resend_copied(struct conn *c, struct zc_batch *b, unsigned idx, int res)
{
        if (res == -ENOMEM) {
                /* Others of this user pin memory too: keep to half as much from now on. */
                size_t half = budget_get(c->w->srv->n_workers) / 2;
                budget = half < ZC_BUDGET_MIN ? ZC_BUDGET_MIN : half;
                log_conn(LOG_LVL_INFO, c->id,
                         "zero-copy send over the locked-memory limit, budget now %zu KiB",
                         budget >> 10);
        } else {
                log_conn(LOG_LVL_WARN, c->id,
                         "zero-copy send refused (%s), sending h2c frames directly",
                         strerror(-res));
                refused = true;
        }
        b->copy = true;
        if (submit(c, idx) < 0)
                conn_close(c, "cannot submit send");
}

void h2_zc_on_cqe(struct uring_loop *loop, void *owner, const struct io_uring_cqe *cqe)
{
        struct conn *c = owner;
        unsigned idx = uring_loop_ud_op(cqe->user_data) - EDGE_OP_H2ZC0;
        struct zc_batch *b;
        int res = cqe->res;

        (void)loop;
        if (!c->zc || idx > 1 || c->state == CONN_CLOSED)
                return;
        b = &c->zc->b[idx];
        if (cqe->flags & IORING_CQE_F_NOTIF) {
                BUG_ON_HOT(b->notifs == 0);
                b->notifs--;
                if (batch_free(b))
                        batch_reset(c, b);
                h2_serve_output(c);
                return;
        }
        b->in_flight = false;
        if (cqe->flags & IORING_CQE_F_MORE)
                b->notifs++;
        if (!b->copy &&
            (res == -EINVAL || res == -EOPNOTSUPP || res == -EACCES || res == -ENOMEM)) {
                resend_copied(c, b, idx, res);
                return;
        }
        if (res == -EAGAIN) {
                /* Nothing taken, the socket full (a wakeup without room, such as the client's
                 * FIN, sends a second try to a worker that cannot wait on a nonblocking
                 * socket): the same again, which waits for room. The send deadline ends a
                 * client that never reads. */
                if (submit(c, idx) < 0)
                        conn_close(c, "cannot submit send");
                return;
        }
        if (res <= 0) {
                /* EFAULT: an object shrank under its mapping; ECANCELED: below a payload's
                 * last byte (a guard read came back short: nothing of the batch went out);
                 * anything else: the peer. */
                b->failed = res == -EFAULT || res == -ECANCELED || res == 0;
                log_conn(LOG_LVL_DEBUG, c->id, "h2c batch send: %s",
                         res ? strerror(-res) : "nothing sent");
                /* The close first: its streams are charged only what left (h2_zc_unsent). */
                conn_close(c, b->failed ? "h2c send fault (object shrank)" : "h2c send error");
                if (batch_free(b))
                        batch_reset(c, b);
                return;
        }
        advance(b, (size_t)res);
        if (b->first < b->n_iov) {
                /* Short: send the rest; a fault in the mapping fails the next send. */
                if (submit(c, idx) < 0)
                        conn_close(c, "cannot submit send");
                return;
        }
        if (batch_free(b))
                batch_reset(c, b);
        h2_serve_output(c);
}

void h2_zc_free(struct conn *c)
{
        if (!c->zc)
                return;
        for (unsigned i = 0; i < 2; i++)
                batch_reset(c, &c->zc->b[i]);
        free(c->zc);
        c->zc = NULL;
}
