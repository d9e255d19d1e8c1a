# SPDX-License-Identifier: MIT
"""Control and the edge's listing briefly unavailable at the start of a run (a proxy in front
of each answers the first requests itself: 503 with Retry-After, 502, a reset): the run
retries the plan and the listing, waiting what Retry-After asks, logs each retry, and still
fills the edge with every object, byte for byte. Retries end when the window closes, and a
SIGTERM while waiting for one ends the run at once with status 5. A run waiting for its
window lists the edge again once it opens."""

import signal
import socket
import threading
import time
import urllib.parse

from fillharness import AdminProxy, check, eq, events, make_catalog, run, test


def control_proxy(env):
    proxy = AdminProxy(env.control.ctl.port)
    env.control_url = proxy.url
    return proxy


def plan_target(env):
    return f"/v1/fill/plan?edge={env.edge_id}"


# The agent's first page of an edge's listing (holdings.h: HOLDINGS_PAGE entries a page).
LISTING = "/admin/objects?limit=10000"


def times(proxy, target):
    return [t for _, tg, t in proxy.seen if tg == target]


@test
def plan_unavailable_then_served(env):
    objs = make_catalog(env, titles=2, segs=3)
    proxy = control_proxy(env)
    target = plan_target(env)
    # Without Retry-After the waits would be 1 s, then 2 s: 3 s each says it was obeyed.
    proxy.answer[target] = [(503, {"Retry-After": "3"}), (503, {"Retry-After": "3"})]
    try:
        rc, out, err = env.fill("run", "--progress", "json")
    finally:
        proxy.stop()
    eq(rc, 0, f"run exit ({err})")
    t = times(proxy, target)
    eq(len(t), 3, "plan requests: two answered 503, the third served")
    check(all(b - a >= 2.9 for a, b in zip(t, t[1:])),
          f"Retry-After (3 s) waited between attempts: {[round(b - a, 2) for a, b in zip(t, t[1:])]}")
    warned = [ln for ln in err.splitlines() if "fill plan" in ln and "retrying in 3 s" in ln]
    eq(len(warned), 2, f"one warning per retry, with the reason ({err})")
    check(all("503" in ln for ln in warned), f"the warnings say why: {warned}")
    done = [e for e in events(out) if e["event"] == "done"][0]
    eq((done["committed"], done["refused"], done["failed"]), (len(objs), 0, 0), "done counts")
    env.check_edge_holds(objs)
    eq(env.commits(), len(objs), "edge commits: one per object")


@test
def listing_unavailable_then_served(env):
    objs = make_catalog(env, titles=1, segs=4)
    proxy = AdminProxy(env.edge.admin_port)
    env.admin_url = proxy.url
    # A reset (no answer), then a 502 without Retry-After: backoff of 1 s, then 2 s.
    proxy.answer[LISTING] = [(None, {}), (502, {})]
    try:
        rc, out, err = env.fill("run", "--progress", "json")
    finally:
        proxy.stop()
    eq(rc, 0, f"run exit ({err})")
    t = times(proxy, LISTING)
    eq(len(t), 3, "listings: a reset, a 502, then served")
    check(t[1] - t[0] >= 0.9 and t[2] - t[1] >= 1.9,
          f"backoff between attempts: {[round(b - a, 2) for a, b in zip(t, t[1:])]}")
    warned = [ln for ln in err.splitlines() if "holdings" in ln and "retrying in" in ln]
    eq(len(warned), 2, f"one warning per retry ({err})")
    check("502" in warned[1], f"the second warning names the status: {warned[1]}")
    env.check_edge_holds(objs)
    eq(env.commits(), len(objs), "edge commits: one per object")


@test
def edge_refusing_the_token_ends_the_waiting_retries(env):
    """Every PUT's first attempt is reset, so all four wait for a retry; the first retry is
    answered 401 (the edge's admin token rotated under the run). The edge stops (exit 1) and
    the transfers still waiting for their retry are given up at once, not waited on for ever."""
    objs = make_catalog(env, titles=1, segs=3)
    proxy = AdminProxy(env.edge.admin_port)
    env.admin_url = proxy.url
    for o in objs:
        proxy.answer["/admin/objects/" + o["path"]] = [(None, {})] + [(401, {})] * 8
    t0 = time.monotonic()
    try:
        rc, out, err = env.fill("run", "--progress", "json", "--parallel", "4", timeout=60)
    finally:
        proxy.stop()
    took = time.monotonic() - t0
    eq(rc, 1, f"the edge refused the agent ({err})")
    check(took < 20, f"the run ended when the edge refused it, not {took:.1f}s later")
    check("401" in out + err, f"the refusal is reported: {out} {err}")
    eq(env.commits(), 0, "nothing committed")


