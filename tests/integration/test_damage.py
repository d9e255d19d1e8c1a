# SPDX-License-Identifier: MIT
"""Cached files changed behind the edge's back are caught and refilled, never served wrong.

  size_at_open:  a cached file is truncated and another grown; the next request for each
                 opens the file, drops the entry, refills it from the origin and serves the
                 origin's bytes; damaged{found_by="open"} counts both. A file truncated while
                 its descriptor is cached cuts the answer under way short (never padded) and
                 the next request refills it.
  small_truncated_while_cached: bodies of up to 4 KiB leave with their head in one send,
                 from the file's mapping, behind a read of the body's last byte; a small file
                 truncated while its descriptor and mapping are cached (inside its one page,
                 where a mapping reads zeros past the end) gets no answer at all, the
                 edge says why in its log, and the next request refills it
                 (damaged{found_by="open"} counts each). A range of a
                 small object is the object's bytes; a small range of a large object cut
                 inside that range gets no answer either.
  scrub:         a byte of a cached file is flipped with its size kept; the background scrub
                 (fast here) finds the SHA-256 mismatch, drops the entry and logs it; the next
                 request refills it; intact objects stay hits; damaged{found_by="scrub"} counts
                 it and the scrub's pass, object and byte counters move.
  scrub_progress: sluice_edge_scrub_objects_total counts the objects a pass has checked while
                 it is under way, not only when it ends.
  scrub_resumes_after_restart: an edge stopped while its scrub reads the last of three
                 objects reads only that one after its restart to end the pass, and says so.
  scrub_pause_zero_on_an_empty_cache: with scrub_pause 0 and nothing cached, passes still
                 come a second apart (not back to back, a core's worth and a log line each).
  h2c_truncated: a file truncated while its descriptor (and mapping) are cached, requested
                 over h2c (DATA frames in batches named in the mapping: copied into the socket
                 for a loopback peer and for a large body, zero-copy for a small body to a
                 peer at another address of this host): the answer is cut short, never padded
                 or completed, the edge lives on (no SIGBUS), and the next request refills it.
                 Cut deep (pages gone: the send faults) and cut inside the body's last page
                 (where the mapping reads zeros without a fault: a read of the batch's last
                 payload byte, linked before the send, cancels it).
  h2c_truncated_beside_a_healthy_stream: the same with a healthy object asked for first on
                 the same connection. The copying batch that names the damaged mapping fails,
                 which ends the connection (the frame header is out, its payload is not): both
                 answers are prefixes of their objects, the damaged one short; the damaged
                 object is distrusted and refilled, the healthy one stays a hit.
  h2_tls_truncated: the same over h2 with TLS (DATA frames read from the file into the TLS
                 burst), the damaged object asked for together with a healthy one on one
                 connection: the damaged stream alone is reset, its answer cut short, never
                 padded or completed, while the healthy stream completes on the same
                 connection; the object is distrusted, so the next request refills it
                 (damaged{found_by="open"}, logged), and the healthy object stays a whole hit.
  h2_tls_shrinks_in_burst: the same, but the file shrinks after the edge looked at its size
                 and before it read the frames' bytes (a preloaded shim makes fstat report the
                 old size): the connection is cut at the first frame it cannot fill, every
                 body that went out is a prefix of its object (a healthy one whole or cut,
                 never wrong), the edge lives on, and the object is distrusted and refilled.
"""

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import edgeharness
from edgeharness import HOST, Closed, check, eq, expect_body, free_port, metric, preload_env, run, \
    skip, test
from peeraddr import outward_address
from h2frames import frame, get_block
from test_h2c import read_streams, wide_open
from test_miss import RNG, Origin, start_edge
from test_tls import make_pki

edgeharness._tests.clear()  # test_miss's and test_h2c's own tests run in their own files

DAMAGED = "sluice_edge_damaged_objects_total"


