# SPDX-License-Identifier: MIT
"""PostgreSQL slow or down: 503 with Retry-After (never a partial manifest or licence), the
loop keeps answering what needs no database, and service resumes when the database returns."""
import base64
import json
import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctlharness import (Control, Failure, Postgres, check, heartbeat_headers, make_asset,
                        metric, register, run, until_ok)

TIMED_OUT = {"error": "unavailable", "detail": "database timed out"}


def main(binary, tmp):
    pg = Postgres(tmp)
    ctl = Control(binary, tmp, pg).start()
    register(ctl, "m1", encrypted=True)
    ctl.json("PUT", "/v1/admin/titles/m1/licences", {"licences": [{"country": "GB"}]}, admin=True)
    ctl.register_edge("e1", "eu-west", "http://e1.test")
    ctl.heartbeat("e1", {"load": 0.1})
    sid = ctl.json("POST", "/v1/playback", {"title": "m1"})["session"]
    # A clear title for HLS (encrypted ones are DASH-only): its media playlist's path.
    register(ctl, "c1")
    ctl.json("PUT", "/v1/admin/titles/c1/licences", {"licences": [{"country": "GB"}]}, admin=True)
    csid = ctl.json("POST", "/v1/playback", {"title": "c1"})["session"]
    master = ctl.json("GET", f"/v1/manifest/{csid}.m3u8").decode()
    media = [l for l in master.splitlines() if l and not l.startswith("#")][0]
    check(ctl.json("GET", f"/v1/manifest/{media}").startswith(b"#EXTM3U"), "media playlist")
    kid = base64.urlsafe_b64encode(bytes.fromhex("00112233445566778899aabbccddeeff")) \
        .rstrip(b"=").decode()

    n_sessions = int(pg.psql("SELECT count(*) FROM sessions"))
    # Slow: a lock held elsewhere stalls the session insert past the 2 s database timeout. The
    # server's statement_timeout (100 ms below it) cancels the statement first: a slow
    # database all the same, answered "database timed out" at the 2 s timeout.
    locker = subprocess.Popen(["psql", pg.conninfo, "-XAtq"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    locker.stdin.write("BEGIN; LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE; SELECT 'locked';\n")
    locker.stdin.flush()
    check(locker.stdout.readline().strip() == "locked",
          "lock taken")
    result = {}

    def slow():
        t0 = time.monotonic()
        result["r"] = ctl.request("POST", "/v1/playback", {"title": "m1"})
        result["t"] = time.monotonic() - t0
    th = threading.Thread(target=slow)
    th.start()
    # While that request waits on PostgreSQL, the loop still answers.
    t0 = time.monotonic()
    st, _, _ = ctl.request("GET", "/healthz")
    check(st == 200 and time.monotonic() - t0 < 0.5, "loop blocked by a slow query")
    th.join(10)
    st, h, b = result["r"]
    check(st == 503 and h.get("retry-after") == "1" and json.loads(b) == TIMED_OUT,
          f"slow database: {st} {b!r}")
    check(1.95 <= result["t"] < 4, f"answered at the timeout ({result['t']:.2f}s)")
    # The routes that read a session, while its table is locked: 503 at the timeout, or a
    # whole answer soon (from what control already holds), never a partial one.
    whole = {"mpd": lambda b: b.rstrip().endswith(b"</MPD>"),
             "steering": lambda b: "PATHWAY-PRIORITY" in json.loads(b),
             "clearkey": lambda b: len(json.loads(b).get("keys", [])) == 1}
    for kind, m, p, body in [("mpd", "GET", f"/v1/manifest/{sid}.mpd", None),
                             ("steering", "GET", f"/v1/steering/{sid}", None),
                             ("clearkey", "POST", f"/v1/license/clearkey?session={sid}",
                              {"kids": [kid]})]:
        t0 = time.monotonic()
        st, h, b = ctl.request(m, p, body)
        dt = time.monotonic() - t0
        print(f"# slow database: {m} {p} -> {st} in {dt:.2f} s")
        if st == 503:
            check(h.get("retry-after") and 1.95 <= dt < 4 and json.loads(b) == TIMED_OUT,
                  f"{p} with a slow database: {st} in {dt:.2f} s {b!r}")
        else:
            check(st == 200 and dt < 1.5 and whole[kind](b),
                  f"{p} with a slow database: {st} in {dt:.2f} s {b[:200]!r}")
    locker.stdin.write("COMMIT;\n\\q\n")
    locker.stdin.flush()
    locker.wait(10)
    # The statement the server abandoned did not commit a session behind the 503.
    n = int(pg.psql("SELECT count(*) FROM sessions"))
    check(n == n_sessions, f"abandoned statement left {n - n_sessions} extra session(s)")
    st, _, _ = until_ok(ctl, "POST", "/v1/playback", {"title": "m1"})
    check(st == 200, "recovered after the lock")

    # Every pool connection (3) stuck behind a lock, a catalog read queued behind them, and the
    # stuck backends killed: the read gets a new connection at once, not a 503 at its deadline.
    locker = subprocess.Popen(["psql", pg.conninfo, "-XAtq"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    locker.stdin.write("BEGIN; LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE; SELECT 'locked';\n")
    locker.stdin.flush()
    check(locker.stdout.readline().strip() == "locked", "lock taken again")
    # Reports, each a statement of its own (starts would share one batched statement).
    stuck = [threading.Thread(target=lambda: ctl.request("POST", "/v1/playback/report",
                                                         {"session": sid, "position": 1}))
             for _ in range(3)]
    for t in stuck:
        t.start()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and pg.psql(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'") != "3":
        time.sleep(0.05)
    check(pg.psql("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'") == "3",
          "three statements waiting on the lock")
    queued = {}

    def catalog():
        t0 = time.monotonic()
        queued["r"] = ctl.request("GET", "/v1/catalog")
        queued["t"] = time.monotonic() - t0
    reader = threading.Thread(target=catalog)
    reader.start()
    time.sleep(0.3)
    pg.psql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE wait_event_type = 'Lock'")
    reader.join(10)
    print(f"# queued read: {queued['r'][0]} after {queued['t']:.2f} s")
    check(queued["r"][0] == 200 and queued["t"] < 1.5,
          f"a read queued behind killed connections: {queued['r'][0]} after {queued['t']:.2f} s")
    locker.stdin.write("COMMIT;\n\\q\n")
    locker.stdin.flush()
    locker.wait(10)
    for t in stuck:
        t.join(10)
    # Each of the three reports lost with its backend: a warning says why, and which statement.
    lost = [l for l in ctl.log if re.search(r" warn .*pgdb: (connection \d+: .*; its statement "
                                            r"\S+ fails|\S+: the database refused it: "
                                            r"SQLSTATE 57P01: )", l)]
    check(len(lost) == 3, f"{len(lost)} warnings for the three statements killed: {lost}")
    check(all("report" in l for l in lost), f"the statements are not named: {lost}")

    # A statement that waited in the queue (four reports, a pool of three, all stuck behind a
    # lock released after the timeout): each report either answered 200 and was written, or
    # answered 503 and was not, whichever the lock's release allows; none is written behind
    # its 503.
    def reports_of(device):
        return int(pg.psql(f"SELECT count(*) FROM playback_reports WHERE device = '{device}'"))
    rsid = ctl.json("POST", "/v1/playback", {"title": "m1"})["session"]
    rows0 = reports_of("queued-test")
    locker = subprocess.Popen(["psql", pg.conninfo, "-XAtq"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    locker.stdin.write("BEGIN; LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE; SELECT 'locked';\n")
    locker.stdin.flush()
    check(locker.stdout.readline().strip() == "locked", "lock taken a third time")
    statuses = []

    def report(i):
        statuses.append(ctl.request("POST", "/v1/playback/report",
                                    {"session": rsid, "position": 1 + i,
                                     "device": "queued-test"})[0])
    senders = []
    for i in range(4):
        senders.append(threading.Thread(target=report, args=(i,)))
        senders[-1].start()
        time.sleep(0.05)
    time.sleep(2.3)
    locker.stdin.write("COMMIT;\n\\q\n")
    locker.stdin.flush()
    locker.wait(10)
    for t in senders:
        t.join(15)
    time.sleep(0.5)
    written = reports_of("queued-test") - rows0
    print(f"# queued reports: statuses {sorted(statuses)}, {written} written")
    check(len(statuses) == 4 and written == statuses.count(200),
          f"reports answered {sorted(statuses)} but {written} written")

    # A statement the server cancels for the statement_timeout control gave it (SQLSTATE
    # 57014) is control's own timeout: 503 "database timed out" at database_pool.timeout,
    # counted, and nothing logged (it was "database unavailable" at the server's timeout, and
    # a warning that the database refused it, for each request). The catalog reads titles.
    def lock_titles():
        lk = subprocess.Popen(["psql", pg.conninfo, "-XAtq"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lk.stdin.write("BEGIN; LOCK TABLE titles IN ACCESS EXCLUSIVE MODE; SELECT 'locked';\n")
        lk.stdin.flush()
        check(lk.stdout.readline().strip() == "locked", "titles locked")
        return lk

    def unlock(lk):
        lk.stdin.write("COMMIT;\n\\q\n")
        lk.stdin.flush()
        lk.wait(10)
    log_mark = len(ctl.log)
    unavailable0 = metric(ctl, "sluice_control_db_unavailable_total")
    locker = lock_titles()
    for p in ("/v1/catalog", "/v1/titles/m1"):
        t0 = time.monotonic()
        st, h, b = ctl.request("GET", p)
        dt = time.monotonic() - t0
        print(f"# statement past its statement_timeout: GET {p} -> {st} in {dt:.2f} s {b!r}")
        check(st == 503 and h.get("retry-after") == "1" and json.loads(b) == TIMED_OUT
              and 1.95 <= dt < 4,
              f"{p} with a statement past its statement_timeout: {st} in {dt:.2f} s {b!r}")
    unlock(locker)
    check(metric(ctl, "sluice_control_db_unavailable_total") == unavailable0 + 2,
          "the timed-out statements' 503s not counted")
    said = [l for l in ctl.log[log_mark:] if " warn " in l or " error " in l]
    check(not said, f"a slow database logged: {said}")
    check(until_ok(ctl, "GET", "/v1/catalog")[0] == 200, "catalog after the lock")

    # Any other cancel is the database refusing the statement, as before: pg_cancel_backend()
    # on a catalog read waiting on the lock is 503 "database unavailable" at once, with a
    # warning naming the statement and why.
    log_mark = len(ctl.log)
    locker = lock_titles()
    cancelled = {}

    def read():
        t0 = time.monotonic()
        cancelled["r"] = ctl.request("GET", "/v1/catalog")
        cancelled["t"] = time.monotonic() - t0
    reader = threading.Thread(target=read)
    reader.start()
    waiting = "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline and not pg.psql(waiting):
        time.sleep(0.02)
    check(pg.psql(f"SELECT count(pg_cancel_backend(pid)) FROM ({waiting}) w") == "1",
          "one statement waiting on the lock to cancel")
    reader.join(10)
    unlock(locker)
    st, h, b = cancelled["r"]
    print(f"# cancelled read: {st} after {cancelled['t']:.2f} s {b!r}")
    check(st == 503 and h.get("retry-after") == "1" and cancelled["t"] < 1.5 and
          json.loads(b) == {"error": "unavailable", "detail": "database unavailable"},
          f"a statement cancelled by pg_cancel_backend: {st} after {cancelled['t']:.2f} s {b!r}")
    ctl.wait_log(r" warn .*pgdb: \S+: the database refused it: SQLSTATE 57014: canceling "
                 r"statement due to user request", start=log_mark)

    # A slow database is not a down one: nothing said it was unreachable.
    check(not any("unreachable" in l for l in ctl.log), "slow database logged as unreachable")

    # Down: every database-backed route answers 503 with Retry-After and nothing partial.
    log_mark = len(ctl.log)
    t_down = time.monotonic()
    pg.stop()
    routes = [("POST", "/v1/playback", {"title": "m1"}), ("GET", f"/v1/manifest/{sid}.mpd", None),
              ("GET", f"/v1/steering/{sid}", None),
              ("POST", f"/v1/license/clearkey?session={sid}", {"kids": [kid]}),
              ("GET", "/v1/catalog", None), ("GET", "/v1/search?q=x", None),
              ("GET", "/v1/titles/m1", None), ("GET", "/v1/fill/plan?edge=e1", None),
              ("POST", "/v1/edges/e1/heartbeat", {"load": 0}),
              ("POST", "/v1/playback/report", {"session": sid, "position": 1}),
              ("GET", "/v1/continue-watching?profile=1", None),
              ("POST", "/v1/profiles", {"name": "Robin"}), ("GET", "/v1/catalog/trending", None),
              ("GET", "/v1/catalog/genres", None),
              # HLS, with nothing cached (cache_ttl 0): master and media playlists.
              ("GET", f"/v1/manifest/{csid}.m3u8", None), ("GET", f"/v1/manifest/{media}", None),
              # Admin: reads and every kind of change.
              ("GET", "/v1/admin/keys", None), ("POST", "/v1/admin/keys/rotate", {}),
              ("PUT", "/v1/admin/titles/m1/licences", {"licences": [{"country": "SE"}]}),
              ("POST", "/v1/admin/edges", {"id": "e2", "region": "eu-west",
                                           "base_url": "http://e2.test"}),
              ("POST", "/v1/admin/titles", {"title": "m2", "asset": make_asset("m2")}),
              ("POST", f"/v1/admin/sessions/{sid}/end", None)]
    def statements():
        text = ctl.request("GET", "/metrics")[2].decode()
        m = re.search(r"^sluice_control_session_statements_total (\d+)", text, re.M)
        return int(m.group(1)) if m else -1
    statements0 = statements()
    for m, p, body in routes * 2:  # twice: the first fails connecting, the next in back-off
        t0 = time.monotonic()
        hdrs = None
        if p.endswith("/heartbeat"):
            # Signed with the secret this instance already holds: the store is what fails.
            data = json.dumps(body).encode()
            hdrs = heartbeat_headers(Control.edge_secrets["e1"], "e1", data,
                                     int(time.time() * 1000))
            body = data
        st, h, b = ctl.request(m, p, body, headers=hdrs,
                               admin=p.startswith(("/v1/fill/plan", "/v1/admin/")))
        check(st == 503 and h.get("retry-after"), f"{m} {p} with the database down: {st} {b!r}")
        check(h.get("content-type") == "application/json", f"{p}: 503 content type {h}")
        check(json.loads(b) == {"error": "unavailable", "detail": json.loads(b)["detail"]}
              and b.startswith(b'{"error":"unavailable"'), f"{p}: error body {b!r}")
        check(b"<MPD" not in b and b'"keys"' not in b and b"#EXT" not in b
              and b'"secret"' not in b, f"{p}: partial content")
        check(time.monotonic() - t0 < 3.5, f"{p}: answered within the timeout")
    check(statements0 >= 0 and statements() == statements0,
          f"session statements counted while none could be sent: {statements0} -> {statements()}")
    st, _, b = ctl.request("GET", "/healthz")
    check(st == 200 and b'"db_connections":0' in b, f"healthz while down {b!r}")
    st, _, b = ctl.request("GET", "/metrics")
    check(b"sluice_control_db_unavailable_total" in b, "metrics count 503s")
    # Nothing changed, so no admin change was audited.
    check(not any("admin: " in l for l in ctl.log[log_mark:]), "an audit line while down")
    # The operator hears of it once, with libpq's reason, not once per 503.
    ctl.wait_log(r" warn .*database: unreachable \(", start=log_mark)
    down = [l for l in ctl.log[log_mark:] if "database: unreachable" in l]
    check(len(down) == 1, f"{len(down)} 'unreachable' lines for one outage: {down}")
    m = re.search(r"unreachable \((.+)\); answering 503", down[0])
    check(m and m.group(1) != "unknown" and "\n" not in m.group(1).strip(),
          f"unreachable line without a reason: {down[0]!r}")
    # The admin requests go through a pool of their own, which says so too, once.
    admin_down = [l for l in ctl.log[log_mark:]
                  if re.search(r" warn .*database \(admin pool\): cannot connect \(.+\); admin", l)]
    check(len(admin_down) == 1, f"{len(admin_down)} admin pool lines for one outage: {admin_down}")

    # Back: the pool reconnects on demand, and says so once, with how long it was down.
    pg.start()
    st, _, b = until_ok(ctl, "GET", f"/v1/manifest/{sid}.mpd")
    check(st == 200 and b"<MPD" in b, f"manifest after restart {st}")
    ctl.wait_log(r" info .*database: reachable again after \d+\.\d{3} s", start=log_mark)
    up = [l for l in ctl.log[log_mark:] if "reachable again" in l]
    check(len(up) == 1, f"{len(up)} recovery lines: {up}")
    secs = float(re.search(r"after (\d+\.\d+) s", up[0]).group(1))
    check(0 < secs <= time.monotonic() - t_down, f"down for {secs} s?")
    check(up[0] is not down[0] and ctl.log.index(up[0]) > ctl.log.index(down[0]),
          "recovery logged before the outage")
    until_ok(ctl, "PUT", "/v1/admin/titles/m1/licences", {"licences": [{"country": "GB"}]},
             admin=True)
    ctl.wait_log(r" info .*database \(admin pool\): connected again after \d+\.\d{3} s",
                 start=log_mark)
    check(ctl.stop() == 0, "SIGTERM exit 0")

    # Down at start-up: a clear message and a failing exit status.
    pg.stop()
    c2 = Control(binary, tmp, pg, name="ctl2")
    c2.start(expect_ready=False)
    rc = c2.proc.wait(30)
    check(rc == 1, f"start without a database: exit {rc}")
    c2.wait_log(r"cannot connect to the database")


run(main)
