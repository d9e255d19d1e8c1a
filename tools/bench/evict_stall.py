#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""How long a miss waits when its commit crosses the cache policy's high mark.

Crossing the mark evicts about 5% of the cache at once; the fill that crossed it, and every
commit queued behind it, waits for those deletes. The worst case is many small objects, so
an edge with a 64 MiB cache is filled by admin PUTs with --objects objects of --size bytes
(just under the mark), then two misses are timed, the first below the mark and the second
crossing it; the evictions counter says how many objects the second one evicted.

Usage: tools/bench/evict_stall.py --edge build-rel/edge/sluice-edge [--edge-base OTHER]
       [--objects 21250] [--size 3000] [--reps 3]

With --edge-base the two builds take turns, rep by rep. Each rep pushes the objects afresh
(about two minutes for 21,250 on the development machine). The medians are printed.
"""
import argparse
import os
import re
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "tests", "integration"))
from edgeharness import Edge, RawConn, build_request  # noqa: E402
from origin import Origin  # noqa: E402


def evictions(e):
    for line in e.metrics().body.decode().splitlines():
        m = re.match(r"^sluice_edge_evictions_total (\S+)$", line)
        if m:
            return float(m.group(1))
    return 0.0


def one_run(binary, origin, n, size, tag):
    e = Edge(binary, {"cache": {"max_size": "64M"},
                      "upstreams": [{"url": origin.url, "first_byte_timeout": "5s"}],
                      "limits": {"send_timeout": "30s"}})
    e.start()
    try:
        c = RawConn(e.admin_port, timeout=30)
        body = b"y" * size
        for i in range(n):
            hdrs = [("Authorization", f"Bearer {e.token}"), ("Content-Length", str(size))]
            c.send(build_request("PUT", f"/admin/objects/p/t{i % 50}/o{i}.bin", hdrs, body))
            r = c.read_response()
            if r.status not in (201, 204):
                raise RuntimeError(f"push {i}: {r.status} {r.body[:100]!r}")
        c.close()
        out = []
        for name in ("below", "crossing"):
            key = f"/ok/stall-{tag}/{name}.m4s"
            origin.add(key, os.urandom(size))
            before = evictions(e)
            t = time.monotonic()
            r = e.get(key, timeout=120)
            took = time.monotonic() - t
            if r.status != 200:
                raise RuntimeError(f"{key}: {r.status}")
            out.append((took, evictions(e) - before))
        return out
    finally:
        e.stop()
        e.cleanup()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--edge", required=True)
    ap.add_argument("--edge-base")
    ap.add_argument("--objects", type=int, default=21250)
    ap.add_argument("--size", type=int, default=3000)
    ap.add_argument("--reps", type=int, default=3)
    a = ap.parse_args()
    builds = [("edge", a.edge)] + ([("base", a.edge_base)] if a.edge_base else [])
    origin = Origin()
    res = {name: [] for name, _ in builds}
    try:
        for rep in range(a.reps):
            for name, binary in builds if rep % 2 == 0 else builds[::-1]:
                r = one_run(binary, origin, a.objects, a.size, f"{name}{rep}")
                res[name].append(r)
                print(f"rep {rep} {name}: below the mark {r[0][0] * 1000:.1f} ms, crossing it "
                      f"{r[1][0] * 1000:.1f} ms ({r[1][1]:.0f} evicted)", flush=True)
    finally:
        origin.srv.shutdown()
    for name, runs in res.items():
        print(f"{name}: median below {statistics.median(x[0][0] for x in runs) * 1000:.1f} ms, "
              f"crossing {statistics.median(x[1][0] for x in runs) * 1000:.1f} ms, "
              f"evicted {statistics.median(x[1][1] for x in runs):.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