def object_file(e, data):
    """The file under objects/ whose bytes are data (the store names files by random ids)."""
    want = hashlib.sha256(data).digest()
    root = os.path.join(e.cache_dir, "objects")
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            if os.path.getsize(p) == len(data):
                with open(p, "rb") as fh:
                    if hashlib.sha256(fh.read()).digest() == want:
                        return p
    raise AssertionError("no object file holds the fetched bytes")


def fill(e, origin, key, size):
    data = origin.add(key, RNG.randbytes(size))
    expect_body(e.get(key, timeout=10), data, f"fill of {key}")
    r = e.get(key)
    expect_body(r, data, f"hit of {key}")
    check(r.need("Cache-Status").endswith("hit"), f"{key} cached")
    e.wait_connections(0)  # the hit released its file
    return data


def refilled(e, origin, key, data, what):
    n = origin.count(key)
    r = e.get(key, timeout=10)
    expect_body(r, data, what)
    check("fwd=miss" in r.need("Cache-Status"), f"{what}: refilled, not served from the cache")
    eq(origin.count(key), n + 1, f"{what}: one origin fetch")
    r = e.get(key)
    expect_body(r, data, f"{what}, then a hit")
    check(r.need("Cache-Status").endswith("hit"), f"{what}: cached again")


@test
def size_at_open(origin):
    # One worker with one cached descriptor: which file is open is known at every step.
    e = start_edge(sys.argv[1], origin, {"workers": 1, "cache": {"fd_cache": 1, "scrub_rate": 0}})
    try:
        short = fill(e, origin, "/ok/dmg/short/seg-1.m4s", 200_000)
        long_ = fill(e, origin, "/ok/dmg/long/seg-1.m4s", 150_000)
        with open(object_file(e, short), "r+b") as fh:
            fh.truncate(100_000)
        with open(object_file(e, long_), "ab") as fh:
            fh.write(b"trailing junk")
        refilled(e, origin, "/ok/dmg/short/seg-1.m4s", short, "truncated file")
        refilled(e, origin, "/ok/dmg/long/seg-1.m4s", long_, "grown file")
        eq(metric(e, DAMAGED, 'found_by="open"'), 2, "damaged found at open")
        log = open(e.log_path).read()
        check("/ok/dmg/short/seg-1.m4s was missing or changed size" in log, "logged")

        # Truncated while its descriptor is cached: the answer under way is cut short (its
        # length was promised), never padded; the descriptor is forgotten, so the next
        # request opens the file, finds it short and refills.
        key = "/ok/dmg/cached/seg-1.m4s"
        data = fill(e, origin, key, 300_000)
        with open(object_file(e, data), "r+b") as fh:
            fh.truncate(1000)
        try:
            r = e.get(key, timeout=10)
            raise AssertionError(f"a full answer from a truncated file: {r.status}")
        except Closed:
            pass
        refilled(e, origin, key, data, "truncated while cached")
        eq(metric(e, DAMAGED, 'found_by="open"'), 3, "damaged found at the next open")
        e.stop()
        check(not e.sanitizer_reports(), f"sanitizer: {e.sanitizer_reports()[:3]}")
    finally:
        e.cleanup()


