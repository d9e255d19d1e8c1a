# SPDX-License-Identifier: MIT
"""HTTP/2 floods on the h2c listener, each on several connections at once with the edge's memory
sampled (RFC 9113 §10.5, RFC 7541 §7.3: rapid reset, CONTINUATION, SETTINGS, PING, PRIORITY,
empty DATA (on an open stream, and ending one the edge reset) and WINDOW_UPDATE floods, HPACK
bombs), a zero-window stall ended by the send
deadline, a window returned a frame at a time, and unfinished header blocks holding little,
indexed fields included."""

import hashlib
import random
import socket
import sys
import threading
import time

from edgeharness import HOST, Edge, Fail, check, eq, metric, run, sha, start_pushed, test
from h2frames import PREFACE, frame, get_block, split_frames
from h2peer import (ACK, CANCEL, CONTINUATION, DATA, END_HEADERS, END_STREAM, ENHANCE_YOUR_CALM,
                    GET, GOAWAY, HEADER_LIST, HEADERS, OPEN, PING, PRIORITY, REFUSED_STREAM, Peer,
                    RST_STREAM, SETTINGS, TYPE_NAMES, WINDOW_UPDATE, curl, fields, goaway_code,
                    hdrs, hstr, req, setting, u32)

FLOOD_CONNS = 32
FLOOD_RSS_KIB = 8 * 1024  # bound on VmRSS growth, from before a flood to its peak


def sanitized(e):
    """Whether e runs an AddressSanitizer build (its runtime, linked in or loaded, names
    itself)."""
    with open(f"/proc/{e.proc.pid}/exe", "rb") as f:
        if b"AddressSanitizer" in f.read():
            return True
    with open(f"/proc/{e.proc.pid}/maps") as f:
        return "libasan" in f.read()


def settled_peers(e, n):
    """n h2c connections whose SETTINGS were acknowledged both ways, so that what a case
    measures next is what its own frames cost."""
    peers = [Peer(e) for _ in range(n)]
    for p in peers:
        p.send(frame(SETTINGS, ACK, 0))
        p.settle()
    return peers


def rss_settled(e, mem):
    """The edge's VmRSS (KiB) once it stood still for a quarter of a second (it goes on
    rising for a while after the frames were answered), or mem's peak if higher."""
    held, still, deadline = rss_kib(e), 0, time.monotonic() + 3
    while still < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
        now = rss_kib(e)
        still = still + 1 if now == held else 0
        held = max(held, now)
    return max(held, mem.peak)


def rss_kib(e):
    with open(f"/proc/{e.proc.pid}/status") as f:
        for ln in f:
            if ln.startswith("VmRSS:"):
                return int(ln.split()[1])
    raise Fail("no VmRSS in /proc/<edge>/status")


class RssPeak:
    """The edge's VmRSS (KiB) before the block, at its peak inside (sampled on a thread), and
    after."""

    def __init__(self, e):
        self.e, self.stop = e, threading.Event()

    def sample(self):
        while not self.stop.wait(0.005):  # sampling interval
            try:
                self.peak = max(self.peak, rss_kib(self.e))
            except (OSError, Fail):
                return

    def __enter__(self):
        self.before = self.peak = rss_kib(self.e)
        self.t = threading.Thread(target=self.sample, daemon=True)
        self.t.start()
        return self

    def __exit__(self, *a):
        self.stop.set()
        self.t.join()
        self.after = rss_kib(self.e)
        self.peak = max(self.peak, self.after)

    def check(self, what):
        grew = self.peak - self.before
        print(f"  {what}: VmRSS {self.before} KiB before, peak {self.peak}, after {self.after}")
        if sanitized(self.e):
            # ASan keeps freed memory in its quarantine (up to 256 MiB) and maps shadow for
            # it: RSS there measures the sanitizer. The other builds assert the bound.
            print(f"  {what}: RSS bound not asserted in a sanitizer build")
            return
        check(grew <= FLOOD_RSS_KIB, f"{what}: VmRSS grew {grew} KiB (bound {FLOOD_RSS_KIB})")


