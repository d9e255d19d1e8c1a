/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#include <lmdb.h>

#include "log.h"
#include "mono-time.h"
#include "metrics.h"

#include "evict-key.h"
#include "evict.h"
#include "lmdb-check.h"
#include "policy-sluice.h"
#include "policy.h"
#include "store.h"
#include "worker.h"

#define MAP_BUCKETS  (1u << 16) /* id → key; chains grow with the object count */
#define STATE_MAP    (1ull << 30)

/*
 * The table's one record that is not an object's: its key is not 8 bytes long, so no id
 * names it. Value: a version byte, 7 zero bytes, then "since", 8 bytes little-endian.
 *
 * Records hold stamp - base: a stamp is the policy clock plus a priority, and base is the
 * clock at the last whole rewrite. "since" is the clock at the last save minus base. A
 * record untouched since an earlier save therefore still restores to its stamp relative to
 * the last save's clock (priority - since), though the clock moved since it was written.
 * A table without this record (older edges rewrote it whole on every save) has since 0,
 * which is what its records mean.
 */
static const char meta_key[] = "clock";
/* A disk fuller than the budget (evict_make_room): what a put needs beyond its size (the
 * store's reserve for the index, its last block, the index's growth), and how long it waits
 * for the space evicted for it. */
#define DISK_SLACK   (STORE_DISK_RESERVE + (1ull << 20))
#define DISK_WAIT_MS 500
#define META_VERSION 1
#define META_SIZE    16

struct key_ent {
        struct key_ent *next;
        uint64_t id;
        uint64_t file_id; /* the store's file: a victim is deleted only while it names it */
        size_t len;
        char key[];
};

struct evict {
        pthread_mutex_t lock;
        struct policy *p;
        struct store *store;
        struct edge_metrics *m;
        struct key_ent **map;
        /* Victims chosen under the lock, deleted from the store after it, and their sizes. */
        struct key_ent **victims;
        uint64_t *victim_sizes;
        size_t n_victims, cap_victims;
        uint64_t victim_bytes;
        /* Bytes the policy let go that the store still counts: their deletes are running
         * (unlock_and_delete); deleted is signalled as each batch ends. */
        uint64_t deleting;
        pthread_cond_t deleted;
        /* The sizes of the puts waiting in evict_put_begin for room (evict_room_queue): room
         * is made for all of them at once, so two puts never evict for one between them. */
        uint64_t queued;
        MDB_env *env;
        MDB_dbi dbi;
        uint64_t budget;
        /* The id of the file the store holds for a key now (store_file_now; a unit test that
         * feeds the policy made-up files stands in its own): 0, -ENOENT or -errno. */
        int (*file_now)(struct store *s, const char *key, size_t len, uint64_t *ret_file_id);
        /*
         * The saver's. evict_flush() holds flush_lock from its copy of the state to the
         * commit, so saves never interleave and an older copy never lands after a newer one.
         * Lock order: flush_lock, then lock. snap outlives a flush so the next copy neither
         * allocates nor faults in pages while holding lock.
         */
        pthread_mutex_t flush_lock;
        struct policy_record *snap;
        size_t cap_snap;
        uint64_t *gone; /* ids taken with the changes, for the deletes */
        size_t cap_gone;
        /*
         * What the table holds, in the policy clock's units (policy_sluice_clock): base, where
         * its records' priorities count from (negative after a restart: the clock restarts at
         * 0 for the last save's clock), and the clock its "since" says. full: the next save
         * rewrites the whole table (at start when the table is not exactly the restored
         * objects, and after a save failed or the policy lost track of a change).
         */
        int64_t base;
        uint64_t saved_clock;
        bool full;
};

static void fill_req(struct policy_req *q, const char *key, size_t len, uint64_t size,
                     bool plan)
{
        memset(q, 0, sizeof(*q));
        q->id = evict_key_id(key, len);
        q->size = size;
        q->group = evict_key_group(key, len);
        q->next_access = POLICY_NEVER;
        q->hints = evict_hints(key, len, plan);
        q->position = evict_position(key, len);
}

static int store_file_now(struct store *s, const char *key, size_t len, uint64_t *ret_file_id)
{
        struct store_entry_info info;
        int r = store_get_info(s, key, len, &info);

        if (r == 0)
                *ret_file_id = info.file_id;
        return r;
}

/* ---- id → key ---- */

static struct key_ent *map_take(struct evict *e, uint64_t id)
{
        for (struct key_ent **pp = &e->map[id % MAP_BUCKETS]; *pp; pp = &(*pp)->next)
                if ((*pp)->id == id) {
                        struct key_ent *k = *pp;
                        *pp = k->next;
                        k->next = NULL;
                        return k;
                }
        return NULL;
}

