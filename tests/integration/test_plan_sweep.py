# SPDX-License-Identifier: MIT
"""An object stored before the fill plan named it is held to the plan's SHA-256 once the plan
arrives, against the real sluice-control on a private PostgreSQL.

The edge runs with its plan off (control.plan_period 0) and takes two objects of a title
control knows: seg-1.m4s with bytes that are not the catalog's (an origin's wrong byte while
the edge had no plan), seg-2.m4s with the catalog's. A reload turns the plan on: once its sums
are in, seg-1.m4s is dropped (listing, metric, log) and never answered from the store again,
seg-2.m4s stays and is still served.

Then a plan that arrives while fills are on their way (mid_fill): a second edge, its plan off,
fills two segments of title "gatenosha" from a test origin that holds each body after its first
bytes and names no SHA-256. With both fills in flight, the plan is turned on; once its sums are
in, the bodies go on. The one whose bytes are not the catalog's is refused at commit (its client
never gets the whole body, nothing is stored); the other is committed, checked against the plan.

    python3 test_plan_sweep.py path/to/sluice-edge path/to/sluice-control
"""
import hashlib
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "control"))

import ctlharness  # noqa: E402
from edgeharness import (Closed, Edge, RawConn, build_request, check, eq, expect_body,  # noqa: E402
                         metric)
from origin import Origin  # noqa: E402

GOOD1 = b"catalog bytes of segment one " * 200
BAD1 = GOOD1[:100] + bytes([GOOD1[100] ^ 1]) + GOOD1[101:]
GOOD2 = b"catalog bytes of segment two " * 150


def wait_for(what, fn, timeout=15.0):
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def listed(e, key):
    r = e.admin("GET", "/admin/objects?prefix=" + key)
    eq(r.status, 200, "listing status")
    return key.encode() in r.body


def main(edge_bin, ctl_bin, tmp):
    try:
        steps(edge_bin, ctl_bin, tmp)
    except AssertionError as err:  # the edge harness's: reported as the control harness's
        raise ctlharness.Failure(str(err)) from err


def steps(edge_bin, ctl_bin, tmp):
    pg = ctlharness.Postgres(tmp)
    ctl = ctlharness.Control(ctl_bin, tmp, pg).start()
    reg = ctl.register_edge("edge-pl", "eu-west", "http://127.0.0.1:1/")
    secret_file = os.path.join(tmp, "heartbeat.key")
    with open(secret_file, "w") as f:
        f.write(reg["secret"] + "\n")

    asset = ctlharness.make_asset("pt")
    for fl in asset["files"]:
        for name, data in (("video-240p/seg-1.m4s", GOOD1), ("video-240p/seg-2.m4s", GOOD2)):
            if fl["path"] == name:
                fl["size"] = len(data)
                fl["sha256"] = hashlib.sha256(data).hexdigest()
    ctl.json("POST", "/v1/admin/titles", {"title": "pt", "asset": asset}, admin=True)
    ctl.json("PUT", "/v1/admin/titles/pt/licences", {"licences": [{"country": "GB"}]},
             admin=True)
    ctl.json("POST", "/v1/playback", {"title": "pt"})  # a view in eu-west: pt is in the plan
    plan = ctl.json("GET", "/v1/fill/plan?edge=edge-pl", admin=True)
    paths = [o["path"] for o in plan["objects"]]
    check("pt/video-240p/seg-1.m4s" in paths, f"control's plan lacks seg-1: {paths[:5]}")

    e = Edge(edge_bin, {"workers": 1,
                        "control": {"url": f"http://127.0.0.1:{ctl.port}", "edge_id": "edge-pl",
                                    "region": "eu-west", "heartbeat": "500ms",
                                    "plan_period": "0", "secret_file": secret_file}})
    try:
        e.start()
        e.put("/pt/video-240p/seg-1.m4s", BAD1)
        e.put("/pt/video-240p/seg-2.m4s", GOOD2)
        expect_body(e.get("/pt/video-240p/seg-1.m4s"), BAD1, "without a plan: stored bytes")

        e.cfg["control"]["plan_period"] = "500ms"
        e.write_config()
        e.reload()
        wait_for("the plan's sums", lambda: metric(e, "sluice_edge_plan_sums") > 0)
        wait_for("seg-1.m4s dropped", lambda: not listed(e, "/pt/video-240p/seg-1.m4s"))
        eq(metric(e, "sluice_edge_damaged_objects_total", 'found_by="plan"'), 1.0,
           "objects dropped for the plan")
        check("is not the fill plan's" in e.log_tail(200), "no log line for the drop")
        r = e.get("/pt/video-240p/seg-1.m4s")
        check(r.status != 200, f"seg-1.m4s answered from the store after the plan: {r.status}")
        check(listed(e, "/pt/video-240p/seg-2.m4s"), "seg-2.m4s, the catalog's bytes, dropped")
        expect_body(e.get("/pt/video-240p/seg-2.m4s"), GOOD2, "seg-2.m4s")
        e.stop()
    finally:
        e.cleanup()
    try:
        mid_fill(edge_bin, ctl, tmp)
    finally:
        ctl.stop()


