# SPDX-License-Identifier: MIT
"""CMCD nor prefetch: a request naming its next object (CMCD "nor", in the CMCD query
argument or the CMCD-Request header) starts one fill of that object when it is not cached,
so the player's next request is a hit (or joins the fill). The origin counts requests.

  nor_query_then_hit:     nor in the query: the next segment is fetched once, before it is asked
  nor_header_relative:    nor in CMCD-Request, "../v2/..." resolved against the request
  not_prefetched:         another title, another host, the object itself, a cached object, a
                          404 in the negative cache: no origin request, no prefetch counted
  bound_per_worker:       cache.prefetch_max 2 on one worker: a third hint while two
                          prefetches are held at the origin is dropped (counted); a request
                          for a prefetched object joins its fill; slots free up when fills end
  escaped_directory:      a request whose directory holds an escaped '%' or '?' (key
                          "/ok/pfk/a%41/...", "/ok/pfk/q?x/..."): nor "seg-2.m4s" is that
                          directory's seg-2, not "/ok/pfk/aA/seg-2.m4s" or "/ok/pfk/q"
  leaves_a_fill_slot:     cache.max_fills 2: a cold request's own prefetches (nor and start)
                          never take the last free fill, so the request itself is served and
                          not refused 503 for the fetches of what it will ask next
  dropped_counts_fetches: at the bound, a hint for an object held, a recent 404 or one this
                          worker is already prefetching is not counted as dropped: nothing
                          would have been fetched for it
  upstream_down:          while the origin is marked down (5xx in a row), hints are not acted
                          on: no speculative fetch adds to a failing origin's load; a
                          player's own miss still goes, and its answer brings prefetch back
  token_scope:            signed URLs required: a nor or start prefetch of an object the
                          client's token does not cover is not fetched; one it covers is
"""

import os
import time
import urllib.parse

import edgeharness
from edgeharness import check, eq, expect_body, test
from test_miss import RNG, counters, delta, main, start_edge
from test_tokens import SECRET, mint

edgeharness._tests.clear()  # test_miss's own tests run in their own file

PREFETCHES = "sluice_edge_prefetches_total"
STARTS = "sluice_edge_start_prefetches_total"
DROPPED = "sluice_edge_prefetch_dropped_total"


def cmcd_query(nor, extra="sid=\"s1\""):
    value = f'{extra},nor="{urllib.parse.quote(nor, safe="")}"'
    return "?CMCD=" + urllib.parse.quote(value, safe="")


def wait_count(origin, path, want, what, timeout=10):
    """The origin's request count for path reaching want: the prefetch arrived (bounded)."""
    deadline = time.monotonic() + timeout
    while origin.count(path) < want and time.monotonic() < deadline:
        time.sleep(0.01)  # poll the origin's counter, bounded by the deadline
    eq(origin.count(path), want, what)


def wait_metric(e, name, want, before, what, timeout=10):
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        got = delta(before, counters(e), *name)
        if got >= want:
            break
        time.sleep(0.01)  # poll /metrics, bounded by the deadline
    eq(got, float(want), what)


COMMITTED = ("sluice_edge_fills_total", 'result="committed"')


@test
def nor_query_then_hit(ctx):
    o, e = ctx.origin, ctx.edge
    cur = o.add("/ok/pfa/v1/seg-1.m4s", RNG.randbytes(40_000))
    nxt = o.add("/ok/pfa/v1/seg-2.m4s", RNG.randbytes(40_000))
    before = counters(e)
    r = e.get("/ok/pfa/v1/seg-1.m4s" + cmcd_query("seg-2.m4s"))
    expect_body(r, cur, "the current segment")
    wait_count(o, "/ok/pfa/v1/seg-2.m4s", 1, "the next segment fetched before it is asked")
    wait_metric(e, COMMITTED, 2, before, "both fills committed")
    r = e.get("/ok/pfa/v1/seg-2.m4s")
    expect_body(r, nxt, "the next segment")
    check(r.need("Cache-Status").endswith("; hit"), f"a hit: {r.get('Cache-Status')!r}")
    eq(o.count("/ok/pfa/v1/seg-2.m4s"), 1, "origin fetches of the next segment")
    eq(delta(before, counters(e), PREFETCHES), 1.0, "prefetches counted")


