# SPDX-License-Identifier: MIT
"""kTLS over the real binary: where the kernel has its tls module, HTTP/1.1 bodies go out
through SSL_sendfile and heads through the connection's own write buffer, h2 DATA payloads
through SSL_sendfile behind their frame headers, and every byte arrives as pushed. Where it has not (this kind of machine), the file exits 77 saying so,
rather than passing cases that never ran (test_tls.py covers the userspace path)."""

import os
import shutil
import subprocess
import sys
import time

import edgeharness
from edgeharness import HOST, check, eq, run, sha, skip, test
import test_tls
from test_tls import PKI_DIRS, client_ctx, get_over, handshake, kernel_offers_ktls

edgeharness._tests.clear()  # test_tls's own tests run in their own file


def logged(e, start, needle, want):
    """The access-log lines past offset start holding needle, once there are want of them, and
    a little longer for any extra one."""
    e.access_lines(needle, want, start)
    time.sleep(0.3)  # an extra line would be written in the same loop turn; leave it time
    got = e.access_lines(needle, want, start, timeout=0)
    eq(len(got), want, "access-log lines")
    return got


@test
def ktls_bodies_whole(e):
    if not kernel_offers_ktls():
        skip("the kernel has no tls module (tcp_available_ulp lacks \"tls\"): kTLS bodies "
             "not checked")
    start = os.path.getsize(e.access_log) if os.path.exists(e.access_log) else 0
    with handshake(e, client_ctx(e)) as s:
        for key in ("/t1/big.m4s", "/t1/seg-1.m4s", "/t1/one.bin") * 3:
            head, body = get_over(s, key + "?ktls=1")
            check(head.startswith(b"HTTP/1.1 200"), f"{key}: head {head[:60]!r}")
            eq(sha(body), sha(e.objects[key]), f"{key} over kTLS")
    lines = logged(e, start, "ktls=1", 9)
    check(all(" tls=ktls " in ln for ln in lines), f"the send path logged: {lines[:2]!r}")


@test
def ktls_h2_bodies_whole(e):
    """h2 over kTLS: each DATA frame's header goes with MSG_MORE and its payload by
    SSL_sendfile into the same record. Several streams at once on one connection, so that
    frames of different streams take turns on the socket."""
    if not kernel_offers_ktls():
        skip("the kernel has no tls module (tcp_available_ulp lacks \"tls\"): kTLS h2 "
             "bodies not checked")
    start = os.path.getsize(e.access_log) if os.path.exists(e.access_log) else 0
    keys = ("/t1/big.m4s", "/t1/seg-1.m4s", "/t1/one.bin") * 2
    outs = [os.path.join(e.pki, f"h2-{i}.out") for i in range(len(keys))]
    cmd = ["curl", "-sS", "--http2", "--parallel", "--cacert",
           e.pki + "/ca.pem", "-w", "%{http_version} %{http_code}\n"]
    for key, out in zip(keys, outs):
        cmd += ["-o", out, f"https://{HOST}:{e.tls_port}{key}?ktlsh2=1"]
    got = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    eq(got.returncode, 0, f"curl: {got.stderr}")
    eq(got.stdout.split("\n")[:-1], ["2 200"] * len(keys), "versions and statuses")
    for key, out in zip(keys, outs):
        with open(out, "rb") as f:
            eq(sha(f.read()), sha(e.objects[key]), f"{key} over h2 and kTLS")
    lines = logged(e, start, "ktlsh2=1", len(keys))
    eq(len({ln.split(" conn=")[1].split()[0] for ln in lines}), 1, "connections curl used")
    check(all(" proto=h2 tls=ktls " in ln for ln in lines), f"the path logged: {lines[:2]!r}")


if __name__ == "__main__":
    if not shutil.which("openssl"):
        print("SKIP: the openssl CLI is needed to make test certificates")
        sys.exit(77)
    rc = run(test_tls.setup)
    for d in PKI_DIRS:
        shutil.rmtree(d, ignore_errors=True)
    sys.exit(rc)
