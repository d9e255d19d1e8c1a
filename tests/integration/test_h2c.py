# SPDX-License-Identifier: MIT
"""Prior-knowledge HTTP/2 (h2c) on the plain listener: bodies, ranges and conditionals through
curl, frame-level abuse with hand-built frames (struct), and HTTP/1.1 unaffected beside it."""

import shutil
import socket
import struct
import subprocess
import sys

from edgeharness import HOST, check, eq, run, sha, standard_setup, test

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
        buf += d
        while len(buf) >= 9:
            n = int.from_bytes(buf[:3], "big")
            if len(buf) < 9 + n:
                break
            t, f, sid = buf[3], buf[4], int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF
            frames.append((t, f, sid, buf[9:9 + n]))
            buf = buf[9 + n:]
            if t == 7 and until_goaway:
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


if __name__ == "__main__":
    if not shutil.which("curl"):
        print("SKIP: curl missing")
        sys.exit(77)
    run(standard_setup({"tokens": {"required": False}}))
