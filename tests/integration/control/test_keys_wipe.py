# SPDX-License-Identifier: MIT
"""The URI-signing keys control re-reads from the database (tokens.refresh, here every
second), and answers to GET /v1/admin/keys, are wiped from every block it frees
(docs/control.md, "Key rotation"): control runs with free-scan-shim.c preloaded and reports
each freed block still holding either half of the secret's hex text (as the database gives it
and the answer carries it), so that a partial copy counts too. The key's kid, which nothing
wipes, is the proof that the shim searched and that refreshes ran: it must be found, and the
secret never.

Counted: what control frees from its start being ready to SIGTERM. Not counted: the start's
reading of the keys file (libyaml's scanner lets go of the shorter buffers a scalar outgrows)
and its migration connection's buffers, and the pool's connections' input buffers freed at
exit, which hold what they read, as for every query."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import free_scan  # noqa: E402
from ctlharness import Control, check, run, scanned  # noqa: E402

SECRET = "4b1d0c2e3f5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"  # 32 bytes
KID = "kid-marker-7e6d5c4b3a29"


def main(binary, tmp):
    report, pg = scanned(binary, tmp)
    ctl = Control(binary, tmp, pg)
    with open(ctl.keys_file, "w") as f:
        f.write(f"keys:\n  - {{kid: {KID}, secret: \"{SECRET}\"}}\n")
    # Markers by index in the report: 0 and 1 the secret's halves (a marker is under 64
    # characters), 2 the kid.
    ctl.start(env=free_scan.env(report, (SECRET[:32], SECRET[32:], KID)))
    start = len(free_scan.lines(report))
    # Each refresh frees the kid unwiped: three seen, three refreshes.
    deadline = time.monotonic() + 30
    while sum(ln.startswith("hit 2 ") for ln in free_scan.lines(report)[start:]) < 3 and \
            time.monotonic() < deadline:
        time.sleep(0.1)  # polled for the refreshes the timer makes, bounded by the deadline
    # The set as GET /v1/admin/keys answers it, on a connection of its own, closed after.
    answered = ctl.json("GET", "/v1/admin/keys", admin=True)
    check(any(k.get("secret") == SECRET for k in answered.get("keys", [])),
          f"GET /v1/admin/keys did not answer the secret: {answered}")
    ctl.json("GET", "/v1/admin/keys", admin=True, headers={"Connection": "close"})
    during = free_scan.lines(report)[start:]
    check(ctl.stop() == 0, "SIGTERM exits 0")
    kid = [ln for ln in during if ln.startswith("hit 2 ")]
    secret = [ln for ln in during if ln.startswith(("hit 0 ", "hit 1 "))]
    print(f"# freed blocks holding the kid: {len(kid)}, the secret (either half): "
          f"{len(secret)}")
    check(len(kid) >= 3, "the kid was not found in three freed blocks: the shim did not search, "
                         "or the key set was not refreshed")
    check(not secret, f"the secret was still in freed blocks: {secret[:8]}")


run(main)
