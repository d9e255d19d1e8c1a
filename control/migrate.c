/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>

#include "hex.h"
#include "log.h"
#include "net-addr.h"

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

/* Whether res says the statement ran; if not, err says why. Clears res. Returns 0 or -EPROTO. */
static int result_ok(PGconn *pg, PGresult *res, const char *what, char *err, size_t errlen)
{
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

/* Run sql, which may hold several statements (no parameters). Returns 0 or -EPROTO with err. */
static int exec_simple(PGconn *pg, const char *sql, const char *what, char *err, size_t errlen)
{
        return result_ok(pg, PQexec(pg, sql), what, err, errlen);
}

static int exec_params(PGconn *pg, const char *sql, int n, const char *const *values,
                       const int *lengths, const int *formats, const char *what, char *err,
                       size_t errlen)
{
        return result_ok(pg, PQexecParams(pg, sql, n, NULL, values, lengths, formats, 0), what,
                         err, errlen);
}

/*
 * Read what schema_migrations records and check it against migrate_list: *ret_have is the
 * newest version applied. A database whose history this binary does not know is refused
 * with -ESTALE: one ahead of it (a version it lacks above its newest), one that records
 * another name at a version of ours, or one that lacks a migration of ours older than its
 * newest (its row deleted, or migrations applied from another branch). Running on such a
 * schema, or applying the missing migration after those that followed it, could leave it
 * in a state no later start repairs. Names are compared, not contents: comments in applied
 * migration files have been edited, which changes nothing in a database.
 */
static int applied_check(PGconn *pg, unsigned *ret_have, char *err, size_t errlen)
{
        PGresult *res = PQexec(pg, "SELECT version, name FROM schema_migrations ORDER BY version");
        unsigned newest = migrate_count > 0 ? migrate_list[migrate_count - 1].version : 0;
        unsigned have = 0;
        size_t i = 0;
        int r = 0, rows;

        if (PQresultStatus(res) != PGRES_TUPLES_OK) {
                snprintf(err, errlen, "reading schema_migrations: %s", PQerrorMessage(pg));
                err[strcspn(err, "\n")] = '\0';
                r = -EPROTO;
                goto out;
        }
        rows = PQntuples(res);
        if (rows > 0)
                have = (unsigned)strtoul(PQgetvalue(res, rows - 1, 0), NULL, 10);
        if (have > newest) {
                snprintf(err, errlen,
                         "database schema version %u is newer than this binary's %u; refusing",
                         have, newest);
                r = -ESTALE;
                goto out;
        }
        for (int row = 0; row < rows; row++) {
                unsigned v = (unsigned)strtoul(PQgetvalue(res, row, 0), NULL, 10);
                const char *name = PQgetvalue(res, row, 1);

                if (i < migrate_count && migrate_list[i].version < v) {
                        snprintf(err, errlen,
                                 "database lacks migration %s yet records later ones (up to "
                                 "%u); refusing",
                                 migrate_list[i].name, have);
                        r = -ESTALE;
                        goto out;
                }
                if (i == migrate_count || migrate_list[i].version != v) {
                        snprintf(err, errlen,
                                 "database records migration %u (%.64s), which this binary "
                                 "does not have; refusing",
                                 v, name);
                        r = -ESTALE;
                        goto out;
                }
                if (strcmp(migrate_list[i].name, name) != 0) {
                        snprintf(err, errlen,
                                 "database records migration %u as %.64s, this binary has %s; "
                                 "refusing",
                                 v, name, migrate_list[i].name);
                        r = -ESTALE;
                        goto out;
                }
                i++;
        }
        *ret_have = have;
out:
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
                /* Never read again: a memset here may be left out, and was at -O2. */
                OPENSSL_cleanse(hexs, sizeof(hexs));
        }
        for (size_t i = 0; r == 0 && b && i < b->n_regions; i++) {
                const char *p[2] = {b->countries[i], b->regions[i]};
                r = exec_params(pg,
                                "INSERT INTO country_regions (country, region) VALUES ($1, $2) "
                                "ON CONFLICT (country) DO UPDATE SET region = EXCLUDED.region",
                                2, p, NULL, NULL, "country regions", err, errlen);
        }
        if (r == 0 && b && b->region_countries)
                r = exec_params(pg, MIGRATE_REGIONS_KEEP_SQL, 1, &b->region_countries, NULL, NULL,
                                "country regions", err, errlen);
        return r;
}

