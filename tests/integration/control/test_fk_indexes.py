# SPDX-License-Identifier: MIT
"""Every foreign key of the migrated schema has a valid index led by its column, so the
lookup its ON DELETE runs for each deleted profile, episode, asset or title reads that index
and not the whole referencing table (025_foreign_key_indexes.sql); on a sessions table of
50,000 rows the deletes' lookups by profile, episode and asset use them.

    python3 test_fk_indexes.py path/to/sluice-control
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctlharness import Control, Postgres, check, register, run  # noqa: E402

# Single-column foreign keys and whether a valid index has their column first.
UNINDEXED = """
SELECT coalesce(string_agg(format('%s(%s)', c.conrelid::regclass, a.attname), ', '), '')
FROM pg_constraint c
JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
WHERE c.contype = 'f' AND cardinality(c.conkey) = 1
  AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.conrelid
                  AND i.indkey[0] = c.conkey[1] AND i.indisvalid)
"""


def main(binary, tmp):
    pg = Postgres(tmp)
    ctl = Control(binary, tmp, pg).start()

    missing = pg.psql(UNINDEXED)
    check(missing == "", f"foreign keys without an index led by their column: {missing}")
    for col in ("profile_id", "episode_id", "asset_id", "title_id"):
        n = pg.psql(f"SELECT count(*) FROM pg_indexes WHERE tablename = 'sessions' "
                    f"AND indexdef ~ 'USING btree \\({col}\\)'")
        check(n == "1", f"sessions: {n} index(es) on {col}")

    register(ctl, "m1")
    register(ctl, "m2")
    register(ctl, "s1e1", series={"id": "s1", "season": 1, "episode": 1})
    prof = pg.psql("INSERT INTO profiles (name) VALUES ('p') RETURNING id")
    # Many sessions of one movie without a profile; a few of the others.
    pg.psql("INSERT INTO sessions (id, title_id, asset_id, country, expires_at) "
            "SELECT md5(g::text), 'm1', 'm1', 'GB', now() + interval '1 hour' "
            "FROM generate_series(1, 50000) g")
    pg.psql("INSERT INTO sessions (id, title_id, episode_id, asset_id, profile_id, country, "
            "expires_at) SELECT md5('x' || g), 's1', 's1e1', 's1e1', "
            f"{prof}, 'GB', now() + interval '1 hour' FROM generate_series(1, 5) g")
    pg.psql("INSERT INTO sessions (id, title_id, asset_id, country, expires_at) "
            "SELECT md5('y' || g), 'm2', 'm2', 'GB', now() + interval '1 hour' "
            "FROM generate_series(1, 5) g")
    pg.psql("ANALYZE sessions")
    for where, idx in ((f"profile_id = {prof}", "sessions_profile_idx"),
                       ("episode_id = 's1e1'", "sessions_episode_idx"),
                       ("asset_id = 'm2'", "sessions_asset_idx")):
        plan = pg.psql(f"EXPLAIN DELETE FROM ONLY sessions WHERE {where}")
        check(f"using {idx}" in plan.lower() and "seq scan" not in plan.lower(),
              f"delete where {where}: {plan}")

    # And the cascade itself: deleting the profile takes its sessions, and only those.
    pg.psql(f"DELETE FROM profiles WHERE id = {prof}")
    n = pg.psql("SELECT count(*) FROM sessions")
    check(n == "50005", f"{n} sessions left after the profile went")
    check(ctl.stop() == 0, "control exits 0")


if __name__ == "__main__":
    run(main)
