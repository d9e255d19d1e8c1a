/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <liburing.h>

/*
 * One io_uring event loop per worker thread.
 *
 * Owners (connections, listeners, ...) register in the loop's slot table and get a slot number.
 * Every SQE an owner submits carries user_data = {op:8, slot:24, gen:32}; the loop counts the
 * owner's in-flight operations (a multishot operation counts once, until its final CQE without
 * IORING_CQE_F_MORE). A completion whose generation no longer matches its slot is dropped, so
 * a reused slot never sees its predecessor's completions. An owner closed with
 * uring_loop_slot_close() gets no more handler calls and is freed (its free callback runs) only
 * once its in-flight count reaches 0; the loop itself returns any provided buffer such a
 * completion carries.
 *
 * Each iteration: submit and wait (the timeout is the next timer deadline; the wait is idle
 * time, not I/O wait, where the kernel allows), the reap hook, dispatch at most a capped number
 * of CQEs by op, one batched cq_advance, expired timers (capped too), then the iteration hook.
 * Everything except uring_loop_wake() must be called from the loop's own thread.
 */

struct uring_loop;

/* Op codes 1..255 are the owner's; 0 is the loop's own (wake eventfd). */
#define URING_LOOP_OP_MAX   255
#define URING_LOOP_SLOT_MAX ((1u << 24) - 1)

/* A CQE for a live owner. owner is what was given to uring_loop_slot_alloc(). */
typedef void (*uring_loop_handler_fn)(struct uring_loop *loop, void *owner,
                                      const struct io_uring_cqe *cqe);
/* Called once per closed owner after its last completion; the owner may free itself. */
typedef void (*uring_loop_free_fn)(struct uring_loop *loop, void *owner);
/* Generic hook (wake, iteration end). */
typedef void (*uring_loop_hook_fn)(struct uring_loop *loop, void *userdata);

struct uring_loop_params {
        unsigned sq_entries;  /* 0: 1024 */
        unsigned cq_entries;  /* 0: 4 * sq_entries */
        unsigned cqe_batch;   /* max CQEs dispatched per iteration; 0: 512 */
        unsigned timer_batch; /* max timers fired per iteration; 0: 256 */
        unsigned buf_count;   /* provided buffers for recv (power of two); 0: no buffer ring */
        unsigned buf_size;    /* bytes per provided buffer */
        /*
         * io_uring restrictions (optional; n_allow_ops 0 leaves the ring unrestricted). The ring
         * is created disabled (IORING_SETUP_R_DISABLED), allowed only these SQE opcodes and
         * SQE flags, and enabled at the end of uring_loop_new(); once enabled it refuses every
         * io_uring_register() operation. The array is read during uring_loop_new() only.
         */
        const uint8_t *allow_ops;
        unsigned n_allow_ops;
        uint8_t allow_sqe_flags; /* IOSQE_* bits the owner sets (e.g. IOSQE_BUFFER_SELECT) */
};

/*
 * Create a loop for the calling thread. Tries SINGLE_ISSUER|DEFER_TASKRUN, then COOP_TASKRUN,
 * then no flags. Returns 0 and *ret (free with uring_loop_free) or -errno. Start-up only.
 */
int uring_loop_new(const struct uring_loop_params *params, struct uring_loop **ret);
/* Free the loop. Owners still registered are not freed (their free callbacks do not run). */
void uring_loop_free(struct uring_loop *loop);

struct io_uring *uring_loop_ring(struct uring_loop *loop);
/* Setup flags the ring actually got (for logs and tests). */
unsigned uring_loop_setup_flags(const struct uring_loop *loop);
/* Number of SQE opcodes the ring is restricted to; 0 when it is unrestricted. */
unsigned uring_loop_restrictions(const struct uring_loop *loop);

void uring_loop_set_handler(struct uring_loop *loop, uint8_t op, uring_loop_handler_fn fn);
/* Completions of op carry a new fd in res (accept): one that reaches a slot being closed, or
 * a stale one, has its fd closed by the loop. uring_loop_accept_multishot() marks its op so
 * itself; an op code is then for accepts only. */
void uring_loop_set_fd_op(struct uring_loop *loop, uint8_t op);
void uring_loop_set_userdata(struct uring_loop *loop, void *userdata);
void *uring_loop_get_userdata(const struct uring_loop *loop);

/* ---- Slots ---- */

/*
 * Register owner. Returns 0 and *ret_slot, or -ENOMEM (table full or OOM; on the data path the
 * caller refuses the connection). free_fn may be NULL.
 */
