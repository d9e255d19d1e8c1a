-- SPDX-License-Identifier: MIT
-- Warm anonymous starts are counted, not stored. Such a start's id carries the whole session
-- (015_signed_sessions.sql), and what read its row written behind was the fill plan's demand
-- (one row per start, 7 days of them) and the operator's early end. Demand now comes from
-- session_starts: control counts its warm starts by title, episode, asset, country, region
-- and second, and adds the counts in one statement now and then, so a busy title costs a few
-- rows a second where it cost one per start (each with its foreign keys, checks and three
-- indexes: about half of PostgreSQL's CPU in a start-heavy run). An operator ends any
-- session, with or without a row, through sluice_session_end (control's
-- POST /v1/admin/sessions/<id>/end), which writes the row that ends it.
--
-- Starts that go to the database (a profile, or nothing warm) still insert their row there;
-- sluice_sessions_insert_rows stays for instances of the previous version.
CREATE TABLE session_starts (
        started_at  timestamptz NOT NULL,
        title_id    sluice_id NOT NULL REFERENCES titles ON DELETE CASCADE,
        episode_id  sluice_id REFERENCES episodes ON DELETE CASCADE,
        asset_id    sluice_id NOT NULL REFERENCES assets ON DELETE CASCADE,
        country     country_code NOT NULL,
        region      text,
        starts      integer NOT NULL CHECK (starts > 0)
);
CREATE INDEX session_starts_at_idx ON session_starts (started_at);

-- Add counted starts: a json array of {title, episode, asset, country, region, created
-- (epoch seconds), n}. Counts whose title, episode or asset has gone since are left out (the
-- cascade would have removed them). Returns the starts added.
CREATE FUNCTION sluice_session_starts_add(p_rows json) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
        n bigint;
BEGIN
        WITH added AS (
                INSERT INTO session_starts (started_at, title_id, episode_id, asset_id, country,
                                            region, starts)
                SELECT to_timestamp(r.created), r.title, r.episode, r.asset, r.country, r.region,
                       sum(r.n)
                FROM json_to_recordset(p_rows) AS r(title text, episode text, asset text,
                                                    country text, region text,
                                                    created double precision, n integer)
                WHERE r.n > 0
                  AND EXISTS (SELECT 1 FROM titles t WHERE t.id = r.title)
                  AND EXISTS (SELECT 1 FROM assets a WHERE a.id = r.asset)
                  AND (r.episode IS NULL OR EXISTS (SELECT 1 FROM episodes e
                                                    WHERE e.id = r.episode))
                GROUP BY 1, 2, 3, 4, 5, 6
                RETURNING starts)
        SELECT coalesce(sum(starts), 0) INTO n FROM added;
        RETURN n;
END $$;

-- End a session now, on every instance (within cache_ttl where its manifest is warm): its row
-- gets an expires_at of now, written if the start left none (a warm start). The claims are
-- the verified id's. 'ended' is false when the session was over already or its asset is gone.
CREATE FUNCTION sluice_session_end(p_sid text, p_title text, p_episode text, p_asset text,
                                   p_version bigint, p_profile bigint, p_country text,
                                   p_region text, p_created double precision)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
        n integer;
BEGIN
        IF sluice_session_gone(p_sid, p_asset, p_version) THEN
                RETURN jsonb_build_object('session', p_sid, 'ended', false);
        END IF;
        INSERT INTO sessions (id, title_id, episode_id, asset_id, profile_id, country, region,
                              created_at, expires_at)
        VALUES (p_sid, p_title, nullif(p_episode, ''), p_asset,
                (SELECT id FROM profiles WHERE id = p_profile), p_country,
                nullif(p_region, ''), to_timestamp(p_created), now())
        ON CONFLICT (id) DO UPDATE SET expires_at = least(sessions.expires_at, now());
        GET DIAGNOSTICS n = ROW_COUNT;
        RETURN jsonb_build_object('session', p_sid, 'ended', n > 0);
EXCEPTION
        WHEN foreign_key_violation THEN
                RETURN jsonb_build_object('session', p_sid, 'ended', false);
END $$;

-- As in 014, with the counted warm starts weighed beside the sessions' rows.
CREATE OR REPLACE FUNCTION sluice_fill_plan(p_edge text, p_origin text,
                                            p_halflife_s double precision,
                                            p_horizon_s double precision, p_limit integer)
RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
        e edges%ROWTYPE;
BEGIN
        SELECT * INTO e FROM edges WHERE id = p_edge;
        IF NOT FOUND THEN
                PERFORM sluice_fail('SL404', 'unknown edge');
        END IF;
        RETURN jsonb_build_object('edge', e.id, 'region', e.region, 'tz', e.tz,
                'generated', extract(epoch FROM now())::bigint,
                'objects', coalesce((
                WITH seen AS (
                        SELECT v.asset_id, v.title_id,
                               sum(v.starts * exp(-ln(2) * extract(epoch FROM now() - v.at)
                                                  / p_halflife_s)) AS score
                        FROM (SELECT s.asset_id, s.title_id, s.created_at AS at, 1 AS starts
                              FROM sessions s
                              WHERE s.region = e.region
                                AND s.created_at > now() - interval '7 days'
                              UNION ALL
                              SELECT c.asset_id, c.title_id, c.started_at, c.starts
                              FROM session_starts c
                              WHERE c.region = e.region
                                AND c.started_at > now() - interval '7 days') v
                        GROUP BY v.asset_id, v.title_id),
                per_asset AS (
                        SELECT asset_id, sum(score) AS score FROM seen GROUP BY asset_id),
                prior AS (
                        SELECT greatest(1.0, coalesce(
                                (SELECT score FROM per_asset ORDER BY score DESC OFFSET 9 LIMIT 1),
                                (SELECT min(score) FROM per_asset), 1.0)) AS score),
                due AS (
                        SELECT l.title_id,
                               min(extract(epoch FROM l.available_from - now())) AS due_s
                        FROM licences l
                        JOIN country_regions cr ON cr.country = l.country AND cr.region = e.region
                        WHERE l.available_from > now()
                          AND l.available_from <= now() + make_interval(secs => p_horizon_s)
                          AND NOT EXISTS (
                                SELECT 1 FROM licences n
                                WHERE n.title_id = l.title_id AND n.country = l.country
                                  AND n.available_from <= now()
                                  AND (n.available_until IS NULL OR n.available_until > now()))
                        GROUP BY l.title_id),
                released AS (
                        SELECT coalesce(t.asset_id, ep.asset_id) AS asset_id,
                               coalesce((SELECT max(v.score) FROM seen v
                                         WHERE v.title_id = d.title_id),
                                        (SELECT score FROM prior))
                               * (1 - 0.5 * d.due_s / p_horizon_s) AS score
                        FROM due d
                        JOIN titles t ON t.id = d.title_id
                        LEFT JOIN episodes ep ON ep.title_id = t.id),
                scored AS (
                        SELECT asset_id, sum(score) AS score FROM (
                                SELECT asset_id, score FROM per_asset
                                UNION ALL
                                SELECT asset_id, score FROM released) x
                        WHERE asset_id IS NOT NULL GROUP BY asset_id)
                SELECT jsonb_agg(jsonb_build_object('path', o.asset_id || '/' || o.path,
                                 'size', o.size, 'sha256', o.sha256,
                                 'url', p_origin || '/' || o.asset_id || '/' || o.path,
                                 'asset', o.asset_id, 'score', round(o.score::numeric, 6))
                                 ORDER BY o.n)
                FROM (SELECT f.*, d.score, row_number() OVER (ORDER BY d.score DESC, f.asset_id,
                                (f.path !~ 'init\.mp4$'), length(f.path), f.path) AS n
                      FROM scored d
                      JOIN asset_files f ON f.asset_id = d.asset_id
                      ORDER BY n LIMIT p_limit) o
                ), '[]'::jsonb));
END $$;

-- As in 011, and counted starts older than the sessions' retention (at least the 7 days
-- fill plans read) go too; 'starts' is how many rows of counts went.
CREATE OR REPLACE FUNCTION sluice_prune(p_sessions_s bigint, p_reports_s bigint, p_batch integer)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
        keep_sessions interval := make_interval(secs => greatest(p_sessions_s, 7 * 86400));
        -- Reports from this day on are kept; a day's partition holds [day, day + 1).
        keep_from date := (now() - make_interval(secs => greatest(p_reports_s, 7 * 86400)))::date;
        n_sessions integer;
        n_starts integer;
        n_reports integer;
        n_parts integer := 0;
        p record;
