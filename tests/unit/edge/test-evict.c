/* SPDX-License-Identifier: MIT */
/*
 * The eviction policy's deletes in the store (edge/evict.c): victims are chosen under the
 * policy's lock and deleted after it, so an object committed again in between must survive
 * the delete decided for the file it replaced.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "metrics.h"
#include "tests.h"

#include "edge-metrics.h"
#include "evict.h"
#include "store.h"
#include "worker.h"

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
        struct edge_server srv = {0};
        struct store_entry_info info;
        char *dir = mkscratch();

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

TEST_MAIN()
