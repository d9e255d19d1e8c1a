#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""
Integration test for sluice-ingest: real ffmpeg runs through the tool, checking what the
origin ends up holding.

  test-ingest.py PATH/TO/sluice-ingest

Covers: the whole 240p-1080p ladder (layout, asset.json against the files: sizes, SHA-256,
codec strings vs ffprobe; keyframe alignment across renditions from ffprobe of each segment's
first packet; decoding), 2160p with --4k, an encrypted title (key kept out of the origin,
decryptable per segment with ffmpeg -decryption_key), --replace, the free-space check,
--metadata as sent by --register, a corrupt source, a failing ffmpeg, SIGTERM and SIGKILL
mid-encode. Exits 77 when ffmpeg or ffprobe is missing, or when a check could not be made
here (no tmpfs mount, no browser to play the encrypted title): it says why.

By default titles are short and use x264's fastest preset (ultrafast, which signals
Constrained Baseline); --full runs the issue's 12-second title with the default preset
(veryfast, High profile).
"""
import concurrent.futures
import hashlib
import json
import os
import pty
import re
import shutil
import socket
import signal
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

INGEST = os.path.abspath(sys.argv[1])
# --full: the 12-second title with the default preset (slow on small machines)
FULL = "--full" in sys.argv[2:]
# Fastest x264 preset for the titles that only need to exist; --full keeps the default.
FAST = [] if FULL else ["--preset", "ultrafast"]
# ffprobe's names for the H.264 profiles ingest can signal: (profile_idc, constraint byte)
PROFILES = {(66, 0xc0): "Constrained Baseline", (66, 0x40): "Constrained Baseline",
            (66, 0): "Baseline", (77, 0): "Main", (77, 0x40): "Main", (100, 0): "High"}
failures = []
# Checks this machine could not make, with why: once nothing failed, main() exits 77 with
# them, not 0.
skipped = []
# Checks still running in the background: main() calls each after the last test.
pending = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, flush=True)
    return cond


def skip(why):
    skipped.append(why)
    print("skip:", why, flush=True)


def run(args, **kw):
    return subprocess.run([INGEST] + args, capture_output=True, text=True, timeout=300, **kw)


def ffprobe_json(path, *extra):
    out = subprocess.run(["ffprobe", "-v", "error", "-of", "json", *extra, path],
                         capture_output=True, text=True, timeout=60)
    return json.loads(out.stdout or "{}"), out.returncode


def in_parallel(fn, items):
    """[fn(item) for item in items], run on a thread per core: the ffprobe and ffmpeg runs
    that check a title are independent processes, and this test runs alone (meson's
    is_parallel: false), so both cores of a small machine can take them."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 1)) as ex:
        return list(ex.map(fn, items))


def joined(rep_dir, segs, dst):
    """init + the given segments, as a player's source buffer would see them."""
    with open(dst, "wb") as out:
        for name in ["init.mp4"] + segs:
            with open(os.path.join(rep_dir, name), "rb") as f:
                out.write(f.read())
    return dst


def leftovers(origin):
    return [e for e in os.listdir(origin) if e.startswith(".ingest.")]


