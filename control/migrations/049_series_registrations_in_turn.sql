-- SPDX-License-Identifier: MIT
-- Two registrations at once, one of an episode into a season and one of another episode out
-- of it, could lose the first: the season's last episode leaving it (037_empty_seasons.sql)
-- deleted the season as that registration saw it, without the new episode, once the first
-- had committed, and the delete's cascade took the new episode with it; both were answered
-- 200. The same race removed a series with its new episode (045_empty_series.sql).
--
-- A registration now first locks the rows of the series it touches (the one it names and
-- the one the asset is an episode of), in id order, so that registrations touching one
-- series take turns and each sees what the one before it committed. The lock is FOR NO KEY
-- UPDATE, which session starts (inserting rows that refer to the title) do not wait for.
-- The registration of 047_series_checked.sql becomes sluice_register_title_checked
-- (renamed once), and sluice_register_title_apply calls it once the rows are locked.
--
-- Like the migrations since 019, it can run again (the function is renamed once).
DO $$
BEGIN
        IF to_regprocedure('sluice_register_title_checked(jsonb)') IS NULL THEN
                ALTER FUNCTION sluice_register_title_apply(jsonb)
                        RENAME TO sluice_register_title_checked;
        END IF;
END $$;

CREATE OR REPLACE FUNCTION sluice_register_title_apply(doc jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
        -- Its own statement: those after it take their snapshot once it holds the locks.
        PERFORM 1 FROM titles
        WHERE kind = 'series'
          AND id IN ((SELECT title_id FROM episodes WHERE id = doc->>'title'),
                     CASE WHEN jsonb_typeof(doc->'series') = 'object'
                          THEN doc->'series'->>'id' END)
        ORDER BY id FOR NO KEY UPDATE;
        RETURN sluice_register_title_checked(doc);
END $$;
