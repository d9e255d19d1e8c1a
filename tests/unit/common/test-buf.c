/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "tests.h"

TEST(empty_buffer_holds_nothing)
{
        struct buf b;
        size_t len = 99;
        char *s;

        buf_init(&b, 100);
        ASSERT_TRUE(b.p == NULL);
        ASSERT_EQ(b.len, 0);
        ASSERT_EQ(b.err, 0);
        buf_done(&b); /* never written: nothing to free */
        s = buf_steal(&b, &len);
        ASSERT_TRUE(s != NULL);
        ASSERT_STREQ(s, "");
        ASSERT_EQ(len, 0);
        free(s);
        buf_done(&b);
}

TEST(append_keeps_bytes_and_a_nul)
{
        struct buf b;

        buf_init(&b, SIZE_MAX);
        ASSERT_EQ(buf_append(&b, "ab", 2), 0);
        ASSERT_EQ(buf_append(&b, "c\0d", 3), 0); /* bytes, not strings */
        ASSERT_EQ(buf_append_str(&b, "ef"), 0);
        ASSERT_EQ(buf_append(&b, NULL, 0), 0);
        ASSERT_MEMEQ(b.p, b.len, "abc\0def", 7);
        ASSERT_EQ(b.p[b.len], '\0');
        buf_done(&b);
        ASSERT_TRUE(b.p == NULL);
        ASSERT_EQ(b.len, 0);
        ASSERT_EQ(b.max, SIZE_MAX); /* the limit outlives the bytes */
}

/* Many small pieces and one large one: growth keeps every byte in order. */
TEST(append_grows)
{
        struct buf b;
        char big[10000];

        buf_init(&b, SIZE_MAX);
        for (int i = 0; i < 1000; i++)
                ASSERT_EQ(buf_append(&b, &"0123456789"[i % 10], 1), 0);
        memset(big, 'x', sizeof(big));
        ASSERT_EQ(buf_append(&b, big, sizeof(big)), 0);
        ASSERT_EQ(b.len, 11000);
        ASSERT_TRUE(b.cap > b.len);
        for (int i = 0; i < 1000; i++)
                ASSERT_EQ(b.p[i], "0123456789"[i % 10]);
        ASSERT_EQ(b.p[10999], 'x');
        ASSERT_EQ(b.p[11000], '\0');
        buf_done(&b);
}

TEST(printf_appends_any_length)
{
        struct buf b;
        char want[3000];

        buf_init(&b, SIZE_MAX);
        ASSERT_EQ(buf_printf(&b, "{\"n\":%d,", 42), 0);
        ASSERT_EQ(buf_printf(&b, "\"s\":\"%s\"}", "v"), 0);
        ASSERT_STREQ(b.p, "{\"n\":42,\"s\":\"v\"}");
        /* Longer than the room left, and than the first allocation: written whole. */
        memset(want, 'y', sizeof(want) - 1);
        want[sizeof(want) - 1] = '\0';
        buf_reset(&b);
        ASSERT_EQ(buf_printf(&b, "<%s>", want), 0);
        ASSERT_EQ(b.len, sizeof(want) + 1);
        ASSERT_EQ(b.p[0], '<');
        ASSERT_EQ(b.p[b.len - 1], '>');
        ASSERT_EQ(b.p[b.len], '\0');
        ASSERT_EQ(buf_printf(&b, "%s", ""), 0);
        ASSERT_EQ(b.len, sizeof(want) + 1);
        buf_done(&b);
}

/* The limit counts bytes held, not the NUL: exactly max fits, one more does not. */
TEST(limit_is_hard_and_latches)
{
        struct buf b;

        buf_init(&b, 8);
        ASSERT_EQ(buf_append(&b, "12345", 5), 0);
        ASSERT_EQ(buf_append(&b, "678", 3), 0);
        ASSERT_STREQ(b.p, "12345678");
        ASSERT_TRUE(b.cap <= 9); /* never allocates past what the limit can use */
        ASSERT_EQ(buf_append(&b, "9", 1), -ENOBUFS);
        ASSERT_EQ(b.err, -ENOBUFS);
        /* Latched: even an empty write fails, and nothing changes. */
        ASSERT_EQ(buf_append(&b, "", 0), -ENOBUFS);
        ASSERT_EQ(buf_printf(&b, "%d", 1), -ENOBUFS);
        ASSERT_EQ(buf_reserve(&b, 0), -ENOBUFS);
        ASSERT_STREQ(b.p, "12345678");
        ASSERT_TRUE(buf_steal(&b, NULL) == NULL);
        buf_reset(&b);
        ASSERT_EQ(b.err, 0);
        ASSERT_EQ(b.len, 0);
        ASSERT_STREQ(b.p, "");
        ASSERT_EQ(buf_append(&b, "abc", 3), 0);
        ASSERT_STREQ(b.p, "abc");
        buf_done(&b);
}

