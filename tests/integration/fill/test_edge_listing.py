# SPDX-License-Identifier: MIT
"""What sluice-fill makes of the sizes in an edge's listing. A size no object can have (over
4 TiB) is refused with the entry named, before anything is sent: three entries of 2^63 - 1,
2^63 - 1 and 4 bytes summed to 2 unplanned bytes, and the plan then found no room to make.
Sizes within the bound add up exactly.

    python3 test_edge_listing.py /path/to/sluice-fill

No daemons: control, the edge's admin API and the origin are stand-ins in this process
(standins.py).
Exit status: 0 passed, 1 failed, 77 skipped (the binary missing)."""

import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from standins import StandIns  # noqa: E402

TIB4 = 1 << 42


def entry(key, size):
    return {"key": key, "size": size, "sha256": None, "hits": 0, "last_access": 0}


def plan(binary, s, d):
    args = [a for a in s.args(os.path.join(d, "state"))
            if a not in ("--window", "00:00-24:00", "--rate", "unlimited")]
    p = subprocess.run([binary, "plan", *args, "--json", "--verbose"], capture_output=True,
                       timeout=60)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def main():
    if len(sys.argv) < 2 or not os.access(sys.argv[1], os.X_OK):
        print("SKIP: need the sluice-fill binary as argument")
        return 77
    binary = sys.argv[1]
    failures = []

    def check(ok, msg):
        if not ok:
            failures.append(msg)

    big = (1 << 63) - 1
    with StandIns() as s, tempfile.TemporaryDirectory() as d:
        s.add_object("t1/v1/seg-1.m4s", b"x" * 1000)
        s.listing = [entry("/old/a.m4s", big), entry("/old/b.m4s", big), entry("/old/c.m4s", 4)]
        s.held_bytes = 1 << 40
        rc, out, err = plan(binary, s, d)
        check(rc == 1, f"plan over a listing of 2^63 - 1 bytes: exit {rc}, want 1 ({out[:300]})")
        check(f"listing[0].size: {big} bytes, more than an object may be (4 TiB)" in err,
              f"plan's error does not name the entry and its size: {err.strip()[-300:]}")
        rc, events, err = s.run(binary, os.path.join(d, "state"))
        check(rc == 1 and not s.puts and not s.gets,
              f"run over the same listing: exit {rc}, {len(s.puts)} PUTs, {len(s.gets)} origin "
              f"GETs; want exit 1 and nothing fetched or sent ({err.strip()[-300:]})")

    with StandIns() as s, tempfile.TemporaryDirectory() as d:
        s.add_object("t1/v1/seg-1.m4s", b"x" * 1000)
        s.listing = [entry("/old/a.m4s", TIB4), entry("/old/b.m4s", TIB4),
                     entry("/old/c.m4s", 4)]
        s.held_bytes = 1 << 40
        rc, out, err = plan(binary, s, d)
        check(rc == 0, f"plan over sizes of 4 TiB: exit {rc}, want 0 ({err.strip()[-300:]})")
        d = json.loads(out) if rc == 0 else {}
        check(d.get("unplanned_bytes") == 2 * TIB4 + 4,
              f"unplanned_bytes {d.get('unplanned_bytes')}, want {2 * TIB4 + 4}")
        check(d.get("add_objects") == 1 and d.get("evict_objects") == 1,
              f"plan adds {d.get('add_objects')} and evicts {d.get('evict_objects')}, want the "
              "planned object added after evicting one unplanned")

    for f in failures:
        print("FAIL:", f)
    if failures:
        return 1
    print("ok: a listed size over 4 TiB is refused by name; sizes within it sum exactly")
    return 0


if __name__ == "__main__":
    sys.exit(main())
