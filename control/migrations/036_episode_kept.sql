-- SPDX-License-Identifier: MIT
-- Registering an episode again dropped what was not sent, where docs/ingest.md says control
-- keeps it: without "series" (as sluice-ingest --register sends a title re-encoded without
-- its --metadata file) the asset was made a movie of its own as well, listed in the catalog
-- and in search beside the series whose episode it still was; with "series" but without
-- "episode_name" or "episode_synopsis", the episode's name and synopsis were erased.
--
-- An asset that is an episode now stays that episode when "series" is left out (its series,
-- season and number), and keeps its name and synopsis unless they are sent. The registration
-- of 002 becomes sluice_register_title_store, and sluice_register_title_apply (which the
-- checks of sluice_register_title call) fills those members in before calling it.
--
-- Like the migrations since 019, it can run again (the function is renamed once).
DO $$
BEGIN
        IF to_regprocedure('sluice_register_title_store(jsonb)') IS NULL THEN
                ALTER FUNCTION sluice_register_title_apply(jsonb)
                        RENAME TO sluice_register_title_store;
        END IF;
END $$;

CREATE OR REPLACE FUNCTION sluice_register_title_apply(doc jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
        ep episodes%ROWTYPE;
BEGIN
        SELECT * INTO ep FROM episodes WHERE id = doc->>'title';
        IF FOUND THEN
                IF jsonb_typeof(doc->'series') IS DISTINCT FROM 'object' THEN
                        doc := jsonb_set(doc, '{series}', jsonb_build_object(
                                'id', ep.title_id, 'season', ep.season, 'episode', ep.number));
                END IF;
                doc := jsonb_set(doc, '{series}', jsonb_build_object(
                        'episode_name', ep.name, 'episode_synopsis', ep.synopsis)
                        || (doc->'series'));
        END IF;
        RETURN sluice_register_title_store(doc);
END $$;
