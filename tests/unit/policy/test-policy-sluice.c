/* SPDX-License-Identifier: MIT */
/*
 * The edge's popularity-weighted LRU: watermarks, the admission filter, title heat, hints,
 * and saving/restoring its state.
 */
#include <errno.h>

#include "policy-sketch.h"
#include "policy-sluice.h"
#include "policy.h"
#include "tests.h"

struct evicted {
        uint64_t ids[1024];
        size_t n;
        uint64_t bytes;
};

static void on_evict(void *ctx, uint64_t id, uint64_t size)
{
        struct evicted *e = ctx;
        if (e->n < 1024)
                e->ids[e->n++] = id;
        e->bytes += size;
}

static struct policy *mk(uint64_t budget, unsigned high, unsigned low, struct evicted *log)
{
        struct policy_cfg cfg = {.budget = budget,
                                 .high_permille = high,
                                 .low_permille = low,
                                 .on_evict = log ? on_evict : NULL,
                                 .evict_ctx = log};
        struct policy *p = NULL;
        return policy_new(&policy_sluice_ops, &cfg, &p) == 0 ? p : NULL;
}

static struct policy_req obj(uint64_t id, uint64_t size)
{
        return (struct policy_req){
            .id = id, .size = size, .group = id, .next_access = POLICY_NEVER};
}

/* One request the way the edge makes it: look up, and on a miss offer the object. */
static int request(struct policy *p, const struct policy_req *req)
{
        if (policy_access(p, req))
                return 2; /* hit */
        return policy_insert(p, req);
}

TEST(watermarks_evict_in_batches)
{
        struct evicted log = {0};
        struct policy *p = mk(1000, 900, 500, &log);
        ASSERT_TRUE(p);
        /* Nine 100-byte objects take use to the high watermark (900) without eviction. */
        for (uint64_t id = 1; id <= 9; id++) {
                struct policy_req r = obj(id, 100);
                ASSERT_EQ(request(p, &r), 1);
        }
        ASSERT_EQ(policy_stats_get(p).used, 900);
        ASSERT_EQ(log.n, 0);
        /* The tenth is seen twice first, so the admission filter lets it in. Inserting it
         * would pass the high watermark: eviction runs down to low - size = 400, i.e. the
         * five least recently used objects go in one batch, oldest first. */
        struct policy_req tenth = obj(10, 100);
        ASSERT_TRUE(!policy_access(p, &tenth));
        ASSERT_EQ(request(p, &tenth), 1);
        ASSERT_EQ(log.n, 5);
        for (size_t i = 0; i < 5; i++)
                ASSERT_EQ(log.ids[i], i + 1);
        ASSERT_EQ(policy_stats_get(p).used, 500);
        /* The next four fit under the high watermark again: no eviction. */
        for (uint64_t id = 11; id <= 14; id++) {
                struct policy_req r = obj(id, 100);
                ASSERT_EQ(request(p, &r), 1);
        }
        ASSERT_EQ(log.n, 5);
        ASSERT_EQ(policy_stats_get(p).used, 900);
        policy_free(p);
}

TEST(popular_objects_outlive_recent_ones)
{
        /* Budget 3, watermarks at 100%. A is requested five times, B and C once each after
         * it, then D (seen twice so it is admitted). Plain LRU would evict A (oldest);
         * popularity-weighted LRU evicts B, the least recent of the least popular. */
        struct evicted log = {0};
        struct policy *p = mk(3, 1000, 1000, &log);
        ASSERT_TRUE(p);
        struct policy_req a = obj('A', 1), b = obj('B', 1), c = obj('C', 1), d = obj('D', 1);
        for (int i = 0; i < 5; i++)
                (void)request(p, &a);
        ASSERT_EQ(request(p, &b), 1);
        ASSERT_EQ(request(p, &c), 1);
        (void)policy_access(p, &d);
        ASSERT_EQ(request(p, &d), 1);
        ASSERT_EQ(log.n, 1);
        ASSERT_EQ(log.ids[0], 'B');
        ASSERT_EQ(request(p, &a), 2);
        policy_free(p);
}

TEST(equal_popularity_is_lru)
{
        /* Every object requested twice before insertion and never again: eviction order must
         * be insertion order, as in LRU. */
        struct evicted log = {0};
        struct policy *p = mk(4, 1000, 1000, &log);
        ASSERT_TRUE(p);
        for (uint64_t id = 1; id <= 8; id++) {
                struct policy_req r = obj(id, 1);
                (void)policy_access(p, &r);
                ASSERT_EQ(request(p, &r), 1);
        }
        ASSERT_EQ(log.n, 4);
        for (size_t i = 0; i < 4; i++)
                ASSERT_EQ(log.ids[i], i + 1);
        policy_free(p);
}

