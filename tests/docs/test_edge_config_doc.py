# SPDX-License-Identifier: MIT
"""docs/edge-config.md has a row for every key the edge's configuration tables accept
(edge/edge-cfg.c), so no key the binary takes is missing from the operator's reference.

    python3 test_edge_config_doc.py SOURCE_DIR

Exit status: 0 passed, 1 failed.
"""

import os
import re
import sys

# Each table in edge-cfg.c and how docs/edge-config.md names its keys: a row of their own
# ("| `cache.dir` |"), or, for the sections described in one row, the key in backquotes.
ROWS = {"admin": "admin.", "cache": "cache.", "upstream": "upstreams[].", "tokens": "tokens.",
        "control": "control.", "limits": "limits.", "log": "log.", "tls": "tls[].",
        "http2": "http2.", "edge": ""}
IN_TEXT = ("tls_cert", "sandbox")


def main():
    src = sys.argv[1]
    with open(os.path.join(src, "edge", "edge-cfg.c"), encoding="utf-8") as f:
        code = f.read()
    with open(os.path.join(src, "docs", "edge-config.md"), encoding="utf-8") as f:
        doc = f.read()
    tables = re.findall(r"static const struct cfg_field (\w+)_fields\[\] = \{(.*?)\n\};", code,
                        re.S)
    failed = []
    if {t for t, _ in tables} != set(ROWS) | set(IN_TEXT):
        failed.append(f"the tables of edge-cfg.c changed: {sorted(t for t, _ in tables)}; "
                      "say here how the doc names their keys")
    # First cells of the tables' rows: "`cache.dir`", or several keys of one section in one
    # row ("`upstreams[].connect_timeout`, `first_byte_timeout`").
    cells = re.findall(r"^\| (`[^|]*) \|", doc, re.M)
    headings = re.findall(r"^#+ .*$", doc, re.M)

    def has_row(prefix, key):
        return any(f"`{prefix}{key}`" in c or f"`{prefix}{key}[]`" in c or
                   (c.startswith(f"`{prefix}") and f"`{key}`" in c) for c in cells)

    n = 0
    for table, body in tables:
        for key, kind in re.findall(r'\.key = "([a-z0-9_]+)", \.type = (\w+)', body):
            n += 1
            if table == "edge" and kind.startswith("CFG_SECTION"):
                # A section: a heading of its own, or one row.
                if not any(f"`{key}`" in h or f"`{key}[]`" in h for h in headings) and \
                        not has_row("", key):
                    failed.append(f"no heading or row for the section `{key}`")
            elif table in ROWS:
                if not has_row(ROWS[table], key):
                    failed.append(f"no row for `{ROWS[table]}{key}`")
            elif f"`{key}`" not in doc and f"{key}:" not in doc:
                failed.append(f"{table} key `{key}` is not described")
    for msg in failed:
        print(f"not ok - docs/edge-config.md: {msg}")
    if not failed:
        print(f"ok - docs/edge-config.md describes all {n} keys of edge/edge-cfg.c")
    return 1 if failed or n < 50 else 0


if __name__ == "__main__":
    sys.exit(main())