def test_clear(origin, scratch):
    vtt = os.path.join(scratch, "en.vtt")
    with open(vtt, "w") as f:
        f.write("WEBVTT\n\n00:00:01.000 --> 00:00:03.000\nHello from Sluice\n")
    # Every rung up to 1080p (the default ladder of a 1080p source), 2 or 3 segments each.
    ladder = ["--test-source", "12"] if FULL else ["--test-source", "8"] + FAST
    r = run(["--title", "clear1", "--origin", origin, "--subtitles", "en=" + vtt,
             "--audio-lang", "en,fr", "--no-progress"] + ladder)
    if not check(r.returncode == 0, "clear ingest exits 0: " + r.stderr[-800:]):
        return
    title = os.path.join(origin, "clear1")
    check(leftovers(origin) == [], "no temporary directory left")
    with open(os.path.join(title, "asset.json")) as f:
        asset = json.load(f)

    # every listed file matches the disk, and every file on disk is listed
    listed = {e["path"]: e for e in asset["files"]}
    on_disk = set()
    for d, _, names in os.walk(title):
        for n in names:
            rel = os.path.relpath(os.path.join(d, n), title)
            if rel != "asset.json":
                on_disk.add(rel)
    check(on_disk == set(listed), "files on disk == files in asset.json: %s" %
          sorted(on_disk ^ set(listed)))
    for rel, e in listed.items():
        p = os.path.join(title, rel)
        if not os.path.exists(p):
            continue
        with open(p, "rb") as f:
            data = f.read()
        check(len(data) == e["size"], rel + " size")
        check(hashlib.sha256(data).hexdigest() == e["sha256"], rel + " sha256")

    reps = {r["id"]: r for r in asset["representations"]}
    # Every probe and decode below, run up front side by side (each on a file of its own);
    # the checks then read their results in the order they always did.
    rungs = {"video-240p": (426, 240), "video-360p": (640, 360), "video-480p": (854, 480),
             "video-720p": (1280, 720), "video-1080p": (1920, 1080)}
    # the quality tiers, bit/s: 0.3 / 0.7 / 1.5 / 3 / 5 Mbit/s (2160p's 25 in test_4k)
    tiers = {"video-240p": 300000, "video-360p": 700000, "video-480p": 1500000,
             "video-720p": 3000000, "video-1080p": 5000000}
    nseg = 3 if FULL else 2
    codec_probes, align_probes, timeline_probes, decodes = clear_probes(title, reps, rungs,
                                                                        nseg, scratch)
    check(set(reps) == set(rungs) | {"audio-en", "audio-fr"}, "representations: %s" % list(reps))
    check(asset["segment_duration"] == 4 and asset["segment_count"] == nseg,
          "%d segments of 4 s" % nseg)
    check(asset["encryption"] is None, "clear title has no encryption block")
    check([s["id"] for s in asset["subtitles"]] == ["text-en"], "subtitle track listed")
    for rid, (w, h) in rungs.items():
        rep = reps.get(rid)
        if not rep:
            continue
        check((rep["width"], rep["height"]) == (w, h), rid + " size")
        check(rep["frame_rate"] == "25/1", rid + " frame rate")
        check(rep["nominal_bitrate"] == tiers[rid], "%s at its tier: %s" %
              (rid, rep["nominal_bitrate"]))
        # capped at the tier (maxrate = tier, a 2 s buffer: at most 1.25x over 8 s, plus boxes)
        check(0 < rep["average_bitrate"] <= 1.3 * tiers[rid], "%s averages %s bit/s" %
              (rid, rep["average_bitrate"]))
        check(rep["bandwidth"] >= rep["nominal_bitrate"], rid + " bandwidth >= nominal")
        check(rep["segment_count"] == nseg, rid + " segment count")
        check_codec(title, rid, rep, scratch, high=FULL, probe=codec_probes[rid])
    if "audio-en" in reps:
        a = reps["audio-en"]
        check(a["codec"] == "mp4a.40.2", "audio codec string")
        check(a["sample_rate"] == 48000 and a["channels"] == 2, "audio format")
        check(a["lang"] == "en", "audio language")
        check(reps.get("audio-fr", {}).get("lang") == "fr", "second audio language")

    # keyframe alignment: segment n of every rung starts at the same time, on a keyframe
    starts = {}
    for rid in rungs:
        for n in range(1, nseg + 1):
            pk = align_probes.get((rid, n), {}).get("packets", [])
            if check(len(pk) > 0, "%s seg-%d has packets" % (rid, n)):
                first = min(pk, key=lambda p: float(p["pts_time"]))
                check("K" in pk[0]["flags"], "%s seg-%d starts with a keyframe" % (rid, n))
                starts.setdefault(n, set()).add(round(float(first["pts_time"]), 3))
    for n, s in starts.items():
        check(len(s) == 1, "segment %d starts at one time in every rung: %s" % (n, s))
    check(starts.get(2) == {4.0}, "segment 2 starts at 4 s: %s" % starts.get(2))

    for rid, rep in reps.items():
        check_timeline(title, rid, rep, scratch, probes=timeline_probes.get(rid))
        # @bandwidth is the peak rate over runs of 0.5 to 1.5 segments (RFC 8216 §4.1): a
        # tail of a few priming samples counts with the segment before it. Audio said 2.8x
        # its rate, from an 11 ms tail rated alone.
        want = max(rep["nominal_bitrate"], windowed_peak(rep, listed))
        check(rep["bandwidth"] <= want + 1000, "%s bandwidth %d, peak over whole runs %d" %
              (rid, rep["bandwidth"], want))

    # the clear output decodes
    for rid in reps:
        d = decodes[rid]
        check(d.returncode == 0 and d.stderr.strip() == "", rid + " decodes: " + d.stderr[-300:])
    vtt_out = open(os.path.join(title, "text-en", "subtitles.vtt")).read()
    check("Hello from Sluice" in vtt_out, "subtitles carried over")

    r = run(["--title", "clear1", "--origin", origin, "--test-source", "8", "--ladder", "240p"])
    check(r.returncode == 1 and "exists" in r.stderr, "an existing title is not overwritten")


def windowed_peak(rep, listed):
    """The peak bit rate of rep's segments, a segment under half the 4 s target counted with
    the one before it (sizes from asset.json's file list)."""
    ts, peak, prev = rep["timescale"], 0, None
    for i, seg in enumerate(rep["segments"]):
        path = rep["media"].replace("$Number$", str(rep["start_number"] + i))
        size, dur = listed[path]["size"], seg["d"]
        this = (size, dur)
        if 2 * dur < 4 * ts and prev:
            size, dur = size + prev[0], dur + prev[1]
        peak = max(peak, size * 8 * ts / dur)
        prev = this
    return int(peak)


def clear_probes(title, reps, rungs, nseg, scratch):
    """test_clear's ffprobe and ffmpeg runs, side by side: ({rid: ffprobe of init + seg-1},
    {(rid, n): the keyframe probe of seg-n}, {rid: [the timeline probe of each segment]},
    {rid: the decode of init and every segment}); the first two for the video rungs, the
    others for every representation. Each run joins the segments into a file of its own."""
    def seg_file(rid, ns, what):
        return joined(os.path.join(title, rid), ["seg-%d.m4s" % n for n in ns],
                      os.path.join(scratch, "%s-%s-%s.mp4" % (what, rid,
                                                             "-".join(map(str, ns)))))

    video = [rid for rid in rungs if rid in reps]
    jobs = [("codec", rid, 1) for rid in video]
    jobs += [("align", rid, n) for rid in video for n in range(1, nseg + 1)]
    # (check_timeline reads no media of a representation whose timeline has the wrong length)
    jobs += [("timeline", rid, n) for rid in reps
             if len(reps[rid].get("segments") or []) == reps[rid]["segment_count"]
             for n in range(1, reps[rid]["segment_count"] + 1)]
    jobs += [("decode", rid, 0) for rid in reps]

    def one(job):
        what, rid, n = job
        if what == "codec":
            return ffprobe_json(seg_file(rid, [1], what), "-show_streams")[0]
        if what == "align":
            return ffprobe_json(seg_file(rid, [n], what), "-select_streams", "v",
                                "-show_packets", "-show_entries", "packet=pts_time,flags")[0]
        if what == "timeline":
            return timeline_probe(seg_file(rid, [n], what))
        path = seg_file(rid, range(1, nseg + 1), what)
        return subprocess.run(["ffmpeg", "-v", "error", "-i", path, "-f", "null", "-"],
                              capture_output=True, text=True, timeout=120)

    got = dict(zip(jobs, in_parallel(one, jobs)))
    out = ({}, {}, {}, {})
    for (what, rid, n), r in got.items():
        if what == "codec":
            out[0][rid] = r
        elif what == "align":
            out[1][(rid, n)] = r
        elif what == "timeline":
            out[2].setdefault(rid, []).append(r)
        else:
            out[3][rid] = r
    return out