static int map_add(struct evict *e, uint64_t id, uint64_t file_id, const char *key, size_t len)
{
        struct key_ent *k;

        free(map_take(e, id));
        k = malloc(sizeof(*k) + len + 1);
        if (!k)
                return -ENOMEM;
        k->id = id;
        k->file_id = file_id;
        k->len = len;
        memcpy(k->key, key, len);
        k->key[len] = '\0';
        k->next = e->map[id % MAP_BUCKETS];
        e->map[id % MAP_BUCKETS] = k;
        return 0;
}

/* Whether the policy's entry for id stands for a file other than file_id. */
static bool map_other_file(struct evict *e, uint64_t id, uint64_t file_id)
{
        for (const struct key_ent *k = e->map[id % MAP_BUCKETS]; k; k = k->next)
                if (k->id == id)
                        return k->file_id != file_id;
        return false;
}

/* Called by the policy, under e->lock: remember the victim, delete it later. */
static void on_evict(void *ctx, uint64_t id, uint64_t size)
{
        struct evict *e = ctx;
        struct key_ent *k = map_take(e, id);

        if (!k)
                return;
        if (e->n_victims == e->cap_victims) {
                size_t cap = e->cap_victims ? e->cap_victims * 2 : 64;
                struct key_ent **v = realloc(e->victims, cap * sizeof(*v));
                uint64_t *sz = v ? realloc(e->victim_sizes, cap * sizeof(*sz)) : NULL;

                if (v)
                        e->victims = v;
                if (!sz) {
                        /* The store keeps a file the policy forgot: found again at restart. */
                        free(k);
                        return;
                }
                e->victim_sizes = sz;
                e->cap_victims = cap;
        }
        e->victim_sizes[e->n_victims] = size;
        e->victims[e->n_victims++] = k;
        e->victim_bytes += size;
}

/*
 * Victims whose deletes failed (the index could not be written: a disk full of other files
 * leaves LMDB no page to copy into) go back into the policy, stamped lowest so the next
 * eviction tries them first. Forgotten, they would stay in the store for good, counted in
 * its bytes and out of every eviction's reach, while the policy evicted the rest in their
 * place. A victim whose key names another file now is not its file's to keep. Under e->lock.
 * Returns how many went back, their bytes in *ret_bytes.
 */
static size_t keep_undeleted(struct evict *e, struct key_ent **v, const uint64_t *sizes,
                             size_t n, uint64_t *ret_bytes)
{
        size_t kept = 0;

        *ret_bytes = 0;
        for (size_t i = 0; i < n; i++) {
                struct policy_record rec = {.id = v[i]->id, .size = sizes[i]};
                uint64_t now_id;

                if (e->file_now(e->store, v[i]->key, v[i]->len, &now_id) != 0 ||
                    now_id != v[i]->file_id)
                        continue;
                rec.group = evict_key_group(v[i]->key, v[i]->len);
                rec.hints = evict_hints(v[i]->key, v[i]->len, false);
                /* -EEXIST: the key was noted again meanwhile, and that entry stands. */
                if (policy_sluice_restore_entry(e->p, &rec) < 0)
                        continue;
                if (map_add(e, rec.id, v[i]->file_id, v[i]->key, v[i]->len) < 0) {
                        (void)policy_remove(e->p, rec.id);
                        continue;
                }
                kept++;
                *ret_bytes += sizes[i];
        }
        return kept;
}

/* Drop e->lock and delete the victims gathered under it, in few index commits (a crossing of
 * the policy's high mark takes thousands). Returns false when some could not be deleted. */
