# SPDX-License-Identifier: MIT
"""SIGHUP and the keys control reads only at start (docs/control.md, "Configuration"): a
reload that changes them is taken for the rest of the file and says, naming each, that the
running value stays until a restart; a key the reload applies is not named, and the running
listener keeps answering. A country moved to another region is written to country_regions,
which fill plans read; one removed from the file loses its row, at a reload and at a start. A token file the reload cannot use keeps the running configuration,
and the log says which file and why; /metrics counts each reload by result and its gauge says
0 while the last one was refused, 1 again once one applies."""
import os
import re
import shutil
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctlharness import Control, Postgres, check, register, run

START_ONLY = ("listen", "database_pool.pool", "database_pool.timeout", "cache_ttl",
              "edge_secret_ttl", "tokens.keys_file", "log.target")


def edit(text, old, new):
    check(old in text, f"the harness's config has {old!r}")
    return text.replace(old, new)


def reload_says_restart(ctl):
    """SIGHUP, wait for the reload: what its log lines say of keys needing a restart."""
    start = len(ctl.log)
    ctl.proc.send_signal(signal.SIGHUP)
    ctl.wait_log(r"configuration reloaded", start=start)
    return "".join(line for line in ctl.log[start:] if "restart" in line)


def reloads(ctl):
    """(reloads applied, reloads refused, the last-reload gauge) from /metrics."""
    st, _, body = ctl.request("GET", "/metrics")
    text = body.decode()
    check(st == 200, f"/metrics answered {st}")

    def value(series):
        m = re.search("^" + re.escape(series) + r" (\d+)$", text, re.M)
        check(m, f"/metrics has {series}")
        return int(m.group(1))
    return (value('sluice_control_config_reloads_total{result="ok"}'),
            value('sluice_control_config_reloads_total{result="failed"}'),
            value("sluice_control_config_last_reload_successful"))


def names(said, key):
    return f" {key}," in said or f" {key} " in said or f"'{key}'" in said


