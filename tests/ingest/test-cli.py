#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""
Quick runs of sluice-ingest on one-second titles (one 240p rung, x264's fastest preset),
for what its command line promises around the encode: where an encrypted title's key goes
and when, and what happens when it cannot go there; what shape a turned source comes out;
which title ids and language tags it takes; who can read what it publishes; what a long
ffprobe answer or a failed sync does; which streams of a source with cover art or many audio
streams are encoded; that names with a ':' are files and that a playlist naming network URLs
fetches nothing; what a late Ctrl-C says; where an encrypted title's key is when the run is
killed while control registers it; what control's 413 to a registration says; when
--token-file is read, and that its token and a --key-in key are in no freed block but
libcurl's; that a source cut short, or a marker past its end, is refused; that a
dangling symlink at the title's path is an existing title; that an interlaced source is
deinterlaced; that audio starting after the video keeps its delay in its timeline.

  test-cli.py PATH/TO/sluice-ingest [TEST...]
  test-cli.py PATH/TO/sluice-ingest --without TEST...

TEST names some of the tests below (test_ may be left off); by default all run; after
--without, all but those (meson runs register_slow, 31 s of waiting, beside other tests, and
the rest alone). Exits 77
when ffmpeg or ffprobe is missing, or when a check could not be made here (it says why).
"""
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import free_scan  # noqa: E402

INGEST = os.path.abspath(sys.argv[1])
failures = []
# Checks this machine could not make, with why: once nothing failed, main() exits 77 with
# them, not 0.
skipped = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, flush=True)
    return cond


def skip(why):
    skipped.append(why)
    print("skip:", why, flush=True)


def run(args, stdout=subprocess.PIPE, **kw):
    return subprocess.run([INGEST] + args, stdout=stdout, stderr=subprocess.PIPE, text=True,
                          timeout=120, **kw)


def tiny(origin):
    """A one-second test title, as small and quick to make as ingest allows."""
    return ["--origin", origin, "--test-source", "1", "--ladder", "240p", "--preset",
            "ultrafast", "--no-progress"]


def ffmpeg(*args):
    return subprocess.run(["ffmpeg", "-v", "error", "-y"] + list(args), capture_output=True,
                          text=True, timeout=60)


def script(path, body):
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + body)
    os.chmod(path, 0o755)
    return path


def test_key_file(origin, scratch):
    """A --key-out file is never replaced, and appears only once its title is published."""
    keys = os.path.join(scratch, "keys")
    os.mkdir(keys)
    k1 = os.path.join(keys, "k1.json")
    r = run(["--title", "key1", "--encrypt", "--key-out", k1] + tiny(origin))
    if not check(r.returncode == 0, "key1 ingest: " + r.stderr[-300:]):
        return
    first = open(k1).read()
    # Another title naming the same file: refused before encoding, the first key kept.
    r = run(["--title", "key2", "--encrypt", "--key-out", k1] + tiny(origin))
    check(r.returncode == 2 and "--key-out %s exists" % k1 in r.stderr and
          "encoded" not in r.stderr, "an existing key file is refused: %d %s" %
          (r.returncode, r.stderr[-300:]))
    check(open(k1).read() == first, "key1's key file is kept")
    check(not os.path.exists(os.path.join(origin, "key2")), "key2 is not published")
    r = run(["--title", "key1", "--replace", "--encrypt", "--key-out", k1] + tiny(origin))
    check(r.returncode == 2 and open(k1).read() == first,
          "--replace does not replace the key file either: " + r.stderr[-300:])

    # A second run of the same title with the same --key-out, which publishes (title and key
    # file) while this one encodes: this one's publish fails, and the key file must still be
    # the one of the title that is published.
    k3 = os.path.join(keys, "k3.json")
    other = '{"title":"key3","kid":"%s","key":"%s"}\n' % ("11" * 16, "22" * 16)
    wrap = script(os.path.join(scratch, "ffmpeg-race"),
                  'if mkdir "%s" 2>/dev/null; then printf \'%%s\' \'%s\' > "%s"; fi\n'
                  'exec "%s" "$@"\n' % (os.path.join(origin, "key3"), other, k3,
                                        shutil.which("ffmpeg")))
    r = run(["--title", "key3", "--encrypt", "--key-out", k3, "--ffmpeg", wrap] + tiny(origin))
    check(r.returncode == 1 and "publishing %s/key3: File exists" % origin in r.stderr,
          "the publish fails: %d %s" % (r.returncode, r.stderr[-300:]))
    check(open(k3).read() == other, "the published title's key file is kept")
    check(sorted(os.listdir(keys)) == ["k1.json", "k3.json"],
          "a failed publish leaves no key file: %s" % sorted(os.listdir(keys)))


def test_key_stdout(origin, scratch):
    """A stdout that cannot take the key fails the run before the title is published, and a
    closed one is refused before encoding."""
    if not os.path.exists("/dev/full"):
        skip("test_key_stdout: no /dev/full, a stdout that cannot take the key not tried")
        return
    with open("/dev/full", "w") as full:
        r = run(["--title", "out1", "--encrypt"] + tiny(origin), stdout=full)
        check(r.returncode == 1 and
              "cannot write the key to stdout: No space left on device" in r.stderr,
              "a full stdout fails the run: %d %s" % (r.returncode, r.stderr[-300:]))
        check(os.listdir(origin) == [], "nothing published without the key: %s" %
              os.listdir(origin))
    # a closed stdout is found before encoding
    r = run(["--title", "out3", "--encrypt"] + tiny(origin), stdout=None,
            preexec_fn=lambda: os.close(1))
    check(r.returncode == 2 and "stdout, where the key goes, is closed" in r.stderr and
          "encoded" not in r.stderr, "a closed stdout is refused: %d %s" %
          (r.returncode, r.stderr[-300:]))
    check(not os.path.exists(os.path.join(origin, "out3")), "out3 is not published")


def test_rotated(origin, scratch):
    """A source stored landscape and shown a quarter turned (a display matrix, as a phone
    writes it) is published portrait, at the shown aspect, not squashed into landscape."""
    plain = os.path.join(scratch, "plain.mp4")
    src = os.path.join(scratch, "portrait.mp4")
    mk = ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x180:rate=10:duration=2", "-c:v",
                "libx264", "-preset", "ultrafast", plain)
    # ffmpeg 5.1's mov muxer turns a rotate tag into the track's display matrix
    if mk.returncode == 0:
        mk = ffmpeg("-i", plain, "-c", "copy", "-metadata:s:v:0", "rotate=90", src)
    if not check(mk.returncode == 0, "make a rotated source: " + mk.stderr[-300:]):
        return
    probe = subprocess.run(["ffprobe", "-v", "error", "-of", "json", "-show_streams", src],
                           capture_output=True, text=True, timeout=60)
    side = json.loads(probe.stdout or "{}").get("streams", [{}])[0].get("side_data_list", [])
    if not check(any(abs(x.get("rotation", 0)) == 90 for x in side),
                 "the source carries a quarter turn: %s" % side):
        return
    r = run(["--title", "rot1", "--origin", origin, "--preset", "ultrafast", "--no-progress",
             src])
    if not check(r.returncode == 0, "rotated source ingest: " + r.stderr[-300:]):
        return
    title = os.path.join(origin, "rot1")
    asset = json.load(open(os.path.join(title, "asset.json")))
    reps = {x["id"]: x for x in asset["representations"]}
    v = reps.get("video-240p", {})
    # 180x320 shown: the 240p rung keeps 9:16
    check((v.get("width"), v.get("height")) == (136, 240),
          "video-240p is 136x240: %sx%s" % (v.get("width"), v.get("height")))
    joined = os.path.join(scratch, "rot1-240p.mp4")
    with open(joined, "wb") as out:
        for name in ("init.mp4", "seg-1.m4s"):
            with open(os.path.join(title, "video-240p", name), "rb") as f:
                out.write(f.read())
    probe = subprocess.run(["ffprobe", "-v", "error", "-of", "json", "-show_streams", joined],
                           capture_output=True, text=True, timeout=60)
    st = json.loads(probe.stdout or "{}").get("streams", [{}])[0]
    check(st.get("width", 0) < st.get("height", 0) and
          st.get("sample_aspect_ratio", "1:1") in ("1:1", "N/A") and
          not any(x.get("rotation") for x in st.get("side_data_list", [])),
          "the published picture is portrait, square pixels, not turned again: %s" %
          {k: st.get(k) for k in ("width", "height", "sample_aspect_ratio", "side_data_list")})


def test_title_id(origin, scratch):
    """A title id control would refuse (its ids start with a letter or digit) is a usage
    error before anything is encoded."""
    for t in ("_x", "-x", "_", "-", "-1-"):
        r = run(["--title=" + t] + tiny(origin))
        check(r.returncode == 2 and "a letter or digit first" in r.stderr and
              "encoded" not in r.stderr, "--title %s refused: %d %s" %
              (t, r.returncode, r.stderr[-300:]))
    r = run(["--register-only", "--register", "http://127.0.0.1:9", "--title=_x",
             "--origin", origin])
    check(r.returncode == 2 and "a letter or digit first" in r.stderr,
          "--register-only --title _x refused: %d %s" % (r.returncode, r.stderr[-300:]))
    check(os.listdir(origin) == [], "nothing made for them: %s" % os.listdir(origin))
    # Control's asset reader takes a title of at most 63 bytes: a longer one would be
    # encoded and published only for its registration to be refused.
    r = run(["--title", "a" * 64] + tiny(origin))
    check(r.returncode == 2 and "1-63 of" in r.stderr and "encoded" not in r.stderr,
          "--title of 64 bytes refused: %d %s" % (r.returncode, r.stderr[-300:]))
    check(os.listdir(origin) == [], "nothing made for it: %s" % os.listdir(origin))
    r = run(["--title", "0a_b-"] + tiny(origin))
    check(r.returncode == 0 and os.path.isdir(os.path.join(origin, "0a_b-")),
          "'_' and '-' after the first: " + r.stderr[-300:])
    r = run(["--title", "b" * 63] + tiny(origin))
    check(r.returncode == 0 and os.path.isdir(os.path.join(origin, "b" * 63)),
          "a title of 63 bytes: " + r.stderr[-300:])


def test_lang_args(origin, scratch):
    """A language tag --audio-lang or --subtitles cannot take (2-15 letters or '-') is a
    usage error that says which, however long: one over 15 letters was refused in silence."""
    vtt = os.path.join(scratch, "s.vtt")
    with open(vtt, "w") as f:
        f.write("WEBVTT\n")
    long16, long40 = "abcdefghijklmnop", "x" * 40
    cases = [(["--audio-lang", long16], "--audio-lang: '%s' is not" % long16),
             (["--audio-lang", "en," + long40], "--audio-lang: '%s' is not" % long40),
             (["--audio-lang", "e1"], "--audio-lang: 'e1' is not"),
             (["--subtitles", long16 + "=" + vtt], "--subtitles: '%s' is not" % long16),
             # Past the eighth, a test source's tones were left out without a word.
             (["--audio-lang", "en,fr,de,es,it,pt,nl,sv,da"],
              "--audio-lang names 9 languages, at most 8 audio representations are made")]
    for args, want in cases:
        r = run(["--title", "t"] + tiny(origin) + args)
        check(r.returncode == 2 and want in r.stderr and "encoded" not in r.stderr,
              "%s refused, saying so: %d %r" % (args, r.returncode, r.stderr[-300:]))
    check(os.listdir(origin) == [], "nothing made for them: %s" % os.listdir(origin))


def test_modes(origin, scratch):
    """A published title is readable by the origin's server, whatever user it runs as: its
    directory has the mode of the renditions' directories (0755 less the umask), not the
    0700 of the temporary directory it was built in; --replace too."""
    for umask, want in ((0o022, 0o755), (0o027, 0o750)):
        t = "m%o" % umask
        for extra in ([], ["--replace"]):
            r = run(["--title", t] + tiny(origin) + extra,
                    preexec_fn=lambda u=umask: os.umask(u))
            if not check(r.returncode == 0, "%s %s: %s" % (t, extra, r.stderr[-300:])):
                continue
            title = os.path.join(origin, t)
            modes = {p: os.stat(os.path.join(origin, p)).st_mode & 0o777
                     for p in [t] + [os.path.join(t, d) for d in os.listdir(title)
                                     if os.path.isdir(os.path.join(title, d))]}
            check(all(m == want for m in modes.values()),
                  "umask %03o %s: directories %o: %s" %
                  (umask, extra, want, {p: "%o" % m for p, m in modes.items()}))


def test_probe_too_long(origin, scratch):
    """An ffprobe answer over ingest's bound (4 MiB) is refused as such, not taken for a
    file ffprobe cannot read: the cut answer's writer died of a closed pipe, which read as
    a failed probe "(no message)"."""
    src = os.path.join(scratch, "src.mkv")
    open(src, "wb").write(b"\0" * 100)
    fake = script(os.path.join(scratch, "ffprobe-long"),
                  "head -c 5000000 /dev/zero | tr '\\0' ' '\necho '{}'\n")
    r = run(["--title", "t", "--origin", origin, "--ffprobe", fake, "--no-progress", src])
    check(r.returncode == 1 and "%s: ffprobe's answer is over 4194304 bytes" % src in r.stderr,
          "a long ffprobe answer refused as such: %d %r" % (r.returncode, r.stderr[-300:]))
    check(os.listdir(origin) == [], "nothing made for it: %s" % os.listdir(origin))


def test_probe_missing(origin, scratch):
    """An ffprobe that cannot be run is said to be so, not taken for a source it cannot
    read (the exec guard starts whatever the name, and exits 127 when the exec fails)."""
    src = os.path.join(scratch, "src.mkv")
    open(src, "wb").write(b"\0" * 100)
    missing = os.path.join(scratch, "no-such-ffprobe")
    r = run(["--title", "t", "--origin", origin, "--ffprobe", missing, "--no-progress", src])
    check(r.returncode == 1 and "cannot run %s" % missing in r.stderr
          and "not a media file" not in r.stderr,
          "a missing ffprobe named as such: %d %r" % (r.returncode, r.stderr[-300:]))
    check(os.listdir(origin) == [], "nothing made for it: %s" % os.listdir(origin))
    r = run(["--title", "t2", "--ffmpeg", missing + "-mpeg"] + tiny(origin))
    check(r.returncode != 0 and "cannot run %s-mpeg for " % missing in r.stderr,
          "a missing ffmpeg named as such: %d %r" % (r.returncode, r.stderr[-300:]))


def test_sync_failed(origin, scratch):
    """A title whose files may not have reached the disk is not published: with syncfs
    failing (a shim preloaded, as on a disk that lost writes) the run fails, nothing is
    published, no temporary directory is left and no key file appears."""
    shim = os.environ.get("SLUICE_SYNCFS_SHIM")
    if not shim or not os.path.exists(shim):
        skip("test_sync_failed: the syncfs shim is needed (meson builds it and names it in "
             "SLUICE_SYNCFS_SHIM): a failed sync not tried")
        return
    # Only ingest gets the shim: it takes itself out of the environment of what ingest
    # starts. In a sanitizer build the sanitizer's runtime then is not first in line.
    asan = os.environ.get("ASAN_OPTIONS")
    env = dict(os.environ, LD_PRELOAD=shim,
               ASAN_OPTIONS=(asan + ":" if asan else "") + "verify_asan_link_order=0")
    key = os.path.join(scratch, "k.json")
    r = run(["--title", "s1"] + tiny(origin) + ["--encrypt", "--key-out", key], env=env)
    check(r.returncode == 1 and "publishing" in r.stderr and "Input/output error" in r.stderr
          and "published " not in r.stderr,
          "a failed sync fails the run: %d %r" % (r.returncode, r.stderr[-300:]))
    check(os.listdir(origin) == [], "nothing published or left: %s" % os.listdir(origin))
    check(sorted(os.listdir(scratch)) == ["origin"], "no key file: %s" % os.listdir(scratch))


def test_rename_flagless(origin, scratch):
    """Where renameat2 takes no flags (NFS, FUSE: EINVAL; a shim preloaded plays that), a
    title is still published, an existing one refused and replaced with --replace, and the
    key file put in place. Every run failed there after its whole encode ("publishing DIR/ID:
    Invalid argument")."""
    shim = os.environ.get("SLUICE_RENAME_SHIM")
    if not shim or not os.path.exists(shim):
        skip("test_rename_flagless: the rename shim is needed (meson builds it and names it "
             "in SLUICE_RENAME_SHIM): a filesystem without rename flags not tried")
        return
    asan = os.environ.get("ASAN_OPTIONS")
    env = dict(os.environ, LD_PRELOAD=shim,
               ASAN_OPTIONS=(asan + ":" if asan else "") + "verify_asan_link_order=0")
    key = os.path.join(scratch, "k.json")
    title = os.path.join(origin, "nf")
    r = run(["--title", "nf"] + tiny(origin) + ["--encrypt", "--key-out", key], env=env)
    if not check(r.returncode == 0 and os.path.isfile(os.path.join(title, "asset.json")),
                 "published: %d %r" % (r.returncode, r.stderr[-300:])):
        return
    check(os.path.isfile(key) and json.load(open(key)).get("title") == "nf",
          "the key file in place: %s" % os.listdir(scratch))
    first = open(os.path.join(title, "asset.json")).read()
    # A title that appears while this run encodes (an empty directory, which rename(2) would
    # take the place of) is kept, and this run fails to publish.
    other = os.path.join(origin, "nf2")
    wrap = script(os.path.join(scratch, "ffmpeg-race"),
                  'mkdir "%s" 2>/dev/null\nexec "%s" "$@"\n' % (other, shutil.which("ffmpeg")))
    r = run(["--title", "nf2", "--ffmpeg", wrap] + tiny(origin), env=env)
    check(r.returncode == 1 and "publishing %s: File exists" % other in r.stderr,
          "a title made meanwhile: %d %r" % (r.returncode, r.stderr[-300:]))
    check(os.listdir(other) == [], "that title left as it was: %s" % os.listdir(other))
    r = run(["--title", "nf"] + tiny(origin) + ["--replace"], env=env)
    check(r.returncode == 0, "--replace: %d %r" % (r.returncode, r.stderr[-300:]))
    check(os.path.isfile(os.path.join(title, "asset.json")) and
          open(os.path.join(title, "asset.json")).read() != first, "the new title in place")
    check(sorted(os.listdir(origin)) == ["nf", "nf2"],
          "the old title removed, nothing left: %s" % os.listdir(origin))


def slice_header_bits(init, seg, key, scratch):
    """Bits of each coded slice's header (its NAL header byte included), in order, as
    ffmpeg's trace_headers reads them from the segment decrypted with key."""
    joined = os.path.join(scratch, "joined.mp4")
    with open(joined, "wb") as f:
        f.write(open(init, "rb").read() + open(seg, "rb").read())
    r = subprocess.run(["ffmpeg", "-v", "trace", "-decryption_key", key, "-i", joined, "-c",
                        "copy", "-bsf:v", "trace_headers", "-f", "null", "-"],
                       capture_output=True, text=True, timeout=120)
    ends, inside = [], False
    for line in r.stderr.splitlines():
        if "trace_headers" not in line:
            continue
        m = re.search(r"\] (\d+) +\S+ +([01]+) = ", line)
        if line.endswith("Slice Header"):
            inside = True
            ends.append(0)
        elif m and inside:
            ends[-1] = max(ends[-1], int(m.group(1)) + len(m.group(2)))
        else:
            inside = False
    return ends


def slice_clear_bytes(seg):
    """Clear bytes at the start of each coded slice NAL unit (after its length), in order,
    from the segment's trun and senc."""
    b = open(seg, "rb").read()

    def boxes(off, end):
        while off + 8 <= end:
            size, kind = struct.unpack(">I4s", b[off:off + 8])
            yield kind, off + 8, off + size
            off += size

    out = []
    for kind, body, end in boxes(0, len(b)):
        if kind != b"moof":
            continue
        for k2, tbody, tend in boxes(body, end):
            if k2 != b"traf":
                continue
            sizes, data, samples = [], 0, []
            for k3, p, _ in boxes(tbody, tend):
                if k3 == b"trun":
                    fl, n = struct.unpack(">II", b[p:p + 8])
                    data = body - 8 + struct.unpack(">i", b[p + 8:p + 12])[0]
                    q = p + 12 + (4 if fl & 4 else 0)
                    for _ in range(n):
                        q += 4 if fl & 0x100 else 0
                        sizes.append(struct.unpack(">I", b[q:q + 4])[0])
                        q += 4 + (4 if fl & 0x400 else 0) + (4 if fl & 0x800 else 0)
                elif k3 == b"senc":
                    q = p + 8
                    for _ in range(struct.unpack(">I", b[p + 4:p + 8])[0]):
                        count = struct.unpack(">H", b[q + 8:q + 10])[0]
                        samples.append([struct.unpack(">HI", b[q + 10 + 6 * j:q + 16 + 6 * j])
                                        for j in range(count)])
                        q += 10 + 6 * count
            for size, pairs in zip(sizes, samples):
                prot, cur = [], 0
                for c, n in pairs:
                    if n:
                        prot.append(cur + c)
                    cur += c + n
                pos = 0
                while pos < size:
                    n = struct.unpack(">I", b[data + pos:data + pos + 4])[0]
                    a = pos + 4
                    if 1 <= b[data + a] & 0x1f <= 5:
                        out.append(min([x - a for x in prot if a <= x < a + n] or [n]))
                    pos = a + n
                data += size
    return out


def test_slice_headers_clear(origin, scratch):
    """Each coded slice's whole header stays clear in an encrypted title, however long x264
    makes it: with --preset veryslow over fades (reference list changes, prediction weights)
    headers run past the 32 bytes that were all that was sure to be left clear, and their
    tails were encrypted. ffmpeg's trace of the decrypted slices gives each header's
    length."""
    # Four fades in and out: some 50 of the 400 slices get headers over 32 bytes, and the
    # 32 bytes and the rest of an AES block left clear before fell short of several.
    clip, src = os.path.join(scratch, "clip.mp4"), os.path.join(scratch, "fade.mp4")
    made = ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=4,"
                  "fade=t=in:st=0:d=1.6,fade=t=out:st=2.4:d=1.6", "-c:v", "libx264", "-preset",
                  "ultrafast", clip)
    if made.returncode == 0:
        made = ffmpeg("-stream_loop", "3", "-i", clip, "-c", "copy", src)
    if not check(made.returncode == 0, "source made: " + made.stderr[-300:]):
        return
    key = os.path.join(scratch, "k.json")
    r = run(["--title", "fade", "--origin", origin, "--ladder", "240p", "--preset", "veryslow",
             "--threads", "1", "--no-progress", "--encrypt", "--key-out", key, src])
    if not check(r.returncode == 0, "encrypted: %d %r" % (r.returncode, r.stderr[-300:])):
        return
    rep = os.path.join(origin, "fade", "video-240p")
    longest, seg = 0, 1
    while os.path.exists(os.path.join(rep, "seg-%d.m4s" % seg)):
        path = os.path.join(rep, "seg-%d.m4s" % seg)
        bits = slice_header_bits(os.path.join(rep, "init.mp4"), path,
                                 json.load(open(key))["key"], scratch)
        clear = slice_clear_bytes(path)
        check(len(bits) == len(clear) and bits, "seg-%d: %d slices traced, %d in senc" %
              (seg, len(bits), len(clear)))
        short = [(i, e, c) for i, (e, c) in enumerate(zip(bits, clear)) if 8 * c < e]
        check(not short, "seg-%d: slice headers partly encrypted (slice, bits, clear "
              "bytes): %s" % (seg, short[:4]))
        # no more clear than the header (or 32 bytes), rounded to whole AES blocks
        loose = [(i, e, c) for i, (e, c) in enumerate(zip(bits, clear))
                 if c > max(32, (e + 7) // 8) + 17]
        check(not loose, "seg-%d: slices left clear past their headers: %s" % (seg, loose[:4]))
        longest = max([longest] + bits)
        seg += 1
    check(seg > 1 and longest > 256, "headers over 32 bytes made: %d bits at most" % longest)


def udta_first(src, dst):
    """Copy the MP4 src to dst with moov's udta moved before its traks: ffmpeg then lists the
    cover art udta holds as the first video stream, as some files have it."""
    b = open(src, "rb").read()

    def boxes(off, end):
        while off < end:
            size, kind = struct.unpack(">I4s", b[off:off + 8])
            hdr = 8
            if size == 1:
                size, hdr = struct.unpack(">Q", b[off + 8:off + 16])[0], 16
            elif size == 0:
                size = end - off
            yield kind, off, size, hdr
            off += size

    out = bytearray()
    for kind, off, size, hdr in boxes(0, len(b)):
        if kind != b"moov":
            out += b[off:off + size]
            continue
        kids = list(boxes(off + hdr, off + size))
        out += b[off:off + hdr]
        for k in sorted(kids, key=lambda k: k[0] != b"udta"):
            out += b[k[1]:k[1] + k[2]]
    open(dst, "wb").write(out)


def test_cover_art(origin, scratch):
    """A source whose first video stream is its cover art (an attached picture) gets its
    video encoded, the stream the probe described: ffmpeg's first video stream made a video
    rendition of the still picture, one segment long, under the film's size."""
    film, cover = os.path.join(scratch, "film.mp4"), os.path.join(scratch, "cover.png")
    with_cover, src = os.path.join(scratch, "with-cover.mp4"), os.path.join(scratch, "src.mp4")
    made = [ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=9", "-f",
                   "lavfi", "-i", "sine=duration=9", "-c:v", "libx264", "-preset",
                   "ultrafast", "-c:a", "aac", "-shortest", film),
            ffmpeg("-f", "lavfi", "-i", "color=red:size=600x600", "-frames:v", "1", cover),
            ffmpeg("-i", film, "-i", cover, "-map", "1", "-map", "0", "-c", "copy",
                   "-disposition:v:0", "attached_pic", with_cover)]
    if not check(all(m.returncode == 0 for m in made),
                 "source made: %s" % [m.stderr[-200:] for m in made]):
        return
    udta_first(with_cover, src)
    st = subprocess.run(["ffprobe", "-v", "error", "-show_entries",
                         "stream=index,width:stream_disposition=attached_pic", "-of", "json",
                         src], capture_output=True, text=True, timeout=60)
    streams = json.loads(st.stdout or "{}").get("streams", [])
    if not check([(x.get("width"), x["disposition"]["attached_pic"]) for x in streams][:2] ==
                 [(600, 1), (320, 0)], "cover art is the first video stream: %s" % streams):
        return
    r = run(["--title", "cov", "--origin", origin, "--ladder", "240p", "--preset", "ultrafast",
             "--no-progress", src])
    if not check(r.returncode == 0, "ingest of a source with cover art: " + r.stderr[-300:]):
        return
    reps = {x["id"]: x for x in
            json.load(open(os.path.join(origin, "cov", "asset.json")))["representations"]}
    video = reps.get("video-240p", {})
    check(video.get("segment_count") == 3 and video.get("width") == 320,
          "the film is encoded, 3 segments of 9 s at 320x240: %s" %
          {k: video.get(k) for k in ("segment_count", "width", "height")})


def test_many_audio(origin, scratch):
    """A source with more audio streams than ingest encodes (8) says it leaves the rest out,
    where it dropped them without a word."""
    src = os.path.join(scratch, "nine.mkv")
    args = ["-f", "lavfi", "-i", "testsrc2=size=160x120:rate=25:duration=1"]
    for i in range(9):
        args += ["-f", "lavfi", "-i", "sine=frequency=%d:duration=1" % (300 + 50 * i)]
    for i in range(10):
        args += ["-map", str(i)]
    made = ffmpeg(*(args + ["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", src]))
    if not check(made.returncode == 0, "source made: " + made.stderr[-300:]):
        return
    r = run(["--title", "nine", "--origin", origin, "--ladder", "240p", "--preset",
             "ultrafast", "--no-progress", src])
    check(r.returncode == 0 and
          "%s has 9 audio streams; encoding the first 8, ignoring the rest" % src in r.stderr,
          "the ninth audio stream's omission said: %d %r" % (r.returncode, r.stderr[-400:]))
    if r.returncode == 0:
        reps = json.load(open(os.path.join(origin, "nine", "asset.json")))["representations"]
        check(sum(x["type"] == "audio" for x in reps) == 8, "8 audio representations")
    # Ten languages for nine streams is a usage error, as three for two is: the names past
    # the eighth were not looked at.
    r = run(["--title", "ten", "--origin", origin, "--ladder", "240p", "--no-progress",
             "--audio-lang", "en,fr,de,es,it,pt,nl,sv,da,fi", src])
    check(r.returncode == 2 and "--audio-lang names 10 languages, the source has 9 audio "
          "streams" in r.stderr, "ten names refused: %d %r" % (r.returncode, r.stderr[-300:]))


def test_colon_names(origin, scratch):
    """Names with a ':' are files like any other, never taken for an ffmpeg protocol: a
    source, a subtitle file and an origin, given relative to the working directory."""
    work = os.path.join(scratch, "work")
    os.mkdir(work)
    mk = ffmpeg("-f", "lavfi", "-i", "testsrc2=size=160x90:rate=10:duration=2", "-f",
                "lavfi", "-i", "sine=duration=2", "-c:v", "libx264", "-preset", "ultrafast",
                "-c:a", "aac", os.path.join(work, "ep1:final.mp4"))
    if not check(mk.returncode == 0, "make a source: " + mk.stderr[-300:]):
        return
    with open(os.path.join(work, "en:subs.vtt"), "w") as f:
        f.write("WEBVTT\n\n00:00:00.500 --> 00:00:01.500\nColon\n")
    os.mkdir(os.path.join(work, "o:1"))
    r = run(["--title", "col1", "--origin", "o:1", "--preset", "ultrafast", "--no-progress",
             "--subtitles", "en=en:subs.vtt", "ep1:final.mp4"], cwd=work)
    if not check(r.returncode == 0, "source, subtitles and origin named with ':': " +
                 r.stderr[-400:]):
        return
    title = os.path.join(work, "o:1", "col1")
    asset = json.load(open(os.path.join(title, "asset.json")))
    check(sorted(x["id"] for x in asset["representations"]) == ["audio-und", "video-240p"] and
          [x["id"] for x in asset["subtitles"]] == ["text-en"],
          "every track made: %s" % asset["representations"])
    check("Colon" in open(os.path.join(title, "text-en", "subtitles.vtt")).read(),
          "the subtitle file read")


def test_no_network_source(origin, scratch):
    """A source that is a playlist naming a network URL is refused without any connection
    being made: ingest reads files, and ffmpeg would otherwise fetch what the playlist says."""
    import socket
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(4)
    ls.settimeout(0.5)
    port = ls.getsockname()[1]
    src = os.path.join(scratch, "remote.m3u8")
    with open(src, "w") as f:
        f.write("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n"
                f"#EXTINF:2.0,\nhttp://127.0.0.1:{port}/seg-0.ts\n#EXT-X-ENDLIST\n")
    r = run(["--title", "net1", "--origin", origin, "--preset", "ultrafast", "--no-progress",
             src])
    try:
        c, _ = ls.accept()
        c.close()
        connected = True
    except OSError:
        connected = False
    ls.close()
    check(r.returncode != 0, "a playlist of network URLs is not ingested")
    check(not connected, "ingest made no connection for the playlist's URL")
    check(not os.path.exists(os.path.join(origin, "net1")), "nothing published")


class InterruptingControl(BaseHTTPRequestHandler):
    """A control that, on a registration, sends SIGINT to ingest (pid, once it is known)
    before answering, as Ctrl-C pressed while ingest waits for control would."""
    pid = None
    known = threading.Event()
    seen = 0

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        InterruptingControl.known.wait(60)
        os.kill(InterruptingControl.pid, signal.SIGINT)
        InterruptingControl.seen += 1
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_interrupt_late(origin, scratch):
    """SIGINT once the title is published (here while control registers it) does not undo
    the run, and ingest says what it did rather than "nothing published"."""
    srv = HTTPServer(("127.0.0.1", 0), InterruptingControl)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        p = subprocess.Popen([INGEST, "--title", "late1", "--register",
                              "http://127.0.0.1:%d" % srv.server_port] + tiny(origin),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        InterruptingControl.pid = p.pid
        InterruptingControl.known.set()
        _, err = p.communicate(timeout=120)
    finally:
        srv.shutdown()
    check(InterruptingControl.seen == 1, "one registration, interrupted")
    check(os.path.isdir(os.path.join(origin, "late1")), "the title stays published")
    check(p.returncode == 0 and "nothing published" not in err and
          "interrupted too late to stop: %s/late1 is published and registered" % origin in err,
          "says what it published: %d %s" % (p.returncode, err[-300:]))


class HoldingControl(BaseHTTPRequestHandler):
    """A control that takes a registration in and holds it unanswered until released, as a
    slow database or a retried connection does: ingest is then killed while it waits."""
    held = threading.Event()
    release = threading.Event()

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        HoldingControl.held.set()
        HoldingControl.release.wait(120)
        try:
            self.send_response(201)
            self.send_header("Content-Length", "0")
            self.end_headers()
        except OSError:
            pass  # ingest is gone

    def log_message(self, *args):
        pass


def key_kept(origin, title, stdout, keys):
    """Whether the key of the published TITLE is on STDOUT or in a file under KEYS."""
    kid = json.load(open(os.path.join(origin, title, "asset.json")))["encryption"]["kid"]
    texts = [stdout] + [open(os.path.join(keys, n)).read() for n in os.listdir(keys)]
    for line in "\n".join(texts).splitlines():
        try:
            k = json.loads(line)
        except ValueError:
            continue
        if isinstance(k, dict) and k.get("kid") == kid and re.fullmatch("[0-9a-f]{32}",
                                                                        k.get("key", "")):
            return True
    return False


def test_key_kill_registering(origin, scratch):
    """SIGKILL while control holds the registration of an encrypted title: a title that is
    published has its key outside the process, in the --key-out file (0600); a run without
    --key-out, whose key only control would have had, is refused before encoding."""
    keys = os.path.join(scratch, "keys")
    os.mkdir(keys)
    srv = HTTPServer(("127.0.0.1", 0), HoldingControl)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = "http://127.0.0.1:%d" % srv.server_port
    try:
        for title, extra in (("kill1", []),
                             ("kill2", ["--key-out", os.path.join(keys, "kill2.json")])):
            HoldingControl.held.clear()
            p = subprocess.Popen([INGEST, "--title", title, "--encrypt", "--register", url] +
                                 extra + tiny(origin), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
            while not HoldingControl.held.wait(0.2) and p.poll() is None:
                pass
            if HoldingControl.held.is_set():
                p.kill()
            out, err = p.communicate(timeout=120)
            published = os.path.isdir(os.path.join(origin, title))
            check(not published or key_kept(origin, title, out, keys),
                  "%s: killed while control held the registration, published with its key "
                  "nowhere" % title)
            if extra:
                check(published and p.returncode == -signal.SIGKILL,
                      "%s: killed while registering: %s %s" % (title, p.returncode, err[-300:]))
                kf = extra[1]
                check(os.path.exists(kf) and os.stat(kf).st_mode & 0o777 == 0o600,
                      "%s: the --key-out file is in place, 0600" % title)
            else:
                check(p.returncode == 2 and not published and "encoded" not in err and
                      "--encrypt with --register needs --key-out" in err,
                      "%s: --encrypt --register without --key-out refused before encoding: "
                      "%s %s" % (title, p.returncode, err[-300:]))
    finally:
        HoldingControl.release.set()
        srv.shutdown()


class SmallControl(BaseHTTPRequestHandler):
    """A control whose max_admin_body is less than any registration: 413 before the body."""
    def do_POST(self):
        self.send_response(413)
        self.send_header("Content-Type", "application/json")
        self.send_header("Connection", "close")
        body = b'{"error":"payload_too_large","detail":"body over max_body"}'
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_register_too_large(origin, scratch):
    """A registration control refuses as too large (413: a long title's asset.json is over
    control's max_admin_body) says so, with the size to make room for; the title stays published
    and the exit status is 3."""
    srv = HTTPServer(("127.0.0.1", 0), SmallControl)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        r = run(["--title", "big1", "--register", "http://127.0.0.1:%d" % srv.server_port] +
                tiny(origin))
    finally:
        srv.shutdown()
    check(r.returncode == 3 and os.path.isdir(os.path.join(origin, "big1")),
          "published, not registered: %d" % r.returncode)
    size = len(json.dumps({"title": "big1", "asset": json.load(open(os.path.join(
        origin, "big1", "asset.json")))}, separators=(",", ":")))
    want = "answered 413: the registration's %d bytes are more than its max_admin_body" % size
    check(want in r.stderr, "413 explained (%r): %r" % (want, r.stderr[-400:]))


class SlowControl(BaseHTTPRequestHandler):
    """A control that takes 31 s to answer a registration, within its default admin_timeout
    (60 s): it answers 201 then."""
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        time.sleep(31)  # past the 30 s ingest used to allow the whole exchange
        self.send_response(201)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_register_slow(origin, scratch):
    """A registration control answers after 31 s is taken (exit 0): control bounds admin
    writes by its own database_pool.admin_timeout (60 s by default, raised for long titles),
    and ingest gave up after 30 s, reporting a failure (exit 3) for a title control stored."""
    srv = HTTPServer(("127.0.0.1", 0), SlowControl)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        r = run(["--title", "slow1", "--register", "http://127.0.0.1:%d" % srv.server_port] +
                tiny(origin))
    finally:
        srv.shutdown()
    check(r.returncode == 0 and "cannot register" not in r.stderr,
          "a slow control's 201 taken: %d %r" % (r.returncode, r.stderr[-300:]))


def test_key_flags_alone(origin, scratch):
    """--key-out without --encrypt, and --key-in without --register-only, are usage errors
    before anything is encoded: the first published a clear title and wrote no key, the second
    ignored the key, both with exit 0."""
    for args, want in ((["--key-out", os.path.join(scratch, "k.json")],
                        "--key-out writes the key of --encrypt"),
                       (["--key-in", os.path.join(scratch, "k.json")],
                        "--key-in is for --register-only")):
        r = run(["--title", "kf1"] + tiny(origin) + args)
        check(r.returncode == 2 and want in r.stderr and "encoded" not in r.stderr,
              "%s alone refused: %d %r" % (args[0], r.returncode, r.stderr[-300:]))
    check(os.listdir(origin) == [], "nothing made: %s" % os.listdir(origin))


def test_token_file(origin, scratch):
    """A --token-file that cannot be read, or whose first line holds a NUL byte, is a usage
    error before anything is encoded, as a bad --metadata is: it was read only to register,
    after the whole encode (exit 3)."""
    long_token = os.path.join(scratch, "long.token")
    open(long_token, "w").write("t" * 600)
    for path, why in ((os.path.join(scratch, "missing.token"), "No such file or directory"),
                      (scratch, "Invalid argument"), (long_token, "longer than 511 bytes")):
        r = run(["--title", "tok1", "--register", "http://127.0.0.1:9", "--token-file", path] +
                tiny(origin))
        check(r.returncode == 2 and "--token-file %s: cannot read: %s" % (path, why) in r.stderr
              and "encoded" not in r.stderr,
              "unreadable --token-file %s refused first: %d %r" %
              (path, r.returncode, r.stderr[-300:]))
    # A NUL byte on the first line: refused naming the file, as edge, control and sluice-fill
    # do, where the token was cut at it and sent.
    nul_token = os.path.join(scratch, "nul.token")
    open(nul_token, "wb").write(b"t" * 16 + b"\0more\n")
    r = run(["--title", "tok1", "--register", "http://127.0.0.1:9", "--token-file", nul_token] +
            tiny(origin))
    check(r.returncode == 2 and
          "--token-file %s: its first line holds a NUL byte" % nul_token in r.stderr and
          "encoded" not in r.stderr,
          "--token-file with a NUL byte refused first: %d %r" % (r.returncode, r.stderr[-300:]))
    r = run(["--register-only", "--register", "http://127.0.0.1:9", "--title", "tok1",
             "--origin", origin, "--token-file", os.path.join(scratch, "missing.token")])
    check(r.returncode == 2 and "cannot read" in r.stderr,
          "--register-only too: %d %r" % (r.returncode, r.stderr[-300:]))
    # The same 600 bytes in $SLUICE_CONTROL_TOKEN: refused alike, where they were cut to 511
    # and sent after the encode. 511 are taken.
    env = dict(os.environ, SLUICE_CONTROL_TOKEN="t" * 600)
    for args in (["--title", "tok2", "--register", "http://127.0.0.1:9"] + tiny(origin),
                 ["--register-only", "--register", "http://127.0.0.1:9", "--title", "tok2",
                  "--origin", origin]):
        r = run(args, env=env)
        check(r.returncode == 2 and "$SLUICE_CONTROL_TOKEN: longer than 511 bytes" in r.stderr
              and "encoded" not in r.stderr,
              "a long $SLUICE_CONTROL_TOKEN refused first: %d %r" %
              (r.returncode, r.stderr[-300:]))
    r = run(["--register-only", "--register", "http://127.0.0.1:9", "--title", "tok2",
             "--origin", origin], env=dict(os.environ, SLUICE_CONTROL_TOKEN="t" * 511))
    check(r.returncode == 1 and "longer than" not in r.stderr,
          "511 bytes taken: %d %r" % (r.returncode, r.stderr[-300:]))
    check(os.listdir(origin) == [], "nothing made: %s" % os.listdir(origin))


class TakingControl(BaseHTTPRequestHandler):
    """A control that takes every registration: 201."""
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def register_scanned(scratch, args, markers, what):
    """Run ingest with args and --register at a control taking every registration, with
    tests/integration/free-scan-shim.c preloaded searching for markers (0 what only the request
    as libcurl wrote it holds, 1 the secret: free_scan.as_sent), and check that the secret was
    in no freed block but that request's, which must be found (the shim searched)."""
    report = os.path.join(scratch, "free-scan.txt")
    srv = HTTPServer(("127.0.0.1", 0), TakingControl)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        r = run(args + ["--register", "http://127.0.0.1:%d" % srv.server_port],
                env=dict(os.environ, **free_scan.env(report, markers)))
    finally:
        srv.shutdown()
    check(r.returncode == 0, "registered: %d %r" % (r.returncode, r.stderr[-300:]))
    sent, kept = free_scan.as_sent(report)
    check(sent, "%s in the request libcurl sent was not found in a freed block: the shim "
                "searched nothing" % what)
    check(not kept, "%d freed block(s) held %s outside the request: %s" %
          (len(kept), what, kept[:4]))


def test_token_wipe(origin, scratch):
    """The --token-file token is wiped from every block ingest frees (docs/ingest.md): a
    registration leaves it only in libcurl's buffer of the request it wrote, where "\r\n"
    ends its line; the file's bytes and the header line ingest hands libcurl are wiped."""
    why = free_scan.unusable(INGEST)
    if why:
        skip(why)
        return
    token = "ingest-token-marker-0a1b2c3d4e5f6789"
    path = os.path.join(scratch, "wipe.token")
    with open(path, "w") as f:
        f.write(token + "\n")
    register_scanned(scratch, ["--title", "wipe1", "--token-file", path] + tiny(origin),
                     ("Bearer %s\r\n" % token, token), "the token")


def test_key_wipe(origin, scratch):
    """An encrypted title's content key, read back from --key-in to register the title, is
    wiped from every block ingest frees (docs/ingest.md): the key file's bytes, the JSON
    library's copies and the registration's body. Only libcurl's buffer of the request it
    wrote (its request line there too) may hold it."""
    why = free_scan.unusable(INGEST)
    if why:
        skip(why)
        return
    key_file = os.path.join(scratch, "kw.json")
    r = run(["--title", "kw1", "--encrypt", "--key-out", key_file] + tiny(origin))
    if not check(r.returncode == 0, "kw1 published: %d %r" % (r.returncode, r.stderr[-300:])):
        return
    with open(key_file) as f:
        key = json.load(f)["key"]
    register_scanned(scratch, ["--register-only", "--title", "kw1", "--origin", origin,
                               "--key-in", key_file],
                     ("POST /v1/admin/titles HTTP/", key), "the content key")


def test_cut_short(origin, scratch):
    """A source that encodes to less than its probed duration is refused (exit 1), nothing
    published: a truncated MKV whose header still says 8 s, and an MP4 whose video stops 2 s
    before its audio. One whose video stops half a second before its audio is published, its
    duration that of the rendition that ends first. Such titles were published whole, exit 0,
    and their MPD named segments never written."""
    full = os.path.join(scratch, "full8.mkv")
    cut = os.path.join(scratch, "cut.mkv")
    check(ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25:duration=8", "-f", "lavfi",
                 "-i", "sine=d=8", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac",
                 full).returncode == 0, "ffmpeg full8.mkv")
    with open(full, "rb") as f:
        data = f.read()
    with open(cut, "wb") as f:
        f.write(data[:len(data) // 2])
    v2a4 = os.path.join(scratch, "v2a4.mp4")
    v3a35 = os.path.join(scratch, "v3a35.mp4")
    for path, v, a in ((v2a4, 2, 4), (v3a35, 3, 3.5)):
        check(ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25:duration=%s" % v,
                     "-f", "lavfi", "-i", "sine=d=%s" % a, "-c:v", "libx264", "-preset",
                     "ultrafast", "-c:a", "aac", path).returncode == 0, "ffmpeg %s" % path)
    for title, src, rep in (("cut", cut, "video-240p"), ("v2a4", v2a4, "video-240p")):
        r = run(["--title", title, "--origin", origin, "--ladder", "240p", "--preset",
                 "ultrafast", "--no-progress", src])
        check(r.returncode == 1 and "checking the output: %s: " % rep in r.stderr and
              "encoded of the source's" in r.stderr and "published" not in r.stderr,
              "%s refused: %d %r" % (title, r.returncode, r.stderr[-300:]))
    check(os.listdir(origin) == [], "nothing published: %s" % os.listdir(origin))
    r = run(["--title", "v3a35", "--origin", origin, "--ladder", "240p", "--preset",
             "ultrafast", "--no-progress", v3a35])
    check(r.returncode == 0, "v3a35 published: %d %r" % (r.returncode, r.stderr[-300:]))
    if r.returncode == 0:
        with open(os.path.join(origin, "v3a35", "asset.json")) as f:
            a = json.load(f)
        ends = {x["id"]: (x["segments"][-1]["t"] + x["segments"][-1]["d"]) / x["timescale"]
                for x in a["representations"]}
        check(abs(a["duration"] - ends["video-240p"]) < 0.002 and
              all(a["duration"] <= e for e in ends.values()),
              "duration %s is where the first rendition ends: %s" % (a["duration"], ends))


def test_marker_past_end(origin, scratch):
    """A --metadata marker that ends past the source is a usage error (exit 2) naming the
    marker, before anything is encoded: it was found only by control's 400 after the encode
    (exit 3, the reason not shown)."""
    meta = os.path.join(scratch, "meta.yaml")
    with open(meta, "w") as f:
        f.write("markers:\n  intro: {start: 0.2, end: 0.8}\n  credits: {start: 5, end: 500}\n")
    r = run(["--title", "mk1", "--register", "http://127.0.0.1:9", "--metadata", meta] +
            tiny(origin))
    check(r.returncode == 2 and "--metadata: markers.credits: end 500 is past the source's "
          "duration (1 s)" in r.stderr and "encoded" not in r.stderr,
          "a marker past the end refused first: %d %r" % (r.returncode, r.stderr[-300:]))
    check(os.listdir(origin) == [], "nothing made: %s" % os.listdir(origin))
    # Within the source (3.5 s) but past where its video, and so the title, ends (3 s):
    # refused once that is known, nothing published.
    src = os.path.join(scratch, "v3a35.mp4")
    check(ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25:duration=3", "-f", "lavfi",
                 "-i", "sine=d=3.5", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac",
                 src).returncode == 0, "ffmpeg v3a35.mp4")
    with open(meta, "w") as f:
        f.write("markers:\n  credits: {start: 2, end: 3.4}\n")
    r = run(["--title", "mk2", "--origin", origin, "--ladder", "240p", "--preset", "ultrafast",
             "--no-progress", "--register", "http://127.0.0.1:9", "--metadata", meta, src])
    check(r.returncode == 2 and "--metadata: markers.credits: end 3.4 is past the title's "
          "encoded duration (3 s); nothing published" in r.stderr,
          "a marker past the encoded end: %d %r" % (r.returncode, r.stderr[-300:]))
    check(os.listdir(origin) == [], "nothing published: %s" % os.listdir(origin))


def test_dangling_title(origin, scratch):
    """A dangling symlink at the title's path is an existing entry: refused before anything is
    encoded without --replace, replaced with it. It was taken for nothing there: both runs
    encoded the whole title, then failed to publish it ("File exists", exit 1)."""
    link = os.path.join(origin, "dang")
    os.symlink(os.path.join(scratch, "nowhere"), link)
    r = run(["--title", "dang"] + tiny(origin))
    check(r.returncode == 1 and "%s exists (use --replace)" % link in r.stderr and
          "encoded" not in r.stderr,
          "a dangling symlink refused first: %d %r" % (r.returncode, r.stderr[-300:]))
    check(os.path.islink(link), "the symlink left alone")
    r = run(["--title", "dang", "--replace"] + tiny(origin))
    check(r.returncode == 0, "--replace replaces it: %d %r" % (r.returncode, r.stderr[-300:]))
    check(not os.path.islink(link) and os.path.isfile(os.path.join(link, "asset.json")),
          "the title is where the symlink was")
    check(sorted(os.listdir(origin)) == ["dang"], "nothing else left: %s" % os.listdir(origin))


def idet(path):
    """ffmpeg idet's multi-frame counts of path's frames: {"TFF", "BFF", "Progressive"}."""
    r = subprocess.run(["ffmpeg", "-hide_banner", "-i", path, "-vf", "idet", "-an", "-f", "null",
                        "-"], capture_output=True, text=True, timeout=60)
    m = re.search(r"Multi frame detection: TFF: *(\d+) BFF: *(\d+) Progressive: *(\d+)",
                  r.stderr)
    return dict(zip(("TFF", "BFF", "Progressive"), map(int, m.groups()))) if m else {}


def test_interlaced(origin, scratch):
    """A source ffprobe calls interlaced (field_order tt) is deinterlaced: the published rung's
    frames are whole, where they were its fields woven (every frame combed) in a stream coded
    progressive. The source: a white bar that moves 12 pixels a field, in 1080i-style fields."""
    src = os.path.join(scratch, "bar-tff.mp4")
    f = ffmpeg("-f", "lavfi", "-i", "color=c=black:s=320x240:r=50:d=2[bg];"
               "color=c=white:s=40x160:r=50[fg];[bg][fg]overlay=x='mod(t*600,280)':y=40:"
               "shortest=1,tinterlace=interleave_top,fieldorder=tff",
               "-c:v", "libx264", "-preset", "ultrafast", "-flags", "+ilme+ildct", src)
    check(f.returncode == 0, "ffmpeg bar-tff.mp4: %r" % f.stderr[-300:])
    before = idet(src)
    check(before.get("TFF", 0) > 40, "the source's frames are combed: %s" % before)
    r = run(["--title", "il", "--origin", origin, "--ladder", "240p", "--preset", "ultrafast",
             "--no-progress", src])
    check(r.returncode == 0, "interlaced source published: %d %r" %
          (r.returncode, r.stderr[-300:]))
    rep = os.path.join(origin, "il", "video-240p")
    if r.returncode != 0:
        return
    joined = os.path.join(scratch, "il.mp4")
    with open(joined, "wb") as out:
        for name in ("init.mp4", "seg-1.m4s"):
            with open(os.path.join(rep, name), "rb") as f:
                out.write(f.read())
    after = idet(joined)
    n = sum(after.values())
    check(n >= 40 and after["TFF"] + after["BFF"] <= n // 10,
          "the published frames are whole, not woven fields: %s" % after)


def first_loud(path, *opts):
    """Seconds from the start of path's decoded audio to its first sample over a tenth of
    full scale, or None."""
    d = subprocess.run(["ffmpeg", "-v", "error", *opts, "-i", path, "-vn", "-ac", "1", "-ar",
                        "48000", "-f", "s16le", "-"], capture_output=True, timeout=60)
    pcm = struct.unpack("<%dh" % (len(d.stdout) // 2), d.stdout[:len(d.stdout) // 2 * 2])
    return next((k / 48000 for k, x in enumerate(pcm) if abs(x) > 3277), None)


def test_late_audio(origin, scratch):
    """Audio that starts a second after the video starts a second into the published audio's
    own timeline (silence before it), as players that place samples by tfdt or the MPD read
    it: it started at 0 there, its delay kept only in an empty edit, a second early."""
    src = os.path.join(scratch, "late-audio.mkv")
    f = ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25:duration=3", "-itsoffset", "1",
               "-f", "lavfi", "-i", "sine=f=1000:d=2", "-map", "0", "-map", "1", "-c:v",
               "libx264", "-preset", "ultrafast", "-c:a", "aac", src)
    check(f.returncode == 0, "ffmpeg late-audio.mkv: %r" % f.stderr[-300:])
    r = run(["--title", "la", "--origin", origin, "--ladder", "240p", "--preset", "ultrafast",
             "--no-progress", src])
    check(r.returncode == 0, "late audio published: %d %r" % (r.returncode, r.stderr[-300:]))
    if r.returncode != 0:
        return
    rep = os.path.join(origin, "la", "audio-und")
    joined = os.path.join(scratch, "la.mp4")
    with open(joined, "wb") as out:
        for name in ("init.mp4", "seg-1.m4s"):
            with open(os.path.join(rep, name), "rb") as f:
                out.write(f.read())
    with open(os.path.join(origin, "la", "asset.json")) as f:
        a = json.load(f)
    audio = [x for x in a["representations"] if x["type"] == "audio"][0]
    check(audio["segments"][0]["t"] == 0, "the audio timeline starts at 0: %s" %
          audio["segments"][0])
    # By the fragments' timeline alone (the edit list ignored), and by the edit list too.
    for opts in (["-ignore_editlist", "1"], []):
        at = first_loud(joined, *opts)
        check(at is not None and 0.95 <= at <= 1.1,
              "the tone starts a second in (%s): %s" % (" ".join(opts) or "edit list", at))


TESTS = [test_key_file, test_key_stdout, test_rotated, test_title_id, test_lang_args,
         test_modes, test_probe_too_long, test_probe_missing,
         test_sync_failed, test_rename_flagless, test_cover_art, test_many_audio,
         test_colon_names,
         test_no_network_source, test_interrupt_late, test_key_kill_registering,
         test_register_too_large, test_token_file, test_token_wipe, test_key_wipe,
         test_register_slow, test_key_flags_alone, test_cut_short, test_marker_past_end,
         test_dangling_title, test_interlaced, test_late_audio, test_slice_headers_clear]


def main():
    if not shutil.which("ffmpeg") or not shutil.which("ffprobe"):
        print("SKIP: ffmpeg/ffprobe not installed")
        return 77
    names = sys.argv[2:]
    without = bool(names) and names[0] == "--without"
    if without:
        names = names[1:]
    named = [t for t in TESTS if t.__name__ in names or t.__name__[len("test_"):] in names]
    if len(named) != len(names):
        print("unknown test in %s; there are %s" % (names, [t.__name__ for t in TESTS]))
        return 2
    chosen = [t for t in TESTS if t not in named] if without or not names else named
    with tempfile.TemporaryDirectory(prefix="sluice-ingest-cli.") as scratch:
        for t in chosen:
            origin = os.path.join(scratch, t.__name__, "origin")
            os.makedirs(origin)
            t(origin, os.path.dirname(origin))
            print("%s done" % t.__name__, flush=True)
    print("%d failures" % len(failures))
    if failures:
        return 1
    for why in skipped:
        print("SKIP:", why)
    return 77 if skipped else 0


if __name__ == "__main__":
    sys.exit(main())
