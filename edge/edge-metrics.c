/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

#include "edge-metrics.h"
#include "h2.h"
#include "store.h"

static const char *const token_reasons[EDGE_TOKEN_REFUSAL_REASONS] = {
    [TOKEN_REFUSED_MISSING] = "missing",         [TOKEN_REFUSED_NO_KEYS] = "no_keys",
    [TOKEN_REFUSED_MALFORMED] = "malformed",     [TOKEN_REFUSED_UNKNOWN_KID] = "unknown_kid",
    [TOKEN_REFUSED_SIGNATURE] = "bad_signature", [TOKEN_REFUSED_EXPIRED] = "expired",
    [TOKEN_REFUSED_NOT_YET] = "not_yet_valid",   [TOKEN_REFUSED_SCOPE] = "scope",
    [TOKEN_REFUSED_UNBOUNDED] = "unbounded",
};

#define C(field, name, help, labels)                                                               \
        do {                                                                                       \
                m->field = metrics_counter_new(reg, name, help, labels);                           \
                if (!m->field)                                                                     \
                        return -ENOMEM;                                                            \
        } while (0)

int edge_metrics_init(struct edge_metrics *m, struct metrics_reg *reg, unsigned n_workers)
{
        static const char *const classes[6] = {
            "class=\"other\"", "class=\"1xx\"", "class=\"2xx\"",
            "class=\"3xx\"",   "class=\"4xx\"", "class=\"5xx\"",
        };
        static const char *const timeouts[3] = {"kind=\"header\"", "kind=\"idle\"",
                                                "kind=\"send\""};
        const char *rq = "Client requests answered, by status class";

        for (unsigned i = 0; i < 6; i++)
                C(requests[i], "sluice_edge_requests_total", rq, classes[i]);
        C(bytes_sent, "sluice_edge_sent_bytes_total", "Bytes written to clients (head and body)",
          NULL);
        m->conns_open =
            metrics_gauge_new(reg, "sluice_edge_connections_open", "Client connections open", NULL);
        if (!m->conns_open)
                return -ENOMEM;
        C(conns_accepted, "sluice_edge_connections_accepted_total", "Client connections accepted",
          NULL);
        C(reloads_ok, "sluice_edge_config_reloads_total", "Configuration reloads (SIGHUP), by result",
          "result=\"ok\"");
        C(reloads_failed, "sluice_edge_config_reloads_total",
          "Configuration reloads (SIGHUP), by result", "result=\"failed\"");
        m->reload_ok = metrics_gauge_new(reg, "sluice_edge_config_last_reload_successful",
                                         "1 when the last reload applied the file (or none was "
                                         "asked for), 0 when it was refused",
                                         NULL);
        if (!m->reload_ok)
                return -ENOMEM;
        metrics_gauge_set(m->reload_ok, 1);
        static const char *const beats[EDGE_HEARTBEAT_RESULTS] = {
            [EDGE_HEARTBEAT_OK] = "result=\"ok\"",
            [EDGE_HEARTBEAT_FAILED] = "result=\"failed\"",
            [EDGE_HEARTBEAT_REFUSED] = "result=\"refused\"",
            [EDGE_HEARTBEAT_UNKNOWN] = "result=\"unknown_edge\"",
        };
        for (unsigned i = 0; i < EDGE_HEARTBEAT_RESULTS; i++)
                C(heartbeats[i], "sluice_edge_heartbeats_total",
                  "Heartbeats sent to control, by result", beats[i]);
        C(conns_refused, "sluice_edge_connections_refused_total",
          "Connections closed at accept because max_connections was reached", NULL);
        C(conns_idle_closed, "sluice_edge_connections_idle_closed_total",
          "Idle connections closed at max_connections to take a new one", NULL);
        for (unsigned i = 0; i < 3; i++)
                C(timeouts[i], "sluice_edge_timeouts_total",
                  "Connections closed by a deadline, by kind", timeouts[i]);
        C(hits, "sluice_edge_cache_hits_total", "Requests served from the store", NULL);
        C(misses, "sluice_edge_cache_misses_total", "Requests for keys the store does not hold",
          NULL);
        C(not_modified, "sluice_edge_not_modified_total", "304 responses", NULL);
        C(precond_failed, "sluice_edge_precondition_failed_total", "412 responses", NULL);
        C(ranges, "sluice_edge_range_requests_total", "206 responses", NULL);
        C(range_unsatisfiable, "sluice_edge_range_unsatisfiable_total", "416 responses", NULL);
        C(refusals_400, "sluice_edge_parse_refusals_total", "Requests refused by the parser",
          "status=\"400\"");
        C(refusals_414, "sluice_edge_parse_refusals_total", "Requests refused by the parser",
          "status=\"414\"");
        C(refusals_431, "sluice_edge_parse_refusals_total", "Requests refused by the parser",
          "status=\"431\"");
        C(refusals_501, "sluice_edge_parse_refusals_total", "Requests refused by the parser",
          "status=\"501\"");
        C(refusals_505, "sluice_edge_parse_refusals_total", "Requests refused by the parser",
          "status=\"505\"");
        C(admin_puts, "sluice_edge_admin_puts_total", "Objects committed through the admin API",
          NULL);
        C(admin_deletes, "sluice_edge_admin_deletes_total", "Objects deleted through the admin API",
          NULL);
#define ADMIN_REFUSED "Admin API PUTs refused, nothing committed"
        C(admin_put_full, "sluice_edge_admin_put_refusals_total", ADMIN_REFUSED,
          "reason=\"store_full\"");
        C(admin_put_declined, "sluice_edge_admin_put_refusals_total", ADMIN_REFUSED,
          "reason=\"declined\"");
        C(admin_put_large, "sluice_edge_admin_put_refusals_total", ADMIN_REFUSED,
          "reason=\"too_large\"");
        C(admin_put_bad, "sluice_edge_admin_put_refusals_total", ADMIN_REFUSED,
          "reason=\"mismatch\"");
#undef ADMIN_REFUSED

        C(collapsed, "sluice_edge_collapsed_requests_total",
          "Misses answered from a fill another request started (RFC 9211 collapsed)", NULL);
        C(negative_hits, "sluice_edge_negative_hits_total",
          "404s answered from the negative cache", NULL);
        C(prefetches, "sluice_edge_prefetches_total",
          "Fills started for the next object a player named (CMCD nor)", NULL);
        C(prefetch_starts, "sluice_edge_start_prefetches_total",
          "Fills started for the first segments of a representation a player starts (CMCD su)",
          NULL);
        C(prefetch_dropped, "sluice_edge_prefetch_dropped_total",
          "CMCD prefetches not started: the worker had cache.prefetch_max prefetches in flight",
          NULL);
        C(fills_ok, "sluice_edge_fills_total", "Upstream fills, by outcome", "result=\"committed\"");
        C(fills_failed, "sluice_edge_fills_total", "Upstream fills, by outcome", "result=\"failed\"");
        C(fills_missing, "sluice_edge_fills_total", "Upstream fills, by outcome",
          "result=\"not_found\"");
        C(fills_store_full, "sluice_edge_fills_total", "Upstream fills, by outcome",
          "result=\"store_full\"");
        C(fills_too_large, "sluice_edge_fills_total", "Upstream fills, by outcome",
          "result=\"too_large\"");
        C(fills_superseded, "sluice_edge_fills_total", "Upstream fills, by outcome",
          "result=\"superseded\"");
        C(fills_not_modified, "sluice_edge_fills_total", "Upstream fills, by outcome",
          "result=\"not_modified\"");
        C(fill_commits, "sluice_edge_fill_commits_total",
          "Whole fill bodies committed (checked, synced, indexed), refused ones included", NULL);
        C(fill_commit_groups, "sluice_edge_fill_commit_groups_total",
          "Groups those commits ran in: one index commit and one sync per directory each", NULL);
        C(fill_commits_overdue, "sluice_edge_fill_commits_overdue_total",
          "Commits still running at limits.commit_timeout: their waiting answers were closed",
          NULL);
        C(fills_busy, "sluice_edge_fills_busy_total",
          "Misses answered 503: cache.max_fills fills were in flight", NULL);
        C(upstream_bytes_parent, "sluice_edge_upstream_bytes_total",
          "Body bytes received from upstreams, by kind", "from=\"parent\"");
        C(upstream_bytes_origin, "sluice_edge_upstream_bytes_total",
          "Body bytes received from upstreams, by kind", "from=\"origin\"");
        C(upstream_failures, "sluice_edge_upstream_failures_total",
          "Upstream fetches that failed before a usable head (connect, timeout, 5xx)", NULL);
        C(parent_refusals, "sluice_edge_parent_refusals_total",
          "Parent fetches answered 401/403 (peer token missing or not accepted), failed over to "
          "the next upstream",
          NULL);
        C(evictions, "sluice_edge_evictions_total", "Objects evicted by the cache policy", NULL);
        C(evicted_bytes, "sluice_edge_evicted_bytes_total", "Bytes evicted by the cache policy",
          NULL);
        C(admission_refused, "sluice_edge_admission_refused_total",
          "Fills served but not kept: the admission filter preferred what the cache holds", NULL);
        C(damaged_open, "sluice_edge_damaged_objects_total",
          "Cached objects found changed behind the edge's back, dropped and left to refill, by "
          "what found them",
          "found_by=\"open\"");
        C(damaged_scrub, "sluice_edge_damaged_objects_total", NULL, "found_by=\"scrub\"");
        C(damaged_plan, "sluice_edge_damaged_objects_total", NULL, "found_by=\"plan\"");
        C(scrub_objects, "sluice_edge_scrub_objects_total",
          "Cached objects re-read and checked against their SHA-256 by the background scrub", NULL);
        C(scrub_bytes, "sluice_edge_scrub_bytes_total", "Bytes re-read by the background scrub",
          NULL);
        C(scrub_passes, "sluice_edge_scrub_passes_total",
          "Background scrub passes completed over the whole cache", NULL);
        m->plan_sums = metrics_gauge_new(reg, "sluice_edge_plan_sums",
                                         "Objects of the fill plan whose SHA-256 fills are "
                                         "checked against",
                                         NULL);
        if (!m->plan_sums)
                return -ENOMEM;
        C(plan_checked, "sluice_edge_plan_checked_fills_total",
          "Fills whose body was checked against the fill plan's SHA-256", NULL);
        m->fd_files = metrics_gauge_new(reg, "sluice_edge_fd_cache_files",
                                        "Object files held open by the workers' descriptor "
                                        "caches (at most cache.fd_cache each)",
                                        NULL);
        if (!m->fd_files)
                return -ENOMEM;
        C(fd_opens, "sluice_edge_fd_cache_opens_total",
          "Object files opened: lookups the descriptor cache could not answer", NULL);
        C(fd_shed, "sluice_edge_fd_cache_shed_total",
          "Idle cached object files closed early because the descriptor table was full", NULL);

        for (unsigned i = 0; i < EDGE_TOKEN_REFUSAL_REASONS; i++) {
                char label[40];
                (void)snprintf(label, sizeof(label), "reason=\"%s\"", token_reasons[i]);
                C(token_refusals[i], "sluice_edge_token_refusals_total",
                  "Player requests refused 403 by the signed-URL check, by reason", label);
        }
        C(h2_streams, "sluice_edge_h2_streams_total", "HTTP/2 requests (streams) dispatched",
          NULL);
        C(h2_client_resets, "sluice_edge_h2_client_resets_total",
          "HTTP/2 streams the client reset before their answer was out", NULL);
        C(h2_misses_held, "sluice_edge_h2_misses_held_total",
          "HTTP/2 misses held until one of the fills their connection started had its head",
          NULL);
        for (unsigned i = 1; i < EDGE_H2_GOAWAY_CODES; i++) { /* NO_ERROR is no error */
                char label[48];
                (void)snprintf(label, sizeof(label), "code=\"%s\"",
                               i < H2_ERROR_CODES ? h2_error_name(i) : "other");
                C(h2_goaways[i], "sluice_edge_h2_goaways_total",
                  "HTTP/2 connections this edge ended with a GOAWAY error, by code", label);
        }

        if (n_workers > EDGE_METRICS_WORKERS_MAX)
                n_workers = EDGE_METRICS_WORKERS_MAX;
        for (unsigned i = 0; i < n_workers; i++) {
                char label[32];
                (void)snprintf(label, sizeof(label), "worker=\"%u\"", i);
                C(worker_requests[i], "sluice_edge_worker_requests_total",
                  "Client requests answered, by worker thread", label);
                C(worker_yields[i], "sluice_edge_worker_yields_total",
                  "Times a client worker gave up its core after a loop iteration because other "
                  "work on the core kept it waiting (worker_yield)",
                  label);
        }
        m->n_workers = n_workers;
        return 0;
}