def bomb(sid):
    """A request whose fields decode to 400 KB (100 references to one 4 KB dynamic table entry,
    added on stream 1) against max_header_list's 16K."""
    block = GET + (b"\x40" + hstr("x") + hstr("y" * 4000) if sid == 1 else b"")
    return hdrs(sid, block + b"\xbe" * 100)


# (name, bytes, GOAWAY codes accepted, whether a close without GOAWAY is accepted)
FLOODS = [
    ("rapid reset", b"".join(hdrs(sid, get_block("/t1/seg-2.m4s"))
                             + frame(RST_STREAM, 0, sid, u32(CANCEL))
                             for sid in range(1, 2000, 2)),
     (ENHANCE_YOUR_CALM,), False),
    # Our budget answers with GOAWAY, or nghttp2's bound on queued ACKs for a peer that does
    # not read drops the connection.
    ("SETTINGS flood", frame(SETTINGS, 0, 0) * 5000, (ENHANCE_YOUR_CALM,), True),
    ("PING flood", frame(PING, 0, 0, bytes(8)) * 5000, (ENHANCE_YOUR_CALM,), True),
    ("PRIORITY flood", frame(PRIORITY, 0, 3, u32(0) + b"\x10") * 5000, (ENHANCE_YOUR_CALM,),
     False),
    ("empty DATA flood", OPEN + frame(DATA, 0, 1) * 5000, (ENHANCE_YOUR_CALM,), False),
    # Empty DATA that ends stream 1, which nghttp2 reset and forgot (an upper-case field name
    # is malformed, RFC 9113 §8.2.1): it drops such frames unseen, so the edge counts them
    # from their headers.
    ("empty DATA flood ending a reset stream",
     hdrs(1, req(("X-Upper", "1")), END_HEADERS) + frame(DATA, END_STREAM, 1) * 5000,
     (ENHANCE_YOUR_CALM,), False),
    # A budget runs out mid-read and a malformed frame follows in the same read: nghttp2 must
    # not go on parsing a session the edge already ended (it used to abort the whole process).
    # The frame after the budget's last (http2.max_control_per_s, 1000) is the malformed one.
    ("empty DATA flood, then a 6-byte PING", OPEN + frame(DATA, 0, 1) * 1001
     + frame(PING, 0, 0, bytes(6)), (ENHANCE_YOUR_CALM,), False),
    ("rapid reset, then a 6-byte PING", b"".join(hdrs(sid, get_block("/t1/seg-2.m4s"))
                                                 + frame(RST_STREAM, 0, sid, u32(CANCEL))
                                                 for sid in range(1, 2000, 2))
     + frame(PING, 0, 0, bytes(6)), (ENHANCE_YOUR_CALM,), False),
    # 50 CONTINUATION frames against a bound of 8: the session ends at the ninth.
    ("CONTINUATION flood", hdrs(1, b"\x82", END_STREAM) + frame(CONTINUATION, 0, 1, b"\x86") * 50,
     (ENHANCE_YOUR_CALM,), False),
    ("HPACK bomb", b"".join(bomb(sid) for sid in range(1, 9, 2)), (ENHANCE_YOUR_CALM,), False),
    # WINDOW_UPDATEs no DATA paid for, 1 byte each: on the connection, on an open stream, and
    # on stream 1 after its answer (nghttp2 drops those unseen; the edge counts them from the
    # frame header).
    ("WINDOW_UPDATE flood", frame(WINDOW_UPDATE, 0, 0, u32(1)) * 5000, (ENHANCE_YOUR_CALM,),
     False),
    ("WINDOW_UPDATE flood on an open stream", OPEN + frame(WINDOW_UPDATE, 0, 1, u32(1)) * 5000,
     (ENHANCE_YOUR_CALM,), False),
    ("WINDOW_UPDATE flood on a closed stream",
     hdrs(1, req(path="/t1/one.bin")) + frame(WINDOW_UPDATE, 0, 1, u32(1)) * 5000,
     (ENHANCE_YOUR_CALM,), False),
    # Frame types nghttp2 does not know are ignored (RFC 9113 §5.5), and counted.
    ("unknown frame flood", frame(0x20, 0, 0, b"x") * 5000, (ENHANCE_YOUR_CALM,), False),
    ("unknown frame flood on a stream", OPEN + frame(0xFF, 0xFF, 1) * 5000, (ENHANCE_YOUR_CALM,),
     False),
    ("PING ACK flood", frame(PING, ACK, 0, bytes(8)) * 5000, (ENHANCE_YOUR_CALM,), False),
]


