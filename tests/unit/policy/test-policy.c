/* SPDX-License-Identifier: MIT */
/*
 * The reference policies on small hand-built traces. Each expected hit/miss string was
 * worked out on paper from the algorithm's description (the comments show the states);
 * 'H' is a hit, 'M' a miss.
 */
#include <errno.h>

#include "policy-map.h"
#include "policy.h"
#include "tests.h"

#define MAXN 256

static struct policy *mk(const char *name, uint64_t budget)
{
        struct policy_cfg cfg = {.budget = budget, .high_permille = 1000, .low_permille = 1000};
        struct policy *p = NULL;
        const struct policy_ops *ops = policy_ops_find(name);
        if (!ops || policy_new(ops, &cfg, &p) < 0)
                return NULL;
        return p;
}

/*
 * Replays `trace` (one letter per object id, all of size 1 unless sizes is given) and writes
 * the hit/miss string into out. Next-access times are computed for Belady.
 */
static void replay(struct policy *p, const char *trace, const uint64_t *sizes, char *out)
{
        size_t n = strlen(trace);
        uint64_t next[MAXN];
        for (size_t i = 0; i < n; i++) {
                next[i] = POLICY_NEVER;
                for (size_t j = i + 1; j < n; j++)
                        if (trace[j] == trace[i]) {
                                next[i] = j;
                                break;
                        }
        }
        for (size_t i = 0; i < n; i++) {
                struct policy_req req = {
                    .id = (uint64_t)trace[i],
                    .size = sizes ? sizes[i] : 1,
                    .group = (uint64_t)trace[i],
                    .next_access = next[i],
                };
                bool hit = policy_access(p, &req);
                out[i] = hit ? 'H' : 'M';
                if (!hit)
                        (void)policy_insert(p, &req);
        }
        out[n] = '\0';
}

static void check(const char *policy, uint64_t budget, const char *trace, const char *want)
{
        char got[MAXN + 1];
        struct policy *p = mk(policy, budget);
        if (!p) {
                fprintf(stderr, "  cannot create %s\n", policy);
                test_failed = true;
                return;
        }
        replay(p, trace, NULL, got);
        struct policy_stats st = policy_stats_get(p);
        policy_free(p);
        if (strcmp(got, want) != 0) {
                fprintf(stderr, "  %s on %s: got %s, want %s\n", policy, trace, got, want);
                test_failed = true;
        }
        if (st.used > budget) {
                fprintf(stderr, "  %s holds %llu > budget %llu\n", policy,
                        (unsigned long long)st.used, (unsigned long long)budget);
                test_failed = true;
        }
}

TEST(lru_sequence)
{
        /* Budget 3. After ABCA the recency order is A C B; D evicts B, B evicts C,
         * E evicts A (order B D A), A evicts D, D evicts B (order A E B). */
        check("lru", 3, "ABCADBEAD", "MMMHMMMMM");
}

TEST(sieve_sequence)
{
        /* Budget 3, queue newest-first. ABC: [C B A]; A hit sets A.visited.
         * D: hand starts at the tail A (visited: clear, move newer) -> B evicted, hand on C.
         *    [D C A]
         * B: hand C unvisited -> evicted, hand moves to D.          [B D A]
         * E: hand D unvisited -> evicted, hand moves to B.          [E B A]
         * A: hit (visited again).
         * D: hand B unvisited -> evicted.                           [D E A]
         * Unlike LRU, A survives two evictions without being moved. */
        check("sieve", 3, "ABCADBEAD", "MMMHMMMHM");
}

TEST(sieve_hand_wraps)
{
        /* Budget 2. AB, then A hit sets A.visited. C: the hand starts at the tail A (visited:
         * cleared, move to the newer B), evicts B; nothing is newer than B, so the hand
         * restarts from the tail next time. [C A]. A hit sets A again. D: tail A visited ->
         * cleared, next newer is C, unvisited -> evicted. A survives both evictions. */
        check("sieve", 2, "ABACAD", "MMHMHM");
}

