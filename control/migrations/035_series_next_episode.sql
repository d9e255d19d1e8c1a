-- SPDX-License-Identifier: MIT
-- A series started without "episode" by a profile resumed the episode of its continue-watching
-- row, finished or not. One watched to its credits was started again from its beginning
-- (resume_position 0, as for any asset nearly finished), so a viewer who finished episode 1
-- and came back to the series was shown episode 1 again. A finished episode (past the point
-- where resume_position starts again: within 30 s or 5% of its end) now goes on to the next
-- one, by season and number; the last episode of a series starts again, as before.
--
-- Like the migrations since 019, it can run again.

-- The episode (and its asset) a start of series p_title by p_profile without "episode" plays:
-- the one in the profile's continue-watching row, or once that one is finished the next one
-- by season and number when there is one; none (NULLs) without such a row.
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
        WHERE c.profile_id = p_profile AND c.title_id = p_title;
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

-- As in 017_start_rung.sql, with the episode a profile resumes from sluice_series_resume.
CREATE OR REPLACE FUNCTION sluice_session_start(p_sid text, p_title text, p_episode text,
                                     p_profile bigint, p_country text, p_region text,
                                     p_ip text, p_ttl_s integer)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
        t_now timestamptz := now();
        exp_at timestamptz := now() + make_interval(secs => p_ttl_s);
        t_kind text;
        t_name text;
        t_rank integer;
        t_asset text;
        p_limit integer := 4;
        ep_id text;
        ep_asset text;
        aid text;
        a_duration double precision;
        a_encrypted boolean;
        a_version bigint;
        a_markers jsonb;
        a_ladder jsonb;
        resume double precision;
        bw bigint;
        -- Licence windows: licensed now, the next boundary, the end of coverage
        -- (sluice_licensed, sluice_licence_change and sluice_licence_end, in one pass).
        lic boolean := false;
        change timestamptz;
        cover timestamptz;
        cover_open boolean := false;
        cover_done boolean := false;
        l record;
BEGIN
        SELECT kind, name, maturity_rank, asset_id INTO t_kind, t_name, t_rank, t_asset
        FROM titles WHERE id = p_title;
        IF NOT FOUND THEN
                PERFORM sluice_fail('SL404', 'unknown title');
        END IF;
        IF p_profile IS NOT NULL THEN
                SELECT CASE WHEN kids THEN least(maturity_limit, 1) ELSE maturity_limit END
                INTO p_limit FROM profiles WHERE id = p_profile;
                IF NOT FOUND THEN
                        PERFORM sluice_fail('SL404', 'unknown profile');
                END IF;
        END IF;
        IF t_kind = 'series' THEN
                IF p_episode IS NULL THEN
                        -- Resume the series where this profile left it, else its first episode.
                        IF p_profile IS NOT NULL THEN
                                SELECT r.r_episode, r.r_asset INTO ep_id, ep_asset
                                FROM sluice_series_resume(p_profile, p_title) r;
                        END IF;
                        IF ep_id IS NULL THEN
                                SELECT id, asset_id INTO ep_id, ep_asset FROM episodes
                                WHERE title_id = p_title ORDER BY season, number LIMIT 1;
                        END IF;
                ELSE
                        SELECT id, asset_id INTO ep_id, ep_asset FROM episodes
                        WHERE id = p_episode AND title_id = p_title;
                END IF;
                IF ep_id IS NULL THEN
                        PERFORM sluice_fail('SL404', 'unknown episode');
                END IF;
                aid := ep_asset;
        ELSE
                IF p_episode IS NOT NULL THEN
                        PERFORM sluice_fail('SL404', 'a movie has no episodes');
                END IF;
                aid := t_asset;
        END IF;
        IF aid IS NULL THEN
                PERFORM sluice_fail('SL404', 'title has no playable asset');
        END IF;
        IF t_rank > p_limit THEN
                PERFORM sluice_fail('SL403', 'title is above the profile''s maturity limit');
        END IF;

        -- Windows not over yet, earliest first: every one that bears on now or later.
        FOR l IN SELECT available_from, available_until FROM licences
                 WHERE title_id = p_title AND country = p_country
                   AND (available_until IS NULL OR available_until > t_now)
                 ORDER BY available_from LOOP
                IF l.available_from <= t_now THEN
                        lic := true;
                ELSE
                        change := least(change, l.available_from);
                END IF;
                change := least(change, l.available_until);
                IF NOT cover_done THEN
                        IF l.available_from > coalesce(cover, t_now) THEN
                                cover_done := true;
                        ELSIF l.available_until IS NULL THEN
                                cover_open := true;
                                cover_done := true;
                        ELSE
                                cover := greatest(coalesce(cover, t_now), l.available_until);
                        END IF;
                END IF;
        END LOOP;
        IF NOT lic THEN
                PERFORM sluice_fail('SL451', 'title not licensed in ' || p_country || ' at this time');
        END IF;

        SELECT a.duration, a.encrypted, (extract(epoch FROM a.registered_at) * 1000000)::bigint,
               coalesce((SELECT jsonb_object_agg(m.kind, jsonb_build_object(
                                'start', m.start_s, 'end', m.end_s))
                         FROM markers m WHERE m.asset_id = aid), '{}'::jsonb),
               a.start_ladder
        INTO a_duration, a_encrypted, a_version, a_markers, a_ladder
        FROM assets a WHERE a.id = aid;

        IF p_profile IS NOT NULL THEN
                SELECT c.position INTO resume FROM continue_watching c
                WHERE c.profile_id = p_profile AND c.title_id = p_title AND c.asset_id = aid;
        END IF;
        -- Nearly finished counts as finished: start again rather than at the credits.
        IF resume IS NULL OR resume > greatest(a_duration - 30, a_duration * 0.95) THEN
                resume := 0;
        END IF;

        -- As sluice_start_bandwidth: the profile's estimate, else the client network's.
        SELECT e.mtp_kbps::bigint * CASE WHEN e.bl_ms < 4000 THEN 500 ELSE 700 END INTO bw
        FROM throughput_estimates e
        WHERE e.updated_at > t_now - interval '10 minutes'
          AND ((e.scope = 'profile' AND e.key = p_profile::text) OR
               (p_ip IS NOT NULL AND e.scope = 'network' AND
                e.key = sluice_client_network(p_ip::inet)))
        ORDER BY e.scope = 'profile' DESC, e.updated_at DESC
        LIMIT 1;

        INSERT INTO sessions (id, title_id, episode_id, asset_id, profile_id, country, region,
                              client_ip, expires_at)
        VALUES (p_sid, p_title, ep_id, aid, p_profile, p_country, p_region, p_ip::inet, exp_at);

        RETURN jsonb_build_object(
                'session', p_sid, 'title', p_title, 'episode', ep_id, 'asset', aid,
                'name', t_name, 'country', p_country, 'encrypted', a_encrypted,
                'duration', a_duration, 'resume_position', resume,
                'expires', extract(epoch FROM exp_at)::bigint,
                'markers', a_markers,
                -- For the instance's session cache (control strips them from the answer).
                'licensed', true, 'region', p_region, 'start_bandwidth', bw,
                'created', floor(extract(epoch FROM t_now))::bigint,
                'licence_change', extract(epoch FROM change)::double precision,
                'licence_end', CASE WHEN cover_open THEN NULL
                                    ELSE extract(epoch FROM cover)::double precision END,
                'asset_version', a_version, 'start_ladder', a_ladder);
END $$;
