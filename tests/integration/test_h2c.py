# SPDX-License-Identifier: MIT
"""Prior-knowledge HTTP/2 (h2c) on the plain listener: bodies, ranges and conditionals through
curl, frame-level abuse with hand-built frames (struct), and HTTP/1.1 unaffected beside it."""

import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time

from edgeharness import HOST, Edge, check, eq, run, serve_origin, sha, start_pushed, test

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
ENHANCE_YOUR_CALM = 0xB


def curl(e, path, *extra):
    out = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-D", "-", "-o", "-",
                          *extra, f"http://{HOST}:{e.port}{path}"], capture_output=True)
    check(out.returncode == 0, f"curl {path}: {out.stderr.decode().strip()}")
    head, _, body = out.stdout.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    return lines[0], status, hdrs, body


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + struct.pack(">BBI", ftype, flags, sid) + payload


def get_block(path):
    # HPACK static-table indexes: :method GET, :scheme http, :authority and :path literals.
    p = path.encode()
    return bytes([0x82, 0x86, 0x04, len(p)]) + p + bytes([0x01, 9]) + b"edge.test"


def split_frames(buf):
    """The whole frames at the head of buf as [(type, flags, sid, payload)], and what is left."""
    frames = []
    while len(buf) >= 9:
        n = int.from_bytes(buf[:3], "big")
        if len(buf) < 9 + n:
            break
        frames.append((buf[3], buf[4], int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF, buf[9:9 + n]))
        buf = buf[9 + n:]
    return frames, buf


def read_frames(s, until_goaway=True, limit=1 << 22):
    """Frames until GOAWAY (or EOF). Returns [(type, flags, sid, payload)]."""
    buf, frames = b"", []
    s.settimeout(10)
    while len(buf) < limit:
        try:
            d = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not d:
            break
        got, buf = split_frames(buf + d)
        for fr in got:
            frames.append(fr)
            if fr[0] == 7 and until_goaway:
                return frames
    return frames


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
def many_streams_one_connection(e):
    if not shutil.which("nghttp"):
        print("  (nghttp missing, skipped)")
        return
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


@test
def rapid_reset_ends_connection(e):
    with h2_conn(e) as s:
        out = b""
        for sid in range(1, 2 * 1000, 2):
            out += frame(1, 0x5, sid, get_block("/t1/seg-2.m4s")) + frame(3, 0, sid, b"\0\0\0\x08")
        try:
            s.sendall(out)
        except (BrokenPipeError, ConnectionResetError):
            pass
        frames = read_frames(s)
        goaways = [f for f in frames if f[0] == 7]
        check(goaways, "no GOAWAY after 1000 reset streams")
        code = int.from_bytes(goaways[0][3][4:8], "big")
        check(code in (ENHANCE_YOUR_CALM, 2), f"GOAWAY code {code}")


@test
def settings_flood_ends_connection(e):
    with h2_conn(e) as s:
        try:
            s.sendall(frame(4, 0, 0) * 5000)
        except (BrokenPipeError, ConnectionResetError):
            pass
        frames = read_frames(s)
        # Either our budget (GOAWAY ENHANCE_YOUR_CALM) or nghttp2's bound on queued ACKs for a
        # peer that does not read (the connection is dropped): never 5000 ACKs.
        goaways = [f for f in frames if f[0] == 7]
        if goaways:
            eq(int.from_bytes(goaways[0][3][4:8], "big"), ENHANCE_YOUR_CALM, "GOAWAY code")
        acks = sum(1 for f in frames if f[0] == 4 and f[1] & 1)
        check(acks <= 1001, f"{acks} SETTINGS ACKs answered")
    # The edge is still there for everyone else.
    eq(e.get("/t1/one.bin").status, 200, "HTTP/1.1 after the flood")


@test
def continuation_flood_closes(e):
    with h2_conn(e) as s:
        out = frame(1, 0x1, 1, bytes([0x82]))
        out += frame(9, 0, 1, bytes([0x86])) * 50
        try:
            s.sendall(out)
        except (BrokenPipeError, ConnectionResetError):
            pass
        frames = read_frames(s)
        check(not [f for f in frames if f[0] == 1], "a response to an unfinished header block")


