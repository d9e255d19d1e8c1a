# SPDX-License-Identifier: MIT
"""HTTP/2 drain (RFC 9113 §6.8): on SIGTERM every h2 connection, h2c and h2 over TLS alike,
gets a GOAWAY NO_ERROR naming 2^31-1 and a PING, then, once the PING's ACK is back or a second
later, a final GOAWAY NO_ERROR naming the last stream the edge took; a stream opened before the
client read the first is served, streams under way finish with their exact bytes, a stream
opened after the final GOAWAY is not served, an idle connection gets both before its close, and
the edge exits 0 before the drain deadline. Each case runs its own edge, since it stops it."""

import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

import edgeharness
from edgeharness import HOST, Edge, check, eq, free_port, run, sha, start_pushed, test
from h2frames import PREFACE, frame, split_frames
from h2peer import (ACK, DATA, GOAWAY, HEADERS, NO_ERROR, PING, RST_STREAM, SETTINGS,
                    WINDOW_UPDATE, Peer, goaway_code, hdrs, req, setting, u32)
from test_h2c import data_bytes, data_len
from test_tls import make_pki

# Importing the two files above registered their tests too: this file runs only its own.
del edgeharness._tests[:]

DRAIN_S = 5.0  # edge/worker.c DRAIN_MS
BIG = 1 << 31  # a window increment that opens everything
NOTICE = BIG - 1  # the first GOAWAY's last stream id
SLOW_OK = {"limits": {"send_timeout": "10s"}}  # slow readers are read to the end


class TlsPeer(Peer):
    """Peer over TLS with ALPN h2."""

    def __init__(self, e, settings=b""):
        ctx = ssl.create_default_context(cafile=e.pki + "/ca.pem")
        ctx.set_alpn_protocols(["h2"])
        raw = socket.create_connection((HOST, e.tls_port), timeout=5)
        self.s = ctx.wrap_socket(raw, server_hostname="a.test")
        eq(self.s.selected_alpn_protocol(), "h2", "ALPN")
        self.buf, self.frames, self.eof = b"", [], False
        self.send(PREFACE + frame(SETTINGS, 0, 0, settings))


def goaway_last(f):
    return int.from_bytes(f[3][:4], "big") & 0x7FFFFFFF


def final_goaway(p):
    """The GOAWAY after the notice (the one naming 2^31-1), or None."""
    gs = [g for g in p.of(GOAWAY) if goaway_last(g) != NOTICE]
    return gs[0] if gs else None


def drain_goaways(p, what):
    """p was sent the notice, then one final GOAWAY, both NO_ERROR: the final's last stream."""
    gs = [(goaway_code(g), goaway_last(g)) for g in p.of(GOAWAY)]
    check(len(gs) == 2 and gs[0] == (NO_ERROR, NOTICE) and gs[1][0] == NO_ERROR
          and gs[1][1] != NOTICE, f"{what}: GOAWAYs {gs}, not a notice then a final one: "
          f"{p.summary()[-200:]}")
    return gs[1][1]


def drained_exactly(e, open_peer, what):
    seg, big = "/t1/seg-1.m4s", "/t1/big.m4s"
    peers = []
    try:
        # An idle connection that has had its answer.
        idle = open_peer(b"")
        peers.append(idle)
        idle.send(hdrs(1, req()))
        check(idle.read_until(lambda p: p.ended(1)), f"{what}: idle's answer: {idle.summary()}")
        # A body held by flow control: the default windows (65535) are used up, the rest
        # waits for the client's WINDOW_UPDATE.
        held = open_peer(b"")
        peers.append(held)
        held.send(hdrs(1, req(path=seg)))
        check(held.read_until(lambda p: data_len(p, 1) >= 65535),
              f"{what}: the held body's first window: {held.summary()[-200:]}")
        # A body held by the socket: windows wide open, nothing read until after SIGTERM.
        slow = open_peer(setting(4, BIG - 1))
        peers.append(slow)
        slow.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        slow.send(frame(WINDOW_UPDATE, 0, 0, u32(BIG - 1 - 65535)) + hdrs(1, req(path=big)))
        check(slow.read_until(lambda p: data_len(p, 1) > 0),
              f"{what}: the slow reader's first DATA: {slow.summary()[-200:]}")

        t0 = time.monotonic()
        e.signal(signal.SIGTERM)

        check(held.read_until(final_goaway, timeout=DRAIN_S - 1),
              f"{what}: no final GOAWAY on the held stream's connection: {held.summary()[-200:]}")
        check(drain_goaways(held, what) >= 1, f"{what}: final GOAWAY's last stream < 1")
        # A new stream after the final GOAWAY, then the window the held body needs.
        held.send(hdrs(3, req()))
        held.send(frame(WINDOW_UPDATE, 0, 1, u32(BIG - 1 - 65535))
                  + frame(WINDOW_UPDATE, 0, 0, u32(BIG - 1 - 65535)))
        held.read_until(lambda p: p.eof, timeout=DRAIN_S)
        check(held.eof, f"{what}: held connection not closed after its stream: "
              f"{held.summary()[-200:]}")
        eq(sha(data_bytes(held, 1)), sha(e.objects[seg]), f"{what}: held body after GOAWAY")
        check(held.ended(1) and not held.of(RST_STREAM, 1), f"{what}: {held.summary()[-200:]}")
        check(not held.of(HEADERS, 3) and not held.of(DATA, 3),
              f"{what}: stream 3, opened after the final GOAWAY, was served: "
              f"{held.summary()[-200:]}")

        slow.read_until(lambda p: p.eof, timeout=DRAIN_S)
        check(slow.eof, f"{what}: slow reader not closed: {slow.summary()[-200:]}")
        eq(len(data_bytes(slow, 1)), len(e.objects[big]), f"{what}: slow reader's body length")
        eq(sha(data_bytes(slow, 1)), sha(e.objects[big]), f"{what}: slow reader's body")
        check(drain_goaways(slow, f"{what}: slow reader") >= 1, f"{what}: slow reader's GOAWAY")

        idle.read_until(lambda p: p.eof, timeout=DRAIN_S)
        check(idle.eof, f"{what}: idle connection not closed")
        eq(drain_goaways(idle, f"{what}: idle"), 1, f"{what}: idle's final GOAWAY")

        try:
            rc = e.proc.wait(DRAIN_S + 5)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{what}: edge still running {DRAIN_S + 5}s after SIGTERM")
        took = time.monotonic() - t0
        eq(rc, 0, f"{what}: exit status after the drain")
        check(took < DRAIN_S - 0.5, f"{what}: the drain took {took:.2f}s (deadline {DRAIN_S}s)")
        with open(e.log_path, errors="replace") as f:
            check("drain deadline" not in f.read(), f"{what}: connections cut at the deadline")
    finally:
        for p in peers:
            p.close()
        reports = cleaned_up(e)
    check(not reports, f"{what}: sanitizer reports: {reports[:3]}")


