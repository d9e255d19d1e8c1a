# SPDX-License-Identifier: MIT
"""sluice-fill run's metrics file carries each edge's figures while the run is under way, not
only once it ends: with an object held by the origin, the file says `running 1` and the
objects committed so far (and the bytes), rewritten every 10 s; the edge's exit status comes
at the end, with the rest of the figures. The origin bytes count every byte read from the
origin, a retried attempt's too, though the progress lines' bytes_moved takes those back.

    python3 test_metrics_live.py /path/to/sluice-fill

No daemons: control, the edge's admin API and the origin are stand-ins in this process
(standins.py).
Exit status: 0 passed, 1 failed, 77 skipped (the binary missing)."""

import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from standins import StandIns  # noqa: E402


def read(path):
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def main():
    if len(sys.argv) < 2 or not os.access(sys.argv[1], os.X_OK):
        print("SKIP: need the sluice-fill binary as argument")
        return 77
    binary = sys.argv[1]
    failures = []

    def check(ok, msg):
        if not ok:
            failures.append(msg)

    with StandIns() as s, tempfile.TemporaryDirectory() as d:
        for i in range(3):
            s.add_object(f"t1/v1/seg-{i + 1}.m4s", bytes([i]) * 4000)
        s.hold = "t1/v1/seg-3.m4s"
        prom = os.path.join(d, "fill.prom")
        p = subprocess.Popen([binary, "run", *s.args(os.path.join(d, "state")),
                              "--progress", "none", "--parallel", "1",
                              "--metrics-file", prom],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        want = [
            'sluice_fill_run_running 1',
            'sluice_fill_edge_objects{edge="edge-a",state="queued"} 3',
            'sluice_fill_edge_objects{edge="edge-a",state="committed"} 2',
            'sluice_fill_edge_objects{edge="edge-a",state="refused"} 0',
            'sluice_fill_edge_objects{edge="edge-a",state="failed"} 0',
            'sluice_fill_edge_committed_bytes{edge="edge-a"} 8000',
        ]
        text = ""
        deadline = time.monotonic() + 25
        while time.monotonic() < deadline and p.poll() is None:
            text = read(prom)
            if all(w in text.splitlines() for w in want):
                break
            time.sleep(0.2)
        lines = text.splitlines()
        check(p.poll() is None, f"the run ended while an object was held: exit {p.returncode}")
        for w in want:
            check(w in lines, f"while the run is under way, no {w!r} in the file: {text!r}")
        check(not any(ln.startswith("sluice_fill_edge_exit_status") for ln in lines),
              f"an edge's exit status while it is still at work: {text!r}")
        check(not any(ln.startswith("sluice_fill_run_exit_status") for ln in lines),
              f"the run's exit status while it is under way: {text!r}")
        s.released.set()
        try:
            rc = p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait()
        err = p.stderr.read().decode()
        check(rc == 0, f"exit {rc}, want 0: {err.strip()[-300:]}")
        lines = read(prom).splitlines()
        for w in ['sluice_fill_run_running 0', 'sluice_fill_run_exit_status 0',
                  'sluice_fill_edge_exit_status{edge="edge-a"} 0',
                  'sluice_fill_edge_objects{edge="edge-a",state="committed"} 3',
                  'sluice_fill_edge_committed_bytes{edge="edge-a"} 12000']:
            check(w in lines, f"at the end, no {w!r} in the file: {lines}")
    # The edge answers the first PUT 503: the object is read from the origin twice, and the
    # file says so (until 2026-12-07 it gave the progress's bytes_moved, which takes a retried
    # attempt's bytes back: 1 MB of the 2 read).
    with StandIns() as s, tempfile.TemporaryDirectory() as d:
        data = os.urandom(1000000)
        s.add_object("t1/v1/seg-1.m4s", data)
        s.put_first = [503]
        prom = os.path.join(d, "fill.prom")
        rc, events, err = s.run(binary, os.path.join(d, "state"), "--metrics-file", prom)
        name = "an object the edge answered 503 once"
        check(rc == 0, f"{name}: exit {rc}, want 0: {err.strip()[-300:]}")
        check(len(s.gets) == 2, f"{name}: {len(s.gets)} origin GETs, want 2")
        lines = read(prom).splitlines()
        for w in ['sluice_fill_edge_objects{edge="edge-a",state="committed"} 1',
                  'sluice_fill_edge_committed_bytes{edge="edge-a"} 1000000',
                  'sluice_fill_edge_origin_bytes{edge="edge-a"} 2000000']:
            check(w in lines, f"{name}: no {w!r} in the file: {lines}")
        progress = [e for e in events if e["event"] == "progress"]
        check(progress and progress[-1].get("bytes_moved") == 1000000,
              f"{name}: last progress {progress[-1:]}, want bytes_moved 1000000 (the retried "
              "attempt's bytes taken back, for the rate and ETA)")
    for f in failures:
        print("FAIL:", f)
    if failures:
        return 1
    print("ok: the metrics file has the edge's figures while the run is under way, and every "
          "byte read from the origin")
    return 0


if __name__ == "__main__":
    sys.exit(main())
