/* SPDX-License-Identifier: MIT */
/* Group commits (store_put_commit_many, cache_idx_put_many): each entry as if alone. */
#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "scratch.h"
#include "store-files.h"
#include "tests.h"
#include "hex.h"
#include "cache-idx.h"
#include "store.h"

static void sha256_hex(const void *buf, size_t len, char out[65])
{
        uint8_t d[32];
        unsigned n = 32;

        EVP_Digest(buf, len, d, &n, EVP_sha256(), NULL);
        hex_encode(d, 32, out);
}

/* A put of body begun and written, not committed. */
static struct store_put *begun(struct store *s, const char *key, const char *body, size_t size,
                               const char *hex)
{
        struct store_put *p = NULL;

        if (store_put_begin(s, key, strlen(key), size, hex, NULL, &p) < 0)
                return NULL;
        if (store_put_write(p, body, strlen(body)) < 0) {
                store_put_abort(p);
                return NULL;
        }
        return p;
}

/* key's body through a reader, or "" when absent. */
static const char *body_of(struct store_reader *r, const char *key, char *buf, size_t cap)
{
        struct store_obj o;
        ssize_t n;

        buf[0] = '\0';
        if (store_lookup(r, key, strlen(key), &o) < 0)
                return buf;
        n = pread(o.fd, buf, cap - 1, 0);
        buf[n > 0 ? n : 0] = '\0';
        store_obj_release(r, &o);
        return buf;
}

TEST(group_answers_each_put_as_alone)
{
        char *dir = tests_scratch("sluice-store-group");
        struct store *s;
        struct store_reader *r;
        struct store_commit c[6];
        struct store_stats st;
        char good[65], buf[64];

        sha256_hex("bravo", 5, good);
        ASSERT_EQ(store_open(dir, 0, &s), 0);
        ASSERT_EQ(store_reader_new(s, 4, &r), 0);
        /* /d's put is begun while /d holds nothing, then /d is pushed: it must not commit. */
        struct store_put *d = begun(s, "/d", "delta", 5, NULL);
        ASSERT_TRUE(d != NULL);
        store_put_if_unchanged(d, NULL, NULL);
        struct store_put *x = begun(s, "/d", "xray", 4, NULL);
        ASSERT_TRUE(x != NULL);
        ASSERT_EQ(store_put_commit(x), 0);

        c[0] = (struct store_commit){.put = begun(s, "/a", "alpha", 5, NULL)};
        c[1] = (struct store_commit){.put = begun(s, "/b", "bravO", 5, good)}; /* wrong bytes */
        c[2] = (struct store_commit){.put = begun(s, "/c", "char", 7, NULL)};  /* short */
        c[3] = (struct store_commit){.put = d};
        c[4] = (struct store_commit){.put = begun(s, "/a", "echo!", 5, NULL)}; /* replaces [0] */
        c[5] = (struct store_commit){.put = begun(s, "/b", "bravo", 5, good)};
        for (int i = 0; i < 6; i++)
                ASSERT_TRUE(c[i].put != NULL);
        store_put_commit_many(c, 6);

        ASSERT_EQ(c[0].r, 0);
        ASSERT_EQ(c[1].r, -EBADMSG);
        ASSERT_EQ(c[2].r, -EBADMSG);
        ASSERT_EQ(c[3].r, -ECANCELED);
        ASSERT_EQ(c[4].r, 0);
        ASSERT_EQ(c[5].r, 0);
        /* The digest of a checked body is given, as store_put_commit_digest() gives it, also
         * when the index then refused it; not for a body that did not check. */
        ASSERT_TRUE(c[0].verified && c[3].verified && c[4].verified && c[5].verified);
        ASSERT_TRUE(!c[1].verified && !c[2].verified);
        ASSERT_TRUE(c[0].file_id != 0 && c[4].file_id != 0 && c[0].file_id != c[4].file_id);
        for (int i = 0; i < 6; i++)
                ASSERT_TRUE(c[i].put == NULL);

        ASSERT_STREQ(body_of(r, "/a", buf, sizeof(buf)), "echo!");
        ASSERT_STREQ(body_of(r, "/b", buf, sizeof(buf)), "bravo");
        ASSERT_STREQ(body_of(r, "/c", buf, sizeof(buf)), "");
        ASSERT_STREQ(body_of(r, "/d", buf, sizeof(buf)), "xray");
        store_get_stats(s, &st);
        ASSERT_EQ(st.objects, 3);
        ASSERT_EQ(st.bytes, 14);
        /* The refused bodies and the replaced one leave no file behind. */
        ASSERT_EQ(count_objects(dir), 3);
        ASSERT_EQ(count_files(dir, "tmp"), 0);

        /* It all holds after a reopen (the group's commit was durable, not just visible). */
        store_reader_free(r);
        store_close(s);
        ASSERT_EQ(store_open(dir, 0, &s), 0);
        ASSERT_EQ(store_reader_new(s, 4, &r), 0);
        ASSERT_STREQ(body_of(r, "/a", buf, sizeof(buf)), "echo!");
        ASSERT_STREQ(body_of(r, "/b", buf, sizeof(buf)), "bravo");
        ASSERT_STREQ(body_of(r, "/d", buf, sizeof(buf)), "xray");
        ASSERT_EQ(count_objects(dir), 3);
        store_reader_free(r);
        store_close(s);
        tests_rm_rf(dir);
}

