-- SPDX-License-Identifier: MIT
-- Continue-watching listed a title watched to its end: a movie at 12 of 12 s, or a series
-- whose last episode was finished, where it ended. A start of either plays it again from 0
-- (resume_position, 035_series_next_episode.sql), so the row offered a "continue" at the
-- credits that is not one. A row whose start plays the reported asset again from its
-- beginning (finished as resume_position judges it: within 30 s or 5% of the end, with no
-- next episode to move to) is now left out, before the page is cut, as titles above the
-- profile's limit are (023_continue_watching_limit.sql). The row stays in the table: a start
-- and a report of it put the title back in the list.
--
-- It also answered only its first page: it took `limit` (at most 100) but no `offset`, where
-- browse, search and trending page with both, so a profile with more rows than a page could
-- never list the rest. It now takes an offset, in the order as before (most recent first),
-- with the title's id breaking ties so that pages neither repeat nor skip a row reported in
-- the same instant as another; the two-parameter form older instances call answers the first
-- page.
--
-- Like the migrations since 019, it can run again.

-- As in 041_continue_next_episode.sql, without the rows watched to their end, from p_offset on.
CREATE OR REPLACE FUNCTION sluice_continue_watching(p_profile bigint, p_limit integer,
                                                    p_offset integer) RETURNS jsonb
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
                        ORDER BY c.updated_at DESC, c.title_id)
                FROM (SELECT w.* FROM continue_watching w
                      JOIN titles t1 ON t1.id = w.title_id
                      LEFT JOIN assets wa ON wa.id = w.asset_id
                      WHERE w.profile_id = p_profile
                        AND t1.maturity_rank <= sluice_profile_limit(p_profile)
                        -- Finished, and a start plays that asset again: a series' start
                        -- stays on the episode only when it is the series' last.
                        AND NOT (w.position > greatest(coalesce(wa.duration, w.duration) - 30,
                                                       coalesce(wa.duration, w.duration) * 0.95)
                                 AND (t1.kind <> 'series' OR w.episode_id IS NOT DISTINCT FROM
                                      (SELECT r.r_episode FROM
                                       sluice_series_resume(w.profile_id, w.title_id) r)))
                      ORDER BY w.updated_at DESC, w.title_id
                      LIMIT p_limit OFFSET p_offset) c
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

CREATE OR REPLACE FUNCTION sluice_continue_watching(p_profile bigint, p_limit integer)
RETURNS jsonb LANGUAGE sql STABLE AS $$
        SELECT sluice_continue_watching(p_profile, p_limit, 0)
$$;
