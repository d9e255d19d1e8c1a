# SPDX-License-Identifier: MIT
"""A miss's last byte waits for the fill's commit (the SHA-256 check, then fsync, rename and
LMDB's sync). On a busy disk that commit can take longer than limits.send_timeout; the client
has read everything the edge could send, so the wait is the edge's, not the client's, and the
answer must still end whole. A client that stops reading is still dropped at its deadline.

A preload shim (slow-sync-shim.c) makes each fsync(2) and fdatasync(2) of the edge take
SYNC_MS longer while a flag file exists; the edge's send_timeout is 1 s.

  h1_last_byte_waits_for_commit   HTTP/1.1: the whole body, after the slow commit
  h2c_last_byte_waits_for_commit  the same over h2c (curl)
  tls_h1_last_byte_waits_for_commit, h2_last_byte_waits_for_commit
                                  over TLS (userspace records), HTTP/1.1 and h2
  h1_stalled_reader_still_dropped a client reading nothing of a miss is closed at its send
                                  deadline, not kept while the fill moves or commits
  h2c_stalled_reader_still_dropped the same over h2c, windows open, the socket full

    python3 test_slow_commit.py path/to/sluice-edge
"""

import contextlib
import os
import shutil
import socket
import struct
import subprocess
import sys
import time

import edgeharness
from edgeharness import HOST, Edge, build_request, check, eq, expect_body, free_port, run, \
    sha, tcp_state, test
from h2frames import PREFACE, frame, get_block
from origin import Origin
from test_tls import make_pki

edgeharness._tests.clear()  # test_tls's own tests run in their own file

SEND_TIMEOUT = 1.0  # limits.send_timeout
SYNC_MS = 2000  # added to each fsync/fdatasync while the flag exists
SLACK = 2.0  # for a loaded machine (sanitizer builds in CI)
# What a client reading nothing asks for: from an origin sending 64 KiB every 10 ms, so the
# fill moves for 5 s and more, long after the socket is full.
BIG = 32 * 1024 * 1024
DRIP_PAUSE = 0.01


@contextlib.contextmanager
def slow_syncs(e):
    """The edge's syncs are slow inside the block."""
    open(e.sync_flag, "w").close()
    try:
        yield
    finally:
        os.unlink(e.sync_flag)


@test
def h1_last_byte_waits_for_commit(e):
    data = e.origin.objects.setdefault("/cold/slow-h1.m4s", os.urandom(70_000))
    with slow_syncs(e):
        start = time.monotonic()
        r = e.get("/cold/slow-h1.m4s", timeout=30)
        took = time.monotonic() - start
    expect_body(r, data, "a miss whose commit outlasts send_timeout")
    check(took >= SYNC_MS / 1000,
          f"answered in {took:.2f}s: the commit was not slow (shim not in effect?)")


def curl_waits_for_commit(e, key, url, *opts):
    """curl gets key whole from url while the edge's syncs are slow."""
    check(shutil.which("curl"), "curl missing (tools/deps installs it)")
    data = e.origin.objects.setdefault(key, os.urandom(70_000))
    with slow_syncs(e):
        start = time.monotonic()
        out = subprocess.run(["curl", "-sS", *opts, "-o", "-", "-w", "%{http_code}", url + key],
                             capture_output=True, timeout=60)
        took = time.monotonic() - start
    check(out.returncode == 0, f"curl {' '.join(opts)}: {out.stderr.decode().strip()} after "
          f"{took:.2f}s ({len(out.stdout)} bytes)")
    body, status = out.stdout[:-3], out.stdout[-3:]
    eq(status, b"200", "status")
    check(sha(body) == sha(data), f"body differs ({len(body)} bytes, want {len(data)})")
    check(took >= SYNC_MS / 1000,
          f"answered in {took:.2f}s: the commit was not slow (shim not in effect?)")


@test
def h2c_last_byte_waits_for_commit(e):
    curl_waits_for_commit(e, "/cold/slow-h2c.m4s", f"http://{HOST}:{e.port}",
                          "--http2-prior-knowledge")


def tls_url(e):
    return f"https://a.test:{e.tls_port}", "--cacert", os.path.join(e.pki, "ca.pem"), \
        "--resolve", f"a.test:{e.tls_port}:{HOST}"


@test
def tls_h1_last_byte_waits_for_commit(e):
    curl_waits_for_commit(e, "/cold/slow-tls-h1.m4s", *tls_url(e), "--http1.1")


@test
def h2_last_byte_waits_for_commit(e):
    curl_waits_for_commit(e, "/cold/slow-h2.m4s", *tls_url(e), "--http2")


def dropped_in_time(e, lport):
    """The edge's socket to the client on lport leaves ESTABLISHED by its send deadline."""
    start = time.monotonic()
    state = tcp_state(e.port, lport)
    check(state is not None, "cannot find the server's socket in /proc/net/tcp")
    limit = SEND_TIMEOUT + SLACK
    while state == "01" and time.monotonic() - start < limit + 1:
        time.sleep(0.05)  # poll interval over /proc/net/tcp
        state = tcp_state(e.port, lport)
    took = time.monotonic() - start
    check(state != "01", f"a reader taking nothing still connected after {took:.1f}s "
          f"(send_timeout {SEND_TIMEOUT}s; each of the commit's syncs takes {SYNC_MS} ms)")
    check(took <= limit, f"a reader taking nothing dropped after {took:.2f}s, want <= {limit}s")


@test
def h1_stalled_reader_still_dropped(e):
    e.origin.objects.setdefault("/drip/slow-big.m4s", os.urandom(BIG))
    with e.conn(timeout=10, rcvbuf=4096) as c, slow_syncs(e):
        c.send(build_request("GET", "/drip/slow-big.m4s"))
        dropped_in_time(e, c.local_port())


@test
def h2c_stalled_reader_still_dropped(e):
    e.origin.objects.setdefault("/drip/slow-big-h2.m4s", os.urandom(BIG))
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
    # The sanitizer's runtime is then not first in line.
    asan = os.environ.get("ASAN_OPTIONS")
    return e.start(env={"LD_PRELOAD": shim, "SLUICE_SLOW_SYNC_FLAG": e.sync_flag,
                        "SLUICE_SLOW_SYNC_MS": str(SYNC_MS),
                        "ASAN_OPTIONS": (asan + ":" if asan else "") +
                        "verify_asan_link_order=0"})

if __name__ == "__main__":
    sys.exit(run(setup))
