#!/usr/bin/env python3
"""Hit-path benchmark: sluice-edge beside nginx (and h2o) serving the same files, warm cache.

Every server serves identical objects of each size; wrk loads each over loopback in turn, in two
modes (shared cores; pinned: server on CPU 0, wrk on CPU 1). For every run we read the server's
own CPU time from /proc, so efficiency (requests or Gbit/s per server core) can be compared even
when wrk saturates its core first. Each cell is repeated and the median reported. The servers run
side by side and take turns within each repetition (the order rotating), so drift in the shared
machine's load falls on all of them; "paired" is the median over repetitions of sluice's req/s
per core over nginx's in the same repetition. With --edge-base, a second sluice-edge build
(e.g. the one before a change) runs beside them as sluice-base, and each cell also prints the
paired ratio of sluice over sluice-base. Each line also splits the server's CPU per request into
user space and kernel (utime and stime), which says whether a gap is in the server's own code or
in the kernel work every server pays per request.

Usage: tools/bench/hit_bench.py --edge build/edge/sluice-edge [--edge-base OTHER] [--duration 10]
       [--reps 3] [--sizes 2K,64K,1M,4M] [--conns 64,256] [--modes shared,pinned]
       [--servers sluice,nginx,h2o] [--idle 10000] [--congestion NAME] [--json OUT]

--congestion sets the machine's TCP congestion control (as root) for the run and puts the one
before back after; without it the run uses the machine's, and says which.
"""
import argparse
import contextlib
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

SIZES = {"2K": 2048, "4K": 4096, "8K": 8192, "16K": 16384, "64K": 65536, "1M": 1 << 20, "4M": 4 << 20}
CLK_TCK = os.sysconf("SC_CLK_TCK")


def parse_size(s):
    """Bytes from "1M", "64K" or a plain count."""
    mult = {"K": 1024, "M": 1 << 20}.get(s[-1].upper(), 1)
    return int(s[:-1] if mult > 1 else s) * mult


CC_NOW = "/proc/sys/net/ipv4/tcp_congestion_control"
CC_AVAILABLE = "/proc/sys/net/ipv4/tcp_available_congestion_control"


@contextlib.contextmanager
def congestion(name):
    """The TCP congestion control a run's connections get: the machine's as it is (name None),
    or name, set for the run and the machine's put back after. Yields the one in force.

    On loopback the sender's congestion control decides how often a server's bursts are paced
    (bbr paces each connection with a timer of its own; cubic does not), and that costs
    servers unequally (docs/bench.md, "Congestion control"): every report says which it ran
    under. Sockets take it when they are made, so servers start inside this block."""
    with open(CC_NOW) as f:
        before = f.read().strip()
    if not name or name == before:
        print(f"tcp congestion control: {before} (the machine's)", flush=True)
        yield before
        return
    with open(CC_AVAILABLE) as f:
        avail = f.read().split()
    if name not in avail:
        sys.exit(f"--congestion {name}: not available on this machine (it has {' '.join(avail)})")
    try:
        with open(CC_NOW, "w") as f:
            f.write(name)
    except OSError as e:
        sys.exit(f"--congestion {name}: cannot set {CC_NOW} ({e.strerror}); it needs root")
    print(f"tcp congestion control: {name} for this run (the machine's {before} put back after)",
          flush=True)
    try:
        yield name
    finally:
        with open(CC_NOW, "w") as f:
            f.write(before)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, deadline=15.0):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)  # polling a port that is not listening yet; no event to wait on
    raise RuntimeError(f"port {port} did not open")


def proc_tree(pid):
    """pid and all its descendants."""
    out = [pid]
    try:
        kids = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    except OSError:
        kids = []
    for k in kids:
        out += proc_tree(int(k))
    return out


def cpu_split(pids):
    """The processes' CPU seconds in user space and in the kernel (every thread's)."""
    user = kernel = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            user, kernel = user + int(fields[11]), kernel + int(fields[12])  # utime, stime
            # Exited children were reaped into cutime/cstime of the parent; workers live on.
        except OSError:
            pass
    return user / CLK_TCK, kernel / CLK_TCK


