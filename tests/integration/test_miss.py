# SPDX-License-Identifier: MIT
"""The miss path: fills from a (fault-injecting) test origin and from a parent edge,
collapsing, streaming from an in-flight fill, what is and is not committed, Cache-Status,
metrics, and kill -9 during a fill.

The origin (origin.py) is a threaded http.server in this process whose paths choose its
behaviour: /ok/, /gate/ (a fill held in flight until the test sets the path's gate), /die/
(half the body, then a close), /badsha/, /e500/, /e503/, /e404/, /redirect/, /te/, /stall/,
/long/, /nosha/, /crct/, /gzip/, /identity/ and /mute/ (a parent that never answers).
"""

import contextlib
import hashlib
import os
import random
import re
import resource
import selectors
import shutil
import subprocess
import signal
import socket
import sys
import threading
import time

from edgeharness import (Closed, Edge, RawConn, build_request, check, eq, expect_body, free_port,
                         metric, run_and_stop, sha, skip, test, HOST)
from origin import Origin

RNG = random.Random(5)


def counters(e):
    """Every sample of /metrics in one read: {(name, labels): value}."""
    out = {}
    for line in e.metrics().body.decode().splitlines():
        m = re.match(r"^([a-z_]+)(\{[^}]*\})? (\S+)$", line)
        if m:
            out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out


FILLS = "sluice_edge_fills_total"


def delta(before, after, name, labels=""):
    key = (name, "{" + labels + "}" if labels else "")
    return after.get(key, 0.0) - before.get(key, 0.0)


def expect_deltas(before, e, what, **want):
    """want: short names -> expected increase of the counter since before."""
    names = {
        "committed": (FILLS, 'result="committed"'), "failed": (FILLS, 'result="failed"'),
        "not_found": (FILLS, 'result="not_found"'), "store_full": (FILLS, 'result="store_full"'),
        "too_large": (FILLS, 'result="too_large"'),
        "misses": ("sluice_edge_cache_misses_total", ""),
        "collapsed": ("sluice_edge_collapsed_requests_total", ""),
        "negative": ("sluice_edge_negative_hits_total", ""),
        "up_failures": ("sluice_edge_upstream_failures_total", ""),
        "origin_bytes": ("sluice_edge_upstream_bytes_total", 'from="origin"'),
        "parent_bytes": ("sluice_edge_upstream_bytes_total", 'from="parent"'),
    }
    after = counters(e)
    got = {k: delta(before, after, *names[k]) for k in want}
    eq(got, {k: float(v) for k, v in want.items()}, f"{what}: counter increases")


def listed(e, key):
    r = e.admin("GET", "/admin/objects?prefix=" + key)
    eq(r.status, 200, "listing status")
    return key.encode() in r.body


def access_lines(e, needle, n=1, timeout=5):
    """The access-log lines holding needle, once there are n of them (the writer flushes once
    per loop turn: polled with a deadline)."""
    deadline = time.monotonic() + timeout
    while True:
        with open(e.access_log, "rb") as f:
            lines = [ln for ln in f.read().decode(errors="replace").splitlines() if needle in ln]
        if len(lines) >= n or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def start_edge(binary, origin, extra=None, upstreams=None, start=True):
    e = Edge(binary, {
        "upstreams": upstreams or [{"url": origin.url, "first_byte_timeout": "2s",
                                    "low_speed_time": "1s", "connect_timeout": "1s"}],
        # Long enough that collapse_50_clients' 50 reader threads (one GIL, a loaded CI
        # machine) never leave one socket unread for the whole timeout.
        "limits": {"send_timeout": "15s"},
        **(extra or {}),
    })
    if start:
        e.start()
    return e


class Ctx:
    def __init__(self, binary):
        self.binary = binary
        self.origin = Origin()
        self.edge = start_edge(binary, self.origin)
        self.others = []

    def stop(self):
        for o in self.others:
            try:
                o.stop()
            finally:
                o.cleanup()


@contextlib.contextmanager
def own_edge(ctx, o, cfg):
    """An edge of the test's own (cfg) on its own origin o, both stopped after the block."""
    e = Edge(ctx.binary, cfg)
    ctx.others.append(e)
    e.start()
    try:
        yield e
    finally:
        e.stop()
        ctx.others.remove(e)
        o.srv.shutdown()


def get(e, key, headers=(), timeout=10):
    return e.get(key, headers, timeout=timeout)


def read_head(c, deadline):
    """Read just a response head on RawConn c; returns (status, headers dict lower-case)."""
    head = c._read_until(b"\r\n\r\n", deadline)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for ln in lines[1:]:
        if ":" in ln:
            k, v = ln.split(":", 1)
            hdrs[k.strip().lower()] = v.strip()
    return status, hdrs


@test
def cold_miss_then_hit(ctx):
    e, o = ctx.edge, ctx.origin
    data = o.add("/ok/t/seg-1.m4s", RNG.randbytes(300_001))
    r = get(e, "/ok/t/seg-1.m4s")
    expect_body(r, data, "cold miss")
    cs = r.need("Cache-Status")
    check("fwd=miss" in cs and "fwd-status=200" in cs, f"miss Cache-Status: {cs!r}")
    check("collapsed" not in cs, f"a lone miss is not collapsed: {cs!r}")
    r = get(e, "/ok/t/seg-1.m4s")
    expect_body(r, data, "hit after fill")
    check(r.need("Cache-Status").endswith("; hit"), f"hit Cache-Status: {r.get('Cache-Status')!r}")
    eq(o.count("/ok/t/seg-1.m4s"), 1, "origin requests")
    check(listed(e, "/ok/t/seg-1.m4s"), "committed object listed")
    lines = access_lines(e, '"GET /ok/t/seg-1.m4s"', 2)
    eq(len(lines), 2, "access-log lines of the miss and the hit")
    # In either order: each connection's worker writes its own lines, and the miss's is written
    # once its send completes, which the client may see after it has sent the next request.
    miss = [ln for ln in lines if ln.endswith(f" cache=miss upstream={o.url}")]
    hit = [ln for ln in lines if ln.endswith(" cache=hit upstream=-")]
    check(len(miss) == 1 and len(hit) == 1, f"one miss and one hit line: {lines!r}")
    check(metric(e, "sluice_edge_upstream_bytes_total", 'from="origin"') >= len(data),
          "origin bytes counted")


@test
def head_and_empty_object(ctx):
    e, o = ctx.edge, ctx.origin
    o.add("/ok/t/empty.bin", b"")
    r = get(e, "/ok/t/empty.bin")
    expect_body(r, b"", "empty object")
    data = o.add("/ok/t/h.m4s", RNG.randbytes(5000))
    r = e.request("HEAD", "/ok/t/h.m4s")
    eq(r.status, 200, "HEAD miss status")
    eq(r.get("Content-Length"), str(len(data)), "HEAD miss Content-Length")
    expect_body(get(e, "/ok/t/h.m4s"), data, "after HEAD miss")


