# SPDX-License-Identifier: MIT
"""sluice-fill plan and run against a real edge and origin: the plan diff, a run that fills
the edge, a second run that transfers nothing, --dry-run changing nothing, status, verify
(with its progress), and the warning a run gives without a window or a rate.
The plan is the real sluice-control's (see fillharness)."""

import http.server
import json
import os
import re
import subprocess
import threading
import time
import urllib.request

from fillharness import (AdminProxy, PlanFor, check, eq, events, make_catalog, plan_stand_in,
                         run, test)


@test
def plan_then_run_then_nothing(env):
    objs = make_catalog(env)
    # Something unplanned on the edge, and one planned object already there.
    env.edge.put("/old/unplanned.m4s", b"x" * 5000)
    first = objs[0]
    with open(f"{env.origin.dir}/{first['path']}", "rb") as f:
        env.edge.put("/" + first["path"], f.read())

    rc, out, err = env.fill("plan", "--json")
    eq(rc, 0, f"plan exit ({err})")
    d = events(out)[0]
    eq(d["planned_objects"], len(objs), "planned")
    eq(d["held_objects"], 1, "held")
    eq(d["add_objects"], len(objs) - 1, "to add")
    eq(d["add_bytes"], sum(o["size"] for o in objs[1:]), "bytes to add")
    eq(d["unplanned_objects"], 1, "unplanned")
    eq(d["evict_objects"], 0, "nothing to evict (room enough)")
    check(0 < d["predicted_hit_gain"] <= 1, f"gain {d['predicted_hit_gain']}")

    rc, out, err = env.fill("plan")
    eq(rc, 0, "plan table exit")
    check("to add" in out and "predicted hit gain" in out, f"table: {out}")

    rc, out, err = env.fill("run", "--dry-run")
    eq(rc, 0, f"dry run exit ({err})")
    check("to add" in out, f"dry run shows the diff: {out}")
    eq(len(env.listing()), 2, "a dry run sends nothing")

    rc, out, err = env.fill("run", "--progress", "json", "--parallel", "3")
    eq(rc, 0, f"run exit; stderr: {err}\n{out[-2000:]}")
    ev = events(out)
    done = [e for e in ev if e["event"] == "done"][0]
    eq(done["committed"], len(objs) - 1, "committed")
    env.check_edge_holds(objs)
    check(any(e["event"] == "progress" for e in ev), "progress lines")

    rc, out, err = env.fill("run", "--progress", "json")
    eq(rc, 0, f"second run exit ({err})")
    done = [e for e in events(out) if e["event"] == "done"][0]
    eq(done["queued"], 0, "second run queue")

    rc, out, err = env.fill("status", "--json")
    eq(rc, 0, f"status exit ({err})")
    st = events(out)[0]
    eq(st["held_objects"], len(objs), "status: held")
    eq(st["missing_objects"], 0, "status: missing")
    eq(st["last_run_exit"], 0, "status: last exit")

    rc, out, err = env.fill("verify", "--all", "--json")
    eq(rc, 0, f"verify exit ({err}) {out}")
    summ = [e for e in events(out) if e.get("event") == "summary"][0]
    eq(summ["ok"], len(objs), "verified objects")
    # 2 commits by the test, the rest by the first run, none by the second.
    eq(env.commits(), len(objs) + 1, "edge commits: each missing object once, no more")


@test
def object_lost_since_is_reported_and_sent_again(env):
    """An object a run committed and the edge no longer holds is reported (`lost`) by the next
    run and sent again; like every event its t counts from the start of that run."""
    objs = make_catalog(env, titles=1, segs=3)
    rc, out, err = env.fill("run", "--progress", "json")
    eq(rc, 0, f"first run ({err})")
    key = "/" + objs[1]["path"]
    eq(env.edge.admin("DELETE", "/admin/objects" + key).status, 204, "deleted behind the agent")
    rc, out, err = env.fill("run", "--progress", "json")
    eq(rc, 0, f"second run ({err})")
    ev = events(out)
    lost = [e for e in ev if e["event"] == "lost"]
    eq([(e["key"], e.get("reason")) for e in lost], [(key, "committed-earlier")], "lost")
    committed = [e for e in ev if e["event"] == "committed"]
    eq([e["key"] for e in committed], [key], "sent again")
    check(0 <= lost[0]["t"] <= committed[0]["t"],
          f"t from the run's start: lost at {lost[0]['t']}, sent at {committed[0]['t']}")
    env.check_edge_holds(objs)


