#!/usr/bin/env python3
"""Kernel CPU per h2c answer for four ways of putting a cached body on a loopback socket,
without any server: what the kernel charges for the send itself, to say which shape the edge's
h2c path should take (docs/tls-bench.md, *nghttp2's share of an h2c answer*).

An answer is a 300-byte HEADERS frame and the body in DATA frames of --frame bytes (16 KiB,
what clients allow by default), each behind its 9-byte frame header:

  copy      one sendmsg per answer, the frame headers from a buffer and the payloads as iovecs
            into the file's mapping: the kernel copies the payload into the socket (the edge's
            copying batches, edge/h2-zc.c)
  pipe      the frame headers written into a pipe, each payload spliced into it from the file,
            then one splice from the pipe into the socket: the payload goes by page reference,
            as sendfile's does, framed
  sendfile  the 300 bytes by send(MSG_MORE) and the body by sendfile, unframed: HTTP/1.1's
            shape, the floor the two framed shapes are read against
  splice    unframed as sendfile, the body spliced from the file into a pipe of up to 1 MiB
            (fs.pipe-max-size) and from it into the socket: sendfile's own way, whose pipe
            holds 16 pages, with a pipe of 256 (docs/bench.md, *Splice through a large pipe*)

The sender runs on CPU 0, a reader process on CPU 1 reads into one buffer (as a client does).
Only the sender's kernel time (the thread's stime) is reported, per answer: on loopback it
includes the receiving socket's TCP work, done in the sender's softirq. The user time is this
script's and is not reported. Each system call's entry is in the figure; the edge would make
the pipe shape's calls as ring operations, one submit for all.

The shapes take turns --reps times; the median of each is printed, with the runs and the median
of its ratios to the copy's run beside it (paired).

Usage: tools/bench/h2c_send_shapes.py [--size 64K] [--frame 16384] [--answers 20000] [--reps 5]
"""
import argparse
import fcntl
import mmap
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hit_bench  # noqa: E402  (parse_size)

SHAPES = ("copy", "pipe", "sendfile", "splice")
HEADERS = 300
PAGE = 4096


def pipe_slots(off, n):
    """Pipe buffers one frame takes: its header, and each page its payload touches."""
    pages = (off + n - 1) // PAGE - off // PAGE + 1
    return 1 + pages


def reader(port):
    os.sched_setaffinity(0, {1 % os.cpu_count()})
    s = socket.create_connection(("127.0.0.1", port))
    buf = bytearray(1 << 20)
    while s.recv_into(buf):
        pass


def kernel_us():
    return resource.getrusage(resource.RUSAGE_THREAD).ru_stime * 1e6


def send_all(sock, views):
    """sendmsg until every byte of views has gone."""
    views = list(views)
    while views:
        n = sock.sendmsg(views)
        while n:
            if n >= len(views[0]):
                n -= len(views[0])
                views.pop(0)
            else:
                views[0] = views[0][n:]
                n = 0


def answer_copy(sock, fd, body, size, frame, hdr):
    views = [memoryview(hdr)[:HEADERS]]
    for off in range(0, size, frame):
        views += [memoryview(hdr)[:9], body[off:off + frame]]
    send_all(sock, views)


def answer_pipe(sock, fd, body, size, frame, hdr, pipe):
    rd, wr, slots = pipe
    want = used = 0
    for off in range(0, size, frame):
        n = min(frame, size - off)
        if used + pipe_slots(off, n) > slots:  # would not fit: out with what is in
            while want:
                want -= os.splice(rd, sock.fileno(), want)
            used = 0
        want += os.write(wr, hdr[:HEADERS + 9] if off == 0 else hdr[:9])
        if os.splice(fd, wr, n, offset_src=off) != n:
            sys.exit("short splice from the file")
        want += n
        used += pipe_slots(off, n)
    while want:
        want -= os.splice(rd, sock.fileno(), want)


def answer_sendfile(sock, fd, body, size, frame, hdr):
    sock.send(hdr[:HEADERS], socket.MSG_MORE)
    off = 0
    while off < size:
        off += os.sendfile(sock.fileno(), fd, off, size - off)


def answer_splice(sock, fd, body, size, frame, hdr, pipe):
    rd, wr, room = pipe
    sock.send(hdr[:HEADERS], socket.MSG_MORE)
    off = 0
    while off < size:
        n = os.splice(fd, wr, min(room, size - off), offset_src=off)
        if n <= 0:
            sys.exit("short splice from the file")
        off += n
        while n:
            n -= os.splice(rd, sock.fileno(), n, flags=os.SPLICE_F_MORE if off < size else 0)


def run(shape, a, sock, fd, body, pipe, big):
    hdr = bytes(HEADERS + 9)
    fn = {"copy": answer_copy, "sendfile": answer_sendfile,
          "pipe": lambda *x: answer_pipe(*x, pipe),
          "splice": lambda *x: answer_splice(*x, big)}[shape]
    start = kernel_us()
    for _ in range(a.answers):
        fn(sock, fd, body, a.size, a.frame, hdr)
    return (kernel_us() - start) / a.answers


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", type=hit_bench.parse_size, default=64 << 10)
    ap.add_argument("--frame", type=int, default=16384)
    ap.add_argument("--answers", type=int, default=20000)
    ap.add_argument("--reps", type=int, default=5)
    a = ap.parse_args()
    if a.frame < 1 or a.size < 1:
        sys.exit("--size and --frame must be positive")

    os.sched_setaffinity(0, {0})
    with tempfile.TemporaryFile() as f:
        f.write(os.urandom(a.size))
        f.flush()
        fd = f.fileno()
        body = memoryview(mmap.mmap(fd, a.size, prot=mmap.PROT_READ))
        rd, wr = os.pipe()
        # A page per header and per payload page; up to 1 MiB (fs.pipe-max-size), the pipe
        # going out whenever the next frame would not fit.
        need = [pipe_slots(off, min(a.frame, a.size - off)) for off in range(0, a.size, a.frame)]
        room = min(1 << 20, 1 << max(16, (sum(need) * PAGE - 1).bit_length()))
        room = fcntl.fcntl(wr, fcntl.F_SETPIPE_SZ, room)
        if max(need) > room // PAGE:
            sys.exit(f"--frame {a.frame}: one frame would not fit in a pipe of {room} bytes")
        big_rd, big_wr = os.pipe()
        big = (big_rd, big_wr, fcntl.fcntl(big_wr, fcntl.F_SETPIPE_SZ, 1 << 20))
        lsock = socket.create_server(("127.0.0.1", 0))
        port = lsock.getsockname()[1]
        child = subprocess.Popen([sys.executable, __file__, "--reader", str(port)])
        sock, _ = lsock.accept()
        try:
            runs = {s: [] for s in SHAPES}
            for _ in range(a.reps):
                for s in SHAPES:
                    runs[s].append(run(s, a, sock, fd, body, (rd, wr, room // PAGE), big))
        finally:
            sock.close()
            child.wait()
    floor = statistics.median(runs["sendfile"])
    print(f"kernel µs per answer, {a.size} bytes in {a.frame}-byte frames, "
          f"median of {a.reps} x {a.answers} answers")
    for s in SHAPES:
        med = statistics.median(runs[s])
        paired = statistics.median(v / c for v, c in zip(runs[s], runs["copy"]))
        print(f"  {s:9} {med:7.2f}  ({med / floor:.2f} x sendfile; {paired:.2f} x copy, paired)"
              "  runs: " + " ".join(f"{v:.2f}" for v in runs[s]))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--reader":
        reader(int(sys.argv[2]))
    else:
        main()
