/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests.h"

#include "journal.h"
#include "opts.h"
#include "plan.h"

static const char SHA_A[] = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
static const char SHA_B[] = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

static char *tmpdir(void)
{
        static char d[64];
        snprintf(d, sizeof(d), "/tmp/sluice-fill-journal-XXXXXX");
        return mkdtemp(d);
}

TEST(journal_roundtrip_and_resume)
{
        char path[512];
        struct journal *j;
        struct journal_summary s;
        char *dir = tmpdir();

        ASSERT_TRUE(dir != NULL);
        snprintf(path, sizeof(path), "%s/sub/edge-a.journal", dir);
        ASSERT_EQ(journal_open(path, true, &j, NULL, 0), 0);
        ASSERT_EQ(journal_run_begin(j, 100, 42), 0);
        ASSERT_EQ(journal_commit(j, "/t1/seg 1.m4s", 13, SHA_A, 1000), 0);
        ASSERT_EQ(journal_commit(j, "/t1/%2e.m4s", 11, SHA_B, 5), 0);
        ASSERT_EQ(journal_refuse(j, "/t1/bad.m4s", 11, "sha256-mismatch"), 0);
        journal_free(j);

        /* A crash here: the run never ended. Reopen: the commits are there, the run resumes. */
        ASSERT_EQ(journal_open(path, true, &j, NULL, 0), 0);
        ASSERT_TRUE(journal_committed(j, "/t1/seg 1.m4s", 13, SHA_A));
        ASSERT_TRUE(!journal_committed(j, "/t1/seg 1.m4s", 13, SHA_B));
        ASSERT_TRUE(journal_committed(j, "/t1/%2e.m4s", 11, SHA_B));
        ASSERT_TRUE(!journal_committed(j, "/t1/bad.m4s", 11, SHA_A));
        journal_get_summary(j, &s);
        ASSERT_EQ(s.committed, 2);
        ASSERT_EQ(s.committed_bytes, 1005);
        ASSERT_EQ(s.refused, 1);
        ASSERT_EQ(s.exit_code, -1);
        ASSERT_EQ(journal_run_begin(j, 200, 42), 0);
        journal_get_summary(j, &s);
        ASSERT_TRUE(s.resumed);
        ASSERT_EQ(s.committed, 2);
        ASSERT_EQ(journal_run_end(j, 300, 0), 0);
        journal_free(j);

        /* After an ended run, the next run starts a fresh file. */
        ASSERT_EQ(journal_open(path, true, &j, NULL, 0), 0);
        journal_get_summary(j, &s);
        ASSERT_EQ(s.exit_code, 0);
        ASSERT_EQ(s.ended, 300);
        ASSERT_EQ(journal_run_begin(j, 400, 43), 0);
        ASSERT_TRUE(!journal_committed(j, "/t1/seg 1.m4s", 13, SHA_A));
        journal_free(j);
        ASSERT_EQ(journal_open(path, false, &j, NULL, 0), 0);
        journal_get_summary(j, &s);
        ASSERT_EQ(s.committed, 0);
        ASSERT_EQ(s.started, 400);
        journal_free(j);
}

TEST(journal_torn_tail_is_dropped)
{
        char path[512];
        struct journal *j;
        struct journal_summary s;
        char *dir = tmpdir();
        int fd;
        static const char img[] = "sluice-fill-journal 1\nS 1 2\nC "
                                  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                                  " 7 /x\nC bbbb";

        snprintf(path, sizeof(path), "%s/torn.journal", dir);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(write(fd, img, sizeof(img) - 1), (long long)sizeof(img) - 1);
        close(fd);
        ASSERT_EQ(journal_open(path, true, &j, NULL, 0), 0);
        journal_get_summary(j, &s);
        ASSERT_EQ(s.committed, 1);
        ASSERT_EQ(journal_commit(j, "/y", 2, SHA_B, 3), 0);
        journal_free(j);
        ASSERT_EQ(journal_open(path, false, &j, NULL, 0), 0);
        ASSERT_TRUE(journal_committed(j, "/y", 2, SHA_B));
        ASSERT_TRUE(journal_committed(j, "/x", 2, SHA_A));
        journal_free(j);
}