/* How many rows of one kind the audit names; the rest are counted. */
#define AUDIT_NAMED 20

/*
 * What older releases stored and this one refuses at registration, that no migration can
 * repair (032 repairs the markers): named in the log at every start until registered again.
 * Read only; a failed query is no reason not to start.
 */
static void stored_audit(PGconn *pg)
{
        PGresult *res;
        int n, bad = 0;

        res = PQexec(pg, "SELECT id FROM assets a WHERE encrypted AND NOT EXISTS "
                         "(SELECT 1 FROM content_keys k WHERE k.asset_id = a.id) ORDER BY id");
        if (PQresultStatus(res) == PGRES_TUPLES_OK) {
                n = PQntuples(res);
                for (int i = 0; i < n && i < AUDIT_NAMED; i++)
                        log_warn("asset %s is encrypted but has no content key (stored by an "
                                 "older release): its licences are refused; register it again "
                                 "with its \"key\"",
                                 PQgetvalue(res, i, 0));
                if (n > AUDIT_NAMED)
                        log_warn("%d more encrypted assets without a content key", n - AUDIT_NAMED);
        }
        PQclear(res);
        res = PQexec(pg, "SELECT id, base_url FROM edges WHERE enabled ORDER BY id");
        if (PQresultStatus(res) == PGRES_TUPLES_OK) {
                n = PQntuples(res);
                for (int i = 0; i < n; i++) {
                        const char *url = PQgetvalue(res, i, 1), *why = net_url_why(url, true);
                        if (!why)
                                continue;
                        if (++bad <= AUDIT_NAMED)
                                log_warn("edge %s: base_url \"%s\" (stored by an older release) "
                                         "is one players cannot parse: %s; register the edge "
                                         "again with a good one",
                                         PQgetvalue(res, i, 0), url, why);
                }
                if (bad > AUDIT_NAMED)
                        log_warn("%d more edges whose base_url players cannot parse",
                                 bad - AUDIT_NAMED);
        }
        PQclear(res);
}

/*
 * A blocking connect to a host that drops packets waits for TCP to give up, minutes. libpq's
 * connect_timeout bounds it (per address tried), in whole seconds and at least 2, as libpq
 * takes it. Given before the expanded conninfo, so an operator's own connect_timeout, in
 * either the keyword/value or the URI form, overrides it.
 */
static PGconn *connect_bounded(const char *conninfo, uint64_t timeout_ms)
{
        uint64_t s = (timeout_ms + 999) / 1000;
        char secs[24];
        const char *kw[] = {"connect_timeout", "dbname", NULL};
        const char *val[] = {secs, conninfo, NULL};

        snprintf(secs, sizeof(secs), "%llu", (unsigned long long)(s < 2 ? 2 : s));
        return PQconnectdbParams(kw, val, 1);
}

int migrate_run(const char *conninfo, uint64_t connect_timeout_ms,
                const struct migrate_bootstrap *boot, char *err, size_t errlen)
{
        PGconn *pg = connect_bounded(conninfo, connect_timeout_ms);
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
        r = applied_check(pg, &have, err, errlen);
        if (r < 0)
                goto out;
        for (size_t i = 0; i < migrate_count; i++) {
                if (migrate_list[i].version <= have)
                        continue;
                struct timespec t0, t1;
                (void)clock_gettime(CLOCK_MONOTONIC, &t0);
                r = apply(pg, &migrate_list[i], err, errlen);
                if (r < 0)
                        goto out;
                (void)clock_gettime(CLOCK_MONOTONIC, &t1);
                log_info("migration %s applied in %.3f s", migrate_list[i].name,
                         (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
                n++;
        }
        r = bootstrap(pg, boot, err, errlen);
        if (r < 0)
                goto out;
        stored_audit(pg);
        (void)exec_simple(pg, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")", "unlock", err,
                          errlen);
        r = n;
out:
        PQfinish(pg);
        return r;
}
