# SPDX-License-Identifier: MIT
"""CORS for browser players (Fetch standard): simple responses and preflight."""

import os
import re
import socket
import subprocess
import sys

from edgeharness import check, eq, run, standard_setup, test

DOCS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs")

ORIGIN = "https://player.example"
KEY = "/t1/seg-1.m4s"


def check_allow_origin(r, what):
    acao = r.get("Access-Control-Allow-Origin")
    check(acao in ("*", ORIGIN), f"{what}: Access-Control-Allow-Origin {acao!r}")
    if acao == ORIGIN:
        # An echoed origin makes the response vary by Origin for caches.
        check("origin" in r.tokens("Vary"), f"{what}: echoed origin without Vary: Origin")
    # The same origins may read its Resource Timing (sizes, phases): players measure their
    # throughput from it.
    eq(r.get("Timing-Allow-Origin"), acao, f"{what}: Timing-Allow-Origin")
    return acao


@test
def get_carries_allow_origin(e):
    r = e.get(KEY, [("Origin", ORIGIN)])
    eq(r.status, 200, "GET with Origin")
    check_allow_origin(r, "200")
    etag = r.need("ETag")
    r = e.get(KEY, [("Origin", ORIGIN), ("Range", "bytes=0-9")])
    eq(r.status, 206, "ranged GET with Origin")
    check_allow_origin(r, "206")
    r = e.get(KEY, [("Origin", ORIGIN), ("If-None-Match", etag)])
    eq(r.status, 304, "conditional GET with Origin")
    check_allow_origin(r, "304")
    r = e.get("/t1/absent.m4s", [("Origin", ORIGIN)])
    eq(r.status, 404, "absent with Origin")
    check_allow_origin(r, "404 (players must be able to read errors)")
    r = e.request("HEAD", KEY, [("Origin", ORIGIN)])
    check_allow_origin(r, "HEAD")


@test
def expose_headers(e):
    r = e.get(KEY, [("Origin", ORIGIN), ("Range", "bytes=0-9")])
    exposed = r.tokens("Access-Control-Expose-Headers")
    for h in ("content-range", "content-length", "cache-status"):
        check(h in exposed or "*" in exposed,
              f"Access-Control-Expose-Headers {r.all('Access-Control-Expose-Headers')!r} "
              f"lacks {h}")


def documented_expose(doc):
    """The Access-Control-Expose-Headers list a doc gives, in its order."""
    with open(os.path.join(DOCS, doc)) as f:
        text = " ".join(f.read().split())
    m = re.search(r"`Access-Control-Expose-Headers: ([^`]+)`", text)
    check(m is not None, f"docs/{doc} names no Access-Control-Expose-Headers list")
    return [h.strip() for h in m.group(1).split(",")]


@test
def expose_headers_as_documented(e):
    # Player developers read the list in the docs: it must be exactly what is sent.
    sent = [h.strip() for h in e.get(KEY, [("Origin", ORIGIN)])
            .need("Access-Control-Expose-Headers").split(",")]
    for doc in ("player.md", "edge.md"):
        eq(documented_expose(doc), sent, f"Access-Control-Expose-Headers in docs/{doc}")


def preflight(e, req_headers):
    return e.request("OPTIONS", KEY, [("Origin", ORIGIN),
                                      ("Access-Control-Request-Method", "GET"),
                                      ("Access-Control-Request-Headers", req_headers)])


@test
def preflight_range_and_cmcd(e):
    r = preflight(e, "range, cmcd-request")
    check(r.status in (200, 204), f"preflight status {r.status}")
    acao = check_allow_origin(r, "preflight")
    methods = r.tokens("Access-Control-Allow-Methods")
    check("get" in methods, f"Access-Control-Allow-Methods {r.all('Access-Control-Allow-Methods')}")
    allowed = r.tokens("Access-Control-Allow-Headers")
    for h in ("range", "cmcd-request"):
        # "*" is a wildcard only for requests without credentials, i.e. with ACAO "*".
        check(h in allowed or ("*" in allowed and acao == "*"),
              f"Access-Control-Allow-Headers {r.all('Access-Control-Allow-Headers')!r} lacks {h}")
    if r.status == 200:
        eq(r.body, b"", "preflight body")


@test
def preflight_all_cmcd_headers(e):
    hdrs = ["cmcd-object", "cmcd-request", "cmcd-session", "cmcd-status", "range",
            "if-none-match"]
    r = preflight(e, ",".join(hdrs))
    check(r.status in (200, 204), f"preflight status {r.status}")
    acao = check_allow_origin(r, "preflight")
    allowed = r.tokens("Access-Control-Allow-Headers")
    for h in hdrs:
        check(h in allowed or ("*" in allowed and acao == "*"),
              f"Access-Control-Allow-Headers {r.all('Access-Control-Allow-Headers')!r} lacks {h}")


