-- SPDX-License-Identifier: MIT
-- A season is made when an episode is registered into it, and was never removed: an episode
-- registered again into another season or series left its old season behind, and a series'
-- details (GET /v1/titles/<id>) listed it with no episodes, a season a player shows and
-- cannot play. A season now goes when its last episode leaves it (moved, or deleted), and the
-- empty seasons stored before go too.
--
-- Like the migrations since 019, it can run again.

CREATE OR REPLACE FUNCTION sluice_season_left() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
        IF TG_OP = 'DELETE' OR OLD.title_id IS DISTINCT FROM NEW.title_id
           OR OLD.season IS DISTINCT FROM NEW.season THEN
                DELETE FROM seasons s
                WHERE s.title_id = OLD.title_id AND s.number = OLD.season
                  AND NOT EXISTS (SELECT 1 FROM episodes e
                                  WHERE e.title_id = OLD.title_id AND e.season = OLD.season);
        END IF;
        RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS episodes_season_left ON episodes;
CREATE TRIGGER episodes_season_left AFTER UPDATE OR DELETE ON episodes
        FOR EACH ROW EXECUTE FUNCTION sluice_season_left();

DELETE FROM seasons s
WHERE NOT EXISTS (SELECT 1 FROM episodes e WHERE e.title_id = s.title_id AND e.season = s.number);