def timeline_probe(path):
    """check_timeline's ffprobe of a segment joined to its init at path."""
    probe, _ = ffprobe_json(path, "-show_streams", "-show_packets",
                            "-show_entries", "packet=pts,duration:stream=time_base")
    return probe


def check_timeline(title, rid, rep, scratch, probes=None):
    """The representation's timescale and SegmentTimeline (segments[].t/d, which the MPD is
    built from) against the media: the track's time base, each segment's first presentation
    time, and its duration (every video packet's; for audio, up to the next segment's start,
    since the AAC priming shifts presentation times by a constant the timeline leaves out)."""
    segs = rep.get("segments") or []
    if not check(len(segs) == rep["segment_count"], rid + " one timeline entry per segment"):
        return
    firsts, ends = [], []
    for n in range(1, len(segs) + 1):
        if probes is not None and n <= len(probes):
            probe = probes[n - 1]
        else:
            probe = timeline_probe(joined(os.path.join(title, rid), ["seg-%d.m4s" % n],
                                          os.path.join(scratch, "tl.mp4")))
        pk = probe.get("packets", [])
        tb = probe.get("streams", [{}])[0].get("time_base")
        if not check(len(pk) > 0 and tb, "%s seg-%d probes" % (rid, n)):
            return
        if n == 1:
            check(tb == "1/%d" % rep["timescale"], "%s timescale %d vs the track's %s" %
                  (rid, rep["timescale"], tb))
        firsts.append(min(int(p["pts"]) for p in pk))
        ends.append(max(int(p["pts"]) + int(p.get("duration", 0)) for p in pk))
    shift = segs[0]["t"] - firsts[0]
    check(rep["type"] == "video" and shift == 0 or rep["type"] == "audio" and shift >= 0,
          "%s first segment at t=%d, media at %d" % (rid, segs[0]["t"], firsts[0]))
    for i, s in enumerate(segs):
        check(s["t"] == firsts[i] + shift, "%s seg-%d t=%d vs media %d" %
              (rid, i + 1, s["t"], firsts[i] + shift))
        if i + 1 < len(segs):
            check(s["t"] + s["d"] == segs[i + 1]["t"], "%s seg-%d ends where seg-%d starts" %
                  (rid, i + 1, i + 2))
        if rep["type"] == "video":
            check(s["d"] == ends[i] - firsts[i], "%s seg-%d d=%d vs media %d" %
                  (rid, i + 1, s["d"], ends[i] - firsts[i]))


def check_codec(title, rid, rep, scratch, high, probe=None):
    """The codec string says what ffprobe reads from the stream: profile and level (probe:
    ffprobe -show_streams of init and seg-1, when the caller already has it)."""
    if probe is None:
        probe, _ = ffprobe_json(joined(os.path.join(title, rid), ["seg-1.m4s"],
                                       os.path.join(scratch, "probe.mp4")), "-show_streams")
    st = probe.get("streams", [{}])[0]
    m = re.fullmatch(r"avc1\.([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})", rep["codec"])
    if not check(m is not None, rid + " codec string form: " + rep["codec"]):
        return
    idc, flags, level = (int(g, 16) for g in m.groups())
    check(PROFILES.get((idc, flags)) == st.get("profile"), "%s profile %s vs ffprobe's %s" %
          (rid, rep["codec"], st.get("profile")))
    if high:
        check(idc == 100, rid + " is High profile with the default preset")
    check(level == st.get("level"), rid + " level %d vs %s" % (level, st.get("level")))


def test_4k(origin, scratch):
    """--4k: the test source is 2160 lines high, so the default ladder gains 2160p."""
    r = run(["--title", "uhd1", "--origin", origin, "--test-source", "4", "--4k", "--no-progress"]
            + FAST)
    if not check(r.returncode == 0, "--4k ingest: " + r.stderr[-500:]):
        return
    title = os.path.join(origin, "uhd1")
    asset = json.load(open(os.path.join(title, "asset.json")))
    reps = {x["id"]: x for x in asset["representations"]}
    check(set(reps) == {"video-%s" % n for n in ("240p", "360p", "480p", "720p", "1080p",
                                                  "2160p")} | {"audio-en"},
          "--4k: every rung up to 2160p: %s" % sorted(reps))
    uhd = reps.get("video-2160p")
    if not check(uhd is not None, "video-2160p in asset.json"):
        return
    check((uhd["width"], uhd["height"]) == (3840, 2160), "2160p size")
    check(uhd["nominal_bitrate"] == 25000000 and uhd["bandwidth"] >= 25000000,
          "2160p at 25 Mbit/s: %s" % uhd["bandwidth"])
    check(uhd["segment_count"] == 1 and asset["segment_count"] == 1, "4 s: one segment")
    check_codec(title, "video-2160p", uhd, scratch, high=FULL)
    listed = {e["path"]: e["size"] for e in asset["files"]}
    for name in ("init.mp4", "seg-1.m4s"):
        p = os.path.join(title, "video-2160p", name)
        check(os.path.exists(p) and listed.get("video-2160p/" + name) == os.path.getsize(p),
              "video-2160p/%s on disk and listed" % name)
    shutil.rmtree(title)  # 20 MB nobody needs


