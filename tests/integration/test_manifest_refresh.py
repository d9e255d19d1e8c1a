# SPDX-License-Identifier: MIT
"""Manifests filled from upstream are answered with max-age=2, and the edge holds itself to
it: a manifest stored more than 2 s ago is revalidated upstream before it is served again
(If-Modified-Since with its stored Last-Modified), one request upstream however many clients
ask; 304 refreshes the stored copy, 200 replaces it; over HTTP/1.1 and h2 alike. Segments are
never revalidated."""

import shutil
import subprocess
import sys
import threading
import time

from edgeharness import HOST, Edge, check, eq, metric, run, test
from origin import Origin

MAX_AGE = 2.0  # the manifests' Cache-Control max-age (edge/serve-plan.c, CC_MANIFEST)
T0 = 1_700_000_000


class H2Curl:
    """curl over h2c, started ahead of its request and told its URL later (its config, on
    stdin): on a loaded machine a process can take longer to start than a max-age window is
    long, so a test starts it before the window opens."""

    def __init__(self):
        self.p = subprocess.Popen(["curl", "-sS", "--http2-prior-knowledge", "-D", "-", "-o", "-",
                                   "-K", "-"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)

    def get(self, e, path):
        out, err = self.p.communicate(f'url = "http://{HOST}:{e.port}{path}"\n'.encode(),
                                      timeout=30)
        check(self.p.returncode == 0, f"curl {path}: {err.decode().strip()}")
        head, _, body = out.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        hdrs = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
        return int(lines[0].split()[1]), hdrs, body


def h2_get(e, path, curl=None):
    return (curl or H2Curl()).get(e, path)


def get(e, path, h2=False):
    """A GET over h2c when h2 is true (an H2Curl started earlier, or True for one started now),
    else over HTTP/1.1: (status, fields, body)."""
    if h2:
        return h2_get(e, path, h2 if isinstance(h2, H2Curl) else None)
    r = e.get(path)
    return r.status, {"cache-status": r.get("Cache-Status") or ""}, r.body


def stale(t_stored):
    """Wait until an object stored at t_stored (monotonic) is past its max-age: the wait is
    for the clock itself, there is no event to wait for."""
    left = t_stored + MAX_AGE + 0.2 - time.monotonic()
    if left > 0:
        time.sleep(left)


def start_child(e, name):
    """A child edge named name whose upstreams are e (its parent), then e's origin."""
    child = Edge(e.binary, {"tokens": {"required": False},
                            "upstreams": [{"url": f"http://{HOST}:{e.port}"}, {"url": e.origin.url}],
                            "control": {"edge_id": name}})
    return child.start()


def refreshed(e, o, path, h2):
    """One round: filled, then fresh (a hit, the origin not asked) while the origin changes,
    then past max-age the new bytes; then a hit again."""
    clients = [H2Curl() if h2 else False for _ in range(4)]  # before the windows open
    o.add(path, b"<MPD version=1/>")
    o.mtimes[path] = T0
    st, h, body = get(e, path, clients.pop())
    t = time.monotonic()
    eq((st, body), (200, b"<MPD version=1/>"), f"{path}: the miss")
    o.add(path, b"<MPD version=2, longer/>")
    o.mtimes[path] = T0 + 60
    st, h, body = get(e, path, clients.pop())
    eq((st, body), (200, b"<MPD version=1/>"), f"{path}: within max-age, the stored copy")
    check("hit" in h["cache-status"], f"{path}: within max-age: {h['cache-status']}")
    eq(o.count(path), 1, f"{path}: origin requests within max-age")
    stale(t)
    st, h, body = get(e, path, clients.pop())
    eq((st, body), (200, b"<MPD version=2, longer/>"), f"{path}: past max-age, the new bytes")
    check("fwd=stale" in h["cache-status"] and "fwd-status=200" in h["cache-status"],
          f"{path}: Cache-Status of the refresh: {h['cache-status']}")
    eq(o.count(path), 2, f"{path}: origin requests after max-age")
    eq(o.asked[path].get("if-modified-since"), "Tue, 14 Nov 2023 22:13:20 GMT",
       f"{path}: the revalidation's If-Modified-Since")
    st, h, body = get(e, path, clients.pop())
    eq((st, body), (200, b"<MPD version=2, longer/>"), f"{path}: the replaced copy")
    check("hit" in h["cache-status"], f"{path}: after the refresh: {h['cache-status']}")
    eq(o.count(path), 2, f"{path}: origin requests after the refresh")


@test
def stale_manifest_replaced(e):
    refreshed(e, e.origin, "/nosha/r1/manifest.mpd", False)


@test
def stale_manifest_replaced_h2(e):
    refreshed(e, e.origin, "/nosha/r2/manifest.mpd", True)


@test
def unchanged_manifest_revalidated_once(e):
    """304 keeps the stored copy and makes it fresh again; twelve clients asking at once past
    max-age make one upstream request between them."""
    o, path = e.origin, "/nosha/r3/manifest.mpd"
    o.add(path, b"<MPD same/>")
    o.mtimes[path] = T0
    eq(get(e, path)[0], 200, "the miss")
    t = time.monotonic()
    stale(t)
    # The 304 is held until all twelve are waiting on the revalidation: a client slow to start
    # (a curl on a loaded machine) must not come after the refreshed copy is stale again.
    o.hold_304.add(path)
    collapsed0 = metric(e, "sluice_edge_collapsed_requests_total")
    results = []

    def one(h2):
        results.append(get(e, path, h2))

    threads = [threading.Thread(target=one, args=(i % 2 == 1,)) for i in range(12)]
    for th in threads:
        th.start()
    deadline = time.monotonic() + 30
    while (metric(e, "sluice_edge_collapsed_requests_total") - collapsed0 < 11
           and time.monotonic() < deadline):
        time.sleep(0.02)
    eq(metric(e, "sluice_edge_collapsed_requests_total") - collapsed0, 11.0,
       "requests that joined the revalidation")
    o.gate(path).set()
    for th in threads:
        th.join()
    eq(len(results), 12, "answers")
    for st, h, body in results:
        eq((st, body), (200, b"<MPD same/>"), "each client's answer")
    eq(o.count(path), 2, "origin requests: the fill and one revalidation")
    check(o.asked[path].get("if-modified-since"), "the revalidation was conditional")
    check(any("fwd=stale" in h["cache-status"] and "fwd-status=304" in h["cache-status"]
              for _, h, _ in results), f"no fwd-status=304: {[h for _, h, _ in results]}")
    st, h, _ = get(e, path)
    check("hit" in h["cache-status"], f"fresh again after the 304: {h['cache-status']}")
    eq(o.count(path), 2, "origin requests after the 304")


@test
def revalidated_answer_keeps_range_and_conditionals(e):
    """A request that waited for the revalidation is answered from the stored copy by its own
    Range and preconditions, as a hit is."""
    o, path = e.origin, "/nosha/r5/manifest.mpd"
    body = o.add(path, b"<MPD ranges-and-tags/>")
    o.mtimes[path] = T0
    # The hit's ETag: a miss whose SHA-256 is not known at its head has none.
    eq(e.get(path).status, 200, "the miss")
    t, etag = time.monotonic(), e.get(path).get("ETag")
    check(etag, "ETag on the hit")
    stale(t)
    r = e.get(path, [("Range", "bytes=0-4")])
    t = time.monotonic()
    eq((r.status, r.body), (206, body[:5]), "a Range past max-age")
    check("fwd-status=304" in (r.get("Cache-Status") or ""), f"{r.get('Cache-Status')}")
    stale(t)
    r = e.get(path, [("If-None-Match", etag)])
    eq((r.status, r.body), (304, b""), "If-None-Match past max-age")
    check("fwd-status=304" in (r.get("Cache-Status") or ""), f"{r.get('Cache-Status')}")
    eq(o.count(path), 3, "origin requests: the fill and two revalidations")


@test
def upstream_failure_serves_stored_copy(e):
    """An upstream that fails a revalidation before its head leaves the stored copy to answer
    (fwd=stale; detail=upstream-failed), and the next request asks again."""
    o, path = e.origin, "/nosha/r6/manifest.mpd"
    o.add(path, b"<MPD kept/>")
    o.mtimes[path] = T0
    eq(get(e, path)[0], 200, "the miss")
    stale(time.monotonic())
    o.force = "e503"
    try:
        for h2 in (False, True):
            st, h, body = get(e, path, h2)
            eq((st, body), (200, b"<MPD kept/>"), f"h2={h2}: the stored copy")
            check("fwd=stale" in h["cache-status"] and "upstream-failed" in h["cache-status"],
                  f"h2={h2}: Cache-Status {h['cache-status']}")
    finally:
        o.force = None
    eq(o.count(path), 3, "origin requests: the fill and two failed revalidations")
    st, h, body = get(e, path)
    eq((st, body), (200, b"<MPD kept/>"), "once the origin answers again")
    check("fwd-status=304" in h["cache-status"], f"Cache-Status {h['cache-status']}")


@test
def manifest_gone_upstream(e):
    """A stored manifest whose revalidation the upstream answers 404 is answered 404, and its
    access-log line says cache=gone (it said refreshed, the word for new bytes)."""
    o, path = e.origin, "/nosha/r9/manifest.mpd"
    o.add(path, b"<MPD going/>")
    o.mtimes[path] = T0
    eq(get(e, path)[0], 200, "the miss")
    stale(time.monotonic())
    o.force = "e404"
    try:
        st, h, _ = get(e, path)
    finally:
        o.force = None
    eq(st, 404, "gone upstream")
    check("fwd=stale; fwd-status=404" in h["cache-status"], f"Cache-Status {h['cache-status']}")
    deadline = time.monotonic() + 5
    lines = []
    while time.monotonic() < deadline:
        lines = [ln for ln in open(e.access_log).read().splitlines()
                 if f'"GET {path}" 404 ' in ln]
        if lines:
            break
        time.sleep(0.05)  # the log writer flushes once per loop turn
    check(lines and " cache=gone " in lines[-1], f"logged gone: {lines[-1:]}")


@test
def child_revalidates_at_its_parent(e):
    """A child edge revalidates at its parent with the edges' shared tag: unchanged at the
    origin, 304 comes down the chain (the parent revalidating its own copy on the way);
    changed, the new bytes do."""
    o, path = e.origin, "/nosha/r7/manifest.mpd"
    o.add(path, b"<MPD chain v1/>")
    o.mtimes[path] = T0
    child = start_child(e, "child-c")
    try:
        r = child.get(path)
        t = time.monotonic()
        eq((r.status, r.body), (200, b"<MPD chain v1/>"), "child's miss through the parent")
        stale(t)
        r = child.get(path)
        t = time.monotonic()
        eq((r.status, r.body), (200, b"<MPD chain v1/>"), "unchanged, past max-age")
        eq(r.get("Cache-Status"), "child-c; fwd=stale; fwd-status=304", "child's Cache-Status")
        eq(o.count(path), 2, "origin requests: the fill and the parent's revalidation")
        o.add(path, b"<MPD chain v2, longer/>")
        o.mtimes[path] = T0 + 60
        stale(t)
        r = child.get(path)
        eq((r.status, r.body), (200, b"<MPD chain v2, longer/>"), "changed, past max-age")
        check("child-c; fwd=stale; fwd-status=200" in (r.get("Cache-Status") or ""),
              f"child's Cache-Status {r.get('Cache-Status')}")
        r = child.get(path)
        eq((r.status, r.body), (200, b"<MPD chain v2, longer/>"), "the child's new copy")
        eq(r.get("Cache-Status"), "child-c; hit", "a hit after the refresh")
        eq(o.count(path), 3, "origin requests at the end")
    finally:
        child.stop()


@test
def stored_manifest_says_its_age(e):
    """RFC 9111 section 4: a stored manifest answered without validation carries Age, the
    seconds since its fill, never past max-age (a cache in front must not count its max-age
    again from the start). Over HTTP/1.1 and h2; a segment, the edge's own, has none."""
    o, path = e.origin, "/nosha/age/manifest.mpd"
    o.add(path, b"<MPD aged/>")
    o.mtimes[path] = T0
    curl = H2Curl()  # started before the window in which it must ask
    r = e.get(path)
    t = time.monotonic()
    eq(r.status, 200, "the miss")
    time.sleep(max(0.0, t + 1.1 - time.monotonic()))
    for h2 in (False, True):
        if h2:
            st, h, _ = h2_get(e, path, curl)
            age = h.get("age")
        else:
            r = e.get(path)
            st, age, h = r.status, r.get("Age"), {"cache-status": r.get("Cache-Status") or ""}
        elapsed = time.monotonic() - t
        eq(st, 200, f"h2={h2}: the hit")
        check("hit" in h["cache-status"], f"h2={h2}: {h['cache-status']}")
        check(age is not None and age.isdigit(), f"h2={h2}: Age {age!r}")
        check(1 <= int(age) <= min(int(elapsed) + 1, int(MAX_AGE)),
              f"h2={h2}: Age {age} after {elapsed:.2f} s")
    eq(o.count(path), 1, "origin requests")
    seg = "/nosha/age/seg-1.m4s"
    o.add(seg, b"segment")
    e.get(seg)
    eq(e.get(seg).get("Age"), None, "a segment's Age")


@test
def age_counts_along_a_chain(e):
    """A child filling a manifest from its parent's stored copy counts that copy's Age
    (RFC 9111 section 4.2.3): it answers the miss with it, and revalidates once the copy is
    max-age old since the origin answered, not since the child's own fill (each cache in a
    chain added up to max-age of staleness while saying Age 1 at most).

    Age is in whole seconds, so the child learns 1 for a copy 1.1 s old. Its copy is then
    max-age old by 1.2 s after its fill ended (t2 + 1.2), where a child counting from its own
    fill would keep it fresh until 2 s after its request (t + 1.1 + 2): the check is made in
    between. A round whose fill took so long that there is no between (a loaded machine) is
    tried again on a new path."""
    o = e.origin
    child = start_child(e, "child-a")
    try:
        for n in range(3):
            path = f"/nosha/chainage{n}/manifest.mpd"
            o.add(path, b"<MPD chain age/>")
            o.mtimes[path] = T0
            eq(e.get(path).status, 200, "the parent's miss")
            t = time.monotonic()
            time.sleep(max(0.0, t + 1.1 - time.monotonic()))
            r = child.get(path)
            t2 = time.monotonic()
            eq(r.status, 200, "the child's miss through the parent")
            if t2 > t + MAX_AGE - 0.1:
                continue  # the parent's copy may have been revalidated on the way (Age 0)
            check(r.get("Age") in ("1", "2"), f"the child's miss says the parent's copy's Age: "
                                              f"{r.get('Age')!r} ({r.get('Cache-Status')})")
            time.sleep(max(0.0, t2 + 1.2 - time.monotonic()))
            if time.monotonic() > t + 1.1 + MAX_AGE - 0.1:
                continue  # the fill took too long to tell the two apart
            r = child.get(path)
            eq(r.status, 200, "the child past max-age since the origin answered")
            check("child-a; fwd=stale" in (r.get("Cache-Status") or ""),
                  f"revalidated, not a hit: {r.get('Cache-Status')}, Age {r.get('Age')}")
            return
        check(False, "three rounds whose child fill took over 0.7 s")
    finally:
        child.stop()


@test
def stale_copy_says_its_age(e):
    """A stored manifest served past its max-age because its revalidation failed carries Age,
    past max-age, over HTTP/1.1 and h2 (it had none, and a cache in front took it as new)."""
    o, path = e.origin, "/nosha/staleage/manifest.mpd"
    o.add(path, b"<MPD stale age/>")
    o.mtimes[path] = T0
    eq(e.get(path).status, 200, "the miss")
    t = time.monotonic()
    stale(t)
    o.force = "e503"
    try:
        for h2 in (False, True):
            if h2:
                st, h, _ = h2_get(e, path)
                age, cs = h.get("age"), h.get("cache-status", "")
            else:
                r = e.get(path)
                st, age, cs = r.status, r.get("Age"), r.get("Cache-Status") or ""
            elapsed = time.monotonic() - t
            eq(st, 200, f"h2={h2}: the stored copy")
            check("upstream-failed" in cs, f"h2={h2}: Cache-Status {cs}")
            check(age is not None and age.isdigit() and
                  int(MAX_AGE) <= int(age) <= int(elapsed) + 1,
                  f"h2={h2}: Age {age!r} after {elapsed:.2f} s")
    finally:
        o.force = None


@test
def manifest_extension_in_capitals(e):
    """LIVE.MPD is a manifest as live.mpd is: max-age=2, and revalidated past it."""
    o, path = e.origin, "/nosha/caps/LIVE.MPD"
    o.add(path, b"<MPD one/>")
    o.mtimes[path] = T0
    r = e.get(path)
    t = time.monotonic()
    eq((r.status, r.get("Cache-Control")), (200, "public, max-age=2"), "the miss")
    o.add(path, b"<MPD two/>")
    o.mtimes[path] = T0 + 60
    stale(t)
    r = e.get(path)
    eq((r.status, r.body), (200, b"<MPD two/>"), "past max-age: the new bytes")
    eq(o.count(path), 2, "origin requests")


@test
def segments_never_revalidated(e):
    o, path = e.origin, "/nosha/r4/seg-1.m4s"
    o.add(path, b"segment bytes")
    eq(get(e, path)[0], 200, "the miss")
    t = time.monotonic()
    o.add(path, b"other bytes!!")
    stale(t)
    st, h, body = get(e, path)
    eq((st, body), (200, b"segment bytes"), "a segment past 2 s: the stored copy")
    eq(o.count(path), 1, "origin requests for a segment")


def setup(binary):
    o = Origin()
    e = Edge(binary, {"tokens": {"required": False}, "upstreams": [{"url": o.url}]})
    e.origin = o
    e.start()
    return e


if __name__ == "__main__":
    if not shutil.which("curl"):
        print("not ok - curl missing (tools/deps installs it)")
        sys.exit(1)
    sys.exit(run(setup))