TEST(admission_rejects_one_hit_wonders)
{
        const struct policy_ops *both[] = {&policy_sluice_ops, &policy_lru_ops};
        for (size_t k = 0; k < 2; k++) {
                struct policy_cfg cfg = {.budget = 10, .high_permille = 1000, .low_permille = 1000};
                struct policy *p = NULL;
                ASSERT_EQ(policy_new(both[k], &cfg, &p), 0);
                /* Ten popular objects, three requests each. */
                for (int round = 0; round < 3; round++)
                        for (uint64_t id = 1; id <= 10; id++) {
                                struct policy_req r = obj(id, 1);
                                (void)request(p, &r);
                        }
                /* A scan of 200 objects requested once each. */
                unsigned admitted = 0;
                for (uint64_t id = 1000; id < 1200; id++) {
                        struct policy_req r = obj(id, 1);
                        admitted += request(p, &r) == 1;
                }
                unsigned hits = 0;
                for (uint64_t id = 1; id <= 10; id++) {
                        struct policy_req r = obj(id, 1);
                        hits += policy_access(p, &r);
                }
                if (both[k] == &policy_sluice_ops) {
                        ASSERT_EQ(admitted, 0);
                        ASSERT_EQ(hits, 10);
                } else {
                        /* LRU is flushed by the scan: the contrast the filter exists for. */
                        ASSERT_EQ(admitted, 200);
                        ASSERT_EQ(hits, 0);
                }
                policy_free(p);
        }
}

TEST(doorkeeper_admits_the_second_request)
{
        struct policy *p = mk(10, 1000, 1000, NULL);
        ASSERT_TRUE(p);
        for (int round = 0; round < 3; round++)
                for (uint64_t id = 1; id <= 10; id++) {
                        struct policy_req r = obj(id, 1);
                        (void)request(p, &r);
                }
        struct policy_req w = obj(5000, 1);
        ASSERT_EQ(request(p, &w), 0);
        ASSERT_EQ(request(p, &w), 1);
        ASSERT_EQ(request(p, &w), 2);
        ASSERT_EQ(policy_stats_get(p).rejected, 1);
        policy_free(p);
}

TEST(first_segment_hint_protects)
{
        /* Budget 4. F is a title's first segment, requested once (weight 1, +2 for the hint).
         * Then objects 100..105, each requested twice (weight 2) fill the cache and force
         * three evictions. With the hint, F outranks them and the three oldest newcomers go;
         * without it F has the lowest weight and is the first to go. The hint is a weight,
         * not a pin: a first segment nobody asks for still ages out eventually. */
        for (int hinted = 0; hinted <= 1; hinted++) {
                struct evicted log = {0};
                struct policy *p = mk(4, 1000, 1000, &log);
                ASSERT_TRUE(p);
                struct policy_req f = obj(77, 1);
                f.hints = hinted ? POLICY_HINT_FIRST_SEGMENTS : 0;
                ASSERT_EQ(request(p, &f), 1);
                for (uint64_t id = 100; id <= 105; id++) {
                        struct policy_req r = obj(id, 1);
                        (void)policy_access(p, &r);
                        ASSERT_EQ(request(p, &r), 1);
                }
                ASSERT_EQ(log.n, 3);
                if (hinted) {
                        ASSERT_EQ(log.ids[0], 100);
                        ASSERT_EQ(log.ids[1], 101);
                        ASSERT_EQ(log.ids[2], 102);
                } else {
                        ASSERT_EQ(log.ids[0], 77);
                }
                policy_free(p);
        }
}

TEST(hot_title_admits_unseen_segments)
{
        /* Budget 10 full of objects requested twice. A never-seen segment of a title with
         * 200 recent session starts is admitted on its first request; a never-seen object
         * of an unknown title is not. */
        struct policy *p = mk(10, 1000, 1000, NULL);
        ASSERT_TRUE(p);
        for (int round = 0; round < 2; round++)
                for (uint64_t id = 1; id <= 10; id++) {
                        struct policy_req r = obj(id, 1);
                        (void)request(p, &r);
                }
        /* Sessions of title 9 started elsewhere (first segments on another rung, too large
         * for this cache, so only the sketches see them). */
        for (uint64_t i = 0; i < 200; i++) {
                struct policy_req r = {.id = 900000 + i % 4,
                                       .size = 100,
                                       .group = 9,
                                       .hints = POLICY_HINT_FIRST_SEGMENTS};
                (void)policy_access(p, &r);
        }
        struct policy_req hot = {.id = 9000001, .size = 1, .group = 9};
        struct policy_req cold = {.id = 7000001, .size = 1, .group = 7};
        ASSERT_EQ(request(p, &cold), 0);
        ASSERT_EQ(request(p, &hot), 1);
        policy_free(p);
}

/* Ten one-segment sessions of title 1 and one long session of title 2, as the edge sees
 * them: a session starts with a first segment, then requests media segments in order. */
static void watch(struct policy *p, uint64_t title, uint64_t first_id, unsigned segments)
{
        for (unsigned k = 0; k < segments; k++) {
                struct policy_req r = {.id = first_id + k,
                                       .size = 1,
                                       .group = title,
                                       .hints = k == 0 ? POLICY_HINT_FIRST_SEGMENTS : 0};
                (void)request(p, &r);
        }
}

