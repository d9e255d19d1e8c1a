-- SPDX-License-Identifier: MIT
-- A registration's "series" was used only when it was a JSON object: any other value (a
-- string naming the series, an array) was taken for no series at all, and the asset was
-- registered as a movie of its own, listed and playable, answered 200. Without "id",
-- "season" or "episode" it was refused with the database's own words (400 `invalid asset:
-- null value in column "number" of relation "seasons"`), and a season or number given as a
-- string was taken ("2" for 2).
--
-- "series" is now absent, null (no series: a new asset is a movie, an episode stays one) or
-- an object with "id" a string and "season" and "episode" whole numbers from 0 to
-- 2147483647; anything else is refused (400 `series: ...`) and nothing changes.
--
-- Like the migrations since 019, it can run again (the function is renamed once).

-- Refuses (SL400) a registration's "series" s that is not as above.
CREATE OR REPLACE FUNCTION sluice_series_check(s jsonb) RETURNS void
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
        m text;
BEGIN
        IF coalesce(jsonb_typeof(s), 'null') = 'null' THEN
                RETURN;
        END IF;
        IF jsonb_typeof(s) <> 'object' THEN
                PERFORM sluice_fail('SL400', 'series: want an object {"id", "season", '
                        || '"episode", ...} or null, not ' || CASE jsonb_typeof(s)
                        WHEN 'array' THEN 'an array' ELSE 'a ' || jsonb_typeof(s) END);
        END IF;
        IF jsonb_typeof(s->'id') IS DISTINCT FROM 'string' THEN
                PERFORM sluice_fail('SL400', 'series.id: want a string');
        END IF;
        FOREACH m IN ARRAY ARRAY['season', 'episode'] LOOP
                IF (CASE WHEN jsonb_typeof(s->m) = 'number' AND s->>m ~ '^[0-9]{1,10}$'
                         THEN (s->>m)::bigint > 2147483647 ELSE true END) THEN
                        PERFORM sluice_fail('SL400', 'series.' || m
                                || ': want a whole number from 0 to 2147483647');
                END IF;
        END LOOP;
END $$;

-- The registration of 046_same_asset_same_version.sql becomes
-- sluice_register_title_versioned (renamed once), and sluice_register_title_apply checks
-- "series" before calling it.
DO $$
BEGIN
        IF to_regprocedure('sluice_register_title_versioned(jsonb)') IS NULL THEN
                ALTER FUNCTION sluice_register_title_apply(jsonb)
                        RENAME TO sluice_register_title_versioned;
        END IF;
END $$;

CREATE OR REPLACE FUNCTION sluice_register_title_apply(doc jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
        PERFORM sluice_series_check(doc->'series');
        RETURN sluice_register_title_versioned(doc);
END $$;