@test
def run_sends_most_valuable_first(env):
    """Control ranks title t of n by its n - t sessions; one transfer at a time, the run sends
    the objects in that order, the plan's, the most valuable first."""
    objs = make_catalog(env, titles=3, segs=2)
    ranked = [o["path"] for o in env.control.plan(env.edge_id)["objects"]]
    eq(ranked, [o["path"] for o in objs], "control's plan ranks title0, title1, title2")
    rc, out, err = env.fill("run", "--progress", "json", "--parallel", "1")
    eq(rc, 0, f"run exit ({err})")
    eq([e["key"] for e in events(out) if e["event"] == "committed"],
       ["/" + p for p in ranked], "commits in plan order")
    eq([k for k, st in env.puts(settle=True)], ["/" + p for p in ranked],
       "PUTs the edge saw, in plan order")


@test
def dry_run_everywhere(env):
    """--dry-run is taken by every command and changes nothing: plan and status read only,
    run sends and deletes nothing, verify lists what it would fetch and fetches nothing."""
    objs = make_catalog(env, titles=1, segs=3)
    env.edge.put("/old/unplanned.m4s", b"x" * 5000)
    rc, out, err = env.fill("run", "--progress", "none", "--limit", "2", "--no-evict")
    eq(rc, 0, f"a first run of 2 objects ({err})")
    before, commits = env.listing(), env.commits()
    eq(len(before), 3, "2 planned objects and the unplanned one held")
    for cmd in ("plan", "status", "run"):
        rc, out, err = env.fill(cmd, "--dry-run", "--json")
        eq(rc, 0, f"{cmd} --dry-run ({err})")
    rc, out, err = env.fill("verify", "--dry-run", "--all", "--json")
    eq(rc, 0, f"verify --dry-run ({err})")
    ev = events(out)
    eq(sorted(e["key"] for e in ev if e.get("result") == "would-fetch"),
       sorted(k for k in before if k != "/old/unplanned.m4s"), "verify lists the held objects")
    eq([e["checked"] for e in ev if e.get("event") == "summary"], [0], "and checks none")
    eq(env.listing(), before, "the edge holds the same objects")
    eq(env.commits(), commits, "nothing sent")
    eq(len(env.puts(settle=True)), 3, "PUTs: the test's and the first run's 2, no more")
    with open(env.edge.access_log, encoding="utf-8", errors="replace") as f:
        gets = [ln for ln in f if '"GET /title0/' in ln or '"DELETE ' in ln]
    eq(gets, [], "no object fetched from the edge, none deleted")


@test
def progress_bar_on_a_terminal(env):
    """With no --progress, a run draws a bar on stderr when stderr is a terminal (objects,
    bytes, rate, ETA) and writes no JSON lines; when it is not, it writes JSON lines on stdout
    and no bar."""
    objs = make_catalog(env, titles=2, segs=4)
    master, slave = os.openpty()
    got = bytearray()

    def drain():
        while True:
            try:
                d = os.read(master, 4096)
            except OSError:
                return
            if not d:
                return
            got.extend(d)

    t = threading.Thread(target=drain, daemon=True)
    t.start()
    try:
        p = subprocess.run([env.fill_bin, "run"] + env.base_args() +
                           ["--rate", "8Mbit", "--progress-interval", "100"],
                           stdout=subprocess.PIPE, stderr=slave, timeout=60)
    finally:
        os.close(slave)
        t.join(10)
        os.close(master)
    bar = got.decode("utf-8", "replace")
    eq(p.returncode, 0, f"run exit ({bar})")
    env.check_edge_holds(objs)
    n = len(objs)
    line = r"\r\x1b\[K\[[#.]{24}\] \d+/%d objects  [^/\r]+/[^\r]+  [\d.]+ Mbit/s  ETA \d+:\d\d"
    check(re.search(line % n, bar), f"a bar on the terminal: {bar!r}")
    check(f"] {n}/{n} objects" in bar, f"the bar's last state: {bar!r}")
    check(b"{" not in p.stdout, f"no JSON lines beside the bar: {p.stdout!r}")
    # Not a terminal: JSON lines on stdout, and no bar.
    rc, out, err = env.fill("run")
    eq(rc, 0, f"second run exit ({err})")
    check([e["event"] for e in events(out)][-1:] == ["done"], f"JSON lines: {out}")
    check("\x1b[K" not in err and "objects" not in err, f"no bar off a terminal: {err!r}")


