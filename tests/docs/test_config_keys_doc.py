# SPDX-License-Identifier: MIT
"""Every key the three binaries' configuration tables accept is named in their manual page
(docs/man/sluice-edge.yaml.5, sluice-control.yaml.5, sluice-fill.yaml.5), and every key of
sluice-fill's has a row in docs/fill.md's table, so no key a binary takes is missing from the
reference an operator reads. (docs/edge-config.md and docs/control.md have tests of their own.)

    python3 test_config_keys_doc.py SOURCE_DIR

Exit status: 0 passed, 1 failed.
"""

import os
import re
import sys

# The table file of each binary, its manual page, and the least number of keys it has (a
# regular expression that finds none fails instead of passing on nothing).
BINARIES = (("edge/edge-cfg.c", "docs/man/sluice-edge.yaml.5", 60),
            ("control/ctl-cfg.c", "docs/man/sluice-control.yaml.5", 40),
            ("fill-agent/fill-cfg.c", "docs/man/sluice-fill.yaml.5", 20))


def table_keys(code):
    """(table, key) of every row of every cfg_field table in code."""
    out = []
    for table, body in re.findall(r"static const struct cfg_field (\w+)\[\] = \{(.*?)\n\};",
                                  code, re.S) + \
            re.findall(r"^const struct cfg_field (\w+)\[\] = \{(.*?)\n\};", code, re.S | re.M):
        out += [(table, k) for k in re.findall(r'\.key = "([a-z0-9_]+)"', body)]
    return out


def man_words(text):
    """The words of a roff page, its font escapes and escaped hyphens undone."""
    text = re.sub(r"\\f[BIRP]", " ", text).replace("\\-", "-")
    return set(re.findall(r"[a-z0-9_]+", text))


def main():
    src = sys.argv[1]
    failed, n = [], 0

    def read(rel):
        with open(os.path.join(src, rel), encoding="utf-8") as f:
            return f.read()

    fill_keys = []
    for code_path, man_path, least in BINARIES:
        keys = table_keys(read(code_path))
        if len(keys) < least:
            failed.append(f"{code_path}: {len(keys)} keys found, fewer than {least}: "
                          "has the tables' form changed?")
        words = man_words(read(man_path))
        for table, key in keys:
            n += 1
            if key not in words:
                failed.append(f"{man_path} does not name `{key}` ({code_path}, {table})")
        if code_path.startswith("fill-agent/"):
            fill_keys = keys
    # docs/fill.md: a row of its configuration table for each top-level key; the keys of an
    # edge's entry are listed in the `edges[]` row.
    doc = read("docs/fill.md")
    rows = re.findall(r"^\| `([a-z_\[\]]+)` \|(.*)$", doc, re.M)
    for table, key in fill_keys:
        if table == "edge_fields":
            row = [rest for name, rest in rows if name == "edges[]"]
            if not row or f"`{key}`" not in row[0]:
                failed.append(f"docs/fill.md: the `edges[]` row does not name `{key}`")
        elif not any(name in (key, key + "[]") for name, _ in rows):
            failed.append(f"docs/fill.md: no row for `{key}`")
    for msg in failed:
        print(f"not ok - {msg}")
    if not failed:
        print(f"ok - the manual pages name all {n} keys, docs/fill.md all of sluice-fill's")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
