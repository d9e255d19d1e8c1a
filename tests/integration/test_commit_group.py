# SPDX-License-Identifier: MIT
"""Fills whose bodies become whole while another commit runs are committed as one group (one
LMDB commit and one sync per directory for all of them), and each is answered and kept as it
would have been alone. A preload shim (slow-sync-shim.c) makes each fsync(2) and fdatasync(2)
of the edge take SYNC_MS longer while its flag file exists, so the first commit is still
running when the other bodies arrive.

  distinct_misses_commit_in_groups  N cold keys asked at once: every answer whole, every key a
                                    hit afterwards from one origin fetch, and fewer groups than
                                    commits (sluice_edge_fill_commit_groups_total)
  refused_member_spoils_no_other    one body of the group fails its SHA-256 check: its answer
                                    never looks whole and it is not kept; the others are
  stalled_commit_cut_at_commit_timeout  (an edge of its own, each sync STALL_MS slower, so a
                                    commit takes several times that) over HTTP/1.1 and h2c, a
                                    whole GET and a range: the answer waiting on the commit is
                                    closed, never whole, soon after limits.commit_timeout, not
                                    when the commit ends; a warning and
                                    sluice_edge_fill_commits_overdue_total say so, and the
                                    commit, once it ends, is kept

    python3 test_commit_group.py path/to/sluice-edge
"""

import os
import re
import shutil
import subprocess
import sys
import threading
import time

from edgeharness import HOST, Closed, Edge, check, eq, preload_env, run, sha, slow_syncs, test
from origin import Origin

SYNC_MS = 150  # added to each fsync/fdatasync while the flag exists
N = 8
SIZE = 64 * 1024
STALL_MS = 3000  # the stalled edge's added time per sync: a commit makes three syncs or more
COMMIT_TIMEOUT = 1.0  # the stalled edge's limits.commit_timeout and send_timeout
COMMITS = "sluice_edge_fill_commits_total"
GROUPS = "sluice_edge_fill_commit_groups_total"


def counter(e, name):
    m = re.search(rb"^" + name.encode() + rb" (\S+)$", e.metrics().body, re.M)
    check(m, f"{name} missing from /metrics")
    return float(m.group(1))


def get_all(e, keys, gated=()):
    """GET every key at once, each on its own connection; returns {key: Response or the
    exception that ended it}. The origin holds the last byte of each gated key (a /gate/ path)
    until all of them have been asked for, then lets them all go at once."""
    out = {}
    for k in gated:
        e.origin.first[k] = SIZE - 1

    def one(key):
        try:
            out[key] = e.get(key, timeout=30)
        except (Closed, OSError) as x:
            out[key] = x

    threads = [threading.Thread(target=one, args=(k,)) for k in keys]
    for t in threads:
        t.start()
    for k in gated:
        check(e.origin.event(e.origin.arrived, k).wait(30), f"{k}: never asked upstream")
    for k in gated:
        e.origin.gate(k).set()
    for t in threads:
        t.join()
    return out


def whole(r, key, data):
    check(not isinstance(r, Exception), f"{key}: {r!r}")
    eq(r.status, 200, f"{key}: status")
    check(sha(r.body) == sha(data), f"{key}: body differs ({len(r.body)} bytes)")


def kept(e, key, data):
    """key is now a hit with data, from the one fetch the miss made."""
    r = e.get(key)
    whole(r, key, data)
    check("; hit" in (r.get("Cache-Status") or ""), f"{key}: not a hit: {r.get('Cache-Status')}")
    eq(e.origin.count(key), 1, f"{key}: origin fetches")


