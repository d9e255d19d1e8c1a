/* SPDX-License-Identifier: MIT */
/*
 * LMDB wrapper for the store's index. See cache-idx.h for the layout and threading rules.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

#include "cache-idx.h"
#include "lmdb-check.h"

#define META_VERSION 1
#define MAX_READERS  512
#define LIST_BATCH   256

struct meta_rec {
        uint32_t version;
        uint32_t rec_size;
        uint64_t objects;
        uint64_t bytes;
};
static const char meta_key[] = "format";

struct cache_idx {
        MDB_env *env;
        MDB_dbi obj;
        MDB_dbi meta;
        bool ro;               /* CACHE_IDX_RDONLY: beside a writer in another process */
        pthread_mutex_t wlock; /* serialises writers; held across each commit's fsync */
        /* Written only by a writer holding wlock, which reads it freely; other readers take
         * tlock, which is never held across I/O, so they never wait for a commit. */
        pthread_mutex_t tlock;
        struct cache_idx_totals totals;
};

struct cache_idx_reader {
        struct cache_idx *idx;
        MDB_txn *txn; /* reset between lookups */
};

/* The one place MDB codes become -errno. */
static int mdb_err(int rc)
{
        switch (rc) {
        case MDB_SUCCESS:
                return 0;
        case MDB_NOTFOUND:
                return -ENOENT;
        case MDB_KEYEXIST:
                return -EEXIST;
        case MDB_MAP_FULL:
        case MDB_TXN_FULL:
        case MDB_DBS_FULL:
                return -ENOSPC;
        case MDB_READERS_FULL:
        case MDB_MAP_RESIZED:
                return -EAGAIN;
        case MDB_BAD_VALSIZE:
                return -EINVAL;
        case MDB_VERSION_MISMATCH:
        case MDB_INVALID:
                return -EPROTO;
        case MDB_CORRUPTED:
        case MDB_PAGE_NOTFOUND:
        case MDB_PANIC:
                return -EIO;
        default:
                /* LMDB passes system errors through as positive errno values. */
                if (rc > 0)
                        return -rc;
                return -EIO;
        }
}

static bool rec_valid(const MDB_val *v)
{
        uint32_t version;

        if (v->mv_size != sizeof(struct cache_idx_rec))
                return false;
        memcpy(&version, v->mv_data, sizeof(version));
        return version == CACHE_IDX_REC_VERSION;
}

static int meta_write(struct cache_idx *idx, MDB_txn *txn, const struct cache_idx_totals *t)
{
        struct meta_rec m = {
            .version = META_VERSION,
            .rec_size = sizeof(struct cache_idx_rec),
            .objects = t->objects,
            .bytes = t->bytes,
        };
        MDB_val k = {sizeof(meta_key) - 1, (void *)meta_key};
        MDB_val v = {sizeof(m), &m};

        return mdb_err(mdb_put(txn, idx->meta, &k, &v, 0));
}

/* The totals the meta record holds in txn's view. Returns 0, -ENOENT (none yet), -EPROTO (a
 * record of another format) or -errno. */
static int meta_read(struct cache_idx *idx, MDB_txn *txn, struct cache_idx_totals *ret)
{
        MDB_val k = {sizeof(meta_key) - 1, (void *)meta_key}, v;
        struct meta_rec m;
        int r = mdb_err(mdb_get(txn, idx->meta, &k, &v));

        if (r < 0)
                return r;
        if (v.mv_size < sizeof(m))
                return -EPROTO;
        memcpy(&m, v.mv_data, sizeof(m));
        if (m.version != META_VERSION || m.rec_size != sizeof(struct cache_idx_rec))
                return -EPROTO;
        ret->objects = m.objects;
        ret->bytes = m.bytes;
        return 0;
}

/* Every write takes the writer lock, then a write transaction; write_end undoes both. */
static int write_begin(struct cache_idx *idx, MDB_txn **txn)
{
        int r;

        pthread_mutex_lock(&idx->wlock);
        r = mdb_err(mdb_txn_begin(idx->env, NULL, 0, txn));
        if (r < 0)
                *txn = NULL;
        return r;
}

/* Aborts the transaction when it was not committed, and releases the writer lock. */
static void write_end(struct cache_idx *idx, MDB_txn *txn)
{
        if (txn)
                mdb_txn_abort(txn);
        pthread_mutex_unlock(&idx->wlock);
}

