/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "worker-sched.h"

/* sched_setattr(2)'s argument as the kernel first defined it (SCHED_ATTR_SIZE_VER0, 48 bytes):
 * <linux/sched/types.h> cannot be included beside <sched.h>, which declares sched_param too. */
struct slice_attr {
        uint32_t size, policy;
        uint64_t flags;
        int32_t nice;
        uint32_t priority;
        uint64_t runtime, deadline, period; /* runtime: a fair task's slice, in ns (6.12+) */
};

void worker_sched_name(unsigned idx, bool admin)
{
        char name[16]; /* the kernel keeps 15 bytes and the NUL */

        if (admin)
                (void)snprintf(name, sizeof(name), "edge-admin");
        else
                (void)snprintf(name, sizeof(name), "edge-worker-%u", idx);
        (void)pthread_setname_np(pthread_self(), name);
}

int worker_sched_slice(unsigned slice_us)
{
        struct slice_attr a;

        /* The thread's own policy, nice and priority, as the edge was started with (nice,
         * systemd's Nice= or CPUSchedulingPolicy=): only the slice changes. Setting them anew
         * would put a niced edge back at 0, or fail once capabilities are dropped. */
        memset(&a, 0, sizeof(a));
        if (syscall(SYS_sched_getattr, 0, &a, sizeof(a), 0) < 0)
                return -errno;
        /* Custom slices are the fair classes' (EEVDF); a real-time policy keeps its own. */
        if (a.policy != SCHED_OTHER && a.policy != SCHED_BATCH && a.policy != SCHED_IDLE)
                return -EOPNOTSUPP;
        a.size = sizeof(a);
        a.flags = 0;
        a.runtime = (uint64_t)slice_us * 1000u;
        a.deadline = a.period = 0;
        if (syscall(SYS_sched_setattr, 0, &a, 0) < 0)
                return -errno;
        return 0;
}

int worker_yield_init(struct worker_yield *y)
{
        y->next_ms = y->last_ms = 0;
        y->waited = UINT64_MAX;
        y->quiet = 0;
        y->on = false;
        y->fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
        return y->fd < 0 ? -errno : 0;
}

void worker_yield_close(struct worker_yield *y)
{
        if (y->fd >= 0)
                (void)close(y->fd);
        y->fd = -1;
        y->on = false;
}

void worker_yield_update(struct worker_yield *y, uint64_t now_ms, uint64_t waited)
{
        bool shared = false;

        if (y->waited != UINT64_MAX && waited >= y->waited && now_ms > y->last_ms)
                shared = (waited - y->waited) * 100u >=
                         (now_ms - y->last_ms) * 1000000u * WORKER_YIELD_WAITED_PCT;
        if (shared)
                y->quiet = 0;
        else if (y->on && ++y->quiet < WORKER_YIELD_HOLD)
                shared = true;
        y->on = shared;
        y->waited = waited;
        y->last_ms = now_ms;
        y->next_ms = now_ms + WORKER_YIELD_PERIOD_MS;
}

/* "run_ns wait_ns timeslices\n": the second field, or UINT64_MAX when unreadable. */
static uint64_t read_waited(int fd)
{
        char buf[96], *p, *end;
        ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
        unsigned long long v;

        if (n <= 0)
                return UINT64_MAX;
        buf[n] = '\0';
        (void)strtoull(buf, &p, 10);
        errno = 0;
        v = strtoull(p, &end, 10);
        return end == p || errno ? UINT64_MAX : (uint64_t)v;
}

bool worker_sched_yield(struct worker_yield *y, uint64_t now_ms)
{
        if (y->fd < 0)
                return false;
        if (now_ms >= y->next_ms) {
                uint64_t waited = read_waited(y->fd);
                if (waited != UINT64_MAX)
                        worker_yield_update(y, now_ms, waited);
                else /* not expected; stay as before and look again next period */
                        y->next_ms = now_ms + WORKER_YIELD_PERIOD_MS;
        }
        if (!y->on)
                return false;
        (void)sched_yield();
        return true;
}
