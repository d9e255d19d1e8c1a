# SPDX-License-Identifier: MIT
"""CMSD-Dynamic (CTA-5006) on media answers: the edge's name, a throughput estimate (etp,
kbit/s) and round trip (rtt, ms) from the connection, and du only while the edge is at 90 % of
limits.max_connections; exposed to players on other origins; absent from admin answers."""

import re
import sys

from edgeharness import check, eq, run, standard_setup, test

LIMIT = 10
SETUP = standard_setup({"limits": {"max_connections": LIMIT},
                        "control": {"edge_id": "edge-cmsd-1"}})
ENTRY = re.compile(r'^"edge-cmsd-1";etp=(\d+);rtt=(\d+)(;du)?$')


def entry(r):
    v = r.need("CMSD-Dynamic")
    m = ENTRY.match(v)
    check(m, f"CMSD-Dynamic {v!r} is not one entry for this edge")
    return int(m.group(1)), int(m.group(2)), bool(m.group(3))


@test
def estimates_on_hits_and_ranges(e):
    for hdrs in ((), (("Range", "bytes=0-99"),)):
        r = e.get("/t1/seg-1.m4s", headers=hdrs)
        check(r.status in (200, 206), f"status {r.status}")
        etp, rtt, du = entry(r)
        check(etp > 0, f"no throughput estimate: etp={etp}")
        check(rtt < 1000, f"loopback round trip of {rtt} ms")
        check(not du, "duress with one connection open")
    r = e.get("/t1/seg-1.m4s", headers=(("Origin", "https://player.example"),))
    check("CMSD-Dynamic" in r.need("Access-Control-Expose-Headers"), "exposed to players")
    eq(e.get("/healthz", admin=True).get("CMSD-Dynamic"), None, "not on admin answers")


@test
def duress_near_the_connection_limit(e):
    held = []
    try:
        # The held connections plus the request's own: 8, then 9 of 10 (the 90 % mark).
        for _ in range(LIMIT - 3):
            held.append(e.conn())
            held[-1].send(b"")
        e.wait_connections(len(held))
        r = e.get("/t1/seg-1.m4s")
        check(entry(r)[2] is False, f"du at 8 of {LIMIT}: {r.need('CMSD-Dynamic')}")
        # That request's connection gone first: otherwise its close still to come could make
        # up the count below while the next held one is not yet accepted.
        e.wait_connections(len(held))
        held.append(e.conn())
        held[-1].send(b"")
        e.wait_connections(len(held))
        r = e.get("/t1/seg-1.m4s")
        check(entry(r)[2], f"no du at 9 of {LIMIT}: {r.need('CMSD-Dynamic')}")
    finally:
        for c in held:
            c.close()


@test
def a_digit_led_name_is_quoted(e):
    """An edge id may start with a digit; a token cannot (RFC 8941 §3.3.4), so Cache-Status
    names such a cache as a string, as CMSD does. An id that is not a control id is refused
    with or without control.url: it names the cache in both fields."""
    try:
        e.cfg["control"]["edge_id"] = "42-ams"
        e.write_config()
        e.reload()
        r = e.get("/t1/seg-1.m4s")
        eq(r.need("Cache-Status"), '"42-ams"; hit', "Cache-Status of a digit-led name")
        check(r.need("CMSD-Dynamic").startswith('"42-ams";'), r.need("CMSD-Dynamic"))
        e.cfg["control"]["edge_id"] = 'edge "one"'
        e.write_config()
        log = e.reload(done="keeping the running configuration")
        check("is not a control id" in log, "the refusal says why")
        eq(e.get("/t1/seg-1.m4s").need("Cache-Status"), '"42-ams"; hit', "the id in force")
    finally:
        e.cfg["control"]["edge_id"] = "edge-cmsd-1"
        e.write_config()
        e.reload()
    eq(e.get("/t1/seg-1.m4s").need("Cache-Status"), "edge-cmsd-1; hit", "a token as it is")


@test
def the_longest_edge_id(e):
    """control.edge_id takes up to 128 characters: the entry carries such a name whole, on
    every media answer, like any other."""
    name = "edge-" + "a" * 123
    try:
        e.cfg["control"]["edge_id"] = name
        e.write_config()
        e.reload()
        r = e.get("/t1/seg-1.m4s")
        eq(r.need("Cache-Status"), f"{name}; hit", "the id in force")
        v = r.need("CMSD-Dynamic")
        check(re.match(r'^"' + name + r'";etp=\d+;rtt=\d+$', v), f"CMSD-Dynamic {v!r}")
    finally:
        e.cfg["control"]["edge_id"] = "edge-cmsd-1"
        e.write_config()
        e.reload()


if __name__ == "__main__":
    sys.exit(run(SETUP))
