# SPDX-License-Identifier: MIT
"""sd_notify: under a service manager control sends READY=1 once its migrations ran and it
accepts, WATCHDOG=1 from its loop at half of $WATCHDOG_USEC, RELOADING=1 then READY=1 around
SIGHUP, and STOPPING=1 on SIGTERM. The test plays the manager's side on its own socket."""
import os
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctlharness import Control, Postgres, check, run

WATCHDOG_USEC = 400_000  # pings every 200 ms


class NotifySocket:
    """Collects the datagrams control sends to $NOTIFY_SOCKET."""

    def __init__(self, directory):
        self.path = os.path.join(directory, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)

    def next(self, timeout):
        """The next datagram's lines and its arrival time, or None after timeout seconds."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(4096)
        except socket.timeout:
            return None
        return data.decode().split("\n"), time.monotonic()

    def expect(self, wanted, timeout=10.0, skip=("WATCHDOG=1",)):
        """Wait for a datagram with the line wanted, passing over the lines in skip only."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.next(max(deadline - time.monotonic(), 0.001))
            check(got is not None, f"no {wanted!r} within {timeout}s")
            lines, t = got
            if wanted in lines:
                return lines, t
            check(all(line in skip for line in lines), f"{lines!r} while waiting for {wanted!r}")

    def close(self):
        self.sock.close()


def main(binary, tmp):
    pg = Postgres(tmp)
    ns = NotifySocket(tmp)
    ctl = Control(binary, tmp, pg)
    os.environ["NOTIFY_SOCKET"] = ns.path
    os.environ["WATCHDOG_USEC"] = str(WATCHDOG_USEC)
    try:
        ctl.start()
    finally:
        del os.environ["NOTIFY_SOCKET"]
        del os.environ["WATCHDOG_USEC"]

    # READY=1 comes first (nothing before it), and by then the schema is there and the
    # listener answers.
    lines, _ = ns.expect("READY=1", skip=())
    check("STATUS=serving" in lines, f"READY=1 without a status: {lines!r}")
    check(int(pg.psql("SELECT count(*) FROM schema_migrations")) > 0,
          "READY=1 before the migrations ran")
    st, _, _ = ctl.request("GET", "/healthz")
    check(st == 200, f"/healthz after READY=1: {st}")
    print("ok - READY=1 after migrations, listener answering")

    # Watchdog pings at half the period, from the loop: count them over a window of five
    # half-periods, after passing over those queued meanwhile. A loaded machine may make
    # some late, never more frequent.
    while ns.next(0.001):
        pass
    half = WATCHDOG_USEC / 2e6
    end = time.monotonic() + 5 * half
    pings = 0
    while True:
        got = ns.next(max(end - time.monotonic(), 0.001))
        if got is None or got[1] > end:
            break
        check(got[0] == ["WATCHDOG=1"], f"{got[0]!r} while counting watchdog pings")
        pings += 1
    check(2 <= pings <= 7, f"{pings} WATCHDOG=1 in {5 * half:.1f}s, want about 5")
    print(f"ok - {pings} WATCHDOG=1 in {5 * half:.1f}s (one per {half:.1f}s asked)")

    # Reload: RELOADING=1, then READY=1 again.
    ctl.proc.send_signal(signal.SIGHUP)
    ns.expect("RELOADING=1")
    ns.expect("READY=1")
    print("ok - SIGHUP: RELOADING=1 then READY=1")

    # Drain: STOPPING=1, then exit 0.
    ctl.proc.send_signal(signal.SIGTERM)
    ns.expect("STOPPING=1")
    rc = ctl.stop()
    check(rc == 0, f"exit status after SIGTERM: {rc}")
    print("ok - SIGTERM: STOPPING=1, exit 0")
    ns.close()


if __name__ == "__main__":
    run(main)
