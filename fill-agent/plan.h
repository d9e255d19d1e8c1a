/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>

/*
 * The fill plan control issues for one edge (GET /v1/fill/plan?edge=<id>):
 *
 *   {"edge": "edge-a", "region": "eu-west", "generated": 1767225600,
 *    "objects": [{"path": "t1/v1/init.mp4", "size": 812, "sha256": "<64 hex>",
 *                 "url": "http://origin:9000/t1/v1/init.mp4", "asset": "t1", "score": 4.2}, …]}
 *
 * objects are ranked, most valuable first. "asset", "score" and "tz" (the edge's zone) are
 * optional. Limits: PLAN_MAX_BYTES of JSON, PLAN_MAX_OBJECTS objects of at most PLAN_MAX_SIZE
 * bytes each, paths of at most
 * PLAN_MAX_PATH bytes that need no normalising (no "//", "." or ".." segments, no '?', '#',
 * '%' or control bytes) and that the edge stores as that very key ("/" + path through
 * path_norm: no space, no leading "s/<token>/", at most PATH_NORM_MAX bytes with the "/",
 * so 510 in effect), URLs of at most PLAN_MAX_URL bytes starting http:// or https://.
 * A path listed twice keeps its first (higher-ranked) entry.
 */
#define PLAN_MAX_BYTES   (256u << 20)
#define PLAN_MAX_OBJECTS 2000000u
#define PLAN_MAX_PATH    2048u
#define PLAN_MAX_URL     8192u
/*
 * The most containers and values (json_shape_within, common/json-depth.h) a plan's text may
 * hold, counted before jansson builds it at many times the text's size: twice what
 * PLAN_MAX_OBJECTS objects as control writes them take (one container and 12 separators
 * each), so that 256 MiB of "{}," (about 19 GB built) is refused unparsed.
 */
#define PLAN_MAX_CONTAINERS (2 * PLAN_MAX_OBJECTS + 64)
#define PLAN_MAX_VALUES     (32 * PLAN_MAX_OBJECTS)
/* 4 TiB an object: PLAN_MAX_OBJECTS of them total under 2^63, so the plan's byte sums (and
 * their JSON, signed 64-bit) hold whatever a plan says. */
#define PLAN_MAX_SIZE (1ull << 42)

struct plan_obj {
        char *key; /* "/" + path: the edge's cache key */
        size_t key_len;
        char *url; /* where the origin serves it */
        uint64_t size;
        char sha256[65]; /* lowercase hex */
        double score;    /* predicted demand (>= 0) */
        size_t rank;     /* position in the plan, 0 first */
};

struct plan {
        char *edge;
        char *region; /* may be NULL */
        char *tz;     /* may be NULL */
        int64_t generated;
        struct plan_obj *objs;
        size_t n;
        size_t dropped_dups;
        size_t *by_key; /* indexes into objs, sorted by key */
};

/*
 * Parse buf[0..len) into *ret (zeroed by the call). Returns 0, or -EINVAL / -E2BIG (past a
 * limit, PLAN_MAX_VALUES among them) / -ENOMEM with err holding a message naming the offending
 * object. Free with plan_done().
 */
int plan_parse(const char *buf, size_t len, struct plan *ret, char *err, size_t errlen);

void plan_done(struct plan *p);

/*
 * Fetch and parse the plan for edge_id from control, with bearer (control's admin token) and/or
 * signed with secret[0..secret_len) (the edge's own control secret, common/req-sign.h, as the
 * edge signs its heartbeats); NULL for either: not sent. Without both control answers 401.
 * ret_retry_after (may be NULL) gets control's Retry-After in seconds, 0 without one.
 * Returns 0, -EACCES (401: missing or wrong credentials), -EPERM (403: forbidden whatever the
 * credentials; control answers 401 itself, so a proxy or policy before it), -ENOENT (404: an edge control
 * does not know), -EIO (unreachable, no answer), -EAGAIN (a status worth retrying: 5xx, 408,
 * 429), -EPROTO (another status), -EKEYREJECTED (a secret req_sign refuses), -EBADMSG (a
 * plan whose "edge" is not edge_id, or absent), or what plan_parse returns (-EINVAL: not a
 * plan); err says which.
 */
int plan_fetch(const char *control, const char *bearer, const char *secret, size_t secret_len,
               const char *edge_id, long timeout_ms, int64_t *ret_retry_after, struct plan *ret,
               char *err, size_t errlen);

/* The object with key, or NULL (binary search over an index built by plan_parse). */
const struct plan_obj *plan_find(const struct plan *p, const char *key, size_t key_len);
