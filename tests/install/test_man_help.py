# SPDX-License-Identifier: MIT
"""Each man page under docs/man names every long option its binary's --help lists, so an
operator reading the page sees every flag the binary takes. (sluice-fill's page is checked
more closely, against its option table, by tests/integration/fill/test_help.py.)

    python3 test_man_help.py BINARY MAN_PAGE [BINARY MAN_PAGE ...]

Exit status: 0 passed, 1 failed, 77 skipped (no pair given).
"""

import os
import re
import subprocess
import sys

SKIP = 77


def long_options(text):
    return sorted(set(re.findall(r"(?<![\w-])--([a-z][a-z0-9-]*[a-z0-9])", text)))


def main():
    args = sys.argv[1:]
    if not args or len(args) % 2:
        print("SKIP: give pairs of BINARY MAN_PAGE")
        return SKIP
    failed = []
    for binary, page in zip(args[::2], args[1::2]):
        name = os.path.basename(binary)
        p = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=10,
                           stdin=subprocess.DEVNULL)
        if p.returncode != 0:
            failed.append(f"{name} --help exited {p.returncode}")
            continue
        opts = long_options(p.stdout)
        if "help" not in opts:
            failed.append(f"{name} --help lists no --help: the options were not read")
            continue
        with open(page, encoding="utf-8") as f:
            man = f.read().replace("\\-", "-")
        missing = [o for o in opts if not re.search(rf"(?<![\w-])--{re.escape(o)}(?![\w-])", man)]
        if missing:
            failed.append(f"{os.path.basename(page)} lacks what {name} --help lists: "
                          + ", ".join("--" + o for o in missing))
        else:
            print(f"ok - {os.path.basename(page)} names all {len(opts)} options of {name} --help")
    for msg in failed:
        print(f"not ok - {msg}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
