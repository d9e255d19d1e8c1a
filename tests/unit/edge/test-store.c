/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "scratch.h"
#include "store-files.h"
#include "tests.h"
#include "hex.h"
#include "cache-idx.h"
#include "store.h"
#include "fd-cache.h"

/* ---- helpers ---- */

static void sha256(const void *buf, size_t len, uint8_t out[32])
{
        unsigned n = 32;
        EVP_Digest(buf, len, out, &n, EVP_sha256(), NULL);
}

static void sha256_hex(const void *buf, size_t len, char out[65])
{
        uint8_t d[32];
        sha256(buf, len, d);
        hex_encode(d, 32, out);
}

/* Put key with body in chunks of 7 bytes (to exercise streaming). */
static int put(struct store *s, const char *key, const void *body, size_t len, const char *hex,
               const char *ctype)
{
        struct store_put *p;
        int r = store_put_begin(s, key, strlen(key), len, hex, ctype, &p);
        if (r < 0)
                return r;
        for (size_t off = 0; off < len; off += 7) {
                size_t n = len - off < 7 ? len - off : 7;
                r = store_put_write(p, (const char *)body + off, n);
                if (r < 0) {
                        store_put_abort(p);
                        return r;
                }
        }
        return store_put_commit(p);
}

static int read_all(int fd, char *buf, size_t cap, size_t *ret_len)
{
        size_t off = 0;
        for (;;) {
                ssize_t n = pread(fd, buf + off, cap - off, (off_t)off);
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                off += (size_t)n;
                if (off == cap)
                        break;
        }
        *ret_len = off;
        return 0;
}

/* ---- hex ---- */

TEST(hex_helpers)
{
        char out[65];
        uint8_t b[4] = {0x00, 0xab, 0x7f, 0xff}, back[4];
        ASSERT_STREQ(hex_encode(b, 4, out), "00ab7fff");
        ASSERT_EQ(hex_decode("00AB7fFf", 8, back, 4), 0);
        ASSERT_MEMEQ(back, 4, b, 4);
        ASSERT_EQ(hex_decode("00ab7f", 6, back, 4), -EINVAL);
        ASSERT_EQ(hex_decode("00ab7fgf", 8, back, 4), -EINVAL);
        char id[17];
        ASSERT_STREQ(hex_u64_encode(0x0123456789abcdefull, id), "0123456789abcdef");
        uint64_t v;
        ASSERT_EQ(hex_u64_decode("0123456789ABCDEF", 16, &v), 0);
        ASSERT_EQ(v, 0x0123456789abcdefull);
        ASSERT_EQ(hex_u64_decode("0123456789abcde", 15, &v), -EINVAL);
        ASSERT_EQ(hex_u64_decode("0123456789abcdeZ", 16, &v), -EINVAL);
        ASSERT_EQ(hex_digit('x'), -1);
}

/* ---- fd cache ---- */

TEST(fd_cache_lru_and_drop)
{
        struct fd_cache *c;
        int fd;
        ASSERT_EQ(fd_cache_new(2, &c), 0);
        struct fd_cache_ent *a = fd_cache_add(c, 1, open("/dev/null", O_RDONLY));
        struct fd_cache_ent *b = fd_cache_add(c, 2, open("/dev/null", O_RDONLY));
        ASSERT_TRUE(a && b);
        /* Both in use: no room, the caller keeps its fd. */
        int extra = open("/dev/null", O_RDONLY);
        ASSERT_TRUE(fd_cache_add(c, 3, extra) == NULL);
        (void)close(extra);
        fd_cache_put(c, a);
        fd_cache_put(c, b);
        /* 1 is least recently released → evicted for 3. */
        struct fd_cache_ent *e3 = fd_cache_add(c, 3, open("/dev/null", O_RDONLY));
        ASSERT_TRUE(e3 != NULL);
        ASSERT_TRUE(fd_cache_get(c, 1, &fd) == NULL);
        struct fd_cache_ent *g2 = fd_cache_get(c, 2, &fd);
        ASSERT_TRUE(g2 == b);
        /* Dropping an entry in use hides it now and closes it on release. */
        fd_cache_drop(c, 2);
        ASSERT_TRUE(fd_cache_get(c, 2, &fd) == NULL);
        ASSERT_EQ(fd_cache_count(c), 2);
        fd_cache_put(c, g2);
        ASSERT_EQ(fd_cache_count(c), 1);
        fd_cache_put(c, e3);
        fd_cache_drop_all(c);
        ASSERT_EQ(fd_cache_count(c), 0);
        /* Dropping all hides the entries in use too: each is closed at its last release,
         * never kept idle (its file may be unlinked). */
        struct fd_cache_ent *busy = fd_cache_add(c, 4, open("/dev/null", O_RDONLY));
        ASSERT_TRUE(busy != NULL);
        fd_cache_drop_all(c);
        ASSERT_TRUE(fd_cache_get(c, 4, &fd) == NULL);
        ASSERT_EQ(fd_cache_count(c), 1);
        fd_cache_put(c, busy);
        ASSERT_EQ(fd_cache_count(c), 0);
        fd_cache_free(c);

        /* A zero-sized cache caches nothing. */
        ASSERT_EQ(fd_cache_new(0, &c), 0);
        extra = open("/dev/null", O_RDONLY);
        ASSERT_TRUE(fd_cache_add(c, 1, extra) == NULL);
        (void)close(extra);
        fd_cache_free(c);
}

/* A mapping is made once per entry, shared by its users, and outlives the last put only
 * while a pin (an extra reference) holds the entry. */
TEST(fd_cache_map_lives_with_its_entry)
{
        struct fd_cache *c;
        const void *m1, *m2;
        char path[128];
        const char body[] = "mapped segment bytes";
        char *dir = tests_scratch("sluice-store");
        int fd;

        (void)snprintf(path, sizeof(path), "%s/obj", dir);
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(write(fd, body, sizeof(body)), (ssize_t)sizeof(body));
        ASSERT_EQ(fd_cache_new(1, &c), 0);
        struct fd_cache_ent *e = fd_cache_add(c, 7, fd);
        ASSERT_TRUE(e != NULL);
        ASSERT_EQ(fd_cache_ent_id(e), 7u);
        ASSERT_EQ(fd_cache_map(e, 0, &m1), -EINVAL);
        ASSERT_EQ(fd_cache_map(e, sizeof(body), &m1), 0);
        ASSERT_EQ(memcmp(m1, body, sizeof(body)), 0); /* the file is intact here */
        ASSERT_EQ(fd_cache_map(e, sizeof(body), &m2), 0);
        ASSERT_TRUE(m1 == m2);
        /* A pin keeps a dropped entry, and its mapping, until it is put too. */
        fd_cache_ref(e);
        fd_cache_drop(c, 7);
        fd_cache_put(c, e);
        ASSERT_EQ(fd_cache_count(c), 1);
        ASSERT_EQ(memcmp(m1, body, sizeof(body)), 0);
        fd_cache_put(c, e);
        ASSERT_EQ(fd_cache_count(c), 0);
        fd_cache_free(c);
        tests_rm_rf(dir);
}

/* ---- store ---- */

