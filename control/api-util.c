/* SPDX-License-Identifier: MIT */
/*
 * What the API handlers share: the statement table (every query the service runs, each a call
 * of one SQL function from migrations/002_functions.sql with text parameters), JSON
 * pass-through of a function's result, and request parameter helpers.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "geo.h"
#include "hex.h"
#include "metrics.h"

#include "api.h"
#include "ctl-cfg.h"
#include "ctl.h"
#include "migrate.h"
#include "pgdb.h"
#include "server.h"

struct stmt_def {
        size_t offset; /* in struct ctl_stmts */
        const char *name;
        const char *sql;
        int n_params;
};

#define ST(field, sql, n) {offsetof(struct ctl_stmts, field), #field, sql, n}

/* clang-format off */
static const struct stmt_def stmt_defs[] = {
        ST(register_title, "SELECT sluice_register_title($1::jsonb)", 1),
        ST(set_licences, "SELECT sluice_set_licences($1, $2::jsonb)", 2),
        /* New sessions, several to a statement (session-batch.h): one row per item, its answer
         * (with what this instance's session cache needs) or the error refusing it. */
        ST(playback_batch, "SELECT n, answer, code, message "
                           "FROM sluice_session_start_batch($1::jsonb)", 1),
        ST(session_lite, "SELECT sluice_session_lite($1)", 1),
        /* Signed sessions (migrations/015_signed_sessions.sql): the claims come from the
         * verified id; the row, when written, can only have ended the session. */
        ST(session_warm, "SELECT sluice_session_warm($1, $2, $3, $4)", 4),
        /* Warm starts counted (018_session_starts.sql); an operator's end of a session. */
        ST(session_starts_add, "SELECT sluice_session_starts_add($1::json)", 1),
        ST(session_end, "SELECT sluice_session_end($1, $2, $3, $4, $5::bigint, $6::bigint, $7, "
                        "$8, $9::double precision)",
           9),
        ST(session_claims, "SELECT sluice_session_claims($1, $2, $3, $4::bigint, $5)", 5),
        /* The kid and key as columns of hex, not the function's jsonb: parsing JSON would
         * copy the key through the parser's own buffers, which nothing wipes. */
        ST(license_key_claims, "SELECT c->>'kid', c->>'key' "
                               "FROM sluice_license_key_claims($1, $2, $3, $4::bigint, $5) "
                               "AS r(c)",
           5),
        ST(report_claims, "SELECT sluice_report_claims($1, $2, $3, $4, $5::bigint, $6::bigint, "
                          "$7, $8, $9::double precision, $10, $11, $12::integer, $13::integer)",
           13),
        ST(asset_get, "SELECT sluice_asset_get($1)", 1),
        ST(edges_view,
           "SELECT * FROM sluice_edges_held($1::double precision, $2::jsonb, $3::bigint)", 3),
        ST(session_view, "SELECT sluice_session_view($1, $2::double precision)", 2),
        ST(license_key, "SELECT sluice_license_key($1)", 1),
        ST(report, "SELECT sluice_report($1, $2::double precision, $3, $4, $5::integer, "
                   "$6::integer)", 6),
        /* A profile comes with its key, checked before the function reads anything of it
         * (migrations/020_profile_keys.sql). */
        ST(continue_watching, "SELECT sluice_continue_watching("
                              "sluice_profile_auth($1::bigint, $3), $2::integer, $4::integer, $5)",
           5),
        ST(browse, "SELECT sluice_browse($1, sluice_profile_auth($2::bigint, $6), $3, "
                   "$4::integer, $5::integer)", 6),
        /* Search and trending page with $6, the offset (040_search_trending_offset.sql). */
        ST(trending, "SELECT sluice_trending(sluice_profile_auth($1::bigint, $5), $2, "
                     "$3::integer, $4::double precision, $6::integer)", 6),
        ST(genres, "SELECT sluice_genres(sluice_profile_auth($1::bigint, $2))", 2),
        ST(search, "SELECT sluice_search($1, sluice_profile_auth($2::bigint, $5), $3, "
                   "$4::integer, $6::integer)", 6),
        ST(title_details, "SELECT sluice_title_details($1, sluice_profile_auth($2::bigint, $4), "
                          "$3)", 4),
        ST(profile_create, "SELECT sluice_profile_create($1, $2::boolean, $3::integer, $4)", 4),
        ST(edge_register, "SELECT sluice_edge_register($1::jsonb, $2, $3::boolean, $4::boolean)",
           4),
        ST(edge_secret, "SELECT sluice_edge_secret($1)", 1),
        ST(heartbeat, "SELECT sluice_heartbeat_signed($1, $2::jsonb, $3::bigint)", 3),
        ST(fill_plan, "SELECT sluice_fill_plan($1, $2, $3::double precision, "
                      "$4::double precision, $5::integer)", 5),
        ST(token_keys, "SELECT sluice_token_keys()", 0),
        /* The same set as rows, so that control reads each secret without parsing JSON. */
        ST(token_key_rows, "SELECT k->>'kid', k->>'secret', k->>'sign_from' "
                           "FROM jsonb_array_elements(sluice_token_keys()->'keys') k", 0),
        ST(token_rotate, "SELECT sluice_token_rotate($1, $2, $3::integer, $4::integer)", 4),
        ST(partitions, "SELECT sluice_report_partitions($1::integer)", 1),
        ST(prune, "SELECT sluice_prune($1::bigint, $2::bigint, $3::integer)", 3),
        ST(country_region, "INSERT INTO country_regions (country, region) VALUES ($1, $2) "
                           "ON CONFLICT (country) DO UPDATE SET region = EXCLUDED.region", 2),
        ST(country_regions_keep, MIGRATE_REGIONS_KEEP_SQL, 1),
};
/* clang-format on */

