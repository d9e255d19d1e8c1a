/* SPDX-License-Identifier: MIT */
/*
 * sluice-control: start-up (config, migrations, pool, listeners), signals (SIGTERM/SIGINT
 * drain and exit 0, SIGHUP reloads), periodic upkeep (report partitions), and the service
 * manager's notifications (READY=1 once it serves, WATCHDOG=1 from the loop).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "cfg.h"
#include "geo.h"
#include "log.h"
#include "metrics.h"
#include "mono-time.h"
#include "notify.h"
#include "token.h"
#include "uring-loop.h"

#include "api.h"
#include "cache.h"
#include "ctl-cfg.h"
#include "ctl.h"
#include "edge-auth.h"
#include "migrate.h"
#include "mpd-cache.h"
#include "pgdb.h"
#include "report-limit.h"
#include "server.h"
#include "session-batch.h"
#include "session-behind.h"
#include "sessid.h"
#include "sluice-version.h"

#define DRAIN_MAX_MS     10000u
#define PARTITIONS_EVERY (3600u * 1000u)

static const char *cfg_path = "/etc/sluice/control.yaml";
static struct ctl ctl_main;
static int sig_fd = -1;
static uint32_t sig_slot;
static struct signalfd_siginfo sig_info;
static struct uring_timer drain_timer, partitions_timer, watchdog_timer, prune_timer;
static struct notify *notify;
static uint64_t watchdog_every_ms; /* half of $WATCHDOG_USEC; 0: no watchdog */

static void usage(FILE *f)
{
        fprintf(f,
                "Usage: sluice-control [--config FILE] [--check-config]\n"
                "\n"
                "The Sluice control plane: catalog, licensing, sessions, manifests, steering,\n"
                "ClearKey licences, edge health and fill plans, over PostgreSQL.\n"
                "\n"
                "  -c, --config FILE   configuration (default /etc/sluice/control.yaml)\n"
                "      --check-config  validate the configuration and exit (2 if bad)\n"
                "  -h, --help          this help\n"
                "  -V, --version       print the version\n"
                "\n"
                "Signals: SIGTERM/SIGINT drain and exit 0; SIGHUP reloads the configuration.\n"
                "Exit: 0 drained, 1 failed (the database unreachable, ...), 2 configuration\n"
                "refused, 3 database schema newer than this binary or of another history.\n"
                "Docs: docs/control.md\n");
}

/* Read the admin token: one line, at least 16 characters and at most cap - 1 (-E2BIG: a longer
 * one was cut to fit, so every request sending it whole was refused), without a NUL byte
 * (-EILSEQ: read as a string the token would end there). On failure out is wiped. */
static int admin_token_load(const char *path, char *out, size_t cap, size_t *ret_len)
{
        FILE *f = fopen(path, "re");
        bool longer = false;
        size_t n;
        int c, r;

        if (!f)
                return -errno;
        /* Unbuffered: read straight into out, not into a buffer fclose frees unwiped. */
        (void)setvbuf(f, NULL, _IONBF, 0);
        errno = 0;
        n = fread(out, 1, cap - 1, f);
        while (!ferror(f) && (c = getc(f)) != EOF)
                longer |= c != '\n' && c != '\r' && c != ' ';
        if (ferror(f)) { /* a directory: EISDIR, said as such */
                int e = errno ? errno : EIO;

                (void)fclose(f);
                OPENSSL_cleanse(out, cap);
                return -e;
        }
        (void)fclose(f);
        out[n] = '\0';
        if (longer) {
                OPENSSL_cleanse(out, cap);
                return -E2BIG;
        }
        while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' '))
                out[--n] = '\0';
        r = memchr(out, '\0', n) ? -EILSEQ : n < 16 || memchr(out, '\n', n) ? -EINVAL : 0;
        if (r < 0) {
                OPENSSL_cleanse(out, cap);
                return r;
        }
        *ret_len = n;
        return 0;
}

/* Why admin_token_load() returned r, for the start's and a reload's message. */
static const char *admin_token_why(int r)
{
        _Static_assert(sizeof(((struct ctl *)0)->admin_token) == 256, "the message names it");

        if (r == -E2BIG)
                return "holds a token longer than 255 characters";
        if (r == -EILSEQ)
                return "holds a NUL byte";
        return r == -EINVAL ? "must hold one token of at least 16 characters" : strerror(-r);
}

/* Tables derived from the config: built whole, then swapped in by the caller. */
static int tables_build(const struct ctl_cfg *cfg, struct geo_table **ret_geo,
                        struct geo_table **ret_trusted)
{
        const struct cfg_list *l = &cfg->country_prefixes;
        struct geo_entry *e = calloc(l->n + cfg->trusted_proxies.n + 1, sizeof(*e));
        int r;

        if (!e)
                return -ENOMEM;
        for (size_t i = 0; i < l->n; i++) {
                const struct ctl_cfg_prefix *p = (const struct ctl_cfg_prefix *)l->items + i;
                e[i] = (struct geo_entry){.cidr = p->cidr, .country = p->country};
        }
        r = geo_table_build(e, l->n, ret_geo, NULL);
        if (r < 0)
                goto out;
        for (size_t i = 0; i < cfg->trusted_proxies.n; i++)
                e[i] = (struct geo_entry){.cidr = cfg->trusted_proxies.items[i], .country = "ZZ"};
        r = geo_table_build(e, cfg->trusted_proxies.n, ret_trusted, NULL);
        if (r < 0) {
                geo_table_free(*ret_geo);
                *ret_geo = NULL;
        }
out:
        free(e);
        return r;
}

