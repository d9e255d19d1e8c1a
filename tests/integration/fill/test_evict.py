# SPDX-License-Identifier: MIT
"""Room on the edge: the plan's bytes exceed the free budget. Without eviction the object
that does not fit is left out (plan says so, the run sends the rest); with it, the run
deletes the least-hit unplanned object first and then everything planned fits."""

import hashlib
import os
import urllib.parse

from fillharness import (AdminProxy, check, eq, events, hold_unplanned, make_catalog, run,
                         test)

MB = 1000 * 1000


@test
def evicts_the_coldest_unplanned(env):
    env.edge.stop()
    env.edge.cfg["cache"]["max_size"] = "64M"  # 67.1 MB
    env.edge.start()
    hold_unplanned(env.edge)
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


@test
def limited_run_evicts_only_for_what_it_sends(env):
    """--limit 4 of the five planned 8 MB objects: 32 MB fit in the free 37.1 MB, so the run
    deletes nothing; the fifth is left for a later run, which makes its room then."""
    env.edge.stop()
    env.edge.cfg["cache"]["max_size"] = "64M"
    env.edge.start()
    hold_unplanned(env.edge)
    objs = make_catalog(env, titles=1, segs=4, seg_size=8 * MB, init_size=8 * MB)
    rc, out, err = env.fill("plan", "--json", "--limit", "4")
    d = events(out)[0]
    eq((d["add_objects"], d["over_limit_objects"], d["evict_objects"]), (4, 1, 0),
       f"plan with --limit 4 ({err})")
    rc, out, err = env.fill("run", "--progress", "json", "--limit", "4")
    eq(rc, 0, f"run ({err})")
    eq([e["key"] for e in events(out) if e["event"] == "evicted"], [], "nothing evicted")
    eq(len(env.listing()), 3 + 4, "the three old objects and four planned ones")
    rc, out, err = env.fill("run", "--progress", "json")
    eq(rc, 0, f"second run ({err})")
    eq([e["key"] for e in events(out) if e["event"] == "evicted"], ["/old/cold.m4s"],
       "the next run makes room for the fifth")
    env.check_edge_holds(objs)


@test
def failed_delete_says_why(env):
    """A DELETE the edge answers with an error is reported with that status, never with text
    left over from elsewhere."""
    env.edge.stop()
    env.edge.cfg["cache"]["max_size"] = "64M"
    env.edge.start()
    hold_unplanned(env.edge)
    make_catalog(env, titles=1, segs=4, seg_size=8 * MB, init_size=8 * MB)
    proxy = AdminProxy(env.edge.admin_port)
    env.admin_url = proxy.url
    proxy.answer["/admin/objects/old/cold.m4s"] = [(500, {})]
    try:
        rc, out, err = env.fill("run", "--progress", "json")
    finally:
        proxy.stop()
    failed = [e for e in events(out) if e["event"] == "evict-failed"]
    eq([e["key"] for e in failed], ["/old/cold.m4s"], f"one failed delete ({err})")
    eq(failed[0].get("detail"), "the edge answered 500", "the failure's detail")


def seven_unplanned(env):
    """The edge restarted with a 64M budget (67.1 MB) holding seven unplanned 9 MB objects
    (63 MB, under its 95% watermark): their keys."""
    env.edge.stop()
    env.edge.cfg["cache"]["max_size"] = "64M"
    env.edge.start()
    old = [f"/old/u{n}.m4s" for n in range(7)]
    for k in old:
        env.edge.put(k, os.urandom(9 * MB))
    return old


@test
def evicts_only_for_what_it_sends(env):
    """Victims are deleted one object at a time, just before the object they make room for is
    sent: a run the window cuts short leaves the rest of the edge as it was. The edge holds
    seven unplanned 9 MB objects (63 MB of 67.1, under its 95% watermark), seven 9 MB objects
    are planned, each needing one victim; at 48 Mbit/s one at a time the window, closing 3 s
    in, lets about two through."""
    old = seven_unplanned(env)
    objs = make_catalog(env, titles=1, segs=6, seg_size=9 * MB, init_size=9 * MB)
    rc, out, err = env.fill("plan", "--json", "--verbose")
    eq(len(events(out)[0]["evict"]), 7, f"the whole plan needs every victim ({err})")

    rc, out, err = env.fill("run", "--window", "02:00-14:00", "--tz", "UTC", "--now",
                            "2030-01-01T13:59:57Z", "--rate", "48Mbit", "--parallel", "1",
                            "--progress", "json")
    eq(rc, 4, f"the window closed before the end ({err})")
    ev = events(out)
    done = [e for e in ev if e["event"] == "done"][0]
    check(0 < done["committed"] < len(objs), f"some but not all sent: {done}")
    evicted = [e["key"] for e in ev if e["event"] == "evicted"]
    check(len(evicted) <= done["committed"] + 1,
          f"{len(evicted)} deleted for {done['committed']} committed (one more in flight): "
          f"{evicted}")
    held = env.listing()
    kept = [k for k in old if k not in evicted]
    eq([k for k in kept if k not in held], [], "the victims not needed are still on the edge")


