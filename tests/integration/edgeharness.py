# SPDX-License-Identifier: MIT
"""Integration-test harness for sluice-edge (Python standard library only).

It runs the real binary: writes a temporary YAML config (free loopback ports, a token file, a
cache dir in a temp dir, short limits), starts it, waits for the admin /healthz to answer,
pushes objects through the admin API and stops it with SIGTERM, requiring exit status 0.

Requests go over raw sockets so that tests control the exact bytes on the wire and read the
exact bytes back; the response reader is strict (CRLF only, framing by Content-Length or
chunked, nothing after the response unless asked for).

A test file defines functions decorated with @test and calls run(setup) at the bottom:

    python3 test_basic.py /path/to/sluice-edge [test-name ...]

A test that cannot run on this machine calls skip(why): the other tests still run, and the
file then exits 77 with the reason, not 0, so a case that did not run is never reported as
passed.

Exit status: 0 all passed, 1 any failed, 77 skipped (no edge binary, or a test called skip()
and none failed).
Set SLUICE_IT_KEEP=1 to keep the temp dir (config, logs, cache) after the run.
"""

import contextlib
import email.utils
import hashlib
import http.server
import json
import os
import random
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

import sanitizer  # tests/integration/sanitizer.py, beside this file

SKIP = 77
HOST = "127.0.0.1"
DEFAULT_TIMEOUT = 5.0
IMF_FIXDATE = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
    r" \d{4} \d\d:\d\d:\d\d GMT$")


class Fail(AssertionError):
    pass


class Skip(Exception):
    """Raised by skip(): the running test cannot run here."""


def skip(why):
    """End the running test without passing it: what it checks cannot be checked on this
    machine, for the reason why. run() goes on with the other tests and exits 77 (1 when one
    failed)."""
    raise Skip(why)


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def eq(got, want, what):
    if got != want:
        raise Fail(f"{what}: got {got!r}, want {want!r}")


def sha(data):
    return hashlib.sha256(data).hexdigest()


_given_ports = set()


