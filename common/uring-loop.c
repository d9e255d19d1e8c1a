/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>

#include "bug.h"
#include "uring-loop.h"

/* Since Linux 6.15 a wait in io_uring_enter(2) can say that it is not an I/O wait; older
 * headers lack the names. */
#ifndef IORING_FEAT_NO_IOWAIT
#define IORING_FEAT_NO_IOWAIT (1U << 17)
#endif
#ifndef IORING_ENTER_NO_IOWAIT
#define IORING_ENTER_NO_IOWAIT (1U << 7)
#endif

#define OP_WAKE       0
#define OP_GUARD      1 /* slot 0: the read a send is linked behind; its CQE is ignored */
#define BUF_GROUP     0
#define MAX_WAIT_MS   1000
#define WAKE_RETRY_MS 10 /* how soon a wake read with no SQE is tried again */
#define SLOTS_INITIAL 256

struct slot {
        void *owner;
        uring_loop_free_fn free_fn;
        uint32_t gen;
        uint32_t inflight;
        uint32_t next_free; /* free-list link, valid while unused */
        bool used;
        bool closing;
};

struct uring_loop {
        struct io_uring ring;
        unsigned setup_flags;
        unsigned n_restricted; /* SQE opcodes allowed; 0: unrestricted */
        unsigned cqe_batch;
        unsigned timer_batch;
        bool stop;
        bool settling; /* uring_loop_settle: completions only, no timer or hook */
        bool wake_unarmed; /* no SQE for the wake read: armed again before the next wait */
        bool no_iowait;    /* the kernel takes IORING_ENTER_NO_IOWAIT */

        uring_loop_handler_fn handlers[URING_LOOP_OP_MAX + 1];
        bool makes_fd[URING_LOOP_OP_MAX + 1]; /* uring_loop_set_fd_op */
        void *userdata;

        /* Slot 0 is reserved so that no valid user_data is 0. */
        struct slot *slots;
        uint32_t n_slots;
        uint32_t free_head; /* 0: none */
        uint32_t n_closing; /* closed owners waiting for their last completion */
        /* Inside a handler, timer or hook (in_callback), an owner closed with nothing in
         * flight is freed once the callback returns, not under it: the slots (and their
         * generations) whose release waits. */
        bool in_callback;
        struct uring_loop_later {
                uint32_t slot, gen;
        } *later;
        uint32_t n_later, later_cap;

        struct uring_timer **heap;
        uint32_t heap_len;
        uint32_t heap_cap;
        uint64_t now_ms;

        struct io_uring_buf_ring *br;
        size_t br_map_len;
        char *bufs;
        size_t bufs_map_len;
        unsigned buf_count;
        unsigned buf_size;

        int wake_fd;
        uint64_t wake_val; /* belongs to the in-flight eventfd read */
        uring_loop_hook_fn wake_fn;
        void *wake_ud;
        uring_loop_hook_fn iter_fn;
        void *iter_ud;
        uring_loop_hook_fn reap_fn;
        void *reap_ud;
};