/* The pool's reachability changes: one line each way, whatever the number of 503s between. */
static void on_db_reach(void *userdata, bool up, const char *why, uint64_t down_ms)
{
        (void)userdata;
        if (!up)
                log_warn("database: unreachable (%s); answering 503 until it is back", why);
        else
                log_info("database: reachable again after %" PRIu64 ".%03u s", down_ms / 1000u,
                         (unsigned)(down_ms % 1000u));
}

/* The admin writes' pool: its own connections, which can fail while the players' work. */
static void on_admin_db_reach(void *userdata, bool up, const char *why, uint64_t down_ms)
{
        (void)userdata;
        if (!up)
                log_warn("database (admin pool): cannot connect (%s); admin changes answer 503 "
                         "until it can", why);
        else
                log_info("database (admin pool): connected again after %" PRIu64 ".%03u s",
                         down_ms / 1000u, (unsigned)(down_ms % 1000u));
}

/* What resolving the database's host names gives changed: one line per change. */
static void on_db_dns(void *userdata, const char *why)
{
        (void)userdata;
        if (why)
                log_warn("database: %s", why);
        else
                log_info("database: every host name resolves again");
}

static int metrics_setup(struct ctl_metrics *m)
{
        /* Up to the admin pool's default timeout (60 s): a request answered at
         * database_pool.timeout (3 s) or waiting on an admin write lands in a finite bucket,
         * so a quantile reads its time rather than the top bound's. */
        static const double bounds[] = {0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1,
                                        0.25,   0.5,   1,     2.5,   5,    10,   30,   60};
        static const char *const cls[] = {NULL, "class=\"1xx\"", "class=\"2xx\"", "class=\"3xx\"",
                                          "class=\"4xx\"", "class=\"5xx\""};

        m->reg = metrics_reg_new();
        if (!m->reg)
                return -ENOMEM;
        for (int i = 1; i <= 5; i++)
                m->requests[i] = metrics_counter_new(m->reg, "sluice_control_requests_total",
                                                     "HTTP requests answered", cls[i]);
        m->latency = metrics_histogram_new(m->reg, "sluice_control_request_seconds",
                                           "Time from a complete request to its reply", NULL,
                                           bounds, sizeof(bounds) / sizeof(bounds[0]));
        m->db_errors = metrics_counter_new(m->reg, "sluice_control_db_unavailable_total",
                                           "Requests answered 503 for want of the database",
                                           NULL);
        m->conns_open = metrics_gauge_new(m->reg, "sluice_control_connections",
                                          "Open client connections", NULL);
        m->conns_refused = metrics_counter_new(
            m->reg, "sluice_control_connections_refused_total",
            "New connections closed at once: max_connections open, none of them idle", NULL);
        m->conns_idle_closed = metrics_counter_new(
            m->reg, "sluice_control_connections_idle_closed_total",
            "Idle connections closed at max_connections to take a new one", NULL);
        m->sessions = metrics_counter_new(m->reg, "sluice_control_sessions_total",
                                          "Playback sessions started", NULL);
        m->session_statements = metrics_counter_new(
            m->reg, "sluice_control_session_statements_total",
            "Statements sent to start sessions (several each under load)", NULL);
        m->sessions_fast = metrics_counter_new(
            m->reg, "sluice_control_sessions_fast_total",
            "Sessions started from warm data without waiting for the database", NULL);
        m->sessions_db = metrics_counter_new(m->reg, "sluice_control_sessions_db_total",
                                             "Sessions started by a database statement", NULL);
        m->behind_written = metrics_counter_new(m->reg, "sluice_control_sessions_behind_total",
                                                "Warm starts counted behind and written", NULL);
        m->behind_dropped = metrics_counter_new(
            m->reg, "sluice_control_sessions_behind_dropped_total",
            "Warm starts not counted: the write-behind queue was full, or the database "
            "refused their count",
            NULL);
        m->behind_depth =
            metrics_gauge_new(m->reg, "sluice_control_sessions_behind_queued",
                              "Counts of warm starts waiting to be written behind", NULL);
        m->manifests = metrics_counter_new(m->reg, "sluice_control_manifests_total",
                                           "Manifests (MPD and HLS playlists) served", NULL);
        m->licences = metrics_counter_new(m->reg, "sluice_control_licences_total",
                                          "ClearKey licences issued with keys", NULL);
        m->licence_refusals = metrics_counter_new(m->reg,
                                                  "sluice_control_licence_refusals_total",
                                                  "ClearKey requests refused", NULL);
        m->heartbeats = metrics_counter_new(m->reg, "sluice_control_heartbeats_total",
                                            "Edge heartbeats stored (answered 200)", NULL);
        m->heartbeat_refusals =
            metrics_counter_new(m->reg, "sluice_control_heartbeat_refusals_total",
                                "Heartbeats refused 401: unsigned, badly "
                                "signed, stale, replayed or older than the last",
                                NULL);
        m->plan_refusals = metrics_counter_new(m->reg, "sluice_control_plan_refusals_total",
                                               "Fill plan requests refused (no admin token, "
                                               "no or a bad edge signature)",
                                               NULL);
        m->reports = metrics_counter_new(m->reg, "sluice_control_reports_total",
                                         "Playback reports stored (answered 200)", NULL);
        m->reports_limited = metrics_counter_new(
            m->reg, "sluice_control_reports_limited_total",
            "Playback reports refused 429: the session reported faster than its limit", NULL);
        m->preflights = metrics_counter_new(
            m->reg, "sluice_control_preflights_total",
            "CORS preflights answered (OPTIONS): a round trip each before the request", NULL);
        m->db_connected = metrics_gauge_new(m->reg, "sluice_control_db_connections",
                                            "PostgreSQL connections up in the pool", NULL);
        m->db_pending = metrics_gauge_new(m->reg, "sluice_control_db_pending",
                                          "Queries queued or running", NULL);
        m->holdings_behind = metrics_gauge_new(
            m->reg, "sluice_control_edge_holdings_behind",
            "Enabled edges whose current holdings this instance has not read yet (they arrive "
            "200,000 titles a read at most: after a start, or when many change)", NULL);
        m->reloads_ok = metrics_counter_new(m->reg, "sluice_control_config_reloads_total",
                                            "Configuration reloads (SIGHUP), by result",
                                            "result=\"ok\"");
        m->reloads_failed = metrics_counter_new(m->reg, "sluice_control_config_reloads_total",
                                                "Configuration reloads (SIGHUP), by result",
                                                "result=\"failed\"");
        m->reload_ok = metrics_gauge_new(m->reg, "sluice_control_config_last_reload_successful",
                                         "1 when the last reload applied the file (or none was "
                                         "asked for), 0 when it was refused",
                                         NULL);
        metrics_gauge_set(m->reload_ok, 1);
        return m->latency && m->reports && m->reports_limited && m->holdings_behind &&
                       m->session_statements && m->db_pending &&
                       m->heartbeat_refusals && m->plan_refusals && m->sessions_fast &&
                       m->sessions_db && m->behind_written && m->behind_dropped &&
                       m->behind_depth && m->reloads_ok && m->reloads_failed && m->reload_ok &&
                       m->conns_refused && m->conns_idle_closed
                   ? 0
                   : -ENOMEM;
}

