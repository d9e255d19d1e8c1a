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

struct http_resp;
struct http1_req;
struct cfg_strlist;

/* Allow-Origin (+ Vary) and Expose-Headers for an ordinary response. req may be NULL. */
void cors_headers(struct http_resp *hr, const struct cfg_strlist *origins,
                  const struct http1_req *req);

/* The same policy for a transport that writes its own headers (HTTP/2): the Allow-Origin value
 * for the request's Origin (origin may be NULL), or NULL when none is due; *ret_vary says
 * whether "Vary: Origin" is. *ret_expose gets the Expose-Headers value. */
const char *cors_allow_origin(const struct cfg_strlist *origins, const char *origin, size_t len,
                              bool *ret_vary, const char **ret_expose);

/* Preflight answer headers: Allow-Methods, Allow-Headers, Max-Age (after cors_headers()). */
void cors_preflight_headers(struct http_resp *hr, const struct cfg_strlist *origins,
                            const struct http1_req *req);
