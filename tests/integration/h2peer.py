# SPDX-License-Identifier: MIT
"""A raw HTTP/2 client for the h2c tests (test_h2c.py, test_h2_floods.py): frame and error
names, HPACK field blocks of literals, a Peer that keeps every frame it reads, a conversation
of steps checked against its expected outcome, curl with prior knowledge, and an edge metric's
value."""

import socket
import struct
import subprocess
import time

from edgeharness import HOST, check, eq
from h2frames import PREFACE, frame, split_frames

ENHANCE_YOUR_CALM = 0xB
HEADER_LIST = 16 << 10  # http2.max_header_list's default

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
END_STREAM = ACK = 0x1
END_HEADERS, PADDED, PRIO = 0x4, 0x8, 0x20
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR = 0, 1, 2, 3
STREAM_CLOSED, FRAME_SIZE_ERROR, REFUSED_STREAM, CANCEL, COMPRESSION_ERROR = 5, 6, 7, 8, 9
ERROR_NAMES = {0: "NO_ERROR", 1: "PROTOCOL_ERROR", 2: "INTERNAL_ERROR", 3: "FLOW_CONTROL_ERROR",
               5: "STREAM_CLOSED", 6: "FRAME_SIZE_ERROR", 7: "REFUSED_STREAM", 8: "CANCEL",
               9: "COMPRESSION_ERROR", 0xB: "ENHANCE_YOUR_CALM"}
TYPE_NAMES = ("DATA", "HEADERS", "PRIORITY", "RST_STREAM", "SETTINGS", "PUSH_PROMISE", "PING",
              "GOAWAY", "WINDOW_UPDATE", "CONTINUATION")
STATIC_STATUS = {8: 200, 9: 204, 10: 206, 11: 304, 12: 400, 13: 404, 14: 500}


def hpack_int(n, prefix, pattern=0):
    """RFC 7541 §5.1: n with a prefix-bit prefix; pattern holds the bits above the prefix."""
    top = (1 << prefix) - 1
    if n < top:
        return bytes([pattern | n])
    out, n = [pattern | top], n - top
    while n >= 128:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    return bytes(out + [n])


def hstr(s):
    b = s.encode("latin-1") if isinstance(s, str) else s
    return hpack_int(len(b), 7) + b


def fields(*pairs):
    """A field block of literals without indexing and with new names (RFC 7541 §6.2.2)."""
    return b"".join(b"\x00" + hstr(n) + hstr(v) for n, v in pairs)


REQUEST = ((":method", "GET"), (":scheme", "http"), (":path", "/t1/one.bin"),
           (":authority", "edge.test"))


def req(*extra, drop=(), path="/t1/one.bin"):
    """A GET's field block: the four pseudo-header fields less those in drop, then extra."""
    return fields(*((n, path if n == ":path" else v) for n, v in REQUEST if n not in drop),
                  *extra)


def hdrs(sid, block, flags=END_STREAM | END_HEADERS):
    return frame(HEADERS, flags, sid, block)


def u32(n):
    return struct.pack(">I", n)


def setting(ident, value):
    return struct.pack(">HI", ident, value)


