# SPDX-License-Identifier: MIT
"""Every client protocol at once against a cache smaller than what is asked of it.

HTTP/1.1 (keep-alive, pipelining, ranges, conditionals, HEAD, clients leaving mid-request),
h2c and h2 over TLS (many streams per connection, ranges, streams reset by the client), HTTPS
with HTTP/1.1 and an h2load run, while the admin API deletes objects and SIGHUP reloads the
configuration. The origin holds about twice the cache's size, so objects are filled, evicted and
filled again throughout.

Every body must be the origin's bytes, or exactly the range asked for. At the end each kind of
client and each disturbance must have happened some number of times, and the edge must have
filled and evicted, so a run that exercised nothing cannot pass. Then kill -9 at random
instants of that churn: after each restart every object the index lists is whole and exact.

SLUICE_MIXED_SECONDS sets the length of the load (default 25) for a longer soak by hand. A run
goes on past it, up to three times as long, while some kind of traffic is short of its least
count (a loaded machine), so that the counts say whether the edge served, not how busy the
machine was.
"""

import http.client
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import edgeharness
from edgeharness import (HOST, Closed, Edge, RawConn, build_request, check, free_port, metric,
                         run, sha, start_pushed, test)
from h2frames import PREFACE, frame
from h2peer import CANCEL, DATA, GOAWAY, RST_STREAM, WINDOW_UPDATE, Peer, hdrs, req, setting, u32
from origin import Origin
from test_tls import client_ctx, make_pki

edgeharness._tests.clear()  # test_tls's own tests run in their own file

SECONDS = float(os.environ.get("SLUICE_MIXED_SECONDS", "25"))
SIZES = (777, 2048, 65536, 131072 + 5, 300000, 1500000)
OBJECTS = 400  # about 133 MB at the origin, for a cache of 64 MiB (the smallest allowed)
KILL_ROUNDS = 3
# Enough of every kind that a run which did nothing, or only some of it, fails.
LEAST = (("h1", 100), ("h1 304", 10), ("h1 left", 5), ("https", 20), ("h2c", 100),
         ("h2c reset", 5), ("h2 over TLS", 50), ("h2 over TLS reset", 2), ("h2load", 500),
         ("delete", 10), ("left after preface", 10), ("reload", 2))
PKI_DIRS = []


class Load:
    """What the clients share: the objects, the deadline, the errors (wrong: those of answers
    that ended, with the wrong status or bytes or reset by the edge) and the counts. The load
    lasts until stop, and past it, up to cap, while a count is short of its least."""

    def __init__(self, e, origin, paths, least=()):
        self.e, self.o, self.paths = e, origin, paths
        self.start = time.monotonic()
        self.stop, self.cap = self.start + SECONDS, self.start + 3 * SECONDS
        self.least = dict(least)
        self.lock = threading.Lock()
        self.errors, self.wrong, self.counts = [], [], {}

    def short(self):
        with self.lock:
            return [w for w, n in self.least.items() if self.counts.get(w, 0) < n]

    def going(self):
        now = time.monotonic()
        return now < self.stop or (now < self.cap and bool(self.short()))

    def count(self, what, n=1):
        with self.lock:
            self.counts[what] = self.counts.get(what, 0) + n

    def error(self, what, wrong=False):
        with self.lock:
            self.errors.append(what)
            if wrong:
                self.wrong.append(what)

    def pick(self, r):
        """A path, its bytes, and the range header and expected bytes of one in three."""
        path = r.choice(self.paths)
        data = self.o.objects[path]
        if r.random() < 1 / 3:
            a = r.randrange(len(data))
            b = r.randrange(a, len(data))
            return path, data, (("Range", f"bytes={a}-{b}"),), data[a:b + 1]
        return path, data, (), data


def guarded(load, who, fn):
    """fn(load) in a thread whose exception is an error of the run, not a silent end."""
    def body():
        try:
            fn(load)
        except Exception as x:
            load.error(f"{who}: {type(x).__name__}: {x}")
    return threading.Thread(target=body, name=who)


# ---- HTTP/1.1 ---------------------------------------------------------------------------------