/*
 * Store the new totals beside the records, commit, and adopt the totals only once the commit
 * holds. The transaction is consumed by the commit (*txn becomes NULL), but it is left for
 * write_end to abort when the totals could not be written.
 */
static int commit_totals(struct cache_idx *idx, MDB_txn **txn, const struct cache_idx_totals *t)
{
        int r = meta_write(idx, *txn, t);

        if (r < 0)
                return r;
        r = mdb_err(mdb_txn_commit(*txn));
        *txn = NULL;
        if (r < 0)
                return r;
        pthread_mutex_lock(&idx->tlock);
        idx->totals = *t;
        pthread_mutex_unlock(&idx->tlock);
        return 0;
}

int cache_idx_open(const char *dir, uint64_t map_size, unsigned flags, struct cache_idx **ret)
{
        bool ro = flags & CACHE_IDX_RDONLY;
        struct cache_idx *idx;
        MDB_txn *txn = NULL;
        int r, dead;

        idx = calloc(1, sizeof(*idx));
        if (!idx)
                return -ENOMEM;
        pthread_mutex_init(&idx->wlock, NULL);
        pthread_mutex_init(&idx->tlock, NULL);

        r = mdb_err(mdb_env_create(&idx->env));
        if (r < 0) {
                idx->env = NULL;
                goto fail;
        }
        /* Callers rely on CACHE_IDX_KEY_MAX; a liblmdb built with a smaller limit would
         * refuse keys we promised to store. */
        if (mdb_env_get_maxkeysize(idx->env) < CACHE_IDX_KEY_MAX) {
                r = -EPROTO;
                goto fail;
        }
        r = mdb_err(mdb_env_set_maxdbs(idx->env, 2));
        if (r < 0)
                goto fail;
        r = mdb_err(mdb_env_set_maxreaders(idx->env, MAX_READERS));
        if (r < 0)
                goto fail;
        /* A read-only handle keeps LMDB's default: the map the writer set, recorded in the
         * environment. Asking for less maps only the data in use at open, and the first
         * listing batch after a live writer grew the file past it fails (MDB_MAP_RESIZED). */
        if (!ro) {
                r = mdb_err(mdb_env_set_mapsize(idx->env, (size_t)map_size));
                if (r < 0)
                        goto fail;
        }
        /* MDB_NOTLS: read txns are tied to reader objects, not threads, so workers can keep one
         * reset txn each. Commits stay fully synchronous: a put is acknowledged only once
         * durable. */
        idx->ro = ro;
        r = mdb_err(mdb_env_open(idx->env, dir, MDB_NOTLS | (ro ? MDB_RDONLY : 0), 0600));
        if (r < 0)
                goto fail;
        /* Before any transaction: opening one reads the main database's root page. */
        r = lmdb_check_length(idx->env, dir);
        if (r < 0)
                goto fail;
        /* A previous process killed mid-read leaves its reader slot behind, pinning old pages
         * forever; clear those now. */
        r = mdb_err(mdb_reader_check(idx->env, &dead));
        if (r < 0)
                goto fail;

        /* A read-only open commits its read txn too: that keeps the database handles. */
        r = mdb_err(mdb_txn_begin(idx->env, NULL, ro ? MDB_RDONLY : 0, &txn));
        if (r < 0)
                goto fail;
        r = mdb_err(mdb_dbi_open(txn, "obj", ro ? 0 : MDB_CREATE, &idx->obj));
        if (r < 0)
                goto fail;
        r = mdb_err(mdb_dbi_open(txn, "meta", ro ? 0 : MDB_CREATE, &idx->meta));
        if (r < 0)
                goto fail;

        r = meta_read(idx, txn, &idx->totals);
        if (r == -ENOENT && !ro) {
                r = meta_write(idx, txn, &idx->totals);
                if (r < 0)
                        goto fail;
        } else if (r < 0) {
                goto fail;
        }
        r = mdb_err(mdb_txn_commit(txn));
        txn = NULL;
        if (r < 0)
                goto fail;

        *ret = idx;
        return 0;

fail:
        if (txn)
                mdb_txn_abort(txn);
        if (idx->env)
                mdb_env_close(idx->env);
        pthread_mutex_destroy(&idx->tlock);
        pthread_mutex_destroy(&idx->wlock);
        free(idx);
        return r;
}

