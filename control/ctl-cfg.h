/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "cfg.h"

/* An Origin header kept with a request, and a cors_origins entry, at most (with its NUL): the
 * longest origin is "https://" with a 253-byte host name and ":65535", 267 bytes. */
#define CTL_ORIGIN_MAX 320

/*
 * sluice-control configuration (docs/control.md lists every key). Loaded by common/cfg.c's
 * table-driven loader into a new immutable struct; SIGHUP loads another and swaps pointers.
 */

struct ctl_cfg_admin {
        char *token_file; /* bearer token for /v1/admin/, one line */
};

struct ctl_cfg_tokens {
        char *keys_file;    /* initial URI-signing keys (common/token.h format) */
        int64_t refresh_ms; /* how often the shared key set is re-read from PostgreSQL */
};

struct ctl_cfg_database {
        int64_t pool;             /* connections per instance */
        int64_t timeout_ms;       /* per query, queued or running */
        int64_t admin_timeout_ms; /* the same for the admin writes, on a pool of their own */
        int64_t max_queue;
};

/* One country_prefixes entry. */
struct ctl_cfg_prefix {
        char *cidr;    /* "10.1.0.0/16" */
        char *country; /* "SE" */
        char *region;  /* edge region serving that country, optional */
};

struct ctl_cfg_demand {
        int64_t halflife_ms;        /* decay of recent views */
        int64_t release_horizon_ms; /* push scheduled releases this far ahead */
};

struct ctl_cfg_log {
        char *level;
        char *target;
};

/* public_url's longest (without its trailing '/'): steering and licence URLs add a session id
 * and a path of a few dozen bytes to it in buffers of SESSID_MAX + 512. */
#define CTL_PUBLIC_URL_MAX 400u

struct ctl_cfg {
        struct cfg_strlist listen;
        char *database;                  /* libpq conninfo */
        struct ctl_cfg_database db;      /* `database_pool` etc. live in this section */
        struct ctl_cfg_admin admin;
        struct ctl_cfg_tokens tokens;
        struct cfg_list country_prefixes; /* of struct ctl_cfg_prefix */
        char *default_country;           /* for addresses no prefix covers; NULL: 451 */
        struct cfg_strlist trusted_proxies; /* CIDRs whose X-Forwarded-For is believed */
        char *public_url;                /* how players reach this service */
        char *origin_url;                /* origin base for fill plans */
        int64_t session_ttl_ms;
        int64_t sessions_retention_ms;   /* expired sessions kept this long */
        int64_t reports_retention_ms;    /* playback report partitions kept this long */
        int64_t heartbeat_period_ms;
        int64_t heartbeat_skew_ms;       /* signed time of a heartbeat vs this clock */
        int64_t edge_secret_ttl_ms;      /* how long a fetched edge secret is reused */
        int64_t steering_ttl_ms;
        int64_t cache_ttl_ms;            /* warm data reuse; 0 disables */
        int64_t start_rung_budget_ms;    /* a start rung's first segment at the estimate; 0 off */
        int64_t report_burst;            /* playback reports a session may send at once */
        int64_t report_interval_ms;      /* then one per this; 0: no limit */
        int64_t max_body;                /* request body bytes */
        int64_t max_admin_body;          /* the same on /v1/admin/ with the admin token */
        int64_t max_connections;
        int64_t idle_timeout_ms;
        int64_t send_timeout_ms;         /* a reply that moves nothing this long is cut */
        int64_t body_timeout_ms;         /* a body's time from its head (admin: from its last byte) */
        struct cfg_strlist cors_origins; /* ["*"] allows any; each under CTL_ORIGIN_MAX */
        struct ctl_cfg_demand demand;
        struct ctl_cfg_log log;
};

/*
 * Load and validate path. Returns 0 and a new config in *ret (free with ctl_cfg_free), or
 * -EINVAL/-errno with err->msg ("file:line:col: message").
 */
int ctl_cfg_load(const char *path, struct ctl_cfg **ret, struct cfg_error *err);
/* Same from memory; name is used in messages. */
int ctl_cfg_load_buf(const char *name, const char *buf, size_t len, struct ctl_cfg **ret,
                     struct cfg_error *err);
void ctl_cfg_free(struct ctl_cfg *cfg);
