# SPDX-License-Identifier: MIT
"""Misses over the TLS listener: objects filled from an origin behind the edge while the client
reads them over HTTP/1.1 or h2 (ALPN), so the fill-streaming code of both TLS paths runs
(conn-tls.c's flush over a body still being written; h2-serve.c's fill bodies queued through
h2-tls.c). Cases: a multi-MiB miss streamed while the origin holds the rest, then a hit;
requests pipelined behind it; a slow origin read by a slow client; two h2 streams on one
connection for one missing object (one origin fetch); ranges during a fill; a fill breaking
off; ten TLS clients on one fill; the access log's proto= and tls= fields. Clients verify the
chain against a CA made here and check the name. The origin is origin.py's, through its /ok/,
/gate/, /gatenosha/, /drip/ and /die/ paths."""

import random
import re
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time

from edgeharness import HOST, Edge, check, eq, free_port, run, sha, test
from origin import Origin

RNG = random.Random(11)
HEAD_BYTES = 256 * 1024  # what the origin's /gate/ and /die/ paths send before their gate


def make_pki(d):
    sh = f"""set -e; cd {d}
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=it-ca \
  -keyout ca.key -out ca.pem -addext basicConstraints=critical,CA:TRUE \
  -addext keyUsage=keyCertSign,cRLSign
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=a.test \
  -keyout a.key -out a.csr
printf "subjectAltName=DNS:a.test,IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\n" > a.ext
openssl x509 -req -in a.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
  -extfile a.ext -out a.pem
"""
    subprocess.run(["sh", "-c", sh], check=True, capture_output=True)


def client_ctx(e, alpn=None, maxv=None):
    ctx = ssl.create_default_context(cafile=e.pki + "/ca.pem")
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if maxv:
        ctx.maximum_version = maxv
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def kernel_offers_ktls():
    try:
        with open("/proc/sys/net/ipv4/tcp_available_ulp") as f:
            return "tls" in f.read().split()
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------
# HTTP/1.1 over TLS, read by hand so a test can stop part-way through a body.

