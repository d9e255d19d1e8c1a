# SPDX-License-Identifier: MIT
"""sluice-fill run --metrics-file: the run's figures for Prometheus' textfile collector.

  figures_of_a_run: a run's file, once it ended, is valid exposition text whose figures are
                    the run's own (objects queued and committed, their bytes, exit status 0),
                    readable by another user (0644), with no temporary file left beside it;
                    its families are the ones docs/fill.md lists under "Metrics", no more, no
                    fewer (the alert rules are held to that list: a rule on a name the docs
                    give and the file lacks would never fire).
  running_then_interrupted: a run waiting for its window says running 1 while it waits; a
                    SIGTERM then ends it, and the file says so (running 0, exit status 5).
  a_second_run_beside: a run started while another waits is refused the edge and writes no
                    figures: the file still says running 1 with the first run's start, until
                    the first ends; the next run then reports again.
  bad_paths:        an empty --metrics-file is refused (exit 2); a directory that cannot hold
                    the file is said in the log and the run goes on (exit 0).
"""

import os
import re
import signal
import stat
import time

from fillharness import check, eq, make_catalog, run, test
from promtext import documented_families

DOCS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "docs",
                    "fill.md")

LINE = re.compile(r'^([a-z_]+)(\{edge="([^"\\]*)"(?:,state="([a-z]+)")?\})? (-?[0-9]+)$')


def parse(path):
    """The file's samples as {(name, edge, state): value}, every line checked: each sample's
    family declared first by a HELP and a gauge TYPE line."""
    with open(path) as f:
        text = f.read()
    check(text.endswith("\n"), f"the file ends with a newline: {text[-40:]!r}")
    declared, out = set(), {}
    for ln in text.splitlines():
        if ln.startswith("# HELP "):
            check(len(ln.split(" ", 3)) == 4, f"HELP with its text: {ln}")
            continue
        if ln.startswith("# TYPE "):
            _, _, name, kind = ln.split(" ")
            eq(kind, "gauge", f"{name}'s type")
            declared.add(name)
            continue
        m = LINE.match(ln)
        check(m, f"a sample line: {ln!r}")
        check(m.group(1) in declared, f"{m.group(1)} sampled before its TYPE")
        key = (m.group(1), m.group(3), m.group(4))
        check(key not in out, f"{key} twice")
        out[key] = int(m.group(5))
    return out


@test
def figures_of_a_run(env):
    objs = make_catalog(env, titles=1, segs=4)
    path = os.path.join(env.dir, "fill.prom")
    t0 = int(time.time())
    rc, out, err = env.fill("run", "--progress", "none", "--metrics-file", path)
    eq(rc, 0, f"run exit ({err})")
    t1 = int(time.time()) + 1
    m = parse(path)
    eq(m[("sluice_fill_run_running", None, None)], 0, "running after the run")
    eq(m[("sluice_fill_run_exit_status", None, None)], 0, "the run's exit status")
    start = m[("sluice_fill_run_start_time_seconds", None, None)]
    end = m[("sluice_fill_run_end_time_seconds", None, None)]
    check(t0 <= start <= end <= t1, f"start {start} and end {end} within {t0}..{t1}")
    edge = env.edge_id
    eq(m[("sluice_fill_edge_exit_status", edge, None)], 0, "the edge's exit status")
    eq(m[("sluice_fill_edge_objects", edge, "queued")], len(objs), "objects queued")
    eq(m[("sluice_fill_edge_objects", edge, "committed")], len(objs), "objects committed")
    eq(m[("sluice_fill_edge_objects", edge, "refused")], 0, "objects refused")
    eq(m[("sluice_fill_edge_objects", edge, "failed")], 0, "objects failed")
    size = sum(o["size"] for o in objs)
    eq(m[("sluice_fill_edge_committed_bytes", edge, None)], size, "bytes committed")
    eq(m[("sluice_fill_edge_origin_bytes", edge, None)], size, "bytes read from the origin")
    with open(DOCS) as f:
        documented = documented_families(f.read(), "Metrics", "sluice_fill_")
    have = {name for name, _, _ in m}
    eq(sorted(have - documented), [], "families in the file that docs/fill.md does not list")
    eq(sorted(documented - have), [], "families docs/fill.md lists that the file lacks")
    eq(stat.S_IMODE(os.stat(path).st_mode), 0o644, "the file's mode")
    eq(sorted(os.listdir(env.dir)).count("fill.prom.tmp"), 0, "a temporary file left")
    env.check_edge_holds(objs)
    # A second run with nothing to do replaces the figures.
    rc, out, err = env.fill("run", "--progress", "none", "--metrics-file", path)
    eq(rc, 0, f"second run exit ({err})")
    m = parse(path)
    eq(m[("sluice_fill_edge_objects", edge, "queued")], 0, "objects queued the second time")
    eq(m[("sluice_fill_edge_committed_bytes", edge, None)], 0, "bytes the second time")


