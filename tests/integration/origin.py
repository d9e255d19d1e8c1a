# SPDX-License-Identifier: MIT
"""A misbehaving origin for the miss-path tests: a threaded HTTP/1.1 server in the test's own
process (edgeharness.serve_origin) whose paths choose how it answers, by their first segment:

  /ok/...        200 with Content-Length and X-Sluice-SHA256, all at once (so does any kind
                 not named here: /cold/, /pipe/, ...)
  /nosha/...     like /ok/, without X-Sluice-SHA256 (an origin that knows no hashes)
  /gate/...      like /ok/, holding the body after its first head_bytes (or first[path]) until
                 the path's gate is set: a fill deterministically in flight
  /gatenosha/... like /gate/, without X-Sluice-SHA256
  /die/...       head and the first die_bytes of the body (half of it when die_bytes is None),
                 then, once the gate is set, the connection is closed short of Content-Length
  /stall/...     head, then nothing until the gate is set
  /drip/...      the body in 64 KiB pieces drip_pause apart (4 ms: about 16 MB/s)
  /latehead/...  like /ok/, the head only after head_delay seconds (an origin that makes the
                 object on the fly)
  /long/...      more bytes than Content-Length says, then the close
  /overrun/...   the body, then on the same open connection a whole second answer of its own
                 ("EVIL!", 5 bytes) that no request asked for (an upstream out of step)
  /overrunlate/... the same, the second answer 50 ms after the body (each sets the path's
                 event in `strays` once its stray answer is sent)
  /badsha/...    200 whose X-Sluice-SHA256 does not match the bytes
  /te/...        Transfer-Encoding: chunked plus Content-Length
  /gzip/...      the body gzip-coded, with Content-Encoding: gzip and no X-Sluice-SHA256 (an
                 origin that knows no hashes and ignores the edge's Accept-Encoding: identity)
  /identity/...  like /nosha/, naming Content-Encoding: identity
  /twocl/...     like /nosha/, with two Content-Length lines: the body's, then 1000 less
  /clist/...     the same as one line, "Content-Length: <len>, <len - 1000>"
  /badcl/...     like /nosha/, its Content-Length line the text in cl_text[path] (a length
                 that is not 1*DIGIT, such as "1e3"), the whole body, then the close
  /crct/...      a bare CR inside a field value
  /redirect/...  302 to /ok/... (must not be followed)
  /e500/... 500, /e503/... 503, /e404/... 404, /e410/... 410, each with a short body
  /mute/...      reads the request and never answers until the gate of "mute" is set
  /reset/...     reads the request and resets the connection, no answer at all

A path with no object added (other than the status and /mute/ kinds) is a 404. Setting `force`
to a kind gives every path that kind (a parent that always fails). A path given a time in
`mtimes` is answered with that Last-Modified and an ETag of the origin's own making, and with
304 (no body) when the request's If-Modified-Since is that time or later; a path in `hold_304`
sends its 304 only once its gate is set (a revalidation deterministically in flight). Requests
are counted per path, the conditional fields and Via of each path's last request kept in
`asked`, and `arrived` has an event per path, set on its first request.
"""

import email.utils
import gzip
import socket
import struct
import threading
import time

from edgeharness import http_date, serve_origin, sha


# What an /overrun/ path sends after its body: a whole answer that no request asked for.
OVERRUN = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: video/mp4\r\n\r\nEVIL!"


