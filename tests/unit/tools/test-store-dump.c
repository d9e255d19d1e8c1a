/* SPDX-License-Identifier: MIT */
/* sluice-store-dump's listing callback (main.c included, its main renamed) against a store. */
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "scratch.h"
#include "tests.h"

#define main store_dump_main
int store_dump_main(int argc, char **argv);
#include "store-dump/main.c"
#undef main

#include "store.h"

static int put(struct store *s, const char *key, const char *body)
{
        struct store_put *p;
        int r = store_put_begin(s, key, strlen(key), strlen(body), NULL, NULL, &p);
        if (r < 0)
                return r;
        r = store_put_write(p, body, strlen(body));
        if (r < 0) {
                store_put_abort(p);
                return r;
        }
        return store_put_commit(p);
}

static uint64_t file_id_of(struct store *s, const char *key)
{
        struct store_entry_info info;
        return store_get_info(s, key, strlen(key), &info) == 0 ? info.file_id : 0;
}

/* Removes the object file of file_id, as the store's unlink thread would (or an operator). */
static void unlink_object(const char *dir, uint64_t file_id)
{
        char h[17], p[256];
        hex_u64_encode(file_id, h);
        snprintf(p, sizeof(p), "%s/objects/%.2s/%s", dir, h, h);
        (void)unlink(p);
}

/* The edge at work while the dump verifies a batch it copied before. */
struct race {
        struct dump d;
        struct store *s;
        const char *dir;
        uint64_t b_file, c_file;
        bool done;
};

static int racing(const char *key, size_t key_len, const struct cache_idx_rec *rec, void *ud)
{
        struct race *x = ud;
        if (!x->done) {
                x->done = true;
                /* /b evicted, /c replaced by new bytes: both old files go. */
                if (store_delete(x->s, "/b", 2) < 0 || put(x->s, "/c", "new bytes") < 0)
                        return -EIO;
                unlink_object(x->dir, x->b_file);
                unlink_object(x->dir, x->c_file);
        }
        return print_one(key, key_len, rec, &x->d);
}

/*
 * --verify against a running edge: an entry the edge evicted or replaced after the dump
 * copied it is not a missing file (it used to be reported BAD, exit 1, on a healthy edge);
 * a file missing under an entry the index still holds is.
 */
TEST(verify_skips_what_the_edge_evicted_while_listing)
{
        char *dir = tests_scratch("sluice-dump"), path[256];
        struct race x = {.d = {.objfd = -1, .verify = true, .quiet = true}, .dir = dir};
        struct cache_idx *idx;
        uint64_t d_file;

        ASSERT_EQ(store_open(dir, 1 << 20, &x.s), 0);
        ASSERT_EQ(put(x.s, "/a", "aaaa"), 0);
        ASSERT_EQ(put(x.s, "/b", "bbbb"), 0);
        ASSERT_EQ(put(x.s, "/c", "cccc"), 0);
        ASSERT_EQ(put(x.s, "/d", "dddd"), 0);
        x.b_file = file_id_of(x.s, "/b");
        x.c_file = file_id_of(x.s, "/c");
        d_file = file_id_of(x.s, "/d");
        ASSERT_TRUE(x.b_file && x.c_file && d_file);
        unlink_object(dir, d_file); /* lost behind the edge's back */

        snprintf(path, sizeof(path), "%s/objects", dir);
        x.d.objfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT_TRUE(x.d.objfd >= 0);
        snprintf(path, sizeof(path), "%s/index", dir);
        ASSERT_EQ(cache_idx_open(path, 0, CACHE_IDX_RDONLY, &idx), 0);
        ASSERT_EQ(cache_idx_reader_new(idx, &x.d.rd), 0);
        ASSERT_EQ(cache_idx_foreach(idx, "", 0, racing, &x), 0);
        ASSERT_TRUE(x.done);
        ASSERT_EQ(x.d.bad, 1);  /* /d */
        ASSERT_EQ(x.d.gone, 2); /* /b, /c */
        ASSERT_EQ(x.d.n, 2);    /* /a, /d */

        cache_idx_reader_free(x.d.rd);
        cache_idx_close(idx);
        close(x.d.objfd);
        store_close(x.s);
        tests_rm_rf(dir);
}

/* Keys long enough that a listing batch (256 entries) prints far more than a pipe holds. */
#define LONG_KEYS 300

static void long_key(char *buf, size_t len, unsigned i)
{
        snprintf(buf, len, "/k%03u/%0*d", i, 400, 0);
}

/*
 * The totals line of a whole run (main) while the edge changes the store: the dump's
 * standard output is a pipe this test reads, so the dump waits in its first batch until the
 * test has deleted the last entry and added one after it; the next batch sees both. The
 * "listed" figures are those of the lines printed; the store's are given twice, as the index
 * recorded them when the dump opened it and when it had listed everything, and the line says
 * which is which: it used to print those at open as "store totals", as if they were current.
 */