/*
 * Name, in one warning, every key of next that differs from cur but is read only at start
 * (listeners, the pools, the caches, the key file imported into PostgreSQL, the log): the
 * reload applies the rest and these keep their running values until a restart.
 */
static void restart_only_changes(const struct ctl_cfg *cur, const struct ctl_cfg *next)
{
        const struct ctl_cfg_database *a = &cur->db, *b = &next->db;
        char keys[512] = "";

        if (!cfg_strlist_eq(&next->listen, &cur->listen))
                cfg_names_add(keys, sizeof(keys), "listen");
        if (!cfg_str_eq(next->database, cur->database))
                cfg_names_add(keys, sizeof(keys), "database");
        if (b->pool != a->pool)
                cfg_names_add(keys, sizeof(keys), "database_pool.pool");
        if (b->timeout_ms != a->timeout_ms)
                cfg_names_add(keys, sizeof(keys), "database_pool.timeout");
        if (b->admin_timeout_ms != a->admin_timeout_ms)
                cfg_names_add(keys, sizeof(keys), "database_pool.admin_timeout");
        if (b->max_queue != a->max_queue)
                cfg_names_add(keys, sizeof(keys), "database_pool.max_queue");
        if (next->cache_ttl_ms != cur->cache_ttl_ms)
                cfg_names_add(keys, sizeof(keys), "cache_ttl");
        if (next->edge_secret_ttl_ms != cur->edge_secret_ttl_ms)
                cfg_names_add(keys, sizeof(keys), "edge_secret_ttl");
        if (!cfg_str_eq(next->tokens.keys_file, cur->tokens.keys_file))
                cfg_names_add(keys, sizeof(keys), "tokens.keys_file");
        if (!cfg_str_eq(next->log.target, cur->log.target))
                cfg_names_add(keys, sizeof(keys), "log.target");
        if (keys[0])
                log_warn("reload: %s changed; read at start only, they keep their running "
                         "values until a restart",
                         keys);
}

/* The log file opened at start (log.target a path), or NULL: a reload does not change it. */
static char *log_file;

/*
 * Log rotation (the file renamed, then SIGHUP): the log file is opened again at its path,
 * whether the reload then takes or not, so that no line goes on into a file rotated away and
 * soon deleted. The level is the one in force.
 */
static void reopen_log(const struct ctl_cfg *cfg)
{
        int lvl = log_level_parse(cfg->log.level), r;

        if (!log_file || lvl < 0)
                return;
        r = log_init((enum log_level)lvl, log_file);
        if (r < 0)
                log_warn("reload: cannot open the log %s again: %s; writing on to the one open",
                         log_file, strerror(-r));
}

/* The reload whose region writes failed last said so (one warning a reload, not one a row). */
static unsigned regions_gen, regions_warned;

static void region_done(void *userdata, int err, const struct pgdb_res *res)
{
        unsigned gen = (unsigned)(uintptr_t)userdata;

        if (err < 0 && err != -ECANCELED && gen != regions_warned) {
                regions_warned = gen;
                log_warn("reload: country_regions not written: %s; fill plans keep the regions "
                         "of the start or the last reload that wrote them",
                         pgdb_why(ctl_main.db, err, res));
        }
}

