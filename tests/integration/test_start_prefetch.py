# SPDX-License-Identifier: MIT
"""Start prefetch: when a player starts a representation the edge fills its first segments
(cache.prefetch_start of them) before they are asked for, so the player's first segment
requests are hits. Observed at a counting origin and in Cache-Status.

  init_starts_title:   an init request marked CMCD su from a new session: seg-1 and seg-2 are
                       fetched from the origin once, before they are asked; then they are hits
  second_init_in_window: the session's other init (audio) right after its first: prefetched too
  switch_after_window: the same session's init of another rung 3 s later (a rung switch, which
                       dash.js marks su as well): not a start, nothing prefetched
  media_start:         a media request marked su (a resume or a seek to seg-5): seg-6 (its nor)
                       and seg-7
  header_mode:         the same start with CMCD in headers (the session id in CMCD-Session)
  not_a_start:         no CMCD, CMCD without su, an init without a session id: nothing
  turned_off:          cache.prefetch_start 0: nothing, while nor still works
"""

import time
import urllib.parse

import edgeharness
from edgeharness import check, eq, expect_body, test
from test_miss import RNG, counters, delta, main, start_edge
from test_miss_prefetch import wait_count, wait_metric

edgeharness._tests.clear()  # the imported files' tests run in their own files

STARTS = "sluice_edge_start_prefetches_total"
COMMITTED = ("sluice_edge_fills_total", 'result="committed"')
SEG = 20_000


def rendition(o, base, first=1, n=3):
    """An init and segments first..first+n-1 at the origin under base; returns the bodies."""
    bodies = {"init.mp4": o.add(f"{base}/init.mp4", RNG.randbytes(800))}
    for i in range(first, first + n):
        bodies[f"seg-{i}.m4s"] = o.add(f"{base}/seg-{i}.m4s", RNG.randbytes(SEG))
    return bodies


def cmcd(value):
    """The CMCD query argument as dash.js sends it (query mode)."""
    return "?CMCD=" + urllib.parse.quote(value, safe="")


def start_query(sid):
    """What dash.js sends with an init segment request: ot=i, its session id and su."""
    return cmcd(f'ot=i,sid="{sid}",su')


@test
def init_starts_title(ctx):
    o, e = ctx.origin, ctx.edge
    b = rendition(o, "/ok/spa/v1")
    before = counters(e)
    r = e.get("/ok/spa/v1/init.mp4" + start_query("sa"))
    expect_body(r, b["init.mp4"], "the init segment")
    wait_count(o, "/ok/spa/v1/seg-1.m4s", 1, "seg-1 fetched before it is asked")
    wait_count(o, "/ok/spa/v1/seg-2.m4s", 1, "seg-2 fetched before it is asked")
    wait_metric(e, COMMITTED, 3, before, "init and both prefetches committed")
    for name in ("seg-1.m4s", "seg-2.m4s"):
        r = e.get(f"/ok/spa/v1/{name}")
        expect_body(r, b[name], name)
        check(r.need("Cache-Status").endswith("; hit"), f"{name} a hit: {r.get('Cache-Status')!r}")
        eq(o.count(f"/ok/spa/v1/{name}"), 1, f"origin fetches of {name}")
    eq(o.count("/ok/spa/v1/seg-3.m4s"), 0, "no more than cache.prefetch_start (2) segments")
    eq(delta(before, counters(e), STARTS), 2.0, "start prefetches counted")


@test
def header_mode(ctx):
    """dash.js in header mode sends su in CMCD-Request and the session id in CMCD-Session."""
    o, e = ctx.origin, ctx.edge
    rendition(o, "/ok/sph/v1")
    before = counters(e)
    e.get("/ok/sph/v1/init.mp4", headers=[("CMCD-Object", "ot=i"), ("CMCD-Request", "su"),
                                          ("CMCD-Session", 'sid="sh"')])
    wait_count(o, "/ok/sph/v1/seg-1.m4s", 1, "seg-1 fetched before it is asked")
    wait_count(o, "/ok/sph/v1/seg-2.m4s", 1, "seg-2 fetched before it is asked")
    wait_metric(e, COMMITTED, 3, before, "init and both prefetches committed")
    eq(delta(before, counters(e), STARTS), 2.0, "start prefetches counted")