@test
def edge_answer_text_cannot_forge_output(env):
    """The text of an edge's refusal is shown in the agent's output, as the edge wrote it up
    to 150 bytes: line breaks, terminal escapes and bytes that are not UTF-8 in it come out
    escaped, so the refusal stays one line of the progress output and one JSON event that
    still carries its detail."""
    objs = make_catalog(env, titles=1, segs=1)
    proxy = AdminProxy(env.edge.admin_port)
    env.admin_url = proxy.url
    target = "/admin/objects/" + objs[-1]["path"]
    body = b'{"error":"bad"}\r\nforged: line\x1b[2J\xff\xe2\x82'
    proxy.answer[target] = [(400, {}, body)] * 2
    (rc, out, err), (rc2, out2, err2) = runs_through(proxy, env)
    refused = [e for e in events(out) if e["event"] == "refused"]
    eq([e["key"] for e in refused], ["/" + objs[-1]["path"]], f"one refusal ({err})")
    detail = refused[0].get("detail", "")
    check(detail.startswith("edge answered 400: "), f"the refusal's detail: {refused[0]}")
    check("forged: line" in detail, f"the edge's text is kept: {detail!r}")
    check(all(0x20 <= ord(ch) < 0x7f for ch in detail), f"printable ASCII only: {detail!r}")
    # The bar is redrawn in place ("\r", erase line): a line may start with that.
    lines = [ln.removeprefix("\r\x1b[K") for ln in err2.split("\n") if "forged" in ln]
    eq(len(lines), 1, f"the edge's text is on one line ({err2!r})")
    check(lines[0].startswith(env.edge_id + ": refused /"), f"and on the refusal's: {lines!r}")
    check(all(0x20 <= ord(ch) < 0x7f for ch in lines[0]), f"printable ASCII only: {lines!r}")


# An error answer's body with a line break, a terminal escape and bytes that are not UTF-8.
HOSTILE = b'{"error":"bad"}\r\nforged: line\x1b[2J\xff\xe2\x82'


def runs_through(proxy, env):
    """One run with JSON progress and one with the bar, through proxy (stopped after):
    (rc, out, err) of each."""
    try:
        return env.fill("run", "--progress", "json"), env.fill("run", "--progress", "bar")
    finally:
        proxy.stop()


def one_printable_error(out, err, out2, err2):
    """The run's error (JSON run: out, err; text run: out2, err2) holds the answer's text as
    one printable line."""
    done = [e for e in events(out) if e["event"] == "done"]
    eq(len(done), 1, f"one done event ({out} {err})")
    msg = done[0].get("error", "")
    check("HTTP 400: " in msg and "forged: line" in msg, f"the error says what came: {done[0]}")
    check(all(0x20 <= ord(ch) < 0x7f for ch in msg), f"printable ASCII only: {msg!r}")
    lines = [ln for ln in (out2 + err2).split("\n") if "forged" in ln]
    eq(len(lines), 1, f"the answer's text is on one line ({out2!r} {err2!r})")
    check(all(0x20 <= ord(ch) < 0x7f for ch in lines[0]), f"printable ASCII only: {lines!r}")


@test
def refused_plan_text_cannot_forge_output(env):
    make_catalog(env, titles=1, segs=1)
    proxy = control_proxy(env)
    proxy.answer[plan_target(env)] = [(400, {}, HOSTILE)] * 2
    (rc, out, err), (rc2, out2, err2) = runs_through(proxy, env)
    check(rc != 0 and rc2 != 0, f"control refused the plan ({err})")
    one_printable_error(out, err, out2, err2)


@test
def refused_listing_text_cannot_forge_output(env):
    make_catalog(env, titles=1, segs=1)
    proxy = AdminProxy(env.edge.admin_port)
    env.admin_url = proxy.url
    proxy.answer[LISTING] = [(400, {}, HOSTILE)] * 2
    (rc, out, err), (rc2, out2, err2) = runs_through(proxy, env)
    check(rc != 0 and rc2 != 0, f"the edge refused the listing ({err})")
    one_printable_error(out, err, out2, err2)
    eq(env.puts(), [], "nothing sent")