int uring_loop_slot_alloc(struct uring_loop *loop, void *owner, uring_loop_free_fn free_fn,
                          uint32_t *ret_slot);
/*
 * Mark slot closing: no more handler calls. The owner's free_fn runs after the last completion
 * of what is in flight; with nothing in flight, now, or when called from a handler, timer or
 * iteration hook, once that callback has returned (so code up its stack may still look at the
 * owner). Cancel the owner's operations first (e.g. uring_loop_cancel_fd) so that happens soon.
 * After the callback the caller must not touch owner again.
 */
void uring_loop_slot_close(struct uring_loop *loop, uint32_t slot);
unsigned uring_loop_slot_inflight(const struct uring_loop *loop, uint32_t slot);
/* The user_data a new operation of slot would carry. */
uint64_t uring_loop_user_data(const struct uring_loop *loop, uint32_t slot, uint8_t op);

static inline uint8_t uring_loop_ud_op(uint64_t ud)
{
        return (uint8_t)(ud >> 56);
}
static inline uint32_t uring_loop_ud_slot(uint64_t ud)
{
        return (uint32_t)(ud >> 32) & URING_LOOP_SLOT_MAX;
}
static inline uint32_t uring_loop_ud_gen(uint64_t ud)
{
        return (uint32_t)ud;
}

/*
 * An SQE for slot's op, user_data set and counted in flight. Submits the queue to make room
 * when it is full. Returns NULL when no SQE can be had (the caller treats it as a
 * per-owner error).
 */
struct io_uring_sqe *uring_loop_sqe(struct uring_loop *loop, uint32_t slot, uint8_t op);

/* ---- Operation helpers: each returns 0 or -EBUSY (no SQE). ---- */

/* Multishot accept of SOCK_NONBLOCK|SOCK_CLOEXEC sockets; cqe->res is the new fd or -errno.
 * Marks op as uring_loop_set_fd_op() does: an fd no handler takes is closed by the loop. */
int uring_loop_accept_multishot(struct uring_loop *loop, uint32_t slot, uint8_t op, int fd);
/*
 * Multishot recv into the loop's provided-buffer ring: an idle socket holds no buffer. Read
 * the data with uring_loop_cqe_buf() and give the buffer back with uring_loop_buf_recycle().
 * The stream ends with a CQE without IORING_CQE_F_MORE (res 0 at EOF, -ENOBUFS when the ring
 * ran dry: re-arm).
 */
int uring_loop_recv_multishot(struct uring_loop *loop, uint32_t slot, uint8_t op, int fd);
/* One-shot poll (POLLOUT etc.); cqe->res is the revents mask or -errno. */
int uring_loop_poll(struct uring_loop *loop, uint32_t slot, uint8_t op, int fd, unsigned events);
/*
 * send(2) of buf[0..len) on a socket with flags (MSG_MORE, ...; MSG_NOSIGNAL is added). buf
 * belongs to the operation until its CQE; cqe->res is the number of bytes sent, which may be
 * fewer than len on a stream socket (send the rest with a new operation), or -errno. A full
 * socket does not fail the operation: the kernel waits for room.
 */
int uring_loop_send(struct uring_loop *loop, uint32_t slot, uint8_t op, int fd, const void *buf,
                    size_t len, int flags);
/*
 * sendmsg(2) of msg on a socket with flags (MSG_NOSIGNAL is added); msg, its iovecs and the
 * bytes they point at belong to the operation until its CQE. zc: IORING_OP_SENDMSG_ZC, whose
 * pages the kernel references rather than copies: its result CQE carries IORING_CQE_F_MORE
 * when a second, IORING_CQE_F_NOTIF CQE will say the kernel let go of them, and only then may
 * the bytes change or go away (the slot stays in flight until then).
 */
int uring_loop_sendmsg(struct uring_loop *loop, uint32_t slot, uint8_t op, int fd,
                       const struct msghdr *msg, int flags, bool zc);
/* A read uring_loop_sendmsg_after_reads makes first: len bytes of fd at off into buf. */
struct uring_loop_guard {
        int fd;
        void *buf;
        unsigned len;
        uint64_t off;
};
/*
 * sendmsg(2) as uring_loop_sendmsg (zc: zero copy), issued only once n reads (pread(2) each)
 * have returned all their bytes, linked one after another in the same submit (IOSQE_IO_LINK):
 * a short or failed read cancels the send, whose CQE then says -ECANCELED. The reads' own CQEs
 * never reach the caller; their buffers belong to the operation until the send's CQE. n + 1
 * SQEs in one submit: -EBUSY when the submission queue cannot hold them. Needs IOSQE_IO_LINK
 * among a restricted ring's SQE flags.
 */
