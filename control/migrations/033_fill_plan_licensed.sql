-- SPDX-License-Identifier: MIT
-- A fill plan ranked every asset watched in the edge's region over the last week, also once
-- its title could no longer be played there: a licence ended (and not due back within the
-- horizon), or moved to another region's countries. Edges filled, and kept, files no player
-- of their region could fetch, ahead of titles it could. Views now count for a title licensed
-- now in one of the region's countries (country_regions), or a scheduled release (a returning
-- title keeps its views, as before); the 10th-ranked asset that prices a new release is still
-- taken over every view.
--
-- Like the migrations since 019, it can run again.

-- As in 024, with the views of titles not playable in the region left out.
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
                               sum(v.starts * sluice_decay(extract(epoch FROM now() - v.at),
                                                          p_halflife_s)) AS score
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
                -- Titles a player of the region may start now; with those due, the only
                -- ones whose views predict demand here.
                playable AS (
                        SELECT DISTINCT l.title_id
                        FROM licences l
                        JOIN country_regions cr ON cr.country = l.country AND cr.region = e.region
                        WHERE l.available_from <= now()
                          AND (l.available_until IS NULL OR l.available_until > now())),
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
                                SELECT v.asset_id, v.score FROM seen v
                                WHERE v.title_id IN (SELECT title_id FROM playable)
                                   OR v.title_id IN (SELECT title_id FROM due)
                                UNION ALL
                                SELECT asset_id, score FROM released) x
                        WHERE asset_id IS NOT NULL GROUP BY asset_id)
                SELECT jsonb_agg(jsonb_build_object('path', o.asset_id || '/' || o.path,
                                 'size', o.size, 'sha256', o.sha256,
                                 'url', p_origin || '/' || o.asset_id || '/' || o.path,
                                 'asset', o.asset_id, 'score', round(o.score::numeric, 6))
                                 ORDER BY o.n)
                FROM (SELECT f.*, d.score, row_number() OVER (ORDER BY d.score DESC, f.asset_id,
                                (f.path !~ 'init\.mp4$'),
                                coalesce(substring(f.path
                                                   FROM '(?:^|/)seg-([0-9]{1,18})\.[^/]*$')::bigint,
                                         0),
                                f.path) AS n
                      FROM scored d
                      JOIN asset_files f ON f.asset_id = d.asset_id
                      ORDER BY n LIMIT p_limit) o
                ), '[]'::jsonb));
END $$;
