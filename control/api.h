/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "pgdb.h"

/*
 * API handlers (docs/control.md). Each takes the request, replies exactly once, possibly from a
 * database callback. Grouped by file: api-catalog.c, api-playback.c, api-edges.c, api-admin.c.
 */

struct ctl;
struct ctl_req;
struct metric;

/* api-catalog.c */
void api_browse(struct ctl_req *rq);
void api_trending(struct ctl_req *rq);
void api_genres(struct ctl_req *rq);
void api_search(struct ctl_req *rq);
void api_title(struct ctl_req *rq);
void api_profile_create(struct ctl_req *rq);
void api_continue_watching(struct ctl_req *rq);

/* api-playback.c */
void api_playback(struct ctl_req *rq);
void api_manifest_mpd(struct ctl_req *rq);
void api_manifest_m3u8(struct ctl_req *rq);
void api_manifest_media(struct ctl_req *rq);
void api_steering(struct ctl_req *rq);
void api_license_clearkey(struct ctl_req *rq);
void api_report(struct ctl_req *rq);

/* api-edges.c */
void api_heartbeat(struct ctl_req *rq);
void api_fill_plan(struct ctl_req *rq);
void api_admin_edge(struct ctl_req *rq);

/* api-admin.c */
void api_admin_title(struct ctl_req *rq);
void api_admin_licences(struct ctl_req *rq);
void api_admin_keys_get(struct ctl_req *rq);
void api_admin_keys_rotate(struct ctl_req *rq);
void api_admin_session_end(struct ctl_req *rq);

/*
 * Statements: register every API statement with the pool (start-up). Returns 0 or -errno.
 */
int api_stmts_register(struct ctl *ctl);

/*
 * Re-read the shared URI-signing key set from PostgreSQL (api-admin.c); arms itself again
 * every tokens.refresh. Call once after the pool exists.
 */
void api_keys_refresh_start(struct ctl *ctl);

/* Keep the edge snapshot of ctl->cache fresh in the background (api-edges.c). */
void api_cache_start(struct ctl *ctl);
/*
 * Ask for the edge set (sluice_edges_held) with the holdings' numbers ctl->cache keeps, so
 * only changed holdings are sent; fn's result goes to api_edges_result. Returns
 * pgdb_exec's.
 */
int api_edges_query(struct ctl *ctl, pgdb_done_fn fn, void *userdata);
/* The edge set of api_edges_query's result (err 0), kept by ctl->cache with its holdings: a
 * new reference, or NULL when malformed or out of memory. */
json_t *api_edges_result(struct ctl *ctl, const struct pgdb_res *res);

/* ---- shared by the handlers (api-util.c) ---- */

/*
 * Run stmt and reply with its single JSON value as the body (200), or with the mapped error.
 * Params are copied. On a pool refusal replies 503 at once.
 */
void api_exec_json(struct ctl_req *rq, int stmt, const char *const *params, int n);
/* api_exec_json, and counter increased by one when the reply is the 200: a request the
 * database refused is not counted. Uses rq->handler_data. */
void api_exec_json_counted(struct ctl_req *rq, int stmt, const char *const *params, int n,
                           struct metric *counter);
/* api_exec_json for an answer holding secrets: the result's text of it is wiped once the
 * reply has its copy (server.c wipes that one), before the pool frees the result. */
void api_exec_json_wiped(struct ctl_req *rq, int stmt, const char *const *params, int n);

/*
 * The audit line of an admin change: log() gets the request and the statement's JSON result
 * (NULL when it does not parse) once the change is committed, and writes one info line naming
 * what changed (ids, never a secret). Kept in static storage: it outlives the statement.
 */
struct api_audit {
        void (*log)(const struct ctl_req *rq, const json_t *result);
};

/* api_exec_json on the admin writes' pool (ctl->admin_db, database_pool.admin_timeout), and
 * audit->log() when the statement succeeds. Uses rq->handler_data. */
void api_exec_json_audited(struct ctl_req *rq, int stmt, const char *const *params, int n,
                           const struct api_audit *audit);

/*
 * s (NULL: "-") made fit for a log line into buf: control and non-ASCII bytes become '?', and
 * it is cut to cap - 1 bytes. Returns buf.
 */
const char *api_log_safe(const char *s, char *buf, size_t cap);
/* Whether s is 1 to 18 decimal digits: a count in a query (no sign, space or empty value,
 * which strtol would take). */
bool api_digits(const char *s);

/* A profile's key: PROFILE_KEY_BYTES random bytes as hex (POST /v1/profiles, new_profile). */
#define PROFILE_KEY_BYTES 32
#define PROFILE_KEY_MAX   128 /* bytes of a key a client may send */

/* A request's profile: its id (decimal) and the key sent with it ("" when none was). */
struct api_profile {
        char id[24];
        char key[PROFILE_KEY_MAX + 1];
};

/*
 * Optional "profile" query parameter and its "profile_key": 1 with ret filled (the id <= 18
 * digits), 0 when there is no profile, or replies 400 and returns -EINVAL. A missing or wrong
 * key is the database's to refuse (sluice_profile_auth, migrations/020_profile_keys.sql), as
 * an unknown profile.
 */
int api_profile_param(struct ctl_req *rq, struct api_profile *ret);

/* Client's country ("" when unknown and no default) into cc[3]. */
void api_client_country(const struct ctl_req *rq, char cc[3]);

/*
 * A signed session id from arg with the extension ext (".mpd", or NULL for none): verified
 * against the shared key set into *cl and copied into id (SESSID_MAX + 1 bytes). A malformed,
 * forged or unknown-key id is false, as an unknown session; expiry is the caller's.
 * (api-playback.c)
 */
struct sessid_claims;
bool api_session_from(struct ctl *ctl, const char *arg, const char *ext, struct sessid_claims *cl,
                      char *id);

/* api_session_from with no extension, and the session not yet expired by the wall clock. */
bool api_session_live(struct ctl *ctl, const char *arg, struct sessid_claims *cl, char *id);

/* Fill buf with 2*n lowercase hex chars of random bytes. Returns 0 or -EIO. */
int api_random_hex(char *buf, size_t n);
