# SPDX-License-Identifier: MIT
"""GET /v1/fill/plan against the real sluice-control on a private PostgreSQL: titles ranked by
decayed views in the edge's region, and scheduled releases pushed ahead of their date in
proportion to their expected demand (docs/control.md "Edges"):

- a movie licensed from an hour from now, not yet playable (451), is in the plan with the
  10th-ranked title's views × (1 − 0.5 · due / horizon), so it ranks among the watched titles
  instead of below all of them;
- a release due later ranks below the nearer one; one due beyond the horizon, one licensed
  only in another region, and one whose licence started yesterday (no views) are absent;
- a title with views of its own that returns in a new window carries its own demand;
- once the release's licence has started, it has only its views (none yet): gone.

    python3 test_fill_plan.py build/control/sluice-control
"""
import datetime
import json

import ctlharness as h
from ctlharness import check

HORIZON = 48 * 3600


def rfc3339(seconds_from_now):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds_from_now)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def licence(ctl, title, *windows):
    """windows: (country, from seconds from now or None, until seconds from now or None)."""
    lic = []
    for country, frm, until in windows:
        w = {"country": country}
        if frm is not None:
            w["from"] = rfc3339(frm)
        if until is not None:
            w["until"] = rfc3339(until)
        lic.append(w)
    ctl.json("PUT", f"/v1/admin/titles/{title}/licences", {"licences": lic}, admin=True)


def plan(ctl, edge="edge-gb"):
    d = ctl.json("GET", f"/v1/fill/plan?edge={edge}")
    scores = {}
    order = []
    for o in d["objects"]:
        if o["asset"] not in scores:
            scores[o["asset"]] = o["score"]
            order.append(o["asset"])
    return order, scores


def main(binary, tmp):
    pg = h.Postgres(tmp)
    ctl = h.Control(binary, tmp, pg).start()
    ctl.json("POST", "/v1/admin/edges", {"id": "edge-gb", "region": "eu-west",
                                         "base_url": "http://127.0.0.1:1"}, admin=True)

    # Eleven watched titles: w0 with 11 sessions down to w10 with 1; the 10th is w9 (2).
    for i in range(11):
        h.register(ctl, f"w{i}")
        licence(ctl, f"w{i}", ("GB", None, None))
        for _ in range(11 - i):
            ctl.json("POST", "/v1/playback", {"title": f"w{i}"})
    for t, windows in [("soon", [("GB", 3600, None)]),
                       ("later", [("GB", 40 * 3600, None)]),
                       ("far", [("GB", 72 * 3600, None)]),
                       ("abroad", [("SE", 3600, None)]),
                       ("started", [("GB", -86400, None)])]:
        h.register(ctl, t)
        licence(ctl, t, *windows)
    ctl.error("POST", "/v1/playback", {"title": "soon"}, expect=451)

    order, scores = plan(ctl)
    tenth = scores["w9"]
    check(abs(tenth - 2.0) < 0.01, f"w9's decayed views: {tenth}")
    want = tenth * (1 - 0.5 * 3600 / HORIZON)
    check(abs(scores.get("soon", 0) - want) < 0.01,
          f"the release due in 1 h scores {want:.3f}: {scores}")
    check(order.index("w8") < order.index("soon") < order.index("w10"),
          f"the release ranks among the watched titles: {order}")
    want = tenth * (1 - 0.5 * 40 * 3600 / HORIZON)
    check(abs(scores.get("later", 0) - want) < 0.01, f"due in 40 h scores {want:.3f}: {scores}")
    check(order.index("soon") < order.index("later"), f"the nearer release first: {order}")
    for t in ("far", "abroad", "started"):
        check(t not in scores, f"{t} is not in the plan: {order}")
    check(order[0] == "w0", f"the most watched first: {order}")

    # A returning title: watched, its window over, back from an hour from now. Its expected
    # demand is its own views (5 sessions' worth), above the 10th title's.
    h.register(ctl, "back")
    licence(ctl, "back", ("GB", None, None))
    for _ in range(5):
        ctl.json("POST", "/v1/playback", {"title": "back"})
    licence(ctl, "back", ("GB", -86400, -3600), ("GB", 3600, None))
    order, scores = plan(ctl)
    want = 5 + 5 * (1 - 0.5 * 3600 / HORIZON)
    check(abs(scores.get("back", 0) - want) < 0.02,
          f"a returning title: its views plus its own demand as a release ({want:.3f}): {scores}")

    # The release's date has come: licensed from now, no views, so no longer in the plan.
    licence(ctl, "soon", ("GB", -1, None))
    order, scores = plan(ctl)
    check("soon" not in scores, f"released, not watched: out of the plan: {order}")
    check("later" in scores, "the other release is still pushed")

    # The plan's limit and an unknown edge.
    d = ctl.json("GET", "/v1/fill/plan?edge=edge-gb&limit=3")
    check(len(d["objects"]) == 3, f"limit: {len(d['objects'])}")
    ctl.error("GET", "/v1/fill/plan?edge=nope", expect=404)
    ctl.error("GET", "/v1/fill/plan?edge=edge-gb&limit=0")
    print(json.dumps({"plan": order}))
    ctl.stop()
    pg.stop()


if __name__ == "__main__":
    h.run(main)
