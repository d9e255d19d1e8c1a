-- SPDX-License-Identifier: MIT
-- The catalog, licensing, edges, sessions and viewing data of sluice-control.
-- Identifiers that end up in URLs and token regexes (asset, title, episode, edge ids) are
-- restricted to a safe alphabet here, so no layer above has to escape them.

CREATE DOMAIN sluice_id AS text
        CHECK (VALUE ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$');
CREATE DOMAIN country_code AS text
        CHECK (VALUE ~ '^[A-Z]{2}$');

-- One ingested asset: what sluice-ingest wrote under <origin>/<id>/ and its asset.json.
CREATE TABLE assets (
        id               sluice_id PRIMARY KEY,
        duration         double precision NOT NULL CHECK (duration > 0),
        segment_duration double precision NOT NULL CHECK (segment_duration > 0),
        segment_count    integer NOT NULL CHECK (segment_count > 0),
        encrypted        boolean NOT NULL DEFAULT false,
        kid              bytea CHECK (kid IS NULL OR length(kid) = 16),
        asset            jsonb NOT NULL,  -- asset.json as registered; manifests are built from it
        registered_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE representations (
        asset_id   sluice_id NOT NULL REFERENCES assets ON DELETE CASCADE,
        id         text NOT NULL,
        type       text NOT NULL CHECK (type IN ('video', 'audio')),
        codec      text NOT NULL,
        bandwidth  integer NOT NULL CHECK (bandwidth > 0),
        width      integer,
        height     integer,
        lang       text,
        PRIMARY KEY (asset_id, id)
);

-- Audio and subtitle tracks as a player lists them (audio ones mirror audio representations).
CREATE TABLE tracks (
        asset_id  sluice_id NOT NULL REFERENCES assets ON DELETE CASCADE,
        id        text NOT NULL,
        kind      text NOT NULL CHECK (kind IN ('audio', 'subtitle')),
        lang      text NOT NULL DEFAULT 'und',
        path      text,
        PRIMARY KEY (asset_id, id)
);

CREATE TABLE asset_files (
        asset_id  sluice_id NOT NULL REFERENCES assets ON DELETE CASCADE,
        path      text NOT NULL,
        size      bigint NOT NULL CHECK (size >= 0),
        sha256    text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
        PRIMARY KEY (asset_id, path)
);

-- Skip-intro and credits markers, in seconds from the start of the asset.
CREATE TABLE markers (
        asset_id  sluice_id NOT NULL REFERENCES assets ON DELETE CASCADE,
        kind      text NOT NULL CHECK (kind IN ('intro', 'credits')),
        start_s   double precision NOT NULL CHECK (start_s >= 0),
        end_s     double precision NOT NULL,
        PRIMARY KEY (asset_id, kind),
        CHECK (end_s > start_s)
);

-- One CENC key per asset. Never returned except inside a ClearKey licence.
CREATE TABLE content_keys (
        asset_id  sluice_id PRIMARY KEY REFERENCES assets ON DELETE CASCADE,
        kid       bytea NOT NULL CHECK (length(kid) = 16),
        key       bytea NOT NULL CHECK (length(key) = 16)
);

-- maturity_rank orders ratings across schemes: 0 all ages, 1 guidance, 2 teens, 3 restricted,
-- 4 adults only / not rated.
CREATE TABLE titles (
        id               sluice_id PRIMARY KEY,
        kind             text NOT NULL CHECK (kind IN ('movie', 'series')),
        name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 500),
        synopsis         text NOT NULL DEFAULT '',
        year             integer CHECK (year IS NULL OR year BETWEEN 1870 AND 3000),
        maturity_rating  text NOT NULL DEFAULT 'NR',
        maturity_rank    integer NOT NULL DEFAULT 4 CHECK (maturity_rank BETWEEN 0 AND 4),
        genres           text[] NOT NULL DEFAULT '{}',
        asset_id         sluice_id REFERENCES assets ON DELETE SET NULL, -- movies
        search           tsvector NOT NULL DEFAULT ''::tsvector,
        created_at       timestamptz NOT NULL DEFAULT now(),
        CHECK (kind = 'movie' OR asset_id IS NULL)
);
CREATE INDEX titles_genres_idx ON titles USING gin (genres);
CREATE INDEX titles_search_idx ON titles USING gin (search);

CREATE TABLE seasons (
        title_id  sluice_id NOT NULL REFERENCES titles ON DELETE CASCADE,
        number    integer NOT NULL CHECK (number >= 0),
        name      text NOT NULL DEFAULT '',
        PRIMARY KEY (title_id, number)
);

CREATE TABLE episodes (
        id        sluice_id PRIMARY KEY,
        title_id  sluice_id NOT NULL,
        season    integer NOT NULL,
        number    integer NOT NULL CHECK (number >= 0),
        name      text NOT NULL DEFAULT '',
        synopsis  text NOT NULL DEFAULT '',
        asset_id  sluice_id NOT NULL REFERENCES assets ON DELETE CASCADE,
        FOREIGN KEY (title_id, season) REFERENCES seasons ON DELETE CASCADE,
        UNIQUE (title_id, season, number)
);

CREATE TABLE people (
        id    bigserial PRIMARY KEY,
        name  text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 300)
);

