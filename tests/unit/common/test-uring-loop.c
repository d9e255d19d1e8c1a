/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tests.h"
#include "uring-loop.h"

static struct uring_loop *loop_new_or_skip(unsigned bufs)
{
        struct uring_loop_params p = {.sq_entries = 64, .buf_count = bufs, .buf_size = 4096};
        struct uring_loop *loop = NULL;
        int r = uring_loop_new(&p, &loop);

        if (r == -ENOSYS || r == -EPERM)
                TEST_SKIP("io_uring unavailable (%d)", r);
        return loop;
}

/* ---- timers ---- */

static int fired[8];
static unsigned n_fired;

struct tagged_timer {
        struct uring_timer t;
        int tag;
};

static void on_timer(struct uring_loop *loop, struct uring_timer *t)
{
        struct tagged_timer *tt = (struct tagged_timer *)t;

        if (n_fired < 8)
                fired[n_fired++] = tt->tag;
}

TEST(timers_fire_in_deadline_order)
{
        struct uring_loop *loop = loop_new_or_skip(0);
        struct tagged_timer t[5];
        uint64_t now;
        /* Armed out of order; one cancelled; one moved earlier. */
        static const int delay[5] = {40, 10, 30, 20, 50};

        ASSERT_TRUE(loop);
        now = uring_loop_now_ms(loop);
        n_fired = 0;
        for (int i = 0; i < 5; i++) {
                uring_timer_init(&t[i].t, on_timer);
                t[i].tag = i;
                ASSERT_EQ(uring_timer_arm(loop, &t[i].t, now + (uint64_t)delay[i]), 0);
        }
        uring_timer_cancel(loop, &t[2].t);
        ASSERT_TRUE(!uring_timer_armed(&t[2].t));
        ASSERT_EQ(uring_timer_arm(loop, &t[4].t, now + 5), 0);

        for (int i = 0; i < 50 && n_fired < 4; i++)
                ASSERT_TRUE(uring_loop_run_once(loop, 100) >= 0);
        ASSERT_EQ(n_fired, 4);
        ASSERT_EQ(fired[0], 4);
        ASSERT_EQ(fired[1], 1);
        ASSERT_EQ(fired[2], 3);
        ASSERT_EQ(fired[3], 0);
        ASSERT_TRUE(uring_loop_now_ms(loop) >= now + 40);
        uring_loop_free(loop);
}

/* The earliest timer weeks away (past INT_MAX ms) leaves the wait as long as asked: it once
 * became a negative timeout and the wait did not end. The alarm turns that hang into a
 * failure. */
TEST(timer_weeks_away_keeps_the_wait_bounded)
{
        struct uring_loop *loop = loop_new_or_skip(0);
        struct tagged_timer t;

        ASSERT_TRUE(loop);
        n_fired = 0;
        uring_timer_init(&t.t, on_timer);
        t.tag = 0;
        ASSERT_EQ(uring_timer_arm(loop, &t.t, uring_loop_now_ms(loop) + 30ull * 86400 * 1000), 0);
        (void)alarm(30);
        ASSERT_EQ(uring_loop_run_once(loop, 10), 0);
        ASSERT_EQ(uring_timer_arm(loop, &t.t, UINT64_MAX), 0);
        ASSERT_EQ(uring_loop_run_once(loop, 10), 0);
        (void)alarm(0);
        ASSERT_EQ(n_fired, 0);
        ASSERT_TRUE(uring_timer_armed(&t.t));
        uring_loop_free(loop);
}

/* ---- slots: stale generations, deferred free ---- */

struct owner {
        int handled;
        int freed;
};

static void on_nop(struct uring_loop *loop, void *o, const struct io_uring_cqe *cqe)
{
        ((struct owner *)o)->handled++;
}

static void on_free(struct uring_loop *loop, void *o)
{
        ((struct owner *)o)->freed++;
}

