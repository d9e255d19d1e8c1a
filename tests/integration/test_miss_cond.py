# SPDX-License-Identifier: MIT
"""Conditional requests on a miss, and validators along a parent -> child chain.

The edge's ETag is the first 8 bytes of the object's SHA-256 ("same bytes, same tag, on every
edge"); its Last-Modified is the upstream's. A conditional GET for a cold object is answered
304 (or 412) once the upstream's head is in, and the object is still filled and kept:

  inm_known_at_head:  the origin sends X-Sluice-SHA256: 304 while the origin still holds the
                      body, for a request that joined a fill in flight
  ims_at_head:        If-Modified-Since against the origin's Last-Modified: 304 / 200
  inm_mismatch:       another tag: the whole object
  inm_without_sha:    no hash from the origin: the 304 waits for the verified body
  if_match_fails:     If-Match with another tag: 412
  long_if_match_on_a_miss:  an If-Match of 20 tags, none the object's: 412 on the miss as on
                      the hit, and beside a long If-None-Match a short failing If-Match or a
                      past If-Unmodified-Since still 412
  if_range_on_miss:   Range with If-Range (the tag, the origin's date, another tag) on a miss:
                      206, 206, the whole object
  chain_validators:   origin without hashes -> parent -> child: the child's ETag and
                      Last-Modified equal the parent's, on the child's miss and on its hit, and
                      a conditional request at the child is answered 304
"""

import os
import time

import edgeharness
from edgeharness import (Edge, RawConn, build_request, check, eq, expect_body, http_date,
                         sha, test, HOST)
from test_miss import RNG, listed, main, read_head, start_edge

edgeharness._tests.clear()  # test_miss's own tests run in their own file

MTIME = 1_700_000_000  # the origin's Last-Modified for every object here


def tag(data):
    return '"' + sha(data)[:16] + '"'


def add(origin, path, size=50_000):
    data = origin.add(path, RNG.randbytes(size))
    origin.mtimes[path] = MTIME
    return data


@test
def inm_known_at_head(ctx):
    o, e = ctx.origin, ctx.edge
    key = "/gate/cond/a/seg-1.m4s"
    data = add(o, key, 1024 * 1024)
    gate = o.gate(key)
    try:
        with RawConn(e.port, timeout=10) as a:
            a.send(build_request("GET", key, [("Connection", "close")]))
            deadline = time.monotonic() + 10
            eq(read_head(a, deadline)[0], 200, "the fill's first client")
            r = e.get(key, [("If-None-Match", tag(data))])
            eq(r.status, 304, "If-None-Match on the object being filled")
            eq(r.body, b"", "304 has no body")
            eq(r.get("ETag"), tag(data), "304 ETag")
            eq(r.get("Last-Modified"), http_date(MTIME), "304 Last-Modified: the origin's")
            check("collapsed" in r.need("Cache-Status"), f"joined: {r.get('Cache-Status')!r}")
            check(not gate.is_set(), "answered before the origin sent the body")
            gate.set()
            check(sha(a._read_n(len(data), deadline)) == sha(data), "first client's body")
    finally:
        gate.set()
    # Cold, nothing in flight: the same.
    key2 = "/ok/cond/a/seg-2.m4s"
    data2 = add(o, key2)
    r = e.get(key2, [("If-None-Match", 'W/"nope", ' + tag(data2))])
    eq(r.status, 304, "cold If-None-Match")
    check("fwd=miss" in r.need("Cache-Status"), "a miss")
    # The fill goes on after the 304 (its commit may still be running: then this joins it).
    r = e.get(key2)
    expect_body(r, data2, "after the 304")
    cs = r.need("Cache-Status")
    check(cs.endswith("; hit") or cs.endswith("; collapsed"), f"kept or being kept: {cs!r}")
    eq(r.get("ETag"), tag(data2), "ETag after the 304")
    eq(r.get("Last-Modified"), http_date(MTIME), "Last-Modified: the origin's")
    eq(o.count(key2), 1, "origin fetches")


