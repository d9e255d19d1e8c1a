/* SPDX-License-Identifier: MIT */
/*
 * control/req-chunked.c: chunked bodies decoded whole and byte by byte, with extensions and
 * trailers, what follows the body kept for the next request, and each way the framing can be
 * wrong or too large refused.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "req-chunked.h"
#include "tests.h"

#define S(lit) lit, sizeof(lit) - 1

struct chunk_case {
        const char *in;
        size_t len;
        int ret;
        const char *body; /* decoded, then what followed it (ret 1) */
        size_t body_len;
};

static const struct chunk_case cases[] = {
    {S("5\r\nhello\r\n0\r\n\r\n"), 1, S("hello")},
    {S("3\r\nabc\r\n2\r\nde\r\n0\r\n\r\nGET / HTTP/1.1\r\n"), 1, S("abcdeGET / HTTP/1.1\r\n")},
    {S("A\r\n0123456789\r\n0\r\n\r\n"), 1, S("0123456789")},
    {S("a\r\n0123456789\r\n000\r\n\r\n"), 1, S("0123456789")},
    {S("0\r\n\r\n"), 1, S("")},
    {S("0000000000000000\r\n\r\n"), 1, S("")},
    {S("2;a=b\r\nxy\r\n0;last\r\n\r\n"), 1, S("xy")},
    {S("2 ; a = \"q \\\" s\" ;b\r\nxy\r\n0\r\n\r\n"), 1, S("xy")},
    {S("2\r\nxy\r\n0\r\nX-Sum: 1\r\nY:\r\n\r\n"), 1, S("xy")},
    /* more to come */
    {S("5\r\nhel"), -EAGAIN, S("hel")},
    {S("5\r\nhello\r\n0\r\n"), -EAGAIN, S("hello")},
    {S("5\r\nhello\r\n0\r\nX-Sum: 1\r\n"), -EAGAIN, S("hello")},
    {S(""), -EAGAIN, S("")},
    /* sizes */
    {S("\r\n"), -EINVAL, S("")},
    {S("x\r\n"), -EINVAL, S("")},
    {S("-1\r\n"), -EINVAL, S("")},
    {S("+1\r\nx\r\n0\r\n\r\n"), -EINVAL, S("")},
    {S("0x1\r\nx\r\n0\r\n\r\n"), -EINVAL, S("")},
    {S("00000000000000001\r\nx\r\n0\r\n\r\n"), -EINVAL, S("")},
    {S("ffffffffffffffff\r\n"), -EMSGSIZE, S("")},
    {S("1 \r\nx\r\n0\r\n\r\n"), -EINVAL, S("")},
    /* line ends */
    {S("1\nx\r\n0\r\n\r\n"), -EINVAL, S("")},
    {S("1\r\nx\n0\r\n\r\n"), -EINVAL, S("x")},
    {S("1\r\nxy\r\n0\r\n\r\n"), -EINVAL, S("x")},
    {S("1\r\nx\r\n0\r\n\n"), -EINVAL, S("x")},
    {S("1\r\nx\r\n0\n\r\n"), -EINVAL, S("x")},
    /* extensions */
    {S("1;\r\nx\r\n0\r\n\r\n"), -EINVAL, S("")},
    {S("1;a=\r\nx\r\n0\r\n\r\n"), -EINVAL, S("")},
    {S("1;a \r\nx\r\n0\r\n\r\n"), -EINVAL, S("")},
    {S("1;a=\"b\r\nx\r\n0\r\n\r\n"), -EINVAL, S("")},
    {S("1;a=b=c\r\nx\r\n0\r\n\r\n"), -EINVAL, S("")},
    {S("1;a(b\r\nx\r\n0\r\n\r\n"), -EINVAL, S("")},
    {S("1;a=\"\x01\"\r\nx\r\n0\r\n\r\n"), -EINVAL, S("")},
    /* trailers */
    {S("0\r\n: v\r\n\r\n"), -EINVAL, S("")},
    {S("0\r\nX v\r\n\r\n"), -EINVAL, S("")},
    {S("0\r\nX: a\x01\r\n\r\n"), -EINVAL, S("")},
    {S("0\r\nX: a\r\r\n\r\n"), -EINVAL, S("")},
};