TEST(put_lookup_round_trip)
{
        char *dir = tests_scratch("sluice-store");
        struct store *s;
        struct store_reader *r;
        struct store_obj o;
        const char body[] = "fMP4 segment bytes, more than seven of them";
        size_t len = sizeof(body) - 1;
        char hex[65], buf[256];
        size_t n = 0;

        sha256_hex(body, len, hex);
        ASSERT_EQ(store_open(dir, 1 << 20, &s), 0);
        ASSERT_EQ(store_reader_new(s, 8, &r), 0);
        ASSERT_EQ(store_lookup(r, "/t1/v1/seg-1.m4s", 16, &o), -ENOENT);
        ASSERT_EQ(o.fd, -1);

        time_t before = time(NULL);
        ASSERT_EQ(put(s, "/t1/v1/seg-1.m4s", body, len, hex, NULL), 0);
        ASSERT_EQ(store_lookup(r, "/t1/v1/seg-1.m4s", 16, &o), 0);
        ASSERT_TRUE(o.fd >= 0);
        ASSERT_EQ(o.size, len);
        ASSERT_EQ(read_all(o.fd, buf, sizeof(buf), &n), 0);
        ASSERT_MEMEQ(buf, n, body, len);
        ASSERT_STREQ(o.content_type, "video/iso.segment");
        ASSERT_TRUE(o.has_sha256);
        uint8_t d[32];
        sha256(body, len, d);
        ASSERT_MEMEQ(o.sha256, 32, d, 32);
        char want_etag[24];
        snprintf(want_etag, sizeof(want_etag), "\"%.16s\"", hex);
        ASSERT_STREQ(o.etag, want_etag);
        ASSERT_TRUE(o.last_modified >= before && o.last_modified <= time(NULL));
        int fd1 = o.fd;
        store_obj_release(r, &o);
        ASSERT_EQ(o.fd, -1);

        /* Served from the fd cache the second time: same descriptor. */
        ASSERT_EQ(store_lookup(r, "/t1/v1/seg-1.m4s", 16, &o), 0);
        ASSERT_EQ(o.fd, fd1);
        store_obj_release(r, &o);

        /* Without an expected hash, and with an explicit content type. */
        ASSERT_EQ(put(s, "/t1/manifest", "x", 1, NULL, "text/plain"), 0);
        ASSERT_EQ(store_lookup(r, "/t1/manifest", 12, &o), 0);
        ASSERT_STREQ(o.content_type, "text/plain");
        store_obj_release(r, &o);

        /* Empty object. */
        ASSERT_EQ(put(s, "/t1/empty.json", "", 0, NULL, NULL), 0);
        ASSERT_EQ(store_lookup(r, "/t1/empty.json", 14, &o), 0);
        ASSERT_EQ(o.size, 0);
        ASSERT_STREQ(o.content_type, "application/json");
        store_obj_release(r, &o);

        struct store_entry_info info;
        ASSERT_EQ(store_get_info(s, "/t1/v1/seg-1.m4s", 16, &info), 0);
        ASSERT_EQ(info.size, len);
        ASSERT_TRUE(info.has_sha256);
        ASSERT_MEMEQ(info.sha256, 32, d, 32);
        ASSERT_EQ(store_get_info(s, "/t1/v1/seg-2.m4s", 16, &info), -ENOENT);
        ASSERT_EQ(store_get_info(s, "/t1", 3, &info), -ENOENT);

        struct store_stats st;
        store_get_stats(s, &st);
        ASSERT_EQ(st.objects, 3);
        ASSERT_EQ(st.bytes, len + 1);
        ASSERT_EQ(st.max_bytes, 1 << 20);

        store_reader_free(r);
        store_close(s);
        tests_rm_rf(dir);
}

TEST(content_types_by_extension)
{
        char *dir = tests_scratch("sluice-store");
        struct store *s;
        struct store_reader *r;
        struct store_obj o;
        static const char *cases[][2] = {
            {"/a.mpd", "application/dash+xml"},
            {"/a.m4s", "video/iso.segment"},
            {"/a.mp4", "video/mp4"},
            {"/a.m3u8", "application/vnd.apple.mpegurl"},
            {"/a.vtt", "text/vtt"},
            {"/a.json", "application/json"},
            {"/a.bin", "application/octet-stream"},
            {"/mpd", "application/octet-stream"},
        };
        ASSERT_EQ(store_open(dir, 0, &s), 0);
        ASSERT_EQ(store_reader_new(s, 4, &r), 0);
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                ASSERT_EQ(put(s, cases[i][0], "x", 1, NULL, NULL), 0);
                ASSERT_EQ(store_lookup(r, cases[i][0], strlen(cases[i][0]), &o), 0);
                ASSERT_STREQ(o.content_type, cases[i][1]);
                store_obj_release(r, &o);
        }
        /* Stored with the generic type before the edge knew the extension (.cmfv, .ts, ...):
         * served by the extension now; an unknown extension keeps the generic type. */
        ASSERT_EQ(put(s, "/old.cmfv", "x", 1, NULL, "application/octet-stream"), 0);
        ASSERT_EQ(store_lookup(r, "/old.cmfv", 9, &o), 0);
        ASSERT_STREQ(o.content_type, "video/mp4");
        store_obj_release(r, &o);
        ASSERT_EQ(put(s, "/old.bin", "x", 1, NULL, "application/octet-stream"), 0);
        ASSERT_EQ(store_lookup(r, "/old.bin", 8, &o), 0);
        ASSERT_STREQ(o.content_type, "application/octet-stream");
        store_obj_release(r, &o);
        store_reader_free(r);
        store_close(s);
        tests_rm_rf(dir);
}

TEST(bad_puts_commit_nothing)
{
        char *dir = tests_scratch("sluice-store");
        struct store *s;
        struct store_reader *r;
        struct store_put *p;
        struct store_obj o;
        char hex[65], other[65];

        sha256_hex("hello", 5, hex);
        sha256_hex("hellp", 5, other);
        ASSERT_EQ(store_open(dir, 1000, &s), 0);
        ASSERT_EQ(store_reader_new(s, 4, &r), 0);

        /* Short body. */
        ASSERT_EQ(store_put_begin(s, "/k", 2, 6, NULL, NULL, &p), 0);
        ASSERT_EQ(store_put_write(p, "hello", 5), 0);
        ASSERT_EQ(store_put_commit(p), -EBADMSG);
        /* Long body. */
        ASSERT_EQ(store_put_begin(s, "/k", 2, 4, NULL, NULL, &p), 0);
        ASSERT_EQ(store_put_write(p, "hello", 5), -EMSGSIZE);
        ASSERT_EQ(store_put_write(p, "hell", 4), -EMSGSIZE);
        ASSERT_EQ(store_put_commit(p), -EBADMSG);
        /* Hash mismatch. */
        ASSERT_EQ(put(s, "/k", "hello", 5, other, NULL), -EBADMSG);
        /* A hash given after the begin (a fill plan that came mid-fill) replaces the first;
         * a malformed one is refused. */
        ASSERT_EQ(store_put_begin(s, "/k", 2, 5, hex, NULL, &p), 0);
        ASSERT_EQ(store_put_write(p, "hello", 5), 0);
        ASSERT_EQ(store_put_expect(p, "abc"), -EINVAL);
        ASSERT_EQ(store_put_expect(p, "zz" "00000000000000000000000000000000000000000000000000000000"
                                      "000000"),
                  -EINVAL);
        ASSERT_EQ(store_put_expect(p, other), 0);
        ASSERT_EQ(store_put_commit(p), -EBADMSG);
        ASSERT_EQ(store_put_begin(s, "/k", 2, 5, NULL, NULL, &p), 0);
        ASSERT_EQ(store_put_write(p, "hello", 5), 0);
        ASSERT_EQ(store_put_expect(p, other), 0);
        ASSERT_EQ(store_put_commit(p), -EBADMSG);
        /* Abort. */
        ASSERT_EQ(store_put_begin(s, "/k", 2, 5, hex, NULL, &p), 0);
        ASSERT_EQ(store_put_write(p, "hello", 5), 0);
        store_put_abort(p);
        store_put_abort(NULL);

        ASSERT_EQ(store_lookup(r, "/k", 2, &o), -ENOENT);
        struct store_stats st;
        store_get_stats(s, &st);
        ASSERT_EQ(st.objects, 0);
        ASSERT_EQ(st.bytes, 0);
        ASSERT_EQ(count_files(dir, "tmp"), 0);
        ASSERT_EQ(count_objects(dir), 0);

        /* Bad arguments. */
        ASSERT_EQ(store_put_begin(s, "k", 1, 1, NULL, NULL, &p), -EINVAL);
        ASSERT_EQ(store_put_begin(s, "", 0, 1, NULL, NULL, &p), -EINVAL);
        ASSERT_EQ(store_put_begin(s, "/k", 2, 1, "abc", NULL, &p), -EINVAL);
        hex[10] = 'z';
        ASSERT_EQ(store_put_begin(s, "/k", 2, 1, hex, NULL, &p), -EINVAL);
        char longkey[600];
        memset(longkey, 'a', sizeof(longkey));
        longkey[0] = '/';
        ASSERT_EQ(store_put_begin(s, longkey, sizeof(longkey), 1, NULL, NULL, &p), -ENAMETOOLONG);
        ASSERT_EQ(store_lookup(r, longkey, sizeof(longkey), &o), -ENOENT);

        /* The right put still works afterwards. */
        sha256_hex("hello", 5, hex);
        ASSERT_EQ(put(s, "/k", "hello", 5, hex, NULL), 0);
        ASSERT_EQ(store_lookup(r, "/k", 2, &o), 0);
        store_obj_release(r, &o);

        store_reader_free(r);
        store_close(s);
        tests_rm_rf(dir);
}