static bool unlock_and_delete(struct evict *e)
{
        struct key_ent **v = e->victims;
        uint64_t *sizes = e->victim_sizes;
        size_t n = e->n_victims;
        uint64_t bytes = e->victim_bytes;
        struct store_victim *sv;
        uint64_t kept_bytes = 0;
        size_t kept = 0;
        bool failed = false;

        e->victims = NULL;
        e->victim_sizes = NULL;
        e->n_victims = e->cap_victims = 0;
        e->victim_bytes = 0;
        e->deleting += bytes;
        pthread_mutex_unlock(&e->lock);
        if (!n) {
                free(v);
                free(sizes);
                return true;
        }
        sv = calloc(n, sizeof(*sv));
        if (sv) {
                for (size_t i = 0; i < n; i++)
                        sv[i] = (struct store_victim){v[i]->key, v[i]->len, v[i]->file_id};
                /* A key committed again since keeps its new object (its file differs). */
                ssize_t r = store_delete_files(e->store, sv, n);
                if (r < 0) {
                        log_warn("evicting %zu object(s): %s; those not deleted are kept and "
                                 "tried again", n, strerror((int)-r));
                        failed = true;
                }
                free(sv);
        } else {
                for (size_t i = 0; i < n; i++) {
                        int r = store_delete_file(e->store, v[i]->key, v[i]->len,
                                                  v[i]->file_id);
                        failed |= r < 0 && r != -ENOENT;
                }
        }
        pthread_mutex_lock(&e->lock);
        /* Counted once gone: a victim kept for another try is not evicted yet. */
        if (failed)
                kept = keep_undeleted(e, v, sizes, n, &kept_bytes);
        metrics_add(e->m->evictions, n - kept);
        metrics_add(e->m->evicted_bytes, bytes - kept_bytes);
        e->deleting -= bytes;
        pthread_cond_broadcast(&e->deleted);
        pthread_mutex_unlock(&e->lock);
        for (size_t i = 0; i < n; i++)
                free(v[i]);
        free(v);
        free(sizes);
        return !failed;
}

/* ---- persistence ---- */

static int state_open(struct evict *e, const char *cache_dir)
{
        char path[4096];
        MDB_txn *txn;
        int r;

        if ((size_t)snprintf(path, sizeof(path), "%s/policy", cache_dir) >= sizeof(path))
                return -ENAMETOOLONG;
        if (mkdir(path, 0700) < 0 && errno != EEXIST)
                return -errno;
        if (mdb_env_create(&e->env) != 0)
                return -ENOMEM;
        (void)mdb_env_set_mapsize(e->env, STATE_MAP);
        r = mdb_env_open(e->env, path, MDB_NOTLS, 0600);
        if (r == 0 && lmdb_check_length(e->env, path) == -EUCLEAN) {
                /* Cut short: its first read would be a SIGBUS. Popularity is worth less than
                 * a start: the file goes, and the policy learns again. */
                char file[4200];
                log_warn("policy state %s/data.mdb is damaged (cut short): removed, starting "
                         "fresh",
                         path);
                mdb_env_close(e->env);
                (void)snprintf(file, sizeof(file), "%s/data.mdb", path);
                (void)unlink(file);
                (void)snprintf(file, sizeof(file), "%s/lock.mdb", path);
                (void)unlink(file);
                if (mdb_env_create(&e->env) != 0)
                        return -ENOMEM;
                (void)mdb_env_set_mapsize(e->env, STATE_MAP);
                r = mdb_env_open(e->env, path, MDB_NOTLS, 0600);
        }
        if (r == 0) {
                int dead;
                (void)mdb_reader_check(e->env, &dead);
                r = mdb_txn_begin(e->env, NULL, 0, &txn);
        }
        if (r == 0) {
                r = mdb_dbi_open(txn, NULL, 0, &e->dbi);
                r = r == 0 ? mdb_txn_commit(txn) : (mdb_txn_abort(txn), r);
        }
        if (r != 0) {
                mdb_env_close(e->env);
                e->env = NULL;
                return r > 0 ? -r : -EIO;
        }
        return 0;
}

struct restore_ctx {
        struct evict *e;
        MDB_txn *txn;
        uint64_t since; /* the table's */
        uint64_t restored, fresh;
        uint64_t kept; /* restored from a record and now in the policy */
};

static int restore_one(const struct store_entry_info *info, void *userdata)
{
        struct restore_ctx *x = userdata;
        struct evict *e = x->e;
        struct policy_record rec;
        struct policy_req q;
        MDB_val k, v;

        fill_req(&q, info->key, info->key_len, info->size, false);
        k.mv_data = &q.id;
        k.mv_size = sizeof(q.id);
        bool saved = x->txn && mdb_get(x->txn, e->dbi, &k, &v) == 0 &&
                     policy_record_decode(v.mv_data, v.mv_size, &rec) == 0 && rec.id == q.id &&
                     rec.size == policy_req_size(&q);

        if (saved) {
                rec.priority = rec.priority > x->since ? rec.priority - x->since : 0;
                x->restored++;
        } else {
                /* No record: start at the back, with the store's own hit count as frequency. */
                memset(&rec, 0, sizeof(rec));
                rec.id = q.id;
                rec.size = policy_req_size(&q);
                rec.group = q.group;
                rec.hints = q.hints;
                rec.freq = info->hits > 1000 ? 1000 : (uint32_t)info->hits;
                rec.seq = (uint64_t)info->last_access;
                x->fresh++;
        }
        if (policy_sluice_restore_entry(e->p, &rec) < 0)
                return 0;
        if (saved)
                x->kept++;
        return map_add(e, q.id, info->file_id, info->key, info->key_len) < 0 ? -ENOMEM : 0;
}

