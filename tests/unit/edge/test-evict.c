/* SPDX-License-Identifier: MIT */
/*
 * The eviction policy's deletes in the store (edge/evict.c): victims are chosen under the
 * policy's lock and deleted after it, so an object committed again in between must survive
 * the delete decided for the file it replaced.
 *
 * Its saved state: what evict_flush() copies out under the lock and writes after it is what
 * the policy held, comes back equal at the next start, and stays whole when requests, fills
 * and another flush run at the same time. A save writes only what changed since the last
 * one (nothing at all when nothing did), deletes the records of objects evicted or deleted,
 * and a restart after such saves restores what the policy held. evict.c is included to
 * reach the policy itself.
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
#include "scratch.h"
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

static void server_open(struct edge_server *srv, const char *dir, uint64_t store_max,
                        uint64_t budget)
{
        memset(srv, 0, sizeof(*srv));
        srv->reg = metrics_reg_new();
        if (!srv->reg || edge_metrics_init(&srv->m, srv->reg, 1) < 0 ||
            store_open(dir, store_max, &srv->store) < 0 || evict_open(srv, dir, budget) < 0) {
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

TEST(victim_committed_again_is_kept)
{
        struct edge_server srv;
        struct store_entry_info info;
        char *dir = tests_scratch("sluice-evict");

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
        (void)evict_make_room(&srv, 1000, NULL);

        ASSERT_EQ(store_get_info(srv.store, "/t/a.m4s", 8, &info), 0);
        ASSERT_EQ(info.size, 300);
        ASSERT_EQ(store_get_info(srv.store, "/t/b.m4s", 8, &info), -ENOENT);
        ASSERT_EQ(metrics_value(srv.m.evictions), 2);

        server_close(&srv);
        (void)nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static uint64_t file_of(struct store *s, const char *key)
{
        struct store_entry_info info;

        return store_get_info(s, key, strlen(key), &info) == 0 ? info.file_id : 0;
}

/* A store and policy of 1000 bytes holding 800: four objects of 200. */
static void server_800_of_1000(struct edge_server *srv, const char *dir)
{
        char key[32];

        server_open(srv, dir, 1000, 1000);
        for (int i = 0; i < 4; i++) {
                snprintf(key, sizeof(key), "/t/full-%d.m4s", i);
                if (put(srv->store, key, 'f', 200) != 0 ||
                    !evict_note_fill(srv, key, strlen(key), 200, file_of(srv->store, key), false)) {
                        fprintf(stderr, "filling %s failed\n", dir);
                        exit(1);
                }
        }
}

/* A put that the cache's other puts keep beating to the room made for it: before each of
 * its tries (but the first, unless at_first), a rival (a fill, another push) commits one of
 * rivals_left objects of 250 bytes. */
struct contested {
        struct edge_server *srv;
        bool at_first;
        int rivals_left, begins;
        struct store_put *put;
};

static int contested_begin(void *ud)
{
        struct contested *c = ud;
        char key[32];

        c->begins++;
        if (c->rivals_left > 0 && (c->begins > 1 || c->at_first)) {
                snprintf(key, sizeof(key), "/t/rival-%d.m4s", c->rivals_left--);
                if (put(c->srv->store, key, 'r', 250) == 0)
                        (void)evict_note_fill(c->srv, key, strlen(key), 250,
                                              file_of(c->srv->store, key), false);
        }
        return store_put_begin(c->srv->store, "/t/pushed.m4s", 13, 500, NULL, NULL, &c->put);
}

/*
 * evict_put_begin, as fills and admin PUTs both begin: room is made again as long as rivals
 * take it, up to EVICT_ROOM_TRIES times. An admin PUT made room once and answered 507 when a
 * fill took it first, where a fill under the same pressure tried three times.
 */
