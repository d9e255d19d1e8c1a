# SPDX-License-Identifier: MIT
"""limits.max_connections: with the limit reached, a further client connection takes the place
of the accepting worker's connection idle longest (kept alive between requests, or silent since
accept), which is closed and counted in sluice_edge_connections_idle_closed_total; with none
idle it is accepted and closed at once, without a byte, and counted in
sluice_edge_connections_refused_total. The connections already open are still served, and one
closing makes room for the next."""

import json
import sys
import time

from edgeharness import (Edge, build_request, check, eq, expect_body, metric, run,
                         standard_setup, start_pushed, test)
from h2peer import Peer, hdrs, req

LIMIT = 3
# Two workers share one process-wide count; long deadlines so the held connections stay.
LIMITS = {"max_connections": LIMIT, "idle_timeout": "30s", "header_timeout": "30s"}
SETUP = standard_setup({"workers": 2, "limits": LIMITS})
KEY = "/t1/one.bin"
# The part of a request a held connection sends: it is inside a request, not idle.
HELD = 20


def open_count(e):
    """Client connections the edge counts against the limit (the admin port's do not count)."""
    r = e.admin("GET", "/healthz")
    eq(r.status, 200, "/healthz status")
    return json.loads(r.body)["connections"]


def wait_open_count(e, want, timeout=5.0):
    """The edge counts a close when its loop handles it: wait for the count to settle."""
    deadline = time.monotonic() + timeout
    while True:
        n = open_count(e)
        if n == want:
            return
        check(time.monotonic() < deadline, f"open connections {n}, want {want} within {timeout}s")
        time.sleep(0.05)  # poll interval, bounded by the deadline


def keepalive_get(e, c, key, what):
    c.send(build_request("GET", key))
    expect_body(c.read_response(), e.objects[key], what)


def hold(e, c, what):
    """A request, then the first bytes of the next: c is kept and busy, never idle."""
    keepalive_get(e, c, KEY, what)
    c.send(build_request("GET", KEY)[:HELD])


def finish(e, c, what):
    c.send(build_request("GET", KEY)[HELD:])
    expect_body(c.read_response(), e.objects[KEY], what)


def expect_refused(c, what):
    closed, _, got = c.wait_eof(3.0)
    check(not got, f"{what} got bytes: {got[:200]!r}")
    check(closed, f"{what} was not closed within 3s")


@test
def over_the_limit_is_refused_and_the_others_served(e):
    key = KEY
    # Start-up's readiness probe may still be counted for a moment.
    wait_open_count(e, 0)
    refused0 = metric(e, "sluice_edge_connections_refused_total")
    held = []
    try:
        # Each connection is counted once its first answer arrives: the edge accepted it.
        for i in range(LIMIT):
            c = e.conn()
            held.append(c)
            hold(e, c, f"connection {i + 1} of {LIMIT}")
        eq(open_count(e), LIMIT, "open connections at the limit")

        extra = e.conn()
        try:
            extra.send(build_request("GET", key))
            expect_refused(extra, "the connection over the limit")
        finally:
            extra.close()
        eq(metric(e, "sluice_edge_connections_refused_total") - refused0, 1,
           "sluice_edge_connections_refused_total increase")
        eq(open_count(e), LIMIT, "open connections after the refusal")

        # The connections inside the limit are untouched and still served.
        for i, c in enumerate(held):
            c.expect_open(what=f"connection {i + 1} after the refusal")
            finish(e, c, f"connection {i + 1} after the refusal")

        # One leaving makes room: the next newcomer is served, not refused.
        held.pop().close()
        wait_open_count(e, LIMIT - 1)
        c = e.conn()
        held.append(c)
        keepalive_get(e, c, key, "a newcomer once one left")
        eq(metric(e, "sluice_edge_connections_refused_total") - refused0, 1,
           "refusals after room was made")
    finally:
        for c in held:
            c.close()


