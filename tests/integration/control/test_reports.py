# SPDX-License-Identifier: MIT
"""sluice-control's playback reports against a real PostgreSQL: continue-watching, resume
positions, the per-session report limit, and the profile key that guards them."""
import hashlib
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from apisetup import pb, pq, setup_catalog, stop_clean
from ctlharness import Control, Postgres, check, metric, row_id, run


def test_reports(ctl, pg, adult):
    tv = ctl.json("POST", "/v1/playback", {"title": "movie1", **pb(adult)})
    ctl.json("POST", "/v1/playback/report", {"session": tv["session"], "position": 7.5,
                                             "quality": "720p", "device": "tv"})
    cw = ctl.json("GET", f"/v1/continue-watching?{pq(adult)}")
    item = [i for i in cw["items"] if i["title"] == "movie1"][0]
    check(item["position"] == 7.5 and item["device"] == "tv", "continue watching")
    # The report row itself: what was sent, in the day's own partition (made ahead by
    # sluice_report_partitions at start), not the default one that only catches strays.
    row = pg.psql("SELECT tableoid::regclass, to_char(reported_at, 'YYYYMMDD'), "
                  "abs(extract(epoch FROM now() - reported_at)) < 60, position, quality, device "
                  f"FROM playback_reports WHERE session_id = '{row_id(tv['session'])}'")
    part, day, recent, pos, quality, device = row.split("|")
    check(recent == "t" and pos == "7.5" and quality == "720p" and device == "tv",
          f"report row {row!r}")
    check(part == f"playback_reports_{day}", f"a report made now is in {part}, not its day's")
    check(pg.psql("SELECT count(*) FROM playback_reports_default") == "0",
          "reports in the default partition")
    phone = ctl.json("POST", "/v1/playback", {"title": "movie1", **pb(adult)})
    check(phone["resume_position"] == 7.5, "a report from a TV is visible to the phone at once")
    ep = ctl.json("POST", "/v1/playback", {"title": "show1", "episode": "show1-s1e2",
                                           **pb(adult)})
    ctl.json("POST", "/v1/playback/report", {"session": ep["session"], "position": 4,
                                             "device": "phone"})
    cw = ctl.json("GET", f"/v1/continue-watching?{pq(adult)}")
    check(cw["items"][0]["title"] == "show1" and cw["items"][0]["episode"] == "show1-s1e2",
          "most recent first, with the episode")
    again = ctl.json("POST", "/v1/playback", {"title": "show1", **pb(adult)})
    check(again["episode"] == "show1-s1e2" and again["resume_position"] == 4,
          "series resumes at the episode in progress")
    tr = ctl.json("GET", "/v1/catalog/trending")
    check({t["id"] for t in tr["items"]} >= {"movie1", "show1"}, f"trending {tr}")
    stored = metric(ctl, "sluice_control_reports_total")
    ctl.error("POST", "/v1/playback/report", {"session": tv["session"]})
    ctl.error("POST", "/v1/playback/report", {"session": tv["session"], "position": -1})
    # Past the title's duration: the database refuses it (it was counted all the same).
    ctl.error("POST", "/v1/playback/report", {"session": tv["session"], "position": 99999},
              expect=400)
    ctl.error("POST", "/v1/playback/report", {"session": "0" * 32, "position": 1}, expect=404)
    ctl.error("POST", "/v1/playback/report", {"session": "x", "position": 1}, expect=404)
    check(metric(ctl, "sluice_control_reports_total") == stored,
          f"reports refused are not counted: {stored} before, "
          f"{metric(ctl, 'sluice_control_reports_total')} after")
    ctl.json("POST", "/v1/playback/report", {"session": tv["session"], "position": 8})
    check(metric(ctl, "sluice_control_reports_total") == stored + 1, "a report stored counted")
    ctl.error("GET", "/v1/continue-watching")
    ctl.error("GET", "/v1/continue-watching?profile=12345", expect=404)


