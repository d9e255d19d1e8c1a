# SPDX-License-Identifier: MIT
"""Harness for sluice-control integration tests: a private PostgreSQL (tools/pg-temp), a
config, the real binary, and small HTTP helpers. Python stdlib only."""
import base64
import glob
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import free_scan  # noqa: E402 (tests/integration/free_scan.py)
import sanitizer  # noqa: E402 (tests/integration/sanitizer.py)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
PG_TEMP = os.path.join(ROOT, "tools", "pg-temp")
ADMIN_TOKEN = "admin-token-for-tests-0123456789"
KEY_SECRET = "5a" * 32
SKIP = 77


def skip(reason):
    print(f"SKIP: {reason}")
    sys.exit(SKIP)


SKIPPED = []  # cases skip_case() ended, with why


def skip_case(reason):
    """One case of the file cannot run on this machine, for reason: the other cases still
    run, and run() then exits 77 with each reason instead of passing (1 when one failed)."""
    print(f"skip: {reason}")
    SKIPPED.append(reason)


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def _psql_binary():
    """PostgreSQL's own psql where the server's binaries are (as tools/pg-temp finds them),
    else the one on PATH: Debian's /usr/bin/psql is a Perl wrapper that picks a version,
    which doubles the cost of each of the hundreds of queries the tests make."""
    dirs = ["/usr/lib/postgresql/15/bin"] + sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    for d in dirs:
        if os.access(os.path.join(d, "psql"), os.X_OK):
            return os.path.join(d, "psql")
    return "psql"


PSQL = _psql_binary()


