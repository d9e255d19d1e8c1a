-- SPDX-License-Identifier: MIT
-- An asset registered as a movie (no "series") and then as an episode was made that episode
-- and stayed a movie of its own as well: listed in the catalog, found by search, ranked in
-- trending and played as a movie under the movie's own licences, beside the series that now
-- held it.
--
-- Registering an asset as an episode now removes its movie, in the same transaction. What
-- hangs off the movie:
--   - its licences, cast and metadata go with it: the episode plays under its series'
--     licences, which cover every episode of the series, so the movie's windows are not
--     carried over;
--   - its sessions and counted starts (fill plans' demand) and the profiles' progress follow
--     the asset to its series, as that episode: a profile's row for the series is replaced
--     by the movie's only when the movie's is the newer. Sessions started as the movie
--     end: the registration gave the asset a new version, which ends its sessions;
--   - its playback reports stay as written, under the movie's id, and so no longer count in
--     trending (which reads them by title).
-- The movies stored before beside their own episode are removed the same way.
--
-- Like the migrations since 019, it can run again (the function is renamed once).

-- Progress, sessions and counted starts of p_episode's asset under title p_from (its movie
-- when p_from is p_episode, else the series it left) are moved to series p_to as episode
-- p_episode. Of a profile's two rows, the movie's and the one of p_to, the newer stays.
CREATE OR REPLACE FUNCTION sluice_episode_rows_follow(p_episode text, p_from text, p_to text)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
        INSERT INTO continue_watching AS c (profile_id, title_id, episode_id, asset_id,
                                            position, duration, device, updated_at)
        SELECT profile_id, p_to, p_episode, asset_id, position, duration, device, updated_at
        FROM continue_watching
        WHERE title_id = p_from AND coalesce(episode_id, title_id) = p_episode
        ON CONFLICT (profile_id, title_id) DO UPDATE SET episode_id = EXCLUDED.episode_id,
                asset_id = EXCLUDED.asset_id, position = EXCLUDED.position,
                duration = EXCLUDED.duration, device = EXCLUDED.device,
                updated_at = EXCLUDED.updated_at
        WHERE c.updated_at < EXCLUDED.updated_at;
        DELETE FROM continue_watching
        WHERE title_id = p_from AND coalesce(episode_id, title_id) = p_episode;
        UPDATE sessions SET title_id = p_to, episode_id = p_episode
        WHERE title_id = p_from AND coalesce(episode_id, title_id) = p_episode;
        UPDATE session_starts SET title_id = p_to, episode_id = p_episode
        WHERE title_id = p_from AND coalesce(episode_id, title_id) = p_episode;
END $$;

-- The movie p_asset, once the asset is an episode of series p_series: its rows follow the
-- asset there and the movie goes.
CREATE OR REPLACE FUNCTION sluice_movie_to_episode(p_asset text, p_series text)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
        IF EXISTS (SELECT 1 FROM titles WHERE id = p_asset AND kind = 'movie') THEN
                PERFORM sluice_episode_rows_follow(p_asset, p_asset, p_series);
                DELETE FROM titles WHERE id = p_asset AND kind = 'movie';
        END IF;
END $$;

-- The registration of 036_episode_kept.sql becomes sluice_register_title_kept (renamed
-- once), and sluice_register_title_apply calls it, then removes the asset's movie.
DO $$
BEGIN
        IF to_regprocedure('sluice_register_title_kept(jsonb)') IS NULL THEN
                ALTER FUNCTION sluice_register_title_apply(jsonb)
                        RENAME TO sluice_register_title_kept;
        END IF;
END $$;

CREATE OR REPLACE FUNCTION sluice_register_title_apply(doc jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
        res jsonb := sluice_register_title_kept(doc);
BEGIN
        IF res->>'episode' IS NOT NULL THEN
                PERFORM sluice_movie_to_episode(res->>'episode', res->>'title');
        END IF;
        RETURN res;
END $$;

-- Movies stored before beside their own episode.
DO $$
DECLARE
        e record;
BEGIN
        FOR e IN SELECT ep.id, ep.title_id FROM episodes ep
                 JOIN titles t ON t.id = ep.id AND t.kind = 'movie' LOOP
                PERFORM sluice_movie_to_episode(e.id, e.title_id);
        END LOOP;
END $$;
