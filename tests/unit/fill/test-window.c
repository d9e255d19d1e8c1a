/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "tests.h"

#include "window.h"

static time_t utc(const char *s)
{
        time_t t = 0;
        (void)window_now_parse(s, &t);
        return t;
}

TEST(window_parse_good_and_bad)
{
        struct window w;
        ASSERT_EQ(window_parse("02:00-14:00", &w), 0);
        ASSERT_EQ(w.start_min, 120);
        ASSERT_EQ(w.end_min, 840);
        ASSERT_EQ(window_parse("22:30-06:00", &w), 0);
        ASSERT_EQ(window_parse("00:00-24:00", &w), 0);
        ASSERT_EQ(window_parse("25:00-02:00", &w), -EINVAL);
        ASSERT_EQ(window_parse("02:00-02:00", &w), -EINVAL);
        ASSERT_EQ(window_parse("2:00-14:00", &w), -EINVAL);
        ASSERT_EQ(window_parse("02:00 14:00", &w), -EINVAL);
        ASSERT_EQ(window_parse("02:60-14:00", &w), -EINVAL);
        ASSERT_EQ(window_parse("", &w), -EINVAL);
}

/* 24:00 is the end of a day: read as a start of 00:00, "24:00-24:00" was an all-day window
 * while "00:00-00:00" was refused. */
TEST(window_24_00_only_as_an_end)
{
        struct window w;
        ASSERT_EQ(window_parse("24:00-24:00", &w), -EINVAL);
        ASSERT_EQ(window_parse("24:00-06:00", &w), -EINVAL);
        ASSERT_EQ(window_parse("00:00-00:00", &w), -EINVAL);
        ASSERT_EQ(window_parse("22:00-24:00", &w), 0);
        ASSERT_EQ(w.end_min, 24 * 60);
        ASSERT_EQ(window_parse("00:00-24:00", &w), 0);
        ASSERT_EQ(w.start_min, 0);
        ASSERT_EQ(w.end_min, 24 * 60);
}

TEST(window_inside_outside_utc)
{
        struct window w;
        int64_t wait, left;
        ASSERT_EQ(window_parse("02:00-14:00", &w), 0);
        ASSERT_TRUE(!window_check(&w, "UTC", utc("2030-01-01T01:00:00Z"), &wait, &left));
        ASSERT_EQ(wait, 3600);
        ASSERT_TRUE(window_check(&w, "UTC", utc("2030-01-01T02:00:00Z"), &wait, &left));
        ASSERT_EQ(left, 12 * 3600);
        ASSERT_TRUE(!window_check(&w, "UTC", utc("2030-01-01T14:00:00Z"), &wait, &left));
        ASSERT_EQ(wait, 12 * 3600);
}

TEST(window_wraps_midnight)
{
        struct window w;
        int64_t wait, left;
        ASSERT_EQ(window_parse("22:00-06:00", &w), 0);
        ASSERT_TRUE(window_check(&w, "UTC", utc("2030-01-01T23:30:00Z"), &wait, &left));
        ASSERT_EQ(left, 6 * 3600 + 1800);
        ASSERT_TRUE(window_check(&w, "UTC", utc("2030-01-01T05:59:59Z"), &wait, &left));
        ASSERT_TRUE(!window_check(&w, "UTC", utc("2030-01-01T06:00:00Z"), &wait, &left));
        ASSERT_EQ(wait, 16 * 3600);
}

TEST(window_in_the_edge_zone)
{
        struct window w;
        int64_t wait, left;
        ASSERT_EQ(window_parse("02:00-14:00", &w), 0);
        /* 18:00 UTC = 03:00 in Tokyo (UTC+9, no DST). */
        ASSERT_TRUE(window_check(&w, "Asia/Tokyo", utc("2030-01-01T18:00:00Z"), &wait, &left));
        ASSERT_TRUE(!window_check(&w, "UTC", utc("2030-01-01T18:00:00Z"), &wait, &left));
        /* Summer time: 01:30 UTC is 03:30 in Paris in July. */
        ASSERT_TRUE(window_check(&w, "Europe/Paris", utc("2030-07-01T01:30:00Z"), &wait, &left));
        ASSERT_TRUE(!window_check(&w, "Europe/Paris", utc("2030-01-01T00:30:00Z"), &wait, &left));
}

/* The seconds to the window's edge are real seconds, not a difference of wall-clock times: on
 * the nights the clocks change the two differ by an hour (Europe/London, 2030: forward at
 * 01:00 UTC on 31 March, back at 01:00 UTC on 27 October). */
