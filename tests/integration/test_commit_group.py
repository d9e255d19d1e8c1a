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

    python3 test_commit_group.py path/to/sluice-edge
"""

import contextlib
import os
import re
import sys
import threading

from edgeharness import Closed, Edge, check, eq, preload_env, run, sha, test
from origin import Origin

SYNC_MS = 150  # added to each fsync/fdatasync while the flag exists
N = 8
SIZE = 64 * 1024
COMMITS = "sluice_edge_fill_commits_total"
GROUPS = "sluice_edge_fill_commit_groups_total"


@contextlib.contextmanager
def slow_syncs(e):
    """The edge's syncs are slow inside the block."""
    open(e.sync_flag, "w").close()
    try:
        yield
    finally:
        os.unlink(e.sync_flag)


def counter(e, name):
    m = re.search(rb"^" + name.encode() + rb" (\S+)$", e.metrics().body, re.M)
    check(m, f"{name} missing from /metrics")
    return float(m.group(1))


def get_all(e, keys):
    """GET every key at once, each on its own connection; returns {key: Response or the
    exception that ended it}."""
    out = {}

    def one(key):
        try:
            out[key] = e.get(key, timeout=30)
        except (Closed, OSError) as x:
            out[key] = x

    threads = [threading.Thread(target=one, args=(k,)) for k in keys]
    for t in threads:
        t.start()
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
    objs = {f"/ok/group/seg-{i}.m4s": os.urandom(SIZE) for i in range(N)}
    for k, v in objs.items():
        e.origin.add(k, v)
    commits, groups = counter(e, COMMITS), counter(e, GROUPS)
    with slow_syncs(e):
        got = get_all(e, objs)
    for k, v in objs.items():
        whole(got[k], k, v)
    eq(counter(e, COMMITS) - commits, N, "commits")
    g = counter(e, GROUPS) - groups
    # The first commit alone takes four slow syncs; the other bodies are whole long before it
    # ends. One at a time would be N groups.
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


def setup(binary):
    shim = os.environ.get("SLUICE_SLOW_SYNC_SHIM", "")
    check(shim and os.path.exists(shim),
          "the slow-sync shim is missing (meson builds it and names it in SLUICE_SLOW_SYNC_SHIM)")
    o = Origin()
    e = Edge(binary, {"workers": 1, "upstreams": [{"url": o.url}]})
    e.origin = o
    e.sync_flag = os.path.join(e.dir, "slow-syncs")
    return e.start(env=preload_env(shim, SLUICE_SLOW_SYNC_FLAG=e.sync_flag,
                                   SLUICE_SLOW_SYNC_MS=str(SYNC_MS)))


if __name__ == "__main__":
    sys.exit(run(setup))
