# SPDX-License-Identifier: MIT
"""Signals and command line: SIGHUP reload without dropping connections, a bad reload keeps the
old config, --check-config, --help, --version."""

import copy
import os
import re
import signal
import subprocess
import sys
import time

from edgeharness import (build_request, check, eq, expect_body, run, standard_setup, test,
                         yaml_dump)

ALLOWED = "https://allowed.example"
OTHER = "https://other.example"
SETUP = standard_setup({"limits": {"idle_timeout": "30s"}},
                       {"/t1/one.bin": b"x", "/t1/init.mp4": b"init" * 100})


def acao(e, origin):
    return e.get("/t1/one.bin", [("Origin", origin)]).get("Access-Control-Allow-Origin")


def wait_for(cond, what, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not cond():
        check(time.monotonic() < deadline, f"{what} did not happen within {timeout}s")
        time.sleep(0.05)  # poll interval for an asynchronous reload


@test
def sighup_reloads_cors_keeping_connections(e):
    check(acao(e, OTHER) in ("*", OTHER), "before reload any origin is allowed")
    with e.conn(timeout=10) as kept:
        kept.send(build_request("GET", "/t1/one.bin"))
        expect_body(kept.read_response(), b"x", "kept connection before reload")
        e.cfg["cors_origins"] = [ALLOWED]
        e.write_config()
        e.signal(signal.SIGHUP)
        wait_for(lambda: acao(e, OTHER) is None, "dropping ACAO for a non-listed origin")
        eq(acao(e, ALLOWED), ALLOWED, "ACAO for the listed origin after reload")
        check(e.running(), "edge died on SIGHUP")
        kept.expect_open(0.2, "keep-alive connection across SIGHUP")
        check(kept.send(build_request("GET", "/t1/one.bin")), "send on the kept connection")
        expect_body(kept.read_response(), b"x", "kept connection after reload")


@test
def bad_reload_keeps_old_config(e):
    good = copy.deepcopy(e.cfg)
    e.cfg["cors_origins"] = [OTHER]
    e.cfg["no_such_key"] = 1
    e.write_config()
    log_start = os.path.getsize(e.log_path)
    e.signal(signal.SIGHUP)
    # Evidence that the reload was attempted: the config error (file:line:col:) in the log.
    pos = re.compile(re.escape(e.config_path) + r":\d+:\d+:")

    def logged():
        with open(e.log_path, "rb") as f:
            f.seek(log_start)
            return pos.search(f.read().decode("utf-8", "replace")) is not None
    wait_for(logged, "a file:line:col: error in the log after a SIGHUP with a bad config")
    check(e.running(), "edge died on a SIGHUP with a bad config")
    eq(acao(e, OTHER), None, "a bad config must not be half-applied")
    eq(acao(e, ALLOWED), ALLOWED, "old config still in force")
    e.cfg = good
    e.write_config()


def run_bin(e, *args):
    return subprocess.run([e.binary, *args], capture_output=True, timeout=20,
                          stdin=subprocess.DEVNULL)


@test
def check_config_good(e):
    e.write_config()
    p = run_bin(e, "--check-config", "--config", e.config_path)
    eq(p.returncode, 0, f"--check-config on a good file (stderr {p.stderr[-300:]!r})")


@test
def check_config_bad(e):
    bad_path = os.path.join(e.dir, "bad.yaml")
    cfg = copy.deepcopy(e.cfg)
    text = yaml_dump(cfg) + "\n"
    lines = text.splitlines()
    # Line 3 becomes an unknown key; its position is line 3, column 1.
    lines.insert(2, "bogus_key: 1")
    with open(bad_path, "w") as f:
        f.write("\n".join(lines) + "\n")
    p = run_bin(e, "--check-config", "--config", bad_path)
    out = (p.stderr + p.stdout).decode("utf-8", "replace")
    eq(p.returncode, 2, f"--check-config on a bad file (output {out[-300:]!r})")
    m = re.search(re.escape(bad_path) + r":(\d+):(\d+):", out)
    check(m is not None, f"no '{bad_path}:line:col:' in {out!r}")
    eq(int(m.group(1)), 3, f"line of the unknown key in {out.strip()!r}")

    # A value of the wrong type: workers is on the line we find, the value at its column.
    lines = (yaml_dump(cfg) + "\n").splitlines()
    idx = next(i for i, ln in enumerate(lines) if ln.startswith("workers:"))
    lines[idx] = "workers: many"
    with open(bad_path, "w") as f:
        f.write("\n".join(lines) + "\n")
    p = run_bin(e, "--check-config", "--config", bad_path)
    out = (p.stderr + p.stdout).decode("utf-8", "replace")
    eq(p.returncode, 2, f"--check-config with workers: many (output {out[-300:]!r})")
    m = re.search(re.escape(bad_path) + r":(\d+):(\d+):", out)
    check(m is not None, f"no '{bad_path}:line:col:' in {out!r}")
    eq((int(m.group(1)), int(m.group(2))), (idx + 1, len("workers: ") + 1),
       f"position of the bad value in {out.strip()!r}")

    # A limit above what the request parser holds (100 header fields) is refused, not clamped.
    cfg = copy.deepcopy(e.cfg)
    cfg.setdefault("limits", {})["max_headers"] = 500
    lines = (yaml_dump(cfg) + "\n").splitlines()
    idx = next(i for i, ln in enumerate(lines) if ln.strip().startswith("max_headers:"))
    with open(bad_path, "w") as f:
        f.write("\n".join(lines) + "\n")
    p = run_bin(e, "--check-config", "--config", bad_path)
    out = (p.stderr + p.stdout).decode("utf-8", "replace")
    eq(p.returncode, 2, f"--check-config with max_headers: 500 (output {out[-300:]!r})")
    m = re.search(re.escape(bad_path) + r":(\d+):(\d+): (.*)", out)
    check(m is not None, f"no '{bad_path}:line:col:' in {out!r}")
    eq((int(m.group(1)), int(m.group(2))), (idx + 1, lines[idx].index("500") + 1),
       f"position of max_headers: 500 in {out.strip()!r}")
    check("100" in m.group(3), f"the message does not give the bound 100: {m.group(3)!r}")

    # The same for a head larger than the connection's input buffer (64K).
    cfg = copy.deepcopy(e.cfg)
    cfg.setdefault("limits", {})["max_header_bytes"] = "1M"
    with open(bad_path, "w") as f:
        f.write(yaml_dump(cfg) + "\n")
    p = run_bin(e, "--check-config", "--config", bad_path)
    out = (p.stderr + p.stdout).decode("utf-8", "replace")
    eq(p.returncode, 2, f"--check-config with max_header_bytes: 1M (output {out[-300:]!r})")
    check("max_header_bytes" in out or "65536" in out, f"which key: {out.strip()!r}")


@test
def check_config_missing_file(e):
    p = run_bin(e, "--check-config", "--config", os.path.join(e.dir, "absent.yaml"))
    check(p.returncode != 0, "--check-config on a missing file exited 0")


@test
def bad_config_at_start_exits_2(e):
    bad_path = os.path.join(e.dir, "bad-start.yaml")
    with open(bad_path, "w") as f:
        f.write("listen: [\"127.0.0.1:1\"]\nworkers: -5\n")
    p = run_bin(e, "--config", bad_path)
    out = (p.stderr + p.stdout).decode("utf-8", "replace")
    eq(p.returncode, 2, f"start with a bad config (output {out[-300:]!r})")
    check(re.search(re.escape(bad_path) + r":\d+:\d+:", out), f"no file:line:col: in {out!r}")


@test
def bad_keys_file_at_start_exits_2(e):
    # A keys file the edge can read but not use is a configuration error: 2, which the unit's
    # RestartPreventExitStatus=2 leaves stopped instead of restarting it in a loop.
    keys = os.path.join(e.dir, "short-keys.yaml")
    with open(keys, "w") as f:
        f.write("keys:\n  - {kid: k1, secret: \"abcd\"}\n")
    cfg = copy.deepcopy(e.cfg)
    cfg["tokens"] = {"required": True, "keys_file": keys}
    path = os.path.join(e.dir, "bad-keys.yaml")
    with open(path, "w") as f:
        f.write(yaml_dump(cfg) + "\n")
    p = run_bin(e, "--config", path)
    out = (p.stderr + p.stdout).decode("utf-8", "replace")
    eq(p.returncode, 2, f"start with unusable token keys (output {out[-300:]!r})")
    check("secret must be" in out, f"the log says why: {out[-300:]!r}")
    os.remove(keys)
    p = run_bin(e, "--config", path)
    eq(p.returncode, 1, "a keys file that cannot be read is a start-up failure (1)")


@test
def help_and_version(e):
    p = run_bin(e, "--help")
    eq(p.returncode, 0, "--help exit status")
    text = (p.stdout + p.stderr).decode()
    check("--config" in text and "--check-config" in text, f"--help lacks the flags: {text!r}")
    for what in ("HTTP/2", "TLS", "miss", "sluice-edge(8)"):
        check(what in text, f"--help does not mention {what}: {text!r}")
    p = run_bin(e, "--version")
    eq(p.returncode, 0, "--version exit status")
    text = (p.stdout + p.stderr).decode()
    check(re.search(r"\d+\.\d+\.\d+", text), f"--version prints no version: {text!r}")


@test
def sighup_reopens_access_log(e):
    # Log rotation: mv the file away, SIGHUP, and new lines go to a new file at the old path.
    rotated = e.access_log + ".1"
    eq(e.get("/t1/one.bin?rot=before").status, 200, "GET before rotation")
    wait_for(lambda: os.path.exists(e.access_log)
             and b"/t1/one.bin" in open(e.access_log, "rb").read(), "an access-log line")
    os.rename(e.access_log, rotated)
    e.signal(signal.SIGHUP)
    # The reload is asynchronous: request until a line lands in a new file at the old path.
    def reopened():
        eq(e.get("/t1/init.mp4").status, 200, "GET after rotation")
        return os.path.exists(e.access_log) and b"/t1/init.mp4" in open(e.access_log, "rb").read()
    wait_for(reopened, "a new access.log after mv + SIGHUP")


@test
def sigterm_drains_inflight_download(e):
    # Last test: it stops the edge and starts it again on the same cache.
    big = os.urandom(8 * 1024 * 1024)
    e.put("/t1/drain.m4s", big)
    idle = e.conn(timeout=10)
    idle.send(build_request("GET", "/t1/one.bin"))
    expect_body(idle.read_response(), b"x", "idle keep-alive connection's request")
    c = e.conn(timeout=20, rcvbuf=65536)
    try:
        c.send(build_request("GET", "/t1/drain.m4s"))
        while len(c.buf) < 100_000:
            c._fill(time.monotonic() + 10)
        t0 = time.monotonic()
        e.signal(signal.SIGTERM)
        # The download in progress finishes byte-exact ...
        expect_body(c.read_response(timeout=20), big, "download in flight at SIGTERM")
        # ... the idle keep-alive connection is closed rather than waited on (idle_timeout 30 s)
        closed, took, extra = idle.wait_eof(5)
        check(closed and extra == b"", f"idle connection not closed during drain ({took:.1f}s)")
        # ... and the process exits 0 without waiting for idle_timeout.
        try:
            rc = e.proc.wait(10)
        except subprocess.TimeoutExpired:
            raise AssertionError("edge still running 10 s after SIGTERM with only idle connections")
        eq(rc, 0, "exit status after draining")
        check(time.monotonic() - t0 < 10, "drain took too long")
    finally:
        c.close()
        idle.close()
        if e.running():
            e.proc.kill()
            e.proc.wait()
        e.start()  # whatever happened, later tests and the final stop get a running edge
    expect_body(e.get("/t1/drain.m4s"), big, "object after drain and restart")


if __name__ == "__main__":
    sys.exit(run(SETUP))
