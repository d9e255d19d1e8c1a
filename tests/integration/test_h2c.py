# SPDX-License-Identifier: MIT
"""Prior-knowledge HTTP/2 (h2c) on the plain listener: bodies, ranges and conditionals through
curl; with hand-built frames (h2peer.py), the error cases of RFC 9113 §3.4-§8 and RFC 7541
each against its exact outcome; misses through the fill path, windows and resets; the access
log; HTTP/1.1 unaffected beside it. The floods are test_h2_floods.py's."""

import os
import shutil
import socket
import struct
import subprocess
import sys
import time

from edgeharness import (HOST, Edge, Fail, build_request, check, eq, metric, run, sha, skip,
                         start_pushed, test)
from h2frames import PREFACE, frame, get_block, split_frames
from h2peer import (ACK, CANCEL, COMPRESSION_ERROR, CONTINUATION, DATA, END_HEADERS, END_STREAM,
                    ENHANCE_YOUR_CALM, FLOW_CONTROL_ERROR, FRAME_SIZE_ERROR, GET, GOAWAY,
                    HEADER_LIST, HEADERS, NO_ERROR, OPEN, PADDED, PING, PRIO, PRIORITY,
                    PROTOCOL_ERROR, PUSH_PROMISE, Peer, RST_STREAM, SETTINGS, STREAM_CLOSED,
                    WINDOW_UPDATE, conversation, curl, expect, fields, goaway_code, hdrs,
                    hpack_int, hstr, req, setting, u32)
from origin import Origin
from peeraddr import outward_address


def h2_conn(e):
    s = socket.create_connection((HOST, e.port), timeout=10)
    s.sendall(PREFACE + frame(4, 0, 0))
    return s


@test
def curl_gets_whole_objects(e):
    for key in ("/t1/seg-1.m4s", "/t1/init.mp4", "/t1/big.m4s", "/t1/one.bin"):
        line, status, hdrs, body = curl(e, key)
        check(line.startswith("HTTP/2"), f"{key}: not HTTP/2: {line}")
        eq(status, 200, f"{key} status")
        eq(int(hdrs["content-length"]), len(e.objects[key]), f"{key} content-length")
        check(sha(body) == sha(e.objects[key]), f"{key}: body differs")
        check("etag" in hdrs and "last-modified" in hdrs, f"{key}: validators missing")


@test
def cmcd_logged_from_fields(e):
    # The access log's cmcd= of an HTTP/2 stream comes from its CMCD fields, as over HTTP/1.1.
    line, status, _, _ = curl(e, "/t1/seg-1.m4s?h2cmcd=1", "-H", "CMCD-Request: bl=2100",
                              "-H", 'CMCD-Session: sid="h2-log-check"')
    eq(status, 200, "status")
    deadline = time.monotonic() + 5
    hits = []
    while not hits and time.monotonic() < deadline:
        with open(e.access_log, "rb") as f:
            hits = [ln for ln in f.read().decode(errors="replace").splitlines() if "h2cmcd=1" in ln]
        time.sleep(0.05)
    check(hits and 'sid="h2-log-check"' in hits[0] and "bl=2100" in hits[0],
          f"access log line: {hits[:1]}")


@test
def ranges_and_conditionals(e):
    key = "/t1/seg-1.m4s"
    data = e.objects[key]
    _, status, hdrs, body = curl(e, key, "-H", "Range: bytes=100-199")
    eq(status, 206, "range status")
    eq(hdrs["content-range"], f"bytes 100-199/{len(data)}", "content-range")
    check(body == data[100:200], "range body differs")
    _, status, hdrs, _ = curl(e, key)
    _, status, _, body = curl(e, key, "-H", f"If-None-Match: {hdrs['etag']}")
    eq(status, 304, "If-None-Match status")
    eq(body, b"", "304 body")
    _, status, _, _ = curl(e, "/t1/absent.m4s")
    eq(status, 404, "absent key")


@test
def same_rules_as_http1(e):
    """What HTTP/1.1 refuses or reads as a list, h2 does the same: a GET or an OPTIONS with
    content is 400 (content_refused_at_once: answered at its first DATA with bytes); a GET
    whose DATA carries nothing is served; If-None-Match sent as two fields is one list, on a
    hit."""
    _, _, h, _ = curl(e, "/t1/one.bin")
    etag = h["etag"]
    eq(h.get("server"), "sluice", "server, as HTTP/1.1 sends it (exposed to players)")
    options = fields((":method", "OPTIONS"), (":scheme", "http"), (":path", "/t1/one.bin"),
                     (":authority", "edge.test"), ("origin", "https://p.example"),
                     ("access-control-request-method", "GET"))
    p = conversation(e, [hdrs(1, GET, END_HEADERS), frame(DATA, END_STREAM, 1, b"hello"), 1,
                         hdrs(3, options, END_HEADERS), frame(DATA, END_STREAM, 3, b"x"), 3,
                         hdrs(5, GET, END_HEADERS), frame(DATA, END_STREAM, 5, b""), 5,
                         hdrs(7, req(("if-none-match", '"other"'), ("if-none-match", etag))),
                         7])
    expect(p, ("status", 1, 400), "GET with content")
    expect(p, ("status", 3, 400), "OPTIONS with content")
    expect(p, ("status", 5, 200), "GET with an empty DATA frame")
    expect(p, ("status", 7, 304), "If-None-Match as two fields, the second matching")


@test
def content_refused_at_once(e):
    """A request with content is refused at its first DATA frame with bytes, as HTTP/1.1
    refuses one at its head (a GET 400, a POST 405, the same bodies), not once the client has
    sent it all (RFC 9113 §8.1): the edge takes no content. The stream is not reset (curl 7.88
    takes a RST_STREAM NO_ERROR for a failed exchange): what the client sends after the answer
    is taken, and the connection goes on."""
    post = fields((":method", "POST"), (":scheme", "http"), (":path", "/t1/one.bin"),
                  (":authority", "edge.test"))
    p = conversation(e, [hdrs(1, GET, END_HEADERS), frame(DATA, 0, 1, b"hello"), 1,
                         hdrs(3, post, END_HEADERS), frame(DATA, 0, 3, b"x" * 100), 3,
                         frame(DATA, END_STREAM, 1, bytes(16000)),
                         frame(DATA, END_STREAM, 3, b"y"), hdrs(5, GET), 5])
    for sid, method, status in ((1, "GET", 400), (3, "POST", 405)):
        eq(p.status(sid), status, f"{method} with content, before its end")
        eq(data_bytes(p, sid), e.request(method, "/t1/one.bin", body=b"hello").body,
           f"{method}'s body, as HTTP/1.1's")
        check(not p.of(RST_STREAM, sid), f"stream {sid} reset: {p.summary()}")
    expect(p, ("status", 5, 200), "the next stream on the connection")
    # A body past the windows: curl has its 405 and stops sending.
    upload = os.path.join(e.dir, "upload.bin")
    with open(upload, "wb") as f:
        f.write(bytes(4 << 20))
    eq(curl(e, "/t1/one.bin", "-X", "POST", "--data-binary", "@" + upload)[1], 405, "curl POST")


@test
def oversize_fields_431_as_http1(e):
    """Fields past http2.max_header_list are answered 431 on their stream, as HTTP/1.1 answers
    a head past limits.max_header_bytes (RFC 9113 §10.5.1 allows it), never a stream reset;
    the connection goes on and serves the next stream."""
    pad = "p" * (HEADER_LIST + 1024)
    eq(e.get("/t1/one.bin", [("X-Pad", pad)]).status, 431, "HTTP/1.1")
    refused = metric(e, "sluice_edge_parse_refusals_total", '{status="431"}')
    line, status, h, body = curl(e, "/t1/one.bin", "-H", f"X-Pad: {pad}")
    check(line.startswith("HTTP/2"), f"not HTTP/2: {line}")
    eq(status, 431, "h2 status")
    eq(h.get("server"), "sluice", "server on the 431")
    eq(body, b"431 Request Header Fields Too Large\n", "h2 body")
    eq(metric(e, "sluice_edge_parse_refusals_total", '{status="431"}') - refused, 1.0,
       "h2 431 counted as a parse refusal")
    # Raw frames: the block split over HEADERS and a CONTINUATION, each within the frame size.
    block = req(*[(f"x-pad-{i}", "p" * 4000) for i in range(5)])
    half = len(block) // 2
    p = conversation(e, [hdrs(1, block[:half], END_STREAM),
                         frame(CONTINUATION, END_HEADERS, 1, block[half:]), 1, hdrs(3, GET), 3])
    check(p.of(HEADERS, 1) and not p.of(RST_STREAM, 1), f"stream 1 not answered: {p.summary()}")
    eq(p.status(1), 431, "stream 1's status")
    expect(p, ("status", 3, 200), "the next stream on the connection")


@test
def field_count_431_as_http1(e):
    """limits.max_headers (64 by default) counts a request's fields over HTTP/2 as over
    HTTP/1.1 (pseudo-fields aside, a cookie's crumbs as its one line): 70 small fields are 431
    on both, 50 are served on both."""
    for n, want in ((70, 431), (50, 200)):
        fields = [(f"X-F{i}", "1") for i in range(n)]
        eq(e.get("/t1/one.bin", fields).status, want, f"HTTP/1.1, {n} fields")
        args = [a for k, v in fields for a in ("-H", f"{k}: {v}")]
        line, status, _, _ = curl(e, "/t1/one.bin", *args)
        check(line.startswith("HTTP/2"), f"not HTTP/2: {line}")
        eq(status, want, f"h2c, {n} fields")
    # A cookie sent as crumbs, one field each (RFC 9113 §8.2.3, as browsers split it), is one
    # Cookie line over HTTP/1.1: 60 crumbs and 10 other fields are served on both, three times
    # on one h2 connection (three refusals would end it as abuse).
    others = [(f"x-f{i}", "1") for i in range(10)]
    crumbs = [("cookie", f"c{i}=v") for i in range(60)]
    line = "; ".join(v for _, v in crumbs)
    eq(e.get("/t1/one.bin", [("Cookie", line)] + others).status, 200, "HTTP/1.1, one Cookie line")
    p = conversation(e, [hdrs(sid, req(*crumbs, *others)) for sid in (1, 3, 5)] + [1, 3, 5])
    for sid in (1, 3, 5):
        eq(p.status(sid), 200, f"h2c, 60 cookie crumbs, stream {sid}")