@test
def no_delete_after_the_window(env):
    """The window closes while the edge takes its time over a delete: no further delete is
    started, and the object the room was for is not sent (docs/fill.md, Data flow). One 25 MB
    object needs three of the seven unplanned 9 MB ones; each DELETE is answered 2.5 s late,
    and the window closes 2 s in."""
    old = seven_unplanned(env)
    objs = make_catalog(env, titles=1, segs=1, seg_size=25 * MB)
    big = "/" + objs[1]["path"]
    proxy = AdminProxy(env.edge.admin_port)
    env.admin_url = proxy.url
    for k in old:
        proxy.hold[k] = 2.5
    try:
        rc, out, err = env.fill("run", "--window", "02:00-14:00", "--tz", "UTC", "--now",
                                "2030-01-01T13:59:58Z", "--parallel", "1", "--progress", "json")
    finally:
        proxy.stop()
    eq(rc, 4, f"the window closed before the end ({err})")
    ev = events(out)
    deletes = [t for m, t, _ in proxy.seen if m == "DELETE"]
    eq(len(deletes), 1, f"one delete started before the close: {deletes}")
    eq(proxy.puts.get(big, 0), 0, "the object the room was for is not sent")
    eq([(e["key"], e["reason"]) for e in ev if e["event"] == "failed"], [(big, "window closed")],
       "it is given up as the window closed")
    held = env.listing()
    eq(len([k for k in old if k in held]), 6, "the other victims are still on the edge")


def exact(ev):
    """The stored key an event or diff entry names: key_pct's bytes when it has one."""
    return urllib.parse.unquote_to_bytes(ev["key_pct"]) if "key_pct" in ev else ev["key"].encode()


@test
def evicts_keys_not_utf8_exactly(env):
    """Unplanned keys that are not UTF-8 are evicted by their stored bytes: the edge lists them
    by a reading ("\\u00ff" for the byte 0xff) that for /nu/%FF.m4s is the text of another
    stored key, /nu/%C3%BF.m4s ("/nu/\u00ff.m4s"). A delete by that reading would remove the
    other object (and the two entries would read as one key listed twice); by the exact bytes
    the edge lists in key_pct, just the two cold objects go."""
    env.edge.stop()
    env.edge.cfg["cache"]["max_size"] = "64M"  # 67.1 MB
    env.edge.start()
    cold = {b"/nu/\xfe\xfd.m4s", b"/nu/\xff.m4s"}
    kept = {b"/nu/\xc3\xbf.m4s", b"/old/warm.m4s"}
    data = {}
    for k in sorted(cold | kept):
        data[k] = os.urandom(10 * MB)
        env.edge.put(urllib.parse.quote_from_bytes(k, safe="/"), data[k])
    for k in kept:  # a hit each: the two cold ones are the first victims
        eq(env.edge.get(urllib.parse.quote_from_bytes(k, safe="/")).status, 200, f"GET {k!r}")
    # The edge writes hit counters to its index every 5 s, and at once when it stops.
    env.edge.stop()
    env.edge.start()
    held = env.listing_exact()
    eq({k: held[k]["hits"] for k in kept}, {k: 1 for k in kept}, "hits of the warm keys")
    # 5 x 8 MB planned; free is 27.1 MB: two 10 MB victims make room, a third is not needed.
    objs = make_catalog(env, titles=1, segs=4, seg_size=8 * MB, init_size=8 * MB)

    rc, out, err = env.fill("plan", "--json", "--verbose")
    eq(rc, 0, f"plan ({err})")
    d = events(out)[0]
    eq({exact(e) for e in d["evict"]}, cold, "the plan evicts the two cold keys")
    eq(d["no_room_objects"], 0, "everything fits with eviction")
    for e in d["evict"]:
        eq(e["key"], exact(e).decode("latin-1"), f"the key as the edge reads it: {e}")

    rc, out, err = env.fill("run", "--progress", "json")
    eq(rc, 0, f"run ({err})")
    ev = events(out)
    eq(sorted(exact(e) for e in ev if e["event"] == "evicted"), sorted(cold), "evicted")
    eq([e for e in ev if e["event"] == "evict-failed"], [], "no delete failed")
    held = env.listing_exact()
    eq(cold & set(held), set(), "the cold keys are gone")
    eq(kept - set(held), set(), "the warm keys are kept")
    for k in kept:
        eq(held[k]["sha256"], hashlib.sha256(data[k]).hexdigest(), f"{k!r} is the object put")
    env.check_edge_holds(objs)


if __name__ == "__main__":
    run()
