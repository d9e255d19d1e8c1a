# SPDX-License-Identifier: MIT
"""Every request the edge reads gets its access-log line, the ones whose client is gone before
the answer's first bytes included.

  tls_reset_before_answer: over TLS (userspace records) the first write of an answer fails as
                 it does for a client that reset its connection right after its request (a
                 preload shim makes send(2) fail while a flag file exists: the window is too
                 narrow to hit from outside). The request still gets one line, with the
                 answer's status, and the next request on another connection gets its own
                 line, not the lost one's.
  h2_tls_cut_after_window: over h2 on TLS a stream gets its windows' worth of DATA, read whole,
                 then sends fail (the same shim) and the client opens the windows: the burst
                 that follows never leaves, and the stream's line counts only what the
                 client got.
  h2_tls_cut_after_last_frame: the same, with windows opened for all the rest, so the burst
                 holds the stream's last frame and nghttp2 closes the stream before the send
                 fails: its line still counts only what the client got (it used to be written
                 at the close, with every byte).

    python3 test_access_log_abort.py path/to/sluice-edge
"""

import os
import contextlib
import re
import shutil
import socket
import ssl
import sys
import tempfile
import time

import edgeharness
from edgeharness import HOST, Edge, build_request, check, eq, free_port, run, test
from h2frames import PREFACE, frame, get_block, split_frames
from test_tls import make_pki

edgeharness._tests.clear()  # test_tls's own tests run in their own file

SKIP = 77


def log_lines(e, needle):
    """The access-log lines holding needle, once some are there (the writer flushes once per
    loop turn), or [] after a few seconds."""
    deadline = time.monotonic() + 5
    while True:
        with open(e.access_log, "rb") as f:
            got = [ln for ln in f.read().decode(errors="replace").splitlines() if needle in ln]
        if got or time.monotonic() > deadline:
            return got
        time.sleep(0.05)  # poll interval for the log writer


def restore(preload):
    """Only the edge gets the shim."""
    os.environ.pop("SLUICE_SEND_FAIL_FLAG", None)
    if preload is None:
        os.environ.pop("LD_PRELOAD", None)
    else:
        os.environ["LD_PRELOAD"] = preload


@contextlib.contextmanager
def shimmed_tls_edge(binary):
    """An edge with one TLS listener whose sends fail while the flag file exists (the shim is
    the edge's alone). Yields (edge, port, ssl context, flag path); stops and cleans up."""
    shim = os.environ.get("SLUICE_SEND_FAIL_SHIM", "")
    pki = tempfile.mkdtemp(prefix="sluice-it-pki-")
    flag = os.path.join(pki, "send-fails")
    keep = os.environ.get("LD_PRELOAD")
    e = None
    try:
        make_pki(pki)
        tls_port = free_port()
        os.environ.update({"LD_PRELOAD": shim, "SLUICE_SEND_FAIL_FLAG": flag})
        e = Edge(binary, {"workers": 1,
                          "tls": [{"listen": f"{HOST}:{tls_port}", "ktls": False,
                                   "certs": [{"cert": f"{pki}/a.pem", "key": f"{pki}/a.key"}]}]})
        e.start()
        restore(keep)
        yield e, tls_port, ssl.create_default_context(cafile=f"{pki}/ca.pem"), flag
        e.stop()
    finally:
        restore(keep)
        if e:
            e.cleanup()
        shutil.rmtree(pki, ignore_errors=True)


@test
def tls_reset_before_answer(binary):
    with shimmed_tls_edge(binary) as (e, tls_port, ctx, flag):
        e.put("/t/seg-1.m4s", os.urandom(200_000))
        with socket.create_connection((HOST, tls_port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="a.test") as s:
                open(flag, "w").close()  # the handshake is done: the answer's send fails
                s.sendall(build_request("GET", "/t/seg-1.m4s?gone=1"))
                try:
                    got = s.recv(65536)
                except (ssl.SSLError, OSError):
                    got = b""
                eq(got, b"", "bytes of an answer whose every send failed")
        os.unlink(flag)
        eq(e.get("/t/seg-1.m4s?after=1").status, 200, "a request after")
        check(log_lines(e, "after=1"), "no access-log line for the request after")
        lines = log_lines(e, "gone=1")
        eq(len(lines), 1, "access-log lines for the request whose answer could not be sent")
        check('"GET /t/seg-1.m4s?gone=1" 200 ' in lines[0] and "tls=user" in lines[0]
              and "cache=hit" in lines[0],
              f"its line: {lines[0]!r}")
        eq(len(log_lines(e, "after=1")), 1, "lines for the request after")
        # Bytes sent: none reached the socket. What was sealed and never sent is not counted.
        m = re.search(r'"GET /t/seg-1.m4s\?gone=1" 200 (\d+) ', lines[0])
        check(m is not None, f"no byte count in {lines[0]!r}")
        eq(int(m.group(1)), 0, "bytes logged for an answer none of whose bytes were sent")


def h2_tls_cut(binary, inc, tag):
    """A 300,000-byte hit over h2 on TLS: the default windows' DATA read whole, then sends
    fail and the client raises both windows by inc. The stream's line must count only the
    65,535 bytes the client got."""
    with shimmed_tls_edge(binary) as (e, tls_port, ctx, flag):
        e.put("/t/seg-2.m4s", os.urandom(300_000))
        ctx.set_alpn_protocols(["h2"])
        got, buf = 0, b""
        with socket.create_connection((HOST, tls_port), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="a.test") as s:
                eq(s.selected_alpn_protocol(), "h2", "ALPN h2")
                s.sendall(PREFACE + frame(4, 0, 0) +
                          frame(1, 0x5, 1, get_block(f"/t/seg-2.m4s?{tag}=1")))
                # The default windows: 65535 bytes of DATA, then the edge waits.
                while got < 65535:
                    chunk = s.recv(65536)
                    check(chunk, f"connection ended after {got} bytes of DATA")
                    frames, buf = split_frames(buf + chunk)
                    got += sum(len(p) for t, _, sid, p in frames if t == 0 and sid == 1)
                eq(got, 65535, "DATA within the default windows")
                open(flag, "w").close()  # from here on no record of the edge's leaves
                inc = inc.to_bytes(4, "big")
                s.sendall(frame(8, 0, 0, inc) + frame(8, 0, 1, inc))
                try:
                    while s.recv(65536):
                        pass
                except (ssl.SSLError, OSError):
                    pass
        os.unlink(flag)
        lines = log_lines(e, f"{tag}=1")
        eq(len(lines), 1, "access-log lines for the stream cut short")
        m = re.search(r'"GET /t/seg-2.m4s\?' + tag + r'=1" 200 (\d+) ', lines[0])
        check(m is not None and "proto=h2" in lines[0], f"its line: {lines[0]!r}")
        # What the burst after the window update carried never reached the kernel.
        eq(int(m.group(1)), 65535, f"bytes logged for a stream cut short over h2 on TLS "
           f"(windows raised by {int.from_bytes(inc, 'big')})")


@test
def h2_tls_cut_after_window(binary):
    h2_tls_cut(binary, 200_000, "cut")


@test
def h2_tls_cut_after_last_frame(binary):
    h2_tls_cut(binary, 300_000, "last")


if __name__ == "__main__":
    shim = os.environ.get("SLUICE_SEND_FAIL_SHIM", "")
    if not shim or not os.path.exists(shim) or not shutil.which("openssl"):
        print("skip: the send-fail shim (meson builds it, SLUICE_SEND_FAIL_SHIM) and the openssl"
              " CLI are needed")
        sys.exit(SKIP)
    sys.exit(run())
