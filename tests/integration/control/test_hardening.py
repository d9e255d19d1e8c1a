# SPDX-License-Identifier: MIT
"""sluice-control edge cases found in review: X-Forwarded-For over several field lines and
with ports, token lifetimes against licence windows and key retirement, error bodies,
CORS on refused requests, configuration checks (key length; cache_ttl against heartbeat_period,
also on reload),
database sessions in UTC whatever the database's zone, licence windows stored infinite,
re-registration of encrypted assets, pruning of old rows, running out of descriptors,
reports of a session whose profile was deleted, no-store on a session's answer,
continue-watching pages cut after the maturity filter, and a country given two regions."""
import base64
import copy
import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctlharness import (ADMIN_TOKEN, CONTENT_KEY, PG_TEMP, Control, Failure, Postgres, check,
                        make_asset, register, row_id, run, skip_case)


def raw_request(ctl, head_lines, body=b"", src="127.0.0.1"):
    """One request with exactly these header lines (repeated names kept); returns
    (status, headers dict lower-cased, body bytes)."""
    s = socket.create_connection(("127.0.0.1", ctl.port), timeout=10, source_address=(src, 0))
    req = "\r\n".join(head_lines) + f"\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    s.sendall(req.encode() + body)
    out = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        out += chunk
    s.close()
    head, _, payload = out.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return int(lines[0].split()[1]), hdrs, payload


def play_behind_proxy(ctl, xff_lines, title="movie1"):
    head = ["POST /v1/playback HTTP/1.1", "Host: control.test", "Content-Type: application/json"]
    head += [f"X-Forwarded-For: {v}" for v in xff_lines]
    return raw_request(ctl, head, json.dumps({"title": title}).encode(), src="127.0.0.2")


def test_unknown_country(ctl):
    # 2001:db8::/32 is in no country prefix: a title that exists is licensed nowhere for it
    # (451), and one that does not exist is 404 as from anywhere.
    st, _, b = play_behind_proxy(ctl, ["2001:db8::1"])
    check(st == 451 and json.loads(b)["detail"] == "the client's country is unknown",
          f"known title, unknown country ({st} {b[:200]!r})")
    st, _, b = play_behind_proxy(ctl, ["2001:db8::1"], title="no-such-title")
    check(st == 404, f"unknown title, unknown country ({st} {b[:200]!r})")


def test_xff(ctl):
    # movie1 is licensed in GB (127/8) and SE (10.1/16), not in the US (10.2/16).
    # The client wrote the first line; the trusted proxy appended the second.
    st, _, b = play_behind_proxy(ctl, ["10.2.3.4", "10.1.0.9"])
    check(st == 200 and json.loads(b)["country"] == "SE",
          f"two XFF lines: the right-most untrusted entry decides ({st} {b[:200]!r})")
    st, _, b = play_behind_proxy(ctl, ["10.1.0.9", "10.2.3.4, 127.0.0.2"])
    check(st == 451, f"two XFF lines: the first line is the client's ({st} {b[:200]!r})")
    st, _, b = play_behind_proxy(ctl, ["10.2.3.4", "", "10.1.0.9:5678, 127.0.0.2:80"])
    check(st == 200 and json.loads(b)["country"] == "SE", f"IPv4 with a port ({st} {b[:200]!r})")
    st, _, b = play_behind_proxy(ctl, ["[2001:db8::1]:443"])
    check(st == 451 and b"unknown" in b, f"IPv6 with a port: a client address ({st} {b[:200]!r})")
    st, _, b = play_behind_proxy(ctl, ["10.2.3.4:99999"])
    check(st == 200 and json.loads(b)["country"] == "GB",
          f"malformed entry: walk stops, the peer decides ({st} {b[:200]!r})")


def db_time(pg, offset_s):
    return pg.psql(f"SELECT to_char((now() + interval '{offset_s} seconds') AT TIME ZONE 'UTC', "
                   "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')")


def db_epoch(pg, offset_s):
    return int(pg.psql(f"SELECT floor(extract(epoch FROM now() + interval '{offset_s} seconds'))"))


def jwt_claims(jwt):
    p = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))


def manifest_tokens(mpd):
    toks = re.findall(r"/s/([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)/", mpd)
    check(toks, "tokens in the MPD")
    return [jwt_claims(t) for t in toks]


def test_token_licence_end(ctl, pg):
    register(ctl, "ending1", metadata={"name": "Ending"})
    end = db_time(pg, 120)
    end_s = db_epoch(pg, 120)
    ctl.json("PUT", "/v1/admin/titles/ending1/licences",
             {"licences": [{"country": "GB", "from": db_time(pg, -3600), "until": end}]},
             admin=True)
    s = ctl.json("POST", "/v1/playback", {"title": "ending1", "inline_manifest": True})
    check(s["expires"] > end_s + 600, "the session itself lasts session_ttl")
    for c in manifest_tokens(s["manifest"]):
        check(c["exp"] <= end_s + 1, f"inline MPD token exp {c['exp']} past licence end {end_s}")
    mpd = ctl.json("GET", f"/v1/manifest/{s['session']}.mpd").decode()
    for c in manifest_tokens(mpd):
        check(c["exp"] <= end_s + 1, f"MPD token exp {c['exp']} past licence end {end_s}")
        check(c["exp"] >= end_s - 1, f"MPD token exp {c['exp']} well before licence end")
    m3u8 = ctl.json("GET", f"/v1/manifest/{s['session']}/video-240p.m3u8").decode()
    for c in manifest_tokens(m3u8):
        check(c["exp"] <= end_s + 1, "HLS token past licence end")
    # A first visit (the profile made with the session) is bound the same way.
    s2 = ctl.json("POST", "/v1/playback",
                  {"title": "ending1", "new_profile": "First visit", "inline_manifest": True})
    check(s2.get("profile"), f"a profile made with the session: {s2}")
    for c in manifest_tokens(s2["manifest"]):
        check(c["exp"] <= end_s + 1, f"first visit: token exp {c['exp']} past licence end")
    # A window that carries on from the first one: coverage goes on, so tokens do too.
    ctl.json("PUT", "/v1/admin/titles/ending1/licences",
             {"licences": [{"country": "GB", "from": db_time(pg, -3600), "until": end},
                           {"country": "GB", "from": end}]}, admin=True)
    mpd = ctl.json("GET", f"/v1/manifest/{s['session']}.mpd").decode()
    for c in manifest_tokens(mpd):
        check(abs(c["exp"] - s["expires"]) <= 1, f"abutting windows: exp {c['exp']} != {s['expires']}")


