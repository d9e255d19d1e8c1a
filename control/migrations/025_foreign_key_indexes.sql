-- SPDX-License-Identifier: MIT
-- A foreign key's ON DELETE runs, for every row deleted from the table it references, a
-- lookup of the referencing rows by that column. Without an index on it that lookup reads the
-- whole referencing table: deleting a profile, episode, asset or title read all of sessions
-- (a week of them) and session_starts, and registering an asset again, which deletes the old
-- one, did so each time. Each foreign key now has an index led by its column. Nullable
-- columns (most sessions have no episode) are indexed where set: "col = $1" implies it.
-- Like the migrations since 019, it can run again (IF NOT EXISTS).
CREATE INDEX IF NOT EXISTS sessions_title_idx ON sessions (title_id);
CREATE INDEX IF NOT EXISTS sessions_episode_idx ON sessions (episode_id)
        WHERE episode_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS sessions_asset_idx ON sessions (asset_id);
CREATE INDEX IF NOT EXISTS sessions_profile_idx ON sessions (profile_id)
        WHERE profile_id IS NOT NULL;

CREATE INDEX IF NOT EXISTS session_starts_title_idx ON session_starts (title_id);
CREATE INDEX IF NOT EXISTS session_starts_episode_idx ON session_starts (episode_id)
        WHERE episode_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS session_starts_asset_idx ON session_starts (asset_id);

CREATE INDEX IF NOT EXISTS continue_watching_title_idx ON continue_watching (title_id);
CREATE INDEX IF NOT EXISTS continue_watching_episode_idx ON continue_watching (episode_id)
        WHERE episode_id IS NOT NULL;

CREATE INDEX IF NOT EXISTS episodes_asset_idx ON episodes (asset_id);
CREATE INDEX IF NOT EXISTS titles_asset_idx ON titles (asset_id) WHERE asset_id IS NOT NULL;
