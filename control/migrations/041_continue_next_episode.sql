-- SPDX-License-Identifier: MIT
-- Continue-watching listed a series at the episode last reported, finished or not: a viewer
-- who watched episode 1 to its credits saw "episode 1, 11.9 of 12 s" on the row, where a start
-- of the series from that row plays episode 2 from its beginning (035_series_next_episode.sql).
-- A series' item now names the episode such a start plays (sluice_series_resume, else the
-- first episode when the one reported has since left the series, 039_resume_own_episode.sql),
-- with that episode's season, number and duration, and position 0 when it is not the episode
-- reported. The last episode of a series, finished, is listed as before (a start plays it
-- again).
--
-- Like the migrations since 019, it can run again.

-- As in 023_continue_watching_limit.sql, with a series at the episode its start plays.
CREATE OR REPLACE FUNCTION sluice_continue_watching(p_profile bigint, p_limit integer) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
        IF NOT EXISTS (SELECT 1 FROM profiles WHERE id = p_profile) THEN
                PERFORM sluice_fail('SL404', 'unknown profile');
        END IF;
        RETURN jsonb_build_object('profile', p_profile, 'items', coalesce((
                SELECT jsonb_agg(jsonb_build_object(
                        'title', c.title_id, 'name', t.name, 'episode', e.id,
                        'season', e.season, 'episode_number', e.number,
                        'position', CASE WHEN moved THEN 0 ELSE c.position END,
                        'duration', CASE WHEN moved THEN a.duration ELSE c.duration END,
                        'device', c.device,
                        'updated', to_char(c.updated_at AT TIME ZONE 'UTC',
                                           'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
                        ORDER BY c.updated_at DESC)
                FROM (SELECT w.* FROM continue_watching w
                      JOIN titles t1 ON t1.id = w.title_id
                      WHERE w.profile_id = p_profile
                        AND t1.maturity_rank <= sluice_profile_limit(p_profile)
                      ORDER BY w.updated_at DESC LIMIT p_limit) c
                JOIN titles t ON t.id = c.title_id
                -- The episode a start of the series plays: as sluice_session_start picks it.
                LEFT JOIN LATERAL (
                        SELECT coalesce(r.r_episode, f.id) AS ep, coalesce(r.r_asset, f.asset_id)
                               AS asset
                        FROM sluice_series_resume(c.profile_id, c.title_id) r
                        LEFT JOIN LATERAL (SELECT id, asset_id FROM episodes
                                           WHERE title_id = c.title_id
                                           ORDER BY season, number LIMIT 1) f
                                ON r.r_episode IS NULL) s ON t.kind = 'series'
                CROSS JOIN LATERAL (SELECT s.ep IS DISTINCT FROM c.episode_id
                                           AND s.ep IS NOT NULL AS moved) m
                LEFT JOIN episodes e ON e.id = CASE WHEN moved THEN s.ep ELSE c.episode_id END
                LEFT JOIN assets a ON a.id = s.asset), '[]'::jsonb));
END $$;
