/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "metrics.h"
#include "tests.h"

static char *render(struct metrics_reg *reg)
{
        char *buf = NULL;
        size_t len = 0;
        if (metrics_render(reg, &buf, &len) < 0)
                return NULL;
        if (strlen(buf) != len) {
                free(buf);
                return NULL;
        }
        return buf;
}

TEST(render_counter_gauge_exact)
{
        struct metrics_reg *reg = metrics_reg_new();
        ASSERT_TRUE(reg != NULL);
        struct metric *ok =
            metrics_counter_new(reg, "sluice_requests_total", "Requests served.", "status=\"200\"");
        struct metric *conns =
            metrics_gauge_new(reg, "sluice_connections", "Open connections.", NULL);
        /* Registered after another family: still rendered under the first HELP/TYPE. */
        struct metric *nf =
            metrics_counter_new(reg, "sluice_requests_total", "ignored", "status=\"404\"");
        ASSERT_TRUE(ok && conns && nf);

        metrics_add(ok, 5);
        metrics_add(ok, 2);
        metrics_add(nf, 1);
        metrics_gauge_add(conns, 10);
        metrics_gauge_add(conns, -3);

        char *out = render(reg);
        ASSERT_STREQ(out, "# HELP sluice_requests_total Requests served.\n"
                          "# TYPE sluice_requests_total counter\n"
                          "sluice_requests_total{status=\"200\"} 7\n"
                          "sluice_requests_total{status=\"404\"} 1\n"
                          "# HELP sluice_connections Open connections.\n"
                          "# TYPE sluice_connections gauge\n"
                          "sluice_connections 7\n");
        free(out);
        ASSERT_EQ(metrics_value(ok), 7);
        ASSERT_EQ(metrics_value(conns), 7);
        metrics_reg_free(reg);
}

TEST(render_histogram_exact)
{
        struct metrics_reg *reg = metrics_reg_new();
        static const double b[] = {0.005, 0.1, 1, 2.5};
        struct metric *h = metrics_histogram_new(reg, "sluice_ttfb_seconds", "Time to first byte.",
                                                 "cache=\"hit\"", b, 4);
        struct metric *h2 = metrics_histogram_new(reg, "sluice_size", "Sizes", NULL, NULL, 0);
        ASSERT_TRUE(h && h2);
        metrics_observe(h, 0.005); /* le is inclusive */
        metrics_observe(h, 0.05);
        metrics_observe(h, 0.5);
        metrics_observe(h, 0.5);
        metrics_observe(h, 100);
        metrics_observe(h2, 3);

        char *out = render(reg);
        ASSERT_STREQ(out, "# HELP sluice_ttfb_seconds Time to first byte.\n"
                          "# TYPE sluice_ttfb_seconds histogram\n"
                          "sluice_ttfb_seconds_bucket{cache=\"hit\",le=\"0.005\"} 1\n"
                          "sluice_ttfb_seconds_bucket{cache=\"hit\",le=\"0.1\"} 2\n"
                          "sluice_ttfb_seconds_bucket{cache=\"hit\",le=\"1\"} 4\n"
                          "sluice_ttfb_seconds_bucket{cache=\"hit\",le=\"2.5\"} 4\n"
                          "sluice_ttfb_seconds_bucket{cache=\"hit\",le=\"+Inf\"} 5\n"
                          "sluice_ttfb_seconds_sum{cache=\"hit\"} 101.055\n"
                          "sluice_ttfb_seconds_count{cache=\"hit\"} 5\n"
                          "# HELP sluice_size Sizes\n"
                          "# TYPE sluice_size histogram\n"
                          "sluice_size_bucket{le=\"+Inf\"} 1\n"
                          "sluice_size_sum 3\n"
                          "sluice_size_count 1\n");
        free(out);
        ASSERT_EQ(metrics_value(h), 5);
        metrics_reg_free(reg);
}

TEST(help_escaping_and_empty)
{
        struct metrics_reg *reg = metrics_reg_new();
        ASSERT_TRUE(metrics_counter_new(reg, "a", "back\\slash\nnewline", NULL) != NULL);
        ASSERT_TRUE(metrics_gauge_new(reg, "b", NULL, "x=\"q\\\"uote\"") != NULL);
        char *out = render(reg);
        ASSERT_STREQ(out, "# HELP a back\\\\slash\\nnewline\n"
                          "# TYPE a counter\n"
                          "a 0\n"
                          "# HELP b\n"
                          "# TYPE b gauge\n"
                          "b{x=\"q\\\"uote\"} 0\n");
        free(out);
        metrics_reg_free(reg);
}