@test
def collapse_50_clients(ctx):
    e, o = ctx.edge, ctx.origin
    key = "/gate/t/big.m4s"
    data = o.add(key, RNG.randbytes(8 * 1024 * 1024))
    gate = o.gate(key)
    conns = []
    try:
        for _ in range(50):
            c = RawConn(e.port, timeout=20)
            c.send(build_request("GET", key, [("Connection", "close")]))
            conns.append(c)
        deadline = time.monotonic() + 30
        heads = [read_head(c, deadline) for c in conns]
        check(all(s == 200 for s, _ in heads), f"statuses {[s for s, _ in heads]}")
        collapsed = sum("collapsed" in h.get("cache-status", "") for _, h in heads)
        eq(collapsed, 49, "responses marked collapsed")
        check(not gate.is_set(), "heads arrived while the origin still holds the body")
        gate.set()
        # Read every body at once, as 50 players would: a client left unread for longer than
        # limits.send_timeout is rightly dropped by the edge.
        digests = [None] * len(conns)

        def drain(i):
            try:
                digests[i] = sha(conns[i]._read_n(len(data), deadline))
            except Exception as ex:
                digests[i] = repr(ex)
        threads = [threading.Thread(target=drain, args=(i,)) for i in range(len(conns))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        bad = [i for i, d in enumerate(digests) if d != sha(data)]
        check(not bad, f"clients with a wrong or cut body: {bad} ({digests[bad[0]] if bad else ''})")
    finally:
        gate.set()
        for c in conns:
            c.close()
    eq(o.count(key), 1, "origin requests for 50 concurrent cold clients")
    check(metric(e, "sluice_edge_collapsed_requests_total") >= 49, "collapsed metric")
    lines = access_lines(e, f'"GET {key}"', 50)
    eq(sorted(re.search(r" cache=(\S+) upstream=(\S+)$", ln).groups() for ln in lines),
       [("collapsed", o.url)] * 49 + [("miss", o.url)], "cache= and upstream= of the 50 lines")


@test
def waiters_stream_before_fill_ends(ctx):
    e, o = ctx.edge, ctx.origin
    key = "/gate/t/slow.m4s"
    data = o.add(key, RNG.randbytes(2 * 1024 * 1024))
    gate = o.gate(key)
    try:
        with RawConn(e.port, timeout=10) as c:
            c.send(build_request("GET", key, [("Connection", "close")]))
            deadline = time.monotonic() + 10
            status, _ = read_head(c, deadline)
            eq(status, 200, "status")
            first = c._read_n(100_000, deadline)
            check(not gate.is_set(), "first bytes arrived while the origin holds the rest")
            eq(first, data[:100_000], "first bytes")
            gate.set()
            rest = c._read_n(len(data) - 100_000, deadline)
            check(sha(first + rest) == sha(data), "whole body")
    finally:
        gate.set()


@test
def range_on_inflight_object(ctx):
    e, o = ctx.edge, ctx.origin
    key = "/gate/t/range.m4s"
    data = o.add(key, RNG.randbytes(1024 * 1024))
    gate = o.gate(key)
    try:
        a = RawConn(e.port, timeout=10)
        a.send(build_request("GET", key, [("Connection", "close")]))
        deadline = time.monotonic() + 10
        eq(read_head(a, deadline)[0], 200, "first client")
        # The upstream named the SHA-256: a range short of the end waits for the check,
        # though its bytes are in.
        early = RawConn(e.port, timeout=10)
        early.send(build_request("GET", key, [("Range", "bytes=1000-1999"),
                                              ("Connection", "close")]))
        early.expect_open(0.5, "a range of a fill not yet checked")
        b = RawConn(e.port, timeout=10)
        b.send(build_request("GET", key, [("Range", "bytes=-100"), ("Connection", "close")]))
        gate.set()
        r = early.read_response()
        eq(r.status, 206, "range inside the written part, once checked")
        eq(r.body, data[1000:2000], "early range bytes")
        eq(r.get("Content-Range"), f"bytes 1000-1999/{len(data)}", "Content-Range")
        early.close()
        r = b.read_response()
        eq(r.status, 206, "suffix range past the written part")
        eq(r.body, data[-100:], "suffix range bytes")
        check(sha(a._read_n(len(data), deadline)) == sha(data), "first client's body")
        a.close()
        b.close()
    finally:
        gate.set()
    eq(o.count(key), 1, "origin requests")


@test
def h2c_range_waits_while_the_fill_moves(ctx):
    """Over h2c, a range of an object whose fill is still checking (its SHA-256 is known) waits
    longer than the send deadline while the fill moves: the connection is not closed under
    it, and the range comes once the fill is checked."""
    o = Origin()
    o.drip_pause = 0.1  # 2 MiB in 32 pieces: about 3 s
    key = "/drip/t/h2range.m4s"
    data = o.add(key, RNG.randbytes(2 * 1024 * 1024))
    e = Edge(ctx.binary, {"workers": 1, "upstreams": [{"url": o.url, "low_speed_time": "2s"}],
                          "limits": {"send_timeout": "1s"}})
    ctx.others.append(e)
    e.start()
    t0 = time.monotonic()
    out = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-o", "-", "-w", "%{http_code}",
                          "-H", "Range: bytes=100-199", "--max-time", "20",
                          f"http://{HOST}:{e.port}{key}"], capture_output=True)
    took = time.monotonic() - t0
    eq(out.returncode, 0, f"curl: {out.stderr.decode(errors='replace').strip()} after {took:.1f} s")
    eq(out.stdout[-3:], b"206", "status")
    eq(out.stdout[:-3], data[100:200], "range bytes")
    check(took > 2, f"answered after {took:.1f} s: the fill was meant to outlast the deadline")
    e.stop()
    o.srv.shutdown()


@test
def slow_head_waits_for_first_byte_timeout(ctx):
    """first_byte_timeout bounds the wait for the head and low_speed_time the body's pace
    (docs/edge-config.md): an origin that takes 2.5 s to answer is waited for under a 6 s
    first_byte_timeout though low_speed_time is 1 s (curl's own low-speed check counted the
    wait for the head, and failed the fill after 1 s)."""
    o = Origin()
    o.head_delay = 2.5
    key = "/latehead/t/seg.m4s"
    data = o.add(key, RNG.randbytes(300_000))
    e = Edge(ctx.binary, {"workers": 1, "upstreams": [{"url": o.url, "first_byte_timeout": "6s",
                                                       "low_speed_time": "1s"}]})
    ctx.others.append(e)
    e.start()
    try:
        t0 = time.monotonic()
        r = e.get(key, timeout=15)
        took = time.monotonic() - t0
        expect_body(r, data, f"an origin slow to answer, after {took:.1f} s")
        check(took >= 2.4, f"answered after {took:.1f} s: the origin was meant to take 2.5 s")
        eq(o.count(key), 1, "origin requests")
        check(listed(e, key), "committed")
    finally:
        e.stop()
        ctx.others.remove(e)
        o.srv.shutdown()


@test
def first_byte_timeout_runs_from_the_request(ctx):
    """first_byte_timeout is "request sent -> response head" (docs/edge.md): the connect's
    time is connect_timeout's, not added to it. An origin that answers 3 s after the request
    under a 1 s first_byte_timeout fails the fill, however long connect_timeout is (the two
    were added: a 5 s connect_timeout let it wait 6 s)."""
    o = Origin()
    o.head_delay = 3.0
    key = "/latehead/t/late-head.m4s"
    o.add(key, RNG.randbytes(1000))
    with own_edge(ctx, o, {"workers": 1, "upstreams": [{"url": o.url, "first_byte_timeout": "1s",
                                                        "connect_timeout": "5s"}]}) as e:
        r = e.get(key, timeout=15)
        eq(r.status, 502, "a head 3 s after the request, under a 1 s first_byte_timeout")
        check(not listed(e, key), "nothing kept")


@test
def range_past_the_end_on_a_miss(ctx):
    """A Range past the end of an object not yet cached: 416 with the length the fill
    learnt, counted in sluice_edge_range_unsatisfiable_total as on a hit (it was not)."""
    e, o = ctx.edge, ctx.origin
    key = "/ok/t/past-end.m4s"
    data = o.add(key, RNG.randbytes(5000))
    before = metric(e, "sluice_edge_range_unsatisfiable_total")
    r = get(e, key, [("Range", "bytes=6000-")])
    eq(r.status, 416, "a range past the end, on a miss")
    eq(r.get("Content-Range"), f"bytes */{len(data)}", "its Content-Range")
    eq(metric(e, "sluice_edge_range_unsatisfiable_total") - before, 1, "the 416 counted")
    eq(get(e, key, [("Range", "bytes=6000-")]).status, 416, "the same, now a hit")
    eq(metric(e, "sluice_edge_range_unsatisfiable_total") - before, 2, "both 416s counted")
    # The fill goes on to its commit after the 416s: wait for it, so that it lands in this
    # test and not in a later one's counters.
    deadline = time.monotonic() + 10
    while not listed(e, key) and time.monotonic() < deadline:
        time.sleep(0.05)  # poll interval for the commit
    check(listed(e, key), "the object the 416s were of is kept")


@test
def range_on_inflight_object_without_sha(ctx):
    """No SHA-256 is known, so nothing is checked: a range is served as the bytes arrive (a
    fill that breaks off later only loses a correct prefix)."""
    e, o = ctx.edge, ctx.origin
    key = "/gatenosha/t/range.m4s"
    data = o.add(key, RNG.randbytes(1024 * 1024))
    gate = o.gate(key)
    try:
        a = RawConn(e.port, timeout=10)
        a.send(build_request("GET", key, [("Connection", "close")]))
        deadline = time.monotonic() + 10
        eq(read_head(a, deadline)[0], 200, "first client")
        early = e.get(key, [("Range", "bytes=1000-1999")])
        eq(early.status, 206, "range inside the written part")
        eq(early.body, data[1000:2000], "early range bytes")
        gate.set()
        check(sha(a._read_n(len(data), deadline)) == sha(data), "first client's body")
        a.close()
    finally:
        gate.set()
    eq(o.count(key), 1, "origin requests")


