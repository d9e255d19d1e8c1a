#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""
sluice-ingest --register against a real sluice-control on a private PostgreSQL: what ingest
sends is what control stores and serves.

  test-register.py PATH/TO/sluice-control PATH/TO/sluice-ingest

A clear movie with --metadata (YAML) and an encrypted series episode with --metadata (JSON)
are encoded and registered; control must then answer their title details (name, synopsis,
year, rating, genres, cast, season and episode, audio and subtitle languages), a session and
an MPD whose representations and codecs are asset.json's, and for the encrypted one a ClearKey
licence whose key decrypts the segments — a key that was never written next to the media.
--register-only with new metadata updates the details. A 29.97 fps title's MPD names exactly
the segments on disk and dash.js plays it to its end in headless Chromium (mpd-play.mjs).
Skips (77) without ffmpeg or PostgreSQL, or, the rest passing, without the browser.
"""
import base64
import json
import math
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from fractions import Fraction

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration", "control"))
from ctlharness import ADMIN_TOKEN, Control, Postgres, check, run, skip, skip_case  # noqa: E402

NS = {"d": "urn:mpeg:dash:schema:mpd:2011", "cenc": "urn:mpeg:cenc:2013"}
D = "{urn:mpeg:dash:schema:mpd:2011}"
INGEST = os.path.abspath(sys.argv[2]) if len(sys.argv) > 2 else ""

MOVIE_YAML = """\
# The catalog fields of a movie, as control's admin API takes them.
metadata:
  name: "Harbour Lights: A Test"
  synopsis: A lighthouse keeper counts the seconds between beeps.
  year: 2024
  maturity_rating: PG
  genres: [Drama, Mystery]
  cast:
    - {name: Ada Lindqvist, character: The Keeper}
    - {name: Tomas Berg, role: director}
markers:
  intro: {start: 0.5, end: 2}
"""

EPISODE = {
    "series": {"id": "tide", "name": "Tide Tables", "season": 2, "episode": 5,
               "episode_name": "Neap", "episode_synopsis": "The smallest range of the month."},
    "metadata": {"name": "Tide Tables", "year": 2025, "genres": ["documentary"],
                 "maturity_rating": "TV-G"},
}


def ingest(*args, env=None, cwd=None):
    return subprocess.run([INGEST, *args], capture_output=True, text=True, timeout=300, env=env,
                          cwd=cwd)


def joined(rep_dir, seg, dst):
    with open(dst, "wb") as out:
        for name in ("init.mp4", seg):
            with open(os.path.join(rep_dir, name), "rb") as f:
                out.write(f.read())
    return dst


def decodes(path, key_hex):
    d = subprocess.run(["ffmpeg", "-v", "error", "-decryption_key", key_hex, "-i", path,
                        "-f", "null", "-"], capture_output=True, text=True, timeout=120)
    return d.returncode == 0 and d.stderr.strip() == ""


def mpd_of(ctl, session):
    return ET.fromstring(ctl.json("GET", f"/v1/manifest/{session}.mpd"))


def check_mpd(mpd, asset, title):
    """Every representation of asset.json, with its codec and bandwidth, under one BaseURL
    per live edge that opens this title's path."""
    reps = {r.get("id"): r for r in mpd.iter("{urn:mpeg:dash:schema:mpd:2011}Representation")}
    want = {r["id"]: r for r in asset["representations"]}
    texts = {t["id"] for t in asset["subtitles"]}
    check(set(reps) == set(want) | texts, f"{title}: MPD representations {sorted(reps)}")
    for rid, r in want.items():
        got = reps.get(rid)
        if got is None:
            continue
        # codecs sits on the Representation or on its AdaptationSet
        codec = got.get("codecs")
        if codec is None:
            for aset in mpd.iter("{urn:mpeg:dash:schema:mpd:2011}AdaptationSet"):
                if got in list(aset):
                    codec = aset.get("codecs")
        check(codec == r["codec"], f"{title}/{rid}: codecs {codec} vs {r['codec']}")
        check(int(got.get("bandwidth")) == r["bandwidth"], f"{title}/{rid}: bandwidth")
    base = mpd.find("d:BaseURL", NS)
    check(base is not None and re.fullmatch(rf"http://edge-a\.test/s/[^/]+/{title}/", base.text),
          f"{title}: BaseURL {base.text if base is not None else None}")


def seconds(iso):
    m = re.fullmatch(r"PT(?:(\d+)H)?(?:(\d+)M)?(\d+)(?:\.(\d+))?S", iso)
    frac = Fraction(int(m[4]), 10 ** len(m[4])) if m[4] else 0
    return int(m[1] or 0) * 3600 + int(m[2] or 0) * 60 + int(m[3]) + frac