@test
def ims_at_head(ctx):
    o, e = ctx.origin, ctx.edge
    key = "/ok/cond/b/seg-1.m4s"
    data = add(o, key)
    r = e.get(key, [("If-Modified-Since", http_date(MTIME))])
    eq(r.status, 304, "If-Modified-Since equal to the origin's Last-Modified")
    key2 = "/ok/cond/b/seg-2.m4s"
    data2 = add(o, key2)
    r = e.get(key2, [("If-Modified-Since", http_date(MTIME - 3600))])
    expect_body(r, data2, "modified since")
    eq(r.get("Last-Modified"), http_date(MTIME), "miss Last-Modified")
    expect_body(e.get(key), data, "hit")


@test
def inm_mismatch(ctx):
    o, e = ctx.origin, ctx.edge
    key = "/ok/cond/c/seg-1.m4s"
    data = add(o, key)
    r = e.get(key, [("If-None-Match", '"0000000000000000"'),
                    ("If-Modified-Since", http_date(MTIME))])
    expect_body(r, data, "If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2)")
    eq(r.get("ETag"), tag(data), "ETag on the miss")
    # A long If-None-Match is judged whole, so If-Modified-Since is not left to decide alone:
    # the whole object.
    key2 = "/ok/cond/c/seg-2.m4s"
    data2 = add(o, key2)
    long_inm = ", ".join('"%016x"' % i for i in range(20))
    r = e.get(key2, [("If-None-Match", long_inm), ("If-Modified-Since", http_date(MTIME))])
    expect_body(r, data2, "a long If-None-Match with a matching If-Modified-Since")


@test
def inm_without_sha(ctx):
    o, e = ctx.origin, ctx.edge
    key = "/nosha/cond/d/seg-1.m4s"
    data = add(o, key, 300_000)
    r = e.get(key)
    expect_body(r, data, "miss without a hash from the origin")
    eq(r.get("ETag"), None, "no ETag before the body is verified")
    eq(r.get("Last-Modified"), http_date(MTIME), "Last-Modified from the origin")
    key2 = "/nosha/cond/d/seg-2.m4s"
    data2 = add(o, key2, 300_000)
    r = e.get(key2, [("If-None-Match", tag(data2))])
    eq(r.status, 304, "If-None-Match answered once the body is verified")
    eq(r.get("ETag"), tag(data2), "ETag of the verified body")
    check(listed(e, key2), "the 304's fill is kept")
    r = e.get(key2, [("If-None-Match", tag(data2))])
    eq(r.status, 304, "and again from the cache")
    check(r.need("Cache-Status").endswith("; hit"), "a hit")
    eq(o.count(key2), 1, "origin fetches")


@test
def if_match_fails(ctx):
    o, e = ctx.origin, ctx.edge
    key = "/ok/cond/e/seg-1.m4s"
    data = add(o, key)
    r = e.get(key, [("If-Match", '"0000000000000000"')])
    eq(r.status, 412, "If-Match with another tag")
    key2 = "/ok/cond/e/seg-2.m4s"
    data2 = add(o, key2)
    expect_body(e.get(key2, [("If-Match", tag(data2))]), data2, "If-Match with the tag")
    expect_body(e.get(key), data, "the 412's fill is kept")
    eq(o.count(key), 1, "origin fetches")


def long_tags(n):
    """n entity-tags of the edge's form, none of them any object's: 20 are 398 bytes."""
    return ", ".join('"%016x"' % i for i in range(n))


def wait_listed(e, key, timeout=10):
    """Until the fill a miss started is committed, so that the next request is a hit."""
    deadline = time.monotonic() + timeout
    while not listed(e, key):
        check(time.monotonic() < deadline, f"{key} never committed")
        time.sleep(0.02)  # poll the listing, bounded by the deadline


