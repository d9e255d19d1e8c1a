# SPDX-License-Identifier: MIT
"""What an operator's title registration leaves in the catalog (POST /v1/admin/titles): a
title's genres are stored each once (lowercased, trimmed), [] clears them, and anything but
an array of short strings is refused with nothing changed; genres stored before migration
034 are made so when it runs. An episode registered again stays the episode it was, with its
name and synopsis, unless the registration says otherwise; a season its last episode left is
no longer listed. A movie registered again as an episode is a movie no more: its
profiles' progress and its demand follow it into its series, its licences go (also for a
movie stored beside its episode before migration 044). A series its last episode left goes,
its episodes' progress following them (also one stored empty before migration 045); one an
episode left is no longer found by that episode's name (nor one stored before 048). A
registration that changes nothing a session plays leaves its sessions playing. A "series"
that is not an object with a string id and whole season and episode numbers is refused, and
nothing is registered. Two replacements of a title's licences at once leave one of the two
sets, never both; an episode registered into a season while another leaves it stays. A member
of "metadata", "series" or "markers" of the wrong type or out of its documented range is
refused with a 400 naming it, and nothing changes; an episode at the season and number of
another is a 409 saying so.

    python3 test_catalog_admin.py path/to/sluice-control
"""
import base64
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctlharness import (PSQL, Control, Failure, Postgres, check,  # noqa: E402
                        make_asset, register, run)

KID_B64 = base64.urlsafe_b64encode(bytes.fromhex("00112233445566778899aabbccddeeff")) \
    .rstrip(b"=").decode()


def genre_counts(ctl):
    return {g["genre"]: g["titles"] for g in ctl.json("GET", "/v1/catalog/genres")["genres"]}


def search_ids(ctl, q):
    return [t["id"] for t in ctl.json("GET", f"/v1/search?q={q}")["items"]]


def test_genres(ctl, pg):
    register(ctl, "g1", metadata={"name": "Harbour", "genres": ["Drama", " drama ", "DRAMA",
                                                                 "Noir", "drama"]})
    got = ctl.json("GET", "/v1/titles/g1")["genres"]
    check(got == ["drama", "noir"], f"genres stored each once, in order: {got}")
    counts = genre_counts(ctl)
    check(counts == {"drama": 1, "noir": 1}, f"one title counts once per genre: {counts}")
    check(search_ids(ctl, "noir") == ["g1"], "a genre is searchable")

    # Re-registered without genres: they stay. With []: they go, from search too.
    register(ctl, "g1", metadata={"name": "Harbour"})
    check(ctl.json("GET", "/v1/titles/g1")["genres"] == ["drama", "noir"], "genres kept")
    register(ctl, "g1", metadata={"genres": None})
    check(ctl.json("GET", "/v1/titles/g1")["genres"] == ["drama", "noir"], "null keeps them")
    register(ctl, "g1", metadata={"genres": []})
    got = ctl.json("GET", "/v1/titles/g1")["genres"]
    check(got == [], f"[] clears the genres: {got}")
    check(genre_counts(ctl) == {}, f"no genre listed: {genre_counts(ctl)}")
    check(search_ids(ctl, "noir") == [], "a cleared genre is no longer found")

    # Refused, and the title keeps what it had.
    register(ctl, "g1", metadata={"genres": ["Comedy"]})
    for bad in ([None], [5], [""], ["  "], ["x" * 65], "comedy", {"a": "b"}, ["a\u0001b"],
                ["comedy", ["nested"]]):
        o = ctl.error("POST", "/v1/admin/titles",
                      {"title": "g1", "asset": make_asset("g1"), "metadata": {"genres": bad}},
                      admin=True)
        check(o["detail"].startswith("metadata.genres: "), f"genres {bad!r}: {o}")
        got = ctl.json("GET", "/v1/titles/g1")["genres"]
        check(got == ["comedy"], f"genres {bad!r} refused, yet changed to {got}")
    # 64 bytes (once trimmed) is the longest browse can ask for.
    long = "é" * 32
    register(ctl, "g1", metadata={"genres": [f" {long} "]})
    got = ctl.json("GET", "/v1/titles/g1")["genres"]
    check(got == [long], f"a 64-byte genre: {got}")
    items = ctl.json("GET", "/v1/catalog?genre=" + "%C3%A9" * 32)["items"]
    check([t["id"] for t in items] == ["g1"], f"and browsed: {items}")