TEST(window_across_clock_changes)
{
        struct window w;
        int64_t wait, left;
        ASSERT_EQ(window_parse("00:30-03:30", &w), 0);
        /* 00:30 GMT to 03:30 BST (02:30 UTC): two hours. */
        ASSERT_TRUE(window_check(&w, "Europe/London", utc("2030-03-31T00:30:00Z"), &wait, &left));
        ASSERT_EQ(left, 2 * 3600);
        /* 00:30 BST (23:30 UTC) to 03:30 GMT (03:30 UTC): four hours. */
        ASSERT_TRUE(window_check(&w, "Europe/London", utc("2030-10-26T23:30:00Z"), &wait, &left));
        ASSERT_EQ(left, 4 * 3600);
        ASSERT_EQ(window_parse("03:00-05:00", &w), 0);
        /* 23:00 GMT on the Saturday to 03:00 BST (02:00 UTC): three hours. */
        ASSERT_TRUE(!window_check(&w, "Europe/London", utc("2030-03-30T23:00:00Z"), &wait, &left));
        ASSERT_EQ(wait, 3 * 3600);
        /* 23:00 BST (22:00 UTC) on the Saturday to 03:00 GMT (03:00 UTC): five hours. */
        ASSERT_TRUE(!window_check(&w, "Europe/London", utc("2030-10-26T22:00:00Z"), &wait, &left));
        ASSERT_EQ(wait, 5 * 3600);
        /* Days without a change are as before: 22:00 GMT to 03:00 GMT. */
        ASSERT_TRUE(!window_check(&w, "Europe/London", utc("2030-01-05T22:00:00Z"), &wait, &left));
        ASSERT_EQ(wait, 5 * 3600);
}

TEST(window_in_the_repeated_hour)
{
        struct window w;
        int64_t wait, left;

        /* Europe/London, 2030-10-27: 02:00 BST (01:00 UTC) goes back to 01:00 GMT. */
        ASSERT_EQ(window_parse("01:00-01:30", &w), 0);
        /* 01:45 BST, the first pass: the window opens again at 01:00 GMT, 15 minutes on. */
        ASSERT_TRUE(!window_check(&w, "Europe/London", utc("2030-10-27T00:45:00Z"), &wait, &left));
        ASSERT_EQ(wait, 15 * 60);
        /* 01:10 GMT, the second pass: open until 01:30 GMT. */
        ASSERT_TRUE(window_check(&w, "Europe/London", utc("2030-10-27T01:10:00Z"), &wait, &left));
        ASSERT_EQ(left, 20 * 60);
        /* 01:10 BST, the first pass: open until 01:30 BST, the first 01:30. */
        ASSERT_TRUE(window_check(&w, "Europe/London", utc("2030-10-27T00:10:00Z"), &wait, &left));
        ASSERT_EQ(left, 20 * 60);
        ASSERT_EQ(window_parse("01:30-02:00", &w), 0);
        /* 00:50 BST (23:50 UTC the day before): the first 01:30, 40 minutes on. */
        ASSERT_TRUE(!window_check(&w, "Europe/London", utc("2030-10-26T23:50:00Z"), &wait, &left));
        ASSERT_EQ(wait, 40 * 60);
        /* 01:35 GMT: open until 02:00 GMT. */
        ASSERT_TRUE(window_check(&w, "Europe/London", utc("2030-10-27T01:35:00Z"), &wait, &left));
        ASSERT_EQ(left, 25 * 60);
        /* 02:05 GMT, past both 01:30s: tomorrow's. */
        ASSERT_TRUE(!window_check(&w, "Europe/London", utc("2030-10-27T02:05:00Z"), &wait, &left));
        ASSERT_EQ(wait, 24 * 3600 - 35 * 60);
        ASSERT_EQ(window_parse("02:00-03:00", &w), 0);
        /* 01:45 BST: 02:00 comes once, as GMT, 75 minutes on. */
        ASSERT_TRUE(!window_check(&w, "Europe/London", utc("2030-10-27T00:45:00Z"), &wait, &left));
        ASSERT_EQ(wait, 75 * 60);
}

/*
 * Europe/London, 2030-03-31: at 01:00 UTC the clock goes from 00:59:59 GMT to 02:00 BST, so
 * 01:00-02:00 is not read that night. A window edge there is the instant the clock jumps
 * past it, the gap's end (01:00 UTC), for a start and an end alike: mktime placed it as far
 * past the gap as it lay inside, an hour late (01:30 as 02:30 BST, 01:30 UTC).
 */
