/* SPDX-License-Identifier: MIT */
/*
 * The sluice-edge configuration: one cfg_field table per section (docs/edge-config.md is the
 * operator's view of the same tables), then checks that span fields or need more than a
 * type, reported at the offending node's position.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "http1-parse.h"
#include "log.h"
#include "metrics.h"
#include "net-addr.h"

#include "edge-cfg.h"

#define INDEX_MAP_MIN (64 << 10) /* cache.index_map_size, when set */

#define SEC(s)              ((int64_t)(s)*1000) /* duration bounds are in ms */
#define EDGE_CFG_MAX_LISTEN 64

/* Tables keep one row per key; clang-format would put every member on its own line. */
/* clang-format off */
static const struct cfg_field admin_fields[] = {
        {.key = "listen", .type = CFG_STRING, .offset = offsetof(struct edge_cfg_admin, listen),
         .def = "127.0.0.1:8081"},
        {.key = "token_file", .type = CFG_STRING,
         .offset = offsetof(struct edge_cfg_admin, token_file)},
        {0},
};
/* clang-format on */

/* clang-format off */
static const struct cfg_field cache_fields[] = {
        {.key = "dir", .type = CFG_STRING, .offset = offsetof(struct edge_cfg_cache, dir),
         .required = true},
        /* 64M is the least that holds a few segments of every rung of a ladder. */
        {.key = "max_size", .type = CFG_SIZE, .offset = offsetof(struct edge_cfg_cache, max_size),
         .min = 64 << 20, .def = "10G"},
        {.key = "fd_cache", .type = CFG_INT, .offset = offsetof(struct edge_cfg_cache, fd_cache),
         .min = 0, .max = 1000000, .def = "1024"},
        /* An origin 404 may be a title not yet published: remember it only briefly. */
        {.key = "negative_ttl", .type = CFG_DURATION,
         .offset = offsetof(struct edge_cfg_cache, negative_ttl_ms), .min = 0, .max = SEC(10),
         .def = "3s"},
        /* 0: derived from max_size (else at least INDEX_MAP_MIN, checked below). Set to bound
         * the index's address space (and, tiny, to test what happens when LMDB reports
         * MDB_MAP_FULL). */
        {.key = "index_map_size", .type = CFG_SIZE,
         .offset = offsetof(struct edge_cfg_cache, index_map_size), .min = 0,
         .max = 256ll << 30, .def = "0"},
        /* Upstream fills in flight on the whole edge: clients that ask for cold objects and
         * go (their fills run on, to be cached) cannot open fetches to the origin without end. */
        {.key = "max_fills", .type = CFG_INT, .offset = offsetof(struct edge_cfg_cache, max_fills),
         .min = 1, .max = 100000, .def = "512"},
        /* CMCD "nor": fills started for the object a player says it asks for next. */
        {.key = "prefetch_max", .type = CFG_INT,
         .offset = offsetof(struct edge_cfg_cache, prefetch_max), .min = 0, .max = 64,
         .def = "4"},
        /* Segments filled ahead when a player starts a representation (CMCD su). */
        {.key = "prefetch_start", .type = CFG_INT,
         .offset = offsetof(struct edge_cfg_cache, prefetch_start), .min = 0, .max = 8,
         .def = "2"},
        /* A slow background re-read against each object's SHA-256: a 1 TB cache takes about
         * 11 days at 1M/s, a read load no disk notices. */
        {.key = "scrub_rate", .type = CFG_SIZE,
         .offset = offsetof(struct edge_cfg_cache, scrub_rate), .min = 0, .max = 10ll << 30,
         .def = "1M"},
        {.key = "scrub_pause", .type = CFG_DURATION,
         .offset = offsetof(struct edge_cfg_cache, scrub_pause_ms), .min = 0,
         .max = SEC(7 * 24 * 3600), .def = "1h"},
        {0},
};
/* clang-format on */