@test
def long_if_match_on_a_miss(ctx):
    """An If-Match longer than the miss used to keep (255 bytes) was dropped with the other
    preconditions, so a cold object answered 200 where the hit right after answered 412; a
    failing If-Match or If-Unmodified-Since beside a long If-None-Match was let through too.
    Failing, both are 412 (RFC 9110 §13.1.1, §13.1.4), on a miss as on a hit, with the tag
    at the head (/ok/) or only once the body is verified (/nosha/)."""
    o, e = ctx.origin, ctx.edge
    long_im = long_tags(20)
    eq(len(long_im), 398, "the If-Match's length")
    for prefix in ("/ok", "/nosha"):
        key = f"{prefix}/cond/long-im/seg-1.m4s"
        data = add(o, key, 20_000)
        for what in ("miss", "hit"):
            r = e.get(key, [("If-Match", long_im)])
            eq(r.status, 412, f"{key}: a long failing If-Match on the {what}")
            check(("fwd=miss" in r.need("Cache-Status")) == (what == "miss"),
                  f"{key}: a {what}: {r.get('Cache-Status')!r}")
            wait_listed(e, key)
        key = f"{prefix}/cond/long-im/seg-2.m4s"
        data = add(o, key, 20_000)
        expect_body(e.get(key, [("If-Match", long_im + ", " + tag(data))]), data,
                    f"{key}: a long If-Match with the tag last, on the miss")
        long_inm = long_tags(20)
        for i, (hdr, value) in enumerate((("If-Match", '"0000000000000000"'),
                                          ("If-Unmodified-Since", http_date(MTIME - 3600)))):
            key = f"{prefix}/cond/long-inm/seg-{i}.m4s"
            add(o, key, 20_000)
            for what in ("miss", "hit"):
                r = e.get(key, [("If-None-Match", long_inm), (hdr, value)])
                eq(r.status, 412, f"{key}: a failing {hdr} beside a long If-None-Match, "
                                  f"on the {what}")
                check(("fwd=miss" in r.need("Cache-Status")) == (what == "miss"),
                      f"{key}: a {what}: {r.get('Cache-Status')!r}")
                wait_listed(e, key)


@test
def if_range_on_miss(ctx):
    o, e = ctx.origin, ctx.edge
    for i, (cond, want) in enumerate(((None, 206), (http_date(MTIME), 206),
                                      ('"0000000000000000"', 200))):
        key = f"/ok/cond/f/seg-{i}.m4s"
        data = add(o, key)
        hdrs = [("Range", "bytes=100-199"), ("If-Range", cond or tag(data))]
        r = e.get(key, hdrs)
        eq(r.status, want, f"If-Range {cond or 'the tag'} on a miss")
        if want == 206:
            eq(r.body, data[100:200], "the range's bytes")
            eq(r.get("Content-Range"), f"bytes 100-199/{len(data)}", "Content-Range")
        else:
            expect_body(r, data, "the whole object")


@test
def chain_validators(ctx):
    o = ctx.origin
    peer = "peer-" + os.urandom(8).hex()
    parent = Edge(ctx.binary, {"upstreams": [{"url": o.url}],
                               "control": {"edge_id": "parent-v"}})
    ptok = os.path.join(parent.dir, "peer.token")
    with open(ptok, "w") as f:
        f.write(peer + "\n")
    parent.cfg["tokens"] = {"required": False, "peer_token_file": ptok}
    ctx.others.append(parent)
    parent.start()
    child = Edge(ctx.binary, {"upstreams": [{"url": f"http://{HOST}:{parent.port}",
                                             "token_file": ptok}, {"url": o.url}],
                              "control": {"edge_id": "child-v"}})
    ctx.others.append(child)
    child.start()
    key = "/nosha/chain/seg-1.m4s"
    data = add(o, key, 400_000)
    r = child.get(key, timeout=10)
    expect_body(r, data, "child miss through the parent")
    check(r.need("Cache-Status").startswith("parent-v; fwd=miss"), "filled via the parent")
    eq(r.get("Last-Modified"), http_date(MTIME), "child miss Last-Modified")
    p = parent.get(key)
    c = child.get(key)
    check(p.need("Cache-Status").endswith("; hit") and c.need("Cache-Status").endswith("; hit"),
          "both hold it")
    eq(p.get("ETag"), tag(data), "parent ETag: the content hash")
    eq(c.get("ETag"), p.get("ETag"), "child ETag equals the parent's")
    eq(c.get("Last-Modified"), p.get("Last-Modified"), "child Last-Modified equals the parent's")
    eq(c.get("Last-Modified"), http_date(MTIME), "both the origin's")
    # The parent holds the next object; the child's cold conditional GET gets the parent's
    # hash in the head and answers 304 at once.
    key2 = "/nosha/chain/seg-2.m4s"
    data2 = add(o, key2, 400_000)
    expect_body(parent.get(key2), data2, "parent fill")
    r = child.get(key2, [("If-None-Match", tag(data2))], timeout=10)
    eq(r.status, 304, "child's cold conditional GET through the parent")
    eq(r.get("ETag"), tag(data2), "child 304 ETag")
    eq(r.get("Last-Modified"), http_date(MTIME), "child 304 Last-Modified")
    eq(o.count(key), 1, "origin fetches for the chain")
    eq(o.count(key2), 1, "origin fetches for the parent's object")