class TlsConn:
    def __init__(self, e, timeout=15, rcvbuf=None, maxv=None):
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        raw.settimeout(timeout)
        raw.connect((HOST, e.tls_port))
        self.s = client_ctx(e, ["http/1.1"], maxv).wrap_socket(raw, server_hostname="a.test")
        eq(self.s.selected_alpn_protocol(), "http/1.1", "ALPN")
        if maxv:
            eq(self.s.version(), "TLSv1.2", "TLS version")
        self.buf = bytearray()

    def send_get(self, path, headers=()):
        lines = [f"GET {path} HTTP/1.1", "Host: a.test"] + [f"{k}: {v}" for k, v in headers]
        self.s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())

    def _fill(self):
        d = self.s.recv(65536)
        check(d, "the edge closed the TLS connection before the response ended")
        self.buf += d

    def head(self):
        """(status, {name: value} lower-case) of the next response head."""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, _, rest = bytes(self.buf).partition(b"\r\n\r\n")
        self.buf = bytearray(rest)
        lines = head.decode("latin-1").split("\r\n")
        hdrs = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            check(k.lower() not in hdrs, f"{k} sent twice")
            hdrs[k.lower()] = v.strip()
        return int(lines[0].split()[1]), hdrs

    def read(self, n, pace=None):
        """n body bytes; pace=(chunk, seconds) reads chunk bytes at a time with a pause."""
        out = bytearray()
        while len(out) < n:
            if not self.buf:
                self._fill()
            take = min(n - len(out), len(self.buf), pace[0] if pace else n)
            out += self.buf[:take]
            del self.buf[:take]
            if pace:
                time.sleep(pace[1])  # a slow player, not a wait for anything
        return bytes(out)

    def get(self, path, headers=()):
        self.send_get(path, headers)
        status, hdrs = self.head()
        body = self.read(int(hdrs["content-length"])) if "content-length" in hdrs else b""
        return status, hdrs, body

    def pending(self, wait):
        """Whether response bytes arrive within wait seconds (without consuming them)."""
        if self.buf or self.s.pending():
            return True
        self.s.settimeout(wait)
        try:
            self._fill()
            return True
        except (socket.timeout, TimeoutError):
            return False
        finally:
            self.s.settimeout(15)

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def access_lines(e, needle, n, timeout=5):
    """The access-log lines holding needle, once there are n (the writer flushes once per loop
    turn: polled with a deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        with open(e.access_log, "rb") as f:
            lines = [ln for ln in f.read().decode(errors="replace").splitlines() if needle in ln]
        if len(lines) >= n or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)  # poll interval for the log writer


def log_field(line, name):
    m = re.search(r" " + name + r"=(\S+)", line)
    check(m is not None, f"access-log line without {name}=: {line!r}")
    return m.group(1)


def expected_send_path():
    # Without the kernel's tls module every TLS connection encrypts in userspace (docs/tls.md);
    # with it, kTLS is on by default and takes the send side over.
    return "ktls" if kernel_offers_ktls() else "user"


def miss_streams_then_hit(e, key, maxv=None):
    o = e.origin
    data = o.add(key, RNG.randbytes(6 * 1024 * 1024 + 7))  # past conn-tls.c's 4 MiB turn
    gate = o.event(o.gates, key)
    c = TlsConn(e, maxv=maxv)
    try:
        c.send_get(key)
        status, hdrs = c.head()
        eq(status, 200, "miss over TLS")
        eq(hdrs.get("content-length"), str(len(data)), "Content-Length of the miss")
        cs = hdrs.get("cache-status", "")
        check("fwd=miss" in cs and "collapsed" not in cs, f"miss Cache-Status {cs!r}")
        first = c.read(100_000)
        check(not gate.is_set(), "the first bytes came while the origin holds the rest")
        eq(first, data[:100_000], "first bytes of the streaming fill")
        # The edge has written all the origin sent so far and waits for more.
        more = c.read(HEAD_BYTES - 100_000)
        eq(more, data[100_000:HEAD_BYTES], "the rest of what the origin sent before its gate")
        check(not c.pending(0.3), "bytes past what the origin sent")
        gate.set()
        rest = c.read(len(data) - HEAD_BYTES)
        check(sha(first + more + rest) == sha(data), "body of the miss over TLS differs")
        # The same connection again: now a hit from the store.
        status, hdrs, body = c.get(key)
        eq(status, 200, "hit over TLS")
        check(hdrs.get("cache-status", "").endswith("; hit"),
              f"second request not a hit: {hdrs.get('cache-status')!r}")
        check(sha(body) == sha(data), "body of the hit over TLS differs")
    finally:
        gate.set()
        c.close()
    eq(o.count(key), 1, "origin fetches")
    lines = access_lines(e, f'"GET {key}"', 2)
    eq(len(lines), 2, "access-log lines of the miss and the hit")
    eq([log_field(ln, "cache") for ln in lines], ["miss", "hit"], "cache= of the two lines")
    eq(log_field(lines[0], "upstream"), o.url, "upstream= of the miss")
    for ln in lines:
        eq(log_field(ln, "proto"), "h1", f"proto= of {ln!r}")
        eq(log_field(ln, "tls"), expected_send_path(), f"tls= of {ln!r}")
        eq(ln.split('" ', 1)[1].split()[0], "200", f"status in {ln!r}")
    # Bytes written: head and body, so at least the body.
    check(all(int(ln.split('" ', 1)[1].split()[1]) > len(data) for ln in lines),
          f"bytes written of {lines!r}")


@test
def h1_miss_streams_over_tls_then_hit(e):
    miss_streams_then_hit(e, "/gate/h1/big.m4s")


@test
def h1_miss_streams_over_tls12_then_hit(e):
    """The same over TLS 1.2, whose records the edge seals too (docs/tls.md)."""
    miss_streams_then_hit(e, "/gate/h1/big12.m4s", ssl.TLSVersion.TLSv1_2)


@test
def h1_pipelined_behind_a_streaming_miss_over_tls(e):
    """Three requests in one write: the first a miss held by the origin; the two behind it
    (another miss, then the first object again) wait their turn in the edge's input and are
    answered in order once the fill is done."""
    o = e.origin
    key, other = "/gate/pipe/a.m4s", "/ok/pipe/b.m4s"
    data = o.add(key, RNG.randbytes(3 * 1024 * 1024 + 1))
    data_b = o.add(other, RNG.randbytes(1024 * 1024))
    gate = o.event(o.gates, key)
    c = TlsConn(e)
    try:
        c.s.sendall(b"".join(f"GET {k} HTTP/1.1\r\nHost: a.test\r\n\r\n".encode()
                             for k in (key, other, key)))
        status, hdrs = c.head()
        eq(status, 200, "the first (held) miss")
        first = c.read(HEAD_BYTES)
        check(not c.pending(0.3), "bytes past what the origin sent")
        gate.set()
        body = first + c.read(int(hdrs["content-length"]) - HEAD_BYTES)
        check(sha(body) == sha(data), "the first body")
        for k, want, cache in ((other, data_b, "fwd=miss"), (key, data, "; hit")):
            status, hdrs = c.head()
            eq(status, 200, f"pipelined {k}")
            check(cache in hdrs.get("cache-status", ""), f"{k}: {hdrs.get('cache-status')!r}")
            check(sha(c.read(int(hdrs["content-length"]))) == sha(want), f"pipelined {k} body")
    finally:
        gate.set()
        c.close()
    eq((o.count(key), o.count(other)), (1, 1), "origin fetches")


@test
def h1_slow_origin_slow_client_over_tls(e):
    """A dripping origin and a client reading slowly through a small receive buffer: the edge
    waits on the fill and on the socket in turn, and the body arrives whole."""
    o = e.origin
    key = "/drip/h1/slow.m4s"
    data = o.add(key, RNG.randbytes(3 * 1024 * 1024 + 1))
    c = TlsConn(e, rcvbuf=64 * 1024)
    try:
        c.send_get(key)
        status, hdrs = c.head()
        eq(status, 200, "slow miss over TLS")
        check("fwd=miss" in hdrs.get("cache-status", ""), f"cache-status {hdrs}")
        body = c.read(len(data), pace=(256 * 1024, 0.01))
        check(sha(body) == sha(data), "body of the dripped miss over TLS differs")
    finally:
        c.close()
    eq(o.count(key), 1, "origin fetches")
    # A second client while nothing is in flight: a hit.
    c = TlsConn(e)
    try:
        status, hdrs, body = c.get(key)
        eq(status, 200, "hit")
        check(hdrs.get("cache-status", "").endswith("; hit"), f"not a hit: {hdrs}")
        check(sha(body) == sha(data), "hit body")
    finally:
        c.close()


@test
def h1_ranges_during_a_miss_over_tls(e):
    o = e.origin
    key = "/gate/h1/range.m4s"
    data = o.add(key, RNG.randbytes(2 * 1024 * 1024 + 3))
    gate = o.event(o.gates, key)
    a, early, suffix = TlsConn(e), TlsConn(e), TlsConn(e)
    try:
        a.send_get(key)
        eq(a.head()[0], 200, "the client that starts the fill")
        eq(a.read(HEAD_BYTES), data[:HEAD_BYTES], "what the origin sent before its gate")
        # The origin named the SHA-256: a range inside the written part waits for the check.
        early.send_get(key, [("Range", "bytes=1000-1999")])
        suffix.send_get(key, [("Range", "bytes=-100")])
        check(not early.pending(0.5), "a range of a fill not yet checked was answered")
        gate.set()
        status, hdrs = early.head()
        eq(status, 206, "range inside the written part, once checked")
        eq(hdrs.get("content-range"), f"bytes 1000-1999/{len(data)}", "Content-Range")
        eq(early.read(int(hdrs["content-length"])), data[1000:2000], "range bytes")
        status, hdrs = suffix.head()
        eq(status, 206, "suffix range past the written part")
        eq(hdrs.get("content-range"), f"bytes {len(data) - 100}-{len(data) - 1}/{len(data)}",
           "suffix Content-Range")
        eq(suffix.read(int(hdrs["content-length"])), data[-100:], "suffix range bytes")
        check(sha(data[:HEAD_BYTES] + a.read(len(data) - HEAD_BYTES)) == sha(data),
              "the first client's body")
    finally:
        gate.set()
        for c in (a, early, suffix):
            c.close()
    eq(o.count(key), 1, "origin fetches")


@test
def h1_range_streams_from_an_unchecked_fill_over_tls(e):
    """No SHA-256 from the origin: a range inside the written part is served while the fill
    is in flight, and a range reaching past it streams as the rest comes in."""
    o = e.origin
    key = "/gatenosha/h1/range.m4s"
    data = o.add(key, RNG.randbytes(3 * 1024 * 1024 + 5))
    gate = o.event(o.gates, key)
    a, b, c = TlsConn(e), TlsConn(e), TlsConn(e)
    try:
        a.send_get(key)
        eq(a.head()[0], 200, "the client that starts the fill")
        eq(a.read(HEAD_BYTES), data[:HEAD_BYTES], "what the origin sent before its gate")
        status, hdrs, body = b.get(key, [("Range", "bytes=1000-1999")])
        eq(status, 206, "range inside the written part, fill in flight")
        check(not gate.is_set(), "answered while the origin holds the rest")
        eq(body, data[1000:2000], "range bytes")
        c.send_get(key, [("Range", f"bytes={HEAD_BYTES - 10}-{2 * 1024 * 1024}")])
        status, hdrs = c.head()
        eq(status, 206, "range across the written part's end")
        eq(hdrs.get("content-range"), f"bytes {HEAD_BYTES - 10}-{2 * 1024 * 1024}/{len(data)}",
           "Content-Range")
        n = int(hdrs["content-length"])
        eq(c.read(10), data[HEAD_BYTES - 10:HEAD_BYTES], "the written bytes of the range")
        check(not c.pending(0.3), "range bytes past what the origin sent")
        gate.set()
        eq(c.read(n - 10), data[HEAD_BYTES:2 * 1024 * 1024 + 1], "the range's streamed rest")
        check(sha(data[:HEAD_BYTES] + a.read(len(data) - HEAD_BYTES)) == sha(data),
              "the first client's body")
    finally:
        gate.set()
        for x in (a, b, c):
            x.close()
    eq(o.count(key), 1, "origin fetches")


# ---------------------------------------------------------------------------------------------
# h2 over TLS with hand-built frames (RFC 9113), so both streams go out in one write.

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE = 0, 1, 3, 4, 6, 7, 8
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
STATUS_BY_INDEX = {0x88: 200, 0x89: 204, 0x8A: 206, 0x8B: 304, 0x8D: 404, 0x8E: 500}


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + struct.pack(">BBI", ftype, flags, sid) + payload


def lit(index, value):
    """An HPACK literal without indexing, its name from the static table (RFC 7541 §6.2.2;
    index < 142, value < 127 bytes)."""
    v = value.encode()
    name = bytes([index]) if index < 15 else bytes([0x0F, index - 15])
    return name + bytes([len(v)]) + v


RANGE = 50  # static-table index of "range"


def get_block(path, extra=b""):
    # :method GET (2), :scheme https (7); :path (4) and :authority (1) as literals.
    return bytes([0x82, 0x87]) + lit(0x04, path) + lit(0x01, "a.test") + extra


class H2:
    """One h2 connection over TLS. wide: windows of 16 MiB a stream and 1 GiB the connection;
    otherwise the default 65,535 bytes, each DATA frame given back by WINDOW_UPDATEs as it is
    read (as a player's client does). rcvbuf and pause make a slow reader."""

    def __init__(self, e, wide=True, rcvbuf=None, pause=0.0):
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        raw.settimeout(20)
        raw.connect((HOST, e.tls_port))
        self.s = client_ctx(e, ["h2"]).wrap_socket(raw, server_hostname="a.test")
        eq(self.s.selected_alpn_protocol(), "h2", "ALPN")
        self.wide, self.pause = wide, pause
        if wide:
            self.s.sendall(PREFACE + frame(SETTINGS, 0, 0, struct.pack(">HI", 4, 1 << 24))
                           + frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 1 << 30)))
        else:
            self.s.sendall(PREFACE + frame(SETTINGS, 0, 0))
        self.buf = bytearray()
        self.streams = {}
        self.goaway = None
        self.eof = False

    def stream(self, sid):
        return self.streams.setdefault(sid, {"status": None, "body": bytearray(), "rst": None,
                                             "ended": False})

    def pump_until(self, done, timeout=20):
        """Read frames until done(self) or the deadline; returns done(self)."""
        deadline = time.monotonic() + timeout
        while not done(self):
            left = deadline - time.monotonic()
            if left <= 0 or self.goaway is not None:
                break
            self.s.settimeout(left)
            try:
                d = self.s.recv(65536)
            except (socket.timeout, TimeoutError):
                break
            if not d:
                self.eof = True
                break
            if self.pause:
                time.sleep(self.pause)  # a slow reader, not a wait for anything
            self.buf += d
            off = 0
            while len(self.buf) - off >= 9:
                n = int.from_bytes(self.buf[off:off + 3], "big")
                if len(self.buf) - off < 9 + n:
                    break
                t, f = self.buf[off + 3], self.buf[off + 4]
                sid = int.from_bytes(self.buf[off + 5:off + 9], "big") & 0x7FFFFFFF
                p = bytes(self.buf[off + 9:off + 9 + n])
                off += 9 + n
                self.on_frame(t, f, sid, p)
            del self.buf[:off]
        return done(self)

    def on_frame(self, t, f, sid, p):
        if t == SETTINGS and not f & ACK:
            self.s.sendall(frame(SETTINGS, ACK, 0))
        elif t == PING and not f & ACK:
            self.s.sendall(frame(PING, ACK, 0, p))
        elif t == GOAWAY:
            self.goaway = int.from_bytes(p[4:8], "big")
        elif sid:
            st = self.stream(sid)
            if t == HEADERS:
                # The first field: :status, from the static table (nghttp2 indexes it).
                st["status"] = STATUS_BY_INDEX.get(p[0], p[0])
            elif t == DATA:
                st["body"] += p
                if not self.wide and p:
                    inc = struct.pack(">I", len(p))
                    self.s.sendall(frame(WINDOW_UPDATE, 0, 0, inc)
                                   + (b"" if f & END_STREAM else frame(WINDOW_UPDATE, 0, sid, inc)))
            elif t == RST_STREAM:
                st["rst"] = int.from_bytes(p[:4], "big")
                st["ended"] = True
            if t in (HEADERS, DATA) and f & END_STREAM:
                st["ended"] = True

    def summary(self):
        """What was seen, for failure messages."""
        seen = {k: (v["status"], len(v["body"]), v["rst"], v["ended"])
                for k, v in self.streams.items()}
        return f"streams (status, bytes, reset, ended) {seen} goaway {self.goaway} eof {self.eof}"

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