@test
def small_truncated_while_cached(origin):
    e = start_edge(sys.argv[1], origin, {"workers": 1, "cache": {"fd_cache": 4, "scrub_rate": 0}})
    try:
        for n, (size, cut) in enumerate(((2048, 1000), (4096, 4095), (3000, 0))):
            key = f"/ok/dmg/small-{n}/seg-1.m4s"
            data = fill(e, origin, key, size)
            r = e.get(key, headers=[("Range", "bytes=100-1999")])
            eq(r.status, 206, "range of a small object")
            check(r.body == data[100:2000], "a small object's range is its bytes")
            with open(object_file(e, data), "r+b") as fh:
                fh.truncate(cut)
            try:
                r = e.get(key, timeout=10)
                raise AssertionError(f"{size} B cut to {cut}: answered {r.status}, "
                                     f"{len(r.body)} bytes")
            except Closed:
                pass
            check(e.proc.poll() is None, "edge still running")
            refilled(e, origin, key, data, f"{size} B cut to {cut} while cached")
        # A small range of a large object goes the same way; cut inside the range, it too
        # gets no answer.
        key = "/ok/dmg/small-range/seg-1.m4s"
        data = fill(e, origin, key, 100_000)
        rng = [("Range", "bytes=50000-51999")]
        r = e.get(key, headers=rng)
        check(r.status == 206 and r.body == data[50000:52000], "a small range of a large object")
        with open(object_file(e, data), "r+b") as fh:
            fh.truncate(50_500)
        try:
            r = e.get(key, headers=rng, timeout=10)
            raise AssertionError(f"a range past a cut answered {r.status}, {len(r.body)} bytes")
        except Closed:
            pass
        refilled(e, origin, key, data, "large object cut inside a small range")
        log = open(e.log_path).read()
        eq(log.count("cached file changed size behind the edge's back"), 4,
           "each damaged small file is named in the log when its send is cancelled")
        eq(metric(e, DAMAGED, 'found_by="open"'), 4, "each counted when its refill opened it")
        e.stop()
        check(not e.sanitizer_reports(), f"sanitizer: {e.sanitizer_reports()[:3]}")
    finally:
        e.cleanup()


@test
def scrub(origin):
    e = start_edge(sys.argv[1], origin,
                   {"cache": {"scrub_rate": "64M", "scrub_pause": "200ms"}})
    try:
        keys = [f"/ok/scrub/t/seg-{i}.m4s" for i in range(6)]
        objs = {k: fill(e, origin, k, 100_000 + 7_000 * i) for i, k in enumerate(keys)}
        bad = keys[2]
        p = object_file(e, objs[bad])
        size = os.path.getsize(p)
        with open(p, "r+b") as fh:
            fh.seek(50_000)
            b = fh.read(1)
            fh.seek(50_000)
            fh.write(bytes([b[0] ^ 0x40]))
        eq(os.path.getsize(p), size, "size kept")
        deadline = time.monotonic() + 20
        while metric(e, DAMAGED, 'found_by="scrub"') < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        eq(metric(e, DAMAGED, 'found_by="scrub"'), 1, "the scrub found the flipped byte")
        check(not os.path.exists(p), "the damaged file was removed")
        log = open(e.log_path).read()
        check(f"scrub: {bad}: SHA-256 differs from the index" in log, "the scrub logged it")
        # The pass that found it goes on to the objects after it: wait for them (hashing is
        # slow under a sanitizer on a loaded machine) rather than read the counters at once.
        deadline = time.monotonic() + 20
        while ((metric(e, "sluice_edge_scrub_objects_total") < len(keys)
                or metric(e, "sluice_edge_scrub_passes_total") < 1)
               and time.monotonic() < deadline):
            time.sleep(0.1)
        check(metric(e, "sluice_edge_scrub_passes_total") >= 1, "a pass completed")
        check(metric(e, "sluice_edge_scrub_objects_total") >= len(keys), "objects checked")
        check(metric(e, "sluice_edge_scrub_bytes_total") >= sum(map(len, objs.values())) - size,
              "bytes hashed")
        refilled(e, origin, bad, objs[bad], "scrubbed object")
        counts = {k: origin.count(k) for k in keys if k != bad}
        for k in counts:
            r = e.get(k)
            expect_body(r, objs[k], f"intact {k}")
            check(r.need("Cache-Status").endswith("hit"), f"intact {k} still a hit")
        eq({k: origin.count(k) for k in counts}, counts, "no refill of intact objects")
        eq(metric(e, DAMAGED, 'found_by="scrub"'), 1, "only the damaged object dropped")
        e.stop()
        check(not e.sanitizer_reports(), f"sanitizer: {e.sanitizer_reports()[:3]}")
    finally:
        e.cleanup()


