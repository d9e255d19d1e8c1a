# SPDX-License-Identifier: MIT
"""Signed sessions started from warm data (control/sessid.h, cache.h, session-behind.h): an
anonymous start with the cache on is answered without waiting for PostgreSQL and its row is
written behind; the id carries the session, so another instance serves its manifest,
steering, ClearKey licence and reports with or without the row; a forged or malformed id is
an unknown session; the row can still end a session; licence windows hold to the second on
the warm path; with PostgreSQL down a warm start succeeds and what is not cached is 503."""
import base64
import hashlib
import hmac
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctlharness import (CONTENT_KEY, KEY_SECRET, Control, Postgres, check, register, row_id, run,
                        until_ok)

KID = base64.urlsafe_b64encode(bytes.fromhex("00112233445566778899aabbccddeeff")).rstrip(b"=") \
    .decode()


def metric(ctl, name):
    st, _, b = ctl.request("GET", "/metrics")
    m = re.search(rb"^" + name.encode() + rb"(?:\{[^}]*\})? (\d+)", b, re.M)
    check(st == 200 and m, f"metrics carry {name}")
    return int(m.group(1))


def wait_row(pg, sid, timeout=10):
    """The row written behind (polled: it is another process's write)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pg.psql(f"SELECT count(*) FROM sessions WHERE id = '{row_id(sid)}'") == "1":
            return
        time.sleep(0.05)
    check(False, f"row of {sid} not written within {timeout} s")


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

    # Warm path: the same answer as the database path, the row behind.
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
    a.json("POST", "/v1/playback", {"title": "m1", "profile": a.json(
        "POST", "/v1/profiles", {"name": "P"})["id"]})
    check(metric(a, "sluice_control_sessions_db_total") == db0 + 1,
          "a profile's start is a database start")
    wait_row(pg, sid)
    row = pg.psql("SELECT title_id, asset_id, country, region, client_ip, "
                  "extract(epoch FROM created_at)::bigint, extract(epoch FROM expires_at)::bigint "
                  f"FROM sessions WHERE id = '{row_id(sid)}'").split("|")
    check(row == ["m1", "m1", "GB", "eu-west", "127.0.0.1", c[8], c[9]], f"row {row}")
    check(metric(a, "sluice_control_sessions_behind_total") >= 1, "rows written counted")
    check(metric(a, "sluice_control_sessions_behind_queued") == 0, "queue empty once written")
    check(metric(a, "sluice_control_sessions_behind_dropped_total") == 0, "nothing dropped")

    # The id carries the session: another instance serves it without the row.
    pg.psql(f"DELETE FROM sessions WHERE id = '{row_id(sid)}'")
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

    # A row the database refuses (a trigger here; none is expected) does not hold back the
    # rows batched with it: they go again one to a statement, and it alone is dropped.
    register(a, "p1")
    a.json("PUT", "/v1/admin/titles/p1/licences", {"licences": [{"country": "GB"}]}, admin=True)
    wait_row(pg, a.json("POST", "/v1/playback", {"title": "p1"})["session"])  # warm, written
    pg.psql("CREATE FUNCTION refuse_p1() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF NEW.title_id = 'p1' THEN RAISE EXCEPTION 'p1 refused'; END IF; RETURN NEW; "
            "END $$; CREATE TRIGGER refuse_p1 BEFORE INSERT ON sessions FOR EACH ROW "
            "EXECUTE FUNCTION refuse_p1()")
    dropped0 = metric(a, "sluice_control_sessions_behind_dropped_total")
    bad = a.json("POST", "/v1/playback", {"title": "p1"})["session"]
    good = a.json("POST", "/v1/playback", {"title": "m1"})["session"]
    wait_row(pg, good)
    a.wait_log(r"a row written behind was refused \(p1 refused\), dropping it")
    d = metric(a, "sluice_control_sessions_behind_dropped_total")
    check(d == dropped0 + 1, f"the refused row is counted as dropped ({dropped0} -> {d})")
    check(pg.psql(f"SELECT count(*) FROM sessions WHERE id = '{row_id(bad)}'") == "0",
          "the refused row is not there")
    pg.psql("DROP TRIGGER refuse_p1 ON sessions")

    # The row can still end a session early (an operator's UPDATE), on every instance.
    s2 = a.json("POST", "/v1/playback", {"title": "m1"})["session"]
    wait_row(pg, s2)
    pg.psql(f"UPDATE sessions SET expires_at = now() - interval '1 second' "
            f"WHERE id = '{row_id(s2)}'")
    b.error("GET", f"/v1/manifest/{s2}.mpd", expect=404)
    b.error("POST", f"/v1/license/clearkey?session={s2}", {"kids": [KID]}, expect=403)
    b.error("POST", "/v1/playback/report", {"session": s2, "position": 1}, expect=404)

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

    # PostgreSQL down: a warm start still succeeds (its row waits in the queue), what is not
    # cached is 503 with Retry-After, and the queued rows are written once it is back.
    # Warm: the title (another title's change kept it) and, by one manifest, its asset.
    pre = a.json("POST", "/v1/playback", {"title": "m1"})["session"]
    check(b"<MPD" in a.json("GET", f"/v1/manifest/{pre}.mpd"), "manifest before the outage")
    pg.stop()
    down = a.json("POST", "/v1/playback", {"title": "m1"})
    check(b"<MPD" in a.json("GET", f"/v1/manifest/{down['session']}.mpd"),
          "the warm session's manifest while down")
    register_err = a.error("POST", "/v1/playback", {"title": "nosuch"}, expect=503)
    check(register_err["error"] == "unavailable", f"cold title while down: {register_err}")
    a.error("POST", "/v1/playback", {"title": "m1", "new_profile": "Q"}, expect=503)
    b.error("POST", "/v1/playback", {"title": "m1"}, expect=503)
    check(metric(a, "sluice_control_sessions_behind_queued") >= 1, "rows queued while down")
    pg.start()
    st, _, _ = until_ok(b, "GET", "/v1/catalog")
    check(st == 200, "database back")
    wait_row(pg, down["session"], timeout=15)
    check(metric(a, "sluice_control_sessions_behind_queued") == 0, "queue drained")
    # A drain writes what is queued before the process exits.
    last = a.json("POST", "/v1/playback", {"title": "m1"})["session"]
    check(a.stop() == 0, "a exits 0")
    check(pg.psql(f"SELECT count(*) FROM sessions WHERE id = '{row_id(last)}'") == "1",
          "the row queued at SIGTERM was written before exit")
    check(b.stop() == 0, "b exits 0")


run(main)