struct snap_ctx {
        struct policy_record *v;
        size_t n, cap;
};

static int snap_rec(void *ctx, const struct policy_record *rec)
{
        struct snap_ctx *x = ctx;

        if (x->n == x->cap)
                return -ENOBUFS;
        x->v[x->n++] = *rec;
        return 0;
}

/* A new buffer of n elements of size bytes in place of old, its pages touched here (not
 * under e->lock, where they would be first written), or NULL. */
static void *buf_renew(void *old, size_t n, size_t size)
{
        void *p;

        free(old);
        p = malloc(n * size);
        if (p)
                memset(p, 0, n * size);
        return p;
}

/* Room for want records in e->snap. */
static int snap_reserve(struct evict *e, size_t want)
{
        want += want / 8 + 1024; /* room to grow between flushes */
        e->snap = buf_renew(e->snap, want, sizeof(*e->snap));
        e->cap_snap = e->snap ? want : 0;
        return e->snap ? 0 : -ENOMEM;
}

/*
 * Copy every resident object's record into e->snap, holding e->lock for the copy only: the
 * buffer is sized (and its pages touched) outside it, and when the cache grew past it in
 * between, the lock is dropped and the copy retried in a larger one. The changes noted so
 * far are dropped with the copy, which holds them; *ret_clock is the clock the copy's
 * priorities are relative to. Called with e->flush_lock held. Returns the record count or
 * -errno.
 */
static ssize_t snapshot(struct evict *e, uint64_t *ret_clock)
{
        struct policy_stats st;
        struct snap_ctx x;
        int r;

        for (;;) {
                pthread_mutex_lock(&e->lock);
                st = policy_stats_get(e->p);
                if (st.objects <= e->cap_snap) {
                        x = (struct snap_ctx){.v = e->snap, .cap = e->cap_snap};
                        r = policy_sluice_export(e->p, snap_rec, &x);
                        if (r == 0) {
                                policy_sluice_changes_clear(e->p);
                                *ret_clock = policy_sluice_clock(e->p);
                        }
                        pthread_mutex_unlock(&e->lock);
                        if (r == 0)
                                return (ssize_t)x.n;
                        if (r != -ENOBUFS)
                                return r;
                        st.objects = e->cap_snap * 2; /* counted otherwise than exported */
                } else {
                        pthread_mutex_unlock(&e->lock);
                }
                r = snap_reserve(e, st.objects);
                if (r < 0)
                        return r;
        }
}

struct take_ctx {
        struct evict *e;
        size_t n, n_gone;
};

static void take_gone(void *ctx, uint64_t id)
{
        struct take_ctx *x = ctx;

        x->e->gone[x->n_gone++] = id;
}

static void take_changed(void *ctx, const struct policy_record *rec)
{
        struct take_ctx *x = ctx;

        x->e->snap[x->n++] = *rec;
}

/*
 * Take the changes the policy noted into e->snap and e->gone, under e->lock as snapshot()
 * copies, sized outside it. Returns 1 when they are taken (*ret_n records, *ret_gone ids,
 * *ret_clock the clock the records' priorities are relative to), 0 when a whole copy is
 * wanted instead (the policy lost track of a change, or most records changed), or -errno.
 * Called with e->flush_lock held.
 */
static int take_changes(struct evict *e, size_t *ret_n, size_t *ret_gone, uint64_t *ret_clock)
{
        struct policy_changes ch;
        struct take_ctx x = {.e = e};

        for (;;) {
                pthread_mutex_lock(&e->lock);
                ch = policy_sluice_changes_get(e->p);
                /* Past half the records, a rewrite in key order (appends) costs less than
                 * puts all over the tree, and it drops anything stray on the way. */
                if (ch.lost || ch.changed + ch.gone > policy_stats_get(e->p).objects / 2) {
                        pthread_mutex_unlock(&e->lock);
                        return 0;
                }
                if (ch.changed <= e->cap_snap && ch.gone <= e->cap_gone)
                        break;
                pthread_mutex_unlock(&e->lock);
                if (ch.changed > e->cap_snap && snap_reserve(e, ch.changed) < 0)
                        return -ENOMEM;
                if (ch.gone > e->cap_gone) {
                        size_t want = ch.gone * 2 + 1024;
                        e->gone = buf_renew(e->gone, want, sizeof(*e->gone));
                        e->cap_gone = e->gone ? want : 0;
                        if (!e->gone)
                                return -ENOMEM;
                }
        }
        policy_sluice_changes_take(e->p, take_gone, take_changed, &x);
        *ret_clock = policy_sluice_clock(e->p);
        pthread_mutex_unlock(&e->lock);
        *ret_n = x.n;
        *ret_gone = x.n_gone;
        return 1;
}