def test_types(ctl, pg):
    register(ctl, "ty1", metadata={"name": "Typed", "year": 2020, "maturity_rating": "PG",
                                   "cast": [{"name": "Ada", "role": "director"}]})
    want = pg.psql("SELECT name, year, maturity_rating FROM titles WHERE id = 'ty1'")
    check(want == "Typed|2020|PG", f"registered: {want}")
    # Each is refused, naming the member, and the title keeps what it had.
    cases = [({"metadata": {"year": "2020"}}, "metadata.year: "),
             ({"metadata": {"year": 2020.5}}, "metadata.year: "),
             ({"metadata": {"year": 99999999999}}, "metadata.year: "),
             ({"metadata": {"year": 1869}}, "metadata.year: "),
             ({"metadata": {"name": 5}}, "metadata.name: "),
             ({"metadata": {"name": ""}}, "metadata.name: "),
             ({"metadata": {"synopsis": ["a"]}}, "metadata.synopsis: "),
             ({"metadata": {"maturity_rating": 15}}, "metadata.maturity_rating: "),
             ({"metadata": {"cast": {"name": "A"}}}, "metadata.cast: "),
             ({"metadata": {"cast": ["Ada"]}}, "metadata.cast[0]: "),
             ({"metadata": {"cast": [{"name": "A"}, {"role": "actor"}]}},
              "metadata.cast[1].name: "),
             ({"metadata": {"cast": [{"name": "A", "role": "grip"}]}}, "metadata.cast[0].role: "),
             ({"metadata": {"cast": [{"name": "A", "character": 7}]}},
              "metadata.cast[0].character: "),
             ({"metadata": "Typed"}, "metadata: "),
             ({"series": {"id": "sx", "season": "1", "episode": 1}}, "series.season: "),
             ({"series": {"id": "sx", "season": 1}}, "series.episode: "),
             ({"series": {"id": 5, "season": 1, "episode": 1}}, "series.id: "),
             ({"series": {"id": "sx", "season": 1, "episode": -1}}, "series.episode: "),
             ({"series": {"id": "sx", "season": 1, "episode": 1, "episode_name": 3}},
              "series.episode_name: "),
             ({"series": "sx"}, "series: "),
             ({"markers": {"intro": {"start": "1", "end": 2}}}, "markers.intro.start: "),
             ({"markers": {"intro": {"start": 3, "end": 2}}}, "markers.intro: "),
             ({"markers": {"outro": {"start": 1, "end": 2}}}, "markers: "),
             ({"markers": {"credits": [1, 2]}}, "markers.credits: ")]
    for extra, want_detail in cases:
        o = ctl.error("POST", "/v1/admin/titles",
                      dict({"title": "ty1", "asset": make_asset("ty1")}, **extra), admin=True)
        check(o["detail"].startswith(want_detail), f"{extra}: {o}")
        got = pg.psql("SELECT name, year, maturity_rating FROM titles WHERE id = 'ty1'")
        check(got == want, f"{extra} refused, yet the title is {got}")
    check(pg.psql("SELECT count(*) FROM titles WHERE id = 'sx'") == "0", "no series made")
    # null is "keep what it has", as leaving the member out.
    register(ctl, "ty1", metadata={"year": None, "name": None, "cast": None}, markers=None)
    got = pg.psql("SELECT name, year, maturity_rating FROM titles WHERE id = 'ty1'")
    check(got == want, f"nulls keep the title: {got}")


