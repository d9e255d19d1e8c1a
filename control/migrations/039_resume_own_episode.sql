-- SPDX-License-Identifier: MIT
-- A profile's start of a series without "episode" resumed the episode of its continue-watching
-- row for that series, whichever series the episode belonged to by then. One registered into
-- another series since (docs/control.md, Admin) was started under the series it had left: its
-- session's title was that series, its licence judged in that series' windows and its
-- ClearKey keys given on them, though the episode's own series was not licensed in the
-- client's country (451 when started through it). The row's episode now counts only while it
-- is an episode of that series; otherwise the start is as without the row.
--
-- Like the migrations since 019, it can run again.

-- As in 035_series_next_episode.sql, with the episode still of p_title.
CREATE OR REPLACE FUNCTION sluice_series_resume(p_profile bigint, p_title text,
                                                OUT r_episode text, OUT r_asset text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
        ep_season integer;
        ep_number integer;
        ep_done boolean;
        nx record;
BEGIN
        SELECT e.id, e.asset_id, e.season, e.number,
               c.position > greatest(a.duration - 30, a.duration * 0.95)
        INTO r_episode, r_asset, ep_season, ep_number, ep_done
        FROM continue_watching c JOIN episodes e ON e.id = c.episode_id
        JOIN assets a ON a.id = e.asset_id
        WHERE c.profile_id = p_profile AND c.title_id = p_title AND e.title_id = p_title;
        -- Finished (as resume_position judges it): the next episode; the last starts again.
        IF ep_done THEN
                SELECT id, asset_id INTO nx FROM episodes
                WHERE title_id = p_title AND (season, number) > (ep_season, ep_number)
                ORDER BY season, number LIMIT 1;
                IF FOUND THEN
                        r_episode := nx.id;
                        r_asset := nx.asset_id;
                END IF;
        END IF;
END $$;