TEST(stale_generation_is_dropped)
{
        struct uring_loop *loop = loop_new_or_skip(0);
        struct owner a = {0}, b = {0};
        struct io_uring_sqe *sqe;
        uint32_t sa, sb;
        uint64_t old_ud;

        ASSERT_TRUE(loop);
        uring_loop_set_handler(loop, 1, on_nop);
        ASSERT_EQ(uring_loop_slot_alloc(loop, &a, on_free, &sa), 0);
        /* A completion tagged with a's generation, not counted as in flight. */
        old_ud = uring_loop_user_data(loop, sa, 1);
        sqe = io_uring_get_sqe(uring_loop_ring(loop));
        ASSERT_TRUE(sqe);
        io_uring_prep_nop(sqe);
        io_uring_sqe_set_data64(sqe, old_ud);

        uring_loop_slot_close(loop, sa);
        ASSERT_EQ(a.freed, 1);
        ASSERT_EQ(uring_loop_slot_alloc(loop, &b, on_free, &sb), 0);
        ASSERT_EQ(sb, sa);                                        /* the slot is reused ... */
        ASSERT_TRUE(uring_loop_user_data(loop, sb, 1) != old_ud); /* ... with a new generation */

        ASSERT_EQ(uring_loop_run_once(loop, 100), 1);
        ASSERT_EQ(a.handled, 0);
        ASSERT_EQ(b.handled, 0);

        sqe = uring_loop_sqe(loop, sb, 1);
        ASSERT_TRUE(sqe);
        io_uring_prep_nop(sqe);
        ASSERT_EQ(uring_loop_slot_inflight(loop, sb), 1);
        ASSERT_EQ(uring_loop_run_once(loop, 100), 1);
        ASSERT_EQ(b.handled, 1);
        ASSERT_EQ(uring_loop_slot_inflight(loop, sb), 0);
        uring_loop_free(loop);
}

/* The reap hook runs once per wait that returned, before the completions it brought. */
static unsigned reaped, reaped_seen_by_handler;

static void on_reap(struct uring_loop *loop, void *ud)
{
        reaped++;
}

static void on_nop_after_reap(struct uring_loop *loop, void *o, const struct io_uring_cqe *cqe)
{
        ((struct owner *)o)->handled++;
        reaped_seen_by_handler = reaped;
}

TEST(reap_hook_runs_before_the_completions)
{
        struct uring_loop *loop = loop_new_or_skip(0);
        struct owner a = {0};
        struct io_uring_sqe *sqe;
        uint32_t sa;

        ASSERT_TRUE(loop);
        uring_loop_set_handler(loop, 1, on_nop_after_reap);
        uring_loop_set_reap_hook(loop, on_reap, NULL);
        ASSERT_EQ(uring_loop_slot_alloc(loop, &a, on_free, &sa), 0);
        for (unsigned round = 1; round <= 2; round++) {
                sqe = uring_loop_sqe(loop, sa, 1);
                ASSERT_TRUE(sqe);
                io_uring_prep_nop(sqe);
                ASSERT_EQ(uring_loop_run_once(loop, 1000), 1);
                ASSERT_EQ(a.handled, round);
                /* This iteration's hook ran, and before the handler. */
                ASSERT_EQ(reaped_seen_by_handler, reaped);
                ASSERT_TRUE(reaped >= round);
        }
        uring_loop_slot_close(loop, sa);
        uring_loop_free(loop);
}

TEST(free_only_after_last_completion)
{
        struct uring_loop *loop = loop_new_or_skip(0);
        struct owner a = {0};
        int p[2];
        char byte = 'x';
        uint32_t s;

        ASSERT_TRUE(loop);
        ASSERT_EQ(pipe(p), 0);
        uring_loop_set_handler(loop, 1, on_nop);
        ASSERT_EQ(uring_loop_slot_alloc(loop, &a, on_free, &s), 0);
        /* Two polls in flight: one will complete, one must be cancelled. */
        ASSERT_EQ(uring_loop_poll(loop, s, 1, p[0], POLLIN), 0);
        ASSERT_EQ(uring_loop_poll(loop, s, 1, p[0], POLLIN), 0);
        ASSERT_EQ(uring_loop_run_once(loop, 0), 0);
        ASSERT_EQ(uring_loop_slot_inflight(loop, s), 2);

        uring_loop_slot_close(loop, s);
        ASSERT_EQ(a.freed, 0);
        ASSERT_EQ(write(p[1], &byte, 1), 1);
        for (int i = 0; i < 20 && uring_loop_slot_inflight(loop, s) > 0; i++)
                ASSERT_TRUE(uring_loop_run_once(loop, 100) >= 0);
        ASSERT_EQ(a.freed, 1);
        ASSERT_EQ(a.handled, 0); /* a closing owner gets no handler calls */
        (void)close(p[0]);
        (void)close(p[1]);
        uring_loop_free(loop);
}

