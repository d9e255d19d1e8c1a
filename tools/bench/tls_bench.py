#!/usr/bin/env python3
"""TLS and HTTP/2 benchmark: sluice-edge beside nginx and h2o serving the same files.

Scenarios (each at every size):
  https1  HTTPS with HTTP/1.1, wrk
  h2      HTTP/2 over TLS (ALPN h2), h2load
  h2c     HTTP/2 over cleartext with prior knowledge, h2load

Certificates come from a local CA made at start (openssl CLI). Before each scenario, curl
fetches the object through the scenario's protocol trusting only that CA (full verification)
and the body is compared with the file; the load generators themselves do not verify.

As in hit_bench.py: same files, same machine, server CPU time from /proc for Gbit/s per
server core, median of the repeats; the servers run side by side and take turns within each
repetition (the order rotating), and sluice's ratio to the better of the others is printed
per cell, also paired (the median of the ratios within each repetition). Modes: pinned (server on
CPU 0, client on CPU 1) or shared. p99 for h2load comes from its per-request log. Each line also
splits the server's CPU per response into user space and kernel (utime and stime; on loopback
the kernel's share includes the receiving socket's TCP work, done in the sender's context).

Usage: tools/bench/tls_bench.py --edge build/edge/sluice-edge [--duration 10] [--reps 3]
       [--sizes 64K,1M] [--conns 64] [--scenarios https1,h2,h2c] [--servers sluice,nginx,h2o]
       [--modes pinned] [--congestion NAME] [--json OUT] [--tls12] [--ktls]

--congestion: as in hit_bench.py, the TCP congestion control for the run (the machine's
otherwise, named in the output).

--tls12: the clients speak TLS 1.2 with ECDHE-ECDSA-AES128-GCM-SHA256 (the certificate is
P-256), as older players and devices do: wrk through an OpenSSL configuration capping its
version (OPENSSL_CONF); h2load, which sets its highest version itself, with
tls12-client-shim.c preloaded (built with cc at start); curl with --tls-max 1.2. Each h2load
run checks that it negotiated TLS 1.2.

--ktls: the servers that can send through kernel TLS do: Sluice with `ktls: true`, nginx with
`ssl_conf_command Options KTLS` (OpenSSL 3 moves its connections to the kernel then); h2o 2.2
has no kernel TLS and runs as without it. It needs the kernel's tls module and stops at once
where tcp_available_ulp lacks "tls" (as on machines without it). Before each TLS scenario's
runs, the check's own connection to Sluice must be counted on the kTLS path in its /metrics,
or the run stops: a figure from the userspace path would be taken for a kTLS one. nginx's path
is not checked.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hit_bench as hb  # noqa: E402  (shared helpers: ports, /proc CPU, wrk parsing)

SIZES = {"64K": 65536, "1M": 1 << 20, "4M": 4 << 20}
TLS12_SUITE = "ECDHE-ECDSA-AES128-GCM-SHA256"
TLS12 = {"on": False, "env": None}  # set by --tls12 (see use_tls12)
KTLS = {"on": False}  # set by --ktls


def kernel_has_tls():
    """Whether the kernel offers its tls module (the TCP_ULP kTLS needs)."""
    try:
        with open("/proc/sys/net/ipv4/tcp_available_ulp") as f:
            return "tls" in f.read().split()
    except OSError:
        return False


def ktls_connections(srv):
    """Sluice's connections sent through kernel TLS so far, from its /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{srv.admin_port}/metrics", timeout=10) as r:
        text = r.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("sluice_tls_connections_total{") and 'send_path="ktls"' in line)


def use_tls12(work):
    """Make every client of this run speak TLS 1.2 (--tls12)."""
    conf = os.path.join(work, "openssl-tls12.cnf")
    with open(conf, "w") as f:
        f.write("openssl_conf = default_conf\n[default_conf]\nssl_conf = ssl_sect\n"
                "[ssl_sect]\nsystem_default = tls12\n"
                f"[tls12]\nMaxProtocol = TLSv1.2\nCipherString = {TLS12_SUITE}\n")
    shim = os.path.join(work, "tls12-client-shim.so")
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tls12-client-shim.c")
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", shim, src, "-ldl"], check=True)
    TLS12.update(on=True, env=dict(os.environ, OPENSSL_CONF=conf, LD_PRELOAD=shim))