void edge_metrics_request(struct edge_metrics *m, unsigned worker, int status, uint64_t bytes)
{
        unsigned cls = status >= 100 && status < 600 ? (unsigned)status / 100 : 0;

        metrics_add(m->requests[cls], 1);
        metrics_add(m->bytes_sent, bytes);
        if (worker < m->n_workers)
                metrics_add(m->worker_requests[worker], 1);
}

void edge_metrics_yield(struct edge_metrics *m, unsigned worker)
{
        if (worker < m->n_workers)
                metrics_add(m->worker_yields[worker], 1);
}

void edge_metrics_refusal(struct edge_metrics *m, int status)
{
        switch (status) {
        case 414:
                metrics_add(m->refusals_414, 1);
                break;
        case 431:
                metrics_add(m->refusals_431, 1);
                break;
        case 501:
                metrics_add(m->refusals_501, 1);
                break;
        case 505:
                metrics_add(m->refusals_505, 1);
                break;
        default:
                metrics_add(m->refusals_400, 1);
                break;
        }
}

const char *edge_metrics_token_reason(enum edge_token_refusal why)
{
        return why < EDGE_TOKEN_REFUSAL_REASONS ? token_reasons[why] : "other";
}

void edge_metrics_goaway(struct edge_metrics *m, uint32_t code)
{
        metrics_add(m->h2_goaways[code < H2_ERROR_CODES ? code : EDGE_H2_GOAWAY_CODES - 1], 1);
}

