/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>

/*
 * Edge request authentication: each edge signs its heartbeats and its fill plan requests with
 * its own secret (common/req-sign.h); this module checks the signed time and the signature of
 * a request, and keeps recently fetched secrets so that a steady heartbeat costs no extra
 * database round trip.
 *
 * The secret cache is bounded in age by ttl_ms (edge_secret_ttl): a secret replaced through
 * another instance stops working here within it, and a new one works at once, because a
 * signature that does not match a copy older than a second sends the caller back to the
 * database. Direct-mapped, fixed size, loop thread only; secrets are wiped when replaced and
 * at free. Nothing here logs a secret.
 */

struct ctl_req;
struct edge_auth;

/* Start-up: a cache keeping secrets for ttl_ms (0: never kept). Returns 0 or -ENOMEM. */
int edge_auth_new(uint64_t ttl_ms, struct edge_auth **ret);
void edge_auth_free(struct edge_auth *a);

/*
 * The request's signed time (REQ_SIGN_TIME_HEADER, ms since the epoch) into *ret_ms. Returns
 * 0; -ENOKEY when the time or the signature header is missing; -EINVAL when malformed. The
 * caller judges the time against its clock and skew.
 */
int edge_auth_time(const struct ctl_req *rq, int64_t *ret_ms);

/*
 * Check rq (its method, request target as sent — path and query — and body, signed at
 * signed_ms) against the cached secret of edge.
 * Returns 0 when signed with it; -EPERM when refused by a fresh copy; -ENOKEY when a fresh
 * copy says the edge has no secret (refused, as when fetched); -ENOENT when the caller
 * must fetch the secret (nothing cached, expired, or a mismatch against a copy old enough to
 * refetch) and then call edge_auth_put and edge_auth_verify.
 */
int edge_auth_cached(struct edge_auth *a, const char *edge, const struct ctl_req *rq,
                     int64_t signed_ms, uint64_t loop_ms);

/* Keep secret[0..len) (len 0: the edge has none) as edge's, fetched at loop_ms. */
void edge_auth_put(struct edge_auth *a, const char *edge, const char *secret, size_t len,
                   uint64_t loop_ms);

/* Drop edge's copy (its registration changed through this instance). */
void edge_auth_forget(struct edge_auth *a, const char *edge);

/* Whether rq was signed at signed_ms with secret[0..len) (as edge_auth_cached: method,
 * target, body). Returns 0 or -EPERM. */
int edge_auth_verify(const char *secret, size_t len, const struct ctl_req *rq, int64_t signed_ms);