def cleaned_up(e):
    """The sanitizer reports e left, once its files are gone."""
    reports = e.sanitizer_reports()
    e.cleanup()
    return reports


def goaway_then_exit(e, p, what):
    """p was sent the drain's two GOAWAYs before its close; p closed, the edge exits 0."""
    drain_goaways(p, what)
    p.close()
    eq(e.proc.wait(DRAIN_S + 5), 0, f"{what}: exit status after the drain")


def reader_gives_window_back(e, open_peer, what):
    """A client that reads its answer slowly after the GOAWAY and gives the connection window
    back as it reads, as browsers do: the edge's close comes after the body's last byte
    whatever the client sends meanwhile. (A close with those WINDOW_UPDATEs unread, or with
    more coming, made the kernel reset the connection and drop the body's tail it still
    held: 5 of 8 MiB arrived.)"""
    big = e.objects["/t1/big.m4s"]
    try:
        p = open_peer(setting(4, BIG - 1))
        p.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
        p.send(frame(WINDOW_UPDATE, 0, 0, u32(BIG - 1 - 65535)) + hdrs(1, req(path="/t1/big.m4s")))
        check(p.read_until(lambda q: data_len(q, 1) > 0), f"{what}: first DATA: {p.summary()}")
        e.signal(signal.SIGTERM)
        reset = False
        while not p.eof:
            try:
                d = p.s.recv(16384)
            except (ConnectionResetError, socket.timeout) as ex:
                reset = ex
                break
            got, p.buf = split_frames(p.buf + d)
            p.frames += got
            p.eof = not d
            n = sum(len(f[3]) for f in got if f[0] == DATA)
            if n:
                p.send(frame(WINDOW_UPDATE, 0, 0, u32(n)))
            time.sleep(0.002)  # a reader slower than the edge: its tail waits in the kernel
        eq(len(data_bytes(p, 1)), len(big), f"{what}: body length ({reset or 'EOF'})")
        eq(sha(data_bytes(p, 1)), sha(big), f"{what}: body")
        goaway_then_exit(e, p, what)
    finally:
        reports = cleaned_up(e)
    check(not reports, f"{what}: sanitizer reports: {reports[:3]}")


@test
def idle_deadline_goaway(binary):
    # RFC 9113 §9.1: an idle connection past limits.idle_timeout gets a GOAWAY before the close.
    e = start_pushed(Edge(binary, {"limits": {"idle_timeout": "1s"}}))
    try:
        p = Peer(e)
        p.send(hdrs(1, req()))
        check(p.read_until(lambda q: q.ended(1)), f"the answer: {p.summary()}")
        t0 = time.monotonic()
        p.read_until(lambda q: q.eof, timeout=5)
        took = time.monotonic() - t0
        check(p.eof and 0.5 < took < 4, f"closed {took:.2f}s after going idle: {p.summary()}")
        eq(drain_goaways(p, "idle deadline"), 1, "idle deadline's final GOAWAY")
        p.close()
    finally:
        reports = e.sanitizer_reports()
        e.stop()
        e.cleanup()
    check(not reports, f"sanitizer reports: {reports[:3]}")


