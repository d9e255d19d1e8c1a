# SPDX-License-Identifier: MIT
"""kTLS over the real binary: where the kernel has its tls module, HTTP/1.1 bodies go out
through SSL_sendfile and heads through the connection's own write buffer, and every byte
arrives as pushed. Where it has not (this kind of machine), the file exits 77 saying so,
rather than passing cases that never ran (test_tls.py covers the userspace path)."""

import os
import shutil
import sys
import time

import edgeharness
from edgeharness import check, eq, run, sha, skip, test
import test_tls
from test_tls import PKI_DIRS, client_ctx, get_over, handshake, kernel_offers_ktls

edgeharness._tests.clear()  # test_tls's own tests run in their own file


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
    time.sleep(0.5)  # the access log's lines follow the answers' last bytes
    with open(e.access_log, errors="replace") as f:
        f.seek(start)
        lines = [ln for ln in f if "ktls=1" in ln]
    eq(len(lines), 9, "access-log lines")
    check(all(" tls=ktls " in ln for ln in lines), f"the send path logged: {lines[:2]!r}")


if __name__ == "__main__":
    if not shutil.which("openssl"):
        print("SKIP: the openssl CLI is needed to make test certificates")
        sys.exit(77)
    rc = run(test_tls.setup)
    for d in PKI_DIRS:
        shutil.rmtree(d, ignore_errors=True)
    sys.exit(rc)
