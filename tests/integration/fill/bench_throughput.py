# SPDX-License-Identifier: MIT
"""Uncapped fill throughput of sluice-fill against curl copying the same objects one after
another (GET piped into the admin PUT) and against xargs -P 4 running the same curl pipes.
Each method fills a fresh edge from the same origin. A measurement, not a test: prints the
figures and ratios.

    python3 bench_throughput.py build/fill-agent/sluice-fill build/edge/sluice-edge [MB] [N]
"""

import os
import shlex
import subprocess
import sys
import time

import fillharness as fh
import edgeharness as eh


def main():
    fill_bin, edge_bin = sys.argv[1], sys.argv[2]
    total_mb = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 40
    env = fh.Env(fill_bin, edge_bin)
    try:
        objs = fh.make_catalog(env.origin, titles=1, segs=n - 1,
                               seg_size=total_mb * 1_000_000 // n)
        total = sum(o["size"] for o in objs)
        env.control.plans[env.edge_id] = fh.plan_doc(env.edge_id, objs)
        results = {}

        t0 = time.monotonic()
        rc, out, err = env.fill("run", "--parallel", "4", "--progress", "none")
        results["sluice-fill (4 parallel)"] = time.monotonic() - t0
        assert rc == 0, err
        env.check_edge_holds(objs)

        def pipe_cmd(edge, o):
            put = (f"http://{eh.HOST}:{edge.admin_port}/admin/objects/{o['path']}")
            return (f"curl -sf {shlex.quote(o['url'])} | curl -sf -o /dev/null -T - "
                    f"-H 'Content-Length: {o['size']}' -H 'X-Sluice-SHA256: {o['sha256']}' "
                    f"-H 'Authorization: Bearer {edge.token}' -H 'Expect:' -H 'Transfer-Encoding:' {shlex.quote(put)}")

        for name, par in (("curl one after another", 1), ("xargs -P 4 curl", 4)):
            env.edge.stop()
            env.edge.cleanup()
            env.edge = eh.Edge(edge_bin)
            env.edge.start()
            script = "\n".join(pipe_cmd(env.edge, o) for o in objs) + "\n"
            t0 = time.monotonic()
            if par == 1:
                subprocess.run(["sh", "-e"], input=script.encode(), check=True)
            else:
                subprocess.run(["xargs", "-P", str(par), "-I{}", "-d", "\n", "sh", "-c", "{}"],
                               input=script.encode(), check=True)
            results[name] = time.monotonic() - t0
            env.check_edge_holds(objs)

        base = results["sluice-fill (4 parallel)"]
        print(f"# {len(objs)} objects, {total/1e6:.0f} MB, origin http.server, one edge")
        for name, secs in results.items():
            print(f"{name:28s} {secs:6.2f} s  {total*8/secs/1e6:8.0f} Mbit/s  "
                  f"sluice-fill/this = {secs/base:.2f}x")
    finally:
        env.cleanup()


if __name__ == "__main__":
    main()
