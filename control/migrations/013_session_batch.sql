-- SPDX-License-Identifier: MIT
-- Group commit for POST /v1/playback: control sends the sessions asked for in one loop
-- iteration as one statement, so they share a round trip, a transaction and its commit.
-- Measured with pgbench (docs/control.md "Performance"), the transaction around a session
-- (Bind/Execute, snapshot, XID, commit record, the WAL writer's wake-up) cost about as much
-- PostgreSQL CPU as the session's own reads and insert.
--
-- p_items is a JSON array of {"sid","title","episode"?,"profile"?,"new_profile"?,"country",
-- "region"?,"ip"?,"ttl"}. One row per item, in order: n (0-based), and either answer (what
-- sluice_session_start answers, plus "profile" for a new profile) or code and message (the
-- SQLSTATE and message that refused it). Each item runs in its own subtransaction, so a
-- refused item (404, 403, 451, or any error of its own) leaves nothing behind (its new profile
-- included) and does not touch the others; a cancelled statement (timeout) fails the whole
-- batch, which commits nothing.
CREATE FUNCTION sluice_session_start_batch(p_items jsonb)
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
                                prof := (sluice_profile_create(it->>'new_profile', false,
                                                               NULL)->>'id')::bigint;
                        ELSE
                                prof := (it->>'profile')::bigint;
                        END IF;
                        answer := sluice_session_start(it->>'sid', it->>'title', it->>'episode',
                                                       prof, it->>'country', it->>'region',
                                                       it->>'ip', (it->>'ttl')::integer);
                        IF it ? 'new_profile' THEN
                                answer := answer || jsonb_build_object('profile', prof);
                        END IF;
                EXCEPTION WHEN OTHERS THEN
                        answer := NULL;
                        GET STACKED DIAGNOSTICS code = RETURNED_SQLSTATE, message = MESSAGE_TEXT;
                END;
                RETURN NEXT;
        END LOOP;
END $$;