def scrub_restarted(origin, objects):
    """An edge holding objects (key: size, filled with the scrub off), restarted with a slow
    scrub (256 KiB/s) and a long pause, and waited on until the scrub has read past all but
    the last object, which it is still reading (a pass over it takes seconds)."""
    e = start_edge(sys.argv[1], origin, {"workers": 1, "cache": {"scrub_rate": 0}})
    objs = {k: fill(e, origin, k, size) for k, size in objects.items()}
    e.stop()
    e.cfg["cache"].update({"scrub_rate": "256K", "scrub_pause": "1h"})
    e.start()
    before_last = sum(list(objects.values())[:-1])
    deadline = time.monotonic() + 20
    while (metric(e, "sluice_edge_scrub_bytes_total") <= before_last
           and time.monotonic() < deadline):
        time.sleep(0.05)
    check(metric(e, "sluice_edge_scrub_bytes_total") > before_last, "the scrub reached the last")
    eq(metric(e, "sluice_edge_scrub_passes_total"), 0, "the pass still under way")
    return e, objs


@test
def scrub_progress(origin):
    # A pass over a large cache takes days: the objects it has checked show as it goes.
    e, _ = scrub_restarted(origin, {"/ok/progress/a.m4s": 100_000, "/ok/progress/b.m4s": 4 << 20})
    try:
        eq(metric(e, "sluice_edge_scrub_objects_total"), 1, "objects checked so far in the pass")
        e.stop()
    finally:
        e.cleanup()


@test
def scrub_resumes_after_restart(origin):
    # A restart within a pass goes on after the last object checked: an edge restarted more
    # often than a pass takes would otherwise never check the keys at the end of the order.
    sizes = {"/ok/resume/a.m4s": 100_000, "/ok/resume/b.m4s": 100_000,
             "/ok/resume/c.m4s": 2 << 20}
    e, _ = scrub_restarted(origin, sizes)
    try:
        e.stop()
        e.start()
        deadline = time.monotonic() + 30
        while metric(e, "sluice_edge_scrub_passes_total") < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        eq(metric(e, "sluice_edge_scrub_passes_total"), 1, "the pass ended after the restart")
        eq(metric(e, "sluice_edge_scrub_bytes_total"), sizes["/ok/resume/c.m4s"],
           "bytes read after the restart: the last object's alone")
        eq(metric(e, "sluice_edge_scrub_objects_total"), 1, "objects checked after the restart")
        check("going on with the pass a restart interrupted, after /ok/resume/b.m4s"
              in open(e.log_path).read(), "the edge says where the pass goes on")
        check(not os.path.exists(os.path.join(e.cache_dir, "scrub.pos")),
              "a position kept after the pass ended: the next pass would not start at the top")
        e.stop()
    finally:
        e.cleanup()


@test
def scrub_pause_zero_on_an_empty_cache(origin):
    # A pause of 0 with nothing to read: passes come at most a second apart, not back to back.
    e = start_edge(sys.argv[1], origin, {"cache": {"scrub_rate": "64M", "scrub_pause": 0}})
    try:
        time.sleep(2.5)
        passes = metric(e, "sluice_edge_scrub_passes_total")
        check(1 <= passes <= 4, f"{passes} passes in 2.5 s")
        logged = open(e.log_path).read().count("scrub: pass done")
        check(logged <= 4, f"{logged} 'pass done' lines in 2.5 s")
        e.stop()
    finally:
        e.cleanup()


def h2c_get(e, key, source=None):
    """curl over h2c with prior knowledge, from address source (None: loopback): (exit code,
    content-length or None, body)."""
    via = ["--interface", source] if source else []
    out = subprocess.run(["curl", "-sS", "--http2-prior-knowledge", "-D", "-", "-o", "-", *via,
                          "--max-time", "10", f"http://{HOST}:{e.port}{key}"],
                         capture_output=True)
    head, _, body = out.stdout.partition(b"\r\n\r\n")
    length = None
    for line in head.decode(errors="replace").split("\r\n"):
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    return out.returncode, length, body


