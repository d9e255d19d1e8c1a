# SPDX-License-Identifier: MIT
"""sluice-control against a real PostgreSQL with SQL metacharacters in every parameter."""
import base64
import hashlib
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from apisetup import b64url_dec, db_time, pb, pq, setup_catalog, stop_clean
from ctlharness import (CONTENT_KEY, Control, Postgres, check, make_asset,
                        register, row_id, run, signed_headers)


def test_sql_metacharacters(ctl, pg, adult):
    """Every parameter carries SQL metacharacters: answers are ordinary 4xx or empty results,
    and the catalog is intact afterwards."""
    nasty = ["'", "\"", "'; DROP TABLE titles; --", "\\", "%", "_", "1 OR 1=1", "$1",
             "') OR ('a'='a", "\u00e9\u0000x"[:2], ";", "--", "/*", "E'\\x00'"]
    from urllib.parse import quote
    sid = ctl.json("POST", "/v1/playback", {"title": "movie1"})["session"]
    csid = ctl.json("POST", "/v1/playback", {"title": "kidsmovie"})["session"]
    psid = ctl.json("POST", "/v1/playback", {"title": "movie1", **pb(adult)})["session"]
    ctl.heartbeat("edge-a", {"load": 0.1, "titles": ["movie1"]})
    edges = set(pg.psql("SELECT string_agg(id, ',') FROM edges").split(","))
    good_kid = base64.urlsafe_b64encode(bytes.fromhex("00112233445566778899aabbccddeeff")) \
        .rstrip(b"=").decode()
    for n in nasty:
        q = quote(n, safe="")
        # Steering's query (parsed in memory, never a statement): a value it cannot use is
        # dropped, so the answer is a whole steering document naming real edges only, and
        # neither its RELOAD-URI nor a clone's BASE-ID carries a metacharacter back. What a
        # pathways list alone gives depends on whether its value has an id's form (an MPD's
        # pathway, cloned from; steering.h) or not (an MPD naming none): not checked here.
        known = set(pg.psql("SELECT string_agg(id, ',') FROM edges").split(","))
        reload_rx = re.compile(r"http://control\.test:7000/v1/steering/%s"
                               r"(\?pathways=[A-Za-z0-9._,-]*)?" % sid)
        for qs, live in ((f"_DASH_pathway={q}", True), (f"_DASH_throughput={q}", True),
                         (f"pathways={q}", None),
                         (f"_DASH_pathway=edge-a,{q}&_DASH_throughput=5000000,{q}", True),
                         (f"pathways=edge-a,{q}&_DASH_pathway={q}&_DASH_throughput={q}", True)):
            st, _, b = ctl.request("GET", f"/v1/steering/{sid}?{qs}")
            check(st == 200, f"steering ?{qs}: {st} {b[:200]!r}")
            o = json.loads(b)
            m = reload_rx.fullmatch(o["RELOAD-URI"])
            listed = set(m.group(1)[len("?pathways="):].split(",")) if m and m.group(1) else set()
            check(o["VERSION"] == 1 and set(o["PATHWAY-PRIORITY"]) <= known and
                  (live is None or ("edge-a" in o["PATHWAY-PRIORITY"]) == live) and
                  all(c["ID"] in known and c["BASE-ID"] in known | listed
                      for c in o.get("PATHWAY-CLONES", [])) and m, f"steering ?{qs}: {o}")
        # HLS media playlists: the rendition and the session as path segments.
        for path in (f"/v1/manifest/{csid}/{q}.m3u8", f"/v1/manifest/{q}/video-240p.m3u8",
                     f"/v1/manifest/{csid}/video-240p{q}.m3u8"):
            st, _, b = ctl.request("GET", path)
            check(st == 404 or ("\0" in n and st == 400), f"{path}: {st} {b[:200]!r}")
        # A heartbeat for an edge id with metacharacters, signed as an edge would: no such
        # edge (or a malformed path), whatever the signature.
        target = f"/v1/edges/{q}/heartbeat"
        data = b'{"load": 0.1}'
        st, _, b = ctl.request("POST", target, data, headers=signed_headers(
            "x" * 40, "POST", target, data, int(time.time() * 1000)))
        check(st == 404 or ("\0" in n and st == 400), f"heartbeat {target}: {st} {b[:200]!r}")
        # ClearKey kids: not base64url of 16 bytes is 400; 16 bytes of metacharacters that
        # are nobody's kid are 403. Never a key byte.
        raw_kid = (n.encode() * 16)[:16]
        weird_kid = base64.urlsafe_b64encode(raw_kid).rstrip(b"=").decode()
        for body, ok in (({"kids": [n]}, 400), ({"kids": [good_kid, n]}, 400),
                         ({"kids": [good_kid], "type": n}, 400),
                         ({"kids": [weird_kid]}, 403)):
            st, _, b = ctl.request("POST", f"/v1/license/clearkey?session={sid}", body)
            check(st == ok, f"clearkey {body}: {st} {b[:200]!r}")
            check(CONTENT_KEY.encode() not in b and b'"k"' not in b, f"key bytes in {b!r}")
        for path, ok in [(f"/v1/catalog?genre={q}", (200,)), (f"/v1/search?q={q}", (200,)),
                         (f"/v1/catalog?profile={q}", (400,)),
                         (f"/v1/continue-watching?profile={q}", (400,)),
                         (f"/v1/fill/plan?edge={q}", (404,)),
                         (f"/v1/license/clearkey?session={q}", (403,)),
                         (f"/v1/titles/{q}", (404,)), (f"/v1/steering/{q}", (404,)),
                         (f"/v1/manifest/{q}.mpd", (404,)),
                         (f"/v1/catalog/trending?profile={q}", (400,)),
                         (f"/v1/catalog/genres?profile={q}", (400,)),
                         (f"/v1/search?q=night&profile={q}", (400,)),
                         (f"/v1/titles/movie1?profile={q}", (400,)),
                         (f"/v1/catalog?limit={q}", (400,)), (f"/v1/catalog?offset={q}", (400,)),
                         (f"/v1/catalog/trending?limit={q}", (400,)),
                         (f"/v1/search?q=night&limit={q}", (400,)),
                         (f"/v1/continue-watching?{pq(adult)}&limit={q}", (400,)),
                         (f"/v1/continue-watching?{pq(adult)}&offset={q}", (400,)),
                         (f"/v1/fill/plan?edge=edge-a&limit={q}", (400,))]:
            method = "POST" if "clearkey" in path else "GET"
            st, _, b = ctl.request(method, path, {"kids": ["AAAAAAAAAAAAAAAAAAAAAA"]}
                                   if method == "POST" else None,
                                   admin=path.startswith("/v1/fill/plan"))
            # A NUL (or other control byte) is refused before any lookup.
            check(st in ok or ("\0" in n and st == 400), f"{path}: {st} {b[:200]!r}")
        for body, ok in [({"title": n}, (404,)), ({"title": "movie1", "episode": n}, (404,)),
                         ({"title": n, "episode": n, **pb(adult)}, (404,))]:
            st, _, b = ctl.request("POST", "/v1/playback", body)
            check(st in ok or (st == 400 and "\u0000" in n), f"playback {body}: {st} {b!r}")
        st, _, _ = ctl.request("POST", "/v1/playback/report",
                               {"session": n, "position": 1, "quality": n, "device": n})
        check(st in (404, 400), "report")
        # On a live session: quality and device stored verbatim (device also as continue
        # watching gives it back), or a clean 400 for a NUL; position tells the rows apart.
        i = nasty.index(n)
        st, _, b = ctl.request("POST", "/v1/playback/report",
                               {"session": psid, "position": (i + 1) / 2, "quality": n,
                                "device": n})
        check(st == 200 or ("\0" in n and st == 400), f"report {n!r}: {st} {b[:200]!r}")
        stored = pg.psql("SELECT md5(quality) || ',' || md5(device) FROM playback_reports "
                         f"WHERE session_id = '{row_id(psid)}' AND position = {(i + 1) / 2}")
        digest = hashlib.md5(n.encode()).hexdigest()
        check(stored == (f"{digest},{digest}" if st == 200 else ""),
              f"report {n!r}: quality and device stored as {stored!r}")
        if st == 200:
            item = [c for c in ctl.json("GET", f"/v1/continue-watching?{pq(adult)}")["items"]
                    if c["title"] == "movie1"][0]
            check(item["device"] == n and item["position"] == (i + 1) / 2,
                  f"continue watching {n!r}: {item}")
        o = ctl.heartbeat("edge-a", {"load": 0.1, "titles": ["movie1", n], "digest": n},
                          expect=(200, 400))
        check(o is None or o["error"] == "bad_request", f"heartbeat {o}")
        st, _, _ = ctl.request("POST", "/v1/profiles", {"name": n})
        check(st in (200, 400), "profile")
        # A first visit's profile: made with the name verbatim, or none when refused.
        st, _, b = ctl.request("POST", "/v1/playback", {"title": "movie1", "new_profile": n})
        check(st == 200 or ("\0" in n and st == 400), f"new_profile {n!r}: {st} {b[:200]!r}")
        if st == 200:
            pid = json.loads(b)["profile"]
            stored = pg.psql(f"SELECT md5(name) FROM profiles WHERE id = {int(pid)}")
            check(stored == hashlib.md5(n.encode()).hexdigest(), f"new_profile {n!r} verbatim")
        n_profiles = pg.psql("SELECT count(*) FROM profiles")
        st, _, _ = ctl.request("POST", "/v1/playback", {"title": n, "new_profile": n})
        check(st in (400, 404), f"new_profile with an unknown title: {st}")
        check(pg.psql("SELECT count(*) FROM profiles") == n_profiles, "profile rolled back")
        # Licence windows: a time that is not RFC 3339 is 400 and the old windows stay.
        for w in ({"country": "GB", "from": n}, {"country": "GB", "until": n},
                  {"country": "GB", "from": db_time(pg, -60), "until": n}):
            st, _, b = ctl.request("PUT", "/v1/admin/titles/movie1/licences",
                                   {"licences": [{"country": "SE"}, w]}, admin=True)
            check(st == 400, f"licence window {w}: {st} {b[:200]!r}")
        # Metadata beyond the name and genres: stored verbatim, or a clean 400.
        st, _, b = ctl.request("POST", "/v1/admin/titles", {
            "title": f"meta{i}", "asset": make_asset(f"meta{i}"),
            "metadata": {"name": n, "synopsis": n, "maturity_rating": n, "genres": [n],
                         "cast": [{"name": n, "role": "actor", "character": n}]}}, admin=True)
        check(st == 200 or ("\0" in n and st == 400), f"metadata {n!r}: {st} {b[:200]!r}")
        if st == 200:
            t = ctl.json("GET", f"/v1/titles/meta{i}")
            check(t["name"] == n and t["synopsis"] == n and t["maturity_rating"] == n and
                  t["genres"] == [n.lower()] and
                  t["cast"] == [{"name": n, "role": "actor", "character": n}],
                  f"metadata {n!r} verbatim: {t}")
        st, _, b = ctl.request("POST", "/v1/admin/titles", {
            "title": f"mep{i}", "asset": make_asset(f"mep{i}"),
            "series": {"id": f"mser{i}", "name": n, "season": 1, "episode": 1,
                       "episode_name": n, "episode_synopsis": n}}, admin=True)
        check(st == 200 or ("\0" in n and st == 400), f"series {n!r}: {st} {b[:200]!r}")
        if st == 200:
            t = ctl.json("GET", f"/v1/titles/mser{i}")
            ep = t["seasons"][0]["episodes"][0]
            check(t["name"] == n and ep["name"] == n and ep["synopsis"] == n,
                  f"series {n!r} verbatim: {t}")
        for md in ({"year": n}, {"cast": [{"name": "Someone", "role": n}]}):
            st, _, b = ctl.request("POST", "/v1/admin/titles", {
                "title": "movie1x", "asset": make_asset("movie1x"), "metadata": md}, admin=True)
            check(st == 400, f"metadata {md}: {st} {b[:200]!r}")
        for mk in ({n: {"start": 1, "end": 2}}, {"intro": {"start": n, "end": 2}}):
            st, _, b = ctl.request("POST", "/v1/admin/titles", {
                "title": "movie1x", "asset": make_asset("movie1x"), "markers": mk}, admin=True)
            check(st == 400, f"markers {mk}: {st} {b[:200]!r}")
        # An edge's capacity and secret: a clean 400, or the secret stored verbatim (the
        # edge's heartbeat signed with it is accepted).
        edge = {"id": "meta-edge", "region": "eu-west", "base_url": "http://meta-edge.test"}
        st, _, _ = ctl.request("POST", "/v1/admin/edges", dict(edge, capacity_mbps=n),
                               admin=True)
        check(st == 400, f"capacity {n!r}: {st}")
        secret = (n * 128)[:64]
        st, _, b = ctl.request("POST", "/v1/admin/edges", dict(edge, secret=secret), admin=True)
        if re.fullmatch(r"[!-~]{32,128}", secret):
            check(st == 200, f"secret {secret!r}: {st} {b[:200]!r}")
            ctl.heartbeat("meta-edge", {"load": 0.1}, secret=secret)
        else:
            check(st == 400, f"secret {secret!r}: {st} {b[:200]!r}")
        st, _, _ = ctl.request("PUT", f"/v1/admin/titles/{quote(n, safe='')}/licences",
                               {"licences": [{"country": n}]}, admin=True)
        check(st in (400, 404), f"licences {st}")
        st, _, _ = ctl.request("POST", "/v1/admin/edges",
                               {"id": n, "region": n, "base_url": n}, admin=True)
        check(st == 400, f"edge register {st}")
        st, _, _ = ctl.request("POST", "/v1/admin/titles",
                               {"title": n, "asset": make_asset(n)}, admin=True)
        check(st == 400, f"register {st}")
    # A title whose metadata holds metacharacters is stored and found verbatim.
    register(ctl, "quotes", metadata={"name": "O'Brien; DROP TABLE titles; --",
                                      "genres": ["it's"]})
    t = ctl.json("GET", "/v1/titles/quotes")
    check(t["name"] == "O'Brien; DROP TABLE titles; --", "stored verbatim")
    check([x["id"] for x in ctl.json("GET", "/v1/catalog?genre=it%27s")["items"]] == ["quotes"],
          "genre with a quote")
    check(len(ctl.json("GET", "/v1/catalog")["items"]) >= 4, "catalog intact")
    for cap, status in ((-1, 400), (0, 400), (1.5, 400), (1e9, 400), (10**12, 400),
                        ("10", 400), (True, 400), (None, 400), (2**70, 400), (5, 200)):
        st, _, b = ctl.request("POST", "/v1/admin/edges",
                               {"id": "meta-edge", "region": "eu-west",
                                "base_url": "http://meta-edge.test", "capacity_mbps": cap},
                               admin=True)
        check(st == status, f"capacity {cap!r}: {st} {b[:200]!r}")
    for bad in ("short", "x" * 129, "with space " * 4, "\u00e9" * 40):
        st, _, _ = ctl.request("POST", "/v1/admin/edges",
                               {"id": "meta-edge", "region": "eu-west",
                                "base_url": "http://meta-edge.test", "secret": bad}, admin=True)
        check(st == 400, f"secret {bad!r}: {st}")
    # The database is intact: every table the parameters reached still answers as before.
    check(pg.psql("SELECT count(*) FROM licences WHERE title_id = 'movie1'") == "2",
          "movie1's licences intact")
    check(ctl.json("POST", "/v1/playback", {"title": "movie1"})["session"], "movie1 plays")
    check(pg.psql("SELECT count(*) FROM titles WHERE id LIKE 'movie1%'") == "1",
          "no half-registered title")
    check(pg.psql("SELECT string_agg(id, ',' ORDER BY id) FROM edges WHERE id LIKE 'edge-%'")
          == "edge-a,edge-b", "edges intact")
    check(set(pg.psql("SELECT string_agg(id, ',') FROM edges").split(",")) ==
          edges | {"meta-edge"}, "no edge made or lost by the metacharacters")
    ctl.heartbeat("edge-a", {"load": 0.1, "titles": ["movie1"]})
    lic = ctl.json("POST", f"/v1/license/clearkey?session={sid}", {"kids": [good_kid]})
    check(b64url_dec(lic["keys"][0]["k"]).hex() == CONTENT_KEY, "the content key intact")

def main(binary, tmp):
    pg = Postgres(tmp)
    ctl = Control(binary, tmp, pg).start()
    adult, _ = setup_catalog(ctl, pg)
    test_sql_metacharacters(ctl, pg, adult)
    stop_clean(ctl)

run(main)
