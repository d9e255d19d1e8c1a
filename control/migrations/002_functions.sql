-- SPDX-License-Identifier: MIT
-- Every API operation is one call of one of these functions through a prepared statement, so
-- each is atomic and the service needs no client-side transactions.
--
-- Errors use project SQLSTATEs that control maps to HTTP statuses:
--   SL400 bad request, SL403 forbidden, SL404 not found, SL409 conflict, SL451 not licensed.

CREATE FUNCTION sluice_maturity_rank(rating text) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
        SELECT CASE upper(coalesce(rating, ''))
                WHEN 'G' THEN 0 WHEN 'TV-Y' THEN 0 WHEN 'TV-Y7' THEN 0 WHEN 'TV-G' THEN 0
                WHEN 'U' THEN 0 WHEN 'ALL' THEN 0
                WHEN 'PG' THEN 1 WHEN 'TV-PG' THEN 1 WHEN '7' THEN 1
                WHEN 'PG-13' THEN 2 WHEN 'TV-14' THEN 2 WHEN '12' THEN 2 WHEN '13' THEN 2
                WHEN '16' THEN 3 WHEN 'R' THEN 3 WHEN '15' THEN 3
                ELSE 4 END
$$;

-- A profile's effective limit: kids profiles never go above "guidance".
CREATE FUNCTION sluice_profile_limit(p_profile bigint) RETURNS integer
LANGUAGE sql STABLE AS $$
        SELECT coalesce((SELECT CASE WHEN kids THEN least(maturity_limit, 1) ELSE maturity_limit END
                         FROM profiles WHERE id = p_profile), 4)
$$;

