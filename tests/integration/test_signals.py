# SPDX-License-Identifier: MIT
"""Signals and command line: SIGHUP reload without dropping connections (cors_origins, limits,
the admin token, the URL-signing keys, the workers' time slice), a bad reload keeps the old
config (and still reopens the access log for a rotation), --check-config (the YAML and the
files it names), --help, --version; the access log's one line per request, refusals and
pipelining included; the worker threads' names."""

import base64
import copy
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

from edgeharness import (HOST, Edge, build_request, check, deep_merge, eq, expect_body, free_port,
                         metric, run, skip, standard_setup, test, yaml_dump)

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
        # Each worker takes the new configuration when it next wakes: until all have, a new
        # connection may land on one still answering by the old. Every answer must follow
        # the new one in the end (4 connections in a row, whichever workers they reach).
        wait_for(lambda: all(acao(e, OTHER) is None and acao(e, ALLOWED) == ALLOWED
                             for _ in range(4)),
                 "ACAO only for the listed origin, on every connection")
        check(e.running(), "edge died on SIGHUP")
        kept.expect_open(0.2, "keep-alive connection across SIGHUP")
        check(kept.send(build_request("GET", "/t1/one.bin")), "send on the kept connection")
        expect_body(kept.read_response(), b"x", "kept connection after reload")


@test
def bad_reload_keeps_old_config(e):
    # The config in force lists ALLOWED only (set here too, so the case also runs alone).
    if e.cfg.get("cors_origins") != [ALLOWED]:
        e.cfg["cors_origins"] = [ALLOWED]
        e.write_config()
        e.signal(signal.SIGHUP)
        wait_for(lambda: all(acao(e, ALLOWED) == ALLOWED for _ in range(4)),
                 "the good config in force on every connection")
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
    # /metrics says so too, and a good reload puts it right.
    failed = metric(e, "sluice_edge_config_reloads_total", 'result="failed"')
    check(failed >= 1, f"refused reloads counted: {failed}")
    eq(metric(e, "sluice_edge_config_last_reload_successful"), 0.0, "last reload successful")
    e.cfg = good
    e.write_config()
    ok = metric(e, "sluice_edge_config_reloads_total", 'result="ok"')
    e.reload()
    eq(metric(e, "sluice_edge_config_reloads_total", 'result="ok"') - ok, 1.0, "reloads that took")
    eq(metric(e, "sluice_edge_config_last_reload_successful"), 1.0, "after a good reload")


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


def check_fails_naming(e, cfg, name, bad_file, what):
    """--check-config on cfg (written to name) exits 2 with a message naming bad_file."""
    path = os.path.join(e.dir, name)
    with open(path, "w") as f:
        f.write(yaml_dump(cfg) + "\n")
    p = run_bin(e, "--check-config", "--config", path)
    out = (p.stderr + p.stdout).decode("utf-8", "replace")
    eq(p.returncode, 2, f"--check-config with {what} (output {out[-400:]!r})")
    check(bad_file in out, f"the message does not name {bad_file}: {out[-400:]!r}")
    check(": ok" not in p.stdout.decode("utf-8", "replace"), f"ok printed with {what}")


@test
def check_config_reads_the_files_it_names(e):
    # A rotation that leaves a file the start (or reload) cannot use must fail the check the
    # unit runs before a start and a reload, not only the YAML.
    keys = os.path.join(e.dir, "garbage-keys.yaml")
    with open(keys, "w") as f:
        f.write("\x01\x02 not: [a keys file\n")
    cfg = copy.deepcopy(e.cfg)
    cfg["tokens"] = {"required": True, "keys_file": keys}
    check_fails_naming(e, cfg, "garbage-keys-edge.yaml", keys, "a garbage keys file")

    cert = os.path.join(e.dir, "garbage.pem")
    key = os.path.join(e.dir, "garbage.key")
    for path in (cert, key):
        with open(path, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n"
                    "-----END CERTIFICATE-----\n")
    cfg = copy.deepcopy(e.cfg)
    cfg["tls"] = [{"listen": "127.0.0.1:1", "certs": [{"cert": cert, "key": key}]}]
    check_fails_naming(e, cfg, "garbage-cert-edge.yaml", cert, "a garbage certificate")

    admin = os.path.join(e.dir, "absent-admin.token")
    cfg = copy.deepcopy(e.cfg)
    cfg.setdefault("admin", {})["token_file"] = admin
    check_fails_naming(e, cfg, "absent-admin-edge.yaml", admin, "a missing admin token file")
    # A token file that names no token (a directory, an empty first line) is as unusable as
    # a missing one: the admin API would answer 401 to everyone (it passed the check).
    empty = os.path.join(e.dir, "empty-admin.token")
    with open(empty, "w") as f:
        f.write("\nsecond line\n")
    for path, what in ((e.dir, "a directory as the admin token file"),
                       (empty, "an admin token file whose first line is empty")):
        cfg = copy.deepcopy(e.cfg)
        cfg.setdefault("admin", {})["token_file"] = path
        check_fails_naming(e, cfg, "unusable-admin-edge.yaml", path, what)


@test
def start_names_each_listener(e):
    """The start's log says what each address is for: clients or the admin API (it said
    "listening on ADDR" for all alike)."""
    log = open(e.log_path, errors="replace").read()
    check(f"listening on {HOST}:{e.port} (clients: HTTP/1.1 and h2c)" in log,
          f"the client listener: {log[-600:]!r}")
    check(f"listening on {HOST}:{e.admin_port} (admin API)" in log,
          f"the admin listener: {log[-600:]!r}")


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


def start_with(e, cfg, name):
    """Start the binary on cfg (written to name) and wait for it to end, as a start refused
    does: (exit status, its output)."""
    path = os.path.join(e.dir, name)
    with open(path, "w") as f:
        f.write(yaml_dump(cfg) + "\n")
    p = run_bin(e, "--config", path)
    return p.returncode, (p.stderr + p.stdout).decode("utf-8", "replace")