/* A handler that closes its own slot with nothing in flight (its last completion is the one
 * being handled, and no cancel could be queued) and then still looks at its owner, as code up
 * a connection's stack looks at its state after conn_close(). */
struct closing_owner {
        struct owner o;
        uint32_t slot;
        int freed_at_close; /* o.freed just after the close, seen from the handler */
};

static void on_nop_close(struct uring_loop *loop, void *p, const struct io_uring_cqe *cqe)
{
        struct closing_owner *c = p;

        c->o.handled++;
        uring_loop_slot_close(loop, c->slot);
        c->freed_at_close = c->o.freed;
}

TEST(close_in_handler_frees_after_it)
{
        struct uring_loop *loop = loop_new_or_skip(0);
        struct closing_owner a = {0};
        struct io_uring_sqe *sqe;

        ASSERT_TRUE(loop);
        uring_loop_set_handler(loop, 1, on_nop_close);
        ASSERT_EQ(uring_loop_slot_alloc(loop, &a, on_free, &a.slot), 0);
        sqe = uring_loop_sqe(loop, a.slot, 1);
        ASSERT_TRUE(sqe);
        io_uring_prep_nop(sqe);
        ASSERT_EQ(uring_loop_run_once(loop, 100), 1);
        ASSERT_EQ(a.o.handled, 1);
        ASSERT_EQ(a.freed_at_close, 0); /* not under the handler */
        ASSERT_EQ(a.o.freed, 1);        /* but before run_once returned */
        /* The slot is free again, with a new generation. */
        ASSERT_EQ(uring_loop_slot_alloc(loop, &a, NULL, &a.slot), 0);
        uring_loop_slot_close(loop, a.slot); /* outside a callback: at once */
        ASSERT_EQ(a.o.freed, 1);             /* (no free callback this time) */
        uring_loop_free(loop);
}

TEST(cancel_fd_releases_owner)
{
        struct uring_loop *loop = loop_new_or_skip(0);
        struct owner a = {0};
        int p[2];
        uint32_t s;

        ASSERT_TRUE(loop);
        ASSERT_EQ(pipe(p), 0);
        ASSERT_EQ(uring_loop_slot_alloc(loop, &a, on_free, &s), 0);
        ASSERT_EQ(uring_loop_poll(loop, s, 1, p[0], POLLIN), 0);
        ASSERT_EQ(uring_loop_run_once(loop, 0), 0);
        ASSERT_EQ(uring_loop_cancel_fd(loop, s, 2, p[0]), 0);
        uring_loop_slot_close(loop, s);
        for (int i = 0; i < 20 && !a.freed; i++)
                ASSERT_TRUE(uring_loop_run_once(loop, 100) >= 0);
        ASSERT_EQ(a.freed, 1);
        (void)close(p[0]);
        (void)close(p[1]);
        uring_loop_free(loop);
}

/* After the run: settling reaps the closed owner's last completion, and fires no timer (the
 * timer's owner may be freed already, as at exit). */
TEST(settle_reaps_without_timers)
{
        struct uring_loop *loop = loop_new_or_skip(0);
        struct owner a = {0};
        struct tagged_timer t;
        int p[2];
        uint32_t s;

        ASSERT_TRUE(loop);
        ASSERT_EQ(pipe(p), 0);
        n_fired = 0;
        uring_timer_init(&t.t, on_timer);
        t.tag = 7;
        ASSERT_EQ(uring_timer_arm(loop, &t.t, uring_loop_now_ms(loop)), 0);
        ASSERT_EQ(uring_loop_slot_alloc(loop, &a, on_free, &s), 0);
        ASSERT_EQ(uring_loop_poll(loop, s, 1, p[0], POLLIN), 0);
        ASSERT_EQ(uring_loop_cancel_fd(loop, s, 2, p[0]), 0);
        uring_loop_slot_close(loop, s);
        ASSERT_EQ(a.freed, 0);
        ASSERT_EQ(uring_loop_settle(loop, 1000), 0);
        ASSERT_EQ(a.freed, 1);
        ASSERT_EQ(n_fired, 0);
        ASSERT_TRUE(uring_timer_armed(&t.t));
        /* Running again, the timer is still due and fires. */
        ASSERT_TRUE(uring_loop_run_once(loop, 0) >= 0);
        ASSERT_EQ(n_fired, 1);
        (void)close(p[0]);
        (void)close(p[1]);
        uring_loop_free(loop);
}

/* ---- accept + multishot recv over loopback ---- */

