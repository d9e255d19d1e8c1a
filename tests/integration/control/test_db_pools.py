# SPDX-License-Identifier: MIT
"""The players' pool and the admin pool after an outage: once the database answers one of
them, the other's back-off ends too. Before, a players' pool that had backed off to 4-5 s
during the outage went on answering 503 for that long after an admin change had already gone
through on the same database.

The back-off doubles from 250 ms on each failed connection attempt (control/pgdb.c); the test
drives the players' pool with requests until two attempts (debug log lines) are at least
1.9 s apart, so the next wait is at least 4 s, then brings PostgreSQL back, makes an admin
change, and asks the players' pool at once. Meanwhile the log says why, once per line, as
libpq said it."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctlharness import Control, Postgres, check, register, run, until_ok

FAILED = re.compile(r"pgdb: connect failed")


def main(binary, tmp):
    pg = Postgres(tmp)
    ctl = Control(binary, tmp, pg)
    with open(ctl.cfg_path) as f:
        cfg = f.read()
    check("log: {level: info}" in cfg, "the harness's log level")
    with open(ctl.cfg_path, "w") as f:
        f.write(cfg.replace("log: {level: info}", "log: {level: debug}"))
    ctl.start()
    register(ctl, "m1")
    ctl.json("PUT", "/v1/admin/titles/m1/licences", {"licences": [{"country": "GB"}]}, admin=True)
    check(ctl.request("GET", "/v1/catalog")[0] == 200, "catalog before the outage")

    pg.stop()
    fails, seen = [], sum(1 for l in ctl.log if FAILED.search(l))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        st, h, _ = ctl.request("GET", "/v1/catalog")
        check(st == 503 and h.get("retry-after"), f"catalog with the database down: {st}")
        n = sum(1 for l in ctl.log if FAILED.search(l))
        if n > seen:
            fails.append(time.monotonic())
            seen = n
            if len(fails) >= 2 and fails[-1] - fails[-2] >= 1.9:
                break
        time.sleep(0.05)
    gaps = [round(b - a, 2) for a, b in zip(fails, fails[1:])]
    check(len(fails) >= 2 and fails[-1] - fails[-2] >= 1.9,
          f"the players' pool never backed off to 2 s: attempts {gaps} s apart")

    # Why, as libpq said it, on one line (its newline was written as \x0a), and what a
    # failed statement says is that reason (the token keys' refresh said "Connection
    # refused", strerror of the pool's error, whatever libpq's reason was).
    escaped = [l for l in ctl.log if "\\x0a" in l]
    check(not escaped, f"a libpq newline in the log: {escaped[:2]}")
    ctl.wait_log(r"token keys: refresh failed \(database unavailable: connection to server .+\)")

    pg.start()
    until_ok(ctl, "PUT", "/v1/admin/titles/m1/licences", {"licences": [{"country": "SE"}]},
             admin=True)
    since = time.monotonic() - fails[-1]
    st, _, b = ctl.request("GET", "/v1/catalog")
    print(f"# attempts {gaps} s apart; the players' pool asked {since:.2f} s after its last")
    check(st == 200, f"players' pool {since:.2f} s after its last failed attempt, with the admin "
          f"pool connected again: {st} {b[:120]!r}")
    check(ctl.stop() == 0, "SIGTERM exit 0")


run(main)