void cache_idx_close(struct cache_idx *idx)
{
        if (!idx)
                return;
        mdb_env_close(idx->env);
        pthread_mutex_destroy(&idx->tlock);
        pthread_mutex_destroy(&idx->wlock);
        free(idx);
}

void cache_idx_get_totals(struct cache_idx *idx, struct cache_idx_totals *ret)
{
        pthread_mutex_lock(&idx->tlock);
        *ret = idx->totals;
        pthread_mutex_unlock(&idx->tlock);
}

int cache_idx_read_totals(struct cache_idx *idx, struct cache_idx_totals *ret)
{
        MDB_txn *txn;
        int r = mdb_err(mdb_txn_begin(idx->env, NULL, MDB_RDONLY, &txn));

        if (r < 0)
                return r;
        r = meta_read(idx, txn, ret);
        mdb_txn_abort(txn);
        return r;
}

int cache_idx_reader_new(struct cache_idx *idx, struct cache_idx_reader **ret)
{
        struct cache_idx_reader *r;
        int e;

        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->idx = idx;
        e = mdb_err(mdb_txn_begin(idx->env, NULL, MDB_RDONLY, &r->txn));
        if (e < 0) {
                free(r);
                return e;
        }
        mdb_txn_reset(r->txn);
        *ret = r;
        return 0;
}

void cache_idx_reader_free(struct cache_idx_reader *r)
{
        if (!r)
                return;
        mdb_txn_abort(r->txn);
        free(r);
}

int cache_idx_reader_get(struct cache_idx_reader *r, const char *key, size_t key_len,
                         struct cache_idx_rec *ret)
{
        MDB_val k = {key_len, (void *)key}, v;
        int e;

        if (key_len == 0 || key_len > CACHE_IDX_KEY_MAX)
                return -ENOENT;
        e = mdb_err(mdb_txn_renew(r->txn));
        if (e < 0)
                return e;
        e = mdb_err(mdb_get(r->txn, r->idx->obj, &k, &v));
        if (e == 0) {
                if (rec_valid(&v))
                        memcpy(ret, v.mv_data, sizeof(*ret)); /* v may be unaligned */
                else
                        e = -ENOENT;
        }
        /* The snapshot ends with the lookup: nothing read from the map is used after this. */
        mdb_txn_reset(r->txn);
        return e;
}

/*
 * Whether txn may add a key. LMDB copies every page it touches on write, a delete included,
 * so a map filled to the brim refuses the very deletes that would make room (MDB_MAP_FULL).
 * New keys are refused once the pages in use reach CACHE_IDX_MAP_RESERVE_PCT of the map, or
 * leave fewer than CACHE_IDX_MAP_RESERVE_PAGES free; replacing and deleting go on in the
 * rest. Pages on LMDB's free list are not in use: they are reused by later writes.
 */
static bool map_has_room(struct cache_idx *idx, MDB_txn *txn)
{
        const MDB_dbi dbis[] = {0 /* free list */, 1 /* main */, idx->obj, idx->meta};
        MDB_envinfo info;
        MDB_stat st;
        uint64_t used = 2, limit; /* the two meta pages */

        if (mdb_env_info(idx->env, &info) != 0 || mdb_stat(txn, idx->obj, &st) != 0 ||
            !st.ms_psize)
                return true; /* cannot tell: LMDB itself still says MDB_MAP_FULL */
        limit = (uint64_t)info.me_mapsize / st.ms_psize;
        for (size_t i = 0; i < sizeof(dbis) / sizeof(dbis[0]); i++) {
                if (mdb_stat(txn, dbis[i], &st) != 0)
                        return true;
                used += st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages;
        }
        if (limit <= CACHE_IDX_MAP_RESERVE_PAGES ||
            used >= limit - CACHE_IDX_MAP_RESERVE_PAGES)
                return false;
        return used * 100 < limit * CACHE_IDX_MAP_RESERVE_PCT;
}

/*
 * One entry of a put group, checked against the records and totals the entries before it left
 * in txn. A refusal is the entry's own (e->r) and writes nothing; an LMDB failure is returned,
 * and the transaction is then unusable.
 */