def listing_gets(env):
    """The targets of the listing requests the edge logged, in order (the edge stopped first:
    SIGTERM flushes its access log)."""
    if env.edge.running():
        env.edge.stop()
    with open(env.edge.access_log, encoding="utf-8", errors="replace") as f:
        return [line.split('"GET ', 1)[1].split(" ", 1)[0].rstrip('"') for line in f
                if '"GET /admin/objects' in line]


@test
def listing_read_in_pages(env):
    """The agent reads an edge's listing in pages (limit, then after= the cursor the edge
    names in X-Sluice-Next), so a large edge is never one answer of hundreds of MiB. With pages
    of 3 the held objects are all seen: the second run sends nothing. Keys that are not UTF-8
    are listed as \\u00XX escapes (read back as other bytes), so the cursor must be the
    edge's, not the listed key: with pages of 1, the page ending at /%FF/odd.m4s goes on
    after that key, not after its escaped reading (which sorts before /%D0%96/x.m4s and would
    list it twice)."""
    objs = make_catalog(env, titles=2, segs=3)
    for key in ("/zz/unplanned.m4s", "/%D0%96/x.m4s", "/%FF/odd.m4s", "/%FF/zz.m4s"):
        env.edge.put(key, b"u" * 100)
    rc, out, err = env.fill("run", "--progress", "json", "--list-page", "3")
    eq(rc, 0, f"run exit ({err})")
    for page in ("3", "1"):
        rc, out, err = env.fill("plan", "--json", "--list-page", page)
        eq(rc, 0, f"plan with pages of {page} exit ({err})")
        d = events(out)[0]
        eq((d["held_objects"], d["add_objects"], d["unplanned_objects"]), (len(objs), 0, 4),
           f"every held object seen through pages of {page}")
    rc, out, err = env.fill("run", "--progress", "json", "--list-page", "3")
    eq(rc, 0, f"second run exit ({err})")
    eq([e for e in events(out) if e["event"] == "done"][0]["queued"], 0, "second run queue")
    rc, _, err = env.fill("plan", "--list-page", "0")
    eq(rc, 2, f"--list-page 0 is a usage error ({err})")
    gets = [t for t in listing_gets(env) if "limit=3" in t]
    # The first run listed 4 objects (2 pages), the plan and the second run len(objs) + 4.
    pages = -(-(len(objs) + 4) // 3)
    check(len(gets) >= 2 * pages + 2, f"{len(gets)} listing pages asked, wanted >= "
          f"{2 * pages + 2}: {gets}")
    check(any("after=%2F" in t for t in gets), f"pages go on after a key: {gets}")
    check(all(t.startswith("/admin/objects?limit=3") for t in gets), f"page targets: {gets}")
    ones = [t for t in listing_gets(env) if "limit=1&" in t]
    check(any(t.endswith("after=%2F%FF%2Fodd.m4s") for t in ones),
          f"a page goes on after the stored bytes of /%FF/odd.m4s: {ones}")


@test
def verify_finds_a_bad_object(env):
    objs = make_catalog(env, titles=1, segs=3)
    rc, out, err = env.fill("run", "--progress", "none")
    eq(rc, 0, f"run exit ({err})")
    # The edge stores what it is given without a hash: content the plan does not know.
    bad = objs[1]
    env.edge.put("/" + bad["path"], b"y" * bad["size"], sha256=None)
    rc, out, err = env.fill("verify", "--all")
    eq(rc, 3, f"verify exit with a mismatch ({out} {err})")
    check("mismatch" in out and bad["path"] in out, f"verify output: {out}")


def _dribble(handler, body, pieces, pause):
    """body in that many pieces, each after pause s; once handler.server.stop_at pieces are
    sent (None: never), nothing more until handler.server.done."""
    step = -(-len(body) // pieces)
    for i in range(pieces):
        if i == handler.server.stop_at:
            handler.server.done.wait(10)
            return
        time.sleep(pause)
        handler.wfile.write(body[i * step:(i + 1) * step])
        handler.wfile.flush()


class _EdgeSlowly(http.server.BaseHTTPRequestHandler):
    """An edge's client URL on a slow link: the real edge's answer (self.server.edge_port) in
    25 pieces a tenth of a second apart; with self.server.stop_at, nothing more after that
    many pieces."""

    def do_GET(self):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.server.edge_port}{self.path}") as r:
            body = r.read()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        _dribble(self, body, 25, 0.1)

    def log_message(self, *a):
        pass


@test
def verify_over_a_slow_link(env):
    """verify's fetches too: timeout bounds their silences, not their length. With timeout
    200ms, an object that takes 2.5 s to arrive, a piece every tenth of a second, is checked
    (ten timeouts in all cut it before); one that stops arriving is cut, saying so."""
    make_catalog(env, titles=1, segs=1)
    rc, out, err = env.fill("run", "--progress", "none")
    eq(rc, 0, f"run exit ({err})")
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EdgeSlowly)
    srv.daemon_threads = True
    srv.edge_port = env.edge.port
    srv.stop_at = None
    srv.done = threading.Event()
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    cfg = os.path.join(env.dir, "fill-verify.yaml")
    with open(cfg, "w") as f:
        f.write("timeout: 200ms\n")
    slow_url = f"http://127.0.0.1:{srv.server_address[1]}"
    try:
        rc, out, err = env.fill("verify", "--sample", "1", "--json", "--config", cfg,
                                "--edge-url", slow_url)
        eq(rc, 0, f"verify over a slow link ({out} {err})")
        eq([e["ok"] for e in events(out) if e.get("event") == "summary"], [1], "checked")
        srv.stop_at = 3
        rc, out, err = env.fill("verify", "--sample", "1", "--config", cfg, "--edge-url",
                                slow_url)
        check(rc != 0, f"an object that stopped arriving passed ({out} {err})")
        check("nothing arrived for 0.2 s" in out + err, f"says why: {out} {err}")
    finally:
        srv.done.set()
        srv.shutdown()
        srv.server_close()


