/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "metrics-file.h"
#include "scratch.h"
#include "tests.h"

static char dir[64];

static void scratch(void)
{
        snprintf(dir, sizeof(dir), "%s", tests_scratch("sluice-metrics"));
}

static void path_in(char *out, size_t len, const char *name)
{
        snprintf(out, len, "%s/%s", dir, name);
}

static int slurp(const char *path, char *out, size_t len)
{
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
                return -errno;
        n = read(fd, out, len - 1);
        close(fd);
        if (n < 0)
                return -EIO;
        out[n] = '\0';
        return 0;
}

TEST(one_claim_at_a_time)
{
        char prom[128], lock[128], text[4096];
        struct metrics_run r = {.running = true, .start_s = 1700000000};
        int a = -1, b = -1;

        scratch();
        path_in(prom, sizeof(prom), "fill.prom");
        path_in(lock, sizeof(lock), "fill.prom.lock");
        ASSERT_EQ(metrics_file_claim(prom, &a), 0);
        ASSERT_EQ(metrics_file_claim(prom, &b), -EBUSY); /* another open of it, as another run */
        ASSERT_EQ(metrics_file_write(prom, &r), 0);
        ASSERT_EQ(slurp(prom, text, sizeof(text)), 0);
        ASSERT_TRUE(strstr(text, "\nsluice_fill_run_running 1\n") != NULL);
        close(a);
        ASSERT_EQ(metrics_file_claim(prom, &b), 0); /* the first run's end frees it */
        close(b);
        ASSERT_EQ(unlink(lock), 0);
        ASSERT_EQ(symlink(prom, lock), 0); /* never through a link */
        ASSERT_EQ(metrics_file_claim(prom, &b), -ELOOP);
        tests_rm_rf(dir);
}

/* What a run as uid 65534 makes of the lock, the temporary file and the file a run as another
 * uid left (0644 each, in a directory both may write, as the collector's with group write):
 * a DynamicUser unit's uid is not the same every night. */
static int as_another_user(const char *prom)
{
        struct metrics_run r = {.running = false, .start_s = 1700000000, .end_s = 1700000060,
                                .exit_status = 0};
        char text[4096];
        int fd;

        if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
                return 10;
        if (metrics_file_claim(prom, &fd) < 0)
                return 11;
        if (metrics_file_write(prom, &r) < 0)
                return 12;
        if (slurp(prom, text, sizeof(text)) < 0 || !strstr(text, "\nsluice_fill_run_running 0\n"))
                return 13;
        return 0;
}

TEST(files_another_uid_left)
{
        static const char *const names[] = {"fill.prom", "fill.prom.lock", "fill.prom.tmp"};
        char prom[128], p[128], text[4096];
        struct stat st;
        pid_t pid;
        int status;

        if (geteuid() != 0)
                TEST_SKIP_CASE("not root: cannot make files as one uid and run as another");
        scratch();
        ASSERT_EQ(chmod(dir, 0777), 0);
        path_in(prom, sizeof(prom), "fill.prom");
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
                path_in(p, sizeof(p), names[i]);
                int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
                ASSERT_TRUE(fd >= 0);
                ASSERT_EQ(write(fd, "old\n", 4), 4);
                ASSERT_EQ(fchown(fd, 65533, 65533), 0);
                close(fd);
        }
        pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0)
                _exit(as_another_user(prom));
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        ASSERT_TRUE(WIFEXITED(status));
        ASSERT_EQ(WEXITSTATUS(status), 0); /* 11: the lock refused; 12: the write */
        ASSERT_EQ(stat(prom, &st), 0);
        ASSERT_EQ(st.st_uid, 65534);
        ASSERT_EQ(slurp(prom, text, sizeof(text)), 0);
        ASSERT_TRUE(strstr(text, "sluice_fill_run_exit_status 0\n") != NULL);
        path_in(p, sizeof(p), "fill.prom.tmp");
        ASSERT_EQ(access(p, F_OK), -1); /* renamed over the file */
        tests_rm_rf(dir);
}

TEST_MAIN()
