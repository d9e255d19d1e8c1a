# SPDX-License-Identifier: MIT
"""An edge's heartbeat secret given at its registration (POST /v1/admin/edges, "secret") is
wiped from every block control frees while it handles the request (docs/control.md,
"Heartbeat authentication"): control runs with free-scan-shim.c preloaded and reports each
freed block still holding either half of the secret (a marker is under 64 characters), so
that a partial copy counts too. The request's body passes through jansson's parser (strings
and lexer buffers of its own) and the secret through the pool's copy of the query's
parameters; none may keep it. The path of a later request, which control copies for its
handler and frees unwiped, is the proof that the shim searched: it must be found.

Counted: from control being ready to a later request's answer. Not counted: its exit, when
the pool's connections free libpq's buffers of the queries they sent."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import free_scan  # noqa: E402
from ctlharness import Control, check, run, scanned  # noqa: E402

SECRET = "edge-secret-marker-" + "5a6b7c8d9e" * 4  # 59 characters
PROOF = "proof-path-marker-4d3c2b1a09"


def main(binary, tmp):
    report, pg = scanned(binary, tmp)
    ctl = Control(binary, tmp, pg)
    ctl.start(env=free_scan.env(report, (SECRET[:30], SECRET[30:], PROOF)))
    start = len(free_scan.lines(report))
    o = ctl.register_edge("e1", "eu-west", "http://e1.test:8080", secret=SECRET)
    check(o.get("secret_set") is True and "secret" not in o, f"registered: {o}")
    ctl.request("GET", f"/v1/titles/{PROOF}")
    during = free_scan.lines(report)[start:]
    check(ctl.stop() == 0, "SIGTERM exits 0")
    secret = [ln for ln in during if ln.startswith(("hit 0 ", "hit 1 "))]
    proof = [ln for ln in during if ln.startswith("hit 2 ")]
    print(f"# freed blocks holding the path: {len(proof)}, the secret (either half): "
          f"{len(secret)}")
    check(proof, "the request's path was not found in a freed block: the shim searched "
                 "nothing")
    check(not secret, f"the edge's secret was still in freed blocks: {secret[:8]}")


run(main)