static int put_one(struct cache_idx *idx, MDB_txn *txn, struct cache_idx_totals *t,
                   struct cache_idx_put_req *e)
{
        MDB_val k = {e->key_len, (void *)e->key}, v;
        struct cache_idx_totals nt = *t;
        struct cache_idx_rec nr = e->rec;
        int r;

        e->had_old = false;
        e->r = 0;
        if (e->key_len == 0 || e->key_len > CACHE_IDX_KEY_MAX) {
                e->r = -ENAMETOOLONG;
                return 0;
        }
        r = mdb_err(mdb_get(txn, idx->obj, &k, &v));
        if (r == 0 && rec_valid(&v)) {
                memcpy(&e->old, v.mv_data, sizeof(e->old));
                e->had_old = true;
                nt.objects--;
                nt.bytes -= e->old.size;
        } else if (r < 0 && r != -ENOENT) {
                return r;
        }
        if (e->if_file && (e->had_old ? e->old.file_id : 0) != *e->if_file)
                e->r = -ECANCELED; /* replaced or deleted since the caller looked */
        else if (e->unless && atomic_load(e->unless))
                e->r = -ECANCELED; /* deleted while absent: nothing else says so */
        else if (!e->had_old && r == -ENOENT && !map_has_room(idx, txn))
                e->r = -ENOSPC;
        /* An unreadable old record was never counted in the totals; it is simply replaced. */
        else if (e->max_bytes &&
                 (nr.size > e->max_bytes || nt.bytes > e->max_bytes - nr.size))
                e->r = -ENOSPC;
        if (e->r < 0) {
                e->had_old = false;
                return 0;
        }
        nt.objects++;
        nt.bytes += nr.size;
        /* Popularity is the key's, not the bytes': a replace keeps what was counted. */
        if (e->had_old) {
                nr.hits = e->old.hits;
                nr.last_access = e->old.last_access;
        }
        /* Other bytes committed within the old ones' second (or with the clock stepped back)
         * get a later Last-Modified, else a client holding the old bytes would be told 304. */
        if (e->had_old && (nr.flags & CACHE_IDX_F_COMMIT_TIME) && nr.mtime <= e->old.mtime &&
            memcmp(nr.sha256, e->old.sha256, sizeof(nr.sha256)) != 0)
                nr.mtime = e->old.mtime + 1;

        v.mv_size = sizeof(nr);
        v.mv_data = &nr;
        r = mdb_err(mdb_put(txn, idx->obj, &k, &v, 0));
        if (r < 0)
                return r;
        *t = nt;
        return 0;
}

static int put_group(struct cache_idx *idx, struct cache_idx_put_req *v, size_t n)
{
        MDB_txn *txn = NULL;
        struct cache_idx_totals t;
        int r;

        r = write_begin(idx, &txn);
        if (r < 0)
                goto out;
        t = idx->totals;
        for (size_t i = 0; i < n && r == 0; i++)
                r = put_one(idx, txn, &t, &v[i]);
        if (r == 0)
                r = commit_totals(idx, &txn, &t);
out:
        write_end(idx, txn);
        if (r < 0)
                for (size_t i = 0; i < n; i++)
                        if (v[i].r == 0) {
                                v[i].r = r;
                                v[i].had_old = false;
                        }
        return r;
}

int cache_idx_put_many(struct cache_idx *idx, struct cache_idx_put_req *v, size_t n)
{
        int r;

        if (n == 0)
                return 0;
        r = put_group(idx, v, n);
        if (r == 0 || n == 1)
                return r;
        /* The group failed as a whole (a full map, say, where one entry alone may fit): each
         * entry then gets the answer it would have had on its own. */
        r = 0;
        for (size_t i = 0; i < n; i++) {
                int e = put_group(idx, &v[i], 1);

                if (e < 0 && r == 0)
                        r = e;
        }
        return r;
}

int cache_idx_put(struct cache_idx *idx, const char *key, size_t key_len,
                  const struct cache_idx_rec *rec, uint64_t max_bytes, const uint64_t *if_file,
                  struct cache_idx_rec *ret_old, bool *ret_had_old)
{
        struct cache_idx_put_req e = {.key = key, .key_len = key_len, .rec = *rec,
                                      .max_bytes = max_bytes, .if_file = if_file};

        (void)cache_idx_put_many(idx, &e, 1);
        if (e.r == 0) {
                *ret_old = e.old;
                *ret_had_old = e.had_old;
        }
        return e.r;
}

