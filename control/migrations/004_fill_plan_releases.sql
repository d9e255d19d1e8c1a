-- SPDX-License-Identifier: MIT
-- Fill plans push scheduled releases ahead of their date in proportion to their expected
-- demand. The plan of 002 gave a release a fixed 10 x (1 - time to release / horizon), which
-- the decayed views of a region's watched titles (tens to hundreds) always outranked, so a
-- release never reached the part of the plan an edge has room for.
--
-- Per asset, in the edge's region:
--   views    Σ exp(-ln 2 · age / halflife) over sessions started in the last week;
--   release  for a title licensed in one of the region's countries from a date within the
--            horizon, and not available in that country now: expected × (1 - 0.5 · due /
--            horizon), where expected is the title's best-watched asset's views if it has
--            any (a series' earlier episodes, a returning title), else the views of the
--            region's 10th asset (a release lands among the top ten on its first day), and
--            at least 1. The ramp ranks the nearest release first among equals while one due
--            at the horizon keeps half its demand: the nightly run before the date is the
--            last chance to push it.
-- Files of an asset follow its score; within an asset, init segments first, then segments
-- in order, so a partial fill starts well.
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
        RETURN jsonb_build_object('edge', e.id, 'region', e.region,
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