def test_405(ctl):
    # Allow names every method the path answers: HEAD wherever GET is, OPTIONS (the
    # preflight) everywhere (it named the route table's only).
    for method, path, allow in (("DELETE", "/v1/playback", "POST, OPTIONS"),
                                ("PUT", "/v1/catalog", "GET, HEAD, OPTIONS")):
        st, h, b = raw_request(ctl, [f"{method} {path} HTTP/1.1", "Host: control.test"])
        check(st == 405 and h.get("allow") == allow, f"{method} {path}: {st} {h.get('allow')}")
        check(h.get("cache-control") == "no-store", f"{method} {path}: {h.get('cache-control')}")
        check(int(h["content-length"]) == len(b) and b"\0" not in b, f"405 body {b!r}")
        o = json.loads(b)
        # The detail says what the path takes (it was empty).
        check(o == {"error": "method_not_allowed", "detail": f"this path takes {allow}"},
              f"405 body {o}")


def test_preflight_any_path(ctl):
    """A preflight is answered 204 on any path, as on a route: a browser takes a preflight
    answered other than 2xx as a network error, so a page asking for a path control does not
    know (a mistyped route, a session id outside the id set) read no status at all instead of
    the 404 its request gets. It was answered 404."""
    pre = {"Origin": "http://player.test", "Access-Control-Request-Method": "POST",
           "Access-Control-Request-Headers": "content-type"}
    for path in ("/v1/nothing", "/v1/sessions/a%20b/report", "/"):
        st, h, _ = ctl.request("OPTIONS", path, headers=pre)
        check(st == 204 and h.get("access-control-allow-origin") == "*"
              and "POST" in h.get("access-control-allow-methods", "")
              and h.get("access-control-max-age") == "600",
              f"preflight of {path}: {st} {h}")
        st, h, _ = ctl.request("POST", path, body=b"{}", headers={"Origin": "http://player.test"})
        check(st == 404 and h.get("access-control-allow-origin") == "*",
              f"POST {path} after its preflight: {st} {h}")


def raw_head(ctl, data):
    """Send data as it is and read to the close; returns (status, headers lower-cased)."""
    s = socket.create_connection(("127.0.0.1", ctl.port), timeout=10)
    s.sendall(data)
    out = b""
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        out += chunk
    s.close()
    head = out.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
    hdrs = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in head[1:])}
    return int(head[0].split()[1]), hdrs