int edge_metrics_append_store(const struct store_stats *st, char **buf, size_t *len)
{
        char tail[768];
        int n = snprintf(tail, sizeof(tail),
                         "# HELP sluice_edge_cache_bytes Bytes of content the cache holds\n"
                         "# TYPE sluice_edge_cache_bytes gauge\n"
                         "sluice_edge_cache_bytes %llu\n"
                         "# HELP sluice_edge_cache_max_bytes The cache's size limit "
                         "(cache.max_size)\n"
                         "# TYPE sluice_edge_cache_max_bytes gauge\n"
                         "sluice_edge_cache_max_bytes %llu\n"
                         "# HELP sluice_edge_cache_objects Objects the cache holds\n"
                         "# TYPE sluice_edge_cache_objects gauge\n"
                         "sluice_edge_cache_objects %llu\n",
                         (unsigned long long)st->bytes, (unsigned long long)st->max_bytes,
                         (unsigned long long)st->objects);
        char *p;

        if (n < 0 || (size_t)n >= sizeof(tail))
                return -ENOMEM;
        p = realloc(*buf, *len + (size_t)n + 1);
        if (!p)
                return -ENOMEM;
        memcpy(p + *len, tail, (size_t)n + 1);
        *buf = p;
        *len += (size_t)n;
        return 0;
}