def h1_one(load, c, r, etags):
    """One request of a random kind on the keep-alive connection c; False to reconnect."""
    path, data, rng_hdr, want = load.pick(r)
    kind = r.choice(("get", "get", "inm", "ims", "head", "pipeline", "leave"))
    if kind == "pipeline":
        picks = [load.pick(r) for _ in range(3)]
        c.send(b"".join(build_request("GET", p, h) for p, _, h, _ in picks))
        for p, _, h, w in picks:
            resp = c.read_response()
            if resp.status not in (200, 206) or resp.body != w:
                load.error(f"h1 pipelined {p} {h}: {resp.status}, {len(resp.body)} bytes",
                           wrong=True)
        load.count("h1", 3)
        return True
    if kind == "leave":  # a client gone before its answer
        c.send(build_request("GET", path))
        load.count("h1 left")
        return False
    method, fields = "GET", list(rng_hdr)
    if kind == "inm" and path in etags:
        fields = [("If-None-Match", etags[path])]
        want = None
    elif kind == "ims":
        fields = [("If-Modified-Since", "Sat, 01 Jan 2100 00:00:00 GMT")]
        want = None
    elif kind == "head":
        method = "HEAD"
    c.send(build_request(method, path, fields))
    resp = c.read_response(method)
    load.count("h1")
    if kind == "inm" and want is None:  # the tag of an earlier answer: the same bytes
        ok = resp.status == 304
        load.count("h1 304")
    elif want is None:  # a date to come: 304, or the whole object from a miss (the origin
        # sends no Last-Modified, so a miss's answer has no date to compare)
        ok = resp.status == 304 or (resp.status == 200 and resp.body == data)
    elif method == "HEAD":
        ok = resp.status == 200 and resp.get("Content-Length") == str(len(data))
    else:
        ok = resp.status in (200, 206) and resp.body == want
    if not ok:
        load.error(f"h1 {method} {path} {fields}: {resp.status}, {len(resp.body)} bytes",
                   wrong=True)
    if resp.get("ETag"):
        etags[path] = resp.get("ETag")
    return "close" not in (resp.get("Connection") or "").lower()


def h1_client(seed):
    def client(load):
        r, etags, c = random.Random(seed), {}, None
        while load.going():
            if c is None:
                c = RawConn(load.e.port, timeout=20)
            try:
                keep = h1_one(load, c, r, etags)
            except (Closed, OSError) as x:
                load.error(f"h1 connection: {type(x).__name__}: {x}")
                keep = False
            if not keep:
                c.close()
                c = None
        if c:
            c.close()
    return client


def https_client(seed):
    def client(load):
        r, c = random.Random(seed), None
        while load.going():
            if c is None:
                c = http.client.HTTPSConnection(HOST, load.e.tls_port, timeout=20,
                                                context=tls_context(load.e, "http/1.1"))
            path, _, rng_hdr, want = load.pick(r)
            c.request("GET", path, headers={"Host": "a.test", **dict(rng_hdr)})
            resp = c.getresponse()
            body = resp.read()
            if resp.status not in (200, 206) or body != want:
                load.error(f"https {path} {rng_hdr}: {resp.status}, {len(body)} bytes",
                           wrong=True)
            load.count("https")
            if r.random() < 0.05:
                c.close()
                c = None
    return client


# ---- HTTP/2 -----------------------------------------------------------------------------------

def tls_context(e, alpn):
    ctx = client_ctx(e)
    ctx.set_alpn_protocols([alpn])
    return ctx


def load_peer(e, tls, small_rcvbuf):
    """A Peer over h2c, or over TLS with ALPN h2, with 16 MiB stream windows and the
    connection's opened as far; small_rcvbuf makes the edge's sends come up short while the
    client is not reading."""
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if small_rcvbuf:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    raw.settimeout(5)
    raw.connect((HOST, e.tls_port if tls else e.port))
    s = tls_context(e, "h2").wrap_socket(raw, server_hostname="a.test") if tls else raw
    check(not tls or s.selected_alpn_protocol() == "h2", "ALPN did not choose h2")
    p = Peer(e, settings=setting(4, 1 << 24), sock=s)
    p.send(frame(WINDOW_UPDATE, 0, 0, u32(1 << 30)))
    return p


def h2_round(load, p, r, sid, proto):
    """Up to 11 streams at once, about one in ten reset by the client, the others checked; one
    round in five the client reads nothing for 0.2 s (the socket fills). Returns the next stream
    id, or None when the connection is over."""
    want, reset = {}, set()
    for _ in range(r.randrange(1, 12)):
        path, _, rng_hdr, body = load.pick(r)
        p.send(hdrs(sid, req(*((n.lower(), v) for n, v in rng_hdr), path=path)))
        want[sid] = (path, body)
        if r.random() < 0.1:
            reset.add(sid)
        sid += 2
    for s in reset:
        p.send(frame(RST_STREAM, 0, s, u32(CANCEL)))
    load.count(proto + " reset", len(reset))
    if r.random() < 0.2:
        time.sleep(0.2)
    if not p.read_until(lambda q: all(q.ended(s) for s in want if s not in reset), timeout=30):
        load.error(f"{proto}: streams {sorted(set(want) - reset)} not all ended: "
                   + p.summary()[-300:])
        return None
    for s, (path, body) in want.items():
        got = b"".join(f[3] for f in p.of(DATA, s))
        if s in reset:
            if got != body[:len(got)]:
                load.error(f"{proto} {path} reset: {len(got)} bytes not its start", wrong=True)
        elif p.of(RST_STREAM, s) or got != body:
            load.error(f"{proto} {path}: {len(got)} bytes of {len(body)}, {p.summary()[-200:]}",
                       wrong=True)
        else:
            load.count(proto)
    if p.of(GOAWAY):
        load.error(f"{proto}: GOAWAY in steady use: {p.summary()[-200:]}")
        return None
    p.frames = []
    return sid


