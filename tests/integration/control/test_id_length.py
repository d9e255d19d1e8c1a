# SPDX-License-Identifier: MIT
"""An asset id (and so a movie's title id, or an episode's) is at most 63 bytes whichever way
it is created: the admin API and sluice_register_title in the database both take 63 and
refuse 64 with the same words, and the assets table refuses 64 outright
(026_asset_id_length.sql). Ids that are not asset ids keep the sluice_id domain's 128 (a
series). A database that holds a longer asset id is refused at migration, naming it.

    python3 test_id_length.py path/to/sluice-control
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctlharness import Control, Failure, Postgres, check, make_asset, run  # noqa: E402

WORDS = "asset.title: longer than 63 bytes"


def sql_register(pg, title):
    """sluice_register_title called straight, as another client of the database would.
    Returns None when it took the title, else psql's error."""
    doc = json.dumps({"title": title, "asset": make_asset(title)}).replace("'", "''")
    try:
        pg.psql(f"SELECT sluice_register_title('{doc}'::jsonb)")
    except Failure as e:
        return str(e)
    return None


def main(binary, tmp):
    pg = Postgres(tmp)
    ctl = Control(binary, tmp, pg).start()

    # The admin API.
    a63, a64 = "a" * 63, "a" * 64
    ctl.json("POST", "/v1/admin/titles", {"title": a63, "asset": make_asset(a63)}, admin=True)
    o = ctl.error("POST", "/v1/admin/titles", {"title": a64, "asset": make_asset(a64)},
                  admin=True, expect=400)
    check(WORDS in o["detail"], f"API refusal of 64: {o}")

    # The database, straight.
    b63, b64 = "b" * 63, "b" * 64
    err = sql_register(pg, b63)
    check(err is None, f"sluice_register_title refused 63 bytes: {err}")
    err = sql_register(pg, b64)
    check(err is not None and WORDS in err, f"sluice_register_title of 64 bytes: {err}")
    try:
        pg.psql(f"INSERT INTO assets (id, duration, segment_duration, segment_count, asset) "
                f"VALUES ('{'c' * 64}', 4, 4, 1, '{{}}')")
        raise Failure("assets took a 64-byte id")
    except Failure as e:
        check("assets_id_length" in str(e), f"insert of a 64-byte asset id: {e}")
    ids = pg.psql("SELECT string_agg(length(id)::text, ',' ORDER BY id) FROM assets")
    check(ids == "63,63", f"asset id lengths stored: {ids}")
    # Both 63-byte titles serve: what the database took, control reads.
    for t in (a63, b63):
        check(ctl.json("GET", f"/v1/titles/{t}")["id"] == t, f"title {t[:1]}*63 readable")

    # A series title is no asset: its id keeps the domain's 128.
    s128 = "s" * 128
    ctl.json("POST", "/v1/admin/titles",
             {"title": "ep1", "asset": make_asset("ep1"),
              "series": {"id": s128, "season": 1, "episode": 1}}, admin=True)
    check(pg.psql(f"SELECT kind FROM titles WHERE id = '{s128}'") == "series",
          "a 128-byte series id")
    check(ctl.stop() == 0, "control exits 0")

    # A database with a longer asset id (written by hand before 026): refused at start, by
    # name, and nothing applied; once it is gone the migration runs, with those after it (a
    # history with 026 missing below a later one would be refused as another branch's).
    later = int(pg.psql("SELECT count(*) FROM schema_migrations WHERE version > 26"))
    pg.psql("BEGIN; ALTER TABLE assets DROP CONSTRAINT assets_id_length; "
            "DELETE FROM schema_migrations WHERE version >= 26; "
            f"INSERT INTO assets (id, duration, segment_duration, segment_count, asset) "
            f"VALUES ('{'d' * 70}', 4, 4, 1, '{{}}'); COMMIT")
    old = Control(binary, tmp, pg, name="longer")
    old.start(expect_ready=False)
    rc = old.proc.wait(30)
    check(rc == 1, f"start over a 70-byte asset id: exit {rc}")
    old.wait_log(r" error .*database: .*asset ids longer than 63 bytes, which control cannot "
                 r"serve: d{70}")
    check(pg.psql("SELECT count(*) FROM schema_migrations "
                  "WHERE name = '026_asset_id_length'") == "0", "026 recorded after a refusal")
    pg.psql(f"DELETE FROM assets WHERE id = '{'d' * 70}'")
    ctl = Control(binary, tmp, pg, name="again").start()
    ctl.wait_log(rf"database: schema version \d+ \(\S+\), {1 + later} migration\(s\) applied")
    check(pg.psql("SELECT count(*) FROM pg_constraint WHERE conname = 'assets_id_length'")
          == "1", "the constraint is back")
    check(ctl.stop() == 0, "control exits 0 again")


if __name__ == "__main__":
    run(main)
