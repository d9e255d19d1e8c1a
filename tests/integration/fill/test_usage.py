# SPDX-License-Identifier: MIT
"""sluice-fill refuses a config it cannot act on before it asks anything: an edge without
admin_url or admin_token_file is a usage error (exit 2) where the edge is written, for plan,
run (--dry-run too) and verify, and control is never contacted; status, which needs no admin
API for the journal, prints it without asking control; an edge the command does not act on
is not held against it. `verify --sample 0` and a window starting at 24:00 are refused (exit
2) without asking control.

    python3 test_usage.py /path/to/sluice-fill

Exit status: 0 passed, 1 failed, 77 skipped (the binary missing)."""

import os
import re
import select
import socket
import subprocess
import sys
import tempfile


def main():
    if len(sys.argv) < 2 or not os.access(sys.argv[1], os.X_OK):
        print("SKIP: need the sluice-fill binary as argument")
        return 77
    binary = sys.argv[1]
    failures = []

    def check(ok, msg):
        if not ok:
            failures.append(msg)

    # A stand-in for control that never answers: a connection to it is the failure looked
    # for, seen as a pending accept once the command has ended.
    ctl = socket.socket()
    ctl.bind(("127.0.0.1", 0))
    ctl.listen(16)
    port = ctl.getsockname()[1]

    def contacted():
        n = 0
        while select.select([ctl], [], [], 0)[0]:
            c, _ = ctl.accept()
            c.close()
            n += 1
        return n

    with tempfile.TemporaryDirectory() as d:
        token = os.path.join(d, "admin.token")
        with open(token, "w") as f:
            f.write("t" * 32 + "\n")
        cfg = os.path.join(d, "noadmin.yaml")
        with open(cfg, "w") as f:
            f.write(f"control: http://127.0.0.1:{port}\n"
                    f"state_dir: {d}/state\n"
                    "timeout: 500ms\n"
                    "tz: UTC\n"
                    "edges:\n"
                    "  - id: ok\n"
                    "    admin_url: http://127.0.0.1:1\n"
                    f"    admin_token_file: {token}\n"
                    "  - {id: a, admin_url: \"http://127.0.0.1:1\"}\n"
                    "  - id: b\n"
                    f"    admin_token_file: {token}\n")
        # The window closes 3 s on: before, run retried the plan until then (10 minutes
        # without a window) and exited 1.
        when = ["--window", "00:00-00:01", "--now", "2030-01-01T00:00:57Z"]

        def fill(*args):
            p = subprocess.run([binary, *args], capture_output=True, timeout=60)
            return p.returncode, p.stdout.decode(), p.stderr.decode()

        cases = [("plan", ["plan", "--config", cfg, "--progress", "none"]),
                 ("plan --json", ["plan", "--json", "--config", cfg, "--edge", "a"]),
                 ("run", ["run", "--config", cfg, "--progress", "none", *when]),
                 ("run --dry-run", ["run", "--dry-run", "--config", cfg, "--progress", "none",
                                    *when]),
                 ("verify", ["verify", "--config", cfg, "--edge", "a"])]
        for name, args in cases:
            rc, out, err = fill(*args)
            check(rc == 2, f"{name}: exit {rc}, want 2 (stderr: {err.strip()})")
            check(re.search(r"noadmin\.yaml:9:5: 'edges\[1\]' \(edge a\) has no "
                            r"admin_token_file: plan, run and verify list the edge", err),
                  f"{name}: no file:line:col naming edges[1]'s admin_token_file: {err.strip()}")
            check(contacted() == 0, f"{name}: control was contacted before the config error")

        rc, out, err = fill("plan", "--config", cfg, "--edge", "b")
        check(rc == 2 and re.search(r"noadmin\.yaml:10:5: 'edges\[2\]' \(edge b\) has no "
                                    r"admin_url:", err),
              f"plan --edge b: exit {rc}: {err.strip()}")
        check(contacted() == 0, "plan --edge b: control was contacted")

        rc, out, err = fill("run", "--control", f"http://127.0.0.1:{port}", "--edge", "x",
                            "--admin-url", "http://127.0.0.1:1", *when)
        check(rc == 2 and "edge x: no admin_token_file (--admin-url, --admin-token-file)" in err,
              f"--edge x without --admin-token-file: exit {rc}: {err.strip()}")
        check(contacted() == 0, "--edge x: control was contacted")

        # Values that would do nothing, or read as something else, are refused before control
        # is asked: --sample 0 checked nothing and exited 0, a window starting at 24:00 was
        # read as one starting at 00:00 (24:00-24:00 as all day, though 00:00-00:00 is
        # refused). 24:00 ends a window only. Edge ok has what it needs, so a binary that took
        # them would ask control, and (its timeout 500 ms, midnight 3 s off) soon give up.
        edge_ok = ["--config", cfg, "--edge", "ok", "--progress", "none"]
        near_midnight = ["--now", "2030-01-01T23:59:57Z"]
        for name, args, want in [
                ("verify --sample 0", ["verify", *edge_ok, "--edge-url", "http://127.0.0.1:1",
                                       "--sample", "0"], "--sample: want 1-"),
                ("run --window 24:00-24:00", ["run", *edge_ok, *near_midnight, "--window",
                                              "24:00-24:00"], "--window: want HH:MM-HH:MM"),
                ("run --window 24:00-06:00", ["run", *edge_ok, *near_midnight, "--window",
                                              "24:00-06:00"], "--window: want HH:MM-HH:MM")]:
            rc, out, err = fill(*args)
            check(rc == 2 and want in err, f"{name}: exit {rc}, want 2 and {want!r}: "
                                           f"{(out + err).strip()[-300:]}")
            check(contacted() == 0, f"{name}: control was contacted")
        cfg24 = os.path.join(d, "w24.yaml")
        with open(cfg24, "w") as f:
            f.write(f"control: http://127.0.0.1:{port}\n"
                    f"state_dir: {d}/state\n"
                    "timeout: 500ms\n"
                    "tz: UTC\n"
                    "window: \"24:00-24:00\"\n"
                    "edges:\n"
                    f"  - {{id: x, admin_url: 'http://127.0.0.1:1', admin_token_file: {token}}}\n")
        rc, out, err = fill("run", "--config", cfg24, "--progress", "none", *near_midnight)
        check(rc == 2 and "w24.yaml:5:" in err and "'window' must be HH:MM-HH:MM" in err,
              f"window: 24:00-24:00 in the file: exit {rc}: {err.strip()[-300:]}")
        check(contacted() == 0, "window: 24:00-24:00 in the file: control was contacted")

        # A token or secret file with a NUL byte on its first line is refused naming the
        # file, before control is asked: read as a string, the token ended at the NUL.
        nul = os.path.join(d, "nul.token")
        with open(nul, "wb") as f:
            f.write(b"t" * 32 + b"\0" + b"t" * 32 + b"\n")
        for flag in ("--control-token-file", "--secret-file"):
            rc, out, err = fill("plan", "--config", cfg, "--edge", "ok", flag, nul)
            check(rc == 2 and f"{nul}: its first line holds a NUL byte" in err,
                  f"{flag} holding a NUL byte: exit {rc}, want 2 naming the file: "
                  f"{err.strip()[-300:]}")
            check(contacted() == 0, f"{flag} holding a NUL byte: control was contacted")

        # status reads the journal without the admin API, and asks control nothing for it.
        rc, out, err = fill("status", "--config", cfg, "--edge", "a")
        check("no run recorded" in out and "its admin API is not given" in out,
              f"status --edge a: {out.strip()} {err.strip()}")
        check(rc == 1, f"status --edge a: exit {rc}, want 1 (its coverage is unknown)")
        check(contacted() == 0, "status --edge a: control was contacted")

        # The edge acted on has what it needs: the others are not held against it (control
        # is asked, and its silence ends the plan with exit 1 after the 500 ms timeout).
        rc, out, err = fill("plan", "--config", cfg, "--edge", "ok")
        check(rc == 1, f"plan --edge ok: exit {rc}, want 1 (control does not answer)")
        check(contacted() == 1, "plan --edge ok: control was not asked")

    ctl.close()
    for f in failures:
        print("FAIL:", f)
    if failures:
        return 1
    print("ok: an edge without admin access refused where it is written, control not asked")
    return 0


if __name__ == "__main__":
    sys.exit(main())