def h2load_out(cmd):
    """Run h2load (cmd ends with its URL) and return its output. Under --tls12 an https URL
    gets the suite, the environment of use_tls12, and a check that TLS 1.2 was negotiated."""
    if not (TLS12["on"] and cmd[-1].startswith("https:")):
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    out = subprocess.run(cmd[:-1] + [f"--ciphers={TLS12_SUITE}", cmd[-1]], capture_output=True,
                         text=True, check=True, env=TLS12["env"]).stdout
    if not re.search(r"^TLS Protocol: TLSv1\.2$", out, re.M):
        raise RuntimeError(f"h2load did not negotiate TLS 1.2:\n{out}")
    return out


def make_ca(work):
    """A CA and a leaf for "bench.test" and 127.0.0.1. Returns (ca, cert, key)."""
    d = os.path.join(work, "pki")
    os.makedirs(d, exist_ok=True)
    sh = f"""set -e; cd {d}
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=bench-ca \
  -keyout ca.key -out ca.pem -addext basicConstraints=critical,CA:TRUE \
  -addext keyUsage=keyCertSign,cRLSign
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=bench.test \
  -keyout leaf.key -out leaf.csr
printf 'subjectAltName=DNS:bench.test,IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\n' > leaf.ext
openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
  -extfile leaf.ext -out leaf.pem
"""
    subprocess.run(["sh", "-c", sh], check=True, capture_output=True)
    return os.path.join(d, "ca.pem"), os.path.join(d, "leaf.pem"), os.path.join(d, "leaf.key")


class TlsServer(hb.Server):
    """A server with a TLS port (https1, h2) and a cleartext one (h2c)."""

    def __init__(self, root, files, workers, cpus, pki):
        super().__init__(root, files, workers, cpus)
        self.tls_port = hb.free_port()
        self.ca, self.cert, self.key = pki

    def url(self, scenario, path):
        if scenario == "h2c":
            return f"http://127.0.0.1:{self.port}/{path}"
        return f"https://127.0.0.1:{self.tls_port}/{path}"


MOZILLA_INTERMEDIATE = ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                        "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                        "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
                        "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384")


class Nginx(TlsServer, hb.Nginx):
    """hit_bench's nginx with Mozilla intermediate TLS; h2c needs its own server block."""

    def http_extra(self):
        return f"""  ssl_protocols TLSv1.2 TLSv1.3;
  ssl_ciphers {MOZILLA_INTERMEDIATE};
  ssl_prefer_server_ciphers off;
  ssl_session_cache shared:SSL:10m;
""" + ("  ssl_conf_command Options KTLS;\n" if KTLS["on"] else "")

    def server_blocks(self):
        return f"""  server {{ listen 127.0.0.1:{self.tls_port} ssl http2 reuseport; root {self.root};
           ssl_certificate {self.cert}; ssl_certificate_key {self.key}; }}
  server {{ listen 127.0.0.1:{self.port} http2 reuseport; root {self.root}; }}
"""

    def wait_ready(self):
        hb.wait_port(self.port)
        hb.wait_port(self.tls_port)


class H2o(TlsServer, hb.H2o):
    def listeners(self):
        return super().listeners() + f"""listen:
  host: 127.0.0.1
  port: {self.tls_port}
  ssl:
    certificate-file: {self.cert}
    key-file: {self.key}
    minimum-version: TLSv1.2
    cipher-suite: {MOZILLA_INTERMEDIATE}
"""

    def wait_ready(self):
        hb.wait_port(self.port)
        hb.wait_port(self.tls_port)


class Sluice(TlsServer, hb.Sluice):
    def listeners(self):
        return super().listeners() + (
            f'tls: [{{listen: "127.0.0.1:{self.tls_port}", '
            f'ktls: {"true" if KTLS["on"] else "false"}, '
            f'certs: [{{cert: {self.cert}, key: {self.key}}}]}}]\n'
            "http2: {cleartext: true}\n")

    def wait_ready(self):
        hb.wait_port(self.port)
        hb.wait_port(self.tls_port, deadline=5.0)


def verify(server, scenario, name, path):
    """curl through the scenario's protocol, verifying against the local CA; compare bytes."""
    flag = {"https1": "--http1.1", "h2": "--http2", "h2c": "--http2-prior-knowledge"}[scenario]
    tls = ["--tls-max", "1.2"] if TLS12["on"] and scenario != "h2c" else []
    check_ktls = KTLS["on"] and scenario != "h2c" and isinstance(server, Sluice)
    ktls_before = ktls_connections(server) if check_ktls else 0.0
    out = subprocess.run(["curl", "-sS", "--fail", flag, *tls, "--cacert", server.ca, "-o", "-",
                          "-w", "", server.url(scenario, name)], capture_output=True)
    if out.returncode != 0:
        raise RuntimeError(f"{server.name} {scenario}: curl failed: {out.stderr.decode().strip()}")
    with open(path, "rb") as f:
        if f.read() != out.stdout:
            raise RuntimeError(f"{server.name} {scenario}: body differs from {path}")
    # This verify's own connection, not any before it: each scenario's path is checked.
    if check_ktls and ktls_connections(server) <= ktls_before:
        raise RuntimeError(f"{server.name} {scenario}: --ktls, yet this check's connection did "
                           "not go through kernel TLS (sluice_tls_connections_total)")


