# SPDX-License-Identifier: MIT
"""Several edges in one run, from the YAML config, each with its own plan, cap and window
(edge-a in eu-west, where GB clients watch title0; edge-b in eu-north, where SE clients watch
other0):
both are filled by one process; an edge whose window is closed is skipped (exit 4) while the
other is filled; the per-edge cap holds for the capped edge; waiting for windows, an edge's
evictions wait for its own; an edge whose listing is being retried holds up no other."""

import json
import os
import signal
import socket
import subprocess
import time

from fillharness import (AdminProxy, check, eh, eq, events, hold_unplanned, make_catalog, run,
                         test)


def write_config(env, second, extra_a="", extra_b="", url_a=None):
    path = os.path.join(env.dir, "fill.yaml")
    url_a = url_a or f"http://{eh.HOST}:{env.edge.admin_port}"
    with open(path, "w") as f:
        f.write(f"control: {env.control.url}\n"
                f"control_token_file: {env.control.token_file}\n"
                f"state_dir: {env.state_dir}\n"
                "parallel: 2\n"
                "edges:\n"
                f"  - {{id: edge-a, admin_url: \"{url_a}\", "
                f"admin_token_file: {env.edge.token_file}{extra_a}}}\n"
                f"  - {{id: edge-b, admin_url: \"http://{eh.HOST}:{second.admin_port}\", "
                f"admin_token_file: {second.token_file}{extra_b}}}\n")
    return path


def fill_cfg(env, cfg, *extra):
    p = subprocess.run([env.fill_bin, "run", "--config", cfg] + list(extra),
                       capture_output=True, timeout=120)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


@test
def two_edges_one_run(env):
    second = eh.Edge(env.edge.binary).start()
    try:
        env.add_edge("edge-a", env.edge)
        env.add_edge("edge-b", second, country="SE")
        objs_a = make_catalog(env, titles=1, segs=4, seg_size=500_000, seed=1)
        objs_b = make_catalog(env, titles=1, segs=4, seg_size=500_000, seed=2,
                              prefix="other", country="SE")
        # edge-b capped at 8 Mbit/s: its 2 MB take about 2 s; edge-a uncapped.
        cfg = write_config(env, second, extra_b=", rate: 8Mbit")
        t0 = time.monotonic()
        rc, out, err = fill_cfg(env, cfg, "--progress", "json", "--progress-interval", "100")
        took = time.monotonic() - t0
        eq(rc, 0, f"run exit ({err})")
        done = {e["edge"]: e for e in events(out) if e["event"] == "done"}
        eq(done["edge-a"]["committed"], len(objs_a), "edge-a committed")
        eq(done["edge-b"]["committed"], len(objs_b), "edge-b committed")
        env.check_edge_holds(objs_a)
        held_b = {o["key"] for o in json.loads(second.admin("GET", "/admin/objects").body)}
        eq(held_b, {"/" + o["path"] for o in objs_b}, "edge-b holds its plan, not edge-a's")
        bytes_b = sum(o["size"] for o in objs_b)
        check(took >= bytes_b * 8 / 8e6 * 0.9, f"edge-b's cap slowed it ({took:.2f}s)")
        prog_b = [e for e in events(out) if e["event"] == "progress" and e["edge"] == "edge-b"]
        moving = [e for e in prog_b if 0 < e["bytes_moved"] < bytes_b]
        if len(moving) >= 2 and moving[-1]["t"] - moving[0]["t"] >= 1.0:
            r = (moving[-1]["bytes_moved"] - moving[0]["bytes_moved"]) * 8 / \
                (moving[-1]["t"] - moving[0]["t"])
            check(r <= 8e6 * 1.05, f"edge-b rate {r:.0f} over its 8 Mbit/s cap")
    finally:
        second.stop()
        second.cleanup()


@test
def one_edge_outside_its_window(env):
    second = eh.Edge(env.edge.binary).start()
    try:
        env.add_edge("edge-a", env.edge)
        env.add_edge("edge-b", second)  # the same region: the same plan
        objs = make_catalog(env, titles=1, segs=2)
        cfg = write_config(env, second, extra_a=", tz: UTC",
                           extra_b=", tz: UTC, window: \"02:00-03:00\"")
        rc, out, err = fill_cfg(env, cfg, "--progress", "json", "--now", "2030-01-01T12:00:00Z")
        eq(rc, 4, f"one edge outside its window ({err})")
        done = {e["edge"]: e for e in events(out) if e["event"] == "done"}
        eq(done["edge-a"]["committed"], len(objs), "edge-a filled")
        check(done["edge-b"].get("outside_window"), f"edge-b skipped: {done['edge-b']}")
        eq(second.admin("GET", "/admin/objects").body.strip(), b"[]", "edge-b untouched")
    finally:
        second.stop()
        second.cleanup()