class Postgres:
    def __init__(self, tmp):
        self.dir = os.path.join(tmp, "pg")
        if shutil.which("runuser") is None and os.geteuid() == 0:
            skip("running as root without runuser")
        r = subprocess.run([PG_TEMP, "start", self.dir], capture_output=True, text=True)
        if r.returncode == 3:
            skip("no PostgreSQL server: " + r.stderr.strip())
        if r.returncode != 0:
            raise Failure("pg-temp start failed: " + r.stderr)
        self.conninfo = r.stdout.strip().splitlines()[-1]

    def psql(self, sql):
        """Run sql through psql; returns stdout (unaligned, tuples only)."""
        r = subprocess.run([PSQL, self.conninfo, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise Failure("psql: " + r.stderr)
        return r.stdout.strip()

    def stop(self):
        subprocess.run([PG_TEMP, "stop", self.dir], capture_output=True)

    def start(self):
        subprocess.run([PG_TEMP, "start", self.dir], capture_output=True, check=True)


def scanned(binary, tmp):
    """For a test preloading free-scan-shim.c into control: skips where the shim cannot search
    its freed blocks; else (the path for the shim's report, a started PostgreSQL)."""
    why = free_scan.unusable(binary)
    if why:
        skip(why)
    return os.path.join(tmp, "free-scan.txt"), Postgres(tmp)


class Control:
    """One sluice-control process."""
    instances = []
    # Heartbeat secrets control handed out at registration, by edge id (shared by every
    # instance of a test: they share the database), and each edge's last signed time.
    edge_secrets = {}
    signed_ms = {}

    def __init__(self, binary, tmp, pg, extra_cfg="", name="ctl", cache_ttl="0s",
                 heartbeat_period="60s", db_timeout="2s", admin_timeout=None,
                 report_interval="0"):
        """cache_ttl None leaves the key out, so the instance runs with the default;
        report_interval too (its default limits a session's reports, which tests posting many
        for one session would meet: off here unless asked for).
        heartbeat_period: seconds ("60s") or milliseconds ("1500ms"); db_timeout is
        database_pool.timeout, admin_timeout database_pool.admin_timeout (None: the
        default)."""
        self.tmp = tmp
        self.binary = binary
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir, exist_ok=True)
        self.token_file = os.path.join(self.dir, "admin.token")
        with open(self.token_file, "w") as f:
            f.write(ADMIN_TOKEN + "\n")
        self.keys_file = os.path.join(self.dir, "keys.yaml")
        with open(self.keys_file, "w") as f:
            f.write(f"keys:\n  - {{kid: k1, secret: \"{KEY_SECRET}\"}}\n")
        self.cfg_path = os.path.join(self.dir, "control.yaml")
        admin = f", admin_timeout: {admin_timeout}" if admin_timeout else ""
        cfg = f"""listen: ["127.0.0.1:0"]
database: "{pg.conninfo}"
database_pool: {{pool: 3, timeout: {db_timeout}{admin}}}
admin: {{token_file: {self.token_file}}}
tokens: {{keys_file: {self.keys_file}, refresh: 1s}}
country_prefixes:
  - {{cidr: 127.0.0.0/8, country: GB, region: eu-west}}
  - {{cidr: 10.1.0.0/16, country: SE, region: eu-north}}
  - {{cidr: 10.2.0.0/16, country: US, region: us-east}}
trusted_proxies: ["127.0.0.2/32"]
public_url: "http://control.test:7000"
origin_url: "http://origin.test:9000/"
heartbeat_period: {heartbeat_period}
session_ttl: 1h
log: {{level: info}}
""" + (f"cache_ttl: {cache_ttl}\n" if cache_ttl is not None else "") + \
            (f"report_interval: {report_interval}\n" if report_interval is not None else "") + \
            extra_cfg
        with open(self.cfg_path, "w") as f:
            f.write(cfg)
        # What an accepted heartbeat's answer gives: whole seconds as an integer.
        m = re.fullmatch(r"(\d+)(s|ms)", heartbeat_period)
        ms = int(m.group(1)) * (1000 if m.group(2) == "s" else 1)
        self.heartbeat_period_s = ms // 1000 if ms % 1000 == 0 else ms / 1000
        self.proc = None
        self.port = None
        self.log = []
        self.cond = threading.Condition()
        self.eof = False
        Control.instances.append(self)

    def start(self, expect_ready=True, preexec_fn=None, env=None):
        """env: variables added to (or replacing) this process's own for the instance."""
        self.proc = subprocess.Popen([self.binary, "--config", self.cfg_path],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     preexec_fn=preexec_fn,
                                     env=dict(os.environ, **env) if env else None)
        port = None
        for line in self.proc.stdout:
            self.log.append(line)
            m = re.search(r"\(port (\d+)\)", line)
            if m:
                port = int(m.group(1))
            if "ready" in line:
                break
        if expect_ready and port is None:
            raise Failure("control did not start:\n" + "".join(self.log))
        self.port = port
        # Keep draining its output so it never blocks on a full pipe.
        threading.Thread(target=self._drain, daemon=True).start()
        return self

    def _drain(self):
        for line in self.proc.stdout:
            with self.cond:
                self.log.append(line)
                self.cond.notify_all()
        with self.cond:
            self.eof = True
            self.cond.notify_all()

    def wait_log(self, pattern, timeout=10, start=0):
        """Wait for a log line matching pattern (woken by each new line, not by polling)."""
        rx = re.compile(pattern)
        with self.cond:
            ok = self.cond.wait_for(
                lambda: any(rx.search(l) for l in self.log[start:]) or self.eof, timeout)
            if not any(rx.search(l) for l in self.log[start:]):
                raise Failure(f"no log line matching {pattern!r}")

    def sanitizer_reports(self):
        """Lines of a sanitizer's report in this instance's output, once it has exited (its
        last lines read): ASan+UBSan builds stop at the first error, and LeakSanitizer reports
        at exit, which only the output shows."""
        if self.proc is None or self.proc.poll() is None:
            return []
        with self.cond:
            self.cond.wait_for(lambda: self.eof, 10)
            return sanitizer.report_lines(self.log)

    def stop(self, sig=15, timeout=20):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise Failure("control did not exit after signal %d" % sig)
        return self.proc.returncode if self.proc else None

    def conn(self):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def request(self, method, path, body=None, headers=None, admin=False, conn=None):
        """Returns (status, headers dict lower-cased, body bytes)."""
        h = dict(headers or {})
        if admin:
            h["Authorization"] = "Bearer " + ADMIN_TOKEN
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            if isinstance(data, str):
                data = data.encode()
            h.setdefault("Content-Type", "application/json")
        c = conn or self.conn()
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        payload = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
        if conn is None:
            c.close()
        return r.status, hdrs, payload

    def register_edge(self, edge, region, base_url, **extra):
        """POST /v1/admin/edges; remembers the secret control makes for a new edge."""
        o = self.json("POST", "/v1/admin/edges",
                      dict({"id": edge, "region": region, "base_url": base_url}, **extra),
                      admin=True)
        if "secret" in o:
            Control.edge_secrets[edge] = o["secret"]
        elif "secret" in extra:
            Control.edge_secrets[edge] = extra["secret"]
        return o

    def heartbeat(self, edge, body, expect=200, secret=None, t_ms=None):
        """A heartbeat signed as the edge signs it, with its registered secret (or secret),
        at t_ms (default: now, and always after this edge's previous one). Returns the error
        object of a refusal, else None."""
        data = json.dumps(body).encode()
        if t_ms is None:
            t_ms = max(int(time.time() * 1000), Control.signed_ms.get(edge, 0) + 1)
            Control.signed_ms[edge] = t_ms
        key = secret or Control.edge_secrets.get(edge, "x" * 64)
        st, h, b = self.request("POST", f"/v1/edges/{edge}/heartbeat", data,
                                headers=heartbeat_headers(key, edge, data, t_ms))
        if st not in (expect if isinstance(expect, tuple) else (expect,)):
            raise Failure(f"heartbeat {edge}: expected {expect}, got {st}: {b[:300]!r}")
        check(h.get("content-type") == "application/json", f"heartbeat {st} not JSON")
        o = json.loads(b)
        if st != 200:
            check(set(o) == {"error", "detail"}, f"heartbeat error shape {o}")
            return o
        # Accepted: control's heartbeat period, the pace the edge must keep (this config's).
        check(o == {"heartbeat_period_s": self.heartbeat_period_s},
              f"heartbeat answer {b[:100]!r}")
        return None

    def json(self, method, path, body=None, expect=200, **kw):
        st, h, b = self.request(method, path, body, **kw)
        if st != expect:
            raise Failure(f"{method} {path}: expected {expect}, got {st}: {b[:300]!r}")
        if h.get("content-type", "").startswith("application/json"):
            return json.loads(b)
        return b

    def error(self, method, path, body=None, expect=400, **kw):
        """An error reply: right status and the {"error","detail"} shape."""
        st, h, b = self.request(method, path, body, **kw)
        if st != expect:
            raise Failure(f"{method} {path}: expected {expect}, got {st}: {b[:300]!r}")
        check(h.get("content-type") == "application/json", f"{path}: error not JSON")
        o = json.loads(b)
        check(set(o) == {"error", "detail"}, f"{path}: error shape {o}")
        if st == 503:
            check("retry-after" in h, f"{path}: 503 without Retry-After")
        return o


def signed_headers(secret, method, target, data, t_ms):
    """The signature headers of an edge's request (common/req-sign.h), computed here
    independently: HMAC-SHA256 over method, target (path and query as sent), time and body."""
    msg = b"%s\n%s\n%d\n" % (method.encode(), target.encode(), t_ms) + data
    sig = hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()
    return {"X-Sluice-Time": str(t_ms), "X-Sluice-Signature": sig}


def heartbeat_headers(secret, edge, data, t_ms):
    """The signature headers of a heartbeat (common/req-sign.h), computed here independently:
    HMAC-SHA256 over method, path, signed time and body."""
    msg = b"POST\n/v1/edges/%s/heartbeat\n%d\n" % (edge.encode(), t_ms) + data
    sig = hmac.new(secret.encode(), msg, hashlib.sha256).hexdigest()
    return {"X-Sluice-Time": str(t_ms), "X-Sluice-Signature": sig,
            "Content-Type": "application/json"}


def row_id(sid):
    """The sessions row id of a signed session id ("S1.<claims>.<mac>"): the claims' nonce,
    their second line (control/sessid.h)."""
    claims = sid.split(".")[1]
    return base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)).decode().split("\n")[1]