H2LOAD_RE = re.compile(r"finished in ([\d.]+)s, ([\d.]+) req/s, ([\d.]+)([KMG]?B)/s")
H2UNIT = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30}


def run_h2load(url, conns, duration, cpus, work):
    log = os.path.join(work, "h2load.log")
    if os.path.exists(log):  # h2load appends: p99 must be this run's alone
        os.unlink(log)
    cmd = (["taskset", "-c", cpus] if cpus else []) + [
        "h2load", "-t", "1" if cpus else "2", "-c", str(conns), "-m", "1", "-D", str(duration),
        "--warm-up-time", "1", "--log-file", log, url]
    out = h2load_out(cmd)
    m = H2LOAD_RE.search(out)
    if not m:
        raise RuntimeError(f"cannot parse h2load output:\n{out}")
    fails = re.search(r"requests: .* (\d+) failed, (\d+) errored", out)
    if fails and (int(fails.group(1)) or int(fails.group(2))):
        raise RuntimeError(f"h2load saw failures:\n{out}")
    lat = []
    with open(log) as f:
        for line in f:
            parts = line.split("\t")
            if len(parts) >= 3 and parts[1] == "200":
                lat.append(int(parts[2]) / 1000.0)
    lat.sort()
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))] if lat else float("nan")
    cipher = re.search(r"^Cipher: (\S+)", out, re.M)
    # Bodies only (req/s x size), as for wrk; h2load's own figure counts frames and heads.
    return {"rps": float(m.group(2)),
            "gbps": float(m.group(2)) * hb.SIZES[url.rsplit("/", 1)[1]] * 8 / 1e9,
            "p99_ms": p99, "cipher": cipher.group(1) if cipher else ""}


def run_wrk_https(url, conns, duration, cpus):
    cmd = (["taskset", "-c", cpus] if cpus else []) + [
        "wrk", "-t", "1" if cpus else "2", "-c", str(conns), "-d", f"{duration}s", "--latency",
        "--timeout", "30s", url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=TLS12["env"]).stdout
    hb.wrk_checked(out, url)
    rps = float(hb.WRK_RE["rps"].search(out).group(1))
    p99 = hb.WRK_RE["p99"].search(out)
    # Bodies only (req/s x size), as hit_bench counts them; h2load's figure is its own.
    return {"rps": rps, "gbps": rps * hb.SIZES[url.rsplit("/", 1)[1]] * 8 / 1e9,
            "p99_ms": float(p99.group(1)) * hb.TUNIT[p99.group(2)]}


def measure(srv, scen, size, a, client_cpus, work):
    """One run against one server: its req/s, Gbit/s, p99 and its own CPU time."""
    pids = srv.pids()
    cpu0, t0 = hb.cpu_split(pids), time.monotonic()
    url = srv.url(scen, size)
    if scen == "https1":
        r = run_wrk_https(url, a.conns, a.duration, client_cpus)
    else:
        r = run_h2load(url, a.conns, a.duration, client_cpus, work)
    cpu1 = hb.cpu_split(pids)
    cores = (sum(cpu1) - sum(cpu0)) / (time.monotonic() - t0)
    hb.per_request_us(r, cpu0, cpu1, a.duration)
    r["server_cores"] = cores
    r["gbps_per_core"] = r["gbps"] / cores if cores > 0 else 0.0
    return r


