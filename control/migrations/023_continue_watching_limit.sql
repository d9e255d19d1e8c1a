-- SPDX-License-Identifier: MIT
-- Continue-watching took a profile's latest p_limit rows first and dropped those above the
-- profile's maturity limit after: a title rated above it since it was watched (or watched
-- before the limit was lowered) took a place on the page and was then removed, so the page
-- came back short, or empty with more to show. Titles above the limit are now left out
-- first, then the page is taken.

-- As in 002, with the maturity filter before the limit.
CREATE OR REPLACE FUNCTION sluice_continue_watching(p_profile bigint, p_limit integer) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
        IF NOT EXISTS (SELECT 1 FROM profiles WHERE id = p_profile) THEN
                PERFORM sluice_fail('SL404', 'unknown profile');
        END IF;
        RETURN jsonb_build_object('profile', p_profile, 'items', coalesce((
                SELECT jsonb_agg(jsonb_build_object(
                        'title', c.title_id, 'name', t.name, 'episode', c.episode_id,
                        'season', e.season, 'episode_number', e.number,
                        'position', c.position, 'duration', c.duration, 'device', c.device,
                        'updated', to_char(c.updated_at AT TIME ZONE 'UTC',
                                           'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
                        ORDER BY c.updated_at DESC)
                FROM (SELECT w.* FROM continue_watching w
                      JOIN titles t1 ON t1.id = w.title_id
                      WHERE w.profile_id = p_profile
                        AND t1.maturity_rank <= sluice_profile_limit(p_profile)
                      ORDER BY w.updated_at DESC LIMIT p_limit) c
                JOIN titles t ON t.id = c.title_id
                LEFT JOIN episodes e ON e.id = c.episode_id), '[]'::jsonb));
END $$;
