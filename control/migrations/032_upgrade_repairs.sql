-- SPDX-License-Identifier: MIT
-- Data that releases before 028 stored and that 028 refuses, repaired where the repair is
-- certain: a skip-intro or credits marker ending past its asset's duration now ends at the
-- duration (a player was told to seek past the end); one starting at or past the duration has
-- nothing left to mark and is deleted. What cannot be repaired here (an encrypted asset
-- without a content key, an edge's base_url no player parses) is named in control's log at
-- every start until it is registered again (control/migrate.c).
--
-- Like the migrations since 019, it can run again.
DELETE FROM markers m USING assets a
        WHERE a.id = m.asset_id AND m.start_s >= a.duration;
UPDATE markers m SET end_s = a.duration FROM assets a
        WHERE a.id = m.asset_id AND m.end_s > a.duration;
