/* SPDX-License-Identifier: MIT */
/*
 * The heartbeat's body (edge/heartbeat.c) from a real store: one title per run of keys, a key
 * whose title cannot be a control id (not UTF-8, for one) left out instead of taking the whole
 * heartbeat with it, the list cut at its byte budget; and the reading of control's answer
 * (edge/heartbeat-answer.c).
 */
#include <errno.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "metrics.h"
#include "tests.h"

#include "edge-cfg.h"
#include "edge-metrics.h"
#include "heartbeat.h"
#include "store.h"
#include "worker.h"

static struct edge_cfg cfg;
static struct edge_runtime rt;
static struct edge_server srv;
static char dir[64];

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
        (void)st;
        (void)flag;
        (void)ftw;
        return remove(path);
}

static int put(struct store *s, const char *key)
{
        struct store_put *p;
        int r = store_put_begin(s, key, strlen(key), 2, NULL, NULL, &p);

        if (r < 0)
                return r;
        r = store_put_write(p, "ok", 2);
        if (r < 0) {
                store_put_abort(p);
                return r;
        }
        return store_put_commit(p);
}

/* The titles of srv's heartbeat body (its list cut at bytes_max), comma-joined in out. */
static int titles_within(char *out, size_t cap, size_t bytes_max)
{
        char *body = heartbeat_body_within(&srv, bytes_max);
        json_t *o, *t, *v;
        size_t i, len = 0;

        out[0] = '\0';
        if (atomic_load(&rt.refs) != 1) /* the body took a hold on the snapshot, then let go */
                return -EBUSY;
        if (!body)
                return -ENOMEM;
        o = json_loads(body, 0, NULL);
        free(body);
        t = json_object_get(o, "titles");
        if (!json_is_array(t)) {
                json_decref(o);
                return -EINVAL;
        }
        json_array_foreach(t, i, v)
        {
                int n = snprintf(out + len, cap - len, "%s%s", i ? "," : "", json_string_value(v));
                if (n < 0 || (size_t)n >= cap - len)
                        break;
                len += (size_t)n;
        }
        json_decref(o);
        return (int)i;
}

static int titles_of(char *out, size_t cap)
{
        return titles_within(out, cap, 1 << 20);
}

TEST(titles_are_control_ids)
{
        const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        struct store *s = NULL;
        char titles[256];

        cfg.limits.max_connections = 100;
        rt.cfg = &cfg;
        atomic_init(&rt.refs, 1); /* the server's: never let go here */
        pthread_mutex_init(&srv.rt_lock, NULL);
        atomic_store(&srv.rt, &rt);
        srv.reg = metrics_reg_new();
        ASSERT_TRUE(srv.reg != NULL);
        ASSERT_EQ(edge_metrics_init(&srv.m, srv.reg, 1), 0);
        (void)snprintf(dir, sizeof(dir), "%s/sluice-hb-XXXXXX", base);
        ASSERT_TRUE(mkdtemp(dir) != NULL);
        ASSERT_EQ(store_open(dir, 1 << 20, &s), 0);
        srv.store = s;

        ASSERT_EQ(put(s, "/t1/v/seg-1.m4s"), 0);
        ASSERT_EQ(put(s, "/t1/v/seg-2.m4s"), 0);
        /* Not a control id ([A-Za-z0-9][A-Za-z0-9._-]{0,127}): names nothing control knows. */
        ASSERT_EQ(put(s, "/caf\xc3\xa9/v/seg-1.m4s"), 0);
        ASSERT_EQ(put(s, "/-dash/v/seg-1.m4s"), 0);
        ASSERT_EQ(put(s, "/a.b_c-9/v/seg-1.m4s"), 0);
        ASSERT_EQ(titles_of(titles, sizeof(titles)), 2);
        ASSERT_STREQ(titles, "a.b_c-9,t1");

        /* a lone byte, an overlong '/', a surrogate and a cut sequence: none is UTF-8 */
        ASSERT_EQ(put(s, "/\xff/v/seg-1.m4s"), 0);
        ASSERT_EQ(put(s, "/a\xc0\xafz/v/seg-1.m4s"), 0);
        ASSERT_EQ(put(s, "/s\xed\xa0\x80/v/seg-1.m4s"), 0);
        ASSERT_EQ(put(s, "/u\xe2\x82/v/seg-1.m4s"), 0);
        /* before, json_stringn() refused the title and no heartbeat was sent at all */
        ASSERT_EQ(titles_of(titles, sizeof(titles)), 2);
        ASSERT_STREQ(titles, "a.b_c-9,t1");

        /* The list stops at its byte budget (each id costs its length, quotes and a comma),
         * so the body stays under what control reads: "a.b_c-9" is 10, "t1" 5 more. */
        ASSERT_EQ(put(s, "/t2/v/seg-1.m4s"), 0);
        ASSERT_EQ(titles_within(titles, sizeof(titles), 14), 1);
        ASSERT_STREQ(titles, "a.b_c-9");
        ASSERT_EQ(titles_within(titles, sizeof(titles), 15), 2);
        ASSERT_STREQ(titles, "a.b_c-9,t1");
        char *body = heartbeat_body(&srv);
        ASSERT_TRUE(body != NULL && strlen(body) < 1024);
        free(body);

        store_close(s);
        srv.store = NULL;
        metrics_reg_free(srv.reg);
        ASSERT_EQ(nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS), 0);
}

TEST(answer_period)
{
        static const char whole[] = "{\"heartbeat_period_s\":30}";
        static const char part[] = "{\"heartbeat_period_s\":2.500}";
        char big[HEARTBEAT_ANSWER_MAX + 2];

        ASSERT_EQ(heartbeat_answer_period_ms(whole, strlen(whole)), 30000);
        ASSERT_EQ(heartbeat_answer_period_ms(part, strlen(part)), 2500);
        ASSERT_EQ(heartbeat_answer_period_ms("{\"heartbeat_period_s\":0.05}", 27), 0);
        ASSERT_EQ(heartbeat_answer_period_ms("{\"heartbeat_period_s\":1e300}", 28), 0);
        ASSERT_EQ(heartbeat_answer_period_ms("{\"heartbeat_period_s\":\"30\"}", 27), 0);
        ASSERT_EQ(heartbeat_answer_period_ms("{\"heartbeat_period_s\":30", 24), 0);
        ASSERT_EQ(heartbeat_answer_period_ms("", 0), 0);
        /* over the bound: not read, even when it begins with a period */
        memset(big, ' ', sizeof(big));
        memcpy(big, whole, strlen(whole));
        ASSERT_EQ(heartbeat_answer_period_ms(big, HEARTBEAT_ANSWER_MAX), 30000);
        ASSERT_EQ(heartbeat_answer_period_ms(big, sizeof(big)), 0);
}

TEST_MAIN()
