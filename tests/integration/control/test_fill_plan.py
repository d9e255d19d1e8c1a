# SPDX-License-Identifier: MIT
"""GET /v1/fill/plan against the real sluice-control on a private PostgreSQL: titles ranked by
decayed views in the edge's region, and scheduled releases pushed ahead of their date in
proportion to their expected demand (docs/control.md "Edges"):

- a movie licensed from an hour from now, not yet playable (451), is in the plan with the
  10th-ranked title's views × (1 − 0.5 · due / horizon), so it ranks among the watched titles
  instead of below all of them;
- a release due later ranks below the nearer one; one due beyond the horizon, one licensed
  only in another region, and one whose licence started yesterday (no views) are absent;
- a title with views of its own that returns in a new window carries its own demand;
- once the release's licence has started, it has only its views (none yet): gone;
- views decay: sessions one half-life old weigh half, two half-lives a quarter, and sessions
  older than a week not at all; at a 5-minute half-life a view 4 days old weighs nothing,
  and neither the plan nor trending fails on it.
- within an asset, init files, then segment 1 of every representation, then segment 2...:
  a plan cut short starts every rung;
- views count in their own region only: sessions from another region's clients do not
  raise a title in an edge's plan, the same sessions from the edge's region do.

GET /v1/catalog/trending on the same data: distinct sessions reporting in the last week,
each weighted by the age of its latest report (the same half-life); a profile never sees a
title above its maturity limit; a bad limit or profile is 400, an unknown profile 404.

    python3 test_fill_plan.py build/control/sluice-control
"""
import datetime
import json

import ctlharness as h
from ctlharness import check

HORIZON = 48 * 3600
HALFLIFE = 6 * 3600  # demand.halflife's default (control/ctl-cfg.c)


def rfc3339(seconds_from_now):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds_from_now)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def licence(ctl, title, *windows):
    """windows: (country, from seconds from now or None, until seconds from now or None)."""
    lic = []
    for country, frm, until in windows:
        w = {"country": country}
        if frm is not None:
            w["from"] = rfc3339(frm)
        if until is not None:
            w["until"] = rfc3339(until)
        lic.append(w)
    ctl.json("PUT", f"/v1/admin/titles/{title}/licences", {"licences": lic}, admin=True)


def plan(ctl, edge="edge-gb"):
    d = ctl.json("GET", f"/v1/fill/plan?edge={edge}", admin=True)
    scores = {}
    order = []
    for o in d["objects"]:
        if o["asset"] not in scores:
            scores[o["asset"]] = o["score"]
            order.append(o["asset"])
    return order, scores


def backdate(pg, table, column, title, seconds):
    n = pg.psql(f"WITH u AS (UPDATE {table} SET {column} = {column} - "
                f"make_interval(secs => {seconds}) WHERE title_id = '{title}' RETURNING 1) "
                "SELECT count(*) FROM u")
    check(int(n) > 0, f"nothing to backdate in {table} for {title}")


def test_decay(ctl, pg):
    """A session's weight in the plan is exp(-ln 2 * age / halflife): the scores so far are
    near plain counts (every session is seconds old); backdated, they halve per half-life."""
    _, before = plan(ctl)
    for t, n in (("w0", 11), ("w1", 10), ("w2", 9)):
        check(abs(before[t] - n) < 0.01, f"{t}: {n} new sessions weigh {n}: {before[t]}")
    backdate(pg, "sessions", "created_at", "w0", HALFLIFE)
    backdate(pg, "sessions", "created_at", "w1", 2 * HALFLIFE)
    backdate(pg, "sessions", "created_at", "w2", 8 * 86400)
    _, after = plan(ctl)
    ratio = after["w0"] / before["w0"]
    check(abs(ratio - 0.5) < 0.002, f"one half-life halves the weight: {ratio:.4f}")
    ratio = after["w1"] / before["w1"]
    check(abs(ratio - 0.25) < 0.002, f"two half-lives quarter it: {ratio:.4f}")
    check("w2" not in after, f"sessions older than a week do not count: {after}")
    check(abs(after["w3"] - before["w3"]) < 0.01, f"others unchanged: {after['w3']}")


