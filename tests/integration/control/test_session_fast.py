# SPDX-License-Identifier: MIT
"""Signed sessions started from warm data (control/sessid.h, cache.h, session-behind.h): an
anonymous start with the cache on is answered without waiting for PostgreSQL and counted
behind (session_starts, no row); the id carries the session, so another instance serves its
manifest, steering, ClearKey licence and reports; the counts feed fill plans; a forged or
malformed id is an unknown session; an operator ends a session, row or not, through the admin
route; licence windows hold to the second on the warm path; with PostgreSQL down a warm start
succeeds and what is not cached is 503."""
import base64
import hashlib
import hmac
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctlharness import (CONTENT_KEY, KEY_SECRET, Control, Postgres, check, metric, register, row_id,
                        run, until_ok)

KID = base64.urlsafe_b64encode(bytes.fromhex("00112233445566778899aabbccddeeff")).rstrip(b"=") \
    .decode()


def metric_settled(ctl, name, done, timeout=10):
    """The metric's value once done(value) holds, or at the timeout (the written-starts counter
    and the queue gauge move when control reads a statement's result, just after the commit)."""
    deadline = time.monotonic() + timeout
    v = metric(ctl, name)
    while not done(v) and time.monotonic() < deadline:
        time.sleep(0.02)
        v = metric(ctl, name)
    return v


def starts(pg, title):
    """Warm starts of title counted in session_starts."""
    return int(pg.psql(f"SELECT coalesce(sum(starts), 0) FROM session_starts "
                       f"WHERE title_id = '{title}'"))


