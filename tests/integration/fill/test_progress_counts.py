# SPDX-License-Identifier: MIT
"""The counts of sluice-fill run's progress lines mean what their names say, as the "done"
line's do: `refused` the objects refused (a 4xx from the origin, a wrong size or hash, an edge
saying no), `failed` those whose retries ran out, each counted once and in one of them only.
An object the edge answers 401 (which stops the edge) is counted failed in both, with a
`failed` event of its own.

    python3 test_progress_counts.py /path/to/sluice-fill

No daemons: control, the edge's admin API and the origin are stand-ins in this process
(standins.py).
Exit status: 0 passed, 1 failed, 77 skipped (the binary missing)."""

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from standins import StandIns  # noqa: E402


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
        for name in ("ok", "gone", "broken", "ok2"):
            s.add_object(f"t1/v1/{name}.m4s", name.encode() * 500)
        s.origin_status = {"t1/v1/gone.m4s": 404, "t1/v1/broken.m4s": 500}
        rc, events, err = s.run(binary, os.path.join(d, "state"), "--retries", "1")
        check(rc == 3, f"exit {rc}, want 3 ({err.strip()[-300:]})")
        kinds = [e["event"] for e in events if e["event"] != "progress"]
        check(kinds.count("refused") == 1 and kinds.count("failed") == 1,
              f"events {kinds}, want one refused and one failed")
        done = [e for e in events if e["event"] == "done"]
        check(len(done) == 1 and done[0].get("refused") == 1 and done[0].get("failed") == 1,
              f"done {done}, want refused 1 and failed 1")
        progress = [e for e in events if e["event"] == "progress"]
        check(progress, "no progress line")
        if progress:
            last = progress[-1]
            check(last.get("objects_done") == 2, f"last progress {last}: objects_done, want 2")
            check(last.get("refused") == 1,
                  f"last progress {last}: refused {last.get('refused')}, want 1 (the failed "
                  "object is no refusal)")
            check(last.get("failed") == 1,
                  f"last progress {last}: failed {last.get('failed')}, want 1")
            for p in progress:
                check(p.get("refused", 0) + p.get("failed", 0) + p["objects_done"] <=
                      p["objects_total"], f"progress {p} counts more objects than it has")
    # The edge refuses the agent (401): the object ends failed, reported as such, and the last
    # progress line counts it as the done line does (until 2026-12-07 it had no event and
    # the progress counted it nowhere).
    with StandIns() as s, tempfile.TemporaryDirectory() as d:
        s.add_object("t1/v1/seg-1.m4s", b"a" * 20000)
        s.put_status = 401
        rc, events, err = s.run(binary, os.path.join(d, "state"), "--parallel", "1")
        name = "an edge answering 401"
        check(rc == 1, f"{name}: exit {rc}, want 1 ({err.strip()[-300:]})")
        check(len(s.puts) == 1, f"{name}: {len(s.puts)} PUTs, want 1")
        failed = [e for e in events if e["event"] == "failed"]
        check(len(failed) == 1 and failed[0].get("key") == "/t1/v1/seg-1.m4s" and
              failed[0].get("reason") == "edge-auth" and
              "edge answered 401" in failed[0].get("detail", ""),
              f"{name}: failed events {failed}, want one for the object, reason edge-auth")
        done = [e for e in events if e["event"] == "done"]
        check(len(done) == 1 and done[0].get("failed") == 1 and done[0].get("refused") == 0,
              f"{name}: done {done}, want failed 1")
        progress = [e for e in events if e["event"] == "progress"]
        check(progress and progress[-1].get("failed") == 1 and
              progress[-1].get("refused") == 0,
              f"{name}: last progress {progress[-1:]}, want failed 1 as the done line says")
    for f in failures:
        print("FAIL:", f)
    if failures:
        return 1
    print("ok: progress counts refused and failed objects apart, as the done line does")
    return 0


if __name__ == "__main__":
    sys.exit(main())
