#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed corpus of fuzz-h2 (tests/fuzz/corpus/h2/): what a client sends after the
connection preface, one file per case. The frame-level cases of tests/integration/test_h2c.py
and the floods of test_h2_floods.py, each as one byte string (its waits for a stream dropped), and a
few well-formed sessions that reach every way fuzz-h2 answers a request.

    python3 tests/fuzz/gen-h2-corpus.py [OUT_DIR]
"""

import os
import re
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "integration"))

import test_h2_floods  # noqa: E402  (the floods)
import test_h2c as h  # noqa: E402  (frame builders and the frame-level cases)


def slug(name):
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def cut(data, limit=16384):
    """The whole frames of data within limit bytes (tools/fuzz-short's -max_len): fuzz-h2's
    bounds are far lower than the edge's, so the floods still reach them."""
    frames, _ = h.split_frames(data)
    out = b""
    for ftype, flags, sid, payload in frames:
        f = h.frame(ftype, flags, sid, payload)
        if len(out) + len(f) > limit:
            break
        out += f
    return out


def client_settings(payload):
    return h.frame(h.SETTINGS, 0, 0, payload)


def sessions():
    """Well-formed sessions: requests on streams 1..23 (fuzz-h2 answers by stream id), windows
    opened, SETTINGS acknowledged, a graceful GOAWAY."""
    gets = b"".join(h.hdrs(sid, h.req(path=f"/t/seg-{sid}.m4s")) for sid in range(1, 24, 2))
    wide = h.frame(h.WINDOW_UPDATE, 0, 0, h.u32(1 << 20))
    yield "valid-twelve-streams", client_settings(b"") + gets
    yield "valid-windows-opened", (client_settings(h.setting(4, 1 << 20) + h.setting(5, 1 << 16))
                                   + wide + gets + h.frame(h.SETTINGS, h.ACK, 0))
    yield "valid-small-frames", (client_settings(h.setting(5, 16384) + h.setting(4, 8192))
                                 + gets + b"".join(h.frame(h.WINDOW_UPDATE, 0, sid, h.u32(30000))
                                                   for sid in range(0, 24, 2)))
    yield "valid-range-and-condition", client_settings(b"") + h.hdrs(
        1, h.req(("range", "bytes=0-99"), ("if-none-match", '"e1"')))
    yield "valid-then-goaway", (client_settings(b"") + gets
                                + h.frame(h.GOAWAY, 0, 0, h.u32(0) + h.u32(h.NO_ERROR)))
    yield "valid-reset-after-request", (client_settings(b"") + gets + b"".join(
        h.frame(h.RST_STREAM, 0, sid, h.u32(h.CANCEL)) for sid in range(1, 24, 4)))
    yield "valid-continuations", client_settings(b"") + b"".join(h.continued(3))
    yield "valid-ping", client_settings(b"") + h.frame(h.PING, 0, 0, b"settle-1")


def cases():
    for name, _ref, steps, _want, *settings in h.FRAME_CASES:
        s = settings[0] if settings else b""
        head = client_settings(s) if s is not None else b""
        body = b"".join(st for st in steps if isinstance(st, bytes))
        yield "case-" + slug(name), head + body + h.frame(h.PING, 0, 0, b"settle-1")
    for name, data, *_ in test_h2_floods.FLOODS:
        yield "flood-" + slug(name), client_settings(b"") + cut(data)
    yield from sessions()


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus", "h2")
    os.makedirs(out, exist_ok=True)
    seen = set()
    for name, data in cases():
        if name in seen:
            sys.exit(f"two cases named {name}")
        seen.add(name)
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"{len(seen)} inputs in {out}")


if __name__ == "__main__":
    main()
