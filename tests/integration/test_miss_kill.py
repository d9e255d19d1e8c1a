# SPDX-License-Identifier: MIT
"""kill -9 at random points of a fill, many rounds: after each restart the object is either
absent or complete and byte-exact, no temp file survives, and the index names no missing,
short or mismatched file.

The origin dribbles each object (a small body in small pieces, a pause between them), so a
kill lands before the head, during the body, between the last byte and the commit, or after
the commit. Where it lands is chosen per round by how many body bytes the client has seen
when the edge is killed: none (the request was only sent), some, all but the last (the edge
holds the last byte until the commit succeeded), or all of them.

Rounds: 200 by default, SLUICE_KILL_ROUNDS=N to change it (the slow suite runs 1000).
"""

import os
import random
import sys
import threading
import time

from edgeharness import (Closed, Edge, RawConn, build_request, check, eq, run, serve_origin, sha,
                         test)

ROUNDS = int(os.environ.get("SLUICE_KILL_ROUNDS", "200"))
SIZE = 48 * 1024
PIECE = 4096
PAUSE = 0.002  # the origin's pause between pieces (its behaviour, not a wait of the test)
SEED = int(os.environ.get("SLUICE_KILL_SEED", "9"))


class Dribbler:
    def __init__(self):
        self.objects = {}
        self.counts = {}
        self.lock = threading.Lock()
        self.srv = serve_origin(self.handle)  # the edge dies mid-transfer on purpose
        self.url = self.srv.url

    def handle(self, req):
        with self.lock:
            self.counts[req.path] = self.counts.get(req.path, 0) + 1
        data = self.objects.get(req.path)
        if data is None:
            req.send_response(404)
            req.send_header("Content-Length", "0")
            req.end_headers()
            return
        req.send_response(200)
        req.send_header("Content-Length", str(len(data)))
        req.send_header("X-Sluice-SHA256", sha(data))
        req.end_headers()
        try:
            for i in range(0, len(data), PIECE):
                req.wfile.write(data[i:i + PIECE])
                req.wfile.flush()
                time.sleep(PAUSE)
        except OSError:
            req.close_connection = True


def listed_keys(e):
    import json
    r = e.admin("GET", "/admin/objects?prefix=/kill/", timeout=10)
    eq(r.status, 200, "listing")
    doc = json.loads(r.body)
    items = doc["objects"] if isinstance(doc, dict) else doc
    return {it["key"]: it for it in items}


def check_store(e, objects, what):
    """Every indexed object is whole and right: listed size and SHA-256 and the served bytes."""
    tmp = os.path.join(e.cache_dir, "tmp")
    check(not os.path.isdir(tmp) or not os.listdir(tmp), f"{what}: temp files left at start")
    held = listed_keys(e)
    for key, it in held.items():
        data = objects[key]
        eq(int(it["size"]), len(data), f"{what}: {key} indexed size")
        eq(it["sha256"], sha(data), f"{what}: {key} indexed SHA-256")
    return held


@test
def kill9_random_points(origin):
    rng = random.Random(SEED)
    e = Edge(sys.argv[1], {"upstreams": [{"url": origin.url, "first_byte_timeout": "2s",
                                          "low_speed_time": "2s"}],
                           "workers": 1, "log": {"level": "warn", "access_log": ""}})
    objects = {}
    where = {"sent": 0, "body": 0, "last-held": 0, "complete": 0}
    committed = 0
    starts = []
    try:
        t = time.monotonic()
        e.start()
        starts.append(time.monotonic() - t)
        for rnd in range(ROUNDS):
            key = f"/kill/r{rnd}/seg-1.m4s"
            data = origin.objects[key] = objects[key] = rng.randbytes(SIZE)
            point = rng.choice(["sent", "body", "body", "last-held", "complete"])
            where[point] += 1
            with RawConn(e.port, timeout=10) as c:
                c.send(build_request("GET", key, [("Connection", "close")]))
                deadline = time.monotonic() + 10
                if point != "sent":
                    head = c._read_until(b"\r\n\r\n", deadline)
                    check(head.startswith(b"HTTP/1.1 200"), f"round {rnd}: head {head[:40]!r}")
                    n = {"body": rng.randrange(1, SIZE - 1), "last-held": SIZE - 1,
                         "complete": SIZE}[point]
                    got = c._read_n(n, deadline)
                    check(got == data[:n], f"round {rnd}: served bytes differ before the kill")
                e.kill9()
            t = time.monotonic()
            e.start()
            starts.append(time.monotonic() - t)
            held = check_store(e, objects, f"round {rnd} ({point})")
            if key in held:
                committed += 1
                r = e.get(key, timeout=10)
                eq(r.status, 200, f"round {rnd}: status of the kept object")
                check(r.body == data, f"round {rnd}: kept object served wrong")
                check(r.need("Cache-Status").endswith("; hit"), f"round {rnd}: served as a hit")
            check(point != "complete" or key in held,
                  f"round {rnd}: a body the client received whole was not committed")
        # After all of it: everything held is served exactly; a refill of what was lost works.
        held = check_store(e, objects, "end")
        for key in held:
            r = e.get(key, timeout=10)
            check(r.status == 200 and r.body == objects[key], f"end: {key} served wrong")
        lost = [k for k in objects if k not in held][:5]
        for key in lost:
            r = e.get(key, timeout=10)
            check(r.status == 200 and r.body == objects[key], f"end: refill of {key} wrong")
        e.stop()
        check(not e.sanitizer_reports(), f"sanitizer reports: {e.sanitizer_reports()[:3]}")
    finally:
        e.cleanup()
    starts.sort()
    print(f"# {ROUNDS} rounds, kill points {where}, committed {committed}; start-up to ready "
          f"p50 {1000 * starts[len(starts) // 2]:.0f} ms, max {1000 * starts[-1]:.0f} ms")


if __name__ == "__main__":
    sys.exit(run(lambda binary: Dribbler()))
