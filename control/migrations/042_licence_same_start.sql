-- SPDX-License-Identifier: MIT
-- PUT /v1/admin/titles/<id>/licences with two windows of one country starting at the same
-- instant ("from" alike, or written with other offsets, or both left out: both start now) was
-- refused 400 with PostgreSQL's message, `invalid licence: duplicate key value violates unique
-- constraint "licences_pkey"`: a name from the schema, and no word of which windows. It is
-- now refused naming both members: `licences[2].from: starts when licences[0] does, in the
-- same country (GB); each window of a country starts at another time`.
--
-- Like the migrations since 019, it can run again.

-- As in 038_licences_one_at_a_time.sql, with each window's country and start remembered.
CREATE OR REPLACE FUNCTION sluice_set_licences(p_title text, lic jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
        r jsonb;
        i bigint;
        k text;
        c text;
        t timestamptz;
        seen jsonb := '{}';
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
        FOR r, i IN SELECT * FROM jsonb_array_elements(lic) WITH ORDINALITY LOOP
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
                c := upper(r->>'country');
                t := coalesce((r->>'from')::timestamptz, now());
                -- The key is the instant, so offsets and fractions written differently meet.
                k := c || ' ' || extract(epoch FROM t)::text;
                IF seen ? k THEN
                        PERFORM sluice_fail('SL400', format('licences[%s].from: starts when '
                                'licences[%s] does, in the same country (%s); each window of a '
                                'country starts at another time', i - 1, seen->>k, c));
                END IF;
                seen := seen || jsonb_build_object(k, i - 1);
                INSERT INTO licences (title_id, country, available_from, available_until)
                VALUES (p_title, c, t, (r->>'until')::timestamptz);
        END LOOP;
        RETURN jsonb_build_object('title', p_title, 'licences', jsonb_array_length(lic));
EXCEPTION
        WHEN invalid_text_representation OR not_null_violation OR check_violation
             OR invalid_datetime_format OR datetime_field_overflow OR unique_violation
             OR invalid_time_zone_displacement_value THEN
                PERFORM sluice_fail('SL400', 'invalid licence: ' || SQLERRM);
END $$;