/* An append the file size limit cuts part way takes its bytes back: the appends after it
 * follow whole lines, and a later run reads the file. */
TEST(journal_failed_append_leaves_no_torn_line)
{
        char path[512];
        struct journal *j;
        struct stat st;
        struct rlimit was, cap;
        char *dir = tmpdir();

        snprintf(path, sizeof(path), "%s/full.journal", dir);
        ASSERT_EQ(journal_open(path, true, &j, NULL, 0), 0);
        ASSERT_EQ(journal_run_begin(j, 100, 42), 0);
        ASSERT_EQ(journal_commit(j, "/a", 2, SHA_A, 1), 0);
        ASSERT_EQ(stat(path, &st), 0);

        /* Room for 20 more bytes: the next C line (about 70) is cut inside. */
        ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &was), 0);
        (void)signal(SIGXFSZ, SIG_IGN);
        cap = was;
        cap.rlim_cur = (rlim_t)st.st_size + 20;
        ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &cap), 0);
        ASSERT_EQ(journal_commit(j, "/b", 2, SHA_B, 2), -EFBIG);
        ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &was), 0);
        (void)signal(SIGXFSZ, SIG_DFL);

        struct stat after;
        ASSERT_EQ(stat(path, &after), 0);
        ASSERT_EQ(after.st_size, st.st_size);
        ASSERT_EQ(journal_commit(j, "/c", 2, SHA_B, 3), 0);
        journal_free(j);

        ASSERT_EQ(journal_open(path, false, &j, NULL, 0), 0);
        ASSERT_TRUE(journal_committed(j, "/a", 2, SHA_A));
        ASSERT_TRUE(!journal_committed(j, "/b", 2, SHA_B));
        ASSERT_TRUE(journal_committed(j, "/c", 2, SHA_B));
        journal_free(j);
}

TEST(journal_refuses_garbage)
{
        struct journal *j;
        static const char *bad[] = {
            "not a journal\n",
            "sluice-fill-journal 2\n",
            "sluice-fill-journal 1\nX 1\n",
            "sluice-fill-journal 1\nC zz 1 /a\n",
            "sluice-fill-journal 1\nC "
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa -1 /a\n",
            "sluice-fill-journal 1\nC "
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 1 a\n",
            "sluice-fill-journal 1\nE 1 999\n",
            "sluice-fill-journal 1\nR x /a%zz\n",
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                ASSERT_EQ(journal_new_memory(&j), 0);
                ASSERT_EQ(journal_load_buf(j, bad[i], strlen(bad[i])), -EINVAL);
                journal_free(j);
        }
}

/* A journal that does not parse is refused with the line and the reason. */
TEST(journal_open_says_where)
{
        static const struct {
                const char *text, *err;
        } cases[] = {
            {"not a journal\n", "line 1: not a sluice-fill journal"},
            {"sluice-fill-journal 1\nS 1 2\nE 3 0\nS 4 x\n", "line 4: bad S record"},
            {"sluice-fill-journal 1\nS 1 2\nC zz 1 /a\n", "line 3: bad C record"},
        };
        char path[512], err[256];
        struct journal *j = NULL;
        char *dir = tmpdir();

        ASSERT_TRUE(dir != NULL);
        snprintf(path, sizeof(path), "%s/edge-a.journal", dir);
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                FILE *f = fopen(path, "w");
                ASSERT_TRUE(f != NULL);
                fputs(cases[i].text, f);
                fclose(f);
                err[0] = '\0';
                ASSERT_EQ(journal_open(path, false, &j, err, sizeof(err)), -EINVAL);
                ASSERT_TRUE(strncmp(err, cases[i].err, strlen(cases[i].err)) == 0);
        }
        unlink(path);
        rmdir(dir);
}

