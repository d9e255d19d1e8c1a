-- SPDX-License-Identifier: MIT
-- An asset id is at most 63 bytes: control's asset reader (control/asset.h, ASSET_ID_MAX)
-- and sluice-ingest take no more, so a longer one could be stored through SQL yet no manifest
-- or fill plan could be built from it. The sluice_id domain (128) still holds for the ids
-- that are not asset ids: series titles and edges. A movie's title id and an episode's id
-- are its asset's, so they are bounded with it.
--
-- The API never stored a longer one (its reader refused the registration first); a database
-- that has one anyway (written by hand) is refused here, naming it, rather than half-migrated.
DO $$
DECLARE
        longer text;
BEGIN
        SELECT string_agg(id, ', ' ORDER BY id) INTO longer FROM assets WHERE length(id) > 63;
        IF longer IS NOT NULL THEN
                -- One line: control logs the first line of the error.
                RAISE EXCEPTION 'asset ids longer than 63 bytes, which control cannot serve: '
                        '%; register them again under shorter ids and delete these, then '
                        'start again', longer;
        END IF;
END $$;

-- Like the migrations since 019, it can run again.
ALTER TABLE assets DROP CONSTRAINT IF EXISTS assets_id_length;
ALTER TABLE assets ADD CONSTRAINT assets_id_length CHECK (octet_length(id) <= 63);

-- As in 010, with the length refused as the API refuses it (400, the same words), before
-- anything changes, for a registration sent straight to the database.
CREATE OR REPLACE FUNCTION sluice_register_title(doc jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
        enc jsonb := doc->'asset'->'encryption';
        stored bytea;
BEGIN
        IF octet_length(doc->>'title') > 63 THEN
                PERFORM sluice_fail('SL400', 'asset.title: longer than 63 bytes');
        END IF;
        IF jsonb_typeof(enc) = 'object' AND jsonb_typeof(doc->'key') IS DISTINCT FROM 'object'
           AND coalesce(enc->>'kid', '') ~ '^[0-9a-fA-F]{32}$' THEN
                SELECT kid INTO stored FROM content_keys WHERE asset_id = doc->>'title';
                IF FOUND AND stored <> decode(enc->>'kid', 'hex') THEN
                        PERFORM sluice_fail('SL409', 'asset.encryption.kid differs from the '
                                || 'stored content key''s kid; give the new "key" with it');
                END IF;
        END IF;
        RETURN sluice_register_title_apply(doc);
END $$;
