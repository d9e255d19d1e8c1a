# SPDX-License-Identifier: MIT
"""Request body limits on a default configuration (docs/control.md, max_body and
max_admin_body): the registration of a 4-hour title of the default ladder (six video rungs
from a 2160p source, eight audio tracks, eight subtitle tracks), as sluice-ingest builds it,
is taken, within the players' database timeout, as the admin writes have their own
(database_pool.admin_timeout); a body over max_body is still refused 413 on a public route,
on an admin route without the admin token, and over max_admin_body with it.

    python3 test_body_limits.py path/to/sluice-control
"""
import http.client
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctlharness import ADMIN_TOKEN, Control, Postgres, check, run  # noqa: E402

HOURS = 4
SEG_S = 4
# tools/ingest/ladder.c's rungs: name, width, height, kbit/s.
VIDEO = [("240p", 426, 240, 300), ("360p", 640, 360, 700), ("480p", 854, 480, 1500),
         ("720p", 1280, 720, 3000), ("1080p", 1920, 1080, 5000), ("2160p", 3840, 2160, 25000)]
AUDIO = ["en", "fr", "de", "es", "it", "ja", "pt", "nl"]


def feature_registration(title):
    """The body sluice-ingest --register sends for a HOURS-long title: asset.json as
    tools/ingest/asset.c writes it (a file entry and a timeline entry a segment), compact."""
    n = HOURS * 3600 // SEG_S
    reps, files, texts = [], [], []
    rid = 0

    def scan(rep_id, kbps, timescale):
        nonlocal rid
        files.append({"path": f"{rep_id}/init.mp4", "size": 1000 + rid,
                      "sha256": "%064x" % (rid * 7919 + 1)})
        seg_bytes = kbps * 1000 // 8 * SEG_S
        timeline = []
        for i in range(1, n + 1):
            rid += 1
            files.append({"path": f"{rep_id}/seg-{i}.m4s", "size": seg_bytes + i % 997,
                          "sha256": "%064x" % (rid * 2654435761 % (1 << 256))})
            timeline.append({"t": (i - 1) * SEG_S * timescale, "d": SEG_S * timescale})
        return timeline

    for name, w, h, kbps in VIDEO:
        rep_id = f"video-{name}"
        tl = scan(rep_id, kbps, 12800)
        reps.append({"id": rep_id, "type": "video", "mime_type": "video/mp4",
                     "codec": "avc1.640033", "bandwidth": kbps * 1100, "nominal_bitrate":
                     kbps * 1000, "average_bitrate": kbps * 990, "timescale": 12800,
                     "init": f"{rep_id}/init.mp4", "media": f"{rep_id}/seg-$Number$.m4s",
                     "start_number": 1, "segment_count": n, "segment_duration": SEG_S,
                     "segments": tl, "width": w, "height": h, "frame_rate": "25/1"})
    for lang in AUDIO:
        rep_id = f"audio-{lang}"
        tl = scan(rep_id, 128, 48000)
        reps.append({"id": rep_id, "type": "audio", "mime_type": "audio/mp4",
                     "codec": "mp4a.40.2", "bandwidth": 130000, "nominal_bitrate": 128000,
                     "average_bitrate": 127000, "timescale": 48000,
                     "init": f"{rep_id}/init.mp4", "media": f"{rep_id}/seg-$Number$.m4s",
                     "start_number": 1, "segment_count": n, "segment_duration": SEG_S,
                     "segments": tl, "lang": lang, "sample_rate": 48000, "channels": 2})
    for lang in AUDIO:
        path = f"text-{lang}/subtitles.vtt"
        files.insert(0, {"path": path, "size": 120000, "sha256": "cd" * 32})
        texts.append({"id": f"text-{lang}", "lang": lang, "path": path, "mime_type": "text/vtt"})
    asset = {"version": 1, "title": title, "created": "2026-01-01T12:00:00Z",
             "duration": float(n * SEG_S), "segment_duration": SEG_S, "segment_count": n,
             "encryption": None, "representations": reps, "subtitles": texts, "files": files}
    body = {"title": title, "asset": asset}
    return json.dumps(body, separators=(",", ":")).encode()


