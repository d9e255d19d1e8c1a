/* SPDX-License-Identifier: MIT */
/*
 * The fill table against a real store, with the upstream, the policy and the waiters'
 * wake-ups stubbed out: which calls start an upstream fetch. In particular the race between a
 * request's store lookup and its fill-table lookup, played step by step: a lookup misses, the
 * fill commits and leaves the table, then the table lookup must not start a second fetch.
 */
#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/stat.h>

#include "scratch.h"
#include "tests.h"

#include "edge-metrics.c"
#include "fill.c"


/* ---- stubs for what fill.c calls outside the store ---- */

static unsigned fetches;              /* upstream_fetch_start calls */
static const struct upstream_cbs *last_cbs;
static void *last_ud;
static struct upstream_cond last_cond; /* the last fetch's preconditions */
static bool last_conditional;

int upstream_fetch_start(struct upstream_ctx *ctx, const struct edge_cfg_upstream *u,
                         const char *bearer, const char *key, size_t key_len, bool fresh,
                         const struct upstream_cond *cond, const struct upstream_cbs *cbs,
                         void *ud)
{
        fetches++;
        last_cbs = cbs;
        last_ud = ud;
        last_conditional = cond != NULL;
        if (cond)
                last_cond = *cond;
        return 0;
}

/* serve-plan.c's rule: manifests are short-lived. */
bool serve_key_short_lived(const char *key, size_t len)
{
        return len >= 4 && memcmp(key + len - 4, ".mpd", 4) == 0;
}

bool upstream_health_usable(unsigned idx, const char *url)
{
        return true;
}

static unsigned health_failures; /* upstream_health_report(.., false) calls */

void upstream_health_report(unsigned idx, const char *url, bool ok)
{
        if (!ok)
                health_failures++;
}

int evict_make_room(struct edge_server *srv, uint64_t size, struct edge_worker *self)
{
        return 0;
}

bool evict_room_queue(struct edge_server *srv, uint64_t size, bool always)
{
        return false;
}

void evict_room_leave(struct edge_server *srv, uint64_t size)
{
}

bool evict_note_fill(struct edge_server *srv, const char *key, size_t key_len, uint64_t size,
                     uint64_t file_id, bool plan)
{
        return true;
}

void miss_notify(struct edge_worker *w)
{
}

/* The fill plan's sums: one key with one value, or none. */
static const char *plan_key, *plan_hex;

bool plan_sums_lookup(struct edge_server *srv, const char *key, size_t key_len, char hex[65])
{
        if (!plan_key || strlen(plan_key) != key_len || memcmp(plan_key, key, key_len) != 0)
                return false;
        memcpy(hex, plan_hex, 65);
        return true;
}

/* The snapshot's references (runtime.c): every fill takes one and gives it back at its end. */
static int rt_refs;

const struct edge_runtime *edge_runtime_ref(const struct edge_runtime *rt)
{
        rt_refs++;
        return rt;
}

void edge_runtime_put(const struct edge_runtime *rt)
{
        if (rt)
                rt_refs--;
}

/* ---- a one-worker server around a scratch store ---- */

struct rig {
        char dir[64];
        struct edge_server srv;
        struct edge_worker w;
        struct edge_runtime rt;
        struct edge_cfg cfg;
        struct edge_cfg_upstream up;
        struct metrics_reg *reg;
};

