-- SPDX-License-Identifier: MIT
-- A title's genres were stored as sent, lowercased and nothing more: ["Drama", "drama"] made
-- the title "drama" twice, and GET /v1/catalog/genres counted it twice in that genre; a null,
-- a number or "" was a genre too (a null answered as one in every title card); one longer
-- than the 64 bytes browse takes in `genre` was listed but could never be browsed; and
-- "genres": [] kept the genres there were, where "cast": [] clears the cast.
--
-- metadata.genres, when given and not null, is now an array of strings, each 1..64 bytes once
-- trimmed of spaces and without control characters (400 otherwise, and nothing changes);
-- stored lowercased and trimmed, each once, in the order first given; [] clears them. The
-- genres stored before are made so (the null, empty and repeated ones dropped).
--
-- Like the migrations since 019, it can run again.

-- A genres array (checked as above) as stored: lowercased, trimmed, each once, first first.
CREATE OR REPLACE FUNCTION sluice_genres_normal(g text[]) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
        SELECT coalesce(array_agg(x.v ORDER BY x.first), '{}')
        FROM (SELECT lower(btrim(e)) AS v, min(o) AS first
              FROM unnest(g) WITH ORDINALITY AS u(e, o)
              WHERE e IS NOT NULL AND btrim(e) <> ''
              GROUP BY 1) x
$$;

-- As in 027, with metadata.genres checked first and stored as sluice_genres_normal makes it.
CREATE OR REPLACE FUNCTION sluice_register_title(doc jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
        enc jsonb := doc->'asset'->'encryption';
        g jsonb := CASE WHEN jsonb_typeof(doc->'metadata') = 'object'
                        THEN doc->'metadata'->'genres' END;
        g_norm text[];
        stored bytea;
        res jsonb;
BEGIN
        IF octet_length(doc->>'title') > 63 THEN
                PERFORM sluice_fail('SL400', 'asset.title: longer than 63 bytes');
        END IF;
        IF coalesce(jsonb_typeof(g), 'null') <> 'null' THEN
                IF jsonb_typeof(g) <> 'array' OR EXISTS (
                                SELECT 1 FROM jsonb_array_elements(g) e
                                WHERE jsonb_typeof(e) <> 'string'
                                   OR octet_length(btrim(e #>> '{}')) NOT BETWEEN 1 AND 64
                                   OR e #>> '{}' ~ '[[:cntrl:]]') THEN
                        PERFORM sluice_fail('SL400', 'metadata.genres: want an array of '
                                || 'strings of 1..64 bytes (without control characters)');
                END IF;
                g_norm := sluice_genres_normal(ARRAY(SELECT jsonb_array_elements_text(g)));
        END IF;
        IF jsonb_typeof(enc) = 'object' AND jsonb_typeof(doc->'key') IS DISTINCT FROM 'object'
        THEN
                SELECT kid INTO stored FROM content_keys WHERE asset_id = doc->>'title';
                IF NOT FOUND THEN
                        PERFORM sluice_fail('SL400', 'key: an encrypted asset needs its content '
                                || 'key ("key": {"kid","key"}); none is stored for this title');
                END IF;
                IF coalesce(enc->>'kid', '') ~ '^[0-9a-fA-F]{32}$'
                   AND stored <> decode(enc->>'kid', 'hex') THEN
                        PERFORM sluice_fail('SL409', 'asset.encryption.kid differs from the '
                                || 'stored content key''s kid; give the new "key" with it');
                END IF;
        END IF;
        res := sluice_register_title_apply(doc);
        -- The apply step stores each element lowercased and keeps the genres for [].
        IF g_norm IS NOT NULL THEN
                UPDATE titles SET genres = g_norm
                WHERE id = res->>'title' AND genres IS DISTINCT FROM g_norm;
                IF FOUND THEN
                        PERFORM sluice_title_reindex(res->>'title');
                END IF;
        END IF;
        RETURN res;
END $$;

-- Genres stored before.
DO $$
DECLARE
        t text;
BEGIN
        FOR t IN SELECT id FROM titles WHERE genres IS DISTINCT FROM sluice_genres_normal(genres)
        LOOP
                UPDATE titles SET genres = sluice_genres_normal(genres) WHERE id = t;
                PERFORM sluice_title_reindex(t);
        END LOOP;
END $$;