class Origin:
    def __init__(self, head_bytes=256 * 1024, die_bytes=None):
        self.objects, self.counts, self.gates, self.arrived = {}, {}, {}, {}
        self.head_bytes = head_bytes  # what a /gate/ path sends before it waits for its gate
        self.die_bytes = die_bytes  # what a /die/ path sends before it breaks off; None: half
        self.first = {}  # path -> head_bytes for that /gate/ path
        self.mtimes = {}  # path -> Last-Modified (seconds since the epoch)
        self.cl_text = {}  # path -> the Content-Length value a /badcl/ path sends
        self.hold_304 = set()  # paths whose 304 waits for their gate
        self.strays = {}  # path -> event set once an /overrun/ path's stray answer is sent
        self.asked = {}  # path -> {field: value} of the last request's conditional fields, Via
        self.force = None  # a kind that every path gets
        self.drip_pause = 0.004  # s between a /drip/ body's 64 KiB pieces
        self.head_delay = 2.0  # s before a /latehead/ path's head
        self.lock = threading.Lock()
        self.srv = serve_origin(self.handle)
        self.url = self.srv.url

    def add(self, path, data):
        self.objects[path] = data
        return data

    def event(self, table, path):
        """The event for path in table (gates or arrived), made on first use."""
        with self.lock:
            return table.setdefault(path, threading.Event())

    def gate(self, path):
        return self.event(self.gates, path)

    def count(self, path):
        with self.lock:
            return self.counts.get(path, 0)

    def handle(self, h):
        path = h.path
        with self.lock:
            self.counts[path] = self.counts.get(path, 0) + 1
            self.asked[path] = {k.lower(): v for k, v in h.headers.items()
                                if k.lower() in ("if-modified-since", "if-none-match", "via")}
        self.event(self.arrived, path).set()
        kind = self.force or path.split("/")[1]
        data = self.objects.get(path)
        if kind == "mute":
            self.gate("mute").wait(30)
            h.close_connection = True
            return
        if kind == "reset":
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            h.close_connection = True
            return
        if kind in ("e500", "e503", "e404", "e410"):
            body = b"origin says no\n"
            h.send_response(int(kind[1:]))
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body)
            return
        if kind == "redirect":
            h.send_response(302)
            h.send_header("Location", "/ok" + path[len("/redirect"):])
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        if data is None:
            h.send_response(404)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        ims = h.headers.get("If-Modified-Since")
        if path in self.mtimes and ims:
            try:
                since = email.utils.parsedate_to_datetime(ims).timestamp()
            except (TypeError, ValueError):
                since = None
            if since is not None and since >= self.mtimes[path]:
                if path in self.hold_304:
                    self.gate(path).wait(30)
                h.send_response(304)
                h.send_header("Last-Modified", http_date(self.mtimes[path]))
                h.end_headers()
                return
        if kind == "latehead":
            time.sleep(self.head_delay)  # the origin's own slowness, not a wait for anything
        h.send_response(200)
        if kind == "crct":  # a bare CR inside a value: libcurl splits lines at LF only
            h.send_header("Content-Type", "application/x-blob\rX-Injected: 1")
        else:
            h.send_header("Content-Type", "video/iso.segment")
        if kind not in ("nosha", "gatenosha", "gzip", "identity", "twocl", "clist", "badcl"):
            h.send_header("X-Sluice-SHA256", sha(data + b"x" if kind == "badsha" else data))
        if path in self.mtimes:
            h.send_header("Last-Modified", http_date(self.mtimes[path]))
            h.send_header("ETag", '"origin-%x"' % len(data))
        if kind in ("gzip", "identity"):
            h.send_header("Content-Encoding", kind)
            if kind == "gzip":
                data = gzip.compress(data)
        if kind in ("twocl", "clist", "badcl"):  # lengths that disagree or cannot be read
            short = str(len(data) - 1000)
            if kind == "twocl":
                h.send_header("Content-Length", str(len(data)))
                h.send_header("Content-Length", short)
            elif kind == "clist":
                h.send_header("Content-Length", f"{len(data)}, {short}")
            else:
                h.send_header("Content-Length", self.cl_text[path])
            h.end_headers()
            h.wfile.write(data)
            h.close_connection = True
            return
        if kind == "te":
            h.send_header("Transfer-Encoding", "chunked")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(b"%x\r\n" % len(data) + data + b"\r\n0\r\n\r\n")
            return
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        try:
            if kind == "die":
                cut = len(data) // 2 if self.die_bytes is None else self.die_bytes
                h.wfile.write(data[:cut])
                h.wfile.flush()
                self.gate(path).wait(30)
                h.connection.shutdown(socket.SHUT_RDWR)
                h.close_connection = True
            elif kind == "stall":
                h.wfile.flush()
                self.gate(path).wait(30)
                h.close_connection = True
            elif kind in ("gate", "gatenosha"):
                first = self.first.get(path, self.head_bytes)
                h.wfile.write(data[:first])
                h.wfile.flush()
                self.gate(path).wait(30)
                h.wfile.write(data[first:])
            elif kind == "drip":
                for off in range(0, len(data), 65536):
                    h.wfile.write(data[off:off + 65536])
                    h.wfile.flush()
                    time.sleep(self.drip_pause)  # the origin's pace, not a wait for anything
            elif kind in ("overrun", "overrunlate"):
                h.wfile.write(data)
                if kind == "overrunlate":
                    h.wfile.flush()
                    time.sleep(0.05)  # the stray answer comes apart from the body
                h.wfile.write(OVERRUN)
                h.wfile.flush()
                self.event(self.strays, path).set()
            elif kind == "long":
                h.wfile.write(data + b"EXTRA-BYTES")
                h.close_connection = True
            else:
                h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            h.close_connection = True