/* clang-format off */
static const struct cfg_field upstream_fields[] = {
        {.key = "url", .type = CFG_STRING, .offset = offsetof(struct edge_cfg_upstream, url),
         .required = true},
        {.key = "token_file", .type = CFG_STRING,
         .offset = offsetof(struct edge_cfg_upstream, token_file)},
        {.key = "connect_timeout", .type = CFG_DURATION,
         .offset = offsetof(struct edge_cfg_upstream, connect_timeout_ms), .min = 10,
         .max = SEC(60), .def = "2s"},
        {.key = "first_byte_timeout", .type = CFG_DURATION,
         .offset = offsetof(struct edge_cfg_upstream, first_byte_timeout_ms), .min = 10,
         .max = SEC(300), .def = "10s"},
        {.key = "low_speed_time", .type = CFG_DURATION,
         .offset = offsetof(struct edge_cfg_upstream, low_speed_time_ms), .min = SEC(1),
         .max = SEC(300), .def = "10s"},
        {.key = "low_speed_bytes", .type = CFG_SIZE,
         .offset = offsetof(struct edge_cfg_upstream, low_speed_bytes), .min = 1,
         .max = 1 << 30, .def = "4K"},
        {0},
};
/* clang-format on */

/* clang-format off */
static const struct cfg_field tokens_fields[] = {
        /* Fail closed: serving without token checks must be asked for. */
        {.key = "required", .type = CFG_BOOL, .offset = offsetof(struct edge_cfg_tokens, required),
         .def = "true"},
        /* A token with no end or no URI container would open every segment, or for ever. */
        {.key = "allow_unbounded", .type = CFG_BOOL,
         .offset = offsetof(struct edge_cfg_tokens, allow_unbounded), .def = "false"},
        {.key = "keys_file", .type = CFG_STRING,
         .offset = offsetof(struct edge_cfg_tokens, keys_file)},
        {.key = "peer_token_file", .type = CFG_STRING,
         .offset = offsetof(struct edge_cfg_tokens, peer_token_file)},
        {0},
};
/* clang-format on */

/* clang-format off */
static const struct cfg_field control_fields[] = {
        {.key = "url", .type = CFG_STRING, .offset = offsetof(struct edge_cfg_control, url)},
        {.key = "edge_id", .type = CFG_STRING,
         .offset = offsetof(struct edge_cfg_control, edge_id)},
        {.key = "region", .type = CFG_STRING, .offset = offsetof(struct edge_cfg_control, region)},
        {.key = "heartbeat", .type = CFG_DURATION,
         .offset = offsetof(struct edge_cfg_control, heartbeat_ms), .min = 500, .max = 300000,
         .def = "5s"},
        /* The fill plan's SHA-256s check client-driven fills too (plan-sums.h). */
        {.key = "plan_period", .type = CFG_DURATION,
         .offset = offsetof(struct edge_cfg_control, plan_period_ms), .min = 0,
         .max = SEC(24 * 3600), .def = "5m"},
        {.key = "secret_file", .type = CFG_STRING,
         .offset = offsetof(struct edge_cfg_control, secret_file)},
        {0},
};
/* clang-format on */

/* clang-format off */
static const struct cfg_field limits_fields[] = {
        {.key = "max_connections", .type = CFG_INT,
         .offset = offsetof(struct edge_cfg_limits, max_connections), .min = 1, .max = 10000000,
         .def = "20000"},
        /* A request head must fit a long signed URL, yet stay small: the connection's input
         * buffer holds at most 64K (refused above, not clamped in silence). CFG_SIZE stores a
         * uint64_t; the int64_t field has the same size and the bound keeps it positive. */
        {.key = "max_header_bytes", .type = CFG_SIZE,
         .offset = offsetof(struct edge_cfg_limits, max_header_bytes), .min = 1024,
         .max = 64 << 10, .def = "8192"},
        /* The parser holds at most HTTP1_MAX_HEADERS_CAP fields: refuse more than it can
         * honour rather than clamp in silence. */
        {.key = "max_headers", .type = CFG_INT,
         .offset = offsetof(struct edge_cfg_limits, max_headers), .min = 8,
         .max = HTTP1_MAX_HEADERS_CAP, .def = "64"},
        {.key = "header_timeout", .type = CFG_DURATION,
         .offset = offsetof(struct edge_cfg_limits, header_timeout_ms), .min = 100,
         .max = SEC(3600), .def = "10s"},
        {.key = "idle_timeout", .type = CFG_DURATION,
         .offset = offsetof(struct edge_cfg_limits, idle_timeout_ms), .min = 100,
         .max = SEC(86400), .def = "60s"},
        {.key = "send_timeout", .type = CFG_DURATION,
         .offset = offsetof(struct edge_cfg_limits, send_timeout_ms), .min = 100,
         .max = SEC(3600), .def = "30s"},
        {.key = "commit_timeout", .type = CFG_DURATION,
         .offset = offsetof(struct edge_cfg_limits, commit_timeout_ms), .min = 100,
         .max = SEC(3600), .def = "60s"},
        {.key = "max_pipeline", .type = CFG_INT,
         .offset = offsetof(struct edge_cfg_limits, max_pipeline), .min = 1, .max = 1024,
         .def = "16"},
        {0},
};
/* clang-format on */