def head_only(ctl, head):
    """Send a head announcing a body and nothing more: control refuses an oversized one
    before reading it."""
    s = socket.create_connection(("127.0.0.1", ctl.port), timeout=10)
    s.sendall(head)
    line = s.recv(4096).split(b"\r\n", 1)[0]
    s.close()
    return line


def main(binary, tmp):
    pg = Postgres(tmp)
    # Storing 50,000 file rows takes longer than the players' timeout here (the harness's
    # 2 s; 3 s by default). The admin writes wait up to their own (60 s by default). The body
    # limits are the defaults.
    ctl = Control(binary, tmp, pg).start()

    body = feature_registration("feature4h")
    check(len(body) > 4 << 20, f"a 4-hour title's registration is only {len(body)} bytes")
    t0 = time.monotonic()
    # The client waits as long as control's admin writes may take (admin_timeout, 60 s by
    # default), not the harness's 10 s: on a loaded machine storing the rows can take longer.
    slow = http.client.HTTPConnection("127.0.0.1", ctl.port, timeout=75)
    o = ctl.json("POST", "/v1/admin/titles", body, admin=True, conn=slow)
    slow.close()
    took = time.monotonic() - t0
    check(o.get("title") == "feature4h", f"registration answered {o}")
    n = pg.psql("SELECT count(*) FROM asset_files WHERE asset_id = 'feature4h'")
    check(int(n) == len(json.loads(body)["asset"]["files"]), f"{n} files stored")
    print(f"a 4-hour title registered in {took:.1f} s")

    # The admin timeout holds: past it, 503 and nothing stored, while the players' pool
    # answers on.
    short = Control(binary, tmp, pg, name="ctl-short", admin_timeout="100ms").start()
    o = short.error("POST", "/v1/admin/titles", feature_registration("feature4h-b"),
                    expect=503, admin=True)
    n = pg.psql("SELECT count(*) FROM assets WHERE id = 'feature4h-b'")
    check(int(n) == 0, f"a registration past admin_timeout stored its asset ({n}): {o}")
    short.json("GET", "/v1/titles/feature4h")
    check(short.stop() == 0, "the short-timeout control exits 0")

    def post(path, length, token=True):
        auth = f"Authorization: Bearer {ADMIN_TOKEN}\r\n" if token else ""
        return head_only(ctl, f"POST {path} HTTP/1.1\r\nHost: x\r\n{auth}"
                              "Content-Type: application/json\r\n"
                              f"Content-Length: {length}\r\n\r\n".encode())

    # Public routes keep max_body (1M), with or without a token.
    for path in ("/v1/playback", "/v1/playback/report", "/v1/edges/e1/heartbeat"):
        line = post(path, (1 << 20) + 1, token=False)
        check(line.startswith(b"HTTP/1.1 413"), f"{path} over 1M: {line!r}")
        line = post(path, (1 << 20) + 1, token=True)
        check(line.startswith(b"HTTP/1.1 413"), f"{path} over 1M with the token: {line!r}")
    # Admin routes: max_body without the token (or a wrong one), max_admin_body (16M) with it.
    line = post("/v1/admin/titles", (1 << 20) + 1, token=False)
    check(line.startswith(b"HTTP/1.1 413"), f"admin route, no token, over 1M: {line!r}")
    line = head_only(ctl, b"POST /v1/admin/titles HTTP/1.1\r\nHost: x\r\n"
                          b"Authorization: Bearer wrong\r\nContent-Length: 1048577\r\n\r\n")
    check(line.startswith(b"HTTP/1.1 413"), f"admin route, wrong token, over 1M: {line!r}")
    line = post("/v1/admin/titles", (16 << 20) + 1)
    check(line.startswith(b"HTTP/1.1 413"), f"admin route over 16M: {line!r}")
    ctl.json("GET", "/healthz")
    check(ctl.stop() == 0, "control exits 0")


if __name__ == "__main__":
    run(main)
