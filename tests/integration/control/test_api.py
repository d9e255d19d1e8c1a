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
from apisetup import b64url_dec, db_time, drop_title, pb, pq, setup_catalog, stop_clean
from ctlharness import (ADMIN_TOKEN, CONTENT_KEY, KEY_SECRET, Control, Postgres,
                        check, metric, row_id, make_asset, register, run)

MPD_NS = {"d": "urn:mpeg:dash:schema:mpd:2011", "cenc": "urn:mpeg:cenc:2013"}


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
    # Two windows of one country starting at one instant (written alike, with other offsets,
    # or both from now): refused naming both, never the primary key's name.
    same = "starts when licences[%d] does, in the same country (GB); each window of a " \
           "country starts at another time"
    for lics, at, first in (([{"country": "GB", "from": "2030-01-01T00:00:00Z"},
                              {"country": "gb", "from": "2030-01-01T02:00:00+02:00",
                               "until": "2031-01-01T00:00:00Z"}], 1, 0),
                            ([{"country": "GB"}, {"country": "SE"}, {"country": "GB"}], 2, 0)):
        o = ctl.error("PUT", "/v1/admin/titles/window1/licences", {"licences": lics},
                      admin=True)
        check(o["detail"] == f"licences[{at}].from: " + same % first, f"same start: {o}")
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
    test_json_depth(ctl, pg)
    test_edges_fill(ctl, pg)
    test_keys(ctl, pg, sid)
    stop_clean(ctl)


run(main)