def h2_client(seed, tls):
    proto = "h2 over TLS" if tls else "h2c"

    def client(load):
        r = random.Random(seed)
        while load.going():
            p = load_peer(load.e, tls, small_rcvbuf=r.random() < 0.5)
            sid = 1
            for _ in range(r.randrange(1, 40)):
                if not load.going() or sid is None:
                    break
                sid = h2_round(load, p, r, sid, proto)
            p.close()
    return client


def not_2xx(e, most=5):
    """The first access log lines of answers with a status other than 1xx-3xx (what they say:
    the cache status, its detail), for an error message."""
    with open(e.access_log, errors="replace") as f:
        lines = [ln for ln in f if re.search(r'" [45]\d\d ', ln)]
    return f"{len(lines)} lines: " + " | ".join(ln.strip() for ln in lines[:most])


def h2load_client(load):
    """h2load over h2c: many streams of 40 paths at once (800 requests a second in all, to
    leave the cores to the tests running beside), every answer a 2xx."""
    uris = [f"http://{HOST}:{load.e.port}{p}" for p in random.Random(3).sample(load.paths, 40)]
    while load.going() and (load.stop - time.monotonic() > 6 or load.short()):
        out = subprocess.run(["h2load", "-c4", "-m8", "--rps", "200", "-D", "5", *uris],
                             capture_output=True, text=True, timeout=60)
        m = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, "
                      r"(\d+) errored, (\d+) timeout", out.stdout)
        codes = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out.stdout)
        if not m or not codes:
            load.error("h2load printed no summary: " + (out.stdout + out.stderr)[-300:])
            return
        ok, failed, errored, timed_out = map(int, m.groups())
        # A stream whose head came before the duration ended and its body after is counted
        # 2xx but not succeeded: only answers other than 2xx are errors here.
        if failed or errored or timed_out or any(int(n) for n in codes.groups()[1:]):
            load.error(f"h2load: {m.group(0)}; {codes.group(0)}; the access log's answers "
                       f"other than 2xx: {not_2xx(load.e)}")
        load.count("h2load", ok)


# ---- disturbances -----------------------------------------------------------------------------

def disturber(load):
    """Every half second a DELETE of a random object (maybe being sent that moment), a client
    that leaves right after the h2c preface; a reload every fourth time."""
    r, n = random.Random(99), 0
    while load.going():
        time.sleep(0.5)
        n += 1
        path = r.choice(load.paths)
        resp = load.e.admin("DELETE", "/admin/objects" + path)
        if resp.status not in (200, 204, 404):
            load.error(f"DELETE {path}: {resp.status}")
        load.count("delete")
        with socket.create_connection((HOST, load.e.port), timeout=5) as s:
            s.sendall(PREFACE + frame(4, 0, 0))
        load.count("left after preface")
        if n % 4 == 0:
            load.e.reload()
            load.count("reload")


# ---- the test ---------------------------------------------------------------------------------

@test
def every_body_exact_under_churn(e):
    load = Load(e, e.origin, sorted(e.origin.objects), LEAST)
    fills0 = metric(e, "sluice_edge_fills_total", 'result="committed"')
    evictions0 = metric(e, "sluice_edge_evictions_total")
    clients = [guarded(load, "h1 a", h1_client(1)), guarded(load, "h1 b", h1_client(2)),
               guarded(load, "https", https_client(3)),
               guarded(load, "h2c", h2_client(4, tls=False)),
               guarded(load, "h2 over TLS", h2_client(5, tls=True)),
               guarded(load, "h2load", h2load_client), guarded(load, "disturber", disturber)]
    for t in clients:
        t.start()
    for t in clients:
        t.join()
    print(f"# {time.monotonic() - load.start:.0f} s: "
          + ", ".join(f"{k} {v}" for k, v in sorted(load.counts.items())))
    check(not load.errors, f"{len(load.errors)} error(s), the first: " + "; ".join(load.errors[:5]))
    for what, least in LEAST:
        check(load.counts.get(what, 0) >= least,
              f"only {load.counts.get(what, 0)} of {what!r} (at least {least} expected)")
    fills = metric(e, "sluice_edge_fills_total", 'result="committed"') - fills0
    evictions = metric(e, "sluice_edge_evictions_total") - evictions0
    print(f"# fills committed {fills:.0f}, evictions {evictions:.0f}")
    check(fills >= 200 and evictions >= 100, "the cache did not churn: "
          f"{fills:.0f} fills, {evictions:.0f} evictions")


