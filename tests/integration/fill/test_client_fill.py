# SPDX-License-Identifier: MIT
"""A run beside a client-driven fill of the same objects: the edge has the origin as its
upstream and a client requests every planned object through the edge while sluice-fill is
pushing them. Every client gets the right bytes, the run ends 0 with every object correct on
the edge, and a second run sends nothing."""

import hashlib
import threading

from fillharness import check, eq, events, make_catalog, run, test


@test
def run_beside_client_fill(env):
    # The edge of this test fills misses from the origin.
    env.edge.stop()
    env.edge.cfg["upstreams"] = [{"url": env.origin.url}]
    env.edge.start()
    objs = make_catalog(env, titles=2, segs=6, seg_size=400_000)
    bad = []

    def client():
        for o in reversed(objs):  # the opposite order to the run's
            r = env.edge.get("/" + o["path"], timeout=20)
            if r.status != 200 or hashlib.sha256(r.body).hexdigest() != o["sha256"]:
                bad.append((o["path"], r.status))

    t = threading.Thread(target=client)
    p = env.spawn("run", "--progress", "json", "--rate", "16Mbit", "--parallel", "2")
    t.start()
    out, err = p.communicate(timeout=120)
    t.join(60)
    eq(p.returncode, 0, f"run exit ({err.decode()})")
    eq(bad, [], "client responses with wrong bytes or errors")
    misses = 0
    for line in env.edge.metrics().body.decode().splitlines():
        if line.startswith("sluice_edge_cache_misses_total"):
            misses = int(float(line.split()[-1]))
    check(misses > 0, "the client drove fills of its own (cache misses)")
    env.check_edge_holds(objs)
    done = [e for e in events(out.decode()) if e["event"] == "done"][0]
    check(done["refused"] == 0 and done["failed"] == 0, f"nothing refused: {done}")
    commits = env.commits()
    rc, out, err = env.fill("run", "--progress", "json")
    eq(rc, 0, f"second run ({err})")
    eq(env.commits(), commits, "the second run sends nothing")


if __name__ == "__main__":
    run()
