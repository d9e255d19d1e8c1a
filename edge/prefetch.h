/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * CMCD "nor" prefetch: a player that says which object it asks for next (CTA-5004 "nor", a
 * URL relative to the request's) gets that object filled before it asks. The hint starts one
 * fill of the next object, collapsed with any other fill of it, when all of these hold:
 *   - cache.prefetch_max > 0 and this worker has fewer prefetches in flight than that;
 *   - nor is a relative reference (or an absolute path) on this edge, and its key lies under
 *     the same title (first path segment) as the request's, and differs from it;
 *   - the store does not hold it and it is not in the negative cache (a recent 404).
 * A prefetch counts as one request for the admission filter (the player announced it).
 * Prefetches are fills like any other: committed only whole and verified.
 */

#define PREFETCH_SLOTS 64 /* the most cache.prefetch_max allows */

struct edge_worker;
struct http1_req;
struct path_norm;

/* Look at req's CMCD (query argument or CMCD-Request header) and prefetch its nor. Loop
 * thread of w; cheap when the request carries no CMCD. */
void prefetch_hint(struct edge_worker *w, const struct http1_req *req, const struct path_norm *pn);

/* Loop thread: drop w's finished prefetches (their slots free up). */
void prefetch_sweep(struct edge_worker *w);

/* Worker exit, after its upstream context is gone: drop every prefetch reference. */
void prefetch_worker_done(struct edge_worker *w);
