# SPDX-License-Identifier: MIT
"""Zero copy on plain HTTP: the edge's system calls, traced while it serves cached objects,
move the bodies with sendfile (or splice) and read none of their bytes into its own memory.
A read-then-write send path would show as read/pread calls carrying the body, and no
sendfile. Bodies of at most 4 KiB leave with their head in one send through the ring, from
the file's mapping: no system call of the edge's own carries them, neither a read nor a
sendfile. (A worker's reads of its own /proc/thread-self/schedstat, once every 20 ms for
worker_yield, are left out: they carry no body.) Needs strace (tools/deps installs it); skips
(77) without it."""

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from edgeharness import RawConn, build_request, check, expect_body, run, standard_setup, test

ZERO_COPY = ("sendfile", "sendfile64", "splice")
READS = ("read", "pread64", "readv", "preadv", "preadv2")
CALL = re.compile(r"^(?:\[pid\s+)?\d*\]?\s*(\w+)\(.*\)\s+=\s+(-?\d+)")
RESUMED = re.compile(r"<\.\.\. (\w+) resumed>.*\)\s+=\s+(-?\d+)")
# With strace -y a call's descriptor shows its path: a worker's schedstat reads (worker_yield).
SCHEDSTAT = re.compile(r"^(?:\[pid\s+)?(\d*)\]?\s*\w+\(\d+</proc/\d+/task/\d+/schedstat>")
OWNER = re.compile(r"^(?:\[pid\s+)?(\d*)\]?")


def traced_threads(pid):
    """How many of pid's threads have a tracer attached, and how many there are."""
    tids = os.listdir(f"/proc/{pid}/task")
    n = 0
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                n += any(l.startswith("TracerPid:") and l.split()[1] != "0" for l in f)
        except OSError:
            pass
    return n, len(tids)


class Trace:
    """strace -f attached to the running edge, writing the calls named to a file."""

    def __init__(self, pid, calls):
        self.dir = tempfile.mkdtemp(prefix="sluice-zc-")
        self.out = os.path.join(self.dir, "trace")
        self.proc = subprocess.Popen(["strace", "-f", "-qq", "-y", "-e", "signal=none", "-e",
                                      "trace=" + ",".join(calls), "-o", self.out,
                                      "-p", str(pid)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while True:
            n, total = traced_threads(pid)
            if n == total:
                break
            check(time.monotonic() < deadline and self.proc.poll() is None,
                  f"strace attached to {n} of {total} threads of the edge")
            time.sleep(0.05)  # poll interval while strace attaches, bounded by the deadline

    def stop(self):
        """Detach and return {call: (count, bytes)} of the calls that returned >= 0, but for
        the workers' schedstat reads."""
        self.proc.send_signal(signal.SIGINT)
        self.proc.wait(timeout=10)
        got = {}
        unfinished = set()  # threads whose schedstat read strace split in two lines
        with open(self.out) as f:
            for line in f:
                own = SCHEDSTAT.search(line)
                if own:
                    if "<unfinished" in line:
                        unfinished.add(own.group(1))
                    continue
                tid = OWNER.search(line).group(1)
                if "resumed>" in line and tid in unfinished:
                    unfinished.discard(tid)
                    continue
                m = CALL.search(line) or RESUMED.search(line)
                if not m or int(m.group(2)) < 0:
                    continue
                c, b = got.get(m.group(1), (0, 0))
                got[m.group(1)] = (c + 1, b + int(m.group(2)))
        shutil.rmtree(self.dir, ignore_errors=True)
        return got


def traced_gets(e, paths):
    """GET each path on one keep-alive connection under strace; check each body; return the
    totals by call and the body bytes served."""
    c = RawConn(e.port, timeout=30)
    try:
        c.send(build_request("GET", "/t1/init.mp4"))  # the connection is up before tracing
        expect_body(c.read_response("GET"), e.objects["/t1/init.mp4"], "GET before tracing")
        t = Trace(e.proc.pid, ZERO_COPY + READS)
        try:
            for p in paths:
                c.send(build_request("GET", p))
                expect_body(c.read_response("GET"), e.objects[p], f"GET {p} under strace")
        finally:
            got = t.stop()
    finally:
        c.close()
    return got, sum(len(e.objects[p]) for p in paths)


@test
def bodies_go_out_by_sendfile(e):
    got, body = traced_gets(e, ["/t1/big.m4s", "/t1/seg-1.m4s", "/t1/big.m4s"])
    zc = sum(got.get(c, (0, 0))[1] for c in ZERO_COPY)
    rd = sum(got.get(c, (0, 0))[1] for c in READS)
    print(f"  traced: {got}; body bytes {body}")
    check(zc >= body, f"sendfile/splice moved {zc} bytes for {body} body bytes")
    # The heads go through the ring; nothing the edge reads itself comes near a body's size.
    check(rd < 64 * 1024, f"read calls returned {rd} bytes while serving {body} body bytes")


@test
def small_bodies_leave_with_the_head(e):
    small = ["/t1/init.mp4", "/t1/manifest.mpd", "/t1/sub.vtt", "/t1/meta.json", "/t1/one.bin"]
    check(all(0 < len(e.objects[p]) <= 4096 for p in small), "the objects are small")
    got, body = traced_gets(e, small * 3)
    print(f"  traced: {got}; body bytes {body}")
    for c in ZERO_COPY + READS:
        check(c not in got, f"{c} called while serving small bodies: {got.get(c)}")


if __name__ == "__main__":
    if not shutil.which("strace"):
        print("SKIP: strace is not installed (apt-get install strace)")
        sys.exit(77)
    sys.exit(run(standard_setup()))
