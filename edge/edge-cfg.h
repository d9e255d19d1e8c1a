/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "cfg.h"

/* An Origin a waiting miss keeps for its answer's CORS (serve_kept), at most (with its NUL):
 * the longest origin is "https://" with a 253-byte host name and ":65535", 267 bytes. */
#define EDGE_CFG_ORIGIN_MAX 320

/*
 * sluice-edge configuration (docs/edge-config.md documents every key). Loaded by the
 * table-driven loader in common/cfg.c; immutable once loaded: SIGHUP loads a new one and the
 * server swaps pointers.
 */

struct edge_cfg_admin {
        char *listen;     /* "127.0.0.1:8081" */
        char *token_file; /* bearer token, one line */
};

struct edge_cfg_cache {
        char *dir;           /* /var/cache/sluice */
        uint64_t max_size;   /* bytes */
        int64_t fd_cache;    /* open files kept per worker */
        int64_t negative_ttl_ms; /* how long an upstream 404 is remembered */
        uint64_t index_map_size; /* LMDB map of the store's index; 0: from max_size */
        int64_t max_fills;       /* upstream fills in flight on the edge */
        int64_t prefetch_max;    /* CMCD nor prefetches in flight per worker; 0: none */
        int64_t prefetch_start;  /* segments prefetched when a player starts; 0: none */
        uint64_t scrub_rate;     /* background re-hash, bytes/s; 0: off */
        int64_t scrub_pause_ms;  /* between scrub passes */
};

struct edge_cfg_upstream {
        char *url;
        char *token_file;             /* bearer sent to this upstream (a parent's peer token) */
        int64_t connect_timeout_ms;   /* TCP connect */
        int64_t first_byte_timeout_ms; /* request sent → response head */
        int64_t low_speed_time_ms;    /* body slower than low_speed_bytes/s this long → fail */
        int64_t low_speed_bytes;
};

struct edge_cfg_tokens {
        bool required;
        bool allow_unbounded; /* accept tokens without exp or cdniuc (RFC 9246 allows them) */
        char *keys_file;
        char *peer_token_file; /* bearer that child edges present for fills (no URI token) */
};

struct edge_cfg_control {
        char *url;
        char *edge_id;
        char *region;
        int64_t heartbeat_ms; /* period of POST /v1/edges/<id>/heartbeat */
        int64_t plan_period_ms; /* period of GET /v1/fill/plan (catalog SHA-256s); 0: never */
        char *secret_file;    /* this edge's heartbeat secret (signs each heartbeat) */
};

struct edge_cfg_limits {
        int64_t max_connections;   /* per process */
        int64_t max_header_bytes;  /* request head, bytes */
        int64_t max_headers;       /* header fields per request */
        int64_t header_timeout_ms; /* to read a whole request head */
        int64_t idle_timeout_ms;   /* keep-alive idle */
        int64_t send_timeout_ms;   /* max time without send progress */
        int64_t commit_timeout_ms; /* longest wait of an answer on its fill's commit */
        int64_t max_pipeline;      /* requests queued per connection */
};

struct edge_cfg_log {
        char *level;      /* error|warn|info|debug */
        char *target;     /* stderr|journal|<path> */
        char *access_log; /* path, "-" for stdout, or empty/absent for off */
};

/* One certificate of a TLS listener: PEM chain (leaf first) and key; ocsp is an optional DER
 * OCSP response, stapled only once checked against the certificate and the clock (tls-ctx.c;
 * refreshed by the operator, re-read on SIGHUP). */
struct edge_cfg_tls_cert {
        char *cert;
        char *key;
        char *ocsp;
};

/* A TLS client listener. The first certificate is the default for unknown or absent SNI. */
struct edge_cfg_tls {
        char *listen;                /* "host:port" */
        struct cfg_list certs;       /* of struct edge_cfg_tls_cert */
        struct cfg_strlist alpn;     /* server preference; empty: h2, http/1.1 */
        int64_t ticket_rotation_ms;  /* a new ticket key each period; two periods decrypt */
        bool tickets;                /* session tickets (resumption) */
        bool ktls;                   /* try kernel TLS for sends */
};

/* HTTP/2 settings shared by every listener that speaks it. */
struct edge_cfg_http2 {
        bool cleartext;                /* prior-knowledge h2c on plain listeners */
        int64_t max_concurrent_streams;
        uint64_t window;               /* per-stream receive window we advertise */
        uint64_t max_header_list;      /* decoded header bytes per request (HPACK bomb bound) */
        int64_t max_resets_per_s;      /* client RST_STREAM rate (rapid reset) */
        int64_t max_control_per_s;     /* frames carrying no request per second (tls.md) */
};

/* What the seccomp filter does with a system call outside the edge's allow-list. */
enum edge_seccomp_mode {
        EDGE_SECCOMP_KILL = 0, /* kill the process (default) */
        EDGE_SECCOMP_LOG,      /* allow it and have the kernel log it (finding the list) */
        EDGE_SECCOMP_OFF,      /* no filter */
};

struct edge_cfg_sandbox {
        bool enabled;    /* io_uring restrictions, capability drop, no_new_privs, seccomp */
        int64_t seccomp; /* enum edge_seccomp_mode */
};

struct edge_cfg {
        struct cfg_strlist listen; /* "host:port" client listeners */
        int64_t workers;           /* 0 = one per CPU */
        int64_t worker_slice_us;   /* client workers' scheduler time slice; 0 = the kernel's */
        bool worker_yield;         /* client workers yield after each iteration on a shared core */
        struct edge_cfg_admin admin;
        struct edge_cfg_cache cache;
        struct cfg_list upstreams; /* of struct edge_cfg_upstream: parents first, origin last */
        struct edge_cfg_tokens tokens;
        struct edge_cfg_control control;
        struct edge_cfg_limits limits;
        struct edge_cfg_log log;
        struct cfg_strlist cors_origins; /* allowed Origins; ["*"] (default) allows any */
        char *user;                      /* started as root: switch to this user after start-up */
        struct edge_cfg_sandbox sandbox;
        struct cfg_list tls;             /* of struct edge_cfg_tls: TLS client listeners */
        struct edge_cfg_http2 http2;
};

/*
 * Load and validate path. Returns 0 and a new config in *ret (free with edge_cfg_free), or
 * -EINVAL/-errno with err->msg ("file:line:col: message").
 */
int edge_cfg_load(const char *path, struct edge_cfg **ret, struct cfg_error *err);
/* Same, from memory (tests, fuzzing, a config received over the admin API); name is used in
 * messages. */
int edge_cfg_load_buf(const char *name, const char *buf, size_t len, struct edge_cfg **ret,
                      struct cfg_error *err);
/* Frees everything the loader allocated and cfg itself. cfg may be NULL. */
void edge_cfg_free(struct edge_cfg *cfg);

/* "<control.url without trailing slashes><path>" into out (cap bytes); path starts with '/'.
 * Returns 0, -ENOENT without control.url, or -ENAMETOOLONG. */
int edge_cfg_control_url(const struct edge_cfg *cfg, const char *path, char *out, size_t cap);
/* Whether s[0..n) is one of control's ids (its sluice_id domain):
 * [A-Za-z0-9][A-Za-z0-9._-]{0,127}. The edge's own id, and the titles it reports, are. */
bool edge_cfg_control_id_ok(const char *s, size_t n);