@test
def slow_delete_holds_up_no_other_edge(env):
    """edge-a needs room and answers the DELETE that makes it 8 s late (a proxy holds it);
    edge-b, capped so that its 2 MB take about 2 s, is sent meanwhile: one edge's deletes go
    on the same multi handle as the transfers, and no other edge waits for them."""
    MB = 1000 * 1000
    env.edge.stop()
    env.edge.cfg["cache"]["max_size"] = "64M"
    env.edge.start()
    second = eh.Edge(env.edge.binary).start()
    proxy = AdminProxy(env.edge.admin_port)
    try:
        env.add_edge("edge-a", env.edge)
        env.add_edge("edge-b", second, country="SE")
        hold_unplanned(env.edge)
        objs_a = make_catalog(env, titles=1, segs=4, seg_size=8 * MB, init_size=8 * MB, seed=1)
        objs_b = make_catalog(env, titles=1, segs=4, seg_size=500_000, seed=2, prefix="other",
                              country="SE")
        proxy.hold["/old/cold.m4s"] = 8
        cfg = write_config(env, second, extra_b=", rate: 8Mbit", url_a=proxy.url)
        rc, out, err = fill_cfg(env, cfg, "--progress", "json")
        eq(rc, 0, f"run exit ({err})")
        ev = events(out)
        done = {e["edge"]: e for e in ev if e["event"] == "done"}
        eq(done["edge-a"]["committed"], len(objs_a), "edge-a committed, room made")
        eq(done["edge-b"]["committed"], len(objs_b), "edge-b committed")
        eq([h[0] for h in proxy.held], ["/old/cold.m4s"], "the delete was held")
        evicted = [i for i, e in enumerate(ev) if e["event"] == "evicted"]
        eq([ev[i]["key"] for i in evicted], ["/old/cold.m4s"], "edge-a's victim")
        b_commits = [i for i, e in enumerate(ev)
                     if e["event"] == "committed" and e["edge"] == "edge-b"]
        check(b_commits[-1] < evicted[0] and ev[b_commits[-1]]["t"] < 7,
              f"edge-b's last commit at {ev[b_commits[-1]]['t']:.2f}s, edge-a's delete "
              f"answered at {ev[evicted[0]]['t']:.2f}s: edge-b waited for it")
    finally:
        proxy.stop()
        second.stop()
        second.cleanup()


