# SPDX-License-Identifier: MIT
"""The build tree holds each binary where the design's contract says other tools find it:
build/edge/sluice-edge, build/control/sluice-control, build/fill-agent/sluice-fill and
build/tools/sluice-<tool>; each runs there and its --version, on stdout with status 0, names it.

    python3 test_build_paths.py BUILD_ROOT

Exit status: 0 passed, 1 failed, 77 skipped (no build root given).
"""

import os
import re
import subprocess
import sys

SKIP = 77
PATHS = ["edge/sluice-edge", "control/sluice-control", "fill-agent/sluice-fill",
         "tools/sluice-ingest", "tools/sluice-cachesim", "tools/sluice-store-dump"]


def main():
    if len(sys.argv) != 2 or not os.path.isdir(sys.argv[1]):
        print("SKIP: give the build root")
        return SKIP
    failed, versions = [], {}
    for rel in PATHS:
        path = os.path.join(sys.argv[1], rel)
        if not os.access(path, os.X_OK):
            failed.append(f"build/{rel}: not there, or not executable")
            continue
        p = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10,
                           stdin=subprocess.DEVNULL)
        name = os.path.basename(rel)
        if p.returncode != 0 or not p.stdout.startswith(name + " "):
            failed.append(f"build/{rel} --version: status {p.returncode}, stdout "
                          f"{p.stdout[:80]!r}")
            continue
        versions[rel] = p.stdout.split()[1]
    # One version for all, naming the commit built (every build said 0.1.0, whichever it was).
    if len(set(versions.values())) > 1:
        failed.append(f"the binaries name different versions: {versions}")
    src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    head = subprocess.run(["git", "-C", src, "log", "-1", "--format=%h"], capture_output=True,
                          text=True)
    if head.returncode == 0 and head.stdout.strip():
        want = re.compile(r"\d+\.\d+\.\d+\+git\d{12}\." + re.escape(head.stdout.strip()) + "$")
        bad = {r: v for r, v in versions.items() if not want.match(v)}
        if bad:
            failed.append(f"versions without the commit built ({head.stdout.strip()}): {bad}")
    else:
        print("# not a git checkout: the versions are meson.build's alone")
    for f in failed:
        print("not ok -", f)
    print(f"# {len(PATHS) - len(failed)} of {len(PATHS)} binaries where the contract says")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