/* clang-format off */
static const struct cfg_field log_fields[] = {
        {.key = "level", .type = CFG_STRING, .offset = offsetof(struct edge_cfg_log, level),
         .def = "info"},
        {.key = "target", .type = CFG_STRING, .offset = offsetof(struct edge_cfg_log, target),
         .def = "stderr"},
        {.key = "access_log", .type = CFG_STRING,
         .offset = offsetof(struct edge_cfg_log, access_log)},
        {0},
};
/* clang-format on */

/* clang-format off */
static const struct cfg_field tls_cert_fields[] = {
        {.key = "cert", .type = CFG_STRING, .offset = offsetof(struct edge_cfg_tls_cert, cert),
         .required = true},
        {.key = "key", .type = CFG_STRING, .offset = offsetof(struct edge_cfg_tls_cert, key),
         .required = true},
        {.key = "ocsp", .type = CFG_STRING, .offset = offsetof(struct edge_cfg_tls_cert, ocsp)},
        {0},
};
/* clang-format on */

/* clang-format off */
static const struct cfg_field tls_fields[] = {
        {.key = "listen", .type = CFG_STRING, .offset = offsetof(struct edge_cfg_tls, listen),
         .required = true},
        {.key = "certs", .type = CFG_SECTION_LIST, .offset = offsetof(struct edge_cfg_tls, certs),
         .min = 1, .max = 64, .sub = tls_cert_fields,
         .elem_size = sizeof(struct edge_cfg_tls_cert), .required = true},
        /* Absent: h2 then http/1.1 (tls-ctx.c applies it; a list cannot default here). An empty
         * list would read as "offer nothing" and serve both: refused. */
        {.key = "alpn", .type = CFG_STRLIST, .offset = offsetof(struct edge_cfg_tls, alpn),
         .min = 1, .max = 2},
        /* Tickets sealed with a key are accepted for two periods: a day at most keeps forward
         * secrecy of resumed sessions within a day. */
        {.key = "ticket_rotation", .type = CFG_DURATION,
         .offset = offsetof(struct edge_cfg_tls, ticket_rotation_ms), .min = SEC(60),
         .max = SEC(43200), .def = "1h"},
        {.key = "tickets", .type = CFG_BOOL, .offset = offsetof(struct edge_cfg_tls, tickets),
         .def = "true"},
        {.key = "ktls", .type = CFG_BOOL, .offset = offsetof(struct edge_cfg_tls, ktls),
         .def = "true"},
        {0},
};
/* clang-format on */

