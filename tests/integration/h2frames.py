# SPDX-License-Identifier: MIT
"""HTTP/2 frames by hand (RFC 9113 §4.1), for the tests that speak h2 to the edge directly."""
import struct

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + struct.pack(">BBI", ftype, flags, sid) + payload


def get_block(path):
    # HPACK static-table indexes: :method GET, :scheme http, :authority and :path literals.
    p = path.encode()
    return bytes([0x82, 0x86, 0x04, len(p)]) + p + bytes([0x01, 9]) + b"edge.test"


def split_frames(buf):
    """The whole frames at the head of buf as [(type, flags, sid, payload)], and what is left."""
    frames = []
    while len(buf) >= 9:
        n = int.from_bytes(buf[:3], "big")
        if len(buf) < 9 + n:
            break
        frames.append((buf[3], buf[4], int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF, buf[9:9 + n]))
        buf = buf[9 + n:]
    return frames, buf