@test
def h2c_truncated(origin):
    # From loopback both sizes go in copied batches; from another address 200 KB goes zero-copy
    # and 400 KB (over H2_ZC_BODY_MAX) copied.
    source = outward_address()
    for size in (200_000, 400_000):
        for via in (None, source) if source else (None,):
            for cut in (1000, size - 1000):
                h2c_truncated_one(origin, size, via, cut)
    if not source:
        skip("no address besides loopback: truncation under zero-copy batches not checked "
             "(the copied ones were)")


def h2c_truncated_one(origin, size, source, cut):
    e = start_edge(sys.argv[1], origin, {"workers": 1, "cache": {"fd_cache": 1, "scrub_rate": 0}})
    try:
        key = f"/ok/dmg/h2c-{size}-{cut}-{'lo' if source is None else 'out'}/seg-1.m4s"
        data = fill(e, origin, key, size)
        rc, length, body = h2c_get(e, key, source)
        eq((rc, length), (0, len(data)), "h2c hit before the damage")
        check(body == data, "h2c hit body")
        e.wait_connections(0)
        with open(object_file(e, data), "r+b") as fh:
            fh.truncate(cut)
        rc, length, body = h2c_get(e, key, source)
        check(rc != 0, f"h2c answer from a file cut to {cut} ended cleanly ({len(body)} bytes)")
        check(len(body) < len(data), "h2c answer from a truncated file is short")
        check(body == data[:len(body)], "the bytes that did go out are the object's")
        check(e.proc.poll() is None, "edge still running")
        refilled(e, origin, key, data, "truncated under h2c")
        rc, length, body = h2c_get(e, key, source)
        check(rc == 0 and body == data, "h2c hit after the refill")
        e.stop()
        check(not e.sanitizer_reports(), f"sanitizer: {e.sanitizer_reports()[:3]}")
    finally:
        e.cleanup()


@test
def h2c_truncated_beside_a_healthy_stream(origin):
    # nghttp discards bodies and curl 7.88 cannot reuse a prior-knowledge connection (its
    # second transfer fails at once with a framing error, whatever the server): raw frames.
    e = start_edge(sys.argv[1], origin, {"workers": 1, "cache": {"scrub_rate": 0}})
    try:
        good_key, bad_key = "/ok/dmg/h2c-pair-good/seg-1.m4s", "/ok/dmg/h2c-pair-bad/seg-1.m4s"
        good = fill(e, origin, good_key, 300_000)
        bad = fill(e, origin, bad_key, 400_000)

        def both():
            with socket.create_connection((HOST, e.port), timeout=10) as s:
                wide_open(s)
                s.sendall(frame(1, 0x5, 1, get_block(good_key))
                          + frame(1, 0x5, 3, get_block(bad_key)))
                try:
                    got = read_streams(s, 2)
                except ConnectionResetError:
                    got = {}
            return (got.get(1, {}).get("body", b""), got.get(3, {}).get("body", b""))

        eq(both(), (good, bad), "both whole on one h2c connection before the damage")
        e.wait_connections(0)
        with open(object_file(e, bad), "r+b") as fh:
            fh.truncate(1000)
        got_good, got_bad = both()
        check(got_good == good[:len(got_good)], "the healthy answer, whole or cut, is its object's")
        check(len(got_bad) < len(bad), "the answer from the truncated file is short")
        check(got_bad == bad[:len(got_bad)], "the bytes that did go out are the object's")
        check(e.proc.poll() is None, "edge still running")
        try:
            refilled(e, origin, bad_key, bad, "truncated beside a healthy h2c stream")
        except Closed:
            raise AssertionError("served again from its cached descriptor: not distrusted")
        n = origin.count(good_key)
        eq(both(), (good, bad), "both whole on one h2c connection after the refill")
        eq(origin.count(good_key), n, "the healthy object was not refilled")
        e.stop()
        check(not e.sanitizer_reports(), f"sanitizer: {e.sanitizer_reports()[:3]}")
    finally:
        e.cleanup()


