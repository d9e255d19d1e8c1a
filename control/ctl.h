/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "token.h"

/*
 * The control process's shared context: what every handler needs (loop, config, database
 * pool, lookup tables, signing keys, metrics, statement ids). One per process; the handlers
 * reach it through their request. Configuration-derived members are replaced as a whole on
 * SIGHUP (ctl_reload in main.c).
 */

struct uring_loop;
struct pgdb;
struct geo_table;
struct ctl_cfg;
struct ctl_server;
struct ctl_cache;
struct edge_auth;
struct mpd_cache;
struct session_batch;
struct session_behind;
struct sessid_seen;
struct report_limit;
struct metrics_reg;
struct metric;

/* Connections of the admin writes' pool (struct ctl, admin_db). */
#define CTL_ADMIN_POOL 2

/* Loop op codes: the server's, then each pgdb pool's three. */
enum ctl_op {
        CTL_OP_ACCEPT = 1,
        CTL_OP_RECV,
        CTL_OP_SEND,
        CTL_OP_CANCEL,
        CTL_OP_SIGNAL,
        CTL_OP_PGDB,                         /* ..CTL_OP_PGDB + 2 */
        CTL_OP_PGDB_ADMIN = CTL_OP_PGDB + 3, /* ..CTL_OP_PGDB_ADMIN + 2 */
};

struct ctl_metrics {
        struct metrics_reg *reg;
        struct metric *requests[6]; /* by status class: 1xx..5xx, [0] unused */
        struct metric *latency;     /* seconds */
        struct metric *db_errors;   /* 503s caused by the database */
        struct metric *conns_open;
        struct metric *conns_refused; /* closed at once: max_connections, none idle */
        struct metric *conns_idle_closed; /* idle, closed at max_connections for a new one */
        struct metric *sessions;    /* playback sessions started */
        struct metric *session_statements; /* statements that started them (group commit) */
        struct metric *sessions_fast;      /* started from warm data, counted behind */
        struct metric *sessions_db;        /* started by a database statement (row written) */
        struct metric *behind_written;     /* warm starts counted and written */
        struct metric *behind_dropped;     /* warm starts not counted (queue full, refused) */
        struct metric *behind_depth;       /* counts waiting to be written behind */
        struct metric *manifests;
        struct metric *licences;    /* ClearKey licences with keys */
        struct metric *licence_refusals;
        struct metric *heartbeats;
        struct metric *heartbeat_refusals; /* 401s: unsigned, bad signature, stale */
        struct metric *plan_refusals;      /* fill plan 401s */
        struct metric *reports;
        struct metric *reports_limited; /* 429s: a session over its report rate */
        struct metric *preflights;   /* CORS preflights answered: a round trip each for a client */
        struct metric *db_connected; /* pool connections up (set when rendering) */
        struct metric *db_pending;   /* queries queued or running */
        struct metric *holdings_behind; /* edges whose current holdings are not here yet */
        struct metric *reloads_ok, *reloads_failed; /* SIGHUPs applied, refused */
        struct metric *reload_ok; /* 1: the last SIGHUP applied the file (or none came) */
};

/* Prepared statement ids (pgdb_stmt_add), one per API operation. */
struct ctl_stmts {
        int register_title, set_licences, playback_batch, session_view, license_key, report;
        int continue_watching, browse, trending, genres, search, title_details, profile_create;
        int profile_get, edge_register, edge_list, heartbeat, fill_plan, token_keys, token_rotate;
        int partitions, country_region, country_regions_keep, session_lite, asset_get, edges_view;
        int edge_secret;
        int prune, session_warm, session_starts_add, session_end, session_claims;
        int license_key_claims, report_claims, token_key_rows;
};

struct ctl {
        struct uring_loop *loop;
        struct ctl_cfg *cfg;
        /* The configuration as control started: the keys read at start only keep these
         * values, and a reload's warning compares with them. */
        struct ctl_cfg *start_cfg;
        struct pgdb *db;
        /* The admin writes (registrations, licences, edges, ended sessions): a title's
         * registration can take seconds, longer than a player's query may wait, and is not
         * queued behind them (database_pool.admin_timeout). */
        struct pgdb *admin_db;
        struct geo_table *geo;     /* country_prefixes */
        struct geo_table *trusted; /* trusted_proxies (country "ZZ" marks a hit) */
        struct token_keyset keys;  /* shared key set as last read; sign_idx signs */
        int64_t keys_sign_from[TOKEN_MAX_KEYS];
        char admin_token[256];
        size_t admin_token_len;
        struct ctl_metrics m;
        struct ctl_stmts st;
        struct ctl_server *srv;
        struct ctl_cache *cache;   /* warm data for manifests and steering */
        struct edge_auth *edge_auth; /* edges' heartbeat secrets, recently fetched */
        struct mpd_cache *mpd_cache; /* MPD templates per asset version */
        struct session_batch *sessions; /* new sessions, one statement per loop iteration */
        struct session_behind *behind;  /* rows of sessions started from warm data */
        struct sessid_seen *seen;       /* session ids verified lately */
        struct report_limit *report_limit; /* playback reports per session */
        bool draining;
};

/* Region configured for a country (country_prefixes[].region), or NULL. A country has one
 * (the config check refuses two), whichever of its prefixes the client matched. */
const char *ctl_region_of(const struct ctl *ctl, const char *country);
