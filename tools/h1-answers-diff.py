#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Byte comparison of HTTP/1.1 answers from two sluice-edge builds: both run side by side on the
same objects, the same origin and the same raw requests (hits, ranges, conditionals, CORS with
both policies, refusals, misses with their conditionals); only the Date and Last-Modified values
are masked (each edge stamps its own push time). For refactors that must not change a byte.

Usage: tools/h1-answers-diff.py OLD/edge/sluice-edge NEW/edge/sluice-edge
Exit 0 when every answer is identical, 1 otherwise (the differing pairs are printed)."""
import os
import re
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from edgeharness import HOST, Edge, standard_objects, sha
from test_h2c import Origin



def raw(port, data, timeout=5):
    s = socket.create_connection((HOST, port), timeout=timeout)
    s.sendall(data)
    out = b""
    try:
        while True:
            d = s.recv(1 << 20)
            if not d:
                break
            out += d
    except socket.timeout:
        out += b"<timeout>"
    s.close()
    out = re.sub(rb"\r\nLast-Modified: [^\r]*", b"\r\nLast-Modified: -", out)
    return re.sub(rb"\r\nDate: [^\r]*", b"\r\nDate: -", out)


def req(method, target, *hdrs, version="HTTP/1.1", body=b"", close=True):
    lines = [f"{method} {target} {version}", "Host: edge.test"]
    lines += list(hdrs)
    if close:
        lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def run(old_bin, new_bin, cors_list):
    o = Origin()
    objs = standard_objects()
    cold = {f"/cold/x{i}.m4s": os.urandom(30000 + i) for i in range(40)}
    o.objects.update(cold)
    over = {"upstreams": [{"url": o.url}], "control": {"edge_id": "edge-cmp"}}
    if cors_list:
        over["cors_origins"] = ["https://a.example"]
    edges = [Edge(old_bin, over), Edge(new_bin, over)]
    for e in edges:
        e.start()
        e.push(objs)
    etag = edges[0].get("/t1/seg-1.m4s").get("etag")
    cases = [
        req("GET", "/t1/seg-1.m4s"),
        req("HEAD", "/t1/seg-1.m4s"),
        req("GET", "/t1/manifest.mpd"),
        req("GET", "/t1/empty.bin"),
        req("GET", "/t1/seg-1.m4s", "Range: bytes=10-99"),
        req("GET", "/t1/seg-1.m4s", "Range: bytes=10-19,30-39"),
        req("GET", "/t1/seg-1.m4s", "Range: bytes=999999999-"),
        req("GET", "/t1/seg-1.m4s", f"If-None-Match: {etag}"),
        req("HEAD", "/t1/seg-1.m4s", f"If-None-Match: {etag}"),
        req("GET", "/t1/seg-1.m4s", 'If-Match: "nope"'),
        req("GET", "/t1/seg-1.m4s", "If-Modified-Since: Mon, 01 Jan 2035 00:00:00 GMT"),
        req("GET", "/t1/seg-1.m4s", "If-Unmodified-Since: Sun, 06 Nov 1994 08:49:37 GMT"),
        req("GET", "/t1/seg-1.m4s", "Range: bytes=0-9", f"If-Range: {etag}"),
        req("GET", "/t1/seg-1.m4s", "Range: bytes=0-9", 'If-Range: "other"'),
        req("GET", "/t1/seg-1.m4s", "Origin: https://a.example"),
        req("GET", "/t1/seg-1.m4s", "Origin: https://b.example"),
        req("OPTIONS", "/t1/seg-1.m4s", "Origin: https://a.example",
            "Access-Control-Request-Method: GET"),
        req("OPTIONS", "/t1/seg-1.m4s", "Content-Length: 3", body=b"abc"),
        req("DELETE", "/t1/seg-1.m4s"),
        req("POST", "/t1/seg-1.m4s", "Content-Length: 3", body=b"abc"),
        req("GET", "/t1/seg-1.m4s", "Content-Length: 3", body=b"abc"),
        req("GET", "/t1/%zz"),
        req("GET", "/" + "a" * 5000),
        req("GET", "http://edge.test/t1/one.bin"),
        req("GET", "/t1/one.bin", version="HTTP/1.0", close=False),
        req("GET", "/t1/one.bin", "Connection: keep-alive", version="HTTP/1.0", close=False),
        b"GET /t1/one.bin HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        b"BAD\r\n\r\n",
        req("GET", "/t1/absent.m4s"),
        req("GET", "/cold/absent.m4s"),
        req("GET", "/cold/absent.m4s"),
        req("GET", "/e500/x.m4s"),
        req("GET", "/cold/x0.m4s"),
        req("GET", "/cold/x0.m4s"),
        req("HEAD", "/cold/x1.m4s"),
        req("GET", "/cold/x2.m4s", "Range: bytes=5-104"),
        req("GET", "/cold/x3.m4s", "Range: bytes=99999999-"),
        req("GET", "/cold/x4.m4s", 'If-None-Match: "' + sha(cold["/cold/x4.m4s"])[:16] + '"'),
        req("GET", "/cold/x5.m4s", 'If-Match: "0000000000000000"'),
        req("GET", "/cold/x6.m4s", "Range: bytes=0-9",
            'If-Range: "' + sha(cold["/cold/x6.m4s"])[:16] + '"'),
        req("GET", "/cold/x7.m4s", "Range: bytes=0-9", 'If-Range: "ffffffffffffffff"'),
        req("GET", "/cold/x8.m4s", "Origin: https://a.example"),
        req("HEAD", "/cold/x9.m4s", 'If-Match: "0000000000000000"'),
        req("GET", "/cold/x10.m4s", "If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT"),
    ]
    same = diff = 0
    try:
        for i, c in enumerate(cases):
            a, b = raw(edges[0].port, c), raw(edges[1].port, c)
            if a == b:
                same += 1
            else:
                diff += 1
                print(f"DIFF case {i}: {c[:80]!r}\n  old: {a[:600]!r}\n  new: {b[:600]!r}")
    finally:
        for e in edges:
            e.stop()
            e.cleanup()
    print(f"cors_list={cors_list}: {same} identical, {diff} different of {len(cases)}")
    return diff


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(1 if run(sys.argv[1], sys.argv[2], False) + run(sys.argv[1], sys.argv[2], True)
             else 0)
