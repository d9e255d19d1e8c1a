# SPDX-License-Identifier: MIT
"""sluice-control API against a real PostgreSQL: every route with its error cases."""
import base64
import hashlib
import hmac
import json
import os
import re
import socket
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctlharness import (ADMIN_TOKEN, CONTENT_KEY, KEY_SECRET, Control, Failure, Postgres, check,
                        metric, row_id,
                        make_asset, register, run, signed_headers)

MPD_NS = {"d": "urn:mpeg:dash:schema:mpd:2011", "cenc": "urn:mpeg:cenc:2013"}


def pq(p):
    """A profile's query parameters: its id and its key."""
    return f"profile={p['id']}&profile_key={p['key']}"


def pb(p):
    """A profile's members of a POST /v1/playback body: its id and its key."""
    return {"profile": p["id"], "profile_key": p["key"]}


def b64url_dec(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def verify_token(jwt, secrets):
    """HS256 check as an edge does it; returns the claims."""
    h, p, sig = jwt.split(".")
    header = json.loads(b64url_dec(h))
    check(header["alg"] == "HS256", "alg")
    key = secrets[header["kid"]]
    want = hmac.new(key, f"{h}.{p}".encode(), hashlib.sha256).digest()
    check(hmac.compare_digest(want, b64url_dec(sig)), "token signature does not verify")
    return header, json.loads(b64url_dec(p))


def read_all(s):
    """What the server sends until it closes (or the socket's timeout passes)."""
    out = b""
    while True:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        out += chunk
    return out


def raw(ctl, data, read=True):
    s = socket.create_connection(("127.0.0.1", ctl.port), timeout=10)
    s.sendall(data)
    out = read_all(s) if read else b""
    s.close()
    return out


def db_time(pg, offset_s):
    return pg.psql(f"SELECT to_char((now() + interval '{offset_s} seconds') AT TIME ZONE 'UTC', "
                   "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")


def test_cli(binary, ctl):
    r = subprocess.run([binary, "--version"], capture_output=True, text=True)
    check(r.returncode == 0 and r.stdout.startswith("sluice-control "), "--version")
    r = subprocess.run([binary, "--help"], capture_output=True, text=True)
    check(r.returncode == 0 and "--check-config" in r.stdout, "--help")
    r = subprocess.run([binary, "--check-config", "--config", ctl.cfg_path], capture_output=True,
                       text=True)
    check(r.returncode == 0, "--check-config on a good file: " + r.stderr)
    bad = os.path.join(ctl.dir, "bad.yaml")
    with open(ctl.cfg_path) as f:
        good = f.read()
    cases = [
        (good.replace("127.0.0.0/8", "127.0.0.1/8"), "country_prefixes[0].cidr"),
        (good.replace("country: SE", "country: Sweden"), "country_prefixes[1].country"),
        (good + "no_such_key: 1\n", "no_such_key"),
        (good.replace('public_url: "http://control.test:7000"', 'public_url: "ftp://x"'),
         "public_url"),
        (good.replace("heartbeat_period: 60s", "heartbeat_period: -5s"), "heartbeat_period"),
    ]
    for text, what in cases:
        with open(bad, "w") as f:
            f.write(text)
        r = subprocess.run([binary, "--check-config", "--config", bad], capture_output=True,
                           text=True)
        check(r.returncode == 2, f"bad config ({what}) exit {r.returncode}")
        check(re.match(re.escape(bad) + r":\d+:\d+: ", r.stderr), f"{what}: {r.stderr!r}")
    # The shipped example is valid once its file paths exist.
    example = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                           "control", "sluice-control.example.yaml")
    with open(example) as f:
        text = f.read().replace("/etc/sluice/control-admin.token", ctl.token_file) \
            .replace("/etc/sluice/keys.yaml", ctl.keys_file)
    with open(bad, "w") as f:
        f.write(text)
    r = subprocess.run([binary, "--check-config", "--config", bad], capture_output=True,
                       text=True)
    check(r.returncode == 0, "example config: " + r.stderr)
    r = subprocess.run([binary, "--config", os.path.join(ctl.dir, "missing.yaml")],
                       capture_output=True, text=True)
    check(r.returncode == 2, "missing config exits 2")


