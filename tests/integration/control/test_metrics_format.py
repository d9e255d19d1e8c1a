# SPDX-License-Identifier: MIT
"""Control's /metrics read strictly as Prometheus text format 0.0.4 (one HELP and one TYPE per
family before its samples, counters named *_total, label values escaped, no series twice,
histograms whole), after some traffic; and the families it has are the ones docs/control.md
lists under "Metrics", no more, no fewer."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))
from ctlharness import ROOT, Control, Postgres, check, run
from promtext import check_exposition, documented_families


def main(binary, tmp):
    pg = Postgres(tmp)
    ctl = Control(binary, tmp, pg, name="ctl-metrics")
    ctl.start()
    for path in ("/healthz", "/v1/titles/none", "/nothing"):
        ctl.request("GET", path)
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
    ctl.stop()


if __name__ == "__main__":
    run(main)
