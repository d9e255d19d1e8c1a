/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The LMDB index behind the store (private to edge/store*.c and tools). This is the only
 * module that sees LMDB: every MDB_* code is translated to -errno here.
 *
 * Layout: an environment directory with two databases, "obj" (cache key → struct
 * cache_idx_rec) and "meta" (format version and totals). Records are fixed-layout and
 * versioned; a record of another version or size reads as absent.
 *
 * Threads: the handle is shared. Readers (struct cache_idx_reader) belong to one thread at a
 * time; with MDB_NOTLS a reader's read txn is renewed for one lookup and reset before return,
 * so no transaction or MDB_val outlives a call. Writes serialise on LMDB's writer lock plus a
 * mutex held across each commit; the in-memory totals are adopted after a commit under a
 * separate small mutex, so reading them never waits for a writer's fsync.
 */

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cache_idx;
struct cache_idx_reader;

/* LMDB's compiled-in key limit; longer keys are never stored. */
#define CACHE_IDX_KEY_MAX 511

#define CACHE_IDX_REC_VERSION 1
#define CACHE_IDX_CTYPE_MAX   63
#define CACHE_IDX_ETAG_MAX    47

#define CACHE_IDX_F_HAS_SHA 0x1u
/* mtime is the commit time (the upstream named no Last-Modified): cache_idx_put() keeps it past
 * the record it replaces when the bytes differ, so that an If-Modified-Since naming the old
 * record's second never matches the new bytes. */
#define CACHE_IDX_F_COMMIT_TIME 0x2u

/* On-disk value, native byte order (an LMDB file is not portable across architectures). */
struct cache_idx_rec {
        uint32_t version; /* CACHE_IDX_REC_VERSION */
        uint32_t flags;   /* CACHE_IDX_F_* */
        uint64_t size;
        uint64_t file_id;
        int64_t mtime; /* Last-Modified, seconds since the epoch */
        uint64_t hits;
        int64_t last_access;
        uint8_t sha256[32];
        char content_type[CACHE_IDX_CTYPE_MAX + 1]; /* NUL-terminated */
        char etag[CACHE_IDX_ETAG_MAX + 1];          /* NUL-terminated, quoted */
};
_Static_assert(sizeof(struct cache_idx_rec) == 192, "cache_idx_rec layout is on disk");

struct cache_idx_totals {
        uint64_t objects;
        uint64_t bytes;
};

/*
 * Open for reading only (tools, beside a running edge): nothing is created or written; writes
 * fail. The map is the one the writer set (map_size is ignored), so the listings go on while
 * the writer adds entries; such a handle belongs to one thread.
 */
#define CACHE_IDX_RDONLY 0x1u

/*
 * Open (creating unless CACHE_IDX_RDONLY) the index in the existing directory dir with the
 * given map size (LMDB raises it to the space in use); clears stale reader slots
 * (mdb_reader_check). Start-up only. Returns 0 or -errno (-EPROTO for an index of another
 * format, -ENOENT for a read-only open of an index that was never initialised, -EUCLEAN for a
 * data file shorter than the pages its meta page names: cut short, it would fault when read).
 * Totals come from the meta record; cache_idx_sweep() recomputes them.
 */
int cache_idx_open(const char *dir, uint64_t map_size, unsigned flags, struct cache_idx **ret);
void cache_idx_close(struct cache_idx *idx);

/* Current totals (objects, bytes) as of this handle's last finished commit: a commit under
 * way is not waited for. A read-only handle commits nothing: its totals are those at open. */
void cache_idx_get_totals(struct cache_idx *idx, struct cache_idx_totals *ret);
/* The totals the index holds now, read in a read transaction of their own (a read-only
 * handle's view of a writer's commits since it opened). Returns 0 or -errno. */
int cache_idx_read_totals(struct cache_idx *idx, struct cache_idx_totals *ret);

/* A per-thread reader holding one reset read txn. Returns 0 or -errno. */
int cache_idx_reader_new(struct cache_idx *idx, struct cache_idx_reader **ret);
void cache_idx_reader_free(struct cache_idx_reader *r);

/* Copy key's record into *ret. Returns 0, -ENOENT, or -errno. */
int cache_idx_reader_get(struct cache_idx_reader *r, const char *key, size_t key_len,
                         struct cache_idx_rec *ret);

/* New keys stop at this share of the map, so deletes (copy-on-write) always find pages. */
#define CACHE_IDX_MAP_RESERVE_PCT   90
#define CACHE_IDX_MAP_RESERVE_PAGES 32 /* and at least this many pages (tiny maps) */

