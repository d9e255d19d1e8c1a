# SPDX-License-Identifier: MIT
"""sluice-fill wipes the secrets it reads from every block it frees (docs/fill.md): it runs
with free-scan-shim.c preloaded, which reports each freed block still holding a marker.

- plan with a control token file and a secret file refused (a NUL byte in it): the token,
  read and then let go before anything is sent, is in no freed block.
- verify with --token-keys (the key signs each fetch, and is never sent): the key is in no
  freed block. The control token, which libcurl copies into buffers of its own to send it, is
  the proof that the shim searched: it must be found.
- run (a plan fetched, objects PUT to the edge and checked): the token in its header lines
  ("Authorization: Bearer <token>", which the agent builds and hands libcurl in lists) is in
  no freed block but libcurl's own buffers of the requests it wrote, where it ends a line
  ("\r\n" after it): those must be found, and no other.

    python3 test_secret_wipe.py /path/to/sluice-fill

No daemons: control, the edge's admin API and the origin are stand-ins in this process
(standins.py). SLUICE_FREE_SCAN_SHIM names the shim (meson sets it); without it, or under ASan,
the test skips. Exit status: 0 passed, 1 failed, 77 skipped."""

import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import free_scan  # noqa: E402
from standins import StandIns  # noqa: E402

# Printable, so that the shim can be given them; the key is written in hex in the keys file,
# and this is its bytes as the agent holds them.
TOKEN = "control-token-marker-5a4b3c2d1e0f9687"
KEY = "key-secret-marker-aa99887766554433"


def main():
    if len(sys.argv) < 2 or not os.access(sys.argv[1], os.X_OK):
        print("SKIP: need the sluice-fill binary as argument")
        return 77
    binary = sys.argv[1]
    why = free_scan.unusable(binary)
    if why:
        print("SKIP:", why)
        return 77
    failures = []

    def check(ok, msg):
        if not ok:
            failures.append(msg)

    with StandIns() as s, tempfile.TemporaryDirectory() as d:
        s.add_object("t1/v1/seg-1.m4s", b"x" * 1000)
        token, nul, keys = (os.path.join(d, n) for n in ("control.token", "nul", "keys.yaml"))
        report = os.path.join(d, "free-scan.txt")
        with open(token, "w") as f:
            f.write(TOKEN + "\n")
        with open(nul, "wb") as f:
            f.write(b"s" * 32 + b"\0\n")
        with open(keys, "w") as f:
            f.write(f"keys:\n  - {{kid: k1, secret: {KEY.encode().hex()}}}\n")
        env = dict(os.environ, **free_scan.env(report, (TOKEN, KEY)))
        base = ["--control", s.control_url, "--control-token-file", token, "--edge", "edge-a",
                "--admin-url", s.admin_url, "--admin-token-file", token,
                "--state-dir", os.path.join(d, "state")]

        p = subprocess.run([binary, "plan", *base, "--secret-file", nul], env=env,
                           capture_output=True, timeout=60)
        check(p.returncode == 2, f"plan with a refused secret file: exit {p.returncode}, want 2 "
                                 f"({p.stderr.decode().strip()[-300:]})")
        found = free_scan.hits(report, 0)
        check(not found, f"plan: {len(found)} freed block(s) held the control token: {found[:4]}")

        os.unlink(report)
        p = subprocess.run([binary, "verify", *base, "--edge-url", s.admin_url, "--token-keys",
                            keys, "--progress", "none"], env=env, capture_output=True,
                           timeout=60)
        check(p.returncode in (0, 1, 3), f"verify: exit {p.returncode} "
                                         f"({p.stderr.decode().strip()[-300:]})")
        found = free_scan.hits(report, 1)
        check(not found, f"verify: {len(found)} freed block(s) held the token key: {found[:4]}")
        check(free_scan.hits(report, 0), "verify: the control token, sent by libcurl, was not "
                                         "found in a freed block: the shim searched nothing")
        # Markers: 0 the token as a request carries it, 1 without the line end (as_sent).
        os.unlink(report)
        env = dict(os.environ, **free_scan.env(report, (f"Bearer {TOKEN}\r\n", f"Bearer {TOKEN}")))
        s.add_object("t1/v1/seg-2.m4s", b"y" * 1000)
        p = subprocess.run([binary, "run", *base, "--window", "00:00-24:00", "--rate",
                            "unlimited", "--progress", "none"], env=env, capture_output=True,
                           timeout=60)
        check(p.returncode == 0, f"run: exit {p.returncode} ({p.stderr.decode().strip()[-300:]})")
        sent, kept = free_scan.as_sent(report)
        check(sent, "run: the token as libcurl sent it was not found in a freed block: the "
                    "shim searched nothing")
        check(not kept, f"run: {len(kept)} freed block(s) held the token but not as sent: "
                        f"{kept[:4]}")
    for f in failures:
        print("FAIL:", f)
    if failures:
        return 1
    print("ok: no freed block held the control token read, the token key, or the token "
          "other than as sent")
    return 0


if __name__ == "__main__":
    sys.exit(main())