TEST(budget)
{
        char *dir = tests_scratch("sluice-store");
        struct store *s;
        struct store_put *p, *q;
        char big[100];
        memset(big, 'b', sizeof(big));

        ASSERT_EQ(store_open(dir, 250, &s), 0);
        ASSERT_EQ(store_put_begin(s, "/huge", 5, 251, NULL, NULL, &p), -ENOSPC);
        ASSERT_EQ(put(s, "/a", big, 100, NULL, NULL), 0);
        ASSERT_EQ(put(s, "/b", big, 100, NULL, NULL), 0);
        ASSERT_EQ(put(s, "/c", big, 100, NULL, NULL), -ENOSPC);
        /* Replacing counts the old size as freed. */
        ASSERT_EQ(put(s, "/b", big, 100, NULL, NULL), 0);
        ASSERT_EQ(put(s, "/c", big, 50, NULL, NULL), 0);
        struct store_stats st;
        store_get_stats(s, &st);
        ASSERT_EQ(st.bytes, 250);
        ASSERT_EQ(st.objects, 3);
        ASSERT_EQ(put(s, "/d", "x", 1, NULL, NULL), -ENOSPC);

        /* Puts in flight reserve their size. */
        ASSERT_EQ(store_delete(s, "/a", 2), 0);
        ASSERT_EQ(store_put_begin(s, "/e", 2, 60, NULL, NULL, &p), 0);
        ASSERT_EQ(store_put_begin(s, "/f", 2, 60, NULL, NULL, &q), -ENOSPC);
        store_put_abort(p);
        ASSERT_EQ(store_put_begin(s, "/f", 2, 60, NULL, NULL, &q), 0);
        ASSERT_EQ(store_put_write(q, big, 60), 0);
        ASSERT_EQ(store_put_commit(q), 0);
        store_get_stats(s, &st);
        ASSERT_EQ(st.bytes, 210);

        /* 0 means no budget. */
        store_close(s);
        ASSERT_EQ(store_open(dir, 0, &s), 0);
        ASSERT_EQ(put(s, "/g", big, 100, NULL, NULL), 0);
        store_close(s);
        tests_rm_rf(dir);
}

TEST(replace_and_delete)
{
        char *dir = tests_scratch("sluice-store");
        struct store *s;
        struct store_reader *r;
        struct store_obj o, held;
        char buf[64];
        size_t n = 0;

        ASSERT_EQ(store_open(dir, 0, &s), 0);
        ASSERT_EQ(store_reader_new(s, 4, &r), 0);
        ASSERT_EQ(put(s, "/x", "version-one", 11, NULL, NULL), 0);
        ASSERT_EQ(store_lookup(r, "/x", 2, &held), 0);
        char etag1[STORE_ETAG_MAX + 1];
        memcpy(etag1, held.etag, sizeof(etag1));

        /* Replace while a response holds the old file: it keeps reading old, whole bytes. */
        ASSERT_EQ(put(s, "/x", "version-two!", 12, NULL, NULL), 0);
        ASSERT_EQ(count_objects(dir), 1);
        ASSERT_EQ(read_all(held.fd, buf, sizeof(buf), &n), 0);
        ASSERT_MEMEQ(buf, n, "version-one", 11);

        ASSERT_EQ(store_lookup(r, "/x", 2, &o), 0);
        ASSERT_TRUE(o.fd != held.fd);
        ASSERT_EQ(o.size, 12);
        ASSERT_EQ(read_all(o.fd, buf, sizeof(buf), &n), 0);
        ASSERT_MEMEQ(buf, n, "version-two!", 12);
        ASSERT_TRUE(strcmp(o.etag, etag1) != 0);
        store_obj_release(r, &o);
        store_obj_release(r, &held);

        /* Replace with the cached fd idle: the next lookup must not serve it. */
        ASSERT_EQ(put(s, "/x", "version-three", 13, NULL, NULL), 0);
        ASSERT_EQ(store_lookup(r, "/x", 2, &o), 0);
        ASSERT_EQ(read_all(o.fd, buf, sizeof(buf), &n), 0);
        ASSERT_MEMEQ(buf, n, "version-three", 13);
        store_obj_release(r, &o);

        /* Delete. */
        ASSERT_EQ(store_delete(s, "/x", 2), 0);
        ASSERT_EQ(store_delete(s, "/x", 2), -ENOENT);
        ASSERT_EQ(store_delete(s, "/never", 6), -ENOENT);
        ASSERT_EQ(store_lookup(r, "/x", 2, &o), -ENOENT);
        ASSERT_EQ(count_objects(dir), 0);
        struct store_stats st;
        store_get_stats(s, &st);
        ASSERT_EQ(st.objects, 0);
        ASSERT_EQ(st.bytes, 0);

        /* Same bytes again: a new file, same strong ETag. */
        ASSERT_EQ(put(s, "/y", "version-one", 11, NULL, NULL), 0);
        ASSERT_EQ(store_lookup(r, "/y", 2, &o), 0);
        ASSERT_STREQ(o.etag, etag1);
        store_obj_release(r, &o);

        store_reader_free(r);
        store_close(s);
        tests_rm_rf(dir);
}

struct collected {
        char keys[16][32];
        uint64_t hits[16];
        time_t last[16];
        unsigned n;
        unsigned stop_at;
};

static int collect(const struct store_entry_info *info, void *userdata)
{
        struct collected *c = userdata;
        if (c->n < 16) {
                snprintf(c->keys[c->n], sizeof(c->keys[0]), "%.*s", (int)info->key_len, info->key);
                c->hits[c->n] = info->hits;
                c->last[c->n] = info->last_access;
        }
        c->n++;
        return c->stop_at && c->n == c->stop_at ? 42 : 0;
}

TEST(delete_only_the_named_file)
{
        char *dir = tests_scratch("sluice-store");
        struct store *s;
        struct store_put *p;
        struct store_entry_info info;
        uint64_t first = 0, second = 0;

        ASSERT_EQ(store_open(dir, 0, &s), 0);
        ASSERT_EQ(store_put_begin(s, "/k", 2, 3, NULL, NULL, &p), 0);
        ASSERT_EQ(store_put_write(p, "one", 3), 0);
        ASSERT_EQ(store_put_commit_id(p, NULL, &first), 0);
        ASSERT_EQ(store_get_info(s, "/k", 2, &info), 0);
        ASSERT_EQ(info.file_id, first);
        ASSERT_EQ(store_put_begin(s, "/k", 2, 3, NULL, NULL, &p), 0);
        ASSERT_EQ(store_put_write(p, "two", 3), 0);
        ASSERT_EQ(store_put_commit_id(p, NULL, &second), 0);
        ASSERT_TRUE(first != 0 && second != 0 && first != second);

        /* A delete decided for the replaced file leaves the new one. */
        ASSERT_EQ(store_delete_file(s, "/k", 2, first), -ENOENT);
        ASSERT_EQ(store_get_info(s, "/k", 2, &info), 0);
        ASSERT_EQ(info.file_id, second);
        ASSERT_EQ(count_objects(dir), 1);
        ASSERT_EQ(store_delete_file(s, "/k", 2, second), 0);
        ASSERT_EQ(store_get_info(s, "/k", 2, &info), -ENOENT);
        ASSERT_EQ(count_objects(dir), 0);
        store_close(s);
        tests_rm_rf(dir);
}

