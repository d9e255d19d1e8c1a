# SPDX-License-Identifier: MIT
"""HTTP/2 misses and the fills they start, on the h2c listener, against an origin whose heads
come late (/latehead/: after HEAD_DELAY s).

  reset_after_read_starts_few_fills  many cold streams, read by the edge (a PING answered
                                     after them), then all reset: the origin is asked for no
                                     more objects than one connection may have waiting for
                                     their heads (LED_MAX), then or after those heads come
  parallel_misses_all_answered       more cold streams on one connection than that: each is
                                     answered whole, the ones past the bound held until a head
                                     came (counted by sluice_edge_h2_misses_held_total)
  stalled_stream_not_spared_by_a_waiting_sibling  a stream with bytes ready and no window
                                     ends the connection at its send deadline, though another
                                     stream waits for a late head

    python3 test_h2_fills.py path/to/sluice-edge
"""

import os
import sys
import time

from edgeharness import Edge, check, eq, metric, run, sha, test
from h2frames import frame, get_block
from h2peer import ACK, CANCEL, DATA, END_STREAM, GOAWAY, HEADERS, PING, RST_STREAM, Peer, setting, \
    u32
from origin import Origin

LED_MAX = 8  # edge/h2-serve.c H2_LED_MAX: fills one connection may have before their head
HEAD_DELAY = 1.0  # s the origin takes before a /latehead/ head


def origin_asked(o, prefix):
    with o.lock:
        return sum(n for path, n in o.counts.items() if path.startswith(prefix))


@test
def reset_after_read_starts_few_fills(e):
    # Rapid reset aimed at the origin: the edge has read every request (its PING ACK came
    # after them), so the reset cannot be taken as part of the same input. Before the bound
    # each stream started its fill, which goes on without its stream: 50 origin fetches.
    o = e.origin
    n = 50
    prefix = "/latehead/rr/"
    for i in range(n):
        o.objects[f"{prefix}{i}.m4s"] = bytes([i]) * 1000
    held0 = metric(e, "sluice_edge_h2_misses_held_total")
    p = Peer(e)
    try:
        p.send(frame(4, ACK, 0) + b"".join(frame(HEADERS, 0x5, 2 * i + 1,
                                                 get_block(f"{prefix}{i}.m4s"))
                                           for i in range(n)) + frame(PING, 0, 0, b"readthem"))
        check(p.read_until(lambda q: q.acked(b"readthem")), "no PING ACK after the requests")
        p.send(b"".join(frame(RST_STREAM, 0, 2 * i + 1, u32(CANCEL)) for i in range(n)))
        p.settle()
        time.sleep(HEAD_DELAY * 2.5)  # the heads come; nothing reset may start then
        asked = origin_asked(o, prefix)
        check(asked <= LED_MAX, f"{asked} origin fetches for {n} streams reset once read")
        check(asked >= 1, "no fill started at all")
        eq(metric(e, "sluice_edge_h2_misses_held_total") - held0, float(n - asked),
           "misses held")
        check(not p.of(GOAWAY), f"GOAWAY for {n} resets: {p.summary()[-200:]}")
        # Each line says 499; those whose stream started a fill say cache=miss.
        lines = e.access_lines(prefix, n)
        eq(sum(" 499 " in ln for ln in lines), n, "499 lines")
        eq(sum("cache=miss" in ln for ln in lines), asked, "499 lines saying cache=miss")
        # The connection stays open; the fills it counted, once done (their commits may still
        # be running on a loaded machine), hold no file of theirs.
        deadline = time.monotonic() + 10
        while object_fds(e) and time.monotonic() < deadline:
            time.sleep(0.05)
        eq(object_fds(e), [], "object and temp files the edge holds open")
    finally:
        p.close()


def object_fds(e):
    """The edge's open descriptors on object or temp files of its cache (the index's and the
    policy's own are left out), as the paths they name."""
    out = []
    for fd in os.listdir(f"/proc/{e.proc.pid}/fd"):
        try:
            path = os.readlink(f"/proc/{e.proc.pid}/fd/{fd}")
        except OSError:
            continue
        rel = path[len(e.cache_dir):] if path.startswith(e.cache_dir + "/") else ""
        if rel.startswith(("/objects/", "/tmp/")):
            out.append(path)
    return out