/* A DELETE of a key that is absent changes no entry: only the flag it sets before its own
 * transaction stops a put begun on the absent key, alone or in a group, and a put whose flag
 * stays clear commits as before. */
TEST(put_refused_once_its_dropped_flag_is_set)
{
        char *dir = tests_scratch("sluice-store-dropped");
        atomic_bool dropped = false, kept = false;
        struct store *s;
        struct store_reader *r;
        struct store_commit c[2];
        struct store_stats st;
        char buf[64];

        ASSERT_EQ(store_open(dir, 0, &s), 0);
        ASSERT_EQ(store_reader_new(s, 4, &r), 0);
        struct store_put *p = begun(s, "/gone", "golf", 4, NULL);
        ASSERT_TRUE(p != NULL);
        store_put_if_unchanged(p, NULL, &dropped);
        atomic_store(&dropped, true);
        ASSERT_EQ(store_put_commit(p), -ECANCELED);
        ASSERT_STREQ(body_of(r, "/gone", buf, sizeof(buf)), "");

        c[0] = (struct store_commit){.put = begun(s, "/gone", "golf", 4, NULL)};
        c[1] = (struct store_commit){.put = begun(s, "/kept", "kilo", 4, NULL)};
        ASSERT_TRUE(c[0].put != NULL && c[1].put != NULL);
        store_put_if_unchanged(c[0].put, NULL, &dropped);
        store_put_if_unchanged(c[1].put, NULL, &kept);
        store_put_commit_many(c, 2);
        ASSERT_EQ(c[0].r, -ECANCELED);
        ASSERT_EQ(c[1].r, 0);
        ASSERT_STREQ(body_of(r, "/gone", buf, sizeof(buf)), "");
        ASSERT_STREQ(body_of(r, "/kept", buf, sizeof(buf)), "kilo");
        store_get_stats(s, &st);
        ASSERT_EQ(st.objects, 1);
        ASSERT_EQ(count_objects(dir), 1);
        ASSERT_EQ(count_files(dir, "tmp"), 0);
        store_reader_free(r);
        store_close(s);
        tests_rm_rf(dir);
}

/* A base named by the caller (what the key held when its fill began) is what the commit must
 * find: a push that landed before the put began, but after the base was read, still stands. */
TEST(put_kept_only_over_the_base_it_was_given)
{
        char *dir = tests_scratch("sluice-store-group");
        struct store *s;
        struct store_reader *r;
        uint64_t base, now;
        char buf[64];

        ASSERT_EQ(store_open(dir, 0, &s), 0);
        ASSERT_EQ(store_reader_new(s, 4, &r), 0);
        /* Absent when the fill began (base 0), pushed before its put began. */
        ASSERT_TRUE(!store_file_of(r, "/k", 2, &base));
        ASSERT_EQ(base, 0u);
        ASSERT_EQ(store_put_commit(begun(s, "/k", "pushed", 6, NULL)), 0);
        struct store_put *p = begun(s, "/k", "filled", 6, NULL);
        ASSERT_TRUE(p != NULL);
        store_put_if_unchanged(p, &base, NULL);
        ASSERT_EQ(store_put_commit(p), -ECANCELED);
        ASSERT_STREQ(body_of(r, "/k", buf, sizeof(buf)), "pushed");

        /* Held when it began (a revalidation), replaced by a push before its put began. */
        ASSERT_TRUE(store_file_of(r, "/k", 2, &base) && base != 0);
        ASSERT_EQ(store_put_commit(begun(s, "/k", "newer!", 6, NULL)), 0);
        p = begun(s, "/k", "filled", 6, NULL);
        ASSERT_TRUE(p != NULL);
        store_put_if_unchanged(p, &base, NULL);
        ASSERT_EQ(store_put_commit(p), -ECANCELED);
        ASSERT_STREQ(body_of(r, "/k", buf, sizeof(buf)), "newer!");

        /* Nothing landed since the base was read: the fill commits. */
        ASSERT_TRUE(store_file_of(r, "/k", 2, &now) && now != base);
        p = begun(s, "/k", "filled", 6, NULL);
        ASSERT_TRUE(p != NULL);
        store_put_if_unchanged(p, &now, NULL);
        ASSERT_EQ(store_put_commit(p), 0);
        ASSERT_STREQ(body_of(r, "/k", buf, sizeof(buf)), "filled");
        ASSERT_EQ(count_files(dir, "tmp"), 0);
        store_reader_free(r);
        store_close(s);
        tests_rm_rf(dir);
}

