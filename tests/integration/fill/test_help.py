# SPDX-License-Identifier: MIT
"""sluice-fill's --help and man page are complete: every long option the binary accepts (its
getopt table in fill-agent/cli.c) is in the --help text and in fill-agent/sluice-fill.1,
--help names no option the binary does not take, every configuration key (the tables in
fill-agent/fill-cfg.c) is in the man page and in docs/fill.md, and each of the four commands
and six exit statuses is in --help, the man page and docs/fill.md; the three say when the
metrics file is written.

    python3 test_help.py /path/to/sluice-fill /path/to/source-root

Exit status: 0 passed, 1 failed, 77 skipped (the binary missing)."""

import os
import re
import subprocess
import sys


def main():
    if len(sys.argv) != 3 or not os.access(sys.argv[1], os.X_OK):
        print("SKIP: need the sluice-fill binary and the source root as arguments")
        return 77
    binary, root = sys.argv[1], sys.argv[2]

    def read(*path):
        with open(os.path.join(root, *path), encoding="utf-8") as f:
            return f.read()

    cli = read("fill-agent", "cli.c")
    table = cli[cli.index("struct option long_opts[]"):]
    table = table[:table.index("{0}")]
    accepted = re.findall(r'\{"([a-z][a-z-]*)",', table)
    cfg = read("fill-agent", "fill-cfg.c")
    keys = sorted(set(re.findall(r'\{\.key = "([a-z_]+)"', cfg)))
    man = read("fill-agent", "sluice-fill.1").replace("\\-", "-")
    doc = read("docs", "fill.md")
    p = subprocess.run([binary, "--help"], capture_output=True, timeout=10)
    helptext = p.stdout.decode()

    failures = []

    def check(ok, msg):
        if not ok:
            failures.append(msg)

    check(p.returncode == 0, f"--help exit {p.returncode}")
    check(len(accepted) >= 25, f"the option table was not read from cli.c: {accepted}")
    check(len(keys) >= 20, f"the key tables were not read from fill-cfg.c: {keys}")
    for opt in accepted:
        check(re.search(rf"--{opt}\b", helptext), f"--{opt} is taken but not in --help")
        check(re.search(rf"--{opt}\b", man), f"--{opt} is taken but not in the man page")
    for opt in set(re.findall(r"--([a-z][a-z-]*)", helptext)):
        check(opt in accepted, f"--help names --{opt}, which the binary does not take")
    for key in keys:
        check(re.search(rf"\b{key}\b", man), f"config key {key} not in the man page")
        check(f"`{key}`" in doc or f"`{key}[]`" in doc, f"config key {key} not in docs/fill.md")
    for cmd in ("plan", "run", "status", "verify"):
        check(re.search(rf"^\s*(sluice-fill )?{cmd}\b", helptext, re.M),
              f"command {cmd} not in --help")
        check(f".B {cmd}" in man, f"command {cmd} not in the man page")
    for code in range(6):
        check(re.search(rf"^\s*{code}\s+\S", helptext, re.M), f"exit status {code} not in --help")
        check(re.search(rf"^\.B[R]? {code}\b", man, re.M) or f"\n{code}\n" in man,
              f"exit status {code} not in the man page")
        check(f"| {code} |" in doc, f"exit status {code} not in docs/fill.md")
    # With several edges the run's status is the worst of theirs: the order is written in
    # all three, names every status once, and is the same in each (2, a usage error, left out
    # of it until 2026-12-05, though the code ranks it first).
    orders = {}
    for name, text in (("--help", helptext), ("the man page", man), ("docs/fill.md", doc)):
        m = re.search(r"worst[^(]*\(([0-9](?: > [0-9])+)\)", text.replace("\n", " "))
        check(m, f"{name} gives no order of exit statuses for several edges")
        if not m:
            continue
        order = m.group(1).split(" > ")
        orders[name] = order
        check(sorted(order) == [str(c) for c in range(6)],
              f"the order of exit statuses in {name} is {m.group(1)}: it must name 0 to 5 once each")
    check(len(set(" > ".join(o) for o in orders.values())) <= 1,
          f"the order of exit statuses differs: {orders}")
    # The metrics file is rewritten every 10 s while a run transfers, not only at its start
    # and end: each text says so (until 2026-12-07 --help named only the start and end).
    for name, text in (("--help", helptext), ("the man page", man), ("docs/fill.md", doc)):
        entries = [" ".join(text[m.start():m.start() + 400].split())
                   for m in re.finditer(r"--metrics-file", text)]
        check(any("every 10 s while" in e for e in entries),
              f"{name}: --metrics-file does not say the file is rewritten every 10 s while "
              f"the run transfers: {[e[:200] for e in entries]}")
    # Each bound a flag is refused past ("--parallel: want 1-256") is given with the flag, in
    # --help and in the man page ("1-256", "1 to 256").
    bounds = re.findall(r'usage_error\(\s*"--([a-z-]+): want (\w+)-(\w+)[ ",]', cli)
    check(len(bounds) >= 4, f"the flags' bounds were not read from cli.c: {bounds}")
    man_plain = man.replace("\\(en", "-")
    for opt, lo, hi in bounds:
        for name, text, entry_end in (("--help", helptext, r"\n  -"), ("the man page", man_plain,
                                                                      r"\n\.TP")):
            m = re.search(rf"--{opt}\b.*?(?={entry_end}|\Z)", text, re.S)
            entry = " ".join(m.group(0).split()) if m else ""
            check(f"{lo}-{hi}" in entry or f"{lo} to {hi}" in entry,
                  f"{name}: --{opt} does not give its bounds {lo}-{hi}: {entry[:160]!r}")
    for f in failures:
        print(f"not ok - {f}")
    if not failures:
        print(f"ok - {len(accepted)} options, {len(keys)} config keys, 4 commands and 6 exit "
              "statuses documented in --help, the man page and docs/fill.md")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