@test
def nor_header_relative(ctx):
    o, e = ctx.origin, ctx.edge
    cur = o.add("/ok/pfb/v1/seg-4.m4s", RNG.randbytes(30_000))
    nxt = o.add("/ok/pfb/v2/seg-5.m4s", RNG.randbytes(30_000))
    before = counters(e)
    r = e.get("/ok/pfb/v1/seg-4.m4s", [("CMCD-Request", 'nor="../v2/seg-5.m4s",bl=2000')])
    expect_body(r, cur, "the current segment")
    wait_count(o, "/ok/pfb/v2/seg-5.m4s", 1, "the next segment (another rung) fetched")
    wait_metric(e, COMMITTED, 2, before, "both fills committed")
    r = e.get("/ok/pfb/v2/seg-5.m4s")
    expect_body(r, nxt, "the next segment")
    check(r.need("Cache-Status").endswith("; hit"), "a hit")
    # A hit carrying a hint prefetches too (the usual case: this segment cached, next not).
    o.add("/ok/pfb/v2/seg-6.m4s", RNG.randbytes(30_000))
    r = e.get("/ok/pfb/v2/seg-5.m4s", [("CMCD-Request", 'nor="seg-6.m4s"')])
    check(r.need("Cache-Status").endswith("; hit"), "the hint rode on a hit")
    wait_count(o, "/ok/pfb/v2/seg-6.m4s", 1, "prefetched from a hit's hint")
    eq(delta(before, counters(e), PREFETCHES), 2.0, "prefetches counted")


@test
def nor_version_2_list(ctx):
    """CMCD version 2 sends nor as an inner list (CTA-5004-B): the first next object is
    prefetched, from the header and the query form alike; the later ones are not."""
    o, e = ctx.origin, ctx.edge
    cur = o.add("/ok/pfv/v1/seg-1.m4s", RNG.randbytes(20_000))
    nxt = {n: o.add(f"/ok/pfv/v1/seg-{n}.m4s", RNG.randbytes(20_000)) for n in (2, 3, 4)}
    before = counters(e)
    r = e.get("/ok/pfv/v1/seg-1.m4s",
              [("CMCD-Request", 'bl=(21300;v 9800;a),nor=("seg-2.m4s";r="0-" "seg-3.m4s")')])
    expect_body(r, cur, "the current segment")
    wait_count(o, "/ok/pfv/v1/seg-2.m4s", 1, "the list's first next object fetched")
    value = 'nor=("' + urllib.parse.quote("seg-4.m4s", safe="") + '"),sid="s2",v=2'
    r = e.get("/ok/pfv/v1/seg-1.m4s?CMCD=" + urllib.parse.quote(value, safe=""))
    expect_body(r, cur, "the current segment again")
    wait_count(o, "/ok/pfv/v1/seg-4.m4s", 1, "the query form's first next object fetched")
    # Served from the prefetches (joining them if still under way): no second origin fetch.
    for n in (2, 4):
        path = f"/ok/pfv/v1/seg-{n}.m4s"
        expect_body(e.get(path), nxt[n], path)
        eq(o.count(path), 1, f"origin fetches of {path}")
    eq(o.count("/ok/pfv/v1/seg-3.m4s"), 0, "the list's second object not fetched")
    eq(delta(before, counters(e), PREFETCHES), 2.0, "prefetches counted")


@test
def not_prefetched(ctx):
    o, e = ctx.origin, ctx.edge
    cur = o.add("/ok/pfc/v1/seg-1.m4s", RNG.randbytes(10_000))
    cached = o.add("/ok/pfc/v1/seg-2.m4s", RNG.randbytes(10_000))
    expect_body(e.get("/ok/pfc/v1/seg-2.m4s"), cached, "cached beforehand")
    eq(e.get("/ok/pfc/v1/gone.m4s").status, 404, "a 404, now in the negative cache")
    o.add("/gate/pfc/v1/seg-3.m4s", RNG.randbytes(10_000))
    o.add("/ok/pfc/v1/far.m4s", RNG.randbytes(10_000))
    expect_body(e.get("/ok/pfc/v1/seg-1.m4s"), cur, "the current segment, cached")
    before = counters(e)
    hints = [
        "/gate/pfc/v1/seg-3.m4s",          # another title (first path segment)
        "http://elsewhere.example/ok/pfc/v1/far.m4s",  # another host
        "//elsewhere.example/ok/pfc/v1/far.m4s",       # network-path reference
        "seg-1.m4s",                       # the object itself
        "seg-2.m4s",                       # already cached
        "gone.m4s",                        # a recent 404
        "../../../../etc/passwd",          # above the root
    ]
    for nor in hints:
        r = e.get("/ok/pfc/v1/seg-1.m4s" + cmcd_query(nor))
        expect_body(r, cur, f"hint {nor!r}: the request itself is served")
    # The positive control last: once its prefetch reached the origin, every hint before it
    # on this connection-less sequence has been looked at.
    r = e.get("/ok/pfc/v1/seg-1.m4s" + cmcd_query("far.m4s"))
    wait_count(o, "/ok/pfc/v1/far.m4s", 1, "the control hint is acted on")
    eq(o.count("/gate/pfc/v1/seg-3.m4s"), 0, "no prefetch across titles")
    eq(o.count("/ok/pfc/v1/seg-2.m4s"), 1, "no refetch of a cached object")
    eq(o.count("/ok/pfc/v1/gone.m4s"), 1, "no prefetch of a negatively cached key")
    eq(o.count("/ok/pfc/v1/seg-1.m4s"), 1, "no prefetch of the object itself")
    eq(delta(before, counters(e), PREFETCHES), 1.0, "only the control counted")