def test_episode_again(ctl):
    def episodes():
        t = ctl.json("GET", "/v1/titles/show")
        return [(s["season"], e["episode"], e["id"], e["name"], e["synopsis"], e["duration"])
                for s in t["seasons"] for e in s["episodes"]]

    register(ctl, "show-e1", series={"id": "show", "name": "Show", "season": 1, "episode": 1,
                                     "episode_name": "Pilot", "episode_synopsis": "It begins."})
    want = [(1, 1, "show-e1", "Pilot", "It begins.", 12)]
    check(episodes() == want, f"registered: {episodes()}")
    # Re-encoded (4 segments) and registered again with its series but not its names.
    register(ctl, "show-e1", series={"id": "show", "season": 1, "episode": 1}, segments=4)
    got = episodes()
    check(got == [(1, 1, "show-e1", "Pilot", "It begins.", 16)], f"names kept: {got}")
    # Without "series" at all, as sluice-ingest sends it without its metadata file.
    register(ctl, "show-e1", segments=5)
    got = episodes()
    check(got == [(1, 1, "show-e1", "Pilot", "It begins.", 20)], f"still the episode: {got}")
    ids = [t["id"] for t in ctl.json("GET", "/v1/catalog")["items"]]
    check("show-e1" not in ids, f"the episode is no movie of its own: {ids}")
    ctl.error("GET", "/v1/titles/show-e1", expect=404)
    check(search_ids(ctl, "pilot") == ["show"], "found as the series' episode")
    # What is sent still changes it.
    register(ctl, "show-e1", series={"id": "show", "season": 2, "episode": 3,
                                     "episode_name": "Renamed", "episode_synopsis": None})
    got = [e for e in episodes() if e[2] == "show-e1"]
    check(got == [(2, 3, "show-e1", "Renamed", "", 12)], f"changed as sent: {got}")
    # Another episode at its season and number: 409 saying so in the API's words.
    o = ctl.error("POST", "/v1/admin/titles",
                  {"title": "show-e9", "asset": make_asset("show-e9"),
                   "series": {"id": "show", "season": 2, "episode": 3}}, admin=True, expect=409)
    check(o == {"error": "conflict", "detail": "series.season and series.episode: another "
                "episode of that series already has that season and number"}, f"409: {o}")
    # Its old season, left with no episode, is no longer listed; a season still holding one is.
    register(ctl, "show-e2", series={"id": "show", "season": 2, "episode": 4})
    register(ctl, "show-e2", series={"id": "show", "season": 5, "episode": 1})
    seasons = [s["season"] for s in ctl.json("GET", "/v1/titles/show")["seasons"]]
    check(seasons == [2, 5], f"seasons left empty are gone: {seasons}")


def test_movie_to_episode(ctl, pg):
    # A movie, licensed, watched by a profile (its progress, a session row and a report).
    register(ctl, "mv1", metadata={"name": "Lighthouse", "genres": ["mystery"]})
    ctl.json("PUT", "/v1/admin/titles/mv1/licences", {"licences": [{"country": "GB"}]},
             admin=True)
    p = ctl.json("POST", "/v1/profiles", {"name": "viewer"})
    who = {"profile": p["id"], "profile_key": p["key"]}
    s = ctl.json("POST", "/v1/playback", {"title": "mv1", **who})
    ctl.json("POST", "/v1/playback/report", {"session": s["session"], "position": 5.0})
    trending = [t["id"] for t in ctl.json("GET", "/v1/catalog/trending")["items"]]
    check("mv1" in trending, f"the movie trends: {trending}")

    # Registered again, now as an episode of a series.
    r = register(ctl, "mv1", series={"id": "harbour", "name": "Harbour", "season": 1,
                                     "episode": 1})
    check((r["title"], r["episode"]) == ("harbour", "mv1"), f"registered as: {r}")
    ids = [t["id"] for t in ctl.json("GET", "/v1/catalog")["items"]]
    check("mv1" not in ids and "harbour" in ids, f"the movie is no longer listed: {ids}")
    check(search_ids(ctl, "lighthouse") == [], "nor found by its name")
    trending = [t["id"] for t in ctl.json("GET", "/v1/catalog/trending")["items"]]
    check("mv1" not in trending, f"nor trending: {trending}")
    check(genre_counts(ctl).get("mystery") is None, f"nor counted: {genre_counts(ctl)}")
    ctl.error("GET", "/v1/titles/mv1", expect=404)
    ctl.error("POST", "/v1/playback", {"title": "mv1"}, expect=404)
    ctl.error("POST", "/v1/playback", {"title": "mv1", **who}, expect=404)
    got = pg.psql("SELECT count(*) FROM licences WHERE title_id = 'mv1'")
    check(got == "0", f"the movie's licences went with it: {got}")
    # The progress and the session row follow the asset into the series.
    cw = ctl.json("GET", f"/v1/continue-watching?profile={p['id']}&profile_key={p['key']}")
    got = [(i["title"], i["episode"], i["position"]) for i in cw["items"]]
    check(got == [("harbour", "mv1", 5)], f"progress now the series' episode: {got}")
    got = pg.psql("SELECT title_id || '/' || episode_id FROM sessions")
    check(got == "harbour/mv1", f"the session row is the episode's: {got!r}")
    ctl.json("PUT", "/v1/admin/titles/harbour/licences", {"licences": [{"country": "GB"}]},
             admin=True)
    s = ctl.json("POST", "/v1/playback", {"title": "harbour", **who})
    check((s["episode"], s["resume_position"]) == ("mv1", 5), f"resumed in the series: {s}")


