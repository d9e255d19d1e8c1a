/* SPDX-License-Identifier: MIT */
/*
 * The object store: object files under <dir>/objects/<2 hex>/<16 hex file id>, indexed by
 * cache-idx (LMDB) in <dir>/index/. Contract in store.h.
 *
 * Why it is crash safe: an object's bytes reach their final name only after they were fully
 * written, checked and fsynced, and the index names a file only after that rename is durable.
 * File ids are random and never reused for another content, so "index says id X" always means
 * exactly the bytes that were committed as X. Whatever a crash leaves behind is either a temp
 * file or an object file no entry names; open() deletes both.
 *
 * Why readers never see stale bytes: a replace or delete commits first and unlinks the old
 * file after; a reader that still has it open keeps reading the old, complete, consistent
 * content (its response started before the change), and its next lookup gets the new id,
 * which its fd cache has never seen. Dead ids are broadcast through a small ring so idle fds
 * to unlinked files are closed at each reader's next lookup rather than pinning disk space.
 */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cache-idx.h"
#include "fd-cache.h"
#include "hex.h"
#include "http-resp.h"
#include "metrics.h"
#include "mono-time.h"
#include "store-priv.h"
#include "store.h"

_Static_assert(STORE_CTYPE_MAX == CACHE_IDX_CTYPE_MAX, "content type bound shared with index");
_Static_assert(STORE_ETAG_MAX == CACHE_IDX_ETAG_MAX, "etag bound shared with index");
_Static_assert(STORE_KEY_MAX == CACHE_IDX_KEY_MAX, "key bound shared with index");

#define HIT_SLOTS    4096 /* per-reader counter table (power of two) */
#define HIT_MAX_USED (HIT_SLOTS * 3 / 4)
#define MAP_MIN      (1ull << 30)
#define MAP_MAX      (256ull << 30)

struct hit_ent {
        char *key; /* NULL: empty slot */
        size_t key_len;
        uint32_t hash;
        uint64_t hits;
        int64_t last_access;
};

struct hit_table {
        unsigned used;
        struct hit_ent e[HIT_SLOTS];
};

struct store_reader {
        struct store *s;
        struct cache_idx_reader *ir;
        struct fd_cache *fc;
        uint64_t dead_seen;
        pthread_mutex_t cnt_lock; /* taken by the owner per hit and by a flush: uncontended */
        struct hit_table *hits;   /* NULL until the first hit after a flush */
        uint64_t hits_dropped;
        struct store_reader_metrics m;
        struct store_reader *prev, *next;
};


/* ---- small helpers ---- */

/* "xx/hhhhhhhhhhhhhhhh" relative to objects/. */
void store_obj_path(uint64_t id, char out[20])
{
        char h[17];

        hex_u64_encode(id, h);
        out[0] = h[0];
        out[1] = h[1];
        out[2] = '/';
        memcpy(out + 3, h, 17);
}

int store_new_file_id(uint64_t *ret)
{
        uint64_t id = 0;

        do {
                if (getrandom(&id, sizeof(id), 0) != sizeof(id))
                        return -EIO; /* only before the pool is seeded, or on EINTR */
        } while (id == 0);           /* 0 means "any" in cache_idx_del */
        *ret = id;
        return 0;
}

bool store_key_ok(const char *key, size_t len)
{
        if (len == 0 || len > CACHE_IDX_KEY_MAX || key[0] != '/')
                return false;
        return memchr(key, '\0', len) == NULL;
}

int store_fsync_dirat(int dirfd, const char *name)
{
        int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        int r = 0;

        if (fd < 0)
                return -errno;
        if (fsync(fd) < 0)
                r = -errno;
        (void)close(fd);
        return r;
}

static void dead_push(struct store *s, uint64_t id)
{
        pthread_mutex_lock(&s->lock);
        uint64_t g = atomic_load(&s->dead_gen);
        s->dead[g % DEAD_RING] = id;
        atomic_store(&s->dead_gen, g + 1);
        pthread_mutex_unlock(&s->lock);
}

/* Remove an object file whose index entry is gone; its id is dead to every reader. */
void store_unlink_object(struct store *s, uint64_t id)
{
        char p[20];

        store_obj_path(id, p);
        (void)unlinkat(s->objfd, p, 0);
        dead_push(s, id);
}

static void *unlinker(void *arg)
{
        struct store *s = arg;

        pthread_mutex_lock(&s->ulock);
        for (;;) {
                while (!s->un && !s->ustop)
                        pthread_cond_wait(&s->ucond, &s->ulock);
                if (!s->un)
                        break;
                uint64_t *q = s->uq;
                size_t n = s->un;
                s->uq = NULL;
                s->un = s->ucap = 0;
                s->ubusy = true;
                pthread_mutex_unlock(&s->ulock);
                for (size_t i = 0; i < n; i++) {
                        char p[20];
                        store_obj_path(q[i], p);
                        (void)unlinkat(s->objfd, p, 0);
                }
                free(q);
                pthread_mutex_lock(&s->ulock);
                s->ubusy = false;
                pthread_cond_broadcast(&s->uidle);
        }
        pthread_mutex_unlock(&s->ulock);
        return NULL;
}

