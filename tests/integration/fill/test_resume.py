# SPDX-License-Identifier: MIT
"""kill -9 of sluice-fill mid-run, then a rerun: every object ends complete on the edge and
nothing the edge committed is sent twice. Sends are counted by the edge itself: its commit
counter (/metrics) must equal the number of objects, since a re-sent object is committed
again (204)."""

import signal

from fillharness import check, eq, events, make_catalog, run, test


@test
def kill9_then_resume(env):
    objs = make_catalog(env, titles=3, segs=8, seg_size=1_000_000)
    # 40 Mbit/s: about 5 s for 24 MB, so the kill lands mid-run.
    p = env.spawn("run", "--progress", "json", "--rate", "40Mbit", "--parallel", "2")
    first = []
    try:
        for raw in p.stdout:
            line = raw.decode().strip()
            if line.startswith("{") and '"committed"' in line:
                first.append(events(line)[0]["key"])
                if len(first) >= 6:
                    p.send_signal(signal.SIGKILL)
                    break
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
        p.wait()
    eq(p.returncode, -signal.SIGKILL, "killed")
    eq(len(first), 6, "commits seen before the kill")
    held = env.listing()
    check(len(held) < len(objs), "the kill came before the end")

    rc, out, err = env.fill("status", "--json")
    st = events(out)[0]
    eq(st["last_run_exit"], -1, "status: the killed run is unfinished")
    check(st["committed"] >= 6, f"journal holds the commits: {st}")

    rc, out, err = env.fill("run", "--progress", "json")
    eq(rc, 0, f"resumed run exit ({err})")
    done = [e for e in events(out) if e["event"] == "done"][0]
    eq(done["committed"] + len(held), len(objs), "the rerun sent only what was missing")
    env.check_edge_holds(objs)
    eq(env.commits(), len(objs), "edge commits: one per object over both runs")


if __name__ == "__main__":
    run()