def test_replace(origin, scratch):
    """--replace swaps a new title in whole; a failed replacement keeps the old one."""
    # The free-space figure just above this title's estimate (16.27 MB) lets it through.
    env = dict(os.environ, SLUICE_INGEST_TEST_FREE_BYTES="16300000")
    base = ["--origin", origin, "--test-source", "4", "--no-progress"] + FAST
    r = run(["--title", "rep1", "--ladder", "240p"] + base, env=env)
    if not check(r.returncode == 0, "rep1 ingest: " + r.stderr[-500:]):
        return
    title = os.path.join(origin, "rep1")
    r = run(["--title", "rep1", "--ladder", "360p", "--replace"] + base)
    check(r.returncode == 0, "--replace exits 0: " + r.stderr[-500:])
    asset = json.load(open(os.path.join(title, "asset.json")))
    ids = sorted(x["id"] for x in asset["representations"])
    check(ids == ["audio-en", "video-360p"], "replaced asset.json describes the new title: %s" % ids)
    on_disk = sorted(os.listdir(title))
    check(on_disk == ["asset.json", "audio-en", "video-360p"],
          "only the new title's files remain: %s" % on_disk)
    for e in asset["files"]:
        p = os.path.join(title, e["path"])
        check(os.path.exists(p) and os.path.getsize(p) == e["size"], "replaced " + e["path"])
    check(leftovers(origin) == [], "the old title is removed, not left as a temporary")
    before = open(os.path.join(title, "asset.json")).read()
    r = run(["--title", "rep1", "--origin", origin, "--test-source", "4", "--ladder", "240p",
             "--replace", "--preset", "no-such-preset", "--no-progress"])
    check(r.returncode == 1, "a failing replacement exits 1")
    check(open(os.path.join(title, "asset.json")).read() == before and
          sorted(os.listdir(title)) == on_disk, "a failed replacement leaves the old title")
    check(leftovers(origin) == [], "a failed replacement leaves no temporary directory")


def test_space(origin, scratch):
    """Too little free space in the origin: refused before encoding, nothing created."""
    env = dict(os.environ, SLUICE_INGEST_TEST_FREE_BYTES="16200000")
    r = run(["--title", "sp1", "--origin", origin, "--test-source", "4", "--ladder", "240p",
             "--no-progress"], env=env)
    m = re.search(r": ([0-9]+) MB free, this title needs about ([0-9]+) MB", r.stderr)
    check(r.returncode == 1 and m is not None and m.groups() == ("16", "16"),
          "refused for want of space: %s %s" % (r.returncode, r.stderr[-300:]))
    check(not os.path.exists(os.path.join(origin, "sp1")) and leftovers(origin) == [],
          "refusal leaves nothing")
    # A whole ladder estimate grows with the rungs and the duration.
    env["SLUICE_INGEST_TEST_FREE_BYTES"] = "1000000"
    r = run(["--title", "sp1", "--origin", origin, "--test-source", "60", "--no-progress"], env=env)
    m = re.search(r"needs about ([0-9]+) MB", r.stderr)
    check(r.returncode == 1 and m is not None and int(m.group(1)) > 90,
          "60 s of the whole ladder needs more: " + r.stderr[-300:])

    # A real small filesystem, where this machine lets us mount one.
    tiny = os.path.join(scratch, "tiny")
    os.mkdir(tiny)
    mnt = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", tiny],
                         capture_output=True, text=True) if os.geteuid() == 0 else None
    if mnt is None or mnt.returncode != 0:
        skip("the free-space check on a real small filesystem: cannot mount a tmpfs (%s)"
             % ("not root" if mnt is None else mnt.stderr.strip()))
        return
    try:
        r = run(["--title", "sp2", "--origin", tiny, "--test-source", "8", "--ladder", "240p",
                 "--no-progress"])
        check(r.returncode == 1 and re.search(r": [0-2] MB free, this title needs about", r.stderr),
              "a 2 MB tmpfs origin is refused: " + r.stderr[-300:])
        check(os.listdir(tiny) == [], "nothing written to the full origin")
    finally:
        subprocess.run(["umount", tiny], capture_output=True)


def test_file_source(origin, scratch):
    """A real source file: rungs up to its height, its frame rate, one audio per language."""
    src = os.path.join(scratch, "src.mp4")
    mk = subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                         "testsrc2=size=640x360:rate=30:duration=6", "-f", "lavfi", "-i",
                         "sine=f=300:duration=6", "-f", "lavfi", "-i", "sine=f=500:duration=6",
                         "-map", "0", "-map", "1", "-map", "2", "-c:v", "libx264", "-preset",
                         "ultrafast", "-c:a", "aac", "-metadata:s:a:0", "language=eng",
                         "-metadata:s:a:1", "language=fra", src], capture_output=True, timeout=120)
    if not check(mk.returncode == 0, "make a source file"):
        return
    r = run(["--title", "file1", "--origin", origin, src, "--no-progress"])
    if not check(r.returncode == 0, "file source ingest: " + r.stderr[-500:]):
        return
    asset = json.load(open(os.path.join(origin, "file1", "asset.json")))
    reps = {x["id"]: x for x in asset["representations"]}
    # The source's ISO 639-2 tags (eng, fra) become BCP 47's 2-letter codes.
    check(set(reps) == {"video-240p", "video-360p", "audio-en", "audio-fr"},
          "rungs up to the source height, audio per language: %s" % sorted(reps))
    check([reps[a]["lang"] for a in ("audio-en", "audio-fr") if a in reps] == ["en", "fr"],
          "audio languages as BCP 47 tags")
    check(all(x["frame_rate"] == "30/1" for x in reps.values() if x["type"] == "video"),
          "source frame rate kept")
    check(asset["segment_count"] == 2, "6 s source: 2 segments")


def most_at_once(log):
    """The most ffmpeg runs alive at one time, from the wrapper's start/end lines, and how
    many were started."""
    events = []
    for ln in open(log).read().split("\n"):
        f = ln.split()
        if len(f) == 3:
            events.append((float(f[2]), 0 if f[0] == "end" else 1))
    alive = most = 0
    for _, up in sorted(events):  # an end at the same instant as a start goes first
        alive += 1 if up else -1
        most = max(most, alive)
    return most, sum(up for _, up in events)


