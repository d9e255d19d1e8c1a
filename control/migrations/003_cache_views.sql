-- SPDX-License-Identifier: MIT
-- Narrow reads for control's warm caches (control/cache.c): a session without its asset, an
-- asset by version, and the edge set on its own. Each carries what lets the cache know how
-- long its copy stays true: the asset's version, and the next instant the session's licence
-- status changes.

-- Next licence boundary after now for (title, country), in epoch seconds; NULL: none coming.
CREATE FUNCTION sluice_licence_change(p_title text, p_country text) RETURNS double precision
LANGUAGE sql STABLE AS $$
        SELECT extract(epoch FROM min(b))
        FROM (SELECT available_from AS b FROM licences
              WHERE title_id = p_title AND country = p_country AND available_from > now()
              UNION ALL
              SELECT available_until FROM licences
              WHERE title_id = p_title AND country = p_country AND available_until > now()) x
$$;

CREATE FUNCTION sluice_session_lite(p_sid text) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
        s sessions%ROWTYPE;
BEGIN
        SELECT * INTO s FROM sessions WHERE id = p_sid AND expires_at > now();
        IF NOT FOUND THEN
                PERFORM sluice_fail('SL404', 'unknown or expired session');
        END IF;
        RETURN jsonb_build_object(
                'session', s.id, 'title', s.title_id, 'asset', s.asset_id,
                'country', s.country, 'region', s.region,
                'expires', floor(extract(epoch FROM s.expires_at))::bigint,
                'created', floor(extract(epoch FROM s.created_at))::bigint,
                'licensed', sluice_licensed(s.title_id, s.country),
                'licence_change', sluice_licence_change(s.title_id, s.country),
                'asset_version', (SELECT (extract(epoch FROM registered_at) * 1000000)::bigint
                                  FROM assets WHERE id = s.asset_id),
                'markers', coalesce((SELECT jsonb_object_agg(kind, jsonb_build_object(
                                'start', start_s, 'end', end_s)) FROM markers
                                WHERE asset_id = s.asset_id), '{}'::jsonb));
END $$;

CREATE FUNCTION sluice_asset_get(p_asset text) RETURNS jsonb
LANGUAGE sql STABLE AS $$
        SELECT jsonb_build_object('asset', id,
                                  'version', (extract(epoch FROM registered_at) * 1000000)::bigint,
                                  'manifest', asset)
        FROM assets WHERE id = p_asset
$$;

-- Every enabled edge with its health; liveness judged here against p_stale_s.
CREATE FUNCTION sluice_edges_view(p_stale_s double precision) RETURNS jsonb
LANGUAGE sql STABLE AS $$
        SELECT coalesce(jsonb_agg(jsonb_build_object(
                        'id', e.id, 'region', e.region, 'base_url', e.base_url,
                        'capacity_mbps', e.capacity_mbps,
                        'registered', floor(extract(epoch FROM e.registered_at))::bigint,
                        'load', coalesce(h.load, 0),
                        'heartbeat', coalesce(floor(extract(epoch FROM h.at))::bigint, 0),
                        'healthy', h.at IS NOT NULL
                                   AND extract(epoch FROM now() - h.at) <= p_stale_s,
                        'titles', coalesce(to_jsonb(h.titles), '[]'::jsonb))
                        ORDER BY e.id), '[]'::jsonb)
        FROM edges e LEFT JOIN edge_health h ON h.edge_id = e.id
        WHERE e.enabled
$$;
