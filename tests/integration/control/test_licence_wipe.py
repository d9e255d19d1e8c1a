# SPDX-License-Identifier: MIT
"""A ClearKey licence's content key is wiped from every block control frees after answering
it (docs/control.md, ClearKey): control runs with free-scan-shim.c preloaded and reports each
freed block that still holds the key's base64url text (as the answer carries it), its hex
text (as the database gives it: the first half, so that a partial copy counts too) or the
kid's base64url text. The path of a later request, which control copies for its handler and
frees unwiped, is the proof that the shim searched: it must be found, and the key never
(control wipes what it reads and the JSON it parses, so the kid is no longer proof). The key is set in the
database behind control's back, so that control meets it only on the licence's path."""
import base64
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import free_scan  # noqa: E402
from ctlharness import CONTENT_KEY, Control, check, make_asset, run, scanned  # noqa: E402

KID = "00112233445566778899aabbccddeeff"
PROOF = "proof-path-marker-1a2b3c4d5e"


def b64url(hexstr):
    return base64.urlsafe_b64encode(bytes.fromhex(hexstr)).rstrip(b"=").decode()


def sizes(lines):
    return ", ".join(ln.split()[2] for ln in lines)


def main(binary, tmp):
    key, kid = b64url(CONTENT_KEY), b64url(KID)
    report, pg = scanned(binary, tmp)
    # Markers by index in the report: 0 the key as answered, 1 the kid, 2 the key as stored,
    # 3 the proof.
    ctl = Control(binary, tmp, pg).start(
        env=free_scan.env(report, (key, kid, CONTENT_KEY[:16], PROOF)))
    ctl.json("POST", "/v1/admin/titles", {"title": "m1", "asset": make_asset("m1", True),
                                          "key": {"kid": KID, "key": "5e" * 16}}, admin=True)
    pg.psql(f"UPDATE content_keys SET key = decode('{CONTENT_KEY}', 'hex') "
            "WHERE asset_id = 'm1'")
    ctl.json("PUT", "/v1/admin/titles/m1/licences", {"licences": [{"country": "GB"}]}, admin=True)
    ctl.register_edge("e1", "eu-west", "http://e1.test")
    ctl.heartbeat("e1", {"load": 0.1})
    sid = ctl.json("POST", "/v1/playback", {"title": "m1"})["session"]

    req = {"kids": [kid], "type": "temporary"}
    # One answer on a connection that stays open, one on a connection the answer closes.
    conn = ctl.conn()
    lic = ctl.json("POST", f"/v1/license/clearkey?session={sid}", req, conn=conn)
    check([k["k"] for k in lic["keys"]] == [key], f"the licence carries the key: {lic}")
    st, _, b = ctl.request("POST", f"/v1/license/clearkey?session={sid}", req, conn=conn,
                           headers={"Connection": "close"})
    check(st == 200 and key.encode() in b, f"the second licence: {st} {b[:200]!r}")
    conn.close()
    # The result holding the hex is freed as its callback returns, before the answer goes
    # out: all in by now. The database connections free their input buffers as they close,
    # which held the key (as they hold all they read) as long as they lived: not counted.
    hex_hits = free_scan.hits(report, 2)
    ctl.request("GET", f"/v1/titles/{PROOF}")
    check(ctl.stop() == 0, "SIGTERM exits 0")

    key_hits, kid_hits = free_scan.hits(report, 0), free_scan.hits(report, 1)
    print(f"# freed blocks holding the kid: {len(kid_hits)}, the key: {len(key_hits)}, "
          f"its hex: {len(hex_hits)}")
    check(free_scan.hits(report, 3), "the shim found the request's path in no freed block: it "
                                     "did not search")
    check(not key_hits, f"the key as answered was still in freed blocks ({sizes(key_hits)} B)")
    check(not hex_hits, f"the key as stored was still in freed blocks ({sizes(hex_hits)} B)")


run(main)