def cpu_seconds(pids):
    return sum(cpu_split(pids))


def per_request_us(r, before, after, duration):
    """Server CPU per request in user space and in the kernel, µs, from two cpu_split()s around
    a run of duration s at r["rps"] (the kernel's share of a loopback response includes the
    receiving socket's TCP work, done in the sender's context)."""
    reqs = max(r["rps"] * duration, 1)
    r["user_us"] = (after[0] - before[0]) * 1e6 / reqs
    r["kernel_us"] = (after[1] - before[1]) * 1e6 / reqs


def rss_kib(pids):
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


class Server:
    name = "?"

    def __init__(self, root, files, workers, cpus):
        self.root, self.files, self.workers, self.cpus = root, files, workers, cpus
        self.port = free_port()
        self.proc = None

    def pids(self):
        return proc_tree(self.proc.pid)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def taskset(self):
        return ["taskset", "-c", self.cpus] if self.cpus else []


class Nginx(Server):
    name = "nginx"

    def http_extra(self):
        """Directives added to the http block (TLS settings in tls_bench)."""
        return ""

    def server_blocks(self):
        return f"  server {{ listen 127.0.0.1:{self.port} reuseport; root {self.root}; }}\n"

    def wait_ready(self):
        wait_port(self.port)

    def start(self, work):
        conf = os.path.join(work, f"nginx-{self.port}.conf")
        with open(conf, "w") as f:
            f.write(f"""daemon off;
worker_processes {self.workers};
pid {work}/nginx-{self.port}.pid;
error_log {work}/nginx-error.log warn;
worker_rlimit_nofile 65536;
events {{ worker_connections 20000; multi_accept on; }}
http {{
  access_log off;
  sendfile on; tcp_nopush on; tcp_nodelay on;
  open_file_cache max=10000 inactive=60s; open_file_cache_valid 60s;
  keepalive_requests 1000000; keepalive_timeout 120s;
  types {{ video/iso.segment m4s; video/mp4 mp4; }}
""" + self.http_extra() + self.server_blocks() + "}\n")
        self.proc = subprocess.Popen(self.taskset() + ["nginx", "-c", conf, "-p", work],
                                     start_new_session=True)
        self.wait_ready()


