/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

/*
 * The edge's object store: one file per object under <dir>/objects/, indexed in LMDB
 * (<dir>/index/). An index entry holds key → file, size, content type, validators, SHA-256,
 * popularity counters and last access. Entries are versioned records.
 *
 * Commit order for a new object: stream to <dir>/tmp/<unique>, fsync, rename into
 * objects/, fsync the directory, then the LMDB commit. At open, temp files are deleted and
 * object files with no index entry are removed, so a crash at any instant never leaves a
 * half-written object that can be served.
 *
 * Threads: the store is shared by all workers. Lookups use a per-worker reader
 * (MDB_NOTLS, txn reset/renew per lookup, never held across a loop wait). Writes (put commit,
 * delete, counter flush) serialise on LMDB's writer lock.
 */

struct store;
struct store_reader;
struct store_put;

/* Longest key the index holds (LMDB's key limit): longer keys miss and cannot be put. */
#define STORE_KEY_MAX   511
#define STORE_CTYPE_MAX 63
#define STORE_ETAG_MAX  47

/* What a hit needs; copied out of the index, owned by the caller. */
struct store_obj {
        int fd;           /* O_RDONLY; owned by the per-worker fd cache, valid until
                           * store_obj_release() */
        uint64_t size;
        time_t last_modified;
        char content_type[STORE_CTYPE_MAX + 1];
        char etag[STORE_ETAG_MAX + 1]; /* strong, quoted */
        uint8_t sha256[32];
        bool has_sha256;
        void *priv; /* fd-cache slot */
        uint64_t file_id;
};

struct store_stats {
        uint64_t objects;
        uint64_t bytes;
        uint64_t max_bytes;
        uint64_t reserved; /* held by puts begun and not yet committed or dropped */
};

/*
 * Open (creating if needed) the store at dir with a byte budget; recovers after a crash as
 * described above and runs mdb_reader_check(). Start-up only: on failure the caller exits.
 * Returns 0 or -errno.
 */
int store_open(const char *dir, uint64_t max_bytes, struct store **ret);

/*
 * How the start-up check of a store goes, for a long one (an index of millions of entries on
 * a cold disk: a file looked up per entry): fn is told the phase ("index": entries checked
 * against their files, of the entries the index counted; "files": directories of 256 read for
 * files no entry names), when a phase starts, at most every interval_ms while it runs, and
 * when it ends.
 */
struct store_open_watch {
        void (*fn)(void *arg, const char *phase, uint64_t done, uint64_t total);
        void *arg;
        uint64_t interval_ms;
};
/* store_open() with the index's LMDB map size given (0: derived from max_bytes), told how
 * its check goes (w may be NULL). */
int store_open_watched(const char *dir, uint64_t max_bytes, uint64_t map_size,
                       const struct store_open_watch *w, struct store **ret);
void store_close(struct store *s);

/* One reader per worker thread; fd cache of up to fd_cache entries lives in it. */
int store_reader_new(struct store *s, unsigned fd_cache, struct store_reader **ret);
void store_reader_free(struct store_reader *r);
/*
 * Where a reader counts its fd cache's work (any may be NULL): a gauge of the object files it
 * holds open (set in its thread's slot whenever that changes, never on a lookup the cache
 * answered), and counters of the files it opened and of the idle ones it closed early for a
 * descriptor needed elsewhere (store_reader_shed). Set once, before the reader's first use.
 */
struct store_reader_metrics {
        struct metric *files, *opens, *shed;
};
void store_reader_set_metrics(struct store_reader *r, const struct store_reader_metrics *m);
/* Close r's cached fds of files unlinked since it last looked (deleted, replaced, evicted):
 * a lookup does this too, a reader with none to make must call it for their space to be
 * freed. Only from r's own thread. */
void store_reader_sync(struct store_reader *r);
/* Close up to n of r's idle cached fds (least recently used first), for a descriptor needed
 * now: the process's table is full (EMFILE/ENFILE). Returns how many it closed. Only from r's
 * own thread. */
unsigned store_reader_shed(struct store_reader *r, unsigned n);

/*
 * Look key up and open its file (through the reader's fd cache). Records a hit for the
 * popularity counters (in memory; flushed by store_flush_counters()). Returns 0 and fills
 * *ret, -ENOENT when absent, -ESTALE when its file was found missing or of the wrong size (the
 * entry and file are then dropped: treat as absent and refill), or -errno. Release with
 * store_obj_release().
 */
int store_lookup(struct store_reader *r, const char *key, size_t key_len, struct store_obj *ret);
void store_obj_release(struct store_reader *r, struct store_obj *obj);
/* The file proved shorter than its record while sending: forget its cached descriptor, so that
 * the next lookup opens it again, finds the size wrong and drops the entry (-ESTALE). */
void store_obj_distrust(struct store_reader *r, const struct store_obj *obj);

/*
 * obj's file mapped read-only for zero-copy sends (see fd_cache_map: only the kernel may read
 * through it). The mapping lives while obj, or a pin taken from it, is held. Returns 0 with
 * *ret, -EOPNOTSUPP when obj's descriptor is not in the fd cache, -errno.
 */
