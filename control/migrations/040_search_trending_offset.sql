-- SPDX-License-Identifier: MIT
-- Search and trending answered only their first page: they took `limit` (at most 100) but no
-- `offset`, where browse pages with both, so a client could never reach a 101st match or the
-- 101st trending title. Both now take an offset, in the same order as before (rank, then id;
-- score, then id), and the four-parameter forms older instances call answer the first page.
--
-- Like the migrations since 019, it can run again.

CREATE OR REPLACE FUNCTION sluice_search(p_q text, p_profile bigint, p_country text,
                                         p_limit integer, p_offset integer)
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
                      ORDER BY rank DESC, id LIMIT p_limit OFFSET p_offset) x
                JOIN titles t ON t.id = x.id), '[]'::jsonb));
END $$;

CREATE OR REPLACE FUNCTION sluice_search(p_q text, p_profile bigint, p_country text,
                                         p_limit integer)
RETURNS jsonb LANGUAGE sql STABLE AS $$
        SELECT sluice_search(p_q, p_profile, p_country, p_limit, 0)
$$;

-- As in 021_decay_underflow.sql, from p_offset on.
CREATE OR REPLACE FUNCTION sluice_trending(p_profile bigint, p_country text, p_limit integer,
                                           p_halflife_s double precision, p_offset integer)
RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
BEGIN
        IF p_profile IS NOT NULL AND NOT EXISTS (SELECT 1 FROM profiles WHERE id = p_profile) THEN
                PERFORM sluice_fail('SL404', 'unknown profile');
        END IF;
        RETURN jsonb_build_object('items', coalesce((
                SELECT jsonb_agg(sluice_title_card(t, p_country) || jsonb_build_object('score',
                                 round(d.score::numeric, 6)) ORDER BY d.score DESC, t.id)
                FROM (SELECT r.title_id, sum(sluice_decay(extract(epoch FROM now() - r.last),
                                                         p_halflife_s)) AS score
                      FROM (SELECT title_id, session_id, max(reported_at) AS last
                            FROM playback_reports WHERE reported_at > now() - interval '7 days'
                            GROUP BY title_id, session_id) r
                      JOIN titles t2 ON t2.id = r.title_id
                      WHERE t2.maturity_rank <= sluice_profile_limit(p_profile)
                      GROUP BY r.title_id ORDER BY score DESC, r.title_id
                      LIMIT p_limit OFFSET p_offset) d
                JOIN titles t ON t.id = d.title_id), '[]'::jsonb));
END $$;

CREATE OR REPLACE FUNCTION sluice_trending(p_profile bigint, p_country text, p_limit integer,
                                           p_halflife_s double precision)
RETURNS jsonb LANGUAGE sql STABLE AS $$
        SELECT sluice_trending(p_profile, p_country, p_limit, p_halflife_s, 0)
$$;
