# SPDX-License-Identifier: MIT
"""The store / fill-table race: a request whose store lookup misses just before a fill of the
same key commits must join that fill or read the committed object, never start a second
upstream fetch.

Each round releases a held fill while 12 keep-alive clients (on both workers) ask for the key
back to back, so requests keep landing between the commit and the fill leaving the table.
Every round must cost the origin exactly one fetch and give every client the same bytes.
The window is microseconds wide, so a round catches a regression only sometimes; 60 rounds of
12 x 6 requests make a miss of it unlikely without making the test slow.
"""

import sys
import threading
import time

import edgeharness
from edgeharness import RawConn, build_request, check, eq, run_and_stop, sha, test
from test_miss import RNG, Origin, counters, delta, start_edge, FILLS

edgeharness._tests.clear()  # test_miss's own tests run in their own file

ROUNDS = 60
CLIENTS = 12
REPEAT = 6


@test
def commit_race_one_fetch(ctx):
    origin, e = ctx
    before = counters(e)
    conns = [RawConn(e.port, timeout=10) for _ in range(CLIENTS)]
    bad = []
    try:
        for rnd in range(ROUNDS):
            key = f"/gate/race/r{rnd}/seg-{rnd}.m4s"
            data = origin.add(key, RNG.randbytes(24 * 1024 + rnd))
            origin.first[key] = 1024
            gate = origin.gate(key)
            start = threading.Barrier(CLIENTS + 1)

            def client(i):
                c = conns[i]
                try:
                    start.wait(10)
                    for _ in range(REPEAT):
                        c.send(build_request("GET", key))
                        r = c.read_response(timeout=10)
                        if r.status != 200 or sha(r.body) != sha(data):
                            bad.append((rnd, i, r.status, len(r.body)))
                except Exception as ex:  # noqa: BLE001 - reported below
                    bad.append((rnd, i, repr(ex)))

            threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
            for t in threads:
                t.start()
            # The first requests reach the held fill; the rest arrive while it commits.
            start.wait(10)
            gate.set()
            # Each client may take REPEAT reads of up to 10 s: wait for all of them, so that no
            # thread of this round is still reading its connection when the next round starts.
            for t in threads:
                t.join(REPEAT * 10 + 10)
            check(not any(t.is_alive() for t in threads), f"round {rnd}: a client never ended")
            eq(bad, [], f"round {rnd}: every client got the whole object")
            eq(origin.count(key), 1, f"round {rnd}: origin fetches")
    finally:
        for c in conns:
            c.close()
    after = counters(e)
    eq(delta(before, after, FILLS, 'result="committed"'), float(ROUNDS), "one commit per round")
    eq(delta(before, after, FILLS, 'result="failed"'), 0.0, "no failed fill")
    hits = delta(before, after, "sluice_edge_cache_hits_total")
    misses = delta(before, after, "sluice_edge_cache_misses_total")
    eq(hits + misses, float(ROUNDS * CLIENTS * REPEAT), "every request a hit or a miss")
    print(f"# {ROUNDS} rounds: {hits:.0f} hits, {misses:.0f} misses, "
          f"{delta(before, after, 'sluice_edge_collapsed_requests_total'):.0f} collapsed")


def setup(binary):
    origin = Origin()
    e = start_edge(binary, origin, {"limits": {"idle_timeout": "30s"}})
    return origin, e


if __name__ == "__main__":
    sys.exit(run_and_stop(setup, lambda ctx: [ctx[1]]))