TEST(title_heat_counts_session_starts)
{
        /* Title A: 10 sessions that each stop after its first segment (10 requests, 10
         * starts). Title B: one viewer who watches 40 segments (40 requests, 1 start). A
         * later segment of each, requested once: the one of A, whose title more people
         * start, must outlive the one of B. Counting requests would rank B's first. */
        struct evicted log = {0};
        struct policy *p = mk(1000, 1000, 1000, &log);
        ASSERT_TRUE(p);
        for (int i = 0; i < 10; i++)
                watch(p, 'A', 1000, 1);
        watch(p, 'B', 2000, 40);
        struct policy_req a = {.id = 1500, .size = 1, .group = 'A'};
        struct policy_req b = {.id = 2500, .size = 1, .group = 'B'};
        ASSERT_EQ(request(p, &a), 1);
        ASSERT_EQ(request(p, &b), 1);
        policy_evict_until(p, 0);
        size_t pos_a = log.n, pos_b = log.n;
        for (size_t i = 0; i < log.n; i++) {
                if (log.ids[i] == 1500)
                        pos_a = i;
                if (log.ids[i] == 2500)
                        pos_b = i;
        }
        ASSERT_TRUE(pos_a < log.n && pos_b < log.n);
        ASSERT_TRUE(pos_b < pos_a);
        policy_free(p);
}

/*
 * In a budget-2 cache p: W1, a segment of title 'W', requested once, then C11..C14 of title
 * 'C', each requested twice. True if the newcomers were all admitted and evicted each other
 * in order (C11, C12, C13) while W1 stayed, and W1 is still a hit.
 */
static bool warm_segment_outlives_newcomers(struct policy *p, const struct evicted *log)
{
        struct policy_req w1 = {.id = 1, .size = 1, .group = 'W'};
        if (request(p, &w1) != 1)
                return false;
        for (uint64_t id = 11; id <= 14; id++) {
                struct policy_req r = {.id = id, .size = 1, .group = 'C'};
                (void)policy_access(p, &r);
                if (request(p, &r) != 1)
                        return false;
        }
        if (log->n != 3)
                return false;
        for (size_t i = 0; i < 3; i++)
                if (log->ids[i] != 11 + i)
                        return false;
        return request(p, &w1) == 2;
}

TEST(title_ranking_outweighs_recency)
{
        /* Budget 2. W1, a segment of a title with 4 recent session starts, is requested
         * once: weight 1 x (1 + 4)^2 = 25. Then C1..C4, segments of a title with one start,
         * each requested twice (weight 2 x (1 + 1)^2 = 8, admitted by the doorkeeper).
         * Each newcomer evicts the previous one, the clock climbing by 8 each time, and W1
         * outlives all three evictions. Linear heat (5 against 4) would give W1 up at C3:
         * recency would win over the title the cache should hold. */
        struct evicted log = {0};
        struct policy *p = mk(2, 1000, 1000, &log);
        ASSERT_TRUE(p);
        for (int i = 0; i < 4; i++) {
                struct policy_req start = {
                    .id = 100 + i, .size = 1000, .group = 'W', .hints = POLICY_HINT_FIRST_SEGMENTS};
                (void)policy_access(p, &start); /* too large for this cache: sketch only */
        }
        struct policy_req cold_start = {
            .id = 200, .size = 1000, .group = 'C', .hints = POLICY_HINT_FIRST_SEGMENTS};
        (void)policy_access(p, &cold_start);
        ASSERT_TRUE(warm_segment_outlives_newcomers(p, &log));
        policy_free(p);
}

TEST(requests_warm_a_title_without_starts)
{
        /* After a restart the start counts are empty while sessions go on mid-title. W has
         * 512 such requests (on objects too large for this cache) and no start: heat
         * 512 / 256 = 2, so W1, requested once, weighs 1 x (1 + 2)^2 = 9. C1..C4 of an
         * unknown title, each requested twice (weight about 2), evict each other and W1
         * stays; without counting requests W1 would weigh 1 and go first. */
        struct evicted log = {0};
        struct policy *p = mk(2, 1000, 1000, &log);
        ASSERT_TRUE(p);
        for (uint64_t i = 0; i < 512; i++) {
                struct policy_req r = {.id = 5000 + i % 64, .size = 1000, .group = 'W'};
                (void)policy_access(p, &r);
        }
        ASSERT_TRUE(warm_segment_outlives_newcomers(p, &log));
        policy_free(p);
}

TEST(sketch_grows_with_the_cache)
{
        /* Started with the narrowest sketch (64 counters a row), a cache that holds 20,000
         * objects must still reject one-off newcomers: the sketch widens as objects
         * arrive, so a new id does not share its cells with hundreds of others and the
         * doorkeeper still sees a first request. At a fixed 64 counters every cell would
         * count thousands of requests and every newcomer would look popular. */
        struct policy_cfg cfg = {
            .budget = 20000, .high_permille = 1000, .low_permille = 1000, .sketch_width = 64};
        struct policy *p = NULL;
        ASSERT_EQ(policy_new(&policy_sluice_ops, &cfg, &p), 0);
        for (uint64_t id = 1; id <= 20000; id++) {
                struct policy_req r = obj(id, 1);
                ASSERT_EQ(request(p, &r), 1);
        }
        /* Ten more rounds of hits: one ageing window (10 requests per resident object), so
         * counts copied into the new cells as the sketch widened have been halved once. */
        for (int round = 0; round < 10; round++)
                for (uint64_t id = 1; id <= 20000; id++) {
                        struct policy_req r = obj(id, 1);
                        ASSERT_TRUE(policy_access(p, &r));
                }
        unsigned admitted = 0;
        for (uint64_t id = 1000000; id < 1000100; id++) {
                struct policy_req r = obj(id, 1);
                admitted += request(p, &r) == 1;
        }
        ASSERT_EQ(admitted, 0);
        ASSERT_EQ(policy_stats_get(p).objects, 20000);
        policy_free(p);
}

