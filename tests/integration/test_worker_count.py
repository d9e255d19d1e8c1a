# SPDX-License-Identifier: MIT
"""How many client workers workers: 0 (or --workers 0) starts.

  one_per_usable_cpu: started with its CPU affinity narrowed to one CPU (as taskset, systemd's
                 CPUAffinity= or a container's cpuset do) on a machine with more, the edge
                 starts one client worker, not one per CPU of the machine: /healthz says 1,
                 and one edge-worker thread runs. Skipped on a machine with one CPU.
"""

import json
import os
import sys

from edgeharness import SKIP, Edge, eq, run, test


def one_per_usable_cpu_by(binary, cfg, args):
    mine = os.sched_getaffinity(0)
    if len(mine) < 2:
        print("SKIP: this process may run on one CPU only; nothing to narrow")
        sys.exit(SKIP)
    e = Edge(binary, cfg)
    e.args = args
    os.sched_setaffinity(0, {min(mine)})
    try:
        e.start()
    finally:
        os.sched_setaffinity(0, mine)
    try:
        eq(json.loads(e.get("/healthz", admin=True).body)["workers"], 1, "/healthz workers")
        names = []
        for tid in os.listdir(f"/proc/{e.proc.pid}/task"):
            with open(f"/proc/{e.proc.pid}/task/{tid}/comm") as f:
                names.append(f.read().strip())
        eq(sorted(n for n in names if n.startswith("edge-worker-")), ["edge-worker-0"],
           "client worker threads")
        e.stop()
    finally:
        e.cleanup()


@test
def one_per_usable_cpu(binary):
    one_per_usable_cpu_by(binary, {"workers": 0}, [])


@test
def flag_zero_is_one_per_cpu(binary):
    """--workers 0 means what workers: 0 does, over the file's own count (it was refused,
    "--workers must be 1..62")."""
    one_per_usable_cpu_by(binary, {"workers": 2}, ["--workers", "0"])


if __name__ == "__main__":
    sys.exit(run())