@test
def other_edges_plan_name_cannot_forge_output(env):
    """A plan naming another edge is refused with that name in the error: a line break or a
    terminal escape in the name comes out escaped, on the edge's one error line."""
    make_catalog(env, titles=1, segs=1)
    proxy = control_proxy(env)
    body = b'{"edge":"other\\r\\nforged: line\\u001b[2J","objects":[]}'
    proxy.answer[plan_target(env)] = [(200, {}, body)]
    try:
        rc, out, err = env.fill("run", "--progress", "bar")
    finally:
        proxy.stop()
    check(rc != 0, f"the plan was refused ({err})")
    lines = [ln for ln in (out + err).split("\n") if "forged" in ln]
    eq(len(lines), 1, f"the name is on one line ({out!r} {err!r})")
    check(lines[0].startswith(env.edge_id + ": error: "), f"the edge's error line: {lines!r}")
    check("a plan for edge" in lines[0], f"the error says why: {lines!r}")
    check(all(0x20 <= ord(ch) < 0x7f for ch in lines[0]), f"printable ASCII only: {lines!r}")


@test
def listed_key_with_control_bytes_refused(env):
    """An edge never stores a key with a control byte (its paths refuse them), so a listing
    naming one, as "key" or as "key_pct", is refused as a whole: such a key would otherwise
    reach the agent's output, and the URLs it builds, as it came."""
    make_catalog(env, titles=1, segs=1)
    proxy = AdminProxy(env.edge.admin_port)
    env.admin_url = proxy.url
    for entry in ('{"key":"/a\\r\\nforged: line\\u001b[2J","size":1}',
                  '{"key":"/a","key_pct":"/a%0D%0Aforged:%20line%1B[2J","size":1}'):
        body = ("[" + entry + "," + entry + "]").encode()
        proxy.answer[LISTING] = [(200, {}, body)]
        try:
            rc, out, err = env.fill("run", "--progress", "bar")
        finally:
            proxy.answer.pop(LISTING, None)
        check(rc != 0, f"the listing was refused ({out} {err})")
        check("listing[0].key" in out + err, f"the error names the entry: {out!r} {err!r}")
        # The bar is redrawn in place ("\r", erase line): each drawing is a line of its own.
        for ln in (out + err).replace("\r\x1b[K", "\n").split("\n"):
            check("forged" not in ln or ln.startswith(env.edge_id + ": error: "),
                  f"nothing starts a line of its own: {ln!r}")
            check(all(0x20 <= ord(ch) < 0x7f for ch in ln), f"printable ASCII only: {ln!r}")
    proxy.stop()
    eq(env.puts(), [], "nothing sent")


@test
def listing_cursor_text_cannot_forge_output(env):
    """A listing whose cursor (X-Sluice-Next, percent-encoded) does not move forward stops the
    survey with the cursor in the error: a line break or a terminal escape in it comes out
    escaped, on the edge's one error line."""
    make_catalog(env, titles=1, segs=1)
    proxy = AdminProxy(env.edge.admin_port)
    env.admin_url = proxy.url
    cursor = "/b\r\nforged: line\x1b[2J"
    quoted = urllib.parse.quote(cursor, safe="")
    page2 = LISTING + "&after=" + quoted
    proxy.answer[LISTING] = [(200, {"X-Sluice-Next": quoted}, b'[{"key":"/a","size":1}]')]
    proxy.answer[page2] = [(200, {"X-Sluice-Next": quoted}, b'[{"key":"/c","size":1}]')]
    try:
        rc, out, err = env.fill("run", "--progress", "bar")
    finally:
        proxy.stop()
    check(rc != 0, f"the listing was refused ({out} {err})")
    check("did not move past" in out + err, f"the error says why: {out!r} {err!r}")
    lines = [ln for ln in (out + err).split("\n") if "forged" in ln]
    eq(len(lines), 1, f"the cursor is on one line ({out!r} {err!r})")
    check(lines[0].startswith(env.edge_id + ": error: "), f"the edge's error line: {lines!r}")
    check(all(0x20 <= ord(ch) < 0x7f for ch in lines[0]), f"printable ASCII only: {lines!r}")
    eq(env.puts(), [], "nothing sent")


