/* SPDX-License-Identifier: MIT */
/* fetch_token_read: a token or secret file's first line, whole or refused, never cut short. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scratch.h"
#include "tests.h"

#include "fetch.h"

/* Write text (len bytes) to a scratch file and read it back as a token. */
static int read_back(const char *text, size_t len, char **ret)
{
        char *dir = tests_scratch("sluice-fetch");
        char path[128];
        FILE *f;
        int r;

        *ret = NULL;
        (void)snprintf(path, sizeof(path), "%s/token", dir);
        f = fopen(path, "w");
        if (!f || fwrite(text, 1, len, f) != len || fclose(f) != 0) {
                perror(path);
                exit(1);
        }
        r = fetch_token_read(path, ret);
        tests_rm_rf(dir);
        return r;
}

/* A token of n 'a's followed by end ("", "\n", "\r\n", "\nmore"). */
static int read_token_of(size_t n, const char *end, char **ret)
{
        size_t elen = strlen(end);
        char *s = malloc(n + elen + 1);
        int r;

        if (!s)
                exit(1);
        memset(s, 'a', n);
        memcpy(s + n, end, elen + 1);
        r = read_back(s, n + elen, ret);
        free(s);
        return r;
}

TEST(first_line_without_its_end)
{
        char *t;

        ASSERT_EQ(read_back("abc\n", 4, &t), 0);
        ASSERT_STREQ(t, "abc");
        free(t);
        ASSERT_EQ(read_back("abc\r\nsecond line\n", 17, &t), 0);
        ASSERT_STREQ(t, "abc");
        free(t);
        ASSERT_EQ(read_back("abc", 3, &t), 0);
        ASSERT_STREQ(t, "abc");
        free(t);
}

TEST(empty_is_refused)
{
        char *t;

        ASSERT_EQ(read_back("", 0, &t), -ENODATA);
        ASSERT_EQ(read_back("\n", 1, &t), -ENODATA);
        ASSERT_STREQ(fetch_token_strerror(-ENODATA), "empty");
}

TEST(longest_token_is_read_whole)
{
        const char *ends[] = {"", "\n", "\r\n", "\nmore"};

        for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++) {
                char *t;
                ASSERT_EQ(read_token_of(FETCH_TOKEN_MAX, ends[i], &t), 0);
                ASSERT_EQ(strlen(t), FETCH_TOKEN_MAX);
                free(t);
        }
}

TEST(longer_token_is_refused_not_cut)
{
        const char *ends[] = {"", "\n", "\r\n", "\nmore"};

        for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++) {
                char *t;
                ASSERT_EQ(read_token_of(FETCH_TOKEN_MAX + 1, ends[i], &t), -EMSGSIZE);
                ASSERT_TRUE(t == NULL);
                ASSERT_EQ(read_token_of(4096, ends[i], &t), -EMSGSIZE);
        }
        ASSERT_STREQ(fetch_token_strerror(-EMSGSIZE), "longer than 1000 bytes");
}

/* Read as a string, the token ended at a NUL and its prefix was taken. */
TEST(nul_byte_is_refused)
{
        char *t;

        ASSERT_EQ(read_back("abc\0def\n", 8, &t), -EILSEQ);
        ASSERT_TRUE(t == NULL);
        ASSERT_EQ(read_back("\0abc\n", 5, &t), -EILSEQ);
        ASSERT_EQ(read_back("abc\ndef\0\n", 9, &t), 0); /* the first line alone is read */
        ASSERT_STREQ(t, "abc");
        free(t);
        ASSERT_STREQ(fetch_token_strerror(-EILSEQ), "its first line holds a NUL byte");
}

TEST_MAIN()