static uint64_t clock_ms(void)
{
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t uring_loop_clock_us(void)
{
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int ring_init(struct uring_loop *loop, unsigned sq, unsigned cq, unsigned extra_flags)
{
        /* Newest flags first: a kernel that lacks one refuses the whole set with -EINVAL. */
        static const unsigned tries[] = {
            IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
            IORING_SETUP_COOP_TASKRUN,
            0,
        };
        int r = -EINVAL;

        for (size_t i = 0; i < ARRAY_SIZE(tries); i++) {
                struct io_uring_params p;

                memset(&p, 0, sizeof(p));
                p.flags = tries[i] | IORING_SETUP_CQSIZE | extra_flags;
                p.cq_entries = cq;
                r = io_uring_queue_init_params(sq, &loop->ring, &p);
                if (r == 0) {
                        loop->setup_flags = p.flags;
                        loop->no_iowait = p.features & IORING_FEAT_NO_IOWAIT;
                        return 0;
                }
                if (r != -EINVAL)
                        return r;
        }
        return r;
}

/*
 * Register the allow-list on a ring created with IORING_SETUP_R_DISABLED. Register operations
 * stay open until the ring is enabled (the buffer ring is registered in between), and none is
 * allowed afterwards.
 */
static int restrict_ring(struct uring_loop *loop, const struct uring_loop_params *params)
{
        struct io_uring_restriction res[URING_LOOP_OP_MAX + 2];
        unsigned n = 0;
        int r;

        if (params->n_allow_ops > URING_LOOP_OP_MAX)
                return -EINVAL;
        memset(res, 0, sizeof(res));
        for (unsigned i = 0; i < params->n_allow_ops; i++) {
                res[n].opcode = IORING_RESTRICTION_SQE_OP;
                res[n].sqe_op = params->allow_ops[i];
                n++;
        }
        if (params->allow_sqe_flags) {
                res[n].opcode = IORING_RESTRICTION_SQE_FLAGS_ALLOWED;
                res[n].sqe_flags = params->allow_sqe_flags;
                n++;
        }
        /* liburing 2.3 declares io_uring_register_restrictions() but does not export it. */
        r = io_uring_register((unsigned)loop->ring.ring_fd, IORING_REGISTER_RESTRICTIONS, res, n);
        if (r < 0)
                return r;
        loop->n_restricted = params->n_allow_ops;
        return 0;
}

static int bufring_setup(struct uring_loop *loop, unsigned count, unsigned size)
{
        struct io_uring_buf_reg reg;
        int mask, r;

        if (count == 0 || (count & (count - 1)) != 0 || count > 32768 || size == 0)
                return -EINVAL;

        loop->br_map_len = (size_t)count * sizeof(struct io_uring_buf);
        loop->br = mmap(NULL, loop->br_map_len, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE,
                        -1, 0);
        if (loop->br == MAP_FAILED) {
                loop->br = NULL;
                return -errno;
        }
        /* Pages of the buffers are touched only when the kernel first fills them. */
        loop->bufs_map_len = (size_t)count * size;
        loop->bufs = mmap(NULL, loop->bufs_map_len, PROT_READ | PROT_WRITE,
                          MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
        if (loop->bufs == MAP_FAILED) {
                loop->bufs = NULL;
                return -errno;
        }

        memset(&reg, 0, sizeof(reg));
        reg.ring_addr = (unsigned long)(uintptr_t)loop->br;
        reg.ring_entries = count;
        reg.bgid = BUF_GROUP;
        r = io_uring_register_buf_ring(&loop->ring, &reg, 0);
        if (r < 0)
                return r;

        io_uring_buf_ring_init(loop->br);
        mask = io_uring_buf_ring_mask(count);
        for (unsigned i = 0; i < count; i++)
                io_uring_buf_ring_add(loop->br, loop->bufs + (size_t)i * size, size,
                                      (unsigned short)i, mask, (int)i);
        io_uring_buf_ring_advance(loop->br, (int)count);
        loop->buf_count = count;
        loop->buf_size = size;
        return 0;
}

static int wake_arm(struct uring_loop *loop)
{
        struct io_uring_sqe *sqe = uring_loop_sqe(loop, 0, OP_WAKE);

        if (!sqe)
                return -EBUSY;
        io_uring_prep_read(sqe, loop->wake_fd, &loop->wake_val, sizeof(loop->wake_val), 0);
        return 0;
}

int uring_loop_new(const struct uring_loop_params *params, struct uring_loop **ret)
{
        struct uring_loop *loop;
        unsigned sq, cq;
        int r;

        loop = calloc(1, sizeof(*loop));
        if (!loop)
                return -ENOMEM;
        loop->wake_fd = -1;
        loop->ring.ring_fd = -1;

        sq = params && params->sq_entries ? params->sq_entries : 1024;
        cq = params && params->cq_entries ? params->cq_entries : 4 * sq;
        loop->cqe_batch = params && params->cqe_batch ? params->cqe_batch : 512;
        loop->timer_batch = params && params->timer_batch ? params->timer_batch : 256;

        r = ring_init(loop, sq, cq,
                      params && params->n_allow_ops ? IORING_SETUP_R_DISABLED : 0);
        if (r < 0) {
                loop->ring.ring_fd = -1;
                goto fail;
        }
        if (params && params->n_allow_ops) {
                r = restrict_ring(loop, params);
                if (r < 0)
                        goto fail;
        }

        loop->slots = calloc(SLOTS_INITIAL, sizeof(*loop->slots));
        if (!loop->slots) {
                r = -ENOMEM;
                goto fail;
        }
        loop->n_slots = SLOTS_INITIAL;
        /* Free list over 1..n-1, ascending. */
        for (uint32_t i = 1; i < SLOTS_INITIAL; i++) {
                loop->slots[i].gen = 1;
                loop->slots[i].next_free = i + 1 < SLOTS_INITIAL ? i + 1 : 0;
        }
        loop->slots[0].used = true;
        loop->slots[0].gen = 0;
        loop->free_head = 1;

        if (params && params->buf_count) {
                r = bufring_setup(loop, params->buf_count, params->buf_size);
                if (r < 0)
                        goto fail;
        }

        if (loop->n_restricted) {
                /* With SINGLE_ISSUER this also makes the calling thread the submitter. */
                r = io_uring_register((unsigned)loop->ring.ring_fd, IORING_REGISTER_ENABLE_RINGS,
                                      NULL, 0);
                if (r < 0)
                        goto fail;
        }

        loop->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (loop->wake_fd < 0) {
                r = -errno;
                goto fail;
        }
        r = wake_arm(loop);
        if (r < 0)
                goto fail;

        loop->now_ms = clock_ms();
        *ret = loop;
        return 0;
fail:
        uring_loop_free(loop);
        return r;
}

void uring_loop_free(struct uring_loop *loop)
{
        if (!loop)
                return;
        if (loop->ring.ring_fd >= 0)
                io_uring_queue_exit(&loop->ring);
        if (loop->wake_fd >= 0)
                (void)close(loop->wake_fd);
        if (loop->bufs)
                (void)munmap(loop->bufs, loop->bufs_map_len);
        if (loop->br)
                (void)munmap(loop->br, loop->br_map_len);
        free(loop->slots);
        free(loop->heap);
        free(loop->later);
        free(loop);
}

struct io_uring *uring_loop_ring(struct uring_loop *loop)
{
        return &loop->ring;
}

unsigned uring_loop_setup_flags(const struct uring_loop *loop)
{
        return loop->setup_flags;
}

unsigned uring_loop_restrictions(const struct uring_loop *loop)
{
        return loop->n_restricted;
}

void uring_loop_set_handler(struct uring_loop *loop, uint8_t op, uring_loop_handler_fn fn)
{
        if (op != OP_WAKE)
                loop->handlers[op] = fn;
}

void uring_loop_set_fd_op(struct uring_loop *loop, uint8_t op)
{
        if (op != OP_WAKE)
                loop->makes_fd[op] = true;
}

void uring_loop_set_userdata(struct uring_loop *loop, void *userdata)
{
        loop->userdata = userdata;
}

void *uring_loop_get_userdata(const struct uring_loop *loop)
{
        return loop->userdata;
}

/* ---- Slots ---- */

static int slots_grow(struct uring_loop *loop)
{
        uint32_t old = loop->n_slots, n;
        struct slot *s;

        if (old > URING_LOOP_SLOT_MAX)
                return -ENOMEM;
        n = old * 2;
        if (n > URING_LOOP_SLOT_MAX + 1)
                n = URING_LOOP_SLOT_MAX + 1;
        s = realloc(loop->slots, (size_t)n * sizeof(*s));
        if (!s)
                return -ENOMEM;
        memset(s + old, 0, (size_t)(n - old) * sizeof(*s));
        for (uint32_t i = old; i < n; i++) {
                s[i].gen = 1;
                s[i].next_free = i + 1 < n ? i + 1 : loop->free_head;
        }
        loop->slots = s;
        loop->free_head = old;
        loop->n_slots = n;
        return 0;
}

int uring_loop_slot_alloc(struct uring_loop *loop, void *owner, uring_loop_free_fn free_fn,
                          uint32_t *ret_slot)
{
        struct slot *s;
        uint32_t i;

        if (loop->free_head == 0) {
                int r = slots_grow(loop);
                if (r < 0)
                        return r;
        }
        i = loop->free_head;
        s = &loop->slots[i];
        loop->free_head = s->next_free;
        s->owner = owner;
        s->free_fn = free_fn;
        s->inflight = 0;
        s->used = true;
        s->closing = false;
        *ret_slot = i;
        return 0;
}

static void slot_release(struct uring_loop *loop, uint32_t i)
{
        struct slot *s = &loop->slots[i];
        uring_loop_free_fn fn = s->free_fn;
        void *owner = s->owner;

        /* Bump the generation first: completions still racing in are then stale. */
        s->gen++;
        if (s->gen == 0)
                s->gen = 1;
        if (s->closing)
                loop->n_closing--;
        s->owner = NULL;
        s->free_fn = NULL;
        s->used = false;
        s->closing = false;
        s->next_free = loop->free_head;
        loop->free_head = i;
        if (fn)
                fn(loop, owner);
}

/* Whether slot's release is put off until the callback under way returns (else: now, as
 * outside callbacks, or when the list cannot grow). */
static bool release_later(struct uring_loop *loop, uint32_t slot)
{
        if (!loop->in_callback)
                return false;
        if (loop->n_later == loop->later_cap) {
                uint32_t cap = loop->later_cap ? loop->later_cap * 2 : 16;
                struct uring_loop_later *l = realloc(loop->later, cap * sizeof(*l));

                if (!l)
                        return false;
                loop->later = l;
                loop->later_cap = cap;
        }
        loop->later[loop->n_later++] = (struct uring_loop_later){slot, loop->slots[slot].gen};
        return true;
}

void uring_loop_slot_close(struct uring_loop *loop, uint32_t slot)
{
        struct slot *s;

        if (slot == 0 || slot >= loop->n_slots)
                return;
        s = &loop->slots[slot];
        BUG_ON_HOT(!s->used);
        if (!s->used || s->closing)
                return;
        s->closing = true;
        loop->n_closing++;
        if (s->inflight == 0 && !release_later(loop, slot))
                slot_release(loop, slot);
}

/* The releases the callback just over put off: each slot still closing with nothing in flight
 * (a completion of an operation queued since may have released it already; its generation has
 * moved on then, and the slot may be someone else's). */
static void releases_run(struct uring_loop *loop)
{
        for (uint32_t k = 0; k < loop->n_later; k++) {
                struct uring_loop_later l = loop->later[k];
                struct slot *s = &loop->slots[l.slot];

                if (s->used && s->gen == l.gen && s->closing && s->inflight == 0)
                        slot_release(loop, l.slot);
        }
        loop->n_later = 0;
}

int uring_loop_settle(struct uring_loop *loop, unsigned timeout_ms)
{
        uint64_t end = uring_loop_clock_us() / 1000 + timeout_ms;
        int r = 0;

        /* The owners of timers and of the iteration hook may already be freed (a timer that
         * fired here would reach for them): only completions are dispatched. */
        loop->settling = true;
        while (loop->n_closing > 0) {
                uint64_t now = uring_loop_clock_us() / 1000;
                if (now >= end) {
                        r = -ETIMEDOUT;
                        break;
                }
                r = uring_loop_run_once(loop, (int)(end - now));
                if (r < 0)
                        break;
                r = 0;
        }
        loop->settling = false;
        return r;
}

unsigned uring_loop_slot_inflight(const struct uring_loop *loop, uint32_t slot)
{
        if (slot >= loop->n_slots)
                return 0;
        return loop->slots[slot].inflight;
}

uint64_t uring_loop_user_data(const struct uring_loop *loop, uint32_t slot, uint8_t op)
{
        return (uint64_t)op << 56 | (uint64_t)(slot & URING_LOOP_SLOT_MAX) << 32 |
               loop->slots[slot].gen;
}

struct io_uring_sqe *uring_loop_sqe(struct uring_loop *loop, uint32_t slot, uint8_t op)
{
        struct io_uring_sqe *sqe = io_uring_get_sqe(&loop->ring);

        if (unlikely(!sqe)) {
                (void)io_uring_submit(&loop->ring);
                sqe = io_uring_get_sqe(&loop->ring);
                if (!sqe)
                        return NULL;
        }
        io_uring_sqe_set_data64(sqe, uring_loop_user_data(loop, slot, op));
        loop->slots[slot].inflight++;
        return sqe;
}

/* ---- Operation helpers ---- */

int uring_loop_accept_multishot(struct uring_loop *loop, uint32_t slot, uint8_t op, int fd)
{
        struct io_uring_sqe *sqe = uring_loop_sqe(loop, slot, op);

        if (!sqe)
                return -EBUSY;
        /* Its completions carry new fds whether or not the owner said so. */
        uring_loop_set_fd_op(loop, op);
        io_uring_prep_multishot_accept(sqe, fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        return 0;
}

int uring_loop_recv_multishot(struct uring_loop *loop, uint32_t slot, uint8_t op, int fd)
{
        struct io_uring_sqe *sqe;

        if (!loop->br)
                return -EINVAL;
        sqe = uring_loop_sqe(loop, slot, op);
        if (!sqe)
                return -EBUSY;
        io_uring_prep_recv_multishot(sqe, fd, NULL, 0, 0);
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = BUF_GROUP;
        return 0;
}

int uring_loop_poll(struct uring_loop *loop, uint32_t slot, uint8_t op, int fd, unsigned events)
{
        struct io_uring_sqe *sqe = uring_loop_sqe(loop, slot, op);

        if (!sqe)
                return -EBUSY;
        io_uring_prep_poll_add(sqe, fd, events);
        return 0;
}

int uring_loop_send(struct uring_loop *loop, uint32_t slot, uint8_t op, int fd, const void *buf,
                    size_t len, int flags)
{
        struct io_uring_sqe *sqe = uring_loop_sqe(loop, slot, op);

        if (!sqe)
                return -EBUSY;
        io_uring_prep_send(sqe, fd, buf, len, flags | MSG_NOSIGNAL);
        return 0;
}

int uring_loop_sendmsg(struct uring_loop *loop, uint32_t slot, uint8_t op, int fd,
                       const struct msghdr *msg, int flags, bool zc)
{
        struct io_uring_sqe *sqe = uring_loop_sqe(loop, slot, op);

        if (!sqe)
                return -EBUSY;
        if (zc)
                io_uring_prep_sendmsg_zc(sqe, fd, msg, (unsigned)(flags | MSG_NOSIGNAL));
        else
                io_uring_prep_sendmsg(sqe, fd, msg, (unsigned)(flags | MSG_NOSIGNAL));
        return 0;
}

int uring_loop_sendmsg_after_reads(struct uring_loop *loop, uint32_t slot, uint8_t op, int sock,
                                   const struct msghdr *msg, int flags, bool zc,
                                   const struct uring_loop_guard *reads, unsigned n)
{
        struct io_uring_sqe *sqe;

        /* Every SQE of the chain in one submit: a link must never end at a submit boundary. */
        if (io_uring_sq_space_left(&loop->ring) < n + 1)
                (void)io_uring_submit(&loop->ring);
        if (io_uring_sq_space_left(&loop->ring) < n + 1)
                return -EBUSY;
        /* The reads are no slot's operations (slot 0, never counted): dispatch() ignores their
         * CQEs. The send's own CQE (-ECANCELED after a short read) is the slot's. (With
         * IOSQE_CQE_SKIP_SUCCESS on the reads, a short read would cancel the send without any
         * CQE for it.) */
        for (unsigned i = 0; i < n; i++) {
                struct io_uring_sqe *rd = io_uring_get_sqe(&loop->ring);
                if (!rd)
                        return -EBUSY; /* not reached: the space was checked */
                io_uring_prep_read(rd, reads[i].fd, reads[i].buf, reads[i].len, reads[i].off);
                io_uring_sqe_set_data64(rd, uring_loop_user_data(loop, 0, OP_GUARD));
                rd->flags |= IOSQE_IO_LINK;
        }
        sqe = uring_loop_sqe(loop, slot, op);
        if (!sqe)
                return -EBUSY; /* not reached: the space was checked */
        if (zc)
                io_uring_prep_sendmsg_zc(sqe, sock, msg, (unsigned)(flags | MSG_NOSIGNAL));
        else
                io_uring_prep_sendmsg(sqe, sock, msg, (unsigned)(flags | MSG_NOSIGNAL));
        return 0;
}

int uring_loop_read(struct uring_loop *loop, uint32_t slot, uint8_t op, int fd, void *buf,
                    unsigned len)
{
        struct io_uring_sqe *sqe = uring_loop_sqe(loop, slot, op);

        if (!sqe)
                return -EBUSY;
        io_uring_prep_read(sqe, fd, buf, len, 0);
        return 0;
}

int uring_loop_cancel_fd(struct uring_loop *loop, uint32_t slot, uint8_t op, int fd)
{
        struct io_uring_sqe *sqe = uring_loop_sqe(loop, slot, op);

        if (!sqe)
                return -EBUSY;
        io_uring_prep_cancel_fd(sqe, fd, IORING_ASYNC_CANCEL_ALL);
        return 0;
}

int uring_loop_close(struct uring_loop *loop, uint32_t slot, uint8_t op, int fd)
{
        struct io_uring_sqe *sqe = uring_loop_sqe(loop, slot, op);

        if (!sqe)
                return -EBUSY;
        io_uring_prep_close(sqe, fd);
        return 0;
}

/* ---- Provided buffers ---- */

const char *uring_loop_cqe_buf(struct uring_loop *loop, const struct io_uring_cqe *cqe)
{
        unsigned bid;

        if (!(cqe->flags & IORING_CQE_F_BUFFER) || !loop->br)
                return NULL;
        bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
        if (bid >= loop->buf_count)
                return NULL;
        return loop->bufs + (size_t)bid * loop->buf_size;
}

void uring_loop_buf_recycle(struct uring_loop *loop, const struct io_uring_cqe *cqe)
{
        unsigned bid;

        if (!(cqe->flags & IORING_CQE_F_BUFFER) || !loop->br)
                return;
        bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
        if (bid >= loop->buf_count)
                return;
        io_uring_buf_ring_add(loop->br, loop->bufs + (size_t)bid * loop->buf_size, loop->buf_size,
                              (unsigned short)bid, io_uring_buf_ring_mask(loop->buf_count), 0);
        io_uring_buf_ring_advance(loop->br, 1);
}

unsigned uring_loop_buf_size(const struct uring_loop *loop)
{
        return loop->buf_size;
}

/* ---- Timers ---- */

void uring_timer_init(struct uring_timer *t, uring_timer_fn fn)
{
        t->deadline_ms = 0;
        t->heap_idx = UINT32_MAX;
        t->fn = fn;
}

static void heap_set(struct uring_loop *loop, uint32_t i, struct uring_timer *t)
{
        loop->heap[i] = t;
        t->heap_idx = i;
}

static void heap_up(struct uring_loop *loop, uint32_t i)
{
        struct uring_timer *t = loop->heap[i];

        while (i > 0) {
                uint32_t parent = (i - 1) / 2;
                if (loop->heap[parent]->deadline_ms <= t->deadline_ms)
                        break;
                heap_set(loop, i, loop->heap[parent]);
                i = parent;
        }
        heap_set(loop, i, t);
}

static void heap_down(struct uring_loop *loop, uint32_t i)
{
        struct uring_timer *t = loop->heap[i];

        for (;;) {
                uint32_t c = 2 * i + 1;
                if (c >= loop->heap_len)
                        break;
                if (c + 1 < loop->heap_len &&
                    loop->heap[c + 1]->deadline_ms < loop->heap[c]->deadline_ms)
                        c++;
                if (t->deadline_ms <= loop->heap[c]->deadline_ms)
                        break;
                heap_set(loop, i, loop->heap[c]);
                i = c;
        }
        heap_set(loop, i, t);
}

void uring_timer_cancel(struct uring_loop *loop, struct uring_timer *t)
{
        uint32_t i = t->heap_idx;
        struct uring_timer *last;

        if (i == UINT32_MAX)
                return;
        BUG_ON_HOT(i >= loop->heap_len || loop->heap[i] != t);
        t->heap_idx = UINT32_MAX;
        last = loop->heap[--loop->heap_len];
        if (last == t)
                return;
        heap_set(loop, i, last);
        heap_up(loop, i);
        heap_down(loop, last->heap_idx);
}

int uring_timer_arm(struct uring_loop *loop, struct uring_timer *t, uint64_t deadline_ms)
{
        if (t->heap_idx != UINT32_MAX) {
                uint64_t old = t->deadline_ms;
                t->deadline_ms = deadline_ms;
                if (deadline_ms < old)
                        heap_up(loop, t->heap_idx);
                else
                        heap_down(loop, t->heap_idx);
                return 0;
        }
        if (loop->heap_len == loop->heap_cap) {
                uint32_t cap = loop->heap_cap ? loop->heap_cap * 2 : 64;
                struct uring_timer **h = realloc(loop->heap, (size_t)cap * sizeof(*h));
                if (!h)
                        return -ENOMEM;
                loop->heap = h;
                loop->heap_cap = cap;
        }
        t->deadline_ms = deadline_ms;
        loop->heap[loop->heap_len] = t;
        t->heap_idx = loop->heap_len++;
        heap_up(loop, t->heap_idx);
        return 0;
}

uint64_t uring_loop_now_ms(const struct uring_loop *loop)
{
        return loop->now_ms;
}

static void timers_run(struct uring_loop *loop)
{
        for (unsigned n = 0; n < loop->timer_batch && loop->heap_len > 0; n++) {
                struct uring_timer *t = loop->heap[0];
                if (t->deadline_ms > loop->now_ms)
                        break;
                uring_timer_cancel(loop, t);
                /* The callback may re-arm t or free its owner. */
                t->fn(loop, t);
        }
}

/* ---- Running ---- */

void uring_loop_set_iter_hook(struct uring_loop *loop, uring_loop_hook_fn fn, void *userdata)
{
        loop->iter_fn = fn;
        loop->iter_ud = userdata;
}

void uring_loop_set_reap_hook(struct uring_loop *loop, uring_loop_hook_fn fn, void *userdata)
{
        loop->reap_fn = fn;
        loop->reap_ud = userdata;
}

void uring_loop_set_wake_hook(struct uring_loop *loop, uring_loop_hook_fn fn, void *userdata)
{
        loop->wake_fn = fn;
        loop->wake_ud = userdata;
}

void uring_loop_stop(struct uring_loop *loop)
{
        loop->stop = true;
}

int uring_loop_wake(struct uring_loop *loop)
{
        uint64_t one = 1;

        if (write(loop->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
                return -errno;
        return 0;
}

/* A completion no owner takes: its provided buffer goes back, and a new fd (an accept's,
 * reaching a slot being closed) is closed rather than left open for the process's life. */
static void drop_result(struct uring_loop *loop, uint8_t op, const struct io_uring_cqe *cqe)
{
        uring_loop_buf_recycle(loop, cqe);
        if (loop->makes_fd[op] && cqe->res >= 0)
                (void)close(cqe->res);
}

static void dispatch(struct uring_loop *loop, const struct io_uring_cqe *cqe)
{
        uint64_t ud = io_uring_cqe_get_data64(cqe);
        uint32_t i = uring_loop_ud_slot(ud);
        uint8_t op = uring_loop_ud_op(ud);
        bool last = !(cqe->flags & IORING_CQE_F_MORE);
        struct slot *s;

        if (i == 0) {
                if (op == OP_WAKE && last) {
                        loop->slots[0].inflight--;
                        loop->wake_unarmed = wake_arm(loop) < 0;
                        if (loop->wake_fn)
                                loop->wake_fn(loop, loop->wake_ud);
                }
                return;
        }
        if (unlikely(i >= loop->n_slots))
                goto drop;
        s = &loop->slots[i];
        if (unlikely(!s->used || s->gen != uring_loop_ud_gen(ud)))
                goto drop;
        if (last) {
                BUG_ON_HOT(s->inflight == 0);
                s->inflight--;
        }
        if (s->closing) {
                drop_result(loop, op, cqe);
                if (s->inflight == 0)
                        slot_release(loop, i);
                return;
        }
        if (likely(loop->handlers[op] != NULL))
                loop->handlers[op](loop, s->owner, cqe);
        else
                drop_result(loop, op, cqe);
        return;
drop:
        /* A stale completion: nobody owns its buffer, or the fd it made, any more. */
        drop_result(loop, op, cqe);
}

/*
 * io_uring_submit_and_wait_timeout(), waiting as idle rather than as I/O wait. A worker always
 * has operations in flight (its accept, every keep-alive connection's receive), so a kernel
 * counts all of its waits as I/O wait unless told otherwise: an idle appliance would show its
 * cores ~100% iowait on the operators' dashboards, where the same box under nginx shows idle.
 * liburing 2.3 cannot pass the flag, so this publishes the queued SQEs as io_uring_submit()
 * does and enters the ring itself. Returns what the liburing call would: SQEs submitted, or
 * -errno (-ETIME when the timeout passed with nothing completed).
 */
static int submit_and_wait_idle(struct uring_loop *loop, struct __kernel_timespec *ts)
{
        struct io_uring_sq *sq = &loop->ring.sq;
        struct io_uring_getevents_arg arg = {.ts = (uint64_t)(uintptr_t)ts};
        unsigned flags = IORING_ENTER_GETEVENTS | IORING_ENTER_EXT_ARG | IORING_ENTER_NO_IOWAIT;
        unsigned tail = sq->sqe_tail, submit;
        long r;

        if (sq->sqe_head != tail) {
                sq->sqe_head = tail;
                io_uring_smp_store_release(sq->ktail, tail);
        }
        submit = tail - io_uring_smp_load_acquire(sq->khead);
        r = syscall(__NR_io_uring_enter, loop->ring.ring_fd, submit, 1u, flags, &arg, sizeof(arg));
        return r < 0 ? -errno : (int)r;
}

static int iterate(struct uring_loop *loop, int timeout_ms)
{
        struct __kernel_timespec ts;
        struct io_uring_cqe *cqe;
        unsigned head, n = 0;
        int wait_ms = timeout_ms, r;

        if (loop->heap_len > 0 && !loop->settling) { /* settling fires none: no need to wake */
                uint64_t d = loop->heap[0]->deadline_ms;
                uint64_t now = clock_ms();
                /* Compared before any cast: a deadline weeks away is past INT_MAX ms. */
                uint64_t until = d > now ? d - now : 0;
                if (until < (uint64_t)wait_ms)
                        wait_ms = (int)until;
        }
        /* A wake read that found no SQE is armed now; until it is, waits stay short, since a
         * wake written meanwhile is only seen once it is armed (it is not lost: the eventfd
         * keeps the count). */
        if (loop->wake_unarmed) {
                loop->wake_unarmed = wake_arm(loop) < 0;
                if (loop->wake_unarmed && wait_ms > WAKE_RETRY_MS)
                        wait_ms = WAKE_RETRY_MS;
        }
        ts.tv_sec = wait_ms / 1000;
        ts.tv_nsec = (long long)(wait_ms % 1000) * 1000000;

        if (loop->no_iowait)
                r = submit_and_wait_idle(loop, &ts);
        else
                r = io_uring_submit_and_wait_timeout(&loop->ring, &cqe, 1, &ts, NULL);
        if (r < 0 && r != -ETIME && r != -EINTR && r != -EAGAIN && r != -EBUSY)
                return r;
        loop->now_ms = clock_ms();

        loop->in_callback = true;
        if (loop->reap_fn)
                loop->reap_fn(loop, loop->reap_ud);
        io_uring_for_each_cqe(&loop->ring, head, cqe)
        {
                dispatch(loop, cqe);
                if (++n == loop->cqe_batch)
                        break;
        }
        io_uring_cq_advance(&loop->ring, n);

        if (!loop->settling) {
                timers_run(loop);
                if (loop->iter_fn)
                        loop->iter_fn(loop, loop->iter_ud);
        }
        loop->in_callback = false;
        releases_run(loop);
        return (int)n;
}

int uring_loop_run_once(struct uring_loop *loop, int timeout_ms)
{
        return iterate(loop, timeout_ms < 0 ? MAX_WAIT_MS : timeout_ms);
}

int uring_loop_run(struct uring_loop *loop)
{
        loop->stop = false;
        while (!loop->stop) {
                int r = iterate(loop, MAX_WAIT_MS);
                if (r < 0)
                        return r;
        }
        /* Hand queued SQEs (cancels, closes) to the kernel before the caller tears down. */
        (void)io_uring_submit(&loop->ring);
        return 0;
}
