# SPDX-License-Identifier: MIT
"""The Prometheus alerting rules Sluice ships (dist/prometheus/sluice-alerts.yml).

    python3 test_alert_rules.py SOURCE_DIR

A rule on a metric no binary exports, or on a label it does not carry, never fires and says
nothing. Checked here: every sluice_* metric an expression reads is one docs/edge.md,
docs/control.md or docs/fill.md lists under "Metrics" (the metrics-format tests and
fill/metrics-file hold those lists to what the binaries write), with each label an expression
matches on named in that metric's row, and each value it matches listed there; every alert has
a severity of page, warning or info and a summary, and docs/monitoring.md lists each. Then `promtool check rules` and `promtool
test rules` with alert-rules-test.yml: series shaped as the binaries write them, and when each
alert must fire and must not.

Exit status: 0 passed, 1 failed, 77 skipped (no promtool: Debian's prometheus package, which
tools/deps installs; the checks above promtool's have run and are printed first).
"""
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from promtext import documented_families  # noqa: E402

SKIP = 77
SEVERITIES = {"page", "warning", "info"}


def expressions(text):
    """(alert name, expression) of each rule: `expr:` on one line or as a `|` block."""
    lines = text.split("\n")
    out, alert = [], None
    for i, ln in enumerate(lines):
        m = re.match(r"\s*- alert: (\S+)", ln)
        if m:
            alert = m.group(1)
        m = re.match(r"(\s*)expr: ?(.*)$", ln)
        if not m:
            continue
        if m.group(2).strip() != "|":
            out.append((alert, m.group(2)))
            continue
        indent, body = len(m.group(1)), []
        for nxt in lines[i + 1:]:
            if nxt.strip() and len(nxt) - len(nxt.lstrip()) <= indent:
                break
            body.append(nxt.strip())
        out.append((alert, " ".join(body)))
    return out


def rows_naming(markdown, metric):
    """The lines of a document that name the metric in backquotes (with or without labels)."""
    return [ln for ln in markdown.split("\n")
            if re.search(r"`" + re.escape(metric) + r"(\{[^`]*\})?`", ln)]


def main():
    src = sys.argv[1]
    docs = {}
    for name in ("edge", "control", "fill"):
        with open(os.path.join(src, "docs", f"{name}.md")) as f:
            docs[name] = f.read()
    families = {
        "sluice_edge_": documented_families(docs["edge"], "Metrics", "sluice_"),
        "sluice_control_": documented_families(docs["control"], "Metrics", "sluice_control_",
                                               table=False),
        "sluice_fill_": documented_families(docs["fill"], "Metrics", "sluice_fill_"),
    }
    families["sluice_tls_"] = families["sluice_edge_"]
    which = {"sluice_edge_": "edge", "sluice_tls_": "edge", "sluice_control_": "control",
             "sluice_fill_": "fill"}
    rules_path = os.path.join(src, "dist", "prometheus", "sluice-alerts.yml")
    with open(rules_path) as f:
        rules = f.read()
    failed = []
    exprs = expressions(rules)
    if len(exprs) != len(re.findall(r"^\s*- alert: ", rules, re.M)):
        failed.append(f"{len(exprs)} expressions read for "
                      f"{len(re.findall(r'- alert: ', rules))} alerts")
    read = set()
    for alert, expr in exprs:
        for m in re.finditer(r"\b(sluice_[a-z0-9_]+)(\{([^}]*)\})?", expr):
            metric, matchers = m.group(1), m.group(3) or ""
            prefix = next((p for p in families if metric.startswith(p)), None)
            if prefix is None or metric not in families[prefix]:
                failed.append(f"{alert}: {metric} is in no docs metric list")
                continue
            read.add(metric)
            rows = " ".join(rows_naming(docs[which[prefix]], metric))
            for lm in re.finditer(r'([a-z_]+)\s*(=~|!~|!=|=)\s*"([^"]*)"', matchers):
                label, value = lm.group(1), lm.group(3)
                if f"`{label}`" not in rows and f"{{{label}}}" not in rows:
                    failed.append(f"{alert}: docs/{which[prefix]}.md gives {metric} no label "
                                  f"{label!r}")
                elif which[prefix] == "edge" and f"`{value}`" not in rows:
                    failed.append(f"{alert}: docs/edge.md lists no value {value!r} of "
                                  f"{metric}'s {label!r}")
    for block in re.split(r"\n\s*- alert: ", rules)[1:]:
        name = block.split("\n", 1)[0].strip()
        sev = re.search(r"labels: \{severity: (\w+)\}", block)
        if not sev or sev.group(1) not in SEVERITIES:
            failed.append(f"{name}: severity {sev and sev.group(1)!r}, want one of "
                          f"{sorted(SEVERITIES)}")
        if not re.search(r"^\s*summary: \S", block, re.M):
            failed.append(f"{name}: no summary annotation")
    with open(os.path.join(src, "docs", "monitoring.md")) as f:
        listed = set(re.findall(r"^\| `(\w+)` \|", f.read(), re.M))
    named = set(re.findall(r"^\s*- alert: (\w+)", rules, re.M))
    if listed != named:
        failed.append(f"docs/monitoring.md's table and the rules differ: only in the docs "
                      f"{sorted(listed - named)}, only in the rules {sorted(named - listed)}")
    for msg in failed:
        print("not ok -", msg)
    if failed:
        return 1
    print(f"ok - the {len(exprs)} rules read {len(read)} metrics, each listed in the docs with "
          "the labels and values they match on")

    promtool = shutil.which("promtool")
    if not promtool:
        print("SKIP: promtool not installed (Debian package prometheus, from tools/deps "
              "install): the rules' PromQL and when they fire are not checked")
        return SKIP
    here = os.path.dirname(os.path.abspath(__file__))
    for args, what in ((["check", "rules", rules_path], "check rules"),
                       (["test", "rules", "alert-rules-test.yml"], "test rules")):
        p = subprocess.run([promtool] + args, cwd=here, capture_output=True, text=True,
                           timeout=60)
        if p.returncode != 0:
            print(f"not ok - promtool {what} exited {p.returncode}")
            print((p.stdout + p.stderr)[-4000:])
            return 1
        print(f"ok - promtool {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