@test
def bound_per_worker(ctx):
    o = ctx.origin
    e = start_edge(ctx.binary, o, {"workers": 1, "cache": {"prefetch_max": 2}})
    ctx.others.append(e)
    cur = o.add("/gate/pfd/v1/seg-1.m4s", RNG.randbytes(8_000))
    o.gate("/gate/pfd/v1/seg-1.m4s").set()
    nxt = {}
    for i in (2, 3, 4, 5):
        k = f"/gate/pfd/v1/seg-{i}.m4s"
        nxt[i] = o.add(k, RNG.randbytes(200_000))
        o.first[k] = 1024
    gates = {i: o.gate(f"/gate/pfd/v1/seg-{i}.m4s") for i in nxt}
    before = counters(e)
    try:
        for i in (2, 3, 4):
            r = e.get("/gate/pfd/v1/seg-1.m4s" + cmcd_query(f"seg-{i}.m4s"))
            expect_body(r, cur, f"request hinting seg-{i}")
            if i < 4:
                wait_count(o, f"/gate/pfd/v1/seg-{i}.m4s", 1, f"seg-{i} prefetch started")
        after = counters(e)
        eq(delta(before, after, PREFETCHES), 2.0, "two prefetches in flight")
        eq(delta(before, after, DROPPED), 1.0, "the third hint dropped at the bound")
        eq(o.count("/gate/pfd/v1/seg-4.m4s"), 0, "no fetch for the dropped hint")
        # A player asking for a prefetched object joins its fill.
        gates[2].set()
        r = e.get("/gate/pfd/v1/seg-2.m4s", timeout=10)
        expect_body(r, nxt[2], "seg-2 while or after its prefetch")
        eq(o.count("/gate/pfd/v1/seg-2.m4s"), 1, "one origin fetch for seg-2")
        gates[3].set()
        wait_metric(e, COMMITTED, 3, before, "the prefetches committed (and seg-1)")
        # Slots are free again.
        gates[5].set()
        expect_body(e.get("/gate/pfd/v1/seg-1.m4s" + cmcd_query("seg-5.m4s")), cur, "seg-1")
        wait_count(o, "/gate/pfd/v1/seg-5.m4s", 1, "a hint after the slots freed is acted on")
        eq(delta(before, counters(e), PREFETCHES), 3.0, "prefetches counted")
    finally:
        for g in gates.values():
            g.set()