def test_trending(ctl, pg):
    for t, rating in (("tr-adult", None), ("tr-r", "R"), ("tr-kids", "G")):
        h.register(ctl, t, metadata={"name": t, "maturity_rating": rating} if rating else None)
        licence(ctl, t, ("GB", None, None))
    sessions = {}
    for t, n in (("tr-adult", 5), ("tr-r", 3), ("tr-kids", 2)):
        sessions[t] = [ctl.json("POST", "/v1/playback", {"title": t})["session"]
                       for _ in range(n)]
        for sid in sessions[t]:
            for pos in (1.0, 2.0):  # two reports, one session: counted once
                ctl.json("POST", "/v1/playback/report", {"session": sid, "position": pos})

    def trending(query=""):
        items = ctl.json("GET", "/v1/catalog/trending" + query)["items"]
        return [i["id"] for i in items], {i["id"]: i["score"] for i in items}

    order, score = trending()
    check(order == ["tr-adult", "tr-r", "tr-kids"], f"by distinct reporting sessions: {order}")
    for t, n in (("tr-adult", 5), ("tr-r", 3), ("tr-kids", 2)):
        check(abs(score[t] - n) < 0.01, f"{t}: {n} sessions reporting now weigh {n}: {score}")
    # Decay by the age of each session's latest report.
    before = score["tr-adult"]
    backdate(pg, "playback_reports", "reported_at", "tr-adult", HALFLIFE)
    order, score = trending()
    ratio = score["tr-adult"] / before
    check(abs(ratio - 0.5) < 0.002, f"reports one half-life old weigh half: {ratio:.4f}")
    check(order == ["tr-r", "tr-adult", "tr-kids"], f"decayed below tr-r: {order}")
    order, _ = trending("?limit=1")
    check(order == ["tr-r"], f"limit: {order}")
    ctl.json("POST", "/v1/playback/report",
             {"session": sessions["tr-adult"][0], "position": 3.0})
    _, score = trending()
    check(abs(score["tr-adult"] - 3.0) < 0.01,
          f"a session reporting again weighs by its latest report (1 + 4 x 0.5): {score}")

    # Maturity: a kids profile sees only titles at or under its limit (1), a teen limit (3)
    # keeps out the unrated (4); none above, at any rank.
    kid = ctl.json("POST", "/v1/profiles", {"name": "kid", "kids": True})
    teen = ctl.json("POST", "/v1/profiles", {"name": "teen", "maturity_limit": 3})
    kq, tq = (f"{p['id']}&profile_key={p['key']}" for p in (kid, teen))  # each with its key
    order, _ = trending(f"?profile={kq}")
    check(order == ["tr-kids"], f"kids profile: {order}")
    order, _ = trending(f"?profile={kq}&limit=100")
    check(order == ["tr-kids"], f"kids profile, any limit: {order}")
    order, _ = trending(f"?profile={tq}")
    check(order == ["tr-r", "tr-kids"], f"limit 3: {order}")

    for q in ("?limit=0", "?limit=101", "?limit=-1", "?limit=abc", "?limit=1.5",
              "?limit=99999999999999999999", "?profile=abc", "?profile=-1",
              "?profile=" + "9" * 19):
        o = ctl.error("GET", "/v1/catalog/trending" + q, expect=400)
        check(o["error"] == "bad_request", f"{q}: {o}")
    o = ctl.error("GET", "/v1/catalog/trending?profile=999999", expect=404)
    check(o["error"] == "not_found", f"unknown profile: {o}")


