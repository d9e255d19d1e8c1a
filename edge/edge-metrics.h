/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>

/*
 * The edge's Prometheus metrics (names listed in docs/edge.md). Created once at start-up in
 * the shared registry; updates go to the calling worker's slot (metrics_set_worker()).
 */

struct metrics_reg;
struct metric;

#define EDGE_METRICS_WORKERS_MAX 64

/* Why a player's request was refused 403 by the signed-URL check. */
enum edge_token_refusal {
        TOKEN_REFUSED_MISSING,     /* no token in the URL */
        TOKEN_REFUSED_NO_KEYS,     /* tokens required but no key set loaded */
        TOKEN_REFUSED_MALFORMED,   /* not a parsable, supported JWT */
        TOKEN_REFUSED_UNKNOWN_KID, /* signed with a kid the key set lacks */
        TOKEN_REFUSED_SIGNATURE,   /* bad signature */
        TOKEN_REFUSED_EXPIRED,     /* exp in the past */
        TOKEN_REFUSED_NOT_YET,     /* nbf/iat in the future */
        TOKEN_REFUSED_SCOPE,       /* URI container or client address does not match */
        TOKEN_REFUSED_UNBOUNDED,   /* no exp or no cdniuc (tokens.allow_unbounded off) */
        EDGE_TOKEN_REFUSAL_REASONS
};
/* Heartbeats to control, by what came of them (heartbeat.c). */
enum edge_heartbeat_result {
        EDGE_HEARTBEAT_OK,      /* 2xx: control took it */
        EDGE_HEARTBEAT_FAILED,  /* no answer (connect, timeout) or another status */
        EDGE_HEARTBEAT_REFUSED, /* 401: the secret or this clock is not what control expects */
        EDGE_HEARTBEAT_UNKNOWN, /* 404: control knows no edge of this id */
        EDGE_HEARTBEAT_RESULTS
};
#define EDGE_H2_GOAWAY_CODES 15 /* RFC 9113 codes 0x0..0xd, then "other" */

struct edge_metrics {
        struct metric *requests[6]; /* by status class: [1]=1xx ... [5]=5xx; [0] other */
        struct metric *bytes_sent;
        struct metric *conns_open;
        struct metric *reloads_ok, *reloads_failed, *reload_ok; /* SIGHUP; the last one took */
        struct metric *conns_accepted;
        struct metric *conns_refused; /* over max_connections */
        struct metric *timeouts[3];   /* header, idle, send */
        struct metric *hits;
        struct metric *misses;
        struct metric *not_modified;
        struct metric *precond_failed;
        struct metric *ranges;
        struct metric *range_unsatisfiable;
        struct metric *refusals_400, *refusals_414, *refusals_431, *refusals_501, *refusals_505;
        struct metric *admin_puts, *admin_deletes;
        /* Admin PUTs refused, by reason (admin.c) */
        struct metric *admin_put_full, *admin_put_declined, *admin_put_large, *admin_put_bad;
        struct metric *collapsed;      /* misses that joined a fill already under way */
        struct metric *negative_hits;  /* 404s answered from the negative cache */
        struct metric *prefetches;     /* fills started by a CMCD nor hint */
        struct metric *prefetch_starts;  /* fills started for a player's start (CMCD su) */
        struct metric *prefetch_dropped; /* prefetches over cache.prefetch_max */
        struct metric *fills_ok, *fills_failed, *fills_missing;
        struct metric *fills_store_full; /* the store could not keep it: disk or index full */
        struct metric *fills_superseded; /* not kept: an admin PUT or DELETE came meanwhile */
        struct metric *fills_not_modified; /* revalidations the upstream answered 304 */
        struct metric *fills_too_large;  /* refused: larger than the whole cache budget */
        struct metric *fill_commits;       /* whole bodies handed to a commit */
        struct metric *fill_commit_groups; /* the groups they were committed in */
        struct metric *fill_commits_overdue; /* ran past limits.commit_timeout */
        struct metric *fills_busy;       /* not started: cache.max_fills in flight */
        struct metric *upstream_bytes_parent, *upstream_bytes_origin;
        struct metric *upstream_failures;
        struct metric *parent_refusals; /* a parent answered 401/403 to our peer token */
        struct metric *evictions, *evicted_bytes, *admission_refused;
        struct metric *damaged_open, *damaged_scrub, *damaged_plan; /* dropped as damaged, by */
        struct metric *scrub_objects, *scrub_bytes, *scrub_passes;
        struct metric *plan_sums;   /* gauge: catalog SHA-256s fills are checked against */
        struct metric *plan_checked; /* fills checked against one of them */
        struct metric *fd_files;     /* gauge: object files the workers' fd caches hold open */
        struct metric *fd_opens, *fd_shed; /* files opened; idle ones closed for a full table */
        struct metric *token_refusals[EDGE_TOKEN_REFUSAL_REASONS];
        struct metric *h2_streams, *h2_client_resets, *h2_misses_held;
        struct metric *h2_goaways[EDGE_H2_GOAWAY_CODES]; /* by our GOAWAY's code; [0] NULL */
        struct metric *worker_requests[EDGE_METRICS_WORKERS_MAX];
        struct metric *worker_yields[EDGE_METRICS_WORKERS_MAX];
        unsigned n_workers;
        /* Idle, closed at max_connections for a new one, and heartbeats to control by result.
         * Last, so that the metrics the hit path counts keep their places. */
        struct metric *conns_idle_closed;
        struct metric *heartbeats[EDGE_HEARTBEAT_RESULTS];
};

/*
 * Register every metric in reg, with a per-worker request counter for n_workers workers.
 * Start-up only. Returns 0 or -ENOMEM.
 */
int edge_metrics_init(struct edge_metrics *m, struct metrics_reg *reg, unsigned n_workers);

/* One finished client request: counts by class, bytes and the per-worker counter. */
void edge_metrics_request(struct edge_metrics *m, unsigned worker, int status, uint64_t bytes);
void edge_metrics_yield(struct edge_metrics *m, unsigned worker);
/* A request the parser refused with status (400/414/431/501/505). */
void edge_metrics_refusal(struct edge_metrics *m, int status);

/* The label value of a token refusal reason ("expired"), for metrics and logs. */
const char *edge_metrics_token_reason(enum edge_token_refusal why);

/* A GOAWAY this edge sent with error code. */
void edge_metrics_goaway(struct edge_metrics *m, uint32_t code);

struct store_stats;
/*
 * Append the store's gauges (bytes used, size limit, objects), read at render time, to the
 * exposition in *buf (malloc'd, *len bytes; replaced on success). Returns 0 or -ENOMEM (*buf
 * kept).
 */
int edge_metrics_append_store(const struct store_stats *st, char **buf, size_t *len);
