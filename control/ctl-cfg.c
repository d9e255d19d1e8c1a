/* SPDX-License-Identifier: MIT */
/*
 * The sluice-control configuration: cfg_field tables, then the checks that need more than a
 * type (addresses and URLs through common/net-addr.h, CIDRs), reported at the offending node.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "log.h"
#include "net-addr.h"

#include "ctl-cfg.h"
#include "geo.h"

#define SEC(s)             ((int64_t)(s)*1000)
#define CTL_CFG_MAX_LISTEN 16

/* clang-format off */
static const struct cfg_field admin_fields[] = {
        {.key = "token_file", .type = CFG_STRING,
         .offset = offsetof(struct ctl_cfg_admin, token_file), .required = true},
        {0},
};

static const struct cfg_field tokens_fields[] = {
        {.key = "keys_file", .type = CFG_STRING,
         .offset = offsetof(struct ctl_cfg_tokens, keys_file), .required = true},
        {.key = "refresh", .type = CFG_DURATION,
         .offset = offsetof(struct ctl_cfg_tokens, refresh_ms), .min = 1000, .max = SEC(3600),
         .def = "10s"},
        {0},
};

static const struct cfg_field db_fields[] = {
        {.key = "pool", .type = CFG_INT, .offset = offsetof(struct ctl_cfg_database, pool),
         .min = 1, .max = 64, .def = "4"},
        {.key = "timeout", .type = CFG_DURATION,
         .offset = offsetof(struct ctl_cfg_database, timeout_ms), .min = 50, .max = SEC(600),
         .def = "3s"},
        {.key = "admin_timeout", .type = CFG_DURATION,
         .offset = offsetof(struct ctl_cfg_database, admin_timeout_ms), .min = 50,
         .max = SEC(3600), .def = "60s"},
        {.key = "max_queue", .type = CFG_INT,
         .offset = offsetof(struct ctl_cfg_database, max_queue), .min = 1, .max = 1000000,
         .def = "4096"},
        {0},
};

static const struct cfg_field prefix_fields[] = {
        {.key = "cidr", .type = CFG_STRING, .offset = offsetof(struct ctl_cfg_prefix, cidr),
         .required = true},
        {.key = "country", .type = CFG_STRING, .offset = offsetof(struct ctl_cfg_prefix, country),
         .required = true},
        {.key = "region", .type = CFG_STRING, .offset = offsetof(struct ctl_cfg_prefix, region)},
        {0},
};

static const struct cfg_field demand_fields[] = {
        {.key = "halflife", .type = CFG_DURATION,
         .offset = offsetof(struct ctl_cfg_demand, halflife_ms), .min = SEC(60),
         .max = SEC(30 * 86400), .def = "6h"},
        {.key = "release_horizon", .type = CFG_DURATION,
         .offset = offsetof(struct ctl_cfg_demand, release_horizon_ms), .min = SEC(60),
         .max = SEC(60 * 86400), .def = "48h"},
        {0},
};

static const struct cfg_field log_fields[] = {
        {.key = "level", .type = CFG_STRING, .offset = offsetof(struct ctl_cfg_log, level),
         .def = "info"},
        {.key = "target", .type = CFG_STRING, .offset = offsetof(struct ctl_cfg_log, target),
         .def = "stderr"},
        {0},
};

