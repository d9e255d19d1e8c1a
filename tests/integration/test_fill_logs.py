# SPDX-License-Identifier: MIT
"""Fills that fail for what their upstream did are logged within a budget: while an origin
answers 500 (or cannot be reached), every miss fails one fill, and a line for each would flood
the daemon log. At most 10 lines a second per worker are written,
the rest summed up ("fills failed by their upstream: N more in the last S s not logged"), and
sluice_edge_fills_total still counts every one (docs/edge.md, "Errors").

One worker, so that one budget sees every fill; 4 clients ask for 200 distinct paths the
origin answers 500 for, as fast as they are answered, which is well over 10 a second on any machine this runs on.
"""

import re
import sys
import threading
import time

import edgeharness
from edgeharness import RawConn, build_request, check, eq, run_and_stop, test
from test_miss import Origin, counters, delta, start_edge, FILLS

edgeharness._tests.clear()  # test_miss's own tests run in their own file

CLIENTS = 4
EACH = 50


def answered_500_lines(e):
    with open(e.log_path, "rb") as f:
        text = f.read().decode("utf-8", "replace")
    logged = len(re.findall(r"fill /e500/\S+: upstream \S+ answered 500", text))
    dropped = [int(n) for n in
               re.findall(r"fills failed by their upstream: (\d+) more in the last", text)]
    return logged, dropped


@test
def failing_origin_does_not_flood_the_log(ctx):
    _, e = ctx
    before = counters(e)
    bad = []

    def client(i):
        try:
            with RawConn(e.port, timeout=10) as c:
                for n in range(EACH):
                    c.send(build_request("GET", f"/e500/c{i}/seg-{n}.m4s"))
                    r = c.read_response(timeout=10)
                    if r.status != 502:
                        bad.append((i, n, r.status))
        except Exception as ex:  # noqa: BLE001 - reported below
            bad.append((i, repr(ex)))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(EACH * 10 + 10)
    eq(bad, [], "every failed fill answered 502")
    # The sum of a second's dropped lines is written by the first failure of a later second.
    time.sleep(1.1)  # into the next second of the budget's clock, so that its sum is logged
    eq(e.get("/e500/last/seg-0.m4s").status, 502, "one more failed fill")
    total = CLIENTS * EACH + 1
    eq(delta(before, counters(e), FILLS, 'result="failed"'), float(total),
       "every failed fill counted")
    logged, dropped = answered_500_lines(e)
    check(dropped and sum(dropped) > 0, f"no line summed up dropped ones: {e.log_tail(5)}")
    eq(logged + sum(dropped), total, "every failure logged or summed up")
    print(f"# {total} failed fills: {logged} lines, {sum(dropped)} summed up")


def setup(binary):
    origin = Origin()
    e = start_edge(binary, origin, {"workers": 1})
    return origin, e


if __name__ == "__main__":
    sys.exit(run_and_stop(setup, lambda ctx: [ctx[1]]))