/*
 * Insert or replace key → rec in one durable commit, unless the totals would then exceed
 * max_bytes (-ENOSPC, nothing written; max_bytes 0 means no limit), or key is new and the
 * map is CACHE_IDX_MAP_RESERVE_PCT full (-ENOSPC: the rest is kept for replacing and
 * deleting). With if_file, only while the key's entry is still that file (0: no entry),
 * else -ECANCELED and nothing written. On success *ret_old receives the replaced record and
 * *ret_had_old says whether there was one. Returns 0 or -errno.
 */
int cache_idx_put(struct cache_idx *idx, const char *key, size_t key_len,
                  const struct cache_idx_rec *rec, uint64_t max_bytes, const uint64_t *if_file,
                  struct cache_idx_rec *ret_old, bool *ret_had_old);

/* One entry of cache_idx_put_many(). */
struct cache_idx_put_req {
        const char *key;
        size_t key_len;
        struct cache_idx_rec rec;
        uint64_t max_bytes;      /* as cache_idx_put()'s */
        const uint64_t *if_file; /* as cache_idx_put()'s */
        /* May be NULL. Read inside the write transaction: once set, the entry is refused
         * (-ECANCELED), so a writer that sets it before its own transaction always wins. */
        const atomic_bool *unless;
        int r;                   /* out: what cache_idx_put() would have returned */
        struct cache_idx_rec old; /* out, on success: the replaced record, when had_old */
        bool had_old;
};

/*
 * cache_idx_put() of v[0..n) in one durable commit (one sync for the group, not one per
 * entry): each entry is checked against what the entries before it left, as if put one after
 * another, and its own refusal (v[i].r) writes nothing of it. When the commit fails as a
 * whole, each entry is tried again on its own. Returns 0, or the first such failure's -errno.
 */
int cache_idx_put_many(struct cache_idx *idx, struct cache_idx_put_req *v, size_t n);

/*
 * Remove key, only if its file id is expect_file_id (0: any). The removed record goes to
 * *ret_old (may be NULL). Returns 0, -ENOENT (absent or another file id), or -errno.
 */
int cache_idx_del(struct cache_idx *idx, const char *key, size_t key_len, uint64_t expect_file_id,
                  struct cache_idx_rec *ret_old);

/* One entry for cache_idx_del_files(). */
struct cache_idx_del_req {
        const char *key;
        size_t key_len;
        uint64_t file_id; /* deleted only while the entry names this file */
        bool deleted;     /* out: it did, and was committed */
};

/*
 * cache_idx_del() of each of v[0..n) that still names its file, in durable commits of up to
 * CACHE_IDX_DEL_BATCH entries each (one fsync per batch, not per entry: an eviction may take
 * thousands at once). Returns 0, or the -errno of the first batch that failed (its entries
 * and the later ones are not deleted).
 */
#define CACHE_IDX_DEL_BATCH 256
int cache_idx_del_files(struct cache_idx *idx, struct cache_idx_del_req *v, size_t n);

/* A counter increment to apply: hits added, last_access raised to at least this. */
struct cache_idx_hit {
        const char *key;
        size_t key_len;
        uint64_t hits;
        int64_t last_access;
};

/* Apply n increments in one commit; keys no longer present are skipped. Returns 0 or -errno. */
int cache_idx_add_hits(struct cache_idx *idx, const struct cache_idx_hit *hits, size_t n);

/*
 * Call cb for each record whose key starts with prefix, in key order, until cb returns
 * non-zero (returned). Records are copied out in batches, so cb runs with no transaction open
 * and may take its time; key and rec are valid during the call only. Returns 0, cb's value,
 * or -errno.
 */
int cache_idx_foreach(struct cache_idx *idx, const char *prefix, size_t prefix_len,
                      int (*cb)(const char *key, size_t key_len, const struct cache_idx_rec *rec,
                                void *userdata),
                      void *userdata);

/*
 * cache_idx_foreach() resuming a listing: only keys that sort strictly after after[0..after_len)
 * (bytewise; NULL: from the start of the prefix). A cursor longer than CACHE_IDX_KEY_MAX lists
 * nothing. Returns as cache_idx_foreach().
 */
int cache_idx_foreach_after(struct cache_idx *idx, const char *prefix, size_t prefix_len,
                            const char *after, size_t after_len,
                            int (*cb)(const char *key, size_t key_len,
                                      const struct cache_idx_rec *rec, void *userdata),
                            void *userdata);

/*
 * Recovery pass, start-up only, one write txn: call check for every record (and every
 * unreadable record, with rec == NULL); entries for which it returns > 0 are deleted.
 * Totals are recomputed from what remains. Returns 0 or -errno.
 */
int cache_idx_sweep(struct cache_idx *idx,
                    int (*check)(const char *key, size_t key_len, const struct cache_idx_rec *rec,
                                 void *userdata),
                    void *userdata);