# Request-targets sent over both protocols, and the status each must get from both. The bytes
# outside RFC 3986 that browsers leave unencoded (WHATWG URL: "|" and "^" in a path, and "`",
# "{" and "}" in a query too) are taken, and name the same key as their percent-encoded form;
# the others are refused, and so is a target too long for HTTP/1.1's parser.
TARGET_CASES = [
    ("/t1/p|q^r.bin", 200),
    ("/t1/p%7Cq%5Er.bin", 200),
    ("/t1/p%7cq^r.bin", 200),
    ("/t1/one.bin?a={b}|`c`^d", 200),
    ("/t1/p{q}`r`.bin", 404),
    ('/t1/a"b.bin', 400),
    ("/t1/a<b>.bin", 400),
    ("/t1/a\\b.bin", 400),
    ("/t1/caf\xe9.bin", 400),
    ("/t1/one.bin?pad=" + "x" * 4096, 414),  # past limits.max_target (4096)
]


@test
def targets_answered_as_http1(e):
    """Each target of TARGET_CASES gets the same status over HTTP/1.1 and h2, and a served one
    the same body (one key, whichever way its bytes were written)."""
    e.put("/t1/p%7Cq%5Er.bin", b"pipe-and-caret")
    bodies = {"/t1/one.bin": e.objects["/t1/one.bin"], "/t1/p": b"pipe-and-caret"}
    bad = []
    for target, want in TARGET_CASES:
        h1 = e.get(target)
        p = conversation(e, [hdrs(1, req(path=target)), 1])
        h2, h2_body = p.status(1), b"".join(f[3] for f in p.of(DATA, 1))
        if (h1.status, h2) != (want, want):
            bad.append(f"{target[:40]!r}: HTTP/1.1 {h1.status}, h2 {h2}, want {want}")
        elif want == 200:
            body = next(v for k, v in bodies.items() if target.startswith(k))
            if h1.body != body or h2_body != body:
                bad.append(f"{target[:40]!r}: body differs (HTTP/1.1 {len(h1.body)} bytes, "
                           f"h2 {len(h2_body)})")
    check(not bad, f"{len(bad)} of {len(TARGET_CASES)} targets:\n  " + "\n  ".join(bad))


# Authorities sent as HTTP/1.1's Host and as h2's :authority and host, with the status each
# must get: HTTP/1.1's Host rules over both (RFC 9110 §7.2), with no userinfo (RFC 9113
# §8.3.1) and no empty host before a port (RFC 9110 §4.2.1).
AUTHORITY_CASES = [
    ("edge.test", 200, 200),
    ("EDGE.test:8080", 200, 200),
    ("[::1]", 200, 200),
    ("edge.test:", 200, 200),
    ("a%20b", 200, 200),
    ("a@b", 400, 400),
    ("u@edge.test", 400, 400),
    ("edge.test:abc", 400, 400),
    ("edge.test:123456", 400, 400),
    ("[zz]", 400, 400),
    ("a%zzb", 400, 400),
    (":80", 400, 400),
    (":", 400, 400),
]


@test
def authority_checked_as_host(e):
    """Each authority of AUTHORITY_CASES gets its status over HTTP/1.1 (Host) and over h2
    (:authority, and host without :authority); a host beside :authority must name the same
    (RFC 9113 §8.3.1), letter case aside. A refusal is a 400 on its stream (as a malformed
    :path is), and the connection goes on."""
    bad = []
    for value, want_h1, want_h2 in AUTHORITY_CASES:
        with socket.create_connection((HOST, e.port), timeout=5) as s:
            s.sendall(build_request("GET", "/t1/one.bin", [("Connection", "close")],
                                    host=value))
            head = s.recv(64)
        h1 = int(head[9:12]) if head.startswith(b"HTTP/1.1 ") else head
        pseudo = ((":method", "GET"), (":scheme", "http"), (":path", "/t1/one.bin"))
        p = conversation(e, [hdrs(1, fields(*pseudo, (":authority", value))), 1,
                             hdrs(3, fields(*pseudo, ("host", value))), 3])
        got = (h1, p.status(1), p.status(3))
        if got != (want_h1, want_h2, want_h2) or p.of(RST_STREAM) or p.of(GOAWAY):
            bad.append(f"{value!r}: HTTP/1.1 {h1}, :authority {p.status(1)}, host "
                       f"{p.status(3)}, want {want_h1}/{want_h2}: {p.summary()[-80:]}")
    check(not bad, f"{len(bad)} of {len(AUTHORITY_CASES)} authorities:\n  " + "\n  ".join(bad))
    p = conversation(e, [hdrs(1, req(("host", "other.test"))), 1,
                         hdrs(3, req(("host", "EDGE.TEST"))), 3, hdrs(5, GET), 5])
    expect(p, ("status", 1, 400), ":authority edge.test, host other.test")
    expect(p, ("status", 3, 200), ":authority edge.test, host EDGE.TEST")
    expect(p, ("status", 5, 200), "the next stream on the connection")


@test
def many_streams_one_connection(e):
    # tools/deps installs nghttp2-client: without nghttp this case fails, it does not pass.
    check(shutil.which("nghttp"), "nghttp missing (tools/deps installs nghttp2-client)")
    # 20 concurrent streams on one connection, each body checked for its length by nghttp.
    out = subprocess.run(["nghttp", "-n", "-s", "-m", "20",
                          f"http://{HOST}:{e.port}/t1/seg-2.m4s"], capture_output=True, text=True,
                         timeout=30)
    check(out.returncode == 0, f"nghttp failed: {out.stdout} {out.stderr}")
    eq(out.stdout.count("/t1/seg-2.m4s"), 20, "streams completed")


@test
def http1_still_served(e):
    r = e.get("/t1/seg-2.m4s")
    eq(r.status, 200, "HTTP/1.1 status")
    check(sha(r.body) == sha(e.objects["/t1/seg-2.m4s"]), "HTTP/1.1 body")


@test
def flow_control_honoured(e):
    # Default windows (65535): the server must stop there until WINDOW_UPDATE.
    with h2_conn(e) as s:
        s.sendall(frame(1, 0x5, 1, get_block("/t1/seg-1.m4s")))
        s.settimeout(2)
        got, buf = 0, b""
        try:
            while True:
                d = s.recv(65536)
                if not d:
                    break
                buf += d
        except socket.timeout:
            pass
        off = 0
        while off + 9 <= len(buf):
            n = int.from_bytes(buf[off:off + 3], "big")
            if buf[off + 3] == 0:
                got += n
            off += 9 + n
        eq(got, 65535, "DATA bytes before any WINDOW_UPDATE")


# ---- frame-level cases: RFC 9113 §3.4-§8 and RFC 7541, one connection each (h2peer.py) ----

