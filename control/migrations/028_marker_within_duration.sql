-- SPDX-License-Identifier: MIT
-- A skip-intro or credits marker ending past its asset's duration was taken: a player told to
-- skip the intro to a point after the end seeks out of the stream. A marker now ends at the
-- asset's duration at the latest (so it starts before it too, end_s > start_s being checked
-- by the table), whichever path writes it; registering such a title is refused (400) and
-- nothing changes.
--
-- Like the migrations since 019, it can run again.
CREATE OR REPLACE FUNCTION sluice_markers_within_duration() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
        d double precision;
BEGIN
        SELECT duration INTO d FROM assets WHERE id = NEW.asset_id;
        IF NEW.end_s > d THEN
                PERFORM sluice_fail('SL400', format('markers.%s: end %s is past the asset''s '
                        || 'duration (%s s)', NEW.kind, NEW.end_s, d));
        END IF;
        RETURN NEW;
END $$;

DROP TRIGGER IF EXISTS markers_within_duration ON markers;
CREATE TRIGGER markers_within_duration BEFORE INSERT OR UPDATE ON markers
        FOR EACH ROW EXECUTE FUNCTION sluice_markers_within_duration();
