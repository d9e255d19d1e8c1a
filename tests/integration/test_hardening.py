# SPDX-License-Identifier: MIT
"""The edge's self-restriction and its service-manager notifications.

Started as root with `user: nobody`, the running edge must show in /proc/<pid>/status (every
thread of it): a non-zero uid, no capabilities, NoNewPrivs 1 and Seccomp 2 (filter mode); its
rings must be io_uring-restricted; and it must still serve, take admin PUTs and reload. A Python
datagram socket stands in for systemd's notify socket: READY=1, WATCHDOG=1 at half of
WATCHDOG_USEC, RELOADING=1/READY=1 around SIGHUP, STOPPING=1 on SIGTERM.

Run by an ordinary user, the same edge starts without `user:` (it cannot switch) and every case
but the user switch's own runs against it (that one skips, so the file exits 77, not 0);
unprivileged_start, which starts an edge that never had root (as root: spawned as `nobody`),
runs either way. Needs a `nobody` user when run as root.
"""

import ctypes
import functools
import grp
import os
import pwd
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

from edgeharness import SKIP, Edge, check, eq, expect_body, run, serve_origin, skip, test

USER = "nobody"
WORKERS = 2
ROOT = os.geteuid() == 0


def root_test(fn):
    """A case about the switch from root to USER: run only as root, skipped (the file then
    exits 77, not 0) otherwise."""
    if ROOT:
        return test(fn)

    @functools.wraps(fn)
    def needs_root(ctx):
        skip(f"not root: the edge starts as uid {os.geteuid()}, so its switch from root to "
             f"{USER!r} is not checked")
    return test(needs_root)


def edge_uid():
    """The uid an edge of this test runs as once started: USER's when the test runs as root."""
    return pwd.getpwnam(USER).pw_uid if ROOT else os.geteuid()


def status_fields(path):
    out = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def thread_status(pid):
    base = f"/proc/{pid}/task"
    return {tid: status_fields(f"{base}/{tid}/status") for tid in os.listdir(base)}


def open_to_user(e):
    """The edge re-reads its config and token files as the unprivileged user on SIGHUP."""
    os.chmod(e.dir, 0o755)
    os.chmod(e.token_file, 0o644)