struct srv {
        int lfd;
        int cfd;
        uint32_t lslot, cslot;
        char got[64];
        size_t got_len;
        bool eof;
};

static void on_recv(struct uring_loop *loop, void *o, const struct io_uring_cqe *cqe)
{
        struct srv *sv = o;
        const char *buf = uring_loop_cqe_buf(loop, cqe);

        if (cqe->res > 0 && buf) {
                size_t n = (size_t)cqe->res;
                if (n > sizeof(sv->got) - sv->got_len)
                        n = sizeof(sv->got) - sv->got_len;
                memcpy(sv->got + sv->got_len, buf, n);
                sv->got_len += n;
        }
        uring_loop_buf_recycle(loop, cqe);
        if (cqe->res == 0)
                sv->eof = true;
}

static void on_accept(struct uring_loop *loop, void *o, const struct io_uring_cqe *cqe)
{
        struct srv *sv = o;

        if (cqe->res < 0)
                return;
        sv->cfd = cqe->res;
        (void)uring_loop_slot_alloc(loop, sv, NULL, &sv->cslot);
        (void)uring_loop_recv_multishot(loop, sv->cslot, 4, sv->cfd);
}

/* A loopback listener for sv on loop, its multishot accept armed as op 3; its address in
 * *sa. Returns false (the test failed) when any step does. */
static bool srv_listen(struct uring_loop *loop, struct srv *sv, struct sockaddr_in *sa)
{
        socklen_t sl = sizeof(*sa);

        *sa = (struct sockaddr_in){.sin_family = AF_INET};
        sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sv->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        return sv->lfd >= 0 && bind(sv->lfd, (struct sockaddr *)sa, sizeof(*sa)) == 0 &&
               listen(sv->lfd, 16) == 0 &&
               getsockname(sv->lfd, (struct sockaddr *)sa, &sl) == 0 &&
               uring_loop_slot_alloc(loop, sv, NULL, &sv->lslot) == 0 &&
               uring_loop_accept_multishot(loop, sv->lslot, 3, sv->lfd) == 0;
}

TEST(accept_and_multishot_recv)
{
        struct uring_loop *loop = loop_new_or_skip(8);
        struct sockaddr_in sa;
        struct srv sv = {.cfd = -1};
        int c;

        ASSERT_TRUE(loop);
        uring_loop_set_handler(loop, 3, on_accept);
        uring_loop_set_handler(loop, 4, on_recv);
        ASSERT_TRUE(srv_listen(loop, &sv, &sa));

        c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ASSERT_TRUE(c >= 0);
        ASSERT_EQ(connect(c, (struct sockaddr *)&sa, sizeof(sa)), 0);
        for (int i = 0; i < 20 && sv.cfd < 0; i++)
                ASSERT_TRUE(uring_loop_run_once(loop, 100) >= 0);
        ASSERT_TRUE(sv.cfd >= 0);
        /* The multishot accept is still armed; recv is armed too. */
        ASSERT_EQ(uring_loop_slot_inflight(loop, sv.lslot), 1);

        ASSERT_EQ(send(c, "hello ", 6, 0), 6);
        for (int i = 0; i < 20 && sv.got_len < 6; i++)
                ASSERT_TRUE(uring_loop_run_once(loop, 100) >= 0);
        ASSERT_EQ(send(c, "world", 5, 0), 5);
        for (int i = 0; i < 20 && sv.got_len < 11; i++)
                ASSERT_TRUE(uring_loop_run_once(loop, 100) >= 0);
        ASSERT_MEMEQ(sv.got, sv.got_len, "hello world", 11);
        ASSERT_EQ(uring_loop_slot_inflight(loop, sv.cslot), 1);

        /* More sends than provided buffers: buffers must come back to the ring. */
        for (int k = 0; k < 32; k++) {
                ASSERT_EQ(send(c, "!", 1, 0), 1);
                for (int i = 0; i < 20 && sv.got_len < 12 + (size_t)k; i++)
                        ASSERT_TRUE(uring_loop_run_once(loop, 100) >= 0);
        }
        ASSERT_EQ(sv.got_len, 43);

        (void)close(c);
        for (int i = 0; i < 20 && !sv.eof; i++)
                ASSERT_TRUE(uring_loop_run_once(loop, 100) >= 0);
        ASSERT_TRUE(sv.eof);
        ASSERT_EQ(uring_loop_slot_inflight(loop, sv.cslot), 0);
        (void)close(sv.cfd);
        (void)close(sv.lfd);
        uring_loop_free(loop);
}

