#!/usr/bin/env python3
"""Miss-path benchmark: sluice-edge beside nginx (proxy_cache + proxy_cache_lock on), both in
front of the same origin, in one run.

The origin is a Python HTTP/1.1 server in a process of its own: any /o/... path is an object of
--size bytes, answered after a fixed --delay (the origin's own time to first byte), and every
request is counted (GET /__count/<path> reads the count).

1. Time to first byte of a cold miss. For each sample a fresh key is asked of the origin
   directly, of sluice and of nginx (in rotating order), each on a new connection; TTFB is
   request sent -> first response byte. "Added" is a server's TTFB minus the origin's own, at
   p50 and p99. Repeated --reps times; the medians of the repetitions are printed.
2. Collapsing: --clients concurrent requests for one cold key to each server (non-blocking
   sockets, all sent before any answer can arrive); the origin's count for that key is the
   number of upstream fetches. Repeated --reps times.
3. CMCD nor prefetch (sluice only): a player session asks --segments segments of a cold title
   one after another, --think ms apart (its segment cadence, scaled down), once with each
   request naming the next segment in CMCD nor and once (another title) without. TTFB of
   segments 2..n and the origin's fetches per segment are compared.
4. Start prefetch (sluice only): a player starts a cold title as dash.js does — the init
   segment, then (--think ms later, the player appending it) segments 1..3, each naming the
   next in nor — once with CMCD su on the init and the first segment (what dash.js sends) and
   once without su (start prefetch not triggered; nor still is). TTFB of segment 1 and 2.
5. Distinct cold keys: --spread GETs, each of a key of its own, --spread-conns at a time (a
   new connection each): misses per second and time to the last byte (what a player waits for
   a segment), p50 and p99, for sluice and nginx. Every such miss is a fill and a commit;
   sluice's commits per commit group (its /metrics) is printed beside. With --edge-base a
   second sluice-edge build (another cache directory) runs this part too, the three servers
   taking turns in an order rotating with the repetition: an A/B of two builds in one run.

Usage: tools/bench/miss_bench.py --edge build/edge/sluice-edge [--samples 200] [--reps 3]
       [--delay 20] [--size 256K] [--clients 1000] [--segments 40] [--think 50]
       [--spread 400] [--spread-conns 32] [--edge-base OTHER] [--congestion NAME] [--json OUT]

--congestion: as in hit_bench.py, the TCP congestion control for the run (the machine's
otherwise, named in the output).
"""
import argparse
import concurrent.futures
import contextlib
import http.server
import json
import os
import re
import resource
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hit_bench  # noqa: E402  (the congestion control helper)