TEST(window_in_the_skipped_hour)
{
        struct window w;
        int64_t wait, left;

        ASSERT_EQ(window_parse("01:30-03:30", &w), 0);
        /* 00:59:50 GMT: the clock reads 02:00 BST, inside, 10 s on. */
        ASSERT_TRUE(!window_check(&w, "Europe/London", utc("2030-03-31T00:59:50Z"), &wait, &left));
        ASSERT_EQ(wait, 10);
        /* The evening before (23:00 GMT): tomorrow's start, the same instant. */
        ASSERT_TRUE(!window_check(&w, "Europe/London", utc("2030-03-30T23:00:00Z"), &wait, &left));
        ASSERT_EQ(wait, 2 * 3600);
        /* 02:00 BST, the gap's end: open until 03:30 BST (02:30 UTC). */
        ASSERT_TRUE(window_check(&w, "Europe/London", utc("2030-03-31T01:00:00Z"), &wait, &left));
        ASSERT_EQ(left, 90 * 60);
        /* An end in the gap closes the window where the gap ends. */
        ASSERT_EQ(window_parse("22:00-01:30", &w), 0);
        ASSERT_TRUE(window_check(&w, "Europe/London", utc("2030-03-31T00:59:50Z"), &wait, &left));
        ASSERT_EQ(left, 10);
        ASSERT_TRUE(window_check(&w, "Europe/London", utc("2030-03-30T23:00:00Z"), &wait, &left));
        ASSERT_EQ(left, 2 * 3600);
        /* 02:00 BST: closed; it opens at 22:00 BST (21:00 UTC). */
        ASSERT_TRUE(!window_check(&w, "Europe/London", utc("2030-03-31T01:00:00Z"), &wait, &left));
        ASSERT_EQ(wait, 20 * 3600);
        /* The skipped hour's start, 01:00, is the gap's end too: a window 01:00-02:00 is
         * empty that night, and is waited for until the clock passes 01:00 at 01:00 UTC. */
        ASSERT_EQ(window_parse("01:00-02:00", &w), 0);
        ASSERT_TRUE(!window_check(&w, "Europe/London", utc("2030-03-31T00:30:00Z"), &wait, &left));
        ASSERT_EQ(wait, 30 * 60);
        /* A day later the hour is there again. */
        ASSERT_EQ(window_parse("01:30-03:30", &w), 0);
        ASSERT_TRUE(!window_check(&w, "Europe/London", utc("2030-04-01T00:00:00Z"), &wait, &left));
        ASSERT_EQ(wait, 30 * 60);
        /* The autumn fold, from the evening before: the first 01:00 (BST, 00:00 UTC). */
        ASSERT_EQ(window_parse("01:00-01:30", &w), 0);
        ASSERT_TRUE(!window_check(&w, "Europe/London", utc("2030-10-26T22:00:00Z"), &wait, &left));
        ASSERT_EQ(wait, 2 * 3600);
}

TEST(window_now_formats)
{
        time_t t;
        ASSERT_EQ(window_now_parse("@1700000000", &t), 0);
        ASSERT_EQ((long long)t, 1700000000);
        ASSERT_EQ(window_now_parse("1970-01-01T00:01Z", &t), 0);
        ASSERT_EQ((long long)t, 60);
        ASSERT_EQ(window_now_parse("2030-13-01T00:00:00Z", &t), -EINVAL);
        ASSERT_EQ(window_now_parse("2030-01-01T00:00:00", &t), -EINVAL);
        ASSERT_EQ(window_now_parse("@", &t), -EINVAL);
        /* Days a month does not have are refused, not moved on into the next month. */
        ASSERT_EQ(window_now_parse("2030-02-31T01:00Z", &t), -EINVAL);
        ASSERT_EQ(window_now_parse("2030-02-29T01:00Z", &t), -EINVAL);
        ASSERT_EQ(window_now_parse("2030-04-31T01:00Z", &t), -EINVAL);
        ASSERT_EQ(window_now_parse("2028-02-29T01:00Z", &t), 0);
        ASSERT_EQ(window_now_parse("2030-12-31T23:59:59Z", &t), 0);
}

TEST(window_zone_must_be_a_zone_file)
{
        ASSERT_TRUE(window_tz_ok("Europe/London"));
        ASSERT_TRUE(window_tz_ok("UTC"));
        ASSERT_TRUE(window_tz_ok("/usr/share/zoneinfo/Asia/Tokyo"));
        ASSERT_TRUE(window_tz_ok(NULL));
        ASSERT_TRUE(window_tz_ok(""));
        ASSERT_TRUE(!window_tz_ok("Europe/Pari"));
        /* Regular files that are not compiled zones: glibc would read them as UTC. */
        ASSERT_TRUE(!window_tz_ok("/etc/passwd"));
        ASSERT_TRUE(!window_tz_ok("zone.tab"));
        ASSERT_TRUE(!window_tz_ok("/usr/share/zoneinfo"));
        ASSERT_TRUE(!window_tz_ok("../../etc/passwd"));
}

TEST(window_fake_clock_runs_on)
{
        window_clock_fake(1000);
        time_t a = window_clock();
        ASSERT_TRUE(a >= 1000 && a <= 1001);
}

TEST_MAIN()