/* Countries are two upper-case letters (ctl-cfg.c). */
#define COUNTRIES_MAX        (26 * 26)
#define REGION_COUNTRIES_CAP (COUNTRIES_MAX * 3 + 3)

/*
 * The first prefix of each country of cfg's country_prefixes that has a region, in the
 * file's order, into ret (COUNTRIES_MAX entries; a country has one region, ctl-cfg.c), and
 * those countries as a PostgreSQL text[] literal ("{GB,SE}", "{}" for none) in keep
 * (REGION_COUNTRIES_CAP bytes). Returns how many.
 */
static size_t region_countries(const struct ctl_cfg *cfg, const struct ctl_cfg_prefix **ret,
                               char *keep)
{
        const struct cfg_list *l = &cfg->country_prefixes;
        bool done[COUNTRIES_MAX] = {false};
        size_t n = 0, len = 0;

        keep[len++] = '{';
        for (size_t i = 0; i < l->n; i++) {
                const struct ctl_cfg_prefix *p = (const struct ctl_cfg_prefix *)l->items + i;
                size_t k = (size_t)(p->country[0] - 'A') * 26 + (size_t)(p->country[1] - 'A');

                if (!p->region || done[k])
                        continue;
                done[k] = true;
                ret[n++] = p;
                if (len > 1)
                        keep[len++] = ',';
                keep[len++] = p->country[0];
                keep[len++] = p->country[1];
        }
        keep[len++] = '}';
        keep[len] = '\0';
        return n;
}

/*
 * Each country's region in the new file into country_regions, as the start wrote the start's
 * (migrate_bootstrap): fill plans and trending read a release's regions from there, while a
 * session takes its region from the running file (ctl_region_of), so without this a reload
 * that moved a country sent its players to the new region's edges and its titles to the old
 * one's. Every country is written again, so a write a down database refused is made up by the
 * next reload. Countries are upper case and one region each (ctl-cfg.c).
 */
static void regions_write(struct ctl *ctl)
{
        const struct ctl_cfg_prefix *p[COUNTRIES_MAX];
        char keep[REGION_COUNTRIES_CAP];
        size_t n = region_countries(ctl->cfg, p, keep);
        void *gen = (void *)(uintptr_t)++regions_gen;
        int r;

        for (size_t i = 0; i < n; i++) {
                const char *params[2] = {p[i]->country, p[i]->region};
                r = pgdb_exec(ctl->db, ctl->st.country_region, params, 2, region_done, gen);
                if (r < 0) {
                        region_done(gen, r, NULL);
                        return;
                }
        }
        /* A country the file no longer gives a region loses its row (in any order with the
         * writes above: they touch only the file's countries). */
        const char *params[1] = {keep};
        r = pgdb_exec(ctl->db, ctl->st.country_regions_keep, params, 1, region_done, gen);
        if (r < 0)
                region_done(gen, r, NULL);
}

/* Apply the file again; false when it is refused and the running configuration stays. */
static bool reload_apply(struct ctl *ctl)
{
        struct ctl_cfg *cfg = NULL;
        struct cfg_error err = {0};
        struct geo_table *geo = NULL, *trusted = NULL;
        char tok[sizeof(ctl->admin_token)];
        size_t tok_len = 0;
        int r;

        reopen_log(ctl->cfg);
        if (ctl_cfg_load(cfg_path, &cfg, &err) < 0) {
                log_error("reload: %s; keeping the running configuration", err.msg);
                return false;
        }
        /* cache_ttl is read at start only: the one running must fit a new period as well. */
        if (ctl_cache_ttl(ctl->cache) >= 2 * (uint64_t)cfg->heartbeat_period_ms) {
                log_error("reload: 'heartbeat_period' %" PRId64 "ms is not above half the "
                          "running 'cache_ttl' (%" PRIu64 "ms, read at start only), so every "
                          "edge would count as dead; keeping the running configuration",
                          cfg->heartbeat_period_ms, ctl_cache_ttl(ctl->cache));
                ctl_cfg_free(cfg);
                return false;
        }
        r = tables_build(cfg, &geo, &trusted);
        if (r < 0) {
                log_error("reload: country_prefixes or trusted_proxies: %s; keeping the running "
                          "configuration",
                          strerror(-r));
                ctl_cfg_free(cfg);
                return false;
        }
        r = admin_token_load(cfg->admin.token_file, tok, sizeof(tok), &tok_len);
        if (r < 0) {
                log_error("reload: admin.token_file %s: %s; keeping the running configuration",
                          cfg->admin.token_file, admin_token_why(r));
                geo_table_free(geo);
                geo_table_free(trusted);
                ctl_cfg_free(cfg);
                return false;
        }
        restart_only_changes(ctl->start_cfg ? ctl->start_cfg : ctl->cfg, cfg);
        geo_table_free(ctl->geo);
        geo_table_free(ctl->trusted);
        ctl->geo = geo;
        ctl->trusted = trusted;
        OPENSSL_cleanse(ctl->admin_token, sizeof(ctl->admin_token));
        memcpy(ctl->admin_token, tok, tok_len + 1);
        ctl->admin_token_len = tok_len;
        OPENSSL_cleanse(tok, sizeof(tok));
        ctl_cfg_free(ctl->cfg);
        ctl->cfg = cfg;
        regions_write(ctl);
        int lvl = log_level_parse(cfg->log.level);
        if (lvl >= 0)
                log_set_level((enum log_level)lvl);
        log_info("configuration reloaded");
        return true;
}