def test_series_emptied(ctl, pg):
    for ep, n, name in (("old-e1", 1, "Gangway"), ("old-e2", 2, "Bollard")):
        register(ctl, ep, series={"id": "oldshow", "name": "Quayside", "season": 1,
                                  "episode": n, "episode_name": name},
                 metadata={"genres": ["western"]})
    ctl.json("PUT", "/v1/admin/titles/oldshow/licences", {"licences": [{"country": "GB"}]},
             admin=True)
    p = ctl.json("POST", "/v1/profiles", {"name": "follower"})
    who = {"profile": p["id"], "profile_key": p["key"]}
    s = ctl.json("POST", "/v1/playback", {"title": "oldshow", "episode": "old-e2", **who})
    ctl.json("POST", "/v1/playback/report", {"session": s["session"], "position": 4.0})

    # One episode moved out: the series stays. Both: it goes, with its licences.
    register(ctl, "old-e1", series={"id": "newshow", "name": "Pier", "season": 1,
                                    "episode": 1})
    check("oldshow" in [t["id"] for t in ctl.json("GET", "/v1/catalog")["items"]],
          "a series with an episode left stays")
    # Found by the name of the episode it holds, not of the one that left.
    got = search_ids(ctl, "gangway")
    check(got == ["newshow"], f"the episode that left is found in its new series: {got}")
    check(search_ids(ctl, "bollard") == ["oldshow"], "the one that stayed, in the old one")
    register(ctl, "old-e2", series={"id": "newshow", "season": 1, "episode": 2})
    ids = [t["id"] for t in ctl.json("GET", "/v1/catalog")["items"]]
    check("oldshow" not in ids and "newshow" in ids, f"the emptied series is gone: {ids}")
    check(search_ids(ctl, "quayside") == [], "nor found")
    check(genre_counts(ctl).get("western") is None, f"nor counted: {genre_counts(ctl)}")
    ctl.error("GET", "/v1/titles/oldshow", expect=404)
    ctl.error("POST", "/v1/playback", {"title": "oldshow"}, expect=404)
    got = pg.psql("SELECT count(*) FROM licences WHERE title_id = 'oldshow'")
    check(got == "0", f"its licences went with it: {got}")
    # What the profile watched followed the episode, and did not go with the series.
    cw = ctl.json("GET", f"/v1/continue-watching?profile={p['id']}&profile_key={p['key']}")
    got = [(i["title"], i["episode"], i["position"]) for i in cw["items"]]
    check(got == [("newshow", "old-e2", 4)], f"progress followed the episode: {got}")
    got = pg.psql("SELECT title_id || '/' || episode_id FROM sessions "
                  "WHERE episode_id = 'old-e2'")
    check(got == "newshow/old-e2", f"the session row followed it: {got!r}")

    # Its last episode's asset deleted (by an operator): the series goes too.
    register(ctl, "lone-e1", series={"id": "loneshow", "season": 1, "episode": 1})
    pg.psql("DELETE FROM assets WHERE id = 'lone-e1'")
    ctl.error("GET", "/v1/titles/loneshow", expect=404)


