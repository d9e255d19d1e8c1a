# SPDX-License-Identifier: MIT
"""The off-peak window with a fake clock (--now): outside it the run exits 4 and sends
nothing, or waits for it to open; inside it the run goes; the edge's time zone counts; a
window closing mid-run stops new transfers with status 4, and retries with them."""

import os
import signal
import time

from fillharness import check, eq, events, make_catalog, plan_stand_in, run, test

WIN = ["--window", "02:00-14:00"]


@test
def outside_exits_inside_runs(env):
    objs = make_catalog(env, titles=1, segs=3)
    rc, out, err = env.fill("run", *WIN, "--tz", "UTC", "--now", "2030-01-01T01:00:00Z")
    eq(rc, 4, f"outside the window ({err})")
    eq(env.puts(), [], "nothing sent outside the window")
    rc, out, err = env.fill("run", *WIN, "--tz", "UTC", "--now", "2030-01-01T14:00:00Z")
    eq(rc, 4, "the end is exclusive")
    # 18:00 UTC is 03:00 in Tokyo: inside the edge's window.
    rc, out, err = env.fill("run", *WIN, "--tz", "Asia/Tokyo", "--now", "2030-01-01T18:00:00Z",
                            "--progress", "none")
    eq(rc, 0, f"inside the window in the edge's zone ({err})")
    env.check_edge_holds(objs)


@test
def outside_asks_nothing(env):
    """Outside the window with a zone given here, the edge is skipped before anything is
    asked: control down makes no difference, exit 4 (it was asked first, and its failure
    made the run exit 1)."""
    make_catalog(env, titles=1, segs=2)
    env.control_url = "http://127.0.0.1:1"  # nothing listens there
    rc, out, err = env.fill("run", *WIN, "--tz", "UTC", "--now", "2030-01-01T01:00:00Z",
                            "--progress", "json")
    eq(rc, 4, f"outside the window, control down ({out} {err})")
    done = [e for e in events(out) if e["event"] == "done"]
    check(len(done) == 1 and done[0].get("outside_window") and "error" not in done[0],
          f"the edge's end: {done}")
    eq(env.puts(), [], "nothing sent")


@test
def plan_zone_unknown_is_controls_fault(env):
    """A zone only the plan gives, unknown here: exit 1, control's fault, as any answer that
    is not a plan (it was 2, a usage error the operator could not fix)."""
    make_catalog(env, titles=1, segs=2)
    with plan_stand_in(env, dict(env.control.plan(env.edge_id), tz="Mars/Olympus")):
        rc, out, err = env.fill("run", *WIN, "--now", "2030-01-01T03:00:00Z")
    eq(rc, 1, f"the plan's unknown zone ({out} {err})")
    text = (out + err).replace('\\"', '"')  # run's "done" line is JSON
    check('unknown time zone "Mars/Olympus"' in text, f"says why: {text}")


@test
def stopped_before_sending_says_so(env):
    """SIGTERM while control is retried: exit 5, and the edge's "done" line all the same (the
    output promises one per edge; there was none)."""
    make_catalog(env, titles=1, segs=2)
    env.control_url = "http://127.0.0.1:1"
    p = env.spawn("run", "--progress", "json")
    try:
        time.sleep(1.0)  # inside its retries of control (10 minutes without a window)
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    eq(p.returncode, 5, f"stopped ({err.decode(errors='replace')[-300:]})")
    done = [e for e in events(out.decode()) if e["event"] == "done"]
    check(len(done) == 1 and done[0]["exit"] == 5, f"the edge's end: {done}")


@test
def waits_for_the_window(env):
    objs = make_catalog(env, titles=1, segs=2)
    t0 = time.monotonic()
    rc, out, err = env.fill("run", *WIN, "--tz", "UTC", "--now", "2030-01-01T01:59:57Z",
                            "--outside-window", "wait", "--progress", "json")
    took = time.monotonic() - t0
    eq(rc, 0, f"waited then ran ({err})")
    ev = events(out)
    # The fake clock runs on from --now, so a slow start-up eats into the 3 s.
    check(ev[0]["event"] == "waiting" and 1 <= ev[0]["seconds"] <= 3, f"first event {ev[0]}")
    check(took >= 1.0, f"the run waited ({took:.2f}s)")
    env.check_edge_holds(objs)