def expect_cut(c, size, what, deadline):
    """The response must not complete: head then a closed connection before size bytes."""
    try:
        status, _ = read_head(c, deadline)
    except Closed:
        return
    if status == 502:
        return
    eq(status, 200, f"{what}: status")
    try:
        c._read_n(size, deadline)
    except Closed:
        return
    raise AssertionError(f"{what}: a whole body arrived")


@test
def origin_dies_mid_body(ctx):
    e, o = ctx.edge, ctx.origin
    key = "/die/t/seg.m4s"
    data = o.add(key, RNG.randbytes(600_000))
    conns = []
    before = counters(e)
    deadline = time.monotonic() + 10
    for _ in range(3):
        c = RawConn(e.port, timeout=10)
        c.send(build_request("GET", key, [("Connection", "close")]))
        eq(read_head(c, deadline)[0], 200, "head while the fill runs")
        conns.append(c)
    o.gate(key).set()
    for i, c in enumerate(conns):
        try:
            c._read_n(len(data), deadline)
            raise AssertionError(f"client {i}: a whole body arrived")
        except Closed:
            pass
        c.close()
    eq(o.count(key), 1, "one fill for the three clients")
    check(not listed(e, key), "nothing committed after a cut body")
    # A body broken off is the upstream's failure, counted as one that sends no head is.
    expect_deltas(before, e, "origin dies", failed=1, committed=0, misses=3, collapsed=2,
                  up_failures=1)


@test
def sha_mismatch_refused(ctx):
    e, o = ctx.edge, ctx.origin
    key = "/badsha/t/seg.m4s"
    data = o.add(key, RNG.randbytes(200_000))
    before = counters(e)
    with RawConn(e.port, timeout=10) as c:
        c.send(build_request("GET", key, [("Connection", "close")]))
        expect_cut(c, len(data), "bad SHA-256", time.monotonic() + 10)
    check(not listed(e, key), "a mismatching body is never committed")
    expect_deltas(before, e, "bad SHA-256", failed=1, committed=0, origin_bytes=len(data))


@test
def empty_body_waits_for_its_check(ctx):
    """An empty 200 whose SHA-256 names other bytes: with no last byte to hold back, the
    answer waits for the check at the end of the fill, which fails (502), never an empty body
    that looks whole and carries the real object's ETag."""
    e, o = ctx.edge, ctx.origin
    key = "/badsha/t/empty.m4s"
    o.add(key, b"")
    before = counters(e)
    r = get(e, key)
    eq(r.status, 502, "an empty body failing its SHA-256 check")
    check(r.get("ETag") is None, "no ETag on the failure")
    check(not listed(e, key), "never committed")
    expect_deltas(before, e, "empty body, bad SHA-256", failed=1, committed=0)


@test
def long_body_refused(ctx):
    e, o = ctx.edge, ctx.origin
    key = "/long/t/seg.m4s"
    data = o.add(key, RNG.randbytes(50_000))
    before = counters(e)
    r = get(e, key)
    # curl stops at Content-Length; the SHA-256 of those bytes matches, so the object is the
    # declared one and may be served whole. What must never happen is the extra bytes.
    if r.status == 200:
        expect_body(r, data, "long body")
        expect_deltas(before, e, "long body", committed=1, failed=0)
        check(listed(e, key), "the declared bytes, SHA-256 checked, are kept")
    else:
        eq(r.status, 502, "long body status")
        expect_deltas(before, e, "long body", committed=0, failed=1)
        check(not listed(e, key), "long body not committed")


@test
def origin_500_not_cached(ctx):
    e, o = ctx.edge, ctx.origin
    before = counters(e)
    for kind in ("e500", "e503"):
        key = f"/{kind}/t/seg.m4s"
        for i in range(2):
            r = get(e, key)
            eq(r.status, 502, f"{kind} #{i}")
            check("fwd=miss" in r.need("Cache-Status"), "Cache-Status on 502")
        eq(o.count(key), 2, f"{kind}: each request went upstream (nothing cached)")
        check(not listed(e, key), f"{kind} not committed")
    expect_deltas(before, e, "5xx", failed=4, committed=0, up_failures=4, negative=0)


@test
def origin_404_cached_briefly(ctx):
    e, o = ctx.edge, ctx.origin
    key = "/e404/t/missing.m4s"
    before = counters(e)
    r = get(e, key)
    eq(r.status, 404, "first 404")
    check(r.need("Cache-Status").endswith("fwd=miss; fwd-status=404"), r.get("Cache-Status"))
    r = get(e, key)
    eq(r.status, 404, "second 404")
    check("hit" in r.need("Cache-Status"), f"negative hit: {r.get('Cache-Status')!r}")
    eq(o.count(key), 1, "origin asked once within the negative TTL")
    expect_deltas(before, e, "404", not_found=1, negative=1, failed=0, up_failures=0)
    check(not listed(e, key), "a 404 is not content")
    # The TTL is short (cache.negative_ttl, 3 s by default): wait it out, bounded.
    deadline = time.monotonic() + 15
    while o.count(key) < 2 and time.monotonic() < deadline:
        eq(get(e, key).status, 404, "404 again")
        time.sleep(0.25)  # poll interval for a TTL expiry, bounded by the deadline
    eq(o.count(key), 2, "asked again once the negative entry expired")


@test
def origin_410_answered_404_saying_410(ctx):
    """An upstream's 410 is answered 404 (docs/edge.md) and negative-cached as a 404 is; the
    Cache-Status fwd-status says what the upstream said (RFC 9211): it said 404."""
    e, o = ctx.edge, ctx.origin
    key = "/e410/t/gone.m4s"
    r = get(e, key)
    eq(r.status, 404, "a 410 upstream")
    check(r.need("Cache-Status").endswith("fwd=miss; fwd-status=410"), r.get("Cache-Status"))


@test
def redirect_not_followed(ctx):
    e, o = ctx.edge, ctx.origin
    o.add("/ok/t/target.m4s", b"target")
    before = counters(e)
    r = get(e, "/redirect/t/target.m4s")
    eq(r.status, 502, "redirect from upstream")
    expect_deltas(before, e, "redirect", failed=1, committed=0)
    check(not listed(e, "/redirect/t/target.m4s"), "redirect not committed")
    eq(o.count("/ok/t/target.m4s"), 0, "redirect target never fetched")


@test
def fills_say_via(ctx):
    """A fill's request says the edge forwarded it (RFC 9110 section 7.6.3: a gateway sends
    Via; there was none), by the edge's pseudonym."""
    e, o = ctx.edge, ctx.origin
    key = "/ok/via/seg-1.m4s"
    data = o.add(key, RNG.randbytes(1000))
    expect_body(get(e, key), data, "the miss")
    eq(o.asked[key].get("via"), "1.1 sluice-edge", "the fill's Via")


@test
def te_plus_cl_refused(ctx):
    e, o = ctx.edge, ctx.origin
    key = "/te/t/seg.m4s"
    o.add(key, RNG.randbytes(10_000))
    before = counters(e)
    r = get(e, key)
    eq(r.status, 502, "Transfer-Encoding plus Content-Length")
    expect_deltas(before, e, "TE plus CL", failed=1, committed=0)
    check(not listed(e, key), "not committed")


@test
def conflicting_lengths_refused(ctx):
    """Two Content-Length lines that disagree, or a list of lengths, from the upstream: the
    body's end is unknown (RFC 9112 section 6.3), so nothing is served as the object or kept;
    taking either length would commit a cut object as whole (no SHA-256 to catch it)."""
    e, o = ctx.edge, ctx.origin
    for kind in ("twocl", "clist"):
        key = f"/{kind}/t/seg.m4s"
        o.add(key, RNG.randbytes(5_000))
        before = counters(e)
        r = get(e, key)
        eq(r.status, 502, f"{kind}: lengths that disagree")
        expect_deltas(before, e, kind, failed=1, committed=0)
        check(not listed(e, key), f"{kind}: not committed")