@test
def second_init_in_window(ctx):
    o, e = ctx.origin, ctx.edge
    rendition(o, "/ok/spb/video")
    audio = rendition(o, "/ok/spb/audio")
    before = counters(e)
    e.get("/ok/spb/video/init.mp4" + start_query("sb"))
    r = e.get("/ok/spb/audio/init.mp4" + start_query("sb"))
    expect_body(r, audio["init.mp4"], "the audio init")
    wait_count(o, "/ok/spb/audio/seg-1.m4s", 1, "the audio start prefetched")
    wait_count(o, "/ok/spb/video/seg-1.m4s", 1, "the video start prefetched")
    wait_metric(e, COMMITTED, 6, before, "both inits and their prefetches committed")


@test
def switch_after_window(ctx):
    o, e = ctx.origin, ctx.edge
    rendition(o, "/ok/spc/v1")
    rendition(o, "/ok/spc/v2")
    e.get("/ok/spc/v1/init.mp4" + start_query("sc"))
    wait_count(o, "/ok/spc/v1/seg-1.m4s", 1, "the start prefetched")
    # The start window is a span of time (3 s): waiting it out is the condition itself.
    time.sleep(3.2)
    before = counters(e)
    e.get("/ok/spc/v2/init.mp4" + start_query("sc"))
    # Positive control on the same worker: a new session's start after the switch.
    rendition(o, "/ok/spc/v3")
    e.get("/ok/spc/v3/init.mp4" + start_query("sc-new"))
    wait_count(o, "/ok/spc/v3/seg-1.m4s", 1, "the control start prefetched")
    wait_count(o, "/ok/spc/v3/seg-2.m4s", 1, "the control start prefetched (seg-2)")
    eq(o.count("/ok/spc/v2/seg-1.m4s"), 0, "a rung switch is not a start")
    eq(delta(before, counters(e), STARTS), 2.0, "only the control's prefetches counted")


@test
def media_start(ctx):
    o, e = ctx.origin, ctx.edge
    b = rendition(o, "/ok/spd/v1", first=5, n=4)
    before = counters(e)
    q = cmcd('nor="seg-6.m4s",sid="sd",su')
    expect_body(e.get("/ok/spd/v1/seg-5.m4s" + q), b["seg-5.m4s"], "the start segment")
    wait_count(o, "/ok/spd/v1/seg-6.m4s", 1, "seg-6 (nor) fetched")
    wait_count(o, "/ok/spd/v1/seg-7.m4s", 1, "seg-7 fetched")
    # Fills of earlier tests may still be committing, so the fill counter cannot say when
    # these are in: asked now, seg-7 is a hit or joins its prefetch, never a second fetch.
    expect_body(e.get("/ok/spd/v1/seg-7.m4s"), b["seg-7.m4s"], "seg-7")
    eq(o.count("/ok/spd/v1/seg-7.m4s"), 1, "origin fetches of seg-7")
    eq(o.count("/ok/spd/v1/seg-8.m4s"), 0, "two segments after the start, no more")
    eq(o.count("/ok/spd/v1/seg-6.m4s"), 1, "nor and start collapse into one fetch")


@test
def not_a_start(ctx):
    o, e = ctx.origin, ctx.edge
    for d in ("a", "b", "c"):
        rendition(o, f"/ok/spe/{d}")
    e.get("/ok/spe/a/init.mp4")                                          # no CMCD
    e.get("/ok/spe/b/init.mp4" + cmcd('ot=i,sid="se"'))                 # no su
    e.get("/ok/spe/c/init.mp4" + cmcd("ot=i,su"))                       # no session id
    rendition(o, "/ok/spe/ctl")
    e.get("/ok/spe/ctl/init.mp4" + start_query("se-ctl"))
    wait_count(o, "/ok/spe/ctl/seg-2.m4s", 1, "the control start prefetched")
    for d in ("a", "b", "c"):
        eq(o.count(f"/ok/spe/{d}/seg-1.m4s"), 0, f"{d}: no start prefetch")


@test
def turned_off(ctx):
    o = ctx.origin
    e = start_edge(ctx.binary, o, {"cache": {"prefetch_start": 0}})
    ctx.others.append(e)
    rendition(o, "/ok/spf/v1")
    before = counters(e)
    e.get("/ok/spf/v1/init.mp4" + start_query("sf"))
    e.get("/ok/spf/v1/seg-1.m4s" + cmcd('nor="seg-2.m4s",sid="sf",su'))
    wait_count(o, "/ok/spf/v1/seg-2.m4s", 1, "nor still prefetches")
    eq(o.count("/ok/spf/v1/seg-3.m4s"), 0, "no start prefetch")
    eq(o.count("/ok/spf/v1/seg-1.m4s"), 1, "seg-1 fetched when asked, not before")
    eq(delta(before, counters(e), STARTS), 0.0, "no start prefetch counted")


if __name__ == "__main__":
    main()
