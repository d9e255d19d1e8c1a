# SPDX-License-Identifier: MIT
"""sluice-store-dump against a running edge's cache directory: the listing (every pushed object
with its size and SHA-256, in key order, and the totals), --prefix, and --verify catching an
object file changed behind the edge's back (a flipped byte, a truncation), with --quiet and
--progress. The binary comes from $SLUICE_STORE_DUMP."""

import hashlib
import os
import pwd
import shutil
import subprocess
import sys

from edgeharness import SKIP, Edge, check, eq, run, test

DUMP = os.environ.get("SLUICE_STORE_DUMP", "")
OBJECTS = {
    "/t1/init.mp4": os.urandom(1500),
    "/t1/seg-1.m4s": os.urandom(70_000),
    "/t1/seg-2.m4s": os.urandom(70_001),
    "/t2/seg-1.m4s": os.urandom(3),
    "/t2/manifest.mpd": b"<MPD/>",
}


def dump(e, *args):
    return subprocess.run([DUMP, *args, e.cache_dir], capture_output=True, text=True, timeout=30)


def rows(out):
    """key -> (size, file_id, sha256, rest...) for the entry lines (not the totals line)."""
    got = {}
    for line in out.splitlines():
        if line.startswith("#"):
            continue
        f = line.split("\t")
        got[f[0]] = f[1:]
    return got


def object_path(e, file_id):
    return os.path.join(e.cache_dir, "objects", file_id[:2], file_id)


def setup(binary):
    if not DUMP or not os.access(DUMP, os.X_OK):
        print(f"SKIP: sluice-store-dump not found ({DUMP or '$SLUICE_STORE_DUMP unset'})")
        sys.exit(SKIP)
    e = Edge(binary).start()
    e.push(OBJECTS)
    return e


@test
def lists_every_object_in_key_order(e):
    p = dump(e)
    eq(p.returncode, 0, "exit status: " + p.stderr)
    got = rows(p.stdout)
    keys = [line.split("\t")[0] for line in p.stdout.splitlines() if not line.startswith("#")]
    eq(keys, sorted(keys), "key order")
    eq(len(got), len(OBJECTS), f"entries: {sorted(got)}")
    for k, data in OBJECTS.items():
        r = got.get(k.lstrip("/")) or got.get(k)
        check(r is not None, f"{k} listed")
        eq(int(r[0]), len(data), f"{k} size")
        eq(r[2], hashlib.sha256(data).hexdigest(), f"{k} sha256")
    total = sum(len(v) for v in OBJECTS.values())
    check(f"# listed {len(OBJECTS)} entries, {total} bytes" in p.stdout, "totals line: "
          + p.stdout.splitlines()[-1])


@test
def prefix_lists_only_its_keys(e):
    init = [k for k in rows(dump(e).stdout) if k.endswith("/init.mp4")][0]
    p = dump(e, "--prefix", init[:-len("init.mp4")])  # the t1 directory, as keys spell it
    eq(p.returncode, 0, "exit status")
    got = rows(p.stdout)
    eq(sorted(k.split("/")[-1] for k in got), ["init.mp4", "seg-1.m4s", "seg-2.m4s"],
       "entries under the prefix")
    check("under the prefix" in p.stdout, "totals line names the prefix")


@test
def verify_catches_changed_files(e):
    p = dump(e, "--verify")
    eq(p.returncode, 0, "clean store verifies: " + p.stdout[-300:])
    check("; 0 bad" in p.stdout, "0 bad in the totals")
    got = {k.lstrip("/"): v for k, v in rows(p.stdout).items()}
    flipped = object_path(e, got["t1/seg-1.m4s"][1])
    short = object_path(e, got["t1/seg-2.m4s"][1])
    with open(flipped, "r+b") as f:
        f.seek(1234)
        b = f.read(1)
        f.seek(1234)
        f.write(bytes([b[0] ^ 1]))
    with open(short, "r+b") as f:
        f.truncate(100)
    p = dump(e, "--verify", "--quiet", "--progress")
    eq(p.returncode, 1, "exit status with changed files")
    bad = rows(p.stdout)
    eq(sorted(k.lstrip("/") for k in bad), ["t1/seg-1.m4s", "t1/seg-2.m4s"],
       "--quiet lists only the bad entries")
    check(any("BAD: SHA-256 differs" in "\t".join(v) for v in bad.values()), "flipped byte")
    check(any("BAD: size differs" in "\t".join(v) for v in bad.values()), "truncation")
    check("; 2 bad" in p.stdout, "2 bad in the totals")
    check(f"verified {len(OBJECTS)} of {len(OBJECTS)} objects" in p.stderr
          and "2 bad" in p.stderr, "progress line: " + p.stderr)
    p = dump(e, "--verify", "--no-progress")
    eq(p.stderr, "", "--no-progress writes nothing to standard error")


