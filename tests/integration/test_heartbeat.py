# SPDX-License-Identifier: MIT
"""Edge → control heartbeats, against the real sluice-control on a private PostgreSQL.

The edge posts load, bytes served, disk use and the titles it holds every period, signed with
the secret control gave it at registration; control keeps the latest per edge. An edge with the
wrong secret is refused (and says so once in its log) until its secret file is fixed and it is
reloaded. An edge that cannot reach control keeps serving what it holds.

    python3 test_heartbeat.py path/to/sluice-edge path/to/sluice-control
"""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "control"))

import ctlharness  # noqa: E402
from edgeharness import Edge, check, eq, expect_body, free_port, metric, preload_env  # noqa: E402


def wait_for(what, fn, timeout=10.0):
    """Poll fn until it returns a truthy value; heartbeats land on their own schedule."""
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def health(pg):
    row = pg.psql("SELECT extract(epoch FROM at)::bigint, titles, disk_used, bytes_served "
                  "FROM edge_health WHERE edge_id = 'edge-hb'")
    return row.split("|") if row else None


def healthy(pg):
    """What the edge snapshot says of edge-hb (live: a heartbeat within two 2 s periods)."""
    return pg.psql("SELECT e->>'healthy' FROM jsonb_array_elements(sluice_edges_view(4)) e "
                   "WHERE e->>'id' = 'edge-hb'")


def refusals(ctl):
    for line in ctl.json("GET", "/metrics").decode().splitlines():
        if line.startswith("sluice_control_heartbeat_refusals_total"):
            return int(float(line.split()[-1]))
    raise AssertionError("no refusal counter")


def beats(e, result):
    """The edge's own count of its heartbeats that came to result."""
    return metric(e, "sluice_edge_heartbeats_total", f'result="{result}"')