def check_segments(mpd, title_dir, title, asset):
    """The segments each Representation's SegmentTemplate names are files on disk, and the
    files it does not name start at or after the presentation's end (an AAC tail, never
    played): a SegmentTimeline's S elements with their @r, or ceil(PeriodDuration / @duration)
    (ISO/IEC 23009-1 §5.3.9.5.3), from startNumber."""
    period = seconds(mpd.get("mediaPresentationDuration"))
    reps = {r["id"]: r for r in asset["representations"]}
    for aset in mpd.iter(D + "AdaptationSet"):
        for rep in aset.findall(D + "Representation"):
            st = rep.find(D + "SegmentTemplate")
            st = aset.find(D + "SegmentTemplate") if st is None else st
            if st is None:
                continue
            rid = rep.get("id")
            tl = st.find(D + "SegmentTimeline")
            if tl is not None:
                n = sum(1 + int(s.get("r", "0")) for s in tl.findall(D + "S"))
            else:
                n = math.ceil(period / Fraction(int(st.get("duration")), int(st.get("timescale"))))
            first = int(st.get("startNumber", "1"))
            named = {f"seg-{i}.m4s" for i in range(first, first + n)}
            have = {f for f in os.listdir(os.path.join(title_dir, rid)) if f.startswith("seg-")}
            a = reps[rid]
            late = {f"seg-{a['start_number'] + k}.m4s" for k, x in enumerate(a["segments"])
                    if Fraction(x["t"], a["timescale"]) >= period}
            check(named <= have and have - named <= late,
                  f"{title}/{rid}: the MPD names {n} segments from {first}, {len(have)} on "
                  f"disk; missing {sorted(named - have)}, unnamed before the end "
                  f"{sorted(have - named - late)}")


