# SPDX-License-Identifier: MIT
"""tools/version gives versions that dpkg orders by the time of the sources built, whether the
tree is a git checkout or not (a `git archive` export, a tarball).

A build outside a checkout got meson.build's version alone, 0.1.0, which dpkg sorts below every
0.1.0+git<time>.<commit> build: its package could not replace one from a checkout, and one
from a checkout replaced it whatever their ages.

    python3 test_version.py SOURCE_DIR

Exit status: 0 passed, 1 failed, 77 skipped (no git or dpkg).
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

SKIP = 77
BASE = "0.1.0"


def fail(msg):
    print(f"not ok - {msg}")
    sys.exit(1)


def version(tool, tree, **env):
    """What the binaries would carry: tools/version's answer, or BASE when it fails (meson's
    vcs_tag fallback)."""
    p = subprocess.run([tool, tree, BASE], capture_output=True, text=True, timeout=60,
                       env={**os.environ, **env})
    return p.stdout.strip() if p.returncode == 0 and p.stdout.strip() else BASE


def newer(a, b):
    return subprocess.run(["dpkg", "--compare-versions", a, "gt", b]).returncode == 0


def tree(path, when):
    """A source tree outside git: a meson.build and a source file, dated when (epoch)."""
    os.makedirs(os.path.join(path, "common"))
    for f in ("meson.build", "common/x.c"):
        with open(os.path.join(path, f), "w") as out:
            out.write("x\n")
        os.utime(os.path.join(path, f), (when, when))
    return path


def main():
    src = sys.argv[1]
    for tool in ("git", "dpkg"):
        if not shutil.which(tool):
            print(f"SKIP: {tool} not on PATH")
            return SKIP
    tool = os.path.join(src, "tools", "version")
    work = tempfile.mkdtemp(prefix="sluice-version-test-")
    try:
        # A checkout whose commit is dated 2026-03-01 12:00 UTC.
        repo = tree(os.path.join(work, "repo"), 0)
        git = ["git", "-C", repo, "-c", "user.name=t", "-c", "user.email=t@t"]
        subprocess.run(git[:3] + ["init", "-q"], check=True)
        subprocess.run(git + ["add", "."], check=True)
        subprocess.run(git + ["commit", "-qm", "x"], check=True,
                       env={**os.environ, "GIT_COMMITTER_DATE": "2026-03-01T12:00:00Z",
                            "GIT_AUTHOR_DATE": "2026-03-01T12:00:00Z"})
        at_commit = version(tool, repo)
        if not re.fullmatch(r"0\.1\.0\+git202603011200\.[0-9a-f]{7,}", at_commit):
            fail(f"a checkout's version {at_commit!r}, want 0.1.0+git202603011200.<commit>")

        march, april, feb = 1772366400, 1775044800, 1769947200  # 03-01 12:00, 04-01, 02-01
        later = version(tool, tree(os.path.join(work, "later"), april))
        earlier = version(tool, tree(os.path.join(work, "earlier"), feb))
        if not newer(later, at_commit):
            fail(f"a tree outside git with files from April ({later}) does not sort above a "
                 f"March commit's build ({at_commit})")
        if not newer(at_commit, earlier):
            fail(f"a tree outside git with files from February ({earlier}) does not sort "
                 f"below a March commit's build ({at_commit})")
        print(f"ok - outside git: {earlier} < {at_commit} < {later}")

        pinned = version(tool, os.path.join(work, "earlier"), SOURCE_DATE_EPOCH=str(march + 60))
        if pinned != "0.1.0+git202603011201" or not newer(pinned, at_commit):
            fail(f"SOURCE_DATE_EPOCH of 03-01 12:01: {pinned!r}, want 0.1.0+git202603011201")
        print("ok - SOURCE_DATE_EPOCH dates a tree outside git")

        # A tree unpacked inside another repository is not that repository's commit.
        inner = version(tool, tree(os.path.join(repo, "inner"), april))
        if inner != "0.1.0+git202604011200":
            fail(f"a tree inside another checkout: {inner!r}, want 0.1.0+git202604011200 (its "
                 "files' time, not the enclosing repository's commit)")
        print("ok - a tree inside another checkout is dated by its own files")

        # This tree exported as `git archive` does: its commit's time, without the commit.
        if subprocess.run(["git", "-C", src, "rev-parse", "--show-toplevel"],
                          capture_output=True, text=True).stdout.strip() == \
                os.path.realpath(src):
            exp = os.path.join(work, "export")
            os.makedirs(exp)
            tar = subprocess.run(["git", "-C", src, "archive", "HEAD"], capture_output=True,
                                 check=True).stdout
            subprocess.run(["tar", "-x", "-C", exp], input=tar, check=True)
            head = version(tool, src)
            exported = version(tool, exp)
            if exported != head.rsplit(".", 1)[0]:
                fail(f"this tree exported with git archive: {exported!r}, want "
                     f"{head.rsplit('.', 1)[0]!r} (the checkout's {head} without the commit)")
            print(f"ok - this tree's export: {exported}, its checkout: {head}")
        return 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
