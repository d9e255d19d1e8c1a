/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "hex.h"

static const char digits[] = "0123456789abcdef";

int hex_digit(char c)
{
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

char *hex_encode(const void *in, size_t len, char *out)
{
        const uint8_t *p = in;

        for (size_t i = 0; i < len; i++) {
                out[2 * i] = digits[p[i] >> 4];
                out[2 * i + 1] = digits[p[i] & 15];
        }
        out[2 * len] = '\0';
        return out;
}

int hex_decode(const char *in, size_t in_len, void *out, size_t out_len)
{
        uint8_t *o = out;

        if (in_len != 2 * out_len)
                return -EINVAL;
        for (size_t i = 0; i < out_len; i++) {
                int hi = hex_digit(in[2 * i]), lo = hex_digit(in[2 * i + 1]);
                if (hi < 0 || lo < 0)
                        return -EINVAL;
                o[i] = (uint8_t)(hi << 4 | lo);
        }
        return 0;
}

char *hex_u64_encode(uint64_t v, char out[17])
{
        for (int i = 15; i >= 0; i--) {
                out[i] = digits[v & 15];
                v >>= 4;
        }
        out[16] = '\0';
        return out;
}

int hex_u64_decode(const char *in, size_t in_len, uint64_t *ret)
{
        uint64_t v = 0;

        if (in_len != 16)
                return -EINVAL;
        for (size_t i = 0; i < 16; i++) {
                int d = hex_digit(in[i]);
                if (d < 0)
                        return -EINVAL;
                v = v << 4 | (uint64_t)d;
        }
        *ret = v;
        return 0;
}
