#!/usr/bin/env python3
"""Hit-path throughput of sluice-edge with its sandbox on and off, side by side.

Two edges serve the same warm objects: one with the default sandbox (io_uring restrictions,
capabilities dropped, no_new_privs, seccomp filter in kill mode), one with
`sandbox: {enabled: false}`. wrk (from hit_bench.py) loads each in turn, alternating, pinned
(edge on CPU 0, wrk on CPU 1) so the two share nothing; each cell is the median of --reps runs.
Prints requests/s for both and the ratio on/off (1.00 = no cost), with the spread of the runs,
and the edge's CPU time per request (from /proc), which a busy machine disturbs less.

Usage: tools/bench/sandbox_bench.py --edge build/edge/sluice-edge [--duration 5] [--reps 3]
       [--sizes 2K,1M] [--conns 64] [--json OUT]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hit_bench as hb  # noqa: E402  (same directory)


class Edge(hb.Server):
    def __init__(self, binary, sandbox, root, files, cpus):
        super().__init__(root, files, 1, cpus)
        self.binary, self.sandbox = binary, sandbox
        self.name = "sandbox-on" if sandbox else "sandbox-off"

    def start(self, work):
        admin = hb.free_port()
        cache = os.path.join(work, f"cache-{self.port}")
        os.makedirs(cache)
        token = os.path.join(work, "admin.token")
        with open(token, "w") as f:
            f.write("bench-admin-token\n")
        conf = os.path.join(work, f"edge-{self.port}.yaml")
        with open(conf, "w") as f:
            f.write(f"""listen: ["127.0.0.1:{self.port}"]
workers: 1
admin: {{listen: "127.0.0.1:{admin}", token_file: {token}}}
cache: {{dir: {cache}, max_size: 4G}}
limits: {{max_connections: 20000, idle_timeout: 120s}}
log: {{level: info}}
tokens: {{required: false}}
sandbox: {{enabled: {"true" if self.sandbox else "false"}}}
""")
        self.log = os.path.join(work, f"edge-{self.port}.log")
        with open(self.log, "wb") as logf:
            self.proc = subprocess.Popen(self.taskset() + [self.binary, "--config", conf],
                                         start_new_session=True, stdout=logf, stderr=logf)
        hb.wait_port(admin)
        hb.wait_port(self.port)
        for name, path in self.files.items():
            with open(path, "rb") as f:
                body = f.read()
            req = urllib.request.Request(f"http://127.0.0.1:{admin}/admin/objects/{name}",
                                         data=body, method="PUT",
                                         headers={"Authorization": "Bearer bench-admin-token"})
            with urllib.request.urlopen(req) as r:
                assert r.status in (200, 201, 204), r.status

    def seccomp_mode(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("Seccomp:"):
                    return int(line.split()[1])
        return -1


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--edge", required=True)
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--sizes", default="2K,1M")
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--json")
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="sluice-sandbox-bench-")
    root = os.path.join(work, "www")
    os.makedirs(root)
    files = {}
    for s in a.sizes.split(","):
        files[s] = os.path.join(root, s)
        with open(files[s], "wb") as f:
            f.write(os.urandom(hb.SIZES[s]))
    binary = os.path.abspath(a.edge)
    edges = [Edge(binary, True, root, files, "0"), Edge(binary, False, root, files, "0")]
    results = []
    try:
        for e in edges:
            e.start(work)
        modes = [e.seccomp_mode() for e in edges]
        if modes != [2, 0]:
            raise SystemExit(f"Seccomp modes {modes}, want [2, 0]: the sandbox switch is not "
                             "doing what this benchmark compares")
        for size in files:
            runs = {e.name: [] for e in edges}
            cpu = {e.name: [] for e in edges}  # server CPU microseconds per request
            for e in edges:
                hb.run_wrk(e.port, size, 16, 1, "1")  # warm
            for _ in range(a.reps):
                for e in edges:  # alternate, so drift hits both alike
                    c0 = hb.cpu_seconds(e.pids())
                    r = hb.run_wrk(e.port, size, a.conns, a.duration, "1")
                    used = hb.cpu_seconds(e.pids()) - c0
                    runs[e.name].append(r["rps"])
                    cpu[e.name].append(used * 1e6 / max(r["rps"] * a.duration, 1))
            on = statistics.median(runs["sandbox-on"])
            off = statistics.median(runs["sandbox-off"])
            con = statistics.median(cpu["sandbox-on"])
            coff = statistics.median(cpu["sandbox-off"])
            row = {"size": size, "conns": a.conns, "rps_sandbox_on": on, "rps_sandbox_off": off,
                   "ratio_on_off": on / off, "cpu_us_per_req_on": con,
                   "cpu_us_per_req_off": coff, "cpu_ratio_on_off": con / coff, "runs": runs,
                   "cpu_runs": cpu}
            results.append(row)
            spread = {k: f"{min(v):.0f}..{max(v):.0f}" for k, v in runs.items()}
            print(f"{size:>4} c={a.conns}: sandbox on {on:10.0f} req/s, off {off:10.0f} req/s, "
                  f"ratio {on / off:.3f} (runs on {spread['sandbox-on']}, off "
                  f"{spread['sandbox-off']}); server CPU per request on {con:.1f} us, off "
                  f"{coff:.1f} us, ratio {con / coff:.3f}", flush=True)
    finally:
        for e in edges:
            e.stop()
        subprocess.run(["rm", "-rf", work], check=False)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