# Requests the parser refuses, or whose framing is refused, each with an Origin line (ORIGIN
# stands for it): (what, bytes, status).
REFUSED = [
    ("a malformed request line", b"GET  /v1/catalog HTTP/1.1\r\nHost: c\r\nORIGIN\r\n\r\n", 400),
    ("a bare LF", b"GET /v1/catalog HTTP/1.1\r\nORIGIN\nHost: c\r\n\r\n", 400),
    ("a byte outside the target's", b"GET /v1/<x> HTTP/1.1\r\nHost: c\r\nORIGIN\r\n\r\n", 400),
    ("whitespace before a colon", b"GET / HTTP/1.1\r\nORIGIN\r\nHost : c\r\n\r\n", 400),
    ("a head over the limit", b"GET / HTTP/1.1\r\nHost: c\r\nORIGIN\r\nX-Pad: "
     + b"p" * 20000 + b"\r\n\r\n", 431),
    ("a request-target over 8 KiB", b"GET /" + b"t" * 8192 + b" HTTP/1.1\r\nHost: c\r\nORIGIN"
     b"\r\n\r\n", 414),
    ("HTTP/2.0 on the request line", b"GET / HTTP/2.0\r\nHost: c\r\nORIGIN\r\n\r\n", 505),
    ("a malformed chunked body", b"POST /v1/playback HTTP/1.1\r\nHost: c\r\nORIGIN\r\n"
     b"Transfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
    ("a body over the limit", b"POST /v1/playback HTTP/1.1\r\nHost: c\r\nORIGIN\r\n"
     b"Content-Length: 999999999\r\n\r\n", 413),
]


def test_target_length(ctl):
    """A request-target of up to 8 KiB is taken (RFC 9112 §3 recommends request lines of 8,000
    octets at least; targets over 4,096 bytes got 414), one byte more is 414, and the head's
    16 KiB still bounds the whole."""
    def status(n, pad=0):
        target = b"/healthz?" + b"a" * (n - len(b"/healthz?"))
        extra = b"X-Pad: " + b"p" * pad + b"\r\n" if pad else b""
        return raw_head(ctl, b"GET " + target + b" HTTP/1.1\r\nHost: c\r\n" + extra
                        + b"Connection: close\r\n\r\n")[0]
    for n, want in ((4097, 200), (8000 - len("GET  HTTP/1.1"), 200), (8192, 200),
                    (8193, 414), (16000, 414)):
        st = status(n)
        check(st == want, f"a {n}-byte request-target: {st}, want {want}")
    # The longest target with a head over 16 KiB around it: the head's limit, 431.
    st = status(8192, pad=8192)
    check(st == 431, f"an 8 KiB target in a head over 16 KiB: {st}, want 431")


def test_absolute_form(ctl):
    """An http(s) absolute-form request-target is taken as its path and query, its authority
    standing for Host (RFC 9112 §3.2.2; it was 400 "origin-form request target required"), an
    admin route's body limit included; another scheme's and OPTIONS * are still 400."""
    def get(target, host=b"c"):
        return raw_head(ctl, b"GET " + target + b" HTTP/1.1\r\nHost: " + host
                        + b"\r\nConnection: close\r\n\r\n")[0]
    auth = f"127.0.0.1:{ctl.port}".encode()
    for target, want in ((b"http://" + auth + b"/healthz", 200),
                         (b"HTTPS://control.example/healthz", 200),
                         (b"http://[::1]:8080/v1/catalog?limit=1", 200),
                         # The query is read: limit is 1..100.
                         (b"http://c/v1/catalog?limit=0", 400),
                         (b"http://c/v1/nosuch", 404),
                         # No path is "/" (which is no route), the query kept apart.
                         (b"http://c", 404), (b"http://c?limit=1", 404),
                         (b"ftp://c/healthz", 400), (b"urn:c:healthz", 400),
                         # The authority is checked as Host is.
                         (b"http://a@c/healthz", 400), (b"http:///healthz", 400)):
        st = get(target, host=b"other.example")
        check(st == want, f"GET {target.decode()}: {st}, want {want}")
    st, _ = raw_head(ctl, b"OPTIONS * HTTP/1.1\r\nHost: c\r\nConnection: close\r\n\r\n")
    check(st == 400, f"OPTIONS *: {st}, want 400")
    # An admin request with the token may send up to max_admin_body (16 MiB), not max_body
    # (1 MiB), in absolute-form too: 100 Continue, not 413.
    s = socket.create_connection(("127.0.0.1", ctl.port), timeout=10)
    s.sendall(b"POST http://c/v1/admin/titles HTTP/1.1\r\nHost: c\r\nAuthorization: Bearer "
              + ADMIN_TOKEN.encode() + b"\r\nContent-Type: application/json\r\n"
              b"Content-Length: 2000000\r\nExpect: 100-continue\r\n\r\n")
    line = s.recv(4096).split(b"\r\n", 1)[0]
    s.close()
    check(line == b"HTTP/1.1 100 Continue", f"an admin body over max_body: {line!r}")
    # Without the token (or with another), a client waiting for 100 Continue gets the 401 at
    # once: the body would only be read to be refused.
    for auth in (b"", b"Authorization: Bearer not-the-token\r\n"):
        s = socket.create_connection(("127.0.0.1", ctl.port), timeout=10)
        s.sendall(b"PUT /v1/admin/titles/t1 HTTP/1.1\r\nHost: c\r\n" + auth +
                  b"Content-Type: application/json\r\nContent-Length: 100\r\n"
                  b"Expect: 100-continue\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        s.close()
        head = data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
        check(head[0] == b"HTTP/1.1 401 Unauthorized", f"no admin token, {auth!r}: {head[0]!r}")
        check(any(h.lower().startswith(b"www-authenticate: bearer") for h in head),
              f"the 401 names the scheme: {head!r}")


def test_http10_keep_alive(ctl):
    """An HTTP/1.0 request asking for keep-alive is answered with Connection: keep-alive, and
    the connection takes a second request (without the header, as before, an HTTP/1.0 client
    takes the answer as the connection's last); one that does not ask is closed."""
    s = socket.create_connection(("127.0.0.1", ctl.port), timeout=10)
    f = s.makefile("rb")
    for i in range(2):
        s.sendall(b"GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        status = f.readline()
        hdrs = {}
        for line in iter(f.readline, b"\r\n"):
            k, _, v = line.decode("latin-1").partition(":")
            hdrs[k.strip().lower()] = v.strip()
        f.read(int(hdrs.get("content-length", "0")))
        check(status.split()[1] == b"200", f"HTTP/1.0 request {i + 1}: {status!r}")
        check(hdrs.get("connection", "").lower() == "keep-alive",
              f"HTTP/1.0 keep-alive request {i + 1}: Connection {hdrs.get('connection')!r}")
    s.close()
    st, hdrs = raw_head(ctl, b"GET /healthz HTTP/1.0\r\n\r\n")
    check(st == 200 and hdrs.get("connection") == "close",
          f"HTTP/1.0 without keep-alive: {st}, Connection {hdrs.get('connection')!r}")


def test_refusal_cors(binary, tmp, ctl, pg):
    """Refused requests carry CORS as other answers do: a player on another origin reads the
    status instead of a network error. With cors_origins "*" (the default), any Origin gets
    "*"; with a list, a listed Origin is echoed, another gets none; a request without Origin
    gets none. With a list every answer says Vary: Origin, echoed or not (an unlisted or absent
    Origin's answer lacked it: a cache could hand it to a listed origin, which then read no
    Access-Control-Allow-Origin); with "*" none does."""
    # The longest origin there is: a 253-byte host name and a port (it was never matched:
    # an Origin of 256 bytes or more was not kept).
    host = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 56, "test"])
    longest = f"https://{host}:65535"
    listed = Control(binary, tmp, pg, name="ctl-cors",
                     extra_cfg=f'cors_origins: ["https://p.example", "{longest}"]\n').start()
    bad = []
    try:
        st, h, _ = listed.request("GET", "/v1/catalog", headers={"Origin": longest})
        check(st == 200 and h.get("access-control-allow-origin") == longest,
              f"the longest origin listed: {st} {h.get('access-control-allow-origin')!r}")
        for c, origin, want in ((ctl, "http://player.test", "*"), (ctl, None, None),
                                (listed, "https://p.example", "https://p.example"),
                                (listed, longest, longest),
                                (listed, "https://other.example", None),
                                (listed, None, None)):
            line = f"Origin: {origin}".encode() if origin else b"X-None: 1"
            for what, data, status in REFUSED:
                st, h = raw_head(c, data.replace(b"ORIGIN", line))
                got = (st, h.get("access-control-allow-origin"))
                if got != (status, want):
                    bad.append(f"{what}, Origin {origin}: {got}, want {(status, want)}")
                elif h.get("vary") != ("Origin" if c is listed else None):
                    bad.append(f"{what}, Origin {origin}: Vary {h.get('vary')!r}")
        st, h, _ = listed.request("GET", "/v1/catalog", headers={"Origin": "https://o.example"})
        check(st == 200 and h.get("vary") == "Origin",
              f"an unlisted origin's 200: {st}, Vary {h.get('vary')!r}")
    finally:
        check(listed.stop() == 0, "SIGTERM exits 0 (ctl-cors)")
    check(not bad, f"{len(bad)} refusals:\n  " + "\n  ".join(bad))


def test_key_length(binary, ctl):
    good = open(ctl.keys_file).read()
    try:
        for secret, ok in (("ab" * 16, False), ("ab" * 31, False), ("ab" * 32, True)):
            with open(ctl.keys_file, "w") as f:
                f.write(good + f'  - {{kid: k2, secret: "{secret}"}}\n')
            r = subprocess.run([binary, "--check-config", "--config", ctl.cfg_path],
                               capture_output=True, text=True)
            if ok:
                check(r.returncode == 0, f"{len(secret) // 2}-byte key refused: {r.stderr}")
            else:
                check(r.returncode == 2, f"{len(secret) // 2}-byte key: exit {r.returncode}")
                check(re.search(re.escape(ctl.keys_file) + r":3:\d+: key k2: secret is \d+ bytes",
                                r.stderr), f"short key message: {r.stderr!r}")
    finally:
        with open(ctl.keys_file, "w") as f:
            f.write(good)


def test_cors_origin_length(binary, ctl):
    # An allowed origin longer than any Origin the server keeps is refused at --check-config,
    # never taken and then never matched.
    good = open(ctl.cfg_path).read()
    bad = os.path.join(ctl.dir, "cors.yaml")
    with open(bad, "w") as f:
        f.write(good + f'cors_origins: ["https://{"o" * 320}.test"]\n')
    r = subprocess.run([binary, "--check-config", "--config", bad], capture_output=True,
                       text=True)
    check(r.returncode == 2 and "'cors_origins[0]': longer than an origin can be (319 bytes)"
          in r.stderr and re.search(re.escape(bad) + r":\d+:\d+: ", r.stderr),
          f"a 334-byte cors origin: exit {r.returncode}, {r.stderr!r}")


def test_public_url_length(binary, ctl):
    # Steering and licence URLs are public_url plus a session id: a public_url long enough to
    # cut the id is refused at --check-config, one at the limit is taken.
    good = open(ctl.cfg_path).read()
    bad = os.path.join(ctl.dir, "url.yaml")
    for n, ok in ((400, True), (401, False)):
        url = "http://control.test/" + "p" * (n - len("http://control.test/"))
        with open(bad, "w") as f:
            f.write(good.replace('public_url: "http://control.test:7000"', f'public_url: "{url}"'))
        r = subprocess.run([binary, "--check-config", "--config", bad], capture_output=True,
                           text=True)
        if ok:
            check(r.returncode == 0, f"a public_url of {n} bytes refused: {r.stderr}")
        else:
            check(r.returncode == 2 and f"'public_url' is {n} bytes, over 400" in r.stderr,
                  f"a public_url of {n} bytes: exit {r.returncode}, {r.stderr!r}")


def test_cache_ttl_limit(binary, tmp, ctl, pg):
    # Manifests count an edge alive while its last heartbeat is younger than two periods less
    # cache_ttl: from twice the period on, none would ever be. --check-config (and so start-up)
    # refuses it at the cache_ttl line.
    good = open(ctl.cfg_path).read()
    bad = os.path.join(ctl.dir, "ttl.yaml")
    for hb, ttl, ok in (("2s", "3999ms", True), ("2s", "4s", False), ("1500ms", "60s", False),
                        ("1s", "0s", True)):
        text = good.replace("heartbeat_period: 60s", f"heartbeat_period: {hb}") \
            .replace("cache_ttl: 0s", f"cache_ttl: {ttl}")
        with open(bad, "w") as f:
            f.write(text)
        line = text.split("\n").index(f"cache_ttl: {ttl}") + 1
        r = subprocess.run([binary, "--check-config", "--config", bad], capture_output=True,
                           text=True)
        if ok:
            check(r.returncode == 0, f"cache_ttl {ttl}, period {hb} refused: {r.stderr}")
        else:
            check(r.returncode == 2, f"cache_ttl {ttl}, period {hb}: exit {r.returncode}")
            want = (f"{bad}:{line}:12: 'cache_ttl': {ttl} must be less than twice "
                    f"'heartbeat_period' (2 x {hb}), else every edge counts as dead\n")
            check(r.stderr == want, f"cache_ttl message: {r.stderr!r}, want {want!r}")
    # cache_ttl is read at start only: a reload that shortens the period below half the
    # running one is refused (even when the file's own cache_ttl fits), and the period kept.
    warm = Control(binary, tmp, pg, name="ctl-ttl", cache_ttl="4s").start()
    text = open(warm.cfg_path).read()
    with open(warm.cfg_path, "w") as f:
        f.write(text.replace("heartbeat_period: 60s", "heartbeat_period: 2s")
                .replace("cache_ttl: 4s", "cache_ttl: 1s"))
    start = len(warm.log)
    warm.proc.send_signal(signal.SIGHUP)
    warm.wait_log(r"reload: 'heartbeat_period' 2000ms is not above half the running "
                  r"'cache_ttl' \(4000ms, read at start only\), so every edge would count as "
                  r"dead; keeping the running configuration", start=start)
    warm.heartbeat("edge-a", {"load": 0.1})
    with open(warm.cfg_path, "w") as f:
        f.write(text.replace("heartbeat_period: 60s", "heartbeat_period: 3s"))
    start = len(warm.log)
    warm.proc.send_signal(signal.SIGHUP)
    warm.wait_log(r"configuration reloaded", start=start)
    warm.heartbeat_period_s = 3
    warm.heartbeat("edge-a", {"load": 0.1})
    check(warm.stop() == 0, "SIGTERM exits 0")


def report_partitions(pg):
    """The daily report partitions and their bounds, as a UTC session shows them."""
    return pg.psql("SET TimeZone TO 'UTC'; SELECT string_agg(c.relname || ' ' || "
                   "pg_get_expr(c.relpartbound, c.oid), ',' ORDER BY c.relname) "
                   "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                   "WHERE i.inhparent = 'playback_reports'::regclass "
                   "AND c.relname <> 'playback_reports_default'")


def test_utc_sessions(binary, tmp, pg):
    # Control's database sessions run in UTC whatever the server's or the database's zone,
    # so what SQL derives from now() as a date follows UTC days: the report partitions made
    # at start (the migrations' connection) and pruning (the pool's). A database set to a
    # zone 12 or 14 hours off, whose date is not UTC's now.
    utc_day = "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
    hour = int(pg.psql("SELECT extract(hour FROM now() AT TIME ZONE 'UTC')"))
    zone = "Etc/GMT+12" if hour < 12 else "Etc/GMT-14"
    pg.psql("CREATE DATABASE sluice_tz")
    pg.psql(f"ALTER DATABASE sluice_tz SET TimeZone TO '{zone}'")
    tz = copy.copy(pg)
    tz.conninfo = pg.conninfo.replace("dbname=sluice", "dbname=sluice_tz")
    check(tz.psql("SHOW TimeZone") == zone, "the database's own zone")
    days = {tz.psql(utc_day)}
    c = Control(binary, tmp, tz, name="ctl-tz").start()
    days.add(tz.psql(utc_day))
    have = report_partitions(tz)
    wants = [tz.psql(
        "SET TimeZone TO 'UTC'; SELECT string_agg(format('playback_reports_%s FOR VALUES FROM "
        "(%L) TO (%L)', to_char(d, 'YYYYMMDD'), d::timestamptz, (d + 1)::timestamptz), ',' "
        f"ORDER BY d) FROM generate_series(date '{day}' - 1, date '{day}' + 7, '1 day') g, "
        "LATERAL (SELECT g::date AS d) x") for day in sorted(days)]
    check(have in wants, f"report partitions in zone {zone}: {have}, want {wants[-1]}")
    check(c.stop() == 0, "SIGTERM exits 0")
    # The default reports_retention is 90 days: the partition of the UTC day 91 days ago
    # goes, the one of 90 days ago stays.
    day = tz.psql(utc_day)
    old = {}
    for ago in (91, 90):
        old[ago] = "playback_reports_" + tz.psql(f"SELECT to_char(date '{day}' - {ago}, "
                                                 "'YYYYMMDD')")
        tz.psql(f"SET TimeZone TO 'UTC'; CREATE TABLE {old[ago]} PARTITION OF playback_reports "
                f"FOR VALUES FROM (date '{day}' - {ago}) TO (date '{day}' - {ago} + 1)")
    c = Control(binary, tmp, tz, name="ctl-tz2").start()
    c.wait_log(r"prune: 0 expired sessions deleted, 0 old counts of starts deleted, "
               r"1 report partitions dropped", timeout=30)
    check(tz.psql(f"SELECT to_regclass('{old[91]}') IS NULL, "
                  f"to_regclass('{old[90]}') IS NOT NULL") == "t|t",
          f"pruned in zone {zone}: {report_partitions(tz)}")
    check(c.stop() == 0, "SIGTERM exits 0")


def test_infinite_windows(binary, tmp, ctl, pg):
    # Windows stored before times were checked may be infinite, which made every warm start
    # of the title in that country fail (500). Migration 019 makes them finite: an end at
    # infinity is no end, a start at -infinity the earliest time a client can give.
    register(ctl, "forever1", metadata={"name": "Forever"})
    ctl.json("PUT", "/v1/admin/titles/forever1/licences",
             {"licences": [{"country": "GB"}, {"country": "SE"}]}, admin=True)
    pg.psql("UPDATE licences SET available_until = 'infinity' "
            "WHERE title_id = 'forever1' AND country = 'GB'")
    pg.psql("UPDATE licences SET available_from = '-infinity' "
            "WHERE title_id = 'forever1' AND country = 'SE'")
    # 019 runs again, and so does each migration after it (each can).
    n = pg.psql("WITH d AS (DELETE FROM schema_migrations WHERE version >= 19 RETURNING 1) "
                "SELECT count(*) FROM d")
    warm = Control(binary, tmp, pg, name="ctl-forever", cache_ttl="60s").start()
    warm.wait_log(rf"database: schema version \d+ \(\S+\), {n} migration\(s\) applied")
    for _ in range(2):
        s = warm.json("POST", "/v1/playback", {"title": "forever1"})
        check(s["country"] == "GB", f"warm start in GB: {s}")
        st, _, b = play_behind_proxy(warm, ["10.1.0.9"], title="forever1")
        check(st == 200 and json.loads(b)["country"] == "SE", f"warm start in SE: {st} {b!r}")
    got = pg.psql("SET TimeZone TO 'UTC'; SELECT string_agg(country || ' ' || "
                  "available_from::text || ' ' || coalesce(available_until::text, '-'), ',' "
                  "ORDER BY country) FROM licences WHERE title_id = 'forever1' AND "
                  "NOT (isfinite(available_from) AND isfinite(coalesce(available_until, now())))")
    check(got == "", f"infinite windows left: {got}")
    check(pg.psql("SET TimeZone TO 'UTC'; SELECT available_from::text FROM licences "
                  "WHERE title_id = 'forever1' AND country = 'SE'") == "0001-01-01 00:00:00+00",
          "a start at -infinity")
    check(warm.stop() == 0, "SIGTERM exits 0")
    # The prune case counts what is left of counted starts.
    pg.psql("DELETE FROM session_starts WHERE title_id = 'forever1'")


def test_reregister_new_kid(ctl, pg):
    register(ctl, "enc2", encrypted=True, metadata={"name": "Enc"})
    body = {"title": "enc2", "asset": make_asset("enc2", True)}
    new_kid = "0f" * 16
    body["asset"]["encryption"]["kid"] = new_kid
    o = ctl.error("POST", "/v1/admin/titles", body, expect=409, admin=True)
    check("kid" in o["detail"], f"409 detail {o}")
    check(pg.psql("SELECT encode(a.kid, 'hex') || ' ' || encode(k.kid, 'hex') FROM assets a "
                  "JOIN content_keys k ON k.asset_id = a.id WHERE a.id = 'enc2'")
          == "00112233445566778899aabbccddeeff 00112233445566778899aabbccddeeff",
          "a refused registration changes nothing")
    # Same kid, no key: the stored key stays.
    ctl.json("POST", "/v1/admin/titles", {"title": "enc2", "asset": make_asset("enc2", True)},
             admin=True)
    check(pg.psql("SELECT encode(key, 'hex') FROM content_keys WHERE asset_id = 'enc2'")
          == CONTENT_KEY, "same kid keeps the key")
    # New kid with its key: both change.
    body["key"] = {"kid": new_kid, "key": "11" * 16}
    ctl.json("POST", "/v1/admin/titles", body, admin=True)
    check(pg.psql("SELECT encode(kid, 'hex') || ' ' || encode(key, 'hex') FROM content_keys "
                  "WHERE asset_id = 'enc2'") == new_kid + " " + "11" * 16, "new key stored")


def test_rotate_margin(ctl, pg):
    # tokens.refresh is 1s in the harness; the skew margin is 60 s.
    rot = ctl.json("POST", "/v1/admin/keys/rotate", {"overlap": 100, "publish_after": 0},
                   admin=True)
    check(rot["retire_others_at"] >= rot["sign_from"] + 100 + 1 + 60,
          f"retire margin covers the refresh and clock skew: {rot}")
    keys = {k["kid"]: k for k in ctl.json("GET", "/v1/admin/keys", admin=True)["keys"]}
    check(keys["k1"]["retire_at"] >= rot["sign_from"] + 161, f"old key retire_at {keys['k1']}")


def test_prune(binary, tmp, ctl, pg):
    def add_session(sid, created_days, expires_days):
        pg.psql("INSERT INTO sessions (id, title_id, asset_id, country, created_at, expires_at) "
                f"VALUES ('{sid}', 'movie1', 'movie1', 'GB', now() - interval '{created_days} days', "
                f"now() + interval '{expires_days} days')")

    # Only the instance started below prunes while these rows are there.
    check(ctl.stop() == 0, "SIGTERM exits 0")
    old, recent, live = "a" * 32, "b" * 32, "c" * 32
    add_session(old, 30, -29)      # expired 29 days ago: past the default 7 d retention
    add_session(recent, 9, -2)     # expired 2 days ago: kept
    add_session(live, 0, 1)        # live: kept
    # Counted warm starts: 8 days old goes (past the 7 d floor), 6 days old stays.
    for ago, n in ((8, 5), (6, 7)):
        pg.psql("INSERT INTO session_starts (started_at, title_id, asset_id, country, starts) "
                f"VALUES (now() - interval '{ago} days', 'movie1', 'movie1', 'GB', {n})")
    days = {}
    for ago in (100, 30):
        d = pg.psql(f"SELECT to_char(current_date - {ago}, 'YYYYMMDD')")
        days[ago] = "playback_reports_" + d
        pg.psql(f"CREATE TABLE {days[ago]} PARTITION OF playback_reports FOR VALUES FROM "
                f"(current_date - {ago}) TO (current_date - {ago} + 1)")
    # A second instance prunes shortly after it starts.
    ctl2 = Control(binary, tmp, pg, name="ctl2").start()
    ctl2.wait_log(r"prune: 1 expired sessions deleted, 1 old counts of starts deleted, "
                  r"1 report partitions dropped", timeout=30)
    check(pg.psql("SELECT string_agg(starts::text, ',') FROM session_starts") == "7",
          "the count within 7 days kept")
    left = pg.psql("SELECT string_agg(id, ',' ORDER BY id) FROM sessions "
                   f"WHERE id IN ('{old}', '{recent}', '{live}')")
    check(left == f"{recent},{live}", f"sessions left: {left}")
    check(pg.psql(f"SELECT to_regclass('{days[100]}') IS NULL") == "t", "old partition dropped")
    check(pg.psql(f"SELECT to_regclass('{days[30]}') IS NOT NULL") == "t",
          "partition within 90 days kept")
    check(ctl2.stop() == 0, "second instance exits 0")
    ctl.start()


def test_pg_temp_closed_parent(tmp):
    """As root the scratch PostgreSQL runs as the postgres user: a state directory under a
    parent closed to others (a checkout in /root) is refused at once, naming that parent,
    instead of initdb's bare permission error."""
    if os.geteuid() != 0:
        skip_case("pg_temp_closed_parent: not root, the server runs as the caller: a closed "
                  "parent of its state directory not checked")
        return
    closed = os.path.join(tmp, "closed")
    os.makedirs(os.path.join(closed, "in"))  # tmp itself lets postgres through: its server runs
    os.chmod(closed, 0o700)
    r = subprocess.run([PG_TEMP, "start", os.path.join(closed, "in", "pg")],
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 3, f"pg-temp start under a closed parent: {r.returncode} {r.stderr}")
    check(f"{closed} is closed to other users" in r.stderr, f"names the parent: {r.stderr}")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def test_out_of_descriptors(binary, tmp, pg):
    # Started with 128 descriptors at most (soft and hard): control says the limit is short of
    # max_connections at start; 150 clients run it out of descriptors, and the accepts wait
    # (said once) instead of spinning; once clients leave, new ones are served.
    def limit():
        resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128))
    c = Control(binary, tmp, pg, name="ctl-fds").start(preexec_fn=limit)
    socks = []
    try:
        c.wait_log(r"warn .*open files limited to 128")
        for _ in range(150):
            socks.append(socket.create_connection(("127.0.0.1", c.port), timeout=5))
        c.wait_log(r"warn .*accept on port \d+: Too many open files")
        cpu0 = cpu_seconds(c.proc.pid)
        time.sleep(2)
        used = cpu_seconds(c.proc.pid) - cpu0
        check(used < 0.5, f"{used:.2f} s of CPU in 2 s while out of descriptors")
        # The accepts' shortage: the pool's own attempt to connect may say it too (the key
        # refresh runs every second), once, in its own words.
        said = [l for l in c.log if re.search(r"accept on port \d+: Too many open files", l)]
        check(len(said) == 1, f"the accepts' shortage said {len(said)} times: {said}")
        for s in socks[:100]:
            s.close()
        del socks[:100]
        t0 = time.monotonic()
        st, _, _ = c.request("GET", "/healthz")
        check(st == 200 and time.monotonic() - t0 < 3, f"healthz once clients left: {st}")
    finally:
        for s in socks:
            s.close()
        check(c.stop() == 0, "SIGTERM exits 0 (descriptors)")