TEST(s3fifo_scan_resistance)
{
        /* Budget 10: small queue 1 byte, main holds the rest. A is hit once while in S.
         * Filling with B..J keeps everything in S (no eviction while not full). K forces an
         * eviction: S's tail A was accessed, so it moves to M; B is evicted to the ghost.
         * Every later newcomer only evicts S's tail, so A survives the scan of K..Z. */
        check("s3fifo", 10, "AABCDEFGHIJKLMNOPQRSTUVWXYZA", "MHMMMMMMMMMMMMMMMMMMMMMMMMMH");
        /* LRU on the same trace loses A to the scan. */
        check("lru", 10, "AABCDEFGHIJKLMNOPQRSTUVWXYZA", "MHMMMMMMMMMMMMMMMMMMMMMMMMMM");
}

TEST(s3fifo_ghost_goes_to_main)
{
        /* Budget 10. A..J fill S without hits. K evicts A (S tail, never accessed) into the
         * ghost. A's miss finds it in the ghost, so A enters M (evicting B from S). The scan
         * L..Z only cycles S, so the final A hits. */
        check("s3fifo", 10, "ABCDEFGHIJKALMNOPQRSTUVWXYZA", "MMMMMMMMMMMMMMMMMMMMMMMMMMMH");
}

TEST(s3fifo_promotes_objects_hit_in_small)
{
        /* Budget 10. A and B are each hit once while in S; C..J fill the cache. K forces an
         * eviction: S's tail A (accessed) moves to M, then B (accessed) moves to M, then C
         * (never accessed) is evicted to the ghost. A hits in M. L..T (9 newcomers) each
         * evict S's tail (D..L), since S always holds at least its 1-byte share; M is never
         * touched, so A and B both hit at the end. */
        check("s3fifo", 10, "AABBCDEFGHIJKALMNOPQRSTAB", "MHMHMMMMMMMMMHMMMMMMMMMHH");
}

TEST(belady_tiny_optimal)
{
        /* Budget 2, ABCABC. C's next use (5) is later than A's (3) and B's (4), so C is not
         * admitted; A and B hit; the last C has no next use. 4 misses; LRU misses all 6. */
        check("belady", 2, "ABCABC", "MMMHHM");
        check("lru", 2, "ABCABC", "MMMMMM");
}

TEST(gdsf_prefers_small)
{
        /* Budget 10: a(2) b(2) X(6) fill it. c(2) needs room: H = L + freq/size gives
         * a, b 0.5 and X 1/6, so X goes (LRU would evict a). a and b hit; X misses. */
        uint64_t sizes[] = {2, 2, 6, 2, 2, 2, 6};
        char got[16];
        struct policy *p = mk("gdsf", 10);
        ASSERT_TRUE(p);
        replay(p, "abXcabX", sizes, got);
        policy_free(p);
        ASSERT_STREQ(got, "MMMMHHM");
        p = mk("lru", 10);
        ASSERT_TRUE(p);
        replay(p, "abXcabX", sizes, got);
        policy_free(p);
        /* LRU: c evicts a; a evicts b; b evicts X; X evicts c, a. */
        ASSERT_STREQ(got, "MMMMMMM");
}

TEST(lfuda_frequency_wins)
{
        /* Budget 2. A is hit three times (freq 4); B, C, D each arrive once. LFU-DA keeps A:
         * B is evicted by C (H 1 < 4), C by D; A still hits. */
        check("lfuda", 2, "AAAABCDA", "MHHHMMMH");
        check("lru", 2, "AAAABCDA", "MHHHMMMM");
}

/* xorshift for the randomised checks below: deterministic, no libc state. */
static uint64_t rnd(uint64_t *s)
{
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        return *s;
}

