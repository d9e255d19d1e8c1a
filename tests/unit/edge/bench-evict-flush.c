/* SPDX-License-Identifier: MIT */
/*
 * How long a request waits for the policy's lock while the policy state is saved.
 *
 * Builds the policy with N objects of 2 MiB (default 200,000), then, ROUNDS times, starts
 * THREADS threads calling evict_access() on random keys and runs one evict_flush() against
 * them, as the admin worker does every 5 s. Prints per round the flush's duration and the
 * longest single evict_access() call seen while it ran, then the medians. For scale, each
 * round first lets the threads run as long with no flush: that longest call is the noise
 * floor of the machine (preemption, page faults), not the lock. Last, the copy taken under
 * the lock is timed alone, with nothing contending: the lock's hold time per flush.
 * evict.c is included to reach that copy.
 *
 * With threads 0, nothing runs against the flushes: before each of them, touched per mille
 * of the objects (each a different one) are requested once, and only the flush is timed,
 * so the figures are the save's own cost for that share of changed records (0: nothing
 * changed; 1000: every record), with the count of LMDB write transactions the rounds made.
 * The first save, before the rounds, is reported apart.
 *
 *     bench-evict-flush [objects [rounds [threads [dir [touched]]]]]
 *
 * dir (default $TMPDIR or /tmp) should be on the cache's kind of disk: the save ends with
 * an fsync. A benchmark, not a test: it asserts nothing and is not in the default suite.
 */
#include <ftw.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics.h"

#include "edge-metrics.h"
#include "evict.c"

#define SEG_SIZE   (2ull << 20)
#define ROUNDS_MAX 64

struct accessor {
        pthread_t tid;
        struct edge_server *srv;
        unsigned n_objects;
        uint64_t rng;
        uint64_t max_ns, calls;
};

static atomic_bool stop;
static atomic_uint started;

static uint64_t now_ns(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static size_t key_of(unsigned i, char *buf, size_t cap)
{
        /* 100 segments per title, so titles' heat weighs in as it does in production. */
        int n = snprintf(buf, cap, "/title-%u/video-1080p/seg-%u.m4s", i / 100, i % 100 + 1);

        return n > 0 && (size_t)n < cap ? (size_t)n : 0;
}

static void *access_loop(void *arg)
{
        struct accessor *a = arg;
        char key[96];

        atomic_fetch_add(&started, 1);
        while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
                a->rng = a->rng * 6364136223846793005ull + 1442695040888963407ull;
                size_t len = key_of((unsigned)(a->rng >> 33) % a->n_objects, key, sizeof(key));
                uint64_t t0 = now_ns();
                evict_access(a->srv, key, len, SEG_SIZE);
                uint64_t d = now_ns() - t0;
                if (d > a->max_ns)
                        a->max_ns = d;
                a->calls++;
        }
        return NULL;
}

/* Start the accessors, run fn (or busy-wait ns when fn is NULL), stop them. Returns the
 * longest single evict_access() call; *ret_calls the number made. */
static uint64_t run_against(struct accessor *acc, unsigned threads, struct edge_server *srv,
                            unsigned n, unsigned seed, int (*fn)(struct edge_server *), uint64_t ns,
                            int *ret_r, uint64_t *ret_ns, uint64_t *ret_calls)
{
        uint64_t worst = 0, calls = 0, t0;

        atomic_store(&stop, false);
        atomic_store(&started, 0);
        for (unsigned i = 0; i < threads; i++) {
                acc[i] = (struct accessor){
                    .srv = srv, .n_objects = n, .rng = 0x9e3779b97f4a7c15ull * (i + 1 + seed)};
                if (pthread_create(&acc[i].tid, NULL, access_loop, &acc[i]) != 0)
                        exit(1);
        }
        while (atomic_load(&started) < threads)
                sched_yield();
        t0 = now_ns();
        if (fn)
                *ret_r = fn(srv);
        else
                while (now_ns() - t0 < ns)
                        ;
        *ret_ns = now_ns() - t0;
        atomic_store(&stop, true);
        for (unsigned i = 0; i < threads; i++) {
                (void)pthread_join(acc[i].tid, NULL);
                if (acc[i].max_ns > worst)
                        worst = acc[i].max_ns;
                calls += acc[i].calls;
        }
        *ret_calls = calls;
        return worst;
}

static int cmp_u64(const void *a, const void *b)
{
        uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

        return x < y ? -1 : x > y;
}