def test_auth(ctl, pg):
    """The plan names unreleased titles with origin URLs: only the admin token, or the
    signature of the edge it is for (as heartbeats are signed, over the target with its query),
    gets it; everything else is 401 in the error shape (docs/control.md, "Fill plan
    authentication")."""
    import time
    now = lambda: int(time.time() * 1000)  # noqa: E731
    target = "/v1/fill/plan?edge=edge-gb&limit=5"

    def get(tgt, headers=None, **kw):
        return ctl.request("GET", tgt, headers=headers, **kw)

    def plan_refusals():
        text = ctl.json("GET", "/metrics").decode()
        for line in text.splitlines():
            if line.startswith("sluice_control_plan_refusals_total"):
                return int(float(line.split()[-1]))
        raise AssertionError("no fill plan refusal counter in /metrics")

    counted = [plan_refusals()]

    def refused(tgt, headers=None, what=""):
        st, hd, b = get(tgt, headers)
        counted[0] += 1
        check(plan_refusals() == counted[0], f"{what}: refusal not counted in /metrics")
        check(st == 401, f"{what}: expected 401, got {st}: {b[:200]!r}")
        check(hd.get("content-type") == "application/json" and hd.get("www-authenticate"),
              f"{what}: 401 headers {hd}")
        o = json.loads(b)
        check(set(o) == {"error", "detail"} and o["error"] == "unauthorized", f"{what}: {o}")
        check(b"objects" not in b and b"soon" not in b, f"{what}: plan content in a refusal")
        return o

    # Unauthenticated, a wrong bearer, a bearer-looking signature: 401.
    refused(target, what="no credentials")
    refused(target, {"Authorization": "Bearer not-the-admin-token-0123456789"}, "wrong token")
    refused("/v1/fill/plan", what="no edge, no credentials")
    # The admin token: any edge's plan.
    d = ctl.json("GET", target, admin=True)
    check(len(d["objects"]) == 5, f"admin plan {d}")

    # Two edges with their own secrets.
    sgb = "gb-secret-" + "0123456789" * 4
    sse = "se-secret-" + "abcdefghij" * 4
    ctl.register_edge("edge-gb", "eu-west", "http://127.0.0.1:1", secret=sgb)
    ctl.register_edge("edge-se", "eu-north", "http://127.0.0.1:2", secret=sse)
    # The edge's own signature over the target as sent: the same plan as the admin's.
    st, _, b = get(target, h.signed_headers(sgb, "GET", target, b"", now()))
    check(st == 200, f"signed by edge-gb: {st} {b[:200]!r}")
    check([o["path"] for o in json.loads(b)["objects"]] == [o["path"] for o in d["objects"]],
          "signed plan differs from the admin's")
    # The same signature again within the skew: a read, so not refused as a replay.
    hdrs = h.signed_headers(sgb, "GET", target, b"", now())
    check(get(target, hdrs)[0] == 200 and get(target, hdrs)[0] == 200, "a repeated signed GET")
    # edge-se's signature for edge-gb's plan, and edge-se's secret over edge-gb's target.
    refused(target, h.signed_headers(sse, "GET", target, b"", now()), "another edge's key")
    other = "/v1/fill/plan?edge=edge-se&limit=5"
    check(get(other, h.signed_headers(sse, "GET", other, b"", now()))[0] == 200,
          "edge-se's own plan")
    # A signature for one target does not cover another edge or another limit.
    refused(other, h.signed_headers(sgb, "GET", target, b"", now()), "edge-gb's sig, se's id")
    refused("/v1/fill/plan?edge=edge-gb&limit=6", hdrs, "another limit")
    # Bad signatures: wrong key, flipped digit, a heartbeat's, POST instead of GET, no time.
    refused(target, h.signed_headers("x" * 40, "GET", target, b"", now()), "wrong key")
    bad = dict(hdrs)
    bad["X-Sluice-Signature"] = ("0" if bad["X-Sluice-Signature"][0] != "0" else "1") + \
        bad["X-Sluice-Signature"][1:]
    refused(target, bad, "a changed digit")
    refused(target, h.signed_headers(sgb, "POST", target, b"", now()), "signed as POST")
    refused(target, h.heartbeat_headers(sgb, "edge-gb", b"", now()), "a heartbeat's")
    refused(target, {"X-Sluice-Signature": hdrs["X-Sluice-Signature"]}, "no time")
    refused(target, dict(hdrs, **{"X-Sluice-Time": "12x"}), "malformed time")
    # Outside heartbeat_skew (30 s by default), either way.
    for off in (-120_000, 120_000):
        t = now() + off
        o = refused(target, h.signed_headers(sgb, "GET", target, b"", t), f"skew {off}")
        check("skew" in o["detail"], f"skew detail {o}")
    # An unknown edge, signed: 401 like any refusal (an admin gets its 404).
    nope = "/v1/fill/plan?edge=nope"
    refused(nope, h.signed_headers(sgb, "GET", nope, b"", now()), "unknown edge")
    # An edge without a secret (registered before secrets existed): the admin token only.
    ctl.register_edge("edge-old", "eu-west", "http://127.0.0.1:3")
    pg.psql("DELETE FROM edge_secrets WHERE edge_id = 'edge-old'")
    old = "/v1/fill/plan?edge=edge-old"
    o = refused(old, h.signed_headers(h.Control.edge_secrets["edge-old"], "GET", old, b"",
                                      now()), "edge without a secret")
    check("admin token" in o["detail"], f"no-secret detail {o}")
    ctl.json("GET", old, admin=True)
    # A secret cached by this instance answers at once; a rotated one replaces it.
    r = ctl.register_edge("edge-gb", "eu-west", "http://127.0.0.1:1", rotate_secret=True)
    refused(target, h.signed_headers(sgb, "GET", target, b"", now()), "old secret, rotated")
    check(get(target, h.signed_headers(r["secret"], "GET", target, b"", now()))[0] == 200,
          "new secret after rotation")


