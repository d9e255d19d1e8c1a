# SPDX-License-Identifier: MIT
"""A title registration's content key is wiped from every block control frees after reading
it, whether the registration is stored or refused (docs/control.md, Admin): the raw request
body, the parsed body, and what the JSON library built or grew on the way. Control runs with
free-scan-shim.c preloaded and reports each freed block that still holds the key's hex text
(whole, or either half, so that a partial copy counts too), or a marker each request carries
in its query string. The marker, which control keeps unwiped with the request's path, is the
proof that the shim searched: it must be found, and the key never. The report is read before
control stops: the database connections free their buffers as they close, which held the key
as the statement carried it (not counted)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import free_scan  # noqa: E402
from ctlharness import Control, Postgres, check, make_asset, run, skip  # noqa: E402

KID = "00112233445566778899aabbccddeeff"
KEY = "c0ffee15deadbeef0badf00d8badcafe"
PROOF = "searched-0123456789abcdef"


def main(binary, tmp):
    why = free_scan.unusable(binary)
    if why:
        skip(why)
    report = os.path.join(tmp, "free-scan.txt")
    pg = Postgres(tmp)
    # Markers by index in the report: 0 the key, 1 and 2 its halves, 3 the proof.
    ctl = Control(binary, tmp, pg).start(
        env=free_scan.env(report, (KEY, KEY[:16], KEY[16:], PROOF)))
    key = {"kid": KID, "key": KEY}
    bad_asset = make_asset("m1", True)
    bad_asset["representations"] = []
    # Each on a connection kept open: its input buffer is freed as it goes idle, not closed.
    conn = ctl.conn()
    for why, body, want in (
            ("refused for its asset", {"title": "m1", "asset": bad_asset, "key": key}, 400),
            ("refused for its metadata", {"title": "m1", "asset": make_asset("m1", True),
                                          "key": key, "metadata": {"year": "x"}}, 400),
            ("stored", {"title": "m1", "asset": make_asset("m1", True), "key": key}, 200),
            ("stored again", {"title": "m1", "asset": make_asset("m1", True), "key": key},
             200)):
        st, _, b = ctl.request("POST", f"/v1/admin/titles?proof={PROOF}", body, admin=True,
                               conn=conn)
        check(st == want, f"{why}: {st} {b[:200]!r}")
    # Control has gone on past the last answer once it answers a later connection.
    check(ctl.request("GET", "/healthz")[0] == 200, "healthz")
    key_hits = [ln for m in (0, 1, 2) for ln in free_scan.hits(report, m)]
    proof_hits = free_scan.hits(report, 3)
    conn.close()
    check(ctl.stop() == 0, "SIGTERM exits 0")
    print(f"# freed blocks holding the proof: {len(proof_hits)}, the key: {len(key_hits)}")
    check(proof_hits, "the shim found the proof in no freed block: it did not search")
    check(not key_hits, "the key was still in freed blocks: " +
          ", ".join(f"marker {ln.split()[1]} in {ln.split()[2]} B" for ln in key_hits))


run(main)