@test
def verify_checks_a_sample(env):
    """verify --sample N fetches N distinct held planned objects; without --sample or --all,
    16 (here more than the edge holds: all of them)."""
    objs = make_catalog(env, titles=2, segs=4)
    rc, out, err = env.fill("run", "--progress", "none")
    eq(rc, 0, f"run exit ({err})")
    rc, out, err = env.fill("verify", "--sample", "3", "--json", "--verbose")
    eq(rc, 0, f"verify --sample 3 ({err}) {out}")
    ev = events(out)
    keys = [e["key"] for e in ev if e.get("result") == "ok"]
    eq(len(set(keys)), 3, f"3 distinct objects checked: {keys}")
    check(set(keys) <= {"/" + o["path"] for o in objs}, f"planned objects: {keys}")
    eq([e["checked"] for e in ev if e.get("event") == "summary"], [3], "summary")
    rc, out, err = env.fill("verify", "--json")
    eq(rc, 0, f"verify ({err}) {out}")
    eq([e["checked"] for e in events(out) if e.get("event") == "summary"], [len(objs)],
       "the default sample of 16 takes every one of 10")


@test
def verify_signs_for_an_edge_that_requires_tokens(env):
    keys = os.path.join(env.dir, "keys.yaml")
    with open(keys, "w") as f:
        f.write("keys:\n  - {kid: k1, secret: " + "5a" * 32 + "}\n")
    env.edge.stop()
    env.edge.cfg["tokens"] = {"required": True, "keys_file": keys}
    env.edge.start()
    objs = make_catalog(env, titles=2, segs=2)
    rc, out, err = env.fill("run", "--progress", "none")
    eq(rc, 0, f"run exit ({err})")
    rc, out, err = env.fill("verify", "--all")
    eq(rc, 1, f"verify without keys cannot fetch (403) ({out})")
    check("403" in out, f"verify says why: {out}")
    rc, out, err = env.fill("verify", "--all", "--json", "--token-keys", keys)
    eq(rc, 0, f"verify with signed URLs ({out} {err})")
    summ = [e for e in events(out) if e.get("event") == "summary"][0]
    eq(summ["ok"], len(objs), "verified through signed URLs")
    # A key file that cannot be loaded says why (every failure read "no key").
    rc, out, err = env.fill("verify", "--all", "--token-keys", keys + ".gone")
    eq(rc, 2, f"verify with a missing key file ({err})")
    check(f"{keys}.gone: No such file or directory" in err, f"says why: {err}")