int store_obj_map(const struct store_obj *obj, const void **ret);
/* Keep obj's file and mapping open past store_obj_release(): returns a pin (NULL when obj is
 * not in the fd cache) to drop with store_obj_unpin(), on the same reader's thread. */
void *store_obj_pin(const struct store_obj *obj);
void store_obj_unpin(struct store_reader *r, void *pin);
/* store_obj_distrust() for the object a pin holds. */
void store_obj_pin_distrust(struct store_reader *r, void *pin);

/*
 * Whether the index holds key, by r's read txn alone: no file is opened and no hit counted
 * (the fill table's re-check that a fill did not commit since the caller's lookup).
 * store_file_of() also gives the file the key names (0 when it returns false).
 */
bool store_has(struct store_reader *r, const char *key, size_t key_len);
bool store_file_of(struct store_reader *r, const char *key, size_t key_len, uint64_t *file_id);

/*
 * Begin a put of key with a declared length and optional expected SHA-256 (64 hex chars, or
 * NULL) and content type (NULL: derived from the extension). Returns 0, -EINVAL for a bad
 * key/hash, -ENAMETOOLONG for a key over STORE_KEY_MAX, -ENOSPC when size exceeds the budget
 * or the disk (which must keep STORE_DISK_RESERVE free beside it), or -errno.
 */
int store_put_begin(struct store *s, const char *key, size_t key_len, uint64_t size,
                    const char *sha256_hex, const char *content_type, struct store_put **ret);
/* Append body bytes. More than the declared size → -EMSGSIZE. */
int store_put_write(struct store_put *p, const void *buf, size_t len);
/*
 * Verify (length, SHA-256), fsync, rename, commit the index entry (replacing an older one,
 * whose file is unlinked once no reader holds it). Frees p. Returns 0, -EBADMSG on a length or
 * hash mismatch (nothing committed), or -errno.
 */
int store_put_commit(struct store_put *p);
/*
 * store_put_commit() that also copies the body's SHA-256 to ret_sha256 (may be NULL) once the
 * body verified: on success, and on a failure after verification (-ENOSPC, -errno of the
 * disk); untouched on -EBADMSG. The object's ETag is derived from it (first 8 bytes, hex).
 */
int store_put_commit_digest(struct store_put *p, uint8_t ret_sha256[32]);
/*
 * store_put_commit_digest() that also gives the committed object's file id (ret_file_id may be
 * NULL; set on success only): the one store_delete_file() takes.
 */
int store_put_commit_id(struct store_put *p, uint8_t ret_sha256[32], uint64_t *ret_file_id);
/* One put of a group commit (store_put_commit_many). */
struct store_commit {
        struct store_put *put; /* freed by the commit (set to NULL) */
        int r;                 /* out: what store_put_commit_id() would have returned */
        bool verified;         /* out: the body checked; sha256 holds its SHA-256 */
        uint8_t sha256[32];
        uint64_t file_id; /* out, when r is 0 */
};
/*
 * store_put_commit_id() of v[0..n) as a group: each object as durable, and in the same order
 * (body synced, renamed, its directory synced, index entry), as on its own, but a directory
 * several of them went to is synced once and every index entry goes in one LMDB commit, in
 * groups of up to STORE_COMMIT_MAX. Every put belongs to the same store.
 */
#define STORE_COMMIT_MAX 64
void store_put_commit_many(struct store_commit *v, size_t n);
/* The object's Last-Modified (an upstream's); without it (or t <= 0) the commit time. */
void store_put_set_mtime(struct store_put *p, time_t t);
/*
 * Commit p only if the key's entry still names *base_file (0: no entry), and while *dropped
 * (may be NULL) is false: a fill started before an admin PUT or DELETE of its key must not
 * undo it. base_file is what the key named when the fill began (a push may land while it
 * waits for its upstream's head, before store_put_begin()); NULL takes the entry at
 * store_put_begin(). A DELETE of a key that is absent changes no entry, so it sets *dropped
 * before its own index transaction; the flag is read inside the commit's. The commit then
 * returns -ECANCELED instead, with nothing written (its digest still given).
 */
void store_put_if_unchanged(struct store_put *p, const uint64_t *base_file,
                            const atomic_bool *dropped);
/*
 * Hold p's body to sha256_hex (64 hex digits) at commit, in place of any SHA-256 given to
 * store_put_begin(): a fill plan that names the key only once the fill is under way. Returns
 * 0, or -EINVAL for a malformed hash (p unchanged).
 */
int store_put_expect(struct store_put *p, const char *sha256_hex);
/* Drop a put and its temp file. Frees p; p may be NULL. */
void store_put_abort(struct store_put *p);

/*
 * A new O_RDONLY descriptor on p's temp file, so that readers can stream a put while it is
 * being written (an in-flight fill): bytes that store_put_write() returned for are readable
 * through it. The descriptor stays valid after commit (same inode) and after abort (unlinked
 * file). The caller owns it and closes it. Returns the fd or -errno.
 */
