/* SPDX-License-Identifier: MIT */
#include "http-range.h"
#include "tests.h"

static struct http_range rg;

static enum http_range_result parse(const char *s, uint64_t size)
{
        rg.first = rg.last = 0xdead;
        return http_range_parse(s, strlen(s), size, &rg);
}

#define SINGLE(s, size, a, b)                                                                      \
        do {                                                                                       \
                ASSERT_EQ(parse(s, size), HTTP_RANGE_SINGLE);                                      \
                ASSERT_EQ(rg.first, a);                                                            \
                ASSERT_EQ(rg.last, b);                                                             \
        } while (0)

TEST(single_forms)
{
        SINGLE("bytes=0-499", 1000, 0, 499);
        SINGLE("bytes=500-999", 1000, 500, 999);
        SINGLE("bytes=500-", 1000, 500, 999);
        SINGLE("bytes=-500", 1000, 500, 999);
        SINGLE("bytes=0-0", 1000, 0, 0);
        SINGLE("bytes=999-999", 1000, 999, 999);
        SINGLE("BYTES=0-1", 1000, 0, 1);
        SINGLE("Bytes=0-1", 1000, 0, 1);
}

TEST(clamping)
{
        SINGLE("bytes=0-5000", 1000, 0, 999);          /* last clamped to size-1 */
        SINGLE("bytes=990-9999999999", 1000, 990, 999);
        SINGLE("bytes=-5000", 1000, 0, 999);           /* suffix longer than size: whole */
        SINGLE("bytes=-1000", 1000, 0, 999);
        SINGLE("bytes=0-9999999999999999999", 10, 0, 9);
        SINGLE("bytes=9999999999999999999-", 18446744073709551615ULL, 9999999999999999999ULL,
               18446744073709551614ULL);
        /* numbers past uint64_t: a last position past the end, a suffix longer than any */
        SINGLE("bytes=0-99999999999999999999", 1000, 0, 999);
        SINGLE("bytes=5-" "99999999999999999999999999999999999999", 1000, 5, 999);
        SINGLE("bytes=-99999999999999999999", 1000, 0, 999);
        SINGLE("bytes=00000000000000000001-2", 1000, 1, 2);
}

TEST(unsatisfiable)
{
        ASSERT_EQ(parse("bytes=1000-", 1000), HTTP_RANGE_UNSATISFIABLE);
        ASSERT_EQ(parse("bytes=1000-2000", 1000), HTTP_RANGE_UNSATISFIABLE);
        ASSERT_EQ(parse("bytes=5000-6000, 7000-", 1000), HTTP_RANGE_UNSATISFIABLE);
        ASSERT_EQ(parse("bytes=-0", 1000), HTTP_RANGE_UNSATISFIABLE);
        /* an empty object has no satisfiable range */
        ASSERT_EQ(parse("bytes=0-", 0), HTTP_RANGE_UNSATISFIABLE);
        ASSERT_EQ(parse("bytes=-10", 0), HTTP_RANGE_UNSATISFIABLE);
        ASSERT_EQ(parse("bytes=0-0", 0), HTTP_RANGE_UNSATISFIABLE);
        ASSERT_EQ(parse("bytes=99999999999999999999-", 1000), HTTP_RANGE_UNSATISFIABLE);
}

TEST(lists)
{
        /* one satisfiable spec among unsatisfiable ones is a single range */
        SINGLE("bytes=5000-6000, 10-19", 1000, 10, 19);
        SINGLE("bytes=10-19,5000-", 1000, 10, 19);
        SINGLE("bytes= 10-19 ,\t,  ", 1000, 10, 19);
        SINGLE("bytes=,,10-19", 1000, 10, 19);
        /* several satisfiable: whole object by policy */
        ASSERT_EQ(parse("bytes=0-9,20-29", 1000), HTTP_RANGE_MULTI);
        ASSERT_EQ(parse("bytes=0-9, -10", 1000), HTTP_RANGE_MULTI);
        ASSERT_EQ(parse("bytes=0-9,0-9", 1000), HTTP_RANGE_MULTI);
        ASSERT_EQ(parse("bytes=0-0,1-1,2-2,3-3", 1000), HTTP_RANGE_MULTI);
}

TEST(invalid_is_ignored)
{
        static const char *bad[] = {
                "",           "bytes",        "bytes=",        "bytes=,",       "bytes=-",
                "bytes=a-b",  "bytes=5-4",    "bytes=1-2-3",   "bytes=1--2",    "bytes=--1",
                "bytes =0-1", "bytes= 0 - 1", "bytes=0-1;x",   "bytes=+1-2",    "bytes=0x1-2",
                "items=0-1",  "bytes:0-1",    "bytes=0-1,x",   "bytes=1",       "byte=0-1",
                "bytes=0-1 2", "bytes=-1-2",  "bytes=0 -1",    "bytes=1.5-2",
                "bytes=20000000000000000000-1", /* last < first, however large */
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                if (parse(bad[i], 1000) != HTTP_RANGE_NONE)
                        TEST_FAIL_AT("'%s' not ignored", bad[i]);
        }
        ASSERT_EQ(http_range_parse(NULL, 0, 100, &rg), HTTP_RANGE_NONE);
}

TEST(limits)
{
        char buf[2048];
        size_t n = (size_t)snprintf(buf, sizeof(buf), "bytes=");
        /* HTTP_RANGE_MAX_SPECS specs: fine; one more: ignored */
        for (int i = 0; i < HTTP_RANGE_MAX_SPECS; i++)
                n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%d-%d", i ? "," : "", i * 10,
                                      i * 10 + 1);
        ASSERT_EQ(http_range_parse(buf, n, 100000, &rg), HTTP_RANGE_MULTI);
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, ",999-1000");
        ASSERT_EQ(http_range_parse(buf, n, 100000, &rg), HTTP_RANGE_NONE);

        /* a value over 1024 bytes is ignored even if valid */
        n = (size_t)snprintf(buf, sizeof(buf), "bytes=0-1");
        while (n < 1025)
                buf[n++] = ' ';
        ASSERT_EQ(http_range_parse(buf, 1024, 1000, &rg), HTTP_RANGE_SINGLE);
        ASSERT_EQ(http_range_parse(buf, 1025, 1000, &rg), HTTP_RANGE_NONE);
}

TEST(null_ret)
{
        ASSERT_EQ(http_range_parse("bytes=0-1", 9, 10, NULL), HTTP_RANGE_SINGLE);
}

TEST_MAIN()