/* Hand id's file to the unlinker; when it cannot take it, the file is unlinked here. */
static void unlink_later(struct store *s, uint64_t id)
{
        bool queued = false;

        pthread_mutex_lock(&s->ulock);
        if (!s->ustarted && !s->ustop &&
            pthread_create(&s->uth, NULL, unlinker, s) == 0)
                s->ustarted = true;
        if (s->ustarted && s->un == s->ucap) {
                size_t cap = s->ucap ? s->ucap * 2 : 256;
                uint64_t *q = realloc(s->uq, cap * sizeof(*q));
                if (q) {
                        s->uq = q;
                        s->ucap = cap;
                }
        }
        if (s->ustarted && s->un < s->ucap) {
                s->uq[s->un++] = id;
                pthread_cond_signal(&s->ucond);
                queued = true;
        }
        pthread_mutex_unlock(&s->ulock);
        if (!queued) {
                char p[20];
                store_obj_path(id, p);
                (void)unlinkat(s->objfd, p, 0);
        }
        dead_push(s, id);
}

void store_unlinks_settle(struct store *s)
{
        pthread_mutex_lock(&s->ulock);
        while (s->un || s->ubusy)
                pthread_cond_wait(&s->uidle, &s->ulock);
        pthread_mutex_unlock(&s->ulock);
}

bool store_drop_damaged(struct store *s, const char *key, size_t key_len, uint64_t file_id)
{
        if (cache_idx_del(s->idx, key, key_len, file_id, NULL) < 0)
                return false;
        store_unlink_object(s, file_id);
        return true;
}

/* ---- open and recovery ---- */

