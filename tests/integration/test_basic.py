# SPDX-License-Identifier: MIT
"""Hit path basics: GET/HEAD, response headers, 404, 405, keep-alive, pipelining, HTTP/1.0,
large objects."""

import re
import sys
import time

from edgeharness import (RawConn, build_request, check, eq, expect_body, parse_http_date, run,
                         sha, standard_setup, test)

# Content types by extension. For .m4s both the IANA-registered video/iso.segment and the
# widespread video/mp4 are accepted; the others have one registered type.
CTYPES = {
    "/t1/manifest.mpd": {"application/dash+xml"},
    "/t1/seg-1.m4s": {"video/iso.segment", "video/mp4"},
    "/t1/init.mp4": {"video/mp4"},
    "/t1/master.m3u8": {"application/vnd.apple.mpegurl", "application/x-mpegurl"},
    "/t1/sub.vtt": {"text/vtt"},
    "/t1/meta.json": {"application/json"},
}


def media_type(v):
    return v.split(";")[0].strip().lower() if v else None


@test
def get_every_object_byte_exact(e):
    for key, data in e.objects.items():
        if key == "/t1/big.m4s":
            continue
        expect_body(e.get(key), data, f"GET {key}")


@test
def head_has_no_body_and_same_length(e):
    for key in ("/t1/seg-1.m4s", "/t1/manifest.mpd", "/t1/empty.bin"):
        g = e.get(key)
        with e.conn() as c:
            # HEAD then GET on one connection: a HEAD that leaked a body would corrupt the GET.
            c.send(build_request("HEAD", key) + build_request("GET", "/t1/one.bin"))
            h = c.read_response("HEAD")
            eq(h.status, 200, f"HEAD {key} status")
            eq(h.get("Content-Length"), str(len(e.objects[key])), f"HEAD {key} Content-Length")
            eq(h.get("ETag"), g.get("ETag"), f"HEAD {key} ETag")
            eq(h.get("Content-Type"), g.get("Content-Type"), f"HEAD {key} Content-Type")
            eq(h.get("Last-Modified"), g.get("Last-Modified"), f"HEAD {key} Last-Modified")
            after = c.read_response("GET")
            expect_body(after, b"x", f"GET after HEAD {key}")


@test
def absent_object_is_404(e):
    for target in ("/t1/seg-999.m4s", "/nothing", "/t1/", "/"):
        r = e.get(target)
        eq(r.status, 404, f"GET {target}")
        check(r.get("Date") is not None, f"404 for {target} lacks Date")
        r = e.request("HEAD", target)
        eq(r.status, 404, f"HEAD {target}")
        eq(r.body, b"", f"HEAD {target} body")


@test
def content_types(e):
    for key, allowed in CTYPES.items():
        r = e.get(key)
        eq(r.status, 200, f"GET {key}")
        ct = media_type(r.get("Content-Type"))
        check(ct in allowed, f"{key}: Content-Type {r.get('Content-Type')!r}, want one of "
              f"{sorted(allowed)}")


@test
def validators_and_cache_headers(e):
    before = time.time()
    r = e.get("/t1/seg-1.m4s")
    eq(r.status, 200, "status")
    etag = r.need("ETag")
    check(re.fullmatch(r'"[\x21\x23-\x7e\x80-\xff]*"', etag) is not None,
          f"ETag {etag!r} is not a strong entity-tag")
    lm = parse_http_date(r.need("Last-Modified"))
    date = parse_http_date(r.need("Date"))
    check(abs(date - before) < 5, f"Date {r.get('Date')!r} is not the current time")
    check(lm <= date, f"Last-Modified {r.get('Last-Modified')} is after Date {r.get('Date')}")
    cc = r.need("Cache-Control")
    m = re.search(r"(?:^|,)\s*max-age=(\d+)", cc)
    check(m is not None and int(m.group(1)) > 0, f"Cache-Control {cc!r} has no positive max-age")
    check("bytes" in r.tokens("Accept-Ranges"), f"Accept-Ranges {r.get('Accept-Ranges')!r}")
    check(r.need("Server").strip() != "", "empty Server header")
    # The validators are stable across requests and differ between objects.
    r2 = e.get("/t1/seg-1.m4s")
    eq(r2.get("ETag"), etag, "ETag on a second GET")
    eq(r2.get("Last-Modified"), r.get("Last-Modified"), "Last-Modified on a second GET")
    other = e.get("/t1/seg-2.m4s").need("ETag")
    check(other != etag, f"two different objects share ETag {etag}")


