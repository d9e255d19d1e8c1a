/* SPDX-License-Identifier: MIT */
/* Child processes of sluice-ingest (tools/ingest/proc.c), run directly (no exec guard). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "proc.h"
#include "tests.h"

/* An empty command line is refused before anything is opened or started. */
TEST(empty_argv_refused)
{
        char *none[] = {NULL};
        char *blank[] = {"", NULL};
        struct proc p;
        int lowest = open("/dev/null", O_RDONLY | O_CLOEXEC); /* the lowest free descriptor */

        ASSERT_TRUE(lowest >= 0);
        close(lowest);

        ASSERT_EQ(proc_spawn(&p, none), -EINVAL);
        ASSERT_EQ(p.out_fd, -1);
        ASSERT_EQ(p.err_fd, -1);
        ASSERT_EQ(p.pid, 0);
        ASSERT_EQ(proc_spawn(&p, blank), -EINVAL);
        ASSERT_EQ(proc_spawn(&p, NULL), -EINVAL);
        /* No pipe was left open: the lowest free descriptor is the same. */
        int after = open("/dev/null", O_RDONLY | O_CLOEXEC);
        ASSERT_EQ(after, lowest);
        close(after);
        proc_done(&p); /* closes nothing */
}

/* Through the guard, an empty command line would start the guard alone: refused too. */
TEST(empty_argv_refused_with_the_guard)
{
        char *none[] = {NULL};
        struct proc p;

        proc_guard_exe = "true"; /* stands in for sluice-ingest: starts and exits 0 */
        ASSERT_EQ(proc_spawn(&p, none), -EINVAL);
        ASSERT_EQ(p.pid, 0);
        proc_guard_exe = NULL;
}

TEST(capture_output_and_exit_code)
{
        char *ok[] = {"sh", "-c", "printf 'hello'; echo oops >&2; exit 3", NULL};
        char *out = NULL;
        const char *err = NULL;

        ASSERT_EQ(proc_capture(ok, 64, &out, &err), 3);
        ASSERT_STREQ(out, "hello");
        ASSERT_STREQ(err, "oops");
        free(out);
}

TEST(capture_refuses_output_past_its_limit)
{
        char *loud[] = {"sh", "-c", "printf '0123456789'", NULL};
        char *out = NULL;
        const char *err = NULL;

        ASSERT_EQ(proc_capture(loud, 9, &out, &err), -E2BIG);
        ASSERT_TRUE(out == NULL);
        ASSERT_EQ(proc_capture(loud, 10, &out, &err), 0);
        ASSERT_STREQ(out, "0123456789");
        free(out);
}

TEST(capture_of_nothing_refused)
{
        char *none[] = {NULL};
        char *out = NULL;
        const char *err = NULL;

        ASSERT_EQ(proc_capture(none, 64, &out, &err), -EINVAL);
        ASSERT_TRUE(out == NULL);
}

TEST_MAIN()