def deleter(load):
    r = random.Random(31)
    while load.going():
        try:
            load.e.admin("DELETE", "/admin/objects" + r.choice(load.paths), timeout=2)
        except (Closed, OSError):
            pass  # the edge was killed under it
        time.sleep(0.2)


@test
def kill9_under_churn_keeps_only_whole_objects(e):
    """kill -9 at a random instant of HTTP/1.1, h2c and admin deletes on the churning cache:
    every answer read whole before it was right, and after the restart every object the index
    lists has the origin's size and SHA-256 and is served from the store (a hit), whole and
    exact."""
    r = random.Random(21)
    for rnd in range(KILL_ROUNDS):
        load = Load(e, e.origin, sorted(e.origin.objects))
        clients = [guarded(load, "h1", h1_client(10 + rnd)),
                   guarded(load, "h2c", h2_client(20 + rnd, tls=False)),
                   guarded(load, "deleter", deleter)]
        for t in clients:
            t.start()
        # The kill lands up to 3 s after both clients have had answers (misses from the
        # origin take a while on a loaded machine).
        deadline = time.monotonic() + 20
        while not (load.counts.get("h1") and load.counts.get("h2c")):
            check(time.monotonic() < deadline, f"round {rnd}: no answers in 20 s: {load.counts}")
            time.sleep(0.05)
        time.sleep(3 * r.random())
        e.kill9()
        load.stop = time.monotonic()  # the clients see their connections end, and stop
        for t in clients:
            t.join()
        # Connections cut by the kill are errors of the run, but not wrong answers.
        check(not load.wrong, f"round {rnd}: " + "; ".join(load.wrong[:5]))
        e.start()
        listed = json.loads(e.admin("GET", "/admin/objects?prefix=/").body)
        check(len(listed) >= 20, f"round {rnd}: only {len(listed)} objects kept")
        for it in listed:
            data = e.origin.objects.get(it["key"])
            check(data is not None, f"round {rnd}: listed {it['key']} the origin never had")
            check(it["size"] == len(data) and it["sha256"] == sha(data),
                  f"round {rnd}: {it['key']} listed as {it['size']} bytes, {it['sha256'][:16]}")
            resp = e.get(it["key"], timeout=20)
            check(resp.status == 200 and resp.body == data
                  and "hit" in (resp.get("Cache-Status") or ""),
                  f"round {rnd}: {it['key']}: {resp.status}, {len(resp.body)} bytes, "
                  f"{resp.get('Cache-Status')}")


@test
def settled_cache_still_exact(e):
    # After the churn, what the cache holds and what it fills afresh are still the origin's.
    for path in random.Random(11).sample(sorted(e.origin.objects), 60):
        resp = e.get(path, timeout=20)
        check(resp.status == 200 and resp.body == e.origin.objects[path],
              f"{path}: {resp.status}, {len(resp.body)} bytes")


def setup(binary):
    pki = tempfile.mkdtemp(prefix="sluice-it-pki-")
    PKI_DIRS.append(pki)
    make_pki(pki)
    o = Origin()
    r = random.Random(7)
    for i in range(OBJECTS):
        o.add(f"/ok/s{i}/seg-{i}.m4s", r.randbytes(r.choice(SIZES)))
    e = Edge(binary, {"tokens": {"required": False}, "upstreams": [{"url": o.url}],
                      "cache": {"max_size": "64M"},
                      "limits": {"idle_timeout": "10s", "send_timeout": "10s",
                                 "header_timeout": "10s"}})
    e.origin, e.pki, e.tls_port = o, pki, free_port()
    e.cfg["tls"] = [{"listen": f"{HOST}:{e.tls_port}",
                     "certs": [{"cert": pki + "/a.pem", "key": pki + "/a.key"}]}]
    return start_pushed(e, {})


if __name__ == "__main__":
    for tool in ("openssl", "h2load"):
        if not shutil.which(tool):
            # tools/deps installs both: their absence is a broken setup, not a reason to skip.
            print(f"not ok - {tool} missing (tools/deps installs it)")
            sys.exit(1)
    rc = run(setup)
    for d in PKI_DIRS:
        shutil.rmtree(d, ignore_errors=True)
    sys.exit(rc)
