-- SPDX-License-Identifier: MIT
-- Functions on the per-request paths, rewritten in PL/pgSQL so PostgreSQL plans their queries
-- once per connection. A LANGUAGE sql function whose body holds a query (a FROM clause or a
-- sub-select) is not inlined into its caller, and PostgreSQL 15 plans its body again on every
-- call: about 1 ms each here, several times per session (pgbench, docs/control.md). PL/pgSQL
-- keeps each statement's plan for the life of the connection, and control's connections are
-- pooled. Results are unchanged.

CREATE OR REPLACE FUNCTION sluice_profile_limit(p_profile bigint) RETURNS integer
LANGUAGE plpgsql STABLE AS $$
BEGIN
        RETURN coalesce((SELECT CASE WHEN kids THEN least(maturity_limit, 1) ELSE maturity_limit END
                         FROM profiles WHERE id = p_profile), 4);
END $$;

CREATE OR REPLACE FUNCTION sluice_licensed(p_title text, p_country text) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
        RETURN EXISTS (SELECT 1 FROM licences
                       WHERE title_id = p_title AND country = p_country
                         AND available_from <= now()
                         AND (available_until IS NULL OR now() < available_until));
END $$;

-- The next licence boundary after now (least ignores NULLs, as min over both did).
CREATE OR REPLACE FUNCTION sluice_licence_change(p_title text, p_country text)
RETURNS double precision LANGUAGE plpgsql STABLE AS $$
BEGIN
        RETURN extract(epoch FROM least(
                (SELECT min(available_from) FROM licences
                 WHERE title_id = p_title AND country = p_country AND available_from > now()),
                (SELECT min(available_until) FROM licences
                 WHERE title_id = p_title AND country = p_country AND available_until > now())));
END $$;

CREATE OR REPLACE FUNCTION sluice_start_bandwidth(p_profile bigint, p_ip text) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
BEGIN
        RETURN (SELECT e.mtp_kbps::bigint * CASE WHEN e.bl_ms < 4000 THEN 500 ELSE 700 END
                FROM throughput_estimates e
                WHERE e.updated_at > now() - interval '10 minutes'
                  AND ((e.scope = 'profile' AND e.key = p_profile::text) OR
                       (p_ip IS NOT NULL AND e.scope = 'network' AND
                        e.key = sluice_client_network(p_ip::inet)))
                ORDER BY e.scope = 'profile' DESC, e.updated_at DESC
                LIMIT 1);
END $$;

CREATE OR REPLACE FUNCTION sluice_throughput_note(p_scope text, p_key text, p_mtp integer,
                                                  p_bl integer)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
        INSERT INTO throughput_estimates AS e (scope, key, mtp_kbps, bl_ms)
        VALUES (p_scope, p_key, p_mtp, p_bl)
        ON CONFLICT (scope, key) DO UPDATE SET
                mtp_kbps = CASE WHEN e.updated_at > now() - interval '10 minutes'
                                THEN greatest(1, (e.mtp_kbps::bigint + EXCLUDED.mtp_kbps) / 2)::integer
                                ELSE EXCLUDED.mtp_kbps END,
                bl_ms = EXCLUDED.bl_ms, updated_at = now();
END $$;
