-- SPDX-License-Identifier: MIT
-- PUT /v1/admin/titles/<id>/licences replaces a title's windows: it deleted them and inserted
-- the new ones. Two replacements at once (two instances, or an operator's own statement) each
-- deleted what was committed when they began and inserted theirs, so the title ended with both
-- sets (its licences in the countries of either), or the second failed on a window the first
-- inserted, as a 400 "duplicate key". The title's row is now locked first: a replacement waits
-- for the one in progress and then replaces what it committed.
--
-- Like the migrations since 019, it can run again.

-- As in 019_licence_times.sql, with the title's row locked first.
CREATE OR REPLACE FUNCTION sluice_set_licences(p_title text, lic jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
        r jsonb;
        k text;
BEGIN
        -- One replacement of a title's licences at a time: the next waits here, and its
        -- statements below see what this one committed.
        PERFORM 1 FROM titles WHERE id = p_title FOR UPDATE;
        IF NOT FOUND THEN
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
