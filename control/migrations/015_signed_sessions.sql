-- SPDX-License-Identifier: MIT
-- Signed, self-contained session ids (control/sessid.h). The id carries the session's title,
-- episode, asset and its version, country, region, profile, creation and expiry under a MAC;
-- its nonce is the sessions row's id. Readers take the verified claims from control and use
-- the row, when it is there, only for what an operator may change after the start: an
-- expires_at set in the past ends the session. A row not written yet (control writes
-- anonymous sessions behind, in batches) is no error.
--
-- The row-based functions (sluice_session_lite, sluice_license_key, sluice_report) stay, for
-- instances of the previous version during a rolling upgrade.

-- The asset a session was made for is gone when its version is no longer the current one (a
-- re-registered asset; its rows went by the cascade), and an operator may have ended it.
CREATE FUNCTION sluice_session_gone(p_sid text, p_asset text, p_version bigint) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
DECLARE
        v bigint;
BEGIN
        SELECT (extract(epoch FROM registered_at) * 1000000)::bigint INTO v
        FROM assets WHERE id = p_asset;
        IF v IS NULL OR v <> p_version THEN
                RETURN true;
        END IF;
        RETURN EXISTS (SELECT 1 FROM sessions WHERE id = p_sid AND expires_at <= now());
END $$;

-- What a manifest or steering answer needs beyond the claims.
CREATE FUNCTION sluice_session_claims(p_sid text, p_title text, p_asset text, p_version bigint,
                                      p_country text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
        IF sluice_session_gone(p_sid, p_asset, p_version) THEN
                PERFORM sluice_fail('SL404', 'unknown or expired session');
        END IF;
        RETURN jsonb_build_object(
                'licensed', sluice_licensed(p_title, p_country),
                'licence_change', sluice_licence_change(p_title, p_country),
                'licence_end', sluice_licence_end(p_title, p_country),
                'markers', coalesce((SELECT jsonb_object_agg(kind, jsonb_build_object(
                                'start', start_s, 'end', end_s)) FROM markers
                                WHERE asset_id = p_asset), '{}'::jsonb));
END $$;

-- ClearKey: the key of the session's asset, while the session lives and the title is
-- licensed in the session's country now.
CREATE FUNCTION sluice_license_key_claims(p_sid text, p_title text, p_asset text,
                                          p_version bigint, p_country text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
        k content_keys%ROWTYPE;
BEGIN
        IF sluice_session_gone(p_sid, p_asset, p_version) THEN
                PERFORM sluice_fail('SL403', 'no live session');
        END IF;
        IF NOT sluice_licensed(p_title, p_country) THEN
                PERFORM sluice_fail('SL451', 'title no longer licensed in ' || p_country);
        END IF;
        SELECT * INTO k FROM content_keys WHERE asset_id = p_asset;
        IF NOT FOUND THEN
                PERFORM sluice_fail('SL403', 'title is not encrypted');
        END IF;
        RETURN jsonb_build_object('kid', encode(k.kid, 'hex'), 'key', encode(k.key, 'hex'));
END $$;

-- A playback report (as sluice_report) from the claims; the client network's estimate is the
-- row's address when the row is there, else the reporter's.
CREATE FUNCTION sluice_report_claims(p_sid text, p_title text, p_episode text, p_asset text,
                                     p_version bigint, p_profile bigint, p_region text,
                                     p_ip text, p_position double precision, p_quality text,
                                     p_device text, p_mtp integer, p_bl integer) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
        dur double precision;
        ip inet;
BEGIN
        IF sluice_session_gone(p_sid, p_asset, p_version) THEN
                PERFORM sluice_fail('SL404', 'unknown or expired session');
        END IF;
        SELECT duration INTO dur FROM assets WHERE id = p_asset;
        IF p_position < 0 OR p_position > dur + 60 THEN
                PERFORM sluice_fail('SL400', 'position outside the title');
        END IF;
        INSERT INTO playback_reports (session_id, profile_id, title_id, episode_id, asset_id,
                                      region, position, quality, device)
        VALUES (p_sid, p_profile, p_title, p_episode, p_asset, p_region, p_position,
                left(p_quality, 32), left(p_device, 64));
        IF p_profile IS NOT NULL THEN
                INSERT INTO continue_watching (profile_id, title_id, episode_id, asset_id, position,
                                               duration, device, updated_at)
                VALUES (p_profile, p_title, p_episode, p_asset, least(p_position, dur),
                        dur, left(p_device, 64), now())
                ON CONFLICT (profile_id, title_id) DO UPDATE SET episode_id = EXCLUDED.episode_id,
                        asset_id = EXCLUDED.asset_id, position = EXCLUDED.position,
                        duration = EXCLUDED.duration, device = EXCLUDED.device,
                        updated_at = EXCLUDED.updated_at;
        END IF;
        IF p_mtp IS NOT NULL AND p_mtp > 0 THEN
                SELECT client_ip INTO ip FROM sessions WHERE id = p_sid;
                ip := coalesce(ip, p_ip::inet);
                IF ip IS NOT NULL THEN
                        PERFORM sluice_throughput_note('network', sluice_client_network(ip),
                                                       p_mtp, p_bl);
                END IF;
                IF p_profile IS NOT NULL THEN
                        PERFORM sluice_throughput_note('profile', p_profile::text, p_mtp, p_bl);
                END IF;
        END IF;
        RETURN jsonb_build_object('session', p_sid, 'position', p_position);
END $$;

-- What an anonymous start needs, for control's warm cache: the title and the asset it plays
-- (episode resolved as sluice_session_start does for no profile), its maturity rank, the
-- licence windows in p_country not over yet (control evaluates them against its clock, to the
-- second), and the client network's start bandwidth. Errors as sluice_session_start's 404s.
CREATE FUNCTION sluice_session_warm(p_title text, p_episode text, p_country text, p_ip text)
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
                'start_bandwidth', bw,
                'now', extract(epoch FROM now())::double precision);
END $$;

-- Sessions started without waiting for PostgreSQL, written behind in batches: p_rows is a JSON
-- array of {"id","title","episode"?,"asset","country","region"?,"ip"?,"created","expires"}
-- (epoch seconds). A row whose title, episode or asset has gone since (deleted or
-- re-registered) is left out, as the cascade would have removed it; a row already there is
-- kept. Returns the number written.
CREATE FUNCTION sluice_sessions_insert(p_rows jsonb) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
        n integer;
BEGIN
        INSERT INTO sessions (id, title_id, episode_id, asset_id, country, region, client_ip,
                              created_at, expires_at)
        SELECT r.id, r.title, r.episode, r.asset, r.country, r.region, r.ip::inet,
               to_timestamp(r.created), to_timestamp(r.expires)
        FROM jsonb_to_recordset(p_rows) AS r(id text, title text, episode text, asset text,
                                             country text, region text, ip text,
                                             created double precision, expires double precision)
        WHERE EXISTS (SELECT 1 FROM titles t WHERE t.id = r.title)
          AND EXISTS (SELECT 1 FROM assets a WHERE a.id = r.asset)
          AND (r.episode IS NULL OR EXISTS (SELECT 1 FROM episodes e WHERE e.id = r.episode))
          AND r.id ~ '^[0-9a-f]{32}$' AND r.country ~ '^[A-Z]{2}$'
        ON CONFLICT (id) DO NOTHING;
        GET DIAGNOSTICS n = ROW_COUNT;
        RETURN n;
END $$;
