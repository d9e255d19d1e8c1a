/* SPDX-License-Identifier: MIT */
/*
 * The background refreshes (token keys, edge snapshot) keep running after a query whose
 * callback ran inside pgdb_exec(). pgdb_exec is wrapped at link time (--wrap) so a call can
 * fail the way a send on a broken idle connection does: callback first, then return 0.
 */
#include <errno.h>

#include "../../../control/api-admin.c"
#include "../../../control/api-edges.c"
#include "tests.h"

int __real_pgdb_exec(struct pgdb *db, int stmt, const char *const *params, int n_params,
                     pgdb_done_fn fn, void *userdata);
int __wrap_pgdb_exec(struct pgdb *db, int stmt, const char *const *params, int n_params,
                     pgdb_done_fn fn, void *userdata);

static unsigned n_calls;
/* 0: callback inside the call, then 0; 1: -ECONNREFUSED at once; 2: queued, the callback
 * left for later (a slow query) */
static int mode;
static pgdb_done_fn pending_fn;
static void *pending_arg;

int __wrap_pgdb_exec(struct pgdb *db, int stmt, const char *const *params, int n_params,
                     pgdb_done_fn fn, void *userdata)
{
        (void)db, (void)stmt, (void)params, (void)n_params;
        n_calls++;
        if (mode == 1)
                return -ECONNREFUSED;
        if (mode == 2) {
                pending_fn = fn;
                pending_arg = userdata;
                return 0;
        }
        fn(userdata, -ECONNREFUSED, NULL);
        return 0;
}

static struct ctl_cfg test_cfg;
static struct ctl test_ctl;

static void setup(void)
{
        test_cfg.heartbeat_period_ms = 5000;
        test_cfg.tokens.refresh_ms = 10000;
        test_ctl.cfg = &test_cfg;
        if (!test_ctl.loop)
                ASSERT_EQ(uring_loop_new(&(struct uring_loop_params){.sq_entries = 8},
                                         &test_ctl.loop), 0);
        if (!test_ctl.cache)
                ASSERT_EQ(ctl_cache_new(1000, &test_ctl.cache), 0);
}

TEST(keys_refresh_after_synchronous_failure)
{
        setup();
        keys_ctl = &test_ctl;
        for (mode = 0; mode < 2; mode++) {
                n_calls = 0;
                keys_refresh(&test_ctl);
                keys_refresh(&test_ctl);
                ASSERT_EQ(n_calls, 2u);
                ASSERT_TRUE(!keys_inflight);
        }
}

TEST(edges_refresh_after_synchronous_failure)
{
        setup();
        edges_ctl = &test_ctl;
        uring_timer_init(&edges_timer, on_edges_timer);
        for (mode = 0; mode < 2; mode++) {
                n_calls = 0;
                on_edges_timer(test_ctl.loop, &edges_timer);
                on_edges_timer(test_ctl.loop, &edges_timer);
                ASSERT_EQ(n_calls, 2u);
                ASSERT_TRUE(!edges_inflight);
        }
        uring_timer_cancel(test_ctl.loop, &edges_timer);
}

/* A refresh slower than the timer's period: the timer starts no second one meanwhile. */
TEST(edges_refresh_never_two_at_once)
{
        setup();
        edges_ctl = &test_ctl;
        uring_timer_init(&edges_timer, on_edges_timer);
        mode = 2;
        n_calls = 0;
        on_edges_timer(test_ctl.loop, &edges_timer);
        on_edges_timer(test_ctl.loop, &edges_timer);
        on_edges_timer(test_ctl.loop, &edges_timer);
        ASSERT_EQ(n_calls, 1u);
        ASSERT_TRUE(edges_inflight);
        pending_fn(pending_arg, -ETIMEDOUT, NULL);
        ASSERT_TRUE(!edges_inflight);
        on_edges_timer(test_ctl.loop, &edges_timer);
        ASSERT_EQ(n_calls, 2u);
        pending_fn(pending_arg, -ETIMEDOUT, NULL);
        uring_timer_cancel(test_ctl.loop, &edges_timer);
        mode = 0;
}

TEST_MAIN()
