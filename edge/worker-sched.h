/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * How a worker thread presents itself to the scheduler: its name (what `top -H`, `ps -L` and
 * /proc/<pid>/task/<tid>/comm show) and, for client workers, the time slice it asks for.
 *
 * A shorter slice (Linux 6.12 and later, EEVDF's custom slices; older kernels ignore it) lets a
 * worker woken by a completion run sooner when the cores are busy with other work, at the cost
 * of being preempted sooner too. It asks for no larger a share of the CPU. Measured in
 * docs/bench.md: lower tail latency with the load generator on the same cores.
 */

#include <stdbool.h>
#include <stdint.h>

/* "edge-worker-<idx>" or "edge-admin" for the calling thread; best effort. */
void worker_sched_name(unsigned idx, bool admin);

/* Ask for a slice of slice_us microseconds for the calling thread, 0 for the kernel's default,
 * keeping its policy and nice value. The kernel raises a value under 100 to 100 and lowers one
 * over 100,000. Returns 0 or -errno (-EOPNOTSUPP under a real-time policy). */
int worker_sched_slice(unsigned slice_us);

/*
 * Yielding while the core is shared. Under load a worker's io_uring_enter() finds completions
 * waiting and returns at once, so the worker never sleeps: the scheduler sees a thread that
 * always wants the CPU and, when a load generator or anything else busy shares the core, lets
 * the two take turns a tick at a time. The responses a worker has just handed to the kernel then
 * wait up to a tick for the process that reads them, and requests sent meanwhile wait up to a
 * tick for the worker. So a client worker that spent at least WORKER_YIELD_WAITED_PCT percent of
 * a period of WORKER_YIELD_PERIOD_MS runnable but waiting for its CPU (the run-queue delay in
 * /proc/thread-self/schedstat, read once a period) yields the CPU after every loop iteration,
 * and goes on doing so until WORKER_YIELD_HOLD periods in a row pass under that: stopping at
 * the first quiet period let the turn-taking start again. Alone on its core (kernel threads
 * only take moments of it) it never yields, and pays one pread() a period. Measured in
 * docs/bench.md.
 */
#define WORKER_YIELD_PERIOD_MS  20
#define WORKER_YIELD_WAITED_PCT 25
#define WORKER_YIELD_HOLD       50 /* one second */

struct worker_yield {
        int fd;            /* /proc/thread-self/schedstat; -1: not readable, never yields */
        uint64_t next_ms;  /* when the delay is read again; 0: at the next call */
        uint64_t last_ms;  /* when it was read last */
        uint64_t waited;   /* run-queue delay at the last reading, ns; UINT64_MAX before it */
        unsigned quiet;    /* periods in a row under the mark while on */
        bool on;           /* the core was shared lately: yield every iteration */
};

/* For the calling thread (schedstat is per thread): 0, or -errno when the file cannot be opened,
 * and then the thread never yields. */
int worker_yield_init(struct worker_yield *y);
void worker_yield_close(struct worker_yield *y);

/* Decide from a reading of the thread's run-queue delay in ns, taken at now_ms; the first
 * reading only sets the base. Pure, for tests; worker_sched_yield() calls it. */
void worker_yield_update(struct worker_yield *y, uint64_t now_ms, uint64_t waited);

/* Once per loop iteration of a client worker: reads the delay when a period is over, and
 * yields while the core is shared. Returns true when it yielded. */
bool worker_sched_yield(struct worker_yield *y, uint64_t now_ms);