TEST(group_larger_than_the_most_at_once)
{
        char *dir = tests_scratch("sluice-store-group");
        enum { N = STORE_COMMIT_MAX * 2 + 5 };
        struct store_commit c[N];
        struct store *s;
        struct store_reader *r;
        struct store_stats st;
        char key[32], body[32], buf[64];

        ASSERT_EQ(store_open(dir, 0, &s), 0);
        ASSERT_EQ(store_reader_new(s, 4, &r), 0);
        for (int i = 0; i < N; i++) {
                snprintf(key, sizeof(key), "/seg-%03d.m4s", i);
                snprintf(body, sizeof(body), "body %d", i);
                c[i] = (struct store_commit){.put = begun(s, key, body, strlen(body), NULL)};
                ASSERT_TRUE(c[i].put != NULL);
        }
        store_put_commit_many(c, N);
        for (int i = 0; i < N; i++) {
                snprintf(key, sizeof(key), "/seg-%03d.m4s", i);
                snprintf(body, sizeof(body), "body %d", i);
                ASSERT_EQ(c[i].r, 0);
                ASSERT_STREQ(body_of(r, key, buf, sizeof(buf)), body);
        }
        store_get_stats(s, &st);
        ASSERT_EQ(st.objects, N);
        ASSERT_EQ(count_objects(dir), N);
        store_reader_free(r);
        store_close(s);
        tests_rm_rf(dir);
}

static struct cache_idx_rec rec_of(uint64_t size, uint64_t file_id)
{
        struct cache_idx_rec rec = {.version = CACHE_IDX_REC_VERSION, .size = size,
                                    .file_id = file_id, .mtime = 1, .etag = "\"e\""};

        return rec;
}

TEST(index_group_checks_each_against_those_before)
{
        char *dir = tests_scratch("sluice-idx-group");
        struct cache_idx *idx;
        struct cache_idx_totals t;
        const uint64_t none = 0, seven = 7;

        ASSERT_EQ(cache_idx_open(dir, 1 << 20, 0, &idx), 0);
        struct cache_idx_put_req v[] = {
                {.key = "/a", .key_len = 2, .rec = rec_of(60, 1), .max_bytes = 100},
                /* Fits alone, not after /a: refused, and /c after it still goes in. */
                {.key = "/b", .key_len = 2, .rec = rec_of(60, 2), .max_bytes = 100},
                {.key = "/c", .key_len = 2, .rec = rec_of(40, 3), .max_bytes = 100},
                /* /a as the group left it (file 1), not as it was before (nothing). */
                {.key = "/a", .key_len = 2, .rec = rec_of(10, 4), .if_file = &none},
                {.key = "/a", .key_len = 2, .rec = rec_of(10, 5), .if_file = &seven},
                {.key = "/c", .key_len = 2, .rec = rec_of(30, 6), .max_bytes = 100},
                {.key = "", .key_len = 0, .rec = rec_of(1, 7)},
        };
        ASSERT_EQ(cache_idx_put_many(idx, v, 7), 0);
        ASSERT_EQ(v[0].r, 0);
        ASSERT_TRUE(!v[0].had_old);
        ASSERT_EQ(v[1].r, -ENOSPC);
        ASSERT_EQ(v[2].r, 0);
        ASSERT_EQ(v[3].r, -ECANCELED);
        ASSERT_EQ(v[4].r, -ECANCELED);
        ASSERT_EQ(v[5].r, 0);
        ASSERT_TRUE(v[5].had_old);
        ASSERT_EQ(v[5].old.file_id, 3);
        ASSERT_EQ(v[6].r, -ENAMETOOLONG);
        cache_idx_get_totals(idx, &t);
        ASSERT_EQ(t.objects, 2);
        ASSERT_EQ(t.bytes, 90);
        cache_idx_close(idx);

        /* The totals and the records were committed together. */
        ASSERT_EQ(cache_idx_open(dir, 1 << 20, 0, &idx), 0);
        cache_idx_get_totals(idx, &t);
        ASSERT_EQ(t.objects, 2);
        ASSERT_EQ(t.bytes, 90);
        struct cache_idx_put_req again = {.key = "/a", .key_len = 2, .rec = rec_of(60, 8),
                                          .if_file = &seven};
        ASSERT_EQ(cache_idx_put_many(idx, &again, 1), 0);
        ASSERT_EQ(again.r, -ECANCELED);
        again.if_file = NULL;
        ASSERT_EQ(cache_idx_put_many(idx, &again, 1), 0);
        ASSERT_EQ(again.r, 0);
        ASSERT_EQ(again.old.file_id, 1);
        cache_idx_close(idx);
        tests_rm_rf(dir);
}

TEST_MAIN()