def plan_title(ctl, title, sums):
    """A title control knows, its files of sums (path -> bytes) given those bytes' SHA-256, with
    a view in eu-west so that it is in the region's fill plan."""
    asset = ctlharness.make_asset(title)
    for fl in asset["files"]:
        if fl["path"] in sums:
            fl["size"] = len(sums[fl["path"]])
            fl["sha256"] = hashlib.sha256(sums[fl["path"]]).hexdigest()
    ctl.json("POST", "/v1/admin/titles", {"title": title, "asset": asset}, admin=True)
    ctl.json("PUT", f"/v1/admin/titles/{title}/licences", {"licences": [{"country": "GB"}]},
             admin=True)
    ctl.json("POST", "/v1/playback", {"title": title})


def read_head(c, deadline):
    head = c._read_until(b"\r\n\r\n", deadline).decode("latin-1")
    return int(head.split()[1])


def mid_fill(edge_bin, ctl, tmp):
    good = b"catalog bytes of a segment filled mid-plan " * 200
    bad = good[:5000] + bytes([good[5000] ^ 1]) + good[5001:]
    plan_title(ctl, "gatenosha", {"video-240p/seg-1.m4s": good, "video-240p/seg-2.m4s": good})
    reg = ctl.register_edge("edge-mf", "eu-west", "http://127.0.0.1:1/")
    secret_file = os.path.join(tmp, "heartbeat-mf.key")
    with open(secret_file, "w") as f:
        f.write(reg["secret"] + "\n")
    o = Origin()
    keys = {"/gatenosha/video-240p/seg-1.m4s": bad, "/gatenosha/video-240p/seg-2.m4s": good}
    for k, data in keys.items():
        o.add(k, data)
        o.first[k] = 1000  # the head and 1000 bytes, then the body waits for the gate
    e = Edge(edge_bin, {"workers": 1,
                        "upstreams": [{"url": o.url, "first_byte_timeout": "5s"}],
                        "control": {"url": f"http://127.0.0.1:{ctl.port}", "edge_id": "edge-mf",
                                    "region": "eu-west", "heartbeat": "500ms",
                                    "plan_period": "0", "secret_file": secret_file}})
    conns = {}
    try:
        e.start()
        deadline = time.monotonic() + 15
        for k in keys:
            c = RawConn(e.port, timeout=15)
            c.send(build_request("GET", k, [("Connection", "close")]))
            eq(read_head(c, deadline), 200, f"{k}: head while the fill runs")
            conns[k] = c
        check(metric(e, "sluice_edge_plan_sums") == 0, "a plan before the plan was turned on")
        e.cfg["control"]["plan_period"] = "500ms"
        e.write_config()
        e.reload()
        wait_for("the plan's sums", lambda: metric(e, "sluice_edge_plan_sums") > 0)
        for k in keys:
            o.gate(k).set()
        bad_key, good_key = list(keys)
        try:
            conns[bad_key]._read_n(len(bad), deadline)
            raise AssertionError("the body the plan refuses arrived whole")
        except Closed:
            pass
        eq(conns[good_key]._read_n(len(good), deadline), good, "the plan's body, streamed")
        wait_for("the good fill committed", lambda: listed(e, good_key))
        check(not listed(e, bad_key), "the body the plan refuses was stored")
        eq(metric(e, "sluice_edge_plan_checked_fills_total"), 2.0, "fills checked at commit")
        eq(metric(e, "sluice_edge_fills_total", 'result="failed"'), 1.0, "failed fills")
        check("the fill plan named it during the fill" in e.log_tail(200),
              "no log line for the check at commit")
        expect_body(e.get(good_key), good, "the committed body")
        eq(o.count(good_key), 1, "origin requests for the committed key")
        e.stop()
    finally:
        for c in conns.values():
            c.sock.close()
        for k in keys:
            o.gate(k).set()
        e.cleanup()
        o.srv.shutdown()


if __name__ == "__main__":
    if len(sys.argv) < 3:
        print("usage: test_plan_sweep.py sluice-edge sluice-control")
        sys.exit(2)
    edge_bin = os.path.abspath(sys.argv[1])
    sys.argv = [sys.argv[0], sys.argv[2]]
    ctlharness.run(lambda ctl_bin, tmp: main(edge_bin, ctl_bin, tmp))