static const struct cfg_field root_fields[] = {
        {.key = "listen", .type = CFG_STRLIST, .offset = offsetof(struct ctl_cfg, listen),
         .min = 1, .max = CTL_CFG_MAX_LISTEN, .def = "127.0.0.1:7000"},
        {.key = "database", .type = CFG_STRING, .offset = offsetof(struct ctl_cfg, database),
         .required = true},
        {.key = "database_pool", .type = CFG_SECTION, .offset = offsetof(struct ctl_cfg, db),
         .sub = db_fields},
        {.key = "admin", .type = CFG_SECTION, .offset = offsetof(struct ctl_cfg, admin),
         .sub = admin_fields, .required = true},
        {.key = "tokens", .type = CFG_SECTION, .offset = offsetof(struct ctl_cfg, tokens),
         .sub = tokens_fields, .required = true},
        {.key = "country_prefixes", .type = CFG_SECTION_LIST,
         .offset = offsetof(struct ctl_cfg, country_prefixes), .min = 0, .max = GEO_ENTRIES_MAX,
         .sub = prefix_fields, .elem_size = sizeof(struct ctl_cfg_prefix)},
        {.key = "default_country", .type = CFG_STRING,
         .offset = offsetof(struct ctl_cfg, default_country)},
        {.key = "trusted_proxies", .type = CFG_STRLIST,
         .offset = offsetof(struct ctl_cfg, trusted_proxies), .min = 0, .max = 256},
        {.key = "public_url", .type = CFG_STRING, .offset = offsetof(struct ctl_cfg, public_url),
         .def = "http://127.0.0.1:7000"},
        {.key = "origin_url", .type = CFG_STRING, .offset = offsetof(struct ctl_cfg, origin_url),
         .def = "http://127.0.0.1:9000"},
        {.key = "session_ttl", .type = CFG_DURATION,
         .offset = offsetof(struct ctl_cfg, session_ttl_ms), .min = SEC(60), .max = SEC(7 * 86400),
         .def = "6h"},
        /* Fill plans and trending read 7 days back: retention never goes below that. */
        {.key = "sessions_retention", .type = CFG_DURATION,
         .offset = offsetof(struct ctl_cfg, sessions_retention_ms), .min = SEC(7 * 86400),
         .max = SEC(3650 * 86400), .def = "168h"},
        {.key = "reports_retention", .type = CFG_DURATION,
         .offset = offsetof(struct ctl_cfg, reports_retention_ms), .min = SEC(7 * 86400),
         .max = SEC(3650 * 86400), .def = "2160h"},
        {.key = "heartbeat_period", .type = CFG_DURATION,
         .offset = offsetof(struct ctl_cfg, heartbeat_period_ms), .min = SEC(1), .max = SEC(3600),
         .def = "5s"},
        /* A signed heartbeat is refused when its time is further than this from ours: it
         * bounds how long a captured one could be replayed (the database refuses a time not
         * newer than the last accepted anyway) and how far an edge's clock may drift. */
        {.key = "heartbeat_skew", .type = CFG_DURATION,
         .offset = offsetof(struct ctl_cfg, heartbeat_skew_ms), .min = SEC(1), .max = SEC(600),
         .def = "30s"},
        /* A secret replaced through another instance still verifies here for this long. */
        {.key = "edge_secret_ttl", .type = CFG_DURATION,
         .offset = offsetof(struct ctl_cfg, edge_secret_ttl_ms), .min = 0, .max = SEC(3600),
         .def = "60s"},
        {.key = "steering_ttl", .type = CFG_DURATION,
         .offset = offsetof(struct ctl_cfg, steering_ttl_ms), .min = SEC(1), .max = SEC(3600),
         .def = "10s"},
        /* How stale manifest inputs (session, asset, edge set) may be; licence windows and
         * session expiry hold to the second regardless. */
        {.key = "cache_ttl", .type = CFG_DURATION, .offset = offsetof(struct ctl_cfg, cache_ttl_ms),
         .min = 0, .max = SEC(60), .def = "1s"},
        /* The start rung (POST /v1/playback start_bandwidth): the highest whose first media
         * segment downloads within this at the throughput estimate; 0 answers the estimate. */
        {.key = "start_rung_budget", .type = CFG_DURATION,
         .offset = offsetof(struct ctl_cfg, start_rung_budget_ms), .min = 0, .max = SEC(10),
         .def = "250ms"},
        /* Playback reports per session: report_burst at once, then one per report_interval
         * (0: no limit); past it 429 with Retry-After. */
        {.key = "report_burst", .type = CFG_INT, .offset = offsetof(struct ctl_cfg, report_burst),
         .min = 1, .max = 10000, .def = "10"},
        {.key = "report_interval", .type = CFG_DURATION,
         .offset = offsetof(struct ctl_cfg, report_interval_ms), .min = 0, .max = SEC(3600),
         .def = "2s"},
        /* Bodies anyone can send (playback, reports, heartbeats of at most 896 KiB). */
        {.key = "max_body", .type = CFG_SIZE, .offset = offsetof(struct ctl_cfg, max_body),
         .min = 1024, .max = 64 << 20, .def = "1M"},
        /* Bodies of /v1/admin/ requests that carry the admin token. A registration carries a
         * whole asset.json, ~150 bytes a segment of each representation: a 4 h title from a
         * 2160p source (6 video rungs) with 8 audio tracks lists 14 x 3,600 segments, ~7.6 MB. */
        {.key = "max_admin_body", .type = CFG_SIZE,
         .offset = offsetof(struct ctl_cfg, max_admin_body), .min = 1024, .max = 64 << 20,
         .def = "16M"},
        {.key = "max_connections", .type = CFG_INT,
         .offset = offsetof(struct ctl_cfg, max_connections), .min = 1, .max = 1000000,
         .def = "10000"},
        {.key = "idle_timeout", .type = CFG_DURATION,
         .offset = offsetof(struct ctl_cfg, idle_timeout_ms), .min = 100, .max = SEC(3600),
         .def = "60s"},
        {.key = "send_timeout", .type = CFG_DURATION,
         .offset = offsetof(struct ctl_cfg, send_timeout_ms), .min = 100, .max = SEC(3600),
         .def = "30s"},
        {.key = "body_timeout", .type = CFG_DURATION,
         .offset = offsetof(struct ctl_cfg, body_timeout_ms), .min = 100, .max = SEC(3600),
         .def = "30s"},
        {.key = "cors_origins", .type = CFG_STRLIST,
         .offset = offsetof(struct ctl_cfg, cors_origins), .min = 0, .max = 256, .def = "*"},
        {.key = "demand", .type = CFG_SECTION, .offset = offsetof(struct ctl_cfg, demand),
         .sub = demand_fields},
        {.key = "log", .type = CFG_SECTION, .offset = offsetof(struct ctl_cfg, log),
         .sub = log_fields},
        {0},
};
/* clang-format on */

