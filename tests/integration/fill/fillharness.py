# SPDX-License-Identifier: MIT
"""Harness for sluice-fill integration tests (Python standard library only).

Real processes throughout: the sluice-fill binary under test, a real sluice-edge (started
through tests/integration/edgeharness.py), and the real sluice-control on a private
PostgreSQL (tools/pg-temp, through tests/integration/control/ctlharness.py), one of each per
test file. Before each test the catalog, edges and sessions of the previous one are
truncated; the test registers its titles and edge through control's admin API and shapes
demand with real playback sessions, so control's plan says what the test needs. The origin
is a real HTTP server over a directory of files (http.server in a thread of this process);
a test may make it serve one wrong byte for one path, or stall in the middle of one,
deliberately. A test may also put an AdminProxy between the agent and the edge's admin API,
to lose the edge's answer to a PUT or hold back a listing, or between the agent and control
or the edge to answer some requests itself (503 with Retry-After, a reset).

    python3 test_x.py /path/to/sluice-fill /path/to/sluice-edge /path/to/sluice-control

Exit status: 0 passed, 1 failed, 77 skipped (a binary, psql or a PostgreSQL server missing).
"""

import contextlib
import datetime
import hashlib
import http.server
import json
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(HERE, "..", "control"))
import ctlharness  # noqa: E402
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
        # path -> n: send the head and n body bytes, then nothing until released (reset, stop)
        self.stall = {}
        self.release = threading.Event()
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
                    stall_at = origin.stall.get(path)
                    release = origin.release
                size = os.path.getsize(full)
                self.send_response(200)
                self.send_header("Content-Length", str(size))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                with open(full, "rb") as f:
                    if stall_at is not None:
                        # Headers and stall_at bytes reach the client; then the connection
                        # stays open and silent, as a hung origin's does.
                        try:
                            self.wfile.write(f.read(stall_at))
                            self.wfile.flush()
                        except (BrokenPipeError, ConnectionResetError):
                            return
                        release.wait()
                        self.close_connection = True
                        return
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

    def reset(self):
        """Nothing served, nothing corrupt or stalled, no GETs counted: as new for the next
        test."""
        self.unstall()
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        with self.lock:
            self.corrupt.clear()
            self.gets.clear()

    def unstall(self):
        """Serve stalled paths normally again and let the stalled requests end."""
        with self.lock:
            self.stall.clear()
            self.release.set()
            self.release = threading.Event()

    def add(self, path, data):
        full = os.path.join(self.dir, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(data)

    def stop(self):
        self.unstall()
        self.httpd.shutdown()
        subprocess.run(["rm", "-rf", self.dir], check=False)


class AdminProxy:
    """Between sluice-fill and the edge's admin API (or control's API: any server on this
    host at the given port), relaying HTTP/1.1 one request at a time per connection (a fresh
    upstream connection for each). `seen` lists (method, target, time.monotonic()) of every
    request that came in. Three faults; the first keyed by request target, the others by
    object key:

    - answer[target] = [(status, {field: value}), …]: the next requests for exactly that
      target (path and query) are answered by the proxy itself, one entry each, in order,
      with that status, those header fields and a small JSON error body (or the bytes given
      as a third item of the entry), never reaching the server; a status of None resets the
      connection instead (no answer at all).

    - lose[key] = n: the next n answers the edge gives to a whole PUT of key are read, then
      the agent's connection is reset instead of answered: the edge committed the object and
      the agent never heard. An attempt that ended before its answer (the agent gave up, a
      loaded machine) uses none of the n. `lost` lists (key, the edge's status).
    - hold[key] = seconds: a listing with prefix=key, or a DELETE of key, is answered that
      much later. `held` lists (key, time.monotonic() when it came in, when it was answered).

    `puts` counts PUTs per key, whatever became of them. `body_log`, when a list, gets
    (time.monotonic(), bytes) for each piece of a request body relayed to the server: the
    rate into the edge as seen from outside the agent."""

    def __init__(self, edge_admin_port):
        self.edge_port = edge_admin_port
        self.answer = {}
        self.seen = []
        self.lose = {}
        self.hold = {}
        self.puts = {}
        self.lost = []
        self.held = []
        self.body_log = None
        self.lock = threading.Lock()
        self.release = threading.Event()  # set: held listings are answered at once
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((eh.HOST, 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://{eh.HOST}:{self.port}"
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self):
        self.release.set()
        self.sock.close()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    @staticmethod
    def _head(sock, buf):
        """(head bytes without the blank line, fields lowercased, rest of buf), or None
        at a clean end of the connection."""
        while b"\r\n\r\n" not in buf:
            d = sock.recv(65536)
            if not d:
                if buf:
                    raise ConnectionError("connection ended inside a head")
                return None
            buf += d
        head, buf = buf.split(b"\r\n\r\n", 1)
        fields = {}
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.decode("latin-1").partition(":")
            fields[k.strip().lower()] = v.strip()
        if "chunked" in fields.get("transfer-encoding", ""):
            raise ConnectionError("chunked bodies are not relayed")
        return head, fields, buf

    def _serve(self, c):
        buf = b""
        try:
            while True:
                got = self._head(c, buf)
                if got is None:
                    return
                head, fields, buf = got
                if not self._one(c, head, fields, buf):
                    return
                buf = b""
        except OSError:
            pass
        finally:
            c.close()

    def _canned(self, c, fields, buf, status, extra, body=None):
        """Answer the request in hand with status and the fields in extra (None: reset)."""
        n = int(fields.get("content-length", "0")) - len(buf)
        while n > 0:
            d = c.recv(min(65536, n))
            if not d:
                return False
            n -= len(d)
        if status is None:
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        if body is None:
            body = json.dumps({"error": "unavailable",
                               "detail": "fault injected by the test"}).encode()
        head = [f"HTTP/1.1 {status} Fault", "Content-Type: application/json",
                f"Content-Length: {len(body)}"] + [f"{k}: {v}" for k, v in extra.items()]
        c.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        return True

    def _one(self, c, head, fields, buf):
        """Relay one request and its answer; False when the client connection must end."""
        method, target = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")[:2]
        url = urllib.parse.urlsplit(target)
        lose = hold = canned = None
        with self.lock:
            self.seen.append((method, target, time.monotonic()))
            if self.answer.get(target):
                canned = self.answer[target].pop(0)
        if canned:
            return self._canned(c, fields, buf, *canned)
        with self.lock:
            if method == "PUT" and url.path.startswith("/admin/objects/"):
                key = urllib.parse.unquote(url.path[len("/admin/objects"):])
                self.puts[key] = self.puts.get(key, 0) + 1
                if self.lose.get(key, 0) > 0:
                    lose = key
            elif method == "GET" and url.path == "/admin/objects":
                prefix = urllib.parse.parse_qs(url.query).get("prefix", [""])[0]
                if prefix in self.hold:
                    hold = (prefix, self.hold[prefix])
            elif method == "DELETE" and url.path.startswith("/admin/objects/"):
                key = urllib.parse.unquote(url.path[len("/admin/objects"):])
                if key in self.hold:
                    hold = (key, self.hold[key])
        t_in = time.monotonic()
        n = int(fields.get("content-length", "0"))
        with socket.create_connection((eh.HOST, self.edge_port)) as up:
            if self.body_log is not None and buf[:n]:
                self.body_log.append((time.monotonic(), len(buf[:n])))
            up.sendall(head + b"\r\n\r\n" + buf[:n])
            left = n - len(buf[:n])
            while left > 0:
                d = c.recv(min(65536, left))
                if not d:
                    return False
                if self.body_log is not None:
                    self.body_log.append((time.monotonic(), len(d)))
                up.sendall(d)
                left -= len(d)
            got = self._head(up, b"")
            if got is None:
                return False
            rhead, rfields, body = got
            status = int(rhead.split(b" ", 2)[1])
            if "content-length" in rfields:
                want = int(rfields["content-length"])
                while len(body) < want:
                    d = up.recv(65536)
                    if not d:
                        return False
                    body += d
            elif status not in (204, 304) and method != "HEAD":
                while True:
                    d = up.recv(65536)
                    if not d:
                        break
                    body += d
                rfields["connection"] = "close"
        if lose:
            with self.lock:
                self.lose[lose] -= 1
                self.lost.append((lose, status))
            # A reset, not a clean close: the answer is lost on the way, as when a link drops.
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        if hold:
            self.release.wait(hold[1])
        c.sendall(rhead + b"\r\n\r\n" + body)
        if hold:
            with self.lock:
                self.held.append((hold[0], t_in, time.monotonic()))
        return "close" not in rfields.get("connection", "").lower()


# Client addresses control places in each country (ctlharness's country_prefixes; a client
# other than 127.0.0.0/8 is given by X-Forwarded-For from its trusted proxy, 127.0.0.2).
CLIENTS = {"GB": None, "SE": "10.1.0.9", "US": "10.2.3.4"}
REGIONS = {"GB": "eu-west", "SE": "eu-north", "US": "us-east"}


class Control:
    """The real sluice-control on a private PostgreSQL, for one test file; fill plans are its
    GET /v1/fill/plan, shaped through its admin API and playback sessions."""

    def __init__(self, binary, origin_url):
        self.tmp = tempfile.mkdtemp(prefix="sluice-fill-ctl-")
        os.chmod(self.tmp, 0o755)  # PostgreSQL may run as another user beneath it
        self.pg = None
        self.ctl = None
        try:
            self.pg = ctlharness.Postgres(self.tmp)
            self.ctl = ctlharness.Control(binary, self.tmp, self.pg)
            with open(self.ctl.cfg_path) as f:
                text = f.read()
            text = re.sub(r'origin_url: "[^"]*"', f'origin_url: "{origin_url}/"', text)
            with open(self.ctl.cfg_path, "w") as f:
                f.write(text)
            self.ctl.start()
        except BaseException:
            self.stop()
            raise
        self.url = f"http://{eh.HOST}:{self.ctl.port}"
        self.token_file = self.ctl.token_file  # control's admin token: plans need it

    def reset(self):
        """Forget the previous test's catalog, edges and demand (a plan is its region's)."""
        self.pg.psql("TRUNCATE assets, titles, edges, sessions, licences, playback_reports, "
                     "continue_watching CASCADE")

    def add_edge(self, edge_id, region, base_url, secret=None):
        body = {"id": edge_id, "region": region, "base_url": base_url}
        if secret:
            body["secret"] = secret  # the edge's control secret (heartbeats, plan requests)
        self.ctl.json("POST", "/v1/admin/edges", body, admin=True)

    def add_title(self, title, files, licences=({"country": "GB"},), asset=None):
        """A movie whose asset lists files [(path, size, sha256)], licensed as given."""
        asset = asset or ctlharness.make_asset(title, segments=1, video_reps=("240p",))
        asset["files"] = [{"path": p, "size": n, "sha256": h} for p, n, h in files]
        self.ctl.json("POST", "/v1/admin/titles", {"title": title, "asset": asset}, admin=True)
        self.ctl.json("PUT", f"/v1/admin/titles/{title}/licences",
                      {"licences": list(licences)}, admin=True)

    def play(self, title, n=1, country="GB", expect=200):
        """n playback sessions of title by clients in country: demand in its region."""
        for _ in range(n):
            conn, headers = None, {}
            if CLIENTS[country]:
                conn = self.ctl.conn()
                conn.source_address = ("127.0.0.2", 0)
                headers["X-Forwarded-For"] = CLIENTS[country]
            st, _, body = self.ctl.request("POST", "/v1/playback", {"title": title},
                                           headers=headers, conn=conn)
            if conn:
                conn.close()
            if st != expect:
                raise Fail(f"playback of {title} from {country}: {st} {body[:200]!r}")

    def plan(self, edge_id):
        return json.loads(self.ctl.request("GET", f"/v1/fill/plan?edge={edge_id}",
                                           admin=True)[2])

    def stop(self):
        if self.ctl and self.ctl.proc and self.ctl.proc.poll() is None:
            self.ctl.stop()
        if self.pg:
            self.pg.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def from_now(seconds):
    """An RFC 3339 UTC time seconds from now (licence windows)."""
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def make_catalog(env, titles=2, segs=6, seg_size=200_000, seed=7, prefix="title",
                 init_size=900, country="GB", absent=()):
    """Titles on the origin and in control's catalog, licensed in country, title t played
    titles - t times there so control ranks them in order. Returns the plan objects (path,
    size, sha256, url, asset) in that order; the paths in absent (under each title) are in the
    catalog but not on the origin, last."""
    rng = random.Random(seed)
    objs = []
    for t in range(titles):
        title = f"{prefix}{t}"
        names = ["v1/init.mp4"] + [f"v1/seg-{n}.m4s" for n in range(1, segs + 1)]
        files = []
        for name in names:
            size = init_size if name.endswith("init.mp4") else seg_size + rng.randrange(1000)
            data = rng.randbytes(size)
            env.origin.add(f"{title}/{name}", data)
            files.append((name, size, hashlib.sha256(data).hexdigest()))
        for name in absent:
            files.append((name, 1000, "00" * 32))
        env.control.add_title(title, files, [{"country": country}])
        env.control.play(title, titles - t, country)
        objs += [{"path": f"{title}/{name}", "size": size, "sha256": sha,
                  "url": f"{env.origin.url}/{title}/{name}", "asset": title}
                 for name, size, sha in files]
    return objs


class Env:
    """One test's world: a fresh edge registered with control (region eu-west, the GB
    clients'), over the file's shared origin and control, both emptied first."""

    def __init__(self, fill_bin, edge_bin, shared, edge_overrides=None):
        self.fill_bin = os.path.abspath(fill_bin)
        self.dir = tempfile.mkdtemp(prefix="sluice-fill-it-")
        self.state_dir = os.path.join(self.dir, "state")
        self.origin, self.control = shared
        self.origin.reset()
        self.control.reset()
        self.edge = eh.Edge(edge_bin, edge_overrides)
        self.edge.start()
        self.edge_id = "edge-it"
        self.admin_url = None  # the agent's way to the edge's admin API; None: direct
        self.control_url = None  # the agent's way to control; None: direct
        self.add_edge(self.edge_id, self.edge)

    def add_edge(self, edge_id, edge, country="GB"):
        """Registers edge with control in the region of country's clients."""
        self.control.add_edge(edge_id, REGIONS[country], f"http://{eh.HOST}:{edge.port}")

    def base_args(self):
        return ["--control", self.control_url or self.control.url, "--control-token-file", self.control.token_file,
                "--edge", self.edge_id,
                "--admin-url", self.admin_url or f"http://{eh.HOST}:{self.edge.admin_port}",
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

    def listing_exact(self):
        """{stored key bytes: entry}: a key that is not UTF-8 by its "key_pct" (listing() keys
        by "key", a reading of it that may be another key's)."""
        r = self.edge.admin("GET", "/admin/objects")
        eq(r.status, 200, "listing status")
        out = {}
        for o in json.loads(r.body):
            k = urllib.parse.unquote_to_bytes(o["key_pct"]) if "key_pct" in o else o["key"].encode()
            check(k not in out, f"{k!r} listed twice")
            out[k] = o
        return out

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
        if os.environ.get("SLUICE_IT_KEEP"):
            print(f"# kept {self.dir}")
        else:
            subprocess.run(["rm", "-rf", self.dir], check=False)


def hold_unplanned(edge, mb=1000 * 1000):
    """Three unplanned 10 MB objects on edge (run with a 64M cache): /old/hot.m4s read three
    times, /old/warm.m4s once, /old/cold.m4s never. With five 8 MB objects planned
    (make_catalog(..., segs=4, seg_size=8 MB, init_size=8 MB)) everything fits only once the
    coldest goes."""
    for name in ("cold", "warm", "hot"):
        edge.put(f"/old/{name}.m4s", os.urandom(10 * mb))
    for _ in range(3):
        edge.get("/old/hot.m4s")
    edge.get("/old/warm.m4s")


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


class PlanFor(http.server.BaseHTTPRequestHandler):
    """A control that answers every plan request with the plan in self.server.plan."""

    def do_GET(self):
        self.send_body(self.head())

    def head(self):
        body = json.dumps(self.server.plan).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        return body

    def send_body(self, body):
        self.wfile.write(body)

    def log_message(self, *a):
        pass


@contextlib.contextmanager
def plan_stand_in(env, plan, handler=PlanFor):
    """A stand-in control answering plan (a misbehaving one, as a fault test needs) for the
    runs inside the block: env's control URL points there; the server is yielded."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    srv.daemon_threads = True
    srv.plan = plan
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    env.control_url = f"http://127.0.0.1:{srv.server_address[1]}"
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


@contextlib.contextmanager
def world(control_bin, origin_url=None):
    """The origin and control one test file (or benchmark) shares; stopped on the way out.
    With origin_url, control's plans point there and no Origin is made (None is yielded)."""
    origin = None if origin_url else Origin()
    control = None
    try:
        control = Control(control_bin, origin_url or origin.url)
        yield origin, control
    finally:
        if control:
            control.stop()
        if origin:
            origin.stop()


def run(edge_overrides=None):
    if len(sys.argv) < 4 or not all(os.access(p, os.X_OK) for p in sys.argv[1:4]):
        print("SKIP: need the sluice-fill, sluice-edge and sluice-control binaries as arguments")
        sys.exit(SKIP)
    if shutil.which("psql") is None:
        print("SKIP: psql not installed")
        sys.exit(SKIP)
    only = set(sys.argv[4:])
    unknown = only - {fn.__name__ for fn in _tests}
    if unknown:
        # A mistyped name would run nothing and pass.
        print(f"not ok - no test named {', '.join(sorted(unknown))} in "
              f"{os.path.basename(sys.argv[0])}")
        sys.exit(1)
    # meson's timeout sends SIGTERM: unwind, so PostgreSQL and the daemons are stopped.
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    failed = 0
    with world(sys.argv[3]) as shared:
        for fn in _tests:
            if not only or fn.__name__ in only:
                failed += run_one(fn, shared, edge_overrides)
        ctl = shared[1].ctl
    # Stopped on the way out of world(): what a sanitizer build said at exit (leaks).
    reports = ctl.sanitizer_reports() if ctl else []
    if reports:
        print("not ok - control_sanitizer_clean: " + "; ".join(r.strip() for r in reports[:5]))
        failed += 1
    sys.exit(1 if failed else 0)


def run_one(fn, shared, edge_overrides):
    """Runs one test in an Env of its own; returns 1 when it failed."""
    env = None
    t0 = time.monotonic()
    try:
        env = Env(sys.argv[1], sys.argv[2], shared, edge_overrides)
        fn(env)
        if env.edge.running():
            env.edge.stop()
        reports = env.edge.sanitizer_reports()
        check(not reports, "a sanitizer report in the edge's log: " + "; ".join(reports[:5]))
        print(f"ok - {fn.__name__} ({time.monotonic() - t0:.1f}s)")
        return 0
    except Exception:
        print(f"not ok - {fn.__name__}")
        traceback.print_exc()
        if env:
            print(env.edge.log_tail())
        print("".join(shared[1].ctl.log[-20:]))
        return 1
    finally:
        if env:
            env.cleanup()