CREATE FUNCTION sluice_fail(code text, msg text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
        RAISE EXCEPTION USING ERRCODE = code, MESSAGE = msg;
END $$;

CREATE FUNCTION sluice_title_reindex(p_title text) RETURNS void
LANGUAGE sql AS $$
        UPDATE titles t SET search =
                setweight(to_tsvector('simple', t.name), 'A') ||
                setweight(to_tsvector('simple', array_to_string(t.genres, ' ')), 'B') ||
                setweight(to_tsvector('simple', coalesce((
                        SELECT string_agg(p.name || ' ' || coalesce(c.character, ''), ' ')
                        FROM title_cast c JOIN people p ON p.id = c.person_id
                        WHERE c.title_id = t.id), '')), 'B') ||
                setweight(to_tsvector('simple', coalesce((
                        SELECT string_agg(e.name, ' ') FROM episodes e WHERE e.title_id = t.id),
                        '')), 'C') ||
                setweight(to_tsvector('english', t.synopsis), 'D')
        WHERE t.id = p_title
$$;

-- Register (or replace) an asset from asset.json and attach it to a movie or to a series
-- episode. doc: {"title", "asset", "key"?: {"kid","key"}, "metadata"?: {...},
-- "series"?: {"id","name"?,"season","episode","episode_name"?}, "markers"?: {...}}.
CREATE FUNCTION sluice_register_title(doc jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
        a jsonb := doc->'asset';
        md jsonb := coalesce(doc->'metadata', '{}'::jsonb);
        s jsonb := doc->'series';
        aid text := doc->>'title';
        tid text;
        r jsonb;
        enc jsonb;
        kid bytea;
        person bigint;
        i integer := 0;
BEGIN
        IF jsonb_typeof(a) IS DISTINCT FROM 'object' OR aid IS NULL THEN
                PERFORM sluice_fail('SL400', 'body needs "title" and an "asset" object');
        END IF;
        IF a->>'title' IS DISTINCT FROM aid THEN
                PERFORM sluice_fail('SL400', 'asset.title does not match title');
        END IF;
        IF (a->>'version') IS DISTINCT FROM '1' THEN
                PERFORM sluice_fail('SL400', 'unsupported asset.json version');
        END IF;
        IF jsonb_typeof(a->'representations') IS DISTINCT FROM 'array'
           OR jsonb_array_length(a->'representations') = 0 THEN
                PERFORM sluice_fail('SL400', 'asset has no representations');
        END IF;
        enc := a->'encryption';
        IF jsonb_typeof(enc) = 'object' THEN
                IF coalesce(enc->>'kid', '') !~ '^[0-9a-fA-F]{32}$' THEN
                        PERFORM sluice_fail('SL400', 'asset.encryption.kid must be 32 hex digits');
                END IF;
                kid := decode(enc->>'kid', 'hex');
        END IF;

        DELETE FROM assets WHERE id = aid AND NOT EXISTS (SELECT 1 FROM titles WHERE asset_id = aid)
                AND NOT EXISTS (SELECT 1 FROM episodes WHERE asset_id = aid);
        INSERT INTO assets (id, duration, segment_duration, segment_count, encrypted, kid, asset)
        VALUES (aid, (a->>'duration')::double precision, (a->>'segment_duration')::double precision,
                (a->>'segment_count')::integer, kid IS NOT NULL, kid, a)
        ON CONFLICT (id) DO UPDATE SET duration = EXCLUDED.duration,
                segment_duration = EXCLUDED.segment_duration, segment_count = EXCLUDED.segment_count,
                encrypted = EXCLUDED.encrypted, kid = EXCLUDED.kid, asset = EXCLUDED.asset,
                registered_at = now();
        DELETE FROM representations WHERE asset_id = aid;
        DELETE FROM tracks WHERE asset_id = aid;
        DELETE FROM asset_files WHERE asset_id = aid;

        FOR r IN SELECT * FROM jsonb_array_elements(a->'representations') LOOP
                INSERT INTO representations (asset_id, id, type, codec, bandwidth, width, height, lang)
                VALUES (aid, r->>'id', r->>'type', r->>'codec', (r->>'bandwidth')::integer,
                        (r->>'width')::integer, (r->>'height')::integer, r->>'lang');
                IF r->>'type' = 'audio' THEN
                        INSERT INTO tracks (asset_id, id, kind, lang)
                        VALUES (aid, r->>'id', 'audio', coalesce(r->>'lang', 'und'));
                END IF;
        END LOOP;
        FOR r IN SELECT * FROM jsonb_array_elements(coalesce(a->'subtitles', '[]')) LOOP
                INSERT INTO tracks (asset_id, id, kind, lang, path)
                VALUES (aid, r->>'id', 'subtitle', coalesce(r->>'lang', 'und'), r->>'path');
        END LOOP;
        FOR r IN SELECT * FROM jsonb_array_elements(coalesce(a->'files', '[]')) LOOP
                IF coalesce(r->>'path', '') !~ '^[A-Za-z0-9._-]+(/[A-Za-z0-9._$-]+)*$'
                   OR r->>'path' ~ '(^|/)\.\.?(/|$)' THEN
                        PERFORM sluice_fail('SL400', 'bad file path in asset.files');
                END IF;
                INSERT INTO asset_files (asset_id, path, size, sha256)
                VALUES (aid, r->>'path', (r->>'size')::bigint, lower(r->>'sha256'));
        END LOOP;

        DELETE FROM markers WHERE asset_id = aid;
        FOR r IN SELECT jsonb_build_object('kind', key, 'v', value)
                 FROM jsonb_each(coalesce(doc->'markers', a->'markers', '{}')) LOOP
                INSERT INTO markers (asset_id, kind, start_s, end_s)
                VALUES (aid, r->>'kind', (r->'v'->>'start')::double precision,
                        (r->'v'->>'end')::double precision);
        END LOOP;

        IF jsonb_typeof(doc->'key') = 'object' THEN
                IF kid IS NULL THEN
                        PERFORM sluice_fail('SL400', 'a key for an asset without encryption');
                END IF;
                IF coalesce(doc->'key'->>'kid', '') !~ '^[0-9a-fA-F]{32}$'
                   OR coalesce(doc->'key'->>'key', '') !~ '^[0-9a-fA-F]{32}$' THEN
                        PERFORM sluice_fail('SL400', 'key.kid and key.key must be 32 hex digits');
                END IF;
                IF decode(doc->'key'->>'kid', 'hex') <> kid THEN
                        PERFORM sluice_fail('SL400', 'key.kid differs from asset.encryption.kid');
                END IF;
                INSERT INTO content_keys (asset_id, kid, key)
                VALUES (aid, kid, decode(doc->'key'->>'key', 'hex'))
                ON CONFLICT (asset_id) DO UPDATE SET kid = EXCLUDED.kid, key = EXCLUDED.key;
        ELSIF kid IS NULL THEN
                DELETE FROM content_keys WHERE asset_id = aid;
        END IF;

        IF jsonb_typeof(s) = 'object' THEN
                tid := s->>'id';
                INSERT INTO titles (id, kind, name) VALUES (tid, 'series', coalesce(s->>'name', tid))
                ON CONFLICT (id) DO NOTHING;
                IF (SELECT kind FROM titles WHERE id = tid) <> 'series' THEN
                        PERFORM sluice_fail('SL409', 'series id names a movie');
                END IF;
                IF s ? 'name' THEN
                        UPDATE titles SET name = s->>'name' WHERE id = tid;
                END IF;
                INSERT INTO seasons (title_id, number) VALUES (tid, (s->>'season')::integer)
                ON CONFLICT DO NOTHING;
                INSERT INTO episodes (id, title_id, season, number, name, synopsis, asset_id)
                VALUES (aid, tid, (s->>'season')::integer, (s->>'episode')::integer,
                        coalesce(s->>'episode_name', ''), coalesce(s->>'episode_synopsis', ''), aid)
                ON CONFLICT (id) DO UPDATE SET title_id = EXCLUDED.title_id,
                        season = EXCLUDED.season, number = EXCLUDED.number, name = EXCLUDED.name,
                        synopsis = EXCLUDED.synopsis, asset_id = EXCLUDED.asset_id;
        ELSE
                tid := aid;
                INSERT INTO titles (id, kind, name, asset_id) VALUES (tid, 'movie', tid, aid)
                ON CONFLICT (id) DO NOTHING;
                IF (SELECT kind FROM titles WHERE id = tid) <> 'movie' THEN
                        PERFORM sluice_fail('SL409', 'title id names a series');
                END IF;
                UPDATE titles SET asset_id = aid WHERE id = tid;
        END IF;

        UPDATE titles SET
                name = coalesce(md->>'name', name),
                synopsis = coalesce(md->>'synopsis', synopsis),
                year = coalesce((md->>'year')::integer, year),
                maturity_rating = coalesce(md->>'maturity_rating', maturity_rating),
                maturity_rank = sluice_maturity_rank(coalesce(md->>'maturity_rating', maturity_rating)),
                genres = coalesce((SELECT array_agg(lower(g)) FROM jsonb_array_elements_text(
                        CASE WHEN jsonb_typeof(md->'genres') = 'array' THEN md->'genres' END) g),
                        genres)
        WHERE id = tid;
        IF jsonb_typeof(md->'cast') = 'array' THEN
                DELETE FROM title_cast WHERE title_id = tid;
                FOR r IN SELECT * FROM jsonb_array_elements(md->'cast') LOOP
                        INSERT INTO people (name) VALUES (r->>'name') ON CONFLICT (name) DO NOTHING;
                        SELECT id INTO person FROM people WHERE name = r->>'name';
                        INSERT INTO title_cast (title_id, person_id, role, character, ord)
                        VALUES (tid, person, coalesce(r->>'role', 'actor'), r->>'character', i)
                        ON CONFLICT DO NOTHING;
                        i := i + 1;
                END LOOP;
        END IF;
        PERFORM sluice_title_reindex(tid);
        RETURN jsonb_build_object('title', tid, 'asset', aid,
                                  'episode', CASE WHEN tid <> aid THEN aid END,
                                  'encrypted', kid IS NOT NULL,
                                  'files', (SELECT count(*) FROM asset_files WHERE asset_id = aid));
EXCEPTION
        WHEN invalid_text_representation OR numeric_value_out_of_range OR not_null_violation
             OR check_violation OR invalid_parameter_value OR datetime_field_overflow THEN
                PERFORM sluice_fail('SL400', 'invalid asset: ' || SQLERRM);
END $$;

-- Replace a title's licences. lic: [{"country","from","until"?}] (RFC 3339 times).
CREATE FUNCTION sluice_set_licences(p_title text, lic jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
        r jsonb;
BEGIN
        IF NOT EXISTS (SELECT 1 FROM titles WHERE id = p_title) THEN
                PERFORM sluice_fail('SL404', 'unknown title');
        END IF;
        IF jsonb_typeof(lic) IS DISTINCT FROM 'array' THEN
                PERFORM sluice_fail('SL400', '"licences" must be an array');
        END IF;
        DELETE FROM licences WHERE title_id = p_title;
        FOR r IN SELECT * FROM jsonb_array_elements(lic) LOOP
                INSERT INTO licences (title_id, country, available_from, available_until)
                VALUES (p_title, upper(r->>'country'), coalesce((r->>'from')::timestamptz, now()),
                        (r->>'until')::timestamptz);
        END LOOP;
        RETURN jsonb_build_object('title', p_title, 'licences', jsonb_array_length(lic));
EXCEPTION
        WHEN invalid_text_representation OR not_null_violation OR check_violation
             OR invalid_datetime_format OR datetime_field_overflow OR unique_violation THEN
                PERFORM sluice_fail('SL400', 'invalid licence: ' || SQLERRM);
END $$;

CREATE FUNCTION sluice_licensed(p_title text, p_country text) RETURNS boolean
LANGUAGE sql STABLE AS $$
        SELECT EXISTS (SELECT 1 FROM licences
                       WHERE title_id = p_title AND country = p_country
                         AND available_from <= now()
                         AND (available_until IS NULL OR now() < available_until))
$$;

-- Start a playback session. Raises SL404 (unknown title/episode/profile), SL403 (above the
-- profile's maturity limit), SL451 (not licensed in p_country now).
CREATE FUNCTION sluice_playback(p_sid text, p_title text, p_episode text, p_profile bigint,
                                p_country text, p_region text, p_ip text, p_ttl_s integer)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
        t titles%ROWTYPE;
        ep episodes%ROWTYPE;
        aid text;
        a assets%ROWTYPE;
        resume double precision := 0;
        exp_at timestamptz := now() + make_interval(secs => p_ttl_s);
BEGIN
        SELECT * INTO t FROM titles WHERE id = p_title;
        IF NOT FOUND THEN
                PERFORM sluice_fail('SL404', 'unknown title');
        END IF;
        IF p_profile IS NOT NULL AND NOT EXISTS (SELECT 1 FROM profiles WHERE id = p_profile) THEN
                PERFORM sluice_fail('SL404', 'unknown profile');
        END IF;
        IF t.kind = 'series' THEN
                IF p_episode IS NULL THEN
                        -- Resume the series where this profile left it, else its first episode.
                        SELECT e.* INTO ep FROM continue_watching c JOIN episodes e ON e.id = c.episode_id
                        WHERE c.profile_id = p_profile AND c.title_id = p_title;
                        IF NOT FOUND THEN
                                SELECT * INTO ep FROM episodes WHERE title_id = p_title
                                ORDER BY season, number LIMIT 1;
                        END IF;
                ELSE
                        SELECT * INTO ep FROM episodes WHERE id = p_episode AND title_id = p_title;
                END IF;
                IF ep.id IS NULL THEN
                        PERFORM sluice_fail('SL404', 'unknown episode');
                END IF;
                aid := ep.asset_id;
        ELSE
                IF p_episode IS NOT NULL THEN
                        PERFORM sluice_fail('SL404', 'a movie has no episodes');
                END IF;
                aid := t.asset_id;
        END IF;
        IF aid IS NULL THEN
                PERFORM sluice_fail('SL404', 'title has no playable asset');
        END IF;
        IF t.maturity_rank > sluice_profile_limit(p_profile) THEN
                PERFORM sluice_fail('SL403', 'title is above the profile''s maturity limit');
        END IF;
        IF NOT sluice_licensed(p_title, p_country) THEN
                PERFORM sluice_fail('SL451', 'title not licensed in ' || p_country || ' at this time');
        END IF;
        SELECT * INTO a FROM assets WHERE id = aid;

        SELECT c.position INTO resume FROM continue_watching c
        WHERE c.profile_id = p_profile AND c.title_id = p_title AND c.asset_id = aid;
        -- Nearly finished counts as finished: start again rather than at the credits.
        IF resume IS NULL OR resume > greatest(a.duration - 30, a.duration * 0.95) THEN
                resume := 0;
        END IF;

        INSERT INTO sessions (id, title_id, episode_id, asset_id, profile_id, country, region,
                              client_ip, expires_at)
        VALUES (p_sid, p_title, ep.id, aid, p_profile, p_country, p_region, p_ip::inet, exp_at);

        RETURN jsonb_build_object(
                'session', p_sid, 'title', p_title, 'episode', ep.id, 'asset', aid,
                'name', t.name, 'country', p_country, 'encrypted', a.encrypted,
                'duration', a.duration, 'resume_position', resume,
                'expires', extract(epoch FROM exp_at)::bigint,
                'markers', coalesce((SELECT jsonb_object_agg(kind, jsonb_build_object(
                                'start', start_s, 'end', end_s)) FROM markers WHERE asset_id = aid),
                        '{}'::jsonb));
END $$;

-- Everything a manifest or steering request needs about a live session, in one round trip.
CREATE FUNCTION sluice_session_view(p_sid text, p_stale_s double precision) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
        s sessions%ROWTYPE;
BEGIN
        SELECT * INTO s FROM sessions WHERE id = p_sid AND expires_at > now();
        IF NOT FOUND THEN
                PERFORM sluice_fail('SL404', 'unknown or expired session');
        END IF;
        RETURN jsonb_build_object(
                'session', s.id, 'title', s.title_id, 'episode', s.episode_id, 'asset', s.asset_id,
                'country', s.country, 'region', s.region,
                'expires', extract(epoch FROM s.expires_at)::bigint,
                'created', floor(extract(epoch FROM s.created_at))::bigint,
                'now', extract(epoch FROM now()),
                'licensed', sluice_licensed(s.title_id, s.country),
                'manifest', (SELECT asset FROM assets WHERE id = s.asset_id),
                'markers', coalesce((SELECT jsonb_object_agg(kind, jsonb_build_object(
                                'start', start_s, 'end', end_s)) FROM markers
                                WHERE asset_id = s.asset_id), '{}'::jsonb),
                'edges', coalesce((SELECT jsonb_agg(jsonb_build_object(
                                'id', e.id, 'region', e.region, 'base_url', e.base_url,
                                'capacity_mbps', e.capacity_mbps,
                                'registered', floor(extract(epoch FROM e.registered_at))::bigint,
                                'load', coalesce(h.load, 0),
                                'heartbeat', coalesce(floor(extract(epoch FROM h.at))::bigint, 0),
                                'healthy', h.at IS NOT NULL
                                           AND extract(epoch FROM now() - h.at) <= p_stale_s,
                                'holds', coalesce(s.asset_id = ANY (h.titles), false))
                                ORDER BY e.id)
                        FROM edges e LEFT JOIN edge_health h ON h.edge_id = e.id
                        WHERE e.enabled), '[]'::jsonb));
END $$;

-- ClearKey: the session's key, only while the session lives and the title is licensed.
CREATE FUNCTION sluice_license_key(p_sid text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
        s sessions%ROWTYPE;
        k content_keys%ROWTYPE;
BEGIN
        SELECT * INTO s FROM sessions WHERE id = p_sid AND expires_at > now();
        IF NOT FOUND THEN
                PERFORM sluice_fail('SL403', 'no live session');
        END IF;
        IF NOT sluice_licensed(s.title_id, s.country) THEN
                PERFORM sluice_fail('SL451', 'title no longer licensed in ' || s.country);
        END IF;
        SELECT * INTO k FROM content_keys WHERE asset_id = s.asset_id;
        IF NOT FOUND THEN
                PERFORM sluice_fail('SL403', 'title is not encrypted');
        END IF;
        RETURN jsonb_build_object('kid', encode(k.kid, 'hex'), 'key', encode(k.key, 'hex'));
END $$;

CREATE FUNCTION sluice_report(p_sid text, p_position double precision, p_quality text,
                              p_device text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
        s sessions%ROWTYPE;
        dur double precision;
BEGIN
        SELECT * INTO s FROM sessions WHERE id = p_sid AND expires_at > now();
        IF NOT FOUND THEN
                PERFORM sluice_fail('SL404', 'unknown or expired session');
        END IF;
        SELECT duration INTO dur FROM assets WHERE id = s.asset_id;
        IF p_position < 0 OR p_position > dur + 60 THEN
                PERFORM sluice_fail('SL400', 'position outside the title');
        END IF;
        INSERT INTO playback_reports (session_id, profile_id, title_id, episode_id, asset_id,
                                      region, position, quality, device)
        VALUES (s.id, s.profile_id, s.title_id, s.episode_id, s.asset_id, s.region, p_position,
                left(p_quality, 32), left(p_device, 64));
        IF s.profile_id IS NOT NULL THEN
                INSERT INTO continue_watching (profile_id, title_id, episode_id, asset_id, position,
                                               duration, device, updated_at)
                VALUES (s.profile_id, s.title_id, s.episode_id, s.asset_id, least(p_position, dur),
                        dur, left(p_device, 64), now())
                ON CONFLICT (profile_id, title_id) DO UPDATE SET episode_id = EXCLUDED.episode_id,
                        asset_id = EXCLUDED.asset_id, position = EXCLUDED.position,
                        duration = EXCLUDED.duration, device = EXCLUDED.device,
                        updated_at = EXCLUDED.updated_at;
        END IF;
        RETURN jsonb_build_object('session', s.id, 'position', p_position);
END $$;

CREATE FUNCTION sluice_continue_watching(p_profile bigint, p_limit integer) RETURNS jsonb
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
                FROM (SELECT * FROM continue_watching WHERE profile_id = p_profile
                      ORDER BY updated_at DESC LIMIT p_limit) c
                JOIN titles t ON t.id = c.title_id
                LEFT JOIN episodes e ON e.id = c.episode_id
                WHERE t.maturity_rank <= sluice_profile_limit(p_profile)), '[]'::jsonb));
END $$;

CREATE FUNCTION sluice_title_card(t titles, p_country text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
        SELECT jsonb_build_object('id', t.id, 'kind', t.kind, 'name', t.name, 'year', t.year,
                                  'maturity_rating', t.maturity_rating, 'genres', to_jsonb(t.genres),
                                  'available', sluice_licensed(t.id, p_country))
$$;

-- Browse: by genre (NULL: all), ordered by name.
CREATE FUNCTION sluice_browse(p_genre text, p_profile bigint, p_country text, p_limit integer,
                              p_offset integer) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
        IF p_profile IS NOT NULL AND NOT EXISTS (SELECT 1 FROM profiles WHERE id = p_profile) THEN
                PERFORM sluice_fail('SL404', 'unknown profile');
        END IF;
        RETURN jsonb_build_object('genre', p_genre, 'items', coalesce((
                SELECT jsonb_agg(sluice_title_card(t, p_country) ORDER BY t.name, t.id)
                FROM (SELECT * FROM titles
                      WHERE (p_genre IS NULL OR lower(p_genre) = ANY (genres))
                        AND maturity_rank <= sluice_profile_limit(p_profile)
                      ORDER BY name, id LIMIT p_limit OFFSET p_offset) t), '[]'::jsonb));
END $$;

-- Trending: distinct sessions reporting in the last week, each weighted by exp(-age/halflife).
CREATE FUNCTION sluice_trending(p_profile bigint, p_country text, p_limit integer,
                                p_halflife_s double precision) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
        IF p_profile IS NOT NULL AND NOT EXISTS (SELECT 1 FROM profiles WHERE id = p_profile) THEN
                PERFORM sluice_fail('SL404', 'unknown profile');
        END IF;
        RETURN jsonb_build_object('items', coalesce((
                SELECT jsonb_agg(sluice_title_card(t, p_country) || jsonb_build_object('score',
                                 round(d.score::numeric, 6)) ORDER BY d.score DESC, t.id)
                FROM (SELECT r.title_id, sum(exp(-ln(2) * extract(epoch FROM now() - r.last)
                                                / p_halflife_s)) AS score
                      FROM (SELECT title_id, session_id, max(reported_at) AS last
                            FROM playback_reports WHERE reported_at > now() - interval '7 days'
                            GROUP BY title_id, session_id) r
                      JOIN titles t2 ON t2.id = r.title_id
                      WHERE t2.maturity_rank <= sluice_profile_limit(p_profile)
                      GROUP BY r.title_id ORDER BY score DESC, r.title_id LIMIT p_limit) d
                JOIN titles t ON t.id = d.title_id), '[]'::jsonb));
END $$;

CREATE FUNCTION sluice_genres(p_profile bigint) RETURNS jsonb
LANGUAGE sql STABLE AS $$
        SELECT jsonb_build_object('genres', coalesce(jsonb_agg(jsonb_build_object(
                        'genre', g, 'titles', n) ORDER BY g), '[]'::jsonb))
        FROM (SELECT g, count(*) AS n FROM titles, unnest(genres) g
              WHERE maturity_rank <= sluice_profile_limit(p_profile) GROUP BY g) x
$$;

-- Full-text search over names, genres, cast and synopsis; ranked, best first.
CREATE FUNCTION sluice_search(p_q text, p_profile bigint, p_country text, p_limit integer)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
        q tsquery := websearch_to_tsquery('simple', p_q) || websearch_to_tsquery('english', p_q);
BEGIN
        IF p_profile IS NOT NULL AND NOT EXISTS (SELECT 1 FROM profiles WHERE id = p_profile) THEN
                PERFORM sluice_fail('SL404', 'unknown profile');
        END IF;
        RETURN jsonb_build_object('query', p_q, 'items', coalesce((
                SELECT jsonb_agg(sluice_title_card(t, p_country)
                                 || jsonb_build_object('rank', round(x.rank::numeric, 4))
                                 ORDER BY x.rank DESC, t.id)
                FROM (SELECT id, ts_rank(search, q) AS rank FROM titles
                      WHERE search @@ q AND maturity_rank <= sluice_profile_limit(p_profile)
                      ORDER BY rank DESC, id LIMIT p_limit) x
                JOIN titles t ON t.id = x.id), '[]'::jsonb));
END $$;

CREATE FUNCTION sluice_title_details(p_title text, p_profile bigint, p_country text)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
        t titles%ROWTYPE;
BEGIN
        IF p_profile IS NOT NULL AND NOT EXISTS (SELECT 1 FROM profiles WHERE id = p_profile) THEN
                PERFORM sluice_fail('SL404', 'unknown profile');
        END IF;
        SELECT * INTO t FROM titles WHERE id = p_title
                AND maturity_rank <= sluice_profile_limit(p_profile);
        IF NOT FOUND THEN
                PERFORM sluice_fail('SL404', 'unknown title');
        END IF;
        RETURN sluice_title_card(t, p_country) || jsonb_build_object(
                'synopsis', t.synopsis,
                'duration', (SELECT duration FROM assets WHERE id = t.asset_id),
                'encrypted', (SELECT encrypted FROM assets WHERE id = t.asset_id),
                'cast', coalesce((SELECT jsonb_agg(jsonb_build_object('name', p.name, 'role', c.role,
                                        'character', c.character) ORDER BY c.ord, p.name)
                                  FROM title_cast c JOIN people p ON p.id = c.person_id
                                  WHERE c.title_id = t.id), '[]'::jsonb),
                'audio', coalesce((SELECT jsonb_agg(DISTINCT k.lang) FROM tracks k
                                   WHERE k.kind = 'audio' AND k.asset_id IN (
                                        SELECT t.asset_id UNION SELECT asset_id FROM episodes
                                        WHERE title_id = t.id)), '[]'::jsonb),
                'subtitles', coalesce((SELECT jsonb_agg(DISTINCT k.lang) FROM tracks k
                                       WHERE k.kind = 'subtitle' AND k.asset_id IN (
                                        SELECT t.asset_id UNION SELECT asset_id FROM episodes
                                        WHERE title_id = t.id)), '[]'::jsonb),
                'seasons', CASE WHEN t.kind = 'series' THEN coalesce((
                        SELECT jsonb_agg(jsonb_build_object('season', s.number, 'name', s.name,
                                'episodes', coalesce((SELECT jsonb_agg(jsonb_build_object(
                                        'id', e.id, 'episode', e.number, 'name', e.name,
                                        'synopsis', e.synopsis,
                                        'duration', (SELECT duration FROM assets WHERE id = e.asset_id))
                                        ORDER BY e.number)
                                        FROM episodes e WHERE e.title_id = t.id
                                        AND e.season = s.number), '[]'::jsonb))
                                ORDER BY s.number)
                        FROM seasons s WHERE s.title_id = t.id), '[]'::jsonb) END);
END $$;

CREATE FUNCTION sluice_profile_create(p_name text, p_kids boolean, p_limit integer)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
        pid bigint;
BEGIN
        INSERT INTO profiles (name, kids, maturity_limit)
        VALUES (p_name, p_kids, CASE WHEN p_kids THEN least(coalesce(p_limit, 1), 1)
                                      ELSE coalesce(p_limit, 4) END)
        RETURNING id INTO pid;
        RETURN (SELECT jsonb_build_object('id', id, 'name', name, 'kids', kids,
                                          'maturity_limit', maturity_limit)
                FROM profiles WHERE id = pid);
EXCEPTION
        WHEN check_violation OR not_null_violation THEN
                PERFORM sluice_fail('SL400', 'invalid profile: ' || SQLERRM);
END $$;

CREATE FUNCTION sluice_edge_register(doc jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
        INSERT INTO edges (id, region, base_url, capacity_mbps, enabled)
        VALUES (doc->>'id', doc->>'region', rtrim(doc->>'base_url', '/'),
                coalesce((doc->>'capacity_mbps')::bigint, 10000),
                coalesce((doc->>'enabled')::boolean, true))
        ON CONFLICT (id) DO UPDATE SET region = EXCLUDED.region, base_url = EXCLUDED.base_url,
                capacity_mbps = EXCLUDED.capacity_mbps, enabled = EXCLUDED.enabled;
        RETURN (SELECT to_jsonb(e) FROM edges e WHERE id = doc->>'id');
EXCEPTION
        WHEN check_violation OR not_null_violation OR invalid_text_representation
             OR numeric_value_out_of_range THEN
                PERFORM sluice_fail('SL400', 'invalid edge: ' || SQLERRM);
END $$;

-- doc: {"load","bytes_served","disk_used","disk_total","titles":[asset ids],"digest"}.
CREATE FUNCTION sluice_heartbeat(p_edge text, doc jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
        IF NOT EXISTS (SELECT 1 FROM edges WHERE id = p_edge) THEN
                PERFORM sluice_fail('SL404', 'unknown edge');
        END IF;
        INSERT INTO edge_health (edge_id, at, load, bytes_served, disk_used, disk_total, titles, digest)
        VALUES (p_edge, now(), coalesce((doc->>'load')::double precision, 0),
                coalesce((doc->>'bytes_served')::bigint, 0), coalesce((doc->>'disk_used')::bigint, 0),
                coalesce((doc->>'disk_total')::bigint, 0),
                coalesce((SELECT array_agg(x) FROM jsonb_array_elements_text(
                        CASE WHEN jsonb_typeof(doc->'titles') = 'array' THEN doc->'titles' END) x),
                        '{}'),
                left(coalesce(doc->>'digest', ''), 128))
        ON CONFLICT (edge_id) DO UPDATE SET at = EXCLUDED.at, load = EXCLUDED.load,
                bytes_served = EXCLUDED.bytes_served, disk_used = EXCLUDED.disk_used,
                disk_total = EXCLUDED.disk_total, titles = EXCLUDED.titles, digest = EXCLUDED.digest;
        RETURN jsonb_build_object('edge', p_edge, 'at', extract(epoch FROM now()));
EXCEPTION
        WHEN check_violation OR invalid_text_representation OR numeric_value_out_of_range THEN
                PERFORM sluice_fail('SL400', 'invalid heartbeat: ' || SQLERRM);
END $$;

-- Fill plan for one edge: per asset, views in the edge's region decayed with p_halflife_s, plus
-- a release boost for titles whose licence in one of the region's countries starts within
-- p_horizon_s (weighted so the nearest release ranks first). Files of an asset follow its score;
-- within an asset, init segments first, then segments in order, so a partial fill starts well.
CREATE FUNCTION sluice_fill_plan(p_edge text, p_origin text, p_halflife_s double precision,
                                 p_horizon_s double precision, p_limit integer) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
        e edges%ROWTYPE;
BEGIN
        SELECT * INTO e FROM edges WHERE id = p_edge;
        IF NOT FOUND THEN
                PERFORM sluice_fail('SL404', 'unknown edge');
        END IF;
        RETURN jsonb_build_object('edge', e.id, 'region', e.region,
                'generated', extract(epoch FROM now())::bigint,
                'objects', coalesce((
                SELECT jsonb_agg(jsonb_build_object('path', o.asset_id || '/' || o.path,
                                 'size', o.size, 'sha256', o.sha256,
                                 'url', p_origin || '/' || o.asset_id || '/' || o.path,
                                 'asset', o.asset_id, 'score', round(o.score::numeric, 6))
                                 ORDER BY o.n)
                FROM (SELECT f.*, d.score, row_number() OVER (ORDER BY d.score DESC, f.asset_id,
                                (f.path !~ 'init\.mp4$'), length(f.path), f.path) AS n
                FROM (SELECT asset_id, sum(score) AS score FROM (
                        SELECT s.asset_id, exp(-ln(2) * extract(epoch FROM now() - s.created_at)
                                               / p_halflife_s) AS score
                        FROM sessions s
                        WHERE s.region = e.region AND s.created_at > now() - interval '7 days'
                        UNION ALL
                        SELECT coalesce(t.asset_id, ep.asset_id),
                               10.0 * (1 - extract(epoch FROM l.available_from - now()) / p_horizon_s)
                        FROM licences l
                        JOIN titles t ON t.id = l.title_id
                        LEFT JOIN episodes ep ON ep.title_id = t.id
                        JOIN country_regions cr ON cr.country = l.country AND cr.region = e.region
                        WHERE l.available_from > now()
                          AND l.available_from <= now() + make_interval(secs => p_horizon_s)
                        ) x WHERE asset_id IS NOT NULL GROUP BY asset_id) d
                JOIN asset_files f ON f.asset_id = d.asset_id
                ORDER BY n LIMIT p_limit) o
                ), '[]'::jsonb));
END $$;

-- Daily report partitions for [today - 1, today + p_days]; idempotent, run by every instance.
CREATE FUNCTION sluice_report_partitions(p_days integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
        d date;
        n integer := 0;
        name text;
BEGIN
        FOR d IN SELECT generate_series(current_date - 1, current_date + p_days, '1 day')::date LOOP
                name := 'playback_reports_' || to_char(d, 'YYYYMMDD');
                IF to_regclass(name) IS NULL THEN
                        -- A row already in the default partition for that day would make the
                        -- attach fail; move such rows first.
                        EXECUTE format('CREATE TABLE %I (LIKE playback_reports INCLUDING DEFAULTS)', name);
                        EXECUTE format('WITH m AS (DELETE FROM playback_reports_default '
                                       'WHERE reported_at >= %L AND reported_at < %L RETURNING *) '
                                       'INSERT INTO %I SELECT * FROM m', d, d + 1, name);
                        EXECUTE format('ALTER TABLE playback_reports ATTACH PARTITION %I '
                                       'FOR VALUES FROM (%L) TO (%L)', name, d, d + 1);
                        n := n + 1;
                END IF;
        END LOOP;
        RETURN n;
END $$;

-- Token keys: the set every instance signs and edges verify with.
CREATE FUNCTION sluice_token_keys() RETURNS jsonb
LANGUAGE sql STABLE AS $$
        SELECT jsonb_build_object('keys', coalesce(jsonb_agg(jsonb_build_object(
                        'kid', kid, 'secret', encode(secret, 'hex'),
                        'sign_from', floor(extract(epoch FROM sign_from))::bigint,
                        'retire_at', ceil(extract(epoch FROM retire_at))::bigint)
                        ORDER BY sign_from DESC, kid), '[]'::jsonb))
        FROM token_keys WHERE retire_at IS NULL OR retire_at > now()
$$;

-- Rotate: the new key signs from now + p_publish_s (time for edges to learn it); every older
-- key keeps verifying until p_overlap_s after the new key starts signing.
CREATE FUNCTION sluice_token_rotate(p_kid text, p_secret_hex text, p_publish_s integer,
                                    p_overlap_s integer) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
        start timestamptz := now() + make_interval(secs => p_publish_s);
BEGIN
        IF p_overlap_s < 0 OR p_publish_s < 0 THEN
                PERFORM sluice_fail('SL400', 'negative publish or overlap time');
        END IF;
        UPDATE token_keys SET retire_at = start + make_interval(secs => p_overlap_s)
        WHERE retire_at IS NULL OR retire_at > start + make_interval(secs => p_overlap_s);
        INSERT INTO token_keys (kid, secret, sign_from) VALUES (p_kid, decode(p_secret_hex, 'hex'), start);
        RETURN jsonb_build_object('kid', p_kid, 'sign_from', floor(extract(epoch FROM start))::bigint,
                                  'retire_others_at',
                                  ceil(extract(epoch FROM start + make_interval(secs => p_overlap_s)))::bigint);
EXCEPTION
        WHEN unique_violation THEN
                PERFORM sluice_fail('SL409', 'kid already used');
END $$;