def test_listener_killed(binary, tmp, pg):
    # A listener the kernel closes under control (ss -K, as root) fails every accept with
    # EINVAL at once: the accepts wait for the retry timer, said once, rather than spin.
    c = Control(binary, tmp, pg, name="ctl-killed").start()
    try:
        r = subprocess.run(["ss", "-K", "-t", "state", "listening", "sport", f"= :{c.port}"],
                           capture_output=True, text=True)
        try:
            socket.create_connection(("127.0.0.1", c.port), timeout=5).close()
            killed = False
        except ConnectionRefusedError:
            killed = True
        if r.returncode != 0 or not killed:
            skip_case(f"ss -K cannot close a listener here: {r.returncode} {r.stderr.strip()}")
            return
        cpu0 = cpu_seconds(c.proc.pid)
        time.sleep(2)
        used = cpu_seconds(c.proc.pid) - cpu0
        check(used < 0.5, f"{used:.2f} s of CPU in 2 s with its listener closed")
        c.wait_log(r"warn .*accept on port \d+: Invalid argument")
        said = [l for l in c.log if re.search(r"accept on port \d+:", l)]
        check(len(said) == 1, f"the failing accepts said {len(said)} times: {said}")
    finally:
        check(c.stop() == 0, "SIGTERM exits 0 (listener closed)")