int cache_idx_del(struct cache_idx *idx, const char *key, size_t key_len, uint64_t expect_file_id,
                  struct cache_idx_rec *ret_old)
{
        MDB_txn *txn = NULL;
        MDB_val k = {key_len, (void *)key}, v;
        struct cache_idx_rec old;
        struct cache_idx_totals t;
        bool valid;
        int r;

        if (key_len == 0 || key_len > CACHE_IDX_KEY_MAX)
                return -ENOENT;

        r = write_begin(idx, &txn);
        if (r < 0)
                goto out;
        t = idx->totals;
        r = mdb_err(mdb_get(txn, idx->obj, &k, &v));
        if (r < 0)
                goto out;
        valid = rec_valid(&v);
        if (valid) {
                memcpy(&old, v.mv_data, sizeof(old));
                if (expect_file_id && old.file_id != expect_file_id) {
                        r = -ENOENT;
                        goto out;
                }
                t.objects--;
                t.bytes -= old.size;
        } else {
                memset(&old, 0, sizeof(old));
        }
        r = mdb_err(mdb_del(txn, idx->obj, &k, NULL));
        if (r < 0)
                goto out;
        r = commit_totals(idx, &txn, &t);
        if (r < 0)
                goto out;
        if (ret_old)
                *ret_old = old;
        if (!valid)
                r = -ENOENT; /* removed garbage, but there was no object */
out:
        write_end(idx, txn);
        return r;
}

static int del_batch(struct cache_idx *idx, struct cache_idx_del_req *v, size_t n)
{
        MDB_txn *txn = NULL;
        struct cache_idx_totals t;
        int r;

        r = write_begin(idx, &txn);
        if (r < 0)
                goto out;
        t = idx->totals;
        for (size_t i = 0; i < n; i++) {
                MDB_val k = {v[i].key_len, (void *)v[i].key}, d;
                struct cache_idx_rec rec;

                v[i].deleted = false;
                if (v[i].key_len == 0 || v[i].key_len > CACHE_IDX_KEY_MAX ||
                    mdb_get(txn, idx->obj, &k, &d) != 0 || !rec_valid(&d))
                        continue;
                memcpy(&rec, d.mv_data, sizeof(rec));
                if (rec.file_id != v[i].file_id)
                        continue; /* committed again since: that object stays */
                r = mdb_err(mdb_del(txn, idx->obj, &k, NULL));
                if (r < 0)
                        goto out;
                t.objects--;
                t.bytes -= rec.size;
                v[i].deleted = true;
        }
        r = commit_totals(idx, &txn, &t);
out:
        if (r < 0)
                for (size_t i = 0; i < n; i++)
                        v[i].deleted = false;
        write_end(idx, txn);
        return r;
}

int cache_idx_del_files(struct cache_idx *idx, struct cache_idx_del_req *v, size_t n)
{
        for (size_t i = 0; i < n; i += CACHE_IDX_DEL_BATCH) {
                int r = del_batch(idx, v + i, n - i < CACHE_IDX_DEL_BATCH ? n - i
                                                                          : CACHE_IDX_DEL_BATCH);
                if (r < 0) {
                        for (size_t k = i; k < n; k++)
                                v[k].deleted = false;
                        return r;
                }
        }
        return 0;
}

int cache_idx_add_hits(struct cache_idx *idx, const struct cache_idx_hit *hits, size_t n)
{
        MDB_txn *txn = NULL;
        int r;

        if (n == 0)
                return 0;
        r = write_begin(idx, &txn);
        if (r < 0)
                goto out;
        for (size_t i = 0; i < n; i++) {
                MDB_val k = {hits[i].key_len, (void *)hits[i].key}, v;
                struct cache_idx_rec rec;

                if (hits[i].key_len == 0 || hits[i].key_len > CACHE_IDX_KEY_MAX)
                        continue;
                r = mdb_err(mdb_get(txn, idx->obj, &k, &v));
                if (r == -ENOENT || (r == 0 && !rec_valid(&v)))
                        continue;
                if (r < 0)
                        goto out;
                memcpy(&rec, v.mv_data, sizeof(rec));
                rec.hits += hits[i].hits;
                if (hits[i].last_access > rec.last_access)
                        rec.last_access = hits[i].last_access;
                v.mv_size = sizeof(rec);
                v.mv_data = &rec;
                r = mdb_err(mdb_put(txn, idx->obj, &k, &v, 0));
                if (r < 0)
                        goto out;
        }
        r = mdb_err(mdb_txn_commit(txn));
        txn = NULL;
out:
        write_end(idx, txn);
        return r;
}