TEST(totals_line_says_what_its_figures_are)
{
        char *dir = tests_scratch("sluice-dump-totals"), key[512], *argv[3];
        struct store *s;
        int pfd[2], status;
        pid_t pid;

        ASSERT_EQ(store_open(dir, 1 << 24, &s), 0);
        for (unsigned i = 0; i < LONG_KEYS; i++) {
                long_key(key, sizeof(key), i);
                ASSERT_EQ(put(s, key, "aaaa"), 0);
        }
        store_close(s);

        ASSERT_EQ(pipe(pfd), 0);
        (void)fcntl(pfd[1], F_SETPIPE_SZ, 4096);
        fflush(stdout);
        pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                dup2(pfd[1], STDOUT_FILENO);
                close(pfd[0]);
                close(pfd[1]);
                argv[0] = "sluice-store-dump";
                argv[1] = dir;
                argv[2] = NULL;
                int rc = store_dump_main(2, argv);
                fflush(stdout);
                _exit(rc);
        }
        close(pfd[1]);
        FILE *in = fdopen(pfd[0], "r");
        ASSERT_TRUE(in != NULL);
        char *line = NULL, *totals = NULL;
        size_t cap = 0, lines = 0;
        unsigned long long bytes = 0;
        bool changed = false;
        while (getline(&line, &cap, in) > 0) {
                if (line[0] == '#') {
                        free(totals);
                        totals = strdup(line);
                        continue;
                }
                lines++;
                bytes += strtoull(strchr(line, '\t') + 1, NULL, 10);
                if (!changed) {
                        changed = true;
                        long_key(key, sizeof(key), LONG_KEYS - 1);
                        ASSERT_EQ(store_open(dir, 1 << 24, &s), 0);
                        ASSERT_EQ(store_delete(s, key, strlen(key)), 0);
                        ASSERT_EQ(put(s, "/z-new", "new bytes here"), 0);
                        store_close(s);
                }
        }
        free(line);
        fclose(in);
        ASSERT_TRUE(waitpid(pid, &status, 0) == pid && WIFEXITED(status));
        ASSERT_EQ(WEXITSTATUS(status), 0);
        /* The last entry went, /z-new (14 bytes) came. */
        ASSERT_EQ(lines, LONG_KEYS);
        ASSERT_EQ(bytes, (LONG_KEYS - 1) * 4 + 14);
        ASSERT_TRUE(totals != NULL);
        ASSERT_STREQ(totals,
                     "# listed 300 entries, 1210 bytes; whole store at start 300 objects, 1200 "
                     "bytes, at end 300 objects, 1210 bytes\n");
        free(totals);
        tests_rm_rf(dir);
}

/* What print_one writes for one entry, as a malloc'd string. */
static char *line_of(const char *key, size_t key_len, const struct cache_idx_rec *rec)
{
        struct dump d = {.objfd = -1};
        FILE *tmp = tmpfile();
        char *buf = calloc(1, 4096);
        int saved;

        if (!tmp || !buf)
                abort();
        fflush(stdout);
        saved = dup(STDOUT_FILENO);
        if (saved < 0 || dup2(fileno(tmp), STDOUT_FILENO) < 0)
                abort();
        (void)print_one(key, key_len, rec, &d);
        fflush(stdout);
        (void)dup2(saved, STDOUT_FILENO);
        close(saved);
        rewind(tmp);
        if (fread(buf, 1, 4095, tmp) == 0 && ferror(tmp))
                abort();
        fclose(tmp);
        return buf;
}

/* The tab-separated fields of line, in place; returns their count (at most max). */
static size_t fields_of(char *line, char **f, size_t max)
{
        size_t n = 0;

        line[strcspn(line, "\n")] = '\0';
        for (char *p = line; p && n < max; n++) {
                f[n] = p;
                p = strchr(p, '\t');
                if (p)
                        *p++ = '\0';
        }
        return n;
}

/*
 * A damaged record (LMDB keeps no checksums) whose content type and ETag fill their arrays
 * with no NUL: each column shows its own field. The content type's column used to run on
 * through the ETag and past the record.
 */
TEST(damaged_record_text_stays_in_its_column)
{
        struct {
                struct cache_idx_rec rec;
                char after[8];
        } x;
        char ctype[sizeof(x.rec.content_type) + 1], etag[sizeof(x.rec.etag) + 1], *f[12];

        memset(&x, 0, sizeof(x));
        x.rec.version = CACHE_IDX_REC_VERSION;
        x.rec.size = 4;
        memset(x.rec.content_type, 'c', sizeof(x.rec.content_type));
        memset(x.rec.etag, 'e', sizeof(x.rec.etag));
        memcpy(x.after, "AFTER!!", 8);
        memset(ctype, 'c', sizeof(ctype) - 1);
        ctype[sizeof(ctype) - 1] = '\0';
        memset(etag, 'e', sizeof(etag) - 1);
        etag[sizeof(etag) - 1] = '\0';

        char *line = line_of("/k", 2, &x.rec);
        ASSERT_EQ(fields_of(line, f, 12), 9);
        ASSERT_STREQ(f[0], "/k");
        ASSERT_STREQ(f[4], ctype);
        ASSERT_STREQ(f[5], etag);
        free(line);
}

