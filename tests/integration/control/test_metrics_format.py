# SPDX-License-Identifier: MIT
"""Control's /metrics read strictly as Prometheus text format 0.0.4 (one HELP and one TYPE per
family before its samples, counters named *_total, label values escaped, no series twice,
histograms whole), after some traffic; and the families it has are the ones docs/control.md
lists under "Metrics", no more, no fewer.

The latency histogram's buckets reach past the database's timeouts: a request answered 503 at
database_pool.timeout (3 s by default) lands in a finite bucket, and the last finite bound is
at least database_pool.admin_timeout's default (60 s), so a quantile over requests that wait
on a slow database reads their time, not the top bound's.

Connections closed at max_connections are counted in families of their own (the hardening
test's idle_room reads them)."""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
from ctlharness import ROOT, Control, Postgres, check, run
from promtext import check_exposition, documented_families


# The defaults of database_pool.timeout and database_pool.admin_timeout (docs/control.md).
DB_TIMEOUT_S = 3
ADMIN_TIMEOUT_S = 60


def answered_at_timeout(ctl, pg):
    """GET a title while a transaction holds its table: answered 503 at the timeout."""
    lk = subprocess.Popen(["psql", pg.conninfo, "-XAtq"], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lk.stdin.write("BEGIN; LOCK TABLE titles IN ACCESS EXCLUSIVE MODE; SELECT 'locked';\n")
    lk.stdin.flush()
    check(lk.stdout.readline().strip() == "locked", "titles locked")
    st, _, body = ctl.request("GET", "/v1/titles/slow")
    lk.stdin.write("COMMIT;\n\\q\n")
    lk.stdin.flush()
    lk.wait(10)
    check(st == 503 and b"timed out" in body, f"a title read on a locked table: {st} {body!r}")


def latency_buckets(samples):
    """{upper bound: cumulative count} of the request latency histogram."""
    out = {}
    for name, labels, value in samples["sluice_control_request_seconds"]:
        if name.endswith("_bucket"):
            out[float(dict(labels)["le"])] = value
    return out


def main(binary, tmp):
    pg = Postgres(tmp)
    ctl = Control(binary, tmp, pg, name="ctl-metrics", db_timeout=f"{DB_TIMEOUT_S}s")
    ctl.start()
    for path in ("/healthz", "/v1/titles/none", "/nothing"):
        ctl.request("GET", path)
    answered_at_timeout(ctl, pg)
    st, _, body = ctl.request("GET", "/metrics")
    check(st == 200, f"/metrics answered {st}")
    problems, samples = check_exposition(body.decode())
    check(not problems, f"{len(problems)} problem(s) in /metrics:\n  " + "\n  ".join(problems))
    with open(os.path.join(ROOT, "docs", "control.md")) as f:
        documented = documented_families(f.read(), "Metrics", "sluice_control_",
                                        table=False)
    check(documented, "no metric names under '## Metrics' in docs/control.md")
    have = set(samples)
    check(not have - documented,
          f"families in /metrics that docs/control.md does not list: {sorted(have - documented)}")
    check(not documented - have,
          f"families docs/control.md lists that /metrics lacks: {sorted(documented - have)}")
    buckets = latency_buckets(samples)
    top = max(b for b in buckets if b != float("inf"))
    check(buckets[top] == buckets[float("inf")],
          f"{buckets[float('inf')] - buckets[top]:g} request(s) past every finite bound "
          f"({top} s): the one answered at the {DB_TIMEOUT_S} s database timeout is read as "
          f"{top} s by histogram_quantile")
    check(top >= ADMIN_TIMEOUT_S,
          f"the last finite latency bound is {top} s, under the admin pool's {ADMIN_TIMEOUT_S} s")
    ctl.stop()


if __name__ == "__main__":
    run(main)
