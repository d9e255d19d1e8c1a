# SPDX-License-Identifier: MIT
"""Signed URLs (RFC 9246 JWT, HS256 with kid) checked on every client request.

Tokens are minted here with the standard library, independently of the edge's own code, so a
shared bug in sign and verify cannot hide.
"""

import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import subprocess
import time

from edgeharness import HOST, Edge, check, eq, expect_body, run, standard_objects, test

SECRET = bytes(range(32))
KEY = "/t1/seg-1.m4s"


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(claims, kid="k1", secret=SECRET, alg="HS256", sign=True):
    head = b64(json.dumps({"alg": alg, "kid": kid, "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    signing_input = f"{head}.{body}".encode()
    mac = hmac.new(secret, signing_input, hashlib.sha256).digest() if sign else b""
    return f"{head}.{body}.{b64(mac)}"


def good_claims(title="t1", **over):
    now = int(time.time())
    c = {"cdniv": 1, "exp": now + 600, "nbf": now - 10,
         "cdniuc": f"regex:^https?://[^/]+/{title}/"}
    c.update(over)
    return c


def setup(binary):
    e = Edge(binary, {"tokens": {"required": True, "keys_file": None}})
    keys = os.path.join(e.dir, "keys.yaml")
    with open(keys, "w") as f:
        f.write(f"keys:\n  - {{kid: k1, secret: {SECRET.hex()}}}\n")
    e.cfg["tokens"]["keys_file"] = keys
    e.start()
    e.push(standard_objects())
    return e


@test
def token_in_path_accepted(e):
    tok = mint(good_claims())
    r = e.get(f"/s/{tok}{KEY}")
    eq(r.status, 200, "valid path-carried token")
    expect_body(r, e.objects[KEY], "body through a token path")


@test
def token_in_query_accepted(e):
    tok = mint(good_claims())
    r = e.get(f"{KEY}?URISigningPackage={tok}")
    eq(r.status, 200, "valid URISigningPackage token")
    expect_body(r, e.objects[KEY], "body through a query token")


@test
def token_not_in_cache_key(e):
    a = e.get(f"/s/{mint(good_claims())}{KEY}")
    b = e.get(f"/s/{mint(good_claims(exp=int(time.time()) + 900))}{KEY}")
    eq(a.status, 200, "first token")
    eq(b.status, 200, "second token")
    eq(a.get("ETag"), b.get("ETag"), "same object whatever the token")


@test
def refusals(e):
    now = int(time.time())
    good = mint(good_claims())
    head, body, mac = good.split(".")
    flipped_mac = head + "." + body + "." + ("A" if mac[0] != "A" else "B") + mac[1:]
    cases = {
        "no token": KEY,
        "expired": f"/s/{mint(good_claims(exp=now - 120))}{KEY}",
        "not yet valid": f"/s/{mint(good_claims(nbf=now + 600))}{KEY}",
        "other title": f"/s/{mint(good_claims(title='t2'))}{KEY}",
        "alg none": f"/s/{mint(good_claims(), alg='none', sign=False)}{KEY}",
        "unknown kid": f"/s/{mint(good_claims(), kid='k9')}{KEY}",
        "wrong secret": f"/s/{mint(good_claims(), secret=b'x' * 32)}{KEY}",
        "flipped signature": f"/s/{flipped_mac}{KEY}",
        "bad cdniv": f"/s/{mint(good_claims(cdniv=2))}{KEY}",
        "garbage": f"/s/not.a.jwt{KEY}",
        "traversal out of scope": f"/s/{mint(good_claims())}/t1/../t2/seg-1.m4s",
    }
    for what, target in cases.items():
        r = e.get(target)
        eq(r.status, 403, what)
        check(e.objects[KEY] not in r.body, f"{what}: no content in the refusal")


def unbounded_claims():
    c = good_claims()
    del c["exp"]
    return c


def unscoped_claims():
    c = good_claims()
    del c["cdniuc"]
    return c


def unbounded_refusals(e):
    m = re.search(r'^sluice_edge_token_refusals_total\{reason="unbounded"\} (\S+)$',
                  e.metrics().body.decode(), re.M)
    check(m is not None, "no unbounded refusal counter")
    return float(m.group(1))


@test
def unbounded_refused_by_default(e):
    """A token with no exp (good for ever) or no cdniuc (good for every path): RFC 9246 allows
    them, the edge refuses them (403, reason unbounded) unless tokens.allow_unbounded."""
    before = unbounded_refusals(e)
    for what, claims in (("no exp", unbounded_claims()), ("no cdniuc", unscoped_claims())):
        r = e.get(f"/s/{mint(claims)}{KEY}")
        eq(r.status, 403, what)
        check(e.objects[KEY] not in r.body, f"{what}: no content in the refusal")
    eq(unbounded_refusals(e) - before, 2.0, "refusals counted as unbounded")
    check("token refused (unbounded)" in e.log_tail(50), "said in the log")
    e.cfg["tokens"]["allow_unbounded"] = True
    e.write_config()
    e.signal(signal.SIGHUP)
    try:
        deadline = time.monotonic() + 5
        while e.get(f"/s/{mint(unbounded_claims())}{KEY}").status != 200:
            check(time.monotonic() < deadline, "no exp still refused after allow_unbounded")
            time.sleep(0.05)  # the workers take the reloaded configuration as they wake
        expect_body(e.get(f"/s/{mint(unscoped_claims())}{KEY}"), e.objects[KEY],
                    "no cdniuc with allow_unbounded")
        eq(e.get(f"/s/{mint(good_claims(exp=int(time.time()) - 120))}{KEY}").status, 403,
           "an expired token still refused")
    finally:
        e.cfg["tokens"]["allow_unbounded"] = False
        e.write_config()
        e.signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while e.get(f"/s/{mint(unbounded_claims())}{KEY}").status != 403:
            check(time.monotonic() < deadline, "allow_unbounded still in force after its removal")
            time.sleep(0.05)


@test
def preflight_needs_no_token(e):
    r = e.request("OPTIONS", KEY, [("Origin", "https://player.example"),
                                   ("Access-Control-Request-Method", "GET")])
    check(r.status in (200, 204), f"preflight without a token: {r.status}")


@test
def h2_same_rules(e):
    """Over h2c the token is checked by the same code, :authority standing for Host."""
    # tools/deps installs curl: without it this case fails, it does not pass.
    check(shutil.which("curl"), "curl missing (tools/deps installs it)")

    def status(path, host="edge.test"):
        out = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-o", "/dev/null",
                              "-w", "%{http_version} %{http_code}", "-H", f"Host: {host}",
                              f"http://{HOST}:{e.port}{path}"], capture_output=True, text=True)
        check(out.returncode == 0, f"curl {path}: {out.stderr}")
        version, code = out.stdout.split()
        eq(version, "2", f"{path} not over h2")
        return int(code)
    eq(status(f"/s/{mint(good_claims())}{KEY}"), 200, "valid token over h2")
    eq(status(KEY), 403, "no token over h2")
    eq(status(f"/s/{mint(good_claims(title='t2'))}{KEY}"), 403, "token for another title")
    scoped = mint(good_claims(cdniuc="regex:^https?://edge\\.test/t1/"))
    eq(status(f"/s/{scoped}{KEY}"), 200, "token scoped to the authority asked")
    eq(status(f"/s/{scoped}{KEY}", host="other.test"), 403, "token scoped to another authority")


@test
def no_token_reaches_the_access_log(e):
    """A valid token written where the edge does not read one (a query argument of another
    name or case, a ';' parameter, a second /s/ segment) is still no part of the access log,
    in the target or in the key: docs/edge.md hides every run that reads as a JWS. These
    were logged whole, signature included."""
    tok = mint(good_claims())
    targets = [f"{KEY}?urisigningpackage={tok}", f"{KEY}?x={tok}",
               f"{KEY};URISigningPackage={tok}", f"/s/{tok}/s/{tok}{KEY}",
               f"/s/{tok}{KEY}?a={tok}"]
    start = os.path.getsize(e.access_log) if os.path.exists(e.access_log) else 0
    for t in targets:
        e.get(t)
    deadline = time.monotonic() + 5
    while True:
        with open(e.access_log, encoding="utf-8", errors="replace") as f:
            f.seek(start)
            lines = f.read().split("\n")[:-1]
        if len(lines) >= len(targets) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    check(len(lines) >= len(targets), f"{len(lines)} lines logged for {len(targets)} requests")
    sig = tok.rsplit(".", 1)[1]
    for ln in lines:
        check(sig not in ln and tok.split(".", 1)[1] not in ln, f"a token in the log: {ln!r}")
    check(any(f"{KEY};URISigningPackage=* " in ln for ln in lines),
          "the ';' parameter's token is masked in the key too")

@test
def absolute_form_authority_is_the_scope(e):
    """In absolute form the target's authority, not Host, is the URI a token's cdniuc is
    matched against (RFC 9112 §3.2.2, RFC 9246 §2.1.15); it was Host's."""
    scoped = mint(good_claims(cdniuc="regex:^https?://edge\\.test/t1/"))
    eq(e.get(f"http://edge.test/s/{scoped}{KEY}", host="other.test").status, 200,
       "absolute form naming the scoped authority, another Host")
    eq(e.get(f"http://other.test/s/{scoped}{KEY}", host="edge.test").status, 403,
       "absolute form naming another authority, the scoped Host")


if __name__ == "__main__":
    raise SystemExit(run(setup))
