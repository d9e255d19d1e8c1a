# SPDX-License-Identifier: MIT
"""Where a profile's start of a series without "episode" begins (POST /v1/playback): the
episode in progress at its position; once that episode is finished (within 30 s or 5% of
its end, where resume_position starts again) the next one by season and number, from 0; the
last episode of the series starts again. Another profile starts at the first episode. An
episode moved into another series is not resumed through the one it left. Continue-watching
lists the series at the episode such a start plays, from where it plays it, and no longer
once its last episode is finished.

    python3 test_series_resume.py path/to/sluice-control
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctlharness import Control, Postgres, check, register, run  # noqa: E402


def main(binary, tmp):
    pg = Postgres(tmp)
    ctl = Control(binary, tmp, pg).start()
    # Assets of 3 segments of 4 s: 12 s, finished past 11.4 s.
    for ep, season, number in (("s-1-1", 1, 1), ("s-1-2", 1, 2), ("s-2-1", 2, 1)):
        register(ctl, ep, series={"id": "show", "name": "Show", "season": season,
                                  "episode": number})
    ctl.json("PUT", "/v1/admin/titles/show/licences", {"licences": [{"country": "GB"}]},
             admin=True)
    viewer = ctl.json("POST", "/v1/profiles", {"name": "viewer"})
    other = ctl.json("POST", "/v1/profiles", {"name": "other"})

    def start(p, **extra):
        return ctl.json("POST", "/v1/playback", {"title": "show", "profile": p["id"],
                                                 "profile_key": p["key"], **extra})

    def listed(p):
        """The series' continue-watching item: (episode, season, number, position), or None
        when the series is not listed."""
        o = ctl.json("GET", f"/v1/continue-watching?profile={p['id']}&profile_key={p['key']}")
        items = [i for i in o["items"] if i["title"] == "show"]
        check(len(items) <= 1, f"at most one item for the series: {o}")
        if not items:
            return None
        i = items[0]
        check(i.get("available") is True, f"the series is licensed here: {i}")
        return i["episode"], i["season"], i["episode_number"], i["position"], i["duration"]

    def report(p, position):
        s = start(p)
        ctl.json("POST", "/v1/playback/report", {"session": s["session"], "position": position})

    check(start(viewer)["episode"] == "s-1-1", "a first start is the first episode")
    # A position reported on the episode a start gives, then what the next start gives.
    for position, want, why in ((5.0, ("s-1-1", 5.0), "in progress"),
                                (11.5, ("s-1-2", 0), "finished: the next episode"),
                                (11.9, ("s-2-1", 0), "the season's last finished: the next"),
                                (12.0, ("s-2-1", 0), "the series' last finished: itself")):
        report(viewer, position)
        item = listed(viewer)
        s = start(viewer)
        got = (s["episode"], s["resume_position"])
        check(got == want, f"{why}: {got}, want {want}")
        # The list names the episode the start plays; the last, finished, leaves the list:
        # there is nothing left to continue.
        if position == 12.0:
            check(item is None, f"{why}: continue-watching still lists it: {item}")
            continue
        check(item == (want[0], int(want[0][2]), int(want[0][4]), want[1], 12),
              f"{why}: continue-watching lists {item}")
    s = start(viewer, episode="s-1-1")
    check((s["episode"], s["resume_position"]) == ("s-1-1", 0), f"asked for: {s}")
    s = start(other)
    check((s["episode"], s["resume_position"]) == ("s-1-1", 0), f"another profile: {s}")

    # An episode in progress, then registered into another series, not licensed here: the
    # series it left no longer resumes it (which played it under that series' licence), and
    # the progress went with the episode (migration 045): listed under its new series only.
    report(other, 5.0)
    register(ctl, "s-1-1", series={"id": "elsewhere", "season": 1, "episode": 1})
    ctl.error("POST", "/v1/playback", {"title": "elsewhere", "profile": other["id"],
                                       "profile_key": other["key"]}, expect=451)
    o = ctl.json("GET", f"/v1/continue-watching?profile={other['id']}&profile_key={other['key']}")
    got = [(i["title"], i["episode"], i["position"], i.get("available")) for i in o["items"]]
    check(got == [("elsewhere", "s-1-1", 5, False)],
          f"the episode that left is listed under its new series alone, which is not "
          f"licensed here (migration 050): {got}")
    s = start(other)
    check(s["episode"] == "s-1-2", f"the episode that left is not resumed: {s['episode']}")
    check(ctl.stop() == 0, "SIGTERM exits 0")


if __name__ == "__main__":
    run(main)
