# SPDX-License-Identifier: MIT
"""sluice-control's starting rung against a real PostgreSQL: the bandwidth a session starts
at, from the throughput its profile and its network reported."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from apisetup import drop_title, pb, setup_catalog, stop_clean
from ctlharness import Control, Postgres, check, make_asset, run


def test_start_bandwidth(ctl, pg):
    """The session carries the start bandwidth from CMCD mtp/bl in recent reports: the
    profile's own estimate first, else the client network's; none when nothing is recent.
    The title's asset lists no files, so no start rung applies (test_start_rung) and the
    answer is the estimate itself."""
    ctl.json("POST", "/v1/admin/titles",
             {"title": "tput1", "asset": make_asset("tput1", files=False)}, admin=True)
    ctl.json("PUT", "/v1/admin/titles/tput1/licences", {"licences": [{"country": "GB"}]},
             admin=True)
    check(pg.psql("SELECT start_ladder IS NULL FROM assets WHERE id = 'tput1'") == "t",
          "no files, no start ladder")

    def profile():
        return ctl.json("POST", "/v1/profiles", {"name": "tput"})

    def play(prof=None):
        body = {"title": "tput1"}
        if prof is not None:
            body.update(pb(prof))
        return ctl.json("POST", "/v1/playback", body)

    def report(s, **cmcd):
        ctl.json("POST", "/v1/playback/report",
                 {"session": s["session"], "position": 1.0, **cmcd})

    pg.psql("DELETE FROM throughput_estimates")
    p2, p3, p4 = profile(), profile(), profile()
    s = play(p2)
    check(s["start_bandwidth"] is None, f"nothing known yet: {s['start_bandwidth']}")
    report(s)  # a report without measurements changes nothing
    check(play(p2)["start_bandwidth"] is None, "a report without mtp is not an estimate")
    report(s, mtp=10000, bl=12000)
    got = play(p2)["start_bandwidth"]
    check(got == 7_000_000, f"70% of the profile's 10 Mbit/s: {got}")
    got = play(p3)["start_bandwidth"]
    check(got == 7_000_000, f"another profile on the same network: {got}")
    report(s, mtp=2000, bl=1000)  # folded in: (10000 + 2000) / 2, and the buffer ran low
    got = play(p2)["start_bandwidth"]
    check(got == 3_000_000, f"50% of 6 Mbit/s after a low buffer: {got}")
    report(play(p4), mtp=50000, bl=20000)  # network: (6000 + 50000) / 2
    got = play(p2)["start_bandwidth"]
    check(got == 3_000_000, f"the profile's own estimate before its network's: {got}")
    got = play()["start_bandwidth"]
    check(got == 19_600_000, f"no profile: the network's 28 Mbit/s x 0.7: {got}")
    got = play(p4)["start_bandwidth"]
    check(got == 35_000_000, f"the fast profile: {got}")
    pg.psql("UPDATE throughput_estimates SET updated_at = now() - interval '11 minutes'")
    check(play(p2)["start_bandwidth"] is None, "estimates older than 10 minutes are ignored")
    for bad in ({"mtp": "fast"}, {"mtp": -1}, {"mtp": 10**9}, {"bl": 1.5}, {"bl": -3},
                {"mtp": True}):
        ctl.error("POST", "/v1/playback/report", {"session": s["session"], "position": 1, **bad})
    n = pg.psql("SELECT count(*) FROM throughput_estimates")
    check(n == "3", f"one row per profile that reported and one for the network: {n}")
    drop_title(pg, "tput1")


def test_start_rung(binary, tmp, ctl, pg):
    """start_bandwidth names the start rung: the highest video rung whose first media segment
    downloads within start_rung_budget (250 ms by default) at the throughput estimate, else
    the lowest; null with no estimate; the estimate itself with the budget 0."""
    a = make_asset("rungs1", video_reps=("240p", "360p", "720p"))
    first = {"video-240p": 100_000, "video-360p": 250_000, "video-720p": 1_000_000}
    for f in a["files"]:
        rep, _, name = f["path"].partition("/")
        if name == "seg-1.m4s" and rep in first:
            f["size"] = first[rep]
    ctl.json("POST", "/v1/admin/titles", {"title": "rungs1", "asset": a}, admin=True)
    ctl.json("PUT", "/v1/admin/titles/rungs1/licences", {"licences": [{"country": "GB"}]},
             admin=True)
    ladder = json.loads(pg.psql("SELECT start_ladder FROM assets WHERE id = 'rungs1'"))
    check(ladder == [[300000, 100000], [700000, 250000], [3000000, 1000000]],
          f"the ladder: each video rung's bandwidth and first segment's size: {ladder}")
    prof = ctl.json("POST", "/v1/profiles", {"name": "rungs"})

    def estimate(bps):
        """The client network's estimate (127.0.0.1's /24) is bps (70% of mtp)."""
        pg.psql("DELETE FROM throughput_estimates")
        if bps is not None:
            pg.psql("INSERT INTO throughput_estimates (scope, key, mtp_kbps, bl_ms) "
                    f"VALUES ('network', '127.0.0.0/24', {bps // 700}, 10000)")

    def start(c, **body):
        s = c.json("POST", "/v1/playback", {"title": "rungs1", **body})
        check("start_ladder" not in s, f"the ladder is control's own: {sorted(s)}")
        return s["start_bandwidth"]

    # Time of a first segment at the estimate: bytes * 8 / bps; the budget is 0.25 s.
    cases = [
        (None, None, "no estimate: null, as before"),
        (2_100_000, 300000, "2.1 Mbit/s: 240p's 100 kB takes 0.38 s, none fits: the lowest"),
        (3_500_000, 300000, "3.5 Mbit/s: 240p fits (0.23 s), 360p's 250 kB not (0.57 s)"),
        (10_500_000, 700000, "10.5 Mbit/s: 360p fits (0.19 s), 720p's 1 MB not (0.76 s): "
                             "360p, not the 3 Mbit/s rung the estimate alone allows"),
        (35_000_000, 3000000, "35 Mbit/s: 720p fits (0.23 s)"),
    ]
    for bps, want, why in cases:
        estimate(bps)
        check(start(ctl) == want, f"anonymous, {why}: {start(ctl)}")
        check(start(ctl, **pb(prof)) == want, f"with a profile, {why}")

    # The warm path (anonymous starts answered from cached title data, control/cache.c): the
    # ladder is cached with the title, the estimate per client address.
    estimate(10_500_000)
    warm = Control(binary, tmp, pg, name="ctl-rung-warm", cache_ttl="60s").start()
    got = [start(warm) for _ in range(3)]
    check(got == [700000] * 3, f"warm: 360p at 10.5 Mbit/s: {got}")
    check(warm.stop() == 0, "warm instance exits 0")

    # The budget is configurable; 0 answers the estimate itself (the behaviour before).
    wide = Control(binary, tmp, pg, name="ctl-rung-wide", extra_cfg="start_rung_budget: 1s\n")
    wide.start()
    check(start(wide) == 3000000, "a 1 s budget at 10.5 Mbit/s: 720p (0.76 s)")
    check(wide.stop() == 0, "wide instance exits 0")
    off = Control(binary, tmp, pg, name="ctl-rung-off", extra_cfg="start_rung_budget: 0\n")
    off.start()
    check(start(off) == 10_500_000, "budget 0: the estimate, whatever the rungs")
    check(off.stop() == 0, "off instance exits 0")
    pg.psql("DELETE FROM throughput_estimates")
    drop_title(pg, "rungs1")

def main(binary, tmp):
    pg = Postgres(tmp)
    ctl = Control(binary, tmp, pg).start()
    setup_catalog(ctl, pg)
    test_start_bandwidth(ctl, pg)
    test_start_rung(binary, tmp, ctl, pg)
    stop_clean(ctl)

run(main)
