-- SPDX-License-Identifier: MIT
-- Start bandwidth: the throughput a player measured lately (CMCD mtp, kbit/s, and its buffer
-- level bl, ms, sent with its playback reports), kept per profile and per client network, so
-- that the next session of the same viewer or network starts at a rung it sustains
-- (POST /v1/playback answers it as start_bandwidth). One row per profile and per network;
-- rows older than the window are ignored.

CREATE TABLE throughput_estimates (
        scope       text NOT NULL CHECK (scope IN ('profile', 'network')),
        key         text NOT NULL CHECK (length(key) BETWEEN 1 AND 64),
        mtp_kbps    integer NOT NULL CHECK (mtp_kbps > 0),
        bl_ms       integer CHECK (bl_ms >= 0),
        updated_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (scope, key)
);

-- The network a client address belongs to for throughput purposes: its IPv4 /24 or IPv6 /48
-- (the granularity at which access networks differ).
CREATE FUNCTION sluice_client_network(p_ip inet) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
        SELECT network(set_masklen(p_ip, CASE WHEN family(p_ip) = 4 THEN 24 ELSE 48 END))::text
$$;

-- Fold one measurement into an estimate: the mean with the previous one while that is recent
-- (10 minutes), else the measurement alone.
CREATE FUNCTION sluice_throughput_note(p_scope text, p_key text, p_mtp integer, p_bl integer)
RETURNS void LANGUAGE sql AS $$
        INSERT INTO throughput_estimates AS e (scope, key, mtp_kbps, bl_ms)
        VALUES (p_scope, p_key, p_mtp, p_bl)
        ON CONFLICT (scope, key) DO UPDATE SET
                mtp_kbps = CASE WHEN e.updated_at > now() - interval '10 minutes'
                                THEN greatest(1, (e.mtp_kbps::bigint + EXCLUDED.mtp_kbps) / 2)::integer
                                ELSE EXCLUDED.mtp_kbps END,
                bl_ms = EXCLUDED.bl_ms, updated_at = now()
$$;

-- A playback report with the player's CMCD measurements (either may be NULL): the report as
-- before, then the estimates of the session's profile and client network.
CREATE FUNCTION sluice_report(p_sid text, p_position double precision, p_quality text,
                              p_device text, p_mtp integer, p_bl integer) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
        r jsonb := sluice_report(p_sid, p_position, p_quality, p_device);
        s sessions%ROWTYPE;
BEGIN
        IF p_mtp IS NULL OR p_mtp <= 0 THEN
                RETURN r;
        END IF;
        SELECT * INTO s FROM sessions WHERE id = p_sid;
        IF s.client_ip IS NOT NULL THEN
                PERFORM sluice_throughput_note('network', sluice_client_network(s.client_ip),
                                               p_mtp, p_bl);
        END IF;
        IF s.profile_id IS NOT NULL THEN
                PERFORM sluice_throughput_note('profile', s.profile_id::text, p_mtp, p_bl);
        END IF;
        RETURN r;
END $$;

-- The bandwidth (bit/s) a new session of this profile or client address should start at, or
-- NULL when nothing recent is known: the profile's estimate first (the same viewer), else the
-- client network's; 70% of it, or 50% when the player last reported less than 4 s of buffer
-- (it was struggling to keep up at the rate it measured).
CREATE FUNCTION sluice_start_bandwidth(p_profile bigint, p_ip text) RETURNS bigint
LANGUAGE sql STABLE AS $$
        SELECT e.mtp_kbps::bigint * CASE WHEN e.bl_ms < 4000 THEN 500 ELSE 700 END
        FROM throughput_estimates e
        WHERE e.updated_at > now() - interval '10 minutes'
          AND ((e.scope = 'profile' AND e.key = p_profile::text) OR
               (p_ip IS NOT NULL AND e.scope = 'network' AND
                e.key = sluice_client_network(p_ip::inet)))
        ORDER BY e.scope = 'profile' DESC, e.updated_at DESC
        LIMIT 1
$$;
