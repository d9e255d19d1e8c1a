# SPDX-License-Identifier: MIT
"""Room on the edge: the plan's bytes exceed the free budget. Without eviction the object
that does not fit is left out (plan says so, the run sends the rest); with it, the run
deletes the least-hit unplanned object first and then everything planned fits."""

import os

from fillharness import check, eq, events, make_catalog, run, test

MB = 1000 * 1000


@test
def evicts_the_coldest_unplanned(env):
    env.edge.stop()
    env.edge.cfg["cache"]["max_size"] = "64M"  # 67.1 MB
    env.edge.start()
    for name in ("cold", "warm", "hot"):
        env.edge.put(f"/old/{name}.m4s", os.urandom(10 * MB))
    for _ in range(3):
        env.edge.get("/old/hot.m4s")
    env.edge.get("/old/warm.m4s")
    # 5 x 8 MB planned; free is 37.1 MB.
    # The init segment too, so all five are 8 MB.
    objs = make_catalog(env, titles=1, segs=4, seg_size=8 * MB, init_size=8 * MB)

    rc, out, err = env.fill("plan", "--json", "--no-evict", "--verbose")
    eq(rc, 0, f"plan ({err})")
    d = events(out)[0]
    eq(d["no_room_objects"], 1, "one object does not fit without eviction")
    eq(d["evict_objects"], 0, "no eviction asked for")
    rc, out, err = env.fill("plan", "--json", "--verbose")
    d = events(out)[0]
    eq([e["key"] for e in d["evict"]], ["/old/cold.m4s"], "the least-hit unplanned object")
    eq(d["no_room_objects"], 0, "everything fits with eviction")

    rc, out, err = env.fill("run", "--progress", "json")
    eq(rc, 0, f"run ({err})")
    ev = events(out)
    eq([e["key"] for e in ev if e["event"] == "evicted"], ["/old/cold.m4s"], "evicted")
    env.check_edge_holds(objs)
    held = env.listing()
    check("/old/hot.m4s" in held and "/old/warm.m4s" in held, f"hot and warm kept: {list(held)}")


if __name__ == "__main__":
    run()
