-- SPDX-License-Identifier: MIT
-- The end of the licence coverage a session plays under, so its signed URLs stop with it.
-- sluice_licence_change gives the next boundary, which may be the start of a window that
-- overlaps or abuts the current one; coverage only ends where no window carries on.

-- The instant the title stops being licensed in the country, following windows that overlap
-- or touch; NULL when it is not licensed now or coverage has no end.
CREATE FUNCTION sluice_licence_end(p_title text, p_country text)
RETURNS double precision LANGUAGE plpgsql STABLE AS $$
DECLARE
        t timestamptz := now();
        e timestamptz := NULL;
        l record;
BEGIN
        FOR l IN SELECT available_from, available_until FROM licences
                 WHERE title_id = p_title AND country = p_country
                   AND (available_until IS NULL OR available_until > t)
                 ORDER BY available_from LOOP
                EXIT WHEN l.available_from > coalesce(e, t);
                IF l.available_until IS NULL THEN
                        RETURN NULL;
                END IF;
                e := greatest(coalesce(e, t), l.available_until);
        END LOOP;
        RETURN extract(epoch FROM e);
END $$;

CREATE OR REPLACE FUNCTION sluice_session_lite(p_sid text) RETURNS jsonb
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
                'licence_end', sluice_licence_end(s.title_id, s.country),
                'asset_version', (SELECT (extract(epoch FROM registered_at) * 1000000)::bigint
                                  FROM assets WHERE id = s.asset_id),
                'markers', coalesce((SELECT jsonb_object_agg(kind, jsonb_build_object(
                                'start', start_s, 'end', end_s)) FROM markers
                                WHERE asset_id = s.asset_id), '{}'::jsonb));
END $$;