struct batch_ent {
        size_t key_len;
        char key[CACHE_IDX_KEY_MAX + 1];
        struct cache_idx_rec rec;
};

/*
 * Copy up to LIST_BATCH records with the prefix, starting at 'from' (exclusive when
 * skip_from) into b. Returns the count, or -errno. *ret_more says the prefix continues.
 */
static int fill_batch(struct cache_idx *idx, const char *prefix, size_t prefix_len,
                      const char *from, size_t from_len, bool skip_from, struct batch_ent *b,
                      bool *ret_more)
{
        MDB_txn *txn = NULL;
        MDB_cursor *cur = NULL;
        MDB_val k, v;
        int r, n = 0;

        *ret_more = false;
        r = mdb_txn_begin(idx->env, NULL, MDB_RDONLY, &txn);
        /* The writer has since mapped more than this handle (it restarted with a larger
         * map) and filled past it: adopt its size. No transaction of this handle is open
         * between batches. */
        if (r == MDB_MAP_RESIZED && idx->ro) {
                r = mdb_env_set_mapsize(idx->env, 0);
                if (r == MDB_SUCCESS)
                        r = mdb_txn_begin(idx->env, NULL, MDB_RDONLY, &txn);
        }
        r = mdb_err(r);
        if (r < 0)
                return r;
        r = mdb_err(mdb_cursor_open(txn, idx->obj, &cur));
        if (r < 0)
                goto out;
        if (from_len > 0) {
                k.mv_size = from_len;
                k.mv_data = (void *)from;
                r = mdb_err(mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE));
        } else {
                r = mdb_err(mdb_cursor_get(cur, &k, &v, MDB_FIRST));
        }
        if (r == 0 && skip_from && k.mv_size == from_len && memcmp(k.mv_data, from, from_len) == 0)
                r = mdb_err(mdb_cursor_get(cur, &k, &v, MDB_NEXT));
        while (r == 0) {
                if (k.mv_size < prefix_len || memcmp(k.mv_data, prefix, prefix_len) != 0)
                        break; /* keys are sorted: past the prefix means done */
                if (n == LIST_BATCH) {
                        *ret_more = true;
                        break;
                }
                if (rec_valid(&v) && k.mv_size <= CACHE_IDX_KEY_MAX) {
                        b[n].key_len = k.mv_size;
                        memcpy(b[n].key, k.mv_data, k.mv_size);
                        b[n].key[k.mv_size] = '\0';
                        memcpy(&b[n].rec, v.mv_data, sizeof(b[n].rec));
                        n++;
                }
                r = mdb_err(mdb_cursor_get(cur, &k, &v, MDB_NEXT));
        }
        if (r == -ENOENT)
                r = 0;
out:
        if (cur)
                mdb_cursor_close(cur);
        mdb_txn_abort(txn);
        return r < 0 ? r : n;
}

/* LMDB's default key order: bytewise, a proper prefix first. */
static int key_cmp(const char *a, size_t a_len, const char *b, size_t b_len)
{
        int c = memcmp(a, b, a_len < b_len ? a_len : b_len);

        if (c)
                return c;
        return a_len < b_len ? -1 : a_len > b_len;
}

int cache_idx_foreach(struct cache_idx *idx, const char *prefix, size_t prefix_len,
                      int (*cb)(const char *key, size_t key_len, const struct cache_idx_rec *rec,
                                void *userdata),
                      void *userdata)
{
        return cache_idx_foreach_after(idx, prefix, prefix_len, NULL, 0, cb, userdata);
}