@test
def method_not_allowed_on_client_listener(e):
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        r = e.request(method, "/t1/init.mp4", [("Content-Length", "0")])
        eq(r.status, 405, f"{method} status")
        allow = r.tokens("Allow")
        check("get" in allow and "head" in allow, f"{method}: Allow {r.all('Allow')!r}")
        check(method.lower() not in allow, f"Allow lists {method}")
    # Still served after the refusals.
    expect_body(e.get("/t1/init.mp4"), e.objects["/t1/init.mp4"], "GET after 405s")


@test
def keep_alive_several_requests(e):
    keys = ["/t1/init.mp4", "/t1/seg-1.m4s", "/t1/absent.m4s", "/t1/manifest.mpd",
            "/t1/seg-2.m4s", "/t1/sub.vtt"]
    with e.conn() as c:
        for k in keys:
            check(c.send(build_request("GET", k)), f"send {k}: connection closed")
            r = c.read_response()
            check(r.get("Connection") is None or "close" not in r.tokens("Connection"),
                  f"{k}: server said Connection: close on a keep-alive request")
            if k in e.objects:
                expect_body(r, e.objects[k], f"keep-alive GET {k}")
            else:
                eq(r.status, 404, f"keep-alive GET {k}")
        c.expect_open(0.2, "keep-alive connection after 6 requests")


@test
def pipelining_ten_in_one_send(e):
    plan = [("GET", "/t1/init.mp4"), ("GET", "/t1/seg-2.m4s"), ("HEAD", "/t1/seg-1.m4s"),
            ("GET", "/t1/meta.json"), ("GET", "/t1/nope.m4s"), ("GET", "/t1/manifest.mpd"),
            ("GET", "/t1/one.bin"), ("HEAD", "/t1/nope2"), ("GET", "/t1/seg-1.m4s"),
            ("GET", "/t1/empty.bin")]
    with e.conn(timeout=10) as c:
        c.send(b"".join(build_request(m, k) for m, k in plan))
        for i, (m, k) in enumerate(plan):
            r = c.read_response(m)
            what = f"pipelined #{i + 1} {m} {k}"
            if k not in e.objects:
                eq(r.status, 404, what)
            elif m == "HEAD":
                eq(r.status, 200, what)
                eq(r.get("Content-Length"), str(len(e.objects[k])), what + " Content-Length")
            else:
                expect_body(r, e.objects[k], what)
        c.expect_open(0.2, "after the pipelined batch")


@test
def http10_closes_after_response(e):
    with e.conn() as c:
        c.send(b"GET /t1/meta.json HTTP/1.0\r\n\r\n")
        r = c.read_response()
        expect_body(r, e.objects["/t1/meta.json"], "HTTP/1.0 GET")
        c.expect_eof(3.0, "HTTP/1.0 without keep-alive")


@test
def connection_close_honoured(e):
    with e.conn() as c:
        c.send(build_request("GET", "/t1/one.bin", [("Connection", "close")])
               + build_request("GET", "/t1/one.bin"))
        r = c.read_response()
        expect_body(r, b"x", "GET with Connection: close")
        check("close" in r.tokens("Connection"),
              f"response to Connection: close lacks Connection: close ({r.all('Connection')})")
        c.expect_eof(3.0, "after Connection: close (the 2nd request must not be answered)")


@test
def large_object_byte_exact(e):
    data = e.objects["/t1/big.m4s"]
    with e.conn(timeout=30) as c:
        c.send(build_request("GET", "/t1/big.m4s") + build_request("GET", "/t1/one.bin"))
        expect_body(c.read_response(timeout=30), data, "GET 8 MiB object")
        expect_body(c.read_response(), b"x", "GET after the 8 MiB object")
    r = e.request("HEAD", "/t1/big.m4s")
    eq(r.get("Content-Length"), str(len(data)), "HEAD 8 MiB Content-Length")