@test
def h2_two_streams_one_fill_over_tls(e):
    o = e.origin
    key = "/gate/h2/twin.m4s"
    data = o.add(key, RNG.randbytes(5 * 1024 * 1024 + 11))
    gate = o.event(o.gates, key)
    h = H2(e)
    try:
        h.s.sendall(frame(HEADERS, END_STREAM | END_HEADERS, 1, get_block(key))
                    + frame(HEADERS, END_STREAM | END_HEADERS, 3, get_block(key)))
        check(o.event(o.arrived, key).wait(10), "the origin never saw the request")
        # Both heads and the bytes the origin sent before its gate, while it holds the rest.
        check(h.pump_until(lambda q: all(len(q.stream(s)["body"]) >= HEAD_BYTES
                                         for s in (1, 3)), timeout=10),
              f"streams before the gate: { {s: len(h.stream(s)['body']) for s in (1, 3)} }")
        check(not gate.is_set(), "bytes streamed while the origin holds the rest")
        for sid in (1, 3):
            st = h.stream(sid)
            eq(st["status"], 200, f"stream {sid} status")
            eq(st["body"], data[:HEAD_BYTES], f"stream {sid}: bytes before the gate")
            check(not st["ended"], f"stream {sid} ended before the fill did")
        gate.set()
        check(h.pump_until(lambda q: q.stream(1)["ended"] and q.stream(3)["ended"]),
              f"streams did not end: { {s: len(h.stream(s)['body']) for s in (1, 3)} } "
              f"of {len(data)}, goaway {h.goaway}")
        for sid in (1, 3):
            st = h.stream(sid)
            eq(st["rst"], None, f"stream {sid} reset")
            check(sha(st["body"]) == sha(data), f"stream {sid}: body differs "
                  f"({len(st['body'])} bytes of {len(data)})")
        # A third stream on the same connection: a hit now.
        h.s.sendall(frame(HEADERS, END_STREAM | END_HEADERS, 5, get_block(key)))
        check(h.pump_until(lambda q: q.stream(5)["ended"]), f"stream 5 did not end: {h.summary()}")
        eq(h.stream(5)["status"], 200, "stream 5 status")
        check(sha(h.stream(5)["body"]) == sha(data), "stream 5 (hit): body differs")
        eq(h.goaway, None, "GOAWAY")
    finally:
        gate.set()
        h.close()
    eq(o.count(key), 1, "origin fetches for two streams and a hit")
    lines = access_lines(e, f'"GET {key}"', 3)
    eq(len(lines), 3, "access-log lines of the three streams")
    eq(sorted(log_field(ln, "cache") for ln in lines), ["collapsed", "hit", "miss"],
       "cache= of the three streams")
    for ln in lines:
        eq((log_field(ln, "proto"), log_field(ln, "tls")), ("h2", expected_send_path()),
           f"proto= and tls= of {ln!r}")