def without_control_token(env):
    """base_args() less --control-token-file."""
    args = env.base_args()
    i = args.index("--control-token-file")
    return args[:i] + args[i + 2:]


def fill_with(env, args, cmd, *extra):
    """Run sluice-fill cmd with args; returns (exit status, stdout, stdout + stderr)."""
    p = subprocess.run([env.fill_bin, cmd] + args + list(extra), capture_output=True, timeout=60)
    return p.returncode, p.stdout, (p.stdout + p.stderr).decode("utf-8", "replace")


def write_file(env, name, line):
    path = os.path.join(env.dir, name)
    with open(path, "w") as f:
        f.write(line + "\n")
    return path


@test
def plan_needs_control_token(env):
    """Control answers fill plans only to its admin token or the edge's signature: without
    either, or with a wrong token, sluice-fill stops with exit 1 and says which, before
    touching the edge."""
    make_catalog(env, titles=1, segs=1)
    bare = without_control_token(env)
    for cmd in ("plan", "run"):
        rc, _, text = fill_with(env, bare, cmd)
        eq(rc, 1, f"{cmd} without a control token ({text})")
        check("401" in text and "no control token or edge secret was given" in text and
              "--control-token-file" in text, f"{cmd}: no clear message: {text}")
    wrong = write_file(env, "wrong.token", "not-control-s-admin-token-0123456789")
    rc, _, text = fill_with(env, bare, "plan", "--control-token-file", wrong)
    eq(rc, 1, f"plan with a wrong control token ({text})")
    check("not control's admin token" in text, f"wrong token: no clear message: {text}")
    eq(env.puts(), [], "nothing pushed without a plan")


@test
def plan_signed_with_edge_secret(env):
    """Instead of control's admin token, sluice-fill can sign the plan request with the edge's
    own control secret (what an appliance holds): control answers it for that edge only."""
    make_catalog(env, titles=1, segs=1)
    secret = "fill-edge-secret-" + "0123456789abcdef" * 2
    env.control.add_edge(env.edge_id, "eu-west", f"http://127.0.0.1:{env.edge.port}",
                         secret=secret)
    bare = without_control_token(env)
    good = write_file(env, "edge.secret", secret)
    rc, out, text = fill_with(env, bare, "plan", "--json", "--secret-file", good)
    eq(rc, 0, f"plan signed with the edge's secret ({text})")
    check(json.loads(out)["edge"] == env.edge_id, f"plan answer: {text}")
    wrong = write_file(env, "wrong.secret", "another-secret-" + "fedcba9876543210" * 2)
    rc, _, text = fill_with(env, bare, "plan", "--secret-file", wrong)
    eq(rc, 1, f"plan signed with a wrong secret ({text})")
    check("401" in text and "secret was not accepted" in text and "--secret-file" in text,
          f"wrong secret: no clear message: {text}")
    short = write_file(env, "short.secret", "too-short")
    rc, _, text = fill_with(env, bare, "plan", "--secret-file", short)
    eq(rc, 2, f"plan with an unusable secret ({text})")
    check("32 to 128" in text, f"unusable secret: no clear message: {text}")


@test
def malformed_plan_with_secret_is_an_error(env):
    """A plan that does not parse is control's fault, not the operator's: exit 1 and the
    parser's words, with an edge secret given as without one. Only a secret that cannot sign
    is a usage error (exit 2, above)."""
    make_catalog(env, titles=1, segs=1)
    good = write_file(env, "edge.secret", "fill-edge-secret-" + "0123456789abcdef" * 2)
    proxy = AdminProxy(env.control.ctl.port)  # answers the plan request with a JSON error body
    env.control_url = proxy.url
    proxy.answer[f"/v1/fill/plan?edge={env.edge_id}"] = [(200, {})] * 2
    try:
        for cmd in ("plan", "run"):
            rc, _, text = fill_with(env, without_control_token(env), cmd, "--secret-file", good)
            eq(rc, 1, f"{cmd}: a plan that does not parse ({text})")
            check("plan: not an object with an" in text, f"{cmd}: says why: {text}")
    finally:
        proxy.stop()
    eq(env.puts(), [], "nothing pushed")


