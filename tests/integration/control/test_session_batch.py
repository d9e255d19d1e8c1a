# SPDX-License-Identifier: MIT
"""Group commit of new sessions: the POST /v1/playback requests read in one loop iteration go
to PostgreSQL as one statement (control/session-batch.h), yet each is answered for itself: a
refused item (404, 451) gets its own error and leaves nothing behind, its new profile included,
while the others get their sessions. A statement that fails (PostgreSQL slow or stopped)
answers every item 503 with Retry-After and commits none of them."""
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctlharness import Control, Postgres, check, register, row_id, run, until_ok


def statements(ctl):
    st, _, b = ctl.request("GET", "/metrics")
    m = re.search(rb"^sluice_control_session_statements_total(?:\{[^}]*\})? (\d+)", b, re.M)
    check(st == 200 and m, "metrics carry sluice_control_session_statements_total")
    return int(m.group(1))


def stopped(pid):
    """Wait until every thread of pid is stopped: kill() returns before the signal is taken,
    and a request written before then could be read in an iteration of its own."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        states = []
        for t in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{t}/stat") as f:
                states.append(f.read().rsplit(")", 1)[1].split()[0])
        if all(s == "T" for s in states):
            return
        time.sleep(0.005)
    check(False, f"control (pid {pid}) did not stop within 10 s")


def burst(ctl, bodies):
    """POST each body on a connection of its own, all read by control in one loop iteration:
    the connections are opened and used once first, then control is stopped while the
    requests are written and continued, so it finds them all at once. Returns [(status,
    headers, parsed body)] in order."""
    conns = [ctl.conn() for _ in bodies]
    for c in conns:
        c.request("GET", "/healthz")
        c.getresponse().read()
    ctl.proc.send_signal(signal.SIGSTOP)
    stopped(ctl.proc.pid)
    try:
        for c, b in zip(conns, bodies):
            c.request("POST", "/v1/playback", body=json.dumps(b),
                      headers={"Content-Type": "application/json"})
    finally:
        ctl.proc.send_signal(signal.SIGCONT)
    out = []
    for c in conns:
        r = c.getresponse()
        payload = r.read()
        out.append((r.status, {k.lower(): v for k, v in r.getheaders()}, json.loads(payload)))
        c.close()
    return out


def main(binary, tmp):
    pg = Postgres(tmp)
    ctl = Control(binary, tmp, pg).start()
    register(ctl, "m1")
    ctl.json("PUT", "/v1/admin/titles/m1/licences", {"licences": [{"country": "GB"}]}, admin=True)
    register(ctl, "m2")
    ctl.json("PUT", "/v1/admin/titles/m2/licences", {"licences": [{"country": "US"}]}, admin=True)
    ctl.register_edge("e1", "eu-west", "http://e1.test")
    ctl.heartbeat("e1", {"load": 0.1})
    single = ctl.json("POST", "/v1/playback", {"title": "m1"})
    prof = ctl.json("POST", "/v1/profiles", {"name": "Alex"})
    kid = ctl.json("POST", "/v1/profiles", {"name": "Sam", "kids": True})

    # One statement, every outcome: the client is in GB (127.0.0.0/8).
    bodies = [{"title": "m1"},                              # 200
              {"title": "m2"},                              # 451: licensed in the US only
              {"title": "nosuch"},                          # 404
              {"title": "m1", "new_profile": "Ann"},        # 200 with a new profile
              {"title": "m2", "new_profile": "Bob"},        # 451: Bob is rolled back
              {"title": "m1", "episode": "e1"},             # 404: a movie has no episodes
              {"title": "m1", "profile": 999999},           # 404: unknown profile
              {"title": "m1", "profile": prof["id"],        # 200
               "profile_key": prof["key"]},
              {"title": "m1", "profile": kid["id"],         # 403: not rated, a kids' profile
               "profile_key": kid["key"]}]
    want = [200, 451, 404, 200, 451, 404, 404, 200, 403]
    n_sessions = int(pg.psql("SELECT count(*) FROM sessions"))
    s0 = statements(ctl)
    got = burst(ctl, bodies)
    s1 = statements(ctl)
    check([g[0] for g in got] == want, f"statuses {[g[0] for g in got]}, wanted {want}: {got}")
    check(s1 - s0 == 1, f"{len(bodies)} sessions asked at once took {s1 - s0} statements")
    check(got[1][2]["error"] == "unavailable_for_legal_reasons" and
          "not licensed in GB" in got[1][2]["detail"], f"451 detail: {got[1][2]}")
    check(got[2][2]["error"] == "not_found" and got[2][2]["detail"] == "unknown title",
          f"404 detail: {got[2][2]}")
    check(got[5][2]["detail"] == "a movie has no episodes", f"episode 404: {got[5][2]}")
    check(got[6][2]["detail"] == "unknown profile", f"profile 404: {got[6][2]}")
    check(got[8][2]["error"] == "forbidden", f"maturity 403: {got[8][2]}")
    ok = [g[2] for g in got if g[0] == 200]
    check(len({a["session"] for a in ok}) == 3, "three distinct sessions")
    check(all(set(a) - {"profile", "profile_key"} == set(single) for a in ok),
          f"a batched answer has the members of a single one: {ok[0]} vs {single}")
    rows = pg.psql("SELECT id FROM sessions").split()
    check(len(rows) == n_sessions + 3 and all(row_id(a["session"]) in rows for a in ok),
          f"the three sessions and only they were stored ({len(rows) - n_sessions} new)")
    check(pg.psql(f"SELECT name FROM profiles WHERE id = {ok[1]['profile']}") == "Ann",
          "the new profile was made with its session")
    check(pg.psql("SELECT count(*) FROM profiles WHERE name = 'Bob'") == "0",
          "the refused session's new profile was rolled back")
    check(pg.psql(f"SELECT profile_id FROM sessions WHERE id = '{row_id(ok[2]['session'])}'") ==
          str(prof["id"]), "the profiled session belongs to its profile")
    for a in ok:
        st, _, _ = ctl.request("GET", f"/v1/manifest/{a['session']}.mpd")
        check(st == 200, f"manifest of batched session {a['session']}: {st}")

    # More than a statement holds (32): several statements, every session made.
    s0 = statements(ctl)
    got = burst(ctl, [{"title": "m1"}] * 40)
    s1 = statements(ctl)
    check(all(g[0] == 200 for g in got), f"40 at once: {[g[0] for g in got]}")
    check(2 <= s1 - s0 < 40, f"40 sessions at once took {s1 - s0} statements")

    # Slow: the statement waits on a lock past the 2 s timeout. Every item of it is 503 (the
    # one that would be 451 too, never a partial answer), and none of it commits.
    n_sessions = int(pg.psql("SELECT count(*) FROM sessions"))
    locker = subprocess.Popen(["psql", pg.conninfo, "-XAtq"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    locker.stdin.write("BEGIN; LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE; SELECT 'locked';\n")
    locker.stdin.flush()
    check(locker.stdout.readline().strip() == "locked", "lock taken")
    got = burst(ctl, [{"title": "m1"}, {"title": "m2"}, {"title": "m1", "new_profile": "Cy"}])
    check(all(g[0] == 503 and g[1].get("retry-after") == "1" for g in got),
          f"slow database: {[(g[0], g[2]) for g in got]}")
    locker.stdin.write("COMMIT;\n\\q\n")
    locker.stdin.flush()
    locker.wait(10)
    check(int(pg.psql("SELECT count(*) FROM sessions")) == n_sessions,
          "the abandoned statement committed no session")
    check(pg.psql("SELECT count(*) FROM profiles WHERE name = 'Cy'") == "0",
          "the abandoned statement committed no profile")
    st, _, _ = until_ok(ctl, "POST", "/v1/playback", {"title": "m1"})
    check(st == 200, "recovered after the lock")

    # Stopped: every item 503 with Retry-After, whatever it would have been.
    pg.stop()
    for _ in range(2):  # the first fails connecting, the next in back-off
        got = burst(ctl, [{"title": "m1"}, {"title": "m2"}, {"title": "nosuch"}])
        check(all(g[0] == 503 and g[1].get("retry-after") for g in got),
              f"database down: {[(g[0], g[2]) for g in got]}")
    pg.start()
    st, _, _ = until_ok(ctl, "POST", "/v1/playback", {"title": "m1"})
    check(st == 200, "sessions again once PostgreSQL is back")
    got = burst(ctl, [{"title": "m1"}, {"title": "m2"}])
    check([g[0] for g in got] == [200, 451], f"after the restart: {[g[0] for g in got]}")
    check(ctl.stop() == 0, "clean exit")


if __name__ == "__main__":
    run(main)