def calm_goaways(e):
    return metric(e, "sluice_edge_h2_goaways_total", '{code="ENHANCE_YOUR_CALM"}')


@test
def floods_end_connection_in_bounded_memory(e):
    for name, data, codes, bare_close in FLOODS:
        calm0 = calm_goaways(e)
        with RssPeak(e) as mem:
            peers = [Peer(e) for _ in range(FLOOD_CONNS)]
            for p in peers:
                p.send(data)
            for p in peers:
                p.read_until(lambda q: q.eof, timeout=10)
                p.close()
        for p in peers:
            seen = f"{name}: frames {p.summary()}"
            check(p.eof, f"connection not ended; {seen}")
            goaways = p.of(GOAWAY)
            check(goaways or bare_close, f"closed without GOAWAY; {seen}")
            if goaways:
                check(goaway_code(goaways[0]) in codes, f"GOAWAY code; {seen}")
            acks = sum(1 for f in p.frames if f[0] in (SETTINGS, PING) and f[1] & ACK)
            check(acks <= 1001, f"{acks} ACKs answered; {seen}")
            if name in ("CONTINUATION flood", "HPACK bomb"):
                check(not p.of(HEADERS), f"a response to a flood's request; {seen}")
        if codes == (ENHANCE_YOUR_CALM,) and not bare_close:
            # Every flood close is in the metric (counted when the connection is freed).
            deadline = time.monotonic() + 5
            while calm_goaways(e) - calm0 < FLOOD_CONNS and time.monotonic() < deadline:
                time.sleep(0.05)
            eq(calm_goaways(e) - calm0, float(FLOOD_CONNS), f"{name}: ENHANCE_YOUR_CALM closes "
               "in sluice_edge_h2_goaways_total")
        mem.check(name)
        eq(e.get("/t1/one.bin").status, 200, f"HTTP/1.1 after the {name}")


SEND_TIMEOUT = 1.0  # limits.send_timeout in setup()


