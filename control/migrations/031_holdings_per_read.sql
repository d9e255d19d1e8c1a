-- SPDX-License-Identifier: MIT
-- A read of the edge set ships at most p_budget titles of holdings (and always the first
-- changed edge's, whatever its size). sluice_edges_held (030) shipped every changed edge's
-- titles at once, so the first read after a start carried the whole fleet's holdings: 40
-- edges of 20,000 titles and one of 100,000 took 0.56 s on a quiet machine and 1.1-1.3 s on
-- a loaded one, past database_pool.timeout; the read was cancelled, answered 503, and the
-- next one asked for everything again, so an instance could stay without holdings as long
-- as the load lasted. Now the holdings come over several reads, and each read keeps what it
-- was sent. The changed edges go oldest change first (by titles_gen, a sequence): one whose
-- titles change at every heartbeat waits behind those that changed before it, so however
-- often some change, none waits for ever.
--
-- Each edge_health row carries titles_n, the number of its titles, set with titles_gen, so
-- the budget is counted without reading the titles themselves.
--
-- Like the migrations since 019, it can run again.
ALTER TABLE edge_health ADD COLUMN IF NOT EXISTS titles_n integer NOT NULL DEFAULT 0;

UPDATE edge_health SET titles_n = coalesce(cardinality(titles), 0)
WHERE titles_n IS DISTINCT FROM coalesce(cardinality(titles), 0);

CREATE OR REPLACE FUNCTION sluice_edge_titles_gen() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
        IF TG_OP = 'UPDATE' AND NEW.titles IS DISTINCT FROM OLD.titles THEN
                NEW.titles_gen := nextval('edge_titles_gen');
        END IF;
        NEW.titles_n := coalesce(cardinality(NEW.titles), 0);
        RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS edge_health_titles_gen ON edge_health;
CREATE TRIGGER edge_health_titles_gen BEFORE INSERT OR UPDATE OF titles ON edge_health
        FOR EACH ROW EXECUTE FUNCTION sluice_edge_titles_gen();

-- The edge set as one row (doc, the others NULL), as in 030; then a row (edge, titles_gen,
-- titles) for each enabled edge whose titles_gen is not the one p_known gives, by titles_gen,
-- while its titles and those of the rows before it come to p_budget or less (NULL: no
-- limit); the first such edge always comes.
CREATE OR REPLACE FUNCTION sluice_edges_held(p_stale_s double precision, p_known jsonb,
                                             p_budget bigint)
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
        SELECT NULL, c.id, c.titles_gen, array_to_string(c.titles, E'\n')
        FROM (SELECT e.id::text AS id, h.titles_gen, h.titles,
                     sum(h.titles_n) OVER (ORDER BY h.titles_gen, e.id) AS upto,
                     row_number() OVER (ORDER BY h.titles_gen, e.id) AS k
              FROM edges e JOIN edge_health h ON h.edge_id = e.id
              WHERE e.enabled
                AND (p_known->>e.id::text) IS DISTINCT FROM h.titles_gen::text) c
        WHERE c.k = 1 OR p_budget IS NULL OR c.upto <= p_budget
$$;

-- The two-argument form, for binaries that still call it: no limit, as before.
CREATE OR REPLACE FUNCTION sluice_edges_held(p_stale_s double precision, p_known jsonb)
RETURNS TABLE (doc json, edge text, titles_gen bigint, titles text)
LANGUAGE sql STABLE AS $$
        SELECT * FROM sluice_edges_held(p_stale_s, p_known, NULL)
$$;