@test
def preflight_keeps_connection_usable(e):
    from edgeharness import build_request, expect_body
    with e.conn() as c:
        c.send(build_request("OPTIONS", KEY, [("Origin", ORIGIN),
                                               ("Access-Control-Request-Method", "GET")])
               + build_request("GET", "/t1/one.bin"))
        r = c.read_response("OPTIONS")
        check(r.status in (200, 204), f"preflight status {r.status}")
        expect_body(c.read_response(), b"x", "GET after a preflight on the same connection")


@test
def listed_origins(e):
    """With cors_origins listed, a listed Origin is echoed in both Access-Control-Allow-Origin
    and Timing-Allow-Origin; an unlisted one gets neither, and every response varies by
    Origin."""
    from edgeharness import Edge
    other = Edge(sys.argv[1], {"cors_origins": [ORIGIN]})
    try:
        other.start()
        other.put(KEY, b"x" * 100)
        r = other.get(KEY, [("Origin", ORIGIN)])
        eq(r.status, 200, "GET from a listed origin")
        eq(check_allow_origin(r, "listed origin"), ORIGIN, "Access-Control-Allow-Origin")
        for what, hdrs in (("an unlisted origin", [("Origin", "https://other.example")]),
                           ("no Origin", [])):
            r = other.get(KEY, hdrs)
            eq(r.status, 200, f"GET from {what}")
            eq(r.get("Access-Control-Allow-Origin"), None, f"{what}: Access-Control-Allow-Origin")
            eq(r.get("Timing-Allow-Origin"), None, f"{what}: Timing-Allow-Origin")
            check("origin" in r.tokens("Vary"), f"{what}: no Vary: Origin")
        other.stop()
        check(not other.sanitizer_reports(), f"sanitizer: {other.sanitizer_reports()[:3]}")
    finally:
        other.cleanup()


@test
def listed_origin_reads_refusals(e):
    """A listed Origin gets its CORS fields on the parser's refusals too (400, 414, 431), over
    HTTP/1.1 and h2c: without them a player sees a network error, not the status (a signed
    URL too long, say). HTTP/1.1 heads the parser refuses before their end are below."""
    from edgeharness import Edge, build_request
    other = Edge(sys.argv[1], {"cors_origins": [ORIGIN],
                               "limits": {"max_headers": 16}})
    try:
        other.start()
        cases = (("bad Host", 400, build_request("GET", KEY, [("Origin", ORIGIN)],
                                                   host="a b")),
                 ("too many fields", 431, build_request(
                     "GET", KEY, [("Origin", ORIGIN)] + [(f"X-F{i}", "1") for i in range(20)])))
        for what, status, raw in cases:
            with other.conn() as c:
                c.send(raw)
                r = c.read_response()
            eq(r.status, status, what)
            eq(check_allow_origin(r, what), ORIGIN, f"{what}: Access-Control-Allow-Origin")
            with other.conn() as c:
                c.send(raw.replace(ORIGIN.encode(), b"https://other.example"))
                r = c.read_response()
            eq(r.get("Access-Control-Allow-Origin"), None, f"{what}, unlisted origin")
        out = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-D", "-", "-o",
                              "/dev/null", "-H", f"Origin: {ORIGIN}",
                              f"http://127.0.0.1:{other.port}/t1/{'a' * 9000}.m4s"],
                             capture_output=True, text=True, timeout=20)
        head = out.stdout.lower()
        check(head.startswith("http/2 414"), f"h2c long :path: {out.stdout[:200]!r} {out.stderr}")
        check(f"access-control-allow-origin: {ORIGIN}" in head,
              f"h2c 414 without Access-Control-Allow-Origin: {out.stdout!r}")
        other.stop()
        check(not other.sanitizer_reports(), f"sanitizer: {other.sanitizer_reports()[:3]}")
    finally:
        other.cleanup()


def answer_to_two_sends(e, data, at):
    """The answer to data sent in two writes, the second from byte at."""
    with e.conn() as c:
        c.send(data[:at])
        c.send(data[at:])
        return c.read_response()