def run_mode(a, mode, servers, kinds, root, files, pki, work):
    """Every server started side by side; per scenario and size, each repetition runs every
    server once, the order rotating from one repetition to the next, so a change in the
    shared machine's speed falls on all of them alike. Prints medians and, for sluice, the
    ratio to the better of the others per core, also paired (median over repetitions of the
    ratio within one repetition)."""
    server_cpus, client_cpus = ("0", "1") if mode == "pinned" else (None, None)
    running = []
    out = []
    try:
        for kind in servers:
            srv = kinds[kind](root, files, 1 if mode == "pinned" else 2, server_cpus, pki)
            try:
                srv.start(work)
            except Exception as e:  # a server without TLS support, a port that never opens
                srv.stop()
                # "The better of them" over fewer servers would be a weaker claim, made
                # silently: the run stops instead.
                raise RuntimeError(f"{kind}: cannot start ({e})") from e
            running.append((kind, srv))
        for scen in a.scenarios.split(","):
            for size in a.sizes.split(","):
                live = []
                for kind, srv in running:
                    verify(srv, scen, size, files[size])  # raises: no cell without every server
                    live.append((kind, srv))
                reps = {kind: [] for kind, _ in live}
                for i in range(a.reps):
                    order = live[i % len(live):] + live[:i % len(live)] if live else []
                    for kind, srv in order:
                        reps[kind].append(measure(srv, scen, size, a, client_cpus, work))
                for kind, _ in live:
                    rs = reps[kind]
                    med = {k: statistics.median(x[k] for x in rs) for k in rs[0] if k != "cipher"}
                    med["cipher"] = rs[0].get("cipher", "")
                    med.update({"server": kind, "scenario": scen, "size": size, "mode": mode,
                                "conns": a.conns, "reps": a.reps, "duration_s": a.duration,
                                "runs_gbps_per_core": [x["gbps_per_core"] for x in rs]})
                    out.append(med)
                    print(f"{kind:7} {mode:7} {scen:7} {size:>4}  {med['rps']:10.0f} req/s"
                          f"  {med['gbps']:6.2f} Gbit/s  p99 {med['p99_ms']:7.2f} ms"
                          f"  {med['server_cores']:4.2f} cores"
                          f"  {med['gbps_per_core']:6.2f} Gbit/s/core"
                          f"  us/req user {med['user_us']:.2f} kernel {med['kernel_us']:.2f}"
                          f"  {med['cipher']}",
                          flush=True)
                others = [k for k, _ in live if k != "sluice"]
                if "sluice" in reps and others:
                    def per_core(k, i=None):
                        v = [x["gbps_per_core"] for x in reps[k]]
                        return statistics.median(v) if i is None else v[i]
                    best = max(per_core(k) for k in others)
                    paired = statistics.median(
                        per_core("sluice", i) / max(per_core(k, i) for k in others)
                        for i in range(a.reps))
                    print(f"  sluice / better of {','.join(others)} per core: "
                          f"x{per_core('sluice') / best:.2f} (paired x{paired:.2f})", flush=True)
    finally:
        for _, srv in running:
            srv.stop()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--edge", default=None)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--sizes", default="64K,1M")
    ap.add_argument("--conns", type=int, default=64)
    ap.add_argument("--scenarios", default="https1,h2,h2c")
    ap.add_argument("--servers", default="sluice,nginx,h2o")
    ap.add_argument("--modes", default="pinned")
    ap.add_argument("--congestion", help="TCP congestion control for the run (e.g. cubic, bbr)")
    ap.add_argument("--json")
    ap.add_argument("--tls12", action="store_true", help="clients speak TLS 1.2 (see above)")
    ap.add_argument("--ktls", action="store_true", help="servers send through kernel TLS")
    a = ap.parse_args()
    if a.ktls and not kernel_has_tls():
        sys.exit('--ktls: the kernel has no tls module (/proc/sys/net/ipv4/tcp_available_ulp '
                 'lacks "tls"; modprobe tls, as root): nothing to measure')
    KTLS["on"] = a.ktls

    kinds = {"sluice": Sluice, "nginx": Nginx, "h2o": H2o}
    servers = a.servers.split(",")
    if "sluice" in servers:
        if not a.edge:
            sys.exit("--edge is required to run sluice")
        Sluice.binary = os.path.abspath(a.edge)
    work = tempfile.mkdtemp(prefix="sluice-tls-bench-")
    os.chmod(work, 0o755)
    pki = make_ca(work)
    if a.tls12:
        use_tls12(work)
    for p in pki:
        os.chmod(p, 0o644)
    root = os.path.join(work, "www")
    os.makedirs(root)
    files = {}
    for s in a.sizes.split(","):
        path = os.path.join(root, s)
        with open(path, "wb") as f:
            f.write(os.urandom(SIZES[s]))
        files[s] = path

    results = []
    try:
        with hb.congestion(a.congestion) as cc:
            for mode in a.modes.split(","):
                results += run_mode(a, mode, servers, kinds, root, files, pki, work)
        for r in results:
            r["congestion"] = cc
            r["tls"] = "1.2" if a.tls12 else "1.3"
            r["ktls"] = a.ktls
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
