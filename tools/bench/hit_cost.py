#!/usr/bin/env python3
"""Hit-path cost per response: system calls and server CPU time per request, sluice-edge beside
nginx and h2o (and optionally a second sluice-edge build) in one run.

Each server runs pinned to CPU 0 with one worker, wrk on CPU 1, HTTP/1.1 keep-alive over
loopback, objects warm. Two kinds of run per server and size:
  - CPU: `perf stat -e task-clock` over all the server's threads while wrk runs; CPU µs per
    request = task-clock / requests wrk completed. Repeated; the median is reported, and
    1e6 / that is req/s per server core.
  - system calls: `strace -c -f` attached for one wrk run; calls per request by name. strace
    slows the server down a lot, so its run gives counts only, never time.
Run it on a quiet machine or read only the ratios: CPU per request moves with the machine's
load far less than req/s, but it still moves.

Usage: tools/bench/hit_cost.py --edge build-rel/edge/sluice-edge [--edge-base OTHER]
       [--servers sluice,nginx,h2o] [--sizes 2K,64K,1M,4M] [--conns 64] [--duration 3]
       [--reps 3] [--no-strace] [--congestion NAME] [--json OUT]

--congestion: as in hit_bench.py, the TCP congestion control for the run (the machine's
otherwise, named in the output).
"""
import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hit_bench  # noqa: E402  (servers, files and wrk parsing are shared)

REQS_RE = re.compile(r"(\d+) requests in ([\d.]+)(\w+)")


def wrk(port, path, conns, duration):
    cmd = ["taskset", "-c", "1", "wrk", "-t", "1", "-c", str(conns), "-d", f"{duration}s",
           f"http://127.0.0.1:{port}/{path}"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    if re.search(r"Non-2xx or 3xx responses", out):
        raise RuntimeError(f"wrk saw non-2xx responses on port {port}:\n{out}")
    return int(REQS_RE.search(out).group(1))


def stop_tool(proc):
    """Stop perf/strace the way a user would (SIGINT makes both print their summary)."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def cpu_run(srv, path, conns, duration, work):
    out = os.path.join(work, "perf.txt")
    pids = ",".join(map(str, srv.pids()))
    perf = subprocess.Popen(["perf", "stat", "-x", ",", "-e", "task-clock", "-p", pids, "-o", out],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        reqs = wrk(srv.port, path, conns, duration)
    finally:
        stop_tool(perf)
    msec = None
    with open(out) as f:
        for line in f:
            fields = line.strip().split(",")
            if len(fields) > 2 and fields[2].startswith("task-clock"):
                msec = float(fields[0])
    if msec is None:
        raise RuntimeError(f"no task-clock in perf output {out}")
    return reqs, msec * 1000.0 / max(reqs, 1)


def strace_counts(path):
    """System call counts from an `strace -c` summary file: {name: calls}."""
    calls = {}
    with open(path) as f:
        for line in f:
            m = re.match(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$", line)
            if m and m.group(2) != "total":
                calls[m.group(2)] = int(m.group(1))
    return calls


def syscall_run(srv, path, conns, duration, work):
    out = os.path.join(work, "strace.txt")
    cmd = ["strace", "-c", "-f", "-o", out]
    for p in srv.pids():
        cmd += ["-p", str(p)]
    st = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        reqs = wrk(srv.port, path, conns, duration)
    finally:
        stop_tool(st)
    return reqs, strace_counts(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--edge", required=True)
    ap.add_argument("--edge-base", help="a second sluice-edge binary, measured as sluice-base")
    ap.add_argument("--servers", default="sluice,nginx,h2o")
    ap.add_argument("--sizes", default="2K,64K,1M,4M")
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--duration", type=int, default=3)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--no-strace", action="store_true", help="CPU runs only")
    ap.add_argument("--congestion", help="TCP congestion control for the run (e.g. cubic, bbr)")
    ap.add_argument("--json", help="write all results here")
    a = ap.parse_args()
    hit_bench.Sluice.binary = os.path.abspath(a.edge)
    kinds = {"sluice": hit_bench.Sluice, "nginx": hit_bench.Nginx, "h2o": hit_bench.H2o}
    names = [s for s in a.servers.split(",") if s == "sluice" or shutil.which(s)]
    if a.edge_base:
        hit_bench.SluiceBase.base_binary = os.path.abspath(a.edge_base)
        kinds["sluice-base"] = hit_bench.SluiceBase
        names.insert(names.index("sluice") + 1 if "sluice" in names else 0, "sluice-base")
    sizes = a.sizes.split(",")
    work, root, files = hit_bench.bench_files("sluice-cost-", sizes)
    results = []
    servers = {}
    cc = contextlib.ExitStack()
    try:
        cc.enter_context(hit_bench.congestion(a.congestion))
        # Servers take turns per repetition, so a change in the machine's load hits all alike.
        for n in names:
            servers[n] = kinds[n](root, files, 1, "0")
            servers[n].start(work)
        for size in sizes:
            us = {n: [] for n in names}
            for n in names:
                wrk(servers[n].port, size, 16, 1)  # warm page cache and fd caches
            for _ in range(a.reps):
                for n in names:
                    us[n].append(cpu_run(servers[n], size, a.conns, a.duration, work)[1])
            for n in names:
                row = {"server": n, "size": size, "conns": a.conns,
                       "cpu_us_per_req": statistics.median(us[n]), "cpu_us_runs": us[n]}
                if not a.no_strace:
                    reqs, calls = syscall_run(servers[n], size, a.conns, a.duration, work)
                    row["strace_requests"] = reqs
                    row["syscalls_per_req"] = sum(calls.values()) / max(reqs, 1)
                    row["calls_per_req"] = {k: v / max(reqs, 1) for k, v in
                                            sorted(calls.items(), key=lambda kv: -kv[1])}
                results.append(row)
                top = ", ".join(f"{k} {v:.2f}" for k, v in
                                list(row.get("calls_per_req", {}).items())[:5])
                print(f"{n:11} {size:>4} c={a.conns}: {row['cpu_us_per_req']:8.2f} CPU us/req "
                      f"({1e6 / row['cpu_us_per_req']:9.0f} req/s per core)"
                      + (f", {row['syscalls_per_req']:.2f} syscalls/req: {top}"
                         if "syscalls_per_req" in row else ""), flush=True)
    finally:
        for s in servers.values():
            s.stop()
        cc.close()
        shutil.rmtree(work, ignore_errors=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    print("\nCPU per request relative to nginx (below 1: cheaper), median of "
          f"{a.reps} x {a.duration} s:")
    base = {r["size"]: r for r in results if r["server"] == "nginx"}
    for r in results:
        b = base.get(r["size"])
        if b and r["server"] != "nginx":
            print(f"  {r['server']:11} {r['size']:>4}: x{r['cpu_us_per_req'] / b['cpu_us_per_req']:.2f}"
                  f"  (per-core throughput x{b['cpu_us_per_req'] / r['cpu_us_per_req']:.2f})")


if __name__ == "__main__":
    sys.exit(main())