def test_idle_room(binary, tmp, pg):
    # At max_connections a new connection closes the one idle longest (between requests, or
    # yet to send a byte) rather than being refused while the idle ones wait out idle_timeout;
    # with every connection inside a request it is still refused.
    c = Control(binary, tmp, pg, name="ctl-idle", extra_cfg="max_connections: 4\n").start()
    get = b"GET /healthz HTTP/1.1\r\nHost: c\r\n\r\n"
    socks = []

    def answered(s):
        s.settimeout(10)
        s.sendall(get)
        data = b""
        while b"\r\n\r\n" not in data or not data.endswith(b"}"):
            try:
                d = s.recv(4096)
            except ConnectionResetError:
                return False
            if not d:
                return False
            data += d
        return data.startswith(b"HTTP/1.1 200 ")

    def closed(s):
        s.settimeout(10)
        try:
            return s.recv(4096) == b""
        except ConnectionResetError:
            return True

    try:
        for _ in range(4):
            socks.append(socket.create_connection(("127.0.0.1", c.port), timeout=10))
            check(answered(socks[-1]), "a keep-alive request under the limit")
        # The first three are used again: the fourth is now the one idle longest.
        for s in socks[:3]:
            check(answered(s), "a second request on a kept-alive connection")
        new = socket.create_connection(("127.0.0.1", c.port), timeout=10)
        check(answered(new), "a new connection at max_connections with four idle")
        check(closed(socks[3]), "the connection idle longest was closed for the new one")
        for s in socks[:3]:
            check(answered(s), "the others are kept")
        socks[3] = new
        # Each inside a request (half a head): nothing idle, a new connection is refused.
        for s in socks:
            s.sendall(b"GET /healthz HTTP/1.1\r\n")
        time.sleep(1)  # for control to read them
        extra = socket.create_connection(("127.0.0.1", c.port), timeout=10)
        check(closed(extra), "a new connection refused while none is idle")
        extra.close()
        for s in socks:
            s.sendall(b"Host: c\r\n\r\n")
            s.settimeout(10)
            check(s.recv(4096).startswith(b"HTTP/1.1 200 "), "the half-sent requests answered")
        socks[0].sendall(b"GET /metrics HTTP/1.1\r\nHost: c\r\nConnection: close\r\n\r\n")
        page = b""
        while d := socks[0].recv(65536):
            page += d
        for name, want in (("refused", 1), ("idle_closed", 1)):
            m = re.search(rb"^sluice_control_connections_%s_total (\d+)$" % name.encode(), page,
                          re.M)
            check(m and int(m.group(1)) == want, f"{name} counted {want}: {m and m.group(1)}")
    finally:
        for s in socks:
            s.close()
        check(c.stop() == 0, "SIGTERM exits 0 (idle room)")