int cache_idx_foreach_after(struct cache_idx *idx, const char *prefix, size_t prefix_len,
                            const char *after, size_t after_len,
                            int (*cb)(const char *key, size_t key_len,
                                      const struct cache_idx_rec *rec, void *userdata),
                            void *userdata)
{
        struct batch_ent *b;
        char last[CACHE_IDX_KEY_MAX + 1];
        size_t last_len = 0;
        bool more = true, skip = false;
        int r = 0;

        if (prefix_len > CACHE_IDX_KEY_MAX || after_len > CACHE_IDX_KEY_MAX)
                return 0;
        b = malloc(sizeof(*b) * LIST_BATCH);
        if (!b)
                return -ENOMEM;
        /* Keys with the prefix are one run in key order: start at whichever of the prefix and
         * the cursor comes later, the cursor itself excluded. */
        if (after && key_cmp(after, after_len, prefix, prefix_len) >= 0) {
                memcpy(last, after, after_len);
                last_len = after_len;
                skip = true;
        } else {
                memcpy(last, prefix, prefix_len);
                last_len = prefix_len;
        }
        while (more) {
                int n = fill_batch(idx, prefix, prefix_len, last, last_len, skip, b, &more);
                if (n < 0) {
                        r = n;
                        break;
                }
                for (int i = 0; i < n; i++) {
                        r = cb(b[i].key, b[i].key_len, &b[i].rec, userdata);
                        if (r != 0)
                                goto out;
                }
                if (n == 0)
                        break;
                /* Resume after the last key seen; entries added or removed in between are
                 * seen or not, like any listing of a live store. */
                last_len = b[n - 1].key_len;
                memcpy(last, b[n - 1].key, last_len);
                skip = true;
        }
out:
        free(b);
        return r;
}

struct key_list {
        char **keys;
        size_t *lens;
        size_t n, cap;
};

static int key_list_add(struct key_list *l, const void *key, size_t len)
{
        if (l->n == l->cap) {
                size_t cap = l->cap ? l->cap * 2 : 64;
                char **k = realloc(l->keys, cap * sizeof(*k));
                if (!k)
                        return -ENOMEM;
                l->keys = k;
                size_t *ln = realloc(l->lens, cap * sizeof(*ln));
                if (!ln)
                        return -ENOMEM;
                l->lens = ln;
                l->cap = cap;
        }
        char *c = malloc(len ? len : 1);
        if (!c)
                return -ENOMEM;
        memcpy(c, key, len);
        l->keys[l->n] = c;
        l->lens[l->n++] = len;
        return 0;
}

static void key_list_done(struct key_list *l)
{
        for (size_t i = 0; i < l->n; i++)
                free(l->keys[i]);
        free(l->keys);
        free(l->lens);
}

int cache_idx_sweep(struct cache_idx *idx,
                    int (*check)(const char *key, size_t key_len, const struct cache_idx_rec *rec,
                                 void *userdata),
                    void *userdata)
{
        MDB_txn *txn = NULL;
        MDB_cursor *cur = NULL;
        MDB_val k, v;
        struct cache_idx_totals t = {0, 0};
        struct key_list doomed = {0};
        int r;

        r = write_begin(idx, &txn);
        if (r < 0)
                goto out;
        r = mdb_err(mdb_cursor_open(txn, idx->obj, &cur));
        if (r < 0)
                goto out;
        /* Collect first, delete after: deleting under a walking cursor is easy to get subtly
         * wrong at page boundaries, and this runs once at start-up. */
        r = mdb_err(mdb_cursor_get(cur, &k, &v, MDB_FIRST));
        while (r == 0) {
                struct cache_idx_rec rec;
                bool valid = rec_valid(&v);
                int c;

                if (valid)
                        memcpy(&rec, v.mv_data, sizeof(rec));
                c = check(k.mv_data, k.mv_size, valid ? &rec : NULL, userdata);
                if (c < 0) {
                        r = c;
                        goto out;
                }
                if (c > 0 || !valid) {
                        r = key_list_add(&doomed, k.mv_data, k.mv_size);
                        if (r < 0)
                                goto out;
                } else {
                        t.objects++;
                        t.bytes += rec.size;
                }
                r = mdb_err(mdb_cursor_get(cur, &k, &v, MDB_NEXT));
        }
        if (r != -ENOENT)
                goto out;
        mdb_cursor_close(cur);
        cur = NULL;
        for (size_t i = 0; i < doomed.n; i++) {
                MDB_val dk = {doomed.lens[i], doomed.keys[i]};
                r = mdb_err(mdb_del(txn, idx->obj, &dk, NULL));
                if (r < 0)
                        goto out;
        }
        r = commit_totals(idx, &txn, &t);
        if (r < 0)
                goto out;
out:
        if (cur)
                mdb_cursor_close(cur);
        write_end(idx, txn);
        key_list_done(&doomed);
        return r;
}