CREATE TABLE title_cast (
        title_id   sluice_id NOT NULL REFERENCES titles ON DELETE CASCADE,
        person_id  bigint NOT NULL REFERENCES people,
        role       text NOT NULL CHECK (role IN ('actor', 'director', 'writer', 'producer', 'creator')),
        character  text,
        ord        integer NOT NULL DEFAULT 0,
        PRIMARY KEY (title_id, person_id, role)
);
CREATE INDEX title_cast_person_idx ON title_cast (person_id);

-- A title is playable in a country while available_from <= now() < available_until.
CREATE TABLE licences (
        title_id         sluice_id NOT NULL REFERENCES titles ON DELETE CASCADE,
        country          country_code NOT NULL,
        available_from   timestamptz NOT NULL,
        available_until  timestamptz,
        PRIMARY KEY (title_id, country, available_from),
        CHECK (available_until IS NULL OR available_until > available_from)
);
CREATE INDEX licences_country_idx ON licences (country, available_from);

CREATE TABLE edges (
        id             sluice_id PRIMARY KEY,
        region         text NOT NULL CHECK (region ~ '^[a-z0-9-]{1,64}$'),
        base_url       text NOT NULL CHECK (base_url ~ '^https?://[^[:space:]]+$'),
        capacity_mbps  bigint NOT NULL DEFAULT 10000 CHECK (capacity_mbps > 0),
        enabled        boolean NOT NULL DEFAULT true,
        registered_at  timestamptz NOT NULL DEFAULT now()
);

-- Only the latest heartbeat of each edge is kept; history goes to metrics.
CREATE TABLE edge_health (
        edge_id       sluice_id PRIMARY KEY REFERENCES edges ON DELETE CASCADE,
        at            timestamptz NOT NULL,
        load          double precision NOT NULL DEFAULT 0 CHECK (load >= 0),
        bytes_served  bigint NOT NULL DEFAULT 0,
        disk_used     bigint NOT NULL DEFAULT 0,
        disk_total    bigint NOT NULL DEFAULT 0,
        titles        text[] NOT NULL DEFAULT '{}',
        digest        text NOT NULL DEFAULT ''
);

-- Which region a client country is served from (steering and fill plans).
CREATE TABLE country_regions (
        country  country_code PRIMARY KEY,
        region   text NOT NULL CHECK (region ~ '^[a-z0-9-]{1,64}$')
);

CREATE TABLE profiles (
        id              bigserial PRIMARY KEY,
        name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
        kids            boolean NOT NULL DEFAULT false,
        maturity_limit  integer NOT NULL DEFAULT 4 CHECK (maturity_limit BETWEEN 0 AND 4),
        created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sessions (
        id          text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{32}$'),
        title_id    sluice_id NOT NULL REFERENCES titles ON DELETE CASCADE,
        episode_id  sluice_id REFERENCES episodes ON DELETE CASCADE,
        asset_id    sluice_id NOT NULL REFERENCES assets ON DELETE CASCADE,
        profile_id  bigint REFERENCES profiles ON DELETE CASCADE,
        country     country_code NOT NULL,
        region      text,
        client_ip   inet,
        created_at  timestamptz NOT NULL DEFAULT now(),
        expires_at  timestamptz NOT NULL
);
CREATE INDEX sessions_created_idx ON sessions (created_at);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

-- Reports are append-only and high volume: one partition per day (created ahead by
-- sluice_report_partitions), plus a default partition so an insert never fails for want of one.
CREATE TABLE playback_reports (
        reported_at  timestamptz NOT NULL DEFAULT now(),
        session_id   text NOT NULL,
        profile_id   bigint,
        title_id     text NOT NULL,
        episode_id   text,
        asset_id     text NOT NULL,
        region       text,
        position     double precision NOT NULL,
        quality      text NOT NULL DEFAULT '',
        device       text NOT NULL DEFAULT ''
) PARTITION BY RANGE (reported_at);
CREATE TABLE playback_reports_default PARTITION OF playback_reports DEFAULT;
CREATE INDEX playback_reports_at_idx ON playback_reports (reported_at, title_id);

CREATE TABLE continue_watching (
        profile_id  bigint NOT NULL REFERENCES profiles ON DELETE CASCADE,
        title_id    sluice_id NOT NULL REFERENCES titles ON DELETE CASCADE,
        episode_id  sluice_id REFERENCES episodes ON DELETE CASCADE,
        asset_id    sluice_id NOT NULL,
        position    double precision NOT NULL CHECK (position >= 0),
        duration    double precision NOT NULL,
        device      text NOT NULL DEFAULT '',
        updated_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (profile_id, title_id)
);
CREATE INDEX continue_watching_recent_idx ON continue_watching (profile_id, updated_at DESC);

-- URI-signing keys shared by every control instance. A key signs from sign_from on (the
-- newest such key signs) and verifies until retire_at, which gives the overlap window.
CREATE TABLE token_keys (
        kid         text PRIMARY KEY CHECK (kid ~ '^[A-Za-z0-9._-]{1,63}$'),
        secret      bytea NOT NULL CHECK (length(secret) BETWEEN 32 AND 64),
        created_at  timestamptz NOT NULL DEFAULT now(),
        sign_from   timestamptz NOT NULL DEFAULT now(),
        retire_at   timestamptz
);