@test
def zero_window_ends_by_send_deadline(e):
    # Eight connections with a zero initial window and 50 streams each: heads go out, no DATA
    # can. Four stay silent; four dribble one byte of window per stream every 200 ms. A client
    # that asked for windows under H2_MIN_DATA gets each byte it grants, but the send deadline
    # moves on only per H2_MIN_DATA bytes of answers, so it ends all eight.
    big = [hdrs(sid, req(path="/t1/big.m4s")) for sid in range(1, 100, 2)]
    closed = {}
    with RssPeak(e) as mem:
        peers = []
        for _ in range(8):
            p = Peer(e, setting(4, 0))
            p.sent_at, p.granted = time.monotonic(), 0
            p.send(b"".join(big))
            peers.append(p)
        for p in peers:
            check(p.read_until(lambda q: len(q.of(HEADERS)) == 50),
                  f"50 response heads not received: {p.summary()}")
        # Everyone else is served meanwhile, over h2c and over HTTP/1.1: from a thread, so
        # that a slow curl start does not hold up the watch for the closes below.
        served = {}

        def others():
            served["h2c"] = curl(e, "/t1/seg-2.m4s")
            served["http1"] = e.get("/t1/one.bin").status
        other = threading.Thread(target=others)
        other.start()
        end = time.monotonic() + SEND_TIMEOUT + 4
        while len(closed) < len(peers) and time.monotonic() < end:
            for i, p in enumerate(peers):
                if i % 2 and i not in closed:
                    if p.send(b"".join(frame(WINDOW_UPDATE, 0, sid, u32(1))
                                       for sid in range(1, 100, 2))):
                        p.granted += 50
            for i, p in enumerate(peers):
                if i not in closed and (p.read_until(lambda q: q.eof, timeout=0.2 / len(peers))
                                        or p.eof):
                    closed[i] = time.monotonic() - p.sent_at
        for p in peers:
            p.close()
        other.join(30)
    check("h2c" in served and "http1" in served, f"the others' requests did not end: {served}")
    _, status, _, body = served["h2c"]
    eq((status, sha(body)), (200, sha(e.objects["/t1/seg-2.m4s"])), "h2c meanwhile")
    eq(served["http1"], 200, "HTTP/1.1 meanwhile")
    for i, p in enumerate(peers):
        what = f"{'dribbling' if i % 2 else 'silent'} connection {i}"
        check(i in closed, f"{what} still open {SEND_TIMEOUT + 4:.0f}s after its heads")
        check(SEND_TIMEOUT * 0.9 <= closed[i] <= SEND_TIMEOUT + 2.5,
              f"{what} ended {closed[i]:.2f}s after its requests (send deadline {SEND_TIMEOUT}s)")
        got = sum(len(f[3]) for f in p.of(DATA))
        check(got <= p.granted, f"{what}: {got} DATA bytes from windows of {p.granted}")
        check(got < 4096, f"{what}: {got} DATA bytes, yet closed as stalled")
    mem.check("zero-window streams")


HUGE = 32 << 20


