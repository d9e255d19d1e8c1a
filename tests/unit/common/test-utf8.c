/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "tests.h"
#include "utf8.h"

#define LEN(s) (sizeof(s) - 1)

TEST(sequences)
{
        ASSERT_EQ(utf8_seq_len("a", 1), 1);
        ASSERT_EQ(utf8_seq_len("", 0), 0);
        ASSERT_EQ(utf8_seq_len("\xc3\xa9", 2), 2);         /* U+00E9 */
        ASSERT_EQ(utf8_seq_len("\xe2\x82\xac", 3), 3);     /* U+20AC */
        ASSERT_EQ(utf8_seq_len("\xf0\x9f\x8e\xac", 4), 4); /* U+1F3AC */
        ASSERT_EQ(utf8_seq_len("\xf4\x8f\xbf\xbf", 4), 4); /* U+10FFFF */
        ASSERT_EQ(utf8_seq_len("\xef\xbf\xbd", 3), 3);     /* U+FFFD */
        ASSERT_EQ(utf8_seq_len("\xff", 1), 0);             /* never a lead byte */
        ASSERT_EQ(utf8_seq_len("\x80", 1), 0);             /* a continuation alone */
        ASSERT_EQ(utf8_seq_len("\xc0\xaf", 2), 0);         /* overlong '/' */
        ASSERT_EQ(utf8_seq_len("\xe0\x80\xaf", 3), 0);     /* overlong '/' */
        ASSERT_EQ(utf8_seq_len("\xf0\x80\x80\xaf", 4), 0); /* overlong '/' */
        ASSERT_EQ(utf8_seq_len("\xed\xa0\x80", 3), 0);     /* U+D800, a surrogate */
        ASSERT_EQ(utf8_seq_len("\xf4\x90\x80\x80", 4), 0); /* past U+10FFFF */
        ASSERT_EQ(utf8_seq_len("\xe2\x82", 2), 0);         /* cut by the end */
        ASSERT_EQ(utf8_seq_len("\xe2\x82\xac", 2), 0);     /* cut by n, not by the text */
        ASSERT_EQ(utf8_seq_len("\xe2\x41\xac", 3), 0);     /* cut by an ASCII byte */
}

TEST(strings)
{
        ASSERT_TRUE(utf8_valid("", 0));
        ASSERT_TRUE(utf8_valid("/t1/video-720p/seg-1.m4s", LEN("/t1/video-720p/seg-1.m4s")));
        ASSERT_TRUE(utf8_valid("/caf\xc3\xa9/\xe2\x82\xac", LEN("/caf\xc3\xa9/\xe2\x82\xac")));
        ASSERT_TRUE(!utf8_valid("/\xff/x", LEN("/\xff/x")));
        ASSERT_TRUE(!utf8_valid("/x\xc3", LEN("/x\xc3")));
        /* a NUL is a character like any other: lengths, not terminators */
        ASSERT_TRUE(utf8_valid("a\0b", 3));
}

TEST_MAIN()