def main(binary, tmp):
    pg = Postgres(tmp)
    ctl = Control(binary, tmp, pg, extra_cfg="edge_secret_ttl: 60s\n").start()
    check(reloads(ctl) == (0, 0, 1), f"before any SIGHUP: {reloads(ctl)}")
    with open(ctl.cfg_path) as f:
        cfg = f.read()
    keys2 = os.path.join(ctl.dir, "keys-2.yaml")
    shutil.copyfile(ctl.keys_file, keys2)
    new = edit(cfg, 'listen: ["127.0.0.1:0"]', 'listen: ["127.0.0.3:0"]')
    new = edit(new, "database_pool: {pool: 3, timeout: 2s", "database_pool: {pool: 5, timeout: 4s")
    new = edit(new, "cache_ttl: 0s", "cache_ttl: 500ms")
    new = edit(new, "edge_secret_ttl: 60s", "edge_secret_ttl: 30s")
    new = edit(new, "log: {level: info}",
               "log: {level: info, target: " + os.path.join(ctl.dir, "ctl.log") + "}")
    new = edit(new, f"keys_file: {ctl.keys_file},", f"keys_file: {keys2},")
    new = edit(new, "session_ttl: 1h", "session_ttl: 2h")  # applied by a reload
    with open(ctl.cfg_path, "w") as f:
        f.write(new)

    said = reload_says_restart(ctl)
    for key in START_ONLY:
        check(names(said, key), f"the reload names {key} as needing a restart: {said!r}")
    check("session_ttl" not in said, f"a key the reload applies is not named: {said!r}")
    check(ctl.request("GET", "/healthz")[0] == 200, "the running listener answers after reload")

    # The running values are the start's: the same file again still differs from them (it
    # was compared with the last file and said nothing), and the start's own file again
    # names nothing (it named every key).
    said = reload_says_restart(ctl)
    check(names(said, "listen"), f"a second reload of the same file names listen again: {said!r}")
    with open(ctl.cfg_path, "w") as f:
        f.write(cfg)
    said = reload_says_restart(ctl)
    check(said == "", f"a reload back to the start's file names no key: {said!r}")

    # A country moved to another region: sessions take it from the running file, fill plans
    # from country_regions, which the reload writes as the start did (until 2026-12-07 only
    # the start wrote it, and a moved country's titles went on to its old region's edges).
    check(pg.psql("SELECT region FROM country_regions WHERE country = 'GB'").strip() ==
          "eu-west", "the start wrote GB's region")
    with open(ctl.cfg_path, "w") as f:
        f.write(edit(cfg, "country: GB, region: eu-west", "country: GB, region: eu-central"))
    said = reload_says_restart(ctl)
    check(not names(said, "country_prefixes"), f"regions apply on reload: {said!r}")
    deadline = time.monotonic() + 10
    while True:
        got = pg.psql("SELECT region FROM country_regions WHERE country = 'GB'").strip()
        if got == "eu-central" or time.monotonic() > deadline:
            break
        time.sleep(0.05)  # poll interval: the reload's writes go through the pool
    check(got == "eu-central", f"country_regions after the reload says GB is in {got!r}")
    with open(ctl.cfg_path, "w") as f:
        f.write(cfg)
    reload_says_restart(ctl)

    # A country removed from the file loses its row, and with it its pull on that region's
    # edges: a release licensed in SE alone is pushed to eu-north while SE is there, not
    # after (until 2026-12-08 the row stayed and the release went on being pushed).
    register(ctl, "nordic")
    soon = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    ctl.json("PUT", "/v1/admin/titles/nordic/licences",
             {"licences": [{"country": "SE", "from": soon}]}, admin=True)
    ctl.register_edge("edge-n", "eu-north", "http://edge-n.test:8080")

    def planned():
        objs = ctl.json("GET", "/v1/fill/plan?edge=edge-n", admin=True)["objects"]
        return {o["asset"] for o in objs}

    check(planned() == {"nordic"}, f"SE's release is pushed to eu-north: {planned()}")
    with open(ctl.cfg_path, "w") as f:
        f.write(edit(cfg, "  - {cidr: 10.1.0.0/16, country: SE, region: eu-north}\n", ""))
    reload_says_restart(ctl)
    deadline = time.monotonic() + 10
    while True:
        got = pg.psql("SELECT string_agg(country, ',' ORDER BY country) FROM country_regions")
        if got == "GB,US" or time.monotonic() > deadline:
            break
        time.sleep(0.05)  # poll interval: the reload's writes go through the pool
    check(got == "GB,US", f"country_regions after SE was removed: {got!r}")
    check(planned() == set(), f"SE's release no longer pushed to eu-north: {planned()}")
    with open(ctl.cfg_path, "w") as f:
        f.write(cfg)
    reload_says_restart(ctl)
    # A start does the same: a row of a country its file does not name goes.
    pg.psql("INSERT INTO country_regions VALUES ('FI', 'eu-north')")
    again = Control(binary, tmp, pg, name="again").start()
    got = pg.psql("SELECT string_agg(country, ',' ORDER BY country) FROM country_regions")
    check(got == "GB,SE,US", f"country_regions after a start: {got!r}")
    check(again.stop() == 0, "the second instance exits 0")

    # An admin token file the reload cannot use: the running configuration stays, and the
    # log says which file and why, as the start would.
    with open(ctl.token_file, "w") as f:
        f.write("short\n")
    start = len(ctl.log)
    ctl.proc.send_signal(signal.SIGHUP)
    ctl.wait_log(r"keeping the running configuration", start=start)
    said = "".join(line for line in ctl.log[start:] if "keeping the running" in line)
    check(ctl.token_file in said and "at least 16 characters" in said,
          f"the refused reload names the token file and the reason: {said!r}")
    check(ctl.request("GET", "/v1/admin/keys", admin=True)[0] == 200,
          "the running admin token still opens /v1/admin/")
    check(reloads(ctl) == (7, 1, 0),
          f"seven reloads applied, one refused, and the gauge says so: {reloads(ctl)}")
    with open(ctl.token_file, "w") as f:
        f.write("a-token-long-enough-again\n")
    reload_says_restart(ctl)
    check(reloads(ctl) == (8, 1, 1), f"a reload applied again: {reloads(ctl)}")
    check(ctl.stop() == 0, "exit 0")


if __name__ == "__main__":
    run(main)