TEST(sketch_grow_keeps_estimates)
{
        struct policy_sketch sk;
        ASSERT_EQ(policy_sketch_init(&sk, 64, UINT64_MAX), 0);
        uint32_t before[500];
        for (uint64_t k = 0; k < 500; k++)
                for (uint64_t n = 0; n <= k % 7; n++)
                        (void)policy_sketch_add(&sk, k * 7919);
        for (uint64_t k = 0; k < 500; k++)
                before[k] = policy_sketch_get(&sk, k * 7919);
        ASSERT_EQ(policy_sketch_grow(&sk, 1000), 0);
        ASSERT_EQ(sk.width, 1024);
        for (uint64_t k = 0; k < 500; k++)
                ASSERT_EQ(policy_sketch_get(&sk, k * 7919), before[k]);
        /* Narrowing is not growing. */
        ASSERT_EQ(policy_sketch_grow(&sk, 64), 0);
        ASSERT_EQ(sk.width, 1024);
        /* In the wider sketch a fresh key collides with fewer: its estimate can only be
         * lower or equal, and counts from here on land in separate cells. */
        (void)policy_sketch_add(&sk, 123456789);
        ASSERT_TRUE(policy_sketch_get(&sk, 123456789) >= 1);
        policy_sketch_done(&sk);
}

TEST(plan_hint_admits)
{
        struct policy *p = mk(2, 1000, 1000, NULL);
        ASSERT_TRUE(p);
        for (int round = 0; round < 2; round++)
                for (uint64_t id = 1; id <= 2; id++) {
                        struct policy_req r = obj(id, 1);
                        (void)request(p, &r);
                }
        struct policy_req planned = obj(50, 1), unplanned = obj(60, 1);
        planned.hints = POLICY_HINT_PLAN_HIGH;
        ASSERT_EQ(request(p, &unplanned), 0);
        ASSERT_EQ(request(p, &planned), 1);
        policy_free(p);
}

/* Four session starts of title 'W' (heat 4) and three of title 'C' (heat 3), seen through
 * requests too large for the cache, so they only count. */
static void warm_w_and_c(struct policy *p)
{
        for (int i = 0; i < 4; i++) {
                struct policy_req start = {
                    .id = 100 + i, .size = 1000, .group = 'W', .hints = POLICY_HINT_FIRST_SEGMENTS};
                (void)policy_access(p, &start);
        }
        for (int i = 0; i < 3; i++) {
                struct policy_req start = {
                    .id = 200 + i, .size = 1000, .group = 'C', .hints = POLICY_HINT_FIRST_SEGMENTS};
                (void)policy_access(p, &start);
        }
}

/* A budget-2 cache after warm_w_and_c, with object 1 of title W pushed by the fill plan (plan
 * hint, no request); NULL when it cannot be made. */
static struct policy *with_pushed_w(struct evicted *log)
{
        struct policy *p = mk(2, 1000, 1000, log);
        if (!p)
                return NULL;
        warm_w_and_c(p);
        struct policy_req pushed = {.id = 1,
                                    .size = 1,
                                    .group = 'W',
                                    .hints = POLICY_HINT_PLAN_HIGH | POLICY_HINT_PUSHED};
        if (policy_insert(p, &pushed) != 1) {
                policy_free(p);
                return NULL;
        }
        return p;
}

TEST(pushed_object_yields_to_requested_ones)
{
        /* Budget 2. P, a segment of the busier title W, is pushed by the fill plan (plan
         * hint, no request). Then C1 and C2 of title C are requested, C2 twice (the
         * doorkeeper admits it at the second request if not at the first). The victim must
         * be P: C1 weighs its request by C's factor squared, 1 x (1 + 3)^2 = 16, P its hint
         * credit by W's factor unsquared, 2 x (1 + 4) = 10. Squared for P too (2 x 25 = 50),
         * the push would outrank every file C's sessions ask for until the clock had climbed
         * 50, and C1 would go instead. */
        struct evicted log = {0};
        struct policy *p = with_pushed_w(&log);
        ASSERT_TRUE(p);
        struct policy_record rec;
        ASSERT_EQ(policy_sluice_entry_export(p, 1, &rec), 0);
        ASSERT_EQ(rec.freq, 0); /* no request yet */
        struct policy_req c1 = {.id = 11, .size = 1, .group = 'C'};
        struct policy_req c2 = {.id = 12, .size = 1, .group = 'C'};
        ASSERT_EQ(request(p, &c1), 1);
        (void)request(p, &c2);
        (void)request(p, &c2);
        ASSERT_EQ(log.n, 1);
        ASSERT_EQ(log.ids[0], 1);
        ASSERT_EQ(request(p, &c2), 2);
        ASSERT_EQ(request(p, &c1), 2);
        policy_free(p);
}

