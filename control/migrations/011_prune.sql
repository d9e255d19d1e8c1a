-- SPDX-License-Identifier: MIT
-- Old rows go: sessions some time after they expire, and report partitions past their
-- retention. Run by each instance on a timer (main.c), one bounded call at a time.
--
-- What reads old rows sets the floors: fill plans weigh sessions created in the last 7 days
-- (sluice_fill_plan) and trending reads 7 days of reports (sluice_trending), so neither
-- retention goes below 7 days here whatever the caller asks.
CREATE FUNCTION sluice_prune(p_sessions_s bigint, p_reports_s bigint, p_batch integer)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
        keep_sessions interval := make_interval(secs => greatest(p_sessions_s, 7 * 86400));
        -- Reports from this day on are kept; a day's partition holds [day, day + 1).
        keep_from date := (now() - make_interval(secs => greatest(p_reports_s, 7 * 86400)))::date;
        n_sessions integer;
        n_reports integer;
        n_parts integer := 0;
        p record;
BEGIN
        DELETE FROM sessions WHERE id IN (
                SELECT id FROM sessions
                WHERE expires_at < now() - keep_sessions
                  AND created_at < now() - interval '7 days'
                ORDER BY expires_at LIMIT p_batch);
        GET DIAGNOSTICS n_sessions = ROW_COUNT;
        -- A few partitions per call: each drop locks the parent briefly.
        FOR p IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                 WHERE i.inhparent = 'playback_reports'::regclass
                   AND c.relname ~ '^playback_reports_[0-9]{8}$'
                   AND to_date(substr(c.relname, 18), 'YYYYMMDD') < keep_from
                 ORDER BY c.relname LIMIT 4 LOOP
                EXECUTE format('DROP TABLE %I', p.relname);
                n_parts := n_parts + 1;
        END LOOP;
        DELETE FROM playback_reports_default WHERE ctid IN (
                SELECT ctid FROM playback_reports_default WHERE reported_at < keep_from
                LIMIT p_batch);
        GET DIAGNOSTICS n_reports = ROW_COUNT;
        RETURN jsonb_build_object('sessions', n_sessions, 'partitions', n_parts,
                                  'reports', n_reports,
                                  'more', n_sessions >= p_batch OR n_reports >= p_batch
                                          OR n_parts >= 4);
END $$;