def test_profile_gone(ctl, pg):
    # A profile deleted while its session plays (as docs/control.md suggests for profiles
    # without a key): the session reports on until it expires. Each report keeps its row and
    # the client network's estimate; continue-watching is written only while the profile is.
    prof = ctl.json("POST", "/v1/profiles", {"name": "gone"})
    pid = prof["id"]
    sid = ctl.json("POST", "/v1/playback", {"title": "movie1", "profile": pid,
                                            "profile_key": prof["key"]})["session"]
    ctl.json("POST", "/v1/playback/report", {"session": sid, "position": 1.0})
    check(pg.psql(f"SELECT count(*) FROM continue_watching WHERE profile_id = {pid}") == "1",
          "continue-watching written while the profile is there")
    pg.psql(f"DELETE FROM profiles WHERE id = {pid}")
    pg.psql("DELETE FROM throughput_estimates WHERE scope = 'network'")
    st, _, b = ctl.request("POST", "/v1/playback/report",
                           {"session": sid, "position": 2.0, "mtp": 4321, "bl": 5000})
    check(st == 200 and json.loads(b)["position"] == 2,
          f"a report after the profile was deleted: {st} {b[:200]!r}")
    check(pg.psql("SELECT string_agg(position::text, ',' ORDER BY position) "
                  f"FROM playback_reports WHERE session_id = '{row_id(sid)}'") == "1,2",
          "both reports kept")
    check(pg.psql(f"SELECT count(*) FROM continue_watching WHERE profile_id = {pid}") == "0",
          "no continue-watching for a deleted profile")
    check(pg.psql("SELECT string_agg(mtp_kbps::text, ',') FROM throughput_estimates "
                  "WHERE scope = 'network'") == "4321", "the network's estimate noted")
    check(pg.psql("SELECT count(*) FROM throughput_estimates "
                  f"WHERE scope = 'profile' AND key = '{pid}'") == "0",
          "no estimate for a deleted profile")


