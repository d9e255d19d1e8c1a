/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Eviction: keeps the store under its byte budget with the popularity-weighted LRU policy
 * (edge/policy/, policy_sluice_ops: the same code sluice-cachesim replays traces through).
 *
 * One policy instance per process behind a mutex (the policy is single-threaded by design);
 * every client request is recorded (policy_access), every committed fill is offered
 * (policy_insert: the admission filter may decline a one-hit wonder, which is then served
 * but deleted again), and when use passes the high watermark the policy evicts down to the
 * low one. Victims are deleted from the store after the mutex is released, each only while its
 * key still names the file the policy knew (an object committed again meanwhile stays).
 *
 * Policy state (each resident object's frequency, priority, recency, hints) is kept in its
 * own LMDB environment, <cache.dir>/policy/, next to the store's index: written by
 * evict_flush() (the admin worker's periodic flush, and at exit), read back at start for the
 * objects the store still holds. Objects without a record start fresh. A save writes the
 * records changed since the last one and deletes those of objects evicted or deleted; the
 * table is rewritten whole only when the first save after start finds it is not exactly the
 * objects restored (records of objects gone meanwhile, objects without one, an older
 * layout), when most records changed, or after a save failed.
 *
 * Hints: a title's first segments (init.mp4, seg-n with n <= POLICY_FIRST_SEGMENTS) and the
 * lowest rung's files (<title>/video-240p/) of warm titles weigh more; objects pushed through
 * the admin API (the fill plan) are marked "plan ranks this title high" and "pushed": until a
 * client asks for one, the policy weighs it by its title's heat unsquared, so files the day
 * does ask for outrank it. A media segment's number (seg-<n>.m4s) is its position: the policy
 * learns from it how far into a title sessions get, and weighs later segments less.
 */

struct edge_server;
struct edge_worker;

/*
 * Build the policy for srv's store (budget = cache.max_size) and restore its state. Start-up
 * only: on failure the caller exits. Returns 0 or -errno.
 */
int evict_open(struct edge_server *srv, const char *cache_dir, uint64_t budget);
/* Write the state and free everything. srv->evict may be NULL. */
void evict_close(struct edge_server *srv);

/* A client request for key (resident or not). */
void evict_access(struct edge_server *srv, const char *key, size_t key_len, uint64_t size);
/*
 * A fill needs size bytes the budget, or the disk, does not have: evict down to make room.
 * The disk counts when it is fuller than the budget says (shared with other files, or smaller
 * than cache.max_size): then what is evicted for it is waited for (at most 500 ms) until the
 * file system has it back, self's (the calling worker's, or NULL) and the other workers' open
 * files of it closed. Returns 0, -EFBIG when size is over the whole budget, or -ENOSPC when
 * evicting everything would not make room on the disk (nothing is evicted either way: no
 * room could ever hold it) or when the victims' deletes failed (the index could not be
 * written; they stay known to the policy, tried first the next time).
 */
int evict_make_room(struct edge_server *srv, uint64_t size, struct edge_worker *self);
/*
 * begin(ud), a store_put_begin; while it finds the store full, room is made as above and it
 * is called again, up to EVICT_ROOM_TRIES times. While it waits for room, room made counts
 * it: a put that begins then (in any thread) waits too, and room is made for all waiting at
 * once. Returns begin's last result, or evict_make_room's -EFBIG / -ENOSPC when no room could
 * hold size.
 */
#define EVICT_ROOM_TRIES 3
/* evict_put_begin's waiting: size joins the puts waiting for room when always, or when others
 * wait; returns whether it did, and then evict_room_leave(size) must follow. */
bool evict_room_queue(struct edge_server *srv, uint64_t size, bool always);
void evict_room_leave(struct edge_server *srv, uint64_t size);
int evict_put_begin(struct edge_server *srv, uint64_t size, struct edge_worker *self,
                    int (*begin)(void *ud), void *ud);
/*
 * key (size bytes, the store's file file_id) was committed: offer it to the policy (plan:
 * pushed by the fill plan). Returns false when it is not kept: admission declined it, or the
 * policy ran out of memory (it is deleted here, unless committed again since; a fill has
 * already served it). A note that comes after file_id was replaced or deleted is dropped
 * (true): the policy tracks only the store's current file of a key.
 */
bool evict_note_fill(struct edge_server *srv, const char *key, size_t key_len, uint64_t size,
                     uint64_t file_id, bool plan);
/* key was dropped from the store (deleted by the admin API, or found damaged). Nothing is
 * forgotten when the key has been committed again since. */
void evict_forget(struct edge_server *srv, const char *key, size_t key_len);

/*
 * Persist the policy state in one durable commit: the records of objects inserted or
 * requested since the last save are put, those of objects evicted or deleted since are
 * deleted (or every resident object's record replaces the saved set, see above). Nothing
 * changed, nothing is written: no transaction, no fsync. The policy's mutex is held only
 * while the changes (or records) are copied out (no allocation, no I/O under it); the LMDB
 * writes and the fsync run after it, so requests (evict_access) wait for the copy at most,
 * never for the disk. Flushes are serialised: a second caller waits for the first to
 * commit, then saves what it sees. A failed save leaves the next one to rewrite the whole
 * table. Returns 0 or -errno.
 */
int evict_flush(struct edge_server *srv);