def wait_starts(pg, title, n, timeout=10):
    """Until title's counted starts reach n (polled: it is another process's write)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = starts(pg, title)
        if got >= n:
            check(got == n, f"{title}: {got} starts counted, expected {n}")
            return
        time.sleep(0.05)
    check(False, f"{title}: {starts(pg, title)} starts counted within {timeout} s, expected {n}")


def claims(sid):
    part = sid.split(".")[1]
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode().split("\n")


def forge(fields, kid="k1", secret=bytes.fromhex(KEY_SECRET)):
    """An id as control signs one (sessid.c), with the given claims."""
    def b64(b):
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    k = hmac.new(secret, b"sluice-control session id v1", hashlib.sha256).digest()
    signed = "S1." + b64("\n".join([kid] + fields[1:]).encode())
    return signed + "." + b64(hmac.new(k, signed.encode(), hashlib.sha256).digest())


def at(epoch):
    """Sleep until the wall clock reaches epoch: the behaviour under test is a clock edge."""
    d = epoch - time.time()
    if d > 0:
        time.sleep(d)


def main(binary, tmp):
    pg = Postgres(tmp)
    a = Control(binary, tmp, pg, name="a", cache_ttl="60s").start()
    b = Control(binary, tmp, pg, name="b").start()  # cache off: every read asks PostgreSQL
    register(a, "m1", encrypted=True, markers={"intro": {"start": 1, "end": 3}})
    a.json("PUT", "/v1/admin/titles/m1/licences", {"licences": [{"country": "GB"}]}, admin=True)
    register(a, "c2")
    a.json("PUT", "/v1/admin/titles/c2/licences", {"licences": [{"country": "GB"}]}, admin=True)
    a.register_edge("e1", "eu-west", "http://e1.test")
    a.heartbeat("e1", {"load": 0.1, "titles": ["m1"]})

    # Warm path: the same answer as the database path, the start counted behind.
    fast0, db0 = metric(a, "sluice_control_sessions_fast_total"), \
        metric(a, "sluice_control_sessions_db_total")
    s = a.json("POST", "/v1/playback", {"title": "m1"})
    slow = b.json("POST", "/v1/playback", {"title": "m1"})
    check(set(s) == set(slow), f"warm answer members {sorted(s)} vs {sorted(slow)}")
    check(s["title"] == "m1" and s["asset"] == "m1" and s["country"] == "GB" and
          s["skip_intro"] == {"start": 1, "end": 3} and s["resume_position"] == 0 and
          s["license_url"].endswith("session=" + s["session"]), f"warm answer {s}")
    sid = s["session"]
    c = claims(sid)
    check(c[0] == "k1" and c[2] == "m1" and c[5] and c[6] == "GB" and c[7] == "eu-west" and
          int(c[9]) - int(c[8]) == 3600 and c[10] == "0", f"claims {c}")
    check(metric(a, "sluice_control_sessions_fast_total") == fast0 + 1 and
          metric(a, "sluice_control_sessions_db_total") == db0, "counted as a warm start")
    prof = a.json("POST", "/v1/profiles", {"name": "P"})
    a.json("POST", "/v1/playback", {"title": "m1", "profile": prof["id"],
                                    "profile_key": prof["key"]})
    check(metric(a, "sluice_control_sessions_db_total") == db0 + 1,
          "a profile's start is a database start")
    wait_starts(pg, "m1", 1)
    row = pg.psql("SELECT title_id, coalesce(episode_id, '-'), asset_id, country, region, "
                  "extract(epoch FROM started_at)::bigint, starts "
                  "FROM session_starts WHERE title_id = 'm1'").split("|")
    check(row == ["m1", "-", "m1", "GB", "eu-west", c[8], "1"], f"count {row}")
    check(pg.psql(f"SELECT count(*) FROM sessions WHERE id = '{row_id(sid)}'") == "0",
          "a warm start writes no row")
    check(metric_settled(a, "sluice_control_sessions_behind_total", lambda v: v >= 1) == 1,
          "starts written counted")
    check(metric(a, "sluice_control_sessions_behind_queued") == 0, "queue empty once written")
    check(metric(a, "sluice_control_sessions_behind_dropped_total") == 0, "nothing dropped")

    # Starts of one title close together share a count: fewer rows than starts, none lost.
    rows0 = int(pg.psql("SELECT count(*) FROM session_starts WHERE title_id = 'm1'"))
    for _ in range(40):
        a.json("POST", "/v1/playback", {"title": "m1"})
    wait_starts(pg, "m1", 41)
    rows = int(pg.psql("SELECT count(*) FROM session_starts WHERE title_id = 'm1'")) - rows0
    check(1 <= rows <= 10, f"40 warm starts took {rows} rows of counts")
    # ... and weigh in the fill plan of an edge in their region.
    plan = a.json("GET", "/v1/fill/plan?edge=e1", admin=True)
    check([o["asset"] for o in plan["objects"]][:1] == ["m1"] and
          plan["objects"][0]["score"] > 40, f"counted starts rank m1 first: {plan['objects'][:1]}")

    # The id carries the session: another instance serves it, with no row anywhere.
    mpd = b.json("GET", f"/v1/manifest/{sid}.mpd")
    check(b"<MPD" in mpd and f"/v1/steering/{sid}".encode() in mpd, "manifest without the row")
    check(b.json("GET", f"/v1/steering/{sid}")["VERSION"] == 1, "steering without the row")
    lic = b.json("POST", f"/v1/license/clearkey?session={sid}", {"kids": [KID]})
    k = lic["keys"][0]["k"]
    check(base64.urlsafe_b64decode(k + "=" * (-len(k) % 4)).hex() == CONTENT_KEY,
          "ClearKey without the row")
    b.json("POST", "/v1/playback/report", {"session": sid, "position": 2.5})
    check(pg.psql(f"SELECT position FROM playback_reports WHERE session_id = '{row_id(sid)}'")
          == "2.5", "report without the row")

    # Forged, malformed and unknown-key ids are unknown sessions, never more.
    parts = sid.split(".")
    tampered = [forge(c[:2] + ["c2"] + c[3:], secret=b"\x00" * 32),   # another key's MAC
                forge(c, kid="k9"),                                  # unknown kid
                parts[0] + "." + parts[1] + "." + ("A" if parts[2][0] != "A" else "B") +
                parts[2][1:],                                        # MAC changed
                "S1." + parts[1][:-2] + "AA." + parts[2],            # claims changed
                "S1." + "A" * 1100 + "." + parts[2],                 # too long
                "S1..", "x", "0" * 32, sid + "A"]
    for t in tampered:
        for ctl in (a, b):
            st, _, _ = ctl.request("GET", f"/v1/manifest/{t}.mpd")
            check(st == 404, f"manifest of a bad id {t[:60]}: {st}")
            st, _, _ = ctl.request("GET", f"/v1/steering/{t}")
            check(st == 404, f"steering of a bad id: {st}")
            ctl.error("POST", f"/v1/license/clearkey?session={t}", {"kids": [KID]}, expect=403)
            # Longer than any id: the body check refuses it first.
            ctl.error("POST", "/v1/playback/report", {"session": t, "position": 1},
                      expect=400 if len(t) > 1024 else 404)
    # The real signer's id with other claims verifies: the test's signer is control's.
    check(forge(c) == sid, "the id is the MAC of its claims under the shared key")

    # A count the database refuses (a trigger here; none is expected) does not hold back the
    # counts batched with it: they go again one to a statement, and it alone is dropped.
    register(a, "p1")
    a.json("PUT", "/v1/admin/titles/p1/licences", {"licences": [{"country": "GB"}]}, admin=True)
    a.json("POST", "/v1/playback", {"title": "p1"})  # warm now
    wait_starts(pg, "p1", 1)
    pg.psql("CREATE FUNCTION refuse_p1() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF NEW.title_id = 'p1' THEN RAISE EXCEPTION 'p1 refused'; END IF; RETURN NEW; "
            "END $$; CREATE TRIGGER refuse_p1 BEFORE INSERT ON session_starts FOR EACH ROW "
            "EXECUTE FUNCTION refuse_p1()")
    dropped0 = metric(a, "sluice_control_sessions_behind_dropped_total")
    m1 = starts(pg, "m1")
    a.json("POST", "/v1/playback", {"title": "p1"})
    a.json("POST", "/v1/playback", {"title": "p1"})
    a.json("POST", "/v1/playback", {"title": "m1"})
    wait_starts(pg, "m1", m1 + 1)
    a.wait_log(r"a count of starts written behind was refused \(p1 refused\), dropping it")
    d = metric(a, "sluice_control_sessions_behind_dropped_total")
    check(d == dropped0 + 2, f"the refused count's two starts are dropped ({dropped0} -> {d})")
    check(starts(pg, "p1") == 1, "the refused count is not there")
    pg.psql("DROP TRIGGER refuse_p1 ON session_starts")

    # An operator ends a session early through the admin route, on every instance: a warm
    # start (no row until then) and a database start (b: its row) alike.
    s2 = a.json("POST", "/v1/playback", {"title": "m1"})["session"]
    s3 = b.json("POST", "/v1/playback", {"title": "m1"})["session"]
    st, _, _ = a.request("POST", f"/v1/admin/sessions/{s2}/end")
    check(st in (401, 403), f"ending a session needs the admin token: {st}")
    for s_ in (s2, s3):
        check(b.json("GET", f"/v1/steering/{s_}")["VERSION"] == 1, "live before its end")
        e = a.json("POST", f"/v1/admin/sessions/{s_}/end", admin=True)
        check(e == {"session": row_id(s_), "ended": True}, f"end {e}")
        b.error("GET", f"/v1/manifest/{s_}.mpd", expect=404)
        b.error("POST", f"/v1/license/clearkey?session={s_}", {"kids": [KID]}, expect=403)
        b.error("POST", "/v1/playback/report", {"session": s_, "position": 1}, expect=404)
        e = b.json("POST", f"/v1/admin/sessions/{s_}/end", admin=True)
        check(e == {"session": row_id(s_), "ended": False}, f"ended twice {e}")
    a.wait_log(r"admin: session " + row_id(s2) + r" ended \(request")
    check(s2 not in "".join(a.log), "the whole id (a bearer credential) is not logged")
    a.error("POST", f"/v1/admin/sessions/{tampered[2]}/end", {}, admin=True, expect=404)

    # Licence windows on the warm path hold to the second, whatever the TTL: a window from
    # t0 + 3 to t0 + 6, judged one second either side of each edge from the cached windows.
    register(a, "w1")
    t0 = float(pg.psql("SELECT extract(epoch FROM now())"))
    frm = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(t0) + 3))
    until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(t0) + 6))
    a.json("PUT", "/v1/admin/titles/w1/licences",
           {"licences": [{"country": "GB", "from": frm, "until": until}]}, admin=True)
    f0 = metric(a, "sluice_control_sessions_fast_total")
    at(int(t0) + 2)
    a.error("POST", "/v1/playback", {"title": "w1"}, expect=451)
    at(int(t0) + 4)
    w = a.json("POST", "/v1/playback", {"title": "w1"})
    check(metric(a, "sluice_control_sessions_fast_total") == f0 + 1, "licensed start was warm")
    check(claims(w["session"])[2] == "w1", "the session is w1's")
    at(int(t0) + 5)
    a.json("POST", "/v1/playback", {"title": "w1"})
    at(int(t0) + 7)
    a.error("POST", "/v1/playback", {"title": "w1"}, expect=451)
    b.error("GET", f"/v1/manifest/{w['session']}.mpd", expect=451)

    # PostgreSQL down: a warm start still succeeds (its count waits in the queue), what is not
    # cached is 503 with Retry-After, and the queued counts are written once it is back.
    # Warm: the title (another title's change kept it) and, by one manifest, its asset.
    pre = a.json("POST", "/v1/playback", {"title": "m1"})["session"]
    check(b"<MPD" in a.json("GET", f"/v1/manifest/{pre}.mpd"), "manifest before the outage")
    metric_settled(a, "sluice_control_sessions_behind_queued", lambda v: v == 0)
    n0 = starts(pg, "m1")
    pg.stop()
    down = a.json("POST", "/v1/playback", {"title": "m1"})
    check(b"<MPD" in a.json("GET", f"/v1/manifest/{down['session']}.mpd"),
          "the warm session's manifest while down")
    register_err = a.error("POST", "/v1/playback", {"title": "nosuch"}, expect=503)
    check(register_err["error"] == "unavailable", f"cold title while down: {register_err}")
    a.error("POST", "/v1/playback", {"title": "m1", "new_profile": "Q"}, expect=503)
    b.error("POST", "/v1/playback", {"title": "m1"}, expect=503)
    check(metric(a, "sluice_control_sessions_behind_queued") >= 1, "counts queued while down")
    pg.start()
    st, _, _ = until_ok(b, "GET", "/v1/catalog")
    check(st == 200, "database back")
    wait_starts(pg, "m1", n0 + 1, timeout=15)
    check(metric_settled(a, "sluice_control_sessions_behind_queued", lambda v: v == 0) == 0,
          "queue drained")
    # A drain writes what is queued before the process exits.
    a.json("POST", "/v1/playback", {"title": "m1"})
    check(a.stop() == 0, "a exits 0")
    check(starts(pg, "m1") == n0 + 2, "the count queued at SIGTERM was written before exit")
    check(b.stop() == 0, "b exits 0")


run(main)
