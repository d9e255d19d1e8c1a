/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The edge's own policy, popularity-weighted LRU, and the calls the edge uses to keep its
 * state in LMDB across restarts. These work only on a policy made from policy_sluice_ops and
 * return -EOPNOTSUPP for any other.
 */

#include "policy-t.h"

struct policy;

/*
 * Calls fn once per resident object with its record (valid only during the call), in no
 * particular order. Stops at the first negative return of fn and returns it; else 0.
 */
int policy_sluice_export(struct policy *p, int (*fn)(void *ctx, const struct policy_record *rec),
                         void *ctx);

/* Fills *ret with one resident object's record. Returns 0 or -ENOENT. */
int policy_sluice_entry_export(struct policy *p, uint64_t id, struct policy_record *ret);

/*
 * Puts back an object the edge still holds on disk, with the state it had. No admission
 * check and no eviction: after restoring everything the caller runs
 * policy_evict_until(p, budget) in case the budget shrank. Returns 0, -EEXIST, -EINVAL
 * (size 0), -ENOMEM.
 */
int policy_sluice_restore_entry(struct policy *p, const struct policy_record *rec);