/* clang-format off */
static const struct cfg_field http2_fields[] = {
        {.key = "cleartext", .type = CFG_BOOL, .offset = offsetof(struct edge_cfg_http2, cleartext),
         .def = "true"},
        {.key = "max_concurrent_streams", .type = CFG_INT,
         .offset = offsetof(struct edge_cfg_http2, max_concurrent_streams), .min = 1, .max = 1000,
         .def = "100"},
        {.key = "window", .type = CFG_SIZE, .offset = offsetof(struct edge_cfg_http2, window),
         .min = 65535, .max = (1u << 31) - 1, .def = "1M"},
        {.key = "max_header_list", .type = CFG_SIZE,
         .offset = offsetof(struct edge_cfg_http2, max_header_list), .min = 1024, .max = 1 << 20,
         .def = "16K"},
        {.key = "max_resets_per_s", .type = CFG_INT,
         .offset = offsetof(struct edge_cfg_http2, max_resets_per_s), .min = 1, .max = 100000,
         .def = "100"},
        {.key = "max_control_per_s", .type = CFG_INT,
         .offset = offsetof(struct edge_cfg_http2, max_control_per_s), .min = 10, .max = 100000,
         .def = "1000"},
        {0},
};
/* clang-format on */

static int parse_seccomp_mode(const char *scalar, void *dst, char *err, size_t errlen)
{
        static const char *const names[] = {"kill", "log", "off"};

        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                if (strcmp(scalar, names[i]) == 0) {
                        *(int64_t *)dst = (int64_t)i;
                        return 0;
                }
        }
        snprintf(err, errlen, "must be kill, log or off");
        return -EINVAL;
}

/* clang-format off */
static const struct cfg_field sandbox_fields[] = {
        {.key = "enabled", .type = CFG_BOOL, .offset = offsetof(struct edge_cfg_sandbox, enabled),
         .def = "true"},
        {.key = "seccomp", .type = CFG_CUSTOM,
         .offset = offsetof(struct edge_cfg_sandbox, seccomp), .def = "kill",
         .parse = parse_seccomp_mode},
        {0},
};
/* clang-format on */

/* clang-format off */
static const struct cfg_field edge_fields[] = {
        {.key = "listen", .type = CFG_STRLIST, .offset = offsetof(struct edge_cfg, listen),
         .min = 1, .max = EDGE_CFG_MAX_LISTEN, .def = "0.0.0.0:8080"},
        /* One metrics slot per thread: the main thread and the admin worker take two, so
         * never more client workers than the rest (main.c runs no more). */
        {.key = "workers", .type = CFG_INT, .offset = offsetof(struct edge_cfg, workers), .min = 0,
         .max = METRICS_MAX_WORKERS - 2, .def = "0"},
        {.key = "worker_slice_us", .type = CFG_INT,
         .offset = offsetof(struct edge_cfg, worker_slice_us), .min = 0, .max = 100000,
         .def = "100"},
        {.key = "worker_yield", .type = CFG_BOOL, .offset = offsetof(struct edge_cfg, worker_yield),
         .def = "true"},
        {.key = "admin", .type = CFG_SECTION, .offset = offsetof(struct edge_cfg, admin),
         .sub = admin_fields},
        {.key = "cache", .type = CFG_SECTION, .offset = offsetof(struct edge_cfg, cache),
         .sub = cache_fields},
        {.key = "upstreams", .type = CFG_SECTION_LIST,
         .offset = offsetof(struct edge_cfg, upstreams), .min = 0, .max = 16,
         .sub = upstream_fields, .elem_size = sizeof(struct edge_cfg_upstream)},
        {.key = "tokens", .type = CFG_SECTION, .offset = offsetof(struct edge_cfg, tokens),
         .sub = tokens_fields},
        {.key = "control", .type = CFG_SECTION, .offset = offsetof(struct edge_cfg, control),
         .sub = control_fields},
        {.key = "limits", .type = CFG_SECTION, .offset = offsetof(struct edge_cfg, limits),
         .sub = limits_fields},
        {.key = "log", .type = CFG_SECTION, .offset = offsetof(struct edge_cfg, log),
         .sub = log_fields},
        {.key = "cors_origins", .type = CFG_STRLIST,
         .offset = offsetof(struct edge_cfg, cors_origins), .min = 0, .max = 256, .def = "*"},
        {.key = "user", .type = CFG_STRING, .offset = offsetof(struct edge_cfg, user)},
        {.key = "sandbox", .type = CFG_SECTION, .offset = offsetof(struct edge_cfg, sandbox),
         .sub = sandbox_fields},
        {.key = "tls", .type = CFG_SECTION_LIST, .offset = offsetof(struct edge_cfg, tls),
         .min = 0, .max = 16, .sub = tls_fields, .elem_size = sizeof(struct edge_cfg_tls)},
        {.key = "http2", .type = CFG_SECTION, .offset = offsetof(struct edge_cfg, http2),
         .sub = http2_fields},
        {0},
};
/* clang-format on */