@test
def bad_keys_file_at_start_exits_2(e):
    # A keys file the edge can read but not use is a configuration error: 2, which the unit's
    # RestartPreventExitStatus=2 leaves stopped instead of restarting it in a loop.
    keys = os.path.join(e.dir, "short-keys.yaml")
    with open(keys, "w") as f:
        f.write("keys:\n  - {kid: k1, secret: \"abcd\"}\n")
    cfg = copy.deepcopy(e.cfg)
    cfg["tokens"] = {"required": True, "keys_file": keys}
    rc, out = start_with(e, cfg, "bad-keys.yaml")
    eq(rc, 2, f"start with unusable token keys (output {out[-300:]!r})")
    check(re.search(re.escape(keys) + r":2:\d+: key k1: secret is 2 bytes; it must be 16 to 64",
                    out), f"the log says where and why: {out[-300:]!r}")
    os.remove(keys)
    rc, _ = start_with(e, cfg, "bad-keys.yaml")
    eq(rc, 1, "a keys file that cannot be read is a start-up failure (1)")


@test
def missing_certificate_at_start_exits_1(e):
    """A certificate or key file that cannot be opened is a start-up failure (1, which the
    unit restarts: it may be provisioned a moment later) with the system's reason, as a keys
    file is; a garbage one stays 2. It was 2 with "cannot load the certificate chain"."""
    cert = os.path.join(e.dir, "absent.pem")
    cfg = copy.deepcopy(e.cfg)
    cfg["tls"] = [{"listen": "127.0.0.1:1", "certs": [{"cert": cert, "key": cert}]}]
    rc, out = start_with(e, cfg, "absent-cert.yaml")
    eq(rc, 1, f"start with a missing certificate (output {out[-300:]!r})")
    check(f"{cert}: No such file or directory" in out, f"the log says why: {out[-300:]!r}")


@test
def locked_memory_short_says_so(e):
    """Each worker's io_uring rings count against the locked-memory limit once capabilities
    are dropped: a limit too low for the workers stops the start (1) saying which limit and
    what to do. It said only "cannot start worker 0: Cannot allocate memory"; a shell's
    8 MiB stops the documented 62 workers near 50."""
    import resource

    def low():
        resource.setrlimit(resource.RLIMIT_MEMLOCK, (64 << 10, 64 << 10))
    t = Edge(e.binary)  # a cache.dir and ports of its own
    try:
        t.write_config()
        p = subprocess.run([t.binary, "--config", t.config_path], capture_output=True,
                           timeout=20, stdin=subprocess.DEVNULL, preexec_fn=low)
    finally:
        t.cleanup()
    out = (p.stderr + p.stdout).decode("utf-8", "replace")
    eq(p.returncode, 1, f"a start under a 64 KiB locked-memory limit (output {out[-400:]!r})")
    check("the locked-memory limit, 64 KiB here" in out and "ulimit -l" in out,
          f"the log names the limit and what to do: {out[-400:]!r}")


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
def logrotate_config_rotates_access_log(e):
    """dist/logrotate.d/sluice run by logrotate itself, on this edge's access log: the lines
    before the rotation are in access.log.1, the next ones in a new access.log. Its postrotate
    command (systemctl, for the unit's main process) is replaced by the same signal sent to
    this edge's process; that it names the unit and SIGHUP is checked from the file."""
    logrotate = shutil.which("logrotate") or shutil.which("/usr/sbin/logrotate")
    if not logrotate:
        skip("no logrotate (tools/deps installs it)")
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "dist",
                       "logrotate.d", "sluice")
    conf = open(src).read()
    post = re.search(r"^\s*postrotate\n(.*?)^\s*endscript", conf, re.M | re.S)
    check(post and re.search(r"systemctl kill --kill-whom=main --signal=HUP sluice-edge\.service",
                             post.group(1)), f"postrotate does not signal sluice-edge: {post}")
    check("/var/log/sluice/*.log {" in conf, "the config does not name /var/log/sluice/*.log")
    conf = conf.replace("/var/log/sluice/*.log", e.access_log)
    conf = conf.replace(post.group(1), f"\t\tkill -HUP {e.proc.pid}\n")
    work = os.path.join(e.dir, "logrotate")
    os.makedirs(work, exist_ok=True)
    with open(os.path.join(work, "sluice"), "w") as f:
        f.write(conf)
    eq(e.get("/t1/one.bin?rot=logrotate-before").status, 200, "GET before rotation")
    wait_for(lambda: os.path.exists(e.access_log)
             and b"rot=logrotate-before" in open(e.access_log, "rb").read(), "an access-log line")
    p = subprocess.run([logrotate, "--force", "--state", os.path.join(work, "state"),
                        os.path.join(work, "sluice")], capture_output=True, text=True, timeout=60)
    eq(p.returncode, 0, f"logrotate exit status ({p.stderr.strip()})")
    rotated = e.access_log + ".1"  # delaycompress: the newest rotation stays uncompressed
    check(os.path.exists(rotated) and b"rot=logrotate-before" in open(rotated, "rb").read(),
          "the line before the rotation is not in access.log.1")

    # The signal is taken asynchronously: until the edge has reopened (a probe's line in the
    # new file), lines may still go to access.log.1, which delaycompress keeps for them. From
    # then on, none may.
    def reopened():
        eq(e.get("/t1/one.bin?rot=logrotate-probe").status, 200, "GET after rotation")
        return os.path.exists(e.access_log) and \
            b"rot=logrotate-probe" in open(e.access_log, "rb").read()
    wait_for(reopened, "a new access.log after logrotate")
    eq(e.get("/t1/one.bin?rot=logrotate-after").status, 200, "GET after the reopen")
    wait_for(lambda: b"rot=logrotate-after" in open(e.access_log, "rb").read(),
             "the line after the reopen in the new access.log")
    check(b"rot=logrotate-after" not in open(rotated, "rb").read(),
          "a line after the reopen went to access.log.1")