/* Decode in[0..len) given step bytes at a time; returns the answer, the bytes in buf: the
 * body, then (ret 1) what followed it. */
static int decode(const char *in, size_t len, size_t step, uint64_t max, char *buf, size_t *ret_len,
                  struct req_chunked *ch)
{
        size_t have = 0, got = 0;
        int r = -EAGAIN;

        req_chunked_init(ch);
        do {
                size_t n = len - got < step ? len - got : step;
                memcpy(buf + have, in + got, n);
                have += n;
                got += n;
                r = req_chunked_decode(ch, buf, &have, max);
        } while (r == -EAGAIN && got < len);
        /* Bytes after the body that arrive later follow it in the buffer as they come. */
        if (r == 1) {
                memcpy(buf + have, in + got, len - got);
                have += len - got;
        }
        *ret_len = have;
        return r;
}

TEST(chunked_cases)
{
        char buf[256];
        struct req_chunked ch;

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                const struct chunk_case *c = &cases[i];
                for (size_t step = 1; step <= c->len + 1; step++) {
                        size_t len;
                        int r = decode(c->in, c->len, step, 1000, buf, &len, &ch);
                        if (r != c->ret)
                                fprintf(stderr, "case %zu step %zu: %d\n", i, step, r);
                        ASSERT_EQ(r, c->ret);
                        if (r == -EINVAL)
                                ASSERT_TRUE(ch.why != NULL);
                        else
                                ASSERT_MEMEQ(buf, len, c->body, c->body_len);
                }
        }
}

TEST(chunked_limits)
{
        static char in[200000], buf[200000];
        struct req_chunked ch;
        size_t len, n = 0;

        /* The body's limit: at it, and one past it (refused at the size, before the data). */
        ASSERT_EQ(decode(S("5\r\nhello\r\n0\r\n\r\n"), 1000, 5, buf, &len, &ch), 1);
        ASSERT_EQ(decode(S("5\r\nhello\r\n0\r\n\r\n"), 1000, 4, buf, &len, &ch), -EMSGSIZE);
        ASSERT_EQ(decode(S("3\r\nabc\r\n3\r\ndef\r\n"), 1000, 5, buf, &len, &ch), -EMSGSIZE);

        /* An extension of REQ_CHUNK_EXT_MAX bytes, and one more. */
        n = (size_t)snprintf(in, sizeof(in), "1;");
        memset(in + n, 'e', REQ_CHUNK_EXT_MAX - 1);
        n += REQ_CHUNK_EXT_MAX - 1;
        memcpy(in + n, "\r\nx\r\n0\r\n\r\n", 10);
        ASSERT_EQ(decode(in, n + 10, 1000, UINT64_MAX, buf, &len, &ch), 1);
        memmove(in + 3, in + 2, n + 10 - 2);
        ASSERT_EQ(decode(in, n + 11, 1000, UINT64_MAX, buf, &len, &ch), -EINVAL);

        /* A trailer section of REQ_CHUNK_TRAILER_MAX bytes (its final CRLF counted), and one
         * more. */
        n = (size_t)snprintf(in, sizeof(in), "0\r\nX:");
        memset(in + n, 'v', REQ_CHUNK_TRAILER_MAX - 6);
        n += REQ_CHUNK_TRAILER_MAX - 6;
        memcpy(in + n, "\r\n\r\n", 4);
        ASSERT_EQ(decode(in, n + 4, 1000, UINT64_MAX, buf, &len, &ch), 1);
        memmove(in + 6, in + 5, n + 4 - 5);
        ASSERT_EQ(decode(in, n + 5, 1000, UINT64_MAX, buf, &len, &ch), -EINVAL);

        /* One-byte chunks: framing bytes are bounded, whatever the body's limit. */
        n = 0;
        while (n + 6 < sizeof(in))
                n += (size_t)snprintf(in + n, sizeof(in) - n, "1\r\nx\r\n");
        ASSERT_EQ(decode(in, n, 4096, UINT64_MAX, buf, &len, &ch), -EINVAL);
        ASSERT_TRUE(ch.framing > REQ_CHUNK_FRAMING_MAX);
        ASSERT_TRUE(ch.out < REQ_CHUNK_FRAMING_MAX / 5 + 1);
}

TEST_MAIN()
