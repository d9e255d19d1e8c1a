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
  plan_dropped_with_control: a reload that takes control.url or control.secret_file away
                    drops the plan's sums, as control.plan_period 0 does: no plan is fetched
                    any more, so fills go back to being checked by length.
  slow_plan_whole:  a plan that takes 36 s to arrive, a piece every half second (a large plan
                    over a slow link), is taken whole; beside it, one that stops arriving
                    after a second is given up once nothing has come for 30 s, and fetched
                    again.
"""

import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from edgeharness import HOST, Edge, check, metric, run, test

PERIOD = 0.5  # control.heartbeat, s


class StubControl:
    """plan: the answer to every plan fetch, at once; with dribble=(seconds, pieces), sent in
    that many pieces evenly over that long, or with stop_at, stopping after that many."""

    def __init__(self, plan=None, dribble=None, stop_at=None):
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
                    if dribble:
                        return self.dribble(plan)
                    stub.release.wait(30)
                self.answer(plan if plan is not None else b'{"objects": []}')

            def dribble(self, body):
                secs, pieces = dribble
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.flush()
                step = -(-len(body) // pieces)
                for i in range(pieces):
                    if stop_at is not None and i == stop_at:
                        stub.release.wait(120)  # quiet until the test ends
                        return
                    if i:
                        time.sleep(secs / (pieces - 1))
                    self.wfile.write(body[i * step:(i + 1) * step])
                    self.wfile.flush()

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


def plan_of(n):
    objs = [{"path": f"t1/seg-{i}.m4s", "sha256": f"{i:064x}"} for i in range(n)]
    return json.dumps({"objects": objs}).encode()


def start(binary, ctl, plan_period="1s"):
    e = Edge(binary)
    secret = os.path.join(e.dir, "heartbeat.key")
    with open(secret, "w") as f:
        f.write("a" * 64 + "\n")
    e.cfg["control"] = {"url": ctl.url, "edge_id": "edge-stall", "region": "eu-west",
                        "heartbeat": f"{int(PERIOD * 1000)}ms", "plan_period": plan_period,
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
def unreachable_control_said_why(binary):
    # A control nothing listens for: the warning carries libcurl's reason (it said only "no
    # answer (unreachable, timed out, or over 64 MiB)", while the reason was known).
    e = Edge(binary)
    try:
        secret = os.path.join(e.dir, "heartbeat.key")
        with open(secret, "w") as f:
            f.write("a" * 64 + "\n")
        with socket.socket() as s:
            s.bind((HOST, 0))
            dead = s.getsockname()[1]  # closed again: nothing listens there
        e.cfg["control"] = {"url": f"http://{HOST}:{dead}", "edge_id": "edge-dead",
                            "region": "eu-west", "heartbeat": "1s", "plan_period": "1s",
                            "secret_file": secret}
        e.start()
        deadline = time.monotonic() + 10
        line = ""
        while not line and time.monotonic() < deadline:
            line = next((ln for ln in e.log_tail(200).splitlines()
                         if "fill plan from control: no answer (" in ln), "")
            time.sleep(0.05)
        check("onnect" in line, f"the warning says why: {line!r}")
        e.stop()
    finally:
        e.cleanup()


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
        # Both bounds are far inside the 30 s a held plan fetch takes to be given up, and wide
        # enough for a sanitizer build on a loaded machine (its exit scans the heap).
        check(refused is not None and refused < 5,
              f"the listener still open {time.monotonic() - t0:.1f} s after SIGTERM")
        try:
            rc = e.proc.wait(20)
        except subprocess.TimeoutExpired:
            rc = None
        took = time.monotonic() - t0
        check(rc == 0 and took < 12, f"exit status {rc} {took:.1f} s after SIGTERM")
    finally:
        if e:
            e.cleanup()
        ctl.close()


def wait_sums(e, want, what):
    deadline = time.monotonic() + 10
    got = None
    while got != want and time.monotonic() < deadline:
        time.sleep(0.1)
        got = metric(e, "sluice_edge_plan_sums")
    check(got == want, f"{what}: {got} plan sums, want {want}; the edge's log: {e.log_tail(5)}")


@test
def plan_dropped_with_control(binary):
    # Removing control (or its secret) applies on SIGHUP: the plan is no longer fetched, and
    # a last one kept would check fills against the catalog as it was, for good (a changed
    # object never filled again until a restart).
    ctl = StubControl(plan=plan_of(3))
    e = None
    try:
        e = start(binary, ctl)
        kept = dict(e.cfg["control"])
        for gone in ("url", "secret_file"):
            e.cfg["control"] = dict(kept)
            e.write_config()
            e.reload()
            wait_sums(e, 3, f"with control.{gone} back")
            del e.cfg["control"][gone]
            e.write_config()
            e.reload()
            wait_sums(e, 0, f"control.{gone} removed")
            check("fill plan: off (" in e.log_tail(40), "the drop is not logged")
        e.stop()
    finally:
        if e:
            e.cleanup()
        ctl.close()


@test
def slow_plan_whole(binary):
    n = 2000
    plan = plan_of(n)
    slow = StubControl(plan, dribble=(36, 73))
    stalled = StubControl(plan, dribble=(36, 73), stop_at=3)
    edges = []
    try:
        edges = [start(binary, slow, "5m"), start(binary, stalled, "5m")]
        t0 = time.monotonic()
        got = 0
        while time.monotonic() - t0 < 50 and (got != n or len(stalled.plans) < 2):
            time.sleep(0.5)
            got = metric(edges[0], "sluice_edge_plan_sums")
        took = time.monotonic() - t0
        check(got == n, f"a plan arriving over 36 s: {got:.0f} of {n} sums taken after "
                        f"{took:.0f} s; the edge's log: {edges[0].log_tail(5)}")
        check(len(slow.plans) == 1, f"the slow plan fetched {len(slow.plans)} times, want once")
        check(len(stalled.plans) >= 2, "a plan that stopped arriving was never given up")
        quiet = stalled.plans[1] - stalled.plans[0] - 1  # its three pieces took 1 s
        check(29 <= quiet <= 40, f"a plan given up after {quiet:.1f} s without a byte, want 30 "
                                 "(and the 1 s before the retry)")
        check(metric(edges[1], "sluice_edge_plan_sums") == 0, "a plan cut short was taken")
        for e in edges:
            e.stop()
    finally:
        for e in edges:
            e.cleanup()
        slow.close()
        stalled.close()


if __name__ == "__main__":
    sys.exit(run())