static bool country_ok(const char *c)
{
        return c && strlen(c) == 2 && c[0] >= 'A' && c[0] <= 'Z' && c[1] >= 'A' && c[1] <= 'Z';
}

static bool region_ok(const char *r)
{
        size_t n = r ? strlen(r) : 0;

        if (n == 0 || n > 64)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((r[i] >= 'a' && r[i] <= 'z') || (r[i] >= '0' && r[i] <= '9') || r[i] == '-'))
                        return false;
        return true;
}

/* A duration as the file would give it: "4s", or "1500ms" when not whole seconds. */
static void duration_str(int64_t ms, char *buf, size_t cap)
{
        if (ms % 1000 == 0)
                snprintf(buf, cap, "%llds", (long long)(ms / 1000));
        else
                snprintf(buf, cap, "%lldms", (long long)ms);
}

/*
 * A country has one region: country_regions is keyed by country, a session's region is its
 * country's (ctl_region_of), and so are the regions a release is pushed to. Prefixes of one
 * country that name two regions are refused, at the second; prefixes without a region take
 * the one the others give. Countries are checked upper case (validate's loop made them so).
 */
static int country_regions_check(const struct ctl_cfg *c, const char *name, const char *buf,
                                 size_t len, struct cfg_error *err)
{
        size_t first[26 * 26];
        char path[96];

        for (size_t k = 0; k < 26 * 26; k++)
                first[k] = SIZE_MAX;
        for (size_t i = 0; i < c->country_prefixes.n; i++) {
                const struct ctl_cfg_prefix *p =
                    (const struct ctl_cfg_prefix *)c->country_prefixes.items + i;
                size_t k;
                const struct ctl_cfg_prefix *q;

                if (!p->region)
                        continue;
                k = (size_t)(p->country[0] - 'A') * 26 + (size_t)(p->country[1] - 'A');
                if (first[k] == SIZE_MAX) {
                        first[k] = i;
                        continue;
                }
                q = (const struct ctl_cfg_prefix *)c->country_prefixes.items + first[k];
                if (strcmp(q->region, p->region) != 0) {
                        snprintf(path, sizeof(path), "country_prefixes[%zu].region", i);
                        return cfg_error_at(err, name, buf, len, path,
                                            "'%s': %s is in region \"%s\" "
                                            "(country_prefixes[%zu]); a country has one region",
                                            path, p->country, q->region, first[k]);
                }
        }
        return 0;
}

