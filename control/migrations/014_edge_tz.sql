-- SPDX-License-Identifier: MIT
-- An edge's time zone: sluice-fill runs an edge's off-peak window in the zone the fill plan
-- names ("tz"), and control had none to name. An operator may now give one when registering
-- the edge (POST /v1/admin/edges "tz"): an IANA name, checked here for its form (1 to 64
-- characters of [A-Za-z0-9_+/-], starting with a letter, so it can never name a path outside
-- the zone database) and against the zones PostgreSQL knows (pg_timezone_names), so a typo
-- is refused at registration rather than running the window in UTC. NULL: not set; the fill
-- agent then uses its own --tz or its machine's zone.
--
-- A registration states the whole edge: like capacity_mbps and enabled, a "tz" left out of a
-- new registration of the same edge goes back to unset.

ALTER TABLE edges ADD COLUMN tz text CHECK (tz ~ '^[A-Za-z][A-Za-z0-9_+/-]{0,63}$');

-- As in 005, plus tz.
CREATE OR REPLACE FUNCTION sluice_edge_register(doc jsonb, p_secret text, p_replace boolean, p_show boolean)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
        stored boolean;
BEGIN
        INSERT INTO edges (id, region, base_url, capacity_mbps, enabled, tz)
        VALUES (doc->>'id', doc->>'region', rtrim(doc->>'base_url', '/'),
                coalesce((doc->>'capacity_mbps')::bigint, 10000),
                coalesce((doc->>'enabled')::boolean, true), doc->>'tz')
        ON CONFLICT (id) DO UPDATE SET region = EXCLUDED.region, base_url = EXCLUDED.base_url,
                capacity_mbps = EXCLUDED.capacity_mbps, enabled = EXCLUDED.enabled,
                tz = EXCLUDED.tz;
        -- After the insert, so the column's CHECK has vouched for the name quoted here.
        IF doc->>'tz' IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = doc->>'tz') THEN
                PERFORM sluice_fail('SL400', 'invalid edge: unknown time zone "'
                                    || (doc->>'tz') || '"');
        END IF;
        IF p_secret !~ '^[!-~]{32,128}$' THEN
                PERFORM sluice_fail('SL400', 'invalid edge: the secret must be 32 to 128 '
                                    'visible ASCII characters');
        END IF;
        IF p_replace THEN
                INSERT INTO edge_secrets (edge_id, secret) VALUES (doc->>'id', p_secret)
                ON CONFLICT (edge_id) DO UPDATE SET secret = EXCLUDED.secret, set_at = now();
                stored := true;
        ELSE
                INSERT INTO edge_secrets (edge_id, secret) VALUES (doc->>'id', p_secret)
                ON CONFLICT (edge_id) DO NOTHING;
                stored := FOUND;
        END IF;
        RETURN (SELECT to_jsonb(e) || jsonb_build_object('secret_set', stored)
                       || CASE WHEN stored AND p_show
                               THEN jsonb_build_object('secret', p_secret)
                               ELSE '{}'::jsonb END
                FROM edges e WHERE id = doc->>'id');
EXCEPTION
        WHEN check_violation OR not_null_violation OR invalid_text_representation
             OR numeric_value_out_of_range THEN
                PERFORM sluice_fail('SL400', 'invalid edge: ' || SQLERRM);
END $$;

-- As in 004, plus the edge's "tz" (null when unset).
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
                        SELECT s.asset_id, s.title_id,
                               sum(exp(-ln(2) * extract(epoch FROM now() - s.created_at)
                                       / p_halflife_s)) AS score
                        FROM sessions s
                        WHERE s.region = e.region AND s.created_at > now() - interval '7 days'
                        GROUP BY s.asset_id, s.title_id),
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
