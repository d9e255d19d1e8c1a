# SPDX-License-Identifier: MIT
"""What sluice-fill says of control's refusals of the fill plan, by their real status: a 403
(from something in front of control: control itself answers 401) is reported as 403, not as
a 401 with a wrong credentials file blamed; a 401 still names the credentials. Both stop the
edge with exit 1, for plan and run, without retrying. A 503 is retried, and with an all-day
window (00:00-24:00, which never closes) for as long as without one, whatever the time of
day: not only until the next midnight.

    python3 test_control_answers.py /path/to/sluice-fill

No daemons: a small HTTP server in this process stands in for control.
Exit status: 0 passed, 1 failed, 77 skipped (the binary missing)."""

import http.server
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time


class Control(http.server.BaseHTTPRequestHandler):
    answer = (403, b'{"error":"forbidden"}')
    retry_after = None
    asked = 0

    def do_GET(self):
        Control.asked += 1
        status, body = Control.answer
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if Control.retry_after:
            self.send_header("Retry-After", Control.retry_after)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def main():
    if len(sys.argv) < 2 or not os.access(sys.argv[1], os.X_OK):
        print("SKIP: need the sluice-fill binary as argument")
        return 77
    binary = sys.argv[1]
    failures = []

    def check(ok, msg):
        if not ok:
            failures.append(msg)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Control)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    port = srv.server_address[1]
    with tempfile.TemporaryDirectory() as d:
        token = os.path.join(d, "token")
        with open(token, "w") as f:
            f.write("t" * 32 + "\n")
        common = ["--control", f"http://127.0.0.1:{port}", "--control-token-file", token,
                  "--edge", "edge-a", "--admin-url", "http://127.0.0.1:1",
                  "--admin-token-file", token, "--state-dir", os.path.join(d, "state")]
        run = ["--window", "00:00-24:00", "--rate", "unlimited", "--progress", "none"]
        for status, body, want, unwanted in [
                (403, b'{"error":"forbidden"}',
                 ["control refused the fill plan for edge-a (403 Forbidden)", "HTTP 403",
                  "forbidden", "a proxy or an access rule"],
                 ["(401)", "not control's admin token"]),
                (401, b'{"error":"unauthorized"}',
                 ["control refused the fill plan for edge-a (401)",
                  "the token in the control token file is not control's admin token"],
                 ["403"])]:
            Control.answer = (status, body)
            for cmd in (["plan"], ["run", *run]):
                Control.asked = 0
                p = subprocess.run([binary, *cmd, *common], capture_output=True, timeout=60)
                err = p.stderr.decode()
                name = f"{cmd[0]} against {status}"
                check(p.returncode == 1, f"{name}: exit {p.returncode}, want 1: {err.strip()}")
                for w in want:
                    check(w in err, f"{name}: no {w!r} in: {err.strip()}")
                for u in unwanted:
                    check(u not in err, f"{name}: {u!r} in: {err.strip()}")
                check(Control.asked == 1, f"{name}: asked {Control.asked} times, want 1")
        # Two edges, one refused by control (1), one whose secret file cannot be read (2):
        # the run's status is the worse, 2, as the order written in --help and docs/fill.md
        # (2 > 1 > 5 > 3 > 4 > 0) says.
        Control.answer = (401, b'{"error":"unauthorized"}')
        cfg = os.path.join(d, "two.yaml")
        with open(cfg, "w") as f:
            f.write(f"control: http://127.0.0.1:{port}\n"
                    f"control_token_file: {token}\n"
                    f"state_dir: {d}/state2\n"
                    "window: 00:00-24:00\n"
                    "rate: unlimited\n"
                    "edges:\n"
                    f"  - {{id: a, admin_url: 'http://127.0.0.1:1', admin_token_file: {token}}}\n"
                    f"  - {{id: b, admin_url: 'http://127.0.0.1:1', admin_token_file: {token},\n"
                    f"      secret_file: {d}/no-such-secret}}\n")
        p = subprocess.run([binary, "run", "--config", cfg, "--progress", "none"],
                           capture_output=True, timeout=60)
        err = p.stderr.decode()
        check(p.returncode == 2, f"edges ending 1 and 2: exit {p.returncode}, want 2: {err.strip()}")
        check("(401)" in err and "no-such-secret" in err,
              f"edges ending 1 and 2: both not reported: {err.strip()}")
        # control answers 503 with Retry-After: 1 and an all-day window is 5 s from the
        # midnight it does not close at: the run still retries 10 s on, as without a window
        # (until 2026-12-07 it gave up at midnight, "no time left to retry"), and a SIGTERM
        # then ends it (exit 5).
        Control.answer = (503, b'{"error":"unavailable"}')
        Control.retry_after = "1"
        Control.asked = 0
        p = subprocess.Popen([binary, "run", *common, *run, "--tz", "UTC",
                              "--now", "2030-01-01T23:59:55Z"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        time.sleep(10)
        alive = p.poll() is None
        if alive:
            p.send_signal(signal.SIGTERM)
        try:
            rc = p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait()
        err = p.stderr.read().decode()
        name = "run with 00:00-24:00 before midnight against 503"
        check(alive, f"{name}: ended within 10 s, exit {rc}: {err.strip()[-300:]}")
        check("no time left to retry" not in err, f"{name}: gave up: {err.strip()[-300:]}")
        check(rc == 5, f"{name}: exit {rc} after SIGTERM, want 5: {err.strip()[-300:]}")
        check(Control.asked >= 5, f"{name}: asked {Control.asked} times in 10 s, want 5 or more")
        Control.retry_after = None
    srv.shutdown()
    for f in failures:
        print("FAIL:", f)
    if failures:
        return 1
    print("ok: control's 403 and 401 reported as such; its 503 retried past midnight in an "
          "all-day window")
    return 0


if __name__ == "__main__":
    sys.exit(main())
