-- SPDX-License-Identifier: MIT
-- An edge's holdings (its heartbeat's titles, up to 100,000 asset ids) left the edge set that
-- control refreshes every cache_ttl / 2. sluice_edges_view put every edge's whole list in one
-- jsonb_agg on every read: 40 edges of 20,000 titles took 1.2-2.5 s and 13.6 MB, past
-- database_pool.timeout, so steering and manifests answered 503; one edge of 100,000 took
-- 0.7-3 s.
--
-- Each edge_health row now carries titles_gen, a number that changes whenever its titles do
-- (a heartbeat with another list, or any write that changes it). sluice_edges_held answers the
-- edge set as before, without titles but with each edge's titles_gen, and the titles only of
-- the edges whose titles_gen differs from the one the caller says it holds (p_known:
-- {"<edge id>": titles_gen}). Control keeps the holdings it was sent, so a refresh ships
-- titles only for the edges whose holdings changed since.
-- sluice_edges_view stays as it was for binaries that still call it.
--
-- Like the migrations since 019, it can run again.
CREATE SEQUENCE IF NOT EXISTS edge_titles_gen;

ALTER TABLE edge_health ADD COLUMN IF NOT EXISTS titles_gen bigint NOT NULL
        DEFAULT nextval('edge_titles_gen');

CREATE OR REPLACE FUNCTION sluice_edge_titles_gen() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
        IF NEW.titles IS DISTINCT FROM OLD.titles THEN
                NEW.titles_gen := nextval('edge_titles_gen');
        END IF;
        RETURN NEW;
END $$;

-- An insert takes a new number from the column's default (an edge removed and registered
-- again starts over with one no control holds).
DROP TRIGGER IF EXISTS edge_health_titles_gen ON edge_health;
CREATE TRIGGER edge_health_titles_gen BEFORE UPDATE OF titles ON edge_health
        FOR EACH ROW EXECUTE FUNCTION sluice_edge_titles_gen();

-- Every enabled edge with its health, liveness judged here against p_stale_s, as one row
-- (doc, the others NULL); then a row (edge, titles_gen, titles) for each enabled edge whose
-- titles_gen is not the one p_known gives, titles newline-separated (ids hold no newline, see
-- sluice_id): plain text, which neither side has to escape or parse as JSON.
CREATE OR REPLACE FUNCTION sluice_edges_held(p_stale_s double precision, p_known jsonb)
RETURNS TABLE (doc json, edge text, titles_gen bigint, titles text)
LANGUAGE sql STABLE AS $$
        SELECT coalesce(json_agg(json_build_object(
                        'id', e.id, 'region', e.region, 'base_url', e.base_url,
                        'capacity_mbps', e.capacity_mbps,
                        'registered', floor(extract(epoch FROM e.registered_at))::bigint,
                        'load', coalesce(h.load, 0),
                        'heartbeat', coalesce(floor(extract(epoch FROM h.at))::bigint, 0),
                        'healthy', h.at IS NOT NULL
                                   AND extract(epoch FROM now() - h.at) <= p_stale_s,
                        'titles_gen', coalesce(h.titles_gen, 0))
                        ORDER BY e.id), '[]'::json), NULL, NULL, NULL
        FROM edges e LEFT JOIN edge_health h ON h.edge_id = e.id
        WHERE e.enabled
        UNION ALL
        SELECT NULL, e.id::text, h.titles_gen, array_to_string(h.titles, E'\n')
        FROM edges e JOIN edge_health h ON h.edge_id = e.id
        WHERE e.enabled AND (p_known->>e.id::text) IS DISTINCT FROM h.titles_gen::text
$$;