TEST(belady_beats_every_online_policy_unit_sizes)
{
        /* With equal sizes MIN is optimal, so no policy may miss less on any trace. */
        enum { N = 4000, OBJECTS = 60, BUDGET = 12 };
        static uint64_t ids[N], next[N];
        uint64_t s = 88172645463325252ULL;
        for (size_t i = 0; i < N; i++) {
                /* Skewed: low ids far more often. */
                uint64_t a = rnd(&s) % OBJECTS, b = rnd(&s) % OBJECTS;
                ids[i] = 1 + (a < b ? a : b);
        }
        struct policy_map last;
        policy_map_init(&last);
        for (size_t i = N; i-- > 0;) {
                uintptr_t l = (uintptr_t)policy_map_get(&last, ids[i]);
                next[i] = l ? l - 1 : POLICY_NEVER;
                ASSERT_EQ(policy_map_put(&last, ids[i], (void *)(uintptr_t)(i + 1)), 0);
        }
        policy_map_done(&last);
        uint64_t belady_misses = 0, misses_of[16] = {0};
        for (size_t k = 0; policy_ops_all[k] && k < 16; k++) {
                struct policy *p = mk(policy_ops_all[k]->name, BUDGET);
                ASSERT_TRUE(p);
                uint64_t misses = 0;
                for (size_t i = 0; i < N; i++) {
                        struct policy_req req = {
                            .id = ids[i], .size = 1, .group = ids[i], .next_access = next[i]};
                        if (!policy_access(p, &req)) {
                                misses++;
                                ASSERT_TRUE(policy_insert(p, &req) >= 0);
                        }
                        ASSERT_TRUE(policy_stats_get(p).used <= BUDGET);
                }
                policy_free(p);
                misses_of[k] = misses;
                if (policy_ops_all[k] == &policy_belady_ops)
                        belady_misses = misses;
                else
                        ASSERT_TRUE(misses > 0);
                fprintf(stderr, "  %-7s %llu misses\n", policy_ops_all[k]->name,
                        (unsigned long long)misses);
        }
        ASSERT_TRUE(belady_misses > 0);
        for (size_t k = 0; policy_ops_all[k]; k++)
                ASSERT_TRUE(misses_of[k] >= belady_misses);
}

struct evict_log {
        uint64_t bytes, count;
};

static void on_evict(void *ctx, uint64_t id, uint64_t size)
{
        struct evict_log *l = ctx;
        l->bytes += size;
        l->count++;
}

TEST(every_policy_keeps_its_books)
{
        /* Random sizes and ids: use never exceeds the budget, evicted bytes reported through
         * the callback add up, remove and duplicate insert behave, oversize is declined. */
        for (size_t k = 0; policy_ops_all[k]; k++) {
                struct evict_log log = {0};
                struct policy_cfg cfg = {.budget = 5000, .on_evict = on_evict, .evict_ctx = &log};
                struct policy *p = NULL;
                uint64_t s = 0x9e3779b97f4a7c15ULL, inserted = 0, removed = 0;
                ASSERT_EQ(policy_new(policy_ops_all[k], &cfg, &p), 0);
                for (unsigned i = 0; i < 20000; i++) {
                        uint64_t id = 1 + rnd(&s) % 300;
                        struct policy_req req = {.id = id,
                                                 .size = 1 + id * 7 % 900,
                                                 .group = id,
                                                 .next_access = i + 1 + rnd(&s) % 500};
                        if (policy_access(p, &req))
                                continue;
                        int r = policy_insert(p, &req);
                        ASSERT_TRUE(r == 0 || r == 1);
                        if (r == 1) {
                                inserted += req.size;
                                ASSERT_EQ(policy_insert(p, &req), -EEXIST);
                                if (i % 97 == 0) {
                                        ASSERT_EQ(policy_remove(p, id), 0);
                                        removed += req.size;
                                }
                        }
                        ASSERT_TRUE(policy_stats_get(p).used <= cfg.budget);
                }
                struct policy_stats st = policy_stats_get(p);
                ASSERT_EQ(inserted, st.used + log.bytes + removed);
                ASSERT_EQ(st.evictions, log.count);
                ASSERT_EQ(policy_remove(p, 999999), -ENOENT);
                struct policy_req big = {
                    .id = 777777, .size = 5001, .group = 777777, .next_access = 1};
                ASSERT_TRUE(!policy_access(p, &big));
                ASSERT_EQ(policy_insert(p, &big), 0);
                policy_evict_until(p, 0);
                ASSERT_EQ(policy_stats_get(p).used, 0);
                ASSERT_EQ(policy_stats_get(p).objects, 0);
                policy_free(p);
        }
}

TEST(bad_config)
{
        struct policy *p = NULL;
        struct policy_cfg zero = {0};
        struct policy_cfg inverted = {.budget = 10, .high_permille = 500, .low_permille = 600};
        ASSERT_EQ(policy_new(&policy_lru_ops, &zero, &p), -EINVAL);
        ASSERT_EQ(policy_new(&policy_sluice_ops, &inverted, &p), -EINVAL);
        ASSERT_TRUE(policy_ops_find("nope") == NULL);
        ASSERT_TRUE(policy_free(NULL) == NULL);
}

TEST_MAIN()
