# SPDX-License-Identifier: MIT
"""Several stateless instances over one PostgreSQL; SIGTERM drains an in-flight request and
exits 0; SIGHUP reloads the prefix table."""
import os
import signal
import subprocess
import sys
import threading
import time

MIGRATE_LOCK_KEY = 7112790300  # control/migrate.c

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctlharness import (Control, Failure, Postgres, check, make_asset, register, run,
                        until_ok)


def main(binary, tmp):
    pg = Postgres(tmp)
    a = Control(binary, tmp, pg, name="a")
    b = Control(binary, tmp, pg, name="b")
    mig = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "control",
                       "migrations")
    want = len([f for f in os.listdir(mig) if f.endswith(".sql")])
    # Both start on an empty database at once, while the migration lock is held (as by a
    # third instance in the middle of migrating): both wait on it; once it is free, one
    # applies every migration and the other finds nothing left to do.
    locker = subprocess.Popen(["psql", pg.conninfo, "-XAtq"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    locker.stdin.write(f"SELECT 'locked' FROM pg_advisory_lock({MIGRATE_LOCK_KEY});\n")
    locker.stdin.flush()
    check(locker.stdout.readline().strip() == "locked", "migration lock taken")
    starters = [threading.Thread(target=c.start) for c in (a, b)]
    for t in starters:
        t.start()
    waiting = "0"
    for _ in range(300):  # each query is the wait; both connect within a few
        waiting = pg.psql("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = "
                          "'Lock' AND wait_event = 'advisory'")
        if waiting == "2":
            break
    check(waiting == "2", f"{waiting} instances waiting on the migration lock, want 2")
    locker.stdin.write(f"SELECT pg_advisory_unlock({MIGRATE_LOCK_KEY});\n\\q\n")
    locker.stdin.flush()
    locker.wait(10)
    for t in starters:
        t.join(60)
    check(a.port and b.port, "both instances ready after the lock was released")
    applied = [i for i, c in enumerate((a, b))
               if any(f", {want} migration(s) applied" in line for line in c.log)]
    check(len(applied) == 1, f"instances that applied the {want} migrations: {applied}")
    other = (a, b)[1 - applied[0]] if len(applied) == 1 else a
    check(not any("applied" in line for line in other.log)
          and any("up to date" in line for line in other.log),
          "the second instance applied migrations too")
    register(a, "m1", encrypted=True)
    b.json("PUT", "/v1/admin/titles/m1/licences", {"licences": [{"country": "GB"}]}, admin=True)
    a.register_edge("e1", "eu-west", "http://e1.test")
    # The secret made through one instance signs heartbeats the other accepts.
    b.heartbeat("e1", {"load": 0.1})
    prof = a.json("POST", "/v1/profiles", {"name": "P"})

    # Any step of a session on any instance.
    s = a.json("POST", "/v1/playback", {"title": "m1", "profile": prof["id"],
                                          "profile_key": prof["key"]})
    sid = s["session"]
    mpd = b.json("GET", f"/v1/manifest/{sid}.mpd")
    check(b"<MPD" in mpd, "manifest from the other instance")
    b.json("POST", "/v1/playback/report", {"session": sid, "position": 5, "device": "tv"})
    cw = a.json("GET", f"/v1/continue-watching?profile={prof['id']}&profile_key={prof['key']}")
    check(cw["items"][0]["position"] == 5, "report through b, visible through a")
    # Migrations ran once although both started on the same database.
    n = pg.psql("SELECT count(*), count(DISTINCT version) FROM schema_migrations")
    check(n == f"{want}|{want}", f"schema_migrations rows {n}, want {want}")

    # SIGTERM with a request waiting on PostgreSQL: it completes, then exit 0.
    locker = subprocess.Popen(["psql", pg.conninfo, "-XAtq"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    locker.stdin.write("BEGIN; LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE; SELECT 'locked';\n")
    locker.stdin.flush()
    check(locker.stdout.readline().strip() == "locked", "lock")
    res = {}
    start = len(b.log)
    th = threading.Thread(target=lambda: res.setdefault(
        "r", b.request("POST", "/v1/playback", {"title": "m1"})))
    th.start()
    # The request is in its handler once PostgreSQL shows it waiting on the lock; the
    # server exposes no event for that, so ask PostgreSQL (each query is the wait).
    waited = "0"
    for _ in range(200):
        waited = pg.psql("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
        if waited != "0":
            break
    check(waited != "0", "request never reached the database")
    b.proc.send_signal(signal.SIGTERM)
    b.wait_log(r"draining", start=start)
    locker.stdin.write("COMMIT;\n\\q\n")
    locker.stdin.flush()
    locker.wait(10)
    th.join(10)
    st, h, body = res["r"]
    check(st == 200 and h.get("connection") == "close", f"in-flight request drained: {st}")
    check(b.proc.wait(10) == 0, "exit 0 after drain")

    # SIGHUP: a new prefix table takes effect without a restart (loopback moved to SE, in
    # SE's region: a country has one).
    with open(a.cfg_path) as f:
        cfg = f.read()
    with open(a.cfg_path, "w") as f:
        f.write(cfg.replace("cidr: 127.0.0.0/8, country: GB, region: eu-west",
                            "cidr: 127.0.0.0/8, country: SE, region: eu-north"))
    start = len(a.log)
    a.proc.send_signal(signal.SIGHUP)
    a.wait_log(r"configuration reloaded", start=start)
    a.error("POST", "/v1/playback", {"title": "m1"}, expect=451)
    # A broken file on reload keeps the running configuration.
    with open(a.cfg_path, "w") as f:
        f.write(cfg.replace("cidr: 127.0.0.0/8", "cidr: 127.0.0.1/8"))
    start = len(a.log)
    a.proc.send_signal(signal.SIGHUP)
    a.wait_log(r"keeping the running configuration", start=start)
    a.error("POST", "/v1/playback", {"title": "m1"}, expect=451)
    check(a.stop() == 0, "a exits 0")

    # Warm data: with cache_ttl on, a session's manifest needs no database while fresh...
    c = Control(binary, tmp, pg, name="c", cache_ttl="60s").start()
    s = c.json("POST", "/v1/playback", {"title": "m1"})
    check(b"<MPD" in c.json("GET", f"/v1/manifest/{s['session']}.mpd"), "manifest, cache on")
    pg.stop()
    mpd = c.json("GET", f"/v1/manifest/{s['session']}.mpd")
    check(b"<MPD" in mpd, "warm manifest while PostgreSQL is down")
    c.json("GET", f"/v1/steering/{s['session']}")
    # ...but licences always ask PostgreSQL.
    c.error("POST", f"/v1/license/clearkey?session={s['session']}",
            {"kids": ["ABEiM0RVZneImaq7zN3u_w"]}, expect=503)
    pg.start()
    # The pool may be in its back-off after the outage: retry as a client would.
    st, _, b = until_ok(c, "POST", "/v1/admin/titles", {"title": "w1", "asset": make_asset("w1")},
                        admin=True)
    check(st == 200, f"register after the outage: {st} {b!r}")
    # The players' pool keeps a back-off of its own (the admin writes have a pool of their
    # own): past it before the licence window below starts counting.
    st, _, b = until_ok(c, "GET", "/v1/titles/w1")
    check(st == 200, f"the title after the outage: {st} {b!r}")
    # A cached session still honours its licence window to the second.
    # The window is long enough for the three calls inside it on a loaded machine.
    t0 = time.monotonic()
    until = pg.psql("SELECT to_char((now() + interval '4 seconds') AT TIME ZONE 'UTC', "
                    "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
    c.json("PUT", "/v1/admin/titles/w1/licences",
           {"licences": [{"country": "GB", "until": until}]}, admin=True)
    w = c.json("POST", "/v1/playback", {"title": "w1"})
    c.json("GET", f"/v1/manifest/{w['session']}.mpd")
    # The behaviour under test is a clock boundary: let the clock pass it, as the database
    # (the same machine's clock) reads it.
    time.sleep(max(0.0, t0 + 4.0 - time.monotonic()))
    deadline = time.monotonic() + 10
    while pg.psql(f"SELECT now() > '{until}'::timestamptz") != "t":
        check(time.monotonic() < deadline, f"the database's clock never passed {until}")
        time.sleep(0.05)
    c.error("GET", f"/v1/manifest/{w['session']}.mpd", expect=451)
    c.error("GET", f"/v1/steering/{w['session']}", expect=451)
    check(c.stop() == 0, "c exits 0")


run(main)