HOST = "127.0.0.1"


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_port(port, deadline=15.0):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            with socket.create_connection((HOST, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)  # polling a port that is not listening yet; no event to wait on
    raise RuntimeError(f"port {port} did not open")


# ---- the origin (runs as: miss_bench.py --serve-origin PORT DELAY_MS SIZE) -----------------

def serve_origin(port, delay_ms, size):
    body = (bytes(range(256)) * (size // 256 + 1))[:size]
    counts = {}
    lock = threading.Lock()

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_GET(self):
            if self.path.startswith("/__count/"):
                with lock:
                    n = counts.get(self.path[len("/__count"):], 0)
                out = str(n).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)
                return
            with lock:
                counts[self.path] = counts.get(self.path, 0) + 1
            time.sleep(delay_ms / 1000.0)  # the origin's own think time, what is measured
            self.send_response(200)
            self.send_header("Content-Type", "video/iso.segment")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "max-age=86400")
            self.end_headers()
            try:
                self.wfile.write(body)
            except OSError:
                self.close_connection = True

    class S(http.server.ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 4096

    S((HOST, port), H).serve_forever()


# ---- the servers under test --------------------------------------------------------------

def start_sluice(binary, origin_url, work, name="sluice"):
    """Start an edge with its files under work/name; returns (process, port, (admin port,
    token))."""
    port, admin = free_port(), free_port()
    work = os.path.join(work, name)
    cache = os.path.join(work, "sluice-cache")
    os.makedirs(cache, exist_ok=True)
    cfg = os.path.join(work, "edge.yaml")
    tok = os.path.join(work, "admin.token")
    secret = "bench-" + os.urandom(8).hex()
    with open(tok, "w") as f:
        f.write(secret + "\n")
    with open(cfg, "w") as f:
        f.write(f"""listen: ["{HOST}:{port}"]
workers: 2
admin: {{listen: "{HOST}:{admin}", token_file: "{tok}"}}
cache: {{dir: "{cache}", max_size: 4G}}
upstreams: [{{url: "{origin_url}"}}]
tokens: {{required: false}}
log: {{level: warn, target: stderr, access_log: ""}}
""")
    log = open(os.path.join(work, "edge.log"), "ab")
    p = subprocess.Popen([binary, "--config", cfg], stdout=log, stderr=log)
    wait_port(port)
    return p, port, (admin, secret)


def fetch(port, path, extra=""):
    """The whole raw response to a GET of path on a new connection (extra: more header lines,
    each ending in CRLF)."""
    with socket.create_connection((HOST, port), timeout=30) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: bench\r\n{extra}Connection: close\r\n\r\n"
                  .encode())
        data = bytearray()
        while True:
            c = s.recv(1 << 20)
            if not c:
                break
            data += c
    return bytes(data)


def commit_counters(admin):
    """(commits, commit groups) from an edge's /metrics; 0s for a build without them."""
    port, secret = admin
    data = fetch(port, "/metrics", f"Authorization: Bearer {secret}\r\n")
    out = []
    for name in (b"sluice_edge_fill_commits_total", b"sluice_edge_fill_commit_groups_total"):
        m = re.search(rb"\n" + name + rb" (\S+)", data)
        out.append(float(m.group(1)) if m else 0.0)
    return out


def start_nginx(origin_port, work):
    port = free_port()
    prefix = os.path.join(work, "nginx")
    os.makedirs(os.path.join(prefix, "cache"), exist_ok=True)
    conf = os.path.join(prefix, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""daemon off;
user root;
worker_processes 2;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    proxy_cache_path {prefix}/cache levels=1:2 keys_zone=c:32m max_size=4g use_temp_path=off;
    upstream origin {{ server {HOST}:{origin_port}; keepalive 64; }}
    server {{
        listen {HOST}:{port} backlog=4096;
        location / {{
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache c;
            proxy_cache_valid 200 1h;
            proxy_cache_lock on;
            proxy_cache_lock_timeout 30s;
            proxy_cache_lock_age 30s;
        }}
    }}
}}
""")
    p = subprocess.Popen(["nginx", "-c", conf, "-p", prefix],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    return p, port


# ---- measurements ------------------------------------------------------------------------

def ttfb(port, path):
    """Seconds from the request sent to the first response byte; reads the whole response."""
    with socket.create_connection((HOST, port), timeout=30) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        req = f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode()
        t0 = time.perf_counter()
        s.sendall(req)
        first = s.recv(65536)
        t1 = time.perf_counter()
        if not first.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"{port} {path}: {first[:60]!r}")
        while s.recv(1 << 20):
            pass
    return t1 - t0


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def origin_count(origin_port, path):
    return int(fetch(origin_port, f"/__count{path}").split(b"\r\n\r\n", 1)[1])


def storm(port, path, n):
    """n concurrent GETs of path; returns (seconds, complete 200 responses)."""
    sel = selectors.DefaultSelector()
    req = f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode()
    socks, got = [], {}
    t0 = time.perf_counter()
    for _ in range(n):
        s = socket.create_connection((HOST, port), timeout=10)
        s.sendall(req)
        s.setblocking(False)
        socks.append(s)
        got[s] = bytearray()
        sel.register(s, selectors.EVENT_READ)
    open_ = n
    deadline = time.monotonic() + 60
    while open_ and time.monotonic() < deadline:
        for k, _ in sel.select(timeout=1):
            try:
                c = k.fileobj.recv(1 << 18)
            except BlockingIOError:
                continue
            except ConnectionResetError:
                c = b""
            if not c:
                sel.unregister(k.fileobj)
                open_ -= 1
            else:
                got[k.fileobj] += c
    secs = time.perf_counter() - t0
    ok = sum(bytes(b[:12]) == b"HTTP/1.1 200" for b in got.values())
    for s in socks:
        s.close()
    sel.close()
    return secs, ok


def session(port, prefix, n, think_s, hint):
    """TTFB of each segment of a player session; with hint, each request names the next."""
    out = []
    for i in range(n):
        path = f"{prefix}/seg-{i}.m4s"
        if hint:
            path += "?CMCD=" + urllib.parse.quote(f'nor="seg-{i + 1}.m4s",sid="bench"', safe="")
        out.append(ttfb(port, path))
        time.sleep(think_s)  # the player's cadence between segments, not a wait for an event
    return out


def start(port, prefix, think_s, su):
    """TTFB of segments 1 and 2 of a start: init, then segments 1..3 think_s apart."""
    flag = ",su" if su else ""
    sid = f'sid="{prefix.replace("/", "")}"'
    ttfb(port, f"{prefix}/init.mp4?CMCD=" + urllib.parse.quote(f"ot=i,{sid}{flag}", safe=""))
    out = []
    for i in (1, 2, 3):
        time.sleep(think_s)  # the player appending what it got, not a wait for an event
        cm = f'nor="seg-{i + 1}.m4s",{sid}' + (flag if i == 1 else "")
        out.append(ttfb(port, f"{prefix}/seg-{i}.m4s?CMCD=" + urllib.parse.quote(cm, safe="")))
    return out[:2]


def last_byte(port, path):
    """Seconds from connecting to the last response byte; raises unless a whole 200."""
    t0 = time.perf_counter()
    head, _, body = fetch(port, path).partition(b"\r\n\r\n")
    m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
    if not head.startswith(b"HTTP/1.1 200") or not m or int(m.group(1)) != len(body):
        raise RuntimeError(f"{port} {path}: {head[:60]!r}, {len(body)} body bytes")
    return time.perf_counter() - t0


def spread(port, prefix, n, conns):
    """n GETs of distinct cold keys, conns at a time: (misses/s, last byte p50 and p99 ms)."""
    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(conns) as ex:
        times = list(ex.map(lambda i: last_byte(port, f"{prefix}/{i}.m4s"), range(n)))
    secs = time.perf_counter() - t0
    return n / secs, 1000 * pct(times, 50), 1000 * pct(times, 99)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--edge", help="sluice-edge binary")
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--delay", type=float, default=20.0, help="origin delay, ms")
    ap.add_argument("--size", default="256K")
    ap.add_argument("--clients", type=int, default=1000)
    ap.add_argument("--segments", type=int, default=40, help="segments per player session")
    ap.add_argument("--think", type=float, default=50.0, help="ms between a session's requests")
    ap.add_argument("--starts", type=int, default=20, help="player starts per mode per rep")
    ap.add_argument("--spread", type=int, default=400, help="distinct cold keys per rep")
    ap.add_argument("--spread-conns", type=int, default=32)
    ap.add_argument("--edge-base", help="a second sluice-edge build for part 5 (A/B)")
    ap.add_argument("--congestion", help="TCP congestion control for the run (e.g. cubic, bbr)")
    ap.add_argument("--json")
    ap.add_argument("--serve-origin", nargs=3, metavar=("PORT", "DELAY_MS", "SIZE"),
                    help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.serve_origin:
        serve_origin(int(a.serve_origin[0]), float(a.serve_origin[1]), int(a.serve_origin[2]))
        return 0
    if not a.edge or not shutil.which("nginx"):
        print("need --edge and nginx in PATH", file=sys.stderr)
        return 2
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 3 * a.clients + 256)), hard))
    size = hit_bench.parse_size(a.size)
    work = tempfile.mkdtemp(prefix="sluice-missbench-")
    procs = []
    cc = contextlib.ExitStack()
    try:
        cc.enter_context(hit_bench.congestion(a.congestion))
        oport = free_port()
        procs.append(subprocess.Popen([sys.executable, os.path.abspath(__file__),
                                       "--serve-origin", str(oport), str(a.delay), str(size)]))
        wait_port(oport)
        sp, sport, sadmin = start_sluice(os.path.abspath(a.edge), f"http://{HOST}:{oport}",
                                         work)
        procs.append(sp)
        admins = {"sluice": sadmin}
        spreaders = ["sluice", "nginx"]
        if a.edge_base:
            bp, bport, admins["base"] = start_sluice(os.path.abspath(a.edge_base),
                                                     f"http://{HOST}:{oport}", work, "base")
            procs.append(bp)
            spreaders.insert(1, "base")
        np_, nport = start_nginx(oport, work)
        procs.append(np_)
        targets = {"origin": oport, "sluice": sport, "nginx": nport}
        if a.edge_base:
            targets["base"] = bport

        reps = []
        for rep in range(a.reps):
            t = {k: [] for k in targets}
            names = list(targets)
            for i in range(a.samples):
                for j in range(len(names)):
                    name = names[(i + j) % len(names)]
                    t[name].append(ttfb(targets[name], f"/o/r{rep}/{name}/{i}.m4s"))
            row = {}
            for name in targets:
                row[name] = {"p50_ms": 1000 * pct(t[name], 50), "p99_ms": 1000 * pct(t[name], 99)}
            for name in ("sluice", "nginx"):
                row[name]["added_p50_ms"] = row[name]["p50_ms"] - row["origin"]["p50_ms"]
                row[name]["added_p99_ms"] = row[name]["p99_ms"] - row["origin"]["p99_ms"]
            for name in ("sluice", "nginx"):
                path = f"/o/storm{rep}/{name}.m4s"
                secs, ok = storm(targets[name], path, a.clients)
                row[name]["storm_fetches"] = origin_count(oport, path)
                row[name]["storm_ok"] = ok
                row[name]["storm_s"] = secs
            for j in range(len(spreaders)):
                name = spreaders[(rep + j) % len(spreaders)]
                before = commit_counters(admins[name]) if name in admins else None
                rate, p50, p99 = spread(targets[name], f"/o/spread{rep}/{name}", a.spread,
                                        a.spread_conns)
                row.setdefault(name, {}).update(spread_per_s=rate, spread_p50_ms=p50,
                                                spread_p99_ms=p99)
                if before:
                    after = commit_counters(admins[name])
                    groups = after[1] - before[1]
                    row[name]["spread_per_group"] = (after[0] - before[0]) / groups if groups \
                        else 0.0
            for mode, hint in (("plain", False), ("nor", True)):
                prefix = f"/o/sess{rep}-{mode}"
                ts = session(sport, prefix, a.segments, a.think / 1000.0, hint)[1:]
                fetches = [origin_count(oport, f"{prefix}/seg-{i}.m4s")
                           for i in range(a.segments)]
                row["session_" + mode] = {"p50_ms": 1000 * pct(ts, 50),
                                          "p99_ms": 1000 * pct(ts, 99),
                                          "max_fetches": max(fetches)}
            for mode, su in (("nostart", False), ("start", True)):
                firsts, seconds = [], []
                for k in range(a.starts):
                    t1, t2 = start(sport, f"/o/start{rep}-{mode}-{k}", a.think / 1000.0, su)
                    firsts.append(t1)
                    seconds.append(t2)
                row["start_" + mode] = {"seg1_p50_ms": 1000 * pct(firsts, 50),
                                        "seg2_p50_ms": 1000 * pct(seconds, 50)}
            reps.append(row)
            print(f"# rep {rep}: " + json.dumps(row), flush=True)

        def med(name, field):
            return statistics.median(r[name][field] for r in reps)

        print(f"\nmiss path, origin delay {a.delay:g} ms, {size} B objects, {a.samples} cold "
              f"keys per server per rep, {a.reps} reps (medians of reps)\n")
        print("| server | TTFB p50 ms | TTFB p99 ms | added p50 ms | added p99 ms |"
              f" origin fetches for {a.clients} concurrent cold GETs | complete 200s | storm s |")
        print("|---|---|---|---|---|---|---|---|")
        print(f"| origin direct | {med('origin', 'p50_ms'):.2f} | {med('origin', 'p99_ms'):.2f} |"
              " – | – | – | – | – |")
        for name, label in (("sluice", "sluice-edge"),
                            ("nginx", "nginx proxy_cache + lock")):
            print(f"| {label} | {med(name, 'p50_ms'):.2f} | {med(name, 'p99_ms'):.2f} | "
                  f"{med(name, 'added_p50_ms'):+.2f} | {med(name, 'added_p99_ms'):+.2f} | "
                  f"{med(name, 'storm_fetches'):g} | {med(name, 'storm_ok'):g} | "
                  f"{med(name, 'storm_s'):.2f} |")
        print(f"\n{a.spread} distinct cold keys, {a.spread_conns} at a time, each on a new "
              "connection (medians of reps)\n")
        print("| server | misses/s | last byte p50 ms | last byte p99 ms | commits per group |")
        print("|---|---|---|---|---|")
        for name, label in (("sluice", "sluice-edge"), ("base", "sluice-edge (--edge-base)"),
                            ("nginx", "nginx proxy_cache + lock")):
            if name not in spreaders:
                continue
            per_group = (f"{med(name, 'spread_per_group'):.1f}"
                         if name in admins and med(name, 'spread_per_group') else "–")
            print(f"| {label} | {med(name, 'spread_per_s'):.0f} | "
                  f"{med(name, 'spread_p50_ms'):.1f} | {med(name, 'spread_p99_ms'):.1f} | "
                  f"{per_group} |")
        print(f"\nplayer session on sluice-edge: {a.segments} segments {a.think:g} ms apart, "
              f"TTFB of segments 2..{a.segments} (medians of reps)\n")
        print("| requests | TTFB p50 ms | TTFB p99 ms | most origin fetches of one segment |")
        print("|---|---|---|---|")
        for mode, label in (("plain", "no CMCD"), ("nor", "CMCD nor = next segment")):
            print(f"| {label} | {med('session_' + mode, 'p50_ms'):.2f} | "
                  f"{med('session_' + mode, 'p99_ms'):.2f} | "
                  f"{med('session_' + mode, 'max_fetches'):g} |")
        print(f"\nplayer starts on sluice-edge (cold title, init then segments {a.think:g} ms "
              f"apart, {a.starts} starts per rep; medians of reps)\n")
        print("| requests | segment 1 TTFB p50 ms | segment 2 TTFB p50 ms |")
        print("|---|---|---|")
        for mode, label in (("nostart", "CMCD nor, no su (start prefetch not triggered)"),
                            ("start", "CMCD as dash.js sends it (su on init and segment 1)")):
            print(f"| {label} | {med('start_' + mode, 'seg1_p50_ms'):.2f} | "
                  f"{med('start_' + mode, 'seg2_p50_ms'):.2f} |")
        if a.json:
            with open(a.json, "w") as f:
                json.dump({"reps": reps, "args": vars(a)}, f, indent=1)
    finally:
        for p in reversed(procs):
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        cc.close()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
