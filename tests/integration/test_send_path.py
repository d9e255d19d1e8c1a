# SPDX-License-Identifier: MIT
"""The plain-HTTP send path: response heads go through the ring and file bodies follow by
sendfile from the send's completion. Pipelined responses stay in order, also behind a body
that waits for the reader and with requests that arrive while a head is in flight; a client
that goes away mid-body costs the edge nothing."""

import socket
import struct
import sys
import time

from edgeharness import (RawConn, build_request, check, eq, expect_body, run, standard_setup,
                         test)


def gauge(e, name):
    for line in e.metrics().body.decode().splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no {name} in /metrics")


def wait_gauge(e, name, want, timeout=5.0):
    deadline = time.monotonic() + timeout
    got = gauge(e, name)
    while got != want and time.monotonic() < deadline:
        time.sleep(0.05)  # poll interval of a metric bounded by the deadline
        got = gauge(e, name)
    eq(got, want, name)


def server_tx_queue(e, client_port):
    """Bytes the edge's socket towards client_port holds unsent or unacknowledged
    (/proc/net/tcp tx_queue), or None when the socket is not there."""
    want_l, want_r = f"0100007F:{e.port:04X}", f"0100007F:{client_port:04X}"
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            p = line.split()
            if p[1] == want_l and p[2] == want_r:
                return int(p[4].split(":")[0], 16)
    return None


def wait_blocked(e, c, what, timeout=5.0):
    """Wait until the edge has more queued towards c than c's receive window takes: its
    sender is then waiting for room."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        q = server_tx_queue(e, c.local_port())
        if q is not None and q > 65536:
            return
        time.sleep(0.02)  # poll interval over /proc/net/tcp, bounded by the deadline
    raise AssertionError(f"{what}: the edge never filled the socket")


def expect_answer(e, c, method, key, what, headers=()):
    r = c.read_response(method)
    if key not in e.objects:
        eq(r.status, 404, what)
    elif method == "HEAD":
        eq(r.status, 200, what)
        eq(r.get("Content-Length"), str(len(e.objects[key])), what + " Content-Length")
    elif headers:
        eq(r.status, 304, what)
    else:
        expect_body(r, e.objects[key], what)
    return r


@test
def pipelined_behind_a_blocked_body(e):
    # The 8 MiB body fills the socket while the reader sleeps; the heads queued behind it
    # (file, memory, 304) must come after its last byte, in order.
    etag = e.get("/t1/init.mp4").need("ETag")
    plan = [("GET", "/t1/big.m4s", ()), ("GET", "/t1/seg-2.m4s", ()),
            ("GET", "/t1/nope.m4s", ()), ("GET", "/t1/init.mp4", (("If-None-Match", etag),)),
            ("HEAD", "/t1/seg-1.m4s", ()), ("GET", "/t1/one.bin", ())]
    with e.conn(timeout=20, rcvbuf=8192) as c:
        c.send(b"".join(build_request(m, k, h) for m, k, h in plan))
        wait_blocked(e, c, "the 8 MiB body")
        for i, (m, k, h) in enumerate(plan):
            expect_answer(e, c, m, k, f"pipelined #{i + 1} {m} {k}", h)
        c.expect_open(0.2, "after the pipelined batch")


@test
def requests_arriving_during_a_response(e):
    # Each request is sent as soon as the previous response's head arrived, so it lands while
    # the body (or the head's own send) is under way; byte by byte for one of them.
    keys = ["/t1/seg-1.m4s", "/t1/one.bin", "/t1/seg-2.m4s", "/t1/nope", "/t1/empty.bin"]
    with e.conn(timeout=10) as c:
        c.send(build_request("GET", keys[0]))
        for i, k in enumerate(keys):
            if i + 1 < len(keys):
                nxt = build_request("GET", keys[i + 1])
                if i == 2:
                    for b in nxt:
                        check(c.send(bytes([b])), "send a byte")
                else:
                    check(c.send(nxt), "send the next request")
            expect_answer(e, c, "GET", k, f"request {i + 1} {k}")
        c.expect_open(0.2, "after the interleaved requests")


def close_mid_body(e, reset):
    big = e.objects["/t1/big.m4s"]
    c = RawConn(e.port, timeout=10, rcvbuf=16384)
    try:
        c.send(build_request("GET", "/t1/big.m4s"))
        got = 0
        while got < 100_000:
            chunk = c.sock.recv(65536)
            check(chunk, "the edge closed before 100 kB of the body")
            got += len(chunk)
        check(got < len(big), "the whole body arrived before the close")
        if reset:
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        c.close()


@test
def client_closes_mid_body(e):
    wait_gauge(e, "sluice_edge_connections_open", 0)
    for reset in (False, True, False, True):
        close_mid_body(e, reset)
    # Every one of those connections is closed and freed; the edge serves on.
    wait_gauge(e, "sluice_edge_connections_open", 0)
    expect_body(e.get("/t1/seg-2.m4s"), e.objects["/t1/seg-2.m4s"], "GET after the aborts")


@test
def client_closes_with_requests_queued(e):
    # A reset while pipelined requests wait behind a blocked body.
    wait_gauge(e, "sluice_edge_connections_open", 0)
    c = RawConn(e.port, timeout=10, rcvbuf=8192)
    try:
        c.send(build_request("GET", "/t1/big.m4s") + build_request("GET", "/t1/seg-1.m4s") * 4)
        chunk = c.sock.recv(4096)
        check(chunk.startswith(b"HTTP/1.1 200"), f"first bytes {chunk[:40]!r}")
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    finally:
        c.close()
    wait_gauge(e, "sluice_edge_connections_open", 0)
    expect_body(e.get("/t1/init.mp4"), e.objects["/t1/init.mp4"], "GET after the reset")


# Slow readers here are slow on purpose, and all the edge wrote may still sit in the socket
# when it turns idle: deadlines long enough not to be what is tested (test_deadlines does).
LIMITS = {"limits": {"idle_timeout": "30s", "send_timeout": "30s"}}

if __name__ == "__main__":
    sys.exit(run(standard_setup(LIMITS)))