def test_tz(ctl, pg):
    """An edge's time zone (migration 014): optional at registration, checked for its form
    and against the zones PostgreSQL knows, and named in the edge's plan as "tz", which
    sluice-fill runs the off-peak window in (fill-agent/plan.h)."""
    def stored(edge):
        return pg.psql(f"SELECT coalesce(tz, '<null>') FROM edges WHERE id = '{edge}'")

    # Registered without one: the plan says null.
    d = ctl.json("GET", "/v1/fill/plan?edge=edge-gb&limit=1", admin=True)
    check("tz" in d and d["tz"] is None, f"no tz: null in the plan {d}")
    # With one: stored, in the registration's answer, the audit line and the plan.
    mark = len(ctl.log)
    r = ctl.register_edge("edge-tz", "eu-west", "http://127.0.0.1:4", tz="Europe/London")
    check(r.get("tz") == "Europe/London" and stored("edge-tz") == "Europe/London",
          f"registered with a tz: {r}")
    ctl.wait_log(r"admin: edge edge-tz registered \(region eu-west, base_url "
                 r"http://127\.0\.0\.1:4, tz Europe/London, enabled", start=mark)
    d = ctl.json("GET", "/v1/fill/plan?edge=edge-tz&limit=1", admin=True)
    check(d["tz"] == "Europe/London" and d["edge"] == "edge-tz", f"plan tz {d}")
    # The edge's own signed plan request gets it too (sluice-edge and sluice-fill alike).
    tgt = "/v1/fill/plan?edge=edge-tz"
    import time
    st, _, b = ctl.request("GET", tgt, headers=h.signed_headers(
        h.Control.edge_secrets["edge-tz"], "GET", tgt, b"", int(time.time() * 1000)))
    check(st == 200 and json.loads(b)["tz"] == "Europe/London", f"signed plan: {st} {b[:200]!r}")
    # Every character the form allows, in real zone names.
    for z in ("America/Argentina/Buenos_Aires", "Etc/GMT+5", "Etc/GMT-14", "UTC", "EST5EDT"):
        r = ctl.register_edge("edge-tz", "eu-west", "http://127.0.0.1:4", tz=z)
        check(r["tz"] == z and ctl.json("GET", tgt, admin=True)["tz"] == z, f"tz {z}: {r}")
    # Refused, and nothing changes: a malformed name (400 from control) or one PostgreSQL
    # does not know (400 from the registration, rolled back).
    ctl.register_edge("edge-tz", "eu-west", "http://127.0.0.1:4", tz="Asia/Tokyo")
    for bad in ("Europe/Londn", "Mars/Olympus_Mons", "", "../../etc/passwd", "/etc/localtime",
                ":Europe/London", "Europe/London\n", "Europe London", "Europe/Lond%6Fn",
                "Europe/Z\u00fcrich", "9Europe/London", "A" * 65, 5, True, ["UTC"],
                {"name": "UTC"}):
        st, _, b = ctl.request("POST", "/v1/admin/edges",
                               {"id": "edge-tz", "region": "eu-north",
                                "base_url": "http://127.0.0.1:5", "tz": bad}, admin=True)
        check(st == 400, f"tz {bad!r}: {st} {b[:200]!r}")
        check(stored("edge-tz") == "Asia/Tokyo" and pg.psql(
            "SELECT region FROM edges WHERE id = 'edge-tz'") == "eu-west", f"tz {bad!r} changed it")
    o = ctl.error("POST", "/v1/admin/edges", {"id": "edge-tz", "region": "eu-west",
                                              "base_url": "http://127.0.0.1:4",
                                              "tz": "Europe/Londn"}, admin=True)
    check("unknown time zone" in o["detail"], f"unknown zone detail {o}")
    # The column refuses a malformed name whoever writes it.
    try:
        pg.psql("UPDATE edges SET tz = '../x' WHERE id = 'edge-tz'")
        check(False, "the column took '../x'")
    except h.Failure as e:
        check("check constraint" in str(e), f"not the column's check: {e}")
    # A registration states the whole edge: null, or left out, unsets it.
    r = ctl.register_edge("edge-tz", "eu-west", "http://127.0.0.1:4", tz=None)
    check(r["tz"] is None and stored("edge-tz") == "<null>", f"tz null: {r}")
    ctl.register_edge("edge-tz", "eu-west", "http://127.0.0.1:4", tz="Asia/Tokyo")
    r = ctl.register_edge("edge-tz", "eu-west", "http://127.0.0.1:4")
    check(r["tz"] is None and ctl.json("GET", tgt, admin=True)["tz"] is None,
          f"tz left out: {r}")