@test
def h2_fill_to_a_slow_flow_controlled_reader_over_tls(e):
    """Default windows given back frame by frame, a small receive buffer read slowly, three
    streams of one dripping fill: the edge waits on the fill, on the windows and on the full
    socket in turn, and every body arrives whole."""
    o = e.origin
    key = "/drip/h2/slow.m4s"
    data = o.add(key, RNG.randbytes(3 * 1024 * 1024 + 13))
    h = H2(e, wide=False, rcvbuf=32 * 1024, pause=0.002)
    try:
        h.s.sendall(b"".join(frame(HEADERS, END_STREAM | END_HEADERS, sid, get_block(key))
                             for sid in (1, 3, 5)))
        check(h.pump_until(lambda q: all(q.stream(s)["ended"] for s in (1, 3, 5)), timeout=60),
              f"streams did not end: { {s: len(h.stream(s)['body']) for s in (1, 3, 5)} } "
              f"of {len(data)}, goaway {h.goaway}")
        for sid in (1, 3, 5):
            st = h.stream(sid)
            eq((st["status"], st["rst"]), (200, None), f"stream {sid} status and reset")
            check(sha(st["body"]) == sha(data), f"stream {sid}: body differs "
                  f"({len(st['body'])} bytes of {len(data)})")
        eq(h.goaway, None, "GOAWAY")
    finally:
        h.close()
    eq(o.count(key), 1, "origin fetches for three streams")