/* One past JOURNAL_MAX_BYTES is refused as one that does not parse is (run moves it aside),
 * saying why: it was -E2BIG, which stopped every run ("Argument list too long"). */
TEST(journal_too_large_says_so)
{
        char path[512], err[256] = "";
        struct journal *j = NULL;
        char *dir = tmpdir();
        FILE *f;

        ASSERT_TRUE(dir != NULL);
        snprintf(path, sizeof(path), "%s/edge-a.journal", dir);
        f = fopen(path, "w");
        ASSERT_TRUE(f != NULL);
        fputs("sluice-fill-journal 1\n", f);
        fclose(f);
        ASSERT_EQ(truncate(path, (off_t)JOURNAL_MAX_BYTES + 1), 0); /* sparse */
        ASSERT_EQ(journal_open(path, false, &j, err, sizeof(err)), -EINVAL);
        ASSERT_STREQ(err, "larger than a journal may be (256 MiB)");
        ASSERT_EQ(journal_open(path, true, &j, err, sizeof(err)), -EINVAL);
        unlink(path);
        rmdir(dir);
}

/* Every key a plan may hold is journalled: a path of PLAN_MAX_PATH bytes, each escaped. */
TEST(journal_takes_the_longest_plan_key)
{
        char path[512], key[PLAN_MAX_PATH + 3];
        struct journal *j = NULL;
        struct journal_summary s;
        char *dir = tmpdir();

        ASSERT_TRUE(dir != NULL);
        snprintf(path, sizeof(path), "%s/edge-a.journal", dir);
        key[0] = '/';
        memset(key + 1, ' ', sizeof(key) - 1); /* escaped as %20: three bytes each */
        ASSERT_EQ(journal_open(path, true, &j, NULL, 0), 0);
        ASSERT_EQ(journal_run_begin(j, 100, 42), 0);
        ASSERT_EQ(journal_commit(j, key, PLAN_MAX_PATH + 1, SHA_A, 7), 0);
        ASSERT_EQ(journal_refuse(j, key, PLAN_MAX_PATH + 1, "size-mismatch"), 0);
        ASSERT_EQ(journal_commit(j, key, PLAN_MAX_PATH + 2, SHA_A, 7), -ENAMETOOLONG);
        journal_free(j);
        ASSERT_EQ(journal_open(path, false, &j, NULL, 0), 0);
        ASSERT_TRUE(journal_committed(j, key, PLAN_MAX_PATH + 1, SHA_A));
        journal_get_summary(j, &s);
        ASSERT_EQ(s.committed, 1);
        ASSERT_EQ(s.refused, 1);
        journal_free(j);
        unlink(path);
        rmdir(dir);
}

/* A run after an ended one starts the journal afresh (write to .new, rename): cut short by
 * the file size limit, it fails with the error that cut it (not whatever errno held before),
 * and leaves the journal as it was and no .new behind. */