/* Many victims at once, in batches of index commits: each goes only while its key still
 * names its file, and the totals follow. */
TEST(delete_files_in_batches)
{
        enum { N = CACHE_IDX_DEL_BATCH * 2 + 3 };
        char *dir = tests_scratch("sluice-store");
        struct store *s;
        struct store_stats st;
        struct store_entry_info info;
        static char keys[N][24];
        static struct store_victim v[N];

        ASSERT_EQ(store_open(dir, 0, &s), 0);
        for (int i = 0; i < N; i++) {
                (void)snprintf(keys[i], sizeof(keys[i]), "/b/%d", i);
                ASSERT_EQ(put(s, keys[i], "abc", 3, NULL, NULL), 0);
                ASSERT_EQ(store_get_info(s, keys[i], strlen(keys[i]), &info), 0);
                v[i] = (struct store_victim){keys[i], strlen(keys[i]), info.file_id};
        }
        /* Two were committed again after the victims were chosen: they stay. */
        ASSERT_EQ(put(s, keys[5], "new", 3, NULL, NULL), 0);
        ASSERT_EQ(put(s, keys[N - 1], "new", 3, NULL, NULL), 0);
        ASSERT_EQ(store_delete_files(s, v, N), N - 2);
        store_unlinks_settle(s);
        store_get_stats(s, &st);
        ASSERT_EQ(st.objects, 2);
        ASSERT_EQ(st.bytes, 6);
        ASSERT_EQ(count_objects(dir), 2);
        ASSERT_EQ(store_get_info(s, keys[5], strlen(keys[5]), &info), 0);
        ASSERT_EQ(store_get_info(s, keys[6], strlen(keys[6]), &info), -ENOENT);
        store_close(s);
        tests_rm_rf(dir);
}

TEST(list_by_prefix)
{
        char *dir = tests_scratch("sluice-store");
        struct store *s;
        struct collected c;
        const char *keys[] = {"/t2/v1/seg-2.m4s", "/t1/v1/seg-1.m4s", "/t10/v1/init.mp4",
                              "/t1/v2/seg-1.m4s", "/t1/v1/init.mp4",  "/u/x"};

        ASSERT_EQ(store_open(dir, 0, &s), 0);
        for (size_t i = 0; i < 6; i++)
                ASSERT_EQ(put(s, keys[i], keys[i], strlen(keys[i]), NULL, NULL), 0);

        memset(&c, 0, sizeof(c));
        ASSERT_EQ(store_list(s, "/t1/", 4, collect, &c), 0);
        ASSERT_EQ(c.n, 3);
        ASSERT_STREQ(c.keys[0], "/t1/v1/init.mp4");
        ASSERT_STREQ(c.keys[1], "/t1/v1/seg-1.m4s");
        ASSERT_STREQ(c.keys[2], "/t1/v2/seg-1.m4s");

        memset(&c, 0, sizeof(c));
        ASSERT_EQ(store_list(s, "/t1", 3, collect, &c), 0);
        ASSERT_EQ(c.n, 4);
        ASSERT_STREQ(c.keys[3], "/t10/v1/init.mp4");

        memset(&c, 0, sizeof(c));
        ASSERT_EQ(store_list(s, "", 0, collect, &c), 0);
        ASSERT_EQ(c.n, 6);
        ASSERT_STREQ(c.keys[5], "/u/x");

        memset(&c, 0, sizeof(c));
        ASSERT_EQ(store_list(s, "/zz", 3, collect, &c), 0);
        ASSERT_EQ(c.n, 0);

        /* The callback stops the walk and its value comes back. */
        memset(&c, 0, sizeof(c));
        c.stop_at = 2;
        ASSERT_EQ(store_list(s, "/", 1, collect, &c), 42);
        ASSERT_EQ(c.n, 2);
        store_close(s);
        tests_rm_rf(dir);
}

TEST(list_many_crosses_batches)
{
        char *dir = tests_scratch("sluice-store");
        struct store *s;
        struct collected c;
        char key[32];

        ASSERT_EQ(store_open(dir, 0, &s), 0);
        for (int i = 0; i < 300; i++) { /* more than one batch of 256 */
                snprintf(key, sizeof(key), "/m/%04d", i);
                ASSERT_EQ(put(s, key, "z", 1, NULL, NULL), 0);
        }
        ASSERT_EQ(put(s, "/n", "z", 1, NULL, NULL), 0);
        memset(&c, 0, sizeof(c));
        ASSERT_EQ(store_list(s, "/m/", 3, collect, &c), 0);
        ASSERT_EQ(c.n, 300);
        store_close(s);
        tests_rm_rf(dir);
}

TEST(counters_flushed_and_persisted)
{
        char *dir = tests_scratch("sluice-store");
        struct store *s;
        struct store_reader *r1, *r2;
        struct store_obj o;
        struct collected c;

        ASSERT_EQ(store_open(dir, 0, &s), 0);
        ASSERT_EQ(put(s, "/a", "1", 1, NULL, NULL), 0);
        ASSERT_EQ(put(s, "/b", "2", 1, NULL, NULL), 0);
        ASSERT_EQ(store_reader_new(s, 4, &r1), 0);
        ASSERT_EQ(store_reader_new(s, 0, &r2), 0); /* no fd cache: fds closed on release */
        time_t t0 = time(NULL);
        for (int i = 0; i < 3; i++) {
                ASSERT_EQ(store_lookup(r1, "/a", 2, &o), 0);
                store_obj_release(r1, &o);
        }
        ASSERT_EQ(store_lookup(r2, "/a", 2, &o), 0);
        store_obj_release(r2, &o);
        ASSERT_EQ(store_lookup(r2, "/b", 2, &o), 0);
        store_obj_release(r2, &o);

        /* Not in the index until flushed: the hit path never writes. */
        memset(&c, 0, sizeof(c));
        ASSERT_EQ(store_list(s, "/", 1, collect, &c), 0);
        ASSERT_EQ(c.hits[0], 0);
        ASSERT_EQ(store_flush_counters(s), 0);
        memset(&c, 0, sizeof(c));
        ASSERT_EQ(store_list(s, "/", 1, collect, &c), 0);
        ASSERT_EQ(c.n, 2);
        ASSERT_EQ(c.hits[0], 4);
        ASSERT_EQ(c.hits[1], 1);
        ASSERT_TRUE(c.last[0] >= t0 && c.last[0] <= time(NULL));
        /* A second flush adds only what is new. */
        ASSERT_EQ(store_flush_counters(s), 0);
        ASSERT_EQ(store_lookup(r1, "/b", 2, &o), 0);
        store_obj_release(r1, &o);

        /* Freeing a reader keeps its unflushed hits. */
        store_reader_free(r1);
        store_reader_free(r2);
        store_close(s);

        ASSERT_EQ(store_open(dir, 0, &s), 0);
        memset(&c, 0, sizeof(c));
        ASSERT_EQ(store_list(s, "/", 1, collect, &c), 0);
        ASSERT_EQ(c.hits[0], 4);
        ASSERT_EQ(c.hits[1], 2);
        time_t last_a = c.last[0];
        struct store_stats st;
        store_get_stats(s, &st);
        ASSERT_EQ(st.objects, 2);
        ASSERT_EQ(st.bytes, 2);
        /* Counted by key: a replace keeps the flushed hits and the last access (they were
         * zeroed). */
        ASSERT_EQ(put(s, "/a", "11", 2, NULL, NULL), 0);
        memset(&c, 0, sizeof(c));
        ASSERT_EQ(store_list(s, "/", 1, collect, &c), 0);
        ASSERT_EQ(c.hits[0], 4);
        ASSERT_EQ(c.last[0], last_a);
        store_close(s);
        tests_rm_rf(dir);
}

