# SPDX-License-Identifier: MIT
"""Deadlines and limits: slowloris (header_timeout), idle keep-alive (idle_timeout), a reader
that never reads (send_timeout), header count and size limits — while other clients are served
promptly. An h2c reader at another address of this host that never reads (its body went
zero-copy, whose pages the kernel keeps until they are acknowledged) is let go of too: after
send_timeout the edge shuts the socket and gives the queued bytes send_timeout to be
acknowledged, then the connection and its descriptor are gone."""

import os
import select
import socket
import struct
import sys
import time

from edgeharness import (HOST, Closed, build_request, check, eq, expect_body, run, sha,
                         skip, standard_objects, standard_setup, tcp_socket, tcp_state, test)
from h2frames import PREFACE, frame, get_block
from peeraddr import outward_address

HEADER_TIMEOUT = 1.0
IDLE_TIMEOUT = 2.0
SEND_TIMEOUT = 2.0
MAX_HEADERS = 32
MAX_HEADER_BYTES = 8192
SLACK = 1.5  # timer granularity and a loaded 2-core CI machine

OBJS = {k: v for k, v in standard_objects().items()
        if k in ("/t1/one.bin", "/t1/seg-1.m4s", "/t1/seg-2.m4s", "/t1/big.m4s")}
SETUP = standard_setup({"limits": {"header_timeout": "1s", "idle_timeout": "2s",
                                   "send_timeout": "2s", "max_headers": MAX_HEADERS,
                                   "max_header_bytes": MAX_HEADER_BYTES}}, OBJS)


def served_promptly(e, what, limit=0.5):
    t = time.monotonic()
    r = e.get("/t1/seg-1.m4s", timeout=3)
    took = time.monotonic() - t
    expect_body(r, e.objects["/t1/seg-1.m4s"], what)
    check(took < limit, f"{what}: took {took:.2f}s (> {limit}s)")


@test
def slowloris_closed_by_header_timeout(e):
    c = e.conn(timeout=10)
    try:
        start = time.monotonic()
        c.send(b"GET /t1/one.bin HTTP/1.1\r\nHost: edge.test\r\nX-Slow: ")
        closed_at = None
        checked_other = False
        dribbled = 0
        while time.monotonic() - start < HEADER_TIMEOUT + SLACK + 1.0:
            # Wait up to 0.3 s for the server to close (readable socket), else dribble a byte.
            r, _, _ = select.select([c.sock], [], [], 0.3)
            if r:
                try:
                    data = c.sock.recv(4096)
                except ConnectionResetError:
                    data = b""
                if data:
                    check(data.startswith(b"HTTP/1.1 408"),
                          f"slowloris: unexpected response {data[:60]!r}")
                    continue  # a 408 may precede the close
                closed_at = time.monotonic() - start
                break
            if not c.send(b"a"):
                closed_at = time.monotonic() - start
                break
            dribbled += 1
            if not checked_other and time.monotonic() - start > 0.5:
                served_promptly(e, "normal client during slowloris")
                checked_other = True
        check(closed_at is not None,
              f"slowloris connection still open after {time.monotonic() - start:.1f}s "
              f"({dribbled} bytes dribbled; header_timeout {HEADER_TIMEOUT}s)")
        check(closed_at <= HEADER_TIMEOUT + SLACK,
              f"slowloris closed after {closed_at:.2f}s, want <= {HEADER_TIMEOUT + SLACK}s")
        check(closed_at >= HEADER_TIMEOUT - 0.3,
              f"slowloris closed after {closed_at:.2f}s, before header_timeout {HEADER_TIMEOUT}s")
        check(checked_other, "the normal client was never tried")
    finally:
        c.close()


@test
def partial_head_without_dribble(e):
    with e.conn(timeout=10) as c:
        c.send(b"GET /t1/one.bin HTTP/1.1\r\nHost: edge.test\r\n")
        closed, took, extra = c.wait_eof(HEADER_TIMEOUT + SLACK + 2)
        check(closed, "a connection with half a head was never closed")
        check(took <= HEADER_TIMEOUT + SLACK, f"closed after {took:.2f}s")
        check(not extra or extra.startswith(b"HTTP/1.1 408"), f"unexpected bytes {extra[:60]!r}")


@test
def idle_keepalive_closed(e):
    with e.conn(timeout=10) as c:
        c.send(build_request("GET", "/t1/one.bin"))
        expect_body(c.read_response(), b"x", "GET before idling")
        closed, took, extra = c.wait_eof(IDLE_TIMEOUT + SLACK + 2)
        check(closed, f"idle keep-alive connection open after {took:.1f}s "
              f"(idle_timeout {IDLE_TIMEOUT}s)")
        check(IDLE_TIMEOUT - 0.5 <= took <= IDLE_TIMEOUT + SLACK,
              f"idle connection closed after {took:.2f}s, want about {IDLE_TIMEOUT}s")
        check(extra == b"", f"bytes sent on an idle connection: {extra[:60]!r}")