@test
def window_returned_per_frame_never_cut_off(e):
    # A client that gives window back as it reads, a WINDOW_UPDATE for the stream and one for
    # the connection per DATA frame (default windows and frame size: 2048 frames, 4096
    # updates, several times http2.max_control_per_s within the read), gets 32 MiB whole.
    key = "/t1/huge.m4s"
    if key not in e.objects:
        e.put(key, bytes(random.Random(7).getrandbits(8) for _ in range(4096)) * (HUGE // 4096))
    want = e.objects[key]
    calm0 = calm_goaways(e)
    digest, got, frames, updates, buf, ended = hashlib.sha256(), 0, 0, 0, b"", False
    start = time.monotonic()
    with socket.create_connection((HOST, e.port), timeout=10) as s:
        s.sendall(PREFACE + frame(SETTINGS, 0, 0) + hdrs(1, req(path=key)))
        while not ended:
            d = s.recv(65536)
            check(d, f"connection closed after {got} of {HUGE} bytes")
            fs, buf = split_frames(buf + d)
            out = []
            for t, fl, sid, p in fs:
                check(t not in (GOAWAY, RST_STREAM), f"{TYPE_NAMES[t]} after {got} bytes")
                if t == PING and not fl & ACK:
                    out.append(frame(PING, ACK, 0, p))
                if t != DATA or sid != 1:
                    continue
                digest.update(p)
                got += len(p)
                frames += 1
                ended = bool(fl & END_STREAM)
                if p:
                    out += [frame(WINDOW_UPDATE, 0, 1, u32(len(p))),
                            frame(WINDOW_UPDATE, 0, 0, u32(len(p)))]
                    updates += 2
            if out:
                s.sendall(b"".join(out))
    took = time.monotonic() - start
    print(f"  {HUGE >> 20} MiB in {frames} DATA frames, {updates} WINDOW_UPDATEs, {took:.2f}s")
    eq(got, len(want), "body length")
    eq(digest.hexdigest(), sha(want), "body SHA-256")
    check(updates > 3 * 1000, f"only {updates} WINDOW_UPDATEs")
    eq(calm_goaways(e) - calm0, 0.0, "ENHANCE_YOUR_CALM closes meanwhile")




@test
def unfinished_header_blocks_hold_little(e):
    # 32 connections with 100 streams each whose requests never end (HEADERS without
    # END_STREAM, a few hundred bytes of fields): each stream holds what its fields take,
    # not max_header_list (100 x 16 KiB = 1.6 MiB a connection, 51 MiB in all).
    block = req(path="/t1/seg-1.m4s") + fields(("user-agent", "sluice-test/1 " + "x" * 120),
                                               ("accept", "*/*"))
    streams = b"".join(hdrs(sid, block, END_HEADERS) for sid in range(1, 200, 2))
    # The connections first, so that what is measured is what their streams hold.
    peers = settled_peers(e, FLOOD_CONNS)
    try:
        with RssPeak(e) as mem:
            for p in peers:
                p.send(streams)
            for p in peers:
                p.settle()  # every stream's fields were read
                check(not p.eof and not p.of(GOAWAY) and not p.of(RST_STREAM),
                      f"streams refused: {p.summary()[-200:]}")
            held = rss_settled(e, mem)
    finally:
        for p in peers:
            p.close()
    print(f"  {FLOOD_CONNS} x 100 unfinished requests: VmRSS {mem.before} -> {held} KiB "
          f"(100 x max_header_list would be {FLOOD_CONNS * 100 * HEADER_LIST >> 10} KiB)")
    if not sanitized(e):
        grew = held - mem.before
        bound = FLOOD_CONNS * 100 * HEADER_LIST // 1024 // 8
        check(grew <= bound, f"VmRSS grew {grew} KiB with unfinished requests (bound {bound})")
    eq(e.get("/t1/one.bin").status, 200, "HTTP/1.1 after the unfinished requests")


def indexed_block(sid):
    """Stream sid's unfinished request (END_HEADERS only) of about 16 KB of fields by RFC 9113
    §6.5.2's count, under max_header_list, from about 120 bytes on the wire: four references to
    one 4000-byte dynamic table entry, which stream 1 adds."""
    if sid == 1:
        return hdrs(1, GET + b"\x40" + hstr("x") + hstr("y" * 4000) + b"\xbe" * 3, END_HEADERS)
    return hdrs(sid, GET + b"\xbe" * 4, END_HEADERS)


HELD_CONNS = 64
HELD_RSS_KIB = 16 * 1024  # bound on VmRSS growth for HELD_CONNS connections (docs/tls.md)


@test
def unfinished_indexed_fields_bounded(e):
    # 64 connections with 100 streams each whose requests never end, each request's fields
    # decoding to about 16 KB (within max_header_list) from 12 KB on the wire a connection:
    # held whole, they would take 100 MiB. The unfinished requests of a connection hold
    # H2_HDR_HELD_MAX (4 x max_header_list) at most together; the streams past it are refused
    # (RST_STREAM REFUSED_STREAM), and a normal client is served meanwhile.
    streams = b"".join(indexed_block(sid) for sid in range(1, 200, 2))
    peers = settled_peers(e, HELD_CONNS)
    try:
        with RssPeak(e) as mem:
            for p in peers:
                p.send(streams + frame(PING, 0, 0, b"streams!"))
            for p in peers:
                # Every stream's fields were read once the PING after them is answered.
                check(p.read_until(lambda q: q.acked(b"streams!")),
                      f"PING after the streams unanswered: {p.summary()[-200:]}")
            held = rss_settled(e, mem)
            _, status, _, body = curl(e, "/t1/seg-2.m4s")
            eq((status, sha(body)), (200, sha(e.objects["/t1/seg-2.m4s"])), "h2c meanwhile")
            eq(e.get("/t1/one.bin").status, 200, "HTTP/1.1 meanwhile")
        grew = held - mem.before
        print(f"  {HELD_CONNS} x 100 unfinished requests of indexed fields: VmRSS {mem.before} "
              f"-> {held} KiB (held whole: {HELD_CONNS * 100 * HEADER_LIST >> 10} KiB)")
        if not sanitized(e):
            check(grew <= HELD_RSS_KIB, f"VmRSS grew {grew} KiB with unfinished requests of "
                  f"indexed fields (bound {HELD_RSS_KIB})")
        for p in peers:
            refused = [f for f in p.of(RST_STREAM)
                       if int.from_bytes(f[3][:4], "big") == REFUSED_STREAM]
            check(not p.eof and not p.of(GOAWAY), f"connection ended: {p.summary()[-200:]}")
            check(len(refused) >= 90, f"{len(refused)} streams refused of 100: "
                  f"{p.summary()[-200:]}")
            check(not p.of(HEADERS), f"an unfinished request answered: {p.summary()[-200:]}")
    finally:
        for p in peers:
            p.close()
    eq(e.get("/t1/one.bin").status, 200, "HTTP/1.1 after the unfinished requests")


@test
def answered_unread_requests_hold_little(e):
    # 64 connections with 100 streams each, every request complete and answered (a stored
    # object) but no answer read: the client's stream windows are 0, so each stream stays
    # open with its answer queued. Each request's fields decode to about 16 KB from about 10
    # bytes on the wire (indexed_block's references): held until the stream closed, 100 MiB in
    # all; let go once the answer is queued. An edge of its own, whose send deadline (30 s)
    # does not end the connections while they are measured.
    s = Edge(e.binary, {"tokens": {"required": False},
                        "limits": {"send_timeout": "30s", "idle_timeout": "30s"}})
    start_pushed(s)
    try:
        streams = b"".join(hdrs(sid, indexed_block(sid)[9:], END_STREAM | END_HEADERS)
                           for sid in range(1, 200, 2))
        peers = [Peer(s, settings=setting(4, 0)) for _ in range(HELD_CONNS)]  # window 0
        for p in peers:
            p.send(frame(SETTINGS, ACK, 0))
            p.settle()
        with RssPeak(s) as mem:
            for p in peers:
                p.send(streams + frame(PING, 0, 0, b"streams!"))
            for p in peers:
                check(p.read_until(lambda q: q.acked(b"streams!") and len(q.of(HEADERS)) >= 100),
                      f"not every stream answered: {p.summary()[-200:]}")
                check(not p.of(DATA) and not p.of(RST_STREAM) and not p.eof,
                      f"DATA without window, or a stream ended: {p.summary()[-200:]}")
            held = rss_settled(s, mem)
        grew = held - mem.before
        print(f"  {HELD_CONNS} x 100 answered, unread requests of indexed fields: VmRSS "
              f"{mem.before} -> {held} KiB (held whole: {HELD_CONNS * 100 * HEADER_LIST >> 10} KiB)")
        if not sanitized(s):
            # What stays is each stream's own state and queued answer (about 2.5 KB).
            check(grew <= 2 * HELD_RSS_KIB, f"VmRSS grew {grew} KiB with answered, unread "
                  f"requests (bound {2 * HELD_RSS_KIB})")
        for p in peers:
            p.close()
    finally:
        s.stop()
        s.cleanup()


def setup(binary):
    # Connections set up before a case sit idle until it begins: the idle deadline, which
    # frames that open no stream do not push on, must not end them first.
    e = Edge(binary, {"tokens": {"required": False},
                      "limits": {"send_timeout": f"{SEND_TIMEOUT:g}s", "idle_timeout": "30s"}})
    return start_pushed(e)


if __name__ == "__main__":
    sys.exit(run(setup))
