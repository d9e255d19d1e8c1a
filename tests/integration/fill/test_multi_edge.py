# SPDX-License-Identifier: MIT
"""Several edges in one run, from the YAML config, each with its own plan, cap and window
(edge-a in eu-west, where GB clients watch title0; edge-b in eu-north, where SE clients watch
other0):
both are filled by one process; an edge whose window is closed is skipped (exit 4) while the
other is filled; the per-edge cap holds for the capped edge."""

import json
import os
import subprocess
import time

from fillharness import check, eh, eq, events, make_catalog, run, test


def write_config(env, second, extra_a="", extra_b=""):
    path = os.path.join(env.dir, "fill.yaml")
    with open(path, "w") as f:
        f.write(f"control: {env.control.url}\n"
                f"control_token_file: {env.control.token_file}\n"
                f"state_dir: {env.state_dir}\n"
                "parallel: 2\n"
                "edges:\n"
                f"  - {{id: edge-a, admin_url: \"http://{eh.HOST}:{env.edge.admin_port}\", "
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


if __name__ == "__main__":
    run()