@test
def reset_before_head_asked_twice_at_most(ctx):
    """An upstream that resets the connection before any head: a pooled connection is tried
    again once on a new one (libcurl does so itself), and a new connection's reset is the
    upstream's answer (the fill asked a third time, on a new connection again)."""
    o = Origin()
    with own_edge(ctx, o, {"workers": 1, "upstreams": [{"url": o.url}]}) as e:
        warm = "/ok/reset/warm.m4s"
        o.add(warm, RNG.randbytes(1000))
        expect_body(get(e, warm), o.objects[warm], "a fill that leaves a pooled connection")
        key = "/reset/t/seg.m4s"
        o.add(key, RNG.randbytes(1000))
        eq(get(e, key).status, 502, "a reset before the head")
        check(1 <= o.count(key) <= 2, f"origin asked {o.count(key)} times")
        check(not listed(e, key), "nothing kept")


@test
def answer_past_its_length_never_answers_the_next_fill(ctx):
    """An upstream that sends a second answer after a body (bytes past its Content-Length, on
    a connection it keeps open): the pooled connection holds them when the next fill would
    reuse it, and they must not be read as that fill's answer (stored under its key and
    served as a hit). The connection is let go and the fill asked on a new one."""
    o = Origin()
    with own_edge(ctx, o, {"workers": 1, "upstreams": [{"url": o.url}]}) as e:
        for kind in ("overrun", "overrunlate"):
            first = f"/{kind}/t/seg-1.m4s"
            o.add(first, RNG.randbytes(3000))
            expect_body(get(e, first), o.objects[first], f"{kind}: the answer that overran")
            # The stray answer is in the pooled connection before its next use (on loopback a
            # write is in the peer's socket once it returns).
            check(o.event(o.strays, first).wait(10), f"{kind}: the stray answer never sent")
            victim = f"/ok/t/after-{kind}.m4s"
            o.add(victim, RNG.randbytes(2000))
            expect_body(get(e, victim), o.objects[victim], f"{kind}: the next fill")
            expect_body(get(e, victim), o.objects[victim], f"{kind}: the next fill, now a hit")
            eq(o.count(victim), 1, f"{kind}: origin asked for the next key")
        with open(e.log_path, errors="replace") as f:
            said = f.read().count("a connection held unread bytes before a request went on it")
        # The late answer is always still unread at the next use; a stray answer in the same
        # segment as the body's tail may instead be read by libcurl, which then closes that
        # connection itself.
        check(1 <= said <= 2, f"warnings of a connection out of step: {said}")


@test
def unreadable_length_refused(ctx):
    """A Content-Length that is not 1*DIGIT (RFC 9110 section 8.6) is a framing error (RFC 9112
    section 6.3): libcurl reads "1e3" as 1 and "0x10" as 0, and a fill that took that length
    would commit the first bytes as the whole object, served for good."""
    e, o = ctx.edge, ctx.origin
    for i, text in enumerate(("1e3", "0x10", "7junk", "+1000", "-0", "1000 1000", "", "1" * 25)):
        key = f"/badcl/t{i}/seg.m4s"
        o.add(key, RNG.randbytes(1000))
        o.cl_text[key] = text
        before = counters(e)
        r = get(e, key)
        eq(r.status, 502, f"Content-Length {text!r}")
        expect_deltas(before, e, f"Content-Length {text!r}", failed=1, committed=0)
        check(not listed(e, key), f"Content-Length {text!r}: not committed")


@test
def content_coding_refused(ctx):
    """The edge asks for identity and stores what it gets as the object: a coded body (an
    origin ignoring Accept-Encoding) is refused, never stored and served as the object;
    Content-Encoding: identity is the object itself."""
    e, o = ctx.edge, ctx.origin
    key = "/gzip/t/manifest.mpd"
    o.add(key, b"<MPD>" + b"x" * 5000 + b"</MPD>")
    before = counters(e)
    r = get(e, key)
    eq(r.status, 502, "a gzip-coded body from upstream")
    expect_deltas(before, e, "Content-Encoding gzip", failed=1, committed=0)
    check(not listed(e, key), "not committed")
    key = "/identity/t/manifest.mpd"
    data = o.add(key, b"<MPD>" + b"y" * 5000 + b"</MPD>")
    expect_body(get(e, key), data, "Content-Encoding: identity")
    check(listed(e, key), "committed")


@test
def mapped_extensions_keep_their_type(ctx):
    """The origin here types everything video/iso.segment (as origins type manifests and
    subtitles application/octet-stream): a key whose extension the edge maps is served with
    that extension's type, on the miss and on every hit; other keys keep the upstream's."""
    e, o = ctx.edge, ctx.origin
    for key, want in (("/ok/ctype/sub.vtt", "text/vtt"),
                      ("/ok/ctype/manifest.mpd", "application/dash+xml"),
                      ("/ok/ctype/v1/init.mp4", "video/mp4"),
                      ("/ok/ctype/main.m3u8", "application/vnd.apple.mpegurl"),
                      ("/ok/ctype/blob.bin", "video/iso.segment")):
        data = o.add(key, RNG.randbytes(3_000))
        for what in ("miss", "hit"):
            r = get(e, key)
            expect_body(r, data, f"{key} ({what})")
            eq(r.get("Content-Type"), want, f"{key} ({what}) Content-Type")


@test
def head_range_ignored_on_a_miss(ctx):
    """A HEAD's Range is ignored on a miss as on a hit (RFC 9110 §14.2)."""
    e, o = ctx.edge, ctx.origin
    key = "/ok/headrange/seg-1.m4s"
    data = o.add(key, RNG.randbytes(4_000))
    r = e.request("HEAD", key, [("Range", "bytes=0-9")])
    eq(r.status, 200, "HEAD with Range on a miss: status")
    eq(r.get("Content-Length"), str(len(data)), "HEAD with Range on a miss: Content-Length")
    eq(r.get("Content-Range"), None, "HEAD with Range on a miss: Content-Range")
    deadline = time.monotonic() + 10  # the HEAD's fill runs on: let it end before the next case
    while not listed(e, key) and time.monotonic() < deadline:
        time.sleep(0.02)
    check(listed(e, key), "the HEAD's fill committed")


@test
def bare_cr_in_upstream_value(ctx):
    """An upstream header value holding a bare CR is read as absent, never stored: copied
    into the object's record it would go out in every hit's head (an injected field) or get
    the answer refused."""
    e, o = ctx.edge, ctx.origin
    key = "/crct/t/blob.bin"
    data = o.add(key, RNG.randbytes(5_000))
    for what in ("the miss", "the hit"):
        r = get(e, key)
        expect_body(r, data, f"bare CR in Content-Type: {what}")
        ct = r.get("Content-Type") or ""
        check("\r" not in ct and "Injected" not in ct and r.get("X-Injected") is None,
              f"{what}: Content-Type {ct!r} carries nothing of the upstream's value")
    check(r.need("Cache-Status").endswith("; hit"), "the second answer is a hit")
    eq(o.count(key), 1, "origin requests")


@test
def stall_after_head(ctx):
    e, o = ctx.edge, ctx.origin
    key = "/stall/t/seg.m4s"
    o.add(key, RNG.randbytes(100_000))
    before = counters(e)
    try:
        with RawConn(e.port, timeout=15) as c:
            c.send(build_request("GET", key, [("Connection", "close")]))
            expect_cut(c, 100_000, "stalled origin", time.monotonic() + 15)
    finally:
        o.gate(key).set()
    check(not listed(e, key), "stalled fill not committed")
    expect_deltas(before, e, "stall", failed=1, committed=0)


