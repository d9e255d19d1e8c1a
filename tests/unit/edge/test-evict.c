/* SPDX-License-Identifier: MIT */
/*
 * The eviction policy's deletes in the store (edge/evict.c): victims are chosen under the
 * policy's lock and deleted after it, so an object committed again in between must survive
 * the delete decided for the file it replaced.
 *
 * Its saved state: what evict_flush() copies out under the lock and writes after it is what
 * the policy held, comes back equal at the next start, and stays whole when requests, fills
 * and another flush run at the same time. evict.c is included to reach the policy itself.
 */
#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metrics.h"
#include "tests.h"

#include "edge-metrics.h"
#include "evict.c"

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st;
        (void)flag;
        (void)ftw;
        return remove(path) < 0 ? -1 : 0;
}

static char *mkscratch(void)
{
        static char tmpl[64];
        const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

        (void)snprintf(tmpl, sizeof(tmpl), "%s/sluice-evict-XXXXXX", base);
        if (!mkdtemp(tmpl)) {
                perror("mkdtemp");
                exit(1);
        }
        return tmpl;
}

static int put(struct store *s, const char *key, char fill, size_t len)
{
        struct store_put *p;
        char buf[512];
        int r;

        memset(buf, fill, sizeof(buf));
        r = store_put_begin(s, key, strlen(key), len, NULL, NULL, &p);
        if (r < 0)
                return r;
        r = store_put_write(p, buf, len);
        if (r < 0) {
                store_put_abort(p);
                return r;
        }
        return store_put_commit(p);
}

