# SPDX-License-Identifier: MIT
"""The edge commits an object but its answer to the PUT is lost (a proxy between agent and
edge relays the whole body, reads the edge's 201 and resets the agent's connection). The
agent asks the edge whether it committed the object before sending it again: the object ends
committed and journalled, sent once. The question is held back at the proxy for a few
seconds, and the other transfers go on meanwhile: other objects are committed between the
"check" event and the object's "committed" event. A kill -9 while the question is open
leaves the object out of the journal (the edge never confirmed it to the agent), and the
next run, which lists the edge, does not send it again. A question left unanswered for its
10 s bound counts as "not committed": the object is sent again, as before the question."""

import os
import signal

from fillharness import AdminProxy, check, eq, events, make_catalog, run, test

HOLD_S = 3.0


def journal_commits(env):
    """Keys the journal records as committed."""
    path = os.path.join(env.state_dir, f"{env.edge_id}.journal")
    with open(path, encoding="utf-8") as f:
        return [ln.rstrip("\n").split(" ", 3)[3] for ln in f if ln.startswith("C ")]


def with_proxy(env, key, hold_s):
    proxy = AdminProxy(env.edge.admin_port)
    proxy.lose[key] = 1
    proxy.hold[key] = hold_s
    env.admin_url = proxy.url
    return proxy


@test
def lost_answer_checked_while_others_move(env):
    objs = make_catalog(env, titles=2, segs=6, seg_size=300_000)
    lost = objs[2]
    key = "/" + lost["path"]
    proxy = with_proxy(env, key, HOLD_S)
    try:
        # 4 Mbit/s over about 4.2 MB: some 8 s, so transfers are still running when the
        # object (third in the plan) has gone out and its answer was lost.
        rc, out, err = env.fill("run", "--progress", "json", "--rate", "4Mbit",
                                "--parallel", "3")
    finally:
        proxy.stop()
    eq(rc, 0, f"run exit ({err})")
    ev = events(out)
    mine = [e for e in ev if e.get("key") == key]
    eq(proxy.lost, [(key, 201)], f"the edge committed the object; its answer was lost: {mine}")

    # On a loaded machine an attempt can fail before the one whose answer is lost (the proxy
    # loses only a whole PUT's answer; on a loaded machine the harness's edge, with its 2 s
    # send_timeout, can end a PUT on the way). One that failed before its whole body went out is a retry; one that
    # failed after is a question the edge answers "not committed" (it never was: the lost
    # answer is the edge's first commit, 201), then a retry. Each question is held back.
    # After the last question, the one about the lost answer, nothing is sent again.
    asked = [i for i, e in enumerate(mine) if e["event"] == "check"]
    check(asked, f"no check event for {key}: {mine}")
    early = mine[:asked[-1]]
    check(all(e["event"] == "retry" or mine[i + 1]["event"] == "retry"
              for i, e in enumerate(early)),
          f"before the last question, only failed attempts and questions answered no: {mine}")
    eq([h[0] for h in proxy.held], [key] * len(asked), f"each question was held back: {mine}")
    retries = [e for e in early if e["event"] == "retry"]
    if early:
        print(f"# {len(retries)} attempt(s) of {key} failed before the lost answer: {early}")
    mine = mine[asked[-1]:]
    eq(proxy.puts.get(key), 1 + len(retries), f"PUTs of {key}: one, after any failed before it")
    t1 = [e["t"] for e in mine if e["event"] == "committed"][-1]
    # The question was held from about t1 - HOLD_S to t1: inside that span, other objects
    # were committed and bytes moved (a blocking question would have stopped everything).
    lo, hi = t1 - HOLD_S + 0.3, t1 - 0.1
    during = [e["key"] for e in ev if e["event"] == "committed" and e["key"] != key
              and lo < e["t"] < hi]
    check(len(during) >= 2,
          f"other objects committed while the question was open ({lo:.2f}s to {hi:.2f}s): "
          f"{during}")
    moved = [e["bytes_moved"] for e in ev if e["event"] == "progress" and lo < e["t"] < hi]
    check(len(moved) >= 2 and moved[-1] > moved[0],
          f"bytes kept moving while the question was open: {moved}")
    eq([(e["event"], e.get("reason")) for e in mine],
       [("check", "edge-unavailable"), ("committed", None)],
       "the object's events: asked, then committed without a retry")
    check(t1 - mine[0]["t"] >= HOLD_S - 0.2,
          f"the question took {t1 - mine[0]['t']:.2f}s, held {HOLD_S}s")

    done = [e for e in ev if e["event"] == "done"][0]
    eq((done["committed"], done["refused"], done["failed"]), (len(objs), 0, 0), "done counts")
    env.check_edge_holds(objs)
    eq(env.commits(), len(objs), "edge commits: one per object, nothing sent twice")
    eq(journal_commits(env).count(key), 1, "the journal records the commit once")
    eq(sorted(journal_commits(env)), sorted("/" + o["path"] for o in objs), "journalled")


