# SPDX-License-Identifier: MIT
"""Chunked request bodies (docs/control.md, Architecture; RFC 9112 §7.1): a body sent with
Transfer-Encoding: chunked, as a browser's fetch() sends a stream, is read as the same body
with a Content-Length would be: whole or a byte at a time, with extensions and trailers,
after a 100 Continue, with a request pipelined behind it. Over the body limit it is 413 as
soon as a chunk's size passes it; framing that is malformed or too large is 400 saying what.

    python3 test_chunked_body.py path/to/sluice-control
"""
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctlharness import ADMIN_TOKEN, Control, Postgres, check, make_asset, run  # noqa: E402


PLAYER = b"https://player.example"


def chunks(body, size):
    """body as chunks of size bytes, then the last chunk."""
    out = b""
    for i in range(0, len(body), size):
        part = body[i:i + size]
        out += b"%x\r\n" % len(part) + part + b"\r\n"
    return out + b"0\r\n\r\n"


def head(path, extra=b""):
    return (b"POST " + path + b" HTTP/1.1\r\nHost: c\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n" + extra + b"\r\n")


class Conn:
    def __init__(self, ctl):
        self.s = socket.create_connection(("127.0.0.1", ctl.port), timeout=10)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def answer(self):
        """The next response: (status, headers lower-cased, body)."""
        while b"\r\n\r\n" not in self.buf:
            self._more()
        h, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = h.decode().split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {k.lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:])}
        n = int(hdrs.get("content-length", "0"))
        while len(self.buf) < n:
            self._more()
        body, self.buf = self.buf[:n], self.buf[n:]
        return status, hdrs, body

    def _more(self):
        data = self.s.recv(65536)
        check(data, f"control closed the connection, having sent {self.buf[:200]!r}")
        self.buf += data

    def close(self):
        self.s.close()


def main(binary, tmp):
    pg = Postgres(tmp)
    ctl = Control(binary, tmp, pg, extra_cfg="max_body: 4096\n"
                  "cors_origins: [\"https://player.example\"]\n").start()
    profile = json.dumps({"name": "chunked viewer", "kids": True}).encode()

    # Whole, in chunks of 7 bytes, with extensions and a trailer; then the same request a
    # byte at a time; then with a request pipelined behind it in the same write.
    c = Conn(ctl)
    body = chunks(profile, 7).replace(b"\r\n", b";ext=1;q=\"a b\"\r\n", 1)
    body = body[:-2] + b"X-Checksum: none\r\n\r\n"
    c.send(head(b"/v1/profiles") + body)
    st, _, b = c.answer()
    check(st == 200 and json.loads(b)["name"] == "chunked viewer", f"whole: {st} {b[:200]!r}")
    for byte in (head(b"/v1/profiles") + chunks(profile, 5)):
        c.send(bytes([byte]))
    st, _, b = c.answer()
    check(st == 200 and json.loads(b)["kids"] is True, f"a byte at a time: {st} {b[:200]!r}")
    c.send(head(b"/v1/profiles") + chunks(profile, 100) +
           b"GET /healthz HTTP/1.1\r\nHost: c\r\n\r\n")
    st, _, b = c.answer()
    check(st == 200 and json.loads(b)["name"] == "chunked viewer", f"pipelined: {st}")
    st, _, _ = c.answer()
    check(st == 200, f"the request behind it: {st}")
    c.close()

    # Expect: 100-continue, then the body.
    c = Conn(ctl)
    c.send(head(b"/v1/profiles", b"Expect: 100-continue\r\n"))
    st, _, _ = c.answer()
    check(st == 100, f"100 Continue for a chunked body: {st}")
    c.send(chunks(profile, 16))
    st, _, b = c.answer()
    check(st == 200, f"after 100 Continue: {st} {b[:200]!r}")
    c.close()

    # An admin route with the token takes max_admin_body, chunked too: a registration of
    # more than max_body.
    reg = json.dumps({"title": "m1", "asset": make_asset("m1", segments=40)}).encode()
    check(len(reg) > 4096, f"the registration is over max_body: {len(reg)}")
    c = Conn(ctl)
    c.send(head(b"/v1/admin/titles", b"Authorization: Bearer " + ADMIN_TOKEN.encode() +
                b"\r\n") + chunks(reg, 1000))
    st, _, b = c.answer()
    check(st == 200 and json.loads(b)["title"] == "m1", f"a chunked registration: {st} {b!r}")
    c.close()

    # Over max_body: 413 at the chunk whose size passes it, the rest still being sent.
    c = Conn(ctl)
    c.send(head(b"/v1/profiles") + b"800\r\n" + b"x" * 2048 + b"\r\n" + b"801\r\n")
    st, h, b = c.answer()
    check(st == 413 and h.get("connection") == "close", f"over max_body: {st} {h}")
    c.close()

    # Malformed or oversized framing: 400 naming what, the connection closed.
    for framing, what in ((b"zz\r\n", b"not hexadecimal"),
                          (b"5\nhello\r\n0\r\n\r\n", b"malformed chunk size line"),
                          (b"5\r\nhello!\r\n0\r\n\r\n", b"CRLF"),
                          (b"1;" + b"e" * 300 + b"\r\n", b"extension too long"),
                          (b"1;a=\"b\x01\"\r\n", b"malformed chunk extension"),
                          (b"00000000000000001\r\n", b"chunk size too long"),
                          (b"0\r\nbad trailer\r\n\r\n", b"malformed trailer"),
                          # 64 KiB of framing (extensions) around 330 bytes of data
                          ((b"1;" + b"e" * 200 + b"\r\nx\r\n") * 400, b"framing")):
        c = Conn(ctl)
        try:
            c.send(head(b"/v1/profiles") + framing)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before all was sent: the answer is still there to read
        st, h, b = c.answer()
        check(st == 400 and what in b and h.get("connection") == "close",
              f"{framing[:24]!r}: {st} {b!r}")
        c.close()
    grown_buffer(ctl)
    check(ctl.stop() == 0, "SIGTERM exits 0")


def grown_buffer(ctl):
    """The head alone, then the body in pieces: reading it grows the connection's buffer (the
    old block moved, and wiped), while the parsed head pointed into it. The body's limit (an
    admin route's) and a refusal's Origin are those of the head as sent."""
    auth = b"Authorization: Bearer " + ADMIN_TOKEN.encode() + b"\r\n"
    reg = json.dumps({"title": "m2", "asset": make_asset("m2", segments=400)}).encode()
    check(len(reg) > 65536, f"the registration outgrows the first buffer: {len(reg)}")
    c = Conn(ctl)
    c.send(head(b"/v1/admin/titles", auth))
    time.sleep(0.2)
    body = chunks(reg, 4096)
    for i in range(0, len(body), 16384):
        c.send(body[i:i + 16384])
        time.sleep(0.002)
    st, _, b = c.answer()
    check(st == 200 and json.loads(b)["title"] == "m2",
          f"a chunked registration read in pieces: {st} {b[:200]!r}")
    c.close()
    c = Conn(ctl)
    c.send(head(b"/v1/profiles", b"Origin: " + PLAYER + b"\r\n"))
    time.sleep(0.2)
    for _ in range(3):
        c.send(b"400\r\n" + b"x" * 1024 + b"\r\n")
        time.sleep(0.05)
    c.send(b"zz\r\n")
    st, h, b = c.answer()
    check(st == 400 and h.get("access-control-allow-origin") == PLAYER.decode(),
          f"a refusal after the buffer grew carries its Origin: {st} {h}")
    c.close()


if __name__ == "__main__":
    run(main)
