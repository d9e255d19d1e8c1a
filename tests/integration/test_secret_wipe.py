# SPDX-License-Identifier: MIT
"""The edge's secrets are wiped from every block it frees (docs/edge-config.md, "Secret
files"): the edge runs with free-scan-shim.c preloaded, which reports each freed block still
holding a marker. The admin token, a parent's token (upstreams[].token_file) and a token key
are markers; a reload replaces all three, and the edge is stopped, so that both runtimes it
held are freed. A request's path, which nothing wipes, is the proof that the shim searched:
it must be found, and the secrets never.

A parent's token sent with a fill ("Authorization: Bearer <token>", the line the edge hands
libcurl) is wiped too: after a miss filled from an upstream, the token is in no freed block
but libcurl's own buffers of the request it wrote, where "\r\n" ends its line.

    python3 test_secret_wipe.py path/to/sluice-edge

SLUICE_FREE_SCAN_SHIM names the shim (meson sets it); without it, or under ASan, the test
skips."""

import os
import sys

import free_scan
from edgeharness import Edge, Skip, check, eq, preload_env, run, test
from origin import Origin

# Printable, so that the shim can be given them: the key's secret is written in hex in the
# keys file, and these are its bytes as the edge holds them.
ADMIN = "admin-token-marker-0f1e2d3c4b5a6978"
PARENT = "parent-token-marker-8796a5b4c3d2e1f0"
KEY = "key-secret-marker-33445566778899aa"
PROOF = "/proof-path-marker-ab12cd34"


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


@test
def secrets_wiped_before_free(binary):
    why = free_scan.unusable(binary)
    if why:
        raise Skip(why)
    e = Edge(binary)
    try:
        keys = os.path.join(e.dir, "keys.yaml")
        parent = os.path.join(e.dir, "parent.token")
        report = os.path.join(e.dir, "free-scan.txt")
        write(e.token_file, ADMIN + "\n")
        write(parent, PARENT + "\n")
        write(keys, f"keys:\n  - {{kid: k1, secret: {KEY.encode().hex()}}}\n")
        e.cfg["tokens"] = {"required": True, "keys_file": keys}
        e.cfg["upstreams"] = [{"url": "http://127.0.0.1:9", "token_file": parent}]
        shim = free_scan.env(report, (ADMIN, PARENT, KEY, PROOF))
        e.start(env=preload_env(shim.pop("LD_PRELOAD"), **shim))
        e.get(PROOF)  # 403 (no token): the path is read, and its buffers go unwiped
        write(e.token_file, "admin-token-rotated-" + os.urandom(8).hex() + "\n")
        write(parent, "parent-token-rotated-" + os.urandom(8).hex() + "\n")
        write(keys, "keys:\n  - {kid: k2, secret: " + os.urandom(32).hex() + "}\n")
        e.reload()
        e.stop()
        held = [f"{what} in {len(free_scan.hits(report, i))} "
                f"({', '.join(free_scan.hits(report, i)[:4])})"
                for i, what in enumerate(("the admin token", "the parent's token",
                                          "the token key")) if free_scan.hits(report, i)]
        check(not held, "freed blocks held " + "; ".join(held))
        check(free_scan.hits(report, 3), "the request's path was not found in a freed block: "
                                         "the shim searched nothing")
    finally:
        e.cleanup()


@test
def upstream_token_wiped_after_a_fill(binary):
    why = free_scan.unusable(binary)
    if why:
        raise Skip(why)
    o = Origin()
    e = Edge(binary, {"workers": 1})
    try:
        parent = os.path.join(e.dir, "parent.token")
        report = os.path.join(e.dir, "free-scan.txt")
        write(parent, PARENT + "\n")
        e.cfg["upstreams"] = [{"url": o.url, "token_file": parent}]
        key = "/ok/t/wipe-seg-1.m4s"
        o.add(key, os.urandom(4096))
        # Markers: 0 the token as the request carries it, 1 the token alone (free_scan.as_sent).
        shim = free_scan.env(report, (f"Bearer {PARENT}\r\n", PARENT))
        e.start(env=preload_env(shim.pop("LD_PRELOAD"), **shim))
        eq(e.get(key).status, 200, "the miss filled")
        e.stop()
        sent, kept = free_scan.as_sent(report)
        check(sent, "the parent's token as libcurl sent it was not found in a freed block: "
                    "the shim searched nothing")
        check(not kept, f"{len(kept)} freed block(s) held the parent's token but not as sent: "
                        f"{kept[:4]}")
    finally:
        e.cleanup()
        o.srv.shutdown()


if __name__ == "__main__":
    sys.exit(run())
