/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Per-worker cache of open object files (private to the store). Single-threaded: each
 * store_reader owns one, and only its worker touches it.
 *
 * Entries are keyed by the object's file id. A file id names one immutable file for ever (a
 * replaced object gets a new id), so an entry found under the id the index just returned is
 * never stale; an entry for an id the index no longer returns simply ages out, or is dropped
 * early with fd_cache_drop() when the store learns the id is dead (so its disk space is not
 * held by an idle fd).
 *
 * At most 'cap' entries; the least recently used idle entry is closed to make room. An entry in
 * use (referenced by a store_obj) is never closed under its user.
 */

#include <stddef.h>
#include <stdint.h>

struct fd_cache;
struct fd_cache_ent;

/* cap 0 is allowed (nothing cached). Returns 0 or -ENOMEM. */
int fd_cache_new(unsigned cap, struct fd_cache **ret);
/* Closes every fd; entries still referenced are a programmer error (asserted). */
void fd_cache_free(struct fd_cache *c);

/* Take a reference on the entry for file_id. Returns it (fd in *ret_fd) or NULL. */
struct fd_cache_ent *fd_cache_get(struct fd_cache *c, uint64_t file_id, int *ret_fd);

/*
 * Adopt fd (already open) for file_id with one reference taken. Returns the entry, or NULL
 * when every slot is in use: the caller then keeps ownership of fd.
 */
struct fd_cache_ent *fd_cache_add(struct fd_cache *c, uint64_t file_id, int fd);

/* Drop a reference from fd_cache_get/add. */
void fd_cache_put(struct fd_cache *c, struct fd_cache_ent *e);

/* The file id e was added under. */
uint64_t fd_cache_ent_id(const struct fd_cache_ent *e);

/* Take one more reference on e (held: refs > 0). Drop it with fd_cache_put. */
void fd_cache_ref(struct fd_cache_ent *e);

/*
 * A read-only shared mapping of the entry's file, [0, len), made on first use and kept until
 * the fd is closed, so it lives exactly as long as a reference to e. Only the kernel may read
 * through it (a send's iovecs): a file truncated under the mapping raises SIGBUS on a user
 * access, where the kernel returns EFAULT. Returns 0 with *ret, -EBUSY (mapped shorter while
 * shared), -errno from mmap.
 */
int fd_cache_map(struct fd_cache_ent *e, size_t len, const void **ret);

/* Forget file_id: closed now if idle, else when its last reference goes. */
void fd_cache_drop(struct fd_cache *c, uint64_t file_id);

/* Close every idle entry, and forget the ones in use (each closed when its last reference
 * goes). */
void fd_cache_drop_all(struct fd_cache *c);

/* Close up to n idle entries, least recently used first, for a descriptor needed now (an
 * open or accept that found the process's table full). Returns how many were closed. */
unsigned fd_cache_shed(struct fd_cache *c, unsigned n);

/* Number of entries (including dropped ones still referenced). */
unsigned fd_cache_count(const struct fd_cache *c);
