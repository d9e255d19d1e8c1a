/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/*
 * What an edge holds, from its admin API: GET /admin/objects (every entry with size and
 * SHA-256) and GET /healthz (bytes held and the budget).
 *
 *   [{"key": "/t1/v1/init.mp4", "size": 812, "sha256": "<64 hex>" | null, "hits": 3,
 *     "last_access": 1767225600}, …]
 *
 * An entry whose key is not UTF-8 also carries "key_pct": its exact bytes, percent-encoded
 * ("key" is then only a reading of them, "\u00ff" for the byte 0xff, which may be another
 * key's bytes). The key held is key_pct's bytes when given, else key's.
 *
 * Limits: HOLDINGS_MAX_BYTES of JSON, HOLDINGS_MAX_OBJECTS entries of at most
 * HOLDINGS_MAX_SIZE bytes, keys of at most HOLDINGS_MAX_KEY bytes starting with '/' (key_pct:
 * at most HOLDINGS_MAX_KEY_PCT characters, no NUL once decoded).
 */
#define HOLDINGS_MAX_BYTES   (512u << 20)
#define HOLDINGS_MAX_OBJECTS 4000000u
#define HOLDINGS_MAX_KEY     4096u
#define HOLDINGS_MAX_KEY_PCT (3u * HOLDINGS_MAX_KEY)
/* An entry's size at most, as a plan's object (PLAN_MAX_SIZE, 4 TiB); the sizes of a whole
 * listing add up to at most INT64_MAX, so that no sum of them wraps. */
#define HOLDINGS_MAX_SIZE (1ull << 42)
/*
 * The most containers and values (json_shape_within, common/json-depth.h) a listing page's
 * text may hold, counted before jansson builds it at many times the text's size: twice what
 * HOLDINGS_MAX_OBJECTS entries as the edge writes them take (one container and at most 12
 * separators each), so that 512 MiB of "{}," (about 38 GB built) is refused unparsed.
 */
#define HOLDINGS_MAX_CONTAINERS (2 * HOLDINGS_MAX_OBJECTS + 64)
#define HOLDINGS_MAX_VALUES     (32 * HOLDINGS_MAX_OBJECTS)
#define HOLDINGS_PAGE        10000u /* entries asked per listing page (the edge's largest) */

struct held_obj {
        char *key; /* the stored key's exact bytes (never a NUL), NUL-terminated */
        size_t key_len;
        uint64_t size;
        bool has_sha256;
        char sha256[65];
        uint64_t hits;
        int64_t last_access;
};

struct holdings {
        struct held_obj *objs; /* sorted by key */
        size_t n, cap;
        uint64_t bytes, max_bytes;
};

/* Parse a listing into *ret (zeroed by the call), sorted by key. Returns 0 or -EINVAL /
 * -E2BIG / -ENOMEM with err set. Free with holdings_done(). */
int holdings_parse(const char *buf, size_t len, struct holdings *ret, char *err, size_t errlen);

/* Parse /healthz for bytes and max_bytes. Returns 0 or -EINVAL. */
int holdings_parse_health(const char *buf, size_t len, uint64_t *ret_bytes, uint64_t *ret_max);

void holdings_done(struct holdings *h);

/*
 * List the edge at admin_url (health, then the listing in pages of page entries, 1 to
 * HOLDINGS_PAGE (0: HOLDINGS_PAGE), each after the last key of the one before). prefix may
 * be NULL (all). ret_retry_after
 * (may be NULL) gets the failed answer's Retry-After in seconds, 0 without one. Returns 0,
 * -EACCES (401: wrong token), -EIO (unreachable, no answer), -EAGAIN (5xx, 408, 429), -EPROTO
 * (another status), or a parse error; err says which.
 */
int holdings_fetch(const char *admin_url, const char *bearer, const char *prefix, unsigned page,
                   long timeout_ms, int64_t *ret_retry_after, struct holdings *ret, char *err,
                   size_t errlen);

/* The entry with key, or NULL. */
const struct held_obj *holdings_find(const struct holdings *h, const char *key, size_t key_len);

/* Does h list key with this size and SHA-256 (64 lowercase hex digits)? An entry without a
 * SHA-256 does not count: its bytes cannot be told from others of the same size. */
bool holdings_has(const struct holdings *h, const char *key, size_t key_len, uint64_t size,
                  const char *sha256);

/*
 * The admin API's listing URL for the edge at admin_url: every object, or those whose key
 * starts with prefix (percent-encoded as a query argument) when prefix is neither NULL nor "".
 * Returns a malloc'd string the caller frees, or NULL when out of memory.
 */
char *holdings_listing_url(const char *admin_url, const char *prefix);

/*
 * The same with limit=<limit> (0: none) and after=<after> (after_len bytes, percent-encoded;
 * NULL: none), as the edge pages its listing.
 */
char *holdings_page_url(const char *admin_url, const char *prefix, unsigned limit,
                        const char *after, size_t after_len);

/*
 * Set "key" in o to key[0..len) as the edge lists it: the bytes when they are UTF-8, else each
 * stray byte as U+00XX; and then also "key_pct", the exact bytes percent-encoded, so that a key
 * that is not UTF-8 is named exactly in the agent's JSON too. Returns 0 or -ENOMEM.
 */
int holdings_key_json(json_t *o, const char *key, size_t len);
