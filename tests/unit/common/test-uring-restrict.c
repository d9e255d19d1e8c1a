/* SPDX-License-Identifier: MIT */
/*
 * io_uring restrictions through uring_loop_params: a restricted loop refuses SQE opcodes and
 * flags outside its allow-list with -EACCES and every io_uring_register() operation, while
 * allowed operations work; an unrestricted loop is unaffected.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include <liburing.h>

#include "tests.h"
#include "uring-loop.h"

#define OP_TRY 1

static const uint8_t allowed[] = {IORING_OP_READ};

struct probe {
        int res;
        bool done;
};

static void on_try(struct uring_loop *loop, void *owner, const struct io_uring_cqe *cqe)
{
        struct probe *p = owner;

        p->res = cqe->res;
        p->done = true;
}

static struct uring_loop *loop_new_or_skip(bool restricted)
{
        struct uring_loop_params p = {.sq_entries = 16};
        struct uring_loop *loop = NULL;
        int r;

        if (restricted) {
                p.allow_ops = allowed;
                p.n_allow_ops = 1;
        }
        r = uring_loop_new(&p, &loop);
        if (r == -ENOSYS || r == -EPERM)
                TEST_SKIP("io_uring unavailable (%d)", r);
        if (r < 0)
                return NULL;
        uring_loop_set_handler(loop, OP_TRY, on_try);
        return loop;
}

/* Submit one SQE (a NOP, or a read with flags) and return its result; INT_MIN when it could
 * not be submitted or did not complete. */
static int try_op(struct uring_loop *loop, int fd, void *buf, unsigned len, uint8_t flags,
                  bool nop)
{
        struct probe p = {0};
        struct io_uring_sqe *sqe;
        uint32_t slot;

        if (uring_loop_slot_alloc(loop, &p, NULL, &slot) < 0)
                return INT_MIN;
        sqe = uring_loop_sqe(loop, slot, OP_TRY);
        if (!sqe)
                return INT_MIN;
        if (nop)
                io_uring_prep_nop(sqe);
        else
                io_uring_prep_read(sqe, fd, buf, len, 0);
        sqe->flags |= flags;
        for (int i = 0; i < 50 && !p.done; i++)
                (void)uring_loop_run_once(loop, 100);
        uring_loop_slot_close(loop, slot);
        return p.done ? p.res : INT_MIN;
}

TEST(restricted_ring_refuses_other_opcodes)
{
        struct uring_loop *loop = loop_new_or_skip(true);

        ASSERT_TRUE(loop != NULL);
        ASSERT_EQ(uring_loop_restrictions(loop), 1);
        ASSERT_EQ(try_op(loop, -1, NULL, 0, 0, true), -EACCES);
        uring_loop_free(loop);
}

TEST(restricted_ring_runs_allowed_opcodes)
{
        struct uring_loop *loop = loop_new_or_skip(true);
        char buf[8] = {0};
        int fds[2];

        ASSERT_TRUE(loop != NULL);
        ASSERT_EQ(pipe(fds), 0);
        ASSERT_EQ(write(fds[1], "abc", 3), 3);
        ASSERT_EQ(try_op(loop, fds[0], buf, sizeof(buf), 0, false), 3);
        ASSERT_MEMEQ(buf, 3, "abc", 3);
        /* The same opcode with an SQE flag outside the allowed set is refused. */
        ASSERT_EQ(write(fds[1], "d", 1), 1);
        ASSERT_EQ(try_op(loop, fds[0], buf, sizeof(buf), IOSQE_IO_DRAIN, false), -EACCES);
        (void)close(fds[0]);
        (void)close(fds[1]);
        uring_loop_free(loop);
}

TEST(restricted_ring_refuses_register)
{
        struct uring_loop *loop = loop_new_or_skip(true);
        struct io_uring_restriction res;
        unsigned fd;

        ASSERT_TRUE(loop != NULL);
        fd = (unsigned)uring_loop_ring(loop)->ring_fd;
        /* Neither new restrictions (loosening) nor any other register operation. */
        memset(&res, 0, sizeof(res));
        res.opcode = IORING_RESTRICTION_SQE_OP;
        res.sqe_op = IORING_OP_NOP;
        ASSERT_TRUE(io_uring_register(fd, IORING_REGISTER_RESTRICTIONS, &res, 1) < 0);
        ASSERT_EQ(io_uring_register(fd, IORING_REGISTER_PROBE, NULL, 0), -EACCES);
        uring_loop_free(loop);
}

TEST(unrestricted_ring_unaffected)
{
        struct uring_loop *loop = loop_new_or_skip(false);

        ASSERT_TRUE(loop != NULL);
        ASSERT_EQ(uring_loop_restrictions(loop), 0);
        ASSERT_EQ(try_op(loop, -1, NULL, 0, 0, true), 0);
        uring_loop_free(loop);
}

TEST_MAIN()
