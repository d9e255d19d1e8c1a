# SPDX-License-Identifier: MIT
"""A connection idle between requests holds no input buffer (docs/control.md, Architecture):
bytes that arrived while a request waited on PostgreSQL grow a second buffer, which is
dropped with the first once the connection is idle, not kept (up to 64 KiB) until it closes.

Seen from inside the process through free-scan-shim.c: control wipes its input buffers before
freeing them, so the shim reports every freed block of 32 KiB or more, whatever it held (only
these buffers, grown by the 31 KB pipelined, reach that size here), and the test checks that
they were freed by the time the connection was idle and none is freed when control later
closes it (up to its exit, which frees caches as large).

    python3 test_idle_buffers.py path/to/sluice-control
"""
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import free_scan  # noqa: E402
from ctlharness import Control, PSQL, check, register, run, scanned  # noqa: E402

MARK = "pipelined-while-waiting-0123456789"
BIG = 32768  # bytes: the input buffers the pipelined requests grow, and nothing else here


def unread(port, client_port):
    """Bytes of the client's connection control has not taken from its socket yet."""
    with open("/proc/net/tcp") as f:
        for line in f.read().splitlines()[1:]:
            p = line.split()
            if (int(p[1].split(":")[1], 16) == port and
                    int(p[2].split(":")[1], 16) == client_port):
                return int(p[4].split(":")[1], 16)
    return None


def main(binary, tmp):
    report, pg = scanned(binary, tmp)
    ctl = Control(binary, tmp, pg).start(env=free_scan.env(report, (MARK,), min_size=BIG))
    register(ctl, "m1")

    # A browse that waits on a lock while 30 requests (31 KB) follow it on its connection.
    lock = subprocess.Popen([PSQL, pg.conninfo, "-XAtq", "-v", "ON_ERROR_STOP=1"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    lock.stdin.write("BEGIN; LOCK TABLE titles IN ACCESS EXCLUSIVE MODE; SELECT 'locked';\n")
    lock.stdin.flush()
    check(lock.stdout.readline().strip() == "locked", "the lock is held")
    s = socket.create_connection(("127.0.0.1", ctl.port), timeout=10)
    s.sendall(b"GET /v1/catalog HTTP/1.1\r\nHost: t\r\n\r\n")
    deadline = time.monotonic() + 10
    while pg.psql("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                  "AND query LIKE '%sluice_browse%'") == "0":
        check(time.monotonic() < deadline, "the browse never waited on the lock")
        time.sleep(0.02)  # poll interval
    pad = (MARK + "x" * 1000).encode()
    s.sendall((b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Pad: " + pad + b"\r\n\r\n") * 30)
    # Taken from the socket: its completion is queued ahead of the database's answer.
    while unread(ctl.port, s.getsockname()[1]) != 0:
        check(time.monotonic() < deadline, "control did not read the pipelined requests")
        time.sleep(0.02)  # poll interval
    lock.stdin.write("COMMIT;\n")
    lock.stdin.close()
    check(lock.wait(10) == 0, "the lock is released")
    got = b""
    while got.count(b"HTTP/1.1 200 ") < 31:
        data = s.recv(65536)
        check(data, f"control closed after {got.count(b'HTTP/1.1 200 ')} answers")
        got += data
    # Control has handled the last answer's send once it answers a later connection.
    check(ctl.request("GET", "/healthz")[0] == 200, "healthz")
    idle = free_scan.sizes(report)
    check(idle, "the pipelined bytes were freed when the connection went idle")
    s.close()
    # The close's completion is queued ahead of a later connection's: once that one is
    # answered, control has closed this one. (What its exit frees is not counted: its caches
    # go then, some as large.)
    check(ctl.request("GET", "/healthz")[0] == 200, "healthz")
    later = free_scan.sizes(report)[len(idle):]
    check(ctl.stop() == 0, "SIGTERM exits 0")
    check(not later, f"blocks of the idle connection's requests kept until it closed: {later}")


if __name__ == "__main__":
    run(main)