/*
 * Whether two listeners would take the same port: same family and port, and the same address
 * or a wildcard on either side. SO_REUSEPORT would let both bind silently and split traffic
 * between them, so this is caught here. Port 0 never collides (each gets its own).
 */
static bool addr_overlap(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
        if (a->ss_family != b->ss_family)
                return false;
        if (a->ss_family == AF_INET) {
                const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
                return x->sin_port && x->sin_port == y->sin_port &&
                       (x->sin_addr.s_addr == y->sin_addr.s_addr ||
                        x->sin_addr.s_addr == htonl(INADDR_ANY) ||
                        y->sin_addr.s_addr == htonl(INADDR_ANY));
        }
        const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
        return x->sin6_port && x->sin6_port == y->sin6_port &&
               (!memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) ||
                IN6_IS_ADDR_UNSPECIFIED(&x->sin6_addr) || IN6_IS_ADDR_UNSPECIFIED(&y->sin6_addr));
}

/* A TLS listener: its address parses and takes no plain listener's port (nor an earlier TLS
 * listener's); ALPN names only protocols the edge speaks. */
static int validate_tls(const struct edge_cfg *c, const struct edge_cfg_tls *t, size_t i,
                        const struct sockaddr_storage *plain, const char *name, const char *buf,
                        size_t len, struct cfg_error *err)
{
        struct sockaddr_storage ss, other;
        socklen_t sl;
        char path[64];

        snprintf(path, sizeof(path), "tls[%zu].listen", i);
        if (net_addr_parse(t->listen, &ss, &sl) < 0)
                return cfg_error_at(err, name, buf, len, path,
                                    "'%s': \"%s\" is not host:port, [v6]:port or :port", path,
                                    t->listen);
        for (size_t j = 0; j < c->listen.n; j++)
                if (addr_overlap(&ss, &plain[j]))
                        return cfg_error_at(err, name, buf, len, path,
                                            "'%s' overlaps listen[%zu] \"%s\"", path, j,
                                            c->listen.items[j]);
        for (size_t j = 0; j < i; j++) {
                const struct edge_cfg_tls *o = (const struct edge_cfg_tls *)c->tls.items + j;
                if (net_addr_parse(o->listen, &other, &sl) == 0 && addr_overlap(&ss, &other))
                        return cfg_error_at(err, name, buf, len, path,
                                            "'%s' overlaps tls[%zu].listen \"%s\"", path, j,
                                            o->listen);
        }
        /* Twice the same file on one listener: its second entry is never chosen, and the
         * expiry metric would carry one series twice (a scrape refused whole). */
        for (size_t j = 0; j < t->certs.n; j++) {
                const struct edge_cfg_tls_cert *cj = (const struct edge_cfg_tls_cert *)t->certs.items + j;
                for (size_t k = 0; k < j; k++) {
                        const struct edge_cfg_tls_cert *ck =
                            (const struct edge_cfg_tls_cert *)t->certs.items + k;
                        if (cj->cert && ck->cert && strcmp(cj->cert, ck->cert) == 0) {
                                snprintf(path, sizeof(path), "tls[%zu].certs[%zu].cert", i, j);
                                return cfg_error_at(err, name, buf, len, path,
                                                    "'%s': \"%s\" is tls[%zu].certs[%zu] "
                                                    "already",
                                                    path, cj->cert, i, k);
                        }
                }
        }
        for (size_t j = 0; j < t->alpn.n; j++)
                if (strcmp(t->alpn.items[j], "h2") && strcmp(t->alpn.items[j], "http/1.1")) {
                        snprintf(path, sizeof(path), "tls[%zu].alpn[%zu]", i, j);
                        return cfg_error_at(err, name, buf, len, path,
                                            "'%s': \"%s\" is not h2 or http/1.1", path,
                                            t->alpn.items[j]);
                }
        return 0;
}