TEST(journal_fresh_start_cut_short_keeps_the_old)
{
        char path[512], tmp[600];
        struct journal *j;
        struct journal_summary s;
        struct rlimit was, cap;
        char *dir = tmpdir();

        snprintf(path, sizeof(path), "%s/fresh.journal", dir);
        snprintf(tmp, sizeof(tmp), "%s.new", path);
        ASSERT_EQ(journal_open(path, true, &j, NULL, 0), 0);
        ASSERT_EQ(journal_run_begin(j, 100, 42), 0);
        ASSERT_EQ(journal_commit(j, "/a", 2, SHA_A, 1), 0);
        ASSERT_EQ(journal_run_end(j, 200, 0), 0);

        /* Room for the header and 3 bytes of the run's first line. */
        ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &was), 0);
        (void)signal(SIGXFSZ, SIG_IGN);
        cap = was;
        cap.rlim_cur = sizeof("sluice-fill-journal 1\n") - 1 + 3;
        ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &cap), 0);
        errno = ENOENT; /* what a short write leaves errno as, unless the write goes on */
        int r = journal_run_begin(j, 300, 43);
        ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &was), 0);
        (void)signal(SIGXFSZ, SIG_DFL);
        ASSERT_EQ(r, -EFBIG);
        ASSERT_TRUE(access(tmp, F_OK) < 0);
        journal_free(j);

        /* The rename refused (a directory where the journal was): no .new left either. */
        ASSERT_EQ(journal_open(path, true, &j, NULL, 0), 0);
        journal_get_summary(j, &s);
        ASSERT_EQ(s.ended, 200);
        ASSERT_EQ(s.committed, 1);
        ASSERT_EQ(unlink(path), 0);
        ASSERT_EQ(mkdir(path, 0700), 0);
        snprintf(tmp + strlen(path), sizeof(tmp) - strlen(path), "/x");
        int fd = open(tmp, O_WRONLY | O_CREAT, 0600);
        ASSERT_TRUE(fd >= 0);
        close(fd);
        snprintf(tmp, sizeof(tmp), "%s.new", path);
        ASSERT_TRUE(journal_run_begin(j, 300, 43) < 0);
        ASSERT_TRUE(access(tmp, F_OK) < 0);
        journal_free(j);
}

/*
 * Two edge ids never name one journal or one lock: "eu/a" and "eu_a" both made "eu_a" (every
 * byte outside [A-Za-z0-9._-] was '_'), so one edge's run locked the other out and their
 * records mixed. Ids of safe bytes keep the names they always had.
 */
TEST(state_paths_one_per_edge_id)
{
        static const char *const ids[] = {"eu/a", "eu_a",   "eu%2Fa", "eu%a",   ".a",
                                          "%2Ea", "_a",     "a b",    "a_b",    "a\xff",
                                          "a\xc3", "a%FF", "..",     "%2E%2E", "a."};
        struct fill_opts o = {.cfg = {.state_dir = "/s"}};
        char got[sizeof(ids) / sizeof(ids[0])][4200];
        char big[FILL_EDGE_ID_MAX + 1];
        char dir[OPTS_STATE_DIR_MAX + 1];
        char path[4200];

        ASSERT_STREQ(opts_journal_path(&o, "edge-a.b_1", path, sizeof(path)),
                     "/s/edge-a.b_1.journal");
        ASSERT_STREQ(opts_state_path(&o, "eu/a", ".lock", path, sizeof(path)), "/s/eu%2Fa.lock");
        ASSERT_STREQ(opts_state_path(&o, "%.x", ".lock", path, sizeof(path)), "/s/%25.x.lock");
        ASSERT_STREQ(opts_state_path(&o, ".", ".lock", path, sizeof(path)), "/s/%2E.lock");
        for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
                opts_journal_path(&o, ids[i], got[i], sizeof(got[i]));
                for (size_t k = 0; k < i; k++)
                        if (strcmp(got[i], got[k]) == 0)
                                TEST_FAIL_AT("\"%s\" and \"%s\" share %s", ids[k], ids[i],
                                             got[i]);
        }
        /* The longest id, every byte escaped, under the longest state_dir: never cut short. */
        memset(big, 0xff, FILL_EDGE_ID_MAX);
        big[FILL_EDGE_ID_MAX] = '\0';
        memset(dir, 'd', OPTS_STATE_DIR_MAX);
        dir[OPTS_STATE_DIR_MAX] = '\0';
        o.cfg.state_dir = dir;
        opts_journal_path(&o, big, path, sizeof(path));
        ASSERT_EQ(strlen(path), (size_t)OPTS_STATE_DIR_MAX + 1 + 3 * FILL_EDGE_ID_MAX + 8);
        ASSERT_STREQ(path + strlen(path) - 11, "%FF.journal");
}

TEST_MAIN()
