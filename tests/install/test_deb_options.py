# SPDX-License-Identifier: MIT
"""tools/deb gives a build directory it made before the package's options again.

    python3 test_deb_options.py SOURCE_DIR

tools/deb (without --destdir) builds in OUT/build, and took a directory already there as it
was: one an older tools/deb set up lacked the options added since (-Ddebug=true, so its
sluice-dbgsym held symbol tables and no debug information). Here OUT/build is set up as such
an old one (a release build without -Ddebug=true, hardening off), then tools/deb runs with a
`meson` on PATH that passes everything to the real one but `compile` and `install`, which it
only logs (no build of the tree: tools/deb then stops, finding no binaries, which is
expected). Checked: the build directory has the package's options afterwards, and the build
ran after they were given.

Exit status: 0 passed, 1 failed, 77 skipped (no meson).
"""
import os
import shutil
import subprocess
import sys
import tempfile

from test_deb import SKIP, build_options, fail, run

WANT = {"buildtype": "release", "debug": True, "b_ndebug": "true", "hot-checks": False,
        "tests": False, "hardening": True, "prefix": "/usr"}

STUB = """#!/bin/sh
case "$1" in
  compile|install) echo "$*" >>"$MESON_STUB_LOG"; exit 0 ;;
esac
exec "$REAL_MESON" "$@"
"""


def options(build):
    got = build_options(build)
    return {k: got.get(k) for k in WANT}


def main():
    src = os.path.abspath(sys.argv[1])
    real = shutil.which("meson")
    if not real:
        print("SKIP: meson not on PATH")
        return SKIP
    work = tempfile.mkdtemp(prefix="sluice-deb-options-")
    try:
        out = os.path.join(work, "out")
        build = os.path.join(out, "build")
        run(["meson", "setup", build, src, "--prefix=/usr", "--buildtype=release",
             "-Db_ndebug=true", "-Dhot-checks=false", "-Dtests=false", "-Dhardening=false"],
            "meson setup")
        old = options(build)
        if old["debug"] or old["hardening"]:
            fail(f"the old build directory already has the options: {old}")
        bin_dir = os.path.join(work, "bin")
        os.makedirs(bin_dir)
        stub = os.path.join(bin_dir, "meson")
        with open(stub, "w") as f:
            f.write(STUB)
        os.chmod(stub, 0o755)
        log = os.path.join(work, "meson.log")
        env = dict(os.environ, PATH=bin_dir + os.pathsep + os.environ["PATH"],
                   REAL_MESON=real, MESON_STUB_LOG=log)
        p = subprocess.run([os.path.join(src, "tools", "deb"), "--out", out], env=env,
                           capture_output=True, text=True, timeout=300)
        if "usr/bin/sluice-edge" not in p.stderr:
            fail(f"tools/deb did not stop at the missing binaries (exit {p.returncode})",
                 p.stdout + p.stderr)
        got = options(build)
        if got != WANT:
            fail(f"the reused build directory's options are {got}, want {WANT}",
                 p.stdout + p.stderr)
        with open(log) as f:
            calls = f.read().split()
        if "compile" not in calls:
            fail(f"tools/deb did not build after giving the options: {calls}")
        print("ok - tools/deb gives a build directory made before the package's options")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
