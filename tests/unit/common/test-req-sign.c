/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "tests.h"
#include "req-sign.h"

#define KEY  "0123456789abcdef0123456789abcdef"
#define PATH "/v1/edges/edge-a/heartbeat"
#define BODY "{\"load\":0.5}"
/* HMAC-SHA256(KEY, "POST\n" PATH "\n1764307800123\n" BODY), computed independently. */
#define SIG "fcb517cd3c251fa9585408129929771a94c07c6d7ea9a393a19753d235845481"

TEST(known_vector)
{
        char out[REQ_SIGN_HEX + 1];

        ASSERT_EQ(req_sign(KEY, 32, "POST", PATH, 1764307800123, BODY, strlen(BODY), out), 0);
        ASSERT_STREQ(out, SIG);
        /* An empty body is signed as nothing after the last newline. */
        ASSERT_EQ(req_sign(KEY, 32, "POST", PATH, 0, NULL, 0, out), 0);
        ASSERT_STREQ(out, "dff5f90cdf352146a12a98b1f927c6a13156c1e1e9b3777df94018874a0f7f0d");
}

TEST(header_lines)
{
        char lines[2][REQ_SIGN_LINE_MAX];
        const char *t, *sig;
        int64_t ms;

        ASSERT_EQ(req_sign_headers(KEY, 32, "POST", PATH, BODY, strlen(BODY), lines[0], lines[1]),
                  0);
        ASSERT_TRUE(strncmp(lines[0], REQ_SIGN_TIME_HEADER ": ", strlen(REQ_SIGN_TIME_HEADER) + 2) ==
                    0);
        ASSERT_TRUE(strncmp(lines[1], REQ_SIGN_SIG_HEADER ": ", strlen(REQ_SIGN_SIG_HEADER) + 2) ==
                    0);
        t = lines[0] + strlen(REQ_SIGN_TIME_HEADER) + 2;
        sig = lines[1] + strlen(REQ_SIGN_SIG_HEADER) + 2;
        ASSERT_EQ(req_sign_time_parse(t, strlen(t), &ms), 0);
        ASSERT_TRUE(ms > 1764307800123); /* the wall clock, in milliseconds */
        ASSERT_EQ(strlen(sig), REQ_SIGN_HEX);
        ASSERT_EQ(req_sign_verify(KEY, 32, "POST", PATH, ms, BODY, strlen(BODY), sig, strlen(sig)),
                  0);
        ASSERT_EQ(req_sign_headers("short", 5, "GET", PATH, NULL, 0, lines[0], lines[1]), -EINVAL);
}

TEST(verify)
{
        ASSERT_EQ(
            req_sign_verify(KEY, 32, "POST", PATH, 1764307800123, BODY, strlen(BODY), SIG, 64), 0);
        /* Upper-case hex is the same signature. */
        char upper[] = SIG;
        for (char *p = upper; *p; p++)
                if (*p >= 'a' && *p <= 'f')
                        *p = (char)(*p - 'a' + 'A');
        ASSERT_EQ(
            req_sign_verify(KEY, 32, "POST", PATH, 1764307800123, BODY, strlen(BODY), upper, 64),
            0);
}

TEST(every_input_counts)
{
        const char *other_key = "0123456789abcdef0123456789abcdeF";

        ASSERT_EQ(req_sign_verify(other_key, 32, "POST", PATH, 1764307800123, BODY, strlen(BODY),
                                  SIG, 64),
                  -EPERM);
        ASSERT_EQ(req_sign_verify(KEY, 32, "PUT", PATH, 1764307800123, BODY, strlen(BODY), SIG, 64),
                  -EPERM);
        ASSERT_EQ(req_sign_verify(KEY, 32, "POST", "/v1/edges/edge-b/heartbeat", 1764307800123,
                                  BODY, strlen(BODY), SIG, 64),
                  -EPERM);
        ASSERT_EQ(
            req_sign_verify(KEY, 32, "POST", PATH, 1764307800124, BODY, strlen(BODY), SIG, 64),
            -EPERM);
        ASSERT_EQ(req_sign_verify(KEY, 32, "POST", PATH, 1764307800123, "{\"load\":0.6}",
                                  strlen(BODY), SIG, 64),
                  -EPERM);
}

