# SPDX-License-Identifier: MIT
"""docs/control.md's configuration table has a row for every key sluice-control's tables accept
(control/ctl-cfg.c), so no key the binary takes is missing from the operator's reference.

    python3 test_control_config_doc.py SOURCE_DIR

Exit status: 0 passed, 1 failed.
"""

import os
import re
import sys

# Each table in ctl-cfg.c and how docs/control.md names its keys in the first cell of a row
# ("| `database_pool.pool` |"); the root table's sections are named by their own keys' rows.
ROWS = {"admin": "admin.", "tokens": "tokens.", "db": "database_pool.", "demand": "demand.",
        "log": "log.", "root": ""}
# Described inside another key's row: country_prefixes[] lists "{cidr, country, region?}".
IN_ROW = {"prefix": "country_prefixes[]"}


def main():
    src = sys.argv[1]
    with open(os.path.join(src, "control", "ctl-cfg.c"), encoding="utf-8") as f:
        code = f.read()
    with open(os.path.join(src, "docs", "control.md"), encoding="utf-8") as f:
        doc = f.read()
    tables = re.findall(r"static const struct cfg_field (\w+)_fields\[\] = \{(.*?)\n\};", code,
                        re.S)
    failed = []
    if {t for t, _ in tables} != set(ROWS) | set(IN_ROW):
        failed.append(f"the tables of ctl-cfg.c changed: {sorted(t for t, _ in tables)}; "
                      "say here how the doc names their keys")
    rows = re.findall(r"^\| (`[^|]*) \|(.*)$", doc, re.M)
    cells = [c for c, _ in rows]

    def has_row(name):
        return any(f"`{name}`" in c or f"`{name}[]`" in c for c in cells)

    n = 0
    for table, body in tables:
        for key, kind in re.findall(r'\.key = "([a-z0-9_]+)", \.type = (\w+)', body):
            n += 1
            if table in IN_ROW:
                row = [rest for c, rest in rows if f"`{IN_ROW[table]}`" in c]
                if not row or key not in row[0]:
                    failed.append(f"`{IN_ROW[table]}` does not describe `{key}`")
            elif table == "root" and kind == "CFG_SECTION":
                continue  # its keys have rows of their own, checked with their table
            elif not has_row(ROWS[table] + key):
                failed.append(f"no row for `{ROWS[table]}{key}`")
    for msg in failed:
        print(f"not ok - docs/control.md: {msg}")
    if not failed:
        print(f"ok - docs/control.md describes all {n} keys of control/ctl-cfg.c")
    return 1 if failed or n < 30 else 0


if __name__ == "__main__":
    sys.exit(main())
