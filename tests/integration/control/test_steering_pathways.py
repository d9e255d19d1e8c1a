#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Content Steering against the MPD the player holds: PATHWAY-CLONES name exactly the ranked
edges whose ids are not BaseURL serviceLocations of that MPD, each based on a pathway that is
in it (DASH-IF Content Steering; dash.js ignores a pathway id it does not know, and a clone id
that already exists is not a new pathway).

- edge sp-b is down when the session starts, so its MPD leaves it out; once it heartbeats
  again steering ranks it first and must clone it, though it was registered long before;
- edge sp-c is registered after the session but before the MPD is fetched, so it is in the
  MPD and must never come as a clone;
- the MPD is made by one instance (warm caches) and steering answered by another, through
  the ContentSteering URL of the MPD (and its RELOAD-URI), as a player asks; the same for the
  MPD inlined in POST /v1/playback."""
import os
import sys
import time
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

sys.path.insert(0, os.path.dirname(__file__))
from ctlharness import Control, Postgres, check, register, run  # noqa: E402

MPD_NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}
WARM_WAIT = 1.0 + 3.0  # default cache_ttl (1 s) and the refresh query's time


def mpd_parts(text):
    """The MPD's pathways (BaseURL serviceLocations, in order) and its steering URL as a
    path with query, relative to control."""
    root = ET.fromstring(text)
    ids = [b.get("serviceLocation") for b in root.findall("d:BaseURL", MPD_NS)]
    cs = root.find("d:ContentSteering", MPD_NS)
    check(cs is not None and cs.get("defaultServiceLocation") == ids[0],
          f"ContentSteering names the first pathway: {text[:600]!r}")
    return ids, local(cs.text)


def local(url):
    """An absolute control URL (public_url http://control.test:7000) as path?query."""
    u = urlsplit(url)
    check(u.netloc == "control.test:7000", f"control URL {url}")
    return u.path + ("?" + u.query if u.query else "")


def check_steering(st, in_mpd, edge_host, want_first, what):
    """st: a steering answer for a player holding an MPD with pathways in_mpd."""
    prio = st["PATHWAY-PRIORITY"]
    clones = st.get("PATHWAY-CLONES", [])
    check(prio and prio[0] == want_first, f"{what}: {want_first} ranked first: {st}")
    ids = [c["ID"] for c in clones]
    check(len(ids) == len(set(ids)), f"{what}: one clone per id: {st}")
    check(not set(ids) & set(in_mpd), f"{what}: a pathway of the MPD sent as a clone: {st}")
    for e in prio:
        if e in in_mpd:
            continue
        c = [c for c in clones if c["ID"] == e]
        check(c, f"{what}: {e} ranked but neither in the MPD {in_mpd} nor cloned: {st}")
        check(c[0]["BASE-ID"] in in_mpd, f"{what}: clone of {e} based on a pathway not in "
              f"the MPD {in_mpd}: {st}")
        check(c[0]["URI-REPLACEMENT"] == {"HOST": edge_host[e]},
              f"{what}: clone of {e} points at its host: {st}")
    check(set(ids) <= set(prio), f"{what}: a clone of an edge not ranked: {st}")


def main(binary, tmp):
    pg = Postgres(tmp)
    cold = Control(binary, tmp, pg, name="ctl-cold").start()
    warm = Control(binary, tmp, pg, name="ctl-warm", cache_ttl=None).start()
    register(cold, "spmovie")
    cold.json("PUT", "/v1/admin/titles/spmovie/licences", {"licences": [{"country": "GB"}]},
              admin=True)
    hosts = {"sp-a": "sp-a.test:8080", "sp-b": "sp-b.test:8081", "sp-c": "sp-c.test"}
    cold.register_edge("sp-a", "eu-west", "http://sp-a.test:8080", capacity_mbps=1000)
    cold.register_edge("sp-b", "eu-west", "http://sp-b.test:8081/", capacity_mbps=1000)
    # sp-a serves, loaded; sp-b was alive once and is down now (no heartbeat for an hour).
    cold.heartbeat("sp-a", {"load": 0.5, "titles": ["spmovie"]})
    cold.heartbeat("sp-b", {"load": 0.0, "titles": ["spmovie"]})
    pg.psql("UPDATE edge_health SET at = now() - interval '1 hour' WHERE edge_id = 'sp-b'")
    pg.psql("UPDATE edges SET registered_at = now() - interval '1 day'")

    s = cold.json("POST", "/v1/playback", {"title": "spmovie"})
    sid = s["session"]
    # sp-c joins after the session was made (a minute after, to whole-second clocks), before
    # its manifest is fetched.
    pg.psql(f"UPDATE sessions SET created_at = now() - interval '1 minute' WHERE id = '{sid}'")
    cold.register_edge("sp-c", "us-east", "http://sp-c.test", capacity_mbps=1000)
    cold.heartbeat("sp-c", {"load": 0.0, "titles": []})

    # The MPD from the warm instance, once its edge snapshot has sp-c.
    deadline = time.monotonic() + WARM_WAIT
    while True:
        code, _, body = warm.request("GET", f"/v1/manifest/{sid}.mpd")
        check(code in (200, 503), f"manifest from the warm instance: {code} {body[:200]!r}")
        if code == 200:
            ids, steer = mpd_parts(body.decode())
            if "sp-c" in ids:
                break
        check(time.monotonic() < deadline, "the warm instance never saw sp-c")
        time.sleep(0.1)
    check(ids == ["sp-a", "sp-c"], f"the MPD has the live edges, sp-b absent: {ids}")
    check(steer.startswith(f"/v1/steering/{sid}"), f"steering URL of the session: {steer}")

    # sp-b comes back, idle and holding the title: ranked first from now on.
    cold.heartbeat("sp-b", {"load": 0.0, "titles": ["spmovie"]})
    st = cold.json("GET", steer)
    check_steering(st, ids, hosts, "sp-b", "cold instance")
    check([c["ID"] for c in st.get("PATHWAY-CLONES", [])] == ["sp-b"], f"only sp-b cloned {st}")
    check(st["PATHWAY-CLONES"][0]["BASE-ID"] == "sp-a", f"based on the best MPD pathway {st}")
    # As dash.js asks: the steering URL (then RELOAD-URI) with its pathways and throughputs.
    q = "_DASH_pathway=%22sp-a%22&_DASH_throughput=5000000"
    st = cold.json("GET", steer + ("&" if "?" in steer else "?") + q)
    check_steering(st, ids, hosts, "sp-b", "with the player's query")
    reload = local(st["RELOAD-URI"])
    check(reload.startswith(f"/v1/steering/{sid}"), f"RELOAD-URI of the session: {reload}")
    st = cold.json("GET", reload + ("&" if "?" in reload else "?") + q)
    check_steering(st, ids, hosts, "sp-b", "through RELOAD-URI")
    # The warm instance answers the same once its snapshot sees sp-b alive again.
    deadline = time.monotonic() + WARM_WAIT
    while True:
        st = warm.json("GET", steer)
        if st["PATHWAY-PRIORITY"][:1] == ["sp-b"] or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    check_steering(st, ids, hosts, "sp-b", "warm instance")

    # A later MPD of the same session has sp-b, and its steering URL says so: no clones.
    ids2, steer2 = mpd_parts(cold.json("GET", f"/v1/manifest/{sid}.mpd").decode())
    check(ids2[0] == "sp-b" and set(ids2) == {"sp-a", "sp-b", "sp-c"}, f"MPD now {ids2}")
    st = warm.json("GET", steer2)
    check_steering(st, ids2, hosts, "sp-b", "a later MPD")
    check("PATHWAY-CLONES" not in st, f"nothing to clone for the later MPD {st}")

    # The inline MPD of POST /v1/playback, made while sp-b is down again.
    pg.psql("UPDATE edge_health SET at = now() - interval '1 hour' WHERE edge_id = 'sp-b'")
    s = cold.json("POST", "/v1/playback", {"title": "spmovie", "inline_manifest": True})
    ids3, steer3 = mpd_parts(s["manifest"])
    check(ids3 == ["sp-a", "sp-c"], f"inline MPD without sp-b: {ids3}")
    check(steer3.startswith(f"/v1/steering/{s['session']}"), f"inline steering URL {steer3}")
    cold.heartbeat("sp-b", {"load": 0.0, "titles": ["spmovie"]})
    st = cold.json("GET", steer3)
    check_steering(st, ids3, hosts, "sp-b", "inline MPD")

    check(cold.stop() == 0 and warm.stop() == 0, "both instances exit 0")


run(main)
