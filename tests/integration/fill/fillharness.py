# SPDX-License-Identifier: MIT
"""Harness for sluice-fill integration tests (Python standard library only).

Real processes: the sluice-fill binary under test and a real sluice-edge (started through
tests/integration/edgeharness.py). The origin is a real HTTP server over a directory of
files (http.server in a thread of this process); a test may make it serve one wrong byte for
one path, deliberately. The control plane's fill plan is served by a stand-in: a small
http.server answering GET /v1/fill/plan?edge=<id> with the JSON control's SQL function
sluice_fill_plan() produces (docs/fill.md), because sluice-control has no HTTP endpoint for it
yet.

    python3 test_x.py /path/to/sluice-fill /path/to/sluice-edge

Exit status: 0 passed, 1 failed, 77 skipped (a binary missing).
"""

import hashlib
import http.server
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
import edgeharness as eh  # noqa: E402

SKIP = 77
Fail = eh.Fail
check = eh.check
eq = eh.eq


class _Quiet(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # clients hanging up mid-body (a killed agent, a refused object) are expected


class Origin:
    """Files under a temp dir, served over HTTP/1.1 with Content-Length."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="sluice-fill-origin-")
        self.corrupt = set()  # paths served with one byte flipped
        self.gets = {}
        self.lock = threading.Lock()
        origin = self

        class H(_Quiet):
            def do_GET(self):
                path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
                full = os.path.normpath(os.path.join(origin.dir, path.lstrip("/")))
                if not full.startswith(origin.dir) or not os.path.isfile(full):
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                with origin.lock:
                    origin.gets[path] = origin.gets.get(path, 0) + 1
                size = os.path.getsize(full)
                self.send_response(200)
                self.send_header("Content-Length", str(size))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                with open(full, "rb") as f:
                    if path in origin.corrupt:
                        data = bytearray(f.read())
                        data[len(data) // 2] ^= 0x01
                        self.wfile.write(bytes(data))
                        return
                    while True:
                        chunk = f.read(1 << 20)
                        if not chunk:
                            break
                        try:
                            self.wfile.write(chunk)
                        except (BrokenPipeError, ConnectionResetError):
                            return

        self.httpd = _Server((eh.HOST, 0), H)
        self.port = self.httpd.server_address[1]
        self.url = f"http://{eh.HOST}:{self.port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def add(self, path, data):
        full = os.path.join(self.dir, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(data)

    def stop(self):
        self.httpd.shutdown()
        subprocess.run(["rm", "-rf", self.dir], check=False)


class Control:
    """Stand-in for sluice-control's GET /v1/fill/plan?edge=<id> (see the module doc)."""

    def __init__(self):
        self.plans = {}  # edge id -> plan dict
        self.requests = 0
        control = self

        class H(_Quiet):
            def do_GET(self):
                u = urllib.parse.urlsplit(self.path)
                q = urllib.parse.parse_qs(u.query)
                edge = q.get("edge", [""])[0]
                control.requests += 1
                if u.path != "/v1/fill/plan" or edge not in control.plans:
                    body = json.dumps({"error": "not found", "detail": edge}).encode()
                    self.send_response(404)
                else:
                    body = json.dumps(control.plans[edge]).encode()
                    self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = _Server((eh.HOST, 0), H)
        self.url = f"http://{eh.HOST}:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()


def make_catalog(origin, titles=2, segs=6, seg_size=200_000, seed=7, prefix="title"):
    """Files on the origin and the plan objects for them, ranked title by title."""
    rng = random.Random(seed)
    objs = []
    for t in range(titles):
        score = round(10.0 / (t + 1), 6)
        names = ["v1/init.mp4"] + [f"v1/seg-{n}.m4s" for n in range(1, segs + 1)]
        for name in names:
            size = 900 if name.endswith("init.mp4") else seg_size + rng.randrange(1000)
            data = rng.randbytes(size)
            path = f"{prefix}{t}/{name}"
            origin.add(path, data)
            objs.append({"path": path, "size": size, "sha256": hashlib.sha256(data).hexdigest(),
                         "url": f"{origin.url}/{path}", "asset": f"{prefix}{t}", "score": score})
    return objs


def plan_doc(edge_id, objs):
    return {"edge": edge_id, "region": "test", "generated": int(time.time()), "objects": objs}


class Env:
    def __init__(self, fill_bin, edge_bin, edge_overrides=None):
        self.fill_bin = os.path.abspath(fill_bin)
        self.dir = tempfile.mkdtemp(prefix="sluice-fill-it-")
        self.state_dir = os.path.join(self.dir, "state")
        self.origin = Origin()
        self.control = Control()
        self.edge = eh.Edge(edge_bin, edge_overrides)
        self.edge.start()
        self.edge_id = "edge-it"

    def base_args(self):
        return ["--control", self.control.url, "--edge", self.edge_id,
                "--admin-url", f"http://{eh.HOST}:{self.edge.admin_port}",
                "--admin-token-file", self.edge.token_file,
                "--edge-url", f"http://{eh.HOST}:{self.edge.port}",
                "--state-dir", self.state_dir]

    def fill(self, cmd, *extra, timeout=120):
        """Run sluice-fill to the end; returns (exit status, stdout, stderr)."""
        p = subprocess.run([self.fill_bin, cmd] + self.base_args() + list(extra),
                           capture_output=True, timeout=timeout)
        return p.returncode, p.stdout.decode("utf-8", "replace"), \
            p.stderr.decode("utf-8", "replace")

    def spawn(self, cmd, *extra):
        return subprocess.Popen([self.fill_bin, cmd] + self.base_args() + list(extra),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def listing(self):
        r = self.edge.admin("GET", "/admin/objects")
        eq(r.status, 200, "listing status")
        return {o["key"]: o for o in json.loads(r.body)}

    def puts(self, settle=False):
        """Admin PUTs from the edge's access log: list of (key, status) in order. The edge
        writes its access log once per loop iteration, so an idle worker may still hold the
        last lines: settle=True stops the edge first (SIGTERM flushes them)."""
        if settle and self.edge.running():
            self.edge.stop()
        out = []
        try:
            with open(self.edge.access_log, encoding="utf-8", errors="replace") as f:
                for line in f:
                    if '"PUT /admin/objects/' not in line:
                        continue
                    target = line.split('"PUT ', 1)[1].split('"', 1)[0]
                    status = line.split('"PUT ', 1)[1].split('"', 1)[1].split()[0]
                    key = urllib.parse.unquote(target[len("/admin/objects"):])
                    out.append((key, int(status)))
        except FileNotFoundError:
            pass
        return out

    def commits(self):
        """Objects the edge committed through its admin API since it started (its
        sluice_edge_admin_puts_total counter). A PUT re-sending an object the edge holds is
        committed again (204), so this counts every complete send."""
        for line in self.edge.metrics().body.decode().splitlines():
            if line.startswith("sluice_edge_admin_puts_total"):
                return int(float(line.split()[-1]))
        raise Fail("no sluice_edge_admin_puts_total in /metrics")

    def check_edge_holds(self, objs):
        held = self.listing()
        for o in objs:
            k = "/" + o["path"]
            check(k in held, f"edge lacks {k}")
            eq(held[k]["sha256"], o["sha256"], f"{k} sha256 at the edge")
            eq(held[k]["size"], o["size"], f"{k} size at the edge")

    def cleanup(self):
        self.edge.cleanup()
        self.origin.stop()
        self.control.stop()
        if os.environ.get("SLUICE_IT_KEEP"):
            print(f"# kept {self.dir}")
        else:
            subprocess.run(["rm", "-rf", self.dir], check=False)


def events(stdout):
    out = []
    for line in stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


_tests = []


def test(fn):
    _tests.append(fn)
    return fn


def run(edge_overrides=None):
    if len(sys.argv) < 3 or not all(os.access(p, os.X_OK) for p in sys.argv[1:3]):
        print("SKIP: need the sluice-fill and sluice-edge binaries as arguments")
        sys.exit(SKIP)
    only = set(sys.argv[3:])
    failed = 0
    for fn in _tests:
        if only and fn.__name__ not in only:
            continue
        env = None
        t0 = time.monotonic()
        try:
            env = Env(sys.argv[1], sys.argv[2], edge_overrides)
            fn(env)
            if env.edge.running():
                env.edge.stop()
            print(f"ok - {fn.__name__} ({time.monotonic() - t0:.1f}s)")
        except Exception:
            failed += 1
            print(f"not ok - {fn.__name__}")
            traceback.print_exc()
            if env:
                print(env.edge.log_tail())
        finally:
            if env:
                env.cleanup()
    sys.exit(1 if failed else 0)