def continued(n):
    """Stream 1's GET in a HEADERS frame and n CONTINUATION frames, the last ending it."""
    cut = [len(GET) * i // (n + 1) for i in range(n + 2)]
    parts = [GET[a:b] for a, b in zip(cut, cut[1:])]
    return [hdrs(1, parts[0], END_STREAM)] + [
        frame(CONTINUATION, END_HEADERS if i == n else 0, 1, parts[i]) for i in range(1, n + 1)]


BIG = hdrs(1, req(path="/t1/big.m4s"))  # half-closed (remote) while its body waits for window
WIN0 = setting(4, 0)

# (name, reference, steps, expected outcome[, client SETTINGS, or None for no SETTINGS at all]).
# Where the RFC names a stream error, nghttp2 at times ends the connection with the same code
# instead, which RFC 9113 §5.4.1 allows ("MAY choose to treat a stream error as a connection
# error"): those cases, marked "escalated", expect what the edge does.
FRAME_CASES = [
    # §3.4 the connection preface
    ("first frame not SETTINGS", "9113 §3.4", [frame(PING, 0, 0, b"12345678")],
     ("goaway", PROTOCOL_ERROR), None),
    # §4.1 frame format
    ("unknown flags ignored", "9113 §4.1", [frame(PING, 0xF0, 0, b"flags-ok"), hdrs(1, GET, 0xD5)],
     ("status", 1, 200)),
    ("reserved bit of the stream id ignored", "9113 §4.1", [hdrs(0x80000001, GET)],
     ("status", 1, 200)),
    # §4.2 frame size
    ("DATA over SETTINGS_MAX_FRAME_SIZE", "9113 §4.2", [OPEN, frame(DATA, 0, 1, bytes(16385))],
     ("goaway", FRAME_SIZE_ERROR)),  # either kind of error for DATA
    ("HEADERS over SETTINGS_MAX_FRAME_SIZE", "9113 §4.2",
     [hdrs(1, GET + fields(("x-pad", "p" * 16400)))], ("goaway", FRAME_SIZE_ERROR)),
    # §5.1 stream states
    ("DATA on an idle stream", "9113 §5.1", [frame(DATA, 0, 1, b"x")], ("goaway", PROTOCOL_ERROR)),
    ("RST_STREAM on an idle stream", "9113 §5.1", [frame(RST_STREAM, 0, 1, u32(CANCEL))],
     ("goaway", PROTOCOL_ERROR)),
    ("WINDOW_UPDATE on an idle stream", "9113 §5.1", [frame(WINDOW_UPDATE, 0, 1, u32(1))],
     ("goaway", PROTOCOL_ERROR)),
    ("PRIORITY on an idle stream allowed", "9113 §5.1",
     [frame(PRIORITY, 0, 3, u32(0) + b"\x10"), hdrs(5, GET)], ("status", 5, 200)),
    ("DATA on a half-closed (remote) stream", "9113 §5.1", [BIG, frame(DATA, 0, 1, b"x")],
     ("goaway", STREAM_CLOSED)),  # escalated
    ("HEADERS on a half-closed (remote) stream", "9113 §5.1",
     [BIG, hdrs(1, fields(("x-trailer", "1")))], ("goaway", STREAM_CLOSED)),  # escalated
    ("WINDOW_UPDATE and PRIORITY on a half-closed (remote) stream", "9113 §5.1",
     [BIG, frame(WINDOW_UPDATE, 0, 1, u32(100)), frame(PRIORITY, 0, 1, u32(0) + b"\x10")],
     ("ok",)),
    ("DATA after the stream ended both ways", "9113 §5.1",
     [hdrs(1, GET), 1, frame(DATA, END_STREAM, 1, b"x")], ("goaway", STREAM_CLOSED)),
    ("WINDOW_UPDATE and RST_STREAM on a closed stream ignored", "9113 §5.1",
     [hdrs(1, GET), 1, frame(WINDOW_UPDATE, 0, 1, u32(1)), frame(RST_STREAM, 0, 1, u32(CANCEL))],
     ("ok",)),
    ("DATA after the client's RST_STREAM", "9113 §5.1",
     [OPEN, frame(RST_STREAM, 0, 1, u32(CANCEL)), frame(DATA, 0, 1, b"x")],
     ("goaway", STREAM_CLOSED)),  # escalated
    # §5.1.1 stream identifiers
    ("even stream id from a client", "9113 §5.1.1", [hdrs(2, GET)], ("goaway", PROTOCOL_ERROR)),
    ("stream id lower than an earlier one", "9113 §5.1.1", [hdrs(5, GET), hdrs(1, GET)],
     ("goaway", PROTOCOL_ERROR)),
    ("stream id skipped, then used", "9113 §5.1.1", [hdrs(1, GET), hdrs(7, GET), 7, hdrs(3, GET)],
     ("goaway", PROTOCOL_ERROR)),
    ("HEADERS on stream 0", "9113 §5.1.1", [hdrs(0, GET)], ("goaway", PROTOCOL_ERROR)),
    # §5.1.2 concurrency: 100 streams held open by a zero window, ours acknowledged
    ("stream past SETTINGS_MAX_CONCURRENT_STREAMS", "9113 §5.1.2",
     [frame(SETTINGS, ACK, 0)] + [hdrs(sid, GET) for sid in range(1, 202, 2)],
     ("goaway", PROTOCOL_ERROR), WIN0),  # escalated
    # §5.3.1 and §6.3 priority
    ("HEADERS depending on its own stream", "9113 §5.3.1",
     [hdrs(1, u32(1) + b"\x10" + GET, END_STREAM | END_HEADERS | PRIO)],
     ("goaway", PROTOCOL_ERROR)),  # escalated
    ("PRIORITY depending on its own stream", "9113 §5.3.1",
     [frame(PRIORITY, 0, 1, u32(1) + b"\x10")], ("goaway", PROTOCOL_ERROR)),  # escalated
    ("PRIORITY of 4 octets", "9113 §6.3", [frame(PRIORITY, 0, 1, u32(0))],
     ("goaway", FRAME_SIZE_ERROR)),  # escalated
    ("PRIORITY on stream 0", "9113 §6.3", [frame(PRIORITY, 0, 0, u32(1) + b"\x10")],
     ("goaway", PROTOCOL_ERROR)),
    # §5.5 extensions
    ("unknown frame type ignored", "9113 §5.5", [frame(0x20, 0, 0, b"ext"), hdrs(1, GET)],
     ("status", 1, 200)),
    ("unknown frame type inside a field block", "9113 §5.5",
     [hdrs(1, GET, END_STREAM), frame(0x20, 0, 1, b"ext"), frame(CONTINUATION, END_HEADERS, 1)],
     ("goaway", PROTOCOL_ERROR)),
    # §6.1 DATA
    ("DATA on stream 0", "9113 §6.1", [frame(DATA, 0, 0, b"x")], ("goaway", PROTOCOL_ERROR)),
    ("DATA padding longer than the payload", "9113 §6.1",
     [OPEN, frame(DATA, PADDED, 1, b"\x05abc")], ("goaway", PROTOCOL_ERROR)),
    # §6.2 HEADERS
    ("HEADERS padding longer than the payload", "9113 §6.2",
     [hdrs(1, bytes([200]) + GET, END_STREAM | END_HEADERS | PADDED)], ("goaway", PROTOCOL_ERROR)),
    ("padded HEADERS", "9113 §6.2",
     [hdrs(1, bytes([4]) + GET + bytes(4), END_STREAM | END_HEADERS | PADDED)],
     ("status", 1, 200)),
    # §6.4 RST_STREAM
    ("RST_STREAM on stream 0", "9113 §6.4", [frame(RST_STREAM, 0, 0, u32(CANCEL))],
     ("goaway", PROTOCOL_ERROR)),
    ("RST_STREAM of 3 octets", "9113 §6.4", [OPEN, frame(RST_STREAM, 0, 1, b"\0\0\x08")],
     ("goaway", FRAME_SIZE_ERROR)),
    # §6.5 SETTINGS
    ("SETTINGS on stream 1", "9113 §6.5", [frame(SETTINGS, 0, 1)], ("goaway", PROTOCOL_ERROR)),
    ("SETTINGS of 5 octets", "9113 §6.5", [frame(SETTINGS, 0, 0, bytes(5))],
     ("goaway", FRAME_SIZE_ERROR)),
    ("SETTINGS ACK with a payload", "9113 §6.5", [frame(SETTINGS, ACK, 0, setting(3, 10))],
     ("goaway", FRAME_SIZE_ERROR)),
    ("SETTINGS_ENABLE_PUSH of 2", "9113 §6.5.2", [frame(SETTINGS, 0, 0, setting(2, 2))],
     ("goaway", PROTOCOL_ERROR)),
    ("SETTINGS_INITIAL_WINDOW_SIZE of 2^31", "9113 §6.5.2",
     [frame(SETTINGS, 0, 0, setting(4, 1 << 31))], ("goaway", FLOW_CONTROL_ERROR)),
    ("SETTINGS_MAX_FRAME_SIZE below 16384", "9113 §6.5.2",
     [frame(SETTINGS, 0, 0, setting(5, 16383))], ("goaway", PROTOCOL_ERROR)),
    ("SETTINGS_MAX_FRAME_SIZE above 2^24-1", "9113 §6.5.2",
     [frame(SETTINGS, 0, 0, setting(5, 1 << 24))], ("goaway", PROTOCOL_ERROR)),
    ("unknown setting ignored", "9113 §6.5.2", [frame(SETTINGS, 0, 0, setting(0xF0, 7)),
                                                hdrs(1, GET)], ("status", 1, 200)),
    # §6.6 and §8.4 PUSH_PROMISE
    ("PUSH_PROMISE from a client", "9113 §8.4",
     [OPEN, frame(PUSH_PROMISE, END_HEADERS, 1, u32(2) + GET)], ("goaway", PROTOCOL_ERROR)),
    # §6.7 PING
    ("PING of 7 octets", "9113 §6.7", [frame(PING, 0, 0, bytes(7))],
     ("goaway", FRAME_SIZE_ERROR)),
    ("PING on stream 1", "9113 §6.7", [frame(PING, 0, 1, bytes(8))], ("goaway", PROTOCOL_ERROR)),
    ("unsolicited PING ACK ignored", "9113 §6.7", [frame(PING, ACK, 0, bytes(8))], ("ok",)),
    # §6.8 GOAWAY
    ("GOAWAY on stream 1", "9113 §6.8", [frame(GOAWAY, 0, 1, u32(0) + u32(0))],
     ("goaway", PROTOCOL_ERROR)),
    # §6.9 WINDOW_UPDATE and flow control
    ("WINDOW_UPDATE of 0 on the connection", "9113 §6.9", [frame(WINDOW_UPDATE, 0, 0, u32(0))],
     ("goaway", PROTOCOL_ERROR)),
    ("WINDOW_UPDATE of 0 on a stream", "9113 §6.9", [OPEN, frame(WINDOW_UPDATE, 0, 1, u32(0))],
     ("goaway", PROTOCOL_ERROR)),  # escalated
    ("WINDOW_UPDATE of 3 octets", "9113 §6.9", [frame(WINDOW_UPDATE, 0, 0, b"\0\0\1")],
     ("goaway", FRAME_SIZE_ERROR)),
    ("connection window past 2^31-1", "9113 §6.9.1",
     [frame(WINDOW_UPDATE, 0, 0, u32(0x7FFFFFFF))], ("goaway", FLOW_CONTROL_ERROR)),
    ("stream window past 2^31-1", "9113 §6.9.1",
     [OPEN, frame(WINDOW_UPDATE, 0, 1, u32(0x7FFFFFFF))], ("rst", 1, FLOW_CONTROL_ERROR)),
    ("SETTINGS_INITIAL_WINDOW_SIZE pushing a stream window past 2^31-1", "9113 §6.9.2",
     [OPEN, frame(WINDOW_UPDATE, 0, 1, u32(0x7FFFFFFF - 65535)),
      frame(SETTINGS, 0, 0, setting(4, 65536))], ("goaway", FLOW_CONTROL_ERROR)),
    # The values of one SETTINGS frame are processed in order (§6.5.3): the first takes the
    # window to 2^31-1 + 1000, whatever the second then makes of it.
    ("SETTINGS_INITIAL_WINDOW_SIZE past 2^31-1 and back in one frame", "9113 §6.9.2",
     [OPEN, frame(WINDOW_UPDATE, 0, 1, u32(1000)),
      frame(SETTINGS, 0, 0, setting(4, 0x7FFFFFFF) + setting(4, 65535))],
     ("goaway", FLOW_CONTROL_ERROR)),
    # §6.10 CONTINUATION
    ("CONTINUATION without HEADERS", "9113 §6.10", [frame(CONTINUATION, END_HEADERS, 1, GET)],
     ("goaway", PROTOCOL_ERROR)),
    ("PING inside a field block", "9113 §6.10",
     [hdrs(1, GET, END_STREAM), frame(PING, 0, 0, bytes(8))], ("goaway", PROTOCOL_ERROR)),
    ("CONTINUATION on another stream", "9113 §6.10",
     [hdrs(1, GET[:5], END_STREAM), frame(CONTINUATION, END_HEADERS, 3, GET[5:])],
     ("goaway", PROTOCOL_ERROR)),
    ("field block split over CONTINUATION", "9113 §6.10",
     [hdrs(1, GET[:5], END_STREAM), frame(CONTINUATION, 0, 1, GET[5:9]),
      frame(CONTINUATION, END_HEADERS, 1, GET[9:])], ("status", 1, 200)),
    # The CONTINUATION bound (H2_MAX_CONTINUATIONS, 8 per field block): at it the request is
    # served, one past it ends the connection.
    ("field block over 8 CONTINUATION frames", "9113 §6.10", continued(8), ("status", 1, 200)),
    ("field block over 9 CONTINUATION frames", "9113 §10.5", continued(9),
     ("goaway", ENHANCE_YOUR_CALM)),
    # §8.1 and §8.2 malformed requests: stream errors of type PROTOCOL_ERROR
    ("trailers without END_STREAM", "9113 §8.1",
     [OPEN, hdrs(1, fields(("x-t", "1")), END_HEADERS)],
     ("rst", 1, PROTOCOL_ERROR)),
    ("pseudo-header field in trailers", "9113 §8.1",
     [OPEN, hdrs(1, fields((":path", "/t1/one.bin")))], ("rst", 1, PROTOCOL_ERROR)),
    # Trailer fields are not request fields: a Range only there asks for no range.
    ("range only in the trailers", "9110 §6.5.1",
     [OPEN, hdrs(1, fields(("range", "bytes=0-0")))], ("status", 1, 200)),
    ("content-length with no body", "9113 §8.1.1", [hdrs(1, req(("content-length", "5")))],
     ("rst", 1, PROTOCOL_ERROR)),
    ("content-length other than the DATA", "9113 §8.1.1",
     [hdrs(1, req(("content-length", "1")), END_HEADERS), frame(DATA, END_STREAM, 1, b"abc")],
     ("rst", 1, PROTOCOL_ERROR)),
    ("uppercase field name", "9113 §8.2.1", [hdrs(1, req(("X-Upper", "1")))],
     ("rst", 1, PROTOCOL_ERROR)),
    ("space in a field name", "9113 §8.2.1", [hdrs(1, req(("x sp", "1")))],
     ("rst", 1, PROTOCOL_ERROR)),
    ("empty field name", "9113 §8.2.1", [hdrs(1, req(("", "1")))], ("rst", 1, PROTOCOL_ERROR)),
    ("CR LF in a field value", "9113 §8.2.1", [hdrs(1, req(("x-v", "a\r\nx-b: c")))],
     ("rst", 1, PROTOCOL_ERROR)),
    ("NUL in a field value", "9113 §8.2.1", [hdrs(1, req(("x-v", "a\0b")))],
     ("rst", 1, PROTOCOL_ERROR)),
    ("field value with leading whitespace", "9113 §8.2.1", [hdrs(1, req(("x-v", " a")))],
     ("rst", 1, PROTOCOL_ERROR)),
    ("connection field", "9113 §8.2.2", [hdrs(1, req(("connection", "keep-alive")))],
     ("rst", 1, PROTOCOL_ERROR)),
    ("keep-alive field", "9113 §8.2.2", [hdrs(1, req(("keep-alive", "timeout=5")))],
     ("rst", 1, PROTOCOL_ERROR)),
    ("proxy-connection field", "9113 §8.2.2", [hdrs(1, req(("proxy-connection", "close")))],
     ("rst", 1, PROTOCOL_ERROR)),
    ("transfer-encoding field", "9113 §8.2.2", [hdrs(1, req(("transfer-encoding", "chunked")))],
     ("rst", 1, PROTOCOL_ERROR)),
    ("upgrade field", "9113 §8.2.2", [hdrs(1, req(("upgrade", "h2c")))],
     ("rst", 1, PROTOCOL_ERROR)),
    ("TE other than trailers", "9113 §8.2.2", [hdrs(1, req(("te", "gzip")))],
     ("rst", 1, PROTOCOL_ERROR)),
    ("TE: trailers allowed", "9113 §8.2.2", [hdrs(1, req(("te", "trailers")))],
     ("status", 1, 200)),
    # §8.3 pseudo-header fields
    ("no :method", "9113 §8.3.1", [hdrs(1, req(drop=(":method",)))], ("rst", 1, PROTOCOL_ERROR)),
    ("no :scheme", "9113 §8.3.1", [hdrs(1, req(drop=(":scheme",)))], ("rst", 1, PROTOCOL_ERROR)),
    ("no :path", "9113 §8.3.1", [hdrs(1, req(drop=(":path",)))], ("rst", 1, PROTOCOL_ERROR)),
    ("empty :path", "9113 §8.3.1", [hdrs(1, req(path=""))], ("rst", 1, PROTOCOL_ERROR)),
    ("two :path fields", "9113 §8.3.1", [hdrs(1, req((":path", "/t1/seg-1.m4s")))],
     ("rst", 1, PROTOCOL_ERROR)),
    ("two :method fields", "9113 §8.3.1", [hdrs(1, fields((":method", "GET")) + GET)],
     ("rst", 1, PROTOCOL_ERROR)),
    ("unknown pseudo-header field", "9113 §8.3", [hdrs(1, req((":foo", "1")))],
     ("rst", 1, PROTOCOL_ERROR)),
    (":status in a request", "9113 §8.3.2", [hdrs(1, fields((":status", "200")) + GET)],
     ("rst", 1, PROTOCOL_ERROR)),
    ("pseudo-header field after a regular one", "9113 §8.3",
     [hdrs(1, fields((":method", "GET"), (":scheme", "http"), ("x-a", "1"),
                     (":path", "/t1/one.bin"), (":authority", "edge.test")))],
     ("rst", 1, PROTOCOL_ERROR)),
    ("neither :authority nor Host", "9113 §8.3.1",
     [hdrs(1, req(drop=(":authority",)))], ("rst", 1, PROTOCOL_ERROR)),
    ("Host instead of :authority", "9113 §8.3.1",
     [hdrs(1, req(("host", "edge.test"), drop=(":authority",)))], ("status", 1, 200)),
    # RFC 7541 field block decoding: connection errors of type COMPRESSION_ERROR (RFC 9113 §4.3)
    ("indexed field of index 0", "7541 §6.1", [hdrs(1, GET + b"\x80")],
     ("goaway", COMPRESSION_ERROR)),
    ("index past both tables", "7541 §2.3.3", [hdrs(1, GET + hpack_int(70, 7, 0x80))],
     ("goaway", COMPRESSION_ERROR)),
    ("literal's name index past both tables", "7541 §2.3.3",
     [hdrs(1, GET + hpack_int(70, 6, 0x40) + hstr("v"))], ("goaway", COMPRESSION_ERROR)),
    ("table size update above SETTINGS_HEADER_TABLE_SIZE", "7541 §6.3",
     [hdrs(1, hpack_int(4097, 5, 0x20) + GET)], ("goaway", COMPRESSION_ERROR)),
    ("table size update after a field", "7541 §4.2", [hdrs(1, GET + b"\x20")],
     ("goaway", COMPRESSION_ERROR)),
    ("integer past 2^32", "7541 §5.1", [hdrs(1, GET + b"\xff" + b"\xff" * 6 + b"\x0f")],
     ("goaway", COMPRESSION_ERROR)),
    ("string longer than the block", "7541 §5.2",
     [hdrs(1, GET + b"\x00" + hstr("x-v") + hpack_int(300, 7) + b"abc")],
     ("goaway", COMPRESSION_ERROR)),
    ("Huffman string holding EOS", "7541 §5.2",
     [hdrs(1, GET + b"\x00" + hstr("x-v") + b"\x84\xff\xff\xff\xff")],
     ("goaway", COMPRESSION_ERROR)),
    ("Huffman padding over 7 bits", "7541 §5.2",
     [hdrs(1, GET + b"\x00" + hstr("x-v") + b"\x82\x1f\xff")], ("goaway", COMPRESSION_ERROR)),
    ("Huffman padding not the EOS prefix", "7541 §5.2",
     [hdrs(1, GET + b"\x00" + hstr("x-v") + b"\x81\x18")], ("goaway", COMPRESSION_ERROR)),
    ("Huffman string decoded", "7541 §5.2", [hdrs(1, GET + b"\x00" + hstr("x-v") + b"\x81\x1f")],
     ("status", 1, 200)),
    ("dynamic table entry used by a later request", "7541 §2.3.2",
     [hdrs(1, GET + b"\x40" + hstr("x-dyn") + hstr("1")), 1, hdrs(3, GET + b"\xbe")],
     ("status", 3, 200)),
    ("table size update to 0 then fields", "7541 §6.3", [hdrs(1, b"\x20" + GET)],
     ("status", 1, 200)),
]


@test
def frame_level_cases(e):
    failed = []
    for name, ref, steps, want, *settings in FRAME_CASES:
        s = settings[0] if settings else b""
        p = conversation(e, steps, s if s is not None else b"", preface=s is not None)
        try:
            expect(p, want, f"{name} (RFC {ref})")
        except Fail as ex:
            failed.append(str(ex))
    check(not failed, f"{len(failed)} of {len(FRAME_CASES)} cases:\n  " + "\n  ".join(failed))


@test
def goaway_both_ways(e):
    # The client's GOAWAY (§6.8; its last stream id 0: the edge opened none): the stream the
    # client had opened is still answered in full, then the edge closes.
    p = conversation(e, [hdrs(1, GET) + frame(GOAWAY, 0, 0, u32(0) + u32(NO_ERROR)), 1])
    eq(p.status(1), 200, "request before the client's GOAWAY")
    eq(b"".join(f[3] for f in p.of(DATA, 1)), e.objects["/t1/one.bin"], "body after GOAWAY")
    check(p.eof and not p.of(RST_STREAM) and not p.of(GOAWAY), f"after it: {p.summary()}")
    # The edge's GOAWAY on a connection error names the last stream it processed (§6.8).
    p = conversation(e, [hdrs(1, GET), 1, hdrs(3, GET), 3, frame(PING, 0, 0, bytes(7))])
    expect(p, ("goaway", FRAME_SIZE_ERROR), "PING of 7 octets after two requests")
    eq(int.from_bytes(p.of(GOAWAY)[0][3][:4], "big"), 3, "GOAWAY last stream id")


# ---- misses: streams answered through the fill path ----
# The origin is origin.py's: /cold/ (any plain path), /gate/ holding the body after its first
# 64 KiB, /die/ and /e500/.

def wide_open(s):
    """Client SETTINGS with a 16 MiB stream window, and the connection window opened as far."""
    s.sendall(PREFACE + frame(4, 0, 0, struct.pack(">HI", 4, 1 << 24))
              + frame(8, 0, 0, struct.pack(">I", 1 << 30)))


def read_streams(s, want_done, timeout=20):
    """Read frames until want_done streams ended (END_STREAM or RST_STREAM) or GOAWAY. Returns
    {sid: {"status", "headers", "body", "rst"}}."""
    streams, buf, done = {}, b"", 0
    s.settimeout(timeout)
    while done < want_done:
        d = s.recv(65536)
        if not d:
            break
        got, buf = split_frames(buf + d)
        for t, f, sid, p in got:
            if sid == 0:
                if t == 6 and not f & 1:
                    s.sendall(frame(6, 1, 0, p))
                if t == 7:
                    return streams
                continue
            st = streams.setdefault(sid, {"headers": 0, "body": b"", "rst": None})
            if t == 1:
                st["headers"] += 1
                if p[:1] == b"\x88":  # HPACK static index 8: ":status: 200"
                    st["status"] = 200
            elif t == 0:
                st["body"] += p
            elif t == 3:
                st["rst"] = int.from_bytes(p[:4], "big")
                done += 1
            elif t == 7:
                return streams
            elif t == 6 and not f & 1:
                s.sendall(frame(6, 1, 0, p))
            if t in (0, 1) and f & 1:
                done += 1
    return streams


def data_frame_sizes(e, path, max_frame=None):
    """GET path over a connection whose SETTINGS say max_frame (None: nothing, 16384) and whose
    windows are wide open: (body, [DATA payload sizes])."""
    settings = struct.pack(">HI", 4, 1 << 24)
    if max_frame is not None:
        settings += struct.pack(">HI", 5, max_frame)
    body, sizes, buf = b"", [], b""
    with socket.create_connection((HOST, e.port), timeout=10) as s:
        s.sendall(PREFACE + frame(4, 0, 0, settings) + frame(8, 0, 0, struct.pack(">I", 1 << 30))
                  + frame(1, 0x5, 1, get_block(path)))
        ended = False
        while not ended:
            d = s.recv(65536)
            if not d:
                break
            got, buf = split_frames(buf + d)
            for t, f, sid, p in got:
                check(t != 7, f"GOAWAY while reading {path}")
                if t == 0 and sid == 1:
                    body += p
                    sizes.append(len(p))
                    ended = bool(f & 1)
    return body, sizes


@test
def half_closed_client_gets_whole_body(e):
    """A client that sends its request and then shuts its side (TCP FIN) still gets the whole
    8 MiB body. The FIN woke the ring's send on a full socket without room, the retry came
    back EAGAIN, and the edge took that for a broken peer: 4.5-5.2 MB of 8.4, then EOF. The
    same over HTTP/1.1, pipelined heads and bodies."""
    want = e.objects["/t1/big.m4s"]
    for attempt in range(3):
        with socket.create_connection((HOST, e.port), timeout=10) as s:
            wide_open(s)
            s.sendall(frame(1, 0x5, 1, get_block("/t1/big.m4s")))
            s.shutdown(socket.SHUT_WR)
            time.sleep(0.2)  # the socket fills before the client reads
            got = read_streams(s, 1)
        st = got.get(1, {})
        check(st.get("rst") is None, f"try {attempt}: stream reset")
        eq(len(st.get("body", b"")), len(want), f"try {attempt}: body bytes after a FIN")
        check(sha(st["body"]) == sha(want), f"try {attempt}: body differs")
    reqs = b"".join(build_request("GET", "/t1/seg-1.m4s") for _ in range(40))
    with socket.create_connection((HOST, e.port), timeout=10) as s:
        s.sendall(reqs)
        s.shutdown(socket.SHUT_WR)
        time.sleep(0.2)
        data = b""
        while True:
            d = s.recv(1 << 20)
            if not d:
                break
            data += d
    eq(data.count(b"HTTP/1.1 200 OK"), 40, "HTTP/1.1 answers after a FIN")
    eq(len(data) - data.rfind(b"\r\n\r\n") - 4, len(e.objects["/t1/seg-1.m4s"]),
       "the last answer's body whole")


@test
def data_frames_as_large_as_allowed(e):
    # RFC 9113 §4.2: never larger than the client's SETTINGS_MAX_FRAME_SIZE; as large as it
    # allows up to 64 KiB. Both go in batches from the object's mapping, copied on loopback.
    for path in ("/t1/seg-2.m4s", "/t1/seg-1.m4s"):
        want = e.objects[path]
        for max_frame, largest in ((None, 16384), (20000, 20000), (1 << 20, 65536)):
            body, sizes = data_frame_sizes(e, path, max_frame)
            check(sha(body) == sha(want), f"{path} body with max frame {max_frame}")
            eq(max(sizes), largest, f"{path}: largest DATA frame with max frame {max_frame}")


def data_len(p, sid):
    return sum(len(f[3]) for f in p.frames if f[0] == DATA and f[2] == sid)


def data_bytes(p, sid):
    return b"".join(f[3] for f in p.frames if f[0] == DATA and f[2] == sid)


@test
def windowed_bodies_exact(e):
    # Bodies in batches of frames named in the object's mapping (copied into the socket from
    # loopback and for bodies over 256 KiB, zero-copy otherwise: seg-2 from another address):
    # under small, odd window increments the client gets the object's bytes in order and
    # never one past the windows it granted, and the edge fills each window to its last byte
    # before it waits (every grant is 4096 bytes or more, so what frames of the client's
    # maximum size leave of it goes out too).
    source = outward_address()
    cases = [("/t1/seg-1.m4s", 20000, 7777, None), ("/t1/seg-2.m4s", 5000, 4099, None),
             ("/t1/big.m4s", 70001, 262147, None)]
    if source:
        cases += [("/t1/seg-2.m4s", 5000, 4099, source), ("/t1/seg-1.m4s", 20000, 7777, source)]
    for path, window, step, via in cases:
        want = e.objects[path]
        p = Peer(e, setting(4, window), source=via)
        try:
            p.send(hdrs(1, req(path=path)))
            allowed = min(window, 65535)
            granted_stream, granted_conn = window, 65535
            while not p.ended(1) and not p.eof:
                p.read_until(lambda q: q.ended(1) or data_len(q, 1) >= allowed, timeout=10)
                got = data_len(p, 1)
                check(got <= allowed, f"{path}: {got} DATA bytes past a window of {allowed}")
                if p.ended(1):
                    break
                eq(got, allowed, f"{path}: DATA bytes when the window of {allowed} was used")
                granted_stream += step
                granted_conn += step
                allowed = min(granted_stream, granted_conn)
                p.send(frame(WINDOW_UPDATE, 0, 1, u32(step))
                       + frame(WINDOW_UPDATE, 0, 0, u32(step)))
            body = data_bytes(p, 1)
            eq(len(body), len(want), f"{path}: body length under windows of {window} + {step}")
            check(body == want, f"{path}: body bytes under windows of {window} + {step}")
            check(not p.of(RST_STREAM) and not p.of(GOAWAY), f"{path}: {p.summary()[-200:]}")
        finally:
            p.close()
    if not source:
        skip("no address besides loopback: windowed bodies in zero-copy batches not checked "
             "(the copied ones were)")


@test
def small_windows_get_small_frames(e):
    # A client that asks for windows under H2_MIN_DATA gets DATA frames as large as they
    # allow. SETTINGS_INITIAL_WINDOW_SIZE 1 (h2spec 6.9.1/1): a 1-byte frame at once, then
    # each WINDOW_UPDATE moves exactly what it grants, the last one the rest of the body.
    path = "/t1/seg-2.m4s"
    want = e.objects[path]
    p = Peer(e, setting(4, 1))
    try:
        p.send(frame(WINDOW_UPDATE, 0, 0, u32(1 << 20)) + hdrs(1, req(path=path)))
        granted = 1
        for inc in (0, 1, 100, 3000, len(want)):
            if inc:
                granted += inc
                p.send(frame(WINDOW_UPDATE, 0, 1, u32(inc)))
            allowed = min(granted, len(want))
            check(p.read_until(lambda q: data_len(q, 1) >= allowed),
                  f"window {granted}: {data_len(p, 1)} DATA bytes; {p.summary()[-200:]}")
            p.settle()  # nothing past the window follows
            eq(data_len(p, 1), allowed, f"DATA bytes under a window of {granted}")
        eq([len(f[3]) for f in p.of(DATA, 1)][:4], [1, 1, 100, 3000], "the first frames' sizes")
        check(p.ended(1) and data_bytes(p, 1) == want, f"body: {p.summary()[-200:]}")
        check(not p.of(RST_STREAM) and not p.of(GOAWAY), p.summary()[-200:])
    finally:
        p.close()
    # h2spec 6.9.2/1: the window goes from 0 to 1 through SETTINGS after the request.
    p = Peer(e, setting(4, 0))
    try:
        p.send(frame(WINDOW_UPDATE, 0, 0, u32(1 << 20)) + hdrs(1, req(path=path)))
        check(p.read_until(lambda q: q.of(HEADERS, 1)), f"head: {p.summary()}")
        p.send(frame(SETTINGS, 0, 0, setting(4, 1)))
        check(p.read_until(lambda q: q.of(DATA, 1)), f"no DATA after SETTINGS: {p.summary()}")
        p.settle()
        eq([len(f[3]) for f in p.of(DATA, 1)], [1], "DATA under a window of 1 via SETTINGS")
    finally:
        p.close()


@test
def reset_mid_body_then_next_stream_exact(e):
    # The client resets a large body mid-way (batches of its frames may be under way): what
    # arrived of it is the object's first bytes, and the next stream on the connection gets
    # its own body exactly.
    big, seg = e.objects["/t1/big.m4s"], e.objects["/t1/seg-1.m4s"]
    p = Peer(e, setting(4, 1 << 24))
    try:
        p.send(hdrs(1, req(path="/t1/big.m4s")) + frame(WINDOW_UPDATE, 0, 0, u32(1 << 20)))
        check(p.read_until(lambda q: data_len(q, 1) >= 512 << 10), f"stream 1 stalled at "
              f"{data_len(p, 1)}: {p.summary()[-200:]}")
        p.send(frame(RST_STREAM, 0, 1, u32(CANCEL)) + hdrs(3, req(path="/t1/seg-1.m4s"))
               + frame(WINDOW_UPDATE, 0, 0, u32(1 << 24)))
        check(p.read_until(lambda q: q.ended(3), timeout=10), f"stream 3: {p.summary()[-200:]}")
        p.settle()
        first = data_bytes(p, 1)
        check(len(first) <= 65535 + (1 << 20), f"{len(first)} bytes of stream 1 past the window")
        check(first == big[:len(first)], "the reset stream's bytes are not the object's prefix")
        check(not any(f[1] & END_STREAM for f in p.of(DATA, 1)), "the reset body ended")
        check(data_bytes(p, 3) == seg, "the next stream's body")
        check(not p.of(GOAWAY) and not p.eof, f"connection ended: {p.summary()[-200:]}")
    finally:
        p.close()


@test
def sent_bytes_count_what_went_out(e):
    # A large body to a client that opens no window past the default 65,535 bytes and resets
    # the stream: the bytes counted are what went out, not the object's size.
    big = e.objects["/t1/big.m4s"]
    before = metric(e, "sluice_edge_sent_bytes_total")
    p = Peer(e)
    try:
        p.send(hdrs(1, req(path="/t1/big.m4s")))
        check(p.read_until(lambda q: data_len(q, 1) >= 16384), f"no body: {p.summary()[-200:]}")
        p.send(frame(RST_STREAM, 0, 1, u32(CANCEL)))
        p.settle()
    finally:
        p.close()
    sent = 0
    for _ in range(50):
        sent = metric(e, "sluice_edge_sent_bytes_total") - before
        if sent > 0:
            break
        time.sleep(0.05)
    check(16384 <= sent <= 65535, f"{sent:.0f} bytes counted of a {len(big)}-byte body cut at the window")


@test
def miss_filled_over_h2c(e):
    o = e.origin
    data = o.objects.setdefault("/cold/a.m4s", os.urandom(1536 * 1024 + 7))
    line, status, hdrs, body = curl(e, "/cold/a.m4s")
    check(line.startswith("HTTP/2"), f"not HTTP/2: {line}")
    eq(status, 200, "cold object over h2c")
    eq(int(hdrs["content-length"]), len(data), "content-length")
    check(sha(body) == sha(data), "cold body differs from the origin's")
    check("fwd=miss" in hdrs.get("cache-status", ""), f"cache-status {hdrs.get('cache-status')}")
    check(hdrs.get("etag", "").startswith('"'), "no ETag from the fill's SHA-256")
    _, status, hdrs, body = curl(e, "/cold/a.m4s")
    eq(status, 200, "second fetch")
    check(hdrs.get("cache-status", "").endswith("; hit"), f"not a hit: {hdrs.get('cache-status')}")
    check(sha(body) == sha(data), "hit body differs")
    eq(o.count("/cold/a.m4s"), 1, "origin fetches")
    _, status, _, body = curl(e, "/cold/a.m4s", "-r", "1000-1999")
    eq((status, body), (206, data[1000:2000]), "range of the filled object")


@test
def miss_range_and_failures(e):
    o = e.origin
    data = o.objects.setdefault("/cold/r.m4s", os.urandom(300000))
    _, status, hdrs, body = curl(e, "/cold/r.m4s", "-r", "5-104")
    eq(status, 206, "range on a cold object")
    eq(hdrs.get("content-range"), f"bytes 5-104/{len(data)}", "content-range")
    check(body == data[5:105], "cold range body")
    _, status, hdrs, _ = curl(e, "/e500/x.m4s")
    eq(status, 502, "origin 500 before the head")
    check("detail=upstream-failed" in hdrs.get("cache-status", ""), "cache-status on 502")
    _, status, _, _ = curl(e, "/cold/absent.m4s")
    eq(status, 404, "origin 404")
    # A fill that breaks off mid-body: the stream is reset (INTERNAL_ERROR), never padded.
    o.objects["/die/d.m4s"] = os.urandom(2 * 1024 * 1024)
    with socket.create_connection((HOST, e.port), timeout=10) as s:
        wide_open(s)
        s.sendall(frame(1, 0x5, 1, get_block("/die/d.m4s")))
        buf = b""
        while b"\x01" not in [buf[i + 3:i + 4] for i in frame_offsets(buf)]:
            d = s.recv(65536)
            check(d, "closed before the response head")
            buf += d
        o.event(o.gates, "/die/d.m4s").set()
        st = read_streams_from(s, buf, 1).get(1, {})
    eq(st.get("status"), 200, "head before the break")
    eq(st.get("rst"), 2, "RST_STREAM code after the fill broke off")
    check(len(st["body"]) < len(o.objects["/die/d.m4s"]), "a whole body from a broken fill")


@test
def twenty_streams_one_fill(e):
    o = e.origin
    path = "/gate/g.m4s"
    data = o.objects.setdefault(path, os.urandom(1024 * 1024))
    collapsed0 = metric(e, "sluice_edge_collapsed_requests_total")
    with socket.create_connection((HOST, e.port), timeout=10) as s:
        wide_open(s)
        s.sendall(b"".join(frame(1, 0x5, sid, get_block(path)) for sid in range(1, 41, 2)))
        # Every stream gets its head from the fill's first bytes while the origin holds the
        # rest; then the origin goes on.
        check(o.event(o.arrived, path).wait(10), "the origin never saw the request")
        heads, buf = set(), b""
        s.settimeout(10)
        while len(heads) < 20:
            d = s.recv(65536)
            check(d, "connection closed before 20 heads")
            buf += d
            off = 0
            while off + 9 <= len(buf):
                n = int.from_bytes(buf[off:off + 3], "big")
                if off + 9 + n > len(buf):
                    break
                if buf[off + 3] == 1:
                    heads.add(int.from_bytes(buf[off + 5:off + 9], "big"))
                off += 9 + n
        o.event(o.gates, path).set()
        rest = read_streams_from(s, buf, 20)
    eq(sorted(rest), list(range(1, 41, 2)), "streams answered")
    for sid, st in rest.items():
        eq(st["status"], 200, f"stream {sid} status")
        check(st["rst"] is None and sha(st["body"]) == sha(data), f"stream {sid} body differs")
    eq(o.count(path), 1, "origin fetches for 20 streams")
    eq(metric(e, "sluice_edge_collapsed_requests_total") - collapsed0, 19.0, "collapsed streams")


def frame_offsets(buf):
    """Offsets of the complete frames at the start of buf."""
    off, out = 0, []
    while off + 9 <= len(buf) and off + 9 + int.from_bytes(buf[off:off + 3], "big") <= len(buf):
        out.append(off)
        off += 9 + int.from_bytes(buf[off:off + 3], "big")
    return out


def read_streams_from(s, buf, want):
    """read_streams for a connection whose first bytes were already read into buf."""
    class Pre:
        def __init__(self):
            self.first = buf

        def recv(self, n):
            if self.first:
                d, self.first = self.first, b""
                return d
            return s.recv(n)

        def settimeout(self, t):
            s.settimeout(t)

        def sendall(self, d):
            s.sendall(d)
    return read_streams(Pre(), want)


@test
def reset_streams_start_few_fills(e):
    # Reset by the client (RST_STREAM CANCEL), or by the edge because the client broke the
    # stream's flow control (a WINDOW_UPDATE past 2^31-1: FLOW_CONTROL_ERROR, RFC 9113
    # §6.9.1): each is a stream the client had the edge start and then ended at once.
    for name, end in (("cancel", lambda sid: frame(3, 0, sid, b"\0\0\0\x08")),
                      ("window", lambda sid: frame(8, 0, sid, u32(0x7fffffff)))):
        resets_start_few_fills(e, name, end)


def resets_start_few_fills(e, name, end):
    o = e.origin
    for i in range(200):
        o.objects[f"/cold/reset-{name}-{i}.m4s"] = b"x" * 1000
    misses0 = metric(e, "sluice_edge_cache_misses_total")
    with socket.create_connection((HOST, e.port), timeout=10) as s:
        s.sendall(PREFACE + frame(4, 0, 0))
        out = b""
        for i in range(200):
            sid = 2 * i + 1
            out += frame(1, 0x5, sid, get_block(f"/cold/reset-{name}-{i}.m4s")) + end(sid)
        # A PING after the burst: its ACK means every frame before it was processed.
        s.sendall(out + frame(6, 0, 0, b"syncsync"))
        synced, buf = False, b""
        s.settimeout(10)
        while not synced:
            d = s.recv(65536)
            if not d:
                break
            buf += d
            while len(buf) >= 9 and len(buf) >= 9 + int.from_bytes(buf[:3], "big"):
                n, t, f = int.from_bytes(buf[:3], "big"), buf[3], buf[4]
                synced = synced or (t == 6 and f & 1) or t == 7
                buf = buf[9 + n:]
        check(synced, "neither PING ACK nor GOAWAY after the burst")
    started = metric(e, "sluice_edge_cache_misses_total") - misses0
    check(started <= 8, f"{name}: {started:.0f} fills started for 200 streams reset at once")


def log_line(e, *needles):
    """The first access-log line holding every needle, waited for (the writer flushes once per
    loop turn), or None."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with open(e.access_log, "rb") as f:
            for ln in f.read().decode(errors="replace").splitlines():
                if all(n in ln for n in needles):
                    return ln
        time.sleep(0.05)  # poll interval for the log writer
    return None


@test
def h2_access_log_lines(e):
    curl(e, "/t1/seg-1.m4s")
    line = log_line(e, '"GET /t1/seg-1.m4s"', "proto=h2")
    check(line is not None, "no access-log line for an h2 stream")
    check(" 200 " in line and "tls=plain" in line, f"h2 line: {line!r}")
    check(f" {len(e.objects['/t1/seg-1.m4s'])} " in line, f"h2 line lacks the body bytes: {line!r}")


def malformed_lines(e):
    """Access-log lines of h2 requests refused before any request was read: `"- -" 400`."""
    with open(e.access_log, "rb") as f:
        return [ln for ln in f.read().decode(errors="replace").splitlines()
                if '"- -" 400 0 ' in ln and "proto=h2" in ln]


@test
def malformed_requests_logged_and_counted(e):
    """A request nghttp2 resets as malformed (RFC 9113 §8.1.1, a stream error of type
    PROTOCOL_ERROR) gets its access-log line, status 400 with nothing sent, and counts in
    sluice_edge_parse_refusals_total{status="400"}, as the HTTP/1.1 parser's refusal of the
    same request does. Until 2026-12-08 such a stream left no trace but the reset."""
    cases = [("no :path", [hdrs(1, req(drop=(":path",)))]),
             ("connection field", [hdrs(1, req(("connection", "keep-alive")))]),
             ("uppercase field name", [hdrs(1, req(("X-Upper", "1")))]),
             ("pseudo-header field in trailers",
              [OPEN, hdrs(1, fields((":path", "/t1/one.bin")))]),
             ("content-length other than the DATA",
              [hdrs(1, req(("content-length", "1")), END_HEADERS),
               frame(DATA, END_STREAM, 1, b"abc")])]
    refused = metric(e, "sluice_edge_parse_refusals_total", '{status="400"}')
    before = len(malformed_lines(e))
    for name, steps in cases:
        expect(conversation(e, steps), ("rst", 1, PROTOCOL_ERROR), name)
    deadline = time.monotonic() + 5
    while len(malformed_lines(e)) < before + len(cases) and time.monotonic() < deadline:
        time.sleep(0.05)  # poll interval for the log writer
    eq(len(malformed_lines(e)) - before, len(cases), "access-log lines of malformed requests")
    eq(metric(e, "sluice_edge_parse_refusals_total", '{status="400"}') - refused,
       float(len(cases)), "parse refusals counted")
    # A well-formed request on the same terms is served and logged as ever.
    expect(conversation(e, [hdrs(1, req())]), ("status", 1, 200), "well-formed")
    eq(len(malformed_lines(e)) - before, len(cases), "a line for the well-formed request")


@test
def h2_access_log_has_cmcd(e):
    # The CMCD headers and the query argument, parsed as for HTTP/1.1.
    curl(e, "/t1/seg-2.m4s?CMCD=bl%3D2100", "-H", 'CMCD-Session: sid="h2-log-sid"',
         "-H", "CMCD-Object: br=3200")
    line = log_line(e, '"GET /t1/seg-2.m4s?CMCD=', "proto=h2")
    check(line is not None, "no access-log line for the h2 stream with CMCD")
    cmcd = line.split(" cmcd=", 1)[1].split(" proto=", 1)[0] if " cmcd=" in line else "-"
    # Strings are logged with their quotes escaped, so a value cannot end the field.
    for field in ("bl=2100", "br=3200", 'sid="h2-log-sid"'):
        check(field in cmcd, f"h2 access-log CMCD lacks {field}: {line!r}")


@test
def h2_miss_prefetches_nor(e):
    o = e.origin
    o.objects["/cold/pf-1.m4s"] = os.urandom(20000)
    o.objects["/cold/pf-2.m4s"] = os.urandom(20000)
    before = metric(e, "sluice_edge_prefetches_total")
    _, status, hdrs, _ = curl(e, "/cold/pf-1.m4s", "-H", 'CMCD-Request: nor="pf-2.m4s"')
    eq(status, 200, "the miss naming its next object")
    check("fwd=miss" in hdrs.get("cache-status", ""), f"not a miss: {hdrs.get('cache-status')}")
    deadline = time.monotonic() + 10
    while o.count("/cold/pf-2.m4s") < 1 and time.monotonic() < deadline:
        time.sleep(0.02)  # poll the origin's counter, bounded by the deadline
    eq(o.count("/cold/pf-2.m4s"), 1, "origin fetches of the nor object before it is asked")
    eq(metric(e, "sluice_edge_prefetches_total") - before, 1.0, "prefetches counted")
    _, status, _, body = curl(e, "/cold/pf-2.m4s")
    eq((status, sha(body)), (200, sha(o.objects["/cold/pf-2.m4s"])), "the prefetched object")
    eq(o.count("/cold/pf-2.m4s"), 1, "origin fetches once the player asks")


def content_etag(data):
    """The edge's strong ETag for content: the first 16 hex digits of its SHA-256."""
    return '"' + sha(data)[:16] + '"'


@test
def h2_miss_conditionals(e):
    o = e.origin
    a = o.objects.setdefault("/cold/cond-inm.m4s", os.urandom(70000))
    _, status, hdrs, body = curl(e, "/cold/cond-inm.m4s", "-H",
                                 f"If-None-Match: {content_etag(a)}")
    eq(status, 304, "If-None-Match matching on a miss")
    eq(body, b"", "304 body")
    eq(hdrs.get("etag"), content_etag(a), "304 ETag")
    check("fwd=miss" in hdrs.get("cache-status", ""), f"304 cache-status {hdrs}")
    b = o.objects.setdefault("/cold/cond-im.m4s", os.urandom(70000))
    _, status, hdrs, _ = curl(e, "/cold/cond-im.m4s", "-H", 'If-Match: "0000000000000000"')
    eq(status, 412, "If-Match not matching on a miss")
    check("fwd=miss" in hdrs.get("cache-status", ""), f"412 cache-status {hdrs}")
    c = o.objects.setdefault("/cold/cond-ir.m4s", os.urandom(70000))
    _, status, hdrs, body = curl(e, "/cold/cond-ir.m4s", "-r", "10-19", "-H",
                                 f"If-Range: {content_etag(c)}")
    eq((status, body), (206, c[10:20]), "Range with a matching If-Range on a miss")
    d = o.objects.setdefault("/cold/cond-ir2.m4s", os.urandom(70000))
    _, status, hdrs, body = curl(e, "/cold/cond-ir2.m4s", "-r", "10-19", "-H",
                                 'If-Range: "ffffffffffffffff"')
    eq(status, 200, "Range with another If-Range on a miss: the whole object")
    check(sha(body) == sha(d), "whole body after a stale If-Range")
    eq(sum(o.count(p) for p in ("/cold/cond-inm.m4s", "/cold/cond-im.m4s", "/cold/cond-ir.m4s",
                                "/cold/cond-ir2.m4s")), 4, "one origin fetch per object")


@test
def h2_long_and_split_conditionals(e):
    """A stream's preconditions are judged as HTTP/1.1's, whatever their length: a long failing
    If-Match is 412 on the miss and after it (it was dropped on the miss: 200), and fields past
    2 KB together are one list on a hit (the first field was judged alone)."""
    o = e.origin
    tags = ", ".join('"%016x"' % i for i in range(120))  # 2398 bytes
    key = "/cold/cond-long-im.m4s"
    o.objects.setdefault(key, os.urandom(20000))
    for what in ("the miss", "the request after it"):
        _, status, hdrs, _ = curl(e, key, "-H", f"If-Match: {tags}")
        eq(status, 412, f"a long failing If-Match on {what}")
    key = "/cold/cond-long-inm.m4s"
    o.objects.setdefault(key, os.urandom(20000))
    _, status, _, _ = curl(e, key, "-H", f"If-None-Match: {tags}", "-H",
                           'If-Match: "0000000000000000"')
    eq(status, 412, "a failing If-Match beside a long If-None-Match on a miss")
    key = "/t1/seg-1.m4s"
    etag = curl(e, key)[2]["etag"]
    _, status, _, _ = curl(e, key, "-H", 'If-Match: "x"', "-H", f"If-Match: {tags}, {etag}")
    eq(status, 200, "If-Match as two fields, the tag at the end of a long second")
    _, status, _, _ = curl(e, key, "-H", f"If-None-Match: {etag}", "-H",
                           f"If-None-Match: {tags}, garbage")
    eq(status, 200, "If-None-Match as two fields, the second long and malformed")


def hpack_fields(block):
    """Each field representation of an HPACK block (RFC 7541 §6) as (kind, index): kind is
    "indexed", "incremental", "without" or "never"; index is the field's or its name's index,
    0 for a new name. Strings are stepped over, not decoded."""
    out, i = [], 0

    def integer(prefix):
        nonlocal i
        top = (1 << prefix) - 1
        n, shift = block[i] & top, 0
        i += 1
        if n == top:
            while True:
                b = block[i]
                i += 1
                n += (b & 0x7F) << shift
                shift += 7
                if not b & 0x80:
                    break
        return n

    def string():
        nonlocal i
        n = integer(7)  # before the sum: integer moves i
        i += n

    while i < len(block):
        b = block[i]
        if b & 0x80:
            out.append(("indexed", integer(7)))
            continue
        if b & 0xE0 == 0x20:
            integer(5)  # dynamic table size update
            continue
        kind, prefix = (("incremental", 6) if b & 0x40 else ("never", 4) if b & 0x10
                        else ("without", 4))
        index = integer(prefix)
        if index == 0:
            string()
        string()
        out.append((kind, index))
    return out


@test
def repeated_fields_indexed(e):
    """Static-table name indexes (RFC 7541 Appendix A): content-length 28, etag 34. Those
    change from object to object and stay out of the dynamic table (nghttp2's choice). Every
    other field of a hit repeats on a connection, CMSD-Dynamic included: its value is sampled
    at most once a second per connection (docs/edge.md), as the date changes once a second.
    So the second answer for the same object, a moment after the first on the same
    connection, is one index per field but those two. A try whose two answers fall in two
    different seconds (a new date) is tried again, on a new connection."""
    tries = []
    for _ in range(3):
        p = conversation(e, [hdrs(1, get_block("/t1/one.bin")), 1,
                             hdrs(3, get_block("/t1/one.bin")), 3])
        first, second = (hpack_fields(p.of(HEADERS, sid)[0][3]) for sid in (1, 3))
        for block in (first, second):
            for index, name in ((28, "content-length"), (34, "etag")):
                kinds = [k for k, i in block if i == index]
                check(len(kinds) == 1 and kinds[0] != "incremental", f"{name} indexed: {block}")
        eq(sorted({k for k, i in first if i == 0}), ["incremental"],
           f"the first answer's new names (CMSD-Dynamic among them) indexed: {first}")
        rest = [(k, i) for k, i in second if i not in (28, 34)]
        tries.append(rest)
        if len(rest) >= 10 and all(k == "indexed" and i > 0 for k, i in rest):
            return
    check(False, f"no second answer indexed field for field (literals: CMSD-Dynamic, or a "
                 f"new date): {tries}")


@test
def h2_options_preflight(e):
    _, status, hdrs, body = curl(e, "/t1/seg-1.m4s", "-X", "OPTIONS",
                                 "-H", "Origin: https://player.example",
                                 "-H", "Access-Control-Request-Method: GET",
                                 "-H", "Access-Control-Request-Headers: range")
    eq(status, 204, "OPTIONS over h2")
    eq(body, b"", "preflight body")
    eq(hdrs.get("access-control-allow-origin"), "*", "allow-origin")
    eq(hdrs.get("access-control-allow-methods"), "GET, HEAD, OPTIONS", "allow-methods")
    check("Range" in hdrs.get("access-control-allow-headers", ""), f"allow-headers {hdrs}")
    check(hdrs.get("access-control-max-age", "").isdigit(), f"max-age {hdrs}")
    _, status, hdrs, _ = curl(e, "/t1/seg-1.m4s", "-X", "DELETE")
    eq(status, 405, "DELETE over h2")
    eq(hdrs.get("allow"), "GET, HEAD, OPTIONS", "Allow on a 405")


IDLE_TIMEOUT = 2.0  # limits.idle_timeout, the harness's default
NOTICE_S = 1.0  # a drain's wait for its unanswered PING (edge/h2.h H2_NOTICE_MS)


@test
def idle_deadline_not_pushed_by_frames(e):
    """An h2 connection with no stream open is closed at idle_timeout (GOAWAY, then the close)
    whatever frames that open no stream the client sends meanwhile, every 0.3 s: PING, empty
    SETTINGS, WINDOW_UPDATE on the connection, a frame of an unknown type. The deadline runs
    from the session's start, or from the end of the last request (measured from its answer)."""
    kinds = [("PING", frame(PING, 0, 0, b"keepaliv")), ("SETTINGS", frame(SETTINGS, 0, 0)),
             ("WINDOW_UPDATE", frame(WINDOW_UPDATE, 0, 0, u32(1))),
             ("unknown type", frame(0x42, 0, 0, b"x"))]
    peers = []
    for name, f in kinds:
        p = Peer(e)
        check(p.read_until(lambda q: q.of(SETTINGS)), f"{name}: no SETTINGS: {p.summary()}")
        peers.append((f"idle, {name} every 0.3 s", p, f, time.monotonic()))
    p = Peer(e)
    p.send(hdrs(1, GET))
    check(p.read_until(lambda q: q.ended(1)), f"the answer: {p.summary()}")
    peers.append(("after a request, PING every 0.3 s", p, kinds[0][1], time.monotonic()))
    closed = {}
    end = time.monotonic() + IDLE_TIMEOUT + 4
    try:
        while len(closed) < len(peers) and time.monotonic() < end:
            for name, p, f, _ in peers:
                if name not in closed:
                    p.send(f)
            step = time.monotonic() + 0.3
            while time.monotonic() < step:
                for name, p, _, since in peers:
                    if name not in closed and (p.read_until(lambda q: False, timeout=0.02)
                                               or p.eof):
                        closed[name] = time.monotonic() - since
    finally:
        for _, p, _, _ in peers:
            p.close()
    for name, p, _, _ in peers:
        check(name in closed, f"{name}: still open {IDLE_TIMEOUT + 4:.0f}s after going idle "
              f"(idle_timeout {IDLE_TIMEOUT:g}s): {p.summary()[-120:]}")
        check(IDLE_TIMEOUT * 0.8 <= closed[name] <= IDLE_TIMEOUT + NOTICE_S + 1.5,
              f"{name}: closed {closed[name]:.2f}s after going idle (idle_timeout "
              f"{IDLE_TIMEOUT:g}s)")
        gs = p.of(GOAWAY)
        check(gs and int.from_bytes(gs[0][3][4:8], "big") == NO_ERROR,
              f"{name}: closed without a GOAWAY NO_ERROR: {p.summary()[-120:]}")


@test
def requests_push_the_idle_deadline(e):
    """A connection in steady use outlives idle_timeout: requests one after another (each sent
    0.3 s after the one before was answered) for three times idle_timeout on one connection are
    all answered, with no GOAWAY. Once they stop, it is closed at idle_timeout after the last
    answer, after the two GOAWAYs NO_ERROR of a drain."""
    p = Peer(e)
    sid, last, began = 1, None, time.monotonic()
    try:
        while time.monotonic() < began + 3 * IDLE_TIMEOUT:
            p.send(hdrs(sid, GET))
            check(p.read_until(lambda q, s=sid: q.ended(s)),
                  f"stream {sid} unanswered: {p.summary()[-160:]}")
            eq(p.status(sid), 200, f"stream {sid}")
            last = time.monotonic()
            check(not p.of(GOAWAY) and not p.eof,
                  f"GOAWAY or close {last - began:.1f}s into steady use "
                  f"(idle_timeout {IDLE_TIMEOUT:g}s): {p.summary()[-160:]}")
            sid += 2
            time.sleep(0.3)
        p.read_until(lambda q: q.eof, timeout=IDLE_TIMEOUT + 3)
        closed = time.monotonic() - last
        check(p.eof, f"still open {closed:.1f}s after the last answer: {p.summary()[-160:]}")
        check(IDLE_TIMEOUT * 0.8 <= closed <= IDLE_TIMEOUT + NOTICE_S + 1.5,
              f"closed {closed:.2f}s after the last answer (idle_timeout {IDLE_TIMEOUT:g}s)")
        gs = p.of(GOAWAY)
        check(len(gs) == 2 and all(goaway_code(g) == NO_ERROR for g in gs),
              f"closed without the drain's two GOAWAYs NO_ERROR: {p.summary()[-160:]}")
    finally:
        p.close()


SEND_TIMEOUT = 1.0  # limits.send_timeout in setup()


def setup(binary):
    o = Origin(head_bytes=64 * 1024)
    e = Edge(binary, {"tokens": {"required": False}, "upstreams": [{"url": o.url}],
                      "limits": {"send_timeout": f"{SEND_TIMEOUT:g}s"}})
    e.origin = o
    return start_pushed(e)


if __name__ == "__main__":
    if not shutil.which("curl"):
        # tools/deps installs curl: its absence is a broken setup, not a reason to skip.
        print("not ok - curl missing (tools/deps installs it)")
        sys.exit(1)
    sys.exit(run(setup))