static const char *country_cidr(const struct ctl_cfg *c, size_t i)
{
        return ((const struct ctl_cfg_prefix *)c->country_prefixes.items)[i].cidr;
}

static const char *trusted_cidr(const struct ctl_cfg *c, size_t i)
{
        return c->trusted_proxies.items[i];
}

/* What an entry of a list of prefixes is: its CIDR, and the key under it that holds it. */
struct prefix_list {
        const char *key, *field;
        size_t n;
        const char *(*cidr_of)(const struct ctl_cfg *c, size_t i);
};

/*
 * Two entries of one list naming the same prefix, which the table control builds from it
 * refuses: said at the second, rather than left to the start's "File exists". An IPv4-mapped
 * IPv6 prefix names its IPv4 one. Run once every CIDR of the list parsed.
 */
static int prefixes_once(const struct prefix_list *l, const struct ctl_cfg *c, const char *name,
                         const char *buf, size_t len, struct cfg_error *err)
{
        struct geo_entry *e = calloc(l->n + 1, sizeof(*e));
        struct geo_table *t = NULL;
        size_t bad = 0;
        char path[96];
        int r;

        if (!e)
                return cfg_error_at(err, name, buf, len, l->key, "'%s': out of memory", l->key);
        for (size_t i = 0; i < l->n; i++)
                e[i] = (struct geo_entry){.cidr = l->cidr_of(c, i), .country = "ZZ"};
        r = geo_table_build(e, l->n, &t, &bad);
        geo_table_free(t);
        free(e);
        if (r == 0)
                return 0;
        if (r == -EEXIST) {
                snprintf(path, sizeof(path), "%s[%zu]%s", l->key, bad, l->field);
                return cfg_error_at(err, name, buf, len, path,
                                    "'%s': \"%s\" is a prefix an earlier entry names (an "
                                    "IPv4-mapped prefix names its IPv4 one)",
                                    path, l->cidr_of(c, bad));
        }
        return cfg_error_at(err, name, buf, len, l->key, "'%s': %s", l->key, strerror(-r));
}

static int validate(void *obj, const char *name, const char *buf, size_t len,
                    struct cfg_error *err)
{
        struct ctl_cfg *c = obj;
        struct sockaddr_storage ss;
        struct geo_prefix gp;
        const char *why = NULL;
        socklen_t sl;
        char path[96];
        int r;

