# SPDX-License-Identifier: MIT
"""An answer streaming from a fill waits on the fill, not on its client; a client that stops
reading is still dropped at its send deadline. The edge's send_timeout is 1 s.

For each of HTTP/1.1, h2c, HTTP/1.1 over TLS and h2 (curl; TLS in userspace records):
  <proto>_waits_out_slow_commit    a preload shim (slow-sync-shim.c) makes each fsync(2) and
                                   fdatasync(2) of the edge take SYNC_MS longer: the last byte,
                                   held until the commit, comes seconds past the send deadline
                                   and the answer still ends whole; the object is then a hit
  <proto>_range_waits_out_slow_commit  the same for bytes 10-19, which wait for the commit's
                                   check before the answer begins
  <proto>_empty_waits_out_slow_commit  an empty body (no SHA-256 known) waits for the commit:
                                   it has no last byte to hold back
  <proto>_upstream_pause_not_a_stall  the origin holds the body after its first 16 KiB for
                                   PAUSE s, past two send deadlines: the answer still ends
                                   whole (the upstream's own low-speed limit is what ends a
                                   fill that stops)
And:
  delete_during_fill_never_listed  a DELETE of a key absent while its fill runs (404) wins over
                                   the fill's commit, made with slow syncs: the key is never
                                   listed, before the waiting client has its bytes or after
  h1_stalled_reader_still_dropped  a client reading nothing of a miss is closed at its send
                                   deadline while the fill goes on
  h2c_stalled_reader_still_dropped the same over h2c, windows open, the socket full
  h2_tls_stalled_reader_still_dropped  over h2 with TLS, a stream waiting on its paused fill
                                   while the client reads nothing of an 8 MiB hit on another:
                                   the edge holds that hit's bytes back for the client (its TLS
                                   output full, nghttp2 paused), so the waiting stream does not
                                   keep the connection past its send deadline

    python3 test_fill_wait.py path/to/sluice-edge
"""

import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time

import edgeharness
from edgeharness import HOST, Edge, build_request, check, eq, expect_body, free_port, metric, \
    preload_env, run, sha, slow_syncs, tcp_state, test
from h2frames import PREFACE, frame, get_block, split_frames
from origin import Origin
from test_tls import client_ctx, make_pki

edgeharness._tests.clear()  # test_tls's own tests run in their own file

SEND_TIMEOUT = 1.0  # limits.send_timeout
SYNC_MS = 1500  # added to each fsync/fdatasync while the flag exists
SLACK = 2.0  # for a loaded machine (sanitizer builds in CI)
PAUSE = 2.5  # s the origin holds a body: past two send deadlines
# What a client reading nothing asks for: from an origin sending 64 KiB every 10 ms, so the
# fill moves for 5 s and more, long after the socket is full.
BIG = 32 * 1024 * 1024
DRIP_PAUSE = 0.01


def curl_get(e, proto, key, *extra):
    """GET key with curl over proto (extra: more curl options); returns (seconds, curl's
    result)."""
    check(shutil.which("curl"), "curl missing (tools/deps installs it)")
    if proto in ("h1", "h2c"):
        url = f"http://{HOST}:{e.port}"
        opts = ["--http1.1"] if proto == "h1" else ["--http2-prior-knowledge"]
    else:
        url = f"https://a.test:{e.tls_port}"
        opts = ["--cacert", os.path.join(e.pki, "ca.pem"), "--resolve",
                f"a.test:{e.tls_port}:{HOST}", "--http1.1" if proto == "tls_h1" else "--http2"]
    start = time.monotonic()
    out = subprocess.run(["curl", "-sS", *opts, *extra, "-D", "-", "-o", "-", url + key],
                         capture_output=True, timeout=60)
    return time.monotonic() - start, out


def whole(e, proto, key, data, status=b"200", *extra):
    """curl gets data from key over proto, with that status; returns (seconds, response head
    lowercased)."""
    took, out = curl_get(e, proto, key, *extra)
    check(out.returncode == 0, f"curl over {proto}: {out.stderr.decode().strip()} after "
          f"{took:.2f}s ({len(out.stdout)} bytes)")
    head, _, body = out.stdout.partition(b"\r\n\r\n")
    check(head.split(b" ")[1] == status, f"status line {head[:40]!r}, want {status}")
    check(sha(body) == sha(data), f"body differs ({len(body)} bytes, want {len(data)})")
    return took, head.decode().lower()


def waits_out_slow_commit(e, proto):
    key = f"/cold/commit-{proto}.m4s"
    data = e.origin.add(key, os.urandom(70_000))
    with slow_syncs(e):
        took, head = whole(e, proto, key, data)
    check("fwd=miss" in head, f"not a miss: {head}")
    check(took >= SYNC_MS / 1000,
          f"answered in {took:.2f}s: the commit was not slow (shim not in effect?)")
    _, head = whole(e, proto, key, data)
    check("cache-status: sluice; hit" in head, f"not a hit once answered whole: {head}")
    eq(e.origin.count(key), 1, "origin fetches")


