-- SPDX-License-Identifier: MIT
-- An edge that stops (SIGTERM) closes its listeners at once, yet stayed first in steering and
-- in new MPDs until two heartbeat periods had passed without a beat. Its last heartbeat now
-- says "draining": true, which is stored as a heartbeat never received (at the epoch): the
-- edge is no longer healthy from that commit on, and its next ordinary heartbeat (a restart)
-- makes it healthy again. The replay check is the same as before.
--
-- Like the migrations since 019, it can run again.
CREATE OR REPLACE FUNCTION sluice_heartbeat_signed(p_edge text, doc jsonb, p_signed_ms bigint)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
        IF NOT EXISTS (SELECT 1 FROM edges WHERE id = p_edge) THEN
                PERFORM sluice_fail('SL404', 'unknown edge');
        END IF;
        INSERT INTO edge_health (edge_id, at, load, bytes_served, disk_used, disk_total, titles,
                                 digest, signed_ms)
        VALUES (p_edge,
                CASE WHEN jsonb_typeof(doc->'draining') = 'boolean' AND (doc->>'draining')::boolean
                     THEN to_timestamp(0) ELSE now() END,
                coalesce((doc->>'load')::double precision, 0),
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
