/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The store's insides, shared by store.c, store-commit.c and store-scrub.c only: what a store holds, and the
 * helpers both need. Everyone else goes through store.h.
 */

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "cache-idx.h"
#include "store.h"

#define DEAD_RING 1024 /* recently unlinked file ids, for readers' fd caches */

struct store_reader;

struct store {
        int dirfd, objfd, tmpfd, lockfd;
        uint64_t max_bytes;
        struct cache_idx *idx;

        pthread_mutex_t lock; /* readers list, dead ring, reservations, put reader */
        struct store_reader *readers;
        struct cache_idx_reader *put_reader;
        uint64_t reserved; /* bytes of puts begun and not yet committed or aborted */
        uint64_t dead[DEAD_RING];
        _Atomic uint64_t dead_gen;

        /*
         * Files of objects deleted in batches (an eviction takes thousands at once), unlinked
         * by a thread of their own, started at the first: their unlinks would otherwise hold
         * up the fill's commit or the worker that asked for room. Their index entries are
         * gone already; a crash before the unlink leaves orphans, removed at start.
         */
        pthread_mutex_t ulock;
        pthread_cond_t ucond, uidle;
        uint64_t *uq;
        size_t un, ucap;
        bool ubusy, ustop, ustarted;
        pthread_t uth;
};

/* A put begun and not yet committed or aborted. */
struct store_put {
        struct store *s;
        char key[CACHE_IDX_KEY_MAX + 1];
        size_t key_len;
        uint64_t size, written;
        uint8_t expect[32];
        bool has_expect;
        char ctype[STORE_CTYPE_MAX + 1];
        uint64_t file_id;
        char tmpname[32];
        int fd;
        /* objects/<dir>, where the file goes, opened at the begin: the commit's directory sync
         * then needs no new descriptor on the committing thread, which cannot make room in a
         * full table as a worker can (its cached files). */
        int dirfd;
        char dir[3];
        int failed; /* what commit returns after a failed write: the temp file is not the body */
        bool if_unchanged; /* commit only while the key still holds base_file (0: nothing) */
        uint64_t base_file;
        const atomic_bool *dropped; /* with if_unchanged: set, the commit is refused */
        int64_t mtime; /* Last-Modified to record; 0: the commit time */
        EVP_MD_CTX *md;
};

/* "xx/hhhhhhhhhhhhhhhh" relative to objects/. */
void store_obj_path(uint64_t id, char out[20]);
/* A key the store takes: starts with '/', no NUL, at most CACHE_IDX_KEY_MAX bytes. */
bool store_key_ok(const char *key, size_t len);
/* Drop key's entry, only if it still names file_id, and remove that file: an object damaged
 * behind the store's back. True when this call dropped it. */
bool store_drop_damaged(struct store *s, const char *key, size_t key_len, uint64_t file_id);
/* Open an object file (its store_obj_path) read-only with these extra open flags (0, or
 * O_DIRECT), without touching its access time where the store may ask that. */
int store_open_object(struct store *s, const char *p, int flags);
/* A random file id, never 0. Returns 0 or -EIO. */
int store_new_file_id(uint64_t *ret);
/* fsync the directory name under dirfd. Returns 0 or -errno. */
int store_fsync_dirat(int dirfd, const char *name);
/* Remove an object file whose index entry is gone; its id is dead to every reader. */
void store_unlink_object(struct store *s, uint64_t id);
/* Close and free p, returning its reservation; with unlink_tmp its temp file goes too. */
void store_put_free(struct store_put *p, bool unlink_tmp);
