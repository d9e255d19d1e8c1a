# SPDX-License-Identifier: MIT
"""The database password in control's conninfo is wiped from every copy control makes of the
conninfo before it frees it (docs/control.md, "Database"): control runs with
free-scan-shim.c preloaded, its conninfo holding a password (the test server trusts every
local connection, so any password is accepted), and reports each freed block still holding
"password=" and the password as control was given them, through reloads and the exit.

libpq parses a conninfo into copies of its own: the values alone (it cuts "password" from
its value where the '=' was), which this marker does not match, and the password it keeps
for the connection, which it wipes itself. So what is counted is the whole conninfo as
written: control's copies. The server's socket directory (the conninfo's host) is the proof that the shim
searched: libpq's copies of it are freed unwiped, and must be found."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import free_scan  # noqa: E402
from ctlharness import Control, check, run, scanned  # noqa: E402

PASSWORD = "pw-marker-3c5e7a9b1d2f4e6a"


def main(binary, tmp):
    report, pg = scanned(binary, tmp)
    host = [w.split("=", 1)[1] for w in pg.conninfo.split() if w.startswith("host=")]
    check(host, f"no host in the test server's conninfo {pg.conninfo!r}")
    pg.conninfo += f" password={PASSWORD}"
    ctl = Control(binary, tmp, pg)
    # Markers by index in the report: 0 the conninfo's password as written, 1 the host.
    ctl.start(env=free_scan.env(report, (f"password={PASSWORD}", host[0][-60:])))
    check(ctl.json("GET", "/v1/admin/keys", admin=True) is not None, "a query answered")
    check(ctl.stop() == 0, "SIGTERM exits 0")
    password = free_scan.hits(report, 0)
    name = free_scan.hits(report, 1)
    print(f"# freed blocks holding the host: {len(name)}, the conninfo's password: "
          f"{len(password)}")
    check(name, "the host was not found in a freed block: the shim did not search")
    check(not password, f"the conninfo's password was still in freed blocks: {password[:8]}")


run(main)