def h2_tls_get(e, keys):
    """curl over h2 with TLS, keys on one connection (--parallel multiplexes them): {key: (exit
    code, body)}, and the number of connections made."""
    d = os.path.join(e.dir, "h2-tls-out")
    os.makedirs(d, exist_ok=True)
    cmd = ["curl", "-sS", "--http2", "--parallel", "--cacert", os.path.join(e.pki, "ca.pem"),
           "--max-time", "10",
           "-w", "%{exitcode} %{num_connects} %{http_version} %{url_effective}\n"]
    for i, k in enumerate(keys):
        cmd += ["-o", os.path.join(d, str(i)), f"https://{HOST}:{e.tls_port}{k}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    got, connects = {}, 0
    for line in out.stdout.splitlines():  # one per transfer, in the order they ended
        rc, n, version, url = line.split(" ", 3)
        connects += int(n)
        k = url.split(str(e.tls_port), 1)[1]
        if rc == "0":
            eq(version, "2", f"{k} over h2")
        p = os.path.join(d, str(keys.index(k)))
        body = b""
        if os.path.exists(p):  # curl makes the file at the first byte of the body
            with open(p, "rb") as fh:
                body = fh.read()
        got[k] = (int(rc), body)
    eq(sorted(got), sorted(keys), f"a line per transfer: {out.stdout!r} {out.stderr!r}")
    shutil.rmtree(d)
    return got, connects


def start_tls_edge(origin, pki, env=None):
    """An edge with one worker and a TLS listener (certificates made in pki); env is added to
    the edge's environment only."""
    make_pki(pki)
    tls_port = free_port()
    keep = {k: os.environ.get(k) for k in env or {}}
    os.environ.update(env or {})
    try:
        e = start_edge(sys.argv[1], origin, {
            "workers": 1, "cache": {"scrub_rate": 0},
            "tls": [{"listen": f"{HOST}:{tls_port}",
                     "certs": [{"cert": f"{pki}/a.pem", "key": f"{pki}/a.key"}]}]})
    finally:
        for k, v in keep.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    e.pki, e.tls_port = pki, tls_port
    return e


def tls_pair(e, origin, name):
    """A 400 kB object to damage and a 300 kB healthy one, cached, both fetched whole over h2
    with TLS on one connection: (bad key, good key, {key: bytes})."""
    bad_key, good_key = f"/ok/dmg/{name}-bad/seg-1.m4s", f"/ok/dmg/{name}-good/seg-1.m4s"
    want = {bad_key: fill(e, origin, bad_key, 400_000), good_key: fill(e, origin, good_key, 300_000)}
    got, connects = h2_tls_get(e, [bad_key, good_key])
    eq(connects, 1, "both on one connection")
    for k in want:
        check(got[k] == (0, want[k]), f"{k} whole over h2/TLS before the damage")
    e.wait_connections(0)
    return bad_key, good_key, want


def tls_pair_after_refill(e, origin, bad_key, good_key, want):
    """Both whole over h2 with TLS again, the healthy one not fetched again; the edge stops
    cleanly."""
    n = origin.count(good_key)
    got, _ = h2_tls_get(e, [bad_key, good_key])
    for k in want:
        check(got[k] == (0, want[k]), f"{k} whole over h2/TLS after the refill")
    eq(origin.count(good_key), n, "the healthy object was not refilled")
    e.stop()
    check(not e.sanitizer_reports(), f"sanitizer: {e.sanitizer_reports()[:3]}")


@test
def h2_tls_truncated(origin):
    if not shutil.which("openssl"):
        skip("the openssl CLI is needed to make test certificates: truncation under h2 over "
             "TLS not checked")
    pki = tempfile.mkdtemp(prefix="sluice-it-pki-")
    e = None
    try:
        e = start_tls_edge(origin, pki)
        bad_key, good_key, want = tls_pair(e, origin, "h2tls")
        bad, good = want[bad_key], want[good_key]
        # Both descriptors stay cached: the damage is found while sending, not at open. Cut
        # past the first 256 KiB burst, so both streams have had their heads and some DATA
        # (curl sends a request again on a new connection when the old one ended before any
        # answer to it arrived).
        with open(object_file(e, bad), "r+b") as fh:
            fh.truncate(300_000)
        # Only the damaged stream fails (RST_STREAM INTERNAL_ERROR, curl's 92); the healthy
        # one completes on the same connection.
        got, connects = h2_tls_get(e, [bad_key, good_key])
        eq(connects, 1, "both on one connection, with the damage")
        eq(got[bad_key][0], 92, "the damaged stream reset (curl: HTTP/2 stream error)")
        check(got[good_key] == (0, good), "the healthy stream whole on the same connection")
        rc, body = got[bad_key]
        check(rc != 0, f"h2/TLS answer from a truncated file ended cleanly ({len(body)} bytes)")
        check(len(body) < len(bad), "h2/TLS answer from a truncated file is short")
        check(body == bad[:len(body)], "the bytes that did go out are the object's")
        check(e.proc.poll() is None, "edge still running")
        eq(metric(e, DAMAGED, 'found_by="open"'), 0, "nothing found at open yet")
        try:
            refilled(e, origin, bad_key, bad, "truncated under h2/TLS")
        except Closed:
            raise AssertionError("served again from its cached descriptor: not distrusted")
        eq(metric(e, DAMAGED, 'found_by="open"'), 1, "damaged found at the next open")
        check(f"{bad_key} was missing or changed size" in open(e.log_path).read(), "logged")
        tls_pair_after_refill(e, origin, bad_key, good_key, want)
    finally:
        if e:
            e.cleanup()
        shutil.rmtree(pki, ignore_errors=True)


@test
def h2_tls_shrinks_in_burst(origin):
    shim = os.environ.get("SLUICE_SHRINK_SHIM", "")
    if not shim or not os.path.exists(shim):
        skip("the shrink shim is needed (meson builds it and names it in SLUICE_SHRINK_SHIM): "
             "a file shrinking inside an h2/TLS burst not checked")
    if not shutil.which("openssl"):
        skip("the openssl CLI is needed to make test certificates: "
             "a file shrinking inside an h2/TLS burst not checked")
    pki = tempfile.mkdtemp(prefix="sluice-it-pki-")
    flag = os.path.join(pki, "shim-on")
    e = None
    try:
        # Only the edge gets the shim.
        e = start_tls_edge(origin, pki, preload_env(
            shim, SLUICE_SHIM_FROM="333333", SLUICE_SHIM_TO="400000", SLUICE_SHIM_FLAG=flag))
        bad_key, good_key, want = tls_pair(e, origin, "h2shrink")
        bad, good = want[bad_key], want[good_key]
        with open(object_file(e, bad), "r+b") as fh:
            fh.truncate(333_333)
        open(flag, "w").close()  # fstat now says 400,000: the size check passes, the read fails
        # The cut ends the connection: curl asks again, on a new one, for a transfer that had
        # no answer yet, so the healthy one may come from a second connection.
        got, _ = h2_tls_get(e, [bad_key, good_key])
        rc, body = got[bad_key]
        check(rc != 0, f"h2/TLS answer from a shrunk file ended cleanly ({len(body)} bytes)")
        check(len(body) <= 333_333 - 333_333 % 16384,
              f"no frame past the last whole one the file still had ({len(body)} bytes)")
        check(body == bad[:len(body)], "the bytes that did go out are the object's")
        rc, body = got[good_key]
        check(body == good[:len(body)], "the healthy answer, whole or cut, is the object's")
        check(rc != 0 or body == good, "the healthy answer ended cleanly only when whole")
        check(e.proc.poll() is None, "edge still running")
        os.unlink(flag)
        try:
            refilled(e, origin, bad_key, bad, "shrunk under h2/TLS")
        except Closed:
            raise AssertionError("served again from its cached descriptor: not distrusted")
        eq(metric(e, DAMAGED, 'found_by="open"'), 1, "damaged found at the next open")
        tls_pair_after_refill(e, origin, bad_key, good_key, want)
    finally:
        if e:
            e.cleanup()
        shutil.rmtree(pki, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(run(lambda binary: Origin()))