/* Connections accepted after their listener's slot began closing reach no handler: the
 * loop closes their fds, so the clients see the end at once, not when the process exits.
 * fd_op: whether the owner also marked the op (the accept itself must be enough). */
static void closing_slot_accepts(bool fd_op)
{
        struct uring_loop *loop = loop_new_or_skip(8);
        struct sockaddr_in sa;
        struct srv sv = {.cfd = -1};
        int c[4];
        char b;

        ASSERT_TRUE(loop);
        uring_loop_set_handler(loop, 3, on_accept);
        if (fd_op)
                uring_loop_set_fd_op(loop, 3);
        ASSERT_TRUE(srv_listen(loop, &sv, &sa));
        ASSERT_TRUE(uring_loop_run_once(loop, 0) >= 0); /* the accept is armed */
        for (int i = 0; i < 4; i++) {
                c[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                ASSERT_TRUE(c[i] >= 0);
                ASSERT_EQ(connect(c[i], (struct sockaddr *)&sa, sizeof(sa)), 0);
        }
        uring_loop_slot_close(loop, sv.lslot); /* the accept stays armed, as in a drain */
        for (int i = 0; i < 5; i++)
                ASSERT_TRUE(uring_loop_run_once(loop, 50) >= 0);
        ASSERT_EQ(sv.cfd, -1); /* no handler saw them */
        for (int i = 0; i < 4; i++) {
                struct pollfd p = {.fd = c[i], .events = POLLIN};
                ASSERT_EQ(poll(&p, 1, 2000), 1);
                ASSERT_EQ(recv(c[i], &b, 1, 0), 0);
                (void)close(c[i]);
        }
        ASSERT_EQ(uring_loop_cancel_fd(loop, sv.lslot, 5, sv.lfd), 0);
        for (int i = 0; i < 20 && uring_loop_slot_inflight(loop, sv.lslot) > 0; i++)
                ASSERT_TRUE(uring_loop_run_once(loop, 100) >= 0);
        (void)close(sv.lfd);
        uring_loop_free(loop);
}

TEST(accepts_reaching_a_closing_slot_are_closed)
{
        closing_slot_accepts(true);
}

/* The control plane's listeners never called uring_loop_set_fd_op: in a drain, a connection
 * accepted in the window before the cancel was left open, and its client waited for the
 * process to exit. */
TEST(accepts_reaching_a_closing_slot_are_closed_unmarked)
{
        closing_slot_accepts(false);
}

/* ---- send: short completions, waiting for room ---- */

struct sender {
        int res;
        unsigned done;
};

static void on_send(struct uring_loop *loop, void *owner, const struct io_uring_cqe *cqe)
{
        struct sender *sd = owner;

        sd->res = cqe->res;
        sd->done++;
}

static size_t drain(int fd, char *got, size_t have, size_t cap)
{
        ssize_t n;

        while (have < cap && (n = recv(fd, got + have, cap - have, MSG_DONTWAIT)) > 0)
                have += (size_t)n;
        return have;
}

TEST(send_short_then_rest_in_order)
{
        enum { LEN = 1 << 20 };
        struct uring_loop *loop = loop_new_or_skip(0);
        static char msg[LEN], got[LEN];
        struct sender sd = {0};
        size_t off = 0, have = 0;
        unsigned shorts = 0;
        int sv[2], small = 16384;
        uint32_t slot;

        ASSERT_TRUE(loop);
        for (size_t i = 0; i < LEN; i++)
                msg[i] = (char)(i * 131 + i / 4093);
        ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
        ASSERT_EQ(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
        uring_loop_set_handler(loop, 5, on_send);
        ASSERT_EQ(uring_loop_slot_alloc(loop, &sd, NULL, &slot), 0);

        /* The peer does not read: the first send takes what fits and completes short. */
        ASSERT_EQ(uring_loop_send(loop, slot, 5, sv[0], msg, LEN, 0), 0);
        for (int i = 0; i < 20 && !sd.done; i++)
                ASSERT_TRUE(uring_loop_run_once(loop, 100) >= 0);
        ASSERT_EQ(sd.done, 1);
        ASSERT_TRUE(sd.res > 0 && sd.res < LEN);
        off = (size_t)sd.res;

        /* A send on the full socket neither fails nor completes until there is room. */
        ASSERT_EQ(uring_loop_send(loop, slot, 5, sv[0], msg + off, LEN - off, 0), 0);
        ASSERT_TRUE(uring_loop_run_once(loop, 50) >= 0);
        ASSERT_EQ(sd.done, 1);
        ASSERT_EQ(uring_loop_slot_inflight(loop, slot), 1);

        /* Read as it comes; every short completion is followed by a send of the rest. */
        for (int i = 0; i < 100000 && have < LEN; i++) {
                unsigned before = sd.done;
                have = drain(sv[1], got, have, LEN);
                ASSERT_TRUE(uring_loop_run_once(loop, 10) >= 0);
                if (sd.done == before)
                        continue;
                ASSERT_TRUE(sd.res > 0);
                off += (size_t)sd.res;
                if (off < LEN) {
                        shorts++;
                        ASSERT_EQ(uring_loop_send(loop, slot, 5, sv[0], msg + off, LEN - off, 0),
                                  0);
                }
        }
        ASSERT_EQ(off, LEN);
        ASSERT_EQ(have, LEN);
        ASSERT_MEMEQ(got, LEN, msg, LEN);
        ASSERT_TRUE(shorts > 0);
        ASSERT_EQ(uring_loop_slot_inflight(loop, slot), 0);
        (void)close(sv[0]);
        (void)close(sv[1]);
        uring_loop_free(loop);
}

/* The slot's second send, linked behind reads, was cancelled: nothing reached the peer, and no
 * completion is left for the slot. */
static void expect_cancelled(struct uring_loop *loop, uint32_t slot, struct sender *sd, int peer)
{
        char got[64];

        for (int i = 0; i < 20 && sd->done < 2; i++)
                ASSERT_TRUE(uring_loop_run_once(loop, 100) >= 0);
        ASSERT_EQ(sd->done, 2);
        ASSERT_EQ(sd->res, -ECANCELED);
        ASSERT_EQ(uring_loop_slot_inflight(loop, slot), 0);
        ASSERT_EQ(uring_loop_run_once(loop, 50), 0); /* no stray completion for the slot */
        ASSERT_EQ(sd->done, 2);
        ASSERT_EQ(drain(peer, got, 0, sizeof(got)), 0);
}

/* A send linked behind a read of a file goes out when the read is whole, and is cancelled with
 * nothing sent when the file is shorter; the read's own completion reaches no handler. */
TEST(sendmsg_after_read_goes_only_when_the_read_is_whole)
{
        struct uring_loop *loop = loop_new_or_skip(0);
        char path[] = "/tmp/sluice-guard-XXXXXX", byte = 0, got[64];
        struct iovec iov = {.iov_base = "head+body", .iov_len = 9};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
        struct sender sd = {0};
        int sv[2], file = mkstemp(path);
        struct uring_loop_guard g = {file, &byte, 1, 9};
        uint32_t slot;

        ASSERT_TRUE(loop);
        ASSERT_TRUE(file >= 0);
        (void)unlink(path);
        ASSERT_EQ(write(file, "0123456789", 10), 10);
        ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
        uring_loop_set_handler(loop, 5, on_send);
        ASSERT_EQ(uring_loop_slot_alloc(loop, &sd, NULL, &slot), 0);

        ASSERT_EQ(uring_loop_sendmsg_after_reads(loop, slot, 5, sv[0], &msg, 0, false, &g, 1), 0);
        ASSERT_EQ(uring_loop_slot_inflight(loop, slot), 1);
        for (int i = 0; i < 20 && !sd.done; i++)
                ASSERT_TRUE(uring_loop_run_once(loop, 100) >= 0);
        ASSERT_EQ(sd.done, 1);
        ASSERT_EQ(sd.res, 9);
        ASSERT_EQ(byte, '9');
        ASSERT_EQ(drain(sv[1], got, 0, sizeof(got)), 9);
        ASSERT_MEMEQ(got, 9, "head+body", 9);
        ASSERT_EQ(uring_loop_slot_inflight(loop, slot), 0);

        /* The file shrank below the byte read: the send is cancelled, nothing goes out. */
        ASSERT_EQ(ftruncate(file, 5), 0);
        ASSERT_EQ(uring_loop_sendmsg_after_reads(loop, slot, 5, sv[0], &msg, 0, false, &g, 1), 0);
        expect_cancelled(loop, slot, &sd, sv[1]);
        (void)close(file);
        (void)close(sv[0]);
        (void)close(sv[1]);
        uring_loop_free(loop);
}

/* Behind several reads (a batch naming several files): the send goes only when every read is
 * whole; one short read among them cancels it with nothing sent. */
TEST(sendmsg_after_reads_needs_every_read_whole)
{
        struct uring_loop *loop = loop_new_or_skip(0);
        char p1[] = "/tmp/sluice-guard-XXXXXX", p2[] = "/tmp/sluice-guard-XXXXXX", got[64];
        char bytes[2] = {0, 0};
        struct iovec iov = {.iov_base = "frames", .iov_len = 6};
        struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
        struct sender sd = {0};
        int sv[2], f1 = mkstemp(p1), f2 = mkstemp(p2);
        uint32_t slot;

        ASSERT_TRUE(loop);
        ASSERT_TRUE(f1 >= 0 && f2 >= 0);
        (void)unlink(p1);
        (void)unlink(p2);
        ASSERT_EQ(write(f1, "abcdef", 6), 6);
        ASSERT_EQ(write(f2, "0123456789", 10), 10);
        ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
        uring_loop_set_handler(loop, 5, on_send);
        ASSERT_EQ(uring_loop_slot_alloc(loop, &sd, NULL, &slot), 0);
        struct uring_loop_guard g[2] = {{f1, &bytes[0], 1, 5}, {f2, &bytes[1], 1, 9}};

        ASSERT_EQ(uring_loop_sendmsg_after_reads(loop, slot, 5, sv[0], &msg, 0, false, g, 2), 0);
        for (int i = 0; i < 20 && !sd.done; i++)
                ASSERT_TRUE(uring_loop_run_once(loop, 100) >= 0);
        ASSERT_EQ(sd.done, 1);
        ASSERT_EQ(sd.res, 6);
        ASSERT_EQ(bytes[0], 'f');
        ASSERT_EQ(bytes[1], '9');
        ASSERT_EQ(drain(sv[1], got, 0, sizeof(got)), 6);

        /* The second file shrank below its byte: cancelled, though the first read was whole. */
        ASSERT_EQ(ftruncate(f2, 9), 0);
        ASSERT_EQ(uring_loop_sendmsg_after_reads(loop, slot, 5, sv[0], &msg, 0, false, g, 2), 0);
        expect_cancelled(loop, slot, &sd, sv[1]);
        (void)close(f1);
        (void)close(f2);
        (void)close(sv[0]);
        (void)close(sv[1]);
        uring_loop_free(loop);
}

/* ---- cross-thread wake ---- */

static int woken;

static void on_wake(struct uring_loop *loop, void *ud)
{
        woken++;
        uring_loop_stop(loop);
}

static void *waker(void *arg)
{
        (void)uring_loop_wake(arg);
        return NULL;
}

TEST(wake_from_another_thread_stops_run)
{
        struct uring_loop *loop;
        pthread_t th;

        /* valgrind runs one thread at a time and does not let go of the others while one
         * waits in io_uring_enter, so the waker may never run: the wait never ends. */
        if (tests_under_valgrind())
                TEST_SKIP_CASE("under valgrind: a wake from another thread not tried");
        loop = loop_new_or_skip(0);

        ASSERT_TRUE(loop);
        uring_loop_set_wake_hook(loop, on_wake, NULL);
        ASSERT_EQ(pthread_create(&th, NULL, waker, loop), 0);
        ASSERT_EQ(uring_loop_run(loop), 0);
        ASSERT_EQ(pthread_join(th, NULL), 0);
        ASSERT_EQ(woken, 1);
        /* The wake read is re-armed: a second wake is seen too. */
        ASSERT_EQ(uring_loop_wake(loop), 0);
        ASSERT_EQ(uring_loop_run(loop), 0);
        ASSERT_EQ(woken, 2);
        uring_loop_free(loop);
}

/* ---- waits are idle time, not I/O wait ---- */

/* The iowait ticks (USER_HZ) /proc/stat gives CPU cpu so far; -1 when unreadable. */
static long long cpu_iowait(int cpu)
{
        char name[32], want[32];
        long long v[5], found = -1;
        FILE *f = fopen("/proc/stat", "r");

        if (!f)
                return -1;
        (void)snprintf(want, sizeof(want), "cpu%d", cpu);
        while (fscanf(f, "%31s %lld %lld %lld %lld %lld%*[^\n]", name, &v[0], &v[1], &v[2], &v[3],
                      &v[4]) == 6) {
                if (strcmp(name, want) == 0) {
                        found = v[4];
                        break;
                }
        }
        (void)fclose(f);
        return found;
}

#define IDLE_WAIT_MS 300
#define IDLE_TICKS   (IDLE_WAIT_MS / 10) /* at USER_HZ 100 */

/* iowait ticks on this thread's CPU over one wait of a bare liburing ring with a read in
 * flight: what a wait costs when nothing says it is idle. -1: cannot measure. */
static long long plain_ring_iowait(int cpu)
{
        struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = IDLE_WAIT_MS * 1000000LL};
        struct io_uring ring;
        struct io_uring_cqe *cqe;
        struct io_uring_sqe *sqe;
        int sv[2];
        char byte;
        long long before, after;

        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 || io_uring_queue_init(8, &ring, 0) < 0)
                return -1;
        sqe = io_uring_get_sqe(&ring);
        if (!sqe)
                return -1;
        io_uring_prep_recv(sqe, sv[0], &byte, 1, 0);
        before = cpu_iowait(cpu);
        (void)io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &ts, NULL);
        after = cpu_iowait(cpu);
        io_uring_queue_exit(&ring); /* cancels the read */
        (void)close(sv[0]);
        (void)close(sv[1]);
        return before < 0 || after < 0 ? -1 : after - before;
}

