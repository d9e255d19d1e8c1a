-- SPDX-License-Identifier: MIT
-- A series is made when its first episode is registered, and was never removed: once every
-- episode had been registered into another series (or deleted), it stayed in the catalog,
-- browse, search and genres with no seasons, a title a player lists and cannot play (404
-- "unknown episode"). A series now goes when its last episode leaves it, as a season does
-- (037_empty_seasons.sql), with its licences, cast and metadata; registering an episode into
-- that id again makes a new series, with its name, metadata and licences to be given again.
--
-- So that they do not go with it, the profiles' progress, sessions and counted starts of an
-- episode registered into another series follow it there at once (as a movie's do when it
-- becomes an episode, 044_episode_not_movie.sql): fill plans judge its demand by the
-- licences of the series it is in, and a profile's row there is replaced only by a newer one.
-- Those stored before are moved the same way, and the series left empty before go.
--
-- Like the migrations since 019, it can run again.

CREATE OR REPLACE FUNCTION sluice_series_left() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
        IF TG_OP = 'UPDATE' THEN
                IF OLD.title_id IS NOT DISTINCT FROM NEW.title_id THEN
                        RETURN NULL;
                END IF;
                PERFORM sluice_episode_rows_follow(NEW.id, OLD.title_id, NEW.title_id);
        END IF;
        DELETE FROM titles t
        WHERE t.id = OLD.title_id AND t.kind = 'series'
          AND NOT EXISTS (SELECT 1 FROM episodes e WHERE e.title_id = OLD.title_id);
        RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS episodes_series_left ON episodes;
CREATE TRIGGER episodes_series_left AFTER UPDATE OR DELETE ON episodes
        FOR EACH ROW EXECUTE FUNCTION sluice_series_left();

-- Rows of episodes moved before, then the series left empty.
DO $$
DECLARE
        r record;
BEGIN
        FOR r IN SELECT DISTINCT x.title_id, e.id, e.title_id AS now_in
                 FROM (SELECT title_id, episode_id FROM continue_watching
                       UNION SELECT title_id, episode_id FROM sessions
                       UNION SELECT title_id, episode_id FROM session_starts) x
                 JOIN episodes e ON e.id = x.episode_id AND e.title_id <> x.title_id LOOP
                PERFORM sluice_episode_rows_follow(r.id, r.title_id, r.now_in);
        END LOOP;
END $$;

DELETE FROM titles t
WHERE t.kind = 'series' AND NOT EXISTS (SELECT 1 FROM episodes e WHERE e.title_id = t.id);