def test_same_registration(ctl):
    def live(s):
        """Whether session s still plays: its report and its ClearKey licence answered."""
        st, _, _ = ctl.request("POST", "/v1/playback/report",
                               {"session": s["session"], "position": 1.0})
        st2, _, _ = ctl.request("POST", f"/v1/license/clearkey?session={s['session']}",
                                {"kids": [KID_B64], "type": "temporary"})
        check(st in (200, 404) and st2 in (200, 403), f"report {st}, licence {st2}")
        check((st == 200) == (st2 == 200), f"report {st} but licence {st2}")
        return st == 200

    register(ctl, "same1", encrypted=True, metadata={"name": "Same"},
             markers={"intro": {"start": 1, "end": 3}})
    ctl.json("PUT", "/v1/admin/titles/same1/licences", {"licences": [{"country": "GB"}]},
             admin=True)
    s = ctl.json("POST", "/v1/playback", {"title": "same1"})
    check(live(s), "a new session plays")
    # The same asset.json again, as sluice-ingest --register sends it, and a new name.
    register(ctl, "same1", encrypted=True, metadata={"name": "Same again"},
             markers={"intro": {"start": 1, "end": 3}})
    check(live(s), "the same registration again ended the session")
    check(ctl.json("GET", "/v1/titles/same1")["name"] == "Same again", "the name changed")
    # New markers, or a re-encoded asset: a new version, and the session is over.
    register(ctl, "same1", encrypted=True, markers={"intro": {"start": 2, "end": 3}})
    check(not live(s), "new markers, yet the session plays on")
    s = ctl.json("POST", "/v1/playback", {"title": "same1"})
    register(ctl, "same1", encrypted=True, markers={"intro": {"start": 2, "end": 3}},
             segments=4)
    check(not live(s), "a re-encoded asset, yet the session plays on")

    # An episode: renamed or renumbered it plays on; registered into another series, not.
    series = {"id": "sameshow", "season": 1, "episode": 1}
    register(ctl, "same-e1", encrypted=True, series=series)
    ctl.json("PUT", "/v1/admin/titles/sameshow/licences", {"licences": [{"country": "GB"}]},
             admin=True)
    s = ctl.json("POST", "/v1/playback", {"title": "sameshow"})
    register(ctl, "same-e1", encrypted=True,
             series=dict(series, episode=2, episode_name="Renamed"))
    check(live(s), "a renumbered episode's session ended")
    register(ctl, "same-e1", encrypted=True, series=dict(series, id="othershow"))
    check(not live(s), "an episode in another series, yet its session plays on")


def test_series_checked(ctl, pg):
    ok = {"id": "checked", "season": 1, "episode": 1}
    for bad, detail in (("checked", "series: want an object"),
                        (["checked"], "series: want an object"),
                        ({"season": 1, "episode": 1}, "series.id: want a string"),
                        (dict(ok, id=5), "series.id: want a string"),
                        ({"id": "checked", "episode": 1}, "series.season: want a whole number"),
                        (dict(ok, season="1"), "series.season: want a whole number"),
                        (dict(ok, season=-1), "series.season: want a whole number"),
                        (dict(ok, episode=1.5), "series.episode: want a whole number"),
                        (dict(ok, episode=2 ** 31), "series.episode: want a whole number"),
                        (dict(ok, episode=True), "series.episode: want a whole number")):
        o = ctl.error("POST", "/v1/admin/titles",
                      {"title": "chk1", "asset": make_asset("chk1"), "series": bad},
                      admin=True)
        # Control's own check (body_title_check) answers first, naming the member; the
        # database's (migration 047) holds for any other caller of the function.
        member = detail.split(":")[0]
        check(o["detail"].startswith(member + ":"), f"series {bad!r}: {o}")
        arg = json.dumps(bad).replace("'", "''")
        try:
            pg.psql(f"SELECT sluice_series_check('{arg}'::jsonb)")
            said = None
        except Failure as e:
            said = str(e)
        check(said is not None and detail in said,
              f"the database's words for series {bad!r}: {said}")
    # Nothing was registered: not as a movie (a string "series" was one), nor an episode.
    ctl.error("GET", "/v1/titles/chk1", expect=404)
    ctl.error("GET", "/v1/titles/checked", expect=404)
    # Registered as an episode, the same refusals leave it that episode.
    register(ctl, "chk1", series=dict(ok, episode=2 ** 31 - 1))
    o = ctl.error("POST", "/v1/admin/titles",
                  {"title": "chk1", "asset": make_asset("chk1"), "series": "other"},
                  admin=True)
    check(o["detail"].startswith("series: want an object"), f"refused: {o}")
    eps = [e["id"] for s in ctl.json("GET", "/v1/titles/checked")["seasons"]
           for e in s["episodes"]]
    check(eps == ["chk1"], f"still the episode: {eps}")