TEST(victim_committed_again_is_kept)
{
        struct edge_server srv;
        struct store_entry_info info;
        char *dir = mkscratch();

        memset(&srv, 0, sizeof(srv)); /* its first member is atomic: no {0} */

        srv.reg = metrics_reg_new();
        ASSERT_TRUE(srv.reg != NULL);
        ASSERT_EQ(edge_metrics_init(&srv.m, srv.reg, 1), 0);
        ASSERT_EQ(store_open(dir, 1000, &srv.store), 0);
        ASSERT_EQ(put(srv.store, "/t/a.m4s", 'a', 400), 0);
        ASSERT_EQ(put(srv.store, "/t/b.m4s", 'b', 400), 0);
        ASSERT_EQ(evict_open(&srv, dir, 1000), 0);

        /* An admin PUT replaces /t/a: committed, not yet offered to the policy, which still
         * knows the file it replaced. Eviction now picks /t/a by that file. */
        ASSERT_EQ(put(srv.store, "/t/a.m4s", 'A', 300), 0);
        (void)evict_make_room(&srv, 1000);

        ASSERT_EQ(store_get_info(srv.store, "/t/a.m4s", 8, &info), 0);
        ASSERT_EQ(info.size, 300);
        ASSERT_EQ(store_get_info(srv.store, "/t/b.m4s", 8, &info), -ENOENT);
        ASSERT_EQ(metrics_value(srv.m.evictions), 2);

        evict_close(&srv);
        store_close(srv.store);
        metrics_reg_free(srv.reg);
        (void)nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static bool rec_eq(const struct policy_record *a, const struct policy_record *b)
{
        return a->id == b->id && a->size == b->size && a->group == b->group &&
               a->hints == b->hints && a->freq == b->freq && a->priority == b->priority &&
               a->seq == b->seq;
}

/*
 * Compare the saved state with the live policy: every saved record decodes and equals the
 * policy's own for that id, and there are as many as the policy holds. Returns the count,
 * or -1 on the first difference. Call with no flush or access running.
 */
static long saved_matches_live(struct evict *e)
{
        struct policy_record live, saved;
        MDB_txn *txn;
        MDB_cursor *cur;
        MDB_val k, v;
        long n = 0;
        int r;

        if (mdb_txn_begin(e->env, NULL, MDB_RDONLY, &txn) != 0)
                return -1;
        if (mdb_cursor_open(txn, e->dbi, &cur) != 0) {
                mdb_txn_abort(txn);
                return -1;
        }
        for (r = mdb_cursor_get(cur, &k, &v, MDB_FIRST); r == 0;
             r = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
                uint64_t id;
                if (k.mv_size != sizeof(id) ||
                    policy_record_decode(v.mv_data, v.mv_size, &saved) < 0)
                        break;
                memcpy(&id, k.mv_data, sizeof(id));
                if (id != saved.id || policy_sluice_entry_export(e->p, id, &live) < 0 ||
                    !rec_eq(&live, &saved))
                        break;
                n++;
        }
        mdb_cursor_close(cur);
        mdb_txn_abort(txn);
        if (r != MDB_NOTFOUND || (uint64_t)n != policy_stats_get(e->p).objects)
                return -1;
        return n;
}

static void server_open(struct edge_server *srv, const char *dir, uint64_t budget)
{
        memset(srv, 0, sizeof(*srv));
        srv->reg = metrics_reg_new();
        if (!srv->reg || edge_metrics_init(&srv->m, srv->reg, 1) < 0 ||
            store_open(dir, 1ull << 30, &srv->store) < 0 || evict_open(srv, dir, budget) < 0) {
                fprintf(stderr, "setting up in %s failed\n", dir);
                exit(1);
        }
}

static void server_close(struct edge_server *srv)
{
        evict_close(srv);
        store_close(srv->store);
        metrics_reg_free(srv->reg);
}

#define N_SAVED 24

TEST(saved_state_restored_equal)
{
        struct policy_record before[N_SAVED], after;
        struct edge_server srv;
        char *dir = mkscratch();
        char key[64];

        struct store *s;

        ASSERT_EQ(store_open(dir, 1ull << 30, &s), 0);
        for (int i = 0; i < N_SAVED; i++) {
                (void)snprintf(key, sizeof(key), "/t%d/v/seg-%d.m4s", i % 3, i + 10);
                ASSERT_EQ(put(s, key, 'x', (size_t)(100 + i)), 0);
        }
        store_close(s);
        server_open(&srv, dir, 1ull << 20);
        /* Different counts give different frequencies, stamps and recency. */
        for (int i = 0; i < N_SAVED; i++) {
                (void)snprintf(key, sizeof(key), "/t%d/v/seg-%d.m4s", i % 3, i + 10);
                for (int j = 0; j <= i % 5; j++)
                        evict_access(&srv, key, strlen(key), 100 + i);
        }
        for (int i = 0; i < N_SAVED; i++) {
                (void)snprintf(key, sizeof(key), "/t%d/v/seg-%d.m4s", i % 3, i + 10);
                ASSERT_EQ(
                    policy_sluice_entry_export(srv.evict->p, hash64(key, strlen(key)), &before[i]),
                    0);
                ASSERT_TRUE(before[i].freq > 0);
        }
        ASSERT_EQ(evict_flush(&srv), 0);
        ASSERT_EQ(saved_matches_live(srv.evict), N_SAVED);
        server_close(&srv);

        /* The restart: each object comes back with the state it was saved with, not fresh. */
        server_open(&srv, dir, 1ull << 20);
        ASSERT_EQ(policy_stats_get(srv.evict->p).objects, N_SAVED);
        for (int i = 0; i < N_SAVED; i++) {
                ASSERT_EQ(policy_sluice_entry_export(srv.evict->p, before[i].id, &after), 0);
                ASSERT_TRUE(rec_eq(&before[i], &after));
        }
        server_close(&srv);
        (void)nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#define N_BUSY 6000

struct busy {
        struct edge_server *srv;
        atomic_bool stop;    /* set once traffic has ended */
        atomic_long flushes; /* finished, by either flusher */
        atomic_long failed;
};

struct busy_thread {
        struct busy *b;
        unsigned seed;
};

static size_t busy_key(unsigned i, char *buf, size_t cap)
{
        int n = snprintf(buf, cap, "/b%u/v/seg-%u.m4s", i / 50, i % 50 + 1);
        return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

/* Requests, fills (which evict: the budget holds fewer than N_BUSY) and deletes, until both
 * flushers have finished a few saves that ran alongside them. */
static void *busy_traffic(void *arg)
{
        struct busy_thread *t = arg;
        char key[64];

        for (unsigned n = 0; n < 2 * N_BUSY || atomic_load(&t->b->flushes) < 8; n++) {
                t->seed = t->seed * 1103515245u + 12345u;
                unsigned i = (t->seed >> 8) % N_BUSY;
                size_t len = busy_key(i, key, sizeof(key));
                evict_access(t->b->srv, key, len, 1000);
                if (n % 3 == 0)
                        (void)evict_note_fill(t->b->srv, key, len, 1000, i + 1, n % 7 == 0);
                else if (n % 29 == 0)
                        evict_forget(t->b->srv, key, len);
        }
        return NULL;
}

static void *busy_flusher(void *arg)
{
        struct busy_thread *t = arg;

        while (!atomic_load(&t->b->stop)) {
                if (evict_flush(t->b->srv) < 0)
                        atomic_fetch_add(&t->b->failed, 1);
                atomic_fetch_add(&t->b->flushes, 1);
        }
        return NULL;
}

TEST(flush_with_concurrent_access)
{
        struct edge_server srv;
        struct busy b = {.srv = &srv};
        struct busy_thread traffic[2], flusher[2];
        pthread_t tt[2], ft[2];
        char *dir = mkscratch();

        /* Room for two thirds of the keys: fills evict while flushes copy and write. */
        server_open(&srv, dir, (uint64_t)N_BUSY * 1000 * 2 / 3);
        /* A first flush sizes the copy for an empty policy: the next ones must grow it. */
        ASSERT_EQ(evict_flush(&srv), 0);
        ASSERT_EQ(saved_matches_live(srv.evict), 0);
        for (int i = 0; i < 2; i++) {
                traffic[i] = (struct busy_thread){.b = &b, .seed = 7u + (unsigned)i};
                flusher[i] = (struct busy_thread){.b = &b};
                ASSERT_EQ(pthread_create(&ft[i], NULL, busy_flusher, &flusher[i]), 0);
                ASSERT_EQ(pthread_create(&tt[i], NULL, busy_traffic, &traffic[i]), 0);
        }
        for (int i = 0; i < 2; i++)
                ASSERT_EQ(pthread_join(tt[i], NULL), 0);
        atomic_store(&b.stop, true);
        for (int i = 0; i < 2; i++)
                ASSERT_EQ(pthread_join(ft[i], NULL), 0);
        ASSERT_EQ(atomic_load(&b.failed), 0);
        ASSERT_TRUE(atomic_load(&b.flushes) >= 8);
        ASSERT_TRUE(metrics_value(srv.m.evictions) > 0);
        ASSERT_TRUE(srv.evict->cap_snap > 1024);

        /* The last flush, as at exit, saves exactly what the policy holds now. */
        ASSERT_EQ(evict_flush(&srv), 0);
        ASSERT_TRUE(saved_matches_live(srv.evict) > 1000);
        server_close(&srv);
        (void)nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

TEST_MAIN()