TEST(second_open_refused)
{
        char *dir = tests_scratch("sluice-store");
        struct store *s, *s2;
        ASSERT_EQ(store_open(dir, 0, &s), 0);
        ASSERT_EQ(store_open(dir, 0, &s2), -EBUSY);
        store_close(s);
        ASSERT_EQ(store_open(dir, 0, &s2), 0);
        store_close(s2);
        tests_rm_rf(dir);
}

/* Find the object file of the only object in the store. */
static int only_object_path(const char *dir, char *out, size_t cap)
{
        for (unsigned b = 0; b < 256; b++) {
                char p[512];
                snprintf(p, sizeof(p), "%s/objects/%02x", dir, b);
                DIR *d = opendir(p);
                if (!d)
                        continue;
                struct dirent *de;
                while ((de = readdir(d))) {
                        if (de->d_name[0] == '.')
                                continue;
                        snprintf(out, cap, "%s/%s", p, de->d_name);
                        closedir(d);
                        return 0;
                }
                closedir(d);
        }
        return -ENOENT;
}

static void write_file(const char *path, const char *data)
{
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
                (void)!write(fd, data, strlen(data));
                (void)close(fd);
        }
}

TEST(recovery_removes_leftovers)
{
        char *dir = tests_scratch("sluice-store");
        struct store *s;
        struct store_reader *r;
        struct store_obj o;
        char p[1100];

        ASSERT_EQ(store_open(dir, 0, &s), 0);
        ASSERT_EQ(put(s, "/keep", "kept", 4, NULL, NULL), 0);
        store_close(s);

        /* A temp file from a put cut short, an object file no entry names (rename done, commit
         * not), and junk in the objects tree. */
        snprintf(p, sizeof(p), "%s/tmp/00000000000000aa.tmp", dir);
        write_file(p, "half a segm");
        snprintf(p, sizeof(p), "%s/objects/ab/ab00000000000001", dir);
        write_file(p, "orphan");
        snprintf(p, sizeof(p), "%s/objects/01/not-an-id", dir);
        write_file(p, "junk");
        snprintf(p, sizeof(p), "%s/objects/02/ab00000000000002", dir); /* wrong subdir */
        write_file(p, "misplaced");
        ASSERT_EQ(count_files(dir, "tmp"), 1);
        ASSERT_EQ(count_objects(dir), 4);

        ASSERT_EQ(store_open(dir, 0, &s), 0);
        ASSERT_EQ(count_files(dir, "tmp"), 0);
        ASSERT_EQ(count_objects(dir), 1);
        ASSERT_EQ(store_reader_new(s, 4, &r), 0);
        ASSERT_EQ(store_lookup(r, "/keep", 5, &o), 0);
        store_obj_release(r, &o);
        store_reader_free(r);
        store_close(s);
        tests_rm_rf(dir);
}

TEST(recovery_drops_entries_without_file)
{
        char *dir = tests_scratch("sluice-store");
        struct store *s;
        struct store_reader *r;
        struct store_obj o;
        char p[1100];
        struct store_stats st;

        /* File vanished. */
        ASSERT_EQ(store_open(dir, 0, &s), 0);
        ASSERT_EQ(put(s, "/gone", "bytes", 5, NULL, NULL), 0);
        store_close(s);
        ASSERT_EQ(only_object_path(dir, p, sizeof(p)), 0);
        ASSERT_EQ(unlink(p), 0);
        ASSERT_EQ(store_open(dir, 0, &s), 0);
        store_get_stats(s, &st);
        ASSERT_EQ(st.objects, 0);
        ASSERT_EQ(st.bytes, 0);
        ASSERT_EQ(store_reader_new(s, 4, &r), 0);
        ASSERT_EQ(store_lookup(r, "/gone", 5, &o), -ENOENT);
        store_reader_free(r);

        /* File of the wrong size (truncated by something outside): entry and file go. */
        ASSERT_EQ(put(s, "/short", "bytes", 5, NULL, NULL), 0);
        store_close(s);
        ASSERT_EQ(only_object_path(dir, p, sizeof(p)), 0);
        ASSERT_EQ(truncate(p, 2), 0);
        ASSERT_EQ(store_open(dir, 0, &s), 0);
        store_get_stats(s, &st);
        ASSERT_EQ(st.objects, 0);
        ASSERT_EQ(count_objects(dir), 0);
        store_close(s);

        /* File vanishes while the store is running: the lookup misses and drops the entry. */
        ASSERT_EQ(store_open(dir, 0, &s), 0);
        ASSERT_EQ(put(s, "/late", "bytes", 5, NULL, NULL), 0);
        ASSERT_EQ(only_object_path(dir, p, sizeof(p)), 0);
        ASSERT_EQ(unlink(p), 0);
        ASSERT_EQ(store_reader_new(s, 0, &r), 0); /* no fd cache: every lookup opens */
        ASSERT_EQ(store_lookup(r, "/late", 5, &o), -ESTALE);
        ASSERT_EQ(store_lookup(r, "/late", 5, &o), -ENOENT);
        store_get_stats(s, &st);
        ASSERT_EQ(st.objects, 0);

        /* A file grows while the store is running: dropped at the next open. */
        ASSERT_EQ(put(s, "/grown", "bytes", 5, NULL, NULL), 0);
        ASSERT_EQ(only_object_path(dir, p, sizeof(p)), 0);
        ASSERT_EQ(truncate(p, 9), 0);
        ASSERT_EQ(store_lookup(r, "/grown", 6, &o), -ESTALE);
        ASSERT_EQ(count_objects(dir), 0);
        ASSERT_EQ(store_lookup(r, "/grown", 6, &o), -ENOENT);
        store_reader_free(r);
        store_close(s);
        tests_rm_rf(dir);
}

struct watch_seen {
        unsigned calls[2];
        uint64_t first[2], last_done[2], total[2];
        bool backwards;
};

static void watch_note(void *arg, const char *phase, uint64_t done, uint64_t total)
{
        struct watch_seen *w = arg;
        int i = strcmp(phase, "index") == 0 ? 0 : strcmp(phase, "files") == 0 ? 1 : -1;

        if (i < 0 || (i == 1 && w->calls[0] == 0)) { /* no other phase; index first */
                w->backwards = true;
                return;
        }
        if (w->calls[i] == 0)
                w->first[i] = done;
        else if (done < w->last_done[i])
                w->backwards = true;
        w->calls[i]++;
        w->last_done[i] = done;
        w->total[i] = total;
}

TEST(open_tells_how_the_check_goes)
{
        char *dir = tests_scratch("sluice-store");
        struct store_open_watch w = {.fn = watch_note, .interval_ms = 0};
        struct watch_seen seen = {0};
        struct store *s;
        char key[32];

        ASSERT_EQ(store_open(dir, 0, &s), 0);
        for (unsigned i = 0; i < 600; i++) {
                snprintf(key, sizeof(key), "/t/seg-%u.m4s", i);
                ASSERT_EQ(put(s, key, key, strlen(key), NULL, NULL), 0);
        }
        store_close(s);
        w.arg = &seen;
        ASSERT_EQ(store_open_watched(dir, 0, 0, &w, &s), 0);
        store_close(s);
        ASSERT_TRUE(!seen.backwards);
        /* The index: from 0 of the 600 it counts, each entry (no interval here), to all 600. */
        ASSERT_EQ(seen.first[0], 0);
        ASSERT_EQ(seen.total[0], 600);
        ASSERT_EQ(seen.last_done[0], 600);
        ASSERT_EQ(seen.calls[0], 602); /* the start, one per entry, the end */
        /* The files: each of the 256 directories, then the end. */
        ASSERT_EQ(seen.first[1], 0);
        ASSERT_EQ(seen.total[1], 256);
        ASSERT_EQ(seen.last_done[1], 256);
        ASSERT_EQ(seen.calls[1], 258); /* the start, one per directory, the end */
        tests_rm_rf(dir);
}

