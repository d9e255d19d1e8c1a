# SPDX-License-Identifier: MIT
"""worker_yield: a client worker that shares its core with other busy work yields the core
after each pass of its loop (edge/worker-sched.h).

  yields_on_a_shared_core: the edge's two client workers and wrk are pinned to one CPU; under
                 wrk's load sluice_edge_worker_yields_total rises, for each worker, and every
                 answer is a 200.
  none_once_switched_off: after a reload to worker_yield: false, the same load adds no yield.
"""

import os
import re
import shutil
import subprocess
import sys

from edgeharness import check, eq, run, skip, standard_setup, test

KEY = "/t1/seg-2k.m4s"
SETUP = standard_setup(None, {KEY: os.urandom(2048)})


def yields(e):
    """{worker label: sluice_edge_worker_yields_total}."""
    out = {}
    for line in e.metrics().body.decode().splitlines():
        m = re.match(r'^sluice_edge_worker_yields_total\{worker="(\d+)"\} (\S+)$', line)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


def pin_workers(e, cpu):
    """Pin the edge's client worker threads to cpu; returns how many there were."""
    n = 0
    for tid in os.listdir(f"/proc/{e.proc.pid}/task"):
        with open(f"/proc/{e.proc.pid}/task/{tid}/comm") as f:
            if f.read().startswith("edge-worker-"):
                os.sched_setaffinity(int(tid), {cpu})
                n += 1
    return n


def load_on(e, cpu, seconds):
    """wrk on cpu, 16 connections, for seconds; refuses a run with errors or non-2xx."""
    if not shutil.which("wrk"):
        skip("wrk is not installed (tools/deps installs it)")
    out = subprocess.run(["taskset", "-c", str(cpu), "wrk", "-t1", "-c16", f"-d{seconds}s",
                          f"http://127.0.0.1:{e.port}{KEY}"],
                         capture_output=True, text=True, timeout=seconds + 30).stdout
    check("Non-2xx" not in out and "Socket errors" not in out, f"wrk saw errors:\n{out}")
    m = re.search(r"(\d+) requests in", out)
    check(m and int(m.group(1)) > 0, f"wrk made no request:\n{out}")
    return int(m.group(1))


@test
def yields_on_a_shared_core(e):
    cpu = min(os.sched_getaffinity(0))
    eq(pin_workers(e, cpu), 2, "client worker threads pinned")
    before = yields(e)
    eq(sorted(before), ["0", "1"], "a yields series per client worker")
    requests = load_on(e, cpu, 2)
    after = yields(e)
    for w in ("0", "1"):
        check(after[w] > before[w],
              f"worker {w} did not yield sharing CPU {cpu} with wrk and the other worker "
              f"({before[w]:.0f} -> {after[w]:.0f} yields, {requests} requests)")


@test
def none_once_switched_off(e):
    cpu = min(os.sched_getaffinity(0))
    e.cfg["worker_yield"] = False
    e.write_config()
    e.reload()
    try:
        eq(pin_workers(e, cpu), 2, "client worker threads pinned")
        before = yields(e)
        load_on(e, cpu, 1)
        eq(yields(e), before, "yields under the same load with worker_yield: false")
    finally:
        e.cfg["worker_yield"] = True
        e.write_config()
        e.reload()


if __name__ == "__main__":
    sys.exit(run(SETUP))
