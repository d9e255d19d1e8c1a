/* SPDX-License-Identifier: MIT */
/*
 * control/req-chunked.c: a chunked request body decoded in place. The input's first byte
 * picks a split point (as a percentage) and the second a body limit; the rest is the body as
 * received. It is decoded at once and again in two pieces, the second appended after the
 * first's call, as bytes arrive on a connection: both must give the same answer and the same
 * body, and the body never passes the limit nor the bytes it was decoded from.
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "req-chunked.h"

#define IN_MAX (1u << 16)

/* Decode in[0..n) into buf as received in two pieces, the first split bytes long; returns
 * the answer, the body's length in *ret_out and that of what followed it in *ret_rest. */
static int decode(const uint8_t *in, size_t n, size_t split, uint64_t max, char *buf,
                  size_t *ret_out, size_t *ret_rest)
{
        struct req_chunked ch;
        size_t len = split;
        int r;

        req_chunked_init(&ch);
        memcpy(buf, in, split);
        r = req_chunked_decode(&ch, buf, &len, max);
        CHECK(r == 1 || r == -EAGAIN || r == -EINVAL || r == -EMSGSIZE);
        CHECK(ch.out <= max && ch.out <= split && len <= split);
        if (r == -EAGAIN) {
                CHECK(len == ch.out);
                memcpy(buf + len, in + split, n - split);
                len += n - split;
                r = req_chunked_decode(&ch, buf, &len, max);
                CHECK(r == 1 || r == -EAGAIN || r == -EINVAL || r == -EMSGSIZE);
        } else if (r == 1) {
                /* The rest follows what followed the body, as the next request's bytes. */
                memcpy(buf + len, in + split, n - split);
                len += n - split;
        }
        CHECK(ch.out <= max && ch.out <= n && len <= n);
        CHECK(r != -EINVAL || ch.why);
        *ret_out = ch.out;
        *ret_rest = r == 1 ? len - ch.out : 0;
        CHECK(r != -EAGAIN || len == ch.out);
        return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static char one[IN_MAX], two[IN_MAX];
        size_t n, split, out1, out2, rest1, rest2;
        uint64_t max;
        int r1, r2;

        if (size < 2 || size - 2 > IN_MAX)
                return 0;
        n = size - 2;
        split = n * (data[0] % 101) / 100;
        max = data[1] == 255 ? UINT64_MAX : (uint64_t)data[1] * 64;
        r1 = decode(data + 2, n, n, max, one, &out1, &rest1);
        r2 = decode(data + 2, n, split, max, two, &out2, &rest2);
        /* Where the input was cut changes nothing: the same answer at the same byte. */
        CHECK(r1 == r2 && out1 == out2 && rest1 == rest2);
        if (r1 != -EINVAL && r1 != -EMSGSIZE)
                CHECK(memcmp(one, two, out1 + rest1) == 0);
        if (r1 == 1) {
                /* What followed the body is the input's tail, as sent. */
                CHECK(memcmp(one + out1, data + 2 + n - rest1, rest1) == 0);
        }
        return 0;
}