def test_basics(ctl):
    h = ctl.json("GET", "/healthz")
    check(h["status"] == "ok", "healthz")
    # Two pipelined requests (the first waits on the database), then the client's half-close
    # (as `nc -N` does): both are answered, then the connection ends.
    s = socket.create_connection(("127.0.0.1", ctl.port), timeout=10)
    s.sendall(b"GET /v1/catalog HTTP/1.1\r\nHost: x\r\n\r\n"
              b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    s.shutdown(socket.SHUT_WR)
    out = read_all(s)
    s.close()
    check(out.count(b"HTTP/1.1 200") == 2, f"pipelined then half-closed: {out.count(b'HTTP/1.1 ')} "
          f"answer(s): {out[:200]!r}")
    st, hd, body = ctl.request("GET", "/metrics")
    check(st == 200 and b"sluice_control_requests_total" in body, "metrics")
    check(b"sluice_control_db_connections" in body and b"sluice_control_db_pending" in body,
          "pool gauges")
    ctl.error("GET", "/v1/nope", expect=404)
    ctl.error("GET", "/", expect=404)
    st, hd, _ = ctl.request("DELETE", "/v1/playback")
    check(st == 405 and "POST" in hd.get("allow", ""), "405 with Allow")
    # CORS: player on another origin
    before = metric(ctl, "sluice_control_preflights_total")
    st, hd, _ = ctl.request("OPTIONS", "/v1/playback",
                            headers={"Origin": "http://player.test",
                                     "Access-Control-Request-Method": "POST"})
    check(st == 204 and hd.get("access-control-allow-origin") == "*", "preflight")
    check("POST" in hd.get("access-control-allow-methods", ""), "preflight methods")
    check(metric(ctl, "sluice_control_preflights_total") == before + 1, "preflight counted")
    # A manifest request with CMCD in headers (CTA-5004 header mode): the browser asks for all
    # four, and sends the request only if each is allowed (names compare case-insensitively).
    st, hd, _ = ctl.request("OPTIONS", "/v1/manifest/x.mpd",
                            headers={"Origin": "http://player.test",
                                     "Access-Control-Request-Method": "GET",
                                     "Access-Control-Request-Headers":
                                         "cmcd-object,cmcd-request,cmcd-session,cmcd-status"})
    allowed = {h.strip().lower() for h in hd.get("access-control-allow-headers", "").split(",")}
    check(st == 204 and {"content-type", "authorization", "cmcd-object", "cmcd-request",
                         "cmcd-session", "cmcd-status"} <= allowed,
          f"preflight of a manifest request with CMCD headers: {st} {hd}")
    # A JSON body with no Content-Type (what a page sends to skip the preflight) is read as
    # JSON: an unknown title's 404, not a 415.
    body = json.dumps({"title": "nope"}).encode()
    out = raw(ctl, b"POST /v1/playback HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                   b"Origin: http://player.test\r\nContent-Length: "
                   + str(len(body)).encode() + b"\r\n\r\n" + body)
    check(out.startswith(b"HTTP/1.1 404") and b'"not_found"' in out
          and b"access-control-allow-origin: *" in out.lower(),
          f"a JSON body without Content-Type: {out[:200]!r}")
    st, hd, _ = ctl.request("GET", "/healthz", headers={"Origin": "http://player.test"})
    check(hd.get("access-control-allow-origin") == "*", "CORS on replies")
    # Admin routes need the bearer token.
    for m, p in [("POST", "/v1/admin/titles"), ("POST", "/v1/admin/edges"),
                 ("PUT", "/v1/admin/titles/x/licences"), ("GET", "/v1/admin/keys"),
                 ("POST", "/v1/admin/keys/rotate"), ("POST", "/v1/admin/sessions/x/end")]:
        ctl.error(m, p, {}, expect=401)
        ctl.error(m, p, {}, expect=401, headers={"Authorization": "Bearer wrong-token-xxxxxxxx"})
        ctl.error(m, p, {}, expect=401,
                  headers={"Authorization": "Bearer " + ADMIN_TOKEN[:-1] + "X"})
        ctl.error(m, p, {}, expect=401, headers={"Authorization": "Bearer " + ADMIN_TOKEN[:-1]})
    # RFC 6750 §2.1: the scheme in any case, one or more spaces (two were refused, 401).
    for auth in ("Bearer " + ADMIN_TOKEN, "Bearer  " + ADMIN_TOKEN, "bearer " + ADMIN_TOKEN):
        st, _, _ = ctl.request("GET", "/v1/admin/keys", headers={"Authorization": auth})
        check(st == 200, f"GET /v1/admin/keys with Authorization {auth[:9]!r}...: {st}")
    # Keep-alive: several requests on one connection.
    c = ctl.conn()
    for _ in range(3):
        st, _, _ = ctl.request("GET", "/healthz", conn=c)
        check(st == 200, "keep-alive")
    c.close()
    # Pipelined requests answered in order.
    out = raw(ctl, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
                   b"GET /v1/nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    check(out.count(b"HTTP/1.1 ") == 2 and out.index(b"200 OK") < out.index(b"404"), "pipeline")
    # A long pipelined burst: all answered, in order, without the server's stack growing
    # with it; past the pipelining allowance the connection is closed, the server lives on.
    burst = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 1500
    out = raw(ctl, burst + b"GET /v1/nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    check(out.count(b"HTTP/1.1 200 OK") == 1500 and out.endswith(b'"no such route"}'),
          f"pipelined burst: {out.count(b'HTTP/1.1 200 OK')} answers")
    # The last request asks for the close, so the read ends when the answers do (or when
    # the server closes early) instead of at the client's 10 s timeout. The server closes
    # with the burst's rest unread, so the client may see a reset while still sending.
    try:
        raw(ctl, b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 20000 +
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    except (ConnectionResetError, BrokenPipeError):
        pass
    check(ctl.json("GET", "/healthz")["status"] == "ok", "alive after an oversized burst")


def refused_while_sending(ctl, head, body):
    """Send head and body whole, then read, as a client without 100-continue does (most
    libraries): what the server answered, or the error the client got instead."""
    s = socket.create_connection(("127.0.0.1", ctl.port), timeout=10)
    try:
        s.sendall(head + body)
        out = read_all(s)
    except OSError as e:
        out = f"[{type(e).__name__}]".encode()
    s.close()
    return out


def test_limits(ctl):
    # Body over max_body (1M default): 413, before reading it.
    out = raw(ctl, b"POST /v1/playback HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                   b"Content-Length: 2000000\r\n\r\n")
    check(out.startswith(b"HTTP/1.1 413"), "413 for a big body")
    # ... and with the body on its way (no 100-continue): the client still reads the 413
    # (a close with its body unread would be a reset), chunked or not.
    out = refused_while_sending(ctl, b"POST /v1/playback HTTP/1.1\r\nHost: x\r\n"
                                b"Content-Type: application/json\r\nContent-Length: 12000000\r\n\r\n",
                                b"x" * 12000000)
    check(out.startswith(b"HTTP/1.1 413"), f"413 while the body is sent: {out[:80]!r}")
    out = refused_while_sending(ctl, b"POST /v1/playback HTTP/1.1\r\nHost: x\r\n"
                                b"Transfer-Encoding: chunked\r\n\r\n",
                                b"".join(b"8000\r\n" + b"y" * 0x8000 + b"\r\n" for _ in range(360)))
    check(out.startswith(b"HTTP/1.1 413"), f"413 while a chunked body is sent: {out[:80]!r}")
    out = raw(ctl, b"POST /v1/playback HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                   b"Connection: close\r\n\r\n0\r\n\r\n")
    check(out.startswith(b"HTTP/1.1 400") and b"a JSON body is required" in out,
          f"an empty chunked body is an empty body: {out[-80:]!r}")
    out = raw(ctl, b"GET /healthz HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n")
    check(out.startswith(b"HTTP/1.1 400") and b"duplicate Host" in out,
          f"duplicate Host, said in the detail: {out[-120:]!r}")
    ctl.error("POST", "/v1/playback", b"{not json", expect=400)
    ctl.error("POST", "/v1/playback", b"[1,2]", expect=400)
    ctl.error("POST", "/v1/playback", b"", expect=400)
    ctl.error("POST", "/v1/playback", b"[" * 50 + b"]" * 50, expect=400)
    ctl.error("POST", "/v1/playback", b'{"a":' * 20 + b"1" + b"}" * 20, expect=400)
    ctl.error("POST", "/v1/playback", {"title": "x"}, expect=415,
              headers={"Content-Type": "application/x-www-form-urlencoded"})
    # text/plain is read as JSON: what a page's fetch() sends with a string body, no preflight.
    ctl.error("POST", "/v1/playback", {"title": "nope"}, expect=404,
              headers={"Content-Type": "text/plain;charset=UTF-8"})
    ctl.error("POST", "/v1/playback", b'{"title":"a","title":"b"}', expect=400)
    # Expect: 100-continue gets its interim response, then the request completes.
    body = json.dumps({"title": "nope"}).encode()
    s = socket.create_connection(("127.0.0.1", ctl.port), timeout=10)
    s.sendall(b"POST /v1/playback HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
              b"Content-Type: application/json\r\nExpect: 100-continue\r\n"
              b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
    interim = s.recv(1024)
    check(interim == b"HTTP/1.1 100 Continue\r\n\r\n", f"100-continue {interim!r}")
    s.sendall(body)
    out = read_all(s)
    s.close()
    check(out.startswith(b"HTTP/1.1 404 Not Found"), "request after 100-continue")


def setup_catalog(ctl, pg):
    register(ctl, "movie1", encrypted=True,
             metadata={"name": "The Long Harbour", "synopsis": "A lighthouse keeper's winter.",
                       "year": 2021, "maturity_rating": "PG-13", "genres": ["Drama", "Mystery"],
                       "cast": [{"name": "Ada Lindqvist", "role": "actor", "character": "Keeper"},
                                {"name": "Tomas Berg", "role": "director"}]},
             markers={"intro": {"start": 1, "end": 3}, "credits": {"start": 10, "end": 12}})
    register(ctl, "kidsmovie", metadata={"name": "Pip the Penguin", "maturity_rating": "G",
                                         "genres": ["Kids", "Comedy"]})
    register(ctl, "show1-s1e1", series={"id": "show1", "name": "Night Shift", "season": 1,
                                        "episode": 1, "episode_name": "Pilot"},
             metadata={"maturity_rating": "TV-MA", "genres": ["Drama"]})
    register(ctl, "show1-s1e2", series={"id": "show1", "season": 1, "episode": 2,
                                        "episode_name": "Second Shift"})
    for t in ("movie1", "kidsmovie", "show1"):
        ctl.json("PUT", f"/v1/admin/titles/{t}/licences",
                 {"licences": [{"country": "GB"}, {"country": "se"}]}, admin=True)
    ctl.register_edge("edge-a", "eu-west", "http://edge-a.test:8080", capacity_mbps=10000)
    ctl.register_edge("edge-b", "eu-north", "http://edge-b.test:8080/")
    for e in ("edge-a", "edge-b"):
        ctl.heartbeat(e, {"load": 0.1, "titles": ["movie1"]})
    adult = ctl.json("POST", "/v1/profiles", {"name": "Alex"})
    kid = ctl.json("POST", "/v1/profiles", {"name": "Sam", "kids": True})
    check(kid["kids"] and kid["maturity_limit"] <= 1, "kids profile limit")
    # Each admin change leaves an audit line at info naming what changed, and who asked.
    by = r"; request \d+ from 127\.0\.0\.1\)"
    ctl.wait_log(r" info .*admin: title movie1 registered \(asset movie1, encrypted, \d+ files"
                 + by)
    ctl.wait_log(r" info .*admin: title show1 registered \(asset show1-s1e2, clear, \d+ files")
    ctl.wait_log(r" info .*admin: licences of title kidsmovie set \(2 window\(s\)" + by)
    ctl.wait_log(r" info .*admin: edge edge-b registered \(region eu-north, base_url "
                 r"http://edge-b\.test:8080, enabled, secret stored" + by)
    return adult, kid


def check_no_key_material(ctl):
    """No content key, URI-signing key or edge secret in the log, in hex or base64."""
    keys = ctl.json("GET", "/v1/admin/keys", admin=True)["keys"]
    secrets = [bytes.fromhex(CONTENT_KEY), bytes.fromhex(KEY_SECRET)]
    secrets += [bytes.fromhex(k["secret"]) for k in keys]
    log = "".join(ctl.log)
    for raw in secrets:
        for form in (raw.hex(), raw.hex().upper(), base64.b64encode(raw).decode().rstrip("="),
                     base64.urlsafe_b64encode(raw).decode().rstrip("=")):
            check(form not in log, f"key material in the log ({form[:8]}...)")
    for edge, secret in Control.edge_secrets.items():
        check(secret not in log, f"edge {edge}'s heartbeat secret in the log")


def test_admin_errors(ctl):
    mark = len(ctl.log)  # setup_catalog waited for its own audit lines
    ctl.error("POST", "/v1/admin/titles", {"title": "x"}, admin=True)
    a = make_asset("bad1")
    a["representations"] = []
    ctl.error("POST", "/v1/admin/titles", {"title": "bad1", "asset": a}, admin=True)
    a = make_asset("bad2")
    ctl.error("POST", "/v1/admin/titles", {"title": "other", "asset": a}, admin=True)
    a = make_asset("bad3")
    a["files"][0]["path"] = "../../etc/passwd"
    ctl.error("POST", "/v1/admin/titles", {"title": "bad3", "asset": a}, admin=True)
    a = make_asset("bad4", encrypted=True)
    ctl.error("POST", "/v1/admin/titles", {"title": "bad4", "asset": a,
                                           "key": {"kid": "ff" * 16, "key": "00" * 16}},
              admin=True)
    ctl.error("POST", "/v1/admin/titles", {"title": "bad'5", "asset": make_asset("bad'5")},
              admin=True)
    # A movie id cannot become a series.
    ctl.error("POST", "/v1/admin/titles",
              {"title": "ep-x", "asset": make_asset("ep-x"),
               "series": {"id": "movie1", "season": 1, "episode": 1}}, admin=True, expect=409)
    ctl.error("PUT", "/v1/admin/titles/nosuch/licences", {"licences": []}, admin=True,
              expect=404)
    ctl.error("PUT", "/v1/admin/titles/movie1/licences",
              {"licences": [{"country": "Great Britain"}]}, admin=True)
    ctl.error("PUT", "/v1/admin/titles/movie1/licences",
              {"licences": [{"country": "GB", "from": "yesterday-ish"}]}, admin=True)
    ctl.error("PUT", "/v1/admin/titles/movie1/licences", {"licences": "GB"}, admin=True)
    ctl.error("POST", "/v1/admin/edges", {"id": "e x", "region": "eu", "base_url": "http://a"},
              admin=True)
    ctl.error("POST", "/v1/admin/edges", {"id": "e1", "region": "eu",
                                          "base_url": "javascript:alert(1)"}, admin=True)
    ctl.error("POST", "/v1/admin/edges", {"id": "e1"}, admin=True)
    # Nor one that the token and title path appended to it would not follow as a path.
    for bad in ('http://a.test/"x', "http://a.test/<x>", "http://a.test/a b", "ftp://a.test/",
                "http://a.test/b?c", "http://a.test/b#d", "http://user:pw@a.test"):
        ctl.error("POST", "/v1/admin/edges", {"id": "e1", "region": "eu", "base_url": bad},
                  admin=True)
    # enabled is a boolean and capacity_mbps a whole number: "no" and 1 were cast by the
    # database, 1.5 refused in its words.
    for extra in ({"enabled": "no"}, {"enabled": 1}, {"capacity_mbps": 1.5}):
        ctl.error("POST", "/v1/admin/edges", dict({"id": "e1", "region": "eu",
                                                   "base_url": "http://e1.test"}, **extra),
                  admin=True)
    # A refused change leaves no audit line: once an accepted one's line is in (the same
    # edge again, changing nothing), it is the only one since the refusals began.
    ctl.register_edge("edge-a", "eu-west", "http://edge-a.test:8080", capacity_mbps=10000)
    ctl.wait_log(r"admin: edge edge-a registered \(.*, secret unchanged;", start=mark)
    audit = [l for l in ctl.log[mark:] if "admin: " in l]
    check(len(audit) == 1, f"audit lines for refused changes: {audit}")
    # A region no country_prefixes entry names (a typo) is taken, with a warning: steering
    # would send that edge no region's viewers first, and nothing said so.
    ctl.register_edge("e-typo", "eu-wset", "http://e-typo.test", enabled=False)
    ctl.wait_log(r"warn .*steering: edge e-typo is in region eu-wset, which no "
                 r"country_prefixes entry names", start=mark)
    check(not [l for l in ctl.log[mark:] if "steering: edge edge-a" in l],
          "a warning for a region country_prefixes names")


def test_edge_base_url_authority(ctl):
    """A base_url whose authority a player's URL parser refuses is refused 400, saying why
    (each was registered, and then stood first among the MPD's BaseURLs)."""
    for bad, why in (("http://bad-port.test:99999", "the port is not a number in 1..65535"),
                     ("http://bad-port.test:abc", "the port is not a number in 1..65535"),
                     ("http://bad-port.test:0/", "the port is not a number in 1..65535"),
                     ("http://bad-port.test:/", "the port is not a number in 1..65535"),
                     ("http://[::1", "the host's '[' is not closed"),
                     ("http://[::1]x/", "followed by more than a port"),
                     ("http://[::zz]:8080/", "not an IPv6 address"),
                     ("http://1.2.3.999/", "not a dotted IPv4 address"),
                     ("http://bad%2Fhost/", "the host is not a name")):
        o = ctl.error("POST", "/v1/admin/edges",
                      {"id": "edge-bad", "region": "eu-west", "base_url": bad}, admin=True)
        check(o["detail"].startswith('"base_url": ') and why in o["detail"],
              f"{bad}: detail {o['detail']!r}")


def test_catalog(ctl, adult, kid):
    all_ = ctl.json("GET", "/v1/catalog")
    ids = [t["id"] for t in all_["items"]]
    check(set(ids) == {"movie1", "kidsmovie", "show1"}, f"browse all {ids}")
    check(all(t["available"] for t in all_["items"]), "available in GB (loopback)")
    drama = ctl.json("GET", "/v1/catalog?genre=drama")
    check({t["id"] for t in drama["items"]} == {"movie1", "show1"}, "browse by genre")
    check(ctl.json("GET", "/v1/catalog?genre=Drama")["items"] == drama["items"], "genre case")
    page = ctl.json("GET", "/v1/catalog?limit=1&offset=1")
    check(len(page["items"]) == 1 and page["items"][0]["id"] == ids[1], "paging")
    kids = ctl.json("GET", f"/v1/catalog?{pq(kid)}")
    check([t["id"] for t in kids["items"]] == ["kidsmovie"], "kids never see above the limit")
    ctl.error("GET", "/v1/catalog?profile=abc")
    ctl.error("GET", "/v1/catalog?profile=999999", expect=404)
    ctl.error("GET", "/v1/catalog?limit=0")
    ctl.error("GET", "/v1/catalog?limit=1000")
    ctl.error("GET", "/v1/catalog?offset=-1")
    # Counts are digits: an empty value, a sign or a space was taken (the default, or 5).
    for q in ("limit=", "offset=", "limit=%2B5", "limit=%205", "limit=5x"):
        ctl.error("GET", f"/v1/catalog?{q}")
    ctl.error("GET", "/v1/catalog?genre=%zz")
    g = ctl.json("GET", "/v1/catalog/genres")
    check({"genre": "drama", "titles": 2} in g["genres"], "genres")
    kg = ctl.json("GET", f"/v1/catalog/genres?{pq(kid)}")
    check({x["genre"] for x in kg["genres"]} == {"kids", "comedy"}, "kids genres")
    ctl.error("GET", "/v1/catalog/genres?profile=999999", expect=404)

    # search: title, person, genre, episode name; ranked
    s = ctl.json("GET", "/v1/search?q=harbour")
    check([t["id"] for t in s["items"]] == ["movie1"], "search by title")
    s = ctl.json("GET", "/v1/search?q=Lindqvist")
    check([t["id"] for t in s["items"]] == ["movie1"], "search by person")
    s = ctl.json("GET", "/v1/search?q=drama")
    check({t["id"] for t in s["items"]} == {"movie1", "show1"}, "search by genre")
    s = ctl.json("GET", "/v1/search?q=pilot")
    check([t["id"] for t in s["items"]] == ["show1"], "search by episode name")
    s = ctl.json("GET", "/v1/search?q=lighthouse+winter")
    check([t["id"] for t in s["items"]] == ["movie1"], "search synopsis (stemmed)")
    s = ctl.json("GET", "/v1/search?q=night+OR+harbour")
    check(len(s["items"]) == 2 and s["items"][0]["rank"] >= s["items"][1]["rank"], "ranked")
    s = ctl.json("GET", f"/v1/search?q=night&{pq(kid)}")
    check(s["items"] == [], "kids search filtered")
    ctl.error("GET", "/v1/search")
    ctl.error("GET", "/v1/search?q=")
    ctl.error("GET", "/v1/search?q=" + "a" * 300)

    t = ctl.json("GET", "/v1/titles/show1")
    check(t["kind"] == "series" and len(t["seasons"]) == 1, "series details")
    eps = t["seasons"][0]["episodes"]
    check([e["id"] for e in eps] == ["show1-s1e1", "show1-s1e2"], "episodes ordered")
    m = ctl.json("GET", "/v1/titles/movie1")
    check(m["year"] == 2021 and m["encrypted"] and m["maturity_rating"] == "PG-13", "movie")
    check([c["name"] for c in m["cast"]] == ["Ada Lindqvist", "Tomas Berg"], "cast order")
    check(m["audio"] == ["en"] and m["subtitles"] == ["en"], "tracks")
    ctl.error("GET", "/v1/titles/nosuch", expect=404)
    ctl.error("GET", f"/v1/titles/movie1?{pq(kid)}", expect=404)
    ctl.json("GET", f"/v1/titles/kidsmovie?{pq(kid)}")

    ctl.error("POST", "/v1/profiles", {"name": ""})
    ctl.error("POST", "/v1/profiles", {"name": "a\u0001b"})  # was stored, control byte and all
    ctl.error("POST", "/v1/profiles", {"name": "x", "maturity_limit": 9})
    ctl.error("POST", "/v1/profiles", {"name": "x", "kids": "yes"})


def test_playback(ctl, pg, adult, kid):
    s = ctl.json("POST", "/v1/playback", {"title": "movie1", **pb(adult)})
    sid = s["session"]
    # Signed and self-contained (control/sessid.h): "S1.<claims>.<mac>", URL-safe.
    check(re.fullmatch(r"S1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}", sid) and len(sid) <= 1024,
          f"session id {sid}")
    check(re.fullmatch(r"[0-9a-f]{32}", row_id(sid)) and
          pg.psql(f"SELECT title_id FROM sessions WHERE id = '{row_id(sid)}'") == "movie1",
          "a profile's session is stored at once, under the id's nonce")
    check(s["manifest_url"] == f"http://control.test:7000/v1/manifest/{sid}.mpd", "mpd url")
    check(s["license_url"].endswith(f"/v1/license/clearkey?session={sid}"), "licence url")
    check(s["steering_url"].endswith(f"/v1/steering/{sid}"), "steering url")
    check(s["hls_url"] is None, "encrypted titles are DASH-only")
    check(s["resume_position"] == 0 and s["skip_intro"] == {"start": 1, "end": 3}, "markers")
    check(s["country"] == "GB", "country from prefix table")

    clear = ctl.json("POST", "/v1/playback", {"title": "kidsmovie", **pb(kid)})
    check(clear["hls_url"].endswith(".m3u8") and clear["license_url"] is None, "clear title")
    ep = ctl.json("POST", "/v1/playback", {"title": "show1", **pb(adult)})
    check(ep["episode"] == "show1-s1e1", "series starts at the first episode")
    ep2 = ctl.json("POST", "/v1/playback", {"title": "show1", "episode": "show1-s1e2"})
    check(ep2["asset"] == "show1-s1e2", "explicit episode")

    ctl.error("POST", "/v1/playback", {"title": "nosuch"}, expect=404)
    ctl.error("POST", "/v1/playback", {"title": "show1", "episode": "movie1"}, expect=404)
    ctl.error("POST", "/v1/playback", {"title": "movie1", "episode": "show1-s1e1"}, expect=404)
    ctl.error("POST", "/v1/playback", {"title": "movie1", "profile": 99999}, expect=404)
    ctl.error("POST", "/v1/playback", {"title": "movie1", **pb(kid)}, expect=403)
    ctl.error("POST", "/v1/playback", {"title": 5})
    ctl.error("POST", "/v1/playback", {**pb(adult)})
    ctl.error("POST", "/v1/playback", {"title": "movie1", "profile": "1"})
    ctl.error("POST", "/v1/playback", {"title": "movie1", "profile": -1})
    ctl.error("POST", "/v1/playback", {"title": "x" * 200})
    # A first visit: the profile is made with the session, in one request.
    first = ctl.json("POST", "/v1/playback", {"title": "movie1", "new_profile": "first visit"})
    check(isinstance(first.get("profile"), int) and
          first["profile"] not in (adult["id"], kid["id"]),
          f"new profile made: {first.get('profile')}")
    check(re.fullmatch(r"[0-9a-f]{64}", first.get("profile_key") or ""),
          f"the new profile's key comes with it: {first.get('profile_key')}")
    again = ctl.json("POST", "/v1/playback", {"title": "movie1", "profile": first["profile"],
                                              "profile_key": first["profile_key"]})
    check(again["session"] != first["session"], "the new profile plays again")
    check("profile" not in again and "profile_key" not in again,
          "no profile member unless one was made")
    ctl.error("POST", "/v1/playback", {"title": "movie1", **pb(adult), "new_profile": "x"})
    ctl.error("POST", "/v1/playback", {"title": "movie1", "new_profile": ""})
    ctl.error("POST", "/v1/playback", {"title": "movie1", "new_profile": "x" * 101})
    ctl.error("POST", "/v1/playback", {"title": "movie1", "new_profile": 7})
    n_profiles = pg.psql("SELECT count(*) FROM profiles").strip()
    ctl.error("POST", "/v1/playback", {"title": "nosuch", "new_profile": "y"}, expect=404)
    check(pg.psql("SELECT count(*) FROM profiles").strip() == n_profiles,
          "a refused session leaves no profile behind")

    # Country from X-Forwarded-For only behind a trusted proxy (127.0.0.2 in the config).
    def play_from(src, xff):
        c = __import__("http.client").client.HTTPConnection("127.0.0.1", ctl.port, timeout=10,
                                                            source_address=(src, 0))
        return ctl.request("POST", "/v1/playback", {"title": "movie1"}, conn=c,
                           headers={"X-Forwarded-For": xff})
    st, _, b = play_from("127.0.0.2", "10.2.3.4")
    check(st == 451, f"trusted proxy: US client not licensed ({st} {b!r})")
    st, _, b = play_from("127.0.0.2", "10.2.3.4, 10.1.0.9")
    check(st == 200 and json.loads(b)["country"] == "SE", "right-most untrusted entry")
    st, _, b = play_from("127.0.0.3", "10.2.3.4")
    check(st == 200 and json.loads(b)["country"] == "GB", "untrusted peer: XFF ignored")
    st, _, b = play_from("127.0.0.2", "203.0.113.9")
    o = json.loads(b)
    check(st == 451 and "unknown" in o["detail"], "unknown country: 451")
    return sid


def test_licence_window(ctl, pg):
    register(ctl, "window1", metadata={"name": "Window"})

    def set_window(frm, until=None):
        lic = {"country": "GB", "from": db_time(pg, frm)}
        if until is not None:
            lic["until"] = db_time(pg, until)
        ctl.json("PUT", "/v1/admin/titles/window1/licences", {"licences": [lic]}, admin=True)

    set_window(1)  # starts in one second
    ctl.error("POST", "/v1/playback", {"title": "window1"}, expect=451)
    set_window(-1)  # started a second ago
    ctl.json("POST", "/v1/playback", {"title": "window1"})
    set_window(-3600, 1)  # ends in one second
    s = ctl.json("POST", "/v1/playback", {"title": "window1"})
    set_window(-3600, -1)  # ended a second ago
    ctl.error("POST", "/v1/playback", {"title": "window1"}, expect=451)
    # A session outliving its licence gets no more manifests, nor steering.
    ctl.error("GET", f"/v1/manifest/{s['session']}.mpd", expect=451)
    ctl.error("GET", f"/v1/steering/{s['session']}", expect=451)
    ctl.error("PUT", "/v1/admin/titles/window1/licences",
              {"licences": [{"country": "GB", "from": db_time(pg, 10), "until": db_time(pg, 5)}]},
              admin=True)

    # A time is RFC 3339 with its offset. One without was read in the database session's
    # zone, and words PostgreSQL takes were windows too ("infinity" made warm starts fail):
    # refused, naming the member, and the windows stay as they were.
    def windows():
        return pg.psql("SELECT string_agg(country || ' ' || "
                       "(extract(epoch FROM available_from) * 1000)::bigint || ' ' || "
                       "coalesce((extract(epoch FROM available_until) * 1000)::bigint::text, "
                       "'-'), ',' ORDER BY country) FROM licences WHERE title_id = 'window1'")

    before = windows()
    want = "want an RFC 3339 date-time with Z or a +hh:mm/-hh:mm offset, such as " \
           "2030-01-01T00:00:00Z (leave it out for "
    for k, v in (("from", "2030-01-01T00:00:00"), ("until", "2030-01-01"), ("from", "today"),
                 ("until", "infinity"), ("from", "-infinity"), ("until", "2030-01-01 00:00:00Z"),
                 ("until", "2030-01-01T00:00:00+0200"), ("from", "2030-01-01T00:00:00+24:00"),
                 ("from", "2030-01-01T00:00:00.Z"), ("until", "2030-01-01T00:00:00Z "),
                 ("from", 1893456000), ("until", "")):
        o = ctl.error("PUT", "/v1/admin/titles/window1/licences",
                      {"licences": [{"country": "GB"}, {"country": "SE", k: v}]}, admin=True)
        end = "now)" if k == "from" else "no end)"
        check(o["detail"] == f"licences[1].{k}: {want}{end}", f"{k} {v!r}: {o}")
    o = ctl.error("PUT", "/v1/admin/titles/window1/licences", {"licences": [{"country": "GB"}, 7]},
                  admin=True)
    check(o["detail"] == "licences[1] is not an object", f"a window that is no object: {o}")
    # The form is right but PostgreSQL knows no such offset (at most 15:59): still a 400.
    o = ctl.error("PUT", "/v1/admin/titles/window1/licences",
                  {"licences": [{"country": "GB", "until": "2030-01-01T00:00:00+16:00"}]},
                  admin=True)
    check(o["detail"].startswith("invalid licence: "), f"offset +16:00: {o}")
    check(windows() == before, f"refused windows changed the title's: {before} -> {windows()}")
    # With its offset a time is one instant, whatever the zone: 02:00+02:00 is 00:00Z.
    ctl.json("PUT", "/v1/admin/titles/window1/licences",
             {"licences": [{"country": "GB", "from": "2030-01-01T02:00:00+02:00",
                            "until": "2030-06-01t00:00:00.5z"},
                           {"country": "SE", "from": "2029-12-31T19:00:00-05:00"}]},
             admin=True)
    got = windows()
    check(got == "GB 1893456000000 1906502400500,SE 1893456000000 -", f"windows stored: {got}")


def test_manifest(ctl, sid, other_sid):
    st, h, body = ctl.request("GET", f"/v1/manifest/{sid}.mpd")
    check(st == 200 and h["content-type"] == "application/dash+xml", "mpd")
    check(h.get("cache-control") == "no-store", "manifests are not cached")
    root = ET.fromstring(body)
    bases = root.findall("d:BaseURL", MPD_NS)
    check([b.get("serviceLocation") for b in bases] == ["edge-a", "edge-b"],
          "edges ranked by region (client eu-west)")
    check(root.find("d:ContentSteering", MPD_NS) is not None, "ContentSteering")
    period = root.find("d:Period", MPD_NS)
    sets = period.findall("d:AdaptationSet", MPD_NS)
    kinds = [a.get("contentType") for a in sets]
    check("video" in kinds and "audio" in kinds and "text" in kinds, f"adaptation sets {kinds}")
    video = sets[kinds.index("video")]
    check(len(video.findall("d:Representation", MPD_NS)) == 2, "all video representations")
    check(video.find("d:SegmentTemplate", MPD_NS) is not None, "SegmentTemplate")
    cps = [c.get("schemeIdUri") for c in video.findall("d:ContentProtection", MPD_NS)]
    check("urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e" in cps, "ClearKey ContentProtection")
    check(period.find("d:EventStream", MPD_NS) is not None, "skip-intro EventStream")
    secrets = {"k1": bytes.fromhex(KEY_SECRET)}
    m = re.fullmatch(r"http://edge-a\.test:8080/s/([^/]+)/movie1/", bases[0].text)
    check(m, f"BaseURL shape {bases[0].text}")
    header, claims = verify_token(m.group(1), secrets)
    check(header["kid"] == "k1" and claims["cdniv"] == 1, "kid and cdniv")
    check(claims["exp"] > time.time() + 3000 and claims["nbf"] <= time.time(), "exp/nbf")
    uc = claims["cdniuc"]
    check(uc.startswith("regex:"), "cdniuc regex")
    rx = re.compile(uc[len("regex:"):])
    # Matched against the whole request URI with the signing package removed (RFC 9246).
    check(rx.search("http://edge-a.test:8080/movie1/video-240p/seg-1.m4s"),
          "token covers the title")
    check(rx.search("https://edge-b.test/movie1/audio-en/init.mp4"), "on any edge")
    check(not rx.search("http://edge-a.test:8080/kidsmovie/video-240p/seg-1.m4s"),
          "token scoped to one title")
    check(not rx.search("http://edge-a.test:8080/movie1x/video-240p/seg-1.m4s"),
          "no prefix confusion")
    check(not rx.search("http://edge-a.test/x/movie1/video-240p/seg-1.m4s"), "anchored")
    # Both BaseURLs carry the same token.
    check(all(m.group(1) in b.text for b in bases), "token on every BaseURL")

    ctl.error("GET", f"/v1/manifest/{sid}.m3u8", expect=404)  # encrypted: DASH-only
    st, h, body = ctl.request("GET", f"/v1/manifest/{other_sid}.m3u8")
    check(st == 200 and body.startswith(b"#EXTM3U"), "HLS master")
    uris = [l for l in body.decode().splitlines() if l and not l.startswith("#")]
    check(uris and uris[0].startswith(f"{other_sid}/"), f"media playlist URIs {uris}")
    st, h, media = ctl.request("GET", f"/v1/manifest/{uris[0]}")
    check(st == 200 and b"#EXT-X-MAP" in media and b"/s/" in media, "HLS media playlist")
    ctl.error("GET", f"/v1/manifest/{other_sid}/nosuch.m3u8", expect=404)
    ctl.error("GET", "/v1/manifest/" + "0" * 32 + ".mpd", expect=404)
    ctl.error("GET", "/v1/manifest/xyz.mpd", expect=404)
    ctl.error("GET", f"/v1/manifest/{sid}.txt", expect=404)


def test_inline_manifest(ctl, sid):
    # The MPD in the session's answer: the same document manifest_url gives (tokens aside:
    # each is signed when its answer is made).
    s = ctl.json("POST", "/v1/playback", {"title": "movie1", "inline_manifest": True})
    check(isinstance(s.get("manifest"), str), f"inline manifest {s.get('manifest')!r:.80}")
    st, _, body = ctl.request("GET", f"/v1/manifest/{s['session']}.mpd")
    untoken = lambda t: re.sub(r"/s/[^/]+/", "/s/T/", t)
    check(st == 200 and untoken(s["manifest"]) == untoken(body.decode()),
          "inline MPD is the session's MPD")
    root = ET.fromstring(s["manifest"])
    bases = root.findall("d:BaseURL", MPD_NS)
    check([b.get("serviceLocation") for b in bases] == ["edge-a", "edge-b"], "ranked BaseURLs")
    check(s["session"] in root.find("d:ContentSteering", MPD_NS).text, "steering of this session")
    check("manifest" not in ctl.json("POST", "/v1/playback", {"title": "movie1"}),
          "no MPD unless asked")
    check("manifest" not in ctl.json("POST", "/v1/playback",
                                     {"title": "movie1", "inline_manifest": False}),
          "no MPD when declined")
    ctl.error("POST", "/v1/playback", {"title": "movie1", "inline_manifest": "yes"})
    ctl.error("POST", "/v1/playback", {"title": "nosuch", "inline_manifest": True}, expect=404)


def test_steering(ctl, pg, sid):
    # The player steers through its MPD's ContentSteering URL, which names the MPD's pathways.
    mpd = ET.fromstring(ctl.json("GET", f"/v1/manifest/{sid}.mpd"))
    mpd_steer = mpd.find("d:ContentSteering", MPD_NS).text
    check(mpd_steer == f"http://control.test:7000/v1/steering/{sid}?pathways=edge-a,edge-b",
          f"MPD steering URL {mpd_steer}")
    st = ctl.json("GET", f"/v1/steering/{sid}")
    check(st["VERSION"] == 1 and st["TTL"] == 10, "steering basics")
    check(st["PATHWAY-PRIORITY"] == ["edge-a", "edge-b"], f"priority {st}")
    check(st["RELOAD-URI"].endswith(f"/v1/steering/{sid}"), "reload uri")
    # The player's pathway and throughput are read (their weighting against equal edges:
    # test_steering_ranking); the answer still lists every live edge.
    st = ctl.json("GET", f'/v1/steering/{sid}?_DASH_pathway=%22edge-b%22&_DASH_throughput=9000000')
    check(sorted(st["PATHWAY-PRIORITY"]) == ["edge-a", "edge-b"], f"with query {st}")
    # edge-a stops heartbeating: gone after two periods (heartbeat_period 60s).
    pg.psql("UPDATE edge_health SET at = now() - interval '121 seconds' WHERE edge_id = 'edge-a'")
    st = ctl.json("GET", f"/v1/steering/{sid}")
    check(st["PATHWAY-PRIORITY"] == ["edge-b"], f"dead edge dropped {st}")
    pg.psql("UPDATE edge_health SET at = now() - interval '119 seconds' WHERE edge_id = 'edge-a'")
    st = ctl.json("GET", f"/v1/steering/{sid}")
    check(st["PATHWAY-PRIORITY"][0] == "edge-a", f"still alive under two periods {st}")
    # A loaded edge loses its region bonus.
    ctl.heartbeat("edge-a", {"load": 0.99, "titles": ["movie1"]})
    st = ctl.json("GET", f"/v1/steering/{sid}")
    check(st["PATHWAY-PRIORITY"][0] == "edge-b", f"loaded edge demoted {st}")
    ctl.heartbeat("edge-a", {"load": 0.1, "titles": ["movie1"]})
    # An edge registered after the session reaches the player as a clone.
    ctl.register_edge("edge-c", "eu-west", "http://edge-c.test:8080")
    pg.psql("UPDATE edges SET registered_at = now() + interval '1 hour' WHERE id = 'edge-c'")
    ctl.heartbeat("edge-c", {"load": 0, "titles": ["movie1"]})
    st = ctl.json("GET", mpd_steer[len("http://control.test:7000"):])
    check("edge-c" in st["PATHWAY-PRIORITY"], f"new edge ranked {st}")
    clones = st.get("PATHWAY-CLONES", [])
    check([(c["BASE-ID"], c["ID"], c["URI-REPLACEMENT"]) for c in clones] ==
          [("edge-a", "edge-c", {"HOST": "edge-c.test:8080"})], f"clone for the new edge {st}")
    check(st["RELOAD-URI"] == mpd_steer, f"RELOAD-URI keeps the MPD's pathways {st}")
    # Without the MPD's list nothing is known to be missing from it: nothing is cloned.
    st = ctl.json("GET", f"/v1/steering/{sid}")
    check("edge-c" in st["PATHWAY-PRIORITY"] and "PATHWAY-CLONES" not in st,
          f"no clones without the MPD's pathways {st}")
    # test_steering_pathways.py: edges the MPD left out, two instances, the inline MPD.
    # No edge alive: an MPD cannot be made (503), steering returns an empty priority.
    pg.psql("UPDATE edge_health SET at = now() - interval '1 hour'")
    ctl.error("GET", f"/v1/manifest/{sid}.mpd", expect=503)
    st = ctl.json("GET", f"/v1/steering/{sid}")
    check(st["PATHWAY-PRIORITY"] == [], f"no live edges {st}")
    # The session is still made; its answer says the MPD is not there (manifest_url says why).
    s = ctl.json("POST", "/v1/playback", {"title": "movie1", "inline_manifest": True})
    check(s["manifest"] is None and s["session"], f"no inline MPD without edges {s}")
    ctl.error("GET", f"/v1/manifest/{s['session']}.mpd", expect=503)
    for e in ("edge-a", "edge-b", "edge-c"):
        ctl.heartbeat(e, {"load": 0.1, "titles": ["movie1"]})
    ctl.error("GET", "/v1/steering/" + "f" * 32, expect=404)
    ctl.error("GET", "/v1/steering/nothex", expect=404)


def test_steering_ranking(binary, tmp, ctl, pg):
    """Two edges in the client's region at equal load, so only the player's pathway and
    throughput and the edges' holdings tell them apart (steering.c: +400 holds the title,
    +150 the current pathway (the only one named), -300 instead for a named one whose
    throughput is below 1 Mbit/s; ties by
    capacity, then id). Then the same with the warm cache on (the default cache_ttl)."""
    ctl.register_edge("rank-x", "eu-west", "http://rank-x.test:8080", capacity_mbps=1000)
    ctl.register_edge("rank-y", "eu-west", "http://rank-y.test:8080", capacity_mbps=1000)
    pg.psql("UPDATE edge_health SET at = now() - interval '1 hour' "
            "WHERE edge_id NOT IN ('rank-x', 'rank-y')")

    def hold(x_titles, y_titles):
        ctl.heartbeat("rank-x", {"load": 0.2, "titles": x_titles})
        ctl.heartbeat("rank-y", {"load": 0.2, "titles": y_titles})

    def order(c, sid, query=""):
        st = c.json("GET", f"/v1/steering/{sid}" + (f"?{query}" if query else ""))
        return st["PATHWAY-PRIORITY"]

    def pathway(ids, tputs=None):
        q = "_DASH_pathway=%22" + ",".join(ids) + "%22"
        return q if tputs is None else q + "&_DASH_throughput=" + ",".join(map(str, tputs))

    X, Y = ["rank-x", "rank-y"], ["rank-y", "rank-x"]
    hold(["movie1"], ["movie1"])
    sid = ctl.json("POST", "/v1/playback", {"title": "movie1"})["session"]
    check(order(ctl, sid) == X, "equal edges: by id")
    # Stickiness: the pathway in use (the only one listed) wins the tie. Several listed are
    # those used since the last request, in the order first used: none is taken as current,
    # and the order changes nothing.
    check(order(ctl, sid, pathway(["rank-y"])) == Y, "the current pathway is kept")
    check(order(ctl, sid, pathway(["rank-y", "rank-x"])) == X and
          order(ctl, sid, pathway(["rank-x", "rank-y"])) == X,
          "two pathways listed: by id, in either order")
    check(order(ctl, sid, pathway(["rank-y"], [9000000])) == Y,
          "a good throughput keeps the current pathway")
    check(order(ctl, sid, pathway(["rank-y"], [""])) == Y, "an unknown throughput keeps it")
    # Struggling: below 1 Mbit/s on the current pathway demotes it, however it would tie.
    check(order(ctl, sid, pathway(["rank-x", "rank-y"], [9000000, 999999])) == X and
          order(ctl, sid, pathway(["rank-y", "rank-x"], [999999, 9000000])) == X,
          "a poor throughput demotes its pathway, listed first or last")
    check(order(ctl, sid, pathway(["rank-y", "rank-x"], [9000000, 500000])) == Y,
          "a poor throughput demotes it below an edge with no bonus")
    check(order(ctl, sid, pathway(["rank-y"], [1000000])) == Y, "1 Mbit/s is not poor")
    # Holdings: the edge that holds the title beats one that would fill from the origin,
    # even against the player's current pathway.
    hold(["other"], ["movie1"])
    check(order(ctl, sid) == Y, "the edge holding the title first")
    check(order(ctl, sid, pathway(["rank-x"])) == Y, "holding outweighs stickiness")
    body = ctl.json("GET", f"/v1/manifest/{sid}.mpd")
    bases = ET.fromstring(body).findall("d:BaseURL", MPD_NS)
    check([b.get("serviceLocation") for b in bases] == Y, "the MPD ranks by holdings too")
    hold([], [])
    check(order(ctl, sid) == X, "neither holds it: by id again")

    # The warm cache (control/cache.c): holdings looked up in the cached edge snapshot, with
    # many titles each so the sorted lookup is exercised. A change is seen once the snapshot
    # it replaces is older than cache_ttl (default 1 s; allow for the refresh query's time).
    many = [f"t{i:03d}" for i in range(50, 0, -1)]
    hold(many, many + ["movie1"])
    warm = Control(binary, tmp, pg, name="ctl-warm", cache_ttl=None).start()
    check(order(warm, sid) == Y and order(warm, sid) == Y, "warm: the holding edge first")
    check(order(warm, sid, pathway(["rank-x"])) == Y, "warm: holding outweighs stickiness")
    hold(["zzz", "movie1", "aaa"] + many, many)
    deadline = time.monotonic() + 1.0 + 3.0
    while order(warm, sid, pathway(["rank-y"])) != X:
        check(time.monotonic() < deadline, "warm: holdings change not seen after cache_ttl")
        time.sleep(0.1)
    check(order(warm, sid) == X and order(warm, sid, pathway(["rank-y"])) == X,
          "warm: the new holdings stay ranked")
    check(warm.stop() == 0, "warm instance exits 0")
    # Leave the edges as test_steering left them.
    pg.psql("UPDATE edge_health SET at = now() - interval '1 hour' "
            "WHERE edge_id IN ('rank-x', 'rank-y')")
    for e in ("edge-a", "edge-b", "edge-c"):
        ctl.heartbeat(e, {"load": 0.1, "titles": ["movie1"]})


def test_steering_past_256_edges(ctl, pg, sid):
    """More enabled edges than a ranking takes (256): those alive in the client's region come
    first, then those alive elsewhere, then the rest. In id order alone, 300 live edges of
    another region sorting first left the client's own region out (it was sent to us-east)."""
    pg.psql("UPDATE edge_health SET at = now() - interval '1 hour'")
    pg.psql("INSERT INTO edges (id, region, base_url) SELECT 'aaa-' || lpad(i::text, 3, '0'), "
            "'us-east', 'http://aaa-' || i || '.test' FROM generate_series(1, 300) i")
    pg.psql("INSERT INTO edge_health (edge_id, at) SELECT id, now() FROM edges "
            "WHERE id LIKE 'aaa-%'")
    ctl.register_edge("zz-local", "eu-west", "http://zz-local.test:8080")
    try:
        ctl.heartbeat("zz-local", {"load": 0.1, "titles": ["movie1"]})
        st = ctl.json("GET", f"/v1/steering/{sid}")
        check(st["PATHWAY-PRIORITY"][:1] == ["zz-local"],
              f"the client's region first: {st['PATHWAY-PRIORITY'][:3]}")
        body = ctl.json("GET", f"/v1/manifest/{sid}.mpd")
        first = ET.fromstring(body).find("d:BaseURL", MPD_NS)
        check(first is not None and first.get("serviceLocation") == "zz-local",
              "the MPD's first BaseURL is the client's region's")
    finally:
        pg.psql("DELETE FROM edges WHERE id LIKE 'aaa-%' OR id = 'zz-local'")
        for e in ("edge-a", "edge-b", "edge-c"):
            ctl.heartbeat(e, {"load": 0.1, "titles": ["movie1"]})


def test_encrypted_title_needs_its_key(ctl, pg):
    """An encrypted asset with no content key given or stored is refused, not registered as a
    title every licence request would be refused for (it was 200, then 403 "title is not
    encrypted" at the licence)."""
    body = {"title": "nokey1", "asset": make_asset("nokey1", encrypted=True)}
    st, _, b = ctl.request("POST", "/v1/admin/titles", body, admin=True)
    check(st == 400 and b"none is stored for this title" in b,
          f"an encrypted asset without its key: {st} {b[:200]!r}")
    check(pg.psql("SELECT count(*) FROM assets WHERE id = 'nokey1'") == "0", "registered")
    # Registered with its key, the same asset again without one keeps the stored key.
    register(ctl, "nokey1", encrypted=True)
    ctl.json("POST", "/v1/admin/titles", body, admin=True)
    check(pg.psql("SELECT count(*) FROM content_keys WHERE asset_id = 'nokey1'") == "1",
          "the stored key not kept")



def test_markers_within_duration(ctl, pg):
    """A marker ends at the asset's duration at the latest (12 s for make_asset's three 4 s
    segments); one past it was stored and handed to players as a seek target after the end."""
    register(ctl, "mark1", markers={"credits": {"start": 10, "end": 12}})
    for mk in ({"intro": {"start": 1, "end": 13}}, {"credits": {"start": 12.5, "end": 14}}):
        st, _, b = ctl.request("POST", "/v1/admin/titles", {
            "title": "mark1", "asset": make_asset("mark1"), "markers": mk}, admin=True)
        check(st == 400 and b"past the asset's duration (12 s)" in b,
              f"markers {mk}: {st} {b[:200]!r}")
    check(pg.psql("SELECT string_agg(kind || ' ' || end_s, ',') FROM markers "
                  "WHERE asset_id = 'mark1'") == "credits 12",
          "a refused registration changed the stored markers")

def test_clearkey(ctl, pg, sid, clear_sid):
    kid_b64 = base64.urlsafe_b64encode(bytes.fromhex("00112233445566778899aabbccddeeff")) \
        .rstrip(b"=").decode()
    req = {"kids": [kid_b64], "type": "temporary"}
    lic = ctl.json("POST", f"/v1/license/clearkey?session={sid}", req)
    check(len(lic["keys"]) == 1 and lic["keys"][0]["kty"] == "oct", "licence")
    check(b64url_dec(lic["keys"][0]["k"]).hex() == CONTENT_KEY, "the title's key")
    # The licence follows the session's country, not the caller's (docs/control.md, ClearKey):
    # the GB session's key is granted to a US address behind the trusted proxy, where a new
    # session would be refused (test_playback).
    c = __import__("http.client").client.HTTPConnection("127.0.0.1", ctl.port, timeout=10,
                                                        source_address=("127.0.0.2", 0))
    st, _, b = ctl.request("POST", f"/v1/license/clearkey?session={sid}", req, conn=c,
                           headers={"X-Forwarded-For": "10.2.3.4"})
    c.close()
    check(st == 200 and b64url_dec(json.loads(b)["keys"][0]["k"]).hex() == CONTENT_KEY,
          f"licence from another country on a live session: {st} {b[:200]!r}")
    # Refusals carry no key bytes.
    for path, body, status in [
        ("/v1/license/clearkey", req, 403),
        ("/v1/license/clearkey?session=" + "0" * 32, req, 403),
        ("/v1/license/clearkey?session=zzz", req, 403),
        (f"/v1/license/clearkey?session={clear_sid}", req, 403),
        (f"/v1/license/clearkey?session={sid}", {"kids": ["AAAAAAAAAAAAAAAAAAAAAA"]}, 403),
        (f"/v1/license/clearkey?session={sid}", {"kids": []}, 400),
        (f"/v1/license/clearkey?session={sid}", {"kids": ["!!"]}, 400),
        (f"/v1/license/clearkey?session={sid}", b"nope", 400),
        # 17 kids in a small body: a bad request, not one too large (it was 413).
        (f"/v1/license/clearkey?session={sid}", {"kids": [kid_b64] * 17}, 400),
        (f"/v1/license/clearkey?session={sid}", {"kids": [kid_b64], "x": "y" * 5000}, 413),
    ]:
        st, h, b = ctl.request("POST", path, body)
        check(st == status, f"clearkey refusal {path} {str(body)[:80]}: {st} {b!r}")
        check(CONTENT_KEY.encode() not in b and b'"k"' not in b, "no key bytes in a refusal")
        if status in (400, 413):
            want = "payload_too_large" if status == 413 else "bad_request"
            check(json.loads(b)["error"] == want, f"{status}'s error code: {b!r}")
    # What the body is comes first: over the limit 413 and of another type 415, whichever
    # session it names (a dead session's big body was 403; any type was taken).
    st, _, b = ctl.request("POST", "/v1/license/clearkey?session=zzz",
                           {"kids": [kid_b64], "x": "y" * 5000})
    check(st == 413, f"a big body for a dead session: {st} {b[:200]!r}")
    for ctype in ("image/png", "application/jsonp", "text/plainx"):
        st, _, b = ctl.request("POST", f"/v1/license/clearkey?session={sid}",
                               json.dumps(req).encode(), headers={"Content-Type": ctype})
        check(st == 415 and b'"k"' not in b, f"a licence request typed {ctype}: {st} {b[:200]!r}")
        st, _, b = ctl.request("POST", "/v1/playback", json.dumps({"title": "movie1"}).encode(),
                               headers={"Content-Type": ctype})
        check(st == 415, f"a playback start typed {ctype}: {st} {b[:200]!r}")
    st, _, b = ctl.request("POST", f"/v1/license/clearkey?session={sid}",
                           json.dumps(req).encode(),
                           headers={"Content-Type": "application/json; charset=utf-8"})
    check(st == 200, f"application/json with a charset: {st} {b[:200]!r}")
    # Licence gone (window ended) → 451, still no key.
    pg.psql("UPDATE licences SET available_from = now() - interval '1 hour', "
            "available_until = now() - interval '1 second' WHERE title_id = 'movie1'")
    st, _, b = ctl.request("POST", f"/v1/license/clearkey?session={sid}", req)
    check(st == 451 and b'"k"' not in b, "licence for an unlicensed title")
    pg.psql("UPDATE licences SET available_until = NULL WHERE title_id = 'movie1'")
    # Expired session → 403.
    # The row can only end a session early: an operator's expiry holds on every instance.
    pg.psql("UPDATE sessions SET expires_at = now() - interval '1 second' "
            f"WHERE id = '{row_id(sid)}'")
    ctl.error("POST", f"/v1/license/clearkey?session={sid}", req, expect=403)
    ctl.error("GET", f"/v1/manifest/{sid}.mpd", expect=404)
    pg.psql("UPDATE sessions SET expires_at = now() + interval '1 hour' "
            f"WHERE id = '{row_id(sid)}'")
    # Keys never reach the log.
    check(CONTENT_KEY not in "".join(ctl.log), "key in the log")


def test_reports(ctl, pg, adult):
    tv = ctl.json("POST", "/v1/playback", {"title": "movie1", **pb(adult)})
    ctl.json("POST", "/v1/playback/report", {"session": tv["session"], "position": 7.5,
                                             "quality": "720p", "device": "tv"})
    cw = ctl.json("GET", f"/v1/continue-watching?{pq(adult)}")
    item = [i for i in cw["items"] if i["title"] == "movie1"][0]
    check(item["position"] == 7.5 and item["device"] == "tv", "continue watching")
    # The report row itself: what was sent, in the day's own partition (made ahead by
    # sluice_report_partitions at start), not the default one that only catches strays.
    row = pg.psql("SELECT tableoid::regclass, to_char(reported_at, 'YYYYMMDD'), "
                  "abs(extract(epoch FROM now() - reported_at)) < 60, position, quality, device "
                  f"FROM playback_reports WHERE session_id = '{row_id(tv['session'])}'")
    part, day, recent, pos, quality, device = row.split("|")
    check(recent == "t" and pos == "7.5" and quality == "720p" and device == "tv",
          f"report row {row!r}")
    check(part == f"playback_reports_{day}", f"a report made now is in {part}, not its day's")
    check(pg.psql("SELECT count(*) FROM playback_reports_default") == "0",
          "reports in the default partition")
    phone = ctl.json("POST", "/v1/playback", {"title": "movie1", **pb(adult)})
    check(phone["resume_position"] == 7.5, "a report from a TV is visible to the phone at once")
    ep = ctl.json("POST", "/v1/playback", {"title": "show1", "episode": "show1-s1e2",
                                           **pb(adult)})
    ctl.json("POST", "/v1/playback/report", {"session": ep["session"], "position": 4,
                                             "device": "phone"})
    cw = ctl.json("GET", f"/v1/continue-watching?{pq(adult)}")
    check(cw["items"][0]["title"] == "show1" and cw["items"][0]["episode"] == "show1-s1e2",
          "most recent first, with the episode")
    again = ctl.json("POST", "/v1/playback", {"title": "show1", **pb(adult)})
    check(again["episode"] == "show1-s1e2" and again["resume_position"] == 4,
          "series resumes at the episode in progress")
    tr = ctl.json("GET", "/v1/catalog/trending")
    check({t["id"] for t in tr["items"]} >= {"movie1", "show1"}, f"trending {tr}")
    stored = metric(ctl, "sluice_control_reports_total")
    ctl.error("POST", "/v1/playback/report", {"session": tv["session"]})
    ctl.error("POST", "/v1/playback/report", {"session": tv["session"], "position": -1})
    # Past the title's duration: the database refuses it (it was counted all the same).
    ctl.error("POST", "/v1/playback/report", {"session": tv["session"], "position": 99999},
              expect=400)
    ctl.error("POST", "/v1/playback/report", {"session": "0" * 32, "position": 1}, expect=404)
    ctl.error("POST", "/v1/playback/report", {"session": "x", "position": 1}, expect=404)
    check(metric(ctl, "sluice_control_reports_total") == stored,
          f"reports refused are not counted: {stored} before, "
          f"{metric(ctl, 'sluice_control_reports_total')} after")
    ctl.json("POST", "/v1/playback/report", {"session": tv["session"], "position": 8})
    check(metric(ctl, "sluice_control_reports_total") == stored + 1, "a report stored counted")
    ctl.error("GET", "/v1/continue-watching")
    ctl.error("GET", "/v1/continue-watching?profile=12345", expect=404)


def test_report_limit(binary, tmp, pg):
    """A session's reports beyond report_burst (10 by default) within report_interval are
    answered 429 with Retry-After, and neither stored nor folded into estimates; another
    session is not affected. The interval is an hour here, so no report comes back while the
    test runs, however slow the machine."""
    lim = Control(binary, tmp, pg, name="ctl-reports", report_interval="1h").start()
    s1 = lim.json("POST", "/v1/playback", {"title": "kidsmovie"})["session"]
    s2 = lim.json("POST", "/v1/playback", {"title": "kidsmovie"})["session"]
    got = [lim.request("POST", "/v1/playback/report",
                       {"session": s1, "position": i + 1, "mtp": 1})[0] for i in range(12)]
    check(got == [200] * 10 + [429] * 2, f"twelve reports of one session: {got}")
    st, hd, b = lim.request("POST", "/v1/playback/report", {"session": s1, "position": 13})
    o = json.loads(b)
    check(st == 429 and o["error"] == "too_many_requests" and "report_burst 10" in o["detail"],
          f"the refusal: {st} {o}")
    check(hd.get("retry-after", "").isdigit() and 0 < int(hd["retry-after"]) <= 3600,
          f"Retry-After {hd.get('retry-after')!r}")
    rows = pg.psql(f"SELECT count(*) FROM playback_reports WHERE session_id = '{row_id(s1)}'")
    check(rows == "10", f"reports stored for the session: {rows}")
    st, _, _ = lim.request("POST", "/v1/playback/report", {"session": s2, "position": 1})
    check(st == 200, f"another session's report: {st}")
    check(metric(lim, "sluice_control_reports_limited_total") == 3,
          f"refusals counted: {metric(lim, 'sluice_control_reports_limited_total')}")
    check(metric(lim, "sluice_control_reports_total") == 11, "reports stored counted")
    check(lim.stop() == 0, "SIGTERM exits 0")


def test_profile_keys(ctl, pg, adult):
    """A profile's data is its creator's: its id (sequential) says nothing, its key (made by
    control, answered once, stored as a digest) is needed to read continue-watching, browse as
    it, or start its sessions (whose reports alone move its positions). A missing or wrong key
    is refused as an unknown profile is, so nothing says whether the profile exists."""
    owner = ctl.json("POST", "/v1/playback", {"title": "movie1", **pb(adult)})
    ctl.json("POST", "/v1/playback/report", {"session": owner["session"], "position": 9.5,
                                             "device": "owner-tv"})
    mine = ctl.json("GET", f"/v1/continue-watching?{pq(adult)}")
    check([(i["title"], i["position"], i["device"]) for i in mine["items"]
           if i["title"] == "movie1"] == [("movie1", 9.5, "owner-tv")],
          f"the owner reads its continue-watching: {mine}")

    # Another client knows the id, not the key. Its refusals are those of a profile that
    # does not exist.
    pid = adult["id"]
    nobody = pg.psql("SELECT coalesce(max(id), 0) + 1000 FROM profiles")
    wrong = "0" * 64
    unknown = ctl.error("GET", f"/v1/continue-watching?profile={nobody}&profile_key={wrong}",
                        expect=404)
    for q in (f"profile={pid}", f"profile={pid}&profile_key=", f"profile={pid}&profile_key={wrong}",
              f"profile={pid}&profile_key={adult['key'].upper()}",
              f"profile={pid}&profile_key={adult['key'][:-1]}"):
        o = ctl.error("GET", f"/v1/continue-watching?{q}", expect=404)
        check(o == unknown, f"continue-watching with {q}: {o}, as for no profile: {unknown}")
        for path in ("/v1/catalog?", "/v1/catalog/trending?", "/v1/catalog/genres?",
                     "/v1/search?q=night&", "/v1/titles/movie1?"):
            o = ctl.error("GET", path + q, expect=404)
            check(o == unknown, f"{path}{q}: {o}")
    for body in ({"profile": pid}, {"profile": pid, "profile_key": wrong},
                 {"profile": pid, "profile_key": adult["key"] + "0"}):
        o = ctl.error("POST", "/v1/playback", {"title": "movie1", **body}, expect=404)
        check(o == unknown, f"a session for another's profile {body}: {o}")
    ctl.error("POST", "/v1/playback", {"title": "movie1", "profile_key": adult["key"]})
    ctl.error("POST", "/v1/playback", {"title": "movie1", "new_profile": "x", "profile_key": wrong})
    # Its own session (no profile) and reports leave the profile's data alone.
    own = ctl.json("POST", "/v1/playback", {"title": "movie1"})
    ctl.json("POST", "/v1/playback/report", {"session": own["session"], "position": 1,
                                             "device": "intruder", "mtp": 99999, "bl": 0})
    check(ctl.json("GET", f"/v1/continue-watching?{pq(adult)}") == mine,
          "nothing the other client did moved the owner's continue-watching")
    check(pg.psql("SELECT count(*) FROM throughput_estimates "
                  f"WHERE scope = 'profile' AND key = '{pid}' AND mtp_kbps = 99999") == "0",
          "nor its throughput estimate")
    check(re.fullmatch(r"[0-9a-f]{64}", adult["key"] or ""), f"a profile's key: {adult}")
    stored = pg.psql(f"SELECT encode(key_hash, 'hex') FROM profiles WHERE id = {adult['id']}")
    check(stored == hashlib.sha256(adult["key"].encode()).hexdigest(),
          "only the key's digest is stored")
    # Each profile has a key of its own.
    other = ctl.json("POST", "/v1/profiles", {"name": "Other"})
    check(other["key"] != adult["key"], "keys differ")
    ctl.error("GET", f"/v1/continue-watching?profile={pid}&profile_key={other['key']}",
              expect=404)
    check(ctl.json("GET", f"/v1/continue-watching?{pq(other)}")["items"] == [],
          "a new profile has nothing to resume")

    # A profile made before keys existed has none: no key opens it (a page makes a new one).
    legacy = pg.psql("INSERT INTO profiles (name) VALUES ('before keys') RETURNING id")
    legacy = legacy.splitlines()[0]
    for key in ("", wrong):
        ctl.error("GET", f"/v1/continue-watching?profile={legacy}&profile_key={key}",
                  expect=404)
        ctl.error("POST", "/v1/playback",
                  {"title": "movie1", "profile": int(legacy), "profile_key": key or None},
                  expect=404)

    # The owner still plays and resumes.
    again = ctl.json("POST", "/v1/playback", {"title": "movie1", **pb(adult)})
    check(again["resume_position"] == 9.5, f"the owner resumes: {again['resume_position']}")


def test_json_depth(ctl, pg):
    """Each JSON route refuses a body nested deeper than its own limit before parsing it
    (ctl_body_json; jansson recurses per level): a body at the limit is served (or, where
    serving it would change what later tests see, refused for another reason with another
    400), the same body one level deeper, which nothing else would refuse, gets the depth
    limit's own 400 and changes nothing."""
    deep = {"error": "bad_request", "detail": "JSON nested too deeply"}

    def nest(levels):
        """A member value adding levels of arrays to its object's depth."""
        v = 1
        for _ in range(levels):
            v = [v]
        return v

    # POST /v1/playback/report: 4 levels. An unknown member is ignored, so only the depth
    # tells the two apart; brackets inside strings are not nesting.
    sid = ctl.json("POST", "/v1/playback", {"title": "movie1"})["session"]
    ok = ctl.json("POST", "/v1/playback/report",
                  {"session": sid, "position": 1, "device": "[[[[[[[[", "x": nest(3)})
    check(ok["position"] == 1, f"report at depth 4: {ok}")
    o = ctl.error("POST", "/v1/playback/report", {"session": sid, "position": 2, "x": nest(4)})
    check(o == deep, f"report at depth 5: {o}")
    check(pg.psql(f"SELECT string_agg(position::text, ',') FROM playback_reports "
                  f"WHERE session_id = '{row_id(sid)}'") == "1",
          "a report refused for its depth is not stored")
    # PUT /v1/admin/titles/<id>/licences: 3 (an array of window objects, no deeper).
    lic = [{"country": "GB"}, {"country": "SE"}]
    ctl.json("PUT", "/v1/admin/titles/movie1/licences", {"licences": lic}, admin=True)
    o = ctl.error("PUT", "/v1/admin/titles/movie1/licences",
                  {"licences": [{"country": "GB", "x": nest(1)}]}, admin=True)
    check(o == deep, f"licences at depth 4: {o}")
    check(pg.psql("SELECT string_agg(country, ',' ORDER BY country) FROM licences "
                  "WHERE title_id = 'movie1'") == "GB,SE", "licences refused for depth kept")
    # POST /v1/admin/edges: 2 (a flat object; an unknown member is not stored).
    edge = {"id": "edge-a", "region": "eu-west", "base_url": "http://edge-a.test:8080",
            "capacity_mbps": 10000}
    r = ctl.json("POST", "/v1/admin/edges", dict(edge, x=nest(1)), admin=True)
    check(r["id"] == "edge-a" and r["capacity_mbps"] == 10000, f"edge at depth 2: {r}")
    o = ctl.error("POST", "/v1/admin/edges", dict(edge, capacity_mbps=5, x=nest(2)), admin=True)
    check(o == deep, f"edge at depth 3: {o}")
    check(pg.psql("SELECT capacity_mbps FROM edges WHERE id = 'edge-a'") == "10000",
          "an edge refused for its depth is not changed")
    # POST /v1/admin/titles: 8 (an asset.json inside; an unknown top-level member is not
    # stored). A title of its own, dropped after, so the tests after see the catalogue as
    # before; the refused body would rename it.
    title = {"title": "depth8", "asset": make_asset("depth8", files=False),
             "metadata": {"name": "Depth eight"}}
    r = ctl.json("POST", "/v1/admin/titles", dict(title, x=nest(7)), admin=True)
    check(r["title"] == "depth8", f"title at depth 8: {r}")
    o = ctl.error("POST", "/v1/admin/titles",
                  dict(title, metadata={"name": "Depth nine"}, x=nest(8)), admin=True)
    check(o == deep, f"title at depth 9: {o}")
    check(pg.psql("SELECT name FROM titles WHERE id = 'depth8'") == "Depth eight",
          "a title refused for its depth is not changed")
    o = ctl.error("POST", "/v1/admin/titles",
                  {"title": "depth9", "asset": make_asset("depth9", files=False), "x": nest(8)},
                  admin=True)
    check(o == deep, f"new title at depth 9: {o}")
    check(pg.psql("SELECT count(*) FROM titles WHERE id = 'depth9'") == "0" and
          pg.psql("SELECT count(*) FROM assets WHERE id = 'depth9'") == "0",
          "a title refused for its depth is not registered")
    drop_title(pg, "depth8")
    # POST /v1/admin/keys/rotate: 2 (a flat object). A rotation that succeeds would change
    # the keys test_keys starts from, so the body at the limit is one refused for its bad
    # overlap: a different 400, which only a body that got past the depth check can get.
    keys = ctl.json("GET", "/v1/admin/keys", admin=True)["keys"]
    o = ctl.error("POST", "/v1/admin/keys/rotate", {"overlap": -1, "x": nest(1)}, admin=True)
    check(o["error"] == "bad_request" and o != deep and "overlap" in o["detail"],
          f"rotation at depth 2: {o}")
    o = ctl.error("POST", "/v1/admin/keys/rotate", {"overlap": 60, "x": nest(2)}, admin=True)
    check(o == deep, f"rotation at depth 3: {o}")
    o = ctl.error("POST", "/v1/admin/keys/rotate", {"overlap": 60, "x": {"y": {}}}, admin=True)
    check(o == deep, f"rotation at depth 3 (objects): {o}")
    check(ctl.json("GET", "/v1/admin/keys", admin=True)["keys"] == keys,
          "a rotation refused for its depth changes no key")


def drop_title(pg, t):
    """Remove a title a test made for itself, with its sessions and reports, so that the
    tests after it see the catalogue (and its demand) as before."""
    pg.psql(f"DELETE FROM playback_reports WHERE title_id = '{t}'")
    pg.psql(f"DELETE FROM titles WHERE id = '{t}'")
    pg.psql(f"DELETE FROM assets WHERE id = '{t}'")


def test_start_bandwidth(ctl, pg):
    """The session carries the start bandwidth from CMCD mtp/bl in recent reports: the
    profile's own estimate first, else the client network's; none when nothing is recent.
    The title's asset lists no files, so no start rung applies (test_start_rung) and the
    answer is the estimate itself."""
    ctl.json("POST", "/v1/admin/titles",
             {"title": "tput1", "asset": make_asset("tput1", files=False)}, admin=True)
    ctl.json("PUT", "/v1/admin/titles/tput1/licences", {"licences": [{"country": "GB"}]},
             admin=True)
    check(pg.psql("SELECT start_ladder IS NULL FROM assets WHERE id = 'tput1'") == "t",
          "no files, no start ladder")

    def profile():
        return ctl.json("POST", "/v1/profiles", {"name": "tput"})

    def play(prof=None):
        body = {"title": "tput1"}
        if prof is not None:
            body.update(pb(prof))
        return ctl.json("POST", "/v1/playback", body)

    def report(s, **cmcd):
        ctl.json("POST", "/v1/playback/report",
                 {"session": s["session"], "position": 1.0, **cmcd})

    pg.psql("DELETE FROM throughput_estimates")
    p2, p3, p4 = profile(), profile(), profile()
    s = play(p2)
    check(s["start_bandwidth"] is None, f"nothing known yet: {s['start_bandwidth']}")
    report(s)  # a report without measurements changes nothing
    check(play(p2)["start_bandwidth"] is None, "a report without mtp is not an estimate")
    report(s, mtp=10000, bl=12000)
    got = play(p2)["start_bandwidth"]
    check(got == 7_000_000, f"70% of the profile's 10 Mbit/s: {got}")
    got = play(p3)["start_bandwidth"]
    check(got == 7_000_000, f"another profile on the same network: {got}")
    report(s, mtp=2000, bl=1000)  # folded in: (10000 + 2000) / 2, and the buffer ran low
    got = play(p2)["start_bandwidth"]
    check(got == 3_000_000, f"50% of 6 Mbit/s after a low buffer: {got}")
    report(play(p4), mtp=50000, bl=20000)  # network: (6000 + 50000) / 2
    got = play(p2)["start_bandwidth"]
    check(got == 3_000_000, f"the profile's own estimate before its network's: {got}")
    got = play()["start_bandwidth"]
    check(got == 19_600_000, f"no profile: the network's 28 Mbit/s x 0.7: {got}")
    got = play(p4)["start_bandwidth"]
    check(got == 35_000_000, f"the fast profile: {got}")
    pg.psql("UPDATE throughput_estimates SET updated_at = now() - interval '11 minutes'")
    check(play(p2)["start_bandwidth"] is None, "estimates older than 10 minutes are ignored")
    for bad in ({"mtp": "fast"}, {"mtp": -1}, {"mtp": 10**9}, {"bl": 1.5}, {"bl": -3},
                {"mtp": True}):
        ctl.error("POST", "/v1/playback/report", {"session": s["session"], "position": 1, **bad})
    n = pg.psql("SELECT count(*) FROM throughput_estimates")
    check(n == "3", f"one row per profile that reported and one for the network: {n}")
    drop_title(pg, "tput1")


def test_start_rung(binary, tmp, ctl, pg):
    """start_bandwidth names the start rung: the highest video rung whose first media segment
    downloads within start_rung_budget (250 ms by default) at the throughput estimate, else
    the lowest; null with no estimate; the estimate itself with the budget 0."""
    a = make_asset("rungs1", video_reps=("240p", "360p", "720p"))
    first = {"video-240p": 100_000, "video-360p": 250_000, "video-720p": 1_000_000}
    for f in a["files"]:
        rep, _, name = f["path"].partition("/")
        if name == "seg-1.m4s" and rep in first:
            f["size"] = first[rep]
    ctl.json("POST", "/v1/admin/titles", {"title": "rungs1", "asset": a}, admin=True)
    ctl.json("PUT", "/v1/admin/titles/rungs1/licences", {"licences": [{"country": "GB"}]},
             admin=True)
    ladder = json.loads(pg.psql("SELECT start_ladder FROM assets WHERE id = 'rungs1'"))
    check(ladder == [[300000, 100000], [700000, 250000], [3000000, 1000000]],
          f"the ladder: each video rung's bandwidth and first segment's size: {ladder}")
    prof = ctl.json("POST", "/v1/profiles", {"name": "rungs"})

    def estimate(bps):
        """The client network's estimate (127.0.0.1's /24) is bps (70% of mtp)."""
        pg.psql("DELETE FROM throughput_estimates")
        if bps is not None:
            pg.psql("INSERT INTO throughput_estimates (scope, key, mtp_kbps, bl_ms) "
                    f"VALUES ('network', '127.0.0.0/24', {bps // 700}, 10000)")

    def start(c, **body):
        s = c.json("POST", "/v1/playback", {"title": "rungs1", **body})
        check("start_ladder" not in s, f"the ladder is control's own: {sorted(s)}")
        return s["start_bandwidth"]

    # Time of a first segment at the estimate: bytes * 8 / bps; the budget is 0.25 s.
    cases = [
        (None, None, "no estimate: null, as before"),
        (2_100_000, 300000, "2.1 Mbit/s: 240p's 100 kB takes 0.38 s, none fits: the lowest"),
        (3_500_000, 300000, "3.5 Mbit/s: 240p fits (0.23 s), 360p's 250 kB not (0.57 s)"),
        (10_500_000, 700000, "10.5 Mbit/s: 360p fits (0.19 s), 720p's 1 MB not (0.76 s): "
                             "360p, not the 3 Mbit/s rung the estimate alone allows"),
        (35_000_000, 3000000, "35 Mbit/s: 720p fits (0.23 s)"),
    ]
    for bps, want, why in cases:
        estimate(bps)
        check(start(ctl) == want, f"anonymous, {why}: {start(ctl)}")
        check(start(ctl, **pb(prof)) == want, f"with a profile, {why}")

    # The warm path (anonymous starts answered from cached title data, control/cache.c): the
    # ladder is cached with the title, the estimate per client address.
    estimate(10_500_000)
    warm = Control(binary, tmp, pg, name="ctl-rung-warm", cache_ttl="60s").start()
    got = [start(warm) for _ in range(3)]
    check(got == [700000] * 3, f"warm: 360p at 10.5 Mbit/s: {got}")
    check(warm.stop() == 0, "warm instance exits 0")

    # The budget is configurable; 0 answers the estimate itself (the behaviour before).
    wide = Control(binary, tmp, pg, name="ctl-rung-wide", extra_cfg="start_rung_budget: 1s\n")
    wide.start()
    check(start(wide) == 3000000, "a 1 s budget at 10.5 Mbit/s: 720p (0.76 s)")
    check(wide.stop() == 0, "wide instance exits 0")
    off = Control(binary, tmp, pg, name="ctl-rung-off", extra_cfg="start_rung_budget: 0\n")
    off.start()
    check(start(off) == 10_500_000, "budget 0: the estimate, whatever the rungs")
    check(off.stop() == 0, "off instance exits 0")
    pg.psql("DELETE FROM throughput_estimates")
    drop_title(pg, "rungs1")


def test_edges_fill(ctl, pg):
    ctl.heartbeat("nosuch", {"load": 0.1}, expect=404)
    ctl.heartbeat("edge-a", {"load": -1}, expect=400)
    ctl.heartbeat("edge-a", {"load": "high"}, expect=400)
    ctl.heartbeat("edge-a", {"titles": "movie1"}, expect=400)
    # load is a share, 0..1; titles are ids (1.5, numbers and a 100,000-byte string were
    # stored).
    ctl.heartbeat("edge-a", {"load": 1.5}, expect=400)
    ctl.heartbeat("edge-a", {"titles": [1, 2, {"a": 1}]}, expect=400)
    ctl.heartbeat("edge-a", {"titles": ["movie1", "x" * 100_000]}, expect=400)
    # Ids as the schema has them: a control byte, a space or a leading dot were stored.
    for bad in ("a\x01b", "a b", ".hidden", "-x", "x" * 129, "caf\u00e9"):
        ctl.heartbeat("edge-a", {"titles": ["movie1", bad]}, expect=400)
    # Counts are integers and the digest hex, as the edge sends them: an object digest was
    # stored as its text, a fraction refused in the database's words.
    for bad in ({"digest": {"a": 1}}, {"digest": 12}, {"digest": "not hex"}, {"draining": "yes"},
                {"bytes_served": 1.5}, {"disk_used": 2.5}, {"disk_total": -1}):
        ctl.heartbeat("edge-a", bad, expect=400)
    ctl.heartbeat("edge-a", {"load": 1, "titles": ["movie1"]})
    plan = ctl.json("GET", "/v1/fill/plan?edge=edge-a", admin=True)
    objs = plan["objects"]
    check(plan["region"] == "eu-west" and objs, "fill plan")
    check(objs[0]["path"].startswith("movie1/") and objs[0]["path"].endswith("init.mp4"),
          f"most viewed first, init first {objs[0]}")
    check(objs[0]["url"] == "http://origin.test:9000/" + objs[0]["path"], "origin URL")
    check(all(re.fullmatch(r"[0-9a-f]{64}", o["sha256"]) and o["size"] > 0 for o in objs),
          "size and sha256")
    scores = [o["score"] for o in objs]
    check(scores == sorted(scores, reverse=True), "ranked by demand")
    # A release scheduled in an hour in the region is pushed ahead of it (its ranking by
    # expected demand: test_fill_plan.py).
    register(ctl, "newseason", metadata={"name": "New Season"})
    ctl.json("PUT", "/v1/admin/titles/newseason/licences",
             {"licences": [{"country": "GB", "from": db_time(pg, 3600)}]}, admin=True)
    plan = ctl.json("GET", "/v1/fill/plan?edge=edge-a", admin=True)
    check(any(o["asset"] == "newseason" for o in plan["objects"]),
          "scheduled release pushed ahead of its date")
    other = ctl.json("GET", "/v1/fill/plan?edge=edge-b", admin=True)
    check(all(o["asset"] != "newseason" for o in other["objects"]), "only in its region")
    lim = ctl.json("GET", "/v1/fill/plan?edge=edge-a&limit=2", admin=True)
    check(len(lim["objects"]) == 2, "limit")
    ctl.error("GET", "/v1/fill/plan", admin=True)
    ctl.error("GET", "/v1/fill/plan?edge=nosuch", expect=404, admin=True)
    ctl.error("GET", "/v1/fill/plan?edge=edge-a&limit=0", admin=True)
    ctl.error("GET", "/v1/fill/plan?edge=edge-a&limit=%201", admin=True)
    # Without the admin token or the edge's signature: 401 (test_fill_plan.py has the rest).
    ctl.error("GET", "/v1/fill/plan?edge=edge-a", expect=401)


def test_keys(ctl, pg, sid):
    keys = ctl.json("GET", "/v1/admin/keys", admin=True)
    check([k["kid"] for k in keys["keys"]] == ["k1"], "initial key from keys_file")
    # The default waits a minute before the new key signs (edges must load it first).
    pending = ctl.json("POST", "/v1/admin/keys/rotate", {}, admin=True)
    check(pending["sign_from"] >= time.time() + 55, f"default publish delay {pending}")
    rot = ctl.json("POST", "/v1/admin/keys/rotate", {"overlap": 600, "publish_after": 0},
                   admin=True)
    keys = ctl.json("GET", "/v1/admin/keys", admin=True)
    kids = {k["kid"]: k for k in keys["keys"]}
    check(set(kids) == {"k1", pending["kid"], rot["kid"]}, "all keys published")
    check(kids["k1"]["retire_at"] and kids["k1"]["retire_at"] >= rot["sign_from"] + 600,
          "old key verifies through the overlap")
    secrets = {k: bytes.fromhex(v["secret"]) for k, v in kids.items()}
    body = ctl.json("GET", f"/v1/manifest/{sid}.mpd").decode()
    jwt = re.search(r"/s/([^/]+)/", body).group(1)
    header, _ = verify_token(jwt, secrets)
    check(header["kid"] == rot["kid"], "the new key signs at once")
    # publish_after: the newest key is published but not yet signing.
    rot2 = ctl.json("POST", "/v1/admin/keys/rotate", {"publish_after": 3600, "overlap": 60},
                    admin=True)
    body = ctl.json("GET", f"/v1/manifest/{sid}.mpd").decode()
    header, _ = verify_token(re.search(r"/s/([^/]+)/", body).group(1), secrets)
    check(header["kid"] == rot["kid"], "a key waiting for publication does not sign yet")
    check(rot2["kid"] in [k["kid"] for k in ctl.json("GET", "/v1/admin/keys",
                                                         admin=True)["keys"]], "published")
    ctl.error("POST", "/v1/admin/keys/rotate", {"overlap": -1}, admin=True)
    # Rotations are audited by kid, never with the key.
    for r in (pending, rot, rot2):
        ctl.wait_log(r" info .*admin: token keys rotated: new kid %s signs from %d, older keys "
                     r"retire at %d \(request \d+ from 127\.0\.0\.1\)"
                     % (re.escape(r["kid"]), r["sign_from"], r["retire_others_at"]))
    check_no_key_material(ctl)


def test_sql_metacharacters(ctl, pg, adult):
    """Every parameter carries SQL metacharacters: answers are ordinary 4xx or empty results,
    and the catalog is intact afterwards."""
    nasty = ["'", "\"", "'; DROP TABLE titles; --", "\\", "%", "_", "1 OR 1=1", "$1",
             "') OR ('a'='a", "\u00e9\u0000x"[:2], ";", "--", "/*", "E'\\x00'"]
    from urllib.parse import quote
    sid = ctl.json("POST", "/v1/playback", {"title": "movie1"})["session"]
    csid = ctl.json("POST", "/v1/playback", {"title": "kidsmovie"})["session"]
    psid = ctl.json("POST", "/v1/playback", {"title": "movie1", **pb(adult)})["session"]
    ctl.heartbeat("edge-a", {"load": 0.1, "titles": ["movie1"]})
    edges = set(pg.psql("SELECT string_agg(id, ',') FROM edges").split(","))
    good_kid = base64.urlsafe_b64encode(bytes.fromhex("00112233445566778899aabbccddeeff")) \
        .rstrip(b"=").decode()
    for n in nasty:
        q = quote(n, safe="")
        # Steering's query (parsed in memory, never a statement): a value it cannot use is
        # dropped, so the answer is a whole steering document naming real edges only, and
        # neither its RELOAD-URI nor a clone's BASE-ID carries a metacharacter back. What a
        # pathways list alone gives depends on whether its value has an id's form (an MPD's
        # pathway, cloned from; steering.h) or not (an MPD naming none): not checked here.
        known = set(pg.psql("SELECT string_agg(id, ',') FROM edges").split(","))
        reload_rx = re.compile(r"http://control\.test:7000/v1/steering/%s"
                               r"(\?pathways=[A-Za-z0-9._,-]*)?" % sid)
        for qs, live in ((f"_DASH_pathway={q}", True), (f"_DASH_throughput={q}", True),
                         (f"pathways={q}", None),
                         (f"_DASH_pathway=edge-a,{q}&_DASH_throughput=5000000,{q}", True),
                         (f"pathways=edge-a,{q}&_DASH_pathway={q}&_DASH_throughput={q}", True)):
            st, _, b = ctl.request("GET", f"/v1/steering/{sid}?{qs}")
            check(st == 200, f"steering ?{qs}: {st} {b[:200]!r}")
            o = json.loads(b)
            m = reload_rx.fullmatch(o["RELOAD-URI"])
            listed = set(m.group(1)[len("?pathways="):].split(",")) if m and m.group(1) else set()
            check(o["VERSION"] == 1 and set(o["PATHWAY-PRIORITY"]) <= known and
                  (live is None or ("edge-a" in o["PATHWAY-PRIORITY"]) == live) and
                  all(c["ID"] in known and c["BASE-ID"] in known | listed
                      for c in o.get("PATHWAY-CLONES", [])) and m, f"steering ?{qs}: {o}")
        # HLS media playlists: the rendition and the session as path segments.
        for path in (f"/v1/manifest/{csid}/{q}.m3u8", f"/v1/manifest/{q}/video-240p.m3u8",
                     f"/v1/manifest/{csid}/video-240p{q}.m3u8"):
            st, _, b = ctl.request("GET", path)
            check(st == 404 or ("\0" in n and st == 400), f"{path}: {st} {b[:200]!r}")
        # A heartbeat for an edge id with metacharacters, signed as an edge would: no such
        # edge (or a malformed path), whatever the signature.
        target = f"/v1/edges/{q}/heartbeat"
        data = b'{"load": 0.1}'
        st, _, b = ctl.request("POST", target, data, headers=signed_headers(
            "x" * 40, "POST", target, data, int(time.time() * 1000)))
        check(st == 404 or ("\0" in n and st == 400), f"heartbeat {target}: {st} {b[:200]!r}")
        # ClearKey kids: not base64url of 16 bytes is 400; 16 bytes of metacharacters that
        # are nobody's kid are 403. Never a key byte.
        raw_kid = (n.encode() * 16)[:16]
        weird_kid = base64.urlsafe_b64encode(raw_kid).rstrip(b"=").decode()
        for body, ok in (({"kids": [n]}, 400), ({"kids": [good_kid, n]}, 400),
                         ({"kids": [good_kid], "type": n}, 400),
                         ({"kids": [weird_kid]}, 403)):
            st, _, b = ctl.request("POST", f"/v1/license/clearkey?session={sid}", body)
            check(st == ok, f"clearkey {body}: {st} {b[:200]!r}")
            check(CONTENT_KEY.encode() not in b and b'"k"' not in b, f"key bytes in {b!r}")
        for path, ok in [(f"/v1/catalog?genre={q}", (200,)), (f"/v1/search?q={q}", (200,)),
                         (f"/v1/catalog?profile={q}", (400,)),
                         (f"/v1/continue-watching?profile={q}", (400,)),
                         (f"/v1/fill/plan?edge={q}", (404,)),
                         (f"/v1/license/clearkey?session={q}", (403,)),
                         (f"/v1/titles/{q}", (404,)), (f"/v1/steering/{q}", (404,)),
                         (f"/v1/manifest/{q}.mpd", (404,)),
                         (f"/v1/catalog/trending?profile={q}", (400,)),
                         (f"/v1/catalog/genres?profile={q}", (400,)),
                         (f"/v1/search?q=night&profile={q}", (400,)),
                         (f"/v1/titles/movie1?profile={q}", (400,)),
                         (f"/v1/catalog?limit={q}", (400,)), (f"/v1/catalog?offset={q}", (400,)),
                         (f"/v1/catalog/trending?limit={q}", (400,)),
                         (f"/v1/search?q=night&limit={q}", (400,)),
                         (f"/v1/continue-watching?{pq(adult)}&limit={q}", (400,)),
                         (f"/v1/fill/plan?edge=edge-a&limit={q}", (400,))]:
            method = "POST" if "clearkey" in path else "GET"
            st, _, b = ctl.request(method, path, {"kids": ["AAAAAAAAAAAAAAAAAAAAAA"]}
                                   if method == "POST" else None,
                                   admin=path.startswith("/v1/fill/plan"))
            # A NUL (or other control byte) is refused before any lookup.
            check(st in ok or ("\0" in n and st == 400), f"{path}: {st} {b[:200]!r}")
        for body, ok in [({"title": n}, (404,)), ({"title": "movie1", "episode": n}, (404,)),
                         ({"title": n, "episode": n, **pb(adult)}, (404,))]:
            st, _, b = ctl.request("POST", "/v1/playback", body)
            check(st in ok or (st == 400 and "\u0000" in n), f"playback {body}: {st} {b!r}")
        st, _, _ = ctl.request("POST", "/v1/playback/report",
                               {"session": n, "position": 1, "quality": n, "device": n})
        check(st in (404, 400), "report")
        # On a live session: quality and device stored verbatim (device also as continue
        # watching gives it back), or a clean 400 for a NUL; position tells the rows apart.
        i = nasty.index(n)
        st, _, b = ctl.request("POST", "/v1/playback/report",
                               {"session": psid, "position": (i + 1) / 2, "quality": n,
                                "device": n})
        check(st == 200 or ("\0" in n and st == 400), f"report {n!r}: {st} {b[:200]!r}")
        stored = pg.psql("SELECT md5(quality) || ',' || md5(device) FROM playback_reports "
                         f"WHERE session_id = '{row_id(psid)}' AND position = {(i + 1) / 2}")
        digest = hashlib.md5(n.encode()).hexdigest()
        check(stored == (f"{digest},{digest}" if st == 200 else ""),
              f"report {n!r}: quality and device stored as {stored!r}")
        if st == 200:
            item = [c for c in ctl.json("GET", f"/v1/continue-watching?{pq(adult)}")["items"]
                    if c["title"] == "movie1"][0]
            check(item["device"] == n and item["position"] == (i + 1) / 2,
                  f"continue watching {n!r}: {item}")
        o = ctl.heartbeat("edge-a", {"load": 0.1, "titles": ["movie1", n], "digest": n},
                          expect=(200, 400))
        check(o is None or o["error"] == "bad_request", f"heartbeat {o}")
        st, _, _ = ctl.request("POST", "/v1/profiles", {"name": n})
        check(st in (200, 400), "profile")
        # A first visit's profile: made with the name verbatim, or none when refused.
        st, _, b = ctl.request("POST", "/v1/playback", {"title": "movie1", "new_profile": n})
        check(st == 200 or ("\0" in n and st == 400), f"new_profile {n!r}: {st} {b[:200]!r}")
        if st == 200:
            pid = json.loads(b)["profile"]
            stored = pg.psql(f"SELECT md5(name) FROM profiles WHERE id = {int(pid)}")
            check(stored == hashlib.md5(n.encode()).hexdigest(), f"new_profile {n!r} verbatim")
        n_profiles = pg.psql("SELECT count(*) FROM profiles")
        st, _, _ = ctl.request("POST", "/v1/playback", {"title": n, "new_profile": n})
        check(st in (400, 404), f"new_profile with an unknown title: {st}")
        check(pg.psql("SELECT count(*) FROM profiles") == n_profiles, "profile rolled back")
        # Licence windows: a time that is not RFC 3339 is 400 and the old windows stay.
        for w in ({"country": "GB", "from": n}, {"country": "GB", "until": n},
                  {"country": "GB", "from": db_time(pg, -60), "until": n}):
            st, _, b = ctl.request("PUT", "/v1/admin/titles/movie1/licences",
                                   {"licences": [{"country": "SE"}, w]}, admin=True)
            check(st == 400, f"licence window {w}: {st} {b[:200]!r}")
        # Metadata beyond the name and genres: stored verbatim, or a clean 400.
        st, _, b = ctl.request("POST", "/v1/admin/titles", {
            "title": f"meta{i}", "asset": make_asset(f"meta{i}"),
            "metadata": {"name": n, "synopsis": n, "maturity_rating": n, "genres": [n],
                         "cast": [{"name": n, "role": "actor", "character": n}]}}, admin=True)
        check(st == 200 or ("\0" in n and st == 400), f"metadata {n!r}: {st} {b[:200]!r}")
        if st == 200:
            t = ctl.json("GET", f"/v1/titles/meta{i}")
            check(t["name"] == n and t["synopsis"] == n and t["maturity_rating"] == n and
                  t["genres"] == [n.lower()] and
                  t["cast"] == [{"name": n, "role": "actor", "character": n}],
                  f"metadata {n!r} verbatim: {t}")
        st, _, b = ctl.request("POST", "/v1/admin/titles", {
            "title": f"mep{i}", "asset": make_asset(f"mep{i}"),
            "series": {"id": f"mser{i}", "name": n, "season": 1, "episode": 1,
                       "episode_name": n, "episode_synopsis": n}}, admin=True)
        check(st == 200 or ("\0" in n and st == 400), f"series {n!r}: {st} {b[:200]!r}")
        if st == 200:
            t = ctl.json("GET", f"/v1/titles/mser{i}")
            ep = t["seasons"][0]["episodes"][0]
            check(t["name"] == n and ep["name"] == n and ep["synopsis"] == n,
                  f"series {n!r} verbatim: {t}")
        for md in ({"year": n}, {"cast": [{"name": "Someone", "role": n}]}):
            st, _, b = ctl.request("POST", "/v1/admin/titles", {
                "title": "movie1x", "asset": make_asset("movie1x"), "metadata": md}, admin=True)
            check(st == 400, f"metadata {md}: {st} {b[:200]!r}")
        for mk in ({n: {"start": 1, "end": 2}}, {"intro": {"start": n, "end": 2}}):
            st, _, b = ctl.request("POST", "/v1/admin/titles", {
                "title": "movie1x", "asset": make_asset("movie1x"), "markers": mk}, admin=True)
            check(st == 400, f"markers {mk}: {st} {b[:200]!r}")
        # An edge's capacity and secret: a clean 400, or the secret stored verbatim (the
        # edge's heartbeat signed with it is accepted).
        edge = {"id": "meta-edge", "region": "eu-west", "base_url": "http://meta-edge.test"}
        st, _, _ = ctl.request("POST", "/v1/admin/edges", dict(edge, capacity_mbps=n),
                               admin=True)
        check(st == 400, f"capacity {n!r}: {st}")
        secret = (n * 128)[:64]
        st, _, b = ctl.request("POST", "/v1/admin/edges", dict(edge, secret=secret), admin=True)
        if re.fullmatch(r"[!-~]{32,128}", secret):
            check(st == 200, f"secret {secret!r}: {st} {b[:200]!r}")
            ctl.heartbeat("meta-edge", {"load": 0.1}, secret=secret)
        else:
            check(st == 400, f"secret {secret!r}: {st} {b[:200]!r}")
        st, _, _ = ctl.request("PUT", f"/v1/admin/titles/{quote(n, safe='')}/licences",
                               {"licences": [{"country": n}]}, admin=True)
        check(st in (400, 404), f"licences {st}")
        st, _, _ = ctl.request("POST", "/v1/admin/edges",
                               {"id": n, "region": n, "base_url": n}, admin=True)
        check(st == 400, f"edge register {st}")
        st, _, _ = ctl.request("POST", "/v1/admin/titles",
                               {"title": n, "asset": make_asset(n)}, admin=True)
        check(st == 400, f"register {st}")
    # A title whose metadata holds metacharacters is stored and found verbatim.
    register(ctl, "quotes", metadata={"name": "O'Brien; DROP TABLE titles; --",
                                      "genres": ["it's"]})
    t = ctl.json("GET", "/v1/titles/quotes")
    check(t["name"] == "O'Brien; DROP TABLE titles; --", "stored verbatim")
    check([x["id"] for x in ctl.json("GET", "/v1/catalog?genre=it%27s")["items"]] == ["quotes"],
          "genre with a quote")
    check(len(ctl.json("GET", "/v1/catalog")["items"]) >= 4, "catalog intact")
    for cap, status in ((-1, 400), (0, 400), (1.5, 400), (1e9, 400), (10**12, 400),
                        ("10", 400), (True, 400), (None, 400), (2**70, 400), (5, 200)):
        st, _, b = ctl.request("POST", "/v1/admin/edges",
                               {"id": "meta-edge", "region": "eu-west",
                                "base_url": "http://meta-edge.test", "capacity_mbps": cap},
                               admin=True)
        check(st == status, f"capacity {cap!r}: {st} {b[:200]!r}")
    for bad in ("short", "x" * 129, "with space " * 4, "\u00e9" * 40):
        st, _, _ = ctl.request("POST", "/v1/admin/edges",
                               {"id": "meta-edge", "region": "eu-west",
                                "base_url": "http://meta-edge.test", "secret": bad}, admin=True)
        check(st == 400, f"secret {bad!r}: {st}")
    # The database is intact: every table the parameters reached still answers as before.
    check(pg.psql("SELECT count(*) FROM licences WHERE title_id = 'movie1'") == "2",
          "movie1's licences intact")
    check(ctl.json("POST", "/v1/playback", {"title": "movie1"})["session"], "movie1 plays")
    check(pg.psql("SELECT count(*) FROM titles WHERE id LIKE 'movie1%'") == "1",
          "no half-registered title")
    check(pg.psql("SELECT string_agg(id, ',' ORDER BY id) FROM edges WHERE id LIKE 'edge-%'")
          == "edge-a,edge-b,edge-c", "edges intact")
    check(set(pg.psql("SELECT string_agg(id, ',') FROM edges").split(",")) ==
          edges | {"meta-edge"}, "no edge made or lost by the metacharacters")
    ctl.heartbeat("edge-a", {"load": 0.1, "titles": ["movie1"]})
    lic = ctl.json("POST", f"/v1/license/clearkey?session={sid}", {"kids": [good_kid]})
    check(b64url_dec(lic["keys"][0]["k"]).hex() == CONTENT_KEY, "the content key intact")


def main(binary, tmp):
    pg = Postgres(tmp)
    ctl = Control(binary, tmp, pg).start()
    test_cli(binary, ctl)
    test_basics(ctl)
    test_limits(ctl)
    adult, kid = setup_catalog(ctl, pg)
    test_admin_errors(ctl)
    test_edge_base_url_authority(ctl)
    test_catalog(ctl, adult, kid)
    sid = test_playback(ctl, pg, adult, kid)
    clear_sid = ctl.json("POST", "/v1/playback", {"title": "kidsmovie"})["session"]
    test_licence_window(ctl, pg)
    test_manifest(ctl, sid, clear_sid)
    test_inline_manifest(ctl, sid)
    test_steering(ctl, pg, sid)
    test_steering_ranking(binary, tmp, ctl, pg)
    test_steering_past_256_edges(ctl, pg, sid)
    test_clearkey(ctl, pg, sid, clear_sid)
    test_encrypted_title_needs_its_key(ctl, pg)
    test_markers_within_duration(ctl, pg)
    test_reports(ctl, pg, adult)
    test_report_limit(binary, tmp, pg)
    test_profile_keys(ctl, pg, adult)
    test_json_depth(ctl, pg)
    test_start_bandwidth(ctl, pg)
    test_start_rung(binary, tmp, ctl, pg)
    test_edges_fill(ctl, pg)
    test_keys(ctl, pg, sid)
    test_sql_metacharacters(ctl, pg, adult)
    check(ctl.stop() == 0, "SIGTERM exits 0")
    for line in ctl.log:
        check(" error " not in line or "database error" not in line, "unexpected: " + line)


run(main)