class H2o(Server):
    name = "h2o"

    def listeners(self):
        return f"""listen:
  host: 127.0.0.1
  port: {self.port}
"""

    def wait_ready(self):
        wait_port(self.port)

    def start(self, work):
        conf = os.path.join(work, f"h2o-{self.port}.conf")
        with open(conf, "w") as f:
            f.write(self.listeners() + f"""num-threads: {self.workers}
max-connections: 20000
http1-request-timeout: 120
http2-idle-timeout: 120
hosts:
  default:
    paths:
      /:
        file.dir: {self.root}
""")
        self.proc = subprocess.Popen(self.taskset() + ["h2o", "-c", conf], start_new_session=True,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.wait_ready()


class Sluice(Server):
    name = "sluice"
    binary = None

    def listeners(self):
        return f'listen: ["127.0.0.1:{self.port}"]\n'

    def wait_ready(self):
        wait_port(self.port)

    def start(self, work):
        self.admin_port = free_port()
        cache = os.path.join(work, f"sluice-cache-{self.port}")
        os.makedirs(cache, exist_ok=True)
        token = os.path.join(work, "admin.token")
        with open(token, "w") as f:
            f.write("bench-admin-token\n")
        conf = os.path.join(work, f"sluice-{self.port}.yaml")
        with open(conf, "w") as f:
            f.write(self.listeners() + f"""workers: {self.workers}
admin: {{listen: "127.0.0.1:{self.admin_port}", token_file: {token}}}
cache: {{dir: {cache}, max_size: 4G}}
limits: {{max_connections: 20000, idle_timeout: 120s}}
log: {{level: warn}}
tokens: {{required: false}}
""")
        self.proc = subprocess.Popen(self.taskset() + [self.binary, "--config", conf],
                                     start_new_session=True)
        wait_port(self.admin_port)
        self.wait_ready()
        for name, path in self.files.items():
            with open(path, "rb") as f:
                body = f.read()
            req = urllib.request.Request(f"http://127.0.0.1:{self.admin_port}/admin/objects/{name}",
                                         data=body, method="PUT",
                                         headers={"Authorization": "Bearer bench-admin-token"})
            with urllib.request.urlopen(req) as r:
                assert r.status in (200, 201, 204), r.status


class SluiceBase(Sluice):
    """A second sluice-edge binary (e.g. the build before a change), for an A/B in one run."""
    name = "sluice-base"
    base_binary = None

    def start(self, work):
        saved = Sluice.binary
        Sluice.binary = self.base_binary
        try:
            super().start(work)
        finally:
            Sluice.binary = saved


WRK_RE = {
    "rps": re.compile(r"Requests/sec:\s+([\d.]+)"),
    "bytes": re.compile(r"Transfer/sec:\s+([\d.]+)(\w+)"),
    "p50": re.compile(r"^\s+50%\s+([\d.]+)(\w+)", re.M),
    "p99": re.compile(r"^\s+99%\s+([\d.]+)(\w+)", re.M),
    "errors": re.compile(r"Non-2xx or 3xx responses:\s+\d+|Socket errors:.*"),
}
UNIT = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}
TUNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def wrk_checked(out, what):
    """Refuse a run with non-2xx/3xx answers or socket errors (connect, read, write, or a
    response past --timeout, which wrk leaves out of its latencies): an error path must not
    look fast, nor a stalled response leave the percentiles."""
    bad = WRK_RE["errors"].search(out)
    if bad:
        raise RuntimeError(f"wrk saw errors on {what}: {bad.group(0)}\n{out}")