@test
def session_begun_during_drain_goaway(binary):
    # A connection whose preface was on its way at SIGTERM: its request is answered, then it
    # gets the GOAWAY before the close.
    e = start_pushed(Edge(binary))
    try:
        p = Peer.__new__(Peer)
        p.s = socket.create_connection((HOST, e.port), timeout=5)
        p.buf, p.frames, p.eof = b"", [], False
        p.send(PREFACE[:10])
        e.wait_connections(1)  # the edge has the connection before the signal
        e.signal(signal.SIGTERM)
        deadline = time.monotonic() + 10  # and is draining (its listener shut) before the rest
        while time.monotonic() < deadline:
            try:
                socket.create_connection((HOST, e.port), timeout=1).close()
            except OSError:
                break
            time.sleep(0.02)
        else:
            check(False, "the listener still open 10 s after SIGTERM")
        p.send(PREFACE[10:] + frame(SETTINGS, 0, 0, b"") + hdrs(1, req(path="/t1/init.mp4")))
        p.read_until(lambda q: q.eof, timeout=DRAIN_S)
        check(p.eof, f"not closed: {p.summary()}")
        eq(sha(data_bytes(p, 1)), sha(e.objects["/t1/init.mp4"]), "answer during the drain")
        goaway_then_exit(e, p, "session begun during the drain")
    finally:
        reports = cleaned_up(e)
    check(not reports, f"sanitizer reports: {reports[:3]}")


def notice_spares_streams_on_their_way(e, open_peer, what):
    """A stream the client opens after the first GOAWAY went out, before it read it (here:
    before its PING's ACK), is served, and the final GOAWAY names it: with one GOAWAY naming
    the last stream already taken it was dropped, to be retried elsewhere."""
    path = "/t1/init.mp4"
    try:
        p = open_peer(b"")
        p.send(hdrs(1, req()))
        check(p.read_until(lambda q: q.ended(1)), f"{what}: the first answer: {p.summary()}")
        e.signal(signal.SIGTERM)
        check(p.read_until(lambda q: q.of(GOAWAY)), f"{what}: no GOAWAY: {p.summary()}")
        eq(goaway_last(p.of(GOAWAY)[0]), NOTICE, f"{what}: the first GOAWAY's last stream")
        check(p.read_until(lambda q: q.of(PING)), f"{what}: no PING after the notice: "
              f"{p.summary()}")
        ping = p.of(PING)[0]
        check(not ping[1] & ACK, f"{what}: the edge's PING is an ACK")
        check(p.frames.index(ping) > p.frames.index(p.of(GOAWAY)[0]),
              f"{what}: the PING went before the notice: {p.summary()}")
        p.send(hdrs(3, req(path=path)) + frame(PING, ACK, 0, ping[3]))
        p.read_until(lambda q: q.eof, timeout=DRAIN_S)
        check(p.eof, f"{what}: not closed: {p.summary()[-200:]}")
        eq(sha(data_bytes(p, 3)), sha(e.objects[path]), f"{what}: stream 3's answer")
        eq(drain_goaways(p, what), 3, f"{what}: the final GOAWAY's last stream")
        goaway_then_exit(e, p, what)
    finally:
        reports = cleaned_up(e)
    check(not reports, f"{what}: sanitizer reports: {reports[:3]}")


def over_h2c(binary, case):
    """case(e, open_peer, what) on an edge's plain listener."""
    e = start_pushed(Edge(binary, SLOW_OK))
    case(e, lambda st: Peer(e, st), "h2c")


def over_tls(binary, case):
    """case(e, open_peer, what) on an edge with a TLS listener of its own certificates."""
    e = Edge(binary, SLOW_OK)
    e.pki = tempfile.mkdtemp(prefix="sluice-it-pki-")
    try:
        make_pki(e.pki)
        e.tls_port = free_port()
        e.cfg["tls"] = [{"listen": f"{HOST}:{e.tls_port}",
                         "certs": [{"cert": e.pki + "/a.pem", "key": e.pki + "/a.key"}]}]
        start_pushed(e)
        case(e, lambda st: TlsPeer(e, st), "h2 over TLS")
    finally:
        shutil.rmtree(e.pki, ignore_errors=True)


def on_both_listeners(case, suffix):
    """case(e, open_peer, what) as two tests, h2c_<suffix> and h2_tls_<suffix>."""
    for prefix, over in (("h2c_", over_h2c), ("h2_tls_", over_tls)):
        def one(binary, over=over):
            over(binary, case)
        one.__name__ = prefix + suffix
        test(one)


on_both_listeners(drained_exactly, "sigterm_goaway_and_finish")
on_both_listeners(reader_gives_window_back, "drain_reader_gives_window_back")
on_both_listeners(notice_spares_streams_on_their_way, "drain_serves_streams_on_their_way")


if __name__ == "__main__":
    if not shutil.which("openssl"):
        print("SKIP: the openssl CLI is needed to make test certificates")
        sys.exit(77)
    sys.exit(run())
