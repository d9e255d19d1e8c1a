# SPDX-License-Identifier: MIT
"""sluice-fill against the real control plane: a private PostgreSQL (tools/pg-temp), the real
sluice-control with a title registered whose files are really on the origin, a session that
makes it popular in the edge's region, the real edge. plan shows the title's files to add,
run fills the edge from the origin, a second run sends nothing.

    python3 test_real_control.py sluice-fill sluice-edge sluice-control

Skips (77) without the control binary, psql or a PostgreSQL server.
"""

import hashlib
import os
import random
import re
import sys
import tempfile

from fillharness import SKIP, check, eq, events, plan_doc, run, test  # noqa: F401

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "control"))


def control_binary():
    path = sys.argv.pop(3) if len(sys.argv) > 3 else ""
    if not path or not os.access(path, os.X_OK):
        print(f"SKIP: sluice-control not built ({path or 'no path'})")
        sys.exit(SKIP)
    return os.path.abspath(path)


CONTROL = control_binary()
import ctlharness  # noqa: E402


@test
def plan_and_run_from_real_control(env):
    tmp = tempfile.mkdtemp(prefix="sluice-fill-ctl-")
    os.chmod(tmp, 0o755)
    pg = ctlharness.Postgres(tmp)
    ctl = None
    try:
        ctl = ctlharness.Control(CONTROL, tmp, pg)
        with open(ctl.cfg_path) as f:
            text = f.read()
        text = re.sub(r'origin_url: "[^"]*"', f'origin_url: "{env.origin.url}/"', text)
        with open(ctl.cfg_path, "w") as f:
            f.write(text)
        ctl.start()
        control_url = f"http://127.0.0.1:{ctl.port}"

        # A title whose every file is on the origin with the size and SHA-256 the catalog says.
        rng = random.Random(3)
        asset = ctlharness.make_asset("filltitle", segments=3)
        for fe in asset["files"]:
            data = rng.randbytes(fe["size"] + 20000)
            fe["size"] = len(data)
            fe["sha256"] = hashlib.sha256(data).hexdigest()
            env.origin.add(f"filltitle/{fe['path']}", data)
        ctl.json("POST", "/v1/admin/titles", {"title": "filltitle", "asset": asset}, admin=True)
        ctl.json("PUT", "/v1/admin/titles/filltitle/licences",
                 {"licences": [{"country": "GB"}]}, admin=True)
        ctl.json("POST", "/v1/admin/edges", {"id": env.edge_id, "region": "eu-west",
                                             "base_url": f"http://127.0.0.1:{env.edge.port}"},
                 admin=True)
        # 127.0.0.1 is GB, region eu-west: one playback makes the title popular there.
        ctl.json("POST", "/v1/playback", {"title": "filltitle"})

        env.control.url = control_url  # the stand-in is not used
        rc, out, err = env.fill("plan", "--json")
        eq(rc, 0, f"plan exit ({err})")
        d = events(out)[0]
        eq(d["planned_objects"], len(asset["files"]), "every file of the title planned")
        eq(d["add_objects"], len(asset["files"]), "all to add")

        rc, out, err = env.fill("run", "--progress", "json")
        eq(rc, 0, f"run exit ({err})\n{out[-1500:]}")
        objs = [{"path": f"filltitle/{fe['path']}", "size": fe["size"], "sha256": fe["sha256"]}
                for fe in asset["files"]]
        env.check_edge_holds(objs)
        commits = env.commits()
        eq(commits, len(objs), "one commit per file")

        rc, out, err = env.fill("run", "--progress", "json")
        eq(rc, 0, f"second run exit ({err})")
        eq(env.commits(), commits, "the second run sends nothing")
        rc, out, err = env.fill("verify", "--all", "--json")
        eq(rc, 0, f"verify exit ({err})")
    finally:
        if ctl and ctl.proc and ctl.proc.poll() is None:
            ctl.stop()
        pg.stop()


if __name__ == "__main__":
    run()
