#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Steering and manifests with a fleet whose edges hold many titles: 40 edges of 20,000
titles each and one of 100,000 (the most a heartbeat carries). Each answers 200, on an
instance with the default cache_ttl (background refresh) and on one with the cache off (the
edge set read for every request); the edge set once shipped every edge's whole holdings on
every read, which took longer than database_pool.timeout (1 s here), so control gave up on
the query and answered 503. The status is what is asserted, not a duration (the answer's
time, printed, moves with the machine's load).

A read ships at most 200,000 titles of holdings (CTL_HOLDINGS_PER_READ, migration 031), so a
start's first read no longer carries the whole fleet's 900,000: that one read took 1.1-1.3 s
on a loaded machine, was answered 503, and the next read asked for everything again. What
sluice_edges_held ships is checked in the database: the changed edges oldest change first
(hx-000, its titles rewritten last, comes last) up to the budget, the first whatever its
size, all of them without one.

Holdings still rank: all edges are alike but for the title, so the one holding the session's
title comes first once its holdings arrived (it would come last by id without them), and
when the holdings change (a row rewritten behind control's back, then a signed heartbeat)
the ranking follows."""
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from ctlharness import Control, Postgres, check, metric, register, run  # noqa: E402

EDGES = 40
TITLES = 20000
BIG = 100000
DB_TIMEOUT_S = 1.0
BUDGET = 200000  # CTL_HOLDINGS_PER_READ
# default cache_ttl (1 s), and the reads the holdings take at BUDGET a read, 2 a second
SLOWEST = [0.0]  # the slowest answer, printed
WARM_WAIT = 1.0 + 3.0 + (EDGES * TITLES + BIG) / BUDGET / 2


def fill(pg, edge, n, held, first=1):
    """edge's health row: alive, load 0.1, n titles from title-<first> on, with hmovie among
    them when held."""
    extra = "ARRAY['hmovie']" if held else "'{}'::text[]"
    pg.psql(f"INSERT INTO edge_health (edge_id, at, load, titles) "
            f"SELECT '{edge}', now(), 0.1, array_agg('title-' || lpad(j::text, 7, '0')) || {extra} "
            f"FROM generate_series({first}, {first + n - 1}) j "
            f"ON CONFLICT (edge_id) DO UPDATE SET at = EXCLUDED.at, load = EXCLUDED.load, "
            f"titles = EXCLUDED.titles")


def timed(ctl, path, what):
    t = time.monotonic()
    code, _, body = ctl.request("GET", path)
    took = time.monotonic() - t
    check(code == 200, f"{what}: {code} after {took:.2f} s: {body[:200]!r}")
    SLOWEST[0] = max(SLOWEST[0], took)
    return body, took


def first_edges(ctl, sid, what):
    """The first pathway of steering and of the MPD, each answered 200."""
    body, _ = timed(ctl, f"/v1/steering/{sid}", f"{what}: steering")
    steer = json.loads(body)["PATHWAY-PRIORITY"]
    body, _ = timed(ctl, f"/v1/manifest/{sid}.mpd", f"{what}: manifest")
    mpd = re.findall(r'serviceLocation="([^"]+)"', body.decode())
    check(steer and mpd, f"{what}: edges ranked: {steer}, {mpd}")
    return steer[0], mpd[0]


def follows(ctl, sid, want, what):
    deadline = time.monotonic() + WARM_WAIT
    while True:
        got = first_edges(ctl, sid, what)
        if got == (want, want) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    check(got == (want, want), f"{what}: {want} first in steering and the MPD, got {got}")


def shipped(pg):
    """What sluice_edges_held ships to an instance holding nothing, by budget."""
    def rows(budget):
        out = pg.psql(f"SELECT edge, cardinality(string_to_array(titles, E'\\n')) "
                      f"FROM sluice_edges_held(60, '{{}}'::jsonb, {budget}) WHERE doc IS NULL")
        return [(e, int(n)) for e, n in (line.split("|") for line in out.splitlines())]
    got = rows(BUDGET)
    want = [(f"hx-{i:03d}", TITLES) for i in range(1, BUDGET // TITLES + 1)]
    check(got == want, f"budget {BUDGET}: the edges changed longest ago up to it, got "
          f"{got[:3]}... ({len(got)} edges, {sum(n for _, n in got)} titles)")
    got = rows(1)
    check(got == [("hx-001", TITLES)], f"budget 1: the first edge whatever its size, got {got}")
    got = rows("NULL")
    check(len(got) == EDGES + 1 and got[-2:] == [("hz-big", BIG), ("hx-000", TITLES)],
          f"no budget: every edge, the last changed last, got {len(got)} ending {got[-2:]}")
    known = pg.psql("SELECT json_object_agg(edge_id, titles_gen) FROM edge_health "
                    "WHERE edge_id < 'hx-039'")
    got = [e for e, _ in
           (line.split("|") for line in pg.psql(
               f"SELECT edge, titles_gen FROM sluice_edges_held(60, '{known}'::jsonb, "
               f"{BUDGET}) WHERE doc IS NULL").splitlines())]
    check(got == ["hx-039", "hz-big"], f"only the edges not held, got {got}")
    n = pg.psql("SELECT count(*) FROM edge_health WHERE titles_n <> cardinality(titles)")
    check(n == "0", f"titles_n is each row's number of titles: {n} rows differ")


def main(binary, tmp):
    pg = Postgres(tmp)
    admin = Control(binary, tmp, pg, name="ctl-admin").start()
    register(admin, "hmovie")
    admin.json("PUT", "/v1/admin/titles/hmovie/licences", {"licences": [{"country": "GB"}]},
               admin=True)
    ids = [f"hx-{i:03d}" for i in range(EDGES)] + ["hz-big"]
    for e in ids:
        admin.register_edge(e, "eu-west", f"http://{e}.test:8080", capacity_mbps=1000)
    # hz-big, last by id, holds 100,000 titles and hmovie; the others 20,000, not hmovie.
    for e in ids[:-1]:
        fill(pg, e, TITLES, False)
    fill(pg, "hz-big", BIG - 1, True)
    fill(pg, "hx-000", TITLES, False, first=TITLES + 1)  # changed last
    sid = admin.json("POST", "/v1/playback", {"title": "hmovie"})["session"]

    shipped(pg)

    warm = Control(binary, tmp, pg, name="ctl-warm", cache_ttl=None,
                   db_timeout=f"{int(DB_TIMEOUT_S * 1000)}ms").start()
    cold = Control(binary, tmp, pg, name="ctl-cold",
                   db_timeout=f"{int(DB_TIMEOUT_S * 1000)}ms").start()
    instances = {"cache_ttl default": warm, "cache_ttl 0": cold}
    # The instance without a cache reads the edge set for each answer only: its holdings come
    # BUDGET titles a read, and the gauge says how many edges' are still to come.
    behind = "sluice_control_edge_holdings_behind"
    check(metric(cold, behind) == 0, "no edge behind before the first read")
    timed(cold, f"/v1/steering/{sid}", "cache_ttl 0, the first read: steering")
    got = metric(cold, behind)
    check(got == EDGES + 1 - BUDGET // TITLES,
          f"after one read, {EDGES + 1 - BUDGET // TITLES} edges' holdings still to come: {got}")
    for name, ctl in instances.items():
        follows(ctl, sid, "hz-big", f"{name}, after its start")
        for i in range(5):
            s, m = first_edges(ctl, sid, f"{name} #{i}")
            check((s, m) == ("hz-big", "hz-big"),
                  f"{name}: the edge holding the title first, got {s} and {m}")

    # The title moves to hx-007: a row rewritten behind control's back, then hx-007 loses it
    # and hx-011 gains it by signed heartbeats.
    fill(pg, "hz-big", BIG - 1, False)
    fill(pg, "hx-007", TITLES, True)
    for name, ctl in instances.items():
        follows(ctl, sid, "hx-007", f"{name}, after the rows changed")
    admin.heartbeat("hx-007", {"load": 0.1, "titles": ["title-0000001"]})
    admin.heartbeat("hx-011", {"load": 0.1, "titles": ["title-0000001", "hmovie"]})
    for name, ctl in instances.items():
        follows(ctl, sid, "hx-011", f"{name}, after the heartbeats")
    for name, ctl in instances.items():
        check(metric(ctl, behind) == 0, f"{name}: no edge's holdings still to come")
    print(f"slowest answer {SLOWEST[0]:.3f} s")
    for ctl in (warm, cold, admin):
        check(ctl.stop() == 0, "each instance exits 0")


run(main)
