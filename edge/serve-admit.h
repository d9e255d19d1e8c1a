/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/*
 * What a client request must pass before the store is asked, the same over HTTP/1.1 and
 * HTTP/2: the method (GET and HEAD go on; OPTIONS is a CORS preflight, 204; any other gets
 * 405 with Allow), no body on them (400), the target as a cache key (path_norm: 400, 414), and
 * either a child edge's peer bearer or the signed URL (RFC 9246) when tokens are required
 * (403). It stages the request's access-log line (with its CMCD fields) and, for a request
 * that goes on, starts the CMCD nor prefetch (prefetch.c), held to what its token covers.
 */

#include "token.h"

struct conn;
struct http1_req;
struct path_norm;
struct serve_plan;

/*
 * What an admitted request's signed URL covers, for the objects fetched on its behalf (the
 * CMCD prefetches): claims NULL when no token was checked (tokens not required, or a child
 * edge's peer bearer), and then everything. Valid while the request is being admitted.
 */
struct serve_scope {
        const struct token_claims *claims;
        const char *host; /* the request's Host (:authority), as the token was checked with */
        size_t host_len;
        bool tls;        /* over TLS: the URI is https:// */
        char client[64]; /* the client's address, when the token names one (cdniip) */
        struct token_claims claims_buf;
};

/* Whether the token of scope (NULL: none) covers key, by the rule its request passed: cdniuc
 * against "http://<host><key>" ("https://" over TLS), cdniip against the same client. */
bool serve_scope_covers(const struct serve_scope *scope, const char *key, size_t key_len);

/*
 * Admit req on c, whose origin-form target is target[0..len). Returns 0 when the store
 * answers it: *pn holds its key and *ret_peer whether a child edge asks; 1 when p holds the
 * answer. has_body: the request declared a body.
 */
int serve_admit(struct serve_plan *p, struct conn *c, const struct http1_req *req,
                const char *target, size_t target_len, bool has_body, struct path_norm *pn,
                bool *ret_peer);

/* Stage the access-log line for req on c (req and pn may be NULL; proto h1 or h2 from c). */
void serve_log_begin(struct conn *c, const struct http1_req *req, const struct path_norm *pn);
