-- SPDX-License-Identifier: MIT
-- A session names its profile in its signed claims and plays on until it expires, also when
-- the profile is deleted meanwhile (docs/control.md suggests deleting the profiles retired by
-- migration 020). Each report of such a session then failed continue_watching's foreign key:
-- the client got 400 naming the constraint, and the report row and the client network's
-- throughput estimate were lost with the statement. A report now keeps its row and its
-- network's estimate whatever became of the profile, and writes continue-watching and the
-- profile's estimate only while the profile is there.

-- As in 015, with the profile looked up (and locked against a delete) before it is written.
CREATE OR REPLACE FUNCTION sluice_report_claims(p_sid text, p_title text, p_episode text,
                                                p_asset text, p_version bigint, p_profile bigint,
                                                p_region text, p_ip text,
                                                p_position double precision, p_quality text,
                                                p_device text, p_mtp integer, p_bl integer)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
        dur double precision;
        ip inet;
        prof bigint;
BEGIN
        IF sluice_session_gone(p_sid, p_asset, p_version) THEN
                PERFORM sluice_fail('SL404', 'unknown or expired session');
        END IF;
        SELECT duration INTO dur FROM assets WHERE id = p_asset;
        IF p_position < 0 OR p_position > dur + 60 THEN
                PERFORM sluice_fail('SL400', 'position outside the title');
        END IF;
        INSERT INTO playback_reports (session_id, profile_id, title_id, episode_id, asset_id,
                                      region, position, quality, device)
        VALUES (p_sid, p_profile, p_title, p_episode, p_asset, p_region, p_position,
                left(p_quality, 32), left(p_device, 64));
        -- The profile, held against a delete until this commits, if it is still there.
        SELECT id INTO prof FROM profiles WHERE id = p_profile FOR KEY SHARE;
        IF prof IS NOT NULL THEN
                INSERT INTO continue_watching (profile_id, title_id, episode_id, asset_id, position,
                                               duration, device, updated_at)
                VALUES (prof, p_title, p_episode, p_asset, least(p_position, dur),
                        dur, left(p_device, 64), now())
                ON CONFLICT (profile_id, title_id) DO UPDATE SET episode_id = EXCLUDED.episode_id,
                        asset_id = EXCLUDED.asset_id, position = EXCLUDED.position,
                        duration = EXCLUDED.duration, device = EXCLUDED.device,
                        updated_at = EXCLUDED.updated_at;
        END IF;
        IF p_mtp IS NOT NULL AND p_mtp > 0 THEN
                SELECT client_ip INTO ip FROM sessions WHERE id = p_sid;
                ip := coalesce(ip, p_ip::inet);
                IF ip IS NOT NULL THEN
                        PERFORM sluice_throughput_note('network', sluice_client_network(ip),
                                                       p_mtp, p_bl);
                END IF;
                IF prof IS NOT NULL THEN
                        PERFORM sluice_throughput_note('profile', prof::text, p_mtp, p_bl);
                END IF;
        END IF;
        RETURN jsonb_build_object('session', p_sid, 'position', p_position);
END $$;