static void rig_init(struct rig *g)
{
        struct metrics_reg *reg = metrics_reg_new();

        memset(g, 0, sizeof(*g));
        g->reg = reg;
        snprintf(g->dir, sizeof(g->dir), "%s/sluice-fill-XXXXXX",
                 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        if (!mkdtemp(g->dir) || !reg || edge_metrics_init(&g->srv.m, reg, 1) < 0) {
                perror("rig");
                exit(1);
        }
        if (store_open(g->dir, 1 << 20, &g->srv.store) < 0 ||
            store_reader_new(g->srv.store, 4, &g->w.reader) < 0) {
                fprintf(stderr, "store_open failed\n");
                exit(1);
        }
        g->up.url = "http://origin.test";
        g->cfg.upstreams.items = &g->up;
        g->cfg.upstreams.n = 1;
        g->rt.cfg = &g->cfg;
        g->w.srv = &g->srv;
        g->w.rt = &g->rt;
        g->srv.workers = &g->w;
        g->srv.n_workers = 1;
        fetches = 0;
}

static void rig_done(struct rig *g)
{
        fill_commits_drain();
        ASSERT_EQ(rt_refs, 0); /* every fill gone, and with it its hold on the snapshot */
        store_reader_free(g->w.reader);
        store_close(g->srv.store);
        metrics_reg_free(g->reg);
        tests_rm_rf(g->dir);
}

static int put(struct store *s, const char *key, const char *body)
{
        struct store_put *p;
        int r = store_put_begin(s, key, strlen(key), strlen(body), NULL, NULL, &p);

        if (r < 0)
                return r;
        r = store_put_write(p, body, strlen(body));
        if (r < 0) {
                store_put_abort(p);
                return r;
        }
        return store_put_commit(p);
}

/* Another fill (or an admin PUT) commits after the request's lookup missed and is already
 * out of the table: the table lookup must see the store's entry, not start a fetch. */
TEST(commit_between_lookup_and_table)
{
        struct rig g;
        struct store_obj o;
        struct fill *f = NULL;
        bool created = true;

        rig_init(&g);
        ASSERT_EQ(store_lookup(g.w.reader, "/t/v/seg-1.m4s", 14, &o), -ENOENT);
        ASSERT_EQ(put(g.srv.store, "/t/v/seg-1.m4s", "committed meanwhile"), 0);
        ASSERT_EQ(fill_get(&g.w, "/t/v/seg-1.m4s", 14, &f, &created), -EEXIST);
        ASSERT_TRUE(!created);
        ASSERT_EQ(fetches, 0u);
        rig_done(&g);
}

/* The real order: a fill runs, its body arrives whole, the committer commits it and takes it
 * out of the table. A request whose lookup missed before the commit then gets -EEXIST, and
 * one that looked while it ran joined it: one fetch in all. */
TEST(fill_commits_then_lookup)
{
        static const char body[] = "0123456789abcdef";
        struct rig g;
        struct store_obj o;
        struct fill *f = NULL, *joined = NULL, *late = NULL;
        struct upstream_resp resp = {.status = 200, .content_length = 16};
        char etag[FILL_ETAG_LEN + 1];
        bool created = false;

        rig_init(&g);
        ASSERT_EQ(fill_get(&g.w, "/t/v/seg-2.m4s", 14, &f, &created), 0);
        ASSERT_TRUE(created);
        ASSERT_EQ(fetches, 1u);
        ASSERT_EQ(fill_get(&g.w, "/t/v/seg-2.m4s", 14, &joined, &created), 0);
        ASSERT_TRUE(!created && joined == f);

        /* The late request's store lookup happens now, before the commit. */
        ASSERT_EQ(store_lookup(g.w.reader, "/t/v/seg-2.m4s", 14, &o), -ENOENT);

        resp.last_modified = 1700000000;
        ASSERT_EQ(last_cbs->on_head(last_ud, &resp), 0);
        ASSERT_TRUE(!fill_etag(f, etag)); /* no X-Sluice-SHA256: known at the commit */
        ASSERT_EQ(last_cbs->on_body(last_ud, body, 16), 0);
        last_cbs->on_done(last_ud, 0);
        fill_commits_drain();
        ASSERT_EQ(fill_state_get(f), FILL_DONE);
        ASSERT_TRUE(fill_etag(f, etag));
        ASSERT_EQ(f->last_modified, (time_t)1700000000);

        /* ...and its table lookup now. */
        ASSERT_EQ(fill_get(&g.w, "/t/v/seg-2.m4s", 14, &late, &created), -EEXIST);
        ASSERT_EQ(fetches, 1u);
        ASSERT_EQ(store_lookup(g.w.reader, "/t/v/seg-2.m4s", 14, &o), 0);
        ASSERT_STREQ(o.etag, etag);
        ASSERT_EQ(o.last_modified, (time_t)1700000000);
        store_obj_release(g.w.reader, &o);
        fill_unref(joined);
        fill_unref(f);
        rig_done(&g);
}

/* A waiter on another worker looks at the fill before its head (conn.c's miss-wait deadline
 * does, in any state) while the owner takes the head: the waiter sees nothing to send, and reads
 * no field the head writes (a data race under ThreadSanitizer otherwise). Many rounds, as the
 * race is only seen when the look and the head interleave. */
struct pending_look {
        struct fill *f;
        atomic_uint looks;     /* relaxed: the owner's wait for it orders nothing */
        uint64_t seen_pending; /* fill_avail() while FILL_PENDING, summed */
};

static void *look_while_pending(void *arg)
{
        struct pending_look *pl = arg;

        while (fill_state_get(pl->f) == FILL_PENDING) {
                uint64_t avail = fill_avail(pl->f);
                if (fill_state_get(pl->f) == FILL_PENDING)
                        pl->seen_pending += avail;
                atomic_fetch_add_explicit(&pl->looks, 1, memory_order_relaxed);
        }
        return NULL;
}

TEST(avail_before_the_head_from_another_thread)
{
        struct upstream_resp resp = {.status = 200, .content_length = 16};
        struct rig g;

        rig_init(&g);
        for (unsigned i = 0; i < 64; i++) {
                struct pending_look pl = {0};
                struct fill *f = NULL;
                bool created = false;
                char key[32];
                pthread_t t;

                snprintf(key, sizeof(key), "/t/v/seg-%02u.m4s", i);
                ASSERT_EQ(fill_get(&g.w, key, strlen(key), &f, &created), 0);
                ASSERT_TRUE(created);
                pl.f = f;
                ASSERT_EQ(pthread_create(&t, NULL, look_while_pending, &pl), 0);
                while (atomic_load_explicit(&pl.looks, memory_order_relaxed) < 100)
                        sched_yield();
                ASSERT_EQ(last_cbs->on_head(last_ud, &resp), 0);
                ASSERT_EQ(pthread_join(t, NULL), 0);
                ASSERT_EQ(pl.seen_pending, 0u);
                ASSERT_EQ(fill_avail(f), 0u);
                ASSERT_EQ(last_cbs->on_body(last_ud, "01234567", 8), 0);
                ASSERT_EQ(fill_avail(f), 8u);
                last_cbs->on_done(last_ud, -ECONNRESET); /* broke off: nothing kept */
                ASSERT_EQ(fill_state_get(f), FILL_FAILED);
                fill_unref(f);
        }
        rig_done(&g);
}

/* A key deleted after its commit is fetched again: the re-check is no negative cache. */
TEST(absent_key_starts_a_fetch)
{
        struct rig g;
        struct fill *f = NULL;
        bool created = false;

        rig_init(&g);
        ASSERT_EQ(put(g.srv.store, "/t/v/seg-3.m4s", "short-lived"), 0);
        ASSERT_EQ(store_delete(g.srv.store, "/t/v/seg-3.m4s", 14), 0);
        ASSERT_EQ(fill_get(&g.w, "/t/v/seg-3.m4s", 14, &f, &created), 0);
        ASSERT_TRUE(created);
        ASSERT_EQ(fetches, 1u);
        last_cbs->on_done(last_ud, -ECONNREFUSED); /* no head: the fill fails */
        ASSERT_EQ(fill_state_get(f), FILL_FAILED);
        fill_unref(f);
        rig_done(&g);
}

/* A worker's teardown cancels its fetches: a fill without a head ends there, with no fresh
 * attempt, no next upstream and no mark against the upstream's health. */
TEST(cancelled_fetch_is_final)
{
        struct rig g;
        struct fill *f = NULL;
        bool created = false;
        unsigned before, health;

        rig_init(&g);
        ASSERT_EQ(fill_get(&g.w, "/t/v/seg-9.m4s", 14, &f, &created), 0);
        ASSERT_TRUE(created);
        before = fetches;
        health = health_failures;
        last_cbs->on_done(last_ud, -ECANCELED);
        ASSERT_EQ(fetches, before);
        ASSERT_EQ(health_failures, health);
        ASSERT_EQ(fill_state_get(f), FILL_FAILED);
        fill_unref(f);
        rig_done(&g);
}

/* A key the fill plan gives a SHA-256 for commits only with bytes that hash to it, whatever the
 * upstream says; with the right bytes it commits as usual. */
TEST(plan_sum_decides_the_commit)
{
        static const char body[] = "0123456789abcdef";
        /* SHA-256 of body, and a value no 16 bytes here hash to. */
        static const char good[] =
            "9f9f5111f7b27a781f1f1ddde5ebc2dd2b796bfc7365c9c28b548e564176929f";
        static const char other[] =
            "4f7b5d6d8b8a7e9a8a8b1c4b0a9e0fd4f8c0f0c6e0c1ee0b1a2f8f3d1c5b7e21";
        struct upstream_resp resp = {.status = 200, .content_length = 16};
        struct store_obj o;
        struct fill *f = NULL;
        bool created = false;
        struct rig g;

        rig_init(&g);
        plan_key = "/t/v/seg-4.m4s";
        plan_hex = other;
        resp.sha256_hex = good; /* the upstream names the body's true hash */
        ASSERT_EQ(fill_get(&g.w, plan_key, 14, &f, &created), 0);
        ASSERT_EQ(last_cbs->on_head(last_ud, &resp), 0);
        ASSERT_EQ(last_cbs->on_body(last_ud, body, 16), 0);
        last_cbs->on_done(last_ud, 0);
        fill_commits_drain();
        ASSERT_EQ(fill_state_get(f), FILL_FAILED);
        ASSERT_EQ(store_lookup(g.w.reader, plan_key, 14, &o), -ENOENT);
        ASSERT_EQ(metrics_value(g.srv.m.plan_checked), 1);
        fill_unref(f);

        plan_hex = good;
        resp.sha256_hex = NULL;
        ASSERT_EQ(fill_get(&g.w, plan_key, 14, &f, &created), 0);
        ASSERT_TRUE(created);
        ASSERT_EQ(last_cbs->on_head(last_ud, &resp), 0);
        ASSERT_EQ(last_cbs->on_body(last_ud, body, 16), 0);
        last_cbs->on_done(last_ud, 0);
        fill_commits_drain();
        ASSERT_EQ(fill_state_get(f), FILL_DONE);
        ASSERT_EQ(store_lookup(g.w.reader, plan_key, 14, &o), 0);
        ASSERT_TRUE(o.has_sha256);
        store_obj_release(g.w.reader, &o);
        fill_unref(f);
        plan_key = NULL;
        rig_done(&g);
}

/*
 * A manifest's fill notes it fresh at its commit; a revalidation of the stored copy asks
 * with its Last-Modified (and, the origin being no edge, without the edge's tag), is not
 * refused as already stored, and a 304 ends it FILL_FRESH with the copy untouched and the
 * key fresh again. A 304 to a plain fill is an upstream failure.
 */
TEST(manifest_revalidated)
{
        static const char key[] = "/t/manifest.mpd";
        struct upstream_resp ok = {.status = 200, .content_length = 4, .last_modified = 1000};
        struct upstream_resp nm = {.status = 304, .content_length = -1};
        struct fill_reval rv = {.last_modified = 1000, .etag = "\"0123456789abcdef\""};
        struct store_obj o;
        struct fill *f = NULL;
        bool created = false;
        struct rig g;

        rig_init(&g);
        ASSERT_TRUE(!fill_fresh(key, sizeof(key) - 1));
        ASSERT_EQ(fill_get(&g.w, key, sizeof(key) - 1, &f, &created), 0);
        ASSERT_TRUE(!last_conditional);
        ASSERT_EQ(last_cbs->on_head(last_ud, &ok), 0);
        ASSERT_EQ(last_cbs->on_body(last_ud, "v1v1", 4), 0);
        last_cbs->on_done(last_ud, 0);
        fill_commits_drain();
        ASSERT_EQ(fill_state_get(f), FILL_DONE);
        ASSERT_TRUE(fill_fresh(key, sizeof(key) - 1));
        fill_unref(f);

        ASSERT_EQ(fill_get(&g.w, key, sizeof(key) - 1, &f, &created), -EEXIST);
        ASSERT_EQ(fill_get_reval(&g.w, key, sizeof(key) - 1, &rv, &f, &created), 0);
        ASSERT_TRUE(created);
        ASSERT_TRUE(last_conditional);
        ASSERT_EQ(last_cond.if_modified_since, 1000);
        ASSERT_TRUE(last_cond.if_none_match == NULL);
        ASSERT_EQ(last_cbs->on_head(last_ud, &nm), 0);
        last_cbs->on_done(last_ud, 0);
        ASSERT_EQ(fill_state_get(f), FILL_FRESH);
        ASSERT_EQ(metrics_value(g.srv.m.fills_not_modified), 1);
        ASSERT_EQ(store_lookup(g.w.reader, key, sizeof(key) - 1, &o), 0);
        ASSERT_EQ(o.size, 4u);
        store_obj_release(g.w.reader, &o);
        fill_unref(f);

        ASSERT_EQ(fill_get(&g.w, "/t/other.mpd", 12, &f, &created), 0);
        ASSERT_TRUE(last_cbs->on_head(last_ud, &nm) < 0);
        last_cbs->on_done(last_ud, -ECANCELED);
        ASSERT_EQ(fill_state_get(f), FILL_FAILED);
        fill_unref(f);
        rig_done(&g);
}

/* What a parent's own Cache-Status entry says its upstream answered: the list's last
 * member's fwd-status, parameters and quoted names read as RFC 8941 writes them. */
TEST(fwd_status_of_the_last_entry)
{
        ASSERT_EQ(upstream_head_fwd_status(NULL), 0);
        ASSERT_EQ(upstream_head_fwd_status(""), 0);
        ASSERT_EQ(upstream_head_fwd_status("p; fwd=miss; fwd-status=500; detail=upstream-failed"),
                  500);
        ASSERT_EQ(upstream_head_fwd_status("p; fwd=miss; detail=upstream-failed"), 0);
        ASSERT_EQ(upstream_head_fwd_status("p; fwd=miss; detail=fill-limit"), 0);
        /* An entry before the parent's (its own parent's) is not the parent's word. */
        ASSERT_EQ(upstream_head_fwd_status("g; fwd=miss; fwd-status=503, p; fwd=miss"), 0);
        ASSERT_EQ(upstream_head_fwd_status("g; hit, p;fwd=miss;fwd-status=502"), 502);
        ASSERT_EQ(upstream_head_fwd_status("\"a, b; fwd-status=500\"; fwd=miss"), 0);
        ASSERT_EQ(upstream_head_fwd_status("\"a, \\\"b\"; fwd=miss; fwd-status=503"), 503);
        ASSERT_EQ(upstream_head_fwd_status("p; fwd=miss; fwd-status=50"), 0);
        ASSERT_EQ(upstream_head_fwd_status("p; fwd=miss; fwd-status=5000"), 0);
        ASSERT_EQ(upstream_head_fwd_status("p; fwd=miss; fwd-status=099"), 0);
        ASSERT_EQ(upstream_head_fwd_status("p; fwd=miss; xfwd-status=500"), 0);
}

TEST_MAIN()