@test
def concurrent_large_downloads(e):
    data = e.objects["/t1/big.m4s"]
    conns = [e.conn(timeout=30) for _ in range(4)]
    try:
        for c in conns:
            c.send(build_request("GET", "/t1/big.m4s", [("Connection", "close")]))
        for i, c in enumerate(conns):
            expect_body(c.read_response(timeout=30), data, f"concurrent 8 MiB #{i}")
    finally:
        for c in conns:
            c.close()


@test
def empty_object(e):
    r = e.get("/t1/empty.bin")
    expect_body(r, b"", "GET empty object")
    check(r.get("ETag") is not None, "empty object lacks ETag")


@test
def unknown_extension_is_octet_stream(e):
    r = e.get("/t1/one.bin")
    eq(media_type(r.get("Content-Type")), "application/octet-stream", "Content-Type of .bin")


@test
def deep_pipeline_beyond_queue_limit(e):
    # More requests in one send than limits.max_pipeline (16 by default): the server must stop
    # reading and catch up, answering every one in order, never dropping or reordering.
    keys = ["/t1/one.bin", "/t1/meta.json", "/t1/sub.vtt", "/t1/absent"] * 15
    with e.conn(timeout=15) as c:
        c.send(b"".join(build_request("GET", k) for k in keys))
        for i, k in enumerate(keys):
            r = c.read_response()
            if k in e.objects:
                expect_body(r, e.objects[k], f"pipelined #{i + 1} {k}")
            else:
                eq(r.status, 404, f"pipelined #{i + 1} {k}")
        c.expect_open(0.2, "after 60 pipelined requests")


@test
def request_split_across_sends(e):
    import socket as _s
    raw = build_request("GET", "/t1/meta.json", [("X-Split", "yes")])
    cuts = [1, 5, raw.index(b"\r\n") + 1, raw.index(b"\r\n\r\n") + 3]
    with e.conn() as c:
        c.sock.setsockopt(_s.IPPROTO_TCP, _s.TCP_NODELAY, 1)
        prev = 0
        for cut in cuts + [len(raw)]:
            c.send(raw[prev:cut])
            prev = cut
            if cut < len(raw):
                c.expect_open(0.05, f"after {cut} bytes of a request")
        expect_body(c.read_response(), e.objects["/t1/meta.json"], "request split in 5 sends")


@test
def client_abort_mid_download(e):
    import socket as _s
    import struct as _st
    for _ in range(3):
        with e.conn(timeout=10) as c:
            c.send(build_request("GET", "/t1/big.m4s"))
            got = b""
            while len(got) < 200_000:
                chunk = c.sock.recv(65536)
                check(chunk, "closed early")
                got += chunk
            # Reset, not a FIN: the server's next send fails with ECONNRESET/EPIPE.
            c.sock.setsockopt(_s.SOL_SOCKET, _s.SO_LINGER, _st.pack("ii", 1, 0))
    expect_body(e.get("/t1/big.m4s", timeout=30), e.objects["/t1/big.m4s"],
                "8 MiB after three aborted downloads")
    check(e.running(), "edge died after clients aborted downloads")


@test
def many_connections_at_once(e):
    conns = []
    try:
        for i in range(150):
            conns.append(e.conn(timeout=15))
        for i, c in enumerate(conns):
            c.send(build_request("GET", "/t1/init.mp4" if i % 2 else "/t1/seg-2.m4s"))
        for i, c in enumerate(conns):
            k = "/t1/init.mp4" if i % 2 else "/t1/seg-2.m4s"
            expect_body(c.read_response(), e.objects[k], f"connection {i} of 150")
    finally:
        for c in conns:
            c.close()


@test
def http10_keep_alive_is_explicit(e):
    # HTTP/1.0 persistence only with "Connection: keep-alive" echoed back; otherwise close.
    with e.conn() as c:
        c.send(b"GET /t1/one.bin HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        r = c.read_response()
        expect_body(r, b"x", "HTTP/1.0 keep-alive GET")
        if "keep-alive" in r.tokens("Connection"):
            c.send(b"GET /t1/one.bin HTTP/1.0\r\n\r\n")
            expect_body(c.read_response(), b"x", "second HTTP/1.0 request")
        c.expect_eof(3.0, "HTTP/1.0 connection without keep-alive echoed")


if __name__ == "__main__":
    sys.exit(run(standard_setup()))