def range_waits_out_slow_commit(e, proto):
    # A range short of the end of an object whose SHA-256 is known waits for the fill's check,
    # which the commit makes: no byte of the answer goes before it.
    key = f"/cold/commit-range-{proto}.m4s"
    data = e.origin.add(key, os.urandom(70_000))
    with slow_syncs(e):
        took, _ = whole(e, proto, key, data[10:20], b"206", "-r", "10-19")
    check(took >= SYNC_MS / 1000,
          f"answered in {took:.2f}s: the commit was not slow (shim not in effect?)")


def empty_waits_out_slow_commit(e, proto):
    # An empty body has no last byte to hold back: its answer waits for the commit too, so a
    # request after it is a hit (it ended before the commit, and the next one joined the
    # fill), with or without a SHA-256 known.
    key = f"/nosha/commit-empty-{proto}.m4s"
    e.origin.add(key, b"")
    with slow_syncs(e):
        took, head = whole(e, proto, key, b"")
    check(took >= SYNC_MS / 1000, f"answered in {took:.2f}s, before the commit")
    _, head = whole(e, proto, key, b"")
    check("cache-status: sluice; hit" in head, f"not a hit once answered whole: {head}")


def upstream_pause_not_a_stall(e, proto):
    key = f"/gate/pause-{proto}.m4s"
    data = e.origin.add(key, os.urandom(200_000))
    e.origin.first[key] = 16 * 1024
    arrived, gate = e.origin.event(e.origin.arrived, key), e.origin.gate(key)

    def release():  # PAUSE after the edge's request reached the origin
        if arrived.wait(30):
            time.sleep(PAUSE)
        gate.set()

    opener = threading.Thread(target=release)
    opener.start()
    try:
        took, _ = whole(e, proto, key, data)
    finally:
        gate.set()
        opener.join()
    check(took >= PAUSE, f"answered in {took:.2f}s: the origin's pause ({PAUSE}s) not seen")


def protocol_tests(proto):
    for fn in (waits_out_slow_commit, range_waits_out_slow_commit, empty_waits_out_slow_commit,
               upstream_pause_not_a_stall):
        def case(e, fn=fn):
            fn(e, proto)
        case.__name__ = f"{proto}_{fn.__name__}"
        test(case)


for _proto in ("h1", "h2c", "tls_h1", "h2"):
    protocol_tests(_proto)


@test
def delete_during_fill_never_listed(e):
    # The key holds nothing when the fill begins nor when the DELETE comes, so only the mark
    # the DELETE leaves on the fill stops its commit; it must do so inside the commit, not by
    # a delete after it, which left the object listed and served for a sync (and kept for
    # good by a crash then).
    o = e.origin
    key = "/gate/fill-wait/deleted.m4s"
    data = o.add(key, os.urandom(300_000))
    o.first[key] = 1024
    superseded = metric(e, "sluice_edge_fills_total", 'result="superseded"')
    got = {}
    client = threading.Thread(target=lambda: got.setdefault("r", e.get(key, timeout=30)))
    client.start()
    deadline = time.monotonic() + 10
    while o.count(key) == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # the head is in: the fill has begun its store put
    eq(e.admin("DELETE", "/admin/objects" + key).status, 404, "DELETE of the key being filled")
    seen = []
    with slow_syncs(e):
        o.gate(key).set()
        deadline = time.monotonic() + 6 * SYNC_MS / 1000 + 10
        while client.is_alive() and time.monotonic() < deadline:
            seen.append(listed(e, key))
            time.sleep(0.02)
        client.join(1)
        seen.append(listed(e, key))
    check(not client.is_alive(), "the waiting client's GET did not end")
    expect_body(got["r"], data, "the waiting client gets the fill's bytes")
    check(len(seen) > 3, f"the listing was looked at {len(seen)} times only")
    check(not any(seen), f"listed {seen.count(True)} of {len(seen)} times after the DELETE")
    eq(metric(e, "sluice_edge_fills_total", 'result="superseded"') - superseded, 1.0,
       "fills counted superseded")


def listed(e, key):
    r = e.admin("GET", "/admin/objects?prefix=" + key, timeout=20)
    eq(r.status, 200, "listing status")
    return key.encode() in r.body


def dropped_in_time(e, lport, port=None):
    """The edge's socket (on port, default its cleartext one) to the client on lport leaves
    ESTABLISHED by its send deadline."""
    port = port or e.port
    start = time.monotonic()
    state = tcp_state(port, lport)
    check(state is not None, "cannot find the server's socket in /proc/net/tcp")
    limit = SEND_TIMEOUT + SLACK
    while state == "01" and time.monotonic() - start < limit + 1:
        time.sleep(0.05)  # poll interval over /proc/net/tcp
        state = tcp_state(port, lport)
    took = time.monotonic() - start
    check(state != "01", f"a reader taking nothing still connected after {took:.1f}s "
          f"(send_timeout {SEND_TIMEOUT}s)")
    check(took <= limit, f"a reader taking nothing dropped after {took:.2f}s, want <= {limit}s")


