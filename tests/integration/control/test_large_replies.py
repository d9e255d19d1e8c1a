# SPDX-License-Identifier: MIT
"""Large transfers. Replies larger than the sockets hold: a fill plan for six titles of 3,000
segments per rendition (about 12.7 MB of JSON for 54,024 files; a plan's default limit, 100,000
files, is about 24 MB).

- Half-closed clients: the client pipelines requests and sends its FIN while a reply is under
  way. The FIN wakes control's pending send with no room yet, io_uring hands the retry to a
  worker that cannot wait on a nonblocking socket, and the send completes -EAGAIN. That is
  not a dead peer: control sends again, and the client reads every reply whole.
- Slow readers: `send_timeout` bounds a reply's progress, not its length. A client that
  keeps reading, slowly, gets the whole plan though it takes longer than send_timeout; one
  that stops reading is cut send_timeout after its last byte.
- Slow bodies: a registration sent with the admin token has `body_timeout` from its last
  byte, so a large one on a slow link arrives; anyone else's body has it from its head.

    python3 test_large_replies.py build/control/sluice-control
"""
import json
import socket
import time

import ctlharness as h
from ctlharness import check

SEGMENTS = 3000
TITLES = 6
TARGET = "/v1/fill/plan?edge=edge-gb&limit=100000"
SEND_TIMEOUT = 2.5


def request(n=1):
    """n pipelined requests for the plan, the last with Connection: close."""
    req = (f"GET {TARGET} HTTP/1.1\r\nHost: control.test\r\n"
           f"Authorization: Bearer {h.ADMIN_TOKEN}\r\n").encode()
    return (req + b"\r\n") * (n - 1) + req + b"Connection: close\r\n\r\n"


def connect(ctl, rcvbuf=4096):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(30)
    s.connect(("127.0.0.1", ctl.port))
    return s


def read_all(s, chunk=1 << 20, pause=0.0):
    data = bytearray()
    while True:
        try:
            b = s.recv(chunk)
        except ConnectionResetError:
            return bytes(data)
        if not b:
            return bytes(data)
        data += b
        if pause:
            time.sleep(pause)