/* Label values written outside a registry: what the registry's own label check takes. */
TEST(label_escape)
{
        struct metrics_reg *reg = metrics_reg_new();
        char *e = metrics_label_escape("/etc/a\\b \"c\"\nd.pem"), *set = NULL;

        ASSERT_STREQ(e, "/etc/a\\\\b \\\"c\\\"\\nd.pem");
        ASSERT_TRUE(asprintf(&set, "cert=\"%s\"", e) > 0);
        ASSERT_TRUE(metrics_gauge_new(reg, "c", "h", set) != NULL);
        free(set);
        free(e);
        e = metrics_label_escape(NULL);
        ASSERT_STREQ(e, "");
        free(e);
        e = metrics_label_escape("plain");
        ASSERT_STREQ(e, "plain");
        free(e);
        metrics_reg_free(reg);
}

TEST(empty_registry)
{
        struct metrics_reg *reg = metrics_reg_new();
        char *buf = NULL;
        size_t len = 99;
        ASSERT_EQ(metrics_render(reg, &buf, &len), 0);
        ASSERT_EQ(len, 0);
        ASSERT_STREQ(buf, "");
        free(buf);
        metrics_reg_free(reg);
        metrics_reg_free(NULL);
}

TEST(name_and_label_validation)
{
        struct metrics_reg *reg = metrics_reg_new();
        static const double good[] = {1, 2};
        static const double unsorted[] = {2, 1};
        static const double dup[] = {1, 1};

        ASSERT_TRUE(metrics_counter_new(reg, "", "h", NULL) == NULL);
        ASSERT_TRUE(metrics_counter_new(reg, "9lives", "h", NULL) == NULL);
        ASSERT_TRUE(metrics_counter_new(reg, "has-dash", "h", NULL) == NULL);
        ASSERT_TRUE(metrics_counter_new(reg, "has space", "h", NULL) == NULL);
        ASSERT_TRUE(metrics_counter_new(reg, NULL, "h", NULL) == NULL);
        ASSERT_TRUE(metrics_counter_new(reg, "ns:sub_total9", "h", NULL) != NULL);
        ASSERT_TRUE(metrics_counter_new(reg, "_x", "h", NULL) != NULL);

        ASSERT_TRUE(metrics_counter_new(reg, "l", "h", "") == NULL);
        ASSERT_TRUE(metrics_counter_new(reg, "l", "h", "a=b") == NULL);
        ASSERT_TRUE(metrics_counter_new(reg, "l", "h", "a=\"b") == NULL);
        ASSERT_TRUE(metrics_counter_new(reg, "l", "h", "a=\"b\",") == NULL);
        ASSERT_TRUE(metrics_counter_new(reg, "l", "h", "1a=\"b\"") == NULL);
        ASSERT_TRUE(metrics_counter_new(reg, "l", "h", "__a=\"b\"") == NULL);
        ASSERT_TRUE(metrics_counter_new(reg, "l", "h", "a=\"\\x\"") == NULL);
        ASSERT_TRUE(metrics_counter_new(reg, "l", "h", "a=\"b\",c=\"d\"") != NULL);
        /* Same name and labels twice, or the same name with another type: refused. */
        ASSERT_TRUE(metrics_counter_new(reg, "l", "h", "a=\"b\",c=\"d\"") == NULL);
        ASSERT_TRUE(metrics_gauge_new(reg, "l", "h", "a=\"x\"") == NULL);
        ASSERT_TRUE(metrics_counter_new(reg, "l", "h", NULL) != NULL);
        ASSERT_TRUE(metrics_counter_new(reg, "l", "h", NULL) == NULL);

        ASSERT_TRUE(metrics_histogram_new(reg, "h1", "h", "le=\"1\"", good, 2) == NULL);
        ASSERT_TRUE(metrics_histogram_new(reg, "h2", "h", NULL, unsorted, 2) == NULL);
        ASSERT_TRUE(metrics_histogram_new(reg, "h3", "h", NULL, dup, 2) == NULL);
        ASSERT_TRUE(metrics_histogram_new(reg, "h4", "h", NULL, NULL, 2) == NULL);
        ASSERT_TRUE(metrics_histogram_new(reg, "h5", "h", "path=\"x\"", good, 2) != NULL);
        /* le is only reserved on histograms. */
        ASSERT_TRUE(metrics_gauge_new(reg, "g", "h", "le=\"1\"") != NULL);
        metrics_reg_free(reg);
}

TEST(null_metric_noop)
{
        metrics_add(NULL, 1);
        metrics_gauge_add(NULL, 1);
        metrics_gauge_set(NULL, 1);
        metrics_observe(NULL, 1);
        ASSERT_EQ(metrics_value(NULL), 0);
}

#define THREADS 8
#define ITERS   200000

