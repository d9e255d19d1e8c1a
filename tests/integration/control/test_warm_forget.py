# SPDX-License-Identifier: MIT
"""A licence change made through an instance holds on that instance at once, also for a title
whose warm data was being read when the change was made: an anonymous start that asked the
database before the change is answered as the database said then, and what it read is not
kept in the warm cache, where the next start would have found the old windows for cache_ttl.
A registration made through an instance holds there at once too: a movie the asset no longer
is, and a series its last episode left, are not started from the warm cache.

The read is made slow in the database (sluice_session_warm wrapped to sleep after reading),
so that the change lands while it is in flight.

    python3 test_warm_forget.py path/to/sluice-control
"""
import json
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ctlharness import Control, Postgres, check, register, run  # noqa: E402


def main(binary, tmp):
    pg = Postgres(tmp)
    ctl = Control(binary, tmp, pg, cache_ttl="60s", heartbeat_period="60s").start()
    register(ctl, "w1", metadata={"name": "Warm"})
    ctl.json("PUT", "/v1/admin/titles/w1/licences", {"licences": [{"country": "GB"}]},
             admin=True)
    # Read what the title is, then wait: the licence change below commits meanwhile.
    pg.psql("ALTER FUNCTION sluice_session_warm(text, text, text, text) "
            "RENAME TO sluice_session_warm_read")
    pg.psql("CREATE FUNCTION sluice_session_warm(a text, b text, c text, d text) "
            "RETURNS jsonb LANGUAGE plpgsql VOLATILE AS $$ DECLARE "
            "r jsonb := sluice_session_warm_read(a, b, c, d); "
            "BEGIN PERFORM pg_sleep(1.5); RETURN r; END $$")
    first = {}

    def start():
        first["answer"] = ctl.request("POST", "/v1/playback", {"title": "w1"})

    t = threading.Thread(target=start)
    t.start()
    # The start's statement is running once the database shows it sleeping.
    pg.psql("DO $$ BEGIN FOR i IN 1..100 LOOP EXIT WHEN EXISTS (SELECT 1 FROM "
            "pg_stat_activity WHERE query LIKE '%sluice_session_warm(%' "
            "AND wait_event = 'PgSleep'); PERFORM pg_sleep(0.05); END LOOP; END $$")
    ctl.json("PUT", "/v1/admin/titles/w1/licences", {"licences": []}, admin=True)
    t.join(30)
    st, _, b = first["answer"]
    check(st == 200 and json.loads(b)["title"] == "w1", f"licensed when asked: {st} {b!r}")
    st, _, b = ctl.request("POST", "/v1/playback", {"title": "w1"})
    check(st == 451, f"the licence ended through this instance, yet a start got {st}: {b!r}")

    # A registration through this instance changes titles beside the one it answers: the
    # asset's movie, registered as an episode, and the series that episode leaves go. Starts
    # of either, warm before, are 404 at once (200 from the warm cache, with a session whose
    # manifest is 404, on the old code).
    pg.psql("DROP FUNCTION sluice_session_warm(text, text, text, text); "
            "ALTER FUNCTION sluice_session_warm_read(text, text, text, text) "
            "RENAME TO sluice_session_warm")
    register(ctl, "w2", series={"id": "wshow", "season": 1, "episode": 1})
    for t in ("w1", "wshow"):
        ctl.json("PUT", f"/v1/admin/titles/{t}/licences", {"licences": [{"country": "GB"}]},
                 admin=True)
        for _ in range(2):
            ctl.json("POST", "/v1/playback", {"title": t})
    register(ctl, "w1", series={"id": "wshow2", "season": 1, "episode": 1})
    register(ctl, "w2", series={"id": "wshow2", "season": 1, "episode": 2})
    for t in ("w1", "wshow"):
        ctl.error("POST", "/v1/playback", {"title": t}, expect=404)
    check(ctl.stop() == 0, "SIGTERM exits 0")


if __name__ == "__main__":
    run(main)
