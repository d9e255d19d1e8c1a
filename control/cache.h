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
 * store a copy. Returns 0, -EINVAL for a malformed object or -ENOMEM.
 */
int ctl_cache_session_put(struct ctl_cache *c, json_t *o, uint64_t now_ms,
                          struct ctl_session *ret);
/*
 * The session s (borrowed; its markers object, or NULL for none) into *ret, with a markers
 * reference of its own, and, when the cache is on, a copy kept. For a session made here from
 * claims, with no JSON of its own. ret->markers is NULL only when out of memory.
 */
void ctl_cache_session_add(struct ctl_cache *c, const struct ctl_session *s, uint64_t now_ms,
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

/* A new reference to the edge snapshot (sluice_edges_held's array) if fetched within the
 * TTL, else NULL. */
json_t *ctl_cache_edges_get(struct ctl_cache *c, uint64_t now_ms);
/*
 * The most titles of holdings one read of the edge set ships (sluice_edges_held's p_budget,
 * migration 031): the changed edges' come oldest change first over as many reads as it
 * takes, the first always, whatever its size. A start's first read of a fleet's whole holdings (40
 * edges of 20,000 titles) could outlast database_pool.timeout on a loaded machine, and then
 * every read asked for all of them again; 200,000 is about 0.1 s of a quiet machine.
 */
#define CTL_HOLDINGS_PER_READ 200000
/* One edge's holdings as sluice_edges_held sends them (borrowed): titles newline-separated. */
struct ctl_edge_titles {
        const char *edge;
        int64_t gen; /* its titles_gen */
        const char *titles;
        size_t len;
};
/*
 * Keep edges (reference stolen) as the snapshot when the cache is on; returns a new
 * reference for the caller. Either way the holdings t (n_t of them, sent only for the edges
 * whose titles_gen differs from what ctl_cache_edges_known gave) replace those kept for their
 * edges, the other edges' stay, and those of edges not in edges go. Holdings are kept indexed
 * apart from the snapshot, which is a few hundred bytes an edge whatever the edges hold.
 */
json_t *ctl_cache_edges_put(struct ctl_cache *c, json_t *edges, const struct ctl_edge_titles *t,
                            size_t n_t, uint64_t now_ms);
/* The holdings kept, as sluice_edges_held's p_known: {"<edge id>": titles_gen, ...}
 * (malloc'd), or NULL when out of memory. */
char *ctl_cache_edges_known(const struct ctl_cache *c);
/* How many edges of the snapshot edges have titles (a titles_gen) whose holdings are not kept
 * at that titles_gen: those a read has yet to ship. */
size_t ctl_cache_holdings_behind(const struct ctl_cache *c, json_t *edges);
/* Whether edge idx of the array edges (a snapshot, current or not) holds asset, by the
 * holdings kept for its id. */
bool ctl_cache_edge_holds(const struct ctl_cache *c, json_t *edges, size_t idx,
                          const char *asset);

/*
 * What an anonymous start needs of (title, episode, country), from sluice_session_warm: the
 * title and its asset as JSON (o), and the title's licence windows in the country not over
 * when fetched, earliest first (until 0: open-ended), evaluated against the clock at each
 * start (ctl_licence_eval), so an edge holds to the second whatever the TTL.
 */
#define CTL_WINDOWS_MAX 16
struct ctl_warm {
        json_t *o; /* a reference the holder owns (ctl_warm_done) */
        size_t n_windows;
        double from[CTL_WINDOWS_MAX], until[CTL_WINDOWS_MAX];
};

/* A fresh entry for (title, episode or NULL, country) into *ret (a new reference), or false. */
bool ctl_cache_warm_get(struct ctl_cache *c, const char *title, const char *episode,
                        const char *country, uint64_t now_ms, struct ctl_warm *ret);
/*
 * How many times warm entries were forgotten so far: taken when the database is asked, and
 * given to ctl_cache_warm_put with its answer.
 */
uint64_t ctl_cache_warm_epoch(const struct ctl_cache *c);
/*
 * Parse o (borrowed) into *ret and, when the cache is on, keep it for (title, episode,
 * country), unless entries were forgotten since asked (ctl_cache_warm_epoch when o was asked
 * for): a change made through this instance meanwhile may have come after the database read
 * o, which then serves this one start only. Returns 0; -E2BIG when it has more than
 * CTL_WINDOWS_MAX windows (nothing kept, *ret untouched); -EINVAL when malformed.
 */
int ctl_cache_warm_put(struct ctl_cache *c, const char *title, const char *episode,
                       const char *country, json_t *o, uint64_t asked, uint64_t now_ms,
                       struct ctl_warm *ret);
void ctl_warm_done(struct ctl_warm *w);
/* Forget the warm entries of title (NULL: all): this instance changed it or its licences. */
void ctl_cache_warm_forget(struct ctl_cache *c, const char *title);

/*
 * The windows of w at wall (epoch seconds): whether licensed now, the next boundary after now
 * (0: none) and the end of the coverage from now (0: open-ended), as sluice_session_start
 * computes them.
 */
void ctl_licence_eval(const struct ctl_warm *w, double wall, bool *ret_licensed, double *ret_change,
                      double *ret_end);

/* The start bandwidth (bit/s, -1: none known) last fetched for client address ip. */
bool ctl_cache_bw_get(struct ctl_cache *c, const char *ip, uint64_t now_ms, int64_t *ret);
void ctl_cache_bw_put(struct ctl_cache *c, const char *ip, int64_t bw, uint64_t now_ms);

/* Drop the edge snapshot (an edge was registered or came back): the next request refetches
 * (the holdings are kept). */
void ctl_cache_edges_forget(struct ctl_cache *c);
/* Whether the snapshot lists edge id as healthy. */
bool ctl_cache_edge_healthy(const struct ctl_cache *c, const char *id);