def split_replies(data, n):
    """The n replies' (status line, body); a reply cut short ends the list."""
    out = []
    for _ in range(n):
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            break
        lines = head.decode("latin-1").split("\r\n")
        fields = {k.strip().lower(): v.strip()
                  for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(fields.get("content-length", "-1"))
        out.append((lines[0], rest[:length] if length >= 0 else rest))
        if length < 0 or len(rest) < length:
            break
        data = rest[length:]
    return out


def check_plan(what, replies, n, want):
    # Its "generated" time and decayed scores differ from reply to reply, not their length.
    want_files = sorted(o["url"] for o in json.loads(want)["objects"])
    check(len(replies) == n, f"{what}: {len(replies)} replies, want {n}")
    for i, (status, body) in enumerate(replies):
        check(status.startswith("HTTP/1.1 200"), f"{what}: reply {i + 1}: {status}")
        check(len(body) == len(want),
              f"{what}: reply {i + 1}: got {len(body)} body bytes, want {len(want)}")
        got = sorted(o["url"] for o in json.loads(body)["objects"])
        check(got == want_files, f"{what}: reply {i + 1}: other files")


def test_half_closed(ctl, want):
    for before_fin, pause, n in ((0.0, 0.0, 1), (0.5, 1.0, 1), (0.0, 0.0, 3), (0.5, 0.0, 3)):
        what = f"{n} request(s), FIN after {before_fin} s, reading after {pause} s"
        s = connect(ctl)
        s.sendall(request(n))
        time.sleep(before_fin)  # the reply under way, its send waiting for room
        s.shutdown(socket.SHUT_WR)
        time.sleep(pause)
        data = read_all(s)
        s.close()
        check_plan(what, split_replies(data, n), n, want)


def test_slow_reader(ctl, want):
    # At most 64 KiB every 20 ms, about 3 MB/s: the plan takes over 4 s, longer than
    # send_timeout. (Control sees progress when the kernel has room for it, about half its
    # socket's send buffer of up to 4 MB: under a second apart at this rate.)
    s = connect(ctl, rcvbuf=0)
    s.sendall(request())
    t0 = time.monotonic()
    data = read_all(s, chunk=65536, pause=0.02)
    took = time.monotonic() - t0
    s.close()
    check(took > SEND_TIMEOUT, f"the slow read took {took:.1f} s, want over "
          f"{SEND_TIMEOUT} s (read faster than the test means)")
    check_plan(f"a reader at about 3 MB/s ({took:.1f} s)", split_replies(data, 1), 1, want)

    # A reader that stops: cut send_timeout after the last byte control's send took. The
    # pause counts from the reply's first byte: on a loaded machine (ASan) the plan's query
    # alone can take seconds, and a pause counted from the request then ended before the
    # send deadline came.
    s = connect(ctl)
    s.sendall(request())
    s.settimeout(60)
    first = s.recv(1)
    time.sleep(SEND_TIMEOUT + 2.0)
    data = first + read_all(s)
    s.close()
    got = split_replies(data, 1)
    body = got[0][1] if got else b""
    check(len(body) < len(want),
          f"a reader that stops for {SEND_TIMEOUT + 2.0} s is cut: got {len(body)} of "
          f"{len(want)} bytes")


def slow_post(ctl, target, body, seconds, admin):
    """POST body in 40 pieces spread over seconds; the status line, or None if control
    closed the connection first."""
    s = socket.create_connection(("127.0.0.1", ctl.port), timeout=30)
    auth = f"Authorization: Bearer {h.ADMIN_TOKEN}\r\n" if admin else ""
    s.sendall((f"POST {target} HTTP/1.1\r\nHost: control.test\r\n{auth}"
               f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
               f"Connection: close\r\n\r\n").encode())
    step = (len(body) + 39) // 40
    try:
        for i in range(0, len(body), step):
            s.sendall(body[i:i + step])
            time.sleep(seconds / 40)
        data = read_all(s)
    except (BrokenPipeError, ConnectionResetError):
        data = b""
    s.close()
    return data.split(b"\r\n", 1)[0].decode() if data else None


def test_slow_bodies(ctl):
    # A registration sent with the admin token over twice body_timeout arrives: its deadline
    # counts from the last byte. Anyone else's body still has body_timeout from its head.
    reg = json.dumps({"title": "slow", "asset": h.make_asset("slow", segments=600)}).encode()
    took = time.monotonic()
    status = slow_post(ctl, "/v1/admin/titles", reg, 2 * SEND_TIMEOUT, admin=True)
    took = time.monotonic() - took
    check(status is not None and status.startswith("HTTP/1.1 20"),
          f"a {len(reg)}-byte registration over {took:.1f} s: {status}")
    status = slow_post(ctl, "/v1/playback", json.dumps({"title": "slow", "pad": "x" * 2000})
                       .encode(), 2 * SEND_TIMEOUT, admin=False)
    check(status is None, f"a public body over {2 * SEND_TIMEOUT} s was taken: {status}")


def main(binary, tmp):
    pg = h.Postgres(tmp)
    # A plan of 54,000 files takes its time under a sanitizer: the database wait is generous.
    ctl = h.Control(binary, tmp, pg, db_timeout="60s",
                    extra_cfg=f"send_timeout: {int(SEND_TIMEOUT * 1000)}ms\n"
                              f"body_timeout: {int(SEND_TIMEOUT * 1000)}ms\n")
    ctl.start()
    ctl.json("POST", "/v1/admin/edges", {"id": "edge-gb", "region": "eu-west",
                                         "base_url": "http://127.0.0.1:1"}, admin=True)
    for i in range(TITLES):
        h.register(ctl, f"long{i}", segments=SEGMENTS)
        ctl.json("PUT", f"/v1/admin/titles/long{i}/licences",
                 {"licences": [{"country": "GB"}]}, admin=True)
        ctl.json("POST", "/v1/playback", {"title": f"long{i}"})
    status, _, want = ctl.request("GET", TARGET, admin=True)
    check(status == 200, f"the plan: {status} {want[:200]!r}")
    check(len(want) > 12_000_000, f"a reply larger than the sockets hold: {len(want)} bytes")
    check(len(json.loads(want)["objects"]) == TITLES * (3 * (SEGMENTS + 1) + 1),
          "every file of the titles is in the plan")

    test_half_closed(ctl, want)
    test_slow_reader(ctl, want)
    test_slow_bodies(ctl)
    check(ctl.request("GET", "/healthz")[0] == 200, "control still answers")


if __name__ == "__main__":
    h.run(main)