@test
def parent_then_origin(ctx):
    o = ctx.origin
    e = ctx.edge  # the parent
    peer = "peer-" + os.urandom(8).hex()
    ptok = os.path.join(e.dir, "peer.token")
    with open(ptok, "w") as f:
        f.write(peer + "\n")
    # Restart the parent with a peer token and signed URLs required for players.
    keys = os.path.join(e.dir, "keys.yaml")
    with open(keys, "w") as f:
        f.write("keys:\n  - {kid: k1, secret: " + os.urandom(32).hex() + "}\n")
    e.stop()
    e.cfg["tokens"] = {"required": True, "keys_file": keys, "peer_token_file": ptok}
    e.cfg["control"] = {"edge_id": "parent-a"}
    e.start()
    child = Edge(ctx.binary, {
        "upstreams": [{"url": f"http://{HOST}:{e.port}", "token_file": ptok},
                      {"url": o.url}],
        "control": {"edge_id": "child-b"},
    })
    ctx.others.append(child)
    child.start()
    key = "/ok/chain/seg-1.m4s"
    data = o.add(key, RNG.randbytes(400_000))
    eq(e.get(key).status, 403, "a player without a token at the parent")
    r = child.get(key, timeout=10)
    expect_body(r, data, "child fill through the parent")
    cs = r.need("Cache-Status")
    check(cs.startswith("parent-a; fwd=miss") and "child-b; fwd=miss" in cs,
          f"chained Cache-Status: {cs!r}")
    eq(o.count(key), 1, "origin requests")
    r = child.get(key)
    check(r.need("Cache-Status") == "child-b; hit", f"child hit: {r.get('Cache-Status')!r}")
    check(metric(child, "sluice_edge_upstream_bytes_total", 'from="parent"') >= len(data),
          "bytes from parent counted")
    # The parent holds it too: a second child request elsewhere would hit there.
    check(listed(e, key), "parent committed the object")
    # RFC 6750 §2.1: one or more spaces after "Bearer" (two were refused, 403).
    for auth, want in (("Bearer " + peer, 200), ("Bearer  " + peer, 200),
                       ("bearer " + peer, 200), ("Bearer " + peer + "x", 403),
                       ("Bearer " + peer[:-1], 403), ("Bearer  ", 403)):
        eq(e.get(key, [("Authorization", auth)]).status, want, f"Authorization: {auth!r}")


@test
def parent_refusing_token_fails_over(ctx):
    """A parent that requires tokens and a child with no peer token (or a wrong one): the
    parent's 403 is not cached nor passed on; the child warns naming the parent's URL, counts
    it, and fills from the origin. With the parent's peer token the parent serves the same key
    (Cache-Status chain). Runs after parent_then_origin, whose parent requires tokens."""
    o = ctx.origin
    e = ctx.edge  # the parent
    check(e.cfg.get("tokens", {}).get("required"), "the parent requires tokens")
    ptok = e.cfg["tokens"]["peer_token_file"]
    wrong = os.path.join(e.dir, "wrong-peer.token")
    with open(wrong, "w") as f:
        f.write("not-the-peer-token\n")
    parent_url = f"http://{HOST}:{e.port}"
    key = "/ok/refused/seg-1.m4s"
    data = o.add(key, RNG.randbytes(50_000))
    for name, up in (("child-none", {"url": parent_url}),
                     ("child-wrong", {"url": parent_url, "token_file": wrong})):
        child = Edge(ctx.binary, {"upstreams": [up, {"url": o.url}],
                                  "control": {"edge_id": name}})
        ctx.others.append(child)
        child.start()
        before = counters(child)
        n = o.count(key)
        r = child.get(key, timeout=10)
        expect_body(r, data, f"{name}: the object from the origin")
        eq(r.need("Cache-Status"), f"{name}; fwd=miss; fwd-status=200",
           f"{name}: no parent entry in Cache-Status")
        eq(o.count(key), n + 1, f"{name}: the origin asked once")
        line = access_lines(child, f'"GET {key}"')
        check(line and line[0].endswith(f" cache=miss upstream={o.url}"),
              f"{name}: the access log names the origin that filled it: {line!r}")
        check(listed(child, key), f"{name}: committed from the origin")
        after = counters(child)
        eq(delta(before, after, "sluice_edge_parent_refusals_total"), 1.0,
           f"{name}: parent refusal counted")
        eq(delta(before, after, "sluice_edge_upstream_bytes_total", 'from="parent"'), 0.0,
           f"{name}: nothing from the parent")
        log = open(child.log_path, errors="replace").read()
        check(re.search(r"warn.*parent " + re.escape(parent_url) + r" answered 403", log),
              f"{name}: no warning naming the parent's URL: {child.log_tail()}")
        # Marked down: the next miss goes straight to the origin, with no second warning.
        other = o.add(key + ".2", RNG.randbytes(1000))
        expect_body(child.get(key + ".2", timeout=10), other, f"{name}: parent skipped")
        eq(delta(after, counters(child), "sluice_edge_parent_refusals_total"), 0.0,
           f"{name}: the refusing parent is skipped while down")
    check(not listed(e, key), "the parent did not fill for a refused child")
    check(metric(e, "sluice_edge_token_refusals_total", 'reason="missing"') >= 2,
          "the parent counted the tokenless fills as refusals")
    child = Edge(ctx.binary, {
        "upstreams": [{"url": parent_url, "token_file": ptok}, {"url": o.url}],
        "control": {"edge_id": "child-good"},
    })
    ctx.others.append(child)
    child.start()
    r = child.get(key, timeout=10)
    expect_body(r, data, "with the peer token: through the parent")
    line = access_lines(child, f'"GET {key}"')
    check(line and line[0].endswith(f" cache=miss upstream={parent_url}"),
          f"the access log names the parent: {line!r}")
    cs = r.need("Cache-Status")
    check(cs.startswith("parent-a; fwd=miss") and "child-good; fwd=miss" in cs,
          f"chained Cache-Status: {cs!r}")
    eq(metric(child, "sluice_edge_parent_refusals_total"), 0.0, "no refusal with the token")


@test
def failing_parent_skipped(ctx):
    o = ctx.origin
    dead = free_port()  # nothing listens here
    child = Edge(ctx.binary, {
        "upstreams": [{"url": f"http://{HOST}:{dead}", "connect_timeout": "1s"},
                      {"url": o.url}],
    })
    ctx.others.append(child)
    child.start()
    a = o.add("/ok/failover/a.m4s", RNG.randbytes(10_000))
    b = o.add("/ok/failover/b.m4s", RNG.randbytes(10_000))
    expect_body(child.get("/ok/failover/a.m4s", timeout=10), a, "via the origin")
    check(metric(child, "sluice_edge_upstream_failures_total") >= 1, "parent failure counted")
    t0 = time.monotonic()
    expect_body(child.get("/ok/failover/b.m4s", timeout=10), b, "parent skipped")
    eq(metric(child, "sluice_edge_upstream_failures_total"), 1.0,
       "the downed parent is skipped, not retried")
    check(time.monotonic() - t0 < 1.0, "no wait on the downed parent")


@test
def parent_5xx_and_mute_fail_over(ctx):
    """A parent answering 503, then a parent that never answers (first-byte timeout): each
    fill goes on to the origin, the client gets the object, the failure is counted once, and
    the parent is then skipped while it is marked down."""
    o = ctx.origin
    for mode, timeout in (("e503", "2s"), ("mute", "300ms")):
        parent = Origin()
        parent.force = mode
        child = Edge(ctx.binary, {
            "upstreams": [{"url": parent.url, "first_byte_timeout": timeout},
                          {"url": o.url}],
            "control": {"edge_id": "child-c"},
        })
        ctx.others.append(child)
        child.start()
        try:
            a = o.add(f"/ok/fo-{mode}/a.m4s", RNG.randbytes(20_000))
            b = o.add(f"/ok/fo-{mode}/b.m4s", RNG.randbytes(20_000))
            before = counters(child)
            r = child.get(f"/ok/fo-{mode}/a.m4s", timeout=10)
            expect_body(r, a, f"{mode} parent: via the origin")
            eq(r.need("Cache-Status"), "child-c; fwd=miss; fwd-status=200",
               f"{mode} parent: Cache-Status names no parent entry")
            eq(parent.count(f"/ok/fo-{mode}/a.m4s"), 1, f"{mode} parent asked once")
            eq(o.count(f"/ok/fo-{mode}/a.m4s"), 1, f"{mode}: origin asked once")
            check(listed(child, f"/ok/fo-{mode}/a.m4s"), f"{mode}: committed from the origin")
            expect_deltas(before, child, f"{mode} parent", up_failures=1, committed=1,
                          failed=0, parent_bytes=0, origin_bytes=len(a))
            expect_body(child.get(f"/ok/fo-{mode}/b.m4s", timeout=10), b,
                        f"{mode} parent down: straight to the origin")
            eq(parent.count(f"/ok/fo-{mode}/b.m4s"), 0, f"{mode}: parent skipped while down")
            expect_deltas(before, child, f"{mode} parent skipped", up_failures=1, committed=2)
            log = open(child.log_path, errors="replace").read()
            check(f"warn upstream: upstream {parent.url} is down" in log,
                  f"{mode}: the down transition names the parent's URL: {child.log_tail(8)}")
            if mode == "e503":
                # The parent answers again: once its backoff (1 s) is over a fill asks it, and
                # the transition back is logged once.
                parent.force = None
                deadline = time.monotonic() + 10
                i = 0
                while parent.count(f"/ok/fo-{mode}/c{i}.m4s") == 0:
                    check(time.monotonic() < deadline, "the parent is never asked again")
                    i += 1
                    key = f"/ok/fo-{mode}/c{i}.m4s"
                    body = parent.add(key, o.add(key, RNG.randbytes(1000)))
                    expect_body(child.get(key, timeout=10), body, f"{mode}: c{i}")
                    time.sleep(0.1)  # paces the probes across the parent's backoff
                log = open(child.log_path, errors="replace").read()
                eq(log.count(f"upstream {parent.url} recovered after 1 failure(s)"), 1,
                   "the recovery logged once")
        finally:
            parent.gate("mute").set()
            child.stop()
            ctx.others.remove(child)
            child.cleanup()
            parent.srv.shutdown()


