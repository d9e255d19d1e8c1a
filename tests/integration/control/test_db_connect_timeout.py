# SPDX-License-Identifier: MIT
"""A database host that never answers (its SYNs dropped: here a listener whose accept queue
is full) makes start-up fail within database_pool.timeout (libpq's connect_timeout, at least
2 s), exit status 1 and a message saying so, for a keyword/value conninfo and a URI alike;
a connect_timeout the conninfo sets itself is the one that holds.

    python3 test_db_connect_timeout.py path/to/sluice-control
"""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctlharness import Control, Failure, check, run, skip  # noqa: E402


class Blackhole:
    """A loopback port that takes no connection: its listener's queue is full and never
    accepted, so the kernel drops further SYNs and a client waits for TCP to give up."""

    def __init__(self):
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen(0)
        self.port = self.srv.getsockname()[1]
        self.fillers = []
        for _ in range(4):
            s = socket.socket()
            s.settimeout(0.5)
            try:
                s.connect(("127.0.0.1", self.port))
            except OSError:
                s.close()
                break
            self.fillers.append(s)
        probe = socket.socket()
        probe.settimeout(1)
        try:
            probe.connect(("127.0.0.1", self.port))
            # A full queue still completed a handshake: this kernel does not drop SYNs.
            skip("a full accept queue does not drop SYNs here")
        except socket.timeout:
            pass
        finally:
            probe.close()


class NoPostgres:
    """Control's config needs only a conninfo: there is no server to start."""

    def __init__(self, conninfo):
        self.conninfo = conninfo


def start_fails(binary, tmp, name, conninfo, within, at_least=0.0):
    ctl = Control(binary, tmp, NoPostgres(conninfo), name=name)
    t0 = time.monotonic()
    # start() reads the output until "ready" or the end: in a thread, so a start-up that
    # hangs is seen here rather than hanging the test.
    starter = threading.Thread(target=ctl.start, kwargs={"expect_ready": False}, daemon=True)
    starter.start()
    starter.join(within)
    if starter.is_alive():
        ctl.proc.kill()
        ctl.proc.wait()
        starter.join()
        raise Failure(f"{name}: start-up still waiting on the database after {within} s")
    rc = ctl.proc.wait(5)
    took = time.monotonic() - t0
    check(rc == 1, f"{name}: exit {rc}: {ctl.log}")
    ctl.wait_log(r" error .*database: cannot connect to the database: .*timeout expired")
    check(ctl.port is None and not any("ready" in l for l in ctl.log),
          f"{name}: listened without a database: {ctl.log}")
    check(took >= at_least, f"{name}: gave up after {took:.1f} s, before {at_least} s")
    return took


def main(binary, tmp):
    bh = Blackhole()
    # database_pool.timeout is the harness's 2 s: libpq's least, and the bound here.
    kv = f"host=127.0.0.1 port={bh.port} dbname=sluice user=sluice"
    start_fails(binary, tmp, "keyword-value", kv, within=10)
    uri = f"postgresql://sluice@127.0.0.1:{bh.port}/sluice"
    start_fails(binary, tmp, "uri", uri, within=10)
    # The operator's own connect_timeout wins over the one derived from the pool's.
    start_fails(binary, tmp, "own-timeout", kv + " connect_timeout=4", within=12, at_least=3.5)
    start_fails(binary, tmp, "own-timeout-uri", uri + "?connect_timeout=4", within=12,
                at_least=3.5)


if __name__ == "__main__":
    run(main)