TEST(put_begin_makes_room_again_when_taken)
{
        struct edge_server srv;
        struct contested c;
        char *dir = tests_scratch("sluice-evict");

        server_800_of_1000(&srv, dir); /* 500 more need room made */

        /* Two rivals: the first try finds it full, two more find the room taken. */
        c = (struct contested){.srv = &srv, .rivals_left = 2};
        ASSERT_EQ(evict_put_begin(&srv, 500, NULL, contested_begin, &c), 0);
        ASSERT_EQ(c.begins, 4);
        store_put_abort(c.put);

        /* Rivals without end: bounded, and said as a full store. */
        c = (struct contested){.srv = &srv, .at_first = true, .rivals_left = 1000};
        ASSERT_EQ(evict_put_begin(&srv, 500, NULL, contested_begin, &c), -ENOSPC);
        ASSERT_EQ(c.begins, 1 + EVICT_ROOM_TRIES);

        /* Over the whole budget: refused, nothing evicted for it. */
        c = (struct contested){.srv = &srv};
        uint64_t evicted = metrics_value(srv.m.evictions);
        ASSERT_EQ(evict_put_begin(&srv, 1001, NULL, contested_begin, &c), -EFBIG);
        ASSERT_EQ(metrics_value(srv.m.evictions), evicted);

        server_close(&srv);
        (void)nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A put whose tries let a second put (another worker's fill) begin in its window, through
 * evict_put_begin as every put does; the second put's result is kept in second_r. */
struct two_puts {
        struct edge_server *srv;
        int begins, second_r;
        struct store_put *put, *second;
};

static int second_begin(void *ud)
{
        struct two_puts *t = ud;

        return store_put_begin(t->srv->store, "/t/second.m4s", 13, 300, NULL, NULL, &t->second);
}

static int first_begin(void *ud)
{
        struct two_puts *t = ud;

        if (++t->begins == 2)
                t->second_r = evict_put_begin(t->srv, 300, NULL, second_begin, t);
        return store_put_begin(t->srv->store, "/t/first.m4s", 12, 300, NULL, NULL, &t->put);
}

/*
 * Two puts waiting for room at once get room for both: the second, beginning while the first
 * waits, waits with it, and the room made counts them both. Room was made for one put at a
 * time: the second took the first's room as it began, and the first had to make room again
 * (on a loaded edge, up to its last try: a 503 store-full).
 */
TEST(puts_waiting_at_once_get_room_for_all)
{
        struct edge_server srv;
        struct two_puts t;
        char *dir = tests_scratch("sluice-evict");

        server_800_of_1000(&srv, dir); /* 300 more need room made */
        t = (struct two_puts){.srv = &srv, .second_r = 1};
        ASSERT_EQ(evict_put_begin(&srv, 300, NULL, first_begin, &t), 0);
        ASSERT_EQ(t.second_r, 0);
        ASSERT_EQ(t.begins, 2); /* the first try, then one after room was made */
        store_put_abort(t.put);
        store_put_abort(t.second);
        /* Neither is waiting now: a put that fits begins at once, with no room made. */
        uint64_t evicted = metrics_value(srv.m.evictions);
        t = (struct two_puts){.srv = &srv, .begins = 2};
        ASSERT_EQ(evict_put_begin(&srv, 300, NULL, first_begin, &t), 0);
        ASSERT_EQ(t.begins, 3);
        ASSERT_EQ(metrics_value(srv.m.evictions), evicted);
        store_put_abort(t.put);

        server_close(&srv);
        (void)nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/*
 * A fill that replaces a resident object under the same key (a revalidated manifest whose
 * origin sent new bytes) is noted with its new size: the policy's total follows the store's,
 * so eviction frees what it must. It kept the first file's size.
 */
TEST(replacement_counts_its_own_size)
{
        struct edge_server srv;
        char *dir = tests_scratch("sluice-evict");

        memset(&srv, 0, sizeof(srv));
        srv.reg = metrics_reg_new();
        ASSERT_TRUE(srv.reg != NULL);
        ASSERT_EQ(edge_metrics_init(&srv.m, srv.reg, 1), 0);
        ASSERT_EQ(store_open(dir, 10000, &srv.store), 0);
        ASSERT_EQ(evict_open(&srv, dir, 10000), 0);

        ASSERT_EQ(put(srv.store, "/t/manifest.mpd", 'a', 9), 0);
        ASSERT_TRUE(evict_note_fill(&srv, "/t/manifest.mpd", 15, 9,
                                    file_of(srv.store, "/t/manifest.mpd"), false));
        ASSERT_EQ(put(srv.store, "/t/manifest.mpd", 'b', 500), 0);
        ASSERT_TRUE(evict_note_fill(&srv, "/t/manifest.mpd", 15, 500,
                                    file_of(srv.store, "/t/manifest.mpd"), false));
        ASSERT_EQ(policy_stats_get(srv.evict->p).objects, 1);
        ASSERT_EQ(policy_stats_get(srv.evict->p).used, 500);
        /* Noted twice (a group's member and its own note): still one entry, its size. */
        ASSERT_TRUE(evict_note_fill(&srv, "/t/manifest.mpd", 15, 500,
                                    file_of(srv.store, "/t/manifest.mpd"), false));
        ASSERT_EQ(policy_stats_get(srv.evict->p).used, 500);

        server_close(&srv);
        (void)nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/*
 * Notes and forgets that reach the policy late, after the store moved on: a commit's note
 * after the key was replaced, or after it was deleted, and a delete's forget after the key
 * was committed again. Each time the policy must track the store's current file, so that
 * eviction deletes it and counts no bytes the store does not hold.
 */
TEST(late_notes_follow_the_store)
{
        struct edge_server srv;
        struct store_entry_info info;
        uint64_t f1, f2;
        char *dir = tests_scratch("sluice-evict");

        memset(&srv, 0, sizeof(srv));
        srv.reg = metrics_reg_new();
        ASSERT_TRUE(srv.reg != NULL);
        ASSERT_EQ(edge_metrics_init(&srv.m, srv.reg, 1), 0);
        ASSERT_EQ(store_open(dir, 1000, &srv.store), 0);
        ASSERT_EQ(evict_open(&srv, dir, 1000), 0);

        /* Replaced: /r's second file is noted before the first's late note. */
        ASSERT_EQ(put(srv.store, "/r.m4s", 'a', 400), 0);
        f1 = file_of(srv.store, "/r.m4s");
        ASSERT_EQ(put(srv.store, "/r.m4s", 'A', 300), 0);
        f2 = file_of(srv.store, "/r.m4s");
        ASSERT_TRUE(f1 && f2 && f1 != f2);
        ASSERT_TRUE(evict_note_fill(&srv, "/r.m4s", 6, 300, f2, false));
        ASSERT_TRUE(evict_note_fill(&srv, "/r.m4s", 6, 400, f1, false));

        /* Deleted: /d's note comes after its delete and forget. */
        ASSERT_EQ(put(srv.store, "/d.m4s", 'd', 100), 0);
        f1 = file_of(srv.store, "/d.m4s");
        ASSERT_EQ(store_delete(srv.store, "/d.m4s", 6), 0);
        evict_forget(&srv, "/d.m4s", 6);
        ASSERT_TRUE(evict_note_fill(&srv, "/d.m4s", 6, 100, f1, false));

        /* Deleted and committed again: the delete's forget comes after the new note. */
        ASSERT_EQ(put(srv.store, "/n.m4s", 'n', 200), 0);
        ASSERT_TRUE(evict_note_fill(&srv, "/n.m4s", 6, 200, file_of(srv.store, "/n.m4s"), false));
        ASSERT_EQ(store_delete(srv.store, "/n.m4s", 6), 0);
        ASSERT_EQ(put(srv.store, "/n.m4s", 'N', 200), 0);
        ASSERT_TRUE(evict_note_fill(&srv, "/n.m4s", 6, 200, file_of(srv.store, "/n.m4s"), false));
        evict_forget(&srv, "/n.m4s", 6);

        /* The policy holds the store's two objects, 500 bytes, and nothing of /d. */
        ASSERT_EQ(policy_stats_get(srv.evict->p).objects, 2);
        ASSERT_EQ(policy_stats_get(srv.evict->p).used, 500);

        /* Evicting everything deletes both from the store. */
        ASSERT_EQ(evict_make_room(&srv, 1000, NULL), 0);
        ASSERT_EQ(store_get_info(srv.store, "/r.m4s", 6, &info), -ENOENT);
        ASSERT_EQ(store_get_info(srv.store, "/n.m4s", 6, &info), -ENOENT);

        server_close(&srv);
        (void)nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static bool rec_eq(const struct policy_record *a, const struct policy_record *b)
{
        return a->id == b->id && a->size == b->size && a->group == b->group &&
               a->hints == b->hints && a->freq == b->freq && a->priority == b->priority &&
               a->seq == b->seq;
}

/*
 * The same, but the priorities within 2/1024 of a stamp: a record saved while the clock
 * stood elsewhere is brought to the last save's clock in fixed point, and each of the two
 * roundings can take one unit.
 */
static bool rec_near(const struct policy_record *a, const struct policy_record *b)
{
        struct policy_record c = *b;

        if (a->priority + 2 >= b->priority && a->priority <= b->priority + 2)
                c.priority = a->priority;
        return rec_eq(a, &c);
}

/* The table's "since" (0 when it has none), or -1 when it is unreadable. */
static int64_t saved_since(struct evict *e, MDB_txn *txn)
{
        uint64_t since;

        return get_meta(e, txn, &since) < 0 ? -1 : (int64_t)since;
}

/*
 * One saved record as it would restore now (priority relative to the last save's clock):
 * 0, or -ENOENT when the table has none for id.
 */
static int saved_get(struct evict *e, uint64_t id, struct policy_record *ret)
{
        MDB_txn *txn;
        MDB_val k = {.mv_size = sizeof(id), .mv_data = &id}, v;
        int64_t since;
        int r;

        if (mdb_txn_begin(e->env, NULL, MDB_RDONLY, &txn) != 0)
                return -EIO;
        since = saved_since(e, txn);
        r = mdb_get(txn, e->dbi, &k, &v);
        if (r == 0)
                r = since < 0 ? -EPROTONOSUPPORT : policy_record_decode(v.mv_data, v.mv_size, ret);
        else
                r = r == MDB_NOTFOUND ? -ENOENT : -EIO;
        mdb_txn_abort(txn);
        if (r == 0)
                ret->priority =
                    ret->priority > (uint64_t)since ? ret->priority - (uint64_t)since : 0;
        return r;
}

/* The table's "since" now: above 0 only after a save that did not rewrite it whole. */
static int64_t table_since(struct evict *e)
{
        MDB_txn *txn;
        int64_t since;

        if (mdb_txn_begin(e->env, NULL, MDB_RDONLY, &txn) != 0)
                return -1;
        since = saved_since(e, txn);
        mdb_txn_abort(txn);
        return since;
}

/* A fifth of what the policy holds goes: few enough victims that the save writes changes
 * (a rewrite takes over past half the records). */
static void evict_a_fifth(struct edge_server *srv)
{
        uint64_t used = policy_stats_get(srv->evict->p).used;

        (void)evict_make_room(srv, srv->evict->budget - (used - used / 5), NULL);
}

/* The id of the last committed write transaction: it moves with every save that writes. */
static size_t last_txnid(struct evict *e)
{
        MDB_envinfo info;

        if (mdb_env_info(e->env, &info) != 0)
                return 0;
        return info.me_last_txnid;
}

/*
 * Compare the saved state with the live policy: every saved record decodes and equals the
 * policy's own for that id (priorities brought to the last save's clock), and there are as
 * many as the policy holds. Returns the count, or -1 on the first difference. Call with no
 * flush or access running.
 */
static long saved_matches_live(struct evict *e)
{
        struct policy_record live, saved;
        MDB_txn *txn;
        MDB_cursor *cur;
        MDB_val k, v;
        int64_t since;
        long n = 0;
        int r;

        if (mdb_txn_begin(e->env, NULL, MDB_RDONLY, &txn) != 0)
                return -1;
        since = saved_since(e, txn);
        if (since < 0 || mdb_cursor_open(txn, e->dbi, &cur) != 0) {
                mdb_txn_abort(txn);
                return -1;
        }
        for (r = mdb_cursor_get(cur, &k, &v, MDB_FIRST); r == 0;
             r = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
                uint64_t id;
                if (k.mv_size == sizeof(meta_key) - 1 &&
                    memcmp(k.mv_data, meta_key, k.mv_size) == 0)
                        continue;
                if (k.mv_size != sizeof(id) ||
                    policy_record_decode(v.mv_data, v.mv_size, &saved) < 0)
                        break;
                memcpy(&id, k.mv_data, sizeof(id));
                saved.priority =
                    saved.priority > (uint64_t)since ? saved.priority - (uint64_t)since : 0;
                if (id != saved.id || policy_sluice_entry_export(e->p, id, &live) < 0 ||
                    !rec_near(&live, &saved))
                        break;
                n++;
        }
        mdb_cursor_close(cur);
        mdb_txn_abort(txn);
        if (r != MDB_NOTFOUND || (uint64_t)n != policy_stats_get(e->p).objects)
                return -1;
        return n;
}

#define N_SAVED 24

TEST(saved_state_restored_equal)
{
        struct policy_record before[N_SAVED], after;
        struct edge_server srv;
        char *dir = tests_scratch("sluice-evict");
        char key[64];

        struct store *s;

        ASSERT_EQ(store_open(dir, 1ull << 30, &s), 0);
        for (int i = 0; i < N_SAVED; i++) {
                (void)snprintf(key, sizeof(key), "/t%d/v/seg-%d.m4s", i % 3, i + 10);
                ASSERT_EQ(put(s, key, 'x', (size_t)(100 + i)), 0);
        }
        store_close(s);
        server_open(&srv, dir, 1ull << 30, 1ull << 20);
        /* Different counts give different frequencies, stamps and recency. */
        for (int i = 0; i < N_SAVED; i++) {
                (void)snprintf(key, sizeof(key), "/t%d/v/seg-%d.m4s", i % 3, i + 10);
                for (int j = 0; j <= i % 5; j++)
                        evict_access(&srv, key, strlen(key), 100 + i);
        }
        for (int i = 0; i < N_SAVED; i++) {
                (void)snprintf(key, sizeof(key), "/t%d/v/seg-%d.m4s", i % 3, i + 10);
                ASSERT_EQ(
                    policy_sluice_entry_export(srv.evict->p, evict_key_id(key, strlen(key)), &before[i]),
                    0);
                ASSERT_TRUE(before[i].freq > 0);
        }
        ASSERT_EQ(evict_flush(&srv), 0);
        ASSERT_EQ(saved_matches_live(srv.evict), N_SAVED);
        server_close(&srv);

        /* The restart: each object comes back with the state it was saved with, not fresh. */
        server_open(&srv, dir, 1ull << 30, 1ull << 20);
        ASSERT_EQ(policy_stats_get(srv.evict->p).objects, N_SAVED);
        for (int i = 0; i < N_SAVED; i++) {
                ASSERT_EQ(policy_sluice_entry_export(srv.evict->p, before[i].id, &after), 0);
                ASSERT_TRUE(rec_eq(&before[i], &after));
        }
        server_close(&srv);
        (void)nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

#define N_INC 40

static uint64_t inc_id(int i, char *key, size_t cap)
{
        (void)snprintf(key, cap, "/t%d/v/seg-%d.m4s", i % 4, i + 10);
        return evict_key_id(key, strlen(key));
}

static void inc_access(struct edge_server *srv, int i, int times)
{
        char key[64];

        (void)inc_id(i, key, sizeof(key));
        for (int j = 0; j < times; j++)
                evict_access(srv, key, strlen(key), 200 + (uint64_t)i);
}

TEST(save_writes_only_changes)
{
        struct policy_record live, saved, before, kept[N_INC];
        struct edge_server srv;
        struct store *s;
        char *dir = tests_scratch("sluice-evict");
        char key[64];
        uint64_t touched, deleted, orphan = 0x5eed5eed5eedull;
        bool resident[N_INC];
        long n_kept = 0;
        size_t txn;

        ASSERT_EQ(store_open(dir, 1ull << 30, &s), 0);
        for (int i = 0; i < N_INC; i++) {
                (void)inc_id(i, key, sizeof(key));
                ASSERT_EQ(put(s, key, 'x', (size_t)(200 + i)), 0);
        }
        store_close(s);
        server_open(&srv, dir, 1ull << 30, 1ull << 20);
        for (int i = 0; i < N_INC; i++)
                inc_access(&srv, i, 1 + i % 3);

        /* Every object started without saved state: the first save writes them all. */
        ASSERT_TRUE(srv.evict->full);
        txn = last_txnid(srv.evict);
        ASSERT_EQ(evict_flush(&srv), 0);
        ASSERT_EQ(last_txnid(srv.evict), txn + 1);
        ASSERT_EQ(saved_matches_live(srv.evict), N_INC);

        /* Nothing changed: no write transaction at all. */
        txn = last_txnid(srv.evict);
        ASSERT_EQ(evict_flush(&srv), 0);
        ASSERT_EQ(evict_flush(&srv), 0);
        ASSERT_EQ(last_txnid(srv.evict), txn);

        /* A request re-weighs one object: the next save writes its new record, and only
         * that one changed in the table. */
        touched = inc_id(7, key, sizeof(key));
        ASSERT_EQ(saved_get(srv.evict, touched, &before), 0);
        ASSERT_EQ(saved_get(srv.evict, inc_id(8, key, sizeof(key)), &kept[8]), 0);
        inc_access(&srv, 7, 5);
        ASSERT_EQ(policy_sluice_changes_get(srv.evict->p).changed, 1);
        ASSERT_EQ(evict_flush(&srv), 0);
        ASSERT_EQ(last_txnid(srv.evict), txn + 1);
        ASSERT_EQ(saved_get(srv.evict, touched, &saved), 0);
        ASSERT_EQ(saved.freq, before.freq + 5);
        ASSERT_TRUE(saved.seq > before.seq);
        ASSERT_TRUE(saved.priority > before.priority);
        ASSERT_EQ(policy_sluice_entry_export(srv.evict->p, touched, &live), 0);
        ASSERT_TRUE(rec_near(&live, &saved));
        ASSERT_EQ(saved_get(srv.evict, kept[8].id, &saved), 0);
        ASSERT_TRUE(rec_eq(&kept[8], &saved));

        /* An admin DELETE: the record goes with the next save. */
        deleted = inc_id(3, key, sizeof(key));
        (void)store_delete(srv.store, key, strlen(key));
        evict_forget(&srv, key, strlen(key));
        ASSERT_EQ(saved_get(srv.evict, deleted, &saved), 0);
        ASSERT_EQ(evict_flush(&srv), 0);
        ASSERT_EQ(saved_get(srv.evict, deleted, &saved), -ENOENT);

        /* Eviction: the clock moves and every victim's record goes; the records left,
         * written while the clock stood lower, still restore to the live priorities (the
         * table's "since" moved with the clock, and the save was not a rewrite). */
        txn = last_txnid(srv.evict);
        evict_a_fifth(&srv);
        ASSERT_TRUE(metrics_value(srv.m.evictions) >= 4);
        ASSERT_TRUE(policy_sluice_clock(srv.evict->p) > 0);
        ASSERT_EQ(table_since(srv.evict), 0);
        ASSERT_EQ(evict_flush(&srv), 0);
        ASSERT_EQ(last_txnid(srv.evict), txn + 1);
        ASSERT_EQ(table_since(srv.evict), (int64_t)policy_sluice_clock(srv.evict->p));
        ASSERT_EQ(saved_matches_live(srv.evict), (long)policy_stats_get(srv.evict->p).objects);
        for (int i = 0; i < N_INC; i++) {
                uint64_t id = inc_id(i, key, sizeof(key));

                resident[i] = policy_sluice_entry_export(srv.evict->p, id, &kept[i]) == 0;
                n_kept += resident[i];
                if (!resident[i])
                        ASSERT_EQ(saved_get(srv.evict, id, &saved), -ENOENT);
        }
        ASSERT_TRUE(n_kept > N_INC / 2 && n_kept < N_INC - 4);
        ASSERT_TRUE(resident[7]); /* the touched one outweighs its untouched neighbours */

        /* A clean restart restores what was saved, the touched object's new weight with
         * it, and finds nothing to write: the table is exactly what the store holds. */
        server_close(&srv);
        server_open(&srv, dir, 1ull << 30, 1ull << 20);
        ASSERT_EQ(policy_stats_get(srv.evict->p).objects, n_kept);
        ASSERT_TRUE(!srv.evict->full);
        for (int i = 0; i < N_INC; i++) {
                uint64_t id = inc_id(i, key, sizeof(key));

                if (!resident[i]) {
                        ASSERT_EQ(policy_sluice_entry_export(srv.evict->p, id, &live), -ENOENT);
                        continue;
                }
                ASSERT_EQ(policy_sluice_entry_export(srv.evict->p, id, &live), 0);
                ASSERT_TRUE(rec_near(&kept[i], &live));
        }
        txn = last_txnid(srv.evict);
        ASSERT_EQ(evict_flush(&srv), 0);
        ASSERT_EQ(last_txnid(srv.evict), txn);

        /* Saves after the restart count from the restored clock: a touch and an eviction
         * later the table still matches the policy. */
        inc_access(&srv, 7, 2);
        n_kept = (long)policy_stats_get(srv.evict->p).objects;
        evict_a_fifth(&srv);
        ASSERT_TRUE((long)policy_stats_get(srv.evict->p).objects < n_kept);
        ASSERT_EQ(evict_flush(&srv), 0);
        ASSERT_TRUE(table_since(srv.evict) > (int64_t)policy_sluice_clock(srv.evict->p));
        ASSERT_EQ(saved_matches_live(srv.evict), (long)policy_stats_get(srv.evict->p).objects);

        /* A record for an object the store no longer holds (the edge stopped after an
         * eviction, before the save): it is not restored, and the first save after the
         * restart rewrites the table without it. */
        {
                MDB_txn *w;
                struct policy_record rec = {.id = orphan, .size = 300, .group = 1, .freq = 9};
                uint8_t buf[POLICY_RECORD_SIZE];
                MDB_val k = {.mv_size = sizeof(orphan), .mv_data = &orphan};
                MDB_val d = {.mv_size = sizeof(buf), .mv_data = buf};

                policy_record_encode(&rec, buf);
                ASSERT_EQ(mdb_txn_begin(srv.evict->env, NULL, 0, &w), 0);
                ASSERT_EQ(mdb_put(w, srv.evict->dbi, &k, &d, 0), 0);
                ASSERT_EQ(mdb_txn_commit(w), 0);
        }
        n_kept = (long)policy_stats_get(srv.evict->p).objects;
        server_close(&srv);
        server_open(&srv, dir, 1ull << 30, 1ull << 20);
        ASSERT_EQ(policy_stats_get(srv.evict->p).objects, n_kept);
        ASSERT_EQ(policy_sluice_entry_export(srv.evict->p, orphan, &live), -ENOENT);
        ASSERT_TRUE(srv.evict->full);
        ASSERT_EQ(evict_flush(&srv), 0);
        ASSERT_EQ(saved_get(srv.evict, orphan, &saved), -ENOENT);
        ASSERT_EQ(saved_matches_live(srv.evict), n_kept);
        ASSERT_TRUE(!srv.evict->full);
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

/* The store the busy traffic stands in for: the keys committed and not deleted since. */
static atomic_bool busy_held[N_BUSY];

static unsigned busy_index(const char *key, size_t len)
{
        unsigned t, s;

        (void)len;
        return sscanf(key, "/b%u/v/seg-%u.m4s", &t, &s) == 2 ? t * 50 + s - 1 : N_BUSY;
}

static int busy_file_now(struct store *s, const char *key, size_t len, uint64_t *ret_file_id)
{
        unsigned i = busy_index(key, len);

        (void)s;
        if (i >= N_BUSY || !atomic_load(&busy_held[i]))
                return -ENOENT;
        *ret_file_id = i + 1;
        return 0;
}

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
                if (n % 3 == 0) {
                        atomic_store(&busy_held[i], true); /* committed, then noted */
                        (void)evict_note_fill(t->b->srv, key, len, 1000, i + 1, n % 7 == 0);
                } else if (n % 29 == 0) {
                        atomic_store(&busy_held[i], false); /* deleted, then forgotten */
                        evict_forget(t->b->srv, key, len);
                }
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
        char *dir = tests_scratch("sluice-evict");

        /* Room for two thirds of the keys: fills evict while flushes copy and write. */
        server_open(&srv, dir, 1ull << 30, (uint64_t)N_BUSY * 1000 * 2 / 3);
        srv.evict->file_now = busy_file_now; /* made-up files, no store behind them */
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