def test_finished_leaves(ctl, adult):
    """A movie watched to its end (within 30 s or 5% of it, where resume_position starts
    again) leaves continue-watching; a start and a report put it back."""
    def listed():
        o = ctl.json("GET", f"/v1/continue-watching?{pq(adult)}")
        return [i["position"] for i in o["items"] if i["title"] == "kidsmovie"]

    def report(position):
        s = ctl.json("POST", "/v1/playback", {"title": "kidsmovie", **pb(adult)})
        ctl.json("POST", "/v1/playback/report", {"session": s["session"], "position": position})
        return s["resume_position"]

    # kidsmovie is 12 s: finished past 11.4 s.
    for position, want in ((5, [5]), (11.5, []), (6, [6]), (12, [])):
        report(position)
        check(listed() == want, f"reported at {position}: listed {listed()}, want {want}")
    check(report(3) == 0, "a finished movie starts again from 0")
    check(listed() == [3], f"started again and reported: listed {listed()}")


def test_continue_pages(ctl):
    """Continue-watching pages with limit and offset, as browse does: pages in the list's
    order (most recent first), none repeated or skipped."""
    p = ctl.json("POST", "/v1/profiles", {"name": "Pager"})
    titles = ("movie1", "kidsmovie", "show1")
    for t in titles:
        s = ctl.json("POST", "/v1/playback", {"title": t, **pb(p)})
        ctl.json("POST", "/v1/playback/report", {"session": s["session"], "position": 2})
    whole = [i["title"] for i in ctl.json("GET", f"/v1/continue-watching?{pq(p)}")["items"]]
    check(whole == list(reversed(titles)), f"the whole list: {whole}")
    pages = [[i["title"] for i in ctl.json(
        "GET", f"/v1/continue-watching?{pq(p)}&limit=2&offset={o}")["items"]] for o in (0, 2, 4)]
    check(pages == [whole[:2], whole[2:], []], f"pages of 2: {pages}")
    for bad in ("-1", "100001", "x", ""):
        o = ctl.error("GET", f"/v1/continue-watching?{pq(p)}&offset={bad}")
        check("offset" in o["detail"], f"offset={bad!r}: {o}")


def test_report_limit(binary, tmp, pg):
    """A session's reports beyond report_burst (10 by default) within report_interval are
    answered 429 with Retry-After, and neither stored nor folded into estimates; another
    session is not affected. The interval is an hour here, so no report comes back while the
    test runs, however slow the machine."""
    lim = Control(binary, tmp, pg, name="ctl-reports", report_interval="1h").start()
    s1 = lim.json("POST", "/v1/playback", {"title": "kidsmovie"})["session"]
    s2 = lim.json("POST", "/v1/playback", {"title": "kidsmovie"})["session"]
    got = [lim.request("POST", "/v1/playback/report",
                       {"session": s1, "position": i + 1, "mtp": 1})[0] for i in range(12)]
    check(got == [200] * 10 + [429] * 2, f"twelve reports of one session: {got}")
    st, hd, b = lim.request("POST", "/v1/playback/report", {"session": s1, "position": 13})
    o = json.loads(b)
    check(st == 429 and o["error"] == "too_many_requests" and "report_burst 10" in o["detail"],
          f"the refusal: {st} {o}")
    check(hd.get("retry-after", "").isdigit() and 0 < int(hd["retry-after"]) <= 3600,
          f"Retry-After {hd.get('retry-after')!r}")
    rows = pg.psql(f"SELECT count(*) FROM playback_reports WHERE session_id = '{row_id(s1)}'")
    check(rows == "10", f"reports stored for the session: {rows}")
    st, _, _ = lim.request("POST", "/v1/playback/report", {"session": s2, "position": 1})
    check(st == 200, f"another session's report: {st}")
    check(metric(lim, "sluice_control_reports_limited_total") == 3,
          f"refusals counted: {metric(lim, 'sluice_control_reports_limited_total')}")
    check(metric(lim, "sluice_control_reports_total") == 11, "reports stored counted")
    check(lim.stop() == 0, "SIGTERM exits 0")


