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

/*
 * Change tracking, so the owner saves only the records that changed. Off until turned on:
 * from then every insert, restore and request of a resident object notes its record as
 * changed (once until taken), and every eviction or removal notes its id as gone. A
 * request never allocates: room to note every resident object is reserved on insert; the
 * gone ids take 8 bytes each until taken. If a change cannot be noted (out of memory), the
 * set says so (lost) and the owner must save every record instead.
 * Returns 0, -ENOMEM (tracking stays off), -EOPNOTSUPP.
 */
int policy_sluice_changes_track(struct policy *p);

/* What is noted now; all zero when tracking is off or p is not the sluice policy. */
struct policy_changes policy_sluice_changes_get(struct policy *p);

/*
 * Hands the noted changes over and forgets them: gone_fn once per gone id (an id can repeat,
 * and can be resident again), then changed_fn with each changed resident object's record
 * (valid only during the call; priority relative to the clock now, as every export). So an
 * owner applying them in that order ends with exactly the resident objects' records.
 */
void policy_sluice_changes_take(struct policy *p, void (*gone_fn)(void *ctx, uint64_t id),
                                void (*changed_fn)(void *ctx, const struct policy_record *rec),
                                void *ctx);

/* Forgets the noted changes, lost included: the owner has just exported every record. */
void policy_sluice_changes_clear(struct policy *p);

/*
 * The policy clock in the records' priority units (fixed point). A record's priority plus
 * the clock when it was exported is its stamp, which the clock's later moves do not change:
 * a record saved then and one saved later can be brought to one base with it. 0 for any
 * other policy.
 */
uint64_t policy_sluice_clock(struct policy *p);