def test_parallel(origin, scratch):
    """Renditions are encoded at once, as many as there are cores unless --jobs says; on a
    terminal the progress line shows itself, into a pipe it does not."""
    log = os.path.join(scratch, "spawns.log")
    wrap = os.path.join(scratch, "ffmpeg-logged")
    with open(wrap, "w") as f:
        f.write('#!/bin/sh\necho "start $$ $(date +%%s.%%N)" >> %s\n"%s" "$@"\nrc=$?\n'
                'echo "end $$ $(date +%%s.%%N)" >> %s\nexit $rc\n' %
                (log, shutil.which("ffmpeg"), log))
    os.chmod(wrap, 0o755)
    cores = os.cpu_count() or 1  # online processors, as ingest counts them
    base = ["--origin", origin, "--test-source", "4", "--ladder", "240p,360p,480p",
            "--ffmpeg", wrap] + FAST
    # (title, arguments, "N at a time", the most ffmpeg runs alive at once: 4 renditions)
    for title, jobs, par, want in (("par1", [], cores, min(cores, 4)),
                                   ("par2", ["--jobs", "1"], 1, 1)):
        if os.path.exists(log):
            os.unlink(log)
        r = run(["--title", title] + base + jobs)
        if not check(r.returncode == 0, "%s ingest: %s" % (title, r.stderr[-300:])):
            continue
        most, started = most_at_once(log)
        check(started == 4, "%s: one ffmpeg per rendition, %d started" % (title, started))
        check(most == want, "%s: %d renditions at once (want %d)" % (title, most, want))
        check("%d at a time" % par in r.stderr,
              "%s says how many at once: %s" % (title, r.stderr[:200]))
        check("speed" not in r.stderr and r.stderr.count(" done\n") == 4,
              "%s: into a pipe, a line per rendition and no progress line" % title)

    # On a terminal (no --progress): encoded seconds, speed and ETA, redrawn in place.
    master, slave = pty.openpty()
    p = subprocess.Popen([INGEST, "--title", "par3"] + base, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the terminal's last writer is gone
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    check(p.wait(timeout=300) == 0, "par3 ingest on a terminal")
    check(re.search(rb"\r\x1b\[K  encoded [0-9.]+/4\.0 s +speed [0-9.]+x +ETA [0-9]+:[0-9]{2} "
                    rb"+\[4/4 renditions\]", out) is not None,
          "progress line on a terminal: %r" % out[-300:])
    for t in ("par1", "par2", "par3"):
        shutil.rmtree(os.path.join(origin, t), ignore_errors=True)


def packet_sums(path, key=None):
    """ffmpeg's framemd5 of every packet as stored (-c copy), decrypted with key when given:
    sizes, times and MD5s of the samples themselves, not of decoded pictures."""
    d = subprocess.run(["ffmpeg", "-v", "error"] + (["-decryption_key", key] if key else []) +
                       ["-i", path, "-map", "0", "-c", "copy", "-f", "framemd5", "-"],
                       capture_output=True, text=True, timeout=120)
    return [ln for ln in d.stdout.splitlines() if not ln.startswith("#")] if d.returncode == 0 \
        else None


def test_encrypted(origin, scratch):
    keyfile = os.path.join(scratch, "enc1.key")
    common = ["--origin", origin, "--test-source", "8", "--ladder", "240p", "--threads", "1"]
    # The same title in the clear: one thread per encoder makes x264 and the AAC encoder
    # repeat themselves exactly (with more, x264's rate control depends on thread timing),
    # so its samples are what enc1's must decrypt to. The two are made side by side (two
    # encoders each, one thread apiece).
    twin, r = in_parallel(run, [["--title", "enc1c", "--no-progress"] + common,
                                ["--title", "enc1"] + common +
                                ["--encrypt", "--key-out", keyfile, "--progress"]])
    check(twin.returncode == 0, "clear twin of the encrypted title: " + twin.stderr[-300:])
    if not check(r.returncode == 0, "encrypted ingest exits 0: " + r.stderr[-800:]):
        return
    check(re.search(r"encoded [0-9.]+/8\.0 s +speed [0-9.]+x +ETA", r.stderr) is not None,
          "progress line shows encoded seconds, speed and ETA")
    check(r.stdout == "", "with --key-out nothing goes to stdout")
    check(oct(os.stat(keyfile).st_mode & 0o777) == "0o600", "key file is private")
    key = json.load(open(keyfile))
    title = os.path.join(origin, "enc1")
    # Chrome's own MSE parser and ClearKey CDM, when this machine has them. The browser plays
    # in real time: it starts now and main() waits for it after the last test.
    play = os.path.join(os.path.dirname(os.path.abspath(__file__)), "clearkey-play.mjs")
    if shutil.which("node") and os.path.exists("/usr/bin/chromium"):
        browser = subprocess.Popen(["node", play, title, keyfile, "--seconds", "5"],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

        def played():
            try:
                out, err = browser.communicate(timeout=180)
            except subprocess.TimeoutExpired:
                browser.kill()
                out, err = browser.communicate()
            if browser.returncode == 77:
                skip("dash.js + ClearKey in Chromium not played: " + out.strip())
            else:
                check(browser.returncode == 0, "dash.js + ClearKey in Chromium plays it: " +
                      out[-300:] + err[-300:])
        pending.append(played)
    else:
        skip("dash.js + ClearKey in Chromium not played: no node or no /usr/bin/chromium")
    encrypted_checks(origin, scratch, title, key)

    r = run(["--title", "enc2", "--origin", origin, "--test-source", "4", "--encrypt",
             "--key-out", os.path.join(origin, "k.json")])
    check(r.returncode == 2 and "outside" in r.stderr, "--key-out inside the origin is refused")
    check(not os.path.exists(os.path.join(origin, "enc2")), "nothing published after refusal")


def decrypt_runs(origin, scratch, title, key, rid, n):
    """The ffmpeg runs over seg-n of rid of the encrypted title (joined to its init, in a
    file of its own): decoded with the key and with a wrong one, and the packets of the
    clear twin's segment, of this one decrypted and of this one as stored."""
    path = joined(os.path.join(title, rid), ["seg-%d.m4s" % n],
                  os.path.join(scratch, "enc-%s-%d.mp4" % (rid, n)))
    d = subprocess.run(["ffmpeg", "-v", "error", "-decryption_key", key["key"], "-i", path,
                        "-f", "null", "-"], capture_output=True, text=True, timeout=120)
    w = subprocess.run(["ffmpeg", "-v", "error", "-decryption_key", "00" * 16, "-i", path,
                        "-f", "null", "-"], capture_output=True, text=True, timeout=120)
    clear = packet_sums(joined(os.path.join(origin, "enc1c", rid), ["seg-%d.m4s" % n],
                               os.path.join(scratch, "clr-%s-%d.mp4" % (rid, n))))
    return d, w, clear, packet_sums(path, key["key"]), packet_sums(path)


def encrypted_checks(origin, scratch, title, key):
    asset = json.load(open(os.path.join(title, "asset.json")))
    check(asset["encryption"] and asset["encryption"]["kid"] == key["kid"], "asset names the KID")
    check(asset["encryption"]["scheme"] == "cenc", "cenc scheme")
    # the key itself is nowhere in the origin
    raw = bytes.fromhex(key["key"])
    for d, _, names in os.walk(origin):
        for n in names:
            data = open(os.path.join(d, n), "rb").read()
            check(raw not in data and key["key"].encode() not in data, "key not in " + n)
    segs = [(rid, n) for rid in ("video-240p", "audio-en") for n in (1, 2)]
    runs = dict(zip(segs, in_parallel(lambda s: decrypt_runs(origin, scratch, title, key, *s),
                                      segs)))
    for rid in ("video-240p", "audio-en"):
        init = open(os.path.join(title, rid, "init.mp4"), "rb").read()
        check((b"encv" if rid.startswith("video") else b"enca") in init, rid + " sample entry")
        check(b"tenc" in init and bytes.fromhex(key["kid"]) in init, rid + " tenc with KID")
        check(b"pssh" not in init, rid + " has no pssh")
        for n in (1, 2):
            seg = os.path.join(title, rid, "seg-%d.m4s" % n)
            data = open(seg, "rb").read()
            check(all(b in data for b in (b"senc", b"saiz", b"saio")), rid + " encryption boxes")
            d, w, clear, dec, stored = runs[(rid, n)]
            check(d.returncode == 0 and d.stderr.strip() == "",
                  "%s seg-%d decrypts and decodes: %s" % (rid, n, d.stderr[-300:]))
            if rid.startswith("video"):
                check(w.stderr.strip() != "", rid + " does not decode with the wrong key")
            # decrypting the segment with the key gives back the clear segment's samples, bit
            # for bit (ffmpeg's own CENC reader, independent of ingest's writer)
            check(clear and dec == clear, "%s seg-%d decrypts to the clear samples (%d of %d "
                  "packets equal)" % (rid, n, sum(a == b for a, b in zip(dec or [], clear or [])),
                                      len(clear or [])))
            check(stored != clear, "%s seg-%d is encrypted at all" % (rid, n))


def test_register_down(origin, scratch):
    # nothing listens on port 9 here: control "not there yet"
    token = os.path.join(scratch, "ctl.token")
    with open(token, "w") as f:
        f.write("t0ken\n")
    keyfile = os.path.join(scratch, "reg1.key")
    r = run(["--title", "reg1", "--origin", origin, "--test-source", "4", "--ladder", "240p",
             "--encrypt", "--key-out", keyfile, "--register", "http://127.0.0.1:9",
             "--token-file", token, "--no-progress"] + FAST)
    check(r.returncode == 3 and "cannot register" in r.stderr, "register failure: exit 3, said: "
          + r.stderr[-300:])
    # The command to register later names the key file and the token file, or control
    # refuses it.
    check("--register-only --register URL --title reg1 --origin %s --key-in %s "
          "--token-file %s" % (origin, keyfile, token) in r.stderr,
          "the later command: " + r.stderr[-400:])
    check(os.path.exists(os.path.join(origin, "reg1", "asset.json")), "title published anyway")
    check(r.stdout == "", "the key is not printed: %r" % r.stdout)
    try:
        k = json.load(open(keyfile))
        kid = json.load(open(os.path.join(origin, "reg1", "asset.json")))["encryption"]["kid"]
        check(len(k["key"]) == 32 and k["kid"] == kid, "the title's key in the key file")
    except (OSError, ValueError, KeyError, TypeError):
        check(False, "the key file holds the key")


class FakeControl(BaseHTTPRequestHandler):
    """Records registrations; answers 201 like a control plane would."""
    seen = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        FakeControl.seen.append((self.path, self.headers.get("Authorization"), json.loads(body)))
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_register(origin, scratch):
    srv = HTTPServer(("127.0.0.1", 0), FakeControl)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = "http://127.0.0.1:%d/" % srv.server_port
    token = os.path.join(scratch, "token")
    open(token, "w").write("s3cret\n")
    meta = os.path.join(scratch, "reg2.yaml")
    with open(meta, "w") as f:
        f.write("# sent as control's admin API takes it\n"
                "metadata:\n  name: \"Régime: the second\"\n  year: 2024\n"
                "  genres: [Drama]\n  cast:\n    - {name: A. Person, character: Lead}\n"
                "    - {name: B. Person, role: director}\n"
                "markers: {intro: {start: 0.5, end: 2}}\n")
    try:
        r = run(["--title", "reg2", "--origin", origin, "--test-source", "4", "--ladder", "240p",
                 "--encrypt", "--key-out", os.path.join(scratch, "reg2.key"), "--register", url,
                 "--token-file", token, "--metadata", meta, "--no-progress"] + FAST)
        check(r.returncode == 0, "registration with control: " + r.stderr[-300:])
        check(r.stdout == "", "key not printed: it is in the key file")
        check(len(FakeControl.seen) == 1, "one registration request")
        if FakeControl.seen:
            path, auth, body = FakeControl.seen[-1]
            asset = json.load(open(os.path.join(origin, "reg2", "asset.json")))
            check(path == "/v1/admin/titles" and auth == "Bearer s3cret", "endpoint and token")
            check(body["title"] == "reg2" and body["asset"] == asset, "asset sent as written")
            check(body["key"]["kid"] == asset["encryption"]["kid"] and
                  len(body["key"]["key"]) == 32, "key sent to control")
            check(body.get("metadata") == {
                "name": "Régime: the second", "year": 2024, "genres": ["Drama"],
                "cast": [{"name": "A. Person", "role": "actor", "character": "Lead"},
                         {"name": "B. Person", "role": "director"}]}, "metadata sent: %s" %
                  body.get("metadata"))
            check(body.get("markers") == {"intro": {"start": 0.5, "end": 2.0}} and
                  "series" not in body, "markers sent, no series: %s" % body)
        # a title published while control was down, registered later with its key file
        keyfile = os.path.join(scratch, "reg3.key")
        r = run(["--title", "reg3", "--origin", origin, "--test-source", "4", "--ladder", "240p",
                 "--encrypt", "--key-out", keyfile, "--no-progress"] + FAST)
        check(r.returncode == 0, "reg3 ingest")
        args = ["--register-only", "--register", url, "--title", "reg3", "--origin", origin]
        check(run(args).returncode == 1, "--register-only without the key of an encrypted title")
        r = run(args + ["--key-in", keyfile])
        check(r.returncode == 0, "--register-only: " + r.stderr[-300:])
        if len(FakeControl.seen) == 2:
            check(FakeControl.seen[-1][2]["key"] == {k: v for k, v in json.load(open(keyfile)).items()
                                                     if k != "title"}, "key from --key-in")
            check(set(FakeControl.seen[-1][2]) == {"title", "asset", "key"},
                  "nothing but title, asset and key without --metadata")
        # JSON is read by the same loader; --register-only sends it too.
        ep = os.path.join(scratch, "ep.json")
        with open(ep, "w") as f:
            json.dump({"series": {"id": "show-x", "season": 1, "episode": 3,
                                  "episode_name": "Third"}}, f)
        r = run(args + ["--key-in", keyfile, "--metadata", ep])
        check(r.returncode == 0 and len(FakeControl.seen) == 3 and
              FakeControl.seen[-1][2].get("series") == {"id": "show-x", "season": 1,
                                                         "episode": 3, "episode_name": "Third"},
              "--register-only --metadata FILE.json: " + r.stderr[-300:])
    finally:
        srv.shutdown()


def test_errors(origin, scratch):
    bad = os.path.join(scratch, "corrupt.mp4")
    with open(bad, "wb") as f:
        f.write(b"\x00\x00\x00\x18ftypisom" + os.urandom(4000))
    r = run(["--title", "bad1", "--origin", origin, bad])
    check(r.returncode == 1 and "sluice-ingest: %s: not a media file" % bad in r.stderr,
          "corrupt source: clear error: " + r.stderr)
    check(not os.path.exists(os.path.join(origin, "bad1")) and leftovers(origin) == [],
          "corrupt source leaves nothing")
    txt = os.path.join(scratch, "notes.txt")
    open(txt, "w").write("not a video\n" * 100)
    r = run(["--title", "bad2", "--origin", origin, txt])
    check(r.returncode == 1 and "%s: no video stream" % txt in r.stderr and
          not os.path.exists(os.path.join(origin, "bad2")), "text file refused: " + r.stderr)
    # a real media file, but sound only
    tone = os.path.join(scratch, "tone.m4a")
    mk = subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=duration=3",
                         tone], capture_output=True, timeout=60)
    r = run(["--title", "bad5", "--origin", origin, tone])
    check(mk.returncode == 0 and r.returncode == 1 and "%s: no video stream" % tone in r.stderr
          and not os.path.exists(os.path.join(origin, "bad5")) and leftovers(origin) == [],
          "audio-only file refused: " + r.stderr)

    r = run(["--title", "bad3", "--origin", origin, "--test-source", "4", "--ladder", "240p",
             "--preset", "no-such-preset", "--no-progress"])
    check(r.returncode == 1 and "ffmpeg failed for video-240p" in r.stderr and
          "last lines" in r.stderr, "failed ffmpeg is reported with its output: " + r.stderr[-500:])
    check(not os.path.exists(os.path.join(origin, "bad3")) and leftovers(origin) == [],
          "failed ffmpeg leaves nothing")

    # --metadata: bounded, checked before any encoding, errors with file:line:col
    meta = os.path.join(scratch, "bad-meta.yaml")
    open(meta, "w").write("metadata:\n  name: ok\n  cast:\n    - {name: X, role: gaffer}\n")
    t0 = time.time()
    r = run(["--title", "bad4", "--origin", origin, "--test-source", "60", "--register",
             "http://127.0.0.1:9", "--metadata", meta, "--no-progress"])
    check(r.returncode == 2 and "%s:4:23: 'metadata.cast[0].role' must be" % meta in r.stderr,
          "bad --metadata: usage error at its position: " + r.stderr[-300:])
    check(time.time() - t0 < 10 and not os.path.exists(os.path.join(origin, "bad4")) and
          leftovers(origin) == [], "bad --metadata refused before encoding")
    for text, what in (("metadata: {name: x}\nmetadata: {name: y}\n", "duplicate key"),
                       ("series: {id: s1, season: 1}\n", "needs season and episode"),
                       ("metadata: {year: 1492}\n", "must be between 1870 and 3000"),
                       ("metadata: {name: '%s'}\n" % ("x" * 501), "longer than 500 bytes"),
                       ("metadata: {genres: [%s]}\n" % ",".join(["g"] * 33), "more than 32"),
                       ("markers: {credits: {start: 9, end: 3}}\n", "end must be after start"),
                       ("x: 1\n" * (1 << 18), "larger than 1048576 bytes")):
        open(meta, "w").write(text)
        r = run(["--register-only", "--register", "http://127.0.0.1:9", "--title", "clear1",
                 "--origin", origin, "--metadata", meta])
        check(r.returncode == 2 and what in r.stderr, "--metadata %r...: %s" % (text[:30],
                                                                                  r.stderr[-200:]))
    check(run(["--title", "x", "--origin", origin, "--test-source", "4", "--metadata",
               meta]).returncode == 2, "--metadata without --register is a usage error")

    for args in (["--title", "a/b", "--origin", origin, "--test-source", "4"],
                 ["--title", "x", "--origin", origin],
                 ["--title", "x", "--origin", origin, "--test-source", "4", "--ladder", "999p"],
                 ["--title", "x", "--origin", origin, "--4k", bad]):
        check(run(args).returncode == 2, "usage error for %s" % args)
    check(run(["--help"]).returncode == 0 and "--test-source" in run(["--help"]).stdout, "--help")
    check(run(["--version"]).stdout.startswith("sluice-ingest "), "--version")


