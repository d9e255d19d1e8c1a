# SPDX-License-Identifier: MIT
"""What sluice-fill run makes of an edge's answers to its PUTs. A 4xx other than 401/403
(which stop the edge), 408 and 429 says no to that object, and sending it again gets the same
no: 404 (nothing at that path takes objects), 409 (a conflict with what is there), like
400/411, are refused as `edge-refused` after one PUT, journalled, exit 3. A 5xx (and 408, 429)
is retried as `edge-unavailable`.

    python3 test_edge_answers.py /path/to/sluice-fill

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

    for status, retried in [(404, False), (409, False), (410, False), (400, False),
                            (503, True), (429, True)]:
        with StandIns() as s, tempfile.TemporaryDirectory() as d:
            for i in range(2):
                s.add_object(f"t1/v1/seg-{i + 1}.m4s", bytes([i]) * 1000)
            s.put_status = status
            rc, events, err = s.run(binary, os.path.join(d, "state"), "--retries", "2")
            name = f"edge answering {status}"
            kinds = [e["event"] for e in events if e["event"] not in ("progress", "done")]
            refused = [e for e in events if e["event"] == "refused"]
            done = [e for e in events if e["event"] == "done"]
            check(rc == 3, f"{name}: exit {rc}, want 3 ({err.strip()[-300:]})")
            if retried:
                check(len(s.puts) == 6, f"{name}: {len(s.puts)} PUTs, want 6 (3 each)")
                check(kinds.count("failed") == 2 and not refused,
                      f"{name}: events {kinds}, want retries then 2 failed")
                continue
            check(len(s.puts) == 2, f"{name}: {len(s.puts)} PUTs, want 2 (one each): {kinds}")
            check(kinds == ["refused", "refused"], f"{name}: events {kinds}, want 2 refused")
            for e in refused:
                check(e.get("reason") == "edge-refused",
                      f"{name}: reason {e.get('reason')!r}, want 'edge-refused'")
                check(f"edge answered {status}" in e.get("detail", ""),
                      f"{name}: detail {e.get('detail')!r} does not give the status")
            check(done and done[0].get("refused") == 2 and done[0].get("failed") == 0,
                  f"{name}: done {done}, want refused 2, failed 0")
            journal = os.path.join(d, "state", "edge-a.journal")
            with open(journal, encoding="utf-8") as f:
                lines = f.read().splitlines()
            check(sum(1 for ln in lines if ln.startswith("R edge-refused ")) == 2,
                  f"{name}: journal {lines}, want 2 'R edge-refused' lines")
    for f in failures:
        print("FAIL:", f)
    if failures:
        return 1
    print("ok: an edge's 404, 409, 410 and 400 refuse the object at once; 503 and 429 are "
          "retried")
    return 0


if __name__ == "__main__":
    sys.exit(main())
