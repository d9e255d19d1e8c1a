-- SPDX-License-Identifier: MIT
-- The start rung by the first segment's size (docs/control.md, "start_bandwidth"). The
-- throughput estimate alone started a player at the highest rung within 70% of it, whatever
-- that rung's first segment weighs: over a 40 ms, 8 Mbit/s link dash.js started at 480p, whose
-- first segment is 820 kB (1.1 s), and the first frame waited for it (docs/demo.md, "Over an
-- access link"). Control now picks the highest video rung whose first media segment downloads
-- within a budget (start_rung_budget, 250 ms) at the estimate, else the lowest, and answers
-- that rung's bandwidth.
--
-- What it needs per asset is small and fixed at registration: each video rung's bandwidth and
-- the size of its first media segment (the file "<representation>/seg-<start_number>.m4s",
-- the MPD's SegmentTemplate, as asset.json's files list it). It is kept with the asset as
-- assets.start_ladder, [[bandwidth, bytes], ...] by bandwidth, made by a trigger from the
-- asset.json being stored, so a session reads it with the asset row it reads anyway (no
-- further statement); the warm path caches it with the title. A rung whose first segment is
-- not listed is left out; NULL when no rung is listed (control then answers the estimate as
-- before).
--
-- sluice_session_start and sluice_session_warm answer it as "start_ladder"; control takes it
-- out of the answer. An instance of the previous version, during a rolling upgrade, passes it
-- through to players as one more member of a session started through the database.

ALTER TABLE assets ADD COLUMN start_ladder jsonb;

-- The ladder of an asset.json (see above). Never fails: a member of the wrong type leaves its
-- rung or file out (registration refuses such an asset on its own terms).
CREATE FUNCTION sluice_start_ladder(a jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
        SELECT jsonb_agg(jsonb_build_array(r.bw, f.size) ORDER BY r.bw, f.size)
        FROM (SELECT (e->>'bandwidth')::bigint AS bw,
                     (e->>'id') || '/seg-' || coalesce(e->>'start_number', '1') || '.m4s' AS path
              FROM jsonb_array_elements(CASE WHEN jsonb_typeof(a->'representations') = 'array'
                                             THEN a->'representations' END) e
              WHERE jsonb_typeof(e) = 'object' AND e->>'type' = 'video'
                AND e->>'bandwidth' ~ '^[1-9][0-9]{0,11}$' AND e->>'id' IS NOT NULL) r
        JOIN (SELECT x->>'path' AS path, (x->>'size')::bigint AS size
              FROM jsonb_array_elements(CASE WHEN jsonb_typeof(a->'files') = 'array'
                                             THEN a->'files' END) x
              WHERE jsonb_typeof(x) = 'object' AND x->>'size' ~ '^[0-9]{1,15}$') f
          ON f.path = r.path
$$;

CREATE FUNCTION sluice_assets_start_ladder() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
        NEW.start_ladder := sluice_start_ladder(NEW.asset);
        RETURN NEW;
END $$;

CREATE TRIGGER assets_start_ladder BEFORE INSERT OR UPDATE OF asset ON assets
        FOR EACH ROW EXECUTE FUNCTION sluice_assets_start_ladder();

-- Assets registered before this migration (registered_at, the asset's version, unchanged).
UPDATE assets SET start_ladder = sluice_start_ladder(asset);

-- As in 012_session_start.sql, with the asset's start ladder.
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
                                SELECT e.id, e.asset_id INTO ep_id, ep_asset
                                FROM continue_watching c JOIN episodes e ON e.id = c.episode_id
                                WHERE c.profile_id = p_profile AND c.title_id = p_title;
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

-- As in 015_signed_sessions.sql, with the asset's start ladder.
CREATE OR REPLACE FUNCTION sluice_session_warm(p_title text, p_episode text, p_country text, p_ip text)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
        t titles%ROWTYPE;
        ep_id text;
        aid text;
        a assets%ROWTYPE;
        bw bigint;
BEGIN
        SELECT * INTO t FROM titles WHERE id = p_title;
        IF NOT FOUND THEN
                PERFORM sluice_fail('SL404', 'unknown title');
        END IF;
        IF t.kind = 'series' THEN
                IF p_episode IS NULL THEN
                        SELECT id, asset_id INTO ep_id, aid FROM episodes
                        WHERE title_id = p_title ORDER BY season, number LIMIT 1;
                ELSE
                        SELECT id, asset_id INTO ep_id, aid FROM episodes
                        WHERE id = p_episode AND title_id = p_title;
                END IF;
                IF ep_id IS NULL THEN
                        PERFORM sluice_fail('SL404', 'unknown episode');
                END IF;
        ELSE
                IF p_episode IS NOT NULL THEN
                        PERFORM sluice_fail('SL404', 'a movie has no episodes');
                END IF;
                aid := t.asset_id;
        END IF;
        IF aid IS NULL THEN
                PERFORM sluice_fail('SL404', 'title has no playable asset');
        END IF;
        SELECT * INTO a FROM assets WHERE id = aid;
        SELECT e.mtp_kbps::bigint * CASE WHEN e.bl_ms < 4000 THEN 500 ELSE 700 END INTO bw
        FROM throughput_estimates e
        WHERE p_ip IS NOT NULL AND e.updated_at > now() - interval '10 minutes'
          AND e.scope = 'network' AND e.key = sluice_client_network(p_ip::inet)
        ORDER BY e.updated_at DESC
        LIMIT 1;
        RETURN jsonb_build_object(
                'title', p_title, 'episode', ep_id, 'asset', aid, 'name', t.name,
                'rank', t.maturity_rank, 'encrypted', a.encrypted, 'duration', a.duration,
                'asset_version', (extract(epoch FROM a.registered_at) * 1000000)::bigint,
                'markers', coalesce((SELECT jsonb_object_agg(m.kind, jsonb_build_object(
                                'start', m.start_s, 'end', m.end_s))
                                FROM markers m WHERE m.asset_id = aid), '{}'::jsonb),
                'windows', coalesce((SELECT jsonb_agg(jsonb_build_array(
                                extract(epoch FROM l.available_from)::double precision,
                                extract(epoch FROM l.available_until)::double precision)
                                ORDER BY l.available_from)
                                FROM licences l
                                WHERE l.title_id = p_title AND l.country = p_country
                                  AND (l.available_until IS NULL
                                       OR l.available_until > now())), '[]'::jsonb),
                'start_bandwidth', bw, 'start_ladder', a.start_ladder,
                'now', extract(epoch FROM now())::double precision);
END $$;