@test
def retries_end_with_the_window(env):
    make_catalog(env, titles=1, segs=2)
    proxy = control_proxy(env)
    target = plan_target(env)
    proxy.answer[target] = [(503, {"Retry-After": "1"})] * 100
    t0 = time.monotonic()
    try:
        # The window closes 4 s after --now: the run may retry until then, not after.
        rc, out, err = env.fill("run", "--window", "02:00-14:00", "--tz", "UTC",
                                "--now", "2030-01-01T13:59:56Z", "--progress", "json")
    finally:
        proxy.stop()
    took = time.monotonic() - t0
    eq(rc, 1, f"control never answered within the window ({err})")
    n = len(times(proxy, target))
    check(2 <= n <= 6, f"{n} plan requests in a 4 s window with Retry-After 1")
    check(took < 12, f"the run gave up when the window closed, not {took:.1f}s later")
    done = [e for e in events(out) if e["event"] == "done"]
    check(len(done) == 1 and "gave up after" in done[0].get("error", ""),
          f"the error says the retries ran out: {done}")
    eq(env.puts(), [], "nothing sent")


def terminate(p, timeout):
    """SIGTERM p and wait for its exit: the seconds it took (the caller kills it if not)."""
    t0 = time.monotonic()
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=timeout)
    return time.monotonic() - t0


@test
def sigterm_while_waiting_to_retry(env):
    make_catalog(env, titles=1, segs=2)
    proxy = control_proxy(env)
    proxy.answer[plan_target(env)] = [(503, {"Retry-After": "60"})] * 5
    try:
        p = env.spawn("run", "--progress", "json")
        try:
            for raw in p.stderr:
                if b"retrying in 60 s" in raw:
                    break
            took = terminate(p, 10)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
    finally:
        proxy.stop()
    eq(p.returncode, 5, "interrupted")
    check(took < 3, f"the wait for the retry ended at the signal ({took:.1f}s)")
    eq(len(times(proxy, plan_target(env))), 1, "no attempt after the signal")


class Silent:
    """A server that takes connections and never answers: a control hanging on a request."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.conns = []
        self.accepted = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        try:
            while True:
                c, _ = self.sock.accept()
                self.conns.append(c)
                self.accepted.set()
        except OSError:
            pass

    def stop(self):
        self.sock.close()
        for c in self.conns:
            c.close()


@test
def sigterm_during_a_request(env):
    """A SIGTERM while a request to control hangs ends the run at once (exit 5), not at the
    request's timeout (30 s, as long as the unit waits before its SIGKILL)."""
    make_catalog(env, titles=1, segs=2)
    silent = Silent()
    env.control_url = silent.url
    try:
        p = env.spawn("run", "--progress", "json")  # timeout: 30 s by default
        try:
            check(silent.accepted.wait(10), "the plan request came")
            took = terminate(p, 20)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
    finally:
        silent.stop()
    eq(p.returncode, 5, "interrupted")
    check(took < 3, f"the request was given up at the signal ({took:.1f}s)")


@test
def listed_again_when_the_window_opens(env):
    objs = make_catalog(env, titles=1, segs=3)
    proxy = AdminProxy(env.edge.admin_port)
    env.admin_url = proxy.url
    try:
        p = env.spawn("run", "--window", "02:00-14:00", "--tz", "UTC",
                      "--now", "2030-01-01T01:59:55Z", "--outside-window", "wait",
                      "--progress", "json")
        try:
            # While the run waits, the edge gets one planned object by another way: the
            # listing made when the window opens must show it, so the run does not send it.
            deadline = time.monotonic() + 10
            while not times(proxy, LISTING) and time.monotonic() < deadline:
                time.sleep(0.05)
            check(times(proxy, LISTING), "the run listed the edge at start")
            first = objs[1]
            data = open(f"{env.origin.dir}/{first['path']}", "rb").read()
            env.edge.put("/" + first["path"], data)
            out, err = p.communicate(timeout=60)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
    finally:
        proxy.stop()
    eq(p.returncode, 0, f"run exit ({err.decode()})")
    ev = events(out.decode())
    check(ev[0]["event"] == "waiting", f"the run waited: {ev[0]}")
    eq(len(times(proxy, LISTING)), 2, "listed at start and once when the window opened")
    sent = [e["key"] for e in ev if e["event"] == "committed"]
    eq(sorted(sent), sorted("/" + o["path"] for o in objs if o is not first),
       "the object put while waiting was not sent")
    env.check_edge_holds(objs)


if __name__ == "__main__":
    run()