@test
def unanswered_check_means_retry(env):
    objs = make_catalog(env, titles=1, segs=3, seg_size=200_000)
    lost = objs[1]
    key = "/" + lost["path"]
    # Held past the question's 10 s bound: no answer, so the object is sent again.
    proxy = with_proxy(env, key, 15)
    try:
        rc, out, err = env.fill("run", "--progress", "json", "--parallel", "2")
    finally:
        proxy.stop()
    eq(rc, 0, f"run exit ({err})")
    mine = [e for e in events(out) if e.get("key") == key]
    eq([(e["event"], e.get("reason")) for e in mine],
       [("check", "edge-unavailable"), ("retry", "edge-unavailable"), ("committed", None)],
       "the object's events: asked, no answer, sent again")
    check(9.5 <= mine[1]["t"] - mine[0]["t"] <= 14,
          f"the question was given up after {mine[1]['t'] - mine[0]['t']:.2f}s, not 10 s")
    eq(proxy.puts.get(key), 2, f"PUTs of {key}: the lost one and the retry")
    env.check_edge_holds(objs)
    eq(env.commits(), len(objs) + 1, "edge commits: the object twice (201, then 204)")
    eq(journal_commits(env).count(key), 1, "the journal records the commit once")


@test
def kill9_during_check(env):
    objs = make_catalog(env, titles=1, segs=4, seg_size=200_000)
    lost = objs[1]
    key = "/" + lost["path"]
    proxy = with_proxy(env, key, 60)
    try:
        p = env.spawn("run", "--progress", "json", "--parallel", "2")
        seen = []
        try:
            for raw in p.stdout:
                e = events(raw.decode())
                seen += e
                if e and e[0]["event"] == "check":
                    p.send_signal(signal.SIGKILL)
                    break
        finally:
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
            p.wait()
        eq(p.returncode, -signal.SIGKILL, "killed")
        eq([(e["event"], e["key"]) for e in seen if e["event"] == "check"], [("check", key)],
           "killed while asking about the object")
        eq(proxy.lost, [(key, 201)], "the edge committed the object; its answer was lost")
    finally:
        proxy.stop()
    check(key not in journal_commits(env),
          "no commit journalled that the edge did not confirm to the agent")
    check(key in env.listing(), "the edge holds the object")

    env.admin_url = None
    rc, out, err = env.fill("run", "--progress", "json")
    eq(rc, 0, f"rerun exit ({err})")
    check(key not in [e.get("key") for e in events(out) if e["event"] == "committed"],
          "the rerun did not send the object the edge holds")
    env.check_edge_holds(objs)
    eq(env.commits(), len(objs), "edge commits: one per object over both runs")



@test
def answered_error_not_checked(env):
    """A PUT the edge answers 503 got its answer: the object is sent again, without the
    question about a lost answer, and the event says what the edge answered (it asked the
    edge, and said "edge: No error (status 503)")."""
    objs = make_catalog(env, titles=1, segs=2)
    key = "/" + objs[1]["path"]
    proxy = AdminProxy(env.edge.admin_port)
    env.admin_url = proxy.url
    proxy.answer["/admin/objects" + key] = [(503, {})]
    try:
        rc, out, err = env.fill("run", "--progress", "json")
    finally:
        proxy.stop()
    eq(rc, 0, f"run ({err})")
    ev = events(out)
    eq([e for e in ev if e["event"] == "check"], [], "no question after an answer")
    retries = [e for e in ev if e["event"] == "retry" and e.get("key") == key]
    check(len(retries) == 1 and retries[0].get("detail", "").startswith("edge answered 503"),
          f"the retry says what the edge answered: {retries}")
    env.check_edge_holds(objs)

if __name__ == "__main__":
    run()
