/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
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

        memset(&a, 0, sizeof(a));
        a.size = sizeof(a);
        a.policy = SCHED_OTHER; /* the policy the edge runs under; nice stays 0 */
        a.runtime = (uint64_t)slice_us * 1000u;
        if (syscall(SYS_sched_setattr, 0, &a, 0) < 0)
                return -errno;
        return 0;
}