def test_session_no_store(binary, tmp, ctl, pg):
    # POST /v1/playback answers a bearer session id (and maybe the MPD): per-session, so
    # Cache-Control: no-store, whichever path made it (the database's, a new profile, an
    # inline manifest, or an instance's warm start).
    warm = Control(binary, tmp, pg, name="ctl-warm", cache_ttl=None).start()
    try:
        for c, body in ((ctl, {"title": "movie1"}),
                        (ctl, {"title": "movie1", "inline_manifest": True}),
                        (ctl, {"title": "movie1", "new_profile": "nostore"}),
                        (warm, {"title": "movie1"}), (warm, {"title": "movie1"}),
                        (warm, {"title": "movie1", "inline_manifest": True})):
            st, hdrs, b = c.request("POST", "/v1/playback", body)
            check(st == 200 and "session" in json.loads(b), f"{body}: {st} {b[:200]!r}")
            check(hdrs.get("cache-control") == "no-store",
                  f"a session's answer {body} without no-store: {hdrs}")
    finally:
        check(warm.stop() == 0, "SIGTERM exits 0 (warm)")


def test_continue_watching_limit(ctl, pg):
    # A title re-rated above a profile's limit after it was watched is left out of the
    # profile's continue-watching before the page is cut: it takes no place on it.
    teen = ctl.json("POST", "/v1/profiles", {"name": "teen", "maturity_limit": 3})
    q = f"profile={teen['id']}&profile_key={teen['key']}"
    for t in ("cw-old", "cw-new"):  # cw-new watched last
        register(ctl, t, metadata={"name": t, "maturity_rating": "G"})
        ctl.json("PUT", f"/v1/admin/titles/{t}/licences", {"licences": [{"country": "GB"}]},
                 admin=True)
        sid = ctl.json("POST", "/v1/playback", {"title": t, "profile": teen["id"],
                                                "profile_key": teen["key"]})["session"]
        ctl.json("POST", "/v1/playback/report", {"session": sid, "position": 1.0})
    items = ctl.json("GET", f"/v1/continue-watching?{q}&limit=1")["items"]
    check([i["title"] for i in items] == ["cw-new"], f"the latest first: {items}")
    pg.psql("UPDATE titles SET maturity_rank = 4 WHERE id = 'cw-new'")
    for lim in ("&limit=1", "&limit=2", ""):
        items = ctl.json("GET", f"/v1/continue-watching?{q}{lim}")["items"]
        check([i["title"] for i in items] == ["cw-old"],
              f"limit {lim or 'default'}, cw-new above the profile's limit: {items}")


