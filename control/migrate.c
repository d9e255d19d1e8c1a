/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "hex.h"

#include "migrate.h"

/* Any constant shared by every instance; it names the lock, not a row. */
#define MIGRATE_LOCK_KEY "7112790300"

static void notice_ignore(void *arg, const char *message)
{
}

/* err = "what: msg", cut to errlen (a long server message is only a log line). */
static void set_err(char *err, size_t errlen, const char *what, const char *msg)
{
        size_t pos = 0;

        if (errlen == 0)
                return;
        for (const char *parts[] = {what, ": ", msg}, **p = parts; p < parts + 3; p++) {
                size_t n = strnlen(*p, errlen - 1 - pos);
                memcpy(err + pos, *p, n);
                pos += n;
        }
        err[pos] = '\0';
}

/* Run sql (no parameters). Returns 0 or -EPROTO with err set. */
static int exec_simple(PGconn *pg, const char *sql, const char *what, char *err, size_t errlen)
{
        PGresult *res = PQexec(pg, sql);
        ExecStatusType st = PQresultStatus(res);
        int r = 0;

        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
                set_err(err, errlen, what, PQerrorMessage(pg));
                /* libpq messages end with a newline; a one-line reason does not. */
                err[strcspn(err, "\n")] = '\0';
                r = -EPROTO;
        }
        PQclear(res);
        return r;
}

static int exec_params(PGconn *pg, const char *sql, int n, const char *const *values,
                       const int *lengths, const int *formats, const char *what, char *err,
                       size_t errlen)
{
        PGresult *res = PQexecParams(pg, sql, n, NULL, values, lengths, formats, 0);
        ExecStatusType st = PQresultStatus(res);
        int r = 0;

        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
                set_err(err, errlen, what, PQerrorMessage(pg));
                err[strcspn(err, "\n")] = '\0';
                r = -EPROTO;
        }
        PQclear(res);
        return r;
}

static int applied_max(PGconn *pg, unsigned *ret, char *err, size_t errlen)
{
        PGresult *res = PQexec(pg, "SELECT coalesce(max(version), 0) FROM schema_migrations");
        int r = 0;

        if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
                snprintf(err, errlen, "reading schema_migrations: %s", PQerrorMessage(pg));
                err[strcspn(err, "\n")] = '\0';
                r = -EPROTO;
        } else {
                *ret = (unsigned)strtoul(PQgetvalue(res, 0, 0), NULL, 10);
        }
        PQclear(res);
        return r;
}

static int apply(PGconn *pg, const struct migration *m, char *err, size_t errlen)
{
        char what[128], ver[16];
        const char *params[2] = {ver, m->name};
        int r;

        snprintf(what, sizeof(what), "migration %s", m->name);
        snprintf(ver, sizeof(ver), "%u", m->version);
        r = exec_simple(pg, "BEGIN", what, err, errlen);
        if (r < 0)
                return r;
        r = exec_simple(pg, m->sql, what, err, errlen);
        if (r == 0)
                r = exec_params(pg,
                                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                                2, params, NULL, NULL, what, err, errlen);
        if (r == 0)
                return exec_simple(pg, "COMMIT", what, err, errlen);
        char scratch[64];
        (void)exec_simple(pg, "ROLLBACK", what, scratch, sizeof(scratch));
        return r;
}

static int bootstrap(PGconn *pg, const struct migrate_bootstrap *b, char *err, size_t errlen)
{
        int r;

        r = exec_simple(pg, "SELECT sluice_report_partitions(7)", "report partitions", err,
                        errlen);
        for (size_t i = 0; r == 0 && b && i < b->n_keys; i++) {
                char hexs[2 * 64 + 1];
                if (b->secret_lens[i] > 64)
                        continue;
                char order[24];
                hex_encode(b->secrets[i], b->secret_lens[i], hexs);
                /* File keys predate any rotation; the file's first key (its signer) is the
                 * newest of them, so it signs until a rotation says otherwise. */
                snprintf(order, sizeof(order), "%zu", b->n_keys - i);
                const char *p[3] = {b->kids[i], hexs, order};
                r = exec_params(pg,
                                "INSERT INTO token_keys (kid, secret, sign_from) "
                                "VALUES ($1, decode($2, 'hex'), "
                                "to_timestamp($3::bigint)) ON CONFLICT (kid) DO NOTHING",
                                3, p, NULL, NULL, "importing token keys", err, errlen);
                memset(hexs, 0, sizeof(hexs));
        }
        for (size_t i = 0; r == 0 && b && i < b->n_regions; i++) {
                const char *p[2] = {b->countries[i], b->regions[i]};
                r = exec_params(pg,
                                "INSERT INTO country_regions (country, region) VALUES ($1, $2) "
                                "ON CONFLICT (country) DO UPDATE SET region = EXCLUDED.region",
                                2, p, NULL, NULL, "country regions", err, errlen);
        }
        return r;
}

int migrate_run(const char *conninfo, const struct migrate_bootstrap *boot, char *err,
                size_t errlen)
{
        PGconn *pg = PQconnectdb(conninfo);
        unsigned have = 0;
        int r, n = 0;

        if (!pg || PQstatus(pg) != CONNECTION_OK) {
                snprintf(err, errlen, "cannot connect to the database: %s",
                         pg ? PQerrorMessage(pg) : "out of memory");
                err[strcspn(err, "\n")] = '\0';
                r = -ECONNREFUSED;
                goto out;
        }
        PQsetNoticeProcessor(pg, notice_ignore, NULL);
        r = exec_simple(pg, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", "migration lock", err,
                        errlen);
        if (r < 0)
                goto out;
        r = exec_simple(pg,
                        "CREATE TABLE IF NOT EXISTS schema_migrations ("
                        " version integer PRIMARY KEY, name text NOT NULL,"
                        " applied_at timestamptz NOT NULL DEFAULT now())",
                        "schema_migrations", err, errlen);
        if (r < 0)
                goto out;
        r = applied_max(pg, &have, err, errlen);
        if (r < 0)
                goto out;
        if (migrate_count > 0 && have > migrate_list[migrate_count - 1].version) {
                snprintf(err, errlen,
                         "database schema version %u is newer than this binary's %u; refusing",
                         have, migrate_list[migrate_count - 1].version);
                r = -ESTALE;
                goto out;
        }
        for (size_t i = 0; i < migrate_count; i++) {
                if (migrate_list[i].version <= have)
                        continue;
                r = apply(pg, &migrate_list[i], err, errlen);
                if (r < 0)
                        goto out;
                n++;
        }
        r = bootstrap(pg, boot, err, errlen);
        if (r < 0)
                goto out;
        (void)exec_simple(pg, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")", "unlock", err,
                          errlen);
        r = n;
out:
        PQfinish(pg);
        return r;
}