@test
def token_scope(ctx):
    o = ctx.origin
    e = start_edge(ctx.binary, o, {"tokens": {"required": True, "keys_file": None}},
                   start=False)
    ctx.others.append(e)
    keys = os.path.join(e.dir, "keys.yaml")
    with open(keys, "w") as f:
        f.write(f"keys:\n  - {{kid: k1, secret: {SECRET.hex()}}}\n")
    e.cfg["tokens"]["keys_file"] = keys
    e.start()
    now = int(time.time())

    def token(uc):
        return mint({"cdniv": 1, "exp": now + 600, "nbf": now - 10, "cdniuc": "regex:" + uc})

    cur = o.add("/ok/pfs/v1/seg-1.m4s", RNG.randbytes(10_000))
    for k in ("/ok/pfs/v1/seg-2.m4s", "/ok/pfs/v1/seg-3.m4s", "/ok/pfs/v2/seg-2.m4s"):
        o.add(k, RNG.randbytes(10_000))
    rung = token(r"^https?://[^/]+/ok/pfs/v1/")
    one = token(r"^https?://[^/]+/ok/pfs/v1/seg-1\.m4s$")
    before = counters(e)
    # A token for rung v1 names another rung of the same title in nor; a token for
    # segment 1 alone asks for a start at segment 1 (su) and names segment 2.
    r = e.get(f"/s/{rung}/ok/pfs/v1/seg-1.m4s" + cmcd_query("../v2/seg-2.m4s"))
    expect_body(r, cur, "the request its token covers is served")
    r = e.get(f"/s/{one}/ok/pfs/v1/seg-1.m4s" + cmcd_query("seg-2.m4s", 'sid="s2",su'))
    expect_body(r, cur, "the request its token covers is served again")
    after = counters(e)
    eq(delta(before, after, PREFETCHES), 0.0, "no nor prefetch outside the token")
    eq(delta(before, after, STARTS), 0.0, "no start prefetch outside the token")
    # The control: the rung's token covers its next segment.
    r = e.get(f"/s/{rung}/ok/pfs/v1/seg-1.m4s" + cmcd_query("seg-3.m4s"))
    expect_body(r, cur, "the control request")
    wait_count(o, "/ok/pfs/v1/seg-3.m4s", 1, "a segment the token covers is prefetched")
    eq(o.count("/ok/pfs/v2/seg-2.m4s"), 0, "no fetch of another rung")
    eq(o.count("/ok/pfs/v1/seg-2.m4s"), 0, "no fetch past a one-segment token")
    eq(delta(before, counters(e), PREFETCHES), 1.0, "only the control counted")


@test
def upstream_down(ctx):
    o = ctx.origin
    # An edge of its own: upstream health is per edge process.
    e = start_edge(ctx.binary, o, {"workers": 1})
    ctx.others.append(e)
    cur = o.add("/ok/pfu/v1/seg-1.m4s", RNG.randbytes(10_000))
    nxt = {i: o.add(f"/ok/pfu/v1/seg-{i}.m4s", RNG.randbytes(10_000)) for i in (2, 3, 4)}
    expect_body(e.get("/ok/pfu/v1/seg-1.m4s"), cur, "the current segment, cached")
    # Five 503s in a row: the origin is marked down for 16 s (1 s, doubling per failure).
    for i in range(5):
        eq(e.get(f"/e503/pfu/x{i}.m4s").status, 502, f"origin failure {i}")
    before = counters(e)
    r = e.get("/ok/pfu/v1/seg-1.m4s" + cmcd_query("seg-2.m4s"))
    expect_body(r, cur, "a hit with a hint while the origin is down")
    r = e.get("/ok/pfu/v1/seg-1.m4s" + cmcd_query("seg-2.m4s", 'sid="s3",su'))
    expect_body(r, cur, "a start with a hint while the origin is down")
    after = counters(e)
    eq(delta(before, after, PREFETCHES), 0.0, "no nor prefetch while the origin is down")
    eq(delta(before, after, STARTS), 0.0, "no start prefetch while the origin is down")
    eq(o.count("/ok/pfu/v1/seg-2.m4s"), 0, "the origin not asked for the hinted segment")
    # A player's own miss is still sent, and a usable answer clears the mark.
    expect_body(e.get("/ok/pfu/v1/seg-3.m4s"), nxt[3], "a miss while the origin is down")
    r = e.get("/ok/pfu/v1/seg-3.m4s" + cmcd_query("seg-4.m4s"))
    expect_body(r, nxt[3], "a hit with a hint once the origin answered")
    wait_count(o, "/ok/pfu/v1/seg-4.m4s", 1, "prefetch is back once the origin answers")
    eq(o.count("/ok/pfu/v1/seg-2.m4s"), 0, "the hint made while down was not kept")