@test
def bad_reload_still_reopens_access_log(e):
    # logrotate renames the file and sends SIGHUP whatever the configuration file holds: a
    # reload that fails still reopens the access log, or the edge writes on into the rotated
    # file (compressed and deleted on the next rotations) and the lines are lost.
    good = copy.deepcopy(e.cfg)
    rotated = e.access_log + ".1"
    eq(e.get("/t1/one.bin?rot=bad-before").status, 200, "GET before rotation")
    wait_for(lambda: os.path.exists(e.access_log)
             and b"rot=bad-before" in open(e.access_log, "rb").read(), "an access-log line")
    os.rename(e.access_log, rotated)
    e.cfg["no_such_key"] = 1
    e.write_config()
    log_start = os.path.getsize(e.log_path)
    e.signal(signal.SIGHUP)
    pos = re.compile(re.escape(e.config_path) + r":\d+:\d+:")

    def logged():
        with open(e.log_path, "rb") as f:
            f.seek(log_start)
            return pos.search(f.read().decode("utf-8", "replace")) is not None
    wait_for(logged, "the config error in the log after the SIGHUP")
    eq(e.get("/t1/one.bin?rot=bad-after").status, 200, "GET after rotation")

    def landed():
        for path in (e.access_log, rotated):
            if os.path.exists(path) and b"rot=bad-after" in open(path, "rb").read():
                return path
        return None
    wait_for(lambda: landed() is not None, "the access-log line of the GET after rotation")
    eq(landed(), e.access_log, "file the line after rotation and a failed reload went to")
    e.cfg = good
    e.write_config()


@test
def sighup_reopens_log_file(e):
    """log.target as a file: rotated (renamed), then SIGHUP, and the edge's own lines go to
    a new file at the path (docs/edge-config.md)."""
    t = Edge(e.binary)
    path = os.path.join(t.dir, "messages.log")
    t.cfg["log"]["target"] = path
    try:
        t.start()
        wait_for(lambda: os.path.exists(path) and os.path.getsize(path) > 0, "a log line")
        os.rename(path, path + ".1")
        t.signal(signal.SIGHUP)
        wait_for(lambda: os.path.exists(path)
                 and b"configuration reloaded" in open(path, "rb").read(),
                 "the reload's line in a new file at the log's path")
    finally:
        t.stop()
        t.cleanup()


@test
def log_target_change_waits_for_a_restart(e):
    """log.target changed in the file: no number of reloads moves the log there (the second
    used to, reopening the path the last reload loaded), and a rotation between them still
    gets a new file at the start's path."""
    t = Edge(e.binary)
    path, moved = os.path.join(t.dir, "first.log"), os.path.join(t.dir, "second.log")
    t.cfg["log"]["target"] = path
    try:
        t.start()
        wait_for(lambda: os.path.exists(path) and os.path.getsize(path) > 0, "a log line")
        t.cfg["log"]["target"] = moved
        t.write_config()
        for n in range(3):
            os.rename(path, f"{path}.{n}")
            t.signal(signal.SIGHUP)
            wait_for(lambda: os.path.exists(path)
                     and b"configuration reloaded" in open(path, "rb").read(),
                     f"reload {n + 1}'s line in a new file at the start's path")
            check(not os.path.exists(moved), f"reload {n + 1} moved the log to {moved}")
            check(t.running(), "edge died on the reload")
    finally:
        t.stop()
        t.cleanup()


@test
def sighup_names_keys_that_need_a_restart(e):
    """Keys read only at start (docs/edge-config.md): a reload that changes them is taken for
    the rest and says, naming each, that the running value stays until a restart; a key that
    a reload applies is not named."""
    t = Edge(e.binary, {"log": {"access_log": None}})
    try:
        t.start()
        first = copy.deepcopy(t.cfg)
        deep_merge(t.cfg, {"workers": 1,
                           "cache": {"fd_cache": 16, "index_map_size": "2G",
                                     "scrub_rate": "2M", "scrub_pause": "2h"},
                           "sandbox": {"enabled": True, "seccomp": "log"},
                           "user": "nobody",
                           "log": {"access_log": t.access_log},
                           "limits": {"max_pipeline": 4}})
        t.write_config()
        start = os.path.getsize(t.log_path)
        t.reload()
        lines = [ln for ln in edge_log_since(t, start).splitlines() if "restart" in ln]
        said = "\n".join(lines)
        for key in ("workers", "cache.fd_cache", "cache.index_map_size", "cache.scrub_rate",
                    "cache.scrub_pause", "sandbox.seccomp", "user", "log.access_log"):
            check(re.search(rf"(^|[ ,']){re.escape(key)}([ ,']|$)", said) is not None,
                  f"the reload names {key} as needing a restart: {said!r}")
        check("max_pipeline" not in said, f"a key the reload applies is not named: {said!r}")
        check(t.running(), "edge died on the reload")
        # The running values are the start's: the same file again still differs from them
        # (it was compared with the last file and said nothing), and the start's file again
        # differs in nothing (it named every key as changed).
        start = os.path.getsize(t.log_path)
        t.reload()
        said = "\n".join(ln for ln in edge_log_since(t, start).splitlines() if "restart" in ln)
        check(re.search(r"(^|[ ,'])workers([ ,']|$)", said) is not None,
              f"a second reload of the same file names workers again: {said!r}")
        for key in ("workers", "cache", "sandbox", "user", "log", "limits"):
            t.cfg.pop(key, None)
        t.cfg.update(copy.deepcopy(first))
        t.write_config()
        start = os.path.getsize(t.log_path)
        t.reload()
        said = "\n".join(ln for ln in edge_log_since(t, start).splitlines() if "restart" in ln)
        eq(said, "", "a reload back to the start's values names no key")
    finally:
        t.stop()
        t.cleanup()


