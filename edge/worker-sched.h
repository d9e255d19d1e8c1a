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

/* "edge-worker-<idx>" or "edge-admin" for the calling thread; best effort. */
void worker_sched_name(unsigned idx, bool admin);

/* Ask for a slice of slice_us microseconds for the calling thread, 0 for the kernel's default,
 * keeping its policy and nice value. The kernel raises a value under 100 to 100 and lowers one
 * over 100,000. Returns 0 or -errno (-EOPNOTSUPP under a real-time policy). */
int worker_sched_slice(unsigned slice_us);
