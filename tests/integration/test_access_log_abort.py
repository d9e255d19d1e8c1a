# SPDX-License-Identifier: MIT
"""Every request the edge reads gets its access-log line, the ones whose client is gone before
the answer's first bytes included.

  tls_reset_before_answer: over TLS (userspace records) the first write of an answer fails as
                 it does for a client that reset its connection right after its request (a
                 preload shim makes send(2) fail while a flag file exists: the window is too
                 narrow to hit from outside). The request still gets one line, with the
                 answer's status, and the next request on another connection gets its own
                 line, not the lost one's.

    python3 test_access_log_abort.py path/to/sluice-edge
"""

import os
import re
import shutil
import socket
import ssl
import sys
import tempfile
import time

import edgeharness
from edgeharness import HOST, Edge, build_request, check, eq, free_port, run, test
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


@test
def tls_reset_before_answer(binary):
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
        e.put("/t/seg-1.m4s", os.urandom(200_000))
        ctx = ssl.create_default_context(cafile=f"{pki}/ca.pem")
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
        e.stop()
    finally:
        restore(keep)
        if e:
            e.cleanup()
        shutil.rmtree(pki, ignore_errors=True)


if __name__ == "__main__":
    shim = os.environ.get("SLUICE_SEND_FAIL_SHIM", "")
    if not shim or not os.path.exists(shim) or not shutil.which("openssl"):
        print("skip: the send-fail shim (meson builds it, SLUICE_SEND_FAIL_SHIM) and the openssl"
              " CLI are needed")
        sys.exit(SKIP)
    sys.exit(run())
