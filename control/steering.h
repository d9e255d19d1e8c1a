/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Edge ranking for one client and the DASH-IF Content Steering response (VERSION 1, TTL,
 * RELOAD-URI, PATHWAY-PRIORITY, PATHWAY-CLONES). I/O-free and deterministic: the same inputs
 * give the same order (ties broken by capacity, then id).
 *
 * Scoring (integers, higher is better; documented in docs/manifests.md):
 *   - dead edges are dropped: no heartbeat ever, or the last one older than
 *     2 × heartbeat_period_s (a disabled edge is dropped too);
 *   - +1000 same region as the client;
 *   - +400 the edge holds the title;
 *   - -600 × load (load clamped to 0..1); an edge at load >= 0.95 also loses the region bonus,
 *     so a full local edge sends clients to a neighbour before it tips over;
 *   - +150 the pathway the client is using now (_DASH_pathway naming one pathway only), to
 *     avoid flapping between near-equal edges; -300 instead for any pathway it names with a
 *     reported throughput below poor_throughput_bps (it is struggling there).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STEERING_EDGES_MAX    256
#define STEERING_PATHWAYS_MAX 16 /* entries read from _DASH_pathway / _DASH_throughput */
#define STEERING_ID_MAX       129 /* pathway id: an edge id (1..128 bytes), incl. NUL */
#define STEERING_OUT_MAX      (64u << 10)
/* Pathways a response lists, the best ranked: a player takes the first it can reach. All 256
 * of long ids, with their clones, could pass STEERING_OUT_MAX. */
#define STEERING_PRIORITY_MAX 32
/* The query argument of the MPD's ContentSteering URL that names the pathways (BaseURL
 * serviceLocations) written into that MPD, comma-separated, in its order (mpd.c writes it).
 * Steering clones exactly the ranked edges missing from it: the MPD the player holds is the
 * only record of what it can reach, and it travels with every steering request, whichever
 * instance made the MPD and however long ago. */
#define STEERING_MANIFEST_ARG    "pathways"
#define STEERING_MANIFEST_MAX    16  /* pathways an MPD lists (MPD_EDGES_MAX) */
#define STEERING_MANIFEST_ID_MAX 129 /* an edge id (sluice_id: 1..128 bytes), incl. NUL */

/* One edge as control knows it. Strings borrowed. */
struct steering_edge {
        const char *id;         /* serviceLocation / pathway id */
        const char *region;     /* e.g. "eu-west" */
        const char *base_url;   /* "http://host:port" */
        int64_t last_heartbeat; /* unix seconds; 0: never */
        double load;            /* 0..1 as reported */
        uint64_t capacity;      /* bit/s it can serve; tie-breaker */
        bool holds_title;       /* the title is in its last heartbeat's "titles" list */
        bool disabled;          /* taken out by an operator */
};

/* The steering request's query: what the player says about its pathways. */
struct steering_query {
        size_t n; /* entries in _DASH_pathway */
        char pathway[STEERING_PATHWAYS_MAX][STEERING_ID_MAX];
        int64_t throughput[STEERING_PATHWAYS_MAX]; /* bit/s per entry; -1 unknown */
        int current; /* index of the pathway in use: 0 when it is the only entry; -1 not known */
        /* STEERING_MANIFEST_ARG: the pathways of the MPD the player holds. has_manifest false
         * when the argument is absent (a URL not taken from an MPD): then nothing is known to
         * be missing from the player's MPD and nothing is cloned. */
        bool has_manifest;
        size_t n_manifest;
        char manifest[STEERING_MANIFEST_MAX][STEERING_MANIFEST_ID_MAX];
};

struct steering_client {
        const char *region;                 /* from the geo table / session; NULL unknown */
        const struct steering_query *query; /* NULL: first request or none */
        int64_t now;                        /* unix seconds */
        unsigned heartbeat_period_s;        /* edges heartbeat this often; > 0 */
        uint64_t poor_throughput_bps; /* below this the current pathway is penalised; 0: never */
};

/* One ranked entry: index into the caller's edge array and its score. */
struct steering_rank {
        size_t idx;
        int64_t score;
};

/* control's heartbeat_period (ms) as steering_client.heartbeat_period_s: whole seconds, rounded
 * up, so that a period such as 1500 ms never makes an edge on time look two periods late. */
unsigned steering_period_s(int64_t heartbeat_period_ms);

/*
 * steering_edge_alive: whether an edge counts as alive at now (see the rules above).
 */
bool steering_edge_alive(const struct steering_edge *e, int64_t now, unsigned heartbeat_period_s);

/*
 * steering_edges_rank: rank the alive edges of edges[0..n) for client c, best first, into
 * ret[0..cap). Returns the number written (0 when no edge is alive), or -EINVAL (n over
 * STEERING_EDGES_MAX, NULL edge id, zero heartbeat period).
 */
int steering_edges_rank(const struct steering_edge *edges, size_t n,
                        const struct steering_client *c, struct steering_rank *ret, size_t cap);

/*
 * steering_query_parse: read _DASH_pathway, _DASH_throughput and STEERING_MANIFEST_ARG from a
 * URL query string (without '?'; percent-decoding applied). dash.js sends
 * `_DASH_pathway="a,b"` (quoted, comma-separated: those used since the last request, in the
 * order first used; current is the only entry when there is one, else -1) and
 * `_DASH_throughput=5000000,` (bit/s, empty for unknown), added to the URL the MPD (or the
 * last RELOAD-URI) gave, which carries `pathways=a,b`. Unknown arguments are ignored;
 * over-long or malformed ids and entries past the maxima are dropped (ignoring). Always fills
 * *ret (n 0 and has_manifest false when absent). Returns 0, or -EINVAL when len exceeds
 * 8192.
 */
int steering_query_parse(const char *query, size_t len, struct steering_query *ret);

/*
 * steering_json_build: the steering response for ranked edges.
 * PATHWAY-PRIORITY lists ranked ids in order, the first STEERING_PRIORITY_MAX. Edges whose id is not in manifest_ids (the
 * serviceLocations of the MPD the client holds) are sent as PATHWAY-CLONES of the best-ranked
 * manifest pathway with URI-REPLACEMENT HOST set to the edge's host[:port], so an edge the
 * MPD left out (down then, outside its top MPD_EDGES_MAX, or registered since) can still
 * take clients (the path-carried token is scoped to the title path, not the host); an id in
 * manifest_ids is never a clone. The base is the best-ranked manifest pathway, else the first
 * one found among edges[0..n_edges) (alive or not); an edge whose base_url differs from the
 * base's in more than its authority is left out. With no manifest pathway among edges
 * (disabled or removed since), clones are sent only when all edges' URLs differ in their
 * authority alone. reload_uri may be NULL (omitted).
 * On success *ret is a NUL-terminated malloc'd string (caller frees). Returns 0; -EINVAL
 * (ttl 0, a clone without any manifest pathway to base on: it is then left out instead, so
 * this only happens for bad pointers); -E2BIG; -ENOMEM.
 */
int steering_json_build(const struct steering_edge *edges, size_t n_edges,
                        const struct steering_rank *rank, size_t n_rank,
                        const char *const *manifest_ids, size_t n_manifest_ids, unsigned ttl_s,
                        const char *reload_uri, char **ret, size_t *ret_len);