def metric(ctl, name):
    """The value of control's metric name (its first series, whatever its labels)."""
    st, _, b = ctl.request("GET", "/metrics")
    m = re.search(rb"^" + name.encode() + rb"(?:\{[^}]*\})? (\d+)", b, re.M)
    check(st == 200 and m, f"metrics carry {name}")
    return int(m.group(1))


def free_port():
    """A TCP port on 127.0.0.1 nothing listens on just now."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def until_ok(ctl, method, path, body=None, tries=15, **kw):
    """Retry as a client does: honour Retry-After on 503."""
    import time
    for _ in range(tries):
        st, h, b = ctl.request(method, path, body, **kw)
        if st != 503:
            return st, h, b
        check("retry-after" in h, "503 without Retry-After")
        time.sleep(int(h["retry-after"]))
    raise Failure(f"{path}: still 503 after {tries} tries")


def make_asset(title, encrypted=False, segments=3, files=True, video_reps=("240p", "360p")):
    """An asset.json as sluice-ingest writes it (docs/ingest.md)."""
    reps = []
    heights = {"240p": (426, 240, 300000), "360p": (640, 360, 700000), "720p": (1280, 720, 3000000)}
    for name in video_reps:
        w, h, bw = heights[name]
        reps.append({
            "id": f"video-{name}", "type": "video", "mime_type": "video/mp4",
            "codec": "avc1.64001f", "bandwidth": bw, "nominal_bitrate": bw,
            "average_bitrate": bw, "width": w, "height": h, "frame_rate": "25/1",
            "timescale": 12800, "init": f"video-{name}/init.mp4",
            "media": f"video-{name}/seg-$Number$.m4s", "start_number": 1,
            "segment_count": segments, "segment_duration": 4,
            "segments": [{"t": i * 51200, "d": 51200} for i in range(segments)],
        })
    reps.append({
        "id": "audio-en", "type": "audio", "mime_type": "audio/mp4", "codec": "mp4a.40.2",
        "lang": "en", "bandwidth": 128000, "sample_rate": 48000, "channels": 2,
        "timescale": 48000, "init": "audio-en/init.mp4", "media": "audio-en/seg-$Number$.m4s",
        "start_number": 1, "segment_count": segments, "segment_duration": 4,
        "segments": [{"t": i * 192000, "d": 192000} for i in range(segments)],
    })
    fl = []
    if files:
        for r in reps:
            fl.append({"path": r["init"], "size": 800, "sha256": "ab" * 32})
            for n in range(1, segments + 1):
                fl.append({"path": r["media"].replace("$Number$", str(n)), "size": 10000 + n,
                           "sha256": "%064x" % n})
        fl.append({"path": "text-en/subtitles.vtt", "size": 100, "sha256": "cd" * 32})
    return {
        "version": 1, "title": title, "created": "2026-01-01T12:00:00Z",
        "duration": float(segments * 4), "segment_duration": 4, "segment_count": segments,
        "encryption": ({"scheme": "cenc", "kid": "00112233445566778899aabbccddeeff",
                        "iv_size": 8} if encrypted else None),
        "representations": reps,
        "subtitles": [{"id": "text-en", "lang": "en", "path": "text-en/subtitles.vtt",
                       "mime_type": "text/vtt"}],
        "files": fl,
    }


CONTENT_KEY = "ffeeddccbbaa99887766554433221100"


def register(ctl, title, encrypted=False, metadata=None, series=None, markers=None, segments=3):
    body = {"title": title, "asset": make_asset(title, encrypted, segments)}
    if encrypted:
        body["key"] = {"kid": "00112233445566778899aabbccddeeff", "key": CONTENT_KEY}
    if metadata:
        body["metadata"] = metadata
    if series:
        body["series"] = series
    if markers:
        body["markers"] = markers
    return ctl.json("POST", "/v1/admin/titles", body, admin=True)


def run(main):
    """Run main(binary, tmp) with a temp dir; exit 0/1/77 (77 also when a case called
    skip_case() and none failed)."""
    if len(sys.argv) < 2:
        print("usage: test.py path/to/sluice-control")
        sys.exit(2)
    binary = os.path.abspath(sys.argv[1])
    if shutil.which("psql") is None:
        skip("psql not installed")
    tmp = tempfile.mkdtemp(prefix="ctl-test-")
    os.chmod(tmp, 0o755)
    try:
        main(binary, tmp)
        reports = [(c, r) for c in Control.instances for r in c.sanitizer_reports()]
        if reports:
            raise Failure("a sanitizer report in control's output: " +
                          "; ".join(f"{c.cfg_path}: {r.strip()}" for c, r in reports[:5]))
    except Failure as e:
        print("FAIL:", e)
        for c in Control.instances:
            print("---- log of", c.cfg_path)
            print("".join(c.log[-30:]))
        sys.exit(1)
    finally:
        # A failed test leaves no process behind.
        for c in Control.instances:
            if c.proc and c.proc.poll() is None:
                c.proc.kill()
                c.proc.wait()
        subprocess.run([PG_TEMP, "stop", os.path.join(tmp, "pg")], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
    if SKIPPED:
        for why in SKIPPED:
            print(f"SKIP: {why}")
        sys.exit(SKIP)
    print("PASS")