@test
def parent_cutting_bodies_off_skipped(ctx):
    """A parent that sends its head and then breaks off mid-body is marked down as one that
    sends no head is: the fill's waiters are cut off (the bytes were on their way), and the
    next miss goes straight to the origin. It was asked again by every miss, each one cut off
    (its 200 head counted it healthy)."""
    o = ctx.origin
    parent = Origin()
    parent.force = "die"
    child = Edge(ctx.binary, {"upstreams": [{"url": parent.url}, {"url": o.url}]})
    ctx.others.append(child)
    child.start()
    try:
        a = o.add("/ok/cut/a.m4s", parent.add("/ok/cut/a.m4s", RNG.randbytes(200_000)))
        b = o.add("/ok/cut/b.m4s", parent.add("/ok/cut/b.m4s", RNG.randbytes(200_000)))
        parent.gate("/ok/cut/a.m4s").set()  # break off at once
        parent.gate("/ok/cut/b.m4s").set()
        before = counters(child)
        try:
            r = child.get("/ok/cut/a.m4s", timeout=10)
            got = r.body
        except Closed:
            got = b""
        check(got != a, "the body a parent cut off reached the client whole")
        expect_deltas(before, child, "a body cut off", up_failures=1, committed=0)
        expect_body(child.get("/ok/cut/b.m4s", timeout=10), b, "the next miss: via the origin")
        eq(parent.count("/ok/cut/b.m4s"), 0, "the parent skipped while down")
        log = open(child.log_path, errors="replace").read()
        check(f"upstream {parent.url} is down" in log, f"the down parent named: {child.log_tail(8)}")
        check(f"body from {parent.url} broke off" in log, f"which upstream: {child.log_tail(8)}")
    finally:
        child.stop()
        ctx.others.remove(child)
        child.cleanup()
        parent.srv.shutdown()


@test
def parent_passing_on_an_origin_error_stays_up(ctx):
    """A parent edge whose origin answers 500 (or 503) for one object answers its child 502,
    its Cache-Status entry naming the origin's status (fwd-status): the parent did its part,
    so the child does not mark it down, and the next miss still goes through the parent. It
    was marked down, and every miss went straight to the origin for as long as players kept
    asking for the one broken object."""
    o = Origin()
    parent = Edge(ctx.binary, {"upstreams": [{"url": o.url}], "control": {"edge_id": "parent-p"}})
    ctx.others.append(parent)
    parent.start()
    purl = f"http://{HOST}:{parent.port}"
    child = Edge(ctx.binary, {"upstreams": [{"url": purl}, {"url": o.url}],
                              "control": {"edge_id": "child-q"}})
    ctx.others.append(child)
    child.start()
    try:
        for i, kind in enumerate(("e500", "e503")):
            bad = f"/{kind}/relay/seg-{i}.m4s"
            r = parent.get(bad, timeout=10)
            eq((r.status, r.need("Cache-Status")),
               (502, f"parent-p; fwd=miss; fwd-status={kind[1:]}; detail=upstream-failed"),
               f"{kind}: the parent's own answer")
            r = child.get(bad, timeout=10)
            eq((r.status, r.need("Cache-Status")),
               (502, f"child-q; fwd=miss; fwd-status={kind[1:]}; detail=upstream-failed"),
               f"{kind}: the child's answer (its origin asked last)")
            key = f"/ok/relay/after-{i}.m4s"
            data = o.add(key, RNG.randbytes(10_000))
            r = child.get(key, timeout=10)
            expect_body(r, data, f"{kind}: the next miss")
            cs = r.need("Cache-Status")
            check(cs.startswith("parent-p; fwd=miss"), f"{kind}: through the parent: {cs!r}")
        log = open(child.log_path, errors="replace").read()
        check(f"upstream {purl} is down" not in log,
              f"the parent marked down: {child.log_tail(8)}")
        check("its own upstream's answer: not marked down" in log, child.log_tail(8))
    finally:
        for e in (child, parent):
            e.stop()
            ctx.others.remove(e)
            e.cleanup()
        o.srv.shutdown()


@test
def reload_gives_a_new_parent_a_clean_slate(ctx):
    """A parent marked down is replaced by another through a reload: the new parent is asked
    at once. Health was kept by position in the list, so the new parent sat out the old one's
    backoff (here 30 s: six fills failed on it at once) and every miss went to the origin."""
    o = ctx.origin
    mute = Origin()
    mute.force = "mute"
    child = Edge(ctx.binary, {
        "upstreams": [{"url": mute.url, "first_byte_timeout": "2s"}, {"url": o.url}],
    })
    ctx.others.append(child)
    child.start()
    fresh = Origin()
    try:
        keys = [f"/ok/reload-up/seg-{i}.m4s" for i in range(6)]
        datas = [o.add(k, RNG.randbytes(1000)) for k in keys]
        got = [None] * len(keys)

        def fetch(i):
            got[i] = child.get(keys[i], timeout=15)
        threads = [threading.Thread(target=fetch, args=(i,)) for i in range(len(keys))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for i, r in enumerate(got):
            expect_body(r, datas[i], f"{keys[i]} via the origin")
        eq(sum(mute.count(k) for k in keys), len(keys), "the mute parent asked by each fill")
        child.cfg["upstreams"][0] = {"url": fresh.url}
        child.write_config()
        child.reload()
        key = "/ok/reload-up/after.m4s"
        data = fresh.add(key, o.add(key, RNG.randbytes(1000)))
        expect_body(child.get(key, timeout=10), data, "after the reload")
        eq((fresh.count(key), o.count(key)), (1, 0), "asked of the new parent, not the origin")
    finally:
        mute.gate("mute").set()
        child.stop()
        ctx.others.remove(child)
        child.cleanup()
        mute.srv.shutdown()
        fresh.srv.shutdown()


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@test
def fills_bounded_per_edge(ctx):
    """cache.max_fills bounds the origin fetches in flight: clients that ask for cold
    objects and go leave their fills running (to be cached), and past the bound a miss is
    answered 503 with Retry-After, without asking the origin; once fills end, it is served."""
    o = ctx.origin
    e = start_edge(ctx.binary, o, {"cache": {"max_fills": 2}})
    ctx.others.append(e)
    held = [f"/gate/bound/seg-{i}.m4s" for i in (1, 2)]
    for k in held:
        o.add(k, RNG.randbytes(64 * 1024))
        o.first[k] = 1024
    late = "/ok/bound/seg-3.m4s"
    data = o.add(late, RNG.randbytes(8_000))
    before = metric(e, "sluice_edge_fills_busy_total")
    for k in held:  # the head comes, the body waits on the gate; the client goes
        with RawConn(e.port, timeout=10) as c:
            c.send(build_request("GET", k, [("Connection", "close")]))
            eq(read_head(c, time.monotonic() + 10)[0], 200, f"{k}: the head")
    r = get(e, late, [("Origin", "https://player.example")])
    eq(r.status, 503, "a third fill past cache.max_fills 2")
    eq(r.get("Retry-After"), "1", "Retry-After")
    # A page reads only the fields the response exposes: a player backs off by this one.
    check("retry-after" in r.tokens("Access-Control-Expose-Headers"),
          f"Retry-After not exposed: {r.get('Access-Control-Expose-Headers')!r}")
    check(r.need("Cache-Status").endswith("fwd=miss; detail=fill-limit"), r.get("Cache-Status"))
    eq(o.count(late), 0, "the origin not asked")
    eq(metric(e, "sluice_edge_fills_busy_total") - before, 1, "counted")
    for k in held:
        o.gate(k).set()
    deadline = time.monotonic() + 10
    while metric(e, FILLS, 'result="committed"') < 2 and time.monotonic() < deadline:
        time.sleep(0.02)  # the abandoned fills run to their end and are kept
    expect_body(get(e, late), data, "served once the fills ended")
    for k in held:
        eq(get(e, k).need("Cache-Status").endswith("; hit"), True, f"{k} kept")


@test
def miss_keeps_the_longest_origin(ctx):
    """A miss answered once the upstream's head is in keeps the request's Origin for its CORS
    fields, up to the longest there is (a 253-byte host name and a port: 267 bytes). Origins
    of 256 bytes or more were dropped: Vary: Origin without Access-Control-Allow-Origin, and
    the browser blocked the answer that a hit gave it."""
    host = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 56, "test"])
    longest = f"https://{host}:65535"
    eq(len(longest), 267, "the longest origin")
    o = ctx.origin
    e = start_edge(ctx.binary, o, {"cors_origins": [longest]})
    ctx.others.append(e)
    key = "/ok/corslong/seg-1.m4s"
    o.add(key, RNG.randbytes(4_000))
    for what in ("miss", "hit"):
        r = get(e, key, [("Origin", longest)])
        eq(r.status, 200, what)
        eq(r.get("Access-Control-Allow-Origin"), longest, f"{what}: Access-Control-Allow-Origin")
    eq(o.count(key), 1, "one fill")