@test
def h2_range_during_a_miss_over_tls(e):
    o = e.origin
    key = "/gatenosha/h2/range.m4s"
    data = o.add(key, RNG.randbytes(2 * 1024 * 1024 + 9))
    gate = o.event(o.gates, key)
    h = H2(e)
    try:
        h.s.sendall(frame(HEADERS, END_STREAM | END_HEADERS, 1, get_block(key)))
        check(h.pump_until(lambda q: len(q.stream(1)["body"]) >= HEAD_BYTES, timeout=10),
              "the first stream's bytes before the gate")
        # Ranges: inside the written part, then across its end.
        h.s.sendall(frame(HEADERS, END_STREAM | END_HEADERS, 3,
                          get_block(key, lit(RANGE, "bytes=1000-1999"))))
        check(h.pump_until(lambda q: q.stream(3)["ended"], timeout=10), "range stream 3")
        check(not gate.is_set(), "answered while the origin holds the rest")
        eq((h.stream(3)["status"], h.stream(3)["body"]), (206, data[1000:2000]),
           "range inside the written part")
        span = f"bytes={HEAD_BYTES - 10}-{HEAD_BYTES + 99_999}"
        h.s.sendall(frame(HEADERS, END_STREAM | END_HEADERS, 5,
                          get_block(key, lit(RANGE, span))))
        check(h.pump_until(lambda q: len(q.stream(5)["body"]) >= 10, timeout=10),
              "range stream 5's written bytes")
        check(not h.pump_until(lambda q: len(q.stream(5)["body"]) > 10, timeout=0.3),
              "range bytes past what the origin sent")
        gate.set()
        check(h.pump_until(lambda q: q.stream(1)["ended"] and q.stream(5)["ended"]),
              "streams 1 and 5 did not end")
        eq(h.stream(5)["status"], 206, "stream 5 status")
        eq(h.stream(5)["body"], data[HEAD_BYTES - 10:HEAD_BYTES + 100_000], "stream 5 bytes")
        check(sha(h.stream(1)["body"]) == sha(data), "stream 1 body")
    finally:
        gate.set()
        h.close()
    eq(o.count(key), 1, "origin fetches")