TEST(requested_pushed_object_weighs_its_title)
{
        /* The same, except that a client asks for P before C's files come: from that
         * request on P weighs like any requested file of W, 1 x (1 + 4)^2 = 25, and C1 (16)
         * is the victim. */
        struct evicted log = {0};
        struct policy *p = with_pushed_w(&log);
        ASSERT_TRUE(p);
        struct policy_req asked = {.id = 1, .size = 1, .group = 'W'};
        ASSERT_EQ(request(p, &asked), 2);
        struct policy_req c1 = {.id = 11, .size = 1, .group = 'C'};
        struct policy_req c2 = {.id = 12, .size = 1, .group = 'C'};
        ASSERT_EQ(request(p, &c1), 1);
        (void)request(p, &c2);
        (void)request(p, &c2);
        ASSERT_EQ(log.n, 1);
        ASSERT_EQ(log.ids[0], 11);
        ASSERT_EQ(request(p, &c2), 2);
        ASSERT_EQ(request(p, &asked), 2);
        policy_free(p);
}

struct saved {
        uint8_t buf[64][POLICY_RECORD_SIZE];
        size_t n;
};

static int save(void *ctx, const struct policy_record *rec)
{
        struct saved *s = ctx;
        if (s->n == 64)
                return -ENOSPC;
        policy_record_encode(rec, s->buf[s->n++]);
        return 0;
}

TEST(stamp_raised_when_the_title_heats_up)
{
        /* A and B, each requested once while their titles are cold: equal weights, so A,
         * the older stamp, would go first. Then A's title gets twenty session starts (other
         * segments, served but not kept): before evicting A the policy re-weighs it, finds
         * the title busy and keeps it; B goes. */
        struct evicted log = {0};
        struct policy *p = mk(2, 1000, 1000, &log);
        ASSERT_TRUE(p);
        struct policy_req a = {.id = 1, .size = 1, .group = 'A'};
        struct policy_req b = {.id = 2, .size = 1, .group = 'B'};
        ASSERT_EQ(request(p, &a), 1);
        ASSERT_EQ(request(p, &b), 1);
        for (uint64_t i = 0; i < 20; i++) {
                struct policy_req start = {
                    .id = 100 + i, .size = 1, .group = 'A', .hints = POLICY_HINT_FIRST_SEGMENTS};
                ASSERT_TRUE(!policy_access(p, &start));
        }
        policy_evict_until(p, 1);
        ASSERT_EQ(log.n, 1);
        ASSERT_EQ(log.ids[0], 2);
        ASSERT_TRUE(policy_access(p, &a));
        policy_free(p);
}

TEST(stamp_not_raised_when_the_title_stays_cold)
{
        /* The same without the starts: nothing grew, A's older stamp goes first. */
        struct evicted log = {0};
        struct policy *p = mk(2, 1000, 1000, &log);
        ASSERT_TRUE(p);
        struct policy_req a = {.id = 1, .size = 1, .group = 'A'};
        struct policy_req b = {.id = 2, .size = 1, .group = 'B'};
        ASSERT_EQ(request(p, &a), 1);
        ASSERT_EQ(request(p, &b), 1);
        policy_evict_until(p, 1);
        ASSERT_EQ(log.n, 1);
        ASSERT_EQ(log.ids[0], 1);
        policy_free(p);
}

/* Evictions of title 'P' (ids 1-20) and 'Q' (ids 41-60) by a cache of 100 objects. */
struct title_evictions {
        unsigned p, q;
};

static void count_title_evictions(void *ctx, uint64_t id, uint64_t size)
{
        struct title_evictions *t = ctx;
        (void)size;
        t->p += id >= 1 && id <= 20;
        t->q += id >= 41 && id <= 60;
}

/* One session of title q: its first segment then 20 segments (ids 41-60), all kept. */
static void watch_q(struct policy *p)
{
        struct policy_req start = {
            .id = 40, .size = 1, .group = 'Q', .hints = POLICY_HINT_FIRST_SEGMENTS};
        (void)request(p, &start);
        for (uint64_t id = 41; id <= 60; id++) {
                struct policy_req r = {.id = id, .size = 1, .group = 'Q'};
                (void)request(p, &r);
        }
}

TEST(once_popular_title_leaves_in_time)
{
        /* Title P had a thousand session starts (a release night): its 20 segments, kept,
         * weigh about 1 x (1 + 1000)^2 = 10^6. Then nobody asks for P again, while new
         * titles come and go (one start each, their segments requested twice, weight about
         * 8) and title Q is watched now and then. The clock climbs by about 8 per turn of
         * the cache, so without ageing the stamps P's files would need 10^5 turns, 25
         * million requests, to be evicted, and they held a fifth of the cache for good.
         * With each ageing (every 4,096 requests here) halving every lead, they stay through
         * the first window and are gone within 20 windows; Q's files, requested again each
         * session, stay. */
        struct title_evictions gone = {0};
        struct policy_cfg cfg = {.budget = 100,
                                 .high_permille = 1000,
                                 .low_permille = 1000,
                                 .on_evict = count_title_evictions,
                                 .evict_ctx = &gone};
        struct policy *p = NULL;
        ASSERT_EQ(policy_new(&policy_sluice_ops, &cfg, &p), 0);
        for (uint64_t i = 0; i < 1000; i++) {
                struct policy_req start = {
                    .id = 1000, .size = 1000, .group = 'P', .hints = POLICY_HINT_FIRST_SEGMENTS};
                ASSERT_TRUE(!policy_access(p, &start)); /* too large: counted, never kept */
        }
        for (uint64_t id = 1; id <= 20; id++) {
                struct policy_req r = {.id = id, .size = 1, .group = 'P'};
                ASSERT_EQ(request(p, &r), 1);
        }
        uint64_t requests = 0, next = 1u << 20, first_window_p = 0;
        for (uint64_t title = 1; requests < 320000; title++) {
                if (title % 40 == 0) {
                        watch_q(p);
                        requests += 21;
                }
                for (unsigned k = 0; k < 4; k++, next++) {
                        struct policy_req r = {.id = next,
                                               .size = 1,
                                               .group = (1u << 16) + title,
                                               .hints = k == 0 ? POLICY_HINT_FIRST_SEGMENTS : 0};
                        (void)request(p, &r);
                        (void)request(p, &r);
                        requests += 2;
                }
                if (requests < 4000)
                        first_window_p = gone.p;
        }
        ASSERT_EQ(first_window_p, 0);
        ASSERT_EQ(gone.p, 20);
        for (uint64_t id = 41; id <= 60; id++) {
                struct policy_req r = {.id = id, .size = 1, .group = 'Q'};
                ASSERT_TRUE(policy_access(p, &r));
        }
        policy_free(p);
}

