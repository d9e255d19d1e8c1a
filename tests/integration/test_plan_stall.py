# SPDX-License-Identifier: MIT
"""A control plane whose fill plan hangs holds back neither heartbeats nor a shutdown; one
whose plan is malformed is reported.

A stub control (a misbehaving one, as a fault test needs) answers heartbeats at once and
holds every GET /v1/fill/plan for 30 s, the edge's limit for a plan fetch (or answers a given
plan at once).

  beats_go_on:      while a plan fetch hangs, heartbeats still come every period (control
                    drops an edge after two missed periods), and the failed fetch is not
                    retried on every beat.
  bad_first_plan_said: a control answering the first plan fetch and every retry with a
                    malformed plan: the edge says so once in its log, and retries.
  sigterm_mid_plan: SIGTERM while a plan fetch hangs: the listener closes at once and the edge
                    exits 0 within a few seconds, not when the fetch gives up.
"""

import http.server
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from edgeharness import HOST, Edge, check, run, test

PERIOD = 0.5  # control.heartbeat, s


class StubControl:
    def __init__(self, plan=None):
        self.beats = []  # monotonic arrival times
        self.plans = []
        self.release = threading.Event()
        if plan is not None:  # answered at once
            self.release.set()
        stub = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def answer(self, body=b"{}"):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(n)
                if "/heartbeat" in self.path:
                    stub.beats.append(time.monotonic())
                self.answer()

            def do_GET(self):
                if self.path.startswith("/v1/fill/plan"):
                    stub.plans.append(time.monotonic())
                    stub.release.wait(30)
                self.answer(plan if plan is not None else b'{"objects": []}')

        class S(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass

        self.srv = S((HOST, 0), H)
        self.url = f"http://{HOST}:{self.srv.server_address[1]}"
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.release.set()
        self.srv.shutdown()


def start(binary, ctl):
    e = Edge(binary)
    secret = os.path.join(e.dir, "heartbeat.key")
    with open(secret, "w") as f:
        f.write("a" * 64 + "\n")
    e.cfg["control"] = {"url": ctl.url, "edge_id": "edge-stall", "region": "eu-west",
                        "heartbeat": f"{int(PERIOD * 1000)}ms", "plan_period": "1s",
                        "secret_file": secret}
    e.start()
    deadline = time.monotonic() + 10
    while not ctl.plans and time.monotonic() < deadline:
        time.sleep(0.05)
    check(ctl.plans, "no fill plan asked for")
    return e


@test
def beats_go_on(binary):
    ctl = StubControl()
    e = None
    try:
        e = start(binary, ctl)
        t0 = ctl.plans[0]
        time.sleep(4)
        beats = [t0] + [t for t in ctl.beats if t > t0] + [time.monotonic()]
        gap = max(b - a for a, b in zip(beats, beats[1:]))
        check(gap <= 3 * PERIOD, f"{gap:.1f} s without a heartbeat while the plan hangs")
        check(len(ctl.plans) == 1, f"{len(ctl.plans)} plan fetches while one hangs")
        e.stop()
    finally:
        if e:
            e.cleanup()
        ctl.close()


@test
def bad_first_plan_said(binary):
    # A plan that never arrived whole is said in the log once, as one that stopped arriving is:
    # without it an edge on a control that answers garbage checks no fill against the catalog
    # and nothing says so.
    ctl = StubControl(plan=b'{"objects": [{"path": "t1/seg-1.m4s", "sha256": ')
    e = None
    try:
        e = start(binary, ctl)
        deadline = time.monotonic() + 10
        while len(ctl.plans) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        check(len(ctl.plans) >= 3, f"{len(ctl.plans)} plan fetches: not retried")
        said = e.log_tail(400).count("fill plan from control: not a fill plan")
        check(said == 1, f"the malformed plan said {said} times in the log, want once")
        e.stop()
    finally:
        if e:
            e.cleanup()
        ctl.close()


@test
def sigterm_mid_plan(binary):
    ctl = StubControl()
    e = None
    try:
        e = start(binary, ctl)
        time.sleep(0.3)
        t0 = time.monotonic()
        e.signal(signal.SIGTERM)
        refused = None
        while time.monotonic() - t0 < 10 and refused is None:
            try:
                socket.create_connection((HOST, e.port), timeout=0.5).close()
                time.sleep(0.05)
            except OSError:
                refused = time.monotonic() - t0
        check(refused is not None and refused < 1.5,
              f"the listener still open {time.monotonic() - t0:.1f} s after SIGTERM")
        try:
            rc = e.proc.wait(10)
        except subprocess.TimeoutExpired:
            rc = None
        took = time.monotonic() - t0
        check(rc == 0 and took < 4, f"exit status {rc} {took:.1f} s after SIGTERM")
    finally:
        if e:
            e.cleanup()
        ctl.close()


if __name__ == "__main__":
    sys.exit(run())