int store_put_open_read(struct store_put *p);

/* Remove key. Returns 0 or -ENOENT. */
int store_delete(struct store *s, const char *key, size_t key_len);
/*
 * Remove key only while it still names file file_id (0: any), so that a delete decided
 * earlier (eviction, admission) never removes an object committed again since. Returns 0 or
 * -ENOENT (absent, or replaced by another file).
 */
int store_delete_file(struct store *s, const char *key, size_t key_len, uint64_t file_id);

/* One object for store_delete_files(). */
struct store_victim {
        const char *key;
        size_t key_len;
        uint64_t file_id;
};

/*
 * store_delete_file() of each of v[0..n), in a few index commits rather than one each (see
 * cache_idx_del_files), their files unlinked by a thread of the store's soon after. Returns
 * how many were deleted, or -errno when an index commit failed (those before it are
 * deleted).
 */
ssize_t store_delete_files(struct store *s, const struct store_victim *v, size_t n);
/* Wait until the files of objects deleted by store_delete_files() are unlinked (a thread
 * does it; a put that finds the disk full waits for it too, and so do tests). */
void store_unlinks_settle(struct store *s);

/* Entry summary for listings and holdings. */
struct store_entry_info {
        const char *key;
        size_t key_len;
        uint64_t size;
        uint8_t sha256[32];
        bool has_sha256;
        uint64_t hits;
        time_t last_access;
        uint64_t file_id; /* for store_delete_file() */
};

/*
 * Call cb for each entry whose key starts with prefix, in key order, until cb returns
 * non-zero (which is returned). The info is valid only during the callback.
 */
int store_list(struct store *s, const char *prefix, size_t prefix_len,
               int (*cb)(const struct store_entry_info *info, void *userdata), void *userdata);

/*
 * store_list() from a cursor: only keys that sort strictly after after[0..after_len) (NULL:
 * from the start), for a listing answered in pages. A cursor longer than STORE_KEY_MAX lists
 * nothing.
 */
int store_list_after(struct store *s, const char *prefix, size_t prefix_len, const char *after,
                     size_t after_len,
                     int (*cb)(const struct store_entry_info *info, void *userdata),
                     void *userdata);

void store_get_stats(struct store *s, struct store_stats *ret);

/*
 * Bytes a put leaves free on the file system for the index: LMDB copies every page it writes,
 * deletes included, so on a disk that objects filled to its last block even eviction's
 * deletes fail (ENOSPC) and nothing is ever made room for again.
 */
#define STORE_DISK_RESERVE (1ull << 20)

/* Bytes an unprivileged writer may still take on the file system of the cache directory;
 * UINT64_MAX when it cannot be read. */
uint64_t store_disk_free(struct store *s);

/*
 * One entry's summary without opening its file or counting a hit (admin: does it exist, what
 * is its hash). ret->key points at the caller's key. Not for the data path: it shares one
 * index reader behind a mutex. Returns 0, -ENOENT, or -errno.
 */
int store_get_info(struct store *s, const char *key, size_t key_len,
                   struct store_entry_info *ret);

/* What a scrub pass did. */
struct store_scrub_stats {
        uint64_t objects; /* checked */
        uint64_t bytes;   /* read and hashed */
        uint64_t damaged; /* dropped: missing, wrong size, unreadable or wrong SHA-256 */
        uint64_t errors;  /* not checked: out of memory or a file error not the object's */
};

struct store_scrub_ops {
        /* After each chunk read (bytes): false stops the pass. May sleep. NULL: no pacing. */
        bool (*pace)(uint64_t bytes, void *userdata);
        /* An object was found damaged and dropped (why: a short phrase). May be NULL. */
        void (*damaged)(const char *key, size_t key_len, const char *why, void *userdata);
        void *userdata;
        /* An object was checked, whatever was found (the pass's progress). May be NULL. */
        void (*checked)(const char *key, size_t key_len, void *userdata);
};

/*
 * One pass over every object whose key sorts after after[0..after_len) (NULL: every object):
 * re-read its file and compare size and SHA-256 with the index; a damaged object's entry and
 * file are dropped (the next request refills it). Runs on the caller's thread with no
 * transaction held while reading. Returns 0 after a full pass, 1 when ops->pace stopped it, or
 * -errno; *ret says what was done either way.
 */
int store_scrub(struct store *s, const char *after, size_t after_len,
                const struct store_scrub_ops *ops, struct store_scrub_stats *ret);

/*
 * Where a pass that did not end got to, kept in the cache directory (scrub.pos) so that one
 * after a restart goes on from there instead of starting over. _save() keeps key[0..len) (0:
 * none, the next pass starts at the first key); best effort, a lost position only costs a
 * re-read. _load() copies it into buf (STORE_KEY_MAX bytes) and returns its length, 0 for
 * none (or not a key).
 */
int store_scrub_pos_save(struct store *s, const char *key, size_t len);
size_t store_scrub_pos_load(struct store *s, char *buf);

/* Write accumulated hit counters and last-access times to the index. Returns 0 or -errno. */
int store_flush_counters(struct store *s);