@test
def unusable_plan_url_refused_at_once(env):
    """An object whose URL in the plan cannot be fetched as written (a space in it) is refused
    at once, saying so; it was retried eight times over half a minute as if the origin were
    down. The rest of the plan goes in."""
    objs = make_catalog(env, titles=1, segs=2)
    plan = env.control.plan(env.edge_id)
    bad = plan["objects"][0]
    bad["url"] = bad["url"].replace("/title0/", "/title 0/")
    t0 = time.monotonic()
    with plan_stand_in(env, plan):
        rc, out, err = env.fill("run", "--progress", "json")
    took = time.monotonic() - t0
    eq(rc, 3, f"one object refused ({err})")
    refused = [e for e in events(out) if e["event"] == "refused"]
    check(len(refused) == 1 and refused[0]["reason"] == "origin-error" and
          "the plan's URL" in refused[0].get("detail", ""), f"refused, saying why: {refused}")
    check(took < 15, f"the run took {took:.1f} s: the URL was retried")
    held = env.listing()
    eq(len([o for o in objs if "/" + o["path"] in held]), len(objs) - 1, "the rest went in")


class _PlanSlowly(PlanFor):
    """A control on a slow link: the plan in self.server.plan, in 12 pieces a quarter of a
    second apart; with self.server.stop_at, nothing more after that many pieces."""

    def send_body(self, body):
        _dribble(self, body, 12, 0.25)


@test
def plan_over_a_slow_link(env):
    """timeout bounds a request's silences, not its length: a plan that takes 3 s to arrive
    in pieces a quarter of a second apart is taken with timeout 1s (a large plan over a slow
    link); one that stops arriving is cut once nothing came for 1 s, saying so."""
    make_catalog(env, titles=1, segs=4)
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _PlanSlowly)
    srv.daemon_threads = True
    srv.plan = env.control.plan(env.edge_id)
    srv.stop_at = None
    srv.done = threading.Event()
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    env.control_url = f"http://127.0.0.1:{srv.server_address[1]}"
    cfg = os.path.join(env.dir, "fill-timeout.yaml")
    with open(cfg, "w") as f:
        f.write("timeout: 1s\n")
    try:
        t0 = time.monotonic()
        rc, out, err = env.fill("plan", "--config", cfg)
        took = time.monotonic() - t0
        eq(rc, 0, f"a plan over 3 s with timeout 1s ({out} {err})")
        check(took >= 2.5, f"the plan came whole in {took:.1f} s, want its 3 s")
        n = len(srv.plan["objects"])
        check(re.search(rf"planned +{n} ", out), f"the plan's {n} objects: {out}")
        srv.stop_at = 2
        t0 = time.monotonic()
        rc, out, err = env.fill("plan", "--config", cfg)
        took = time.monotonic() - t0
        check(rc != 0, f"a plan that stopped arriving was taken ({out} {err})")
        check("nothing arrived for 1 s" in out + err, f"says why: {out} {err}")
        check(1.4 <= took <= 4, f"cut after {took:.1f} s, want about 0.5 + 1")
    finally:
        srv.done.set()
        srv.shutdown()
        srv.server_close()


@test
def plan_for_another_edge_refused(env):
    """A plan control issued for another edge (its "edge" field) is refused, exit 1 and
    saying so: this edge would be filled, and evicted, by another's list. A control that
    mixes them up is a misbehaving server: a stand-in serves the real plan of edge-other."""
    make_catalog(env, titles=1, segs=2)
    env.control.add_edge("edge-other", "eu-west", f"http://127.0.0.1:{env.edge.port}")
    plan = env.control.plan("edge-other")
    eq(plan["edge"], "edge-other", "control's plan names its edge")
    with plan_stand_in(env, plan) as srv:
        for cmd in ("plan", "run"):
            rc, out, err = env.fill(cmd)
            text = (out + err).replace('\\"', '"')  # run's "done" line is JSON
            eq(rc, 1, f"{cmd}: another edge's plan ({text})")
            check(f'control answered the fill plan for {env.edge_id} with a plan for edge '
                  f'"edge-other"' in text, f"{cmd}: says why: {text}")
        del srv.plan["edge"]
        rc, out, err = env.fill("plan")
        eq(rc, 1, f"a plan naming no edge ({out} {err})")
        check("a plan naming no edge" in out + err, f"says why: {out} {err}")
    eq(env.puts(), [], "nothing pushed")