int uring_loop_sendmsg_after_reads(struct uring_loop *loop, uint32_t slot, uint8_t op, int sock,
                                   const struct msghdr *msg, int flags, bool zc,
                                   const struct uring_loop_guard *reads, unsigned n);
/* read(2) of buf[0..len) (eventfd, signalfd); buf belongs to the operation until its CQE. */
int uring_loop_read(struct uring_loop *loop, uint32_t slot, uint8_t op, int fd, void *buf,
                    unsigned len);
/* Cancel every operation on fd (IORING_ASYNC_CANCEL_ALL). */
int uring_loop_cancel_fd(struct uring_loop *loop, uint32_t slot, uint8_t op, int fd);
/* close(2) through the ring. */
int uring_loop_close(struct uring_loop *loop, uint32_t slot, uint8_t op, int fd);

/*
 * The provided buffer a recv CQE carries: returns its data (cqe->res bytes) or NULL when the
 * CQE has none. The buffer stays the caller's until uring_loop_buf_recycle().
 */
const char *uring_loop_cqe_buf(struct uring_loop *loop, const struct io_uring_cqe *cqe);
/* Return the CQE's buffer (if any) to the ring. */
void uring_loop_buf_recycle(struct uring_loop *loop, const struct io_uring_cqe *cqe);
unsigned uring_loop_buf_size(const struct uring_loop *loop);

/* ---- Timers (binary heap on a millisecond monotonic clock) ---- */

struct uring_timer;
typedef void (*uring_timer_fn)(struct uring_loop *loop, struct uring_timer *t);

struct uring_timer {
        uint64_t deadline_ms;
        uint32_t heap_idx; /* UINT32_MAX when not armed */
        uring_timer_fn fn;
};

void uring_timer_init(struct uring_timer *t, uring_timer_fn fn);
static inline bool uring_timer_armed(const struct uring_timer *t)
{
        return t->heap_idx != UINT32_MAX;
}
/*
 * Arm (or move) t to fire at deadline_ms (uring_loop_now_ms() scale). Timers with equal
 * deadlines fire in arming order is not promised; earlier deadlines always fire first.
 * Returns 0 or -ENOMEM (heap growth).
 */
int uring_timer_arm(struct uring_loop *loop, struct uring_timer *t, uint64_t deadline_ms);
void uring_timer_cancel(struct uring_loop *loop, struct uring_timer *t);

/* Monotonic milliseconds, refreshed once per iteration. */
uint64_t uring_loop_now_ms(const struct uring_loop *loop);
/* Monotonic microseconds, read now (for durations). */
uint64_t uring_loop_clock_us(void);

/* ---- Running ---- */

/* Runs fn(loop, userdata) at the end of every iteration (flush buffered logs etc.). */
void uring_loop_set_iter_hook(struct uring_loop *loop, uring_loop_hook_fn fn, void *userdata);
/* Runs fn(loop, userdata) each time a wait returns, before the completions it reaped are
 * dispatched: no callback is running, and whatever another thread published before those
 * completions arrived can be taken up before any of them is handled. */
void uring_loop_set_reap_hook(struct uring_loop *loop, uring_loop_hook_fn fn, void *userdata);
/* Runs fn(loop, userdata) in the loop thread after uring_loop_wake(). */
void uring_loop_set_wake_hook(struct uring_loop *loop, uring_loop_hook_fn fn, void *userdata);

/* Run until uring_loop_stop(). Returns 0, or -errno when the ring fails. */
int uring_loop_run(struct uring_loop *loop);
/* Run one iteration, waiting at most timeout_ms (tests). Returns CQEs handled or -errno. */
int uring_loop_run_once(struct uring_loop *loop, int timeout_ms);
/*
 * After uring_loop_run() returned: keep reaping completions until every closed owner has been
 * freed, or timeout_ms passed. No timer fires and the iteration hook is not called meanwhile:
 * their owners may be gone. Returns 0, -ETIMEDOUT, or -errno when the ring fails.
 */
int uring_loop_settle(struct uring_loop *loop, unsigned timeout_ms);
/* Make uring_loop_run() return after the current iteration. Loop thread only. */
void uring_loop_stop(struct uring_loop *loop);
/* Any thread: wake the loop and have it run the wake hook. Async-signal-safe. Returns 0/-errno. */
int uring_loop_wake(struct uring_loop *loop);
