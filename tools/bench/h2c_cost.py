#!/usr/bin/env python3
"""h2c cost per response: server CPU time and system calls per request, two sluice-edge builds
taking turns (e.g. before and after a change to the h2c send path).

Each edge runs with one worker pinned to CPU 0, h2load on CPU 1 (`-c64 -m1 -n N`, h2c with
prior knowledge over loopback), objects warm. Per size, the builds alternate `--reps` times:
CPU µs per response = `perf stat -e task-clock` over the edge's threads / requests, with the
busy time of CPU 0 from /proc/stat beside it (it also counts other work on that CPU, so it
only checks that nothing of the edge's is missed). With `--strace`, one extra run per build
under `strace -c -f` gives system calls per response (strace slows the edge: counts only).

With `--tls`, h2 over TLS instead (ALPN h2, a local CA made at start as tls_bench.py does);
with `--tls12` (which implies it), over TLS 1.2, as tls_bench.py's --tls12.

With `--max-frame N`, h2load advertises SETTINGS_MAX_FRAME_SIZE N (its `-f`), so a server may
send DATA frames larger than the default 16384.

Usage: tools/bench/h2c_cost.py --edge AFTER/edge/sluice-edge --edge-base BEFORE/edge/sluice-edge
       [--sizes 64K,1M] [--reps 5] [--requests 20000] [--max-frame N] [--tls|--tls12] [--strace]
       [--congestion NAME]

--congestion: as in hit_bench.py, the TCP congestion control for the run (the machine's
otherwise, named in the output).
"""
import argparse
import contextlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hit_bench  # noqa: E402  (servers and files are shared)
import hit_cost  # noqa: E402
import tls_bench  # noqa: E402

hit_bench.SIZES.update({"256K": 256 << 10, "512K": 512 << 10})
DONE_RE = re.compile(r"requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed")
H2LOAD_EXTRA = []  # e.g. ["-f", "65536"] (--max-frame)


class TlsBase(hit_bench.SluiceBase, tls_bench.Sluice):
    """The build before, with the TLS listener (--tls)."""


def url(srv, path):
    if isinstance(srv, tls_bench.TlsServer):
        return srv.url("h2", path)
    return f"http://127.0.0.1:{srv.port}/{path}"


def h2load(srv, path, n):
    out = tls_bench.h2load_out(["taskset", "-c", "1", "h2load", "-t", "1", "-c", "64", "-m", "1",
                                *H2LOAD_EXTRA, "-n", str(n), url(srv, path)])
    m = DONE_RE.search(out)
    if not m or int(m.group(3)) or int(m.group(2)) != n:
        raise RuntimeError(f"h2load saw failures:\n{out}")
    return n


def cpu0_ticks():
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu0 "):
                v = [int(x) for x in line.split()[1:]]
                return sum(v[:3]) + sum(v[5:8])  # user nice system, irq softirq steal
    raise RuntimeError("no cpu0 in /proc/stat")


def cpu_run(srv, path, n, work):
    """(task-clock µs per response, CPU 0 busy µs per response)."""
    out = os.path.join(work, "perf.txt")
    pids = ",".join(map(str, srv.pids()))
    t0 = cpu0_ticks()
    perf = subprocess.Popen(["perf", "stat", "-x", ",", "-e", "task-clock", "-p", pids, "-o", out],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # A run of a few thousand responses is over in tens of milliseconds: let perf attach to
    # the edge's threads first, or it counts nothing ("<not counted>").
    time.sleep(0.2)
    try:
        reqs = h2load(srv, path, n)
    finally:
        hit_cost.stop_tool(perf)
    busy = (cpu0_ticks() - t0) * 1e6 / os.sysconf("SC_CLK_TCK") / reqs
    with open(out) as f:
        for line in f:
            fields = line.strip().split(",")
            if len(fields) > 2 and fields[2].startswith("task-clock"):
                if not re.match(r"^[\d.]+$", fields[0]):
                    raise RuntimeError(f"perf stat counted nothing ({fields[0]}): make the run "
                                       "longer (--requests)")
                return float(fields[0]) * 1000.0 / reqs, busy
    raise RuntimeError(f"no task-clock in perf output {out}")


def syscall_run(srv, path, n, work):
    out = os.path.join(work, "strace.txt")
    cmd = ["strace", "-c", "-f", "-o", out]
    for p in srv.pids():
        cmd += ["-p", str(p)]
    st = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    h2load(srv, path, 64)  # strace is attached once this returns
    try:
        reqs = h2load(srv, path, n) + 64
    finally:
        hit_cost.stop_tool(st)
    return reqs, hit_cost.strace_counts(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--edge", required=True)
    ap.add_argument("--edge-base", required=True)
    ap.add_argument("--sizes", default="64K,1M")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--max-frame", type=int, help="h2load -f: the client's SETTINGS_MAX_FRAME_SIZE")
    ap.add_argument("--tls", action="store_true", help="h2 over TLS instead of h2c")
    ap.add_argument("--tls12", action="store_true", help="h2 over TLS 1.2 (implies --tls)")
    ap.add_argument("--strace", action="store_true")
    ap.add_argument("--congestion", help="TCP congestion control for the run (e.g. cubic, bbr)")
    a = ap.parse_args()
    if a.max_frame:
        H2LOAD_EXTRA.extend(["-f", str(a.max_frame)])
    hit_bench.Sluice.binary = os.path.abspath(a.edge)
    hit_bench.SluiceBase.base_binary = os.path.abspath(a.edge_base)
    sizes = a.sizes.split(",")
    work, root, files = hit_bench.bench_files("sluice-h2c-cost-", sizes)
    if a.tls or a.tls12:
        pki = tls_bench.make_ca(work)
        if a.tls12:
            tls_bench.use_tls12(work)
        srvs = {"before": TlsBase(root, files, 1, "0", pki),
                "after": tls_bench.Sluice(root, files, 1, "0", pki)}
    else:
        srvs = {"before": hit_bench.SluiceBase(root, files, 1, "0"),
                "after": hit_bench.Sluice(root, files, 1, "0")}
    cc = contextlib.ExitStack()
    try:
        cc.enter_context(hit_bench.congestion(a.congestion))
        for s in srvs.values():
            s.start(work)
        for size in sizes:
            for s in srvs.values():
                h2load(s, size, 2000)  # warm page cache, fd caches and mappings
            runs = {k: [] for k in srvs}
            for _ in range(a.reps):
                for k, s in srvs.items():
                    runs[k].append(cpu_run(s, size, a.requests, work))
            for k in srvs:
                us = [r[0] for r in runs[k]]
                busy = [r[1] for r in runs[k]]
                print(f"{k:6} {size:>4}: {statistics.median(us):7.1f} CPU us/response (runs "
                      + " ".join(f"{x:.1f}" for x in us)
                      + f"); CPU 0 busy {statistics.median(busy):.1f}", flush=True)
            if a.strace:
                for k, s in srvs.items():
                    reqs, calls = syscall_run(s, size, a.requests // 4, work)
                    top = sorted(calls.items(), key=lambda kv: -kv[1])[:6]
                    print(f"  {k:6} {size:>4}: {sum(calls.values()) / reqs:.2f} system calls per "
                          "response: " + ", ".join(f"{c} {v / reqs:.2f}" for c, v in top),
                          flush=True)
    finally:
        for s in srvs.values():
            s.stop()
        cc.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
