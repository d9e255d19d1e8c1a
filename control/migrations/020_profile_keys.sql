-- SPDX-License-Identifier: MIT
-- Profile keys. A profile was named by its id alone, a sequential integer, so any client
-- could read another viewer's continue-watching (titles, positions, devices) by counting, and
-- start sessions as that viewer, whose reports then moved its resume positions and its
-- start-bandwidth estimate. A profile now has a key: 32 random bytes as 64 hex digits, made
-- by control (a CSPRNG) when the profile is made and answered only then. Only its SHA-256 is
-- stored. Every route that takes a profile takes its key as well, and a missing or wrong key
-- is refused exactly as an unknown profile is (404 "unknown profile"), so a refusal says
-- nothing of whether the profile exists. Reports need nothing more: they name a session,
-- whose signed claims carry the profile, and only its key could start that session.
--
-- Profiles made before this migration have no key (NULL), which no key matches: they are
-- retired, with their rows. A player that kept one makes a new profile when it is refused.
-- Safe to run again (as the hardening test does).
ALTER TABLE profiles ADD COLUMN IF NOT EXISTS key_hash bytea;

-- p_profile when p_key is its key (NULL when p_profile is NULL: no profile); SL404 "unknown
-- profile" otherwise. What is compared are digests of the key, so the comparison's time says
-- nothing of the key itself.
CREATE OR REPLACE FUNCTION sluice_profile_auth(p_profile bigint, p_key text) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
BEGIN
        IF p_profile IS NULL THEN
                RETURN NULL;
        END IF;
        IF p_key IS NULL OR NOT EXISTS (
                        SELECT 1 FROM profiles
                        WHERE id = p_profile AND key_hash = sha256(convert_to(p_key, 'UTF8'))) THEN
                PERFORM sluice_fail('SL404', 'unknown profile');
        END IF;
        RETURN p_profile;
END $$;

-- As before, with p_key (made by control) stored as its digest and answered as "key".
DROP FUNCTION IF EXISTS sluice_profile_create(text, boolean, integer);
CREATE OR REPLACE FUNCTION sluice_profile_create(p_name text, p_kids boolean, p_limit integer, p_key text)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
        pid bigint;
BEGIN
        IF p_key IS NULL OR length(p_key) < 32 THEN
                PERFORM sluice_fail('SL400', 'invalid profile: no key');
        END IF;
        INSERT INTO profiles (name, kids, maturity_limit, key_hash)
        VALUES (p_name, p_kids, CASE WHEN p_kids THEN least(coalesce(p_limit, 1), 1)
                                      ELSE coalesce(p_limit, 4) END,
                sha256(convert_to(p_key, 'UTF8')))
        RETURNING id INTO pid;
        RETURN (SELECT jsonb_build_object('id', id, 'key', p_key, 'name', name, 'kids', kids,
                                          'maturity_limit', maturity_limit)
                FROM profiles WHERE id = pid);
EXCEPTION
        WHEN check_violation OR not_null_violation THEN
                PERFORM sluice_fail('SL400', 'invalid profile: ' || SQLERRM);
END $$;

-- As 013, with the profile's key: an item's "profile_key" is the key of its "profile", or the
-- key its "new_profile" is made with, answered as "profile_key" beside "profile".
CREATE OR REPLACE FUNCTION sluice_session_start_batch(p_items jsonb)
RETURNS TABLE (n integer, answer jsonb, code text, message text)
LANGUAGE plpgsql AS $$
DECLARE
        it jsonb;
        prof bigint;
BEGIN
        FOR n, it IN SELECT (e.ord - 1)::integer, e.item
                     FROM jsonb_array_elements(p_items) WITH ORDINALITY AS e(item, ord) LOOP
                answer := NULL;
                code := NULL;
                message := NULL;
                BEGIN
                        IF it ? 'new_profile' THEN
                                prof := (sluice_profile_create(it->>'new_profile', false, NULL,
                                                               it->>'profile_key')->>'id')::bigint;
                        ELSE
                                prof := sluice_profile_auth((it->>'profile')::bigint,
                                                            it->>'profile_key');
                        END IF;
                        answer := sluice_session_start(it->>'sid', it->>'title', it->>'episode',
                                                       prof, it->>'country', it->>'region',
                                                       it->>'ip', (it->>'ttl')::integer);
                        IF it ? 'new_profile' THEN
                                answer := answer || jsonb_build_object('profile', prof,
                                                                       'profile_key',
                                                                       it->>'profile_key');
                        END IF;
                EXCEPTION WHEN OTHERS THEN
                        answer := NULL;
                        GET STACKED DIAGNOSTICS code = RETURNED_SQLSTATE, message = MESSAGE_TEXT;
                END;
                RETURN NEXT;
        END LOOP;
END $$;
