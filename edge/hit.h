/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The hit over HTTP/1.1: look the cache key up in the store (per-worker reader and fd cache)
 * and answer by the hit's rules (serve_plan_hit: preconditions, Range, validators), the body
 * sent with zero copy (sendfile from the store's fd). Absent key → the miss path (miss.c).
 */

struct conn;
struct edge_worker;
struct fill_reval;
struct http1_req;
struct path_norm;
struct store_obj;

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* store_lookup() on w's reader for a request of connection conn_id, where a file found missing
 * or changed (dropped by the store) is logged, counted, forgotten by the cache policy and
 * answered -ENOENT, so that the caller refills it. */
int hit_lookup(struct edge_worker *w, uint64_t conn_id, const char *key, size_t key_len,
               struct store_obj *ret);

/*
 * Whether obj, stored under key, is to be revalidated upstream before it answers: a manifest
 * (serve_key_short_lived) not filled or revalidated within its max-age (fill_fresh), on an
 * edge with upstreams. When true, *ret holds obj's validators for fill_get_reval().
 */
bool hit_stale(const struct edge_worker *w, const char *key, size_t key_len,
               const struct store_obj *obj, struct fill_reval *ret);

/* Serve pn's key from the store, or hand the request to the miss path (miss.c): a key it does
 * not hold, and a stored copy to revalidate (hit_stale). peer: a child edge's fill, answered
 * with X-Sluice-SHA256 so it can verify end to end. */
void hit_serve(struct conn *c, const struct http1_req *req, const struct path_norm *pn, bool peer);
