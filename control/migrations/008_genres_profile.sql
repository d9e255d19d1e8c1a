-- SPDX-License-Identifier: MIT
-- Genres with an unknown profile: 404 like browse, trending, search and details (it answered
-- as for no profile). PL/pgSQL, as the other per-request functions (007).

CREATE OR REPLACE FUNCTION sluice_genres(p_profile bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
        IF p_profile IS NOT NULL AND NOT EXISTS (SELECT 1 FROM profiles WHERE id = p_profile) THEN
                PERFORM sluice_fail('SL404', 'unknown profile');
        END IF;
        RETURN (SELECT jsonb_build_object('genres', coalesce(jsonb_agg(jsonb_build_object(
                        'genre', g, 'titles', n) ORDER BY g), '[]'::jsonb))
                FROM (SELECT g, count(*) AS n FROM titles, unnest(genres) g
                      WHERE maturity_rank <= sluice_profile_limit(p_profile) GROUP BY g) x);
END $$;