# ---- misses: streams answered through the fill path ----

class Origin:
    """A threaded origin in this process. /cold/... 200 with X-Sluice-SHA256; /gate/... the same
    but holding the body after its first 64 KiB until the path's gate is set; /die/... head,
    half the body, then (once the gate is set) the connection is closed; /e500/... 500. Requests counted per path."""

    def __init__(self):
        self.objects, self.counts, self.gates, self.arrived = {}, {}, {}, {}
        self.lock = threading.Lock()
        self.srv = serve_origin(self.handle)
        self.url = self.srv.url

    def event(self, table, path):
        with self.lock:
            return table.setdefault(path, threading.Event())

    def count(self, prefix):
        with self.lock:
            return sum(n for p, n in self.counts.items() if p.startswith(prefix))

    def handle(self, h):
        path = h.path
        with self.lock:
            self.counts[path] = self.counts.get(path, 0) + 1
        self.event(self.arrived, path).set()
        kind = path.split("/")[1]
        data = self.objects.get(path)
        if kind == "e500" or data is None:
            h.send_response(500 if kind == "e500" else 404)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        h.send_response(200)
        h.send_header("Content-Type", "video/iso.segment")
        h.send_header("X-Sluice-SHA256", sha(data))
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        try:
            if kind == "gate":
                h.wfile.write(data[:65536])
                h.wfile.flush()
                self.event(self.gates, path).wait(30)
                h.wfile.write(data[65536:])
            elif kind == "die":
                h.wfile.write(data[:len(data) // 2])
                h.wfile.flush()
                self.event(self.gates, path).wait(30)
                h.connection.shutdown(socket.SHUT_RDWR)
                h.close_connection = True
            else:
                h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            h.close_connection = True


def metric(e, name):
    total = 0.0
    for line in e.metrics().body.decode().splitlines():
        m = re.match(r"^([a-z_]+)(\{[^}]*\})? (\S+)$", line)
        if m and m.group(1) == name:
            total += float(m.group(3))
    return total


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
        d = s.recv(1 << 20)
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
            d = s.recv(1 << 20)
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
            d = s.recv(1 << 20)
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
    o = e.origin
    for i in range(200):
        o.objects[f"/cold/reset-{i}.m4s"] = b"x" * 1000
    misses0 = metric(e, "sluice_edge_cache_misses_total")
    with socket.create_connection((HOST, e.port), timeout=10) as s:
        s.sendall(PREFACE + frame(4, 0, 0))
        out = b""
        for i in range(200):
            sid = 2 * i + 1
            out += frame(1, 0x5, sid, get_block(f"/cold/reset-{i}.m4s")) + \
                frame(3, 0, sid, b"\0\0\0\x08")
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
    check(started <= 8, f"{started:.0f} fills started for 200 streams reset at once")


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


@test
def h2_access_log_has_cmcd(e):
    # The CMCD headers and the query argument, parsed as for HTTP/1.1.
    curl(e, "/t1/seg-2.m4s?CMCD=bl%3D2100", "-H", 'CMCD-Session: sid="h2-log-sid"',
         "-H", "CMCD-Object: br=3200")
    line = log_line(e, '"GET /t1/seg-2.m4s?CMCD=', "proto=h2")
    check(line is not None, "no access-log line for the h2 stream with CMCD")
    cmcd = line.split(" cmcd=", 1)[1].split(" proto=", 1)[0] if " cmcd=" in line else "-"
    # Strings are logged with their quotes escaped, so a value cannot end the field.
    for field in ("bl=2100", "br=3200", 'sid=\\"h2-log-sid\\"'):
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


def setup(binary):
    o = Origin()
    e = Edge(binary, {"tokens": {"required": False}, "upstreams": [{"url": o.url}]})
    e.origin = o
    return start_pushed(e)


if __name__ == "__main__":
    if not shutil.which("curl"):
        print("SKIP: curl missing")
        sys.exit(77)
    sys.exit(run(setup))
