/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests.h"

#include "progress.h"

#define SEC 1000000000ll

static void at(struct progress *p, struct progress_edge *e, int64_t t, uint64_t moved)
{
        e->bytes_moved = moved;
        progress_tick(p, t, true);
}

TEST(rate_over_the_last_samples)
{
        struct progress_edge e = {.id = "e1", .bytes_total = 100000000};
        struct progress p;

        progress_init(&p, PROGRESS_NONE, 100, &e, 1, 0);
        at(&p, &e, 1 * SEC, 0);
        at(&p, &e, 2 * SEC, 1000000);
        at(&p, &e, 3 * SEC, 2000000);
        /* 2,000,000 bytes over the 2 s since the first sample: 8 Mbit/s. */
        ASSERT_TRUE(progress_rate_bps(&e, 3 * SEC) > 7.99e6);
        ASSERT_TRUE(progress_rate_bps(&e, 3 * SEC) < 8.01e6);
}

/* A retry takes back the bytes of the failed attempt: the count falls below older samples.
 * The rate is then 0, never the wrapped difference of two unsigned counts. */
TEST(rate_after_bytes_taken_back_is_zero)
{
        struct progress_edge e = {.id = "e1", .bytes_total = 100000000};
        struct progress p;

        progress_init(&p, PROGRESS_JSON, 100, &e, 1, 0);
        at(&p, &e, 1 * SEC, 5000000);
        at(&p, &e, 2 * SEC, 6000000);
        e.bytes_moved = 1000000; /* a retry of a 5 MB attempt */
        ASSERT_TRUE(progress_rate_bps(&e, 3 * SEC) == 0.0);
        progress_tick(&p, 3 * SEC, true); /* and the JSON line for it stays in range */
        at(&p, &e, 4 * SEC, 9000000);
        ASSERT_TRUE(progress_rate_bps(&e, 4 * SEC) > 0);
}
/* What one forced tick writes (JSON lines on stdout, the bar on stderr), caught in a file. */
static void tick_into(struct progress *p, int64_t t, char *out, size_t cap)
{
        FILE *f = tmpfile();
        int fd = p->mode == PROGRESS_BAR ? 2 : 1, saved;
        size_t n;

        out[0] = '\0';
        if (!f)
                return;
        fflush(stdout);
        fflush(stderr);
        saved = dup(fd);
        dup2(fileno(f), fd);
        progress_tick(p, t, true);
        fflush(stdout);
        fflush(stderr);
        dup2(saved, fd);
        close(saved);
        rewind(f);
        n = fread(out, 1, cap - 1, f);
        out[n] = '\0';
        fclose(f);
}

/*
 * The ETA is the seconds left rounded to the nearest, in the JSON lines and the bar alike:
 * 1.6 s left at 8 Mbit/s is 2, not 1 (it was cut to whole seconds, so 2.0 s computed as
 * 1.99999 showed 1 and "ETA 0:01").
 */
TEST(eta_rounded_to_the_nearest_second)
{
        struct progress_edge e = {.id = "e1", .bytes_total = 2600000};
        struct progress p;
        char out[1024];

        progress_init(&p, PROGRESS_JSON, 100, &e, 1, 0);
        at(&p, &e, 1 * SEC, 0);
        e.bytes_moved = 1000000; /* 1,000,000 bytes in 1 s: 8 Mbit/s; 1,600,000 left: 1.6 s */
        tick_into(&p, 2 * SEC, out, sizeof(out));
        ASSERT_TRUE(strstr(out, "\"eta_s\":2") != NULL);

        p.mode = PROGRESS_BAR;
        e.bytes_moved = 1400000; /* 1,400,000 bytes over 2 s: 5.6 Mbit/s; 1.714 s left */
        tick_into(&p, 3 * SEC, out, sizeof(out));
        ASSERT_TRUE(strstr(out, "ETA 0:02") != NULL);

        /* 0.4 s left rounds to 0, and 59.6 s to a whole minute. */
        p.mode = PROGRESS_JSON;
        e.bytes_total = 1400000 + 280000; /* at 5.6 Mbit/s: 0.4 s */
        tick_into(&p, 3 * SEC, out, sizeof(out));
        ASSERT_TRUE(strstr(out, "\"eta_s\":0") != NULL);
        p.mode = PROGRESS_BAR;
        e.bytes_total = 1400000 + 41720000; /* at 5.6 Mbit/s: 59.6 s */
        tick_into(&p, 3 * SEC, out, sizeof(out));
        ASSERT_TRUE(strstr(out, "ETA 1:00") != NULL);
        progress_clear(&p);
}

/*
 * A run's first seconds may move a few bytes of a large queue: the ETA is then beyond what an
 * int holds in seconds, which the bar's seconds were cut to (2^31 and more was undefined,
 * read as -8 here: "ETA 53333333:-8"); beyond 1e15 s it is told as 1e15 s.
 */
TEST(eta_beyond_an_int_of_seconds)
{
        struct progress_edge e = {.id = "e1", .bytes_total = 800000000000ull};
        struct progress p;
        char out[1024];

        progress_init(&p, PROGRESS_BAR, 100, &e, 1, 0);
        at(&p, &e, 1 * SEC, 0);
        e.bytes_moved = 250; /* 2000 bit/s: 3,199,999,999 s left */
        tick_into(&p, 2 * SEC, out, sizeof(out));
        ASSERT_TRUE(strstr(out, "ETA 53333333:19") != NULL);
        /* 2^62 bytes at 2000 bit/s: 1.8e16 s, told as the most an ETA is, 1e15 s. */
        p.mode = PROGRESS_JSON;
        e.bytes_total = 1ull << 62;
        tick_into(&p, 2 * SEC, out, sizeof(out));
        ASSERT_TRUE(strstr(out, "\"eta_s\":1000000000000000,") ||
                    strstr(out, "\"eta_s\":1000000000000000}"));
        p.mode = PROGRESS_BAR;
        tick_into(&p, 2 * SEC, out, sizeof(out));
        ASSERT_TRUE(strstr(out, "ETA 16666666666666:40") != NULL);
        progress_clear(&p);
}
TEST_MAIN()