@test
def accepted_counts_the_refused_too(e):
    # Every accept is counted, refused or not: accepted - refused is what was let in.
    wait_open_count(e, 0)
    acc0 = metric(e, "sluice_edge_connections_accepted_total")
    ref0 = metric(e, "sluice_edge_connections_refused_total")
    held = [e.conn() for _ in range(LIMIT)]
    try:
        for c in held:
            hold(e, c, "a held connection")
        extra = [e.conn() for _ in range(2)]
        for c in extra:
            expect_refused(c, "a connection over the limit")
            c.close()
        eq(metric(e, "sluice_edge_connections_accepted_total") - acc0, LIMIT + 2,
           "connections accepted")
        eq(metric(e, "sluice_edge_connections_refused_total") - ref0, 2, "connections refused")
    finally:
        for c in held:
            c.close()


@test
def an_idle_connection_makes_room(e):
    # One worker: the room is made among the accepting worker's own connections.
    one = start_pushed(Edge(e.binary, {"workers": 1, "limits": LIMITS,
                                       "http2": {"cleartext": True}}), {KEY: e.objects[KEY]})
    conns = []

    def served(what):
        c = one.conn()
        conns.append(c)
        keepalive_get(one, c, KEY, what)
        return c

    try:
        wait_open_count(one, 0)
        idle0 = metric(one, "sluice_edge_connections_idle_closed_total")
        refused0 = metric(one, "sluice_edge_connections_refused_total")
        # Three kept alive, the first idle longest.
        a, b, c = (served(f"kept-alive connection {i + 1}") for i in range(LIMIT))
        eq(open_count(one), LIMIT, "open connections at the limit")

        # A fourth is answered; the first is closed for it, the others are kept.
        d = served("a new connection at the limit with three idle")
        a.expect_eof(what="the connection idle longest")
        b.expect_open(what="kept-alive connection 2")
        c.expect_open(what="kept-alive connection 3")
        eq(metric(one, "sluice_edge_connections_idle_closed_total") - idle0, 1,
           "sluice_edge_connections_idle_closed_total increase")
        eq(open_count(one), LIMIT, "open connections after the idle one made room")

        # One accepted and silent since is idle too: it goes for the next newcomer, while
        # connections inside a request stay.
        b.send(build_request("GET", KEY)[:HELD])
        c.send(build_request("GET", KEY)[:HELD])
        d.close()
        wait_open_count(one, LIMIT - 1)
        silent = one.conn()
        conns.append(silent)
        wait_open_count(one, LIMIT)
        f = served("a new connection at the limit with one silent")
        silent.expect_eof(what="the connection silent since accept")
        finish(one, b, "connection 2 after the silent one closed")

        # An HTTP/2 connection with no stream open is idle too.
        b.close()
        c.close()
        wait_open_count(one, 1)
        f.send(build_request("GET", KEY)[:HELD])
        p = Peer(one)
        conns.append(p)
        p.send(hdrs(1, req()))
        check(p.read_until(lambda q: q.ended(1)), f"h2 stream 1 not answered: {p.summary()}")
        p.settle()
        eq(p.status(1), 200, "h2 stream 1 status")
        g = served("a kept-alive connection idle after the h2 one")
        h = served("a new connection at the limit with an h2 one idle")
        check(p.read_until(lambda q: q.eof), f"the idle h2 connection stayed open: {p.summary()}")
        g.expect_open(what="the kept-alive connection idle since the h2 one")
        eq(metric(one, "sluice_edge_connections_idle_closed_total") - idle0, 3,
           "idle closures before the refusal")

        # Each inside a request: the next is refused, and the held ones are answered.
        g.send(build_request("GET", KEY)[:HELD])
        h.send(build_request("GET", KEY)[:HELD])
        extra = one.conn()
        conns.append(extra)
        extra.send(build_request("GET", KEY))
        expect_refused(extra, "a new connection with none idle")
        for x, what in ((f, "the connection held by the h2 step"), (g, "a held connection"),
                        (h, "the last held connection")):
            finish(one, x, what + " after the refusal")
        eq(metric(one, "sluice_edge_connections_refused_total") - refused0, 1, "refusals")
        eq(metric(one, "sluice_edge_connections_idle_closed_total") - idle0, 3,
           "idle closures in all")
    finally:
        for x in conns:
            x.close()
        try:
            one.stop()
            eq(one.sanitizer_reports(), [], "sanitizer reports of the one-worker edge")
        finally:
            one.cleanup()


if __name__ == "__main__":
    sys.exit(run(SETUP))
