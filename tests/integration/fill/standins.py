# SPDX-License-Identifier: MIT
"""In-process stand-ins for the daemons sluice-fill talks to, for tests that need to shape
their answers: control (a fill plan per edge), an edge's admin API (healthz, listing, PUT
answered with a chosen status) and an origin (each object's bytes, one GET optionally held
open until released). Each listens on a port the kernel picks.

    with StandIns() as s:
        s.add_object("t1/v1/seg-1.m4s", b"...")
        s.put_status = 409
        rc, events, err = s.run(binary, state_dir, "--retries", "2")
"""

import hashlib
import http.server
import json
import os
import subprocess
import threading


class _Quiet(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body=b"", ctype="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a connection the agent reset or gave up on is no failure of the test


def _server(handler):
    srv = _Server(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


class StandIns:
    def __init__(self, edge_id="edge-a"):
        self.edge_id = edge_id
        self.objects = []       # [(path, bytes)] in plan order
        self.put_status = 201   # the edge's answer to every PUT
        self.put_first = []     # its answers to the first PUTs, before put_status
        self.puts = []          # keys PUT, in order
        self.origin_status = {}  # path -> status the origin answers instead of the bytes
        self.hold = None        # a path whose GET waits for release (a threading.Event)
        self.released = threading.Event()
        self.gets = []
        self.listing = []       # the edge's GET /admin/objects: [{"key", "size", ...}]
        self.held_bytes = 0     # its /healthz "bytes"
        outer = self

        class Control(_Quiet):
            def do_GET(self):
                objs = [{"path": p, "size": len(b), "sha256": hashlib.sha256(b).hexdigest(),
                         "url": f"{outer.origin_url}/{p}", "asset": p.split("/")[0],
                         "score": 1.0} for p, b in outer.objects]
                body = json.dumps({"edge": outer.edge_id, "region": "r", "generated": 0,
                                   "objects": objs}).encode()
                self.answer(200, body)

        class Edge(_Quiet):
            def do_GET(self):
                if self.path.startswith("/healthz"):
                    self.answer(200, json.dumps({"status": "ok", "objects": len(outer.listing),
                                                 "bytes": outer.held_bytes,
                                                 "max_bytes": 1 << 40}).encode())
                elif self.path.startswith("/admin/objects"):
                    self.answer(200, json.dumps(outer.listing).encode())
                else:
                    self.answer(404, b'{"error":"not found"}')

            def do_PUT(self):
                n = int(self.headers.get("Content-Length", "0"))
                left = n
                while left > 0:
                    chunk = self.rfile.read(min(left, 65536))
                    if not chunk:
                        return
                    left -= len(chunk)
                outer.puts.append(self.path)
                st = (outer.put_first[len(outer.puts) - 1]
                      if len(outer.puts) <= len(outer.put_first) else outer.put_status)
                self.answer(st, b"" if st in (201, 204) else
                            json.dumps({"error": "stand-in", "detail": f"answered {st}"}).encode())

            def do_DELETE(self):
                self.answer(404, b'{"error":"no such object"}')

        class Origin(_Quiet):
            def do_GET(self):
                path = self.path.lstrip("/")
                outer.gets.append(path)
                if path == outer.hold:
                    outer.released.wait(60)
                if path in outer.origin_status:
                    self.answer(outer.origin_status[path], b"no", "text/plain")
                    return
                for p, b in outer.objects:
                    if p == path:
                        self.answer(200, b, "application/octet-stream")
                        return
                self.answer(404, b"no", "text/plain")

        self._servers = [_server(Control), _server(Edge), _server(Origin)]
        self.control_url, self.admin_url, self.origin_url = (
            f"http://127.0.0.1:{s.server_address[1]}" for s in self._servers)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.released.set()
        for s in self._servers:
            s.shutdown()
            s.server_close()

    def add_object(self, path, data):
        self.objects.append((path, data))

    def args(self, state_dir):
        """The flags that point sluice-fill run at the stand-ins (a token file is made in
        state_dir's parent)."""
        token = os.path.join(os.path.dirname(state_dir.rstrip("/")), "standin.token")
        with open(token, "w") as f:
            f.write("t" * 32 + "\n")
        return ["--control", self.control_url, "--control-token-file", token,
                "--edge", self.edge_id, "--admin-url", self.admin_url,
                "--admin-token-file", token, "--state-dir", state_dir,
                "--window", "00:00-24:00", "--rate", "unlimited"]

    def run(self, binary, state_dir, *extra, timeout=120):
        """sluice-fill run with JSON progress: (exit status, the JSON events, stderr)."""
        p = subprocess.run([binary, "run", *self.args(state_dir), "--progress", "json",
                            *extra], capture_output=True, timeout=timeout)
        events = []
        for line in p.stdout.decode().splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                pass
        return p.returncode, events, p.stderr.decode()
