# SPDX-License-Identifier: MIT
"""Persistence: a clean restart keeps every object; a kill -9 during a PUT never leaves a
partial object behind; an index data file cut short is refused at start, saying what to do."""

import os
import random
import subprocess
import sys
import time

from edgeharness import (Edge, build_request, check, eq, expect_body, run, sha, test)


def setup(binary):
    e = Edge(binary)
    try:
        e.start()
    except Exception:
        e.cleanup()
        raise
    return e


def all_served(e, what):
    bad = []
    for k, v in e.objects.items():
        r = e.get(k)
        if r.status != 200 or sha(r.body) != sha(v):
            bad.append(f"{k}: {r.status}, {len(r.body)}/{len(v)} bytes")
    check(not bad, f"{what}: not served byte-exact:\n  " + "\n  ".join(bad))


@test
def clean_restart_keeps_objects(e):
    rng = random.Random(7)
    sizes = [0, 1, 100, 4095, 4096, 4097, 65536, 100_000, 1_000_000, 2_500_000]
    for i in range(20):
        e.put(f"/r/t{i % 3}/seg-{i}.m4s", rng.randbytes(sizes[i % len(sizes)] + i))
    all_served(e, "before restart")
    e.stop()
    e.start()
    all_served(e, "after SIGTERM and restart")


def tmp_entries(e):
    d = os.path.join(e.cache_dir, "tmp")
    try:
        return os.listdir(d)
    except FileNotFoundError:
        return []


def kill_mid_put(e, key, size, replacing):
    data = os.urandom(size)
    c = e.conn(admin=True, timeout=10)
    try:
        c.send(build_request("PUT", "/admin/objects" + key,
                             e.auth() + [("Content-Length", str(size)),
                                         ("X-Sluice-SHA256", sha(data))]))
        c.send(data[:size // 2])
        # Wait (bounded) until the server has started streaming the body to a temp file, so the
        # kill lands mid-body on the server side; store.h puts temp files in <cache>/tmp/.
        deadline = time.monotonic() + 3
        while not tmp_entries(e) and time.monotonic() < deadline:
            time.sleep(0.02)
        started = bool(tmp_entries(e))
        e.kill9()
    finally:
        c.close()
    e.start()
    return started


@test
def kill9_during_new_put(e):
    started = kill_mid_put(e, "/r/partial.m4s", 8 * 1024 * 1024, replacing=False)
    # Half the body was sent: the kill must land with it partly on disk, or this tests nothing.
    check(started, "no temp file under <cache>/tmp within 3 s of sending half the body")
    r = e.get("/r/partial.m4s")
    eq(r.status, 404, f"object whose PUT was killed mid-body (temp file seen: {started})")
    all_served(e, "after kill -9 and restart")
    eq(tmp_entries(e), [], "temp files left in <cache>/tmp after recovery")


@test
def kill9_during_replace_keeps_old(e):
    key = "/r/t0/seg-0.m4s"
    old = e.objects[key]
    check(kill_mid_put(e, key, 6 * 1024 * 1024, replacing=True),
          "no temp file under <cache>/tmp within 3 s of sending half the body")
    expect_body(e.get(key), old, "old version after a replace killed mid-body")
    all_served(e, "after the second kill -9")


@test
def second_edge_on_one_cache_dir_told(e):
    """A second edge started on the cache.dir a running one holds: it exits 1 saying another
    process holds the store's lock and what to do (it said only "Device or resource busy")."""
    t = Edge(e.binary, {"cache": {"dir": e.cache_dir, "scrub_rate": 0}})
    try:
        t.write_config()
        with open(t.log_path, "ab") as log:
            t.proc = subprocess.Popen([t.binary, "--config", t.config_path], stdout=log,
                                      stderr=log, stdin=subprocess.DEVNULL)
        eq(t.proc.wait(15), 1, "exit status of the second edge")
        check(f"another process holds its lock ({e.cache_dir}/lock)" in t.log_tail(1)
              and "give this edge a cache.dir of its own" in t.log_tail(1),
              "the last log line says who holds the store and what to do\n" + t.log_tail(3))
        all_served(e, "the first edge, after the second gave up")
    finally:
        t.cleanup()


@test
def truncated_index_refused(e):
    """index/data.mdb cut to half its length (a copy or restore that stopped): LMDB faulted on
    the pages past its end and the edge died of SIGBUS at start, saying nothing. It exits 1
    naming the file and what to do, and that way out works: an empty index, the object files
    removed, the edge serving."""
    t = Edge(e.binary, {"cache": {"scrub_rate": 0}})
    try:
        t.start()
        for i in range(100):
            t.put(f"/cut/t/o-{i:03d}.bin", os.urandom(1000))
        t.stop()
        index = os.path.join(t.cache_dir, "index")
        mdb = os.path.join(index, "data.mdb")
        os.truncate(mdb, os.path.getsize(mdb) // 2)
        with open(t.log_path, "ab") as log:
            t.proc = subprocess.Popen([t.binary, "--config", t.config_path], stdout=log,
                                      stderr=log, stdin=subprocess.DEVNULL)
        try:
            rc = t.proc.wait(15)
        except subprocess.TimeoutExpired:
            raise AssertionError("started on a truncated index\n" + t.log_tail(5))
        eq(rc, 1, "exit status on a truncated index (negative: killed by that signal)")
        check(f"its index {mdb} is damaged" in t.log_tail(1)
              and f"move {index} away and start again" in t.log_tail(1),
              "the last log line names the file and what to do\n" + t.log_tail(3))
        os.rename(index, os.path.join(t.dir, "index.damaged"))
        t.start()
        eq(t.get("/cut/t/o-000.bin").status, 404, "an object of the moved index")
        left = [f for _, _, files in os.walk(os.path.join(t.cache_dir, "objects")) for f in files]
        eq(left, [], "object files no entry names")
        t.put("/cut/t/o-000.bin", b"again")
        expect_body(t.get("/cut/t/o-000.bin"), b"again", "a new object on the new index")
        t.stop()
    finally:
        t.cleanup()

@test
def truncated_policy_state_starts_fresh(e):
    """policy/data.mdb (the popularity counters) cut to half: the edge died of SIGBUS at start.
    The state is worth less than a start: it is removed with a warning, the policy starts
    fresh, and every object is served."""
    t = Edge(e.binary, {"cache": {"scrub_rate": 0}})
    try:
        t.start()
        data = {f"/cut/p/o-{i:03d}.bin": os.urandom(1000) for i in range(300)}
        for k, v in data.items():
            t.put(k, v)
            eq(t.get(k).status, 200, "a hit before the stop")
        t.stop()  # saves the policy's state
        mdb = os.path.join(t.cache_dir, "policy", "data.mdb")
        check(os.path.getsize(mdb) >= 4 * 4096, f"policy state of {os.path.getsize(mdb)} bytes")
        os.truncate(mdb, os.path.getsize(mdb) // 2)
        t.start()
        check("is damaged (cut short): removed, starting fresh" in t.log_tail(40),
              "no warning about the policy state\n" + t.log_tail(5))
        for k, v in data.items():
            expect_body(t.get(k), v, f"{k} after the policy started fresh")
        t.stop()
    finally:
        t.cleanup()


if __name__ == "__main__":
    sys.exit(run(setup))
