# SPDX-License-Identifier: MIT
"""Every program the systemd units run from outside sluice's own prefix comes with the package
that ships it: in the appliance image's package list (`tools/image`, debootstrap minbase) and
in the .deb's Depends (`tools/deb`). A unit whose ExecReload= names a program missing from the
system fails on `systemctl reload`, which no start-up test sees.

    python3 test_pkg_lists.py SOURCE_DIR

The package of each program is asked of this machine's dpkg (a Debian system, as the image
and the package are). Packages every Debian system has (Essential: yes, or of priority
required, which minbase installs) need not be listed.

Exit status: 0 passed, 1 failed, 77 skipped (no dpkg-query).
"""

import glob
import os
import re
import shlex
import shutil
import subprocess
import sys

SKIP = 77


def fail(msg):
    print(f"not ok - {msg}")
    sys.exit(1)


def image_pkgs(src):
    """The names in tools/image's image_pkgs=( ... ) array."""
    with open(os.path.join(src, "tools", "image")) as f:
        text = f.read()
    m = re.search(r"^image_pkgs=\((.*?)\)", text, re.M | re.S)
    if not m:
        fail("tools/image has no image_pkgs=( ... ) list")
    return set(m.group(1).split())


def deb_depends(src):
    """The package names of tools/deb's Depends: line, versions and alternatives dropped."""
    with open(os.path.join(src, "tools", "deb")) as f:
        text = f.read()
    m = re.search(r"^Depends: (.*)$", text, re.M)
    if not m:
        fail("tools/deb writes no Depends: line")
    names = set()
    for dep in m.group(1).split(","):
        for alt in dep.split("|"):
            names.add(re.sub(r"\s*\(.*\)", "", alt).strip())
    return names


def unit_commands(src):
    """(unit, program) for each Exec*= of the units under dist/systemd run from outside the
    install prefix (@bindir@ is sluice's own)."""
    out = []
    for path in sorted(glob.glob(os.path.join(src, "dist", "systemd", "*.service.in"))):
        with open(path) as f:
            for line in f:
                m = re.match(r"^Exec\w*=(.*)$", line.strip())
                if not m:
                    continue
                prog = shlex.split(m.group(1))[0]
                if prog.startswith("@bindir@"):
                    continue
                prog = prog.lstrip("-@:+!")  # systemd's prefixes (ignore failure, argv0, ...)
                out.append((os.path.basename(path)[:-3], prog))
    return out


def owner(prog):
    """The package shipping prog, by its path or the merged-/usr twin of it."""
    cands = [prog]
    if prog.startswith(("/bin/", "/sbin/")):
        cands.append("/usr" + prog)
    elif prog.startswith(("/usr/bin/", "/usr/sbin/")):
        cands.append(prog[4:])
    for c in cands:
        p = subprocess.run(["dpkg-query", "-S", c], capture_output=True, text=True)
        if p.returncode == 0:
            return p.stdout.split(":")[0].strip()
    return None


def everywhere(pkg):
    """Whether every Debian system (minbase included) has pkg."""
    p = subprocess.run(["dpkg-query", "-W", "-f=${Essential} ${Priority}", pkg],
                       capture_output=True, text=True)
    return p.returncode == 0 and (p.stdout.startswith("yes") or p.stdout.endswith("required"))


def main():
    if len(sys.argv) != 2:
        print("usage: test_pkg_lists.py SOURCE_DIR")
        return 2
    src = sys.argv[1]
    if not shutil.which("dpkg-query"):
        print("SKIP: dpkg-query is needed to find which package ships a program")
        return SKIP
    image, deb = image_pkgs(src), deb_depends(src)
    cmds = unit_commands(src)
    if not any(prog.endswith("/kill") for _, prog in cmds):
        fail(f"no unit runs kill (ExecReload=); the programs found: {cmds}")
    for unit, prog in cmds:
        pkg = owner(prog)
        if pkg is None:
            fail(f"{unit} runs {prog}, which no installed package ships")
        if everywhere(pkg):
            print(f"ok - {unit}: {prog} is in {pkg}, which every Debian system has")
            continue
        if pkg not in image:
            fail(f"{unit} runs {prog}, from {pkg}, which tools/image's image_pkgs lacks")
        if pkg not in deb:
            fail(f"{unit} runs {prog}, from {pkg}, which tools/deb's Depends lacks")
        print(f"ok - {unit}: {prog} is in {pkg}, in the image and in the package's Depends")
    return 0


if __name__ == "__main__":
    sys.exit(main())