def spawn_waiting(env, path):
    """A run that waits for its window (an hour away), once its file says running 1."""
    p = env.spawn("run", "--progress", "json", "--metrics-file", path, "--window", "02:00-03:00",
                  "--tz", "UTC", "--now", "2030-01-01T01:00:00Z", "--outside-window", "wait")
    deadline = time.monotonic() + 20
    m = None
    while time.monotonic() < deadline and m is None:
        if os.path.exists(path):
            m = parse(path)
        else:
            time.sleep(0.1)
    if m is None:
        p.kill()
        p.wait()
    check(m is not None, "no metrics file while the run waits")
    eq(m[("sluice_fill_run_running", None, None)], 1, "running while it waits")
    check(("sluice_fill_run_exit_status", None, None) not in m,
          f"no exit status before the end: {m}")
    return p, m


def interrupt(p):
    """SIGTERM p; its stderr once it has ended."""
    try:
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return err.decode()


@test
def running_then_interrupted(env):
    make_catalog(env, titles=1, segs=2)
    path = os.path.join(env.dir, "fill.prom")
    p, _ = spawn_waiting(env, path)
    time.sleep(0.5)
    err = interrupt(p)
    eq(p.returncode, 5, f"exit after SIGTERM ({err})")
    m = parse(path)
    eq(m[("sluice_fill_run_running", None, None)], 0, "running after SIGTERM")
    eq(m[("sluice_fill_run_exit_status", None, None)], 5, "the run's exit status")
    eq(m[("sluice_fill_edge_exit_status", env.edge_id, None)], 5, "the edge's exit status")


def held(path):
    """Whether some process holds an flock on path (read from /proc/locks: taking the lock to
    see would race the run that is about to)."""
    try:
        ino = os.stat(path).st_ino
    except FileNotFoundError:
        return False
    with open("/proc/locks") as f:
        for ln in f:
            fields = ln.split()
            if "FLOCK" in fields and any(x.split(":")[-1] == str(ino) for x in fields if
                                         x.count(":") == 2):
                return True
    return False


@test
def a_second_run_beside(env):
    make_catalog(env, titles=1, segs=2)
    path = os.path.join(env.dir, "fill.prom")
    p, first = spawn_waiting(env, path)
    try:
        # The file is written before the edge's lock is taken: wait for the lock too.
        lock = os.path.join(env.state_dir, f"{env.edge_id}.lock")
        deadline = time.monotonic() + 20
        while not held(lock):
            check(time.monotonic() < deadline, f"the first run never took {lock}")
            time.sleep(0.05)
        # Started by hand while the first waits: refused the edge, and it says why, but the
        # file goes on saying what the first run is doing.
        rc, out, err = env.fill("run", "--progress", "none", "--metrics-file", path)
        eq(rc, 1, f"the second run's exit ({err})")
        check("another sluice-fill is filling" in err, f"the edge's lock said: {err}")
        check(f"metrics file {path}: another sluice-fill run reports there" in err,
              f"the metrics file's lock said: {err}")
        eq(parse(path), first, "the file while the first run still waits")
        eq(sorted(os.listdir(env.dir)).count("fill.prom.tmp"), 0, "a temporary file left")
    finally:
        err = interrupt(p)
    eq(p.returncode, 5, f"the first run's exit after SIGTERM ({err})")
    m = parse(path)
    eq(m[("sluice_fill_run_running", None, None)], 0, "running after the first run ended")
    eq(m[("sluice_fill_run_exit_status", None, None)], 5, "the first run's exit status")
    eq(m[("sluice_fill_run_start_time_seconds", None, None)],
       first[("sluice_fill_run_start_time_seconds", None, None)], "the first run's start")
    # Once it has ended, the next run reports again.
    rc, out, err = env.fill("run", "--progress", "none", "--metrics-file", path)
    eq(rc, 0, f"a run after the first ({err})")
    eq(parse(path)[("sluice_fill_run_exit_status", None, None)], 0, "its exit status")


@test
def bad_paths(env):
    make_catalog(env, titles=1, segs=1)
    rc, out, err = env.fill("run", "--progress", "none", "--metrics-file", "")
    eq(rc, 2, f"an empty --metrics-file ({err})")
    check("--metrics-file" in err, f"says which: {err}")
    path = os.path.join(env.dir, "no-such-dir", "fill.prom")
    rc, out, err = env.fill("run", "--progress", "none", "--metrics-file", path)
    eq(rc, 0, f"a run whose metrics file cannot be written ({err})")
    check(f"metrics file {path}: No such file or directory" in err, f"said: {err}")


if __name__ == "__main__":
    run()