struct scrub_seen {
        char key[64];
        const char *why;
        unsigned damaged, chunks, stop_after, checked;
};

static bool scrub_pace(uint64_t bytes, void *userdata)
{
        struct scrub_seen *x = userdata;

        (void)bytes;
        return x->stop_after == 0 || ++x->chunks < x->stop_after;
}

static void scrub_damaged(const char *key, size_t key_len, const char *why, void *userdata)
{
        struct scrub_seen *x = userdata;

        snprintf(x->key, sizeof(x->key), "%.*s", (int)key_len, key);
        x->why = why;
        x->damaged++;
}

static void scrub_checked(const char *key, size_t key_len, void *userdata)
{
        struct scrub_seen *x = userdata;

        (void)key;
        (void)key_len;
        x->checked++;
}

TEST(scrub_drops_only_damaged_objects)
{
        char *dir = tests_scratch("sluice-store");
        struct scrub_seen x = {0};
        const struct store_scrub_ops ops = {
            .pace = scrub_pace, .damaged = scrub_damaged, .userdata = &x, .checked = scrub_checked};
        struct store_scrub_stats st;
        struct store_reader *r;
        struct store_obj o;
        struct store *s;
        char p[1100], hex[65];
        int fd;

        ASSERT_EQ(store_open(dir, 0, &s), 0);
        sha256_hex("hello", 5, hex);
        ASSERT_EQ(put(s, "/flip", "hello", 5, hex, NULL), 0);
        ASSERT_EQ(only_object_path(dir, p, sizeof(p)), 0);
        for (unsigned i = 0; i < 3; i++) {
                char key[16], body[32];
                snprintf(key, sizeof(key), "/ok%u", i);
                snprintf(body, sizeof(body), "intact body %u", i);
                sha256_hex(body, strlen(body), hex);
                ASSERT_EQ(put(s, key, body, strlen(body), hex, NULL), 0);
        }
        ASSERT_EQ(store_scrub(s, NULL, 0, &ops, &st), 0);
        ASSERT_EQ(st.objects, 4);
        ASSERT_EQ(x.checked, 4);
        ASSERT_EQ(st.damaged, 0);
        ASSERT_EQ(st.bytes, 5 + 3 * 13);

        /* One byte flipped, the size kept: only the hash can tell. */
        fd = open(p, O_WRONLY);
        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(pwrite(fd, "J", 1, 0), 1);
        (void)close(fd);
        ASSERT_EQ(store_scrub(s, NULL, 0, &ops, &st), 0);
        ASSERT_EQ(st.objects, 4);
        ASSERT_EQ(st.damaged, 1);
        ASSERT_EQ(x.damaged, 1);
        ASSERT_STREQ(x.key, "/flip");
        ASSERT_STREQ(x.why, "SHA-256 differs from the index");
        ASSERT_EQ(access(p, F_OK), -1);
        ASSERT_EQ(store_reader_new(s, 4, &r), 0);
        ASSERT_EQ(store_lookup(r, "/flip", 5, &o), -ENOENT);
        ASSERT_EQ(store_lookup(r, "/ok1", 4, &o), 0);
        store_obj_release(r, &o);
        store_reader_free(r);

        /* From a position: only the keys after it (/ok1, /ok2), and the position survives a
         * close of the store, until cleared. */
        ASSERT_EQ(store_scrub(s, "/ok0", 4, &ops, &st), 0);
        ASSERT_EQ(st.objects, 2);
        {
                char pos[STORE_KEY_MAX];
                ASSERT_EQ(store_scrub_pos_load(s, pos), 0);
                ASSERT_EQ(store_scrub_pos_save(s, "/ok1", 4), 0);
                store_close(s);
                ASSERT_EQ(store_open(dir, 0, &s), 0);
                ASSERT_EQ(store_scrub_pos_load(s, pos), 4);
                ASSERT_EQ(memcmp(pos, "/ok1", 4), 0);
                ASSERT_EQ(store_scrub_pos_save(s, NULL, 0), 0);
                ASSERT_EQ(store_scrub_pos_load(s, pos), 0);
        }

        /* The pace stops a pass: 1, with what was done so far. */
        x.stop_after = 2;
        ASSERT_EQ(store_scrub(s, NULL, 0, &ops, &st), 1);
        ASSERT_EQ(st.objects, 1);
        ASSERT_EQ(x.damaged, 1);
        store_close(s);
        tests_rm_rf(dir);
}

/* Pages of the file at path in the page cache (mincore on a mapping: mapping faults none in). */
static long resident_pages(const char *path, size_t len)
{
        long page = sysconf(_SC_PAGESIZE), n = 0;
        size_t pages = (len + (size_t)page - 1) / (size_t)page;
        unsigned char *vec = calloc(pages, 1);
        int fd = open(path, O_RDONLY);
        void *m;

        if (!vec || fd < 0)
                abort();
        m = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
        if (m == MAP_FAILED || mincore(m, len, vec) < 0)
                abort();
        for (size_t i = 0; i < pages; i++)
                n += vec[i] & 1;
        (void)munmap(m, len);
        (void)close(fd);
        free(vec);
        return n;
}

