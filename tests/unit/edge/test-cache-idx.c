/* SPDX-License-Identifier: MIT */
/* cache_idx_open() and the data file's length: one cut short is refused (LMDB faulted on the
 * pages past its end), one that is whole, grown, or short only by free pages opens. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <lmdb.h>

#include "scratch.h"
#include "tests.h"
#include "cache-idx.h"

static int count_entry(const char *key, size_t key_len, const struct cache_idx_rec *rec,
                       void *userdata)
{
        (void)key;
        (void)key_len;
        (void)rec;
        (*(unsigned *)userdata)++;
        return 0;
}

/* An index of n records with long keys (so that it spans many pages), closed. */
static void make_index(const char *dir, unsigned n)
{
        struct cache_idx_rec rec = {.version = CACHE_IDX_REC_VERSION, .size = 1}, old;
        struct cache_idx *idx;
        char key[400];
        bool had;

        ASSERT_EQ(cache_idx_open(dir, 8 << 20, 0, &idx), 0);
        for (unsigned i = 0; i < n; i++) {
                int len = snprintf(key, sizeof(key), "/len/%06u/%0360u", i, i);
                rec.file_id = i + 1;
                ASSERT_EQ(cache_idx_put(idx, key, (size_t)len, &rec, 0, NULL, &old, &had), 0);
        }
        cache_idx_close(idx);
}

/* Both opens of dir's index give want; with 0, each lists n entries. */
static void opens_as(const char *dir, int want, unsigned n)
{
        struct cache_idx *idx;
        unsigned flags[] = {0, CACHE_IDX_RDONLY};

        for (unsigned f = 0; f < 2; f++) {
                unsigned got = 0;

                ASSERT_EQ(cache_idx_open(dir, 8 << 20, flags[f], &idx), want);
                if (want < 0)
                        continue;
                ASSERT_EQ(cache_idx_foreach(idx, "", 0, count_entry, &got), 0);
                ASSERT_EQ(got, n);
                cache_idx_close(idx);
        }
}

/* path's size, -1 when it cannot be read. */
static off_t file_size(const char *path)
{
        struct stat st;

        return stat(path, &st) == 0 ? st.st_size : -1;
}

TEST(cut_short_is_refused)
{
        char *dir = tests_scratch("sluice-idx-len");
        char mdb[256];
        off_t half;

        snprintf(mdb, sizeof(mdb), "%s/data.mdb", dir);
        make_index(dir, 300);
        opens_as(dir, 0, 300);
        half = file_size(mdb) / 2;
        ASSERT_EQ(truncate(mdb, half), 0);
        opens_as(dir, -EUCLEAN, 0);
        ASSERT_EQ(file_size(mdb), half); /* a refused open leaves the file as it was */
        tests_rm_rf(dir);
}

TEST(whole_or_grown_opens)
{
        char *dir = tests_scratch("sluice-idx-len");
        char mdb[256];

        snprintf(mdb, sizeof(mdb), "%s/data.mdb", dir);
        opens_as(dir, 0, 0); /* new: created by the first open */
        tests_rm_rf(dir);

        dir = tests_scratch("sluice-idx-len");
        snprintf(mdb, sizeof(mdb), "%s/data.mdb", dir);
        make_index(dir, 300);
        ASSERT_EQ(truncate(mdb, file_size(mdb) + (1 << 20)), 0);
        opens_as(dir, 0, 300);
        tests_rm_rf(dir);
}

/*
 * Pages a commit takes and frees again are never written: when they are the last ones, the
 * file of a healthy index ends before the last page its meta page names. Keys put and deleted
 * in one transaction leave it so; the index must open, not be taken for one cut short.
 */
TEST(short_by_free_pages_opens)
{
        char *dir = tests_scratch("sluice-idx-len");
        MDB_envinfo info;
        MDB_stat st;
        MDB_env *env;
        MDB_txn *txn;
        MDB_dbi dbi;
        char mdb[256], key[400], val[192] = "";
        bool short_by_free = false;

        snprintf(mdb, sizeof(mdb), "%s/data.mdb", dir);
        make_index(dir, 20);
        ASSERT_EQ(mdb_env_create(&env), 0);
        ASSERT_EQ(mdb_env_set_maxdbs(env, 2), 0);
        ASSERT_EQ(mdb_env_set_mapsize(env, 64 << 20), 0);
        ASSERT_EQ(mdb_env_open(env, dir, 0, 0600), 0);
        for (int round = 0; round < 10 && !short_by_free; round++) {
                ASSERT_EQ(mdb_txn_begin(env, NULL, 0, &txn), 0);
                ASSERT_EQ(mdb_dbi_open(txn, "obj", 0, &dbi), 0);
                for (int del = 0; del < 2; del++)
                        for (unsigned i = 0; i < 2000; i++) {
                                int len = snprintf(key, sizeof(key), "/tmp/%06u/%0360u", i, i);
                                MDB_val k = {(size_t)len, key}, v = {sizeof(val), val};
                                ASSERT_EQ(del ? mdb_del(txn, dbi, &k, NULL)
                                              : mdb_put(txn, dbi, &k, &v, 0),
                                          0);
                        }
                ASSERT_EQ(mdb_txn_commit(txn), 0);
                ASSERT_EQ(mdb_env_info(env, &info), 0);
                ASSERT_EQ(mdb_env_stat(env, &st), 0);
                short_by_free = (uint64_t)file_size(mdb) < (info.me_last_pgno + 1) * st.ms_psize;
        }
        mdb_env_close(env);
        if (short_by_free)
                opens_as(dir, 0, 20);
        tests_rm_rf(dir);
        if (!short_by_free)
                TEST_SKIP_CASE("this LMDB wrote every page it named: no file short by free pages");
}

TEST_MAIN()