@test
def keepalive_activity_resets_idle(e):
    # Requests 1.2 s apart (each under idle_timeout) keep one connection alive past it.
    with e.conn(timeout=10) as c:
        start = time.monotonic()
        for i in range(3):
            if i:
                c.expect_open(1.2, f"keep-alive before request {i + 1}")
            check(c.send(build_request("GET", "/t1/one.bin")), f"send #{i + 1}")
            expect_body(c.read_response(), b"x", f"request {i + 1}")
        check(time.monotonic() - start > IDLE_TIMEOUT, "test did not outlast idle_timeout")


@test
def slow_reader_closed_by_send_timeout(e):
    big = e.objects["/t1/big.m4s"]
    c = e.conn(timeout=10, rcvbuf=4096)
    try:
        c.send(build_request("GET", "/t1/big.m4s"))
        lport = c.local_port()
        start = time.monotonic()
        # The server's socket (port e.port -> our port) must leave ESTABLISHED once it gives up.
        deadline = start + SEND_TIMEOUT + SLACK + 3
        state = tcp_state(e.port, lport)
        check(state is not None, "cannot find the server's socket in /proc/net/tcp")
        others_ok = False
        while state == "01" and time.monotonic() < deadline:
            if not others_ok and time.monotonic() - start > 0.5:
                served_promptly(e, "normal client while a reader stalls")
                others_ok = True
            time.sleep(0.05)  # poll interval over /proc/net/tcp
            state = tcp_state(e.port, lport)
        took = time.monotonic() - start
        check(state != "01", f"server still sending to a stalled reader after {took:.1f}s "
              f"(send_timeout {SEND_TIMEOUT}s)")
        check(took <= SEND_TIMEOUT + SLACK + 0.5,
              f"stalled reader dropped after {took:.2f}s, want <= {SEND_TIMEOUT + SLACK + 0.5}s")
        check(others_ok, "the normal client was never tried")
        # What was queued can be drained but must end before the whole object.
        c.sock.settimeout(5)
        got = 0
        while True:
            try:
                chunk = c.sock.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            got += len(chunk)
        check(got < len(big), f"stalled reader still received all {got} bytes")
    finally:
        c.close()


@test
def steady_slow_reader_kept(e):
    """A reader taking the body slowly but without pause is progress, however long the
    kernel waits before it says there is room again (a third of a send buffer of megabytes):
    the edge keeps sending past send_timeout, over HTTP/1.1 and h2c alike. It was closed at
    send_timeout with its send buffer still draining (the client then read to the end of
    what was queued, then EOF)."""
    big = e.objects["/t1/big.m4s"]
    win = (1 << 31) - 1
    h2 = (PREFACE + frame(4, 0, 0, struct.pack(">HI", 4, win))
          + frame(8, 0, 0, struct.pack(">I", win - 65535))
          + frame(1, 0x5, 1, get_block("/t1/big.m4s")))
    rate = 200_000  # bytes a second: a send buffer's third takes longer than send_timeout
    for what, request in (("HTTP/1.1", build_request("GET", "/t1/big.m4s")), ("h2c", h2)):
        c = e.conn(timeout=10, rcvbuf=65536)  # the body waits in the edge's socket, not ours
        try:
            c.send(request)
            lport = c.local_port()
            start, got = time.monotonic(), 0
            while time.monotonic() - start < SEND_TIMEOUT + SLACK + 1:
                chunk = c.sock.recv(16384)
                check(chunk, f"{what}: EOF after {got} bytes")
                got += len(chunk)
                ahead = got / rate - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)
                state = tcp_state(e.port, lport)
                check(state == "01", f"{what}: the edge let go of a steady reader after "
                      f"{time.monotonic() - start:.1f}s (socket state {state}, {got} bytes read)")
            check(got < len(big), f"{what}: the body ended before the case was made")
        finally:
            c.close()


def holds_socket(pid, inode):
    """Whether process pid has a descriptor for the socket with this inode."""
    d = f"/proc/{pid}/fd"
    for f in os.listdir(d):
        try:
            if os.readlink(os.path.join(d, f)) == f"socket:[{inode}]":
                return True
        except FileNotFoundError:
            pass
    return False


