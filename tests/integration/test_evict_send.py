# SPDX-License-Identifier: MIT
"""An object being sent keeps its bytes while the cache churns under it.

A client reads a large object slowly (HTTP/1.1 with a small receive buffer, or h2c with the
stream's window spent), stops part-way, and while it waits the cache is pushed and filled far
past cache.max_size (eviction must take the object, whose file is then unlinked), and the
object is replaced and deleted through the admin API. Then the client reads on: every byte it gets
must be the object's as it was when its answer began (the SHA-256 of the whole body), and the
answer must end whole.

  h1_hit_evicted:    a cached object, HTTP/1.1.
  h1_fill_evicted:   the object is a miss: the client reads from the fill in flight, which
                     commits, and is then evicted, replaced and deleted.
  h2c_hit_evicted:   a cached object, h2c: the stream waits on its flow-control window.
  h2c_fill_evicted:  a miss over h2c.
  h2_tls_hit_evicted, h2_tls_fill_evicted: the same over h2 with TLS.
"""

import hashlib
import os
import shutil
import socket
import sys
import tempfile
import time

import edgeharness
from edgeharness import (HOST, RawConn, build_request, check, eq, free_port, metric,
                         run_and_stop, test)
from h2frames import frame
from h2peer import DATA, END_STREAM, WINDOW_UPDATE, Peer, hdrs, req, u32
from test_miss import Origin, listed, start_edge
from test_tls import client_ctx, make_pki

edgeharness._tests.clear()  # test_miss's and test_tls's own tests run in their own files

LARGE = 12 << 20  # the object being sent
FILLER = 1 << 20
FILLERS = 100  # 100 MiB through a 64 MiB cache


class Ctx:
    def __init__(self, binary):
        self.origin = Origin()
        self.pki = tempfile.mkdtemp(prefix="sluice-it-pki-")
        make_pki(self.pki)
        self.tls_port = free_port()
        self.e = start_edge(binary, self.origin, {
            "workers": 1,
            "cache": {"max_size": "64M"},
            "limits": {"send_timeout": "600s", "idle_timeout": "600s"},
            "tls": [{"listen": f"{HOST}:{self.tls_port}",
                     "certs": [{"cert": self.pki + "/a.pem", "key": self.pki + "/a.key"}]}],
        })
        self.e.pki = self.pki
        self.round = 0

    def edges(self):
        shutil.rmtree(self.pki, ignore_errors=True)
        return [self.e]


def churn(ctx, key):
    """Push the cache far past its budget (every third object a fill, asked twice so the
    admission filter takes it), until key is no longer listed; then push key anew and delete
    it."""
    e, o = ctx.e, ctx.origin
    ctx.round += 1
    before = metric(e, "sluice_edge_evictions_total")
    for i in range(FILLERS):
        path = f"/ok/r{ctx.round}/f{i}.bin"
        if i % 3:
            e.put(path, os.urandom(FILLER))
        else:
            o.add(path, os.urandom(FILLER))
            for _ in range(2):
                eq(e.get(path, timeout=30).status, 200, f"filler {path}")
        if not listed(e, key) and i > 10:
            break
    check(metric(e, "sluice_edge_evictions_total") > before, "nothing was evicted")
    check(not listed(e, key), f"{key} is still cached after {FILLERS} MiB of fills")
    # Pushed again with other bytes, then deleted: the send still holds the old bytes.
    e.put(key, os.urandom(LARGE // 2))
    r = e.admin("DELETE", "/admin/objects" + key)
    check(r.status in (200, 204), f"DELETE {key}: {r.status}")
    # More fills: the old file's blocks would be the first a new file reuses.
    for i in range(8):
        path = f"/ok/r{ctx.round}/g{i}.bin"
        o.add(path, os.urandom(FILLER))
        eq(e.get(path, timeout=30).status, 200, f"filler {path}")


def h1_case(ctx, hit):
    e, o = ctx.e, ctx.origin
    key = f"/ok/h1-{'hit' if hit else 'fill'}.bin"
    data = o.add(key, os.urandom(LARGE))
    if hit:
        eq(e.get(key, timeout=30).body, data, "the object's first answer")
    # The kernel holds at most this and the edge's send buffer (a few MiB): the rest waits.
    c = RawConn(e.port, timeout=60, rcvbuf=64 << 10)
    try:
        c.send(build_request("GET", key))
        deadline = time.monotonic() + 30
        head = c._read_until(b"\r\n\r\n", deadline)
        check(head.startswith(b"HTTP/1.1 200"), f"head {head[:40]!r}")
        h = hashlib.sha256(c._read_n(128 << 10, deadline))
        got = 128 << 10
        churn(ctx, key)
        deadline = time.monotonic() + 60
        while got < LARGE:
            chunk = c._read_n(min(LARGE - got, 1 << 20), deadline)
            h.update(chunk)
            got += len(chunk)
        eq(h.hexdigest(), hashlib.sha256(data).hexdigest(), "SHA-256 of the slow body")
    finally:
        c.sock.close()


def h2_case(ctx, hit, tls):
    e, o = ctx.e, ctx.origin
    key = f"/ok/h2{'' if tls else 'c'}-{'hit' if hit else 'fill'}.bin"
    data = o.add(key, os.urandom(LARGE))
    if hit:
        eq(e.get(key, timeout=30).body, data, "the object's first answer")
    sock = None
    if tls:
        tctx = client_ctx(e)
        tctx.set_alpn_protocols(["h2"])
        raw = socket.create_connection((HOST, ctx.tls_port), timeout=10)
        sock = tctx.wrap_socket(raw, server_hostname="a.test")
        check(sock.selected_alpn_protocol() == "h2", "ALPN did not choose h2")
    p = Peer(e, sock=sock)
    try:
        p.send(hdrs(1, req(path=key)))

        def data_bytes(peer):
            return sum(len(f[3]) for f in peer.of(DATA, 1))
        # The default windows (65535) stop the stream there until the client opens them.
        check(p.read_until(lambda q: data_bytes(q) >= 65535, timeout=30),
              "the first window of DATA: " + p.summary()[-200:])
        churn(ctx, key)
        p.send(frame(WINDOW_UPDATE, 0, 0, u32(LARGE)) + frame(WINDOW_UPDATE, 0, 1, u32(LARGE)))
        check(p.read_until(lambda q: q.ended(1), timeout=60),
              "the stream did not end: " + p.summary()[-200:])
        body = b"".join(f[3] for f in p.of(DATA, 1))
        check(any(f[1] & END_STREAM for f in p.of(DATA, 1)), "no END_STREAM on DATA")
        eq(len(body), LARGE, "h2c body length")
        eq(hashlib.sha256(body).hexdigest(), hashlib.sha256(data).hexdigest(),
           "SHA-256 of the slow h2c body")
    finally:
        p.close()


@test
def h1_hit_evicted(ctx):
    h1_case(ctx, True)


@test
def h1_fill_evicted(ctx):
    h1_case(ctx, False)


@test
def h2c_hit_evicted(ctx):
    h2_case(ctx, True, False)


@test
def h2c_fill_evicted(ctx):
    h2_case(ctx, False, False)


@test
def h2_tls_hit_evicted(ctx):
    h2_case(ctx, True, True)


@test
def h2_tls_fill_evicted(ctx):
    h2_case(ctx, False, True)


if __name__ == "__main__":
    sys.exit(run_and_stop(Ctx, lambda ctx: ctx.edges()))