TEST(eviction_order_survives_the_rebase_of_keys)
{
        /* Every 256 agings the heap's raw keys are rewritten (see the head of
         * policy-sluice.c). Twelve objects of equal weight, one kept every 30 agings (4,096
         * requests of an object too large to keep), so 360 agings in all, then a thirteenth:
         * whatever the ageing and the rewrite did to their keys, they leave oldest first. */
        struct evicted log = {0};
        struct policy *p = mk(10, 1000, 1000, &log);
        ASSERT_TRUE(p);
        struct policy_req big = {.id = 999, .size = 1000, .group = 999};
        for (uint64_t id = 1; id <= 12; id++) {
                struct policy_req r = {.id = id, .size = 1, .group = id};
                ASSERT_TRUE(!policy_access(p, &r));
                ASSERT_EQ(policy_insert(p, &r), 1);
                for (unsigned i = 0; i < 30 * 4096; i++)
                        ASSERT_TRUE(!policy_access(p, &big));
        }
        /* One more, stamped after the rewrite: it must rank above every older one. */
        struct policy_req last = {.id = 13, .size = 1, .group = 13};
        ASSERT_TRUE(!policy_access(p, &last));
        ASSERT_EQ(policy_insert(p, &last), 1);
        ASSERT_EQ(log.n, 3);
        policy_evict_until(p, 0);
        ASSERT_EQ(log.n, 13);
        for (size_t i = 0; i < 13; i++)
                ASSERT_EQ(log.ids[i], i + 1);
        policy_free(p);
}

/* Requests (looked up, not kept) that teach p how far sessions of title 'T' get: 200 at
 * positions 1-8, 4 at positions 600-603. */
static void teach_positions(struct policy *p)
{
        for (uint32_t i = 0; i < 200; i++) {
                struct policy_req r = {
                    .id = 1000 + i, .size = 1, .group = 'T', .position = 1 + i % 8};
                ASSERT_TRUE(!policy_access(p, &r));
        }
        for (uint32_t i = 0; i < 4; i++) {
                struct policy_req r = {
                    .id = 5000 + i, .size = 1, .group = 'T', .position = 600 + i};
                ASSERT_TRUE(!policy_access(p, &r));
        }
}

TEST(late_segment_weighs_less)
{
        /* Two segments of one title, requested once each, the early one first: by recency
         * it would go first, but few sessions reach position 700, so the late one goes. */
        struct evicted log = {0};
        struct policy *p = mk(2, 1000, 1000, &log);
        ASSERT_TRUE(p);
        teach_positions(p);
        struct policy_req early = {.id = 1, .size = 1, .group = 'T', .position = 5};
        struct policy_req late = {.id = 2, .size = 1, .group = 'T', .position = 700};
        ASSERT_EQ(request(p, &early), 1);
        ASSERT_EQ(request(p, &late), 1);
        policy_evict_until(p, 1);
        ASSERT_EQ(log.n, 1);
        ASSERT_EQ(log.ids[0], 2);
        policy_free(p);
}

TEST(positions_unknown_weigh_alike)
{
        /* Without positions (or before any were seen) the same two are evicted by recency. */
        struct evicted log = {0};
        struct policy *p = mk(2, 1000, 1000, &log);
        ASSERT_TRUE(p);
        struct policy_req early = {.id = 1, .size = 1, .group = 'T', .position = 5};
        struct policy_req late = {.id = 2, .size = 1, .group = 'T', .position = 700};
        ASSERT_EQ(request(p, &early), 1);
        ASSERT_EQ(request(p, &late), 1);
        policy_evict_until(p, 1);
        ASSERT_EQ(log.n, 1);
        ASSERT_EQ(log.ids[0], 1);
        policy_free(p);
}