@test
def curl_h2_parallel_miss_over_tls(e):
    """A stock client: curl multiplexes two transfers of one missing object on one h2
    connection; the origin is held until the edge has collapsed the second onto the fill."""
    o = e.origin
    key = "/gate/h2/curl.m4s"
    data = o.add(key, RNG.randbytes(4 * 1024 * 1024 + 1))
    gate = o.event(o.gates, key)
    d = tempfile.mkdtemp(prefix="sluice-it-tlsmiss-")
    url = f"https://a.test:{e.tls_port}{key}"
    cmd = ["curl", "-sS", "--http2", "--parallel", "--parallel-max", "4", "--cacert",
           e.pki + "/ca.pem", "--resolve", f"a.test:{e.tls_port}:{HOST}",
           "-w", "%{http_version} %{num_connects} %{response_code}\n",
           "-o", f"{d}/0", url, "-o", f"{d}/1", url]
    collapsed0 = collapsed_of(e)
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while collapsed_of(e) < collapsed0 + 1 and time.monotonic() < deadline:
            time.sleep(0.02)  # poll the counter, bounded by the deadline
        eq(collapsed_of(e) - collapsed0, 1.0, "curl's second stream joined the fill")
        eq(p.poll(), None, "curl finished while the origin held the body")
        gate.set()
        out, err = p.communicate(timeout=30)
    finally:
        gate.set()
        if p.poll() is None:
            p.kill()
            p.wait()
    eq(p.returncode, 0, f"curl: {err}")
    got = out.split()
    eq(got[0::3], ["2", "2"], "both transfers over h2")
    eq(sum(int(n) for n in got[1::3]), 1, f"one connection for both: {out!r}")
    eq(got[2::3], ["200", "200"], "statuses")
    for i in range(2):
        with open(f"{d}/{i}", "rb") as f:
            check(sha(f.read()) == sha(data), f"curl transfer {i}: body differs")
    shutil.rmtree(d, ignore_errors=True)
    eq(o.count(key), 1, "origin fetches")