@test
def distinct_misses_commit_in_groups(e):
    objs = {f"/gate/group/seg-{i}.m4s": os.urandom(SIZE) for i in range(N)}
    for k, v in objs.items():
        e.origin.add(k, v)
    commits, groups = counter(e, COMMITS), counter(e, GROUPS)
    with slow_syncs(e):
        got = get_all(e, objs, gated=objs)
    for k, v in objs.items():
        whole(got[k], k, v)
    eq(counter(e, COMMITS) - commits, N, "commits")
    g = counter(e, GROUPS) - groups
    # The bodies become whole together (their last bytes held, then let go at once); the first
    # commit alone makes several slow syncs, and the others are whole long before it ends. One
    # at a time would be N groups.
    check(1 <= g <= N // 2, f"{N} commits in {g:g} groups, want at most {N // 2}")
    for k, v in objs.items():
        kept(e, k, v)


@test
def refused_member_spoils_no_other(e):
    good = {f"/ok/mixed/seg-{i}.m4s": os.urandom(SIZE) for i in range(N - 1)}
    bad = "/badsha/mixed/seg.m4s"
    for k, v in good.items():
        e.origin.add(k, v)
    bad_data = e.origin.add(bad, os.urandom(SIZE))
    commits, groups = counter(e, COMMITS), counter(e, GROUPS)
    with slow_syncs(e):
        got = get_all(e, [*good, bad])
    for k, v in good.items():
        whole(got[k], k, v)
    r = got[bad]
    check(isinstance(r, Exception) or r.status != 200 or sha(r.body) != sha(bad_data),
          f"{bad}: a body failing its SHA-256 check arrived whole")
    eq(counter(e, COMMITS) - commits, N, "commits")
    check(counter(e, GROUPS) - groups <= N // 2, "the commits were not grouped")
    for k, v in good.items():
        kept(e, k, v)
    listing = e.admin("GET", "/admin/objects?prefix=/badsha/")
    eq(listing.status, 200, "listing status")
    check(bad.encode() not in listing.body, "a body failing its check was kept")


@test
def stalled_commit_cut_at_commit_timeout(e):
    check(shutil.which("curl"), "curl missing (tools/deps installs it)")
    s = slow_edge(e.binary, STALL_MS, {"send_timeout": f"{COMMIT_TIMEOUT:g}s",
                                       "commit_timeout": f"{COMMIT_TIMEOUT:g}s"})
    try:
        # A whole GET (its last byte waits for the commit) and a range (its answer waits for
        # the commit's check before it begins), over each protocol.
        objs = {f"/ok/stall/{proto}-{what}.m4s": (proto, what, os.urandom(SIZE))
                for proto in ("h1", "h2c") for what in ("whole", "range")}
        for k, (_, _, v) in objs.items():
            s.origin.add(k, v)
        overdue = counter(s, "sluice_edge_fill_commits_overdue_total")
        commits = counter(s, COMMITS)
        for k, (proto, what, v) in objs.items():
            opts = ["--http1.1" if proto == "h1" else "--http2-prior-knowledge"]
            want = v
            if what == "range":
                opts += ["-r", "10-19"]
                want = v[10:20]
            with slow_syncs(s):
                start = time.monotonic()
                out = subprocess.run(["curl", "-sS", *opts, "-o", "-",
                                      f"http://{HOST}:{s.port}{k}"],
                                     capture_output=True, timeout=60)
                took = time.monotonic() - start
            print(f"# {proto} {what}: curl {out.returncode} after {took:.2f}s, "
                  f"{len(out.stdout)} bytes")
            check(out.returncode != 0 and sha(out.stdout) != sha(want),
                  f"{proto} {what}: the answer completed while its commit was stalled "
                  f"(curl {out.returncode} after {took:.1f}s)")
            # The commit alone takes three STALL_MS and more; the answer ends at the first
            # deadline past commit_timeout.
            check(COMMIT_TIMEOUT <= took <= 2 * STALL_MS / 1000,
                  f"{proto} {what}: cut after {took:.1f}s, want between {COMMIT_TIMEOUT:g}s and "
                  f"{2 * STALL_MS / 1000:g}s")
        eq(counter(s, "sluice_edge_fill_commits_overdue_total") - overdue, len(objs),
           "overdue commits counted")
        with open(s.log_path, "rb") as f:
            said = f.read().count(b"has run past limits.commit_timeout")
        eq(said, len(objs), "warnings in the log")
        # The syncs are quick again: the stalled commits end (one after another: each waits
        # out the slow sync it was in), and what they kept is whole.
        deadline = time.monotonic() + len(objs) * 4 * STALL_MS / 1000 + 10
        while counter(s, COMMITS) - commits < len(objs) and time.monotonic() < deadline:
            time.sleep(0.2)  # poll: a commit ends when its last slow sync does
        eq(counter(s, COMMITS) - commits, len(objs), "stalled commits ended")
        for k, (_, _, v) in objs.items():
            kept(s, k, v)
    finally:
        try:
            s.stop(timeout=4 * STALL_MS / 1000 + 10)  # a commit may still be in its syncs
            eq(s.sanitizer_reports(), [], "sanitizer reports of the stalled edge")
        finally:
            s.cleanup()


def slow_edge(binary, sync_ms, limits=None):
    """A started edge whose syncs take sync_ms longer while its sync_flag exists."""
    shim = os.environ.get("SLUICE_SLOW_SYNC_SHIM", "")
    check(shim and os.path.exists(shim),
          "the slow-sync shim is missing (meson builds it and names it in SLUICE_SLOW_SYNC_SHIM)")
    o = Origin()
    cfg = {"workers": 1, "upstreams": [{"url": o.url}]}
    if limits:
        cfg["limits"] = limits
    e = Edge(binary, cfg)
    e.origin = o
    e.sync_flag = os.path.join(e.dir, "slow-syncs")
    return e.start(env=preload_env(shim, SLUICE_SLOW_SYNC_FLAG=e.sync_flag,
                                   SLUICE_SLOW_SYNC_MS=str(sync_ms)))


def setup(binary):
    return slow_edge(binary, SYNC_MS)


if __name__ == "__main__":
    sys.exit(run(setup))