def free_port():
    """A port nothing listens on now, and not one this process handed out before: two calls
    in a row may otherwise get the same port back from the kernel (an edge's client and admin
    listeners then collide)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((HOST, 0))
            port = s.getsockname()[1]
        if port not in _given_ports:
            _given_ports.add(port)
            return port


def http_date(ts):
    return email.utils.formatdate(ts, usegmt=True)


def parse_http_date(value):
    check(value is not None and IMF_FIXDATE.match(value), f"not an IMF-fixdate: {value!r}")
    return email.utils.parsedate_to_datetime(value).timestamp()


# ---------------------------------------------------------------------------------------------
# Minimal YAML writer (mappings, sequences, scalars) for the config file.

def _yaml_scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    s = str(v)
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def yaml_dump(obj, indent=0):
    pad = "  " * indent
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, dict):
                out.append(f"{pad}{k}:")
                out.append(yaml_dump(v, indent + 1))
            elif isinstance(v, list):
                if not v:
                    out.append(f"{pad}{k}: []")
                elif all(not isinstance(x, (dict, list)) for x in v):
                    out.append(f"{pad}{k}: [" + ", ".join(_yaml_scalar(x) for x in v) + "]")
                else:
                    out.append(f"{pad}{k}:")
                    for x in v:
                        body = yaml_dump(x, indent + 2).lstrip()
                        out.append(f"{pad}  - {body}")
            else:
                out.append(f"{pad}{k}: {_yaml_scalar(v)}")
    else:
        out.append(pad + _yaml_scalar(obj))
    return "\n".join(out)


def deep_merge(base, over):
    """Merge over into base (in place); a None value in over deletes the key."""
    for k, v in over.items():
        if v is None:
            base.pop(k, None)
        elif isinstance(v, dict) and isinstance(base.get(k), dict):
            deep_merge(base[k], v)
        else:
            base[k] = v
    return base


# ---------------------------------------------------------------------------------------------
# Raw HTTP/1.1 over sockets.

def build_request(method, target, headers=(), body=b"", version="HTTP/1.1", host="edge.test"):
    """Bytes of a request; headers is a list of (name, value) pairs sent as given. host=None
    sends no Host header."""
    lines = [f"{method} {target} {version}"]
    if host is not None:
        lines.append(f"Host: {host}")
    for k, v in headers:
        lines.append(f"{k}: {v}")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + body


class Response:
    def __init__(self, version, status, reason, headers, body, raw_head):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (name, value) in order
        self.body = body
        self.raw_head = raw_head

    def all(self, name):
        n = name.lower()
        return [v for k, v in self.headers if k.lower() == n]

    def get(self, name):
        vals = self.all(name)
        check(len(vals) <= 1, f"header {name} sent {len(vals)} times: {vals!r}")
        return vals[0] if vals else None

    def need(self, name):
        v = self.get(name)
        check(v is not None, f"{self.status} response lacks {name}; head:\n{self.head_text()}")
        return v

    def tokens(self, name):
        """Comma-separated members of a list header, lower-cased."""
        out = []
        for v in self.all(name):
            out += [t.strip().lower() for t in v.split(",") if t.strip()]
        return out

    def head_text(self):
        return self.raw_head.decode("latin-1", "replace")

    def __repr__(self):
        return f"<Response {self.status} {len(self.body)} bytes>"


class Closed(Exception):
    """The peer closed before a whole response arrived."""


class RawConn:
    def __init__(self, port, timeout=DEFAULT_TIMEOUT, rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect((HOST, port))
        self.timeout = timeout
        self.buf = b""
        self.eof = False

    def local_port(self):
        return self.sock.getsockname()[1]

    def send(self, data):
        """Send all of data. Returns False if the peer reset/closed the connection first (a
        server may answer and close before reading an oversized request)."""
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    def _fill(self, deadline):
        if self.eof:
            raise Closed("connection closed by peer")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("timed out waiting for response bytes")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            raise Closed("connection closed by peer")
        self.buf += chunk

    def _read_until(self, marker, deadline, limit=1 << 20):
        while True:
            i = self.buf.find(marker)
            if i >= 0:
                out = self.buf[:i + len(marker)]
                self.buf = self.buf[i + len(marker):]
                return out
            check(len(self.buf) < limit, f"no {marker!r} within {limit} bytes")
            self._fill(deadline)

    def _read_n(self, n, deadline):
        while len(self.buf) < n:
            self._fill(deadline)
        out = self.buf[:n]
        self.buf = self.buf[n:]
        return out

    def read_response(self, method="GET", timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        head = self._read_until(b"\r\n\r\n", deadline, limit=64 * 1024)
        text = head.decode("latin-1")
        lines = text[:-4].split("\r\n")
        check(all("\n" not in ln and "\r" not in ln for ln in lines),
              f"bare CR/LF in response head: {text!r}")
        m = re.match(r"^(HTTP/\d\.\d) (\d\d\d) ?(.*)$", lines[0])
        check(m is not None, f"bad status line {lines[0]!r}")
        version, status, reason = m.group(1), int(m.group(2)), m.group(3)
        headers = []
        for ln in lines[1:]:
            check(":" in ln, f"bad header line {ln!r}")
            k, v = ln.split(":", 1)
            check(k == k.strip() and k, f"bad header name {k!r}")
            headers.append((k, v.strip(" \t")))
        resp = Response(version, status, reason, headers, b"", head)
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            return resp
        te = resp.get("Transfer-Encoding")
        cl = resp.get("Content-Length")
        if te is not None:
            check(cl is None, "response has both Transfer-Encoding and Content-Length")
            check(te.lower() == "chunked", f"unexpected response Transfer-Encoding {te!r}")
            body = b""
            while True:
                size_line = self._read_until(b"\r\n", deadline)
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    while self._read_until(b"\r\n", deadline) != b"\r\n":
                        pass  # trailer fields
                    break
                body += self._read_n(size, deadline)
                eq(self._read_n(2, deadline), b"\r\n", "chunk terminator")
            resp.body = body
        elif cl is not None:
            check(re.fullmatch(r"\d+", cl) is not None, f"bad Content-Length {cl!r}")
            resp.body = self._read_n(int(cl), deadline)
        else:
            # Delimited by close.
            while True:
                try:
                    self._fill(deadline)
                except Closed:
                    break
            resp.body, self.buf = self.buf, b""
        return resp

    def wait_eof(self, timeout):
        """Wait up to timeout for the peer to close. Returns (closed, elapsed_seconds, extra):
        extra holds any bytes that arrived instead (closed is then False unless EOF followed)."""
        start = time.monotonic()
        deadline = start + timeout
        extra = self.buf
        self.buf = b""
        if self.eof:
            return True, 0.0, extra
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False, time.monotonic() - start, extra
            r, _, _ = select.select([self.sock], [], [], remaining)
            if not r:
                continue
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                self.eof = True
                return True, time.monotonic() - start, extra
            extra += chunk

    def expect_eof(self, timeout=3.0, what="connection"):
        closed, _, extra = self.wait_eof(timeout)
        check(not extra, f"{what}: unexpected bytes after the response: {extra[:200]!r}")
        check(closed, f"{what}: server did not close the connection within {timeout}s")

    def expect_open(self, timeout=0.3, what="connection"):
        closed, _, extra = self.wait_eof(timeout)
        check(not extra, f"{what}: unexpected bytes: {extra[:200]!r}")
        check(not closed, f"{what}: server closed a connection that should stay open")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


# ---------------------------------------------------------------------------------------------
# Test objects.

def _box(kind, payload):
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def fake_init_mp4(rng):
    ftyp = _box(b"ftyp", b"iso6" + struct.pack(">I", 0) + b"iso6cmfcdashmp41")
    mvhd = _box(b"mvhd", bytes(4) + bytes(8) + struct.pack(">I", 90000) + bytes(84))
    trak = _box(b"trak", _box(b"tkhd", bytes(84)) + _box(b"mdia", rng.randbytes(500)))
    mvex = _box(b"mvex", _box(b"trex", bytes(24)))
    return ftyp + _box(b"moov", mvhd + trak + mvex)


def fake_segment(rng, n, payload_size):
    styp = _box(b"styp", b"msdh" + bytes(4) + b"msdhmsix")
    mfhd = _box(b"mfhd", bytes(4) + struct.pack(">I", n))
    traf = _box(b"traf", _box(b"tfhd", bytes(8)) + _box(b"tfdt", bytes(12))
                + _box(b"trun", rng.randbytes(200)))
    moof = _box(b"moof", mfhd + traf)
    return styp + moof + _box(b"mdat", rng.randbytes(payload_size))


MPD = b"""<?xml version="1.0" encoding="UTF-8"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011"
     type="static" mediaPresentationDuration="PT8S" minBufferTime="PT2S">
  <Period id="p0">
    <AdaptationSet mimeType="video/mp4" segmentAlignment="true">
      <SegmentTemplate initialization="$RepresentationID$/init.mp4"
                       media="$RepresentationID$/seg-$Number$.m4s" startNumber="1"
                       duration="4" timescale="1"/>
      <Representation id="v1" bandwidth="3000000" codecs="avc1.64001f" width="1280" height="720"/>
    </AdaptationSet>
  </Period>