/* A reload, counted: a refused one leaves the running configuration other than the file's,
 * which an alert can watch on the gauge rather than only the log saying so. */
static void reload(struct ctl *ctl)
{
        bool ok = reload_apply(ctl);

        metrics_add(ok ? ctl->m.reloads_ok : ctl->m.reloads_failed, 1);
        metrics_gauge_set(ctl->m.reload_ok, ok);
}

static void drain_check(struct uring_loop *loop, void *userdata)
{
        struct ctl *ctl = userdata;

        if (!ctl->draining)
                return;
        /* Rows queued behind go now rather than after their delay. */
        session_behind_flush(ctl->behind);
        if (ctl_server_conns(ctl->srv) == 0 && pgdb_pending(ctl->db) == 0 &&
            pgdb_pending(ctl->admin_db) == 0 && session_behind_depth(ctl->behind) == 0)
                uring_loop_stop(loop);
}

static void on_drain_timer(struct uring_loop *loop, struct uring_timer *t)
{
        log_warn("drain: gave up waiting for %u connections", ctl_server_conns(ctl_main.srv));
        uring_loop_stop(loop);
}

static void partitions_done(void *userdata, int err, const struct pgdb_res *res)
{
        if (err < 0)
                log_warn("report partitions: %s, ignoring", pgdb_why(ctl_main.db, err, res));
}

static void on_partitions_timer(struct uring_loop *loop, struct uring_timer *t)
{
        const char *p[] = {"7"};

        (void)pgdb_exec(ctl_main.db, ctl_main.st.partitions, p, 1, partitions_done, NULL);
        (void)uring_timer_arm(loop, t, uring_loop_now_ms(loop) + PARTITIONS_EVERY);
}

/*
 * Pruning: one bounded sluice_prune() call at a time, every PRUNE_EVERY, sooner while it
 * reports more to do. The first runs shortly after start.
 */
#define PRUNE_EVERY (600u * 1000u)
#define PRUNE_AGAIN (1000u)
#define PRUNE_FIRST (2000u)
#define PRUNE_BATCH "10000"
static bool prune_inflight;

static void prune_done(void *userdata, int err, const struct pgdb_res *res)
{
        const char *v = err == 0 ? pgdb_res_value(res, 0, 0, NULL) : NULL;
        json_t *o = v ? json_loads(v, 0, NULL) : NULL;

        prune_inflight = false;
        if (err == -ECANCELED)
                return;
        if (err < 0) {
                log_warn("prune: %s, ignoring", pgdb_why(ctl_main.db, err, res));
                return;
        }
        json_int_t ns = json_integer_value(json_object_get(o, "sessions"));
        json_int_t np = json_integer_value(json_object_get(o, "partitions"));
        json_int_t nr = json_integer_value(json_object_get(o, "reports"));
        json_int_t nc = json_integer_value(json_object_get(o, "starts"));
        if (ns || np || nr || nc)
                log_info("prune: %" JSON_INTEGER_FORMAT
                         " expired sessions deleted, %" JSON_INTEGER_FORMAT
                         " old counts of starts deleted, %" JSON_INTEGER_FORMAT
                         " report partitions dropped, %" JSON_INTEGER_FORMAT " old reports deleted",
                         ns, nc, np, nr);
        if (json_is_true(json_object_get(o, "more")) && !ctl_main.draining)
                (void)uring_timer_arm(ctl_main.loop, &prune_timer,
                                      uring_loop_now_ms(ctl_main.loop) + PRUNE_AGAIN);
        json_decref(o);
}

static void on_prune_timer(struct uring_loop *loop, struct uring_timer *t)
{
        const struct ctl_cfg *cfg = ctl_main.cfg;
        char sess[24], reports[24];

        (void)uring_timer_arm(loop, t, uring_loop_now_ms(loop) + PRUNE_EVERY);
        if (prune_inflight || ctl_main.draining)
                return;
        snprintf(sess, sizeof(sess), "%" PRId64, cfg->sessions_retention_ms / 1000);
        snprintf(reports, sizeof(reports), "%" PRId64, cfg->reports_retention_ms / 1000);
        const char *p[] = {sess, reports, PRUNE_BATCH};
        /* Set first: prune_done may run inside pgdb_exec (see pgdb.h). */
        prune_inflight = true;
        if (pgdb_exec(ctl_main.db, ctl_main.st.prune, p, 3, prune_done, NULL) < 0)
                prune_inflight = false;
}

/* Pinged from the loop itself, so a loop stuck in one handler stops the pings. */
static void on_watchdog_timer(struct uring_loop *loop, struct uring_timer *t)
{
        (void)notify_send(notify, "WATCHDOG=1");
        (void)uring_timer_arm(loop, t, uring_loop_now_ms(loop) + watchdog_every_ms);
}

