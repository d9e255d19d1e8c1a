# SPDX-License-Identifier: MIT
"""The edge restarts (kill -9, then started again on the same ports and cache) in the middle
of a run: the run retries, finishes with every object on the edge, and sends nothing the edge
had committed a second time. The edge's commit counter restarts with it, so: objects held
right after the restart + commits after it = objects planned (a re-send would commit again)."""

from fillharness import check, eq, events, make_catalog, run, test


@test
def edge_restarts_mid_run(env):
    objs = make_catalog(env, titles=2, segs=8, seg_size=1_000_000)
    p = env.spawn("run", "--progress", "json", "--rate", "32Mbit", "--parallel", "2")
    lines = []
    commits = 0
    for raw in p.stdout:
        line = raw.decode().strip()
        lines.append(line)
        if '"committed"' in line:
            commits += 1
            if commits == 4:
                env.edge.kill9()
                env.edge.start()
                # Listed at once: the agent's retries back off 250 ms first.
                held_at_restart = len(env.listing())
    p.wait(timeout=120)
    err = p.stderr.read().decode()
    eq(p.returncode, 0, f"run exit after the restart ({err})\n" + "\n".join(lines[-20:]))
    ev = events("\n".join(lines))
    check(any(e["event"] == "retry" for e in ev), "transfers were retried")
    env.check_edge_holds(objs)
    check(held_at_restart >= 4, f"held at restart: {held_at_restart}")
    eq(held_at_restart + env.commits(), len(objs), "nothing committed was sent again")


if __name__ == "__main__":
    run()