@test
def sighup_access_log_off_or_unopenable(e):
    """Turning the access log off takes a restart, and a reload says so naming
    log.access_log while the lines go on into the open file (it was taken, the gauge 1, with a
    warning that named no key); an access log moved where it cannot be opened refuses the
    reload, gauge 0, as it stops a start (it was counted applied)."""
    t = Edge(e.binary)
    try:
        t.start()
        first = copy.deepcopy(t.cfg)
        del t.cfg["log"]["access_log"]  # the default: off
        t.write_config()
        start = os.path.getsize(t.log_path)
        t.reload()
        said = "\n".join(ln for ln in edge_log_since(t, start).splitlines() if "restart" in ln)
        check(re.search(r"(^|[ ,'])log\.access_log([ ,']|$)", said) is not None,
              f"a reload turning the access log off names log.access_log: {said!r}")
        eq(metric(t, "sluice_edge_config_last_reload_successful"), 1.0, "the rest applied")
        t.get("/t1/one.bin?probe=off-by-reload")
        wait_for(lambda: b"probe=off-by-reload" in open(t.access_log, "rb").read(),
                 "the line in the access log still open")
        # Back on, then moved to a directory that is not there.
        t.cfg = copy.deepcopy(first)
        t.cfg["log"]["access_log"] = os.path.join(t.dir, "absent-dir", "access.log")
        t.write_config()
        start = os.path.getsize(t.log_path)
        t.reload(done="keeping the running configuration")
        said = edge_log_since(t, start)
        check(f"cannot open the access log {t.cfg['log']['access_log']}" in said,
              f"the refusal says which file: {said[-500:]!r}")
        eq(metric(t, "sluice_edge_config_last_reload_successful"), 0.0, "the reload refused")
        t.get("/t1/one.bin?probe=after-refusal")
        wait_for(lambda: b"probe=after-refusal" in open(t.access_log, "rb").read(),
                 "the line in the access log in force")
    finally:
        if t.running():
            t.stop()
        t.cleanup()


@test
def check_config_looks_at_what_a_start_opens(e):
    """--check-config refuses, naming the key, what a start stops on before it serves: a log
    or access log under a file or at a directory, an unknown user, a cache.dir that is a file.
    They passed the check (the unit's pre-check before a start and a reload) and the start
    then exited 1. A directory not there yet is only warned of: the unit's LogsDirectory= and
    CacheDirectory= make theirs at start."""
    plain = os.path.join(e.dir, "plain-file")
    with open(plain, "w") as f:
        f.write("x")
    absent = os.path.join(e.dir, "absent-dir")
    cases = (("log.target", {"log": {"target": os.path.join(plain, "edge.log")}}),
             ("log.access_log", {"log": {"access_log": e.dir}}),
             ("user", {"user": "no-such-user-sluice"}),
             ("cache.dir", {"cache": {"dir": plain}}))
    for key, over in cases:
        cfg = deep_merge(copy.deepcopy(e.cfg), copy.deepcopy(over))
        path = os.path.join(e.dir, "start-check.yaml")
        with open(path, "w") as f:
            f.write(yaml_dump(cfg) + "\n")
        p = run_bin(e, "--check-config", "--config", path)
        out = (p.stderr + p.stdout).decode("utf-8", "replace")
        eq(p.returncode, 2, f"--check-config with {over} (output {out[-400:]!r})")
        check(key in out, f"the check names {key}: {out[-400:]!r}")
        rc, out = start_with(e, cfg, "start-check.yaml")
        check(rc != 0, f"a start with {over} exits non-zero (output {out[-300:]!r})")
    cfg = deep_merge(copy.deepcopy(e.cfg),
                     {"log": {"access_log": os.path.join(absent, "access.log")}})
    with open(path, "w") as f:
        f.write(yaml_dump(cfg) + "\n")
    p = run_bin(e, "--check-config", "--config", path)
    out = (p.stderr + p.stdout).decode("utf-8", "replace")
    eq(p.returncode, 0, f"an access log in a directory not made yet (output {out[-400:]!r})")
    check(f"{absent} does not exist (yet)" in out, f"warned of: {out[-400:]!r}")
    check(not os.path.exists(absent), "the check created nothing")


@test
def sighup_names_control_url_added(e):
    """The heartbeat and fill plan threads start only when the start's configuration has a
    control.url: a reload that adds one sends nothing, and names control.url as needing a
    restart (it said only "configuration reloaded"). On an edge started with one, the threads
    read each snapshot, so a reload that changes control.url and control.edge_id names
    nothing."""
    t = Edge(e.binary, {"log": {"access_log": None}})
    try:
        t.start()
        t.cfg["control"] = {"url": f"http://{HOST}:{free_port()}", "edge_id": "edge-a"}
        t.write_config()
        start = os.path.getsize(t.log_path)
        t.reload()
        said = "\n".join(ln for ln in edge_log_since(t, start).splitlines() if "restart" in ln)
        check(re.search(r"(^|[ ,'])control\.url([ ,']|$)", said) is not None,
              f"a reload adding control.url names it as needing a restart: {said!r}")
        t.stop()
        t.start()
        t.cfg["control"] = {"url": f"http://{HOST}:{free_port()}/", "edge_id": "edge-b"}
        t.write_config()
        start = os.path.getsize(t.log_path)
        t.reload()
        said = "\n".join(ln for ln in edge_log_since(t, start).splitlines() if "restart" in ln)
        eq(said, "", "a reload changing control.url and control.edge_id names no key")
    finally:
        if t.running():
            t.stop()
        t.cleanup()

# ---------------------------------------------------------------------------------------------
# What a reload promises (docs/edge.md, "Signals"): limits, the admin token re-read from
# token_file and the token keys take effect for new requests.

def admin_status(e, token):
    r = e.request("GET", "/admin/objects?prefix=/t1/&limit=1",
                  [("Authorization", f"Bearer {token}")], admin=True)
    return r.status


