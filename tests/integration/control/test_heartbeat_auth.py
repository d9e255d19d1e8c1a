# SPDX-License-Identifier: MIT
"""Heartbeat authentication against the real sluice-control on a private PostgreSQL.

Each edge signs its heartbeats with its own secret (HMAC-SHA256 over method, path, signed time
and body; common/req-sign.h). Refused with 401: no signature, a wrong key, another edge's key,
a signature of another body or path, a signed time outside heartbeat_skew, a replay. A good one
answers 200 with control's heartbeat period (the pace the edge must keep) and the edge is then
healthy. Secrets come from registration and never appear in
any other answer or in the log.

    python3 test_heartbeat_auth.py path/to/sluice-control
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctlharness import Control, Postgres, check, heartbeat_headers, run  # noqa: E402

SECRET_B = "b-secret-" + "0123456789" * 4


def now_ms():
    return int(time.time() * 1000)


def signed(ctl, path_edge, body, secret, t_ms, key_edge=None, sent=None):
    """POST a heartbeat for path_edge signed over body with secret as if for key_edge's path;
    sends `sent` (default body) as the body. Returns (status, parsed JSON or None)."""
    data = json.dumps(body).encode()
    hdrs = heartbeat_headers(secret, key_edge or path_edge, data, t_ms)
    st, h, b = ctl.request("POST", f"/v1/edges/{path_edge}/heartbeat",
                           data if sent is None else json.dumps(sent).encode(), headers=hdrs)
    if st == 401:
        check(h.get("www-authenticate"), "401 without WWW-Authenticate")
    return st, (json.loads(b) if b else None)


def healthy(pg, edge):
    return pg.psql("SELECT e->>'healthy' FROM jsonb_array_elements(sluice_edges_view(120)) e "
                   f"WHERE e->>'id' = '{edge}'")


def refusals(ctl, name="sluice_control_heartbeat_refusals_total"):
    text = ctl.json("GET", "/metrics").decode()
    for line in text.splitlines():
        if line.startswith(name):
            return int(float(line.split()[-1]))
    raise AssertionError(f"no {name} in /metrics")


def stored(ctl):
    return refusals(ctl, "sluice_control_heartbeats_total")


def main(binary, tmp):
    pg = Postgres(tmp)
    ctl = Control(binary, tmp, pg, extra_cfg="heartbeat_skew: 30s\n").start()

    # Registration: control makes a secret for a new edge and shows it once; a given one is
    # stored and not echoed; registering again keeps the secret unless asked to rotate.
    a = ctl.register_edge("edge-a", "eu-west", "http://edge-a.test:8080")
    sa = a.get("secret", "")
    check(len(sa) == 64 and all(c in "0123456789abcdef" for c in sa), f"made secret {a}")
    b = ctl.register_edge("edge-b", "eu-west", "http://edge-b.test:8080", secret=SECRET_B)
    check("secret" not in b and b.get("secret_set") is True, f"given secret echoed {b}")
    again = ctl.register_edge("edge-a", "eu-west", "http://edge-a2.test:8080")
    check("secret" not in again and again.get("secret_set") is False, f"re-register {again}")
    check(Control.edge_secrets["edge-a"] == sa, "secret kept across re-registration")
    ctl.error("POST", "/v1/admin/edges", {"id": "edge-x", "region": "eu-west",
                                          "base_url": "http://x.test", "secret": "short"},
              admin=True)
    ctl.error("POST", "/v1/admin/edges", {"id": "edge-x", "region": "eu-west",
                                          "base_url": "http://x.test", "secret": SECRET_B,
                                          "rotate_secret": True}, admin=True)
    ctl.error("POST", "/v1/admin/edges", {"id": "edge-x", "region": "eu-west",
                                          "base_url": "http://x.test", "secret": 5}, admin=True)
    check(pg.psql("SELECT count(*) FROM edges WHERE id = 'edge-x'") == "0", "refused edge stored")

    body = {"load": 0.2, "titles": ["movie1"]}
    n0 = refusals(ctl)
    # No signature at all, or half of one.
    o = ctl.error("POST", "/v1/edges/edge-a/heartbeat", body, expect=401)
    check(o["error"] == "unauthorized", f"unsigned {o}")
    ctl.error("POST", "/v1/edges/edge-a/heartbeat", body, expect=401,
              headers={"X-Sluice-Time": str(now_ms())})
    ctl.error("POST", "/v1/edges/edge-a/heartbeat", body, expect=401,
              headers={"X-Sluice-Time": "soon", "X-Sluice-Signature": "0" * 64})
    t = now_ms()
    # A wrong key, the other edge's key, a signature made for the other edge's path, a
    # signature over another body.
    check(signed(ctl, "edge-a", body, "w" * 64, t)[0] == 401, "wrong key accepted")
    check(signed(ctl, "edge-a", body, SECRET_B, t)[0] == 401, "edge-b's key accepted for edge-a")
    check(signed(ctl, "edge-a", body, sa, t, key_edge="edge-b")[0] == 401,
          "a signature for another path accepted")
    check(signed(ctl, "edge-a", body, sa, t, sent={"load": 0.0, "titles": ["movie1"]})[0] == 401,
          "a signature over another body accepted")
    # Stale, or from a clock too far ahead.
    st, o = signed(ctl, "edge-a", body, sa, now_ms() - 31000)
    check(st == 401 and "skew" in o["detail"], f"stale heartbeat: {st} {o}")
    check(signed(ctl, "edge-a", body, sa, now_ms() + 31000)[0] == 401, "future heartbeat")
    check(healthy(pg, "edge-a") == "false", "a refused heartbeat made the edge healthy")
    check(refusals(ctl) - n0 == 9, f"refusals counted: {refusals(ctl) - n0}")

    # A good one: 200 with control's period, and the edge is healthy with what it said.
    t = now_ms()
    st, o = signed(ctl, "edge-a", body, sa, t)
    check(st == 200 and o == {"heartbeat_period_s": 60}, f"good heartbeat: {st} {o}")
    check(healthy(pg, "edge-a") == "true", "edge not healthy after a good heartbeat")
    check(pg.psql("SELECT load, titles FROM edge_health WHERE edge_id = 'edge-a'") ==
          "0.2|{movie1}", "heartbeat fields stored")
    # The same request again (a replay within the skew), and an older one: refused, and
    # counted as refusals, not as heartbeats (they were heartbeats and no refusal).
    n0, h0 = refusals(ctl), stored(ctl)
    st, o = signed(ctl, "edge-a", body, sa, t)
    check(st == 401 and "replayed" in o["detail"], f"replay: {st} {o}")
    check(signed(ctl, "edge-a", body, sa, t - 500)[0] == 401, "older heartbeat accepted")
    check((refusals(ctl) - n0, stored(ctl) - h0) == (2, 0),
          f"a replay and an older heartbeat counted: {refusals(ctl) - n0} refusals, "
          f"{stored(ctl) - h0} heartbeats, want 2 and 0")
    check(signed(ctl, "edge-a", {"load": 0.3}, sa, t + 1)[0] == 200, "next heartbeat refused")
    check(signed(ctl, "edge-b", body, SECRET_B, now_ms())[0] == 200, "given secret refused")
    check(stored(ctl) - h0 == 2, f"heartbeats stored counted: {stored(ctl) - h0}, want 2")
    # Unknown edge: 404 (registration is an admin act), whatever the signature; no heartbeat.
    check(signed(ctl, "nosuch", body, sa, now_ms())[0] == 404, "unknown edge")
    check(stored(ctl) - h0 == 2, "an unknown edge's heartbeat counted")

    # Rotation: the new secret works at once, the old one no longer.
    r = ctl.register_edge("edge-a", "eu-west", "http://edge-a.test:8080", rotate_secret=True)
    sa2 = r.get("secret", "")
    check(len(sa2) == 64 and sa2 != sa, f"rotated secret {r}")
    check(signed(ctl, "edge-a", body, sa, now_ms())[0] == 401, "old secret after rotation")
    check(signed(ctl, "edge-a", body, sa2, now_ms() + 1)[0] == 200, "new secret after rotation")

    # An edge without a secret (registered before secrets existed) is told what to do.
    ctl.register_edge("edge-c", "eu-west", "http://edge-c.test:8080")
    pg.psql("DELETE FROM edge_secrets WHERE edge_id = 'edge-c'")
    st, o = signed(ctl, "edge-c", body, Control.edge_secrets["edge-c"], now_ms())
    check(st == 401 and "register it again" in o["detail"], f"edge without a secret: {st} {o}")
    # Its next heartbeat finds that answer cached and is told the same, not "bad signature".
    st, o = signed(ctl, "edge-c", body, Control.edge_secrets["edge-c"], now_ms())
    check(st == 401 and "register it again" in o["detail"], f"again, no secret: {st} {o}")

    # The period answered is the answering instance's own, to the millisecond.
    fast = Control(binary, tmp, pg, name="ctl-fast", heartbeat_period="1500ms").start()
    st, o = signed(fast, "edge-b", body, SECRET_B, now_ms())
    check(st == 200 and o == {"heartbeat_period_s": 1.5}, f"1500 ms period: {st} {o}")
    check(fast.stop() == 0, "second instance exits 0")

    # Secrets appear nowhere else: not in the stored edge rows, not in the log.
    rows = pg.psql("SELECT to_jsonb(e)::text FROM edges e")
    ctl.stop()
    log = "".join(ctl.log)
    for s in (sa, sa2, SECRET_B, Control.edge_secrets["edge-c"]):
        check(s not in rows, "a secret in the edges table")
        check(s not in log, "a secret in control's log")


if __name__ == "__main__":
    run(main)