@test
def stale_manifest_at_the_fill_limit(ctx):
    """A stored manifest past its max-age (2 s) is revalidated before it is served; when
    cache.max_fills leaves no fill for that, the stored copy answers (fwd=stale;
    detail=fill-limit), over HTTP/1.1 and h2, as when the upstream fails. It was a 503, and
    players stalled on the manifest they needed while segment fills took every slot."""
    o = ctx.origin
    e = start_edge(ctx.binary, o, {"cache": {"max_fills": 1}},
                   upstreams=[{"url": o.url, "first_byte_timeout": "10s",
                               "low_speed_time": "20s", "connect_timeout": "1s"}])
    ctx.others.append(e)
    manifest, held = "/nosha/flimit/manifest.mpd", "/gate/flimit/seg-1.m4s"
    o.add(manifest, b"<MPD flimit/>")
    o.add(held, RNG.randbytes(64 * 1024))
    o.first[held] = 1024
    eq(get(e, manifest).status, 200, "the manifest's fill")
    stored = time.monotonic()
    with RawConn(e.port, timeout=10) as c:  # the head comes, the body waits on the gate
        c.send(build_request("GET", held, [("Connection", "close")]))
        eq(read_head(c, time.monotonic() + 10)[0], 200, "the held fill's head")
    before = metric(e, "sluice_edge_fills_busy_total")
    time.sleep(max(0.0, stored + 2.2 - time.monotonic()))  # past max-age: the clock's wait
    try:
        r = get(e, manifest)
        eq((r.status, r.body), (200, b"<MPD flimit/>"), "HTTP/1.1: the stored copy")
        check(r.need("Cache-Status").endswith("fwd=stale; detail=fill-limit"),
              r.get("Cache-Status"))
        out = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-D", "-", "-o", "-",
                              f"http://{HOST}:{e.port}{manifest}"], capture_output=True,
                             timeout=30)
        check(out.returncode == 0 and out.stdout.startswith(b"HTTP/2 200")
              and out.stdout.endswith(b"<MPD flimit/>")
              and b"fwd=stale; detail=fill-limit" in out.stdout,
              f"h2: {out.stdout[:300]!r} {out.stderr!r}")
        eq(o.count(manifest), 1, "the origin asked only for the manifest's fill")
        eq(metric(e, "sluice_edge_fills_busy_total") - before, 2, "both counted at the limit")
        lines = [ln for ln in open(e.access_log).read().splitlines() if manifest in ln]
        check(lines and " cache=stale " in lines[-1], f"logged stale: {lines[-1:]}")
    finally:
        o.gate(held).set()


@test
def collapse_1000_clients(ctx):
    """1,000 concurrent requests for one cold object: one origin fetch, 1,000 identical
    bodies. The origin holds the body after its first KiB until every client has its head,
    so all 1,000 are provably waiting on the one fill. An edge of its own: the shared one
    requires signed URLs after parent_then_origin."""
    o = ctx.origin
    # The origin holds the body until all 1,000 heads are out, which on a loaded machine takes
    # longer than start_edge's 1 s low_speed_time: the fill would rightly be given up.
    e = start_edge(ctx.binary, o, upstreams=[{"url": o.url, "first_byte_timeout": "2s",
                                              "low_speed_time": "20s",
                                              "connect_timeout": "1s"}])
    ctx.others.append(e)
    n = 1000
    check(raise_nofile(n + 200) >= n + 100, "RLIMIT_NOFILE too low for 1,000 sockets")
    key = "/gate/c1000/seg-7.m4s"
    data = o.add(key, RNG.randbytes(96 * 1024))
    o.first[key] = 1024
    gate = o.gate(key)
    before = counters(e)
    sel = selectors.DefaultSelector()
    socks = []
    bufs = {}
    req = build_request("GET", key, [("Connection", "close")])
    deadline = time.monotonic() + 20
    try:
        for _ in range(n):
            so = socket.create_connection((HOST, e.port), timeout=5)
            so.sendall(req)
            so.setblocking(False)
            socks.append(so)
            bufs[so] = bytearray()
            sel.register(so, selectors.EVENT_READ)
        heads = {}
        closed = set()

        def pump(until):
            while not until() and time.monotonic() < deadline:
                for k, _ in sel.select(timeout=max(0.0, deadline - time.monotonic())):
                    so = k.fileobj
                    try:
                        chunk = so.recv(1 << 18)
                    except (BlockingIOError, InterruptedError):
                        continue
                    except ConnectionResetError:
                        chunk = b""
                    if not chunk:
                        sel.unregister(so)
                        closed.add(so)
                        continue
                    b = bufs[so]
                    b += chunk
                    if so not in heads and b"\r\n\r\n" in b:
                        i = b.index(b"\r\n\r\n") + 4
                        heads[so] = bytes(b[:i])
                        del b[:i]

        pump(lambda: len(heads) + len(closed) >= n)
        eq(len(heads), n, "response heads while the origin holds the body")
        eq(len(closed), 0, "connections closed before the body")
        check(not gate.is_set(), "heads arrived with the body still held at the origin")
        statuses = [h.split(b" ", 2)[1] for h in heads.values()]
        eq(statuses.count(b"200"), n, "200 responses")
        eq(sum(b"collapsed" in h for h in heads.values()), n - 1, "marked collapsed")
        gate.set()
        pump(lambda: len(closed) >= n)
        eq(len(closed), n, "responses finished within 20 s")
        want = sha(data)
        bad = [i for i, so in enumerate(socks) if sha(bytes(bufs[so])) != want]
        check(not bad, f"{len(bad)} clients got a wrong or cut body (first: {bad[:5]})")
    finally:
        gate.set()
        sel.close()
        for so in socks:
            so.close()
    eq(o.count(key), 1, "origin fetches for 1,000 concurrent cold requests")
    expect_deltas(before, e, "1,000 clients", committed=1, failed=0, misses=n,
                  collapsed=n - 1, origin_bytes=len(data))
    check(listed(e, key), "committed once")


@test
def kill9_mid_fill(ctx):
    o = ctx.origin
    e = Edge(ctx.binary, {"upstreams": [{"url": o.url}]})
    ctx.others.append(e)
    e.start()
    for rnd in range(5):
        key = f"/gate/kill/seg-{rnd}.m4s"
        data = o.add(key, RNG.randbytes(1024 * 1024))
        gate = o.gate(key)
        with RawConn(e.port, timeout=10) as c:
            c.send(build_request("GET", key, [("Connection", "close")]))
            deadline = time.monotonic() + 10
            eq(read_head(c, deadline)[0], 200, "head before the kill")
            c._read_n(RNG.randrange(1, o.head_bytes), deadline)
            e.kill9()
        gate.set()
        e.start()
        check(not listed(e, key), f"round {rnd}: nothing of the killed fill is indexed")
        tmp = os.path.join(e.cache_dir, "tmp")
        check(not os.path.isdir(tmp) or not os.listdir(tmp), "temp files removed at start")
        expect_body(e.get(key, timeout=10), data, f"round {rnd}: refilled whole")


