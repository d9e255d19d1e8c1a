# SPDX-License-Identifier: MIT
"""What the sluice-control API tests share: a profile's parameters, the catalog they start
from, and dropping a title they made."""
import base64
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctlharness import check, register


def pq(p):
    """A profile's query parameters: its id and its key."""
    return f"profile={p['id']}&profile_key={p['key']}"


def pb(p):
    """A profile's members of a POST /v1/playback body: its id and its key."""
    return {"profile": p["id"], "profile_key": p["key"]}


def b64url_dec(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def db_time(pg, offset_s):
    return pg.psql(f"SELECT to_char((now() + interval '{offset_s} seconds') AT TIME ZONE 'UTC', "
                   "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")


def setup_catalog(ctl, pg):
    register(ctl, "movie1", encrypted=True,
             metadata={"name": "The Long Harbour", "synopsis": "A lighthouse keeper's winter.",
                       "year": 2021, "maturity_rating": "PG-13", "genres": ["Drama", "Mystery"],
                       "cast": [{"name": "Ada Lindqvist", "role": "actor", "character": "Keeper"},
                                {"name": "Tomas Berg", "role": "director"}]},
             markers={"intro": {"start": 1, "end": 3}, "credits": {"start": 10, "end": 12}})
    register(ctl, "kidsmovie", metadata={"name": "Pip the Penguin", "maturity_rating": "G",
                                         "genres": ["Kids", "Comedy"]})
    register(ctl, "show1-s1e1", series={"id": "show1", "name": "Night Shift", "season": 1,
                                        "episode": 1, "episode_name": "Pilot"},
             metadata={"maturity_rating": "TV-MA", "genres": ["Drama"]})
    register(ctl, "show1-s1e2", series={"id": "show1", "season": 1, "episode": 2,
                                        "episode_name": "Second Shift"})
    for t in ("movie1", "kidsmovie", "show1"):
        ctl.json("PUT", f"/v1/admin/titles/{t}/licences",
                 {"licences": [{"country": "GB"}, {"country": "se"}]}, admin=True)
    ctl.register_edge("edge-a", "eu-west", "http://edge-a.test:8080", capacity_mbps=10000)
    ctl.register_edge("edge-b", "eu-north", "http://edge-b.test:8080/")
    for e in ("edge-a", "edge-b"):
        ctl.heartbeat(e, {"load": 0.1, "titles": ["movie1"]})
    adult = ctl.json("POST", "/v1/profiles", {"name": "Alex"})
    kid = ctl.json("POST", "/v1/profiles", {"name": "Sam", "kids": True})
    check(kid["kids"] and kid["maturity_limit"] <= 1, "kids profile limit")
    # Each admin change leaves an audit line at info naming what changed, and who asked.
    by = r"; request \d+ from 127\.0\.0\.1\)"
    ctl.wait_log(r" info .*admin: title movie1 registered \(asset movie1, encrypted, \d+ files"
                 + by)
    ctl.wait_log(r" info .*admin: title show1 registered \(asset show1-s1e2, clear, \d+ files")
    ctl.wait_log(r" info .*admin: licences of title kidsmovie set \(2 window\(s\)" + by)
    ctl.wait_log(r" info .*admin: edge edge-b registered \(region eu-north, base_url "
                 r"http://edge-b\.test:8080, enabled, secret stored" + by)
    return adult, kid


def drop_title(pg, t):
    """Remove a title a test made for itself, with its sessions and reports, so that the
    tests after it see the catalogue (and its demand) as before."""
    pg.psql(f"DELETE FROM playback_reports WHERE title_id = '{t}'")
    pg.psql(f"DELETE FROM titles WHERE id = '{t}'")
    pg.psql(f"DELETE FROM assets WHERE id = '{t}'")


def stop_clean(ctl):
    """SIGTERM exits 0, and no database error was logged."""
    check(ctl.stop() == 0, "SIGTERM exits 0")
    for line in ctl.log:
        check(" error " not in line or "database error" not in line, "unexpected: " + line)