def wait_for(cond, what, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        check(time.monotonic() < deadline, f"{what} did not happen within {timeout}s")
        time.sleep(0.05)  # poll interval, bounded by the deadline


class NotifySocket:
    """Plays systemd's side of sd_notify: collects the datagrams the edge sends."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        os.chmod(self.path, 0o777)  # the edge sends after switching to nobody
        self.messages = []  # (monotonic time, text)

    def expect(self, wanted, timeout=5.0):
        """Wait for a datagram containing the line wanted; returns its arrival time."""
        deadline = time.monotonic() + timeout
        for t, text in self.messages:
            if wanted in text.split("\n"):
                self.messages.remove((t, text))
                return t
        while True:
            remaining = deadline - time.monotonic()
            check(remaining > 0, f"no {wanted!r} from the edge within {timeout}s "
                                 f"(got {[m for _, m in self.messages]!r})")
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            now = time.monotonic()
            text = data.decode()
            if wanted in text.split("\n"):
                return now
            self.messages.append((now, text))

    def close(self):
        self.sock.close()


CONTEXTS = []


class Ctx:
    def __init__(self, binary):
        self.binary = binary
        self.edge = None
        self.notify = None


def setup(binary):
    if ROOT:
        try:
            pwd.getpwnam(USER)
        except KeyError:
            print(f"SKIP: no user {USER!r} on this machine")
            sys.exit(SKIP)
    ctx = Ctx(binary)
    CONTEXTS.append(ctx)
    e = Edge(binary, {"user": USER, "workers": WORKERS} if ROOT else {"workers": WORKERS})
    open_to_user(e)
    ctx.notify = NotifySocket(e.dir)
    os.environ["NOTIFY_SOCKET"] = ctx.notify.path
    os.environ["WATCHDOG_USEC"] = "400000"  # pings every 200 ms
    try:
        e.start()
    finally:
        del os.environ["NOTIFY_SOCKET"]
        del os.environ["WATCHDOG_USEC"]
    ctx.edge = e
    # The listeners accept a moment before the filter is loaded (rings first, then seccomp).
    wait_for(lambda: log_has(e, r"io_uring restricted to"), "the sandbox summary in the log")
    e.push({"/t1/seg-1.m4s": os.urandom(200_000), "/t1/one.bin": b"x"})
    return ctx


@test
def notify_ready(ctx):
    ready = ctx.notify.expect("READY=1")
    # Before it, the store's start-up check extends the start timeout and says how it goes:
    # a fresh store has no index entries, and 256 directories to read.
    before = [m.split("\n") for t, m in ctx.notify.messages if t <= ready]
    opening = [ln for m in before if "EXTEND_TIMEOUT_USEC=30000000" in m for ln in m
               if ln.startswith("STATUS=opening the store: ")]
    for want in ("0 of 0 index entries checked against their files",
                 "0 of 256 directories read for files no entry names",
                 "256 of 256 directories read for files no entry names"):
        check(f"STATUS=opening the store: {want}" in opening,
              f"no {want!r} with a start timeout extended before READY=1: {before}")


@test
def proc_status_every_thread(ctx):
    pid = ctx.edge.proc.pid
    threads = thread_status(pid)
    check(len(threads) >= WORKERS + 2, f"expected main + {WORKERS} workers + admin, "
                                       f"got {len(threads)} threads")
    uid = edge_uid()
    check(uid != 0, "the edge's uid is 0")
    # Without CAP_SETPCAP (not root) the edge cannot empty its bounding set, nor need to: with
    # the other sets empty and no_new_privs set, nothing can raise a capability again.
    caps = ("CapInh", "CapPrm", "CapEff", "CapAmb") + (("CapBnd",) if ROOT else ())
    for tid, st in threads.items():
        what = f"thread {tid} ({st.get('Name')})"
        uids = [int(x) for x in st["Uid"].split()]
        eq(uids, [uid] * 4, f"{what} Uid (real, effective, saved, fs)")
        gids = [int(x) for x in st["Gid"].split()]
        if ROOT:
            check(all(g != 0 for g in gids), f"{what} Gid is root: {st['Gid']}")
        else:
            eq(gids[:3], list(os.getresgid()), f"{what} Gid (real, effective, saved)")
        for cap in caps:
            eq(int(st[cap], 16), 0, f"{what} {cap}")
        eq(st["NoNewPrivs"], "1", f"{what} NoNewPrivs")
        eq(st["Seccomp"], "2", f"{what} Seccomp (2 = filter)")
        check(int(st.get("Seccomp_filters", "1")) >= 1, f"{what} Seccomp_filters")


@test
def rings_restricted(ctx):
    with open(ctx.edge.log_path) as f:
        log = f.read()
    m = re.search(r"io_uring restricted to (\d+) opcodes on (\d+) of (\d+) rings, "
                  r"seccomp (\w+) \((\d+) rules\)", log)
    check(m is not None, "no sandbox summary line in the edge log")
    ops, restricted, rings, mode, rules = m.groups()
    check(int(ops) >= 5, f"only {ops} opcodes allowed")
    eq(int(restricted), WORKERS + 1, "rings restricted (client workers + admin)")
    eq(int(rings), WORKERS + 1, "rings")
    check(mode in ("kill", "log"), f"seccomp mode {mode}")
    check(int(rules) > 50, f"seccomp rules {rules}")


@root_test
def cache_handed_to_user(ctx):
    nobody = pwd.getpwnam(USER).pw_uid
    for root, dirs, files in os.walk(ctx.edge.cache_dir):
        for name in dirs + files + ["."]:
            p = os.path.join(root, name)
            eq(os.lstat(p).st_uid, nobody, f"owner of {p}")


@test
def serves_and_stores_under_the_sandbox(ctx):
    e = ctx.edge
    data = os.urandom(1 << 20)
    e.put("/t2/seg-9.m4s", data)
    expect_body(e.get("/t2/seg-9.m4s"), data, "hit after a PUT under seccomp")
    expect_body(e.get("/t1/one.bin"), b"x", "small hit")
    eq(e.admin("DELETE", "/admin/objects/t2/seg-9.m4s").status in (200, 204), True,
       "DELETE under seccomp")
    eq(e.get("/t2/seg-9.m4s").status, 404, "deleted object")
    check(e.running(), "edge died under its seccomp filter")


def fills_under_the_filter(ctx, upstreams, misses, prepare=None):
    """A one-worker edge, its upstreams upstreams(origin_url), fills each (path, what) of misses
    from an origin serving one body, under the seccomp filter (kill mode), and must still be
    running after them. prepare(e) runs before the edge starts."""
    body = os.urandom(50_000)

    def handle(h):
        h.send_response(200)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)
    origin = serve_origin(handle)
    e = Edge(ctx.binary, {"workers": 1, "upstreams": upstreams(origin.url)})
    try:
        if prepare:
            prepare(e)
        e.start()
        wait_for(lambda: log_has(e, r"io_uring restricted to"), "the sandbox summary in the log")
        for path, what in misses:
            expect_body(e.get(path), body, what)
        check(e.running(), "edge died under its seccomp filter")
        e.stop()
    finally:
        e.cleanup()
        origin.shutdown()


@test
def upstream_with_an_ipv6_zone(ctx):
    # An upstream named with an IPv6 zone (libcurl resolves the interface name with an
    # ioctl, SIOCGIFINDEX, on every transfer): the first upstream, unreachable, is tried and
    # the miss is filled from the next.
    fills_under_the_filter(
        ctx, lambda url: [{"url": "http://[fe80::1%25lo]:9", "connect_timeout": "200ms"},
                          {"url": url}],
        [("/zone/t/seg-1.m4s", "a miss past an upstream with a zone")])


def private_hosts(hosts_path):
    """A preexec for the edge: a mount namespace of its own whose /etc/hosts is hosts_path, so
    a name the test makes up resolves there and nowhere else. Root only."""
    libc = ctypes.CDLL(None, use_errno=True)
    CLONE_NEWNS, MS_REC, MS_PRIVATE, MS_BIND = 0x20000, 0x4000, 0x40000, 0x1000

    def enter():
        if (libc.unshare(CLONE_NEWNS) != 0 or
                libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0 or
                libc.mount(hosts_path.encode(), b"/etc/hosts", None, MS_BIND, None) != 0):
            err = ctypes.get_errno()
            raise OSError(err, f"private /etc/hosts: {os.strerror(err)}")
    return enter


@test
def upstream_named_by_host(ctx):
    # An upstream by name, as operators write it: libcurl's resolver thread, started under the
    # filter (clone3 refused, clone with CLONE_THREAD let through), asks getaddrinfo, which
    # reads /etc/hosts. With threads forbidden the edge dies here (and in the zone case above).
    if not ROOT:
        skip("not root: cannot give the edge an /etc/hosts of its own to name the origin in")

    def own_hosts(e):
        hosts = os.path.join(e.dir, "hosts")
        with open(hosts, "w") as f:
            f.write("127.0.0.1 localhost\n127.0.0.1 origin.sluice-test\n")
        e.preexec = private_hosts(hosts)
    fills_under_the_filter(
        ctx, lambda url: [{"url": "http://origin.sluice-test:" + url.rsplit(":", 1)[1]}],
        [("/named/t/seg-1.m4s", "a miss from an upstream named by host"),
         ("/named/t/seg-2.m4s", "a second miss, the name resolved again")],
        prepare=own_hosts)


def private_etc_file(path, name):
    """A preexec for the edge: a mount namespace of its own whose /etc/<name> is path. Root
    only."""
    libc = ctypes.CDLL(None, use_errno=True)
    CLONE_NEWNS, MS_REC, MS_PRIVATE, MS_BIND = 0x20000, 0x4000, 0x40000, 0x1000

    def enter():
        if (libc.unshare(CLONE_NEWNS) != 0 or
                libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0 or
                libc.mount(path.encode(), f"/etc/{name}".encode(), None, MS_BIND, None) != 0):
            err = ctypes.get_errno()
            raise OSError(err, f"private /etc/{name}: {os.strerror(err)}")
    return enter


@root_test
def user_keeps_its_groups(ctx):
    """Started as root with `user:`, the edge runs with that user's groups, as su or a unit's
    User= would give them: a secret 0640 root:<group> that the user reads through a group it is
    a member of (the `sluice` group of docs/edge-config.md, "Secret files") is read again on a
    reload. With only the user's own group, the reload was refused (Permission denied)."""
    e = Edge(ctx.binary, {"user": USER, "workers": 1})
    try:
        taken = {g.gr_gid for g in grp.getgrall()}
        gid = next(g for g in range(40000, 60000) if g not in taken)
        groups = os.path.join(e.dir, "group")
        with open("/etc/group") as f, open(groups, "w") as out:
            out.write(f.read() + f"sluice-it-secrets:x:{gid}:{USER}\n")
        os.chmod(e.dir, 0o755)
        os.chown(e.token_file, 0, gid)
        os.chmod(e.token_file, 0o640)
        e.preexec = private_etc_file(groups, "group")
        e.start()
        wait_for(lambda: log_has(e, r"io_uring restricted to"), "the sandbox summary in the log")
        st = status_fields(f"/proc/{e.proc.pid}/status")
        eq(st["Uid"].split()[0], str(pwd.getpwnam(USER).pw_uid), "uid after the switch")
        check(str(gid) in st["Groups"].split(), f"groups after the switch: {st['Groups']!r}")
        os.chmod(e.config_path, 0o644)
        e.reload()
        eq(e.admin("GET", "/admin/objects?prefix=/").status, 200,
           "the admin API after the reload (its token read anew)")
        e.stop()
    finally:
        e.cleanup()


@test
def watchdog_pings(ctx):
    t1 = ctx.notify.expect("WATCHDOG=1", timeout=2.0)
    t2 = ctx.notify.expect("WATCHDOG=1", timeout=2.0)
    # Half of WATCHDOG_USEC is 200 ms; queued pings may arrive together.
    check(t2 - t1 < 0.4 + 0.2, f"pings {t2 - t1:.3f}s apart, want about 0.2s")


def pings_in(notify, seconds):
    """Arrival times of the WATCHDOG=1 datagrams over the next seconds."""
    times, deadline = [], time.monotonic() + seconds
    while (remaining := deadline - time.monotonic()) > 0:
        notify.sock.settimeout(remaining)
        try:
            data = notify.sock.recv(4096)
        except socket.timeout:
            break
        if "WATCHDOG=1" in data.decode().split("\n"):
            times.append(time.monotonic())
    return times


@test
def watchdog_stops_for_a_stuck_loop(ctx):
    """A worker loop blocked in a call (here: writing its access log into a pipe nobody reads)
    must stop the pings, so the service manager restarts the edge; once it turns again, they
    come back."""
    d = tempfile.mkdtemp(prefix="sluice-it-")
    fifo = os.path.join(d, "access.fifo")
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # held, and not read until the end
    e = Edge(ctx.binary, {"workers": WORKERS, "log": {"access_log": fifo}})
    notify = NotifySocket(e.dir)
    os.environ["NOTIFY_SOCKET"] = notify.path
    os.environ["WATCHDOG_USEC"] = "400000"  # pings every 200 ms

    def drain():
        while True:
            try:
                if os.read(reader, 65536):
                    continue
            except BlockingIOError:
                pass
            except OSError:  # closed by the test's cleanup
                return
            if e.proc.poll() is not None:
                return
            time.sleep(0.01)  # poll interval while the edge writes nothing

    try:
        e.start()
        notify.expect("READY=1")
        steady = pings_in(notify, 1.0)
        check(len(steady) >= 3, f"{len(steady)} pings in 1 s before the stall, want about 5")
        # Requests on several connections (spread over the workers): each leaves an access log
        # line, and a loop blocks once the pipe's buffer is full.
        req = b"GET /nothing-here HTTP/1.1\r\nHost: x\r\n\r\n" * 1500
        socks = []
        for _ in range(8):
            so = socket.create_connection(("127.0.0.1", e.port), timeout=5)
            so.sendall(req)
            socks.append(so)
        pings = pings_in(notify, 2.5)
        gaps = [b - a for a, b in zip([time.monotonic() - 2.5] + pings, pings + [time.monotonic()])]
        check(max(gaps) >= 1.0, f"pings went on while a loop was stuck: gaps {gaps}")
        check(log_has(e, r"watchdog: (worker|admin) loop \d+ has not turned"),
              "no watchdog warning in the log")
        t = threading.Thread(target=drain, daemon=True)
        t.start()
        notify.expect("WATCHDOG=1", timeout=3.0)
        again = pings_in(notify, 1.0)
        check(len(again) >= 3, f"{len(again)} pings in 1 s after the loop turned again")
        check(log_has(e, r"watchdog: every loop answers again"), "no recovery line in the log")
        for so in socks:
            so.close()
        e.stop()
    finally:
        del os.environ["NOTIFY_SOCKET"]
        del os.environ["WATCHDOG_USEC"]
        e.cleanup()
        notify.close()
        os.close(reader)
        subprocess.run(["rm", "-rf", d], check=False)


@test
def reload_notifies_and_works(ctx):
    e = ctx.edge
    e.cfg["cors_origins"] = ["https://allowed.example"]
    e.write_config()
    os.chmod(e.config_path, 0o644)
    e.signal(signal.SIGHUP)
    ctx.notify.expect("RELOADING=1")
    ctx.notify.expect("READY=1")

    def acao():
        return e.get("/t1/one.bin", [("Origin", "https://other.example")]).get(
            "Access-Control-Allow-Origin")
    wait_for(lambda: acao() is None, "the reloaded CORS list taking effect")
    check(e.running(), "edge died reloading under seccomp")


@test
def stopping_on_sigterm(ctx):
    e = ctx.edge
    e.stop()
    ctx.notify.expect("STOPPING=1")


def log_has(e, pattern):
    with open(e.log_path, errors="replace") as f:
        return re.search(pattern, f.read()) is not None


def status_of_started(binary, overrides, log_line):
    """Start an edge, wait for log_line (the sandbox is set up after the listeners are bound and
    before any request is read or READY=1 is sent), and return its /proc status."""
    e = Edge(binary, overrides)
    try:
        e.start()
        wait_for(lambda: log_has(e, log_line), f"log line {log_line!r}")
        st = status_fields(f"/proc/{e.proc.pid}/status")
        e.stop()
        return st
    finally:
        e.cleanup()


@test
def sandbox_switch(ctx):
    off = status_of_started(ctx.binary, {"sandbox": {"enabled": False}},
                            r"sandbox.*disabled by configuration")
    eq(off["Seccomp"], "0", "Seccomp with sandbox.enabled false")
    eq(off["NoNewPrivs"], "0", "NoNewPrivs with sandbox.enabled false")
    on = status_of_started(ctx.binary, {"sandbox": {"seccomp": "log"}}, r"seccomp log \(\d+ rules\)")
    eq(on["Seccomp"], "2", "Seccomp in log mode")
    eq(int(on["CapEff"], 16), 0, "CapEff without user:")
    eq(on["Uid"].split()[0], str(os.geteuid()), "uid unchanged without user:")


class UnprivilegedEdge(Edge):
    """An edge that never has root: spawned as USER when the test runs as root (its files
    handed to USER first), as the test's own user otherwise. No `user:` in its config."""

    def start(self, timeout=15.0):
        self.write_config()
        kw = {}
        if ROOT:
            pw = pwd.getpwnam(USER)
            for root, dirs, files in os.walk(self.dir):
                for name in dirs + files + ["."]:
                    os.lchown(os.path.join(root, name), pw.pw_uid, pw.pw_gid)
            kw = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
        with open(self.log_path, "ab") as logf:
            self.proc = subprocess.Popen([self.binary, "--config", self.config_path],
                                         stdout=logf, stderr=logf, stdin=subprocess.DEVNULL, **kw)
        self.wait_ready(timeout)
        return self


@test
def unprivileged_start(ctx):
    """Without root from the start (an ordinary user, or a unit's User= with no capabilities)
    the edge cannot switch users but still locks itself down: every thread shows a non-zero uid,
    no capabilities, NoNewPrivs 1 and Seccomp 2, and it still serves."""
    e = UnprivilegedEdge(ctx.binary, {"workers": WORKERS})
    try:
        e.start()
        wait_for(lambda: log_has(e, r"io_uring restricted to"), "the sandbox summary in the log")
        uid = edge_uid()
        check(uid != 0, "the unprivileged edge would run as uid 0")
        threads = thread_status(e.proc.pid)
        check(len(threads) >= WORKERS + 2, f"expected main + {WORKERS} workers + admin, "
                                           f"got {len(threads)} threads")
        for tid, st in threads.items():
            what = f"thread {tid} ({st.get('Name')})"
            eq([int(x) for x in st["Uid"].split()], [uid] * 4,
               f"{what} Uid (real, effective, saved, fs)")
            # The bounding set stays: emptying it needs CAP_SETPCAP, which the edge never had.
            for cap in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
                eq(int(st[cap], 16), 0, f"{what} {cap}")
            eq(st["NoNewPrivs"], "1", f"{what} NoNewPrivs")
            eq(st["Seccomp"], "2", f"{what} Seccomp (2 = filter)")
        with open(e.log_path, errors="replace") as f:
            m = re.search(r"uid (\d+), capabilities none, no_new_privs, io_uring restricted to "
                          r"\d+ opcodes on (\d+) of (\d+) rings, seccomp (\w+)", f.read())
        check(m is not None, "no sandbox summary line in the edge log")
        eq(int(m.group(1)), uid, "uid in the sandbox summary")
        eq((int(m.group(2)), int(m.group(3))), (WORKERS + 1, WORKERS + 1),
           "rings restricted, of rings")
        check(m.group(4) in ("kill", "log"), f"seccomp mode {m.group(4)}")
        data = os.urandom(100_000)
        e.put("/u1/seg-1.m4s", data)
        expect_body(e.get("/u1/seg-1.m4s"), data, "hit from the unprivileged edge")
        e.stop()
        reports = e.sanitizer_reports()
        check(not reports, "sanitizer reports:\n  " + "\n  ".join(reports[:10]))
    finally:
        e.cleanup()


@test
def no_request_before_the_filter(ctx):
    """A client knocking from before the edge starts gets its first answer only once every
    thread is filtered: the workers wait for main's seccomp load before reading a request.
    (The status is read right after that first answer; were the answer to come first, this
    would catch it whenever the filter was not loaded yet.)"""
    e = Edge(ctx.binary, {"sandbox": {"seccomp": "log"}})
    seen = {}
    stop = threading.Event()

    def knock():
        while not stop.is_set():
            try:
                with socket.create_connection(("127.0.0.1", e.port), timeout=2.0) as s:
                    s.sendall(b"GET /early.m4s HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                    if s.recv(64).startswith(b"HTTP/1.1 "):
                        if e.proc is None:
                            continue  # not our edge: another test's server had the port
                        seen["threads"] = thread_status(e.proc.pid)
                        return
            except OSError:
                time.sleep(0.001)  # not listening yet: knock again at once
    t = threading.Thread(target=knock)
    try:
        t.start()
        e.start()
        t.join(10)
        check("threads" in seen, "no answer within 10 s of the start")
        for tid, st in seen["threads"].items():
            eq(st["Seccomp"], "2", f"thread {tid} ({st.get('Name')}) Seccomp at the first answer")
        e.stop()
    finally:
        stop.set()
        t.join(5)
        e.cleanup()


@test
def bad_seccomp_mode_is_a_config_error(ctx):
    d = tempfile.mkdtemp(prefix="sluice-it-")
    try:
        path = os.path.join(d, "edge.yaml")
        with open(path, "w") as f:
            f.write("listen: [\"127.0.0.1:0\"]\ncache: {dir: %s}\nsandbox:\n  seccomp: maybe\n" % d)
        p = subprocess.run([ctx.binary, "--check-config", "--config", path],
                           capture_output=True, text=True, timeout=10)
        eq(p.returncode, 2, "exit status for sandbox.seccomp: maybe")
        check(re.search(re.escape(path) + r":4:\d+:", p.stderr) is not None,
              f"no file:line:col in {p.stderr!r}")
    finally:
        subprocess.run(["rm", "-rf", d], check=False)


def main():
    # The edge is stopped by stopping_on_sigterm (which also checks exit status 0).
    rc = run(setup, teardown_stop=False)
    for ctx in CONTEXTS:
        if ctx.edge is not None:
            reports = ctx.edge.sanitizer_reports()
            if reports:
                print("not ok - sanitizer_clean:\n  " + "\n  ".join(reports[:10]))
                rc = 1
            ctx.edge.cleanup()
        if ctx.notify is not None:
            ctx.notify.close()
    return rc


if __name__ == "__main__":
    rc = main()
    sys.exit(rc)