int api_stmts_register(struct ctl *ctl)
{
        for (size_t i = 0; i < sizeof(stmt_defs) / sizeof(stmt_defs[0]); i++) {
                const struct stmt_def *d = &stmt_defs[i];
                int id = pgdb_stmt_add(ctl->db, d->name, d->sql, d->n_params);
                /* Both pools know every statement, under the same id. */
                int admin_id = pgdb_stmt_add(ctl->admin_db, d->name, d->sql, d->n_params);
                if (id < 0)
                        return id;
                if (admin_id != id)
                        return admin_id < 0 ? admin_id : -EINVAL;
                *(int *)((char *)&ctl->st + d->offset) = id;
        }
        return 0;
}

static void json_done(void *userdata, int err, const struct pgdb_res *res)
{
        static const char *const nocache[] = {"Cache-Control", "no-store", NULL};
        struct ctl_req *rq = userdata;
        size_t len = 0;
        const char *v;

        if (err < 0) {
                ctl_reply_db_error(rq, err, res);
                return;
        }
        v = pgdb_res_value(res, 0, 0, &len);
        if (!v) {
                ctl_reply_error(rq, 404, "not_found", "");
                return;
        }
        ctl_reply(rq, 200, "application/json", v, len, nocache);
}

void api_exec_json(struct ctl_req *rq, int stmt, const char *const *params, int n)
{
        int r = pgdb_exec(rq->ctl->db, stmt, params, n, json_done, rq);

        if (r < 0)
                ctl_reply_db_error(rq, r == -EINVAL ? -EIO : r, NULL);
}

static void wiped_done(void *userdata, int err, const struct pgdb_res *res)
{
        size_t len = 0;
        const char *v = err == 0 ? pgdb_res_value(res, 0, 0, &len) : NULL;

        json_done(userdata, err, res);
        if (v)
                OPENSSL_cleanse((char *)v, len);
}

void api_exec_json_wiped(struct ctl_req *rq, int stmt, const char *const *params, int n)
{
        int r = pgdb_exec(rq->ctl->db, stmt, params, n, wiped_done, rq);

        if (r < 0)
                ctl_reply_db_error(rq, r == -EINVAL ? -EIO : r, NULL);
}

static void counted_done(void *userdata, int err, const struct pgdb_res *res)
{
        struct ctl_req *rq = userdata;
        struct metric *counter = rq->handler_data;

        rq->handler_data = NULL;
        if (err == 0 && pgdb_res_value(res, 0, 0, NULL))
                metrics_add(counter, 1);
        json_done(rq, err, res);
}