/* iowait ticks on cpu over a plain sleep of IDLE_WAIT_MS: other tasks' disk waits alone. */
static long long sleep_iowait(int cpu)
{
        struct timespec ts = {.tv_sec = 0, .tv_nsec = IDLE_WAIT_MS * 1000000L};
        long long before = cpu_iowait(cpu), after;

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
        after = cpu_iowait(cpu);
        return before < 0 || after < 0 ? IDLE_TICKS : after - before;
}

TEST(waits_count_as_idle_not_iowait)
{
        struct io_uring_params p;
        struct io_uring probe;
        struct uring_loop *loop;
        cpu_set_t one;
        int cpu = sched_getcpu();
        long long plain, best = -1;

        memset(&p, 0, sizeof(p));
        if (io_uring_queue_init_params(2, &probe, &p) < 0)
                TEST_SKIP_CASE("io_uring unavailable");
        io_uring_queue_exit(&probe);
        if (!(p.features & (1U << 17))) /* IORING_FEAT_NO_IOWAIT, Linux 6.15 */
                TEST_SKIP_CASE("the kernel cannot wait on a ring without counting I/O wait");
        ASSERT_TRUE(cpu >= 0);
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        ASSERT_EQ(sched_setaffinity(0, sizeof(one), &one), 0);
        plain = plain_ring_iowait(cpu);
        if (plain < IDLE_TICKS / 2)
                TEST_SKIP_CASE("a plain ring's %d ms wait showed %lld iowait ticks on CPU %d: the "
                               "CPU was busy, or this kernel counts none",
                               IDLE_WAIT_MS, plain, cpu);

        /* The loop always has its wake read in flight. Another task's disk wait on this CPU
         * counts too (a test beside this one that syncs files): each of up to five waits sits
         * between two plain sleeps, which see only such waits. A wait over the bound fails
         * the case only when both sleeps around it were quiet; when every one was loud, the
         * case cannot be judged here and says so. */
        loop = loop_new_or_skip(0);
        ASSERT_TRUE(loop);
        for (int i = 0; i < 5 && (best < 0 || best > IDLE_TICKS / 5); i++) {
                long long quiet_before = sleep_iowait(cpu), before = cpu_iowait(cpu), d;

                ASSERT_EQ(uring_loop_run_once(loop, IDLE_WAIT_MS), 0);
                d = cpu_iowait(cpu) - before;
                if (quiet_before <= IDLE_TICKS / 5 && sleep_iowait(cpu) <= IDLE_TICKS / 5) {
                        if (best < 0 || d < best)
                                best = d;
                } else if (d <= IDLE_TICKS / 5) {
                        best = d; /* under the bound even with another task's waits */
                }
        }
        uring_loop_free(loop);
        if (best < 0)
                TEST_SKIP_CASE("another task's I/O wait showed on CPU %d around each of five "
                               "waits: the loop's own could not be told apart",
                               cpu);
        ASSERT_TRUE(best <= IDLE_TICKS / 5);
}

TEST_MAIN()
