# SPDX-License-Identifier: MIT
"""kill -9 of sluice-fill mid-run, then a rerun: every object ends complete on the edge and
nothing the edge committed is sent twice. Sends are counted by the edge itself: its commit
counter (/metrics) must equal the number of objects, since a re-sent object is committed
again (204). The same after SIGTERM (what systemd sends to stop the service): the run exits
5 promptly, journals its end, and the unit counts 5 as success."""

import os
import re
import signal
import time

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


@test
def reader_gone_run_goes_on(env):
    """The progress read by something that leaves early (`| head -1`): the run goes on to its
    end, exit 0, its journal finished (SIGPIPE ended it, status 141, mid-run)."""
    objs = make_catalog(env, titles=1, segs=6, seg_size=500_000)
    p = env.spawn("run", "--progress", "json", "--rate", "16Mbit", "--parallel", "1")
    try:
        p.stdout.readline()
        p.stdout.close()  # the reader is gone: the next line written meets a closed pipe
        rc = p.wait(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    eq(rc, 0, f"exit status ({p.stderr.read().decode(errors='replace')[-300:]})")
    env.check_edge_holds(objs)
    rc, out, err = env.fill("status", "--json")
    eq(events(out)[0]["last_run_exit"], 0, "status: the run finished")


@test
def one_run_per_edge(env):
    """A second run on an edge that a run is filling stops at once (exit 1, saying so) and
    sends nothing: two would each take the whole rate cap and journal every commit twice.
    The lock goes with the first run: a third run after it finds nothing to do."""
    objs = make_catalog(env, titles=1, segs=5, seg_size=1_000_000)
    # 8 Mbit/s, one at a time: about 6 s for 6 MB.
    p = env.spawn("run", "--progress", "json", "--rate", "8Mbit", "--parallel", "1")
    try:
        for raw in p.stdout:
            e = events(raw.decode())
            if e and e[0]["event"] == "committed":
                break
        rc, out, err = env.fill("run", "--progress", "json")
        rest, _ = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            p.wait()
    eq(rc, 1, f"the second run is refused ({out} {err})")
    check(f"another sluice-fill is filling {env.edge_id}" in out + err, f"says why: {out} {err}")
    eq(p.returncode, 0, "the first run ends as if alone")
    env.check_edge_holds(objs)
    eq(env.commits(), len(objs), "edge commits: one per object")
    rc, out, err = env.fill("status", "--json")
    eq(events(out)[0]["committed"], len(objs), "the journal counts each commit once")
    rc, out, err = env.fill("run", "--progress", "json")
    eq(rc, 0, f"a run after it takes the lock ({err})")
    eq([e["committed"] for e in events(out) if e["event"] == "done"], [0], "nothing to send")


@test
def corrupt_journal(env):
    """A journal with a damaged line: status says which file, line and why, and exits 1; run
    moves it aside (<name>.corrupt, with a warning) and fills the edge, which is the source of
    truth, with a fresh journal."""
    objs = make_catalog(env, titles=1, segs=3)
    os.makedirs(env.state_dir, exist_ok=True)
    path = os.path.join(env.state_dir, f"{env.edge_id}.journal")
    bad = "sluice-fill-journal 1\nS 1767225600 1767225600\nX what is this\n"
    with open(path, "w") as f:
        f.write(bad)
    rc, out, err = env.fill("status")
    eq(rc, 1, f"status on a corrupt journal ({out} {err})")
    check(f"{path}, line 3: unknown record type" in out, f"names file, line and reason: {out}")
    rc, out, err = env.fill("status", "--json")
    eq(rc, 1, "status --json on a corrupt journal")
    eq(events(out)[0]["journal_error"], f"{path}, line 3: unknown record type", "journal_error")

    rc, out, err = env.fill("run", "--progress", "json")
    eq(rc, 0, f"run carries on ({err})")
    check(f"{path}, line 3: unknown record type: moved aside to {path}.corrupt" in err,
          f"warns, naming both files: {err}")
    with open(path + ".corrupt") as f:
        eq(f.read(), bad, "the damaged journal is kept aside as it was")
    env.check_edge_holds(objs)
    rc, out, err = env.fill("status", "--json")
    eq(rc, 0, f"status on the new journal ({err})")
    st = events(out)[0]
    eq((st["committed"], st.get("journal_error")), (len(objs), None), f"the new journal: {st}")


UNIT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "dist",
                    "systemd", "sluice-fill.service.in")


@test
def sigterm_then_resume(env):
    objs = make_catalog(env, titles=3, segs=8, seg_size=1_000_000)
    p = env.spawn("run", "--progress", "json", "--rate", "40Mbit", "--parallel", "2")
    first = []
    try:
        for raw in p.stdout:
            e = events(raw.decode())
            if e and e[0]["event"] == "committed":
                first.append(e[0]["key"])
                if len(first) >= 6:
                    t0 = time.monotonic()
                    p.send_signal(signal.SIGTERM)
                    break
        rest, _ = p.communicate(timeout=30)
        took = time.monotonic() - t0
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            p.wait()
    eq(p.returncode, 5, "SIGTERM: interrupted")
    check(took < 10, f"stopped {took:.1f}s after SIGTERM (the unit allows 30 s)")
    done = [e for e in events(rest.decode()) if e["event"] == "done"]
    check(len(done) == 1 and done[0]["exit"] == 5, f"the done line says interrupted: {done}")
    held = env.listing()
    check(len(held) < len(objs), "the signal came before the end")

    rc, out, err = env.fill("status", "--json")
    st = events(out)[0]
    eq(st["last_run_exit"], 5, "status: the stopped run ended, interrupted")

    rc, out, err = env.fill("run", "--progress", "json")
    eq(rc, 0, f"resumed run exit ({err})")
    done = [e for e in events(out) if e["event"] == "done"][0]
    eq(done["committed"] + len(held), len(objs), "the rerun sent only what was missing")
    env.check_edge_holds(objs)
    eq(env.commits(), len(objs), "edge commits: one per object over both runs")

    # systemd stops the service with SIGTERM: the 5 that follows must not fail the unit.
    with open(UNIT) as f:
        ok = re.findall(r"^SuccessExitStatus=(.*)$", f.read(), re.M)
    check(ok and "5" in " ".join(ok).split(), f"sluice-fill.service: SuccessExitStatus {ok}")


if __name__ == "__main__":
    run()