@test
def evictions_wait_for_their_own_window(env):
    """--outside-window wait with two windows: edge-a's is open, edge-b's opens 3 s later.
    edge-b needs room (an unplanned object goes), and that delete waits for edge-b's window:
    the other edge's window is not its own."""
    MB = 1000 * 1000
    second = eh.Edge(env.edge.binary, {"cache": {"max_size": "64M"}}).start()
    try:
        env.add_edge("edge-a", env.edge)
        env.add_edge("edge-b", second)  # the same region: the same plan
        hold_unplanned(second)
        objs = make_catalog(env, titles=1, segs=4, seg_size=8 * MB, init_size=8 * MB)
        cfg = write_config(env, second, extra_a=", tz: UTC, window: \"11:00-13:00\"",
                           extra_b=", tz: UTC, window: \"12:00-13:00\"")
        t0 = time.monotonic()
        p = subprocess.Popen([env.fill_bin, "run", "--config", cfg, "--progress", "json",
                              "--now", "2030-01-01T11:59:57Z", "--outside-window", "wait"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        evicted_at = None
        out = []
        for raw in p.stdout:
            out.append(raw.decode())
            ev = json.loads(raw)
            if ev.get("event") == "evicted" and ev.get("edge") == "edge-b" and evicted_at is None:
                evicted_at = time.monotonic() - t0
        err = p.stderr.read().decode()
        rc = p.wait(timeout=120)
        eq(rc, 0, f"run exit ({err})")
        check(evicted_at is not None, f"edge-b's eviction happened: {''.join(out)[-2000:]}")
        # The fake clock runs on from --now: edge-b's window opens 3 s after the start, less
        # what the start-up took.
        check(evicted_at >= 1.5, f"edge-b's delete went out {evicted_at:.2f}s into the run, "
              "before its window opened")
        done = {e["edge"]: e for e in events("".join(out)) if e["event"] == "done"}
        eq(done["edge-b"]["committed"], len(objs), "edge-b filled once its window opened")
        held = {o["key"] for o in json.loads(second.admin("GET", "/admin/objects").body)}
        check("/old/cold.m4s" not in held and "/old/hot.m4s" in held, f"edge-b holds {held}")
    finally:
        second.stop()
        second.cleanup()



@test
def unreachable_edge_holds_up_no_other(env):
    """edge-b's admin API refuses every connection, so its listing is retried (for 10 minutes:
    no window). edge-a's objects go in meanwhile; they used to wait until edge-b's retries
    ran out. A SIGTERM then ends the run: edge-a's outcome is its own, edge-b's is 5."""
    env.add_edge("edge-a", env.edge)
    env.add_edge("edge-b", env.edge)  # control plans for it; its admin API is not there
    objs = make_catalog(env, titles=1, segs=3)
    refusing = socket.socket()
    refusing.bind((eh.HOST, 0))  # bound, never listening: every connection refused
    path = os.path.join(env.dir, "fill.yaml")
    with open(path, "w") as f:
        f.write(f"control: {env.control.url}\n"
                f"control_token_file: {env.control.token_file}\n"
                f"state_dir: {env.state_dir}\n"
                "rate: unlimited\n"
                "window: \"00:00-24:00\"\n"
                "edges:\n"
                f"  - {{id: edge-b, admin_url: \"http://{eh.HOST}:{refusing.getsockname()[1]}\", "
                f"admin_token_file: {env.edge.token_file}}}\n"
                f"  - {{id: edge-a, admin_url: \"http://{eh.HOST}:{env.edge.admin_port}\", "
                f"admin_token_file: {env.edge.token_file}}}\n")
    p = subprocess.Popen([env.fill_bin, "run", "--config", path, "--progress", "json"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # Waiting for an event, bounded: edge-b's retries last ten minutes.
        deadline = time.monotonic() + 60
        while env.commits() < len(objs) and time.monotonic() < deadline and p.poll() is None:
            time.sleep(0.1)
        eq(env.commits(), len(objs), "edge-a filled while edge-b's listing was retried")
        check(p.poll() is None, "the run was still retrying edge-b")
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
        refusing.close()
    err = err.decode()
    eq(p.returncode, 5, f"interrupted ({err})")
    check("edge-b: holdings:" in err and "retrying in" in err, f"edge-b's retries logged: {err}")
    done = {e["edge"]: e for e in events(out.decode()) if e["event"] == "done"}
    eq((done["edge-a"]["exit"], done["edge-a"]["committed"]), (0, len(objs)),
       f"edge-a's own outcome: {done}")
    eq(done["edge-b"]["exit"], 5, f"edge-b stopped while retried: {done}")
    env.check_edge_holds(objs)


def where(path, text):
    """file:line:col of the first text in path (1-based), as the config errors give it."""
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if text in line:
                return f"{path}:{n}:{line.index(text) + 1}:"
    raise AssertionError(f"{text!r} not in {path}")


@test
def bad_edge_window_or_zone_refused_where_written(env):
    """An edge's window or zone that does not parse is a config error like any other: exit 2
    with file:line:col before anything is asked or sent, for every edge of the file; a zone is
    checked even without a window."""
    make_catalog(env, titles=1, segs=2)
    env.add_edge("edge-a", env.edge)
    for what, extra, written, said in (
            ("a bad window for edge-b", {"extra_b": ', window: "2-14"'}, '"2-14"',
             "'edges[1].window' must be HH:MM-HH:MM"),
            ("an unknown zone for edge-a", {"extra_a": ", tz: Europe/Pari"}, "Europe/Pari",
             "'edges[0].tz': unknown time zone \"Europe/Pari\"")):
        cfg = write_config(env, env.edge, **extra)
        rc, out, err = fill_cfg(env, cfg, "--progress", "json")
        eq(rc, 2, f"{what} ({out} {err})")
        check(f"{where(cfg, written)} {said}" in err, f"{what}: says where and what: {err}")
    eq(env.puts(), [], "nothing sent")


@test
def verify_keeps_the_worst_status(env):
    """verify over two edges: the first cannot be surveyed (control has no plan for it: exit
    1), the second holds a wrong object (3). The run's status is the worse of the two, 1,
    whichever edge comes last."""
    objs = make_catalog(env, titles=1, segs=2)
    rc, out, err = env.fill("run", "--progress", "none")
    eq(rc, 0, f"run exit ({err})")
    bad = objs[0]
    env.edge.put("/" + bad["path"], b"y" * bad["size"], sha256=None)
    path = os.path.join(env.dir, "verify.yaml")
    same = (f"admin_url: \"http://{eh.HOST}:{env.edge.admin_port}\", admin_token_file: "
            f"{env.edge.token_file}, url: \"http://{eh.HOST}:{env.edge.port}\"")
    with open(path, "w") as f:
        f.write(f"control: {env.control.url}\n"
                f"control_token_file: {env.control.token_file}\n"
                f"state_dir: {env.state_dir}\n"
                "edges:\n"
                f"  - {{id: edge-unknown, {same}}}\n"
                f"  - {{id: {env.edge_id}, {same}}}\n")
    p = subprocess.run([env.fill_bin, "verify", "--config", path, "--all"],
                       capture_output=True, timeout=120)
    out, err = p.stdout.decode(), p.stderr.decode()
    check("mismatch" in out and bad["path"] in out, f"the second edge's mismatch: {out}")
    check("edge-unknown" in err, f"the first edge's error: {err}")
    eq(p.returncode, 1, f"the worse of 1 and 3 ({out} {err})")

if __name__ == "__main__":
    run()