@test
def usage_errors(env):
    rc, out, err = env.fill("run", "--rate", "fast")
    eq(rc, 2, "bad rate")
    rc, out, err = env.fill("run", "--window", "25:00-02:00")
    eq(rc, 2, "bad window")
    rc, out, err = env.fill("frobnicate")
    eq(rc, 2, "bad command")
    # URLs given as flags are checked as the same keys in a file are: a usage error, never a
    # failed request (exit 1) or another scheme spoken.
    for cmd, flag, url in (("plan", "--control", "notaurl"), ("run", "--admin-url", "127.0.0.1:1"),
                           ("verify", "--edge-url", "ftp://127.0.0.1:1")):
        rc, out, err = env.fill(cmd, flag, url)
        eq(rc, 2, f"{cmd} {flag} {url} ({err})")
        check(f'{flag}: "{url}" is not an http:// or https:// URL' in err, f"says why: {err}")
    # --limit 0 would read as "send nothing"; it sent everything.
    rc, out, err = env.fill("run", "--limit", "0")
    eq(rc, 2, f"--limit 0 ({err})")
    eq(env.puts(), [], "nothing pushed")


@test
def empty_object_events_say_size(env):
    """An empty object's events carry "size": 0 like any other's (it was left out)."""
    objs = make_catalog(env, titles=1, segs=1, init_size=0)
    rc, out, err = env.fill("run", "--progress", "json")
    eq(rc, 0, f"run ({err})")
    init = "/" + objs[0]["path"]
    ev = [e for e in events(out) if e["event"] == "committed" and e["key"] == init]
    check(len(ev) == 1 and ev[0].get("size") == 0, f"the empty object's commit: {ev}")
    env.check_edge_holds(objs)


@test
def same_edge_twice_is_one(env):
    """--edge the same id twice is that edge once: plan takes it (it said "need exactly one
    edge"), and run fills it (the second entry met the first one's lock: exit 1)."""
    objs = make_catalog(env, titles=1, segs=2)
    rc, out, err = env.fill("plan", "--edge", env.edge_id, "--json")
    eq(rc, 0, f"plan ({err})")
    rc, out, err = env.fill("run", "--edge", env.edge_id, "--progress", "none")
    eq(rc, 0, f"run ({err})")
    env.check_edge_holds(objs)


@test
def verify_reports_progress(env):
    objs = make_catalog(env, titles=2, segs=4)
    rc, out, err = env.fill("run", "--progress", "none")
    eq(rc, 0, f"run exit ({err})")
    total = sum(o["size"] for o in objs)
    # JSON lines among --json output, like run's; the last says everything was checked.
    rc, out, err = env.fill("verify", "--all", "--json", "--progress-interval", "10")
    eq(rc, 0, f"verify exit ({err}) {out}")
    ev = events(out)
    prog = [e for e in ev if e.get("event") == "progress"]
    check(prog, f"progress lines: {out}")
    last = prog[-1]
    eq((last["objects_done"], last["objects_total"]), (len(objs), len(objs)), "objects")
    eq((last["bytes_done"], last["bytes_total"], last["bytes_moved"]), (total, total, total),
       "bytes checked, planned and fetched")
    eq(last["refused"], 0, "no mismatch")
    done = [e["objects_done"] for e in prog]
    eq(done, sorted(done), "objects_done only grows")
    summ = [e for e in ev if e.get("event") == "summary"][0]
    eq(summ["ok"], len(objs), "verified objects")
    # A bar on stderr (a terminal's default); the table on stdout stays plain.
    rc, out, err = env.fill("verify", "--all", "--progress", "bar")
    eq(rc, 0, f"verify exit ({err}) {out}")
    check(f"{len(objs)}/{len(objs)} objects" in err, f"the bar's last state: {err!r}")
    check("{" not in out and f"{len(objs)} ok" in out, f"the table: {out}")
    # Without --json and no terminal: no progress at all, as before.
    rc, out, err = env.fill("verify", "--all")
    eq(rc, 0, f"verify exit ({err}) {out}")
    check("{" not in out and "objects" not in err, f"nothing but the table: {out} {err}")


NO_WINDOW = "no off-peak window for edge-it"
NO_RATE = "no rate cap for edge-it"
SLOW_TURN = "KiB turns"


