/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/*
 * CORS for the client listener (players run in browsers on other origins). Policy from
 * cors_origins: ["*"] (the default) answers "Access-Control-Allow-Origin: *"; a list of
 * origins echoes the request's Origin when it is listed (with "Vary: Origin") and sends no
 * CORS headers otherwise. Credentials are never allowed: segments are public by URL token.
 */

struct http1_req;
struct cfg_strlist;
struct serve_plan;

/* Allow-Origin (+ Vary) and Expose-Headers for an ordinary response, to a request whose
 * Origin field is origin (origin_len bytes; NULL: none). */
void cors_plan(struct serve_plan *p, const struct cfg_strlist *origins, const char *origin,
               size_t origin_len);

/* Whether the answer depends on the request's Origin: a list of origins, "*" not among them
 * (with "*" every origin is allowed alike, with [] none). */
bool cors_needs_origin(const struct cfg_strlist *origins);

/* Preflight answer fields: Allow-Methods, Allow-Headers, Max-Age (after cors_plan()). */
void cors_preflight_plan(struct serve_plan *p);
