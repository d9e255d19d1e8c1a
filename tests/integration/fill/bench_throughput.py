# SPDX-License-Identifier: MIT
"""Uncapped fill throughput of sluice-fill against curl copying the same objects one after
another (GET piped into the admin PUT) and against xargs -P 4 running the same curl pipes.
Each method fills a fresh edge from the same origin; sluice-fill takes its plan from the real
sluice-control (fillharness). The three methods run side by side in each round; the figures
are medians over the rounds. A measurement, not a test: prints the figures and ratios.

    python3 bench_throughput.py build/fill-agent/sluice-fill build/edge/sluice-edge \\
        build/control/sluice-control [MB] [N] [ROUNDS]
"""

import shlex
import statistics
import subprocess
import sys
import time

import fillharness as fh
import edgeharness as eh

FILL = "sluice-fill (4 parallel)"


def pipe_cmd(edge, o):
    put = f"http://{eh.HOST}:{edge.admin_port}/admin/objects/{o['path']}"
    return (f"curl -sf {shlex.quote(o['url'])} | curl -sf -o /dev/null -T - "
            f"-H 'Content-Length: {o['size']}' -H 'X-Sluice-SHA256: {o['sha256']}' "
            f"-H 'Authorization: Bearer {edge.token}' -H 'Expect:' -H 'Transfer-Encoding:' "
            f"{shlex.quote(put)}")


def fresh_edge(env, edge_bin):
    env.edge.stop()
    env.edge.cleanup()
    env.edge = eh.Edge(edge_bin)
    env.edge.start()
    env.add_edge(env.edge_id, env.edge)


def one_round(env, edge_bin, objs, results):
    fresh_edge(env, edge_bin)
    t0 = time.monotonic()
    rc, out, err = env.fill("run", "--parallel", "4", "--progress", "none")
    results[FILL].append(time.monotonic() - t0)
    if rc != 0:
        raise SystemExit(f"sluice-fill exit {rc}: {err}")
    env.check_edge_holds(objs)
    for name, par in (("curl one after another", 1), ("xargs -P 4 curl", 4)):
        fresh_edge(env, edge_bin)
        script = "\n".join(pipe_cmd(env.edge, o) for o in objs) + "\n"
        t0 = time.monotonic()
        if par == 1:
            subprocess.run(["sh", "-e"], input=script.encode(), check=True)
        else:
            subprocess.run(["xargs", "-P", str(par), "-I{}", "-d", "\n", "sh", "-c", "{}"],
                           input=script.encode(), check=True)
        results[name].append(time.monotonic() - t0)
        env.check_edge_holds(objs)


def main():
    fill_bin, edge_bin, ctl_bin = sys.argv[1:4]
    total_mb = int(sys.argv[4]) if len(sys.argv) > 4 else 200
    n = int(sys.argv[5]) if len(sys.argv) > 5 else 40
    rounds = int(sys.argv[6]) if len(sys.argv) > 6 else 3
    with fh.world(ctl_bin) as shared:
        env = fh.Env(fill_bin, edge_bin, shared)
        try:
            objs = fh.make_catalog(env, titles=1, segs=n - 1,
                                   seg_size=total_mb * 1_000_000 // n)
            total = sum(o["size"] for o in objs)
            results = {FILL: [], "curl one after another": [], "xargs -P 4 curl": []}
            for _ in range(rounds):
                one_round(env, edge_bin, objs, results)
        finally:
            env.cleanup()
    base = statistics.median(results[FILL])
    print(f"# {len(objs)} objects, {total / 1e6:.0f} MB, origin http.server, one edge; "
          f"medians of {rounds} rounds")
    for name, secs in results.items():
        m = statistics.median(secs)
        print(f"{name:28s} {m:6.2f} s  {total * 8 / m / 1e6:8.0f} Mbit/s  "
              f"this/sluice-fill = {m / base:.2f}x  (rounds: "
              + ", ".join(f"{s:.2f}" for s in secs) + ")")


if __name__ == "__main__":
    main()