</MPD>
"""


def standard_objects(seed=1):
    """key -> bytes: a small title plus sizes from 0 bytes to 8 MiB."""
    rng = random.Random(seed)
    return {
        "/t1/init.mp4": fake_init_mp4(rng),
        "/t1/seg-1.m4s": fake_segment(rng, 1, 300_000),
        "/t1/seg-2.m4s": fake_segment(rng, 2, 70_001),
        "/t1/manifest.mpd": MPD,
        "/t1/master.m3u8": b"#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-STREAM-INF:BANDWIDTH=3000000\nv1.m3u8\n",
        "/t1/sub.vtt": b"WEBVTT\n\n00:00.000 --> 00:04.000\nHello\n",
        "/t1/meta.json": b'{"title": "t1", "segments": 2}\n',
        "/t1/one.bin": b"x",
        "/t1/empty.bin": b"",
        "/t1/big.m4s": fake_segment(rng, 3, 8 * 1024 * 1024),
    }


# ---------------------------------------------------------------------------------------------
# The edge process.

class Edge:
    def __init__(self, binary, overrides=None, workdir=None):
        self.binary = os.path.abspath(binary)
        self.dir = workdir or tempfile.mkdtemp(prefix="sluice-it-")
        self.cache_dir = os.path.join(self.dir, "cache")
        self.config_path = os.path.join(self.dir, "edge.yaml")
        self.log_path = os.path.join(self.dir, "edge.log")
        self.access_log = os.path.join(self.dir, "access.log")
        self.token = "it-" + os.urandom(16).hex()
        self.token_file = os.path.join(self.dir, "admin.token")
        with open(self.token_file, "w") as f:
            f.write(self.token + "\n")
        os.makedirs(self.cache_dir, exist_ok=True)
        self.port = free_port()
        self.admin_port = free_port()
        self.cfg = {
            "listen": [f"{HOST}:{self.port}"],
            "workers": 2,
            "admin": {"listen": f"{HOST}:{self.admin_port}", "token_file": self.token_file},
            "cache": {"dir": self.cache_dir, "max_size": "1G"},
            "tokens": {"required": False},
            "limits": {"header_timeout": "1s", "idle_timeout": "2s", "send_timeout": "2s"},
            "log": {"level": "info", "target": "stderr", "access_log": self.access_log},
        }
        deep_merge(self.cfg, overrides or {})
        self.proc = None
        self.preexec = None  # run in the child before exec (e.g. its resource limits)
        self.args = []  # command-line options after --config
        self.objects = {}

    # -- lifecycle --------------------------------------------------------------------------

    def write_config(self, cfg=None):
        text = yaml_dump(cfg if cfg is not None else self.cfg) + "\n"
        tmp = self.config_path + ".new"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.config_path)

    def start(self, timeout=15.0, env=None):
        """Start and wait until ready; env is added to the edge's environment only."""
        self.write_config()
        logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen([self.binary, "--config", self.config_path] + self.args,
                                     stdout=logf, stderr=logf, stdin=subprocess.DEVNULL,
                                     preexec_fn=self.preexec,
                                     env=dict(os.environ, **env) if env else None)
        logf.close()
        self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                raise Fail(f"sluice-edge exited with status {rc} during start-up\n"
                           + self.log_tail())
            try:
                r = self.request("GET", "/healthz", admin=True, timeout=1.0)
                if r.status == 200:
                    with RawConn(self.port, timeout=1.0):
                        return
                last = f"/healthz answered {r.status}"
            except (OSError, Closed, Fail) as e:
                last = repr(e)
            time.sleep(0.005)  # poll bounded by the deadline; test_miss_kill starts 200 edges
        raise Fail(f"sluice-edge not ready within {timeout}s ({last})\n" + self.log_tail())

    def signal(self, sig):
        self.proc.send_signal(sig)

    def reload(self, done="configuration reloaded from", timeout=10.0):
        """SIGHUP and wait until the main thread logs done once more (by default a reload
        taken; "keeping the running configuration" for a refused one). Returns the log."""
        def count():
            with open(self.log_path, errors="replace") as f:
                text = f.read()
            return text.count(done), text
        before, _ = count()
        self.signal(signal.SIGHUP)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            n, text = count()
            if n > before:
                return text
            time.sleep(0.02)  # poll interval for the main thread's line
        raise Fail(f"no {done!r} in the log after SIGHUP\n" + self.log_tail())

    def stop(self, timeout=10.0):
        """SIGTERM and require exit status 0 within timeout."""
        if self.proc is None or self.proc.poll() is not None:
            rc = None if self.proc is None else self.proc.returncode
            raise Fail(f"sluice-edge was not running at stop (status {rc})\n" + self.log_tail())
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise Fail(f"sluice-edge did not exit within {timeout}s of SIGTERM\n" + self.log_tail())
        if rc != 0:
            raise Fail(f"sluice-edge exited with status {rc} after SIGTERM\n" + self.log_tail())

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def cleanup(self):
        if self.running():
            self.proc.kill()
            self.proc.wait()
        if os.environ.get("SLUICE_IT_KEEP"):
            print(f"# kept {self.dir}")
        else:
            subprocess.run(["rm", "-rf", self.dir], check=False)

    def log_tail(self, n=40):
        try:
            with open(self.log_path, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            return "(no edge log)"
        return "--- edge log (last lines) ---\n" + "\n".join(lines[-n:])

    def asan(self):
        """Whether the binary is built with AddressSanitizer (which keeps freed memory in its
        quarantine, so the process's size says nothing of what it frees)."""
        with open(self.binary, "rb") as f:
            return b"__asan_init" in f.read()

    def sanitizer_reports(self):
        """Lines of ASan/UBSan/LSan reports in the edge log (sanitizer builds)."""
        try:
            with open(self.log_path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return []
        return sorted({ln.strip() for ln in sanitizer.report_lines(text.splitlines())})

    # -- requests ---------------------------------------------------------------------------

    def conn(self, admin=False, timeout=DEFAULT_TIMEOUT, rcvbuf=None):
        return RawConn(self.admin_port if admin else self.port, timeout=timeout, rcvbuf=rcvbuf)

    def request(self, method, target, headers=(), body=b"", admin=False, timeout=DEFAULT_TIMEOUT,
                version="HTTP/1.1", host="edge.test"):
        """One request on a fresh connection (Connection: close); returns the Response."""
        hdrs = list(headers)
        if not any(k.lower() == "connection" for k, _ in hdrs):
            hdrs.append(("Connection", "close"))
        if body and not any(k.lower() == "content-length" for k, _ in hdrs):
            hdrs.append(("Content-Length", str(len(body))))
        with RawConn(self.admin_port if admin else self.port, timeout=timeout) as c:
            c.send(build_request(method, target, hdrs, body, version=version, host=host))
            return c.read_response(method)

    def get(self, target, headers=(), **kw):
        return self.request("GET", target, headers, **kw)

    def auth(self):
        return [("Authorization", f"Bearer {self.token}")]

    def admin(self, method, target, headers=(), body=b"", token=True, **kw):
        hdrs = (self.auth() if token else []) + list(headers)
        return self.request(method, target, hdrs, body, admin=True, **kw)

    def put(self, key, data, sha256=True, expect=(201, 204)):
        """PUT /admin/objects<key>; sha256=True sends the right X-Sluice-SHA256, a string sends
        that, None sends none. Checks the status is in expect and records the object."""
        hdrs = [("Content-Length", str(len(data)))]
        if sha256 is True:
            hdrs.append(("X-Sluice-SHA256", sha(data)))
        elif sha256:
            hdrs.append(("X-Sluice-SHA256", sha256))
        r = self.admin("PUT", "/admin/objects" + key, hdrs, data, timeout=30)
        if expect:
            check(r.status in expect,
                  f"PUT {key}: status {r.status}, want {expect}; body {r.body[:200]!r}")
        if r.status in (200, 201, 204):
            self.objects[key] = data
        return r

    def push(self, objects):
        for k, v in objects.items():
            self.put(k, v)

    def wait_connections(self, want, timeout=5.0):
        """Wait until the edge counts want client connections open (/healthz): closes reach it
        a little after the client's, and an answer holds its object until then."""
        deadline = time.monotonic() + timeout
        while True:
            n = json.loads(self.get("/healthz", admin=True).body)["connections"]
            if n == want or time.monotonic() > deadline:
                eq(n, want, "client connections the edge counts")
                return
            time.sleep(0.01)

    def access_lines(self, needle, n, start=0, timeout=10.0):
        """The access-log lines past byte offset start holding needle, once there are n of them
        (waited for: the writer flushes once per loop turn), or what there is after timeout."""
        deadline = time.monotonic() + timeout
        while True:
            lines = []
            if os.path.exists(self.access_log):
                with open(self.access_log, errors="replace") as f:
                    f.seek(start)
                    lines = [ln for ln in f.read().splitlines() if needle in ln]
            if len(lines) >= n or time.monotonic() > deadline:
                return lines
            time.sleep(0.05)

    def metrics(self):
        r = self.admin("GET", "/metrics")
        eq(r.status, 200, "/metrics status")
        return r


SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$")


def metric(e, name, labels=""):
    """The sum of the samples of the family `name` on e's /metrics whose label set holds the
    text `labels` ('' for all of them: 'code="X"' or a whole '{code="X"}'). A family the edge
    does not declare fails the test rather than reading as 0."""
    total, declared = 0.0, False
    for line in e.metrics().body.decode().splitlines():
        if line.startswith("# TYPE "):
            declared = declared or line.split(" ")[2] == name
            continue
        m = SAMPLE.match(line)
        if m and m.group(1) == name:
            declared = True
            if labels in (m.group(2) or ""):
                total += float(m.group(3))
    check(declared, f"no {name} in /metrics")
    return total


def preload_env(shim, **more):
    """An edge environment preloading shim (plus more): the sanitizer's runtime is then not
    first in line, which a sanitizer build is told to accept."""
    asan = os.environ.get("ASAN_OPTIONS")
    return {"LD_PRELOAD": shim, **more,
            "ASAN_OPTIONS": (asan + ":" if asan else "") + "verify_asan_link_order=0"}


@contextlib.contextmanager
def slow_syncs(e):
    """e's syncs are slow inside the block: e preloads slow-sync-shim.c, told to look for the
    flag file e.sync_flag."""
    open(e.sync_flag, "w").close()
    try:
        yield
    finally:
        os.unlink(e.sync_flag)


def expect_body(resp, data, what):
    """A 200 whose body is exactly data (SHA-256 compared) and whose Content-Length agrees."""
    eq(resp.status, 200, f"{what}: status")
    eq(resp.get("Content-Length"), str(len(data)), f"{what}: Content-Length")
    check(sha(resp.body) == sha(data),
          f"{what}: body SHA-256 {sha(resp.body)} != original {sha(data)} "
          f"(got {len(resp.body)} bytes, want {len(data)})")


def tcp_socket(local_port, remote_port, remote_ip="127.0.0.1"):
    """State and inode of the TCP socket 127.0.0.1:local_port <-> remote_ip:remote_port from
    /proc/net/tcp ("01" established, "04" fin-wait-1, ...; inode "0" before it is accepted),
    or None when the kernel has none."""
    want_l = f"0100007F:{local_port:04X}"
    want_r = f"{socket.inet_aton(remote_ip)[::-1].hex().upper()}:{remote_port:04X}"
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            p = line.split()
            if p[1] == want_l and p[2] == want_r:
                return p[3], p[9]
    return None


def read_to_eof(sock, errors=(OSError,)):
    """Everything sock yields until the peer closes; one of errors ends the read too (a reset
    after the answers), with what came before it."""
    got = bytearray()
    try:
        while True:
            d = sock.recv(65536)
            if not d:
                break
            got += d
    except errors:
        pass
    return bytes(got)


def tcp_state(local_port, remote_port):
    """State of the TCP socket 127.0.0.1:local_port <-> 127.0.0.1:remote_port, or None."""
    found = tcp_socket(local_port, remote_port)
    return found[0] if found else None


# ---------------------------------------------------------------------------------------------
# Runner.

_tests = []


def test(fn):
    _tests.append(fn)
    return fn


def binary_from_argv():
    path = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("SLUICE_EDGE", "")
    if not path or not os.access(path, os.X_OK):
        print(f"SKIP: sluice-edge binary not found ({path or 'no path given'}); "
              "pass it as argv[1] or SLUICE_EDGE")
        sys.exit(SKIP)
    return path


def run(setup=None, teardown_stop=True):
    """Run the registered tests. setup(binary) returns the context handed to each test (usually
    a started Edge with objects pushed); it is stopped with SIGTERM at the end and exit status 0
    is itself a test. Tests named on the command line after the binary run alone."""
    binary = binary_from_argv()
    only = set(sys.argv[2:])
    unknown = only - {fn.__name__ for fn in _tests}
    if unknown:
        # A mistyped name would run nothing and pass.
        print(f"not ok - no test named {', '.join(sorted(unknown))} in "
              f"{os.path.basename(sys.argv[0])}")
        return 1
    name = os.path.basename(sys.argv[0])
    failed = []
    skipped = []
    ctx = None
    t0 = time.monotonic()
    try:
        try:
            ctx = setup(binary) if setup else binary
        except Exception:
            print(f"not ok - {name} setup")
            traceback.print_exc()
            if isinstance(ctx, Edge):
                print(ctx.log_tail())
            return 1
        for fn in _tests:
            if only and fn.__name__ not in only:
                continue
            start = time.monotonic()
            try:
                fn(ctx)
                print(f"ok - {fn.__name__} ({time.monotonic() - start:.2f}s)")
            except Skip as e:
                skipped.append(f"{fn.__name__}: {e}")
                print(f"skip - {fn.__name__}: {e}")
            except Exception as e:
                failed.append(fn.__name__)
                print(f"not ok - {fn.__name__}: {type(e).__name__}: {e}")
                if not isinstance(e, Fail):
                    traceback.print_exc()
                if isinstance(ctx, Edge):
                    if not ctx.running():
                        print(f"# sluice-edge is no longer running (status {ctx.proc.returncode})")
                    print(ctx.log_tail(15))
                    if not ctx.running():
                        break
        if isinstance(ctx, Edge) and teardown_stop:
            try:
                ctx.stop()
                print("ok - clean_shutdown (SIGTERM -> exit 0)")
            except Exception as e:
                failed.append("clean_shutdown")
                print(f"not ok - clean_shutdown: {e}")
        if isinstance(ctx, Edge):
            reports = ctx.sanitizer_reports()
            if reports:
                failed.append("sanitizer_clean")
                print("not ok - sanitizer_clean: the edge log has sanitizer reports:\n  "
                      + "\n  ".join(reports[:10]))
    finally:
        if isinstance(ctx, Edge):
            ctx.cleanup()
    print(f"# {name}: {len(failed)} failed ({time.monotonic() - t0:.1f}s)"
          + (": " + ", ".join(failed) if failed else ""))
    if failed:
        return 1
    for why in skipped:
        print(f"SKIP: {why}")
    return SKIP if skipped else 0


def serve_origin(handle):
    """Start a threaded HTTP/1.1 origin on HOST (a port the system picks) that hands every GET
    to handle(request_handler) and keeps quiet about the connections the edge resets when it
    gives up on them. Returns the server; its url is srv.url."""
    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def do_GET(self):
            handle(self)

    class S(http.server.ThreadingHTTPServer):
        daemon_threads = True
        # socketserver's listen backlog is 5: a burst of fills overflowed it on a loaded
        # machine, the SYNs the kernel dropped came again after 1 s and 3 s, and a fill past
        # the edge's 2 s connect_timeout answered 502. A real origin's backlog is larger.
        request_queue_size = 1024

        def handle_error(self, request, client_address):
            pass

    srv = S((HOST, 0), H)
    srv.url = f"http://{HOST}:{srv.server_address[1]}"
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def run_and_stop(setup, edges_of):
    """run(setup), then stop every edge edges_of(ctx) names for each context setup made: each
    must exit 0 on SIGTERM and leave no sanitizer report in its log. Returns the exit status."""
    made = []

    def _setup(binary):
        made.append(setup(binary))
        return made[-1]

    rc = run(_setup)
    for ctx in made:
        for e in edges_of(ctx):
            try:
                if e.running():
                    e.stop()
                reports = e.sanitizer_reports()
                if reports:
                    print(f"not ok - sanitizer_clean {e.dir}: {reports[:3]}")
                    rc = 1
            except Exception as ex:
                print(f"not ok - clean_shutdown {e.dir}: {ex}")
                rc = 1
            finally:
                e.cleanup()
    return rc


def standard_setup(overrides=None, objects=None):
    """A setup function: start an edge with overrides and push objects (default: the
    standard set)."""
    def setup(binary):
        return start_pushed(Edge(binary, overrides), objects)
    return setup


def start_pushed(e, objects=None):
    """Start the configured edge e and push objects (default: the standard set); on failure
    print its log's tail, remove it and raise. Returns e."""
    try:
        e.start()
        e.push(objects if objects is not None else standard_objects())
    except Exception:
        print(e.log_tail())
        e.cleanup()
        raise
    return e