/* LMDB's default order for the records' keys: the id's bytes as stored. */
static int cmp_key(const void *a, const void *b)
{
        const struct policy_record *x = a, *y = b;

        return memcmp(&x->id, &y->id, sizeof(x->id));
}

static int cmp_id(const void *a, const void *b)
{
        return memcmp(a, b, sizeof(uint64_t));
}

static int put_meta(struct evict *e, MDB_txn *txn, uint64_t since)
{
        uint8_t buf[META_SIZE] = {META_VERSION};
        MDB_val k = {.mv_size = sizeof(meta_key) - 1, .mv_data = (void *)meta_key};
        MDB_val d = {.mv_size = sizeof(buf), .mv_data = buf};

        for (int i = 0; i < 8; i++)
                buf[8 + i] = (uint8_t)(since >> (8 * i));
        return mdb_put(txn, e->dbi, &k, &d, 0);
}

/* The table's "since" in *ret_since: 0 and 0 when it has none, -EPROTONOSUPPORT when it has
 * one this edge cannot read, 1 when it was read. */
static int get_meta(struct evict *e, MDB_txn *txn, uint64_t *ret_since)
{
        MDB_val k = {.mv_size = sizeof(meta_key) - 1, .mv_data = (void *)meta_key}, d;
        const uint8_t *b;

        *ret_since = 0;
        if (mdb_get(txn, e->dbi, &k, &d) != 0)
                return 0;
        b = d.mv_data;
        if (d.mv_size != META_SIZE || b[0] != META_VERSION)
                return -EPROTONOSUPPORT;
        for (int i = 7; i >= 0; i--)
                *ret_since = *ret_since << 8 | b[8 + i];
        return 1;
}

/*
 * Replace the saved state with the n records in v (sorted here; priorities relative to
 * clock, which becomes the table's base) in one commit. Runs with no lock but flush_lock:
 * the commit's fsync stalls only the thread that flushes.
 */
static int state_write(struct evict *e, struct policy_record *v, size_t n, uint64_t clock)
{
        uint8_t buf[POLICY_RECORD_SIZE];
        MDB_txn *txn;
        int r;

        /* In key order every put appends to the last page instead of searching the tree. */
        if (n > 1) /* v is NULL while nothing was ever held: qsort must not see it */
                qsort(v, n, sizeof(*v), cmp_key);
        r = mdb_txn_begin(e->env, NULL, 0, &txn);
        if (r != 0)
                return r > 0 ? -r : -EIO;
        /* Replace the whole state: evicted objects' records go with it. */
        r = mdb_drop(txn, e->dbi, 0);
        for (size_t i = 0; r == 0 && i < n; i++) {
                MDB_val k = {.mv_size = sizeof(v[i].id), .mv_data = &v[i].id};
                MDB_val d = {.mv_size = sizeof(buf), .mv_data = buf};

                policy_record_encode(&v[i], buf);
                r = mdb_put(txn, e->dbi, &k, &d, MDB_APPEND);
        }
        if (r == 0)
                r = put_meta(e, txn, 0); /* after the appends: its key may sort last */
        r = r == 0 ? mdb_txn_commit(txn) : (mdb_txn_abort(txn), r);
        if (r != 0)
                return r > 0 ? -r : -EIO;
        e->base = (int64_t)clock;
        e->saved_clock = clock;
        e->full = false;
        return 0;
}

/*
 * Apply what changed since the last save in one commit: delete the n_gone ids in gone,
 * then put the n records in v (priorities relative to clock; both sorted here), and move
 * the table's "since" to clock. Nothing changed, no transaction. Runs as state_write().
 */