def main(edge_bin, ctl_bin, tmp):
    pg = ctlharness.Postgres(tmp)
    # Control's period, told to edges in each heartbeat's answer; this edge beats faster.
    ctl = ctlharness.Control(ctl_bin, tmp, pg, heartbeat_period="2s")
    # A fixed port, so that the edge finds control again after a restart.
    with open(ctl.cfg_path) as f:
        text = f.read()
    with open(ctl.cfg_path, "w") as f:
        f.write(text.replace('"127.0.0.1:0"', f'"127.0.0.1:{free_port()}"', 1))
    ctl.start()
    reg = ctl.register_edge("edge-hb", "eu-west", "http://127.0.0.1:1/")
    secret_file = os.path.join(tmp, "heartbeat.key")
    # A secret other than the registered one first: every heartbeat is refused.
    with open(secret_file, "w") as f:
        f.write("not-the-registered-secret-" + "0" * 20 + "\n")

    e = Edge(edge_bin, {"control": {"url": f"http://127.0.0.1:{ctl.port}", "edge_id": "edge-hb",
                                    "region": "eu-west", "heartbeat": "500ms",
                                    "secret_file": secret_file}})
    try:
        e.start()
        wait_for("a refused heartbeat", lambda: refusals(ctl) >= 2)
        check(health(pg) is None, "a heartbeat with the wrong secret was stored")
        wait_for("the edge saying its signature is refused",
                 lambda: "refused the signature" in e.log_tail(200))
        check(beats(e, "refused") >= 2, f"refused heartbeats counted: {beats(e, 'refused')}")
        eq(beats(e, "ok"), 0.0, "heartbeats taken before the secret was right")
        # An edge control has no registration for: told so, and what to do (it said only
        # "control answered 404").
        stray = Edge(edge_bin, {"control": {"url": f"http://127.0.0.1:{ctl.port}",
                                            "edge_id": "edge-nobody", "region": "eu-west",
                                            "heartbeat": "500ms", "secret_file": secret_file}})
        try:
            stray.start()
            wait_for("the unregistered edge told so",
                     lambda: "control knows no edge edge-nobody (404): register it"
                     in stray.log_tail(200))
            check(beats(stray, "unknown_edge") >= 1, "a heartbeat of an unknown edge counted")
            eq(beats(stray, "refused") + beats(stray, "ok"), 0.0, "counted as unknown only")
            stray.stop()
        finally:
            stray.cleanup()
        # The right secret and a reload: accepted from the next period on.
        with open(secret_file, "w") as f:
            f.write(reg["secret"] + "\n")
        e.signal(signal.SIGHUP)
        data = os.urandom(5000)
        e.put("/t1/v1/seg-1.m4s", data)
        e.put("/t1/v1/seg-2.m4s", data)
        e.put("/t2/a1/init.mp4", data[:100])
        eq(e.get("/t1/v1/seg-1.m4s").status, 200, "served")

        row = wait_for("a heartbeat naming both titles",
                       lambda: (lambda r: r if r and "t1" in r[1] and "t2" in r[1] else None)(
                           health(pg)))
        eq(row[1], "{t1,t2}", "titles held, each once")
        check(beats(e, "ok") >= 1, "taken heartbeats counted")
        check(int(row[2]) >= 10100, f"disk_used {row[2]}")
        wait_for("bytes served reported", lambda: (lambda r: r and int(r[3]) >= 5000)(health(pg)))
        first = int(health(pg)[0])
        wait_for("a later heartbeat", lambda: int(health(pg)[0]) > first, timeout=5)

        # Control goes away: the edge keeps serving, then catches up when control is back.
        ctl.stop()
        r = e.get("/t1/v1/seg-2.m4s")
        eq(r.status, 200, "served with control down")
        expect_body(r, data, "body with control down")
        failed = beats(e, "failed")
        wait_for("a heartbeat control did not answer, counted",
                 lambda: beats(e, "failed") > failed)
        e.put("/t3/v1/seg-1.m4s", data)
        ctl.start()
        wait_for("titles caught up after control returns",
                 lambda: (lambda r: r and "t3" in r[1])(health(pg)))
        check("beating every" not in e.log_tail(400),
              "a warning about the period while the edge beats faster than control's")

        # Configured slower than control drops an edge (two of its 2 s periods): the edge
        # beats at control's period instead, and says so.
        e.cfg["control"]["heartbeat"] = "30s"
        e.write_config()
        e.signal(signal.SIGHUP)
        wait_for("the warning about the period",
                 lambda: "control.heartbeat is 30.0 s: beating every 2.0 s" in e.log_tail(400))
        first = int(health(pg)[0])
        wait_for("a heartbeat at control's period", lambda: int(health(pg)[0]) > first,
                 timeout=5)
        second = int(health(pg)[0])
        wait_for("another heartbeat at control's period", lambda: int(health(pg)[0]) > second,
                 timeout=5)

        # Stopping, the edge says so in a last heartbeat: control takes it out of steering at
        # once (it stayed healthy, first in steering, for two periods after its listeners
        # closed), and a restart brings it back.
        check(healthy(pg) == "true", "healthy before the stop")
        e.stop()
        eq(healthy(pg), "false", "healthy right after SIGTERM")
        check("control told that this edge is stopping" in e.log_tail(50),
              f"no line about the last heartbeat: {e.log_tail(10)}")
        e.start()
        wait_for("healthy again after a restart", lambda: healthy(pg) == "true")
        e.stop()

        # A wall clock found 20 s fast and stepped back (NTP): the edge's heartbeats go on
        # being taken, its signed times never going back, where each was refused 401
        # "replayed" until the clock had passed the last time taken.
        ahead = os.path.join(tmp, "clock-ahead")
        open(ahead, "w").close()
        e.cfg["control"]["heartbeat"] = "500ms"
        e.write_config()
        e.start(env=preload_env(os.environ["SLUICE_CLOCK_AHEAD_SHIM"],
                                SLUICE_CLOCK_AHEAD_FLAG=ahead, SLUICE_CLOCK_AHEAD_MS="20000"))
        wait_for("a heartbeat signed 20 s ahead",
                 lambda: int(pg.psql("SELECT signed_ms - (extract(epoch FROM now()) * 1000)::bigint"
                                     " FROM edge_health WHERE edge_id = 'edge-hb'")) > 15000)
        n0 = refusals(ctl)
        os.unlink(ahead)
        step = float(pg.psql("SELECT extract(epoch FROM now())"))
        wait_for("a heartbeat taken after the clock stepped back",
                 lambda: float(pg.psql("SELECT extract(epoch FROM at) FROM edge_health "
                                       "WHERE edge_id = 'edge-hb'")) > step + 1)
        eq(refusals(ctl) - n0, 0, "heartbeats refused after the clock stepped back")
        e.stop()
    finally:
        e.cleanup()
        ctl.stop()


if __name__ == "__main__":
    if len(sys.argv) < 3:
        print("usage: test_heartbeat.py sluice-edge sluice-control")
        sys.exit(2)
    edge_bin = os.path.abspath(sys.argv[1])
    sys.argv = [sys.argv[0], sys.argv[2]]
    ctlharness.run(lambda ctl_bin, tmp: main(edge_bin, ctl_bin, tmp))