        for (size_t i = 0; i < c->listen.n; i++) {
                snprintf(path, sizeof(path), "listen[%zu]", i);
                if (net_addr_parse(c->listen.items[i], &ss, &sl) < 0)
                        return cfg_error_at(err, name, buf, len, path,
                                            "'%s': \"%s\" is not host:port, [v6]:port or :port",
                                            path, c->listen.items[i]);
        }
        if (!c->database[0])
                return cfg_error_at(err, name, buf, len, "database", "'database' is empty");
        if (!c->admin.token_file || !c->admin.token_file[0])
                return cfg_error_at(err, name, buf, len, "admin.token_file",
                                    "'admin.token_file' is empty");
        if (!c->tokens.keys_file || !c->tokens.keys_file[0])
                return cfg_error_at(err, name, buf, len, "tokens.keys_file",
                                    "'tokens.keys_file' is empty");
        for (size_t i = 0; i < c->country_prefixes.n; i++) {
                struct ctl_cfg_prefix *p = (struct ctl_cfg_prefix *)c->country_prefixes.items + i;
                /* Accept lower case in the file; the table and the database use upper case. */
                for (char *q = p->country; *q; q++)
                        if (*q >= 'a' && *q <= 'z')
                                *q = (char)(*q - 'a' + 'A');
                snprintf(path, sizeof(path), "country_prefixes[%zu].cidr", i);
                if (geo_cidr_parse(p->cidr, &gp) < 0)
                        return cfg_error_at(err, name, buf, len, path,
                                            "'%s': \"%s\" is not a CIDR prefix (host bits must "
                                            "be zero)",
                                            path, p->cidr);
                snprintf(path, sizeof(path), "country_prefixes[%zu].country", i);
                if (!country_ok(p->country))
                        return cfg_error_at(err, name, buf, len, path,
                                            "'%s': \"%s\" is not an ISO 3166-1 alpha-2 code",
                                            path, p->country);
                snprintf(path, sizeof(path), "country_prefixes[%zu].region", i);
                if (p->region && !region_ok(p->region))
                        return cfg_error_at(err, name, buf, len, path,
                                            "'%s': \"%s\" is not a region name (a-z, 0-9, -)",
                                            path, p->region);
        }
        r = prefixes_once(
            &(struct prefix_list){"country_prefixes", ".cidr", c->country_prefixes.n, country_cidr},
            c, name, buf, len, err);
        if (r < 0)
                return r;
        r = country_regions_check(c, name, buf, len, err);
        if (r < 0)
                return r;
        if (c->default_country) {
                for (char *q = c->default_country; *q; q++)
                        if (*q >= 'a' && *q <= 'z')
                                *q = (char)(*q - 'a' + 'A');
                if (!country_ok(c->default_country))
                        return cfg_error_at(err, name, buf, len, "default_country",
                                            "'default_country': \"%s\" is not an ISO 3166-1 "
                                            "alpha-2 code",
                                            c->default_country);
        }
        r = cfg_origins_canon(&c->cors_origins, "cors_origins", CTL_ORIGIN_MAX - 1, name, buf,
                              len, err);
        if (r < 0)
                return r;
        for (size_t i = 0; i < c->trusted_proxies.n; i++) {
                snprintf(path, sizeof(path), "trusted_proxies[%zu]", i);
                if (geo_cidr_parse(c->trusted_proxies.items[i], &gp) < 0)
                        return cfg_error_at(err, name, buf, len, path,
                                            "'%s': \"%s\" is not a CIDR prefix", path,
                                            c->trusted_proxies.items[i]);
        }
        r = prefixes_once(
            &(struct prefix_list){"trusted_proxies", "", c->trusted_proxies.n, trusted_cidr}, c,
            name, buf, len, err);
        if (r < 0)
                return r;
        /* An explicit null clears the default, and a URL cannot go without. */
        if (!c->public_url || (why = net_url_why(c->public_url, true)))
                return cfg_error_at(err, name, buf, len, "public_url",
                                    "'public_url': %s%s%s is not an http:// or https:// URL "
                                    "without query, fragment or user%s%s",
                                    c->public_url ? "\"" : "",
                                    c->public_url ? c->public_url : "null",
                                    c->public_url ? "\"" : "", c->public_url ? ": " : "",
                                    c->public_url ? why : "");
        if (!c->origin_url || (why = net_url_why(c->origin_url, true)))
                return cfg_error_at(err, name, buf, len, "origin_url",
                                    "'origin_url': %s%s%s is not an http:// or https:// URL "
                                    "without query, fragment or user%s%s",
                                    c->origin_url ? "\"" : "",
                                    c->origin_url ? c->origin_url : "null",
                                    c->origin_url ? "\"" : "", c->origin_url ? ": " : "",
                                    c->origin_url ? why : "");
        /* URLs are joined with "/..." later; one canonical form avoids "//". */
        for (size_t n = strlen(c->public_url); n > 0 && c->public_url[n - 1] == '/'; n--)
                c->public_url[n - 1] = '\0';
        /* Steering and licence URLs are built from it and a session id in buffers of
         * CTL_PUBLIC_URL_MAX plus the id: a longer one would cut the id. */
        if (strlen(c->public_url) > CTL_PUBLIC_URL_MAX)
                return cfg_error_at(err, name, buf, len, "public_url",
                                    "'public_url' is %zu bytes, over %u", strlen(c->public_url),
                                    CTL_PUBLIC_URL_MAX);
        for (size_t n = strlen(c->origin_url); n > 0 && c->origin_url[n - 1] == '/'; n--)
                c->origin_url[n - 1] = '\0';
        /* Content Steering's TTL is whole seconds: 1500ms would be answered as 1. */
        if (c->steering_ttl_ms % 1000)
                return cfg_error_at(err, name, buf, len, "steering_ttl",
                                    "'steering_ttl' must be whole seconds (the steering answer's "
                                    "TTL is), got %" PRIu64 "ms",
                                    (uint64_t)c->steering_ttl_ms);
        /* Manifests judge an edge alive while its last heartbeat is younger than two periods
         * less cache_ttl (api-playback.c stale_param), so that a snapshot reused for up to
         * cache_ttl still drops a dead edge within two periods: at twice the period or more
         * that leaves no time at all, and every edge counts as dead. The default cache_ttl
         * is below half the smallest period, so the key is in the file. */
        if (c->cache_ttl_ms >= 2 * c->heartbeat_period_ms) {
                char ttl[32], hb[32];
                duration_str(c->cache_ttl_ms, ttl, sizeof(ttl));
                duration_str(c->heartbeat_period_ms, hb, sizeof(hb));
                return cfg_error_at(err, name, buf, len, "cache_ttl",
                                    "'cache_ttl': %s must be less than twice 'heartbeat_period' "
                                    "(2 x %s), else every edge counts as dead",
                                    ttl, hb);
        }
        if (!c->log.level || log_level_parse(c->log.level) < 0)
                return cfg_error_at(err, name, buf, len, "log.level",
                                    "'log.level' must be error, warn, info or debug");
        /* Absent or null is stderr; an empty path is what the start could not open. */
        if (c->log.target && !c->log.target[0])
                return cfg_error_at(err, name, buf, len, "log.target",
                                    "'log.target' must be stderr, journal or a file path");
        return 0;
}

/* From buf, or from the file at name when buf is NULL. */
static int load_cfg(const char *name, const char *buf, size_t len, struct ctl_cfg **ret,
                    struct cfg_error *err)
{
        void *c;
        int r = cfg_load_new(name, buf, len, root_fields, sizeof(struct ctl_cfg), validate, &c,
                             err);

        if (r < 0)
                return r;
        *ret = c;
        return c ? 0 : -ENOMEM; /* c is never NULL here; this lets -Wnull-dereference see it */
}

int ctl_cfg_load_buf(const char *name, const char *buf, size_t len, struct ctl_cfg **ret,
                     struct cfg_error *err)
{
        return load_cfg(name, buf ? buf : "", len, ret, err);
}

int ctl_cfg_load(const char *path, struct ctl_cfg **ret, struct cfg_error *err)
{
        return load_cfg(path, NULL, 0, ret, err);
}

void ctl_cfg_free(struct ctl_cfg *cfg)
{
        if (!cfg)
                return;
        cfg_free(root_fields, cfg);
        free(cfg);
}
