/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The SHA-256 the control plane's fill plan gives for each file it asks this edge to hold
 * (GET <control.url>/v1/fill/plan?edge=<id>: objects[].path and .sha256, from the catalog's
 * asset.json). A fill from a parent or the origin for one of these keys commits only if its
 * bytes hash to the catalog's value, whatever the upstream says; other keys are checked by
 * length, and by the upstream's X-Sluice-SHA256 when it sends one.
 *
 * The table is immutable once parsed; the heartbeat thread fetches a new one every
 * control.plan_period and swaps it in under the server's lock, where workers look keys up
 * (once per fill, not per request). Parsing and lookup are plan-sums.c (in the store library,
 * for tests and fuzzing); the server's table and its fetch are plan-fetch.c. The fetch is
 * signed with the edge's secret (control.secret_file), as heartbeats are: control answers a
 * plan only to the admin token or to the edge it is for. Without a secret there is no fetch.
 */

#include <stdbool.h>
#include <stddef.h>

struct edge_server;
struct plan_sums;

/* Most objects asked for and kept from one plan: the best-ranked files, which are the ones
 * clients fill. The plan's JSON is then about 25 MB at most, parsed off the data path. */
#define PLAN_SUMS_MAX 100000u

/*
 * Parse a fill plan (JSON, at most len bytes). Objects whose path is not a relative key of at
 * most STORE_KEY_MAX - 1 bytes or whose sha256 is not 64 hex digits are skipped and counted in
 * *ret_skipped (may be NULL), as are repeats of a path and every entry of a path given two
 * different sums. Returns 0 and a new table, -EINVAL when the text is not a plan
 * ({"objects": [...]}), holds more than PLAN_SUMS_MAX objects, or more JSON values than twice
 * such a plan (counted in the text before it is parsed, which costs many times its length),
 * or -ENOMEM.
 */
int plan_sums_parse(const char *json, size_t len, struct plan_sums **ret, size_t *ret_skipped);
void plan_sums_free(struct plan_sums *t);
size_t plan_sums_count(const struct plan_sums *t);

/* The SHA-256 (64 lowercase hex digits and a NUL) of cache key (with its leading '/'). */
bool plan_sums_find(const struct plan_sums *t, const char *key, size_t key_len, char hex[65]);
/* Call cb for each key of t (with its leading '/') and its sum, in key order. */
void plan_sums_foreach(const struct plan_sums *t,
                       void (*cb)(const char *key, size_t key_len, const char *hex, void *userdata),
                       void *userdata);

/* Install t as srv's table (owned; the previous one is freed). NULL clears it. */
void plan_sums_install(struct edge_server *srv, struct plan_sums *t);
/* plan_sums_find() on srv's current table, under its lock. */
bool plan_sums_lookup(struct edge_server *srv, const char *key, size_t key_len, char hex[65]);

/*
 * Fetch this edge's plan from control, signed (heartbeat_req_sign), with the caller's curl
 * easy handle (reset by the caller, who may have set a progress callback on it) and install
 * it; then drop every stored object of a listed key whose SHA-256 is not the plan's (stored
 * before the plan named it, or the catalog changed it), so that it is refilled and checked.
 * Only the caller's thread installs plans. Returns the number of sums installed or -errno (the
 * previous
 * table stays): -ENOKEY when the edge has no secret (nothing is sent), -EACCES when control
 * refused the signature (401/403), -EIO/-EPROTO for other failures.
 */
int plan_sums_refresh(struct edge_server *srv, void *curl);