def test_region(ctl, pg):
    """Views count for the plans of edges in the viewers' region only (sluice_fill_plan,
    s.region = e.region): sessions from Swedish clients (10.1.0.0/16, eu-north in the
    harness's country_prefixes, given by X-Forwarded-For through the trusted proxy
    127.0.0.2) raise a title in an eu-north edge's plan and not in the eu-west one's; the
    same number from British clients (loopback, eu-west) raise it in the eu-west plan and
    leave the eu-north one as it was."""
    import http.client
    ctl.register_edge("edge-north", "eu-north", "http://127.0.0.1:6")
    h.register(ctl, "rg")
    licence(ctl, "rg", ("GB", None, None), ("SE", None, None))

    def play(xff=None):
        c = http.client.HTTPConnection("127.0.0.1", ctl.port, timeout=10,
                                       source_address=("127.0.0.2" if xff else "127.0.0.1", 0))
        st, _, b = ctl.request("POST", "/v1/playback", {"title": "rg"}, conn=c,
                               headers={"X-Forwarded-For": xff} if xff else None)
        c.close()
        check(st == 200, f"play rg from {xff or 'loopback'}: {st} {b[:200]!r}")
        return json.loads(b)["country"]

    def rg_score(edge):
        _, scores = plan(ctl, edge)
        return scores.get("rg", 0)

    check(rg_score("edge-gb") == 0 and rg_score("edge-north") == 0, "rg unwatched: in no plan")
    for i in range(3):
        check(play(f"10.1.0.{i + 1}") == "SE", "a Swedish client")
    check(pg.psql("SELECT string_agg(DISTINCT region, ',') FROM sessions WHERE title_id = 'rg'")
          == "eu-north", "Swedish sessions are eu-north's")
    north = rg_score("edge-north")
    check(abs(north - 3) < 0.01, f"3 eu-north views in the eu-north plan: {north}")
    check(rg_score("edge-gb") == 0, f"eu-north views raise rg in the eu-west plan: "
          f"{plan(ctl, 'edge-gb')[1]}")
    for _ in range(3):
        check(play() == "GB", "a British client")
    west = rg_score("edge-gb")
    check(abs(west - 3) < 0.01, f"3 eu-west views in the eu-west plan: {west}")
    north = rg_score("edge-north")
    check(abs(north - 3) < 0.02, f"eu-west views changed the eu-north plan: {north}")