/*
 * Keys and types with bytes that end a column or a line: each entry is still one line of
 * nine columns, those bytes and the backslash written as \\xHH. A tab in a pushed object's
 * Content-Type (which the admin API keeps) used to make a tenth column.
 */
TEST(odd_bytes_are_escaped)
{
        static const char key[] = "/t/a\tb\nc\\d\x7f\x01\xc3\xa9.bin\0z";
        struct cache_idx_rec rec = {.version = CACHE_IDX_REC_VERSION, .size = 4};
        char *f[12];

        snprintf(rec.content_type, sizeof(rec.content_type), "text/plain;\tcharset=x");
        snprintf(rec.etag, sizeof(rec.etag), "\"a\\b\"");
        char *line = line_of(key, sizeof(key) - 1, &rec);
        ASSERT_EQ(strchr(line, '\n') - line, (ptrdiff_t)strlen(line) - 1);
        ASSERT_EQ(fields_of(line, f, 12), 9);
        ASSERT_STREQ(f[0], "/t/a\\x09b\\x0ac\\x5cd\\x7f\\x01\xc3\xa9.bin\\x00z");
        ASSERT_STREQ(f[1], "4");
        ASSERT_STREQ(f[4], "text/plain;\\x09charset=x");
        ASSERT_STREQ(f[5], "\"a\\x5cb\"");
        free(line);
}

/* Runs the dump on dir with standard output thrown away; returns its exit status. */
static int run_dump(const char *dir)
{
        char *argv[3] = {"sluice-store-dump", (char *)dir, NULL};
        int status;
        pid_t pid;

        fflush(stdout);
        pid = fork();
        if (pid == 0) {
                int null = open("/dev/null", O_WRONLY);
                if (null < 0 || dup2(null, STDOUT_FILENO) < 0)
                        _exit(3);
                _exit(store_dump_main(2, argv));
        }
        if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
                return -1;
        return WEXITSTATUS(status);
}

/*
 * An index restored from a copy of data.mdb alone has no lock file, and LMDB creates one for
 * whoever opens it. Dumped as root, it was root's, mode 0600: the edge, running as its own
 * user, could no longer open its store. The lock file now belongs to data.mdb's owner.
 */
TEST(lock_file_created_for_the_dump_belongs_to_the_index_owner)
{
        const uid_t uid = 65534;
        const gid_t gid = 65534;
        struct store *s;
        struct stat st;
        char path[256];

        if (geteuid() != 0)
                TEST_SKIP_CASE("needs root to hand the index to another user");
        char *dir = tests_scratch("sluice-dump-lock");
        ASSERT_EQ(store_open(dir, 1 << 24, &s), 0);
        ASSERT_EQ(put(s, "/a", "aaaa"), 0);
        store_close(s);
        snprintf(path, sizeof(path), "%s/index/lock.mdb", dir);
        ASSERT_EQ(unlink(path), 0);
        snprintf(path, sizeof(path), "%s/index/data.mdb", dir);
        ASSERT_EQ(chown(path, uid, gid), 0);

        ASSERT_EQ(run_dump(dir), 0);
        snprintf(path, sizeof(path), "%s/index/lock.mdb", dir);
        ASSERT_EQ(stat(path, &st), 0);
        ASSERT_EQ(st.st_uid, uid);
        ASSERT_EQ(st.st_gid, gid);
        /* A lock file that was there is left as it is. */
        ASSERT_EQ(chown(path, 0, 0), 0);
        ASSERT_EQ(run_dump(dir), 0);
        ASSERT_EQ(stat(path, &st), 0);
        ASSERT_EQ(st.st_uid, 0);
        tests_rm_rf(dir);
}

/* Standard output that cannot be written (a full disk): exit 1, not a listing passed as whole. */
TEST(write_error_on_standard_output_fails)
{
        char *dir = tests_scratch("sluice-dump-full"), *argv[3];
        struct store *s;
        int status;
        pid_t pid;

        ASSERT_EQ(store_open(dir, 1 << 24, &s), 0);
        ASSERT_EQ(put(s, "/a", "aaaa"), 0);
        store_close(s);
        fflush(stdout);
        pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                int full = open("/dev/full", O_WRONLY);
                if (full < 0 || dup2(full, STDOUT_FILENO) < 0)
                        _exit(3);
                argv[0] = "sluice-store-dump";
                argv[1] = dir;
                argv[2] = NULL;
                _exit(store_dump_main(2, argv));
        }
        ASSERT_TRUE(waitpid(pid, &status, 0) == pid && WIFEXITED(status));
        ASSERT_EQ(WEXITSTATUS(status), 1);
        tests_rm_rf(dir);
}

TEST_MAIN()
