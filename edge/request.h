/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/*
 * Client requests over HTTP/1.1: the request target's absolute form, body refusal (a client
 * GET/HEAD never carries a body: Transfer-Encoding or Content-Length > 0 → 400 and close),
 * admission (serve-admit.c), then hit.c; and the rendering of a response plan
 * (serve-plan.h) as an HTTP/1.1 head handed to conn_respond().
 */

struct conn;
struct http1_req;
struct http_resp;
struct serve_plan;

/* Answer one parsed request on c (the request points into c's input). */
void request_handle(struct conn *c, const struct http1_req *req);

/* Answer a request the parser refused (400/414/431/501) and close after it; origin
 * (origin_len bytes, NULL: none) is its Origin field; head_only: it was a HEAD, so the answer
 * has no body. */
void request_refuse(struct conn *c, int status, const char *reason, const char *origin,
                    size_t origin_len, bool head_only);

/*
 * Start a response head in the worker's scratch: status line, Date, Server, Connection (close /
 * keep-alive as decided on c). req may be NULL (refusals).
 */
void request_head_start(struct conn *c, const struct http1_req *req, struct http_resp *hr,
                        int status);

/*
 * Send p as c's answer to req (NULL for a refusal): the head, then its body. A plan's file
 * body (SERVE_BODY_FILE) passes to the connection, which releases the object, in every case:
 * when the head overflowed (a programming error, logged, and c is closed) it is released
 * here.
 */
void request_render(struct conn *c, const struct http1_req *req, const struct serve_plan *p);
