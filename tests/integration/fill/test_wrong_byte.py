# SPDX-License-Identifier: MIT
"""An origin serving one wrong byte (a deliberate fake for one object): that object is
refused and never committed, the run carries on with the rest, and the exit status is 3."""

from fillharness import check, eq, events, make_catalog, run, test


@test
def one_wrong_byte(env):
    objs = make_catalog(env, titles=2, segs=4, seg_size=300_000)
    bad = objs[2]
    env.origin.corrupt.add("/" + bad["path"])
    rc, out, err = env.fill("run", "--progress", "json")
    eq(rc, 3, f"exit status says partial ({err})")
    ev = events(out)
    refused = [e for e in ev if e["event"] == "refused"]
    eq([e["key"] for e in refused], ["/" + bad["path"]], "refused objects")
    eq(refused[0]["reason"], "sha256-mismatch", "refusal reason")
    held = env.listing()
    check("/" + bad["path"] not in held, "the wrong object is not on the edge")
    env.check_edge_holds([o for o in objs if o is not bad])

    # Once the origin is fixed a rerun completes and sends only that object.
    env.origin.corrupt.clear()
    rc, out, err = env.fill("run", "--progress", "json")
    eq(rc, 0, f"rerun exit ({err})")
    done = [e for e in events(out) if e["event"] == "done"][0]
    eq(done["committed"], 1, "the rerun sent only the refused object")
    env.check_edge_holds(objs)
    eq(env.commits(), len(objs), "edge commits: one per object, none of the wrong bytes")


@test
def origin_missing_object(env):
    # In the catalog, not on the origin.
    objs = make_catalog(env, titles=1, segs=3, absent=["v1/seg-99.m4s"])
    rc, out, err = env.fill("run", "--progress", "json")
    eq(rc, 3, f"exit status ({err})")
    refused = [e for e in events(out) if e["event"] == "refused"]
    eq(len(refused), 1, "one refused")
    eq(refused[0]["key"], "/title0/v1/seg-99.m4s", "the object the origin lacks")
    eq(refused[0]["reason"], "origin-error", "reason")
    env.check_edge_holds(objs[:-1])


if __name__ == "__main__":
    run()