static void on_signal(struct uring_loop *loop, void *owner, const struct io_uring_cqe *cqe)
{
        struct ctl *ctl = &ctl_main;

        if (cqe->res == (int)sizeof(sig_info)) {
                if (sig_info.ssi_signo == SIGHUP) {
                        (void)notify_send(notify, "RELOADING=1");
                        reload(ctl);
                        (void)notify_send(notify, "READY=1\nSTATUS=serving");
                } else if (!ctl->draining) {
                        (void)notify_send(notify, "STOPPING=1\nSTATUS=draining");
                        log_info("signal %u: draining", sig_info.ssi_signo);
                        ctl->draining = true;
                        ctl_server_drain(ctl->srv);
                        (void)uring_timer_arm(loop, &drain_timer,
                                              uring_loop_now_ms(loop) + DRAIN_MAX_MS);
                }
        }
        if (uring_loop_read(loop, sig_slot, CTL_OP_SIGNAL, sig_fd, &sig_info, sizeof(sig_info)) <
            0)
                log_error("cannot re-arm the signal reader");
}

/* Descriptors for max_connections clients, the database pool and the rest (listeners, the
 * loop, logs, the resolver): the soft limit goes up to the hard one (1024 by default, where
 * max_connections is 10,000), and a limit still short of it is said at start, not found as
 * refused connections and a database that cannot be reached. */
#define FDS_SPARE 64

static void fds_raise(const struct ctl_cfg *cfg)
{
        uint64_t want = (uint64_t)cfg->max_connections + (uint64_t)cfg->db.pool + CTL_ADMIN_POOL +
                        FDS_SPARE;
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                return;
        if (rl.rlim_cur < rl.rlim_max) {
                rl.rlim_cur = rl.rlim_max;
                (void)setrlimit(RLIMIT_NOFILE, &rl);
                (void)getrlimit(RLIMIT_NOFILE, &rl);
        }
        if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want)
                log_warn("open files limited to %llu, short of max_connections %lld + the "
                         "database pools %lld + %d + %d: raise LimitNOFILE (ulimit -n) or lower "
                         "max_connections",
                         (unsigned long long)rl.rlim_cur, (long long)cfg->max_connections,
                         (long long)cfg->db.pool, CTL_ADMIN_POOL, FDS_SPARE);
}

/*
 * The JSON library's free: each block is cleared first. Request bodies carry secrets (a
 * registration's content key, an edge's secret) that the parser copies into buffers of its own
 * (its token buffer, the values) and the dumper into the buffers it grows; no caller sees
 * those to wipe them.
 */
static void json_free_wiped(void *p)
{
        if (p)
                OPENSSL_cleanse(p, malloc_usable_size(p));
        free(p);
}

