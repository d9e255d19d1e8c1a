/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

/*
 * Client requests: method routing (GET/HEAD → the hit path; OPTIONS → CORS preflight; others
 * → 405 with Allow), body refusal (a client GET/HEAD never carries a body: Transfer-Encoding
 * or Content-Length > 0 → 400 and close), target → cache key (path_norm), then hit.c.
 */

struct conn;
struct http1_req;
struct http_resp;
struct path_norm;

/* Answer one parsed request on c (the request points into c's input). */
void request_handle(struct conn *c, const struct http1_req *req);

/* Answer a request the parser refused (400/414/431/501) and close after it. */
void request_refuse(struct conn *c, int status);

/*
 * Start a client response head in the worker's scratch: status line, Date, Server, Connection
 * (close / keep-alive as decided on c) and CORS. req may be NULL (refusals).
 */
void request_head_start(struct conn *c, const struct http1_req *req, struct http_resp *hr,
                        int status);

/*
 * Finish hr and send it with a short text body (omitted for HEAD, Content-Length kept).
 * Closes c if the head overflowed (a programming error, logged).
 */
void request_respond_text(struct conn *c, const struct http1_req *req, struct http_resp *hr,
                          const char *body);

/* Stage the access-log line for this request (key may be NULL). */
void request_log_begin(struct conn *c, const struct http1_req *req, const struct path_norm *pn);
