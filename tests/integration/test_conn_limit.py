# SPDX-License-Identifier: MIT
"""limits.max_connections: with the limit reached, a further client connection is accepted and
closed at once, without a byte, and counted in sluice_edge_connections_refused_total; the
connections already open are still served, and one closing makes room for the next."""

import json
import sys
import time

from edgeharness import build_request, check, eq, expect_body, metric, run, standard_setup, test

LIMIT = 3
# Two workers share one process-wide count; long keep-alive so the held connections stay.
SETUP = standard_setup({"workers": 2, "limits": {"max_connections": LIMIT,
                                                  "idle_timeout": "30s"}})


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


@test
def over_the_limit_is_refused_and_the_others_served(e):
    key = "/t1/one.bin"
    # Start-up's readiness probe may still be counted for a moment.
    wait_open_count(e, 0)
    refused0 = metric(e, "sluice_edge_connections_refused_total")
    held = []
    try:
        # Each connection is counted once its first answer arrives: the edge accepted it.
        for i in range(LIMIT):
            c = e.conn()
            held.append(c)
            keepalive_get(e, c, key, f"connection {i + 1} of {LIMIT}")
        eq(open_count(e), LIMIT, "open connections at the limit")

        extra = e.conn()
        try:
            extra.send(build_request("GET", key))
            closed, _, got = extra.wait_eof(3.0)
            check(not got, f"the connection over the limit got bytes: {got[:200]!r}")
            check(closed, "the connection over the limit was not closed within 3s")
        finally:
            extra.close()
        eq(metric(e, "sluice_edge_connections_refused_total") - refused0, 1,
           "sluice_edge_connections_refused_total increase")
        eq(open_count(e), LIMIT, "open connections after the refusal")

        # The connections inside the limit are untouched and still served.
        for i, c in enumerate(held):
            c.expect_open(what=f"connection {i + 1} after the refusal")
            keepalive_get(e, c, key, f"connection {i + 1} after the refusal")

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
            keepalive_get(e, c, "/t1/one.bin", "a held connection")
        extra = [e.conn() for _ in range(2)]
        for c in extra:
            closed, _, got = c.wait_eof(3.0)
            check(closed and not got, f"a connection over the limit: closed {closed}, got {got!r}")
            c.close()
        eq(metric(e, "sluice_edge_connections_accepted_total") - acc0, LIMIT + 2,
           "connections accepted")
        eq(metric(e, "sluice_edge_connections_refused_total") - ref0, 2, "connections refused")
    finally:
        for c in held:
            c.close()


if __name__ == "__main__":
    sys.exit(run(SETUP))