def test_underflow(binary, tmp, pg):
    """demand.halflife may be a minute: a view a thousand half-lives old weighs nothing, and
    PostgreSQL's exp() raised "value out of range: underflow" for it, which failed every fill
    plan of the region and every trending page (400). With a 5-minute half-life, a session and
    a report 4 days old are now answered, weighing nothing. And a fault of that kind in a
    server-side computation is control's (500, nothing of the database's text), not the
    client's (400)."""
    c = h.Control(binary, tmp, pg, name="ctl-decay", extra_cfg="demand: {halflife: 5m}\n").start()
    h.register(c, "aged")
    licence(c, "aged", ("GB", None, None))
    sid = c.json("POST", "/v1/playback", {"title": "aged"})["session"]
    c.json("POST", "/v1/playback/report", {"session": sid, "position": 1.0})
    backdate(pg, "sessions", "created_at", "aged", 4 * 86400)
    backdate(pg, "playback_reports", "reported_at", "aged", 4 * 86400)
    st, _, b = c.request("GET", "/v1/fill/plan?edge=edge-gb&limit=1000", admin=True)
    check(st == 200, f"fill plan with a view 4 days old at a 5m half-life: {st} {b[:200]!r}")
    scores = {o["asset"]: o["score"] for o in json.loads(b)["objects"]}
    check(scores.get("aged", 0) == 0, f"a view 1,152 half-lives old weighs nothing: {scores}")
    st, _, b = c.request("GET", "/v1/catalog/trending?limit=100")
    check(st == 200, f"trending with a report 4 days old at a 5m half-life: {st} {b[:200]!r}")
    items = {i["id"]: i["score"] for i in json.loads(b)["items"]}
    check(items.get("aged", 0) == 0, f"a report 1,152 half-lives old weighs nothing: {items}")

    # An arithmetic fault in a function (here one made to fail) is answered 500 "internal".
    saved = pg.psql("SELECT pg_get_functiondef('sluice_genres(bigint)'::regprocedure)")
    pg.psql("CREATE OR REPLACE FUNCTION sluice_genres(p_profile bigint) RETURNS jsonb "
            "LANGUAGE sql STABLE AS $$ SELECT jsonb_build_object('x', exp(-1000::float8)) $$")
    try:
        o = c.error("GET", "/v1/catalog/genres", expect=500)
        check(o == {"error": "internal", "detail": "database error"}, f"a server fault: {o}")
        c.wait_log(r"database error 22003: value out of range: underflow")
    finally:
        pg.psql(saved)
    check("genres" in c.json("GET", "/v1/catalog/genres"), "genres restored")
    check(c.stop() == 0, "SIGTERM exits 0 (decay)")


def test_file_order(ctl):
    """Within an asset, the plan names init files first, then segment 1 of every
    representation, then segment 2, and so on: a plan cut short (sluice-fill takes it in
    order) starts every rung. By length of path, a 120-segment title cut at 130 objects held
    121 audio objects, 8 at 240p and none at 360p."""
    h.register(ctl, "long", segments=120)
    licence(ctl, "long", ("GB", None, None))
    for _ in range(30):  # above every other title here
        ctl.json("POST", "/v1/playback", {"title": "long"})
    objs = ctl.json("GET", "/v1/fill/plan?edge=edge-gb&limit=130", admin=True)["objects"]
    check(len(objs) == 130 and all(o["asset"] == "long" for o in objs),
          f"the plan's first 130 are long's: {[o['path'] for o in objs[:5]]}")
    paths = [o["path"][len("long/"):] for o in objs]
    reps = ("audio-en", "video-240p", "video-360p")
    counts = {r: sum(p.startswith(r + "/seg-") for p in paths) for r in reps}
    check(counts == {r: 42 for r in reps}, f"segments per rung in 130 objects: {counts}")
    check(paths[:3] == [f"{r}/init.mp4" for r in reps], f"init files first: {paths[:4]}")
    check(paths[3] == "text-en/subtitles.vtt", f"then the file without a number: {paths[:5]}")
    want = [f"{r}/seg-{n}.m4s" for n in range(1, 43) for r in reps]
    check(paths[4:] == want, f"then segment by segment, every rung: {paths[4:12]}")


def test_unlicensed(ctl):
    """Views predict demand only while the title can be played in the edge's region: a title
    whose licence there has ended (and is not due back within the horizon), or which is now
    licensed only in another region's countries, is out of the plan, however much it was
    watched; the edge would hold files no player of its region may fetch."""
    for t in ("ended", "moved"):
        h.register(ctl, t)
        licence(ctl, t, ("GB", None, None))
        for _ in range(40):  # above every other title here
            ctl.json("POST", "/v1/playback", {"title": t})
    _, scores = plan(ctl)
    check(scores.get("ended", 0) > 30 and scores.get("moved", 0) > 30,
          f"both watched and licensed: in the plan {scores}")
    licence(ctl, "ended", ("GB", -86400, -60))
    licence(ctl, "moved", ("SE", None, None))
    ctl.error("POST", "/v1/playback", {"title": "ended"}, expect=451)
    ctl.error("POST", "/v1/playback", {"title": "moved"}, expect=451)
    order, scores = plan(ctl)
    check("ended" not in scores, f"licence ended in the region: still in the plan {order}")
    check("moved" not in scores, f"licensed only elsewhere: still in the eu-west plan {order}")
    check("back" in scores, f"a returning title keeps its views: {order}")


