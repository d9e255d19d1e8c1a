/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/*
 * The admin listener (own address, loopback by default; docs/edge.md):
 *   GET    /healthz                      200 JSON (open)
 *   GET    /metrics                      Prometheus text (open)
 *   PUT    /admin/objects/<key>          streamed body → store; 201 new, 204 replaced
 *   DELETE /admin/objects/<key>          204 / 404
 *   GET    /admin/objects?prefix=<p>     JSON list of {key,size,sha256,hits,last_access}
 *   GET    /admin/holdings               JSON {objects,bytes,max_bytes,keys[,next]}
 * Both listings are whole unless limit=<1..10000> asks for a page; after=<key> resumes past a
 * key, and a page with more to come names its last key in X-Sluice-Next and a Link rel=next.
 * Paths under /admin/ need "Authorization: Bearer <token>" (401 otherwise). A PUT needs
 * Content-Length (411 without, and for chunked bodies), may carry X-Sluice-SHA256 and Content-Type,
 * and is committed only when complete and matching (400 and nothing committed otherwise; 413 over
 * the cache budget).
 */

struct conn;
struct http1_req;

/*
 * Answer (or start answering) one admin request. body[0..body_len) are the bytes that followed
 * the head in the same read; *ret_used says how many of them were the request's body.
 */
void admin_handle(struct conn *c, const struct http1_req *req, const char *body, size_t body_len,
                  size_t *ret_used);

/* More body bytes for the PUT in progress (state CONN_READ_BODY). Returns bytes consumed. */
size_t admin_body(struct conn *c, const char *data, size_t n);

/* Drop the PUT in progress (connection closing). */
void admin_put_abort(struct conn *c);

/* The JSON error answer to a request the parser refused on the admin listener (no body for
 * a HEAD). */
void admin_refuse(struct conn *c, int status, const char *detail, bool head_only);