def wait_for_segment(origin, deadline):
    while time.time() < deadline:
        for e in leftovers(origin):
            for d, _, names in os.walk(os.path.join(origin, e)):
                if any(n.startswith("seg-") for n in names):
                    return True
        time.sleep(0.05)
    return False


def encoders_of(tmpdirs):
    """ffmpeg processes still writing into one of the given temporary directories."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmd = open("/proc/%s/cmdline" % pid, "rb").read().decode(errors="replace")
        except OSError:
            continue
        if any(t in cmd for t in tmpdirs):
            found.append(int(pid))
    return found


def test_interrupt(origin, scratch):
    for sig in (signal.SIGTERM, signal.SIGKILL):
        p = subprocess.Popen([INGEST, "--title", "int1", "--origin", origin, "--test-source",
                              "120", "--ladder", "240p", "--no-progress"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        ok = wait_for_segment(origin, time.time() + 60)
        check(ok, "encoding started before the signal")
        tmp = leftovers(origin)
        p.send_signal(sig)
        p.wait(timeout=60)
        if sig == signal.SIGTERM:
            check(p.returncode == 130, "SIGTERM exits 130, got %s" % p.returncode)
            check(leftovers(origin) == [], "SIGTERM removes the temporary directory")
        check(not os.path.exists(os.path.join(origin, "int1")), "interrupted run publishes nothing")
        # the encoders die with ingest (parent-death signal), not carry on writing
        deadline = time.time() + 10
        while encoders_of(tmp) and time.time() < deadline:
            time.sleep(0.05)
        check(encoders_of(tmp) == [], "no encoder outlives ingest (%s)" % sig.name)
    # the next run sweeps the directory a killed run left
    r = run(["--title", "after", "--origin", origin, "--test-source", "4", "--ladder", "240p",
             "--no-progress"] + FAST)
    check(r.returncode == 0 and leftovers(origin) == [], "stale temporary directory removed")


def test_stale_hosts(origin, scratch):
    """On an origin shared by several hosts (NFS), a pid names a process of the host that
    made the directory: only this host's stale runs are swept, never another host's."""
    p = subprocess.Popen(["true"])
    p.wait()
    dead = p.pid  # no process of this host has it now
    host = re.sub(r"[^A-Za-z0-9.-]", "_", socket.gethostname()) or "localhost"
    other = ".ingest.%d@%s@t1.AAAAAA" % (dead, "other-host" if host != "other-host" else "x")
    mine = ".ingest.%d@%s@t2.AAAAAA" % (dead, host)
    legacy = ".ingest.%d.t3.AAAAAA" % dead  # named before hosts were: taken as this host's
    for d in (other, mine, legacy):
        os.mkdir(os.path.join(origin, d))
    r = run(["--title", "hosts", "--origin", origin, "--test-source", "4", "--ladder", "240p",
             "--no-progress"] + FAST)
    check(r.returncode == 0, "ingest beside other hosts' temporary directories: %s" % r.stderr)
    check(leftovers(origin) == [other],
          "only this host's dead runs are swept, another host's kept: %s" % leftovers(origin))
    os.rmdir(os.path.join(origin, other))


def main():
    if not shutil.which("ffmpeg") or not shutil.which("ffprobe"):
        print("SKIP: ffmpeg/ffprobe not installed")
        return 77
    with tempfile.TemporaryDirectory(prefix="sluice-ingest-test.") as scratch:
        origin = os.path.join(scratch, "origin")
        os.mkdir(origin)
        # test_encrypted first: its browser check plays in real time beside the others.
        try:
            for t in (test_encrypted, test_clear, test_4k, test_file_source, test_parallel,
                      test_register_down, test_register, test_replace, test_space, test_errors,
                      test_interrupt, test_stale_hosts):
                t0 = time.time()
                t(origin, scratch)
                print("%-16s %.1f s" % (t.__name__, time.time() - t0), flush=True)
        finally:
            t0 = time.time()
            for finish in pending:
                finish()
            print("%-16s %.1f s more" % ("(browser check)", time.time() - t0), flush=True)
    print("%d failures" % len(failures))
    if failures:
        return 1
    for why in skipped:
        print("SKIP:", why)
    return 77 if skipped else 0


if __name__ == "__main__":
    sys.exit(main())