static int state_update(struct evict *e, struct policy_record *v, size_t n, uint64_t *gone,
                        size_t n_gone, uint64_t clock)
{
        uint8_t buf[POLICY_RECORD_SIZE];
        MDB_txn *txn;
        int r;

        if (n == 0 && n_gone == 0 && clock == e->saved_clock)
                return 0;
        if (n > 1)
                qsort(v, n, sizeof(*v), cmp_key);
        if (n_gone > 1)
                qsort(gone, n_gone, sizeof(*gone), cmp_id);
        r = mdb_txn_begin(e->env, NULL, 0, &txn);
        if (r != 0)
                return r > 0 ? -r : -EIO;
        /* Deletes first: an id gone and back since the last save has a record to put. */
        for (size_t i = 0; r == 0 && i < n_gone; i++) {
                MDB_val k = {.mv_size = sizeof(gone[i]), .mv_data = &gone[i]};

                r = mdb_del(txn, e->dbi, &k, NULL);
                if (r == MDB_NOTFOUND) /* never saved, or gone twice */
                        r = 0;
        }
        for (size_t i = 0; r == 0 && i < n; i++) {
                MDB_val k = {.mv_size = sizeof(v[i].id), .mv_data = &v[i].id};
                MDB_val d = {.mv_size = sizeof(buf), .mv_data = buf};
                /* The stamp, counted from the table's base (rounding can dip below it). */
                int64_t p = (int64_t)v[i].priority + (int64_t)clock - e->base;

                v[i].priority = p > 0 ? (uint64_t)p : 0;
                policy_record_encode(&v[i], buf);
                r = mdb_put(txn, e->dbi, &k, &d, 0);
        }
        if (r == 0)
                r = put_meta(e, txn, (uint64_t)((int64_t)clock - e->base));
        r = r == 0 ? mdb_txn_commit(txn) : (mdb_txn_abort(txn), r);
        if (r != 0)
                return r > 0 ? -r : -EIO;
        e->saved_clock = clock;
        return 0;
}

int evict_flush(struct edge_server *srv)
{
        struct evict *e = srv->evict;
        size_t n = 0, n_gone = 0;
        uint64_t clock = 0;
        ssize_t all;
        int r = 0;

        if (!e || !e->env)
                return 0;
        pthread_mutex_lock(&e->flush_lock);
        if (!e->full)
                r = take_changes(e, &n, &n_gone, &clock);
        if (r == 1) {
                r = state_update(e, e->snap, n, e->gone, n_gone, clock);
                /* The changes taken are not in the table: only a whole copy has them now. */
                if (r < 0)
                        e->full = true;
        } else if (r == 0) {
                all = snapshot(e, &clock);
                r = all < 0 ? (int)all : state_write(e, e->snap, (size_t)all, clock);
                if (r < 0)
                        e->full = true;
        }
        pthread_mutex_unlock(&e->flush_lock);
        return r;
}

/* The admission sketch's starting width: 8 counters per row for each object the store holds
 * (the policy widens it as the cache fills), at least 4096 and at most the policy's default.
 * A nearly empty edge would otherwise halve a 2 MiB sketch every 4096 requests: 1.5% of the
 * hit path's CPU at 2 KiB with one hot object. */
static uint32_t sketch_width_for(struct store *store)
{
        struct store_stats st;
        uint64_t w;

        store_get_stats(store, &st);
        w = st.objects * 8;
        return w < 4096 ? 4096 : w > (1u << 18) ? (1u << 18) : (uint32_t)w;
}

/* ---- public ---- */

int evict_open(struct edge_server *srv, const char *cache_dir, uint64_t budget)
{
        struct policy_cfg cfg = {0};
        struct restore_ctx x = {0};
        struct evict *e;
        int r;

        e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        pthread_mutex_init(&e->lock, NULL);
        pthread_cond_init(&e->deleted, NULL);
        pthread_mutex_init(&e->flush_lock, NULL);
        e->store = srv->store;
        e->m = &srv->m;
        e->budget = budget;
        e->file_now = store_file_now;
        e->map = calloc(MAP_BUCKETS, sizeof(*e->map));
        if (!e->map) {
                r = -ENOMEM;
                goto fail;
        }
        cfg.budget = budget;
        cfg.on_evict = on_evict;
        cfg.evict_ctx = e;
        cfg.sketch_width = sketch_width_for(srv->store);
        r = policy_new(&policy_sluice_ops, &cfg, &e->p);
        if (r < 0)
                goto fail;
        r = state_open(e, cache_dir);
        if (r < 0)
                log_warn("policy state in %s/policy unusable (%s): starting fresh, ignoring",
                         cache_dir, strerror(-r));
        x.e = e;
        if (e->env && mdb_txn_begin(e->env, NULL, MDB_RDONLY, &x.txn) != 0)
                x.txn = NULL;
        /* The first save rewrites the table unless it holds exactly the objects restored
         * from it, in a layout this edge writes: nothing to drop, nothing to add. */
        e->full = true;
        if (x.txn) {
                MDB_stat st;
                int meta = get_meta(e, x.txn, &x.since);

                r = store_list(srv->store, "", 0, restore_one, &x);
                if (r >= 0 && meta >= 0 && x.fresh == 0 && mdb_stat(x.txn, e->dbi, &st) == 0 &&
                    st.ms_entries == x.kept + (size_t)meta)
                        e->full = false;
                mdb_txn_abort(x.txn);
        } else {
                r = store_list(srv->store, "", 0, restore_one, &x);
        }
        if (r < 0)
                goto fail;
        /* Restored stamps count from the last save's clock, which is 0 now. */
        e->base = -(int64_t)x.since;
        e->saved_clock = 0;
        /* Without a table nothing would ever take the changes noted. */
        r = e->env ? policy_sluice_changes_track(e->p) : 0;
        if (r < 0)
                goto fail;
        srv->evict = e;
        log_info("cache policy: %llu object(s) restored, %llu without saved state",
                 (unsigned long long)x.restored, (unsigned long long)x.fresh);
        /* The budget may have shrunk since the last run. */
        pthread_mutex_lock(&e->lock);
        policy_evict_until(e->p, budget);
        (void)unlock_and_delete(e);
        return 0;
fail:
        srv->evict = e;
        evict_close(srv);
        return r;
}