bool edge_cfg_control_id_ok(const char *s, size_t n)
{
        if (n == 0 || n > 128 || !isalnum((unsigned char)s[0]))
                return false;
        for (size_t i = 1; i < n; i++)
                if (!isalnum((unsigned char)s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
                        return false;
        return true;
}

/* Checks no single field can make; errors carry the position of the node at fault. */
static int validate(void *obj, const char *name, const char *buf, size_t len,
                    struct cfg_error *err)
{
        struct edge_cfg *c = obj;
        struct sockaddr_storage ss;
        socklen_t sl;
        char path[64];
        int r;

        /* A map under a few pages cannot even hold LMDB's own: the open fails, saying "No
         * space left on device" of a disk with room. */
        if (c->cache.index_map_size && c->cache.index_map_size < INDEX_MAP_MIN)
                return cfg_error_at(err, name, buf, len, "cache.index_map_size",
                                    "'cache.index_map_size' must be 0 (derived from max_size) "
                                    "or at least %d bytes, got %lld",
                                    INDEX_MAP_MIN, (long long)c->cache.index_map_size);
        /* An entry no browser's Origin can ever be ("example.com", "https://a.example/app")
         * would leave the player it was meant for without CORS, silently. */
        r = cfg_origins_canon(&c->cors_origins, "cors_origins", 0, name, buf, len, err);
        if (r < 0)
                return r;
        if (c->listen.n > EDGE_CFG_MAX_LISTEN)
                return -EINVAL; /* the table bounds the list; kept for the array below */
        struct sockaddr_storage addrs[EDGE_CFG_MAX_LISTEN];
        for (size_t i = 0; i < c->listen.n; i++) {
                snprintf(path, sizeof(path), "listen[%zu]", i);
                if (net_addr_parse(c->listen.items[i], &addrs[i], &sl) < 0)
                        return cfg_error_at(err, name, buf, len, path,
                                            "'%s': \"%s\" is not host:port, [v6]:port or :port",
                                            path, c->listen.items[i]);
                for (size_t j = 0; j < i; j++)
                        if (addr_overlap(&addrs[i], &addrs[j]))
                                return cfg_error_at(err, name, buf, len, path,
                                                    "'%s': \"%s\" overlaps listen[%zu] \"%s\"",
                                                    path, c->listen.items[i], j,
                                                    c->listen.items[j]);
        }
        for (size_t i = 0; i < c->tls.n; i++) {
                const struct edge_cfg_tls *t = (const struct edge_cfg_tls *)c->tls.items + i;
                r = validate_tls(c, t, i, addrs, name, buf, len, err);
                if (r < 0)
                        return r;
        }
        if (c->admin.listen) {
                if (net_addr_parse(c->admin.listen, &ss, &sl) < 0)
                        return cfg_error_at(err, name, buf, len, "admin.listen",
                                            "'admin.listen': \"%s\" is not host:port, [v6]:port "
                                            "or :port",
                                            c->admin.listen);
                for (size_t i = 0; i < c->listen.n; i++)
                        if (addr_overlap(&ss, &addrs[i]))
                                return cfg_error_at(err, name, buf, len, "admin.listen",
                                                    "'admin.listen' overlaps client listener "
                                                    "\"%s\"",
                                                    c->listen.items[i]);
                /* A TLS listener's port too: the start would fail to bind the admin API. */
                for (size_t i = 0; i < c->tls.n; i++) {
                        const struct edge_cfg_tls *t = (const struct edge_cfg_tls *)c->tls.items + i;
                        struct sockaddr_storage other;
                        if (net_addr_parse(t->listen, &other, &sl) == 0 &&
                            addr_overlap(&ss, &other))
                                return cfg_error_at(err, name, buf, len, "admin.listen",
                                                    "'admin.listen' overlaps tls[%zu].listen "
                                                    "\"%s\"",
                                                    i, t->listen);
                }
                if (!c->admin.token_file || !c->admin.token_file[0])
                        return cfg_error_at(err, name, buf, len, "admin",
                                            "'admin.token_file' is required while the admin API "
                                            "listens (admin.listen: ~ turns it off)");
        }
        if (!c->cache.dir || !c->cache.dir[0])
                return cfg_error_at(err, name, buf, len, "cache.dir", "'cache.dir' is empty");
        for (size_t i = 0; i < c->upstreams.n; i++) {
                const struct edge_cfg_upstream *u =
                    (const struct edge_cfg_upstream *)c->upstreams.items + i;
                if (!net_url_ok(u->url)) {
                        snprintf(path, sizeof(path), "upstreams[%zu].url", i);
                        return cfg_error_at(err, name, buf, len, path,
                                            "'%s': \"%s\" is not an http:// or https:// URL", path,
                                            u->url);
                }
        }
        if (c->tokens.required && (!c->tokens.keys_file || !c->tokens.keys_file[0]))
                return cfg_error_at(err, name, buf, len, "tokens",
                                    "'tokens.keys_file' is required while tokens.required is "
                                    "true");
        if (c->control.url) {
                if (!net_url_ok(c->control.url))
                        return cfg_error_at(err, name, buf, len, "control.url",
                                            "'control.url': \"%s\" is not an http:// or "
                                            "https:// URL",
                                            c->control.url);
                if (!c->control.edge_id || !c->control.edge_id[0])
                        return cfg_error_at(err, name, buf, len, "control",
                                            "'control.edge_id' is required with control.url");
        }
        /* It goes into control's URL paths as it is and names a row of control's; it also
         * names this cache in Cache-Status and CMSD, with or without control. */
        if (c->control.edge_id && c->control.edge_id[0] &&
            !edge_cfg_control_id_ok(c->control.edge_id, strlen(c->control.edge_id)))
                return cfg_error_at(err, name, buf, len, "control.edge_id",
                                    "'control.edge_id': \"%s\" is not a control id (1 to 128 "
                                    "letters, digits, '.', '_' or '-', the first a letter or "
                                    "digit)",
                                    c->control.edge_id);
        if (!c->log.level || log_level_parse(c->log.level) < 0)
                return cfg_error_at(err, name, buf, len, "log.level",
                                    "'log.level' must be error, warn, info or debug");
        if (!c->log.target || !c->log.target[0])
                return cfg_error_at(err, name, buf, len, "log.target",
                                    "'log.target' must be stderr, journal or a file path");
        return 0;
}

/* From buf, or from the file at name when buf is NULL. */
static int load_cfg(const char *name, const char *buf, size_t len, struct edge_cfg **ret,
                    struct cfg_error *err)
{
        void *c;
        int r = cfg_load_new(name, buf, len, edge_fields, sizeof(struct edge_cfg), validate, &c,
                             err);

        if (r < 0)
                return r;
        *ret = c;
        return c ? 0 : -ENOMEM; /* c is never NULL here; this lets -Wnull-dereference see it */
}

int edge_cfg_load_buf(const char *name, const char *buf, size_t len, struct edge_cfg **ret,
                      struct cfg_error *err)
{
        return load_cfg(name, buf ? buf : "", len, ret, err);
}

int edge_cfg_load(const char *path, struct edge_cfg **ret, struct cfg_error *err)
{
        return load_cfg(path, NULL, 0, ret, err);
}

int edge_cfg_control_url(const struct edge_cfg *cfg, const char *path, char *out, size_t cap)
{
        size_t base;
        int n;

        if (!cfg->control.url)
                return -ENOENT;
        base = strlen(cfg->control.url);
        while (base > 0 && cfg->control.url[base - 1] == '/')
                base--;
        n = snprintf(out, cap, "%.*s%s", (int)base, cfg->control.url, path);
        return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

void edge_cfg_free(struct edge_cfg *cfg)
{
        if (!cfg)
                return;
        cfg_free(edge_fields, cfg);
        free(cfg);
}
