/* SPDX-License-Identifier: MIT */
#include "utf8.h"

size_t utf8_seq_len(const char *s, size_t n)
{
        const unsigned char *p = (const unsigned char *)s;
        unsigned need, min, cp;

        if (n == 0)
                return 0;
        if (p[0] < 0x80)
                return 1;
        if (p[0] >= 0xc2 && p[0] <= 0xdf)
                need = 1, min = 0x80, cp = p[0] & 0x1fu;
        else if (p[0] >= 0xe0 && p[0] <= 0xef)
                need = 2, min = 0x800, cp = p[0] & 0x0fu;
        else if (p[0] >= 0xf0 && p[0] <= 0xf4)
                need = 3, min = 0x10000, cp = p[0] & 0x07u;
        else
                return 0;
        if (n <= need)
                return 0;
        for (unsigned k = 1; k <= need; k++) {
                if ((p[k] & 0xc0) != 0x80)
                        return 0;
                cp = (cp << 6) | (p[k] & 0x3fu);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
                return 0;
        return need + 1;
}

bool utf8_valid(const char *s, size_t n)
{
        for (size_t i = 0, k; i < n; i += k) {
                k = utf8_seq_len(s + i, n - i);
                if (k == 0)
                        return false;
        }
        return true;
}