def main(binary, tmp):
    pg = h.Postgres(tmp)
    ctl = h.Control(binary, tmp, pg).start()
    ctl.json("POST", "/v1/admin/edges", {"id": "edge-gb", "region": "eu-west",
                                         "base_url": "http://127.0.0.1:1"}, admin=True)

    # Eleven watched titles: w0 with 11 sessions down to w10 with 1; the 10th is w9 (2).
    for i in range(11):
        h.register(ctl, f"w{i}")
        licence(ctl, f"w{i}", ("GB", None, None))
        for _ in range(11 - i):
            ctl.json("POST", "/v1/playback", {"title": f"w{i}"})
    for t, windows in [("soon", [("GB", 3600, None)]),
                       ("later", [("GB", 40 * 3600, None)]),
                       ("far", [("GB", 72 * 3600, None)]),
                       ("abroad", [("SE", 3600, None)]),
                       ("started", [("GB", -86400, None)])]:
        h.register(ctl, t)
        licence(ctl, t, *windows)
    ctl.error("POST", "/v1/playback", {"title": "soon"}, expect=451)

    order, scores = plan(ctl)
    tenth = scores["w9"]
    check(abs(tenth - 2.0) < 0.01, f"w9's decayed views: {tenth}")
    want = tenth * (1 - 0.5 * 3600 / HORIZON)
    check(abs(scores.get("soon", 0) - want) < 0.01,
          f"the release due in 1 h scores {want:.3f}: {scores}")
    check(order.index("w8") < order.index("soon") < order.index("w10"),
          f"the release ranks among the watched titles: {order}")
    want = tenth * (1 - 0.5 * 40 * 3600 / HORIZON)
    check(abs(scores.get("later", 0) - want) < 0.01, f"due in 40 h scores {want:.3f}: {scores}")
    check(order.index("soon") < order.index("later"), f"the nearer release first: {order}")
    for t in ("far", "abroad", "started"):
        check(t not in scores, f"{t} is not in the plan: {order}")
    check(order[0] == "w0", f"the most watched first: {order}")

    # A returning title: watched, its window over, back from an hour from now. Its expected
    # demand is its own views (5 sessions' worth), above the 10th title's.
    h.register(ctl, "back")
    licence(ctl, "back", ("GB", None, None))
    for _ in range(5):
        ctl.json("POST", "/v1/playback", {"title": "back"})
    licence(ctl, "back", ("GB", -86400, -3600), ("GB", 3600, None))
    order, scores = plan(ctl)
    want = 5 + 5 * (1 - 0.5 * 3600 / HORIZON)
    check(abs(scores.get("back", 0) - want) < 0.02,
          f"a returning title: its views plus its own demand as a release ({want:.3f}): {scores}")

    # The release's date has come: licensed from now, no views, so no longer in the plan.
    licence(ctl, "soon", ("GB", -1, None))
    order, scores = plan(ctl)
    check("soon" not in scores, f"released, not watched: out of the plan: {order}")
    check("later" in scores, "the other release is still pushed")

    test_decay(ctl, pg)
    test_trending(ctl, pg)

    # The plan's limit and an unknown edge.
    d = ctl.json("GET", "/v1/fill/plan?edge=edge-gb&limit=3", admin=True)
    check(len(d["objects"]) == 3, f"limit: {len(d['objects'])}")
    ctl.error("GET", "/v1/fill/plan?edge=nope", expect=404, admin=True)
    ctl.error("GET", "/v1/fill/plan?edge=edge-gb&limit=0", admin=True)
    test_auth(ctl, pg)
    test_tz(ctl, pg)
    test_region(ctl, pg)
    test_underflow(binary, tmp, pg)
    test_file_order(ctl)
    test_unlicensed(ctl)
    print(json.dumps({"plan": order}))
    ctl.stop()
    pg.stop()


if __name__ == "__main__":
    h.run(main)