@test
def token_file_trimmed_and_bounded(e):
    """The admin token file's first line, spaces around it trimmed (leading ones too), up to
    255 bytes (254 were the most taken); one longer is refused at start, exit 2, not cut to a
    prefix that would then pass."""
    t = Edge(e.binary)
    try:
        t.token = "k" * 255
        with open(t.token_file, "w") as f:
            f.write("  \t" + t.token + " \r\n")
        t.start()
        eq(admin_status(t, t.token), 200, "a 255-byte token, the blanks around it trimmed")
        t.stop()
        with open(t.token_file, "w") as f:
            f.write("k" * 256 + "\n")
        p = subprocess.run([t.binary, "--config", t.config_path], capture_output=True,
                           text=True, timeout=20)
        eq(p.returncode, 2, "an over-long token is refused at start as a configuration error")
        check(f"admin.token_file {t.token_file}: its first line is longer than 255 bytes"
              in p.stderr, f"says which file and why: {p.stderr[-500:]!r}")
        # Read as a string the token ended at a NUL, and its first 32 bytes were taken.
        with open(t.token_file, "wb") as f:
            f.write(b"k" * 32 + b"\0" + b"k" * 32 + b"\n")
        p = subprocess.run([t.binary, "--config", t.config_path], capture_output=True,
                           text=True, timeout=20)
        eq(p.returncode, 2, "a token holding a NUL byte is refused at start")
        check(f"admin.token_file {t.token_file}: its first line holds a NUL byte" in p.stderr,
              f"says which file and why: {p.stderr[-500:]!r}")
    finally:
        if t.running():
            t.stop()
        t.cleanup()


@test
def every_token_file_refused_alike(e):
    """What the admin token file is refused for (a directory, an empty first line, one over
    255 bytes, a NUL byte) is refused in the peer and upstream token files and the control secret too,
    with exit 2 at start as --check-config says. The peer and upstream ones took an empty
    line (an empty peer token turned the peer check off: every child fill 403) and exited 1
    for the rest."""
    empty = os.path.join(e.dir, "empty.token")
    with open(empty, "w") as f:
        f.write("\n" + "k" * 32 + "\n")
    long = os.path.join(e.dir, "long.token")
    with open(long, "w") as f:
        f.write("k" * 256 + "\n")
    nul = os.path.join(e.dir, "nul.token")
    with open(nul, "wb") as f:
        f.write(b"k" * 32 + b"\0" + b"k" * 32 + b"\n")
    files = ((e.dir, "a directory"), (empty, "an empty first line"), (long, "256 bytes"),
             (nul, "a NUL byte"))
    keys = (("tokens.peer_token_file",
             lambda c, p: c.setdefault("tokens", {}).update(peer_token_file=p)),
            ("upstreams[0].token_file",
             lambda c, p: c.update(upstreams=[{"url": "http://127.0.0.1:9", "token_file": p}])),
            ("control.secret_file",
             lambda c, p: c.update(control={"url": "http://127.0.0.1:9", "edge_id": "e1",
                                            "secret_file": p})))
    for key, put in keys:
        for path, what in files:
            cfg = copy.deepcopy(e.cfg)
            put(cfg, path)
            rc, out = start_with(e, cfg, "unusable-token.yaml")
            eq(rc, 2, f"start with {what} as {key} (output {out[-400:]!r})")
            check(f"{key} {path}" in out, f"the start names {key} and the file: {out[-400:]!r}")
            p = run_bin(e, "--check-config", "--config", os.path.join(e.dir, "unusable-token.yaml"))
            eq(p.returncode, 2, f"--check-config with {what} as {key}")
    fine = os.path.join(e.dir, "fine.token")
    with open(fine, "w") as f:
        f.write("p" * 255 + "\n")
    cfg = copy.deepcopy(e.cfg)
    cfg.setdefault("tokens", {})["peer_token_file"] = fine
    path = os.path.join(e.dir, "fine-token.yaml")
    with open(path, "w") as f:
        f.write(yaml_dump(cfg) + "\n")
    p = run_bin(e, "--check-config", "--config", path)
    eq(p.returncode, 0, f"a 255-byte peer token: {p.stderr[-300:]!r}")


@test
def sighup_rotates_admin_token(e):
    old, new = e.token, "it-rotated-" + os.urandom(16).hex()
    eq(admin_status(e, old), 200, "the admin token in force before the rotation")
    with open(e.token_file + ".new", "w") as f:
        f.write(new + "\n")
    os.replace(e.token_file + ".new", e.token_file)
    # The file alone changes nothing: the token is read at start and at SIGHUP.
    eq(admin_status(e, new), 401, "the new token before the SIGHUP")
    eq(admin_status(e, old), 200, "the old token before the SIGHUP")
    e.signal(signal.SIGHUP)
    wait_for(lambda: admin_status(e, new) == 200, "the new admin token accepted after SIGHUP")
    e.token = new  # e.put() and the later tests use the token in force
    r = e.request("GET", "/admin/objects?prefix=/t1/&limit=1",
                  [("Authorization", f"Bearer {old}")], admin=True)
    eq(r.status, 401, "the old admin token after the rotation")
    check(r.get("WWW-Authenticate") is not None and
          r.get("WWW-Authenticate").lower().startswith("bearer"),
          f"401 without WWW-Authenticate: Bearer: {r.head_text()!r}")
    eq(e.put("/t1/after-rotation.bin", b"r").status, 201, "PUT with the new token")
    expect_body(e.get("/t1/after-rotation.bin"), b"r", "object pushed with the new token")


def refuse_obs_fold(e):
    with e.conn(timeout=5) as c:
        c.send(b"GET /t1/one.bin HTTP/1.1\r\nHost: edge.test\r\nX-Long: a\r\n b\r\n\r\n")
        eq(c.read_response().status, 400, "obs-fold request")


def edge_log_since(e, start):
    with open(e.log_path, "rb") as f:
        f.seek(start)
        return f.read().decode("utf-8", "replace")


@test
def sighup_applies_log_level(e):
    # A parser refusal is logged at debug ("refused 400: <reason>"), not at info; the line is
    # written before the answer is sent, so its absence once the answer is in is telling.
    start = os.path.getsize(e.log_path)
    refuse_obs_fold(e)
    check("refused 400" not in edge_log_since(e, start), "a debug line at log level info")
    e.cfg["log"]["level"] = "debug"
    e.write_config()
    try:
        e.signal(signal.SIGHUP)

        def logged():
            refuse_obs_fold(e)
            return "refused 400" in edge_log_since(e, start)
        wait_for(logged, "the debug line of a refusal after SIGHUP with log level debug")
    finally:
        e.cfg["log"]["level"] = "info"
        e.write_config()
    e.signal(signal.SIGHUP)
    wait_for(lambda: edge_log_since(e, start).count("configuration reloaded") >= 2,
             "the reload back to log level info")
    start = os.path.getsize(e.log_path)
    refuse_obs_fold(e)
    check("refused 400" not in edge_log_since(e, start), "a debug line after going back to info")