def test_licences_at_once(ctl, pg):
    # Another writer (an instance, or an operator's psql) has replaced the title's licences in
    # a transaction still open when control's replacement comes; it commits once control's has
    # reached the database (waiting, or done; the activity is read afresh each time round, as
    # a transaction keeps its first reading). The later replaces the earlier: SE alone, where
    # the title had both sets when it had no licences before.
    register(ctl, "lic1", metadata={"name": "Licensed"})
    wait = ("DO /* lic1 writer */ $$ BEGIN FOR i IN 1..200 LOOP EXIT WHEN EXISTS ("
            "SELECT 1 FROM pg_stat_activity WHERE state = 'active' "
            "AND query LIKE 'SELECT sluice_set_licences($1%') OR EXISTS ("
            "SELECT 1 FROM licences WHERE title_id = 'lic1' AND country = 'SE'); "
            "PERFORM pg_stat_clear_snapshot(); PERFORM pg_sleep(0.05); END LOOP; END $$")
    other = subprocess.Popen(
        [PSQL, pg.conninfo, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", "BEGIN",
         "-c", "SELECT sluice_set_licences('lic1', '[{\"country\": \"GB\"}]')",
         "-c", wait, "-c", "COMMIT"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    pg.psql("DO $$ BEGIN FOR i IN 1..200 LOOP EXIT WHEN EXISTS (SELECT 1 FROM "
            "pg_stat_activity WHERE query LIKE 'DO /* lic1 writer */%'); "
            "PERFORM pg_sleep(0.05); END LOOP; END $$")
    ctl.json("PUT", "/v1/admin/titles/lic1/licences", {"licences": [{"country": "SE"}]},
             admin=True)
    check(other.wait(30) == 0, f"the other writer: {other.stderr.read()}")
    got = pg.psql("SELECT string_agg(country, ',' ORDER BY country) FROM licences "
                  "WHERE title_id = 'lic1'")
    check(got == "SE", f"two replacements at once left {got!r}, not the later one")


def test_registrations_at_once(ctl, pg):
    # Another writer registers an episode into a season, in a transaction still open when
    # control's registration moves the season's other episode out (and waits for it). Both
    # episodes stay, each in its series, where the new one went with the season it was
    # registered into, and its series with it.
    register(ctl, "turn-e1", series={"id": "turns", "name": "Turns", "season": 1, "episode": 1})
    doc = json.dumps({"title": "turn-e2", "asset": make_asset("turn-e2"),
                      "series": {"id": "turns", "season": 1, "episode": 2}}).replace("'", "''")
    wait = ("DO /* turn-e2 writer */ $$ BEGIN FOR i IN 1..400 LOOP EXIT WHEN EXISTS ("
            "SELECT 1 FROM pg_stat_activity WHERE state = 'active' "
            "AND query LIKE 'SELECT sluice_register_title($1%' AND wait_event_type = 'Lock'); "
            "PERFORM pg_stat_clear_snapshot(); PERFORM pg_sleep(0.05); END LOOP; END $$")
    other = subprocess.Popen(
        [PSQL, pg.conninfo, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", "BEGIN",
         "-c", f"SELECT 1 FROM sluice_register_title('{doc}'::jsonb)",
         "-c", wait, "-c", "COMMIT"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    pg.psql("DO $$ BEGIN FOR i IN 1..200 LOOP EXIT WHEN EXISTS (SELECT 1 FROM "
            "pg_stat_activity WHERE query LIKE 'DO /* turn-e2 writer */%'); "
            "PERFORM pg_sleep(0.05); END LOOP; END $$")
    register(ctl, "turn-e1", series={"id": "turns2", "season": 1, "episode": 1})
    check(other.wait(30) == 0, f"the other writer: {other.stderr.read()}")
    got = pg.psql("SELECT string_agg(id || '@' || title_id || '/' || season, ',' ORDER BY id) "
                  "FROM episodes WHERE id LIKE 'turn-%'")
    check(got == "turn-e1@turns2/1,turn-e2@turns/1", f"episodes after both: {got!r}")
    seasons = [s["season"] for s in ctl.json("GET", "/v1/titles/turns")["seasons"]]
    check(seasons == [1], f"the season it was registered into: {seasons}")


def test_stored_before(binary, tmp, pg):
    # What a registration stored before 034: repeats, an empty string and a null. The
    # migration runs again on the next start and leaves each genre once.
    pg.psql("UPDATE titles SET genres = ARRAY['drama', 'drama', '', NULL, 'noir', 'drama'] "
            "WHERE id = 'g1'")
    pg.psql("SELECT sluice_title_reindex('g1')")
    pg.psql("INSERT INTO seasons (title_id, number) VALUES ('show', 7)")
    # An episode that stayed a movie too, as registrations made it before 044.
    pg.psql("INSERT INTO titles (id, kind, name, asset_id) "
            "VALUES ('show-e1', 'movie', 'show-e1', 'show-e1')")
    pg.psql("INSERT INTO licences (title_id, country, available_from) "
            "VALUES ('show-e1', 'GB', now())")
    # A series' search text with the name of an episode that left it before 048.
    pg.psql("UPDATE titles SET search = search || to_tsvector('simple', 'Departed') "
            "WHERE id = 'show'")
    # A series whose episodes all left before 045, and a profile's progress on one of them.
    pg.psql("INSERT INTO titles (id, kind, name) VALUES ('emptied', 'series', 'Emptied')")
    pg.psql("INSERT INTO continue_watching (profile_id, title_id, episode_id, asset_id, "
            "position, duration) SELECT id, 'emptied', 'show-e2', 'show-e2', 3, 12 "
            "FROM profiles WHERE name = 'follower'")
    pg.psql("DELETE FROM schema_migrations WHERE version >= 34")
    ctl = Control(binary, tmp, pg, name="again").start()
    got = ctl.json("GET", "/v1/titles/g1")["genres"]
    check(got == ["drama", "noir"], f"genres repaired: {got}")
    counts = genre_counts(ctl)
    check(counts == {"drama": 1, "noir": 1}, f"counted once each: {counts}")
    seasons = [s["season"] for s in ctl.json("GET", "/v1/titles/show")["seasons"]]
    check(seasons == [2, 5], f"an empty season stored before is gone: {seasons}")
    ids = [t["id"] for t in ctl.json("GET", "/v1/catalog")["items"]]
    check("show-e1" not in ids, f"a movie stored beside its episode is gone: {ids}")
    ctl.error("POST", "/v1/playback", {"title": "show-e1"}, expect=404)
    ctl.error("GET", "/v1/titles/emptied", expect=404)
    check(search_ids(ctl, "departed") == [], "a name that left before is no longer found")
    got = pg.psql("SELECT title_id FROM continue_watching WHERE episode_id = 'show-e2'")
    check(got == "show", f"progress stored before followed its episode: {got!r}")
    check(ctl.stop() == 0, "SIGTERM exits 0")


def main(binary, tmp):
    pg = Postgres(tmp)
    ctl = Control(binary, tmp, pg).start()
    test_genres(ctl, pg)
    test_types(ctl, pg)
    test_episode_again(ctl)
    test_movie_to_episode(ctl, pg)
    test_series_emptied(ctl, pg)
    test_same_registration(ctl)
    test_series_checked(ctl, pg)
    test_licences_at_once(ctl, pg)
    test_registrations_at_once(ctl, pg)
    check(ctl.stop() == 0, "SIGTERM exits 0")
    test_stored_before(binary, tmp, pg)


if __name__ == "__main__":
    run(main)
