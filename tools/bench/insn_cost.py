#!/usr/bin/env python3
"""User-space instructions per response of the edge's worker, counted by callgrind, for one or
two sluice-edge builds: a figure the machine's load does not move, for changes too small for
CPU-time runs to show on a shared machine (which vary by 10-20% from run to run here).

Each build runs with one worker under `valgrind --tool=callgrind --separate-threads=yes`
(sandbox off: the seccomp filter would refuse valgrind's own calls), one object of --size is
pushed in, a warm-up load runs, the counters are zeroed (`callgrind_control -z`), then the
measured load (h2load: h2c with prior knowledge, or HTTP/1.1 with --h1; -c4, -m1) and a dump
(`callgrind_control -d`). The worker thread is the busiest thread in the dump; its
instructions divided by the responses h2load saw succeed is the figure. Only user space is
counted: the kernel's share (most of a response's cost on loopback) is not in it.

Under valgrind the edge runs 50 to 100 times slower, so work done on timers (the popularity
counters flushed every 5 s, each flush a fresh 160 KiB table) is counted against fewer
responses than at full speed; the figure names the functions (--top) so such items can be
read apart. Valgrind also keeps its one lock on the guest's threads through an io_uring_enter
wait: while the admin thread waits in its ring for its next timer, the worker cannot run, so
responses come in bursts about 5 s apart and a run of 3,000 takes minutes. The counts are not
affected; that a run outlasts idle_timeout (120 s here) with every h2c request answered is
itself a check that requests push the idle deadline on (it failed before they did).

Usage: tools/bench/insn_cost.py --edge build-rel/edge/sluice-edge [--edge-base OTHER]
       [--kind h1|h2c] [--size 2K] [--requests 3000] [--top 15]
"""
import argparse
import collections
import glob
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hit_bench  # noqa: E402  (servers and files are shared)


class Callgrind(hit_bench.Sluice):
    """sluice-edge under callgrind, one file per thread and dump, names uncompressed."""
    out = None

    def taskset(self):
        return ["taskset", "-c", "0", "valgrind", "--tool=callgrind", "--quiet",
                "--separate-threads=yes", "--compress-strings=no", "--compress-pos=no",
                f"--callgrind-out-file={self.out}.%p"]

    def listeners(self):
        return super().listeners() + "sandbox: {enabled: false}\n"


def load(srv, kind, size, n):
    cmd = ["taskset", "-c", "1", "h2load", "-t1", "-c4", "-m1", "-n", str(n)]
    if kind == "h1":
        cmd.append("--h1")
    out = subprocess.run(cmd + [f"http://127.0.0.1:{srv.port}/{size}"], capture_output=True,
                         text=True, check=True).stdout
    m = re.search(r"requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded", out)
    if not m or m.group(1) != m.group(2):
        raise RuntimeError(f"h2load: not every request succeeded:\n{out}")
    return int(m.group(2))


def self_costs(path):
    """Total Ir of a callgrind dump and each function's own (exclusive) Ir."""
    costs, fn, after_call, total = collections.Counter(), None, False, 0
    with open(path) as f:
        for line in f:
            if line.startswith("summary:"):
                total = int(line.split()[1])
            elif line.startswith("fn="):
                fn = line[3:].strip()
            elif line.startswith("calls="):
                after_call = True  # the next cost line is the call's inclusive cost
            elif line[:1].isdigit() or line[:1] in "+-*":
                parts = line.split()
                if len(parts) >= 2 and parts[1].isdigit():
                    if after_call:
                        after_call = False
                    else:
                        costs[fn] += int(parts[1])
    return total, costs


def measure(binary, kind, size, n, work, files, root):
    Callgrind.binary = os.path.abspath(binary)
    tag = f"{len(os.listdir(work))}"
    Callgrind.out = os.path.join(work, f"cg{tag}")
    srv = Callgrind(root, files, 1, "0")
    srv.start(work)
    try:
        load(srv, kind, size, 200)
        pid = str(srv.proc.pid)
        subprocess.run(["callgrind_control", "-z", pid], check=True, capture_output=True)
        done = load(srv, kind, size, n)
        subprocess.run(["callgrind_control", "-d", pid], check=True, capture_output=True)
        time.sleep(1)
    finally:
        srv.stop()
    best = (0, None)
    # Dump 1 (the one after the load), one file per thread: OUT.PID.1-NN.
    for path in glob.glob(f"{Callgrind.out}.{srv.proc.pid}.1-*"):
        total, costs = self_costs(path)
        if total > best[0]:
            best = (total, costs)
    if not best[1]:
        raise RuntimeError("no callgrind dump of the load")
    return done, best[0], best[1]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--edge", required=True)
    ap.add_argument("--edge-base", help="a second build, measured the same way")
    ap.add_argument("--kind", choices=["h1", "h2c"], default="h1")
    ap.add_argument("--size", default="2K")
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--top", type=int, default=15, help="functions listed per build")
    a = ap.parse_args()
    for tool in ("valgrind", "callgrind_control", "h2load"):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found (Debian: valgrind, nghttp2-client)")
    work, root, files = hit_bench.bench_files("sluice-insn-cost-", [a.size])
    try:
        builds = [("base", a.edge_base)] if a.edge_base else []
        for name, binary in builds + [("edge", a.edge)]:
            done, total, costs = measure(binary, a.kind, a.size, a.requests, work, files, root)
            print(f"{name:5} {a.kind} {a.size}: {total / done:,.0f} user instructions per "
                  f"response in the worker ({done} responses; {binary})", flush=True)
            for fn, c in costs.most_common(a.top):
                print(f"        {c / done:9,.0f}  {100 * c / total:5.1f}%  {fn}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