def accepted_on(e, seen):
    """The worker that accepted the connection just made (the edge's debug log), given the
    number of "accepted on worker" lines seen before it; returns (worker, lines now)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with open(e.log_path, "rb") as f:
            found = re.findall(rb"accepted on worker (\d+)", f.read())
        if len(found) > seen:
            return int(found[seen]), seen + 1
        time.sleep(0.02)
    raise AssertionError("the edge logged no accept for the new connection")


@test
def drain_finishes_a_fill_another_worker_waits_on(ctx):
    """SIGTERM while a worker runs a fill whose own client has gone and a client of the other
    worker waits on it: the worker keeps the fill going (it has no connection left, but
    stopping would end the fill and that client's answer), and the client gets the whole body
    within the drain."""
    o = ctx.origin
    key = "/gate/drain/seg-1.m4s"
    data = o.add(key, RNG.randbytes(1024 * 1024))
    e = Edge(ctx.binary, {"workers": 2, "upstreams": [{"url": o.url}],
                          "log": {"level": "debug"}})
    e.start()
    conns = []
    try:
        seen = 0
        starter = RawConn(e.port, timeout=10)
        conns.append(starter)
        owner, seen = accepted_on(e, seen)
        starter.send(build_request("GET", key, [("Connection", "close")]))
        check(o.event(o.arrived, key).wait(5), "the fill reached the origin")
        waiter = None
        for _ in range(64):  # SO_REUSEPORT spreads connections by their addresses
            c = RawConn(e.port, timeout=10)
            conns.append(c)
            w, seen = accepted_on(e, seen)
            if w != owner:
                waiter = c
                break
        if waiter is None:
            skip("64 connections in a row landed on the fill's worker: a fill waited on "
                 "from another worker during the drain not checked")
        waiter.send(build_request("GET", key, [("Connection", "close")]))
        deadline = time.monotonic() + 10
        eq(read_head(waiter, deadline)[0], 200, "the waiter's head (joined the fill)")
        for c in conns:  # the owner's worker is left with no connection
            if c is not waiter:
                c.close()
        time.sleep(0.2)
        e.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)  # the owner's worker, drained of connections, would stop here
        o.gate(key).set()
        body = waiter._read_n(len(data), time.monotonic() + 10)
        check(body == data, "the waiter's body is the object's, whole")
        eq(e.proc.wait(10), 0, "exit status after the drain")
    finally:
        for c in conns:
            c.close()
        e.cleanup()


@test
def full_cache_makes_room_for_concurrent_misses(ctx):
    """A cache at its budget taking misses from 16 clients at once, each miss needing room:
    every one is answered whole, none refused 503 store-full. The policy's view lags the
    store's (objects another fill just took out are still being deleted, bodies a group
    commit just kept are not noted yet); making room must count both."""
    o = Origin()
    with own_edge(ctx, o, {"upstreams": [{"url": o.url}], "cache": {"max_size": "64M"},
                           "limits": {"send_timeout": "20s"}}) as e:
        size = 1_000_000
        keys = [o.add(f"/nosha/full/v/seg-{100 + i}.m4s", RNG.randbytes(size)) and
                f"/nosha/full/v/seg-{100 + i}.m4s" for i in range(300)]
        for k in keys[:68]:  # the budget, full
            expect_body(e.get(k, timeout=30), o.objects[k], f"filling {k}")
        results = {}

        def client(part):
            for k in part:
                r = e.get(k, timeout=60)
                results[k] = (r.status, r.get("Cache-Status"),
                              r.status == 200 and r.body == o.objects[k])

        rest = keys[68:]
        threads = [threading.Thread(target=client, args=(rest[i::16],)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        bad = {k: v for k, v in results.items() if not v[2]}
        eq(len(results), len(rest), "misses answered")
        eq(len(bad), 0, f"misses not answered whole (one: {next(iter(bad.items()), None)})")
        eq(metric(e, "sluice_edge_fills_total", 'result="store_full"'), 0, "fills refused")


@test
def eviction_keeps_popular(ctx):
    """64 MiB budget: six popular 4 MiB segments asked for again and again, then a scan of
    one-hit wonders twice the budget. The popular bytes must survive, the store must stay in
    budget, and the policy state must come back after a restart."""
    o = ctx.origin
    e = Edge(ctx.binary, {"upstreams": [{"url": o.url}], "cache": {"max_size": "64M"},
                          "limits": {"send_timeout": "10s"}})
    ctx.others.append(e)
    e.start()
    size = 4 * 1024 * 1024
    popular = {f"/ok/hot/v1/seg-{10 + i}.m4s": o.add(f"/ok/hot/v1/seg-{10 + i}.m4s",
                                                    RNG.randbytes(size)) for i in range(6)}
    for rnd in range(4):
        for k, v in popular.items():
            expect_body(e.get(k, timeout=20), v, f"popular {k} round {rnd}")
    for i in range(32):
        k = f"/ok/scan/t{i}/seg-{10 + i}.m4s"
        v = o.add(k, RNG.randbytes(size))
        expect_body(e.get(k, timeout=20), v, f"scan {k}")
        if i % 6 == 5:  # players keep watching the popular title
            for pk, pv in popular.items():
                expect_body(e.get(pk, timeout=20), pv, "popular during the scan")
    held = 0
    r = e.admin("GET", "/admin/objects?prefix=/ok/")
    eq(r.status, 200, "listing")
    import json as _json
    doc = _json.loads(r.body)
    items = doc["objects"] if isinstance(doc, dict) and "objects" in doc else doc
    for it in items:
        held += int(it.get("size", 0))
    check(held <= 64 * 1024 * 1024, f"store holds {held} bytes, over the 64 MiB budget")
    # The scan is twice the budget: the store kept to it by evicting, or by refusing one-hit
    # wonders at admission once full (which a policy may prefer to evicting older scan bytes).
    check(metric(e, "sluice_edge_evictions_total")
          + metric(e, "sluice_edge_admission_refused_total") > 0,
          "the budget was defended: evictions or admission refusals")
    print(f"# eviction: held {held} bytes, evictions "
          f"{metric(e, 'sluice_edge_evictions_total'):.0f}, admission refused "
          f"{metric(e, 'sluice_edge_admission_refused_total'):.0f}")
    kept = [k for k in popular if listed(e, k)]
    eq(len(kept), len(popular), "popular objects kept through the scan")
    before = {k: o.count(k) for k in popular}
    for k, v in popular.items():
        r = e.get(k, timeout=20)
        expect_body(r, v, f"popular {k} after the scan")
        check(r.need("Cache-Status").endswith("hit"), f"{k} served from the cache")
    eq({k: o.count(k) for k in popular}, before, "no origin fetch for the popular set")
    e.stop()
    e.start()
    check(os.path.isdir(os.path.join(e.cache_dir, "policy")), "policy state kept in LMDB")
    found = re.findall(r"cache policy: (\d+) object\(s\) restored", open(e.log_path).read())
    check(found, "no 'object(s) restored' line at start")
    check(int(found[-1]) >= len(popular),
          f"policy state of {found[-1]} object(s) restored, fewer than the {len(popular)} popular")
    before = {k: o.count(k) for k in popular}
    for k, v in popular.items():
        r = e.get(k, timeout=20)
        expect_body(r, v, f"popular {k} after restart")
        check(r.need("Cache-Status").endswith("hit"), f"{k} a hit after the restart")
    eq({k: o.count(k) for k in popular}, before, "no origin fetch after the restart")



def main():
    """Run the registered tests against a fresh origin and edge (a Ctx); exit with their
    verdict, after stopping every edge the tests started (test_miss_cond.py,
    test_miss_prefetch.py and test_start_prefetch.py run their own tests with it too)."""
    sys.exit(run_and_stop(Ctx, lambda ctx: ctx.others + [ctx.edge]))


if __name__ == "__main__":
    main()