@test
def fill_breaking_off_over_tls(e):
    """The origin closes part-way: the HTTP/1.1 client over TLS sees the connection end short
    of Content-Length, the h2 stream is reset (INTERNAL_ERROR) with its connection kept, and
    neither body is padded; nothing is stored."""
    o = e.origin
    key = "/die/x/broken.m4s"
    data = o.add(key, RNG.randbytes(2 * 1024 * 1024))
    gate = o.event(o.gates, key)
    c = TlsConn(e)
    h = H2(e)
    try:
        c.send_get(key)
        status, hdrs = c.head()
        eq(status, 200, "head before the break")
        eq(c.read(HEAD_BYTES), data[:HEAD_BYTES], "bytes before the break")
        h.s.sendall(frame(HEADERS, END_STREAM | END_HEADERS, 1, get_block(key)))
        check(h.pump_until(lambda q: len(q.stream(1)["body"]) >= HEAD_BYTES, timeout=10),
              f"h2 stream before the break: {h.summary()}")
        gate.set()
        c.s.settimeout(10)
        rest = bytearray()
        while True:
            try:
                d = c.s.recv(65536)
            except (ssl.SSLEOFError, ConnectionResetError):
                break  # closed without close_notify: truncation, as it should look
            if not d:
                break
            rest += d
        eq(bytes(rest), b"", "bytes after the origin broke off")
        check(h.pump_until(lambda q: q.stream(1)["ended"], timeout=10),
              f"h2 stream not ended: {h.summary()}")
        eq(h.stream(1)["rst"], 2, f"h2 stream reset code: {h.summary()}")
        eq(bytes(h.stream(1)["body"]), data[:HEAD_BYTES], "h2 bytes before the break")
        # The h2 connection goes on.
        after = o.add("/ok/x/after.m4s", RNG.randbytes(100_000))
        h.s.sendall(frame(HEADERS, END_STREAM | END_HEADERS, 3, get_block("/ok/x/after.m4s")))
        check(h.pump_until(lambda q: q.stream(3)["ended"], timeout=10), f"{h.summary()}")
        eq((h.stream(3)["status"], sha(h.stream(3)["body"])), (200, sha(after)),
           "the next stream on the connection")
    finally:
        gate.set()
        c.close()
        h.close()
    r = e.admin("GET", "/admin/objects?prefix=/die/")
    eq(r.status, 200, "listing")
    check(key.encode() not in r.body, "the broken fill was stored")