TEST(scrub_reads_past_the_page_cache)
{
        char *dir = tests_scratch("sluice-store");
        struct scrub_seen x = {0};
        const struct store_scrub_ops ops = {.pace = scrub_pace, .userdata = &x};
        struct store_scrub_stats st;
        size_t len = 1u << 20;
        char *body = malloc(len), p[1100], hex[65];
        struct store *s;
        int fd;

        ASSERT_TRUE(body != NULL);
        for (size_t i = 0; i < len; i++)
                body[i] = (char)(i * 2654435761u >> 24);
        ASSERT_EQ(store_open(dir, 0, &s), 0);
        sha256_hex(body, len, hex);
        ASSERT_EQ(put(s, "/big", body, len, hex, NULL), 0);
        ASSERT_EQ(only_object_path(dir, p, sizeof(p)), 0);
        fd = open(p, O_RDONLY | O_DIRECT);
        if (fd < 0 && errno == EINVAL) {
                store_close(s);
                tests_rm_rf(dir);
                free(body);
                TEST_SKIP_CASE("the scratch filesystem takes no O_DIRECT: the scrub reads "
                               "through the page cache there, as it must");
        }
        ASSERT_TRUE(fd >= 0);
        /* The committed file is clean (fsynced): DONTNEED drops its pages. */
        ASSERT_EQ(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
        (void)close(fd);
        ASSERT_EQ(resident_pages(p, len), 0);

        ASSERT_EQ(store_scrub(s, NULL, 0, &ops, &st), 0);
        ASSERT_EQ(st.objects, 1);
        ASSERT_EQ(st.damaged, 0);
        ASSERT_EQ(st.bytes, len);
        ASSERT_EQ(resident_pages(p, len), 0);

        /* A byte changed through the page cache (dirty, not yet on the disk) is still seen. */
        fd = open(p, O_WRONLY);
        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(pwrite(fd, "J", 1, (off_t)len / 2), 1);
        (void)close(fd);
        ASSERT_EQ(store_scrub(s, NULL, 0, &ops, &st), 0);
        ASSERT_EQ(st.damaged, 1);
        store_close(s);
        tests_rm_rf(dir);
        free(body);
}

/* Deterministic body for object i: its bytes depend on i only. */
static size_t body_for(unsigned i, char *buf, size_t cap)
{
        size_t len = 1000 + (i * 7919u) % 30000;
        if (len > cap)
                len = cap;
        uint32_t x = i * 2654435761u + 1;
        for (size_t k = 0; k < len; k++) {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                buf[k] = (char)x;
        }
        return len;
}

struct verify_ctx {
        struct store_reader *r;
        unsigned n, bad;
};

static int verify_one(const struct store_entry_info *info, void *userdata)
{
        struct verify_ctx *v = userdata;
        static char buf[65536];
        struct store_obj o;
        size_t n = 0;
        uint8_t d[32];

        v->n++;
        if (store_lookup(v->r, info->key, info->key_len, &o) < 0) {
                v->bad++;
                return 0;
        }
        if (read_all(o.fd, buf, sizeof(buf), &n) < 0 || n != o.size || n != info->size) {
                v->bad++;
        } else {
                sha256(buf, n, d);
                if (memcmp(d, o.sha256, 32) != 0 || memcmp(d, info->sha256, 32) != 0)
                        v->bad++;
        }
        store_obj_release(v->r, &o);
        return 0;
}

/* Child: put (and sometimes delete) forever, starting at object 'first', committing in
 * groups of 'group' (store_put_commit_many; 1: store_put_commit alone); signal the parent on
 * the pipe once 'ready' commits are durable. Never returns. */
static void put_forever(const char *dir, unsigned first, unsigned ready, unsigned group,
                        int wfd)
{
        static char buf[65536];
        struct store_commit c[8];
        struct store *s;
        unsigned in = 0;

        if (group > 8 || store_open(dir, 0, &s) < 0)
                _exit(1);
        for (unsigned i = first;; i++) {
                char key[64];
                /* Keys repeat, so the kill can land in a replace or a delete too (and a group
                 * can hold a key twice). */
                snprintf(key, sizeof(key), "/t/%u/seg-%u.m4s", i % 3, i % 97);
                size_t len = body_for(i, buf, sizeof(buf));
                struct store_put *p;
                if (store_put_begin(s, key, strlen(key), len, NULL, NULL, &p) < 0)
                        _exit(1);
                /* In pieces, so the kill can land in a write, a fsync, a rename or a commit. */
                for (size_t off = 0; off < len; off += 4096) {
                        size_t n = len - off < 4096 ? len - off : 4096;
                        if (store_put_write(p, buf + off, n) < 0)
                                _exit(1);
                }
                if (group <= 1) {
                        if (store_put_commit(p) < 0)
                                _exit(1);
                } else {
                        c[in++] = (struct store_commit){.put = p};
                        if (in < group)
                                continue;
                        store_put_commit_many(c, in);
                        for (unsigned k = 0; k < in; k++)
                                if (c[k].r < 0)
                                        _exit(1);
                        in = 0;
                }
                if (i % 11 == 0)
                        (void)store_delete(s, key, strlen(key));
                if (i >= first + ready && wfd >= 0) {
                        (void)!write(wfd, "g", 1);
                        (void)close(wfd);
                        wfd = -1;
                }
        }
}

static void kill_during_puts(unsigned group)
{
        char *dir = tests_scratch("sluice-store");

        /* Several rounds on one store: each child also recovers what the last one left. */
        for (unsigned round = 0; round < 6; round++) {
                int pipefd[2];
                ASSERT_EQ(pipe(pipefd), 0);
                pid_t pid = fork();
                ASSERT_TRUE(pid >= 0);
                if (pid == 0) {
                        (void)close(pipefd[0]);
                        put_forever(dir, round * 1000, 10 + round * 3, group, pipefd[1]);
                }
                (void)close(pipefd[1]);
                char ch;
                ASSERT_EQ(read(pipefd[0], &ch, 1), 1); /* the child has committed some */
                (void)close(pipefd[0]);
                /* Then a varying amount of CPU work, so the kill lands at a different point
                 * of the put cycle each round. */
                struct timespec ts;
                clock_gettime(CLOCK_MONOTONIC, &ts);
                long spins = (long)(ts.tv_nsec % 4000) * 1000;
                for (volatile long k = 0; k < spins; k++)
                        ;
                ASSERT_EQ(kill(pid, SIGKILL), 0);
                int status;
                ASSERT_EQ(waitpid(pid, &status, 0), pid);
                ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

                struct store *s;
                struct store_reader *r;
                ASSERT_EQ(store_open(dir, 0, &s), 0);
                ASSERT_EQ(count_files(dir, "tmp"), 0);
                ASSERT_EQ(store_reader_new(s, 16, &r), 0);
                struct verify_ctx v = {r, 0, 0};
                ASSERT_EQ(store_list(s, "/", 1, verify_one, &v), 0);
                ASSERT_TRUE(v.n > 0);
                ASSERT_EQ(v.bad, 0);
                struct store_stats st;
                store_get_stats(s, &st);
                ASSERT_EQ(st.objects, v.n);
                /* Exactly one file per entry: nothing orphaned survived the reopen. */
                ASSERT_EQ(count_objects(dir), v.n);
                store_reader_free(r);
                store_close(s);
        }
        tests_rm_rf(dir);
}

TEST(kill_during_puts_leaves_only_whole_objects)
{
        kill_during_puts(1);
}

TEST(kill_during_group_commits_leaves_only_whole_objects)
{
        kill_during_puts(5);
}

/* ---- threads ---- */

struct thr {
        struct store *s;
        unsigned id;
        unsigned bad;
        unsigned hits;
};

static void *reader_main(void *arg)
{
        struct thr *t = arg;
        struct store_reader *r;
        static __thread char buf[65536];

        if (store_reader_new(t->s, 8, &r) < 0) {
                t->bad++;
                return NULL;
        }
        for (unsigned i = 0; i < 3000; i++) {
                char key[32];
                struct store_obj o;
                snprintf(key, sizeof(key), "/c/%u", i % 16);
                int e = store_lookup(r, key, strlen(key), &o);
                if (e == -ENOENT)
                        continue;
                if (e < 0) {
                        t->bad++;
                        continue;
                }
                size_t n = 0;
                uint8_t d[32];
                if (read_all(o.fd, buf, sizeof(buf), &n) < 0 || n != o.size) {
                        t->bad++;
                } else {
                        sha256(buf, n, d);
                        if (memcmp(d, o.sha256, 32) != 0)
                                t->bad++;
                }
                t->hits++;
                store_obj_release(r, &o);
        }
        store_reader_free(r);
        return NULL;
}

static void *writer_main(void *arg)
{
        struct thr *t = arg;
        static __thread char buf[65536];

        for (unsigned i = 0; i < 150; i++) {
                char key[32];
                unsigned k = (i * 5 + t->id) % 16;
                snprintf(key, sizeof(key), "/c/%u", k);
                if (i % 7 == 3) {
                        int e = store_delete(t->s, key, strlen(key));
                        if (e < 0 && e != -ENOENT)
                                t->bad++;
                        continue;
                }
                size_t len = body_for(i * 31 + t->id, buf, 8192);
                if (put(t->s, key, buf, len, NULL, NULL) < 0)
                        t->bad++;
        }
        return NULL;
}

static void *flusher_main(void *arg)
{
        struct thr *t = arg;

        /* Flushes racing the readers' hit counting and the writers' commits. */
        for (unsigned i = 0; i < 40; i++)
                if (store_flush_counters(t->s) < 0)
                        t->bad++;
        return NULL;
}

TEST(threads_readers_writers)
{
        char *dir = tests_scratch("sluice-store");
        struct store *s;
        pthread_t th[7];
        struct thr t[7];

        ASSERT_EQ(store_open(dir, 0, &s), 0);
        for (unsigned i = 0; i < 16; i++) {
                char key[32], buf[256];
                snprintf(key, sizeof(key), "/c/%u", i);
                size_t len = body_for(1000 + i, buf, sizeof(buf));
                ASSERT_EQ(put(s, key, buf, len, NULL, NULL), 0);
        }
        for (unsigned i = 0; i < 7; i++) {
                t[i] = (struct thr){s, i, 0, 0};
                void *(*fn)(void *) = i < 4 ? reader_main : i < 6 ? writer_main : flusher_main;
                ASSERT_EQ(pthread_create(&th[i], NULL, fn, &t[i]), 0);
        }
        for (unsigned i = 0; i < 7; i++)
                pthread_join(th[i], NULL);
        unsigned hits = 0;
        for (unsigned i = 0; i < 7; i++) {
                ASSERT_EQ(t[i].bad, 0);
                hits += t[i].hits;
        }
        ASSERT_TRUE(hits > 0);
        ASSERT_EQ(store_flush_counters(s), 0);
        struct collected c;
        memset(&c, 0, sizeof(c));
        ASSERT_EQ(store_list(s, "/c/", 3, collect, &c), 0);
        struct store_stats st;
        store_get_stats(s, &st);
        ASSERT_EQ(st.objects, c.n);
        ASSERT_EQ(count_objects(dir), c.n);
        store_close(s);
        tests_rm_rf(dir);
}

/* store_has() answers from the index alone; a put's digest and Last-Modified are kept. */
TEST(has_digest_and_mtime)
{
        char *dir = tests_scratch("sluice-store");
        struct store *s;
        struct store_reader *r;
        struct store_put *p;
        struct store_obj o;
        const char body[] = "segment bytes for the digest";
        size_t len = sizeof(body) - 1;
        uint8_t md[32], want[32];
        char hex[65], etag[24];

        ASSERT_EQ(store_open(dir, 1 << 20, &s), 0);
        ASSERT_EQ(store_reader_new(s, 4, &r), 0);
        ASSERT_TRUE(!store_has(r, "/t/seg-1.m4s", 12));
        ASSERT_EQ(store_put_begin(s, "/t/seg-1.m4s", 12, len, NULL, NULL, &p), 0);
        store_put_set_mtime(p, 1700000000);
        ASSERT_EQ(store_put_write(p, body, len), 0);
        memset(md, 0, sizeof(md));
        ASSERT_EQ(store_put_commit_digest(p, md), 0);
        sha256(body, len, want);
        ASSERT_MEMEQ(md, 32, want, 32);
        ASSERT_TRUE(store_has(r, "/t/seg-1.m4s", 12));
        ASSERT_TRUE(!store_has(r, "/t/seg-2.m4s", 12));
        ASSERT_EQ(store_lookup(r, "/t/seg-1.m4s", 12, &o), 0);
        ASSERT_EQ((long long)o.last_modified, 1700000000LL);
        hex_encode(want, 32, hex);
        snprintf(etag, sizeof(etag), "\"%.16s\"", hex);
        ASSERT_STREQ(o.etag, etag);
        store_obj_release(r, &o);
        ASSERT_EQ(store_delete(s, "/t/seg-1.m4s", 12), 0);
        ASSERT_TRUE(!store_has(r, "/t/seg-1.m4s", 12));
        store_reader_free(r);
        store_close(s);
        tests_rm_rf(dir);
}

/* Other bytes put within the old ones' second get a later Last-Modified (an If-Modified-Since
 * of the old second must not match them); the same bytes, or an upstream's own time, do not. */
TEST(replace_moves_last_modified_on)
{
        char *dir = tests_scratch("sluice-store");
        struct store *s;
        struct store_reader *r;
        struct store_put *p;
        struct store_obj o;
        time_t first, t;

        ASSERT_EQ(store_open(dir, 0, &s), 0);
        ASSERT_EQ(store_reader_new(s, 4, &r), 0);
        ASSERT_EQ(put(s, "/lm", "version-one", 11, NULL, NULL), 0);
        ASSERT_EQ(store_lookup(r, "/lm", 3, &o), 0);
        first = o.last_modified;
        store_obj_release(r, &o);

        ASSERT_EQ(put(s, "/lm", "version-two", 11, NULL, NULL), 0);
        ASSERT_EQ(store_lookup(r, "/lm", 3, &o), 0);
        t = o.last_modified;
        store_obj_release(r, &o);
        ASSERT_TRUE(t > first);

        /* The same bytes again: nothing for a client to miss, the time may stay. */
        first = t;
        ASSERT_EQ(put(s, "/lm", "version-two", 11, NULL, NULL), 0);
        ASSERT_EQ(store_lookup(r, "/lm", 3, &o), 0);
        ASSERT_TRUE(o.last_modified <= first + 1);
        store_obj_release(r, &o);

        /* An upstream's Last-Modified is kept as it says, even an older one. */
        ASSERT_EQ(store_put_begin(s, "/lm", 3, 5, NULL, NULL, &p), 0);
        store_put_set_mtime(p, 1700000000);
        ASSERT_EQ(store_put_write(p, "three", 5), 0);
        ASSERT_EQ(store_put_commit_digest(p, NULL), 0);
        ASSERT_EQ(store_lookup(r, "/lm", 3, &o), 0);
        ASSERT_EQ((long long)o.last_modified, 1700000000LL);
        store_obj_release(r, &o);

        store_reader_free(r);
        store_close(s);
        tests_rm_rf(dir);
}

static int count_entry(const char *key, size_t key_len, const struct cache_idx_rec *rec,
                       void *userdata)
{
        (void)key;
        (void)key_len;
        (void)rec;
        (*(unsigned *)userdata)++;
        return 0;
}

/* Puts n records under /grow/<i>/ with long keys (so the data file grows fast); 0 or -errno. */
static int put_many(struct cache_idx *idx, unsigned from, unsigned n)
{
        char key[400];
        struct cache_idx_rec rec = {.version = CACHE_IDX_REC_VERSION, .size = 1}, old;
        bool had;

        for (unsigned i = from; i < from + n; i++) {
                int len = snprintf(key, sizeof(key), "/grow/%06u/%0360u", i, i);
                rec.file_id = i + 1;
                int r = cache_idx_put(idx, key, (size_t)len, &rec, 0, NULL, &old, &had);
                if (r < 0)
                        return r;
        }
        return 0;
}

/*
 * A read-only handle (sluice-store-dump) maps what the writer maps, not the size it asked for
 * nor the data in use when it opened: a live edge adding objects during a long --verify grows
 * the data file past that, and every later listing batch failed with MDB_MAP_RESIZED
 * ("Resource temporarily unavailable"). A writer that comes back with a larger map and
 * fills past the old one is followed too.
 */
TEST(read_only_listing_follows_a_growing_index)
{
        char *dir = tests_scratch("sluice-store");
        struct cache_idx *w, *ro;
        struct stat st;
        char mdb[256];
        unsigned n = 0;

        snprintf(mdb, sizeof(mdb), "%s/data.mdb", dir);
        ASSERT_EQ(cache_idx_open(dir, 512 << 10, 0, &w), 0);
        ASSERT_EQ(put_many(w, 0, 20), 0);
        ASSERT_EQ(cache_idx_open(dir, 4096, CACHE_IDX_RDONLY, &ro), 0);
        ASSERT_EQ(cache_idx_foreach(ro, "", 0, count_entry, &n), 0);
        ASSERT_EQ(n, 20);
        ASSERT_EQ(put_many(w, 20, 200), 0);
        n = 0;
        ASSERT_EQ(cache_idx_foreach(ro, "", 0, count_entry, &n), 0);
        ASSERT_EQ(n, 220);

        /* The edge restarts with a larger map and fills past the one ro has. */
        cache_idx_close(w);
        ASSERT_EQ(cache_idx_open(dir, 8 << 20, 0, &w), 0);
        ASSERT_EQ(put_many(w, 220, 1200), 0);
        ASSERT_EQ(stat(mdb, &st), 0);
        ASSERT_TRUE(st.st_size > 512 << 10);
        n = 0;
        ASSERT_EQ(cache_idx_foreach(ro, "", 0, count_entry, &n), 0);
        ASSERT_EQ(n, 1420);
        cache_idx_close(ro);
        cache_idx_close(w);
        tests_rm_rf(dir);
}

TEST_MAIN()