def threads(e):
    """{thread name: se.slice in ns, or None where the kernel does not show one} of the edge."""
    out = {}
    base = f"/proc/{e.proc.pid}/task"
    for tid in os.listdir(base):
        try:
            with open(f"{base}/{tid}/comm") as f:
                name = f.read().strip()
            with open(f"{base}/{tid}/sched") as f:
                m = re.search(r"^se\.slice\s*:\s*(\d+)", f.read(), re.M)
        except FileNotFoundError:
            continue  # a thread that just ended
        out[name] = int(m.group(1)) if m else None
    return out


def custom_slices():
    """Whether this kernel takes a fair task's slice from sched_setattr (6.12 and later)."""
    major, minor = (int(x) for x in re.match(r"(\d+)\.(\d+)", os.uname().release).groups())
    return (major, minor) >= (6, 12)


@test
def worker_threads_named_and_sliced(e):
    names = threads(e)
    for want in ("edge-worker-0", "edge-worker-1", "edge-admin"):
        check(want in names, f"a thread named {want} (threads: {sorted(names)})")
    check(not any(n.startswith("edge-worker-") and n not in ("edge-worker-0", "edge-worker-1")
                  for n in names), f"two client workers (threads: {sorted(names)})")
    if not custom_slices() or names["edge-admin"] is None:
        # The names are checked; the slices cannot be here, so the case is not a pass.
        skip(f"slices not checked: kernel {os.uname().release} has no custom slices (6.12+)")
    default = names["edge-admin"]  # the admin worker keeps the kernel's slice
    for w in ("edge-worker-0", "edge-worker-1"):
        eq(names[w], 100_000, f"{w}'s slice at start (worker_slice_us default 100)")
    try:
        for us, want in ((2000, 2_000_000), (0, default)):
            e.cfg["worker_slice_us"] = us
            e.write_config()
            e.signal(signal.SIGHUP)
            wait_for(lambda: all(threads(e)[w] == want for w in ("edge-worker-0", "edge-worker-1")),
                     f"both client workers at a {want} ns slice after a reload to {us} us")
            eq(threads(e)["edge-admin"], default, f"the admin worker's slice after {us} us")
            eq(e.get("/t1/one.bin").status, 200, f"a request after the reload to {us} us")
    finally:
        e.cfg.pop("worker_slice_us", None)
        e.write_config()
        e.signal(signal.SIGHUP)
    wait_for(lambda: threads(e)["edge-worker-0"] == 100_000, "the default slice back")


