# SPDX-License-Identifier: MIT
"""sluice-control --check-config (no database needed): the shipped example passes once the
files it names exist, and a file the start would refuse fails the check with exit status 2 and
file:line:col at the key, as the unit's ExecReload= relies on.

    python3 test_check_config.py path/to/sluice-control

Exit status: 0 passed, 1 failed.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
EXAMPLE = os.path.join(ROOT, "control", "sluice-control.example.yaml")


def check_config(binary, path):
    return subprocess.run([binary, "--check-config", "--config", path], capture_output=True,
                          text=True, timeout=30)


def main():
    binary = os.path.abspath(sys.argv[1])
    tmp = tempfile.mkdtemp(prefix="ctl-check-")
    failed = []
    try:
        # The example, with /etc/sluice/ pointing at files made here.
        with open(os.path.join(tmp, "control-admin.token"), "w") as f:
            f.write("admin-token-for-tests-0123456789\n")
        with open(os.path.join(tmp, "keys.yaml"), "w") as f:
            f.write('keys:\n  - {kid: k1, secret: "' + "5a" * 32 + '"}\n')
        with open(EXAMPLE) as f:
            example = f.read().replace("/etc/sluice/", tmp + "/")
        good = os.path.join(tmp, "control.yaml")
        with open(good, "w") as f:
            f.write(example)
        r = check_config(binary, good)
        if r.returncode != 0:
            failed.append(f"the example fails the check ({r.returncode}): {r.stderr.strip()}")

        # log.target empty: the start cannot open it, so the check must refuse it too.
        m = re.search(r"^  target: .*$", example, re.M)
        if not m:
            failed.append("the example has no log.target line")
        else:
            bad = os.path.join(tmp, "empty-target.yaml")
            with open(bad, "w") as f:
                f.write(example[:m.start()] + '  target: ""' + example[m.end():])
            line = example[:m.start()].count("\n") + 1
            r = check_config(binary, bad)
            if r.returncode != 2:
                failed.append(f"an empty log.target passes the check: exit {r.returncode}, "
                              f"{(r.stdout + r.stderr).strip()!r}")
            elif not r.stderr.startswith(f"{bad}:{line}:") or "'log.target'" not in r.stderr:
                failed.append(f"the refusal names the file, line {line} and key: {r.stderr!r}")
        # A CORS origin no browser sends (no scheme, or a path) is refused where it is written.
        m = re.search(r"^cors_origins: .*$", example, re.M)
        if not m:
            failed.append("the example has no cors_origins line")
        else:
            bad = os.path.join(tmp, "cors-path.yaml")
            with open(bad, "w") as f:
                f.write(example[:m.start()] + 'cors_origins: ["https://ok.example/"]'
                        + example[m.end():])
            line = example[:m.start()].count("\n") + 1
            r = check_config(binary, bad)
            if r.returncode != 2 or not r.stderr.startswith(f"{bad}:{line}:") or \
                    "is not an origin" not in r.stderr:
                failed.append(f"cors_origins with a path: exit {r.returncode}, "
                              f"{r.stderr.strip()!r}")
        # A directory as the admin token file is said to be one (it was "must hold one token
        # of at least 16 characters").
        tok = os.path.join(tmp, "control-admin.token")
        if tok not in example:
            failed.append("the example names no admin token file")
        else:
            bad = os.path.join(tmp, "token-dir.yaml")
            with open(bad, "w") as f:
                f.write(example.replace(tok, tmp))
            r = check_config(binary, bad)
            if r.returncode != 2 or "Is a directory" not in r.stderr:
                failed.append(f"a directory as admin.token_file: exit {r.returncode}, "
                              f"{r.stderr.strip()!r}")
        # steering_ttl in whole seconds: 1500ms was answered as TTL 1.
        m = re.search(r"^steering_ttl: .*$", example, re.M)
        if not m:
            failed.append("the example has no steering_ttl line")
        else:
            bad = os.path.join(tmp, "ttl-fraction.yaml")
            with open(bad, "w") as f:
                f.write(example[:m.start()] + "steering_ttl: 1500ms" + example[m.end():])
            line = example[:m.start()].count("\n") + 1
            r = check_config(binary, bad)
            if r.returncode != 2 or not r.stderr.startswith(f"{bad}:{line}:") or \
                    "'steering_ttl' must be whole seconds" not in r.stderr:
                failed.append(f"steering_ttl: 1500ms: exit {r.returncode}, {r.stderr.strip()!r}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for msg in failed:
        print("not ok -", msg)
    if not failed:
        print("ok - --check-config passes the example and refuses an empty log.target")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
