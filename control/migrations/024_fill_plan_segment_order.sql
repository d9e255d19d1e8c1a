-- SPDX-License-Identifier: MIT
-- The files of an asset in a fill plan came init files first, then by the length of their
-- path: shorter names first across representations, so audio-en's whole track (seg-1 to
-- seg-999) came before video-240p/seg-1, and a plan cut at 130 objects of a 120-segment
-- title held 121 audio objects, 8 at 240p and none at 360p. sluice-fill takes objects in plan
-- order and a partial fill should start every rung. Within an asset the order is now: init
-- files, then by segment number (N of seg-N; 0 for a file without one, such as subtitles),
-- then by path, which orders the representations: every prefix of an asset's files holds
-- the first segments of every rung, one segment apart at most.

-- As in 021, with that order.
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