void api_exec_json_counted(struct ctl_req *rq, int stmt, const char *const *params, int n,
                           struct metric *counter)
{
        int r;

        rq->handler_data = counter;
        r = pgdb_exec(rq->ctl->db, stmt, params, n, counted_done, rq);
        if (r < 0) {
                rq->handler_data = NULL;
                ctl_reply_db_error(rq, r == -EINVAL ? -EIO : r, NULL);
        }
}

static void audited_done(void *userdata, int err, const struct pgdb_res *res)
{
        struct ctl_req *rq = userdata;
        const struct api_audit *audit = rq->handler_data;
        size_t len = 0;
        const char *v = err == 0 ? pgdb_res_value(res, 0, 0, &len) : NULL;

        rq->handler_data = NULL;
        if (v) {
                json_t *o = json_loadb(v, len, 0, NULL);
                audit->log(rq, o);
                json_decref(o);
        }
        /* An edge's registration answers the secret control made for it. */
        wiped_done(rq, err, res);
}

void api_exec_json_audited(struct ctl_req *rq, int stmt, const char *const *params, int n,
                           const struct api_audit *audit)
{
        int r;

        /* Static and read-only; the callback takes it back. */
        rq->handler_data = (void *)audit;
        r = pgdb_exec(rq->ctl->admin_db, stmt, params, n, audited_done, rq);
        if (r < 0) {
                rq->handler_data = NULL;
                ctl_reply_db_error(rq, r == -EINVAL ? -EIO : r, NULL);
        }
}

bool api_digits(const char *s)
{
        size_t n = 0;

        for (; s[n]; n++)
                if (s[n] < '0' || s[n] > '9')
                        return false;
        return n >= 1 && n <= 18;
}

const char *api_log_safe(const char *s, char *buf, size_t cap)
{
        size_t n = 0;

        if (!s)
                s = "-";
        for (; *s && n + 1 < cap; s++)
                buf[n++] = (unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f ? '?' : *s;
        buf[n] = '\0';
        return buf;
}

int api_profile_param(struct ctl_req *rq, struct api_profile *ret)
{
        int r = ctl_query_get(rq, "profile", ret->id, sizeof(ret->id));

        ret->key[0] = '\0';
        if (r == -ENOENT || r == 0)
                return 0;
        if (r < 0 || r > 18)
                goto bad;
        for (int i = 0; i < r; i++)
                if (ret->id[i] < '0' || ret->id[i] > '9')
                        goto bad;
        r = ctl_query_get(rq, "profile_key", ret->key, sizeof(ret->key));
        if (r == -ENOENT)
                ret->key[0] = '\0';
        else if (r < 0) {
                ctl_reply_error(rq, 400, "bad_request", "'profile_key' too long or malformed");
                return -EINVAL;
        }
        return 1;
bad:
        ctl_reply_error(rq, 400, "bad_request", "'profile' must be a numeric profile id");
        return -EINVAL;
}

void api_client_country(const struct ctl_req *rq, char cc[3])
{
        const struct ctl *ctl = rq->ctl;

        cc[0] = '\0';
        if (ctl->geo && geo_table_lookup_str(ctl->geo, rq->client, cc) == 0)
                return;
        if (ctl->cfg->default_country) {
                memcpy(cc, ctl->cfg->default_country, 2);
                cc[2] = '\0';
                return;
        }
        cc[0] = '\0';
}

int api_random_hex(char *buf, size_t n)
{
        unsigned char raw[64];

        if (n > sizeof(raw) || RAND_bytes(raw, (int)n) != 1)
                return -EIO;
        hex_encode(raw, n, buf);
        return 0;
}

const char *ctl_region_of(const struct ctl *ctl, const char *country)
{
        const struct cfg_list *l = &ctl->cfg->country_prefixes;

        for (size_t i = 0; i < l->n; i++) {
                const struct ctl_cfg_prefix *p = (const struct ctl_cfg_prefix *)l->items + i;
                if (p->region && !strcmp(p->country, country))
                        return p->region;
        }
        return NULL;
}
