# SPDX-License-Identifier: MIT
"""End to end without a browser: sluice-ingest registers real titles with control, a real
sluice-edge heartbeats to control and serves the segments of a control-issued MPD, checking
control's tokens on every request."""
import base64
import http.client
import http.server
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctlharness import ADMIN_TOKEN, Control, Failure, Postgres, check, free_port, run, skip
import sanitizer  # noqa: E402 (tests/integration/sanitizer.py: ctlharness puts it on the path)

NS = {"d": "urn:mpeg:dash:schema:mpd:2011", "cenc": "urn:mpeg:cenc:2013"}
EDGE_TOKEN = "edge-admin-token-0123456789abcdef"


def get(port, path, headers=None):
    """(status, body); a body cut short comes back as None."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    c.request("GET", path, headers=headers or {})
    r = c.getresponse()
    try:
        body = r.read()
    except http.client.IncompleteRead:
        body = None
    c.close()
    return r.status, body


def metric(port, name, labels=""):
    _, text = get(port, "/metrics", {"Authorization": "Bearer " + EDGE_TOKEN})
    m = re.search(rf"^{name}(?:{{[^}}]*{re.escape(labels)}[^}}]*}})? (\S+)$", text.decode(), re.M)
    return float(m.group(1)) if m else 0.0


def main(binary, tmp):
    build = os.path.dirname(os.path.dirname(binary))
    edge_bin = os.path.join(build, "edge", "sluice-edge")
    ingest_bin = os.path.join(build, "tools", "ingest", "sluice-ingest")
    for b in (edge_bin, ingest_bin):
        if not os.access(b, os.X_OK):
            skip(f"{b} not built")
    if subprocess.run(["which", "ffmpeg"], capture_output=True).returncode != 0:
        skip("ffmpeg not installed")

    pg = Postgres(tmp)
    ctl = Control(binary, tmp, pg).start()
    origin = os.path.join(tmp, "origin")
    os.makedirs(origin)

    # Origin: a plain static server over the origin directory.
    handler = lambda *a, **kw: http.server.SimpleHTTPRequestHandler(*a, directory=origin, **kw)
    http.server.SimpleHTTPRequestHandler.log_message = lambda *a: None
    osrv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=osrv.serve_forever, daemon=True).start()
    origin_url = f"http://127.0.0.1:{osrv.server_address[1]}"

    env = dict(os.environ, SLUICE_CONTROL_TOKEN=ADMIN_TOKEN)
    control_url = f"http://127.0.0.1:{ctl.port}"
    keys = os.path.join(tmp, "ingest-keys")
    os.makedirs(keys)
    for title, extra in (("clear1", []),
                         ("enc1", ["--encrypt", "--key-out", os.path.join(keys, "enc1.json")])):
        r = subprocess.run([ingest_bin, "--title", title, "--origin", origin, *extra,
                            "--register", control_url, "--test-source", "8", "--ladder", "240p"],
                           capture_output=True, text=True, env=env, timeout=300)
        check(r.returncode == 0, f"ingest {title}: {r.returncode} {r.stderr[-800:]}")
    for t in ("clear1", "enc1"):
        ctl.json("PUT", f"/v1/admin/titles/{t}/licences", {"licences": [{"country": "GB"}]},
                 admin=True)

    # The edge: tokens required, same key file as control, heartbeats to control.
    ep, eap = free_port(), free_port()
    edir = os.path.join(tmp, "edge")
    os.makedirs(os.path.join(edir, "cache"))
    with open(os.path.join(edir, "admin.token"), "w") as f:
        f.write(EDGE_TOKEN + "\n")
    # Registered first: control makes the edge's heartbeat secret, which goes into its file.
    reg = ctl.register_edge("edge-e2e", "eu-west", f"http://127.0.0.1:{ep}")
    with open(os.path.join(edir, "heartbeat.key"), "w") as f:
        f.write(reg["secret"] + "\n")
    ecfg = os.path.join(edir, "edge.yaml")
    with open(ecfg, "w") as f:
        f.write(f"""listen: ["127.0.0.1:{ep}"]
workers: 1
admin: {{listen: "127.0.0.1:{eap}", token_file: "{edir}/admin.token"}}
cache: {{dir: "{edir}/cache", max_size: 256M}}
upstreams: [{{url: "{origin_url}"}}]
tokens: {{required: true, keys_file: "{ctl.keys_file}"}}
control: {{url: "{control_url}", edge_id: edge-e2e, region: eu-west, heartbeat: 500ms,
          plan_period: 500ms, secret_file: "{edir}/heartbeat.key"}}