@test
def parallel_misses_all_answered(e):
    o = e.origin
    n = 2 * LED_MAX + 4
    prefix = "/latehead/par/"
    for i in range(n):
        o.objects[f"{prefix}{i}.m4s"] = bytes([i + 1]) * (3000 + i)
    held0 = metric(e, "sluice_edge_h2_misses_held_total")
    p = Peer(e)
    started = time.monotonic()
    try:
        p.send(frame(4, ACK, 0) + b"".join(frame(HEADERS, 0x5, 2 * i + 1,
                                                 get_block(f"{prefix}{i}.m4s"))
                                           for i in range(n)))
        check(p.read_until(lambda q: all(q.ended(2 * i + 1) for i in range(n)),
                           timeout=HEAD_DELAY * 4 + 10),
              f"not every stream ended: {p.summary()[-300:]}")
        took = time.monotonic() - started
        for i in range(n):
            sid = 2 * i + 1
            eq(p.status(sid), 200, f"stream {sid} status")
            body = b"".join(f[3] for f in p.of(DATA, sid))
            eq(sha(body), sha(o.objects[f"{prefix}{i}.m4s"]), f"stream {sid} body")
            check(any(f[1] & END_STREAM for f in p.of(DATA, sid)), f"stream {sid} not ended")
        eq(origin_asked(o, prefix), n, "origin fetches")
        eq(metric(e, "sluice_edge_h2_misses_held_total") - held0, float(n - LED_MAX),
           "misses held")
        # Three rounds of heads: the bound holds the rest, it does not drop them.
        check(took >= 2.5 * HEAD_DELAY, f"all answered in {took:.2f}s: nothing was held")
    finally:
        p.close()


@test
def stalled_stream_not_spared_by_a_waiting_sibling(e):
    # The send deadline spares a connection whose streams wait on a fill, not one whose client
    # stalls a stream that has bytes ready: stream 1 (a stored object) never gets any window
    # (SETTINGS_INITIAL_WINDOW_SIZE 0), stream 3 waits for a late upstream head. Before, the
    # connection stayed until that head came, and for as long as its fill ran after it.
    o = e.origin
    s = Edge(e.binary, {"tokens": {"required": False}, "upstreams": [{"url": o.url}],
                        "limits": {"send_timeout": "1s", "idle_timeout": "30s"}})
    was = o.head_delay
    o.head_delay = 8.0
    try:
        s.start()
        s.put("/t/stalled.m4s", os.urandom(256 * 1024))
        o.objects["/latehead/stall/seg.m4s"] = b"y" * 1000
        sends0 = metric(s, "sluice_edge_timeouts_total", 'kind="send"')
        p = Peer(s, settings=setting(4, 0))  # SETTINGS_INITIAL_WINDOW_SIZE
        started = time.monotonic()
        p.send(frame(4, ACK, 0) + frame(HEADERS, 0x5, 1, get_block("/t/stalled.m4s")) +
               frame(HEADERS, 0x5, 3, get_block("/latehead/stall/seg.m4s")))
        p.read_until(lambda q: q.eof, timeout=12)  # reading all the while
        took = time.monotonic() - started
        check(p.eof, f"still open after {took:.1f}s: {p.summary()[-200:]}")
        check(took < 5, f"closed after {took:.1f}s (send_timeout 1s, the head at 8s)")
        eq(p.status(1), 200, "stream 1's answer began")
        check(not p.of(DATA, 1), "stream 1 got DATA without window")
        eq(metric(s, "sluice_edge_timeouts_total", 'kind="send"') - sends0, 1.0, "send timeouts")
    finally:
        o.head_delay = was
        if s.running():
            s.stop()
        s.cleanup()


def setup(binary):
    o = Origin()
    o.head_delay = HEAD_DELAY
    e = Edge(binary, {"tokens": {"required": False}, "upstreams": [{"url": o.url}],
                      "limits": {"idle_timeout": "30s", "send_timeout": "10s"}})
    e.origin = o
    return e.start()


if __name__ == "__main__":
    sys.exit(run(setup))
