# SPDX-License-Identifier: MIT
"""The admin pool opens its connection when the first admin change needs one, and that
change may wait for it as long as it may wait for its statement (database_pool.admin_timeout),
not the players' database_pool.timeout: a database slow to take a connection (here a socket in
front of PostgreSQL that holds each new connection for 3 s, longer than the harness's 2 s
timeout) still gets the change in, where before it was answered 503 "database unavailable".

    python3 test_admin_slow_connect.py path/to/sluice-control
"""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctlharness import Control, Postgres, check, make_asset, run  # noqa: E402

HOLD_S = 3.0


class SlowSocket:
    """A unix socket dir standing in for PostgreSQL's: each connection is held HOLD_S before
    it is joined to the real server's socket."""

    def __init__(self, tmp, real_dir):
        self.dir = os.path.join(tmp, "slow-pg")
        os.makedirs(self.dir)
        self.real = os.path.join(real_dir, ".s.PGSQL.5432")
        self.srv = socket.socket(socket.AF_UNIX)
        self.srv.bind(os.path.join(self.dir, ".s.PGSQL.5432"))
        self.srv.listen(16)
        self.accepted = 0
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            c, _ = self.srv.accept()
            self.accepted += 1
            threading.Thread(target=self.join, args=(c,), daemon=True).start()

    def join(self, c):
        time.sleep(HOLD_S)
        up = socket.socket(socket.AF_UNIX)
        try:
            up.connect(self.real)
        except OSError:
            c.close()
            return

        def pump(a, b):
            try:
                while True:
                    d = a.recv(65536)
                    if not d:
                        break
                    b.sendall(d)
            except OSError:
                pass
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        threading.Thread(target=pump, args=(up, c), daemon=True).start()
        pump(c, up)


class Through:
    """The conninfo of pg, through another socket dir."""

    def __init__(self, pg, sock_dir):
        parts = [p for p in pg.conninfo.split() if not p.startswith("host=")]
        self.conninfo = " ".join([f"host={sock_dir}"] + parts)


def main(binary, tmp):
    pg = Postgres(tmp)
    real_dir = next(p[5:] for p in pg.conninfo.split() if p.startswith("host="))
    slow = SlowSocket(tmp, real_dir)
    ctl = Control(binary, tmp, Through(pg, slow.dir)).start()  # database_pool.timeout 2 s
    t0 = time.monotonic()
    st, _, b = ctl.request("POST", "/v1/admin/titles",
                           {"title": "slow1", "asset": make_asset("slow1")}, admin=True)
    took = time.monotonic() - t0
    check(st == 200, f"an admin change over a connection slower than the players' timeout: "
          f"{st} {b!r} after {took:.1f} s")
    check(took >= HOLD_S - 0.5, f"answered in {took:.1f} s: the connection was not held?")
    n = pg.psql("SELECT count(*) FROM titles WHERE id = 'slow1'")
    check(n == "1", f"the title is not stored ({n})")
    check(not any("admin pool): cannot connect" in l for l in ctl.log),
          f"the admin pool gave up connecting: {ctl.log}")
    check(ctl.stop() == 0, "SIGTERM exit 0")


if __name__ == "__main__":
    run(main)