void evict_close(struct edge_server *srv)
{
        struct evict *e = srv->evict;
        int r;

        if (!e)
                return;
        r = evict_flush(srv);
        if (r < 0)
                log_warn("saving the policy state failed: %s, ignoring", strerror(-r));
        srv->evict = NULL;
        if (e->env)
                mdb_env_close(e->env);
        for (unsigned i = 0; e->map && i < MAP_BUCKETS; i++)
                while (e->map[i]) {
                        struct key_ent *k = e->map[i];
                        e->map[i] = k->next;
                        free(k);
                }
        free(e->map);
        (void)policy_free(e->p);
        free(e->victims);
        free(e->victim_sizes);
        free(e->snap);
        free(e->gone);
        pthread_mutex_destroy(&e->flush_lock);
        pthread_cond_destroy(&e->deleted);
        pthread_mutex_destroy(&e->lock);
        free(e);
}

void evict_access(struct edge_server *srv, const char *key, size_t key_len, uint64_t size)
{
        struct evict *e = srv->evict;
        struct policy_req q;

        if (!e)
                return;
        fill_req(&q, key, key_len, size, false);
        pthread_mutex_lock(&e->lock);
        (void)policy_access(e->p, &q);
        pthread_mutex_unlock(&e->lock);
}

/*
 * How far under the budget the disk holds the cache: the policy's bytes minus what a put of
 * size lacks on the file system (a disk shared with other files, or one smaller than
 * cache.max_size), with slack for the files' last blocks and the index's growth. UINT64_MAX
 * when the disk has room, 0 when evicting everything would not make it; called with e->lock
 * held.
 */
/* What a put of size needs free on the disk: its size, its files' last blocks, the index's
 * growth. */
static uint64_t disk_need(uint64_t size)
{
        return size + size / 64 + DISK_SLACK;
}

static uint64_t disk_allows(struct evict *e, uint64_t size, uint64_t used)
{
        uint64_t free_b = store_disk_free(e->store), need = disk_need(size);

        if (free_b == UINT64_MAX || free_b >= need)
                return UINT64_MAX;
        return used > need - free_b ? used - (need - free_b) : 0;
}

/*
 * Space evicted for the disk comes back once its files are unlinked and no worker holds them
 * open: close this worker's, wake the others to close theirs, and look at the disk until the
 * put fits, for DISK_WAIT_MS at most (space held elsewhere, say a send still going, is not
 * waited for longer: the put is refused).
 */
static void disk_wait(struct edge_server *srv, uint64_t size, struct edge_worker *self)
{
        uint64_t need = disk_need(size);
        int64_t until = mono_ms() + DISK_WAIT_MS;

        store_unlinks_settle(srv->store);
        if (self && self->reader)
                store_reader_sync(self->reader);
        for (unsigned i = 0; srv->workers && i <= srv->n_workers; i++)
                if (&srv->workers[i] != self)
                        worker_notify(&srv->workers[i]);
        while (store_disk_free(srv->store) < need && mono_ms() < until) {
                struct timespec ts = {.tv_nsec = 5 * 1000 * 1000};
                (void)nanosleep(&ts, NULL);
        }
}