@test
def inm_as_two_lines_on_a_miss(ctx):
    """If-None-Match on two lines is one list (RFC 9110 §5.3) on a miss as on a hit: the
    second line's tag matching is a 304 (the first line alone was kept before)."""
    o, e = ctx.origin, ctx.edge
    for key in ("/ok/cond/lines/seg-1.m4s", "/nosha/cond/lines/seg-1.m4s"):
        data = add(o, key, 20_000)
        r = e.get(key, [("If-None-Match", '"other"'), ("If-None-Match", tag(data))])
        eq(r.status, 304, f"{key}: the miss")
        r = e.get(key, [("If-None-Match", '"other"'), ("If-None-Match", tag(data))])
        eq(r.status, 304, f"{key}: the hit")


@test
def one_value_fields_sent_twice_on_a_miss(ctx):
    """If-Modified-Since or If-Range on two lines is no value on a miss as on a hit: the
    whole object, 200 (the first line alone was kept: 304 and 206)."""
    o, e = ctx.origin, ctx.edge
    key = "/ok/cond/twice/seg-1.m4s"
    data = add(o, key, 20_000)
    r = e.get(key, [("If-Modified-Since", http_date(MTIME)),
                    ("If-Modified-Since", http_date(MTIME - 3600))])
    expect_body(r, data, "If-Modified-Since on two lines, on a miss")
    key = "/ok/cond/twice/seg-2.m4s"
    data = add(o, key, 20_000)
    r = e.get(key, [("Range", "bytes=100-199"), ("If-Range", tag(data)),
                    ("If-Range", tag(data))])
    expect_body(r, data, "If-Range on two lines, on a miss")


@test
def upstream_date_ahead_clamped(ctx):
    """An upstream whose clock runs ahead: its Last-Modified goes out as the Date at most, on
    the miss and on the hit (RFC 9110 §8.8.2.1), and conditions go by that date."""
    o, e = ctx.origin, ctx.edge
    key = "/ok/cond/ahead/seg-1.m4s"
    o.add(key, RNG.randbytes(2_000))
    o.mtimes[key] = int(time.time()) + 3600
    for what in ("miss", "hit"):
        r = e.get(key)
        eq(r.status, 200, what)
        lm = edgeharness.parse_http_date(r.need("Last-Modified"))
        date = edgeharness.parse_http_date(r.need("Date"))
        check(lm <= date, f"{what}: Last-Modified {r.get('Last-Modified')} after Date "
                          f"{r.get('Date')}")
        # The date shown stays the same from answer to answer, and conditions are judged
        # against it: a client sending back what it was shown gets 304 for If-Modified-Since
        # and the object for If-Unmodified-Since (it got 412, and never a 304).
        if what == "miss":
            shown = r.need("Last-Modified")
            time.sleep(1.1)  # into the next second: a date clamped at each answer would move
        else:
            eq(r.need("Last-Modified"), shown, "the date shown on the hit, a second later")
        r = e.get(key, [("If-Unmodified-Since", shown)])
        eq(r.status, 200, f"{what}: If-Unmodified-Since the date shown")
        r = e.get(key, [("If-Modified-Since", shown)])
        eq(r.status, 304, f"{what}: If-Modified-Since the date shown")


if __name__ == "__main__":
    main()
