# SPDX-License-Identifier: MIT
"""A source address for test clients that is not loopback.

The edge copies h2c DATA frames into the socket for a peer with a loopback address (the kernel
would copy zero-copy pages for a local reader anyway) and sends them zero-copy to others. A
client on this host that binds one of the host's other addresses before connecting to
127.0.0.1 reaches the edge as such a peer, so both send paths run here."""

import socket
import subprocess


def outward_address():
    """An IPv4 address of this host outside 127.0.0.0/8 that a socket can bind, or None."""
    try:
        out = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"],
                             capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in out.splitlines():
        words = line.split()
        if "inet" not in words:
            continue
        addr = words[words.index("inet") + 1].split("/")[0]
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.bind((addr, 0))
        except OSError:
            continue
        return addr
    return None