int evict_make_room(struct edge_server *srv, uint64_t size, struct edge_worker *self)
{
        struct evict *e = srv->evict;
        struct store_stats st;
        struct timespec until;
        uint64_t want, used, target, disk, before;

        if (!e)
                return 0;
        /* Evicting down to nothing would not make it fit: keep what the cache holds. */
        if (size > e->budget)
                return -EFBIG;
        /* Room for size, and for the other puts waiting for room (queued holds theirs with
         * size), beside what other puts in flight have reserved, which the store's check
         * counts and the policy (committed objects only) does not; and beside what the store
         * holds that the policy has not been told of yet (a group commit notes its bodies
         * after it lands). Bytes other evictions are still deleting are not made room for
         * twice: they are waited for below. */
        store_get_stats(e->store, &st);
        pthread_mutex_lock(&e->lock);
        before = policy_stats_get(e->p).used;
        used = before + e->deleting;
        want = (e->queued > size ? e->queued : size) + st.reserved +
               (st.bytes > used ? st.bytes - used : 0);
        target = want < e->budget ? e->budget - want : 0;
        /* A disk fuller than the budget says: evict for it too, unless evicting everything
         * would still leave it short (that object is refused, the cache kept). */
        disk = disk_allows(e, size, before);
        if (disk == 0) {
                pthread_mutex_unlock(&e->lock);
                return -ENOSPC;
        }
        if (disk < target)
                target = disk;
        policy_evict_until(e->p, target);
        /* Deletes that failed freed nothing (the index cannot be written: a disk full of
         * other files), and waiting would not change that: the put is refused at once. */
        if (!unlock_and_delete(e))
                return -ENOSPC;
        /* The store's check reads its own totals: until those deletes land it still counts
         * them. Each batch is one index commit; a stuck disk is not waited on for long. */
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += 1;
        pthread_mutex_lock(&e->lock);
        while (e->deleting && pthread_cond_timedwait(&e->deleted, &e->lock, &until) == 0)
                ;
        pthread_mutex_unlock(&e->lock);
        if (disk != UINT64_MAX)
                disk_wait(srv, size, self);
        return 0;
}

bool evict_room_queue(struct edge_server *srv, uint64_t size, bool always)
{
        struct evict *e = srv->evict;
        bool queued = false;

        if (!e)
                return false;
        pthread_mutex_lock(&e->lock);
        if (always || e->queued) {
                e->queued += size;
                queued = true;
        }
        pthread_mutex_unlock(&e->lock);
        return queued;
}

void evict_room_leave(struct edge_server *srv, uint64_t size)
{
        struct evict *e = srv->evict;

        pthread_mutex_lock(&e->lock);
        e->queued -= size;
        pthread_mutex_unlock(&e->lock);
}

bool evict_note_fill(struct edge_server *srv, const char *key, size_t key_len, uint64_t size,
                     uint64_t file_id, bool plan)
{
        struct evict *e = srv->evict;
        struct policy_req q;
        uint64_t now_id = 0;
        int r;

        if (!e)
                return true;
        fill_req(&q, key, key_len, size, plan);
        if (plan)
                q.hints |= POLICY_HINT_PUSHED; /* committed without a client request */
        pthread_mutex_lock(&e->lock);
        /* A note that comes after its file was replaced or deleted is dropped: the policy
         * would count a file the store no longer holds, whose eviction deletes nothing, and
         * lose track of the one that replaced it. Asked under the lock, so that this look
         * and evict_forget's are ordered. */
        r = e->file_now(e->store, key, key_len, &now_id);
        if (r == -ENOENT || (r == 0 && now_id != file_id)) {
                pthread_mutex_unlock(&e->lock);
                return true;
        }
        /* A replaced object comes back as the file that replaced it: with the plan's hint, and
         * with its own size (a revalidated manifest's new bytes), which the entry of the file
         * before would go on counting. The request counts live in the policy's sketch, not in
         * the entry, and stay. */
        if (plan || map_other_file(e, q.id, file_id))
                (void)policy_remove(e->p, q.id);
        r = policy_insert(e->p, &q);
        if (r == 1 || r == -EEXIST) {
                if (map_add(e, q.id, file_id, key, key_len) < 0) {
                        (void)policy_remove(e->p, q.id);
                        r = 0;
                }
        }
        (void)unlock_and_delete(e);
        if (r == 0 || r == -ENOMEM) {
                metrics_add(e->m->admission_refused, 1);
                (void)store_delete_file(e->store, key, key_len, file_id);
                return false;
        }
        return true;
}

void evict_forget(struct edge_server *srv, const char *key, size_t key_len)
{
        struct evict *e = srv->evict;
        uint64_t id = evict_key_id(key, key_len);
        uint64_t now_id;

        if (!e)
                return;
        pthread_mutex_lock(&e->lock);
        /* Committed again since the drop this forgets: the entry (or the note on its way)
         * is the new file's. */
        if (e->file_now(e->store, key, key_len, &now_id) == 0) {
                pthread_mutex_unlock(&e->lock);
                return;
        }
        (void)policy_remove(e->p, id);
        free(map_take(e, id));
        pthread_mutex_unlock(&e->lock);
}