class Peer:
    """A client connection speaking raw frames; every frame read is kept, in order."""

    def __init__(self, e, settings=b"", preface=True, source=None, sock=None):
        """sock: a connected socket to speak on (a TLS one, say) instead of a new h2c one."""
        self.s = sock or socket.create_connection((HOST, e.port), timeout=5,
                                                  source_address=(source, 0) if source else None)
        self.buf, self.frames, self.eof = b"", [], False
        self.send(PREFACE + (frame(SETTINGS, 0, 0, settings) if preface else b""))

    def send(self, data):
        try:
            self.s.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    def read_until(self, done, timeout=5):
        """Read until done(self) or EOF. Returns whether done(self) holds."""
        deadline = time.monotonic() + timeout
        while not done(self) and not self.eof:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.s.settimeout(left)
            try:
                d = self.s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                d = b""
            if not d:
                self.eof = True
            got, self.buf = split_frames(self.buf + d)
            self.frames += got
        return bool(done(self))

    def of(self, ftype, sid=None):
        return [f for f in self.frames if f[0] == ftype and (sid is None or f[2] == sid)]

    def acked(self, payload):
        return any(t == PING and fl & ACK and p == payload for t, fl, _, p in self.frames)

    def ended(self, sid):
        return any(s == sid and (t == RST_STREAM or (t in (DATA, HEADERS) and fl & END_STREAM))
                   for t, fl, s, _ in self.frames)

    def status(self, sid):
        """The :status of sid's response when the edge sent it from the static table, or as a
        literal (with incremental indexing) of three plain digits under a static :status name
        (RFC 7541 §6.2.1: Huffman never makes three digits shorter)."""
        heads = self.of(HEADERS, sid)
        if not heads or not heads[0][3]:
            return None
        h = heads[0][3]
        if h[0] & 0x80:
            return STATIC_STATUS.get(h[0] & 0x7F, h[:8])
        if h[0] & 0xC0 == 0x40 and h[0] & 0x3F in STATIC_STATUS and h[1:2] == b"\x03" \
                and h[2:5].isdigit():
            return int(h[2:5])
        return h[:8]

    def settle(self):
        """Two PING round trips (the second sent once the first is answered): whatever the
        edge said about the frames before them has then been read, or the connection is over.
        After a GOAWAY, read on to the close. An open connection that answers neither, or stays
        open after its GOAWAY, fails the test: what a check reads next would be stale."""
        for tag in (b"settle-1", b"settle-2"):
            if self.eof or not self.send(frame(PING, 0, 0, tag)):
                break
            if not self.read_until(lambda p, t=tag: p.acked(t) or p.of(GOAWAY)):
                check(self.eof, f"PING {tag.decode()} unanswered on an open connection: "
                      + self.summary()[-200:])
        if self.of(GOAWAY):
            check(self.read_until(lambda p: p.eof),
                  f"still open 5 s after GOAWAY: {self.summary()[-200:]}")

    def summary(self):
        out = []
        for t, fl, sid, p in self.frames:
            name = TYPE_NAMES[t] if t < len(TYPE_NAMES) else str(t)
            if t == GOAWAY:
                name += f"({ERROR_NAMES.get(int.from_bytes(p[4:8], 'big'))}, last {p[:4].hex()})"
            elif t == RST_STREAM:
                name += f"({ERROR_NAMES.get(int.from_bytes(p[:4], 'big'))})"
            out.append(f"{name}/{sid}")
        return " ".join(out) + (" EOF" if self.eof else "")

    def close(self):
        self.s.close()


def goaway_code(f):
    return int.from_bytes(f[3][4:8], "big")


def conversation(e, steps, settings=b"", preface=True):
    """A connection that sends steps in order (bytes; an int waits for that stream to end),
    then settles. Returns the Peer, closed."""
    p = Peer(e, settings, preface)
    try:
        for st in steps:
            if isinstance(st, int):
                check(p.read_until(lambda q, s=st: q.ended(s)), f"stream {st} never ended: "
                      + p.summary())
            elif not p.send(st):
                break
        p.settle()
    finally:
        p.close()
    return p


def expect(p, want, what):
    """want: ("goaway", code): a connection error, GOAWAY then close; ("rst", sid, code): a
    stream error, the connection goes on; ("status", sid, status): answered; ("ok",): nothing
    but the connection going on."""
    goaways = p.of(GOAWAY)
    seen = f"{what}: frames {p.summary()}"
    if want[0] == "goaway":
        check(goaways, f"no GOAWAY; {seen}")
        eq(ERROR_NAMES.get(goaway_code(goaways[0])), ERROR_NAMES[want[1]],
           f"{what}: GOAWAY error code")
        check(p.eof, f"connection open after the error; {seen}")
        return
    check(not goaways and not p.eof, f"connection ended; {seen}")
    check(p.acked(b"settle-2"), f"PING unanswered; {seen}")
    if want[0] == "rst":
        rst = p.of(RST_STREAM, want[1])
        check(rst, f"no RST_STREAM on stream {want[1]}; {seen}")
        eq(ERROR_NAMES.get(int.from_bytes(rst[0][3][:4], "big")), ERROR_NAMES[want[2]],
           f"{what}: RST_STREAM error code")
        check(not p.of(HEADERS, want[1]), f"a response on the reset stream; {seen}")
    elif want[0] == "status":
        eq(p.status(want[1]), want[2], f"{what}: status on stream {want[1]}")
        check(not p.of(RST_STREAM, want[1]), f"stream {want[1]} reset; {seen}")
    else:
        check(not p.of(RST_STREAM), f"a stream reset; {seen}")


GET = req()
OPEN = hdrs(1, GET, END_HEADERS)  # stream 1 open: its request has not ended


def curl(e, path, *extra):
    out = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-D", "-", "-o", "-",
                          *extra, f"http://{HOST}:{e.port}{path}"], capture_output=True)
    check(out.returncode == 0, f"curl {path}: {out.stderr.decode().strip()}")
    head, _, body = out.stdout.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
    return lines[0], status, hdrs, body
