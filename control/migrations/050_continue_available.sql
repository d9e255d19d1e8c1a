-- SPDX-License-Identifier: MIT
-- Continue-watching listed titles without saying whether they can be played where the viewer
-- is: a title whose licence in the country ended, or an episode registered into a series not
-- licensed there (which takes the profile's progress with it, 045_empty_series.sql), was
-- offered as a "continue" whose start answers 451. Browse, search and trending say so of each
-- card (`available`, sluice_title_card); continue-watching's items now carry the same
-- `available`, licensed in the client's country now (sluice_licensed), so a player can grey
-- the row out as it does a card.
--
-- Like the migrations since 019, it can run again.

-- The page of 043_continue_watching_finished.sql, each item with `available` in p_country.
CREATE OR REPLACE FUNCTION sluice_continue_watching(p_profile bigint, p_limit integer,
                                                    p_offset integer, p_country text)
RETURNS jsonb LANGUAGE sql STABLE AS $$
        SELECT jsonb_set(r, '{items}', coalesce((
                SELECT jsonb_agg(i || jsonb_build_object('available',
                                                         sluice_licensed(i->>'title', p_country))
                                 ORDER BY n)
                FROM jsonb_array_elements(r->'items') WITH ORDINALITY AS x(i, n)), '[]'::jsonb))
        FROM sluice_continue_watching(p_profile, p_limit, p_offset) AS r
$$;