int main(int argc, char **argv)
{
        static const struct option opts[] = {
                {"config", required_argument, NULL, 'c'},
                {"check-config", no_argument, NULL, 'C'},
                {"help", no_argument, NULL, 'h'},
                {"version", no_argument, NULL, 'V'},
                {0},
        };
        struct ctl *ctl = &ctl_main;
        struct cfg_error cerr = {0};
        char kerr[256], merr[512];
        bool check = false;
        sigset_t sigs;
        int c, r, rc = 1;

        json_set_alloc_funcs(malloc, json_free_wiped);
        while ((c = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
                switch (c) {
                case 'c':
                        cfg_path = optarg;
                        break;
                case 'C':
                        check = true;
                        break;
                case 'h':
                        usage(stdout);
                        return 0;
                case 'V':
                        printf("sluice-control %s\n", SLUICE_VERSION);
                        return 0;
                default:
                        usage(stderr);
                        return 2;
                }
        }
        if (optind != argc) {
                usage(stderr);
                return 2;
        }
        /* Every database session in UTC: libpq sends PGTZ as the TimeZone of each connection
         * (the pool's and the migrations'), which the server applies over the conninfo's
         * options and any role or database setting. What SQL derives from now() as a date
         * (the daily report partitions, their bounds, pruning) must not follow the server's
         * zone, and every instance must agree on it. Set before any thread exists. */
        if (setenv("PGTZ", "UTC", 1) < 0) {
                fprintf(stderr, "sluice-control: %s\n", strerror(errno));
                return 1;
        }
        if (ctl_cfg_load(cfg_path, &ctl->cfg, &cerr) < 0) {
                fprintf(stderr, "%s\n", cerr.msg);
                return 2;
        }
        /* A copy for reloads to compare with (restart_only_changes). */
        if (!check && ctl_cfg_load(cfg_path, &ctl->start_cfg, &cerr) < 0)
                ctl->start_cfg = NULL;
        r = tables_build(ctl->cfg, &ctl->geo, &ctl->trusted);
        if (r < 0) {
                fprintf(stderr, "%s: country_prefixes or trusted_proxies: %s\n", cfg_path,
                        strerror(-r));
                return 2;
        }
        /* Control signs with these keys (HS256): each secret as long as the hash at least
         * (RFC 7518 3.2). The database refuses shorter ones (001_schema.sql); refused here,
         * where --check-config sees it, not in the migration at start-up. */
        r = token_keyset_load(ctl->cfg->tokens.keys_file, TOKEN_SIGN_SECRET_MIN, &ctl->keys, kerr,
                              sizeof(kerr));
        if (r < 0) {
                fprintf(stderr, "%s: tokens.keys_file: %s\n", cfg_path, kerr);
                return 2;
        }
        r = admin_token_load(ctl->cfg->admin.token_file, ctl->admin_token,
                             sizeof(ctl->admin_token), &ctl->admin_token_len);
        if (r < 0) {
                fprintf(stderr, "%s: admin.token_file %s: %s\n", cfg_path,
                        ctl->cfg->admin.token_file, admin_token_why(r));
                return 2;
        }
        if (check) {
                printf("%s: configuration ok\n", cfg_path);
                return 0;
        }
        if (log_init((enum log_level)log_level_parse(ctl->cfg->log.level), ctl->cfg->log.target) <
            0) {
                fprintf(stderr, "cannot open log target %s\n", ctl->cfg->log.target);
                return 2;
        }
        const char *target = ctl->cfg->log.target;
        if (target && strcmp(target, "stderr") && strcmp(target, "journal") &&
            !(log_file = strdup(target)))
                log_warn("out of memory: the log file will not be opened again on SIGHUP");

        /* Signals first, so a SIGTERM during migrations is not lost. */
        sigemptyset(&sigs);
        sigaddset(&sigs, SIGTERM);
        sigaddset(&sigs, SIGINT);
        sigaddset(&sigs, SIGHUP);
        sigaddset(&sigs, SIGPIPE);
        (void)sigprocmask(SIG_BLOCK, &sigs, NULL);
        sigdelset(&sigs, SIGPIPE);
        sig_fd = signalfd(-1, &sigs, SFD_CLOEXEC | SFD_NONBLOCK);

        r = notify_open(&notify);
        if (r < 0) {
                log_error("cannot open $NOTIFY_SOCKET: %s", strerror(-r));
                goto out;
        }

        {
                const char *kids[TOKEN_MAX_KEYS];
                const unsigned char *secrets[TOKEN_MAX_KEYS];
                size_t lens[TOKEN_MAX_KEYS];
                const struct ctl_cfg_prefix *rp[COUNTRIES_MAX];
                const char *countries[COUNTRIES_MAX], *regions[COUNTRIES_MAX];
                char keep[REGION_COUNTRIES_CAP];
                size_t nr = region_countries(ctl->cfg, rp, keep);
                for (size_t i = 0; i < ctl->keys.n; i++) {
                        kids[i] = ctl->keys.keys[i].kid;
                        secrets[i] = ctl->keys.keys[i].secret;
                        lens[i] = ctl->keys.keys[i].secret_len;
                }
                for (size_t i = 0; i < nr; i++) {
                        countries[i] = rp[i]->country;
                        regions[i] = rp[i]->region;
                }
                struct migrate_bootstrap boot = {
                    .kids = kids,
                    .secrets = secrets,
                    .secret_lens = lens,
                    .n_keys = ctl->keys.n,
                    .countries = countries,
                    .regions = regions,
                    .n_regions = nr,
                    .region_countries = keep,
                };
                r = migrate_run(ctl->cfg->database, (uint64_t)ctl->cfg->db.timeout_ms, &boot, merr,
                                sizeof(merr));
        }
        if (r < 0) {
                log_error("database: %s", merr);
                /* A schema this binary cannot run on stays so: no use restarting it. */
                if (r == -ESTALE)
                        rc = 3;
                goto out;
        }
        {
                const struct migration *last = &migrate_list[migrate_count - 1];
                if (r > 0)
                        log_info("database: schema version %u (%s), %d migration(s) applied",
                                 last->version, last->name, r);
                else
                        log_info("database: schema version %u (%s), up to date", last->version,
                                 last->name);
        }

        if (metrics_setup(&ctl->m) < 0) {
                log_error("out of memory");
                goto out;
        }
        fds_raise(ctl->cfg);
        struct uring_loop_params lp = {.buf_count = 512, .buf_size = 16384};
        r = uring_loop_new(&lp, &ctl->loop);
        if (r < 0) {
                log_error("cannot create the io_uring loop: %s", strerror(-r));
                goto out;
        }
        struct pgdb_params pp = {
            .conninfo = ctl->cfg->database,
            .pool_size = (unsigned)ctl->cfg->db.pool,
            .max_queue = (unsigned)ctl->cfg->db.max_queue,
            .query_timeout_ms = (uint64_t)ctl->cfg->db.timeout_ms,
            .connect_timeout_ms = (uint64_t)ctl->cfg->db.timeout_ms,
            .op_base = CTL_OP_PGDB,
            .on_reach = on_db_reach,
            .on_dns = on_db_dns,
        };
        if (pgdb_conninfo_needs_dns(ctl->cfg->database))
                log_info("database: the host is a name, resolved off the loop (again every "
                         "30 s and after a failed connection)");
        r = pgdb_new(ctl->loop, &pp, &ctl->db);
        if (r == 0) {
                pp.pool_size = CTL_ADMIN_POOL;
                pp.query_timeout_ms = (uint64_t)ctl->cfg->db.admin_timeout_ms;
                /* Opened when an admin change needs it, which may wait for it as long as for
                 * its statement: a database slow to take a connection (a loaded host) is not
                 * down. One that is down refuses the connection at once. */
                pp.connect_timeout_ms = (uint64_t)ctl->cfg->db.admin_timeout_ms;
                pp.op_base = CTL_OP_PGDB_ADMIN;
                pp.on_reach = on_admin_db_reach;
                pp.on_dns = NULL;
                r = pgdb_new(ctl->loop, &pp, &ctl->admin_db);
                if (r == 0)
                        pgdb_pair(ctl->db, ctl->admin_db);
        }
        if (r < 0 || (r = api_stmts_register(ctl)) < 0) {
                log_error("database pool: %s", strerror(-r));
                goto out;
        }
        r = ctl_cache_new((uint64_t)ctl->cfg->cache_ttl_ms, &ctl->cache);
        if (r == 0)
                r = session_batch_new(ctl->loop, ctl->db, ctl->st.playback_batch,
                                      ctl->m.session_statements, &ctl->sessions);
        if (r == 0) {
                struct session_behind_metrics bm = {.written = ctl->m.behind_written,
                                                    .dropped = ctl->m.behind_dropped,
                                                    .depth = ctl->m.behind_depth};
                r = session_behind_new(ctl->loop, ctl->db, ctl->st.session_starts_add, &bm,
                                       &ctl->behind);
        }
        if (r == 0)
                r = sessid_seen_new(4096, &ctl->seen);
        if (r == 0)
                r = report_limit_new(65536, (uint32_t)mono_ns() ^ (uint32_t)getpid(),
                                     &ctl->report_limit);
        if (r == 0)
                r = edge_auth_new((uint64_t)ctl->cfg->edge_secret_ttl_ms, &ctl->edge_auth);
        if (r == 0)
                r = mpd_cache_new(&ctl->mpd_cache);
        if (r < 0) {
                log_error("out of memory");
                goto out;
        }
        r = ctl_server_start(ctl, &ctl->srv);
        if (r < 0)
                goto out;
        uring_loop_set_handler(ctl->loop, CTL_OP_SIGNAL, on_signal);
        if (sig_fd < 0 || uring_loop_slot_alloc(ctl->loop, ctl, NULL, &sig_slot) < 0 ||
            uring_loop_read(ctl->loop, sig_slot, CTL_OP_SIGNAL, sig_fd, &sig_info,
                            sizeof(sig_info)) < 0) {
                log_error("cannot watch signals");
                goto out;
        }
        uring_timer_init(&drain_timer, on_drain_timer);
        uring_timer_init(&partitions_timer, on_partitions_timer);
        (void)uring_timer_arm(ctl->loop, &partitions_timer,
                              uring_loop_now_ms(ctl->loop) + PARTITIONS_EVERY);
        uring_timer_init(&prune_timer, on_prune_timer);
        (void)uring_timer_arm(ctl->loop, &prune_timer, uring_loop_now_ms(ctl->loop) + PRUNE_FIRST);
        uring_loop_set_iter_hook(ctl->loop, drain_check, ctl);
        api_keys_refresh_start(ctl);
        api_cache_start(ctl);
        uring_timer_init(&watchdog_timer, on_watchdog_timer);
        watchdog_every_ms = notify_ping_every_us(notify) / 1000u; /* 1 at least, or 0 */
        if (watchdog_every_ms)
                (void)uring_timer_arm(ctl->loop, &watchdog_timer,
                                      uring_loop_now_ms(ctl->loop) + watchdog_every_ms);
        log_info("sluice-control %s ready (public URL %s)", SLUICE_VERSION, ctl->cfg->public_url);
        /* Migrations ran and the listeners accept: the service manager may start what
         * depends on us. */
        (void)notify_send(notify, "READY=1\nSTATUS=serving");

        r = uring_loop_run(ctl->loop);
        if (r < 0) {
                log_error("loop failed: %s", strerror(-r));
                goto out;
        }
        log_info("drained, exiting");
        rc = 0;
out:
        if (ctl->loop)
                uring_loop_set_iter_hook(ctl->loop, NULL, NULL);
        if (ctl->srv)
                ctl_server_free(ctl->srv);
        ctl->srv = NULL;
        /* Before the pool: what it has not sent yet is answered (503) while requests can
         * still be replied to. */
        session_batch_free(ctl->sessions);
        ctl->sessions = NULL;
        if (ctl->db)
                pgdb_free(ctl->db);
        ctl->db = NULL;
        if (ctl->admin_db)
                pgdb_free(ctl->admin_db);
        ctl->admin_db = NULL;
        /* After the pool, which answers its in-flight statement before it goes. */
        if (ctl->behind && session_behind_depth(ctl->behind) > 0)
                log_warn("exit: %zu count(s) of warm starts not written behind",
                         session_behind_depth(ctl->behind));
        session_behind_free(ctl->behind);
        ctl->behind = NULL;
        sessid_seen_free(ctl->seen);
        ctl->seen = NULL;
        report_limit_free(ctl->report_limit);
        ctl->report_limit = NULL;
        /* Let the closed listeners, connections and database sockets see their last
         * completions, so each is freed by its owner rather than leaked at exit. */
        if (ctl->loop && uring_loop_settle(ctl->loop, 1000) < 0)
                log_debug("exit: some owners still had operations in flight, ignoring");
        if (ctl->loop)
                uring_loop_free(ctl->loop);
        ctl_cache_free(ctl->cache);
        edge_auth_free(ctl->edge_auth);
        mpd_cache_free(ctl->mpd_cache);
        geo_table_free(ctl->geo);
        geo_table_free(ctl->trusted);
        OPENSSL_cleanse(&ctl->keys, sizeof(ctl->keys));
        OPENSSL_cleanse(ctl->admin_token, sizeof(ctl->admin_token));
        metrics_reg_free(ctl->m.reg);
        ctl_cfg_free(ctl->cfg);
        ctl_cfg_free(ctl->start_cfg);
        notify_free(notify);
        notify = NULL;
        if (sig_fd >= 0)
                (void)close(sig_fd);
        return rc;
}
