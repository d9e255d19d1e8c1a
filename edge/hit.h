/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The hit: look the cache key up in the store (per-worker reader and fd cache), evaluate
 * preconditions (RFC 9110 §13.2.2: 412 / 304, If-None-Match over If-Modified-Since), then
 * Range (honoured only when If-Range allows: one range → 206, unsatisfiable → 416 with
 * "Content-Range: bytes *\/LEN", several → 200 with the whole object), and send the head
 * followed by the body with zero copy (sendfile from the store's fd). Absent key → 404.
 */

struct conn;
struct http1_req;
struct path_norm;

#include <stdbool.h>
#include <stddef.h>

/* Serve pn's key from the store, or hand the request to the miss path (miss.c). peer: a
 * child edge's fill, answered with X-Sluice-SHA256 so it can verify end to end. */
void hit_serve(struct conn *c, const struct http1_req *req, const struct path_norm *pn, bool peer);

/* Cache-Control value for a key: short for manifests/playlists, a day for media. */
const char *hit_cache_control(const char *key, size_t len);