@test
def listed_origin_read_after_an_early_refusal(e):
    """Over HTTP/1.1 a request-target too long is refused while it still arrives, before the
    Origin line after it: with cors_origins a list, the edge reads on (not keeping it) for
    that line before it answers, so a listed origin can still read the 414. The search ends at
    the head's blank line, at twice limits.max_header_bytes, at the client's FIN and at the
    header deadline, and the answer follows each time; with "*" no Origin is needed and the
    answer goes at once."""
    from edgeharness import Edge, build_request
    long_key = "/t1/" + "a" * 9000 + ".m4s"  # past max_target and max_header_bytes too
    other = Edge(sys.argv[1], {"cors_origins": [ORIGIN], "limits": {"header_timeout": "2s"}})
    try:
        other.start()
        raw = build_request("GET", long_key, [("Origin", ORIGIN)])
        with other.conn() as c:
            c.send(raw)
            r = c.read_response()
        eq(r.status, 414, "a long target with Origin, in one send")
        eq(check_allow_origin(r, "414"), ORIGIN, "414: Access-Control-Allow-Origin")
        # The refusal comes with the target's first 8 KiB: the fields follow later.
        cut = raw.index(b" HTTP/1.1")
        r = answer_to_two_sends(other, raw, cut)
        eq(r.status, 414, "a long target, its fields sent after it")
        eq(check_allow_origin(r, "414, fields later"), ORIGIN,
           "414 with fields later: Access-Control-Allow-Origin")
        # A head refused as too large once past max_header_bytes (8 KiB), at the latest with
        # the 4 KiB read that follows: a field longer than both puts Origin after it.
        big = build_request("GET", KEY, [("X-Big", "b" * 12500), ("Origin", ORIGIN)])
        r = answer_to_two_sends(other, big, big.index(b"Origin:"))
        eq(r.status, 431, "a head too large, Origin after it")
        eq(check_allow_origin(r, "431, Origin later"), ORIGIN,
           "431 with Origin later: Access-Control-Allow-Origin")
        # No Origin before the blank line; none within the budget; a FIN; the deadline.
        endings = (
            ("the head ends without Origin",
             build_request("GET", long_key, [("X-A", "1")]) + b"Origin: " + ORIGIN.encode()),
            ("the budget ends first", raw[:cut] + b" HTTP/1.1\r\n" +
             b"".join(b"X-F%d: %s\r\n" % (i, b"f" * 1000) for i in range(20)) +
             b"Origin: " + ORIGIN.encode() + b"\r\n"),
            ("a FIN ends the head", raw[:cut]),
            ("the header deadline", raw[:cut] + b" HTTP/1.1\r\nX-A: 1\r\n"))
        for what, data in endings:
            with other.conn() as c:
                c.send(data)
                if what.startswith("a FIN"):
                    c.sock.shutdown(socket.SHUT_WR)
                r = c.read_response(timeout=10)
                eq(r.status, 414, what)
                eq(r.get("Access-Control-Allow-Origin"), None,
                   f"{what}: Access-Control-Allow-Origin")
                check("origin" in r.tokens("Vary"), f"{what}: no Vary: Origin")
                c.expect_eof(what=what)
        other.stop()
        check(not other.sanitizer_reports(), f"sanitizer: {other.sanitizer_reports()[:3]}")
    finally:
        other.cleanup()
    # Any origin allowed: the target alone is answered, with "*".
    with e.conn() as c:
        c.send(raw[:cut])
        r = c.read_response()
    eq(r.status, 414, "a long target alone, any origin allowed")
    eq(r.get("Access-Control-Allow-Origin"), "*", "414 with \"*\": Access-Control-Allow-Origin")


@test
def no_origins(e):
    """cors_origins: [] sends no CORS fields at all, as documented: an operator who turns
    cross-origin reading off must not get the most open answer instead."""
    from edgeharness import Edge
    other = Edge(sys.argv[1], {"cors_origins": []})
    try:
        other.start()
        other.put(KEY, b"x" * 100)
        for what, method, hdrs in (
                ("GET", "GET", [("Origin", ORIGIN)]),
                ("preflight", "OPTIONS", [("Origin", ORIGIN),
                                          ("Access-Control-Request-Method", "GET")])):
            r = other.request(method, KEY, hdrs)
            check(r.status in (200, 204), f"{what}: status {r.status}")
            for name in ("Access-Control-Allow-Origin", "Timing-Allow-Origin",
                         "Access-Control-Expose-Headers"):
                eq(r.get(name), None, f"{what}: {name}")
        other.stop()
        check(not other.sanitizer_reports(), f"sanitizer: {other.sanitizer_reports()[:3]}")
    finally:
        other.cleanup()


@test
def allowed_origin_too_long_for_the_head(e):
    """An allowed origin so long that the echoed response head cannot be built: the edge
    closes that connection, releases the cached object it looked up and exits cleanly (a
    held object is an assertion at shutdown in debug builds)."""
    from edgeharness import Closed, Edge, build_request
    long_origin = "https://" + "p" * 4000 + ".example"
    other = Edge(sys.argv[1], {"cors_origins": [long_origin],
                               "limits": {"max_header_bytes": "16K"}})
    try:
        other.start()
        other.put(KEY, b"x" * 100)
        for _ in range(3):
            with other.conn() as c:
                c.send(build_request("GET", KEY, [("Origin", long_origin)]))
                try:
                    r = c.read_response()
                except Closed:
                    r = None
                check(r is None, f"a head that does not fit was sent: {r!r}")
        r = other.get(KEY)
        eq(r.status, 200, "a request without that Origin")
        other.stop()
        check(not other.sanitizer_reports(), f"sanitizer: {other.sanitizer_reports()[:3]}")
    finally:
        other.cleanup()


if __name__ == "__main__":
    sys.exit(run(standard_setup()))
