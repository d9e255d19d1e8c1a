-- SPDX-License-Identifier: MIT
-- A series is found by its episodes' names (docs/control.md, search), and its search text was
-- made again only for the series a registration named. An episode registered into another
-- series (or deleted) left its name in the text of the series it left, which was still found
-- by that name, and by the episode's old name once renamed, though it no longer held it.
--
-- The series an episode leaves, when it stays, now has its search text made again at once;
-- the text of every series is made again when this runs, for the episodes that left before.
--
-- Like the migrations since 019, it can run again.

CREATE OR REPLACE FUNCTION sluice_series_search_left() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
        IF TG_OP = 'DELETE' OR OLD.title_id IS DISTINCT FROM NEW.title_id THEN
                PERFORM sluice_title_reindex(OLD.title_id);
        END IF;
        RETURN NULL;
END $$;

-- Named to run after episodes_series_left, which removes a series left empty.
DROP TRIGGER IF EXISTS episodes_series_search ON episodes;
CREATE TRIGGER episodes_series_search AFTER UPDATE OR DELETE ON episodes
        FOR EACH ROW EXECUTE FUNCTION sluice_series_search_left();

SELECT sluice_title_reindex(id) FROM titles WHERE kind = 'series';