@test
def many_tls_clients_share_one_fill(e):
    """Eight HTTP/1.1 and two h2 connections over TLS on one fill, some reading slowly through
    small receive buffers: the per-thread TLS buffers pass between connections mid-fill and
    every body still arrives whole, from one origin fetch."""
    o = e.origin
    key = "/gate/many/shared.m4s"
    data = o.add(key, RNG.randbytes(4 * 1024 * 1024 + 17))
    gate = o.event(o.gates, key)
    h1 = [TlsConn(e, rcvbuf=(32 * 1024 if i % 2 else None)) for i in range(8)]
    h2s = [H2(e), H2(e, wide=False, rcvbuf=32 * 1024)]
    results = {}
    try:
        for c in h1:
            c.send_get(key)
        for h in h2s:
            h.s.sendall(frame(HEADERS, END_STREAM | END_HEADERS, 1, get_block(key)))
        check(o.event(o.arrived, key).wait(10), "the origin never saw the request")

        def read_h1(i, c):
            try:
                status, hdrs = c.head()
                pace = (64 * 1024, 0.002) if i % 2 else None
                results[f"h1-{i}"] = (status, sha(c.read(int(hdrs["content-length"]), pace)))
            except Exception as ex:
                results[f"h1-{i}"] = repr(ex)

        def read_h2(i, h):
            try:
                h.pump_until(lambda q: q.stream(1)["ended"], timeout=30)
                st = h.stream(1)
                results[f"h2-{i}"] = (st["status"], sha(st["body"]))
            except Exception as ex:
                results[f"h2-{i}"] = repr(ex)
        threads = ([threading.Thread(target=read_h1, args=(i, c)) for i, c in enumerate(h1)]
                   + [threading.Thread(target=read_h2, args=(i, h)) for i, h in enumerate(h2s)])
        for t in threads:
            t.start()
        gate.set()
        for t in threads:
            t.join(60)
    finally:
        gate.set()
        for c in h1 + h2s:
            c.close()
    bad = {k: v for k, v in results.items() if v != (200, sha(data))}
    eq(len(results), 10, "clients that finished")
    check(not bad, f"clients with a wrong or cut body: {bad}")
    eq(o.count(key), 1, "origin fetches for ten clients")


def collapsed_of(e):
    """Collapsed requests counted since the edge started (sluice_edge_collapsed_requests_total)."""
    total = 0.0
    for line in e.metrics().body.decode().splitlines():
        m = re.match(r"^sluice_edge_collapsed_requests_total(\{[^}]*\})? (\S+)$", line)
        if m:
            total += float(m.group(2))
    return total


PKI_DIRS = []  # removed once the run is over


def setup(binary):
    # The certificates first: openssl takes seconds, and the ports Edge() picks stay free only
    # until something else (another test's origin or client) binds them.
    pki = tempfile.mkdtemp(prefix="sluice-it-pki-")
    PKI_DIRS.append(pki)
    make_pki(pki)
    o = Origin(head_bytes=HEAD_BYTES, die_bytes=HEAD_BYTES)
    e = Edge(binary, {"upstreams": [{"url": o.url, "first_byte_timeout": "5s",
                                     "low_speed_time": "5s", "connect_timeout": "1s"}],
                      # The clients here are Python reading MiBs on a loaded machine: the
                      # harness's 2 s idle limit could end a connection between a body's last
                      # byte leaving the edge and the client's next request.
                      "limits": {"send_timeout": "15s", "idle_timeout": "15s"}})
    e.origin = o
    e.pki = pki
    e.tls_port = free_port()
    e.cfg["tls"] = [{"listen": f"{HOST}:{e.tls_port}",
                     "certs": [{"cert": e.pki + "/a.pem", "key": e.pki + "/a.key"}]}]
    try:
        e.start()
    except Exception:
        print(e.log_tail())
        e.cleanup()
        raise
    return e


if __name__ == "__main__":
    if not shutil.which("openssl"):
        print("SKIP: the openssl CLI is needed to make test certificates")
        sys.exit(77)
    if not shutil.which("curl"):
        print("not ok - curl missing (tools/deps installs it)")
        sys.exit(1)
    rc = run(setup)
    for d in PKI_DIRS:
        shutil.rmtree(d, ignore_errors=True)
    sys.exit(rc)
