/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The hit over HTTP/1.1: look the cache key up in the store (per-worker reader and fd cache)
 * and answer by the hit's rules (serve_plan_hit: preconditions, Range, validators), the body
 * sent with zero copy (sendfile from the store's fd). Absent key → the miss path (miss.c).
 */

struct conn;
struct http1_req;
struct path_norm;

#include <stdbool.h>
#include <stddef.h>

/* Serve pn's key from the store, or hand the request to the miss path (miss.c). peer: a
 * child edge's fill, answered with X-Sluice-SHA256 so it can verify end to end. */
void hit_serve(struct conn *c, const struct http1_req *req, const struct path_norm *pn, bool peer);