static int mkdirat_ok(int dirfd, const char *name)
{
        if (mkdirat(dirfd, name, 0755) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

/* A directory stream on fd, the result of a dup or open that may have failed (fd < 0, errno
 * set); the stream owns fd, which is closed when it cannot be made. 0 or -errno. */
static int dir_open(int fd, DIR **ret)
{
        int e;

        if (fd < 0)
                return -errno;
        *ret = fdopendir(fd);
        if (*ret)
                return 0;
        e = errno;
        (void)close(fd);
        return -e;
}

/* Delete every entry of a directory (temp files). Returns the number removed or -errno. */
static int empty_dir(int dirfd)
{
        int r, n = 0;
        DIR *d;
        struct dirent *de;

        r = dir_open(dup(dirfd), &d);
        if (r < 0)
                return r;
        rewinddir(d);
        while ((de = readdir(d))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                if (unlinkat(dirfd, de->d_name, 0) == 0)
                        n++;
        }
        closedir(d);
        return n;
}

struct id_set {
        uint64_t *ids;
        size_t n, cap;
};

static int id_set_add(struct id_set *set, uint64_t id)
{
        if (set->n == set->cap) {
                size_t cap = set->cap ? set->cap * 2 : 1024;
                uint64_t *p = realloc(set->ids, cap * sizeof(*p));
                if (!p)
                        return -ENOMEM;
                set->ids = p;
                set->cap = cap;
        }
        set->ids[set->n++] = id;
        return 0;
}

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
        return x < y ? -1 : x > y;
}

struct sweep_ctx {
        struct store *s;
        struct id_set live;
        const struct store_open_watch *w;
        const char *phase;
        uint64_t done, total, told_ms;
};

/* Tell the watcher, if any: always at a phase's start and end (force), else once its
 * interval has passed. */
static void watch_tell(struct sweep_ctx *c, bool force)
{
        uint64_t now;

        if (!c->w || !c->w->fn)
                return;
        now = (uint64_t)mono_ms();
        if (!force && now - c->told_ms < c->w->interval_ms)
                return;
        c->told_ms = now;
        c->w->fn(c->w->arg, c->phase, c->done, c->total);
}

/* Keep an entry only if its file is there with the recorded size. */
static int sweep_check(const char *key, size_t key_len, const struct cache_idx_rec *rec,
                       void *userdata)
{
        struct sweep_ctx *c = userdata;
        struct stat st;
        char p[20];

        c->done++;
        watch_tell(c, false); /* a clock read per entry, beside a file lookup per entry */
        if (!rec || !store_key_ok(key, key_len) || rec->file_id == 0)
                return 1;
        store_obj_path(rec->file_id, p);
        if (fstatat(c->s->objfd, p, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                if (errno == ENOENT)
                        return 1;
                return -errno;
        }
        if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != rec->size)
                return 1; /* the file goes in the orphan pass: no live id names it */
        return id_set_add(&c->live, rec->file_id) < 0 ? -ENOMEM : 0;
}

/* Remove object files no index entry names. */
static int remove_orphans(struct store *s, struct id_set *live, struct sweep_ctx *c)
{
        if (live->n)
                qsort(live->ids, live->n, sizeof(uint64_t), cmp_u64);
        for (unsigned b = 0; b < 256; b++) {
                char sub[3];
                int r, removed = 0;
                DIR *d;
                struct dirent *de;

                c->done = b;
                watch_tell(c, false);

                snprintf(sub, sizeof(sub), "%02x", b);
                r = dir_open(openat(s->objfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC), &d);
                if (r < 0)
                        return r;
                while ((de = readdir(d))) {
                        uint64_t id;
                        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                                continue;
                        if (hex_u64_decode(de->d_name, strlen(de->d_name), &id) == 0 &&
                            (id >> 56) == b && live->n &&
                            bsearch(&id, live->ids, live->n, sizeof(uint64_t), cmp_u64))
                                continue;
                        if (unlinkat(dirfd(d), de->d_name, 0) == 0)
                                removed++;
                }
                if (removed)
                        (void)fsync(dirfd(d));
                closedir(d);
        }
        return 0;
}

static uint64_t map_size_for(uint64_t max_bytes)
{
        /* About 1 KiB of index per 64 KiB of budget covers a cache of small objects with room
         * to spare; the map is only address space, the file grows with use. */
        uint64_t m = max_bytes / 64;

        if (m < MAP_MIN)
                m = MAP_MIN;
        if (m > MAP_MAX)
                m = MAP_MAX;
        if (sizeof(size_t) < 8 && m > (uint64_t)SIZE_MAX / 2)
                m = (uint64_t)SIZE_MAX / 2;
        return m;
}

int store_open(const char *dir, uint64_t max_bytes, struct store **ret)
{
        return store_open_watched(dir, max_bytes, 0, NULL, ret);
}

int store_open_watched(const char *dir, uint64_t max_bytes, uint64_t map_size,
                       const struct store_open_watch *w, struct store **ret)
{
        struct store *s;
        struct cache_idx_totals t;
        struct sweep_ctx sc = {.w = w};
        char *idxdir = NULL;
        int r;

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->dirfd = s->objfd = s->tmpfd = s->lockfd = -1;
        s->max_bytes = max_bytes;
        pthread_mutex_init(&s->lock, NULL);
        pthread_mutex_init(&s->ulock, NULL);
        pthread_cond_init(&s->ucond, NULL);
        pthread_cond_init(&s->uidle, NULL);

        if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
                r = -errno;
                goto fail;
        }
        s->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (s->dirfd < 0) {
                r = -errno;
                goto fail;
        }
        /* Recovery deletes whatever the index does not name; a second process doing that to
         * a live store would destroy objects being committed. */
        s->lockfd = openat(s->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (s->lockfd < 0) {
                r = -errno;
                goto fail;
        }
        if (flock(s->lockfd, LOCK_EX | LOCK_NB) < 0) {
                r = errno == EWOULDBLOCK ? -EBUSY : -errno;
                goto fail;
        }
        if ((r = mkdirat_ok(s->dirfd, "objects")) < 0 || (r = mkdirat_ok(s->dirfd, "tmp")) < 0 ||
            (r = mkdirat_ok(s->dirfd, "index")) < 0)
                goto fail;
        s->objfd = openat(s->dirfd, "objects", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        s->tmpfd = openat(s->dirfd, "tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (s->objfd < 0 || s->tmpfd < 0) {
                r = -errno;
                goto fail;
        }
        for (unsigned b = 0; b < 256; b++) {
                char sub[3];
                snprintf(sub, sizeof(sub), "%02x", b);
                if ((r = mkdirat_ok(s->objfd, sub)) < 0)
                        goto fail;
        }
        if (fsync(s->objfd) < 0 || fsync(s->dirfd) < 0) {
                r = -errno;
                goto fail;
        }

        r = empty_dir(s->tmpfd);
        if (r < 0)
                goto fail;
        if (r > 0)
                (void)fsync(s->tmpfd);

        size_t dl = strlen(dir);
        idxdir = malloc(dl + sizeof("/index"));
        if (!idxdir) {
                r = -ENOMEM;
                goto fail;
        }
        memcpy(idxdir, dir, dl);
        memcpy(idxdir + dl, "/index", sizeof("/index"));
        r = cache_idx_open(idxdir, map_size ? map_size : map_size_for(max_bytes), 0, &s->idx);
        if (r < 0)
                goto fail;
        /* The index's files may be new: their names must be as durable as what the index's
         * commits sync into them, or a power cut could lose an index whose objects stay. */
        r = store_fsync_dirat(s->dirfd, "index");
        if (r < 0)
                goto fail;

        sc.s = s;
        cache_idx_get_totals(s->idx, &t);
        sc.phase = "index";
        sc.total = t.objects;
        watch_tell(&sc, true);
        r = cache_idx_sweep(s->idx, sweep_check, &sc);
        if (r < 0)
                goto fail;
        watch_tell(&sc, true);
        sc.phase = "files";
        sc.done = 0;
        sc.total = 256;
        watch_tell(&sc, true);
        r = remove_orphans(s, &sc.live, &sc);
        if (r < 0)
                goto fail;
        sc.done = 256;
        watch_tell(&sc, true);
        r = cache_idx_reader_new(s->idx, &s->put_reader);
        if (r < 0)
                goto fail;

        free(sc.live.ids);
        free(idxdir);
        *ret = s;
        return 0;

fail:
        free(sc.live.ids);
        free(idxdir);
        cache_idx_reader_free(s->put_reader);
        cache_idx_close(s->idx);
        if (s->tmpfd >= 0)
                (void)close(s->tmpfd);
        if (s->objfd >= 0)
                (void)close(s->objfd);
        if (s->lockfd >= 0)
                (void)close(s->lockfd);
        if (s->dirfd >= 0)
                (void)close(s->dirfd);
        pthread_mutex_destroy(&s->lock);
        pthread_mutex_destroy(&s->ulock);
        pthread_cond_destroy(&s->ucond);
        pthread_cond_destroy(&s->uidle);
        free(s);
        return r;
}

void store_close(struct store *s)
{
        if (!s)
                return;
        assert(!s->readers); /* readers belong to workers, which stop first */
        pthread_mutex_lock(&s->ulock);
        s->ustop = true; /* the unlinker empties its queue first */
        pthread_cond_signal(&s->ucond);
        pthread_mutex_unlock(&s->ulock);
        if (s->ustarted)
                (void)pthread_join(s->uth, NULL);
        free(s->uq);
        (void)store_flush_counters(s);
        cache_idx_reader_free(s->put_reader);
        cache_idx_close(s->idx);
        (void)close(s->tmpfd);
        (void)close(s->objfd);
        (void)close(s->lockfd); /* releases the flock */
        (void)close(s->dirfd);
        pthread_mutex_destroy(&s->lock);
        pthread_mutex_destroy(&s->ulock);
        pthread_cond_destroy(&s->ucond);
        pthread_cond_destroy(&s->uidle);
        free(s);
}

void store_get_stats(struct store *s, struct store_stats *ret)
{
        struct cache_idx_totals t;

        cache_idx_get_totals(s->idx, &t);
        ret->objects = t.objects;
        ret->bytes = t.bytes;
        ret->max_bytes = s->max_bytes;
        pthread_mutex_lock(&s->lock);
        ret->reserved = s->reserved;
        pthread_mutex_unlock(&s->lock);
}

/* ---- readers, lookups and hit counters ---- */

int store_reader_new(struct store *s, unsigned fd_cache, struct store_reader **ret)
{
        struct store_reader *r;
        int e;

        r = calloc(1, sizeof(*r));
        if (!r)
                return -ENOMEM;
        r->s = s;
        pthread_mutex_init(&r->cnt_lock, NULL);
        e = cache_idx_reader_new(s->idx, &r->ir);
        if (e < 0)
                goto fail;
        e = fd_cache_new(fd_cache, &r->fc);
        if (e < 0)
                goto fail;

        pthread_mutex_lock(&s->lock);
        r->dead_seen = atomic_load(&s->dead_gen);
        r->next = s->readers;
        if (s->readers)
                s->readers->prev = r;
        s->readers = r;
        pthread_mutex_unlock(&s->lock);
        *ret = r;
        return 0;

fail:
        cache_idx_reader_free(r->ir);
        pthread_mutex_destroy(&r->cnt_lock);
        free(r);
        return e;
}

static void hit_table_free(struct hit_table *t)
{
        if (!t)
                return;
        for (unsigned i = 0; i < HIT_SLOTS; i++)
                free(t->e[i].key);
        free(t);
}

/* Write the counters of the given tables in one commit and free them. */
static int apply_hit_tables(struct store *s, struct hit_table **tabs, size_t ntabs)
{
        struct cache_idx_hit *h;
        size_t n = 0;
        int r;

        h = malloc(sizeof(*h) * HIT_MAX_USED * (ntabs ? ntabs : 1));
        if (!h) {
                r = -ENOMEM;
                goto out;
        }
        for (size_t t = 0; t < ntabs; t++) {
                if (!tabs[t])
                        continue;
                for (unsigned i = 0; i < HIT_SLOTS; i++) {
                        struct hit_ent *e = &tabs[t]->e[i];
                        if (!e->key)
                                continue;
                        h[n++] =
                            (struct cache_idx_hit){e->key, e->key_len, e->hits, e->last_access};
                }
        }
        r = cache_idx_add_hits(s->idx, h, n);
out:
        free(h);
        for (size_t t = 0; t < ntabs; t++)
                hit_table_free(tabs[t]);
        return r;
}

void store_reader_free(struct store_reader *r)
{
        struct hit_table *t;

        if (!r)
                return;
        struct store *s = r->s;
        pthread_mutex_lock(&s->lock);
        if (r->prev)
                r->prev->next = r->next;
        else
                s->readers = r->next;
        if (r->next)
                r->next->prev = r->prev;
        pthread_mutex_unlock(&s->lock);

        /* Its counters would be lost with it; a flush racing this already took them or will
         * not see this reader any more. */
        pthread_mutex_lock(&r->cnt_lock);
        t = r->hits;
        r->hits = NULL;
        pthread_mutex_unlock(&r->cnt_lock);
        (void)apply_hit_tables(s, &t, 1);

        fd_cache_free(r->fc);
        cache_idx_reader_free(r->ir);
        pthread_mutex_destroy(&r->cnt_lock);
        free(r);
}

static uint32_t key_hash(const char *k, size_t len)
{
        uint32_t h = 2166136261u; /* FNV-1a */

        for (size_t i = 0; i < len; i++) {
                h ^= (uint8_t)k[i];
                h *= 16777619u;
        }
        return h;
}

static void count_hit(struct store_reader *r, const char *key, size_t key_len, int64_t now)
{
        uint32_t h = key_hash(key, key_len);

        pthread_mutex_lock(&r->cnt_lock);
        if (!r->hits) {
                r->hits = calloc(1, sizeof(*r->hits));
                if (!r->hits)
                        goto drop;
        }
        for (uint32_t i = h & (HIT_SLOTS - 1);; i = (i + 1) & (HIT_SLOTS - 1)) {
                struct hit_ent *e = &r->hits->e[i];
                if (e->key && e->hash == h && e->key_len == key_len &&
                    memcmp(e->key, key, key_len) == 0) {
                        e->hits++;
                        e->last_access = now;
                        goto out;
                }
                if (!e->key) {
                        /* Bounded between flushes: past the limit, new keys go uncounted
                         * until the next flush rather than growing the table. */
                        if (r->hits->used >= HIT_MAX_USED)
                                goto drop;
                        e->key = malloc(key_len);
                        if (!e->key)
                                goto drop;
                        memcpy(e->key, key, key_len);
                        e->key_len = key_len;
                        e->hash = h;
                        e->hits = 1;
                        e->last_access = now;
                        r->hits->used++;
                        goto out;
                }
        }
drop:
        r->hits_dropped++;
out:
        pthread_mutex_unlock(&r->cnt_lock);
}

int store_flush_counters(struct store *s)
{
        struct hit_table **tabs = NULL;
        size_t n = 0, cap = 0;
        int r = 0;

        pthread_mutex_lock(&s->lock);
        for (struct store_reader *rd = s->readers; rd; rd = rd->next)
                cap++;
        if (cap) {
                tabs = calloc(cap, sizeof(*tabs));
                if (!tabs) {
                        pthread_mutex_unlock(&s->lock);
                        return -ENOMEM;
                }
        }
        for (struct store_reader *rd = s->readers; rd; rd = rd->next) {
                pthread_mutex_lock(&rd->cnt_lock);
                tabs[n++] = rd->hits;
                rd->hits = NULL;
                pthread_mutex_unlock(&rd->cnt_lock);
        }
        pthread_mutex_unlock(&s->lock);
        if (n)
                r = apply_hit_tables(s, tabs, n);
        free(tabs);
        return r;
}

void store_reader_set_metrics(struct store_reader *r, const struct store_reader_metrics *m)
{
        r->m = *m;
}

/* The files r holds open, into its thread's slot of the gauge. */
static void files_gauge(struct store_reader *r)
{
        metrics_gauge_set(r->m.files, (int64_t)fd_cache_count(r->fc));
}

/* Close idle fds to files unlinked since this reader last looked. */
void store_reader_sync(struct store_reader *r)
{
        struct store *s = r->s;
        uint64_t g = atomic_load_explicit(&s->dead_gen, memory_order_acquire);

        if (g == r->dead_seen)
                return;
        pthread_mutex_lock(&s->lock);
        g = atomic_load(&s->dead_gen);
        if (g - r->dead_seen > DEAD_RING) {
                fd_cache_drop_all(r->fc); /* fell behind the ring */
        } else {
                for (uint64_t i = r->dead_seen; i < g; i++)
                        fd_cache_drop(r->fc, s->dead[i % DEAD_RING]);
        }
        r->dead_seen = g;
        pthread_mutex_unlock(&s->lock);
        files_gauge(r);
}

/* Serving must not write inodes: without O_NOATIME every sendfile(2) checks (relatime) or
 * updates the access time. Only the files' owner may ask. */
int store_open_object(struct store *s, const char *p, int flags)
{
        int fd = openat(s->objfd, p, O_RDONLY | O_CLOEXEC | O_NOATIME | flags);

        if (fd < 0 && errno == EPERM)
                fd = openat(s->objfd, p, O_RDONLY | O_CLOEXEC | flags);
        return fd;
}

unsigned store_reader_shed(struct store_reader *r, unsigned n)
{
        unsigned done = fd_cache_shed(r->fc, n);

        metrics_add(r->m.shed, done);
        files_gauge(r);
        return done;
}

int store_lookup(struct store_reader *r, const char *key, size_t key_len, struct store_obj *ret)
{
        struct store *s = r->s;
        struct cache_idx_rec rec;
        struct fd_cache_ent *ent = NULL;
        int fd = -1, e;

        ret->fd = -1;
        ret->priv = NULL;
        if (!store_key_ok(key, key_len))
                return -ENOENT;
        store_reader_sync(r);

        /* A replace or delete may unlink the file between our index read and our open; the
         * second read then sees the new state. Three rounds bound a key being replaced
         * continuously. */
        for (int attempt = 0;; attempt++) {
                e = cache_idx_reader_get(r->ir, key, key_len, &rec);
                if (e < 0)
                        return e;
                ent = fd_cache_get(r->fc, rec.file_id, &fd);
                if (ent)
                        break;

                char p[20];
                struct stat st;
                store_obj_path(rec.file_id, p);
                fd = store_open_object(s, p, 0);
                /* The descriptor table is full (RLIMIT_NOFILE under workers x fd_cache):
                 * idle cached files give way to the one wanted now. */
                while (fd < 0 && (errno == EMFILE || errno == ENFILE) &&
                       store_reader_shed(r, 1) == 1)
                        fd = store_open_object(s, p, 0);
                if (fd < 0) {
                        if (errno != ENOENT)
                                return -errno;
                        if (attempt < 2)
                                continue;
                        /* Still named and still missing: damage from outside. */
                        return store_drop_damaged(s, key, key_len, rec.file_id) ? -ESTALE : -ENOENT;
                }
                if (fstat(fd, &st) < 0) {
                        e = -errno;
                        (void)close(fd);
                        return e;
                }
                if ((uint64_t)st.st_size != rec.size) {
                        /* Changed behind our back (an object file is never rewritten). */
                        (void)close(fd);
                        if (store_drop_damaged(s, key, key_len, rec.file_id))
                                return -ESTALE;
                        if (attempt < 2)
                                continue; /* replaced meanwhile: read the index again */
                        return -EIO;
                }
                ent = fd_cache_add(r->fc, rec.file_id, fd); /* NULL: all slots busy */
                metrics_add(r->m.opens, 1);
                files_gauge(r);
                break;
        }

        ret->fd = fd;
        ret->priv = ent;
        ret->file_id = rec.file_id;
        ret->size = rec.size;
        ret->last_modified = (time_t)rec.mtime;
        memcpy(ret->content_type, rec.content_type, sizeof(ret->content_type));
        ret->content_type[STORE_CTYPE_MAX] = '\0';
        if (strcmp(ret->content_type, "application/octet-stream") == 0) {
                /* Stored before the edge knew the key's extension (the generic type is what
                 * a put gave it then): served with the type a put stores now. */
                const char *ct = http_content_type_for(key, key_len);
                size_t n = strnlen(ct, sizeof(ret->content_type) - 1);
                memcpy(ret->content_type, ct, n);
                ret->content_type[n] = '\0';
        }
        memcpy(ret->etag, rec.etag, sizeof(ret->etag));
        ret->etag[STORE_ETAG_MAX] = '\0';
        memcpy(ret->sha256, rec.sha256, sizeof(ret->sha256));
        ret->has_sha256 = rec.flags & CACHE_IDX_F_HAS_SHA;
        count_hit(r, key, key_len, (int64_t)time(NULL));
        return 0;
}

bool store_file_of(struct store_reader *r, const char *key, size_t key_len, uint64_t *file_id)
{
        struct cache_idx_rec rec;

        *file_id = 0;
        if (!store_key_ok(key, key_len) || cache_idx_reader_get(r->ir, key, key_len, &rec) != 0)
                return false;
        *file_id = rec.file_id;
        return true;
}

bool store_has(struct store_reader *r, const char *key, size_t key_len)
{
        uint64_t id;

        return store_file_of(r, key, key_len, &id);
}

void store_obj_release(struct store_reader *r, struct store_obj *obj)
{
        if (!obj || obj->fd < 0)
                return;
        if (obj->priv)
                fd_cache_put(r->fc, obj->priv);
        else
                (void)close(obj->fd);
        obj->fd = -1;
        obj->priv = NULL;
}

void store_obj_distrust(struct store_reader *r, const struct store_obj *obj)
{
        if (obj->file_id) {
                fd_cache_drop(r->fc, obj->file_id);
                files_gauge(r);
        }
}

int store_obj_map(const struct store_obj *obj, const void **ret)
{
        if (!obj->priv || obj->size == 0 || obj->size > SIZE_MAX)
                return -EOPNOTSUPP;
        return fd_cache_map(obj->priv, (size_t)obj->size, ret);
}

void *store_obj_pin(const struct store_obj *obj)
{
        if (!obj->priv)
                return NULL;
        fd_cache_ref(obj->priv);
        return obj->priv;
}

void store_obj_pin_distrust(struct store_reader *r, void *pin)
{
        if (pin) {
                fd_cache_drop(r->fc, fd_cache_ent_id(pin));
                files_gauge(r);
        }
}

void store_obj_unpin(struct store_reader *r, void *pin)
{
        if (pin)
                fd_cache_put(r->fc, pin);
}

/* ---- puts ---- */

void store_put_free(struct store_put *p, bool unlink_tmp)
{
        struct store *s = p->s;

        if (p->fd >= 0)
                (void)close(p->fd);
        if (p->dirfd >= 0)
                (void)close(p->dirfd);
        if (unlink_tmp && p->tmpname[0])
                (void)unlinkat(s->tmpfd, p->tmpname, 0);
        EVP_MD_CTX_free(p->md);
        pthread_mutex_lock(&s->lock);
        s->reserved -= p->size;
        pthread_mutex_unlock(&s->lock);
        free(p);
}

/* Bytes an unprivileged writer may still take on fd's file system; UINT64_MAX unknown. */
static uint64_t fd_disk_free(int fd)
{
        struct statvfs v;

        if (fstatvfs(fd, &v) < 0)
                return UINT64_MAX;
        return (uint64_t)v.f_bavail * v.f_frsize;
}

/*
 * Whether size bytes of disk are there for fd's body, with STORE_DISK_RESERVE left beside it
 * for the index. KEEP_SIZE: the file's length still says how much was written. A file system
 * that cannot reserve (fallocate says EOPNOTSUPP: ext2, NFSv3, some FUSE ones) has its free
 * space read instead: puts that begin together may still outrun it, but one that cannot fit
 * is refused before its head, not cut short mid-body.
 */
static bool room_claimed(int fd, uint64_t size)
{
        if (size && fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, (off_t)size) < 0) {
                if (errno == ENOSPC || errno == EDQUOT)
                        return false;
                if (errno == EOPNOTSUPP || errno == ENOSYS)
                        return fd_disk_free(fd) >= size + STORE_DISK_RESERVE;
                /* Else the write will say what is wrong. */
        }
        return fd_disk_free(fd) >= STORE_DISK_RESERVE;
}

uint64_t store_disk_free(struct store *s)
{
        return fd_disk_free(s->objfd);
}

int store_put_begin(struct store *s, const char *key, size_t key_len, uint64_t size,
                    const char *sha256_hex, const char *content_type, struct store_put **ret)
{
        struct store_put *p;
        struct cache_idx_totals t;
        struct cache_idx_rec old;
        uint64_t old_size = 0;
        int r;

        if (!store_key_ok(key, key_len))
                return key_len > CACHE_IDX_KEY_MAX ? -ENAMETOOLONG : -EINVAL;
        if (content_type && (strlen(content_type) > STORE_CTYPE_MAX || !content_type[0]))
                return -EINVAL;

        p = calloc(1, sizeof(*p));
        if (!p)
                return -ENOMEM;
        p->s = s;
        p->fd = -1;
        p->dirfd = -1;
        if (sha256_hex) {
                if (hex_decode(sha256_hex, strlen(sha256_hex), p->expect, 32) < 0) {
                        free(p);
                        return -EINVAL;
                }
                p->has_expect = true;
        }

        /* Early budget check so a fill does not stream gigabytes to be refused at the end;
         * the commit re-checks atomically against what is committed by then. */
        pthread_mutex_lock(&s->lock);
        if (cache_idx_reader_get(s->put_reader, key, key_len, &old) == 0) {
                old_size = old.size;
                p->base_file = old.file_id;
        }
        cache_idx_get_totals(s->idx, &t);
        if (old_size > t.bytes)
                old_size = t.bytes; /* a delete landed between the two reads */
        uint64_t need = t.bytes - old_size + s->reserved;
        if (s->max_bytes && (size > s->max_bytes || need > s->max_bytes - size)) {
                pthread_mutex_unlock(&s->lock);
                free(p);
                return -ENOSPC;
        }
        s->reserved += size;
        pthread_mutex_unlock(&s->lock);
        p->size = size; /* from here on store_put_free() returns the reservation */

        memcpy(p->key, key, key_len);
        p->key[key_len] = '\0';
        p->key_len = key_len;
        const char *ct = content_type ? content_type : http_content_type_for(key, key_len);
        memcpy(p->ctype, ct, strlen(ct) + 1);

        p->md = EVP_MD_CTX_new();
        if (!p->md || EVP_DigestInit_ex(p->md, EVP_sha256(), NULL) != 1) {
                r = -ENOMEM;
                goto fail;
        }
        for (int tries = 0;; tries++) {
                char h[17];
                r = store_new_file_id(&p->file_id);
                if (r < 0)
                        goto fail;
                snprintf(p->tmpname, sizeof(p->tmpname), "%s.tmp", hex_u64_encode(p->file_id, h));
                p->fd = openat(s->tmpfd, p->tmpname, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
                if (p->fd >= 0)
                        break;
                r = -errno;
                p->tmpname[0] = '\0';
                if (r != -EEXIST || tries > 8)
                        goto fail;
        }
        {
                char path[20];
                store_obj_path(p->file_id, path);
                memcpy(p->dir, path, 2);
                p->dir[2] = '\0';
                p->dirfd = openat(s->objfd, p->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                if (p->dirfd < 0) {
                        r = -errno;
                        goto fail;
                }
        }
        /* Claim the disk space now, so a full disk refuses the put before a fill announces
         * the object to its clients, not halfway through the body. */
        if (!room_claimed(p->fd, size)) {
                /* Evicted files may still be on their way out: once they are, look again. */
                store_unlinks_settle(s);
                if (!room_claimed(p->fd, size)) {
                        r = -ENOSPC;
                        goto fail;
                }
        }
        *ret = p;
        return 0;

fail:
        store_put_free(p, true);
        return r;
}

int store_put_write(struct store_put *p, const void *buf, size_t len)
{
        const uint8_t *b = buf;
        size_t off = 0;
        int r;

        if (p->failed)
                return p->failed == -EBADMSG ? -EMSGSIZE : p->failed;
        if (len > p->size - p->written) {
                r = -EMSGSIZE;
                goto fail;
        }
        while (off < len) {
                ssize_t n = write(p->fd, b + off, len - off);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        r = -errno;
                        goto fail;
                }
                off += (size_t)n;
        }
        if (EVP_DigestUpdate(p->md, buf, len) != 1) {
                r = -EIO;
                goto fail;
        }
        p->written += len;
        return 0;

fail:
        /* A partial write leaves bytes on disk the digest never saw, and a body longer than
         * declared is not the object: nothing after this may commit. */
        p->failed = r == -EMSGSIZE ? -EBADMSG : -EIO;
        return r;
}

void store_put_set_mtime(struct store_put *p, time_t t)
{
        if (t > 0)
                p->mtime = (int64_t)t;
}

void store_put_if_unchanged(struct store_put *p, const uint64_t *base_file,
                            const atomic_bool *dropped)
{
        if (base_file)
                p->base_file = *base_file;
        p->if_unchanged = true;
        p->dropped = dropped;
}

int store_put_expect(struct store_put *p, const char *sha256_hex)
{
        uint8_t md[32];

        if (strlen(sha256_hex) != 64 || hex_decode(sha256_hex, 64, md, 32) < 0)
                return -EINVAL;
        memcpy(p->expect, md, 32);
        p->has_expect = true;
        return 0;
}

void store_put_abort(struct store_put *p)
{
        if (p)
                store_put_free(p, true);
}

int store_put_open_read(struct store_put *p)
{
        int fd;

        if (!p->tmpname[0])
                return -ENOENT;
        fd = openat(p->s->tmpfd, p->tmpname, O_RDONLY | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

int store_delete(struct store *s, const char *key, size_t key_len)
{
        return store_delete_file(s, key, key_len, 0);
}

int store_delete_file(struct store *s, const char *key, size_t key_len, uint64_t file_id)
{
        struct cache_idx_rec old;
        int r;

        if (!store_key_ok(key, key_len))
                return -ENOENT;
        r = cache_idx_del(s->idx, key, key_len, file_id, &old);
        if (r < 0)
                return r;
        store_unlink_object(s, old.file_id);
        return 0;
}

ssize_t store_delete_files(struct store *s, const struct store_victim *v, size_t n)
{
        struct cache_idx_del_req *req = calloc(n + 1, sizeof(*req));
        ssize_t done = 0;
        int r;

        if (!req)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                req[i] = (struct cache_idx_del_req){
                    .key = v[i].key, .key_len = v[i].key_len, .file_id = v[i].file_id};
        r = cache_idx_del_files(s->idx, req, n);
        for (size_t i = 0; i < n; i++)
                if (req[i].deleted) {
                        unlink_later(s, req[i].file_id);
                        done++;
                }
        free(req);
        return r < 0 ? r : done;
}

int store_get_info(struct store *s, const char *key, size_t key_len, struct store_entry_info *ret)
{
        struct cache_idx_rec rec;
        int r;

        if (!store_key_ok(key, key_len))
                return -ENOENT;
        pthread_mutex_lock(&s->lock);
        r = cache_idx_reader_get(s->put_reader, key, key_len, &rec);
        pthread_mutex_unlock(&s->lock);
        if (r < 0)
                return r;
        *ret = (struct store_entry_info){
            .key = key,
            .key_len = key_len,
            .size = rec.size,
            .has_sha256 = rec.flags & CACHE_IDX_F_HAS_SHA,
            .hits = rec.hits,
            .last_access = (time_t)rec.last_access,
            .file_id = rec.file_id,
        };
        memcpy(ret->sha256, rec.sha256, sizeof(ret->sha256));
        return 0;
}

/* ---- listing ---- */

struct list_ctx {
        int (*cb)(const struct store_entry_info *info, void *userdata);
        void *userdata;
};

static int list_one(const char *key, size_t key_len, const struct cache_idx_rec *rec,
                    void *userdata)
{
        struct list_ctx *c = userdata;
        struct store_entry_info info = {
            .key = key,
            .key_len = key_len,
            .size = rec->size,
            .has_sha256 = rec->flags & CACHE_IDX_F_HAS_SHA,
            .hits = rec->hits,
            .last_access = (time_t)rec->last_access,
            .file_id = rec->file_id,
        };

        memcpy(info.sha256, rec->sha256, sizeof(info.sha256));
        return c->cb(&info, c->userdata);
}

int store_list(struct store *s, const char *prefix, size_t prefix_len,
               int (*cb)(const struct store_entry_info *info, void *userdata), void *userdata)
{
        return store_list_after(s, prefix, prefix_len, NULL, 0, cb, userdata);
}

int store_list_after(struct store *s, const char *prefix, size_t prefix_len, const char *after,
                     size_t after_len,
                     int (*cb)(const struct store_entry_info *info, void *userdata), void *userdata)
{
        struct list_ctx c = {cb, userdata};

        return cache_idx_foreach_after(s->idx, prefix ? prefix : "", prefix ? prefix_len : 0, after,
                                       after_len, list_one, &c);
}