def run_wrk(port, path, conns, duration, cpus):
    cmd = (["taskset", "-c", cpus] if cpus else []) + [
        "wrk", "-t", "1" if cpus else "2", "-c", str(conns), "-d", f"{duration}s", "--latency",
        "--timeout", "30s", f"http://127.0.0.1:{port}/{path}"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    wrk_checked(out, f"port {port}")
    rps = float(WRK_RE["rps"].search(out).group(1))
    m = WRK_RE["bytes"].search(out)
    wire = float(m.group(1)) * UNIT[m.group(2)] * 8
    p50 = WRK_RE["p50"].search(out)
    p99 = WRK_RE["p99"].search(out)
    # Gbit/s of bodies (req/s x size): wrk's Transfer/sec counts response heads too, and the
    # servers' heads differ in length (Sluice's carries CORS, Cache-Status and CMSD).
    return {"rps": rps, "gbps": rps * SIZES[path] * 8 / 1e9, "wire_gbps": wire / 1e9,
            "p50_ms": float(p50.group(1)) * TUNIT[p50.group(2)],
            "p99_ms": float(p99.group(1)) * TUNIT[p99.group(2)]}


def verify_body(srv, size, path):
    """One GET of size from srv, compared byte for byte with the file it must serve."""
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(f"GET /{size} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
        got = b""
        while True:
            d = s.recv(1 << 20)
            if not d:
                break
            got += d
    head, _, body = got.partition(b"\r\n\r\n")
    with open(path, "rb") as f:
        want = f.read()
    if not head.startswith(b"HTTP/1.1 200") or body != want:
        raise RuntimeError(f"{srv.name}: GET /{size} is not the file ({head[:40]!r}, "
                           f"{len(body)} of {len(want)} bytes)")


def idle_rss(server, n):
    """RSS growth per idle keep-alive connection: n connections, each served one request."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, n + 1000), max(hard, n + 1000)))
    path = "2K"
    base = rss_kib(server.pids())
    socks = []
    req = f"GET /{path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    try:
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", server.port))
            s.sendall(req)
            socks.append(s)
        for s in socks:  # drain each response so the server is back to idle keep-alive
            got = b""
            while b"\r\n\r\n" not in got:
                got += s.recv(65536)
            head, _, body = got.partition(b"\r\n\r\n")
            clen = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
            while len(body) < clen:
                body += s.recv(65536)
        time.sleep(1.0)  # let the server settle into idle; RSS is sampled, not an event
        after = rss_kib(server.pids())
        alive = sum(1 for s in socks if s.fileno() >= 0)
    finally:
        for s in socks:
            s.close()
    return {"connections": alive, "rss_before_kib": base, "rss_after_kib": after,
            "bytes_per_conn": (after - base) * 1024 / max(alive, 1)}


def bench_files(prefix, sizes):
    """A temp dir with www/<size> of random bytes for each size: (work dir, www, {size: path})."""
    work = tempfile.mkdtemp(prefix=prefix)
    os.chmod(work, 0o755)  # nginx workers run unprivileged and must read the files
    root = os.path.join(work, "www")
    os.makedirs(root)
    files = {}
    for s in sizes:
        files[s] = os.path.join(root, s)
        with open(files[s], "wb") as f:
            f.write(os.urandom(SIZES[s]))
    return work, root, files


def one_run(srv, size, conns, duration, wrk_cpus):
    c0 = cpu_split(srv.pids())
    t0 = time.monotonic()
    r = run_wrk(srv.port, size, conns, duration, wrk_cpus)
    c1 = cpu_split(srv.pids())
    r["server_cores"] = (sum(c1) - sum(c0)) / (time.monotonic() - t0)
    per_request_us(r, c0, c1, duration)
    r["rps_per_core"] = r["rps"] / max(r["server_cores"], 1e-9)
    r["gbps_per_core"] = r["gbps"] / max(r["server_cores"], 1e-9)
    return r


def run_mode(a, mode, kinds, root, files, work, sizes):
    """Every server started at once; each repetition runs them one after another, in an order
    that rotates, so a change in the machine's load falls on all of them alike. Per cell: each
    server's medians, and for sluice the median over repetitions of its ratio to nginx in the
    same repetition."""
    server_cpus = "0" if mode == "pinned" else None
    wrk_cpus = "1" if mode == "pinned" else None
    workers = 1 if mode == "pinned" else os.cpu_count()
    started, results = [], []
    try:
        for kind in kinds:
            srv = kind(root, files, workers, server_cpus)
            started.append(srv)
            srv.start(work)
        if a.idle and mode == "shared":
            # Before any load: memory a server kept from the load runs would hide idle
            # connections inside it.
            for srv in started:
                r = idle_rss(srv, a.idle)
                results.append({"mode": "idle", "server": srv.name, **r})
                print(f"idle   {srv.name:6} {r['connections']} conns: {r['bytes_per_conn']:.0f} bytes RSS per idle connection", flush=True)
        for size in sizes:
            for srv in started:
                verify_body(srv, size, files[size])
                run_wrk(srv.port, size, 16, 1, wrk_cpus)  # warm the page cache and fd caches
            for conns in map(int, a.conns.split(",")):
                reps = {srv.name: [] for srv in started}
                for i in range(a.reps):
                    k = i % len(started)
                    for srv in started[k:] + started[:k]:
                        reps[srv.name].append(one_run(srv, size, conns, a.duration, wrk_cpus))
                for srv in started:
                    rs = reps[srv.name]
                    # Each figure the median of its own per-run values (per core: per run).
                    med = {k: statistics.median(x[k] for x in rs) for k in rs[0]}
                    if srv.name.startswith("sluice") and "nginx" in reps:
                        pairs = zip(rs, reps["nginx"])
                        med["paired_ratio"] = statistics.median(
                            x["rps_per_core"] / y["rps_per_core"] for x, y in pairs)
                    if srv.name == "sluice" and "sluice-base" in reps:
                        pairs = zip(rs, reps["sluice-base"])
                        med["paired_base"] = statistics.median(
                            x["rps_per_core"] / y["rps_per_core"] for x, y in pairs)
                    row = {"mode": mode, "server": srv.name, "size": size, "conns": conns, **med}
                    results.append(row)
                    print(f"{mode:6} {srv.name:11} {size:>4} c={conns:<3} {med['rps']:>10.0f} req/s "
                          f"{med['gbps']:6.2f} Gbit/s p50 {med['p50_ms']:.2f} ms p99 {med['p99_ms']:.2f} ms "
                          f"cores {med['server_cores']:.2f} -> {med['rps_per_core']:.0f} req/s/core "
                          f"{med['gbps_per_core']:.2f} Gbit/s/core, CPU us/req user "
                          f"{med['user_us']:.2f} kernel {med['kernel_us']:.2f}", flush=True)
    finally:
        for srv in started:
            srv.stop()
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--edge", required=True)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--sizes", default="2K,64K,1M,4M")
    ap.add_argument("--conns", default="64,256")
    ap.add_argument("--modes", default="shared,pinned")
    ap.add_argument("--servers", default="sluice,nginx,h2o")
    ap.add_argument("--edge-base", help="a second sluice-edge binary, measured as sluice-base")
    ap.add_argument("--idle", type=int, default=10000, help="idle connections for the RSS test (0: skip)")
    ap.add_argument("--congestion", help="TCP congestion control for the run (e.g. cubic, bbr)")
    ap.add_argument("--json", help="write all results here")
    a = ap.parse_args()
    Sluice.binary = os.path.abspath(a.edge)
    sizes = a.sizes.split(",")
    kinds = {"sluice": Sluice, "nginx": Nginx, "h2o": H2o}
    servers = [s for s in a.servers.split(",") if s == "sluice" or shutil.which(s)]
    if a.edge_base:
        SluiceBase.base_binary = os.path.abspath(a.edge_base)
        kinds["sluice-base"] = SluiceBase
        servers.insert(servers.index("sluice") + 1 if "sluice" in servers else 0, "sluice-base")
    work, root, files = bench_files("sluice-bench-", sizes)
    results = []
    try:
        with congestion(a.congestion) as cc:
            for mode in a.modes.split(","):
                results += run_mode(a, mode, [kinds[n] for n in servers], root, files, work, sizes)
        for r in results:
            r["congestion"] = cc
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)
    print_table(results)


def print_table(results):
    print("\n| mode | size | conns | server | req/s | Gbit/s | p50 ms | p99 ms | server cores | req/s per core | Gbit/s per core |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        if r["mode"] == "idle":
            continue
        print(f"| {r['mode']} | {r['size']} | {r['conns']} | {r['server']} | {r['rps']:.0f} | {r['gbps']:.2f} | "
              f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['server_cores']:.2f} | {r['rps_per_core']:.0f} | "
              f"{r['gbps_per_core']:.2f} |")
    base = {(r["mode"], r["size"], r["conns"]): r for r in results if r.get("server") == "nginx" and r["mode"] != "idle"}
    print("\nsluice / nginx ratios (per server core):")
    for r in results:
        if not r.get("server", "").startswith("sluice") or r["mode"] == "idle":
            continue
        b = base.get((r["mode"], r["size"], r["conns"]))
        if b:
            vs_base = f"  sluice / sluice-base paired x{r['paired_base']:.2f}" if "paired_base" in r else ""
            print(f"  {r['server']:11} {r['mode']:6} {r['size']:>4} c={r['conns']:<3} "
                  f"req/s/core x{r['rps_per_core'] / b['rps_per_core']:.2f} "
                  f"(paired x{r.get('paired_ratio', 0):.2f})  "
                  f"Gbit/s x{r['gbps'] / b['gbps']:.2f}  p99 {r['p99_ms']:.2f} vs {b['p99_ms']:.2f} ms"
                  f"{vs_base}")
    for r in results:
        if r["mode"] == "idle":
            print(f"  idle RSS {r['server']}: {r['bytes_per_conn']:.0f} B/conn over {r['connections']} connections")


if __name__ == "__main__":
    sys.exit(main())