BEGIN
        DELETE FROM sessions WHERE id IN (
                SELECT id FROM sessions
                WHERE expires_at < now() - keep_sessions
                  AND created_at < now() - interval '7 days'
                ORDER BY expires_at LIMIT p_batch);
        GET DIAGNOSTICS n_sessions = ROW_COUNT;
        DELETE FROM session_starts WHERE ctid IN (
                SELECT ctid FROM session_starts WHERE started_at < now() - keep_sessions
                LIMIT p_batch);
        GET DIAGNOSTICS n_starts = ROW_COUNT;
        -- A few partitions per call: each drop locks the parent briefly.
        FOR p IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                 WHERE i.inhparent = 'playback_reports'::regclass
                   AND c.relname ~ '^playback_reports_[0-9]{8}$'
                   AND to_date(substr(c.relname, 18), 'YYYYMMDD') < keep_from
                 ORDER BY c.relname LIMIT 4 LOOP
                EXECUTE format('DROP TABLE %I', p.relname);
                n_parts := n_parts + 1;
        END LOOP;
        DELETE FROM playback_reports_default WHERE ctid IN (
                SELECT ctid FROM playback_reports_default WHERE reported_at < keep_from
                LIMIT p_batch);
        GET DIAGNOSTICS n_reports = ROW_COUNT;
        RETURN jsonb_build_object('sessions', n_sessions, 'starts', n_starts,
                                  'partitions', n_parts, 'reports', n_reports,
                                  'more', n_sessions >= p_batch OR n_starts >= p_batch
                                          OR n_reports >= p_batch OR n_parts >= 4);
END $$;