def test_country_two_regions(binary, ctl):
    # A country has one region (country_regions is keyed by it): prefixes of one country
    # naming two regions are refused at --check-config, pointing at the second; the same
    # region twice, or a prefix without one, is taken.
    good = open(ctl.cfg_path).read()
    cfg = os.path.join(ctl.dir, "regions.yaml")
    anchor = "  - {cidr: 10.2.0.0/16, country: US, region: us-east}\n"
    check(anchor in good, "the harness's US prefix")
    for extra, ok in (("  - {cidr: 10.3.0.0/16, country: US, region: us-east}\n", True),
                      ("  - {cidr: 10.3.0.0/16, country: US}\n", True),
                      ("  - {cidr: 10.3.0.0/16, country: us, region: us-west}\n", False)):
        with open(cfg, "w") as f:
            f.write(good.replace(anchor, anchor + extra))
        r = subprocess.run([binary, "--check-config", "--config", cfg], capture_output=True,
                           text=True)
        if ok:
            check(r.returncode == 0, f"{extra.strip()} refused: {r.stderr}")
        else:
            check(r.returncode == 2, f"{extra.strip()}: exit {r.returncode}, {r.stderr!r}")
            want = (re.escape(cfg) + r":\d+:\d+: 'country_prefixes\[3\]\.region': US is in "
                    r"region \"us-east\" \(country_prefixes\[2\]\); a country has one region")
            check(re.search(want, r.stderr), f"two regions for US: {r.stderr!r}")


def main(binary, tmp):
    pg = Postgres(tmp)
    ctl = Control(binary, tmp, pg).start()
    register(ctl, "movie1", encrypted=True, metadata={"name": "Movie"})
    ctl.json("PUT", "/v1/admin/titles/movie1/licences",
             {"licences": [{"country": "GB"}, {"country": "SE"}]}, admin=True)
    ctl.register_edge("edge-a", "eu-west", "http://edge-a.test:8080")
    ctl.heartbeat("edge-a", {"load": 0.1, "titles": ["movie1"]})
    # ONLY=name[,name] runs a subset (to see one fix's test fail on a build without it).
    only = os.environ.get("ONLY", "").split(",")
    cases = [("xff", lambda: test_xff(ctl)),
                     ("unknown_country", lambda: test_unknown_country(ctl)),
                     ("licence_end", lambda: test_token_licence_end(ctl, pg)),
                     ("405", lambda: test_405(ctl)),
                     ("preflight_any_path", lambda: test_preflight_any_path(ctl)),
                     ("refusal_cors", lambda: test_refusal_cors(binary, tmp, ctl, pg)),
                     ("target_length", lambda: test_target_length(ctl)),
                     ("absolute_form", lambda: test_absolute_form(ctl)),
                     ("http10_keep_alive", lambda: test_http10_keep_alive(ctl)),
                     ("keylen", lambda: test_key_length(binary, ctl)),
                     ("cache_ttl", lambda: test_cache_ttl_limit(binary, tmp, ctl, pg)),
                     ("utc", lambda: test_utc_sessions(binary, tmp, pg)),
                     ("infinity", lambda: test_infinite_windows(binary, tmp, ctl, pg)),
                     ("rekey", lambda: test_reregister_new_kid(ctl, pg)),
                     ("rotate", lambda: test_rotate_margin(ctl, pg)),
                     ("prune", lambda: test_prune(binary, tmp, ctl, pg)),
                     ("pg_temp", lambda: test_pg_temp_closed_parent(tmp)),
                     ("fds", lambda: test_out_of_descriptors(binary, tmp, pg)),
                     ("listener_killed", lambda: test_listener_killed(binary, tmp, pg)),
                     ("idle_room", lambda: test_idle_room(binary, tmp, pg)),
                     ("public_url", lambda: test_public_url_length(binary, ctl)),
                     ("cors_len", lambda: test_cors_origin_length(binary, ctl)),
                     ("profile_gone", lambda: test_profile_gone(ctl, pg)),
                     ("no_store", lambda: test_session_no_store(binary, tmp, ctl, pg)),
                     ("cw_limit", lambda: test_continue_watching_limit(ctl, pg)),
                     ("two_regions", lambda: test_country_two_regions(binary, ctl))]
    # A mistyped name would run nothing and pass.
    unknown = set(only) - {name for name, _ in cases} - {""}
    check(not unknown, f"ONLY names no case: {sorted(unknown)}")
    for name, fn in cases:
        if only == [""] or name in only:
            fn()
    check(ctl.stop() == 0, "SIGTERM exits 0")


run(main)
