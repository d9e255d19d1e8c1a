# SPDX-License-Identifier: MIT
"""Schema migrations at start-up (control/migrate.c): applied once and recorded, with the
daily report partitions made for yesterday to a week ahead; a second start applies none; a
database whose schema is newer than the binary (a version it does not know, as after a
rollback to an older release) is refused with a clear message and exit status 1, and left
exactly as it was; once the unknown version is gone the binary starts. So is one whose
record of applied migrations differs from the binary's below its newest version: one
missing, one under another name, one the binary does not have.

    python3 test_migrate.py path/to/sluice-control
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctlharness import Control, Failure, Postgres, check, register, run  # noqa: E402

MIGRATIONS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                          "control", "migrations")


def check_partitions(pg, day0):
    """Start-up made the daily report partitions sluice_report_partitions(7) promises, each
    attached for its own day: yesterday, today and the 7 days after (today being day0 or the
    day now, should midnight have passed since day0)."""
    have = set(pg.psql(
        "SELECT string_agg(c.relname || ' ' || pg_get_expr(c.relpartbound, c.oid), ',') "
        "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'playback_reports'::regclass").split(","))
    check("playback_reports_default DEFAULT" in have, f"no default partition: {have}")
    wants = []
    for today in sorted({day0, pg.psql("SELECT current_date")}):
        wants.append(set(pg.psql(
            "SELECT string_agg(format('playback_reports_%s FOR VALUES FROM (%L) TO (%L)', "
            "to_char(d, 'YYYYMMDD'), d::timestamptz, (d + 1)::timestamptz), ',') "
            f"FROM generate_series(date '{today}' - 1, date '{today}' + 7, '1 day') g, "
            "LATERAL (SELECT g::date AS d) x").split(",")))
    check(any(w <= have for w in wants),
          f"report partitions {sorted(have)}, missing {sorted(wants[0] - have)}")


def main(binary, tmp):
    pg = Postgres(tmp)
    files = sorted(f for f in os.listdir(MIGRATIONS) if f.endswith(".sql"))
    newest = int(files[-1].split("_")[0])

    # First start: every migration, once, in order.
    day0 = pg.psql("SELECT current_date")
    ctl = Control(binary, tmp, pg, name="first").start()
    ctl.wait_log(r"database: schema version %d \(%s\), %d migration\(s\) applied"
                 % (newest, files[-1][:-4], len(files)))
    # Each named as it is applied, in order, before the instance is ready.
    named = [m.group(1) for m in (re.search(r" info migrate: migration (\S+) applied in "
                                            r"\d+\.\d{3} s\n?$", l) for l in ctl.log) if m]
    check(named == [f[:-4] for f in files], f"migrations named as applied: {named}")
    check_partitions(pg, day0)
    rows = pg.psql("SELECT string_agg(version || ':' || name, ',' ORDER BY version) "
                   "FROM schema_migrations")
    want = ",".join(f"{int(f.split('_')[0])}:{f[:-4]}" for f in files)
    check(rows == want, f"schema_migrations {rows!r}, want {want!r}")
    register(ctl, "m1")
    check(ctl.stop() == 0, "first instance exits 0")

    # Second start on the same database: nothing to apply.
    ctl = Control(binary, tmp, pg, name="second").start()
    check(not any("applied" in l for l in ctl.log), f"migrations applied again: {ctl.log}")
    ctl.wait_log(r"database: schema version %d \(%s\), up to date\n?$" % (newest, files[-1][:-4]))
    check_partitions(pg, day0)
    check(ctl.stop() == 0, "second instance exits 0")

    # A schema from a newer release: refused before anything is served or changed.
    future = newest + 1
    pg.psql(f"INSERT INTO schema_migrations (version, name) VALUES ({future}, "
            f"'{future:03d}_from_a_newer_release')")
    before = pg.psql("SELECT count(*) FROM schema_migrations") + "|" + \
        pg.psql("SELECT string_agg(id, ',' ORDER BY id) FROM titles")
    old = Control(binary, tmp, pg, name="older")
    old.start(expect_ready=False)
    rc = old.proc.wait(30)
    check(rc == 3, f"start on a newer schema: exit {rc}, want 3 (not restarted)")
    old.wait_log(r" error .*database: database schema version %d is newer than this "
                 r"binary's %d; refusing" % (future, newest))
    check(old.port is None and not any("ready" in l for l in old.log),
          f"an instance on a newer schema listened: {old.log}")
    after = pg.psql("SELECT count(*) FROM schema_migrations") + "|" + \
        pg.psql("SELECT string_agg(id, ',' ORDER BY id) FROM titles")
    check(before == after, f"the refused start changed the database: {before} -> {after}")
    # The refusal released the migration lock: another session takes it at once.
    check(pg.psql("SELECT pg_try_advisory_lock(hashtext('x')), "
                  "(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory')") == "t|1",
          "an advisory lock left behind by the refused start")

    # Back to a schema this binary knows: it starts and serves what was there.
    pg.psql(f"DELETE FROM schema_migrations WHERE version = {future}")
    ctl = Control(binary, tmp, pg, name="again").start()
    check(ctl.json("GET", "/v1/titles/m1")["id"] == "m1", "title kept across the refusal")
    check(ctl.stop() == 0, "instance exits 0")

    # A history that is not this binary's, below its newest version, is refused too, and
    # nothing is applied: a migration missing before later ones (its row deleted, or the
    # later ones applied from another branch), another name at a version, and a version the
    # binary does not have below its newest.
    middle = files[len(files) // 2]
    mv, mname = int(middle.split("_")[0]), middle[:-4]
    cases = [
        (f"DELETE FROM schema_migrations WHERE version = {mv}",
         r"database lacks migration %s yet records later ones \(up to %d\); refusing"
         % (mname, newest),
         f"INSERT INTO schema_migrations (version, name) VALUES ({mv}, '{mname}')"),
        (f"UPDATE schema_migrations SET name = '{mv:03d}_from_another_branch' "
         f"WHERE version = {mv}",
         r"database records migration %d as %03d_from_another_branch, this binary has %s; "
         r"refusing" % (mv, mv, mname),
         f"UPDATE schema_migrations SET name = '{mname}' WHERE version = {mv}"),
    ]
    # Version 0 is below every file's number, so it is one the binary cannot have.
    cases.append(("INSERT INTO schema_migrations (version, name) VALUES (0, '000_unknown')",
                  r"database records migration 0 \(000_unknown\), which this binary does "
                  r"not have; refusing",
                  "DELETE FROM schema_migrations WHERE version = 0"))
    for i, (change, want, undo) in enumerate(cases):
        pg.psql(change)
        before = pg.psql("SELECT string_agg(version || ':' || name, ',' ORDER BY version) "
                         "FROM schema_migrations")
        other = Control(binary, tmp, pg, name=f"history{i}")
        other.start(expect_ready=False)
        try:
            rc = other.proc.wait(30)
        except subprocess.TimeoutExpired:
            other.stop()
            raise Failure(f"an instance started on another history ({change}): {other.log}")
        check(rc == 3, f"start on another history ({change}): exit {rc}, want 3")
        other.wait_log(r" error .*database: " + want)
        check(other.port is None, f"an instance on another history listened: {other.log}")
        after = pg.psql("SELECT string_agg(version || ':' || name, ',' ORDER BY version) "
                        "FROM schema_migrations")
        check(before == after, f"the refused start changed schema_migrations: {before} -> "
              f"{after}")
        pg.psql(undo)
    ctl = Control(binary, tmp, pg, name="restored").start()
    check(not any("applied" in l for l in ctl.log), f"migrations applied again: {ctl.log}")
    check(ctl.json("GET", "/v1/titles/m1")["id"] == "m1", "title kept across the refusals")

    # Data an older release stored that this one refuses at registration: markers past the
    # asset's end (before 028) are repaired by 032, applied again here as at an upgrade; an
    # encrypted asset without its key (before 027) and an edge's base_url no player parses
    # cannot be, and are named at start.
    register(ctl, "mk1", markers={"intro": {"start": 1, "end": 3},
                                  "credits": {"start": 10, "end": 12}})
    register(ctl, "enc1", encrypted=True)
    ctl.register_edge("old-edge", "eu-west", "http://old.test")
    check(ctl.stop() == 0, "instance exits 0")
    pg.psql("ALTER TABLE markers DISABLE TRIGGER markers_within_duration; "
            "UPDATE markers SET end_s = 30 WHERE asset_id = 'mk1' AND kind = 'credits'; "
            "UPDATE markers SET start_s = 12, end_s = 20 WHERE asset_id = 'mk1' AND kind = 'intro'; "
            "ALTER TABLE markers ENABLE TRIGGER markers_within_duration; "
            "DELETE FROM content_keys WHERE asset_id = 'enc1'; "
            "UPDATE edges SET base_url = 'http://old.test:99999' WHERE id = 'old-edge'; "
            "DELETE FROM schema_migrations WHERE version >= 32")  # 032 and those after
    ctl = Control(binary, tmp, pg, name="upgraded").start()
    ctl.wait_log(r"migration 032_upgrade_repairs applied")
    marks = pg.psql("SELECT string_agg(kind || ':' || start_s || '-' || end_s, ',' ORDER BY kind) "
                    "FROM markers WHERE asset_id = 'mk1'")
    check(marks == "credits:10-12", f"markers after 032: {marks!r}, want credits:10-12 alone")
    ctl.wait_log(r" warn .*asset enc1 is encrypted but has no content key")
    ctl.wait_log(r" warn .*edge old-edge: base_url \"http://old.test:99999\" .* players cannot "
                 r"parse: ")
    check(not any("asset mk1" in l or "edge e" in l for l in ctl.log),
          "a stored row named that today's registration takes")
    check(ctl.stop() == 0, "upgraded instance exits 0")


run(main)
