-- SPDX-License-Identifier: MIT
-- Licence times were cast to timestamptz as they came: a time without an offset
-- ("2030-01-01T00:00:00", "2030-01-01") was read in the session's time zone, whatever the
-- server or the database had set, and words were taken too ("today", "infinity"). An
-- infinite end made every warm start of the title in that country fail, since the windows
-- of sluice_session_warm (017) carry epoch seconds, which infinity has none of.
--
-- A time is now an RFC 3339 date-time with its offset, Z or +hh:mm/-hh:mm, as control checks
-- before it gets here (body-check.c body_time_ok); checked here too for instances of the
-- previous version. Control's sessions run in UTC as well (main.c), for what is derived from
-- now() as a date.
CREATE OR REPLACE FUNCTION sluice_set_licences(p_title text, lic jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
        r jsonb;
        k text;
BEGIN
        IF NOT EXISTS (SELECT 1 FROM titles WHERE id = p_title) THEN
                PERFORM sluice_fail('SL404', 'unknown title');
        END IF;
        IF jsonb_typeof(lic) IS DISTINCT FROM 'array' THEN
                PERFORM sluice_fail('SL400', '"licences" must be an array');
        END IF;
        DELETE FROM licences WHERE title_id = p_title;
        FOR r IN SELECT * FROM jsonb_array_elements(lic) LOOP
                FOREACH k IN ARRAY ARRAY['from', 'until'] LOOP
                        IF coalesce(jsonb_typeof(r->k), 'null') <> 'null'
                           AND (jsonb_typeof(r->k) <> 'string'
                                OR r->>k !~ ('^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:'
                                             '[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$'))
                        THEN
                                PERFORM sluice_fail('SL400', format('invalid licence: "%s" must '
                                        'be an RFC 3339 date-time with Z or a +hh:mm/-hh:mm '
                                        'offset', k));
                        END IF;
                END LOOP;
                INSERT INTO licences (title_id, country, available_from, available_until)
                VALUES (p_title, upper(r->>'country'), coalesce((r->>'from')::timestamptz, now()),
                        (r->>'until')::timestamptz);
        END LOOP;
        RETURN jsonb_build_object('title', p_title, 'licences', jsonb_array_length(lic));
EXCEPTION
        WHEN invalid_text_representation OR not_null_violation OR check_violation
             OR invalid_datetime_format OR datetime_field_overflow OR unique_violation
             OR invalid_time_zone_displacement_value THEN
                PERFORM sluice_fail('SL400', 'invalid licence: ' || SQLERRM);
END $$;

-- Windows stored before: an infinite end is no end; an infinite start becomes the earliest
-- time a client can give, unless the title already has a window starting there in that
-- country (left as it was); a window starting at infinity never opens, and goes.
UPDATE licences SET available_until = NULL WHERE available_until = 'infinity';
DELETE FROM licences WHERE available_from = 'infinity';
UPDATE licences l SET available_from = '0001-01-01T00:00:00Z'
WHERE available_from = '-infinity'
  AND (available_until IS NULL OR available_until > '0001-01-01T00:00:00Z')
  AND NOT EXISTS (SELECT 1 FROM licences o
                  WHERE o.title_id = l.title_id AND o.country = l.country
                    AND o.available_from = '0001-01-01T00:00:00Z');
