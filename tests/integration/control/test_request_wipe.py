# SPDX-License-Identifier: MIT
"""What clients send control is wiped from its input buffers before they are freed
(docs/control.md, "Architecture"): every admin request carries the admin token, a
registration may carry an edge's secret. Control runs with free-scan-shim.c preloaded,
which reports each freed block (and each block a realloc moved) still holding the admin
token, from control being ready to its exit: after admin requests on a connection kept
alive (freed when idle), on one closed by its answer, and one whose body grows the buffer
past its first sizes (the token at its start moved each time), none may hold it.

The proof that the shim searched: the path of a request, which control copies for its
handler and frees unwiped, must be found."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import free_scan  # noqa: E402
from ctlharness import ADMIN_TOKEN, Control, check, run, scanned  # noqa: E402

PROOF = "proof-path-marker-6e5d4c3b2a19"


def main(binary, tmp):
    report, pg = scanned(binary, tmp)
    ctl = Control(binary, tmp, pg)
    ctl.start(env=free_scan.env(report, (ADMIN_TOKEN, PROOF)))
    start = len(free_scan.lines(report))
    c = ctl.conn()
    for _ in range(3):
        st, _, _ = ctl.request("GET", "/v1/admin/keys", admin=True, conn=c)
        check(st == 200, f"GET /v1/admin/keys on a kept connection: {st}")
    c.close()
    st, _, _ = ctl.request("GET", "/v1/admin/keys", admin=True, headers={"Connection": "close"})
    check(st == 200, f"GET /v1/admin/keys, closed after: {st}")
    # 256 KiB of a body that is no registration: read whole, then refused.
    st, _, _ = ctl.request("POST", "/v1/admin/titles", body=b'{"x": "' + b"y" * 262144 + b'"}',
                           admin=True)
    check(st == 400, f"a large body refused: {st}")
    st, _, _ = ctl.request("GET", f"/v1/titles/{PROOF}")
    check(ctl.stop() == 0, "SIGTERM exits 0")
    lines = free_scan.lines(report)[start:]
    token = [ln for ln in lines if ln.startswith("hit 0 ")]
    print(f"# freed blocks holding the admin token: {len(token)}, the path: "
          f"{sum(ln.startswith('hit 1 ') for ln in lines)}")
    check(any(ln.startswith("hit 1 ") for ln in lines),
          "the request's path was not found in a freed block: the shim searched nothing")
    check(not token, f"the admin token was still in freed blocks: {token[:8]}")


run(main)
