/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>

/*
 * Schema migrations: control/migrations/NNN_name.sql, embedded at build time (embed-sql.py),
 * applied in order at start-up, each in its own transaction and recorded in
 * schema_migrations. Several instances starting at once serialise on an advisory lock, so
 * each migration runs exactly once. A database already ahead of this binary (a version it
 * does not know) is refused, since an older binary cannot know what changed; so is one whose
 * record differs from this binary's list below its newest version (another name at a
 * version, or a migration of ours missing before one applied after it).
 */

struct migration {
        unsigned version;
        const char *name;
        const char *sql;
};

extern const struct migration migrate_list[];
extern const size_t migrate_count;

struct migrate_bootstrap {
        /* URI-signing keys from tokens.keys_file, inserted if their kid is new. */
        const char *const *kids;
        const unsigned char *const *secrets;
        const size_t *secret_lens;
        size_t n_keys;
        /* country → region pairs from country_prefixes, upserted. */
        const char *const *countries;
        const char *const *regions;
        size_t n_regions;
        /* Every country with a region as a PostgreSQL array ("{GB,SE}"): the rows of others
         * are deleted (MIGRATE_REGIONS_KEEP_SQL). NULL: none deleted. */
        const char *region_countries;
};

/* Delete the country_regions rows of countries not in $1, a text[] (a country whose region
 * the file no longer gives must not pull releases to that region's edges). */
#define MIGRATE_REGIONS_KEEP_SQL "DELETE FROM country_regions WHERE country <> ALL ($1::text[])"

/*
 * Connect (blocking: start-up only, before the loop serves), apply pending migrations, create
 * the next days' report partitions and load the bootstrap data. The connect gives up after
 * connect_timeout_ms (rounded up to whole seconds, at least 2) per address, unless conninfo
 * sets its own connect_timeout. On failure err holds a one-line reason. Returns the number of
 * migrations applied (>= 0) or -errno: -ECONNREFUSED database unreachable (or not answering
 * within the timeout), -EPROTO an SQL error, -ESTALE database newer than this binary or with
 * another history of migrations.
 */
int migrate_run(const char *conninfo, uint64_t connect_timeout_ms,
                const struct migrate_bootstrap *boot, char *err, size_t errlen);
