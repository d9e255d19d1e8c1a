/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
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

void worker_yield_init(struct worker_yield *y)
{
        y->next_ms = 0;
        y->preempted = -1;
        y->on = false;
        y->quiet = 0;
}

void worker_yield_update(struct worker_yield *y, uint64_t now_ms, long preempted)
{
        bool shared = y->preempted >= 0 && preempted - y->preempted >= WORKER_YIELD_PREEMPTED;

        if (shared)
                y->quiet = 0;
        else if (y->on && ++y->quiet < WORKER_YIELD_HOLD)
                shared = true;
        y->on = shared;
        y->preempted = preempted;
        y->next_ms = now_ms + WORKER_YIELD_PERIOD_MS;
}

bool worker_sched_yield(struct worker_yield *y, uint64_t now_ms)
{
        struct rusage ru;

        if (now_ms >= y->next_ms) {
                if (getrusage(RUSAGE_THREAD, &ru) == 0)
                        worker_yield_update(y, now_ms, ru.ru_nivcsw);
                else /* not expected; stay as before and look again next period */
                        y->next_ms = now_ms + WORKER_YIELD_PERIOD_MS;
        }
        if (!y->on)
                return false;
        (void)sched_yield();
        return true;
}