@test
def dropped_counts_fetches(ctx):
    o = ctx.origin
    e = start_edge(ctx.binary, o, {"workers": 1, "cache": {"prefetch_max": 1}})
    ctx.others.append(e)
    cur = o.add("/gate/pfe/v1/seg-1.m4s", RNG.randbytes(8_000))
    o.gate("/gate/pfe/v1/seg-1.m4s").set()
    held = o.add("/gate/pfe/v1/seg-2.m4s", RNG.randbytes(8_000))
    o.gate("/gate/pfe/v1/seg-2.m4s").set()
    o.add("/gate/pfe/v1/seg-3.m4s", RNG.randbytes(200_000))
    o.first["/gate/pfe/v1/seg-3.m4s"] = 1024
    o.add("/gate/pfe/v1/seg-4.m4s", RNG.randbytes(8_000))
    gate = o.gate("/gate/pfe/v1/seg-3.m4s")
    expect_body(e.get("/gate/pfe/v1/seg-1.m4s"), cur, "seg-1 cached")
    expect_body(e.get("/gate/pfe/v1/seg-2.m4s"), held, "seg-2 cached")
    eq(e.get("/gate/pfe/v1/gone.m4s").status, 404, "a 404, now in the negative cache")
    before = counters(e)
    try:
        e.get("/gate/pfe/v1/seg-1.m4s" + cmcd_query("seg-3.m4s"))
        wait_count(o, "/gate/pfe/v1/seg-3.m4s", 1, "seg-3 prefetch held at the origin")
        for nor in ("seg-2.m4s", "gone.m4s", "seg-3.m4s"):
            r = e.get("/gate/pfe/v1/seg-1.m4s" + cmcd_query(nor))
            expect_body(r, cur, f"hint {nor!r} at the bound")
        eq(delta(before, counters(e), DROPPED), 0.0, "nothing to fetch: nothing dropped")
        # The control: a hint that would fetch is dropped at the bound.
        r = e.get("/gate/pfe/v1/seg-1.m4s" + cmcd_query("seg-4.m4s"))
        expect_body(r, cur, "hint 'seg-4.m4s' at the bound")
        after = counters(e)
        eq(delta(before, after, DROPPED), 1.0, "a hint that would fetch is dropped")
        eq(delta(before, after, PREFETCHES), 1.0, "one prefetch started")
        eq(o.count("/gate/pfe/v1/seg-4.m4s"), 0, "the dropped hint fetched nothing")
    finally:
        gate.set()


@test
def escaped_directory(ctx):
    o, e = ctx.origin, ctx.edge
    for d, raw in (("a%2541", "/ok/pfk/aA/seg-2.m4s"), ("q%3Fx", "/ok/pfk/q")):
        cur = o.add(f"/ok/pfk/{d}/seg-1.m4s", RNG.randbytes(10_000))
        nxt = o.add(f"/ok/pfk/{d}/seg-2.m4s", RNG.randbytes(10_000))
        o.add(raw, RNG.randbytes(10_000))
        before = counters(e)
        r = e.get(f"/ok/pfk/{d}/seg-1.m4s" + cmcd_query("seg-2.m4s"))
        expect_body(r, cur, f"{d}: the current segment")
        eq(o.count(f"/ok/pfk/{d}/seg-1.m4s"), 1, f"{d}: the key goes upstream as it came")
        wait_count(o, f"/ok/pfk/{d}/seg-2.m4s", 1, f"{d}: the next segment of that directory")
        wait_metric(e, COMMITTED, 2, before, f"{d}: both fills committed")
        eq(o.count(raw), 0, f"{d}: the directory not decoded a second time")
        r = e.get(f"/ok/pfk/{d}/seg-2.m4s")
        expect_body(r, nxt, f"{d}: the next segment")
        check(r.need("Cache-Status").endswith("; hit"), f"{d}: a hit")


@test
def leaves_a_fill_slot(ctx):
    o = ctx.origin
    e = start_edge(ctx.binary, o, {"workers": 1, "cache": {"max_fills": 2}})
    ctx.others.append(e)
    cur = o.add("/ok/pfm/v1/seg-1.m4s", RNG.randbytes(10_000))
    o.add("/ok/pfm/v1/seg-2.m4s", RNG.randbytes(10_000))
    o.add("/ok/pfm/v1/seg-3.m4s", RNG.randbytes(10_000))
    before = counters(e)
    r = e.get("/ok/pfm/v1/seg-1.m4s" + cmcd_query("seg-2.m4s", 'sid="s9",su'))
    eq(r.status, 200, f"the request itself is served: {r.get('Cache-Status')!r}")
    expect_body(r, cur, "the current segment")
    wait_count(o, "/ok/pfm/v1/seg-2.m4s", 1, "the nor prefetch took the one spare fill")
    eq(o.count("/ok/pfm/v1/seg-1.m4s"), 1, "the request's own fetch")
    eq(o.count("/ok/pfm/v1/seg-3.m4s"), 0, "no prefetch took the request's own fill")
    eq(delta(before, counters(e), "sluice_edge_fills_busy_total"), 0.0, "nothing refused")


if __name__ == "__main__":
    main()