@test
def run_warns_about_unsafe_defaults(env):
    objs = make_catalog(env, titles=1, segs=3)
    # Nothing said: any hour, uncapped, and a loud warning for each.
    rc, out, err = env.fill("run", "--progress", "none")
    eq(rc, 0, f"run exit ({err})")
    check(NO_WINDOW in err and NO_RATE in err, f"warned about the defaults: {err}")
    check(all("WARNING" in ln for ln in err.splitlines() if NO_WINDOW in ln or NO_RATE in ln),
          f"loudly: {err}")
    env.check_edge_holds(objs)
    # Said explicitly, by flags: no warning, even for the same effect.
    rc, out, err = env.fill("run", "--progress", "none", "--window", "00:00-24:00",
                            "--rate", "unlimited")
    eq(rc, 0, f"explicit run exit ({err})")
    check(NO_WINDOW not in err and NO_RATE not in err, f"no warning when said: {err}")
    # Said by the config file (the edge's own rate counts), and a dry run warns too.
    cfg = os.path.join(env.dir, "fill.yaml")
    with open(cfg, "w") as f:
        f.write('window: "00:00-24:00"\nedges:\n  - {id: edge-it, rate: 1Gbit}\n')
    rc, out, err = env.fill("run", "--progress", "none", "--config", cfg)
    eq(rc, 0, f"configured run exit ({err})")
    check(NO_WINDOW not in err and NO_RATE not in err, f"no warning when configured: {err}")
    rc, out, err = env.fill("run", "--dry-run", "--window", "00:00-24:00")
    eq(rc, 0, f"dry run exit ({err})")
    check(NO_WINDOW not in err and NO_RATE in err, f"a dry run warns as the run would: {err}")
    # A cap so low for its parallel transfers that each waits long between its turns at it
    # (32 x 64 KiB at 1 Mbit/s: 17 s): said, with the way out. 3 at 4 Mbit/s: nothing.
    # Chunks are 5 ms of the cap, 1 KiB at least: only under about 0.8 Mbit/s do 32 turns
    # of 1 KiB take long (32 x 8192 bits at 20 kbit/s: 13 s).
    rc, out, err = env.fill("run", "--dry-run", "--window", "00:00-24:00", "--rate", "20kbit",
                            "--parallel", "32")
    eq(rc, 0, f"dry run exit ({err})")
    slow = [ln for ln in err.splitlines() if SLOW_TURN in ln]
    eq(len(slow), 1, f"one warning for the slow turns: {err}")
    check("WARNING: edge-it: 32 transfers share a 20.0 kbit/s cap" in slow[0]
          and "about 13 s between its 1.0 KiB turns" in slow[0]
          and "lower parallel or raise rate" in slow[0],
          f"the warning says why and what to do: {slow[0]}")
    # Under 10 kbit/s the cap is said in its own unit (it read 0.00 Mbit/s).
    rc, out, err = env.fill("run", "--dry-run", "--window", "00:00-24:00", "--rate", "4kbit",
                            "--parallel", "8")
    check("8 transfers share a 4.00 kbit/s cap" in err, f"a cap under 10 kbit/s: {err}")
    rc, out, err = env.fill("run", "--dry-run", "--window", "00:00-24:00", "--rate", "1Mbit",
                            "--parallel", "32")
    eq(rc, 0, f"dry run exit ({err})")
    check(SLOW_TURN not in err, f"32 turns of 1 KiB at 1 Mbit/s are quick: {err}")
    rc, out, err = env.fill("run", "--dry-run", "--window", "00:00-24:00", "--rate", "4Mbit",
                            "--parallel", "3")
    eq(rc, 0, f"dry run exit ({err})")
    check(SLOW_TURN not in err and NO_RATE not in err, f"nothing to say: {err}")



@test
def overlong_state_dir_refused(env):
    """A state_dir too long for the journal paths built from it is a usage error, said as
    such, never a path written past its buffer."""
    rc, out, err = env.fill("plan", "--state-dir", "/tmp/" + "d" * 3900)
    eq(rc, 2, f"usage error ({err})")
    check("state_dir: longer than" in err, f"says why: {err}")
    # An empty one too, as the file's check refuses it: it put the journals and locks in "/".
    rc, out, err = env.fill("status", "--state-dir", "")
    eq(rc, 2, f"usage error for an empty --state-dir ({err})")
    check("--state-dir: empty" in err, f"says why: {err}")


if __name__ == "__main__":
    run()
