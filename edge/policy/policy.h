/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Cache eviction policies behind one vtable, so the edge and sluice-cachesim drive them all
 * the same way:
 *
 *     hit = policy_access(p, &req);          every request, before serving
 *     if (!hit) policy_insert(p, &req);      after the object is fetched and committed
 *
 * No function here does I/O, allocates on the request path beyond the per-object entry, or
 * reads a clock. None is thread-safe: one policy instance belongs to one thread.
 *
 * Out of memory: policy_new() returns -ENOMEM (a start-up error); policy_insert() returns
 * -ENOMEM and leaves the object out of the cache, which the caller treats as "not admitted".
 */

#include "policy-t.h"

struct policy;

struct policy_ops {
        const char *name;
        const char *summary;
        bool needs_future; /* reads policy_req.next_access (offline policies) */
        int (*new)(const struct policy_cfg *cfg, struct policy **ret);
        void (*free)(struct policy *p);
        bool (*access)(struct policy *p, const struct policy_req *req);
        int (*insert)(struct policy *p, const struct policy_req *req);
        int (*remove)(struct policy *p, uint64_t id);
        void (*evict_until)(struct policy *p, uint64_t target);
};

/* State common to every policy; each implementation embeds it first. */
struct policy {
        const struct policy_ops *ops;
        struct policy_cfg cfg;
        struct policy_stats stats;
};

/*
 * Looks a policy up by name ("sluice", "lru", "gdsf", "lfuda", "s3fifo", "sieve", "belady").
 * Returns the ops (static storage) or NULL if unknown.
 */
const struct policy_ops *policy_ops_find(const char *name);

/* Every known policy, NULL-terminated, in a stable order (for --help). */
extern const struct policy_ops *const policy_ops_all[];

/*
 * Creates a policy. Inputs: ops from policy_ops_find(), cfg (copied; budget must be > 0).
 * Returns 0 and the new policy in *ret (owned by the caller, release with policy_free()),
 * -EINVAL on a bad cfg, -ENOMEM.
 */
int policy_new(const struct policy_ops *ops, const struct policy_cfg *cfg, struct policy **ret);

/* Frees p and every entry it holds, without calling on_evict. Accepts NULL; returns NULL. */
struct policy *policy_free(struct policy *p);

/*
 * Records a request. Returns true if req->id is resident (a hit). Updates recency,
 * frequency and the admission sketch either way.
 */
bool policy_access(struct policy *p, const struct policy_req *req);

/*
 * Offers an object fetched after a miss. The policy may decline it (admission filter, or
 * larger than the budget). To make room it evicts, calling cfg.on_evict for each victim.
 * Returns 1 if admitted, 0 if declined, -EEXIST if already resident, -ENOMEM.
 */
int policy_insert(struct policy *p, const struct policy_req *req);

/* Drops an object without calling on_evict (the caller deleted it). 0 or -ENOENT. */
int policy_remove(struct policy *p, uint64_t id);

/* Evicts (calling on_evict) until at most `target` bytes are held. */
void policy_evict_until(struct policy *p, uint64_t target);

/* Current counters; never fails. */
struct policy_stats policy_stats_get(const struct policy *p);

/*
 * Accounting size of an object: zero-byte objects still take an index slot, so they count
 * as one byte, which also keeps every policy's byte arithmetic free of divisions by zero.
 */
static inline uint64_t policy_req_size(const struct policy_req *req)
{
        return req->size ? req->size : 1;
}

/* Reports one eviction to the owner and updates the counters. For implementations. */
void policy_note_evict(struct policy *p, uint64_t id, uint64_t size);

/*
 * Serialises a record into buf (POLICY_RECORD_SIZE bytes, little-endian, version first).
 * Never fails.
 */
void policy_record_encode(const struct policy_record *rec, uint8_t buf[POLICY_RECORD_SIZE]);

/*
 * Parses a record from len bytes. Returns 0, -EINVAL if the length or a field is wrong, or
 * -EPROTONOSUPPORT for an unknown version (the caller drops the policy state, not the object).
 */
int policy_record_decode(const uint8_t *buf, size_t len, struct policy_record *ret);

/* The implementations, one file each. */
extern const struct policy_ops policy_sluice_ops;
extern const struct policy_ops policy_lru_ops;
extern const struct policy_ops policy_gdsf_ops;
extern const struct policy_ops policy_lfuda_ops;
extern const struct policy_ops policy_s3fifo_ops;
extern const struct policy_ops policy_sieve_ops;
extern const struct policy_ops policy_belady_ops;