def thread_nice(pid):
    """{thread name: nice value} of process pid."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        out[name] = int(fields[16])  # stat field 19, nice
    return out


@test
def niced_edge_stays_niced(e):
    # Started under nice 5 (from this test's own: 19 at most), the workers keep it when they
    # ask for their slice.
    want = min(os.nice(0) + 5, 19)
    n = Edge(e.binary, {"workers": 2})
    try:
        n.write_config()
        with open(n.log_path, "ab") as logf:
            n.proc = subprocess.Popen(["nice", "-n", "5", n.binary, "--config", n.config_path],
                                      stdout=logf, stderr=logf, stdin=subprocess.DEVNULL)
        n.wait_ready(15)
        nice = thread_nice(n.proc.pid)
        for w in ("edge-worker-0", "edge-worker-1", "edge-admin"):
            eq(nice.get(w), want, f"{w}'s nice value (threads: {nice})")
        tail = n.log_tail(200)
        check(not re.search(r"time slice of \d+ us not set", tail), f"the slice refused: {tail}")
        if custom_slices():
            eq(threads(n)["edge-worker-0"], 100_000, "edge-worker-0's slice under nice")
        n.stop()
    finally:
        n.cleanup()


def many_headers(n):
    return [(f"X-H{i}", "v") for i in range(n)]


def limits_status(e, headers):
    return e.get("/t1/one.bin", headers).status


@test
def sighup_applies_limits(e):
    # 20 fields and a 3000-byte field pass the defaults (64 fields, 8192 bytes) ...
    twenty, wide = many_headers(20), [("X-Wide", "w" * 3000)]
    eq(limits_status(e, twenty), 200, "20 header fields before the reload")
    eq(limits_status(e, wide), 200, "a 3000-byte field before the reload")
    saved = copy.deepcopy(e.cfg["limits"])
    e.cfg["limits"]["max_headers"] = 10
    e.cfg["limits"]["max_header_bytes"] = 2048
    e.write_config()
    kept = e.conn(timeout=5)
    try:
        kept.send(build_request("GET", "/t1/one.bin", twenty))
        expect_body(kept.read_response(), b"x", "20 fields on a connection kept across the reload")
        e.signal(signal.SIGHUP)
        # ... and are refused once the lower limits are in force, on every worker ...
        wait_for(lambda: all(limits_status(e, twenty) == 431 for _ in range(6)),
                 "431 for 20 header fields after lowering max_headers to 10")
        # ... and for the next request of a connection opened before the reload.
        kept.send(build_request("GET", "/t1/one.bin", twenty))
        eq(kept.read_response().status, 431, "20 fields on the connection kept across the reload")
        for i in range(6):  # new connections land on either worker
            eq(limits_status(e, wide), 431, f"a 3000-byte field with max_header_bytes 2048 ({i})")
            eq(limits_status(e, many_headers(5)), 200, f"5 fields under the new limit ({i})")
        # Back up: what was refused passes again.
        e.cfg["limits"] = saved
        e.write_config()
        e.signal(signal.SIGHUP)
        wait_for(lambda: all(limits_status(e, twenty) == 200 for _ in range(6)),
                 "20 header fields accepted again after raising the limit")
        for i in range(6):
            eq(limits_status(e, wide), 200, f"a 3000-byte field after the limits went back ({i})")
    finally:
        kept.close()
        e.cfg["limits"] = saved
        e.write_config()


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(kid, secret, title="t1"):
    """A signed-URL token (RFC 9246 JWT, HS256), made here independently of the edge."""
    now = int(time.time())
    head = b64url(json.dumps({"alg": "HS256", "kid": kid, "typ": "JWT"}).encode())
    body = b64url(json.dumps({"cdniv": 1, "exp": now + 600, "nbf": now - 10,
                              "cdniuc": f"regex:^https?://[^/]+/{title}/"}).encode())
    mac = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(mac)}"


def write_keys(path, keys):
    with open(path + ".new", "w") as f:
        f.write("keys:\n")
        for kid, secret in keys:
            f.write(f"  - {{kid: {kid}, secret: {secret.hex()}}}\n")
    os.replace(path + ".new", path)


@test
def sighup_rotates_token_keys(e):
    # An edge of its own, which requires signed URLs (the shared one does not).
    k1, k2 = bytes(range(32)), bytes(range(100, 132))
    t = Edge(e.binary, {"tokens": {"required": True, "keys_file": None}})
    keys = os.path.join(t.dir, "keys.yaml")
    write_keys(keys, [("k1", k1)])
    t.cfg["tokens"]["keys_file"] = keys
    try:
        t.start()
        t.put("/t1/signed.bin", b"signed")

        def status(kid, secret):
            return t.get(f"/s/{mint(kid, secret)}/t1/signed.bin").status
        eq(status("k1", k1), 200, "a URL signed with k1 before the rotation")
        eq(status("k2", k2), 403, "a URL signed with k2 before the rotation")
        write_keys(keys, [("k2", k2)])
        eq(status("k2", k2), 403, "k2 before the SIGHUP (the file is read at start and SIGHUP)")
        t.signal(signal.SIGHUP)
        wait_for(lambda: all(status("k2", k2) == 200 for _ in range(6)),
                 "URLs signed with the new key k2 served after SIGHUP")
        for i in range(6):  # new connections land on either worker
            r = t.get(f"/s/{mint('k1', k1)}/t1/signed.bin")
            eq(r.status, 403, f"a URL signed with the removed key k1 ({i})")
            check(b"signed" not in r.body, "no content in the refusal")
            expect_body(t.get(f"/s/{mint('k2', k2)}/t1/signed.bin"), b"signed",
                        f"a URL signed with k2 ({i})")
        # A key with k1's name but a new secret: only the new secret signs for k1.
        k1b = bytes(range(50, 82))
        write_keys(keys, [("k1", k1b), ("k2", k2)])
        t.signal(signal.SIGHUP)
        wait_for(lambda: all(status("k1", k1b) == 200 for _ in range(6)),
                 "k1 with its new secret served after SIGHUP")
        eq(status("k1", k1), 403, "k1 with its old secret")
        eq(status("k2", k2), 200, "k2 kept")
        check(t.running(), "edge died on SIGHUP")
        t.stop()
        reports = t.sanitizer_reports()
        check(not reports, f"sanitizer reports in the signed-URL edge's log: {reports[:3]}")
    except Exception:
        print(t.log_tail(15))
        raise
    finally:
        t.cleanup()


# ---------------------------------------------------------------------------------------------
# The access log: one line per request (docs/edge.md, "Access log"), refusals included.

# '"METHOD TARGET" status bytes µs key=' (a quote inside the target is written \").
ACCESS_LINE = re.compile(r'"(.*?)(?<!\\)" (\d{3}) (\d+) (\d+) key=')


def access_log_size(e):
    """The access log's size once it has stopped growing: the line of a request answered just
    before is written a little after its client read the answer, and must not be taken for a
    line of what follows."""
    def size():
        return os.path.getsize(e.access_log) if os.path.exists(e.access_log) else 0
    last, stable_since = size(), time.monotonic()
    while time.monotonic() - stable_since < 0.2:
        time.sleep(0.02)  # poll interval while waiting for the log to settle
        now = size()
        if now != last:
            last, stable_since = now, time.monotonic()
    return last


def access_lines(e, start):
    """The whole lines written to the access log after byte offset start."""
    if not os.path.exists(e.access_log):
        return []
    with open(e.access_log, "rb") as f:
        f.seek(start)
        text = f.read().decode("utf-8", "replace")
    return text.split("\n")[:-1]  # the part after the last newline is a line being written


def parsed(line):
    m = ACCESS_LINE.search(line)
    check(m is not None, f"access-log line not in the documented format: {line!r}")
    return m.group(1), int(m.group(2))


def settled_lines(e, start, want, what):
    """Wait until want lines follow start (a worker writes its lines once per loop iteration,
    after the response's last send completes), then a little longer for any extra one."""
    wait_for(lambda: len(access_lines(e, start)) >= want, f"{want} access-log line(s) for {what}")
    time.sleep(0.3)  # an extra line would be written in the same iteration; leave it time
    lines = access_lines(e, start)
    eq(len(lines), want, f"access-log lines for {what} ({lines!r})")
    return lines


@test
def access_log_has_refusals(e):
    ok = b"GET /t1/one.bin HTTP/1.1\r\nHost: edge.test\r\n"
    # (what, bytes, status, the line's "method target", whether the edge then closes)
    cases = [
        ("obs-fold", ok + b"X-Long: a\r\n  b\r\n\r\n", 400, "- -", True),
        ("duplicate Host", ok + b"Host: other.test\r\n\r\n", 400, "- -", True),
        ("malformed Host", b"GET /t1/one.bin HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "- -", True),
        ("missing Host", b"GET /t1/one.bin HTTP/1.1\r\n\r\n", 400, "- -", True),
        ("too many fields", ok + b"".join(b"X-H%d: v\r\n" % i for i in range(80)) + b"\r\n",
         431, "- -", True),
        ("head too large", ok + b"X-Big: " + b"b" * 9000 + b"\r\n\r\n", 431, "- -", True),
        ("DELETE", b"DELETE /t1/one.bin HTTP/1.1\r\nHost: edge.test\r\n\r\n", 405,
         "DELETE /t1/one.bin", False),
        ("POST with a body", b"POST /t1/one.bin HTTP/1.1\r\nHost: edge.test\r\n"
         b"Content-Length: 2\r\n\r\nhi", 405, "POST /t1/one.bin", True),
        # A token in a refused or preflighted target is hidden as in any other line.
        ("preflight with a token", b"OPTIONS /s/eyJh.eyJi.c2ln/t1/one.bin HTTP/1.1\r\n"
         b"Host: edge.test\r\nOrigin: http://player.test\r\n"
         b"Access-Control-Request-Method: GET\r\n\r\n", 204, "OPTIONS /s/*/t1/one.bin", False),
        ("DELETE with a token", b"DELETE /t1/one.bin?a=1&URISigningPackage=eyJh.eyJi.c2ln "
         b"HTTP/1.1\r\nHost: edge.test\r\n\r\n", 405,
         "DELETE /t1/one.bin?a=1&URISigningPackage=*", False),
        ("refused path with a token", b"GET /s/eyJh.eyJi.c2ln/t1/a%2Fb HTTP/1.1\r\n"
         b"Host: edge.test\r\n\r\n", 400, "GET /s/*/t1/a%2Fb", False),
        # In absolute form, and after a doubled slash, too (they were logged in clear).
        ("absolute form with a token", b"POST http://edge.test/s/eyJh.eyJi.c2ln/t1/one.bin "
         b"HTTP/1.1\r\nHost: edge.test\r\n\r\n", 405,
         "POST http://edge.test/s/*/t1/one.bin", False),
        ("absolute form, refused path, token", b"GET http://edge.test/s/eyJh.eyJi.c2ln/../../a "
         b"HTTP/1.1\r\nHost: edge.test\r\n\r\n", 400, "GET http://edge.test/s/*/../../a",
         False),
    ]
    for what, raw, status, request, closes in cases:
        start = access_log_size(e)
        with e.conn(timeout=5) as c:
            c.send(raw)
            eq(c.read_response().status, status, f"{what}: status")
            if closes:
                c.expect_eof(3.0, what)
            else:
                c.expect_open(0.2, what)
        lines = settled_lines(e, start, 1, what)
        eq(parsed(lines[0]), (request, status), f"{what}: request and status in {lines[0]!r}")
        check(" key=- " in lines[0] and " cache=- " in lines[0],
              f"{what}: a refusal has no key and no cache outcome: {lines[0]!r}")
    # The admin listener logs its refusals too.
    for what, raw, status in [("admin obs-fold", ok + b"X-Long: a\r\n\tb\r\n\r\n", 400),
                              ("admin head too large", ok + b"X-Big: " + b"b" * 9000
                               + b"\r\n\r\n", 431)]:
        start = access_log_size(e)
        with e.conn(admin=True, timeout=5) as c:
            c.send(raw)
            eq(c.read_response().status, status, f"{what}: status")
            c.expect_eof(3.0, what)
        lines = settled_lines(e, start, 1, what)
        eq(parsed(lines[0]), ("- -", status), f"{what}: request and status in {lines[0]!r}")


@test
def access_log_unanswered_is_499(e):
    """A request the connection closes on before any answer (here an admin PUT whose body
    never comes) is logged 499, not with the status of the connection's request before."""
    start = access_log_size(e)
    with e.conn(admin=True, timeout=5) as c:
        c.send(build_request("GET", "/healthz"))
        eq(c.read_response().status, 200, "healthz")
        c.send(build_request("PUT", "/admin/objects/t1/never.bin",
                             e.auth() + [("Content-Length", "1000")]) + b"only ten b")
        time.sleep(0.3)
    lines = settled_lines(e, start, 2, "healthz, then a PUT left unanswered")
    eq(parsed(lines[0]), ("GET /healthz", 200), f"first line {lines[0]!r}")
    eq(parsed(lines[1]), ("PUT /admin/objects/t1/never.bin", 499), f"second line {lines[1]!r}")


@test
def access_log_pipelined_batch(e):
    tag = os.urandom(4).hex()
    targets = [f"/t1/one.bin?pipe={tag}-{i}" for i in range(3)]
    start = access_log_size(e)
    with e.conn(timeout=5) as c:
        c.send(b"".join(build_request("GET", t) for t in targets))
        for t in targets:
            expect_body(c.read_response(), b"x", f"pipelined {t}")
        c.expect_open(0.2, "keep-alive connection after a pipelined batch")
    lines = settled_lines(e, start, 3, "3 pipelined GETs")
    eq([parsed(ln) for ln in lines], [(f"GET {t}", 200) for t in targets],
       "one line per pipelined GET, in order")
    conn_ids = {re.search(r" conn=(\d+) ", ln).group(1) for ln in lines}
    eq(len(conn_ids), 1, f"the pipelined GETs share one conn= ({lines!r})")

    # Two GETs and a request the parser refuses, in one write: three lines, the refusal last.
    start = access_log_size(e)
    with e.conn(timeout=5) as c:
        c.send(build_request("GET", targets[0]) + build_request("GET", targets[1])
               + b"GET /t1/one.bin HTTP/1.1\r\nHost: edge.test\r\nX-Long: a\r\n b\r\n\r\n")
        for t in targets[:2]:
            expect_body(c.read_response(), b"x", f"pipelined {t} before a bad request")
        eq(c.read_response().status, 400, "the pipelined obs-fold request")
        c.expect_eof(3.0, "connection after a pipelined 400")
    lines = settled_lines(e, start, 3, "2 pipelined GETs and a 400")
    eq([parsed(ln) for ln in lines], [(f"GET {targets[0]}", 200), (f"GET {targets[1]}", 200),
                                      ("- -", 400)], "one line per request, the 400 included")


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