TEST(malformed_signatures)
{
        ASSERT_EQ(
            req_sign_verify(KEY, 32, "POST", PATH, 1764307800123, BODY, strlen(BODY), SIG, 63),
            -EPERM);
        ASSERT_EQ(
            req_sign_verify(KEY, 32, "POST", PATH, 1764307800123, BODY, strlen(BODY), NULL, 0),
            -EPERM);
        char bad[] = SIG;
        bad[10] = 'g';
        ASSERT_EQ(
            req_sign_verify(KEY, 32, "POST", PATH, 1764307800123, BODY, strlen(BODY), bad, 64),
            -EPERM);
}

TEST(secrets)
{
        char out[REQ_SIGN_HEX + 1];
        char long_key[REQ_SIGN_SECRET_MAX + 1];

        ASSERT_TRUE(req_sign_secret_ok(KEY, 32));
        ASSERT_TRUE(!req_sign_secret_ok(KEY, 31));
        ASSERT_TRUE(!req_sign_secret_ok(NULL, 0));
        ASSERT_TRUE(!req_sign_secret_ok("0123456789abcdef 123456789abcdef", 32));
        ASSERT_TRUE(!req_sign_secret_ok("0123456789abcdef\n123456789abcdef", 32));
        memset(long_key, 'k', sizeof(long_key));
        ASSERT_TRUE(req_sign_secret_ok(long_key, REQ_SIGN_SECRET_MAX));
        ASSERT_TRUE(!req_sign_secret_ok(long_key, REQ_SIGN_SECRET_MAX + 1));
        ASSERT_EQ(req_sign("short", 5, "POST", PATH, 1, NULL, 0, out), -EINVAL);
        ASSERT_EQ(req_sign(KEY, 32, "POST", PATH, -1, NULL, 0, out), -EINVAL);
        ASSERT_EQ(req_sign(KEY, 32, "POST", PATH, 1, NULL, 3, out), -EINVAL);
}

TEST(time_header)
{
        int64_t t = 0;

        ASSERT_EQ(req_sign_time_parse("1764307800123", 13, &t), 0);
        ASSERT_EQ(t, 1764307800123LL);
        ASSERT_EQ(req_sign_time_parse("0", 1, &t), 0);
        ASSERT_EQ(t, 0);
        ASSERT_EQ(req_sign_time_parse("9999999999999999", 16, &t), 0);
        ASSERT_EQ(req_sign_time_parse("10000000000000000", 17, &t), -EINVAL);
        ASSERT_EQ(req_sign_time_parse("", 0, &t), -EINVAL);
        ASSERT_EQ(req_sign_time_parse("-1", 2, &t), -EINVAL);
        ASSERT_EQ(req_sign_time_parse("12 ", 3, &t), -EINVAL);
        ASSERT_EQ(req_sign_time_parse("1e9", 3, &t), -EINVAL);
        ASSERT_EQ(req_sign_time_parse(NULL, 1, &t), -EINVAL);
}

/* Last: it moves the process's stamps far ahead. */
TEST(stamps_never_go_back)
{
        const int64_t t = 5000000000000; /* year 2128, past any wall clock here */

        ASSERT_EQ(req_sign_time(t), t);
        ASSERT_EQ(req_sign_time(t - 20000), t + 1); /* the clock stepped back 20 s */
        ASSERT_EQ(req_sign_time(t - 10000), t + 2);
        ASSERT_EQ(req_sign_time(t + 5), t + 5); /* caught up */
        ASSERT_EQ(req_sign_time(t + 5), t + 6);
}

TEST_MAIN()
