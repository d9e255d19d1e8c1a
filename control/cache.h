/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/*
 * Warm caches for the manifest and steering paths, so a session's manifest needs no database
 * round trip while its data is fresh. Each copy is bounded in age by cache_ttl (every
 * instance sees another's changes within it) and, where the database can say more, by the
 * data itself: a session's entry lapses at its expiry and at the next licence boundary of
 * its title in its country, so licence windows hold to the second whatever the TTL. ClearKey
 * licences never use these caches.
 *
 * Direct-mapped tables (a colliding entry replaces the old one): no allocation per lookup,
 * memory fixed at start. Loop thread only. ttl_ms 0 disables (every lookup misses).
 */

struct asset;
struct ctl_cache;

#define CTL_CACHE_ID_MAX 129

/* A session as the manifest path needs it (a copy; markers is a reference the holder owns). */
struct ctl_session {
        char sid[33];
        char title[CTL_CACHE_ID_MAX];
        char asset[CTL_CACHE_ID_MAX];
        char country[3];
        char region[65];
        int64_t created, expires; /* epoch seconds */
        int64_t asset_version;
        bool licensed;
        double licence_change;    /* epoch seconds of the next licence boundary; 0: none */
        double licence_end;       /* epoch seconds the licence coverage ends; 0: open-ended */
        json_t *markers;
};

int ctl_cache_new(uint64_t ttl_ms, struct ctl_cache **ret);
void ctl_cache_free(struct ctl_cache *c);
uint64_t ctl_cache_ttl(const struct ctl_cache *c);

/*
 * Look up sid; on a fresh hit copy it into *ret (taking a markers reference; release with
 * ctl_session_done) and return true. now_ms is the loop clock, wall the epoch time.
 */
bool ctl_cache_session_get(struct ctl_cache *c, const char *sid, uint64_t now_ms, double wall,
                           struct ctl_session *ret);
/*
 * Parse a session object (sluice_session_lite's shape) into *ret and, when the cache is on,
 * store a copy. Returns 0 or -EINVAL for a malformed object.
 */
int ctl_cache_session_put(struct ctl_cache *c, json_t *o, uint64_t now_ms,
                          struct ctl_session *ret);
void ctl_session_done(struct ctl_session *s);

/* A parsed asset shared between the cache and requests using it. */
struct ctl_asset_ref;
const struct asset *ctl_asset_ref_asset(const struct ctl_asset_ref *r);
/* Drop a reference (NULL is fine); the asset is freed with the last one. */
void ctl_asset_ref_unref(struct ctl_asset_ref *r);

/* A new reference to the parsed asset id at version, or NULL. */
struct ctl_asset_ref *ctl_cache_asset_get(struct ctl_cache *c, const char *id, int64_t version,
                                          uint64_t now_ms);
/*
 * Wrap a parsed asset (ownership taken) and, when the cache is on, keep it under id/version.
 * Returns a new reference for the caller, or NULL on OOM (a is then freed).
 */
struct ctl_asset_ref *ctl_cache_asset_put(struct ctl_cache *c, const char *id, int64_t version,
                                          struct asset *a, uint64_t now_ms);

/* A new reference to the edge snapshot (sluice_edges_view's array) if fetched within the
 * TTL, else NULL. */
json_t *ctl_cache_edges_get(struct ctl_cache *c, uint64_t now_ms);
/* Keep edges (reference stolen) as the snapshot when the cache is on; returns a new
 * reference for the caller. */
json_t *ctl_cache_edges_put(struct ctl_cache *c, json_t *edges, uint64_t now_ms);
/* Whether edge idx of the array edges holds asset: indexed when edges is the current
 * snapshot, else a scan of its "titles". */
bool ctl_cache_edge_holds(const struct ctl_cache *c, json_t *edges, size_t idx,
                          const char *asset);

/* Drop the edge snapshot (an edge was registered or came back): the next request refetches. */
void ctl_cache_edges_forget(struct ctl_cache *c);
/* Whether the snapshot lists edge id as healthy. */
bool ctl_cache_edge_healthy(const struct ctl_cache *c, const char *id);
