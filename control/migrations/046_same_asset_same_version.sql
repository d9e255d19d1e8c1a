-- SPDX-License-Identifier: MIT
-- Every registration of an asset gave it a new version (assets.registered_at), also one that
-- sent the same asset.json again, as running `sluice-ingest --register` again does, or one
-- that changed the title's metadata alone. A new version ends every session of the asset
-- (its claims name the old one): its manifest, steering and reports were 404 and its ClearKey
-- licence refused, so each viewer of the title lost playback and progress at once.
--
-- The asset now keeps its version when what a session plays is unchanged: its asset.json,
-- encryption kid and content key, markers, and the title it plays under (the movie, or the
-- series of the episode). Anything else (metadata, the episode's season, number or names)
-- changes without ending a session.
--
-- Like the migrations since 019, it can run again (the function is renamed once).

-- What a session of asset p_asset plays, for comparison only (the key as its digest); NULL
-- for an unknown asset.
CREATE OR REPLACE FUNCTION sluice_asset_played(p_asset text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
        SELECT jsonb_build_object('asset', a.asset, 'kid', encode(a.kid, 'hex'),
                'key', (SELECT encode(sha256(k.kid || k.key), 'hex') FROM content_keys k
                        WHERE k.asset_id = a.id),
                'markers', (SELECT jsonb_object_agg(m.kind, jsonb_build_array(m.start_s,
                                                                              m.end_s))
                            FROM markers m WHERE m.asset_id = a.id),
                'title', coalesce((SELECT e.title_id FROM episodes e WHERE e.id = a.id),
                                  (SELECT t.id FROM titles t
                                   WHERE t.id = a.id AND t.kind = 'movie')))
        FROM assets a WHERE a.id = p_asset
$$;

-- The registration of 044_episode_not_movie.sql becomes sluice_register_title_placed
-- (renamed once), and sluice_register_title_apply calls it, then gives the asset its version
-- back when what it plays is unchanged.
DO $$
BEGIN
        IF to_regprocedure('sluice_register_title_placed(jsonb)') IS NULL THEN
                ALTER FUNCTION sluice_register_title_apply(jsonb)
                        RENAME TO sluice_register_title_placed;
        END IF;
END $$;

CREATE OR REPLACE FUNCTION sluice_register_title_apply(doc jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
        played jsonb := sluice_asset_played(doc->>'title');
        version timestamptz;
        res jsonb;
BEGIN
        SELECT registered_at INTO version FROM assets WHERE id = doc->>'title';
        res := sluice_register_title_placed(doc);
        IF sluice_asset_played(res->>'asset') = played THEN
                UPDATE assets SET registered_at = version WHERE id = res->>'asset';
        END IF;
        RETURN res;
END $$;