@test
def h1_stalled_reader_still_dropped(e):
    e.origin.add("/drip/slow-big.m4s", os.urandom(BIG))
    with e.conn(timeout=10, rcvbuf=4096) as c, slow_syncs(e):
        c.send(build_request("GET", "/drip/slow-big.m4s"))
        dropped_in_time(e, c.local_port())


@test
def h2c_stalled_reader_still_dropped(e):
    e.origin.add("/drip/slow-big-h2.m4s", os.urandom(BIG))
    # Windows wide open (SETTINGS_INITIAL_WINDOW_SIZE 2^31-1, and the connection's), so what
    # stops the edge is the socket this client never reads.
    settings = struct.pack(">HI", 4, 0x7FFFFFFF)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with s, slow_syncs(e):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect((HOST, e.port))
        s.sendall(PREFACE + frame(4, 0, 0, settings) +
                  frame(8, 0, 0, struct.pack(">I", 0x7FFFFFFF - 65535)) +
                  frame(1, 0x5, 1, get_block("/drip/slow-big-h2.m4s")))
        dropped_in_time(e, s.getsockname()[1])


@test
def h2_tls_stalled_reader_still_dropped(e):
    # Stream 1 is a miss whose origin holds its body after 16 KiB: once the client has read
    # those, the stream waits on its fill (nothing of it left to send). Stream 3 is then an
    # 8 MiB hit the client never reads: the socket fills, and the edge's TLS output with it.
    # Bytes held back for the client are the client's to take, so stream 1's wait must not
    # keep the connection past its send deadline. (A hit small enough to leave nghttp2
    # unpaused with its tail in the TLS output alone would test that output's own check, but
    # where that size lies depends on the kernel's socket buffers.)
    gated = "/gate/tls-held.m4s"
    e.origin.add(gated, os.urandom(200_000))
    e.origin.first[gated] = 16 * 1024
    gate = e.origin.gate(gated)
    e.put("/hit/tls-big.m4s", os.urandom(8 << 20))
    settings = struct.pack(">HI", 4, 0x7FFFFFFF)
    ctx = client_ctx(e)
    ctx.set_alpn_protocols(["h2"])
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    raw.settimeout(10)
    raw.connect((HOST, e.tls_port))
    s = ctx.wrap_socket(raw, server_hostname="a.test")
    try:
        with s:
            eq(s.selected_alpn_protocol(), "h2", "ALPN")
            s.sendall(PREFACE + frame(4, 0, 0, settings) +
                      frame(8, 0, 0, struct.pack(">I", 0x7FFFFFFF - 65535)) +
                      frame(1, 0x5, 1, get_block(gated)))
            buf, got = b"", 0
            while got < 16 * 1024:
                chunk = s.recv(65536)
                check(chunk, f"closed after {got} bytes of stream 1")
                frames, buf = split_frames(buf + chunk)
                got += sum(len(f[3]) for f in frames if f[0] == 0 and f[2] == 1)
            eq(got, 16 * 1024, "stream 1's bytes before the origin's pause")
            s.sendall(frame(1, 0x5, 3, get_block("/hit/tls-big.m4s")))
            dropped_in_time(e, s.getsockname()[1], e.tls_port)
    finally:
        gate.set()


def setup(binary):
    shim = os.environ.get("SLUICE_SLOW_SYNC_SHIM", "")
    check(shim and os.path.exists(shim),
          "the slow-sync shim is missing (meson builds it and names it in SLUICE_SLOW_SYNC_SHIM)")
    check(shutil.which("openssl"), "the openssl CLI is missing (tools/deps installs it)")
    o = Origin()
    e = Edge(binary, {"workers": 1, "upstreams": [{"url": o.url}],
                      "limits": {"send_timeout": f"{SEND_TIMEOUT:g}s"}})
    e.pki, e.tls_port = os.path.join(e.dir, "pki"), free_port()
    os.mkdir(e.pki)
    make_pki(e.pki)
    e.cfg["tls"] = [{"listen": f"{HOST}:{e.tls_port}", "ktls": False,
                     "certs": [{"cert": f"{e.pki}/a.pem", "key": f"{e.pki}/a.key"}]}]
    o.drip_pause = DRIP_PAUSE
    e.origin = o
    e.sync_flag = os.path.join(e.dir, "slow-syncs")
    return e.start(env=preload_env(shim, SLUICE_SLOW_SYNC_FLAG=e.sync_flag,
                                   SLUICE_SLOW_SYNC_MS=str(SYNC_MS)))


if __name__ == "__main__":
    sys.exit(run(setup))
