/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>

/*
 * CMCD "nor" prefetch: a player that says which object it asks for next (CTA-5004 "nor", a
 * URL relative to the request's) gets that object filled before it asks. The hint starts one
 * fill of the next object, collapsed with any other fill of it, when all of these hold:
 *   - cache.prefetch_max > 0 and this worker has fewer prefetches in flight than that;
 *   - some upstream is usable: not all of them, the origin included, are marked down;
 *   - it would not take the last free fill of cache.max_fills (left to a player's miss);
 *   - nor is a relative reference (or an absolute path) on this edge, and its key lies under
 *     the same title (first path segment) as the request's, and differs from it;
 *   - the store does not hold it and it is not in the negative cache (a recent 404);
 *   - when the request passed a signed-URL check, its token covers the object too (the
 *     same cdniuc and cdniip rule): a prefetch never fetches what the client may not.
 * A prefetch counts as one request for the admission filter (the player announced it).
 * Prefetches are fills like any other: committed only whole and verified.
 *
 * Start prefetch: a player starting a title asks for a representation's init segment and then
 * its first media segments one after another; the edge fills the first cache.prefetch_start
 * segments of that representation as soon as it sees the start, so those requests are hits
 * (or join a fill already under way) instead of one origin round trip each:
 *   - an init request ("<dir>/init.mp4") marked CMCD su, from a session (CMCD sid) the edge
 *     first saw at most 3 s ago: seg-1 .. seg-N of <dir> (dash.js marks every init su, a
 *     representation switch mid-title included; the session's age tells them apart);
 *   - a media request "<dir>/seg-<n>.m4s" marked su (a start at n: resume, seek, rebuffer):
 *     seg-<n+1> .. seg-<n+N>.
 * Both share the nor prefetch's bound (cache.prefetch_max) and its other rules.
 */

#define PREFETCH_SLOTS 64 /* the most cache.prefetch_max allows */

struct edge_worker;
struct cmcd;
struct path_norm;
struct serve_scope;

/* Whether w prefetches at all (cache.prefetch_max, an upstream): if not, prefetch_hint is
 * not worth reading the request's CMCD for. */
bool prefetch_wanted(const struct edge_worker *w);
/* Act on the CMCD cm of a request for pn's key (read by the caller from the query argument
 * and the CMCD-* headers): prefetch its nor, and the first segments when it starts a
 * representation, of what scope (the request's token; NULL: no token) covers. Loop thread
 * of w. */
void prefetch_hint(struct edge_worker *w, const struct path_norm *pn, const struct cmcd *cm,
                   const struct serve_scope *scope);

/* Loop thread: drop w's finished prefetches (their slots free up). */
void prefetch_sweep(struct edge_worker *w);

/* Worker exit, after its upstream context is gone: drop every prefetch reference. */
void prefetch_worker_done(struct edge_worker *w);
