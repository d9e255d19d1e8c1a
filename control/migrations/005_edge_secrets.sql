-- SPDX-License-Identifier: MIT
-- Heartbeat authentication (docs/control.md, "Heartbeat authentication"): each edge has its
-- own secret, set when an operator registers it, with which it signs every heartbeat
-- (common/req-sign.h). Secrets live in a table of their own so that no query returning edge
-- rows can carry one, and they are never part of an error message. edge_health remembers the
-- signed time of the last accepted heartbeat: a replayed or older one is refused.

CREATE TABLE edge_secrets (
        edge_id  sluice_id PRIMARY KEY REFERENCES edges ON DELETE CASCADE,
        secret   text NOT NULL CHECK (secret ~ '^[!-~]{32,128}$'),
        set_at   timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE edge_health ADD COLUMN signed_ms bigint NOT NULL DEFAULT 0;

-- Registration as before, plus the secret: p_secret replaces the edge's secret when p_replace,
-- else only fills a missing one. Returns the edge row, with "secret" only when p_secret was
-- stored by this call and p_show (control generated it: the operator's only chance to see it).
DROP FUNCTION sluice_edge_register(jsonb);
CREATE FUNCTION sluice_edge_register(doc jsonb, p_secret text, p_replace boolean, p_show boolean)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
        stored boolean;
BEGIN
        INSERT INTO edges (id, region, base_url, capacity_mbps, enabled)
        VALUES (doc->>'id', doc->>'region', rtrim(doc->>'base_url', '/'),
                coalesce((doc->>'capacity_mbps')::bigint, 10000),
                coalesce((doc->>'enabled')::boolean, true))
        ON CONFLICT (id) DO UPDATE SET region = EXCLUDED.region, base_url = EXCLUDED.base_url,
                capacity_mbps = EXCLUDED.capacity_mbps, enabled = EXCLUDED.enabled;
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

-- The secret an edge signs with: {"secret": text or null}; 404 for an edge not registered.
CREATE FUNCTION sluice_edge_secret(p_edge text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
BEGIN
        IF NOT EXISTS (SELECT 1 FROM edges WHERE id = p_edge) THEN
                PERFORM sluice_fail('SL404', 'unknown edge');
        END IF;
        RETURN jsonb_build_object('secret',
                                  (SELECT secret FROM edge_secrets WHERE edge_id = p_edge));
END $$;

-- A heartbeat whose signature control has checked; p_signed_ms is its signed time, which
-- must be newer than the last accepted one's (401 otherwise: replayed or out of order).
CREATE FUNCTION sluice_heartbeat_signed(p_edge text, doc jsonb, p_signed_ms bigint)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
        IF NOT EXISTS (SELECT 1 FROM edges WHERE id = p_edge) THEN
                PERFORM sluice_fail('SL404', 'unknown edge');
        END IF;
        INSERT INTO edge_health (edge_id, at, load, bytes_served, disk_used, disk_total, titles,
                                 digest, signed_ms)
        VALUES (p_edge, now(), coalesce((doc->>'load')::double precision, 0),
                coalesce((doc->>'bytes_served')::bigint, 0), coalesce((doc->>'disk_used')::bigint, 0),
                coalesce((doc->>'disk_total')::bigint, 0),
                coalesce((SELECT array_agg(x) FROM jsonb_array_elements_text(
                        CASE WHEN jsonb_typeof(doc->'titles') = 'array' THEN doc->'titles' END) x),
                        '{}'),
                left(coalesce(doc->>'digest', ''), 128), p_signed_ms)
        ON CONFLICT (edge_id) DO UPDATE SET at = EXCLUDED.at, load = EXCLUDED.load,
                bytes_served = EXCLUDED.bytes_served, disk_used = EXCLUDED.disk_used,
                disk_total = EXCLUDED.disk_total, titles = EXCLUDED.titles, digest = EXCLUDED.digest,
                signed_ms = EXCLUDED.signed_ms
        WHERE edge_health.signed_ms < EXCLUDED.signed_ms;
        IF NOT FOUND THEN
                PERFORM sluice_fail('SL401', 'heartbeat replayed or older than the last one '
                                    'accepted');
        END IF;
EXCEPTION
        WHEN check_violation OR invalid_text_representation OR numeric_value_out_of_range THEN
                PERFORM sluice_fail('SL400', 'invalid heartbeat: ' || SQLERRM);
END $$;

-- Unsigned heartbeats are no longer accepted: nothing calls the old function.
DROP FUNCTION sluice_heartbeat(text, jsonb);
