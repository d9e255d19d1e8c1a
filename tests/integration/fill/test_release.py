# SPDX-License-Identifier: MIT
"""Control's plan on the real sluice-control (see fillharness):

- a title registered as sluice-ingest registers it (several video rungs, audio, subtitles):
  plan lists every file, run fills the edge, a second run sends nothing, verify passes;
- the nightly run pre-pushes a scheduled release: a title licensed from two hours from now,
  not yet playable (451), is in the plan and on the edge after the run, beside the watched
  title; one licensed from beyond the release horizon (48 h) is not pushed.
"""

import hashlib
import random

from fillharness import check, ctlharness, eq, events, from_now, make_catalog, run, test


def add_title(env, title, asset, licences, seed):
    """Puts asset's files on the origin (random bytes of the listed sizes) and registers it."""
    rng = random.Random(seed)
    files = []
    for fe in asset["files"]:
        data = rng.randbytes(fe["size"] + 20000)
        env.origin.add(f"{title}/{fe['path']}", data)
        files.append((fe["path"], len(data), hashlib.sha256(data).hexdigest()))
    env.control.add_title(title, files, licences, asset=asset)
    return [{"path": f"{title}/{p}", "size": n, "sha256": h} for p, n, h in files]


@test
def plan_and_run_an_ingested_title(env):
    asset = ctlharness.make_asset("filltitle", segments=3)
    objs = add_title(env, "filltitle", asset, [{"country": "GB"}], seed=3)
    env.control.play("filltitle")

    rc, out, err = env.fill("plan", "--json")
    eq(rc, 0, f"plan exit ({err})")
    d = events(out)[0]
    eq(d["planned_objects"], len(objs), "every file of the title planned")
    eq(d["add_objects"], len(objs), "all to add")

    rc, out, err = env.fill("run", "--progress", "json")
    eq(rc, 0, f"run exit ({err})\n{out[-1500:]}")
    env.check_edge_holds(objs)
    commits = env.commits()
    eq(commits, len(objs), "one commit per file")

    rc, out, err = env.fill("run", "--progress", "json")
    eq(rc, 0, f"second run exit ({err})")
    eq(env.commits(), commits, "the second run sends nothing")
    rc, out, err = env.fill("verify", "--all", "--json")
    eq(rc, 0, f"verify exit ({err})")


@test
def nightly_run_prepushes_a_release(env):
    watched = make_catalog(env, titles=1, segs=3)
    premiere = add_title(env, "premiere", ctlharness.make_asset("premiere", segments=4),
                         [{"country": "GB", "from": from_now(2 * 3600)}], seed=4)
    sequel = add_title(env, "sequel", ctlharness.make_asset("sequel", segments=2),
                       [{"country": "GB", "from": from_now(72 * 3600)}], seed=5)
    env.control.play("premiere", expect=451)  # not released yet

    plan = env.control.plan(env.edge_id)
    assets = [o["asset"] for o in plan["objects"]]
    check("premiere" in assets, f"the release is planned before its date: {set(assets)}")
    check("sequel" not in assets, f"a release beyond the horizon is not: {set(assets)}")

    # As the nightly unit runs it (dist/systemd): inside its window, JSON progress.
    rc, out, err = env.fill("run", "--window", "02:00-06:00", "--tz", "UTC",
                            "--now", "2030-01-01T02:30:00Z", "--progress", "json")
    eq(rc, 0, f"run exit ({err})\n{out[-1500:]}")
    done = [e for e in events(out) if e["event"] == "done"][0]
    eq(done["committed"], len(watched) + len(premiere), "the watched title and the release")
    env.check_edge_holds(watched + premiere)
    held = env.listing()
    check(not any(("/" + o["path"]) in held for o in sequel), "the later release is not pushed")
    env.control.play("premiere", expect=451)  # on the edge ahead of its date


if __name__ == "__main__":
    run()