@test
def verify_skips_a_fifo_saying_so(e):
    """An object file replaced by a FIFO (or a device) is reported, not read: the dump opened
    it and waited for a writer for ever. With no writer, and with one that never closes."""
    key = "/t2/seg-1.m4s"
    path = object_path(e, rows(dump(e).stdout)[key][1])
    os.unlink(path)
    os.mkfifo(path)
    try:
        for writer in (False, True):
            w = os.open(path, os.O_RDWR) if writer else -1
            try:
                p = dump(e, "--verify", "--quiet", "--no-progress")
            finally:
                if w >= 0:
                    os.close(w)
            eq(p.returncode, 1, f"exit status with a FIFO (writer: {writer}); {p.stderr!r}")
            check("BAD: not a regular file (a FIFO), not read" in "\t".join(rows(p.stdout)[key]),
                  f"the FIFO's entry says why it was not read: {p.stdout}")
    finally:
        os.unlink(path)
        with open(path, "wb") as f:
            f.write(OBJECTS[key])


@test
def verify_names_why_a_file_cannot_be_opened(e):
    """An object file the dump may not read (run as another user than the edge's) is reported
    with the system's reason, not as "file missing", which sends an operator looking for a
    file that is there. Run as nobody when root, since root reads a file of mode 000."""
    t = Edge(e.binary)
    try:
        t.start()
        t.push({"/perm/t/a.bin": os.urandom(2000), "/perm/t/b.bin": os.urandom(2000)})
        t.stop()
        path = object_path(t, rows(dump(t).stdout)["/perm/t/a.bin"][1])
        os.chmod(path, 0)
        cmd = [DUMP, "--verify", "--quiet", "--no-progress", t.cache_dir]
        if os.geteuid() == 0:
            user = pwd.getpwnam("nobody")
            for d, _, files in os.walk(t.dir):
                for name in [d] + [os.path.join(d, f) for f in files]:
                    os.lchown(name, user.pw_uid, user.pw_gid)
            cmd = ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}",
                   "--clear-groups", *cmd]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        eq(p.returncode, 1, f"exit status; {p.stderr!r}")
        bad = rows(p.stdout)
        eq(sorted(bad), ["/perm/t/a.bin"], f"only the unreadable entry is bad: {p.stdout}")
        check("\tBAD: cannot open: Permission denied" in p.stdout,
              f"the entry says why it was not read: {p.stdout}")
    finally:
        t.cleanup()


@test
def usage_and_missing_store(e):
    p = subprocess.run([DUMP], capture_output=True, text=True, timeout=10)
    eq(p.returncode, 2, "no directory: usage error")
    p = subprocess.run([DUMP, os.path.join(e.dir, "nothing-here")], capture_output=True,
                       text=True, timeout=10)
    eq(p.returncode, 1, "no store there")
    check("No such file" in p.stderr, "says why: " + p.stderr)
    check(not os.path.exists(os.path.join(e.dir, "nothing-here")), "creates nothing")


@test
def bad_index_says_what_is_wrong(e):
    """An index that is not LMDB, or an empty data file, is named as such, not as LMDB's
    error codes ("Protocol error", "Bad file descriptor"), and is left as it was."""
    junk = os.urandom(65536)
    for name, data, want in (("garbage", junk, "corrupt"), ("empty", b"", "empty")):
        d = os.path.join(e.dir, name)
        os.makedirs(os.path.join(d, "index"))
        mdb = os.path.join(d, "index", "data.mdb")
        with open(mdb, "wb") as f:
            f.write(data)
        p = subprocess.run([DUMP, d], capture_output=True, text=True, timeout=10)
        eq(p.returncode, 1, f"{name}: exit status")
        check(want in p.stderr and "Protocol error" not in p.stderr
              and "Bad file descriptor" not in p.stderr, f"{name}: says why: {p.stderr}")
        with open(mdb, "rb") as f:
            eq(f.read() == data, True, f"{name}: data.mdb unchanged")


@test
def foreign_lmdb_file_is_named_as_such(e):
    """Another program's LMDB environment where the index should be (here the edge's own
    policy state): it was reported as "the index was never initialised", which sends an
    operator to start an edge on it. It exits 1 saying it is no edge store index."""
    t = Edge(e.binary)
    try:
        t.start()
        t.push({"/f/t/o.bin": os.urandom(1000)})
        t.stop()
        d = os.path.join(e.dir, "foreign")
        shutil.copytree(os.path.join(t.cache_dir, "policy"), os.path.join(d, "index"))
        p = subprocess.run([DUMP, d], capture_output=True, text=True, timeout=10)
        eq(p.returncode, 1, "exit status")
        check("not an edge store index" in p.stderr and "never initialised" not in p.stderr,
              f"says what it is: {p.stderr}")
    finally:
        t.cleanup()


@test
def truncated_index_says_what_to_do(e):
    """index/data.mdb cut to half its length: LMDB faulted on the pages past its end and the
    dump died of SIGBUS. It exits 1 naming the file and what to do."""
    t = Edge(e.binary)
    try:
        t.start()
        t.push({f"/cut/t/o-{i:03d}.bin": os.urandom(1000) for i in range(100)})
        t.stop()
        mdb = os.path.join(t.cache_dir, "index", "data.mdb")
        os.truncate(mdb, os.path.getsize(mdb) // 2)
        p = dump(t)
        eq(p.returncode, 1, f"exit status (negative: killed by that signal); {p.stderr!r}")
        check("data.mdb is damaged" in p.stderr and "move this index directory away" in p.stderr,
              f"says why and what to do: {p.stderr}")
    finally:
        t.cleanup()

if __name__ == "__main__":
    sys.exit(run(setup))
