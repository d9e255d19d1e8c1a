/* SPDX-License-Identifier: MIT */
/*
 * The edge's popularity-weighted LRU: watermarks, the admission filter, title heat, hints,
 * and saving/restoring its state.
 */
#include <errno.h>

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
         * 200 recent requests is admitted on its first request; a never-seen object of an
         * unknown title is not. */
        struct policy *p = mk(10, 1000, 1000, NULL);
        ASSERT_TRUE(p);
        for (int round = 0; round < 2; round++)
                for (uint64_t id = 1; id <= 10; id++) {
                        struct policy_req r = obj(id, 1);
                        (void)request(p, &r);
                }
        /* Other segments of title 9 requested elsewhere (e.g. on another rung, not cached). */
        for (uint64_t i = 0; i < 200; i++) {
                struct policy_req r = {.id = 900000 + i, .size = 100, .group = 9};
                (void)policy_access(p, &r);
        }
        struct policy_req hot = {.id = 9000001, .size = 1, .group = 9};
        struct policy_req cold = {.id = 7000001, .size = 1, .group = 7};
        ASSERT_EQ(request(p, &cold), 0);
        ASSERT_EQ(request(p, &hot), 1);
        policy_free(p);
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
        policy_free(p);
}

TEST_MAIN()