@test
def window_closes_mid_run(env):
    objs = make_catalog(env, titles=2, segs=8, seg_size=1_000_000)
    # 2 s before the end; 16 MB at 16 Mbit/s takes 8 s.
    rc, out, err = env.fill("run", *WIN, "--tz", "UTC", "--now", "2030-01-01T13:59:58Z",
                            "--rate", "16Mbit", "--parallel", "1", "--progress", "json")
    eq(rc, 4, f"stopped by the window ({err})")
    done = [e for e in events(out) if e["event"] == "done"][0]
    check(0 < done["committed"] < len(objs), f"some but not all sent: {done}")
    eq(len(env.listing()), done["committed"], "edge holds what was committed")


@test
def no_retries_after_the_window(env):
    objs = make_catalog(env, titles=1, segs=3)
    bad = objs[1]
    key = "/" + bad["path"]
    env.origin.stall[key] = 0  # the head, then silence: each attempt ends by the stall bound
    # The window closes 3 s in. Eight retries would take the rest of a minute (a stall bound
    # and a growing backoff each); none may start once the window has closed.
    t0 = time.monotonic()
    rc, out, err = env.fill("run", *WIN, "--tz", "UTC", "--now", "2030-01-01T13:59:57Z",
                            "--stall-timeout", "1s", "--retries", "8", "--progress", "json",
                            timeout=120)
    took = time.monotonic() - t0
    eq(rc, 4, f"the window closed before the end, nothing else failed ({err})")
    check(took < 20, f"the run went on {took:.1f}s after a window that closed at 3 s")
    ev = events(out)
    failed = [(e["key"], e["reason"]) for e in ev if e["event"] == "failed"]
    eq(failed, [(key, "window closed")], "the object still to retry is given up")
    check(env.origin.gets[key] <= 3, f"{env.origin.gets[key]} GETs of the stalled object")
    check(key not in env.listing(), "nothing of it on the edge")
    env.origin.unstall()


@test
def unknown_zone_refused(env):
    """A zone name this machine has no zone file for is refused (exit 2, saying so): read as
    UTC, it would move the window by hours, into the peak."""
    make_catalog(env, titles=1, segs=1)
    rc, out, err = env.fill("run", *WIN, "--tz", "Europe/Pari", "--now", "2030-01-01T03:00:00Z")
    eq(rc, 2, f"unknown zone ({err})")
    check("unknown time zone" in out + err and "Europe/Pari" in out + err,
          f"says which: {out} {err}")
    # A file that is not a compiled zone is none either (it was taken, and read as UTC), and
    # a zone is checked without a window too, as the file's are.
    for extra in ((*WIN, "--tz", "/etc/passwd"), ("--tz", "Europe/Pari")):
        rc, out, err = env.fill("run", *extra, "--now", "2030-01-01T03:00:00Z")
        eq(rc, 2, f"{extra} ({err})")
    eq(env.puts(), [], "nothing sent")


@test
def flags_beat_the_edges_own_keys(env):
    """--window and --tz apply over an edge's own window and tz in the file, as over the
    file's top-level ones (--help: flags override it): an operator narrowing or moving the
    window from the command line gets that window. The edge's own keys used to win."""
    objs = make_catalog(env, titles=1, segs=2)
    cfg = os.path.join(env.dir, "fill-own.yaml")
    with open(cfg, "w") as f:
        f.write('edges:\n  - {id: %s, window: "02:00-04:00", tz: Asia/Tokyo, rate: 1Gbit}\n'
                % env.edge_id)

    def fill_at(now, state, *flags):
        return env.fill("run", "--config", cfg, *flags, "--now", now, "--progress", "none",
                        "--state-dir", os.path.join(env.dir, state))

    # 12:30 UTC is 21:30 in Tokyo: outside the edge's own window, inside the flags'.
    rc, _, err = fill_at("2030-01-01T12:30:00Z", "s1")
    eq(rc, 4, f"the edge's own window, without flags ({err})")
    eq(env.puts(), [], "nothing sent outside the edge's own window")
    # 18:00 UTC is 03:00 in Tokyo: inside the edge's own window, outside 02:00-04:00 in UTC.
    rc, _, err = fill_at("2030-01-01T18:00:00Z", "s2", "--tz", "UTC")
    eq(rc, 4, f"--tz over the edge's own zone ({err})")
    eq(env.puts(), [], "nothing sent outside the window in the flag's zone")
    rc, _, err = fill_at("2030-01-01T12:30:00Z", "s3", *WIN, "--tz", "UTC")
    eq(rc, 0, f"--window and --tz over the edge's own ({err})")
    env.check_edge_holds(objs)


if __name__ == "__main__":
    run()