struct worker_arg {
        unsigned idx;
        struct metric *c, *g, *h;
        bool own; /* metrics_own_slot instead of metrics_set_worker */
};

static void *worker(void *p)
{
        struct worker_arg *a = p;
        if (a->own)
                metrics_own_slot(a->idx);
        else
                metrics_set_worker(a->idx);
        for (unsigned i = 0; i < ITERS; i++) {
                metrics_add(a->c, 1);
                metrics_gauge_add(a->g, (i & 1) ? -1 : 2);
                metrics_observe(a->h, (double)(i % 4));
        }
        metrics_gauge_set(a->g, 1000 + a->idx);
        return NULL;
}

/* A registry with a counter, a gauge and a histogram (le 0.5, 1.5) for the worker threads. */
static struct metrics_reg *three_metrics(struct metric **c, struct metric **g, struct metric **h)
{
        static const double b[] = {0.5, 1.5};
        struct metrics_reg *reg = metrics_reg_new();

        *c = metrics_counter_new(reg, "c_total", "c", NULL);
        *g = metrics_gauge_new(reg, "g", "g", NULL);
        *h = metrics_histogram_new(reg, "h", "h", NULL, b, 2);
        return reg;
}

TEST(multithread_sums)
{
        struct metric *c, *g, *h;
        struct metrics_reg *reg = three_metrics(&c, &g, &h);
        ASSERT_TRUE(c && g && h);

        pthread_t th[THREADS];
        struct worker_arg args[THREADS];
        /* Two threads share slot 3 (3 and 3 + METRICS_MAX_WORKERS) to prove slots stay exact
         * even when an index is reused. */
        for (unsigned i = 0; i < THREADS; i++) {
                args[i] =
                    (struct worker_arg){i == 7 ? 3 + METRICS_MAX_WORKERS : i + 1, c, g, h, false};
                ASSERT_EQ(pthread_create(&th[i], NULL, worker, &args[i]), 0);
        }
        for (unsigned i = 0; i < THREADS; i++)
                pthread_join(th[i], NULL);

        ASSERT_EQ(metrics_value(c), (int64_t)THREADS * ITERS);
        ASSERT_EQ(metrics_value(h), (int64_t)THREADS * ITERS);
        /* Each thread set its own slot last; the shared slot 3 holds one of two values. */
        int64_t gv = metrics_value(g);
        int64_t base = 0;
        for (unsigned i = 1; i <= 7; i++)
                base += 1000 + i;
        ASSERT_TRUE(gv == base || gv == base - 1003 + 1000 + 3 + METRICS_MAX_WORKERS);

        char *out = render(reg);
        ASSERT_TRUE(out != NULL);
        /* Values 0,1,2,3 equally often: le=0.5 gets 1/4, le=1.5 gets 2/4. Sum is 1.5 per
         * observation on average. */
        char want[512];
        snprintf(want, sizeof(want),
                 "h_bucket{le=\"0.5\"} %d\nh_bucket{le=\"1.5\"} %d\nh_bucket{le=\"+Inf\"} %d\n"
                 "h_sum %d\nh_count %d\n",
                 THREADS * ITERS / 4, THREADS * ITERS / 2, THREADS * ITERS, THREADS * ITERS * 3 / 2,
                 THREADS * ITERS);
        ASSERT_TRUE(strstr(out, want) != NULL);
        snprintf(want, sizeof(want), "c_total %d\n", THREADS * ITERS);
        ASSERT_TRUE(strstr(out, want) != NULL);
        free(out);
        metrics_reg_free(reg);
}

/* Threads that own their slots add without the bus lock; slot 0 and a folded index stay
 * shared, so threads that ask to own those still add atomically and nothing is lost. */
TEST(owned_slots_sum_exactly)
{
        struct metric *c, *g, *h;
        struct metrics_reg *reg = three_metrics(&c, &g, &h);
        static const unsigned idx[] = {
            1, 2, 0, 0, METRICS_MAX_WORKERS + 5, METRICS_MAX_WORKERS + 5};
        enum { N = sizeof(idx) / sizeof(idx[0]) };
        pthread_t th[N];
        struct worker_arg args[N];

        ASSERT_TRUE(c && g && h);
        for (unsigned i = 0; i < N; i++) {
                args[i] = (struct worker_arg){idx[i], c, g, h, true};
                ASSERT_EQ(pthread_create(&th[i], NULL, worker, &args[i]), 0);
        }
        for (unsigned i = 0; i < N; i++)
                pthread_join(th[i], NULL);
        ASSERT_EQ(metrics_value(c), (int64_t)N * ITERS);
        ASSERT_EQ(metrics_value(h), (int64_t)N * ITERS);
        metrics_reg_free(reg);
}

TEST_MAIN()