static uint64_t median(uint64_t *v, unsigned n)
{
        qsort(v, n, sizeof(*v), cmp_u64);
        return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The id of the state's last write transaction: it moves with every save that writes. */
static size_t last_txnid(struct edge_server *srv)
{
        MDB_envinfo info;

        return mdb_env_info(srv->evict->env, &info) == 0 ? info.me_last_txnid : 0;
}

/* Request touched per mille of the n objects once each, then time one flush alone. */
static int touch_and_flush(struct edge_server *srv, unsigned n, unsigned touched, unsigned round,
                           uint64_t *ret_ns)
{
        uint64_t k = (uint64_t)n * touched / 1000, t0;
        char key[96];
        int r;

        for (uint64_t j = 0; j < k; j++) {
                /* Spread over the titles, and a different set each round. */
                unsigned i = (unsigned)((j * n / k + round) % n);
                size_t len = key_of(i, key, sizeof(key));
                evict_access(srv, key, len, SEG_SIZE);
        }
        t0 = now_ns();
        r = evict_flush(srv);
        *ret_ns = now_ns() - t0;
        return r;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st;
        (void)flag;
        (void)ftw;
        return remove(path) < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
        unsigned n = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 200000;
        unsigned rounds = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 5;
        unsigned threads = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : 1;
        const char *base = argc > 4 ? argv[4] : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        unsigned touched = argc > 5 ? (unsigned)strtoul(argv[5], NULL, 10) : 0;
        uint64_t flush_ns[ROUNDS_MAX], wait_ns[ROUNDS_MAX], idle_ns[ROUNDS_MAX],
            hold_ns[ROUNDS_MAX];
        struct edge_server srv;
        struct accessor *acc;
        char dir[256], key[96];
        uint64_t t0;
        int r;

        memset(&srv, 0, sizeof(srv)); /* its first member is atomic: no {0} */

        if (n == 0 || rounds == 0 || rounds > ROUNDS_MAX || threads > 16 || touched > 1000) {
                fprintf(stderr,
                        "usage: %s [objects [rounds (<= %d) [threads (<= 16) [dir "
                        "[touched (per mille, threads 0)]]]]]\n",
                        argv[0], ROUNDS_MAX);
                return 2;
        }
        (void)snprintf(dir, sizeof(dir), "%s/sluice-bench-evict-XXXXXX", base);
        if (!mkdtemp(dir)) {
                perror("mkdtemp");
                return 1;
        }
        srv.reg = metrics_reg_new();
        if (!srv.reg || edge_metrics_init(&srv.m, srv.reg, 1) < 0 ||
            store_open(dir, 1ull << 30, &srv.store) < 0 ||
            evict_open(&srv, dir, (uint64_t)n * SEG_SIZE * 2) < 0) {
                fprintf(stderr, "setting up in %s failed\n", dir);
                return 1;
        }
        /* The budget is twice what is inserted: every fill is admitted, nothing is evicted. */
        t0 = now_ns();
        for (unsigned i = 0; i < n; i++) {
                size_t len = key_of(i, key, sizeof(key));
                if (!evict_note_fill(&srv, key, len, SEG_SIZE, i + 1, false)) {
                        fprintf(stderr, "object %u not admitted\n", i);
                        return 1;
                }
        }
        printf("# %u objects inserted in %.1f ms; %u accessing thread(s); state in %s\n", n,
               (double)(now_ns() - t0) / 1e6, threads, dir);

        if (threads == 0) {
                t0 = now_ns();
                r = evict_flush(&srv);
                printf("# first save %s in %.2f ms\n", r < 0 ? "FAILED" : "done",
                       (double)(now_ns() - t0) / 1e6);
                size_t txn0 = last_txnid(&srv);

                for (unsigned round = 0; round < rounds; round++) {
                        r = touch_and_flush(&srv, n, touched, round, &flush_ns[round]);
                        printf("round %u: %u per mille touched, flush %s in %.3f ms\n", round,
                               touched, r < 0 ? "FAILED" : "done", (double)flush_ns[round] / 1e6);
                }
                printf("median of %u: flush %.3f ms with %u per mille of %u objects touched "
                       "(%zu write transactions)\n",
                       rounds, (double)median(flush_ns, rounds) / 1e6, touched, n,
                       last_txnid(&srv) - txn0);
                goto out;
        }
        acc = calloc(threads, sizeof(*acc));
        if (!acc)
                return 1;
        for (unsigned round = 0; round < rounds; round++) {
                uint64_t calls, idle_calls, d, clock;

                r = 0;
                wait_ns[round] = run_against(acc, threads, &srv, n, round, evict_flush, 0, &r,
                                             &flush_ns[round], &calls);
                idle_ns[round] = run_against(acc, threads, &srv, n, round, NULL, flush_ns[round],
                                             &r, &d, &idle_calls);
                pthread_mutex_lock(&srv.evict->flush_lock);
                d = now_ns();
                r = snapshot(srv.evict, &clock) < 0 ? -1 : r;
                hold_ns[round] = now_ns() - d;
                pthread_mutex_unlock(&srv.evict->flush_lock);
                printf("round %u: flush %s in %.2f ms, longest evict_access %.3f ms "
                       "(%llu calls); as long without a flush: %.3f ms (%llu calls); "
                       "copy under the lock %.3f ms\n",
                       round, r < 0 ? "FAILED" : "done", (double)flush_ns[round] / 1e6,
                       (double)wait_ns[round] / 1e6, (unsigned long long)calls,
                       (double)idle_ns[round] / 1e6, (unsigned long long)idle_calls,
                       (double)hold_ns[round] / 1e6);
        }
        printf("median of %u: flush %.2f ms, longest evict_access %.3f ms during it, "
               "%.3f ms without; lock held %.3f ms per flush\n",
               rounds, (double)median(flush_ns, rounds) / 1e6,
               (double)median(wait_ns, rounds) / 1e6, (double)median(idle_ns, rounds) / 1e6,
               (double)median(hold_ns, rounds) / 1e6);

        free(acc);
out:
        evict_close(&srv);
        store_close(srv.store);
        metrics_reg_free(srv.reg);
        (void)nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        return 0;
}