TEST(printf_over_the_limit_appends_nothing)
{
        struct buf b;

        buf_init(&b, 10);
        ASSERT_EQ(buf_append(&b, "ab", 2), 0);
        ASSERT_EQ(buf_printf(&b, "%s", "0123456789"), -ENOBUFS);
        ASSERT_EQ(b.len, 2);
        ASSERT_STREQ(b.p, "ab"); /* the cut-short attempt left no trace */
        buf_done(&b);

        buf_init(&b, 3);
        ASSERT_EQ(buf_printf(&b, "%d", 1234), -ENOBUFS);
        ASSERT_EQ(b.len, 0);
        buf_done(&b);
}

/* A reservation too large for the limit, or for any address space, fails cleanly. */
TEST(reserve_checks_before_allocating)
{
        struct buf b;

        buf_init(&b, 100);
        ASSERT_EQ(buf_reserve(&b, 50), 0);
        ASSERT_TRUE(b.cap >= 51);
        ASSERT_EQ(b.len, 0);
        ASSERT_STREQ(b.p, "");
        ASSERT_EQ(buf_append(&b, "x", 1), 0);
        ASSERT_EQ(buf_reserve(&b, SIZE_MAX), -ENOBUFS);
        buf_done(&b);

        buf_init(&b, SIZE_MAX);
        ASSERT_EQ(buf_append(&b, "x", 1), 0);
        ASSERT_EQ(buf_reserve(&b, SIZE_MAX - 1), -ENOMEM); /* no room for the NUL */
        ASSERT_EQ(b.err, -ENOMEM);
        ASSERT_EQ(b.len, 1);
        buf_done(&b);
}

TEST(steal_hands_over_and_empties)
{
        struct buf b;
        size_t len = 0;
        char *s;

        buf_init(&b, 64);
        ASSERT_EQ(buf_printf(&b, "%s-%u", "key", 7u), 0);
        s = buf_steal(&b, &len);
        ASSERT_STREQ(s, "key-7");
        ASSERT_EQ(len, 5);
        ASSERT_TRUE(b.p == NULL);
        ASSERT_EQ(b.len, 0);
        ASSERT_EQ(b.max, 64);
        free(s);
        ASSERT_EQ(buf_append(&b, "again", 5), 0);
        ASSERT_STREQ(b.p, "again");
        buf_done(&b);
}

TEST(truncate_takes_back_and_fail_latches_first)
{
        struct buf b;

        buf_init(&b, SIZE_MAX);
        buf_truncate(&b, 0); /* never written: nothing to take back */
        ASSERT_EQ(buf_append_str(&b, "abcdef"), 0);
        buf_truncate(&b, 9); /* past the end: unchanged */
        ASSERT_STREQ(b.p, "abcdef");
        buf_truncate(&b, 2);
        ASSERT_EQ(b.len, 2);
        ASSERT_STREQ(b.p, "ab");
        ASSERT_EQ(buf_fail(&b, -EINVAL), -EINVAL);
        ASSERT_EQ(buf_fail(&b, -ENOMEM), -EINVAL); /* the first one stays */
        ASSERT_EQ(buf_append_str(&b, "x"), -EINVAL);
        ASSERT_STREQ(b.p, "ab");
        ASSERT_TRUE(buf_steal(&b, NULL) == NULL);
        buf_done(&b);
}

TEST(consume_drops_the_front_and_keeps_the_rest)
{
        struct buf b;

        buf_init(&b, 8);
        buf_consume(&b, 3); /* never written: nothing to drop */
        ASSERT_EQ(b.len, 0);
        ASSERT_EQ(buf_append_str(&b, "GET1GET2"), 0);
        buf_consume(&b, 4);
        ASSERT_EQ(b.len, 4);
        ASSERT_STREQ(b.p, "GET2");
        /* the room consumed counts again against the limit */
        ASSERT_EQ(buf_append_str(&b, "GET3"), 0);
        ASSERT_STREQ(b.p, "GET2GET3");
        ASSERT_EQ(buf_append_str(&b, "x"), -ENOBUFS);
        buf_consume(&b, 99);
        ASSERT_EQ(b.len, 0);
        ASSERT_STREQ(b.p, "");
        buf_done(&b);
}

TEST(a_wiping_buffer_leaves_no_copy_behind)
{
        static const char zero[16];
        struct buf b;

        buf_init(&b, 64);
        b.wipe = true;
        ASSERT_EQ(buf_append_str(&b, "key=secret-bytes"), 0);
        /* What moved to the front left nothing past the new end, */
        buf_consume(&b, 4);
        ASSERT_STREQ(b.p, "secret-bytes");
        ASSERT_MEMEQ(b.p + b.len, 4, zero, 4);
        /* nor what was cut off, */
        buf_truncate(&b, 6);
        ASSERT_STREQ(b.p, "secret");
        ASSERT_MEMEQ(b.p + b.len, 6, zero, 6);
        /* nor what an emptied buffer held; and the flag outlives its memory. */
        buf_reset(&b);
        ASSERT_MEMEQ(b.p, 6, zero, 6);
        ASSERT_EQ(buf_append(&b, "x", 1), 0);
        buf_done(&b);
        ASSERT_TRUE(b.wipe);
        ASSERT_EQ(buf_append_str(&b, "again"), 0);
        ASSERT_EQ(buf_reserve(&b, 40), 0); /* grown through a copy: the old block was cleared */
        ASSERT_STREQ(b.p, "again");
        buf_done(&b);
}

TEST_MAIN()
