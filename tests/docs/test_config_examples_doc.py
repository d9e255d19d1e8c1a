# SPDX-License-Identifier: MIT
"""The configuration files the operators' pages show whole, and the edge's shipped example,
pass --check-config on the real binaries: every YAML block of docs/edge-config.md that is a
file of its own (it has `cache:`), edge/sluice-edge.example.yaml, and docs/control.md's (it
has `database:`), with the files they name under /etc/sluice, /var/cache/sluice and
/var/log/sluice made in a scratch directory.

    python3 test_config_examples_doc.py SOURCE_DIR SLUICE_EDGE SLUICE_CONTROL

Exit status: 0 passed, 1 failed.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile


def localised(text, tmp):
    """text with its system paths moved under tmp, and each file it names under /etc/sluice
    made there: a key file for a .yaml, a 40-character token or secret otherwise."""
    os.makedirs(os.path.join(tmp, "etc"), exist_ok=True)
    for name in set(re.findall(r"/etc/sluice/([\w.-]+)", text)):
        with open(os.path.join(tmp, "etc", name), "w") as f:
            if name.endswith(".yaml"):
                f.write("keys:\n  - {kid: k1, secret: " + "5a" * 32 + "}\n")
            else:
                f.write("t" * 40 + "\n")
    return (text.replace("/etc/sluice/", tmp + "/etc/")
            .replace("/var/cache/sluice", tmp + "/cache")
            .replace("/var/log/sluice/", tmp + "/log/"))


def main():
    src, edge, control = sys.argv[1:4]
    failed, n = [], 0

    def read(rel):
        with open(os.path.join(src, rel), encoding="utf-8") as f:
            return f.read()

    files = [(edge, "docs/edge-config.md", b) for b in re.findall(
        r"^```yaml\n(.*?)^```", read("docs/edge-config.md"), re.S | re.M) if "\ncache:" in "\n" + b]
    files.append((edge, "edge/sluice-edge.example.yaml", read("edge/sluice-edge.example.yaml")))
    files += [(control, "docs/control.md", b) for b in re.findall(
        r"^```yaml\n(.*?)^```", read("docs/control.md"), re.S | re.M) if "\ndatabase:" in "\n" + b]
    for binary, where, text in files:
        tmp = tempfile.mkdtemp(prefix="cfg-example-")
        try:
            path = os.path.join(tmp, "example.yaml")
            with open(path, "w") as f:
                f.write(localised(text, tmp))
            r = subprocess.run([binary, "--check-config", "--config", path], capture_output=True,
                               text=True, timeout=30)
            n += 1
            if r.returncode != 0:
                failed.append(f"a file in {where} fails --check-config ({r.returncode}): "
                              f"{(r.stdout + r.stderr).strip()[-400:]}\n{text[:200]}")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    if n < 4:
        failed.append(f"only {n} example files found (the two of edge-config.md, the edge's "
                      "example and control.md's expected)")
    for msg in failed:
        print(f"not ok - {msg}")
    if not failed:
        print(f"ok - the {n} configuration files the pages show whole pass --check-config")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