TEST(state_survives_restart)
{
        /* Build some history, save every entry as the edge would into LMDB, restore into a
         * fresh policy, then drain both: the eviction order must be the same. */
        struct evicted log1 = {0}, log2 = {0};
        struct policy *p = mk(20, 1000, 1000, &log1);
        ASSERT_TRUE(p);
        for (uint64_t i = 0; i < 60; i++) {
                uint64_t id = 1 + (i * 7) % 13;
                struct policy_req r = {.id = id,
                                       .size = 1 + id % 3,
                                       .group = 100 + id % 4,
                                       .hints = id == 3 ? POLICY_HINT_FIRST_SEGMENTS : 0};
                (void)request(p, &r);
        }
        struct saved s = {0};
        ASSERT_EQ(policy_sluice_export(p, save, &s), 0);
        ASSERT_EQ(s.n, policy_stats_get(p).objects);

        struct policy *q = mk(20, 1000, 1000, &log2);
        ASSERT_TRUE(q);
        for (size_t i = 0; i < s.n; i++) {
                struct policy_record rec;
                ASSERT_EQ(policy_record_decode(s.buf[i], POLICY_RECORD_SIZE, &rec), 0);
                ASSERT_EQ(policy_sluice_restore_entry(q, &rec), 0);
                ASSERT_EQ(policy_sluice_restore_entry(q, &rec), -EEXIST);
        }
        ASSERT_EQ(policy_stats_get(q).used, policy_stats_get(p).used);

        struct policy_record one;
        ASSERT_EQ(policy_sluice_entry_export(q, 3, &one), 0);
        ASSERT_EQ(one.hints, POLICY_HINT_FIRST_SEGMENTS);
        ASSERT_EQ(policy_sluice_entry_export(q, 99, &one), -ENOENT);

        log1 = (struct evicted){0};
        policy_evict_until(p, 0);
        policy_evict_until(q, 0);
        ASSERT_EQ(log1.n, log2.n);
        ASSERT_TRUE(log1.n > 0);
        ASSERT_MEMEQ(log1.ids, log1.n * sizeof(uint64_t), log2.ids, log2.n * sizeof(uint64_t));
        policy_free(p);
        policy_free(q);
}

struct taken {
        uint64_t gone[64], changed[64];
        size_t n_gone, n_changed;
        bool changed_before_gone; /* a record was handed over before an id */
};

static void take_gone(void *ctx, uint64_t id)
{
        struct taken *t = ctx;
        if (t->n_changed)
                t->changed_before_gone = true;
        if (t->n_gone < 64)
                t->gone[t->n_gone++] = id;
}

static void take_changed(void *ctx, const struct policy_record *rec)
{
        struct taken *t = ctx;
        if (t->n_changed < 64)
                t->changed[t->n_changed++] = rec->id;
}

static bool has_id(const uint64_t *v, size_t n, uint64_t id)
{
        for (size_t i = 0; i < n; i++)
                if (v[i] == id)
                        return true;
        return false;
}

TEST(changes_noted_once_until_taken)
{
        /* Off by default (sluice-cachesim never takes them); once on, each stamped object is
         * noted once however often it is requested, a dropped one leaves the changed set for
         * the gone ids, and a request for a missing object changes no record. */
        struct evicted log = {0};
        struct policy *p = mk(10, 1000, 1000, &log);
        ASSERT_TRUE(p);
        struct policy_req a = obj(1, 1), b = obj(2, 1), c = obj(3, 1), d = obj(4, 1);
        ASSERT_EQ(policy_insert(p, &a), 1);
        ASSERT_EQ(policy_sluice_changes_get(p).changed, 0);
        ASSERT_EQ(policy_sluice_changes_track(p), 0);
        ASSERT_EQ(policy_insert(p, &b), 1);
        ASSERT_EQ(policy_insert(p, &c), 1);
        for (int i = 0; i < 5; i++) {
                ASSERT_TRUE(policy_access(p, &a));
                ASSERT_TRUE(policy_access(p, &b));
        }
        ASSERT_TRUE(!policy_access(p, &d));
        struct policy_changes ch = policy_sluice_changes_get(p);
        ASSERT_EQ(ch.changed, 3);
        ASSERT_EQ(ch.gone, 0);
        ASSERT_TRUE(!ch.lost);
        ASSERT_EQ(policy_remove(p, 2), 0);
        ch = policy_sluice_changes_get(p);
        ASSERT_EQ(ch.changed, 2);
        ASSERT_EQ(ch.gone, 1);

        struct taken t = {0};
        policy_sluice_changes_take(p, take_gone, take_changed, &t);
        ASSERT_EQ(t.n_gone, 1);
        ASSERT_EQ(t.gone[0], 2);
        ASSERT_EQ(t.n_changed, 2);
        ASSERT_TRUE(has_id(t.changed, t.n_changed, 1) && has_id(t.changed, t.n_changed, 3));
        ASSERT_TRUE(!t.changed_before_gone);
        ch = policy_sluice_changes_get(p);
        ASSERT_EQ(ch.changed + ch.gone, 0);

        /* Taken means forgotten: the next request notes the object again. Evicted, it is
         * gone; back in, it is both gone and changed (gone handed over first). */
        ASSERT_TRUE(policy_access(p, &c));
        ASSERT_EQ(policy_sluice_changes_get(p).changed, 1);
        policy_evict_until(p, 0);
        ASSERT_EQ(log.n, 2);
        ch = policy_sluice_changes_get(p);
        ASSERT_EQ(ch.changed, 0);
        ASSERT_EQ(ch.gone, 2);
        ASSERT_EQ(policy_insert(p, &a), 1);
        t = (struct taken){0};
        policy_sluice_changes_take(p, take_gone, take_changed, &t);
        ASSERT_EQ(t.n_gone, 2);
        ASSERT_TRUE(has_id(t.gone, 2, 1) && has_id(t.gone, 2, 3));
        ASSERT_EQ(t.n_changed, 1);
        ASSERT_EQ(t.changed[0], 1);
        ASSERT_TRUE(!t.changed_before_gone);

        /* Clear forgets without handing over, as after saving every record. */
        ASSERT_TRUE(policy_access(p, &a));
        policy_sluice_changes_clear(p);
        ASSERT_EQ(policy_sluice_changes_get(p).changed, 0);
        ASSERT_TRUE(policy_access(p, &a));
        ASSERT_EQ(policy_sluice_changes_get(p).changed, 1);
        policy_free(p);
}