def main(binary, tmp):
    if not INGEST or not os.access(INGEST, os.X_OK):
        skip("no sluice-ingest binary given")
    if not shutil.which("ffmpeg") or not shutil.which("ffprobe"):
        skip("ffmpeg/ffprobe not installed")
    pg = Postgres(tmp)
    ctl = Control(binary, tmp, pg).start()
    url = f"http://127.0.0.1:{ctl.port}"
    origin = os.path.join(tmp, "origin")
    os.makedirs(origin)
    keys_dir = os.path.join(tmp, "elsewhere")
    os.makedirs(keys_dir)
    token = os.path.join(tmp, "control.token")
    with open(token, "w") as f:
        f.write(ADMIN_TOKEN + "\n")
    movie_meta = os.path.join(tmp, "movie.yaml")
    with open(movie_meta, "w") as f:
        f.write(MOVIE_YAML)
    ep_meta = os.path.join(tmp, "episode.json")
    with open(ep_meta, "w") as f:
        json.dump(EPISODE, f)
    vtt = os.path.join(tmp, "en.vtt")
    with open(vtt, "w") as f:
        f.write("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nBeep.\n")

    common = ["--origin", origin, "--register", url, "--test-source", "8", "--ladder",
              "240p,360p", "--preset", "ultrafast", "--no-progress"]
    r = ingest("--title", "harbour", "--token-file", token, "--metadata", movie_meta,
               "--subtitles", "en=" + vtt, "--audio-lang", "en,sv", *common)
    check(r.returncode == 0, f"ingest harbour: {r.returncode} {r.stderr[-800:]}")
    # The encrypted episode: the token from the environment, run from a directory of its
    # own, which holds its --key-out file. Its key must reach control and that file only.
    key_file = os.path.join(keys_dir, "tide-s2e5.json")
    r = ingest("--title", "tide-s2e5", "--encrypt", "--key-out", key_file, "--metadata",
               ep_meta, *common, env=dict(os.environ, SLUICE_CONTROL_TOKEN=ADMIN_TOKEN),
               cwd=keys_dir)
    check(r.returncode == 0, f"ingest tide-s2e5: {r.returncode} {r.stderr[-800:]}")
    check(r.stdout == "", "the key is not printed: it is in the --key-out file")

    # A 29.97 fps title: keyframes every 4.004 s, so a 4.004 s title is one video segment
    # where @duration 4 s would name two.
    ntsc = os.path.join(tmp, "ntsc.mp4")
    f = subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
                        "testsrc2=size=320x180:rate=30000/1001:duration=4", "-f", "lavfi", "-i",
                        "sine=d=4", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac",
                        ntsc], capture_output=True, text=True, timeout=120)
    check(f.returncode == 0, f"ffmpeg ntsc.mp4: {f.stderr[-300:]}")
    r = ingest("--title", "ntsc", "--token-file", token, *common[:4], "--ladder", "240p",
               "--preset", "ultrafast", "--no-progress", ntsc)
    check(r.returncode == 0, f"ingest ntsc: {r.returncode} {r.stderr[-800:]}")

    assets = {}
    for t in ("harbour", "tide-s2e5", "ntsc"):
        with open(os.path.join(origin, t, "asset.json")) as f:
            assets[t] = json.load(f)

    # ---- title details: the metadata as sent ----
    m = ctl.json("GET", "/v1/titles/harbour")
    check(m["kind"] == "movie" and m["name"] == "Harbour Lights: A Test", f"movie name: {m}")
    check(m["synopsis"] == "A lighthouse keeper counts the seconds between beeps." and
          m["year"] == 2024 and m["maturity_rating"] == "PG", f"movie fields: {m}")
    check(sorted(m["genres"]) == ["drama", "mystery"], f"genres: {m['genres']}")
    check(m["cast"] == [{"name": "Ada Lindqvist", "role": "actor", "character": "The Keeper"},
                        {"name": "Tomas Berg", "role": "director", "character": None}],
          f"cast: {m['cast']}")
    check(sorted(m["audio"]) == ["en", "sv"] and m["subtitles"] == ["en"],
          f"tracks: {m['audio']} {m['subtitles']}")
    check(m["encrypted"] is False and m["duration"] == assets["harbour"]["duration"],
          "movie asset facts")
    s = ctl.json("GET", "/v1/titles/tide")
    check(s["kind"] == "series" and s["name"] == "Tide Tables" and s["year"] == 2025 and
          s["maturity_rating"] == "TV-G" and s["genres"] == ["documentary"], f"series: {s}")
    check([x["season"] for x in s["seasons"]] == [2], f"seasons: {s['seasons']}")
    eps = s["seasons"][0]["episodes"] if s["seasons"] else []
    check(eps and eps[0]["id"] == "tide-s2e5" and eps[0]["episode"] == 5 and
          eps[0]["name"] == "Neap" and eps[0]["synopsis"] == "The smallest range of the month.",
          f"episode: {eps}")
    found = ctl.json("GET", "/v1/search?q=lighthouse")["items"]
    check([x["id"] for x in found] == ["harbour"], "the synopsis is searchable")

    # ---- sessions and manifests: an edge must be live for control to name it ----
    ctl.register_edge("edge-a", "eu-west", "http://edge-a.test")
    ctl.heartbeat("edge-a", {"load": 0.1, "titles": ["harbour", "tide-s2e5", "ntsc"]})
    for t in ("harbour", "tide", "ntsc"):
        ctl.error("POST", "/v1/playback", {"title": t}, expect=451)
        ctl.json("PUT", f"/v1/admin/titles/{t}/licences", {"licences": [{"country": "GB"}]},
                 admin=True)

    p = ctl.json("POST", "/v1/playback", {"title": "harbour"})
    check(p["asset"] == "harbour" and p["encrypted"] is False and p["license_url"] is None,
          f"movie session: {p}")
    check(p["markers"] == {"intro": {"start": 0.5, "end": 2}}, f"markers: {p['markers']}")
    mpd = mpd_of(ctl, p["session"])
    check_mpd(mpd, assets["harbour"], "harbour")
    check_segments(mpd, os.path.join(origin, "harbour"), "harbour", assets["harbour"])
    n = ctl.json("POST", "/v1/playback", {"title": "ntsc"})
    text = ctl.json("GET", f"/v1/manifest/{n['session']}.mpd")
    mpd = ET.fromstring(text)
    check_mpd(mpd, assets["ntsc"], "ntsc")
    check_segments(mpd, os.path.join(origin, "ntsc"), "ntsc", assets["ntsc"])
    # dash.js plays it to its end, asking for no segment that is not there.
    mpd_file = os.path.join(tmp, "ntsc.mpd")
    with open(mpd_file, "w") as f:
        f.write(text if isinstance(text, str) else text.decode())
    if not shutil.which("node"):
        skip_case("node not installed: the 29.97 fps title not played")
    else:
        pl = subprocess.run(["node", os.path.join(HERE, "mpd-play.mjs"), mpd_file,
                             os.path.join(origin, "ntsc"), "--chromium",
                             os.environ.get("SLUICE_CHROMIUM", "/usr/bin/chromium")],
                            capture_output=True, text=True, timeout=120)
        if pl.returncode == 77:
            skip_case(f"the 29.97 fps title not played: {pl.stdout.strip()[-200:]}")
        else:
            check(pl.returncode == 0, f"ntsc plays to its end in dash.js: {pl.stdout[-600:]} "
                  f"{pl.stderr[-300:]}")

    e = ctl.json("POST", "/v1/playback", {"title": "tide", "episode": "tide-s2e5"})
    check(e["asset"] == "tide-s2e5" and e["encrypted"] is True and e["license_url"],
          f"episode session: {e}")
    mpd = mpd_of(ctl, e["session"])
    check_mpd(mpd, assets["tide-s2e5"], "tide-s2e5")
    check_segments(mpd, os.path.join(origin, "tide-s2e5"), "tide-s2e5", assets["tide-s2e5"])
    kid_hex = assets["tide-s2e5"]["encryption"]["kid"]
    cp = [c.get("{urn:mpeg:cenc:2013}default_KID")
          for c in mpd.iter("{urn:mpeg:dash:schema:mpd:2011}ContentProtection")]
    check(any(k and k.replace("-", "") == kid_hex for k in cp), f"default_KID: {cp}")

    # ---- the key: control has the --key-out file's, and it is the title's ----
    kid = base64.urlsafe_b64encode(bytes.fromhex(kid_hex)).rstrip(b"=").decode()
    lic = ctl.json("POST", f"/v1/license/clearkey?session={e['session']}",
                   {"kids": [kid], "type": "temporary"})
    check(len(lic["keys"]) == 1 and lic["keys"][0]["kid"] == kid, f"licence: {lic}")
    key = base64.urlsafe_b64decode(lic["keys"][0]["k"] + "==")
    check(len(key) == 16, "a 16-byte key")
    with open(key_file) as f:
        check(json.load(f).get("key") == key.hex(), "control's key is the --key-out file's")
    ctl.error("POST", f"/v1/license/clearkey?session={p['session']}",
              {"kids": [kid], "type": "temporary"}, expect=403)
    title_dir = os.path.join(origin, "tide-s2e5")
    for rid in ("video-240p", "audio-en"):
        path = joined(os.path.join(title_dir, rid), "seg-2.m4s", os.path.join(tmp, "seg.mp4"))
        check(decodes(path, key.hex()), f"{rid} decrypts with control's key")
    path = joined(os.path.join(title_dir, "video-240p"), "seg-1.m4s", os.path.join(tmp, "s.mp4"))
    check(not decodes(path, "00" * 16), "a wrong key does not decode the video")
    # Never next to the media, nor anywhere else in the test's files but the --key-out file
    # (PostgreSQL's own files aside: control stores it there).
    for d, dirs, names in os.walk(tmp):
        dirs[:] = [x for x in dirs if os.path.join(d, x) != os.path.join(tmp, "pg")]
        for n in names:
            if os.path.join(d, n) == key_file:
                continue
            with open(os.path.join(d, n), "rb") as f:
                data = f.read()
            check(key not in data and key.hex().encode() not in data,
                  f"the key is not in {os.path.join(d, n)}")

    # ---- --register-only updates what control shows ----
    with open(movie_meta, "w") as f:
        f.write(MOVIE_YAML.replace("Harbour Lights: A Test", "Harbour Lights (Director's Cut)"))
    r = ingest("--register-only", "--register", url, "--token-file", token, "--title",
               "harbour", "--origin", origin, "--metadata", movie_meta)
    check(r.returncode == 0, f"--register-only: {r.stderr[-300:]}")
    check(ctl.json("GET", "/v1/titles/harbour")["name"] == "Harbour Lights (Director's Cut)",
          "the new name is served")
    # Control's refusal is exit 3 with the title still published.
    with open(movie_meta, "w") as f:
        f.write("series: {id: harbour, season: 1, episode: 1}\n")
    r = ingest("--register-only", "--register", url, "--token-file", token, "--title",
               "harbour", "--origin", origin, "--metadata", movie_meta)
    check(r.returncode == 3 and re.search(r"answered 409: \S", r.stderr),
          f"a series id naming a movie: exit 3 on control's 409, its reason shown: "
          f"{r.stderr[-300:]}")
    # A marker past the title's end: refused here, as control would (400), nothing sent.
    with open(movie_meta, "w") as f:
        f.write("markers: {intro: {start: 5, end: 500}}\n")
    r = ingest("--register-only", "--register", url, "--token-file", token, "--title",
               "harbour", "--origin", origin, "--metadata", movie_meta)
    check(r.returncode == 2 and "markers.intro: end 500 is past the title's duration (8 s)" in
          r.stderr, f"--register-only, a marker past the end: {r.returncode} {r.stderr[-300:]}")
    check(ctl.stop() == 0, "control exits 0")


if __name__ == "__main__":
    run(main)