def test_profile_keys(ctl, pg, adult):
    """A profile's data is its creator's: its id (sequential) says nothing, its key (made by
    control, answered once, stored as a digest) is needed to read continue-watching, browse as
    it, or start its sessions (whose reports alone move its positions). A missing or wrong key
    is refused as an unknown profile is, so nothing says whether the profile exists."""
    owner = ctl.json("POST", "/v1/playback", {"title": "movie1", **pb(adult)})
    ctl.json("POST", "/v1/playback/report", {"session": owner["session"], "position": 9.5,
                                             "device": "owner-tv"})
    mine = ctl.json("GET", f"/v1/continue-watching?{pq(adult)}")
    check([(i["title"], i["position"], i["device"]) for i in mine["items"]
           if i["title"] == "movie1"] == [("movie1", 9.5, "owner-tv")],
          f"the owner reads its continue-watching: {mine}")

    # Another client knows the id, not the key. Its refusals are those of a profile that
    # does not exist.
    pid = adult["id"]
    nobody = pg.psql("SELECT coalesce(max(id), 0) + 1000 FROM profiles")
    wrong = "0" * 64
    unknown = ctl.error("GET", f"/v1/continue-watching?profile={nobody}&profile_key={wrong}",
                        expect=404)
    for q in (f"profile={pid}", f"profile={pid}&profile_key=", f"profile={pid}&profile_key={wrong}",
              f"profile={pid}&profile_key={adult['key'].upper()}",
              f"profile={pid}&profile_key={adult['key'][:-1]}"):
        o = ctl.error("GET", f"/v1/continue-watching?{q}", expect=404)
        check(o == unknown, f"continue-watching with {q}: {o}, as for no profile: {unknown}")
        for path in ("/v1/catalog?", "/v1/catalog/trending?", "/v1/catalog/genres?",
                     "/v1/search?q=night&", "/v1/titles/movie1?"):
            o = ctl.error("GET", path + q, expect=404)
            check(o == unknown, f"{path}{q}: {o}")
    for body in ({"profile": pid}, {"profile": pid, "profile_key": wrong},
                 {"profile": pid, "profile_key": adult["key"] + "0"}):
        o = ctl.error("POST", "/v1/playback", {"title": "movie1", **body}, expect=404)
        check(o == unknown, f"a session for another's profile {body}: {o}")
    ctl.error("POST", "/v1/playback", {"title": "movie1", "profile_key": adult["key"]})
    ctl.error("POST", "/v1/playback", {"title": "movie1", "new_profile": "x", "profile_key": wrong})
    # Its own session (no profile) and reports leave the profile's data alone.
    own = ctl.json("POST", "/v1/playback", {"title": "movie1"})
    ctl.json("POST", "/v1/playback/report", {"session": own["session"], "position": 1,
                                             "device": "intruder", "mtp": 99999, "bl": 0})
    check(ctl.json("GET", f"/v1/continue-watching?{pq(adult)}") == mine,
          "nothing the other client did moved the owner's continue-watching")
    check(pg.psql("SELECT count(*) FROM throughput_estimates "
                  f"WHERE scope = 'profile' AND key = '{pid}' AND mtp_kbps = 99999") == "0",
          "nor its throughput estimate")
    check(re.fullmatch(r"[0-9a-f]{64}", adult["key"] or ""), f"a profile's key: {adult}")
    stored = pg.psql(f"SELECT encode(key_hash, 'hex') FROM profiles WHERE id = {adult['id']}")
    check(stored == hashlib.sha256(adult["key"].encode()).hexdigest(),
          "only the key's digest is stored")
    # Each profile has a key of its own.
    other = ctl.json("POST", "/v1/profiles", {"name": "Other"})
    check(other["key"] != adult["key"], "keys differ")
    ctl.error("GET", f"/v1/continue-watching?profile={pid}&profile_key={other['key']}",
              expect=404)
    check(ctl.json("GET", f"/v1/continue-watching?{pq(other)}")["items"] == [],
          "a new profile has nothing to resume")

    # A profile made before keys existed has none: no key opens it (a page makes a new one).
    legacy = pg.psql("INSERT INTO profiles (name) VALUES ('before keys') RETURNING id")
    legacy = legacy.splitlines()[0]
    for key in ("", wrong):
        ctl.error("GET", f"/v1/continue-watching?profile={legacy}&profile_key={key}",
                  expect=404)
        ctl.error("POST", "/v1/playback",
                  {"title": "movie1", "profile": int(legacy), "profile_key": key or None},
                  expect=404)

    # The owner still plays and resumes.
    again = ctl.json("POST", "/v1/playback", {"title": "movie1", **pb(adult)})
    check(again["resume_position"] == 9.5, f"the owner resumes: {again['resume_position']}")

def main(binary, tmp):
    pg = Postgres(tmp)
    ctl = Control(binary, tmp, pg).start()
    adult, _ = setup_catalog(ctl, pg)
    test_reports(ctl, pg, adult)
    test_finished_leaves(ctl, adult)
    test_continue_pages(ctl)
    test_report_limit(binary, tmp, pg)
    test_profile_keys(ctl, pg, adult)
    stop_clean(ctl)

run(main)