log: {{level: warn, target: stderr}}
""")
    edge = subprocess.Popen([edge_bin, "--config", ecfg], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    try:
        # The edge's own (signed) heartbeat must reach control before an MPD can name it;
        # each poll is a query to PostgreSQL, which is the event.
        seen = "0"
        for _ in range(3000):
            seen = pg.psql("SELECT count(*) FROM edge_health WHERE edge_id = 'edge-e2e' "
                           "AND signed_ms > 0")
            if seen != "0" or edge.poll() is not None:
                break
        check(seen == "1", "no heartbeat from the edge")

        s = ctl.json("POST", "/v1/playback", {"title": "clear1"})
        mpd = ET.fromstring(ctl.json("GET", f"/v1/manifest/{s['session']}.mpd"))
        base = mpd.find("d:BaseURL", NS).text
        m = re.fullmatch(rf"http://127\.0\.0\.1:{ep}(/s/[^/]+/clear1/)", base)
        check(m, f"BaseURL {base}")
        prefix = m.group(1)
        rep = mpd.find(".//d:Representation", NS).get("id")
        for name in ("init.mp4", "seg-1.m4s"):
            st, body = get(ep, f"{prefix}{rep}/{name}")
            with open(os.path.join(origin, "clear1", rep, name), "rb") as f:
                want = f.read()
            check(st == 200 and body == want, f"{name} through the edge: {st}")

        # The fill plan (the session above made clear1 watched in the edge's region) gives the
        # catalog's SHA-256 of every file: an origin serving one wrong byte of the right length
        # is refused, whatever it says, and nothing wrong is cached.
        for _ in range(200):
            if metric(eap, "sluice_edge_plan_sums") > 0:
                break
            time.sleep(0.05)
        check(metric(eap, "sluice_edge_plan_sums") > 0, "the edge loaded no fill plan sums")
        seg2 = os.path.join(origin, "clear1", rep, "seg-2.m4s")
        with open(seg2, "rb") as f:
            want = f.read()
        with open(seg2, "wb") as f:
            f.write(want[:100] + bytes([want[100] ^ 1]) + want[101:])
        failed = metric(eap, "sluice_edge_fills_total", 'result="failed"')
        st, body = get(ep, f"{prefix}{rep}/seg-2.m4s")
        check(body is None or st >= 500, f"a wrong byte from the origin was served: {st}")
        check(metric(eap, "sluice_edge_plan_checked_fills_total") >= 1, "no fill checked")
        _, listing = get(eap, f"/admin/objects?prefix=/clear1/{rep}/seg-2",
                         {"Authorization": "Bearer " + EDGE_TOKEN})
        check(b"seg-2" not in listing, f"the wrong bytes were kept: {listing[:200]}")
        check(metric(eap, "sluice_edge_fills_total", 'result="failed"') > failed,
              "the refused fill not counted as failed")
        with open(seg2, "wb") as f:
            f.write(want)
        st, body = get(ep, f"{prefix}{rep}/seg-2.m4s")
        check(st == 200 and body == want, f"seg-2.m4s once the origin is right: {st}")
        # Token checks live on the edge.
        st, _ = get(ep, f"/clear1/{rep}/seg-1.m4s")
        check(st == 403, f"no token: {st}")
        jwt = prefix.split("/")[2]
        bad = jwt[:-2] + ("AA" if not jwt.endswith("AA") else "BB")
        st, _ = get(ep, f"/s/{bad}/clear1/{rep}/seg-1.m4s")
        check(st == 403, f"tampered token: {st}")
        st, _ = get(ep, f"/s/{jwt}/enc1/{rep}/seg-1.m4s")
        check(st == 403, f"token of another title: {st}")

        # Encrypted title: MPD protection and a licence whose kid is the asset's.
        e = ctl.json("POST", "/v1/playback", {"title": "enc1"})
        mpd = ET.fromstring(ctl.json("GET", f"/v1/manifest/{e['session']}.mpd"))
        cp = [c for c in mpd.iter("{urn:mpeg:dash:schema:mpd:2011}ContentProtection")
              if c.get("value") == "cenc"]
        kid_uuid = cp[0].get("{urn:mpeg:cenc:2013}default_KID")
        with open(os.path.join(origin, "enc1", "asset.json")) as f:
            kid_hex = json.load(f)["encryption"]["kid"]
        check(kid_uuid.replace("-", "") == kid_hex, "default_KID is the asset's")
        kid = base64.urlsafe_b64encode(bytes.fromhex(kid_hex)).rstrip(b"=").decode()
        lic = ctl.json("POST", f"/v1/license/clearkey?session={e['session']}",
                       {"kids": [kid], "type": "temporary"})
        k = lic["keys"][0]
        check(k["kid"] == kid and len(base64.urlsafe_b64decode(k["k"] + "==")) == 16,
              "licence carries the title's key")
        base = mpd.find("d:BaseURL", NS).text
        st, body = get(ep, base.split(f":{ep}")[1] + f"{rep}/init.mp4")
        check(st == 200 and b"encv" in body, f"encrypted init through the edge: {st}")

        # plan_period 0 on a reload: the plan's sums go, and fills are checked by length alone.
        with open(ecfg) as f:
            text = f.read()
        with open(ecfg, "w") as f:
            f.write(text.replace("plan_period: 500ms", "plan_period: 0"))
        edge.send_signal(signal.SIGHUP)
        for _ in range(200):
            if metric(eap, "sluice_edge_plan_sums") == 0:
                break
            time.sleep(0.05)
        check(metric(eap, "sluice_edge_plan_sums") == 0, "the plan's sums kept after plan_period 0")
        checked = metric(eap, "sluice_edge_plan_checked_fills_total")
        c = http.client.HTTPConnection("127.0.0.1", eap, timeout=20)
        c.request("DELETE", f"/admin/objects/clear1/{rep}/seg-2.m4s",
                  headers={"Authorization": "Bearer " + EDGE_TOKEN})
        st = c.getresponse().status
        c.close()
        check(st == 204, f"admin DELETE of seg-2.m4s: {st}")
        st, body = get(ep, f"{prefix}{rep}/seg-2.m4s")
        check(st == 200 and body == want, f"seg-2.m4s filled again after the reload: {st}")
        check(metric(eap, "sluice_edge_plan_checked_fills_total") == checked,
              "a fill checked against a plan no longer fetched")
    finally:
        edge.terminate()
        try:
            edge_rc = edge.wait(20)
        except subprocess.TimeoutExpired:
            edge.kill()
            edge_rc = None
        osrv.shutdown()
    err = edge.stderr.read()
    check(edge_rc == 0, f"the edge exits 0 on SIGTERM (status {edge_rc}): {err[-800:]}")
    check(not sanitizer.report_lines(err.splitlines()), f"a sanitizer report from the edge: "
          f"{err[-800:]}")
    check(ctl.stop() == 0, "control exits 0")


run(main)