TEST(ageing_asks_for_a_whole_save)
{
        /* Ageing lowers every stamp without noting any: the owner is told to save them all
         * (as when a change could not be noted), or an object never requested again would
         * keep the record of its old lead and get it back at each restart. */
        struct policy *p = mk(10, 1000, 1000, NULL);
        ASSERT_TRUE(p);
        ASSERT_EQ(policy_sluice_changes_track(p), 0);
        struct policy_req a = obj(1, 1), big = {.id = 99, .size = 100, .group = 99};
        ASSERT_EQ(policy_insert(p, &a), 1);
        policy_sluice_changes_clear(p);
        for (unsigned i = 0; i + 1 < 4096; i++)
                ASSERT_TRUE(!policy_access(p, &big));
        ASSERT_TRUE(!policy_sluice_changes_get(p).lost);
        ASSERT_TRUE(!policy_access(p, &big)); /* the 4,096th request: the sketches halve */
        struct policy_changes ch = policy_sluice_changes_get(p);
        ASSERT_TRUE(ch.lost);
        ASSERT_EQ(ch.changed, 0);
        policy_sluice_changes_clear(p);
        ASSERT_TRUE(!policy_sluice_changes_get(p).lost);
        policy_free(p);
}

TEST(clock_brings_records_to_one_base)
{
        /* A record's priority plus the clock at its export is its stamp: an untouched
         * object exported before and after evictions moved the clock gives the same sum. */
        struct policy *p = mk(4, 1000, 1000, NULL);
        ASSERT_TRUE(p);
        struct policy_req keep = {.id = 1, .size = 1, .group = 7};
        ASSERT_EQ(policy_insert(p, &keep), 1);
        for (int i = 0; i < 20; i++)
                ASSERT_TRUE(policy_access(p, &keep));
        struct policy_record before, after;
        ASSERT_EQ(policy_sluice_entry_export(p, 1, &before), 0);
        uint64_t clock0 = policy_sluice_clock(p);
        /* Asked twice each, so the doorkeeper admits them once the cache is full. */
        for (uint64_t id = 10; id < 20; id++) {
                struct policy_req r = obj(id, 1);
                (void)request(p, &r);
                (void)request(p, &r);
        }
        ASSERT_EQ(policy_sluice_entry_export(p, 1, &after), 0);
        uint64_t clock1 = policy_sluice_clock(p);
        ASSERT_TRUE(clock1 > clock0);
        ASSERT_EQ(after.seq, before.seq);
        ASSERT_TRUE(before.priority + clock0 + 1 >= after.priority + clock1);
        ASSERT_TRUE(before.priority + clock0 <= after.priority + clock1 + 1);
        policy_free(p);
}

TEST(record_decode_rejects_garbage)
{
        struct policy_record rec = {.id = 1,
                                    .size = 10,
                                    .group = 2,
                                    .hints = 1,
                                    .freq = 3,
                                    .priority = 12345,
                                    .seq = 9},
                             out;
        uint8_t buf[POLICY_RECORD_SIZE];
        policy_record_encode(&rec, buf);
        ASSERT_EQ(policy_record_decode(buf, sizeof(buf), &out), 0);
        ASSERT_EQ(out.id, 1);
        ASSERT_EQ(out.size, 10);
        ASSERT_EQ(out.group, 2);
        ASSERT_EQ(out.freq, 3);
        ASSERT_EQ(out.priority, 12345);
        ASSERT_EQ(out.seq, 9);
        ASSERT_EQ(policy_record_decode(buf, sizeof(buf) - 1, &out), -EINVAL);
        buf[0] = 99;
        ASSERT_EQ(policy_record_decode(buf, sizeof(buf), &out), -EPROTONOSUPPORT);
        rec.size = 0;
        policy_record_encode(&rec, buf);
        ASSERT_EQ(policy_record_decode(buf, sizeof(buf), &out), -EINVAL);
}

TEST(export_needs_sluice)
{
        struct policy_cfg cfg = {.budget = 10};
        struct policy *p = NULL;
        struct policy_record rec = {.id = 1, .size = 1};
        ASSERT_EQ(policy_new(&policy_lru_ops, &cfg, &p), 0);
        ASSERT_EQ(policy_sluice_restore_entry(p, &rec), -EOPNOTSUPP);
        ASSERT_EQ(policy_sluice_entry_export(p, 1, &rec), -EOPNOTSUPP);
        ASSERT_EQ(policy_sluice_changes_track(p), -EOPNOTSUPP);
        ASSERT_EQ(policy_sluice_clock(p), 0);
        policy_free(p);
}

TEST_MAIN()