@test
def h2c_zero_copy_reader_let_go(e):
    source = outward_address()
    if not source:
        skip("no address besides loopback: the let-go of a zero-copy h2c batch's reader not "
             "checked")
    body = e.objects["/t1/seg-2.m4s"]  # 70,001 bytes: zero copy (up to 256 KiB)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.bind((source, 0))
        s.connect((HOST, e.port))
        lport = s.getsockname()[1]
        # The stream's window (64 KiB) lets the edge send most of the body at once; this
        # socket takes a few KiB and then advertises a zero window, acknowledging the probes.
        s.sendall(PREFACE + frame(4, 0, 0) + frame(1, 0x5, 1, get_block("/t1/seg-2.m4s")))
        start = time.monotonic()
        found = tcp_socket(e.port, lport, source)
        while found and found[1] == "0" and time.monotonic() - start < 2:  # not accepted yet
            time.sleep(0.02)
            found = tcp_socket(e.port, lport, source)
        check(found is not None, "the edge's socket not found")
        inode = found[1]
        check(holds_socket(e.proc.pid, inode), "the edge holds its socket")
        # send_timeout closes the connection; the queued bytes then have send_timeout to be
        # acknowledged before the kernel drops the connection and the edge its descriptor.
        limit = 2 * SEND_TIMEOUT + 2 * SLACK + 2
        state = tcp_socket(e.port, lport, source)
        while (state is not None or holds_socket(e.proc.pid, inode)) and \
                time.monotonic() - start < limit:
            time.sleep(0.1)
            state = tcp_socket(e.port, lport, source)
        took = time.monotonic() - start
        check(state is None, f"the edge's socket to a reader that reads nothing still there "
              f"after {took:.1f}s (state {state}; send_timeout {SEND_TIMEOUT}s)")
        check(not holds_socket(e.proc.pid, inode),
              f"the edge still holds the socket after {took:.1f}s (its send not let go of)")
        check(len(body) > 4096, "the body is larger than what the reader took")
    finally:
        s.close()
    served_promptly(e, "a normal client after the stalled h2c reader")


@test
def header_count_limit(e):
    # Host plus MAX_HEADERS - 1 others is exactly the limit: allowed. One more: 431.
    ok = [(f"X-H{i}", "v") for i in range(MAX_HEADERS - 1)]
    r = e.get("/t1/one.bin", ok[:-1])  # Connection: close is added, making the count exact
    expect_body(r, b"x", f"{MAX_HEADERS} header fields")
    with e.conn() as c:
        c.send(build_request("GET", "/t1/one.bin", ok + [("X-Extra", "v")]))
        r = c.read_response()
        eq(r.status, 431, f"{MAX_HEADERS + 1} header fields")
        c.expect_eof(3.0, "after 431 (too many fields)")


@test
def header_bytes_limit(e):
    base = len(build_request("GET", "/t1/one.bin", [("X-Pad", ""), ("Connection", "close")]))
    r = e.get("/t1/one.bin", [("X-Pad", "p" * (MAX_HEADER_BYTES - base - 200))])
    expect_body(r, b"x", f"head {MAX_HEADER_BYTES - 200} bytes")
    with e.conn() as c:
        c.send(build_request("GET", "/t1/one.bin", [("X-Pad", "p" * (MAX_HEADER_BYTES + 1))]))
        r = c.read_response()
        eq(r.status, 431, f"head over {MAX_HEADER_BYTES} bytes")
        c.expect_eof(3.0, "after 431 (head too large)")


@test
def admin_partial_head_closed(e):
    with e.conn(admin=True, timeout=10) as c:
        c.send(b"PUT /admin/objects/slow.bin HTTP/1.1\r\nHost: x\r\n")
        closed, took, extra = c.wait_eof(HEADER_TIMEOUT + SLACK + 2)
        check(closed, "admin connection with half a head never closed")
        check(took <= HEADER_TIMEOUT + SLACK, f"admin half head closed after {took:.2f}s")


@test
def admin_stalled_body_closed_and_not_committed(e):
    # A PUT whose body stops arriving must not pin the connection (and its temp file) forever.
    limit = max(IDLE_TIMEOUT, SEND_TIMEOUT) + SLACK
    with e.conn(admin=True, timeout=10) as c:
        c.send(build_request("PUT", "/admin/objects/stall.bin",
                             e.auth() + [("Content-Length", "100000")]) + b"z" * 1000)
        closed, took, extra = c.wait_eof(limit + 3)
        check(closed, f"a PUT with a stalled body was not closed within {limit + 3:.1f}s")
        check(took <= limit, f"stalled PUT closed after {took:.2f}s, want <= {limit:.1f}s")
    eq(e.get("/stall.bin").status, 404, "stalled PUT committed")


if __name__ == "__main__":
    sys.exit(run(SETUP))
