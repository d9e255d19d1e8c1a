/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include "hex.h"

#include "req-parse.h"

int req_query_get(const char *query, size_t len, const char *name, char *buf, size_t cap)
{
        const char *q = query, *end = query + len;
        size_t nl = strlen(name);

        if (cap == 0)
                return -E2BIG;
        while (q < end) {
                const char *amp = memchr(q, '&', (size_t)(end - q));
                const char *pe = amp ? amp : end;
                const char *eq = memchr(q, '=', (size_t)(pe - q));
                const char *ke = eq ? eq : pe;

                if ((size_t)(ke - q) == nl && !memcmp(q, name, nl)) {
                        size_t n = 0;
                        for (const char *p = eq ? eq + 1 : pe; p < pe; p++) {
                                int ch = (unsigned char)*p;
                                if (ch == '+') {
                                        ch = ' ';
                                } else if (ch == '%') {
                                        int h, l;
                                        if (pe - p < 3 || (h = hex_digit(p[1])) < 0 ||
                                            (l = hex_digit(p[2])) < 0)
                                                return -EINVAL;
                                        ch = h * 16 + l;
                                        p += 2;
                                }
                                if (ch < 0x20 || ch == 0x7f)
                                        return -EINVAL;
                                if (n + 1 >= cap)
                                        return -E2BIG;
                                buf[n++] = (char)ch;
                        }
                        buf[n] = '\0';
                        return (int)n;
                }
                q = pe + 1;
        }
        return -ENOENT;
}

size_t req_json_depth(const char *buf, size_t len, size_t limit)
{
        size_t depth = 0, max = 0;
        bool str = false, esc = false;

        for (size_t i = 0; i < len; i++) {
                char ch = buf[i];
                if (str) {
                        if (esc)
                                esc = false;
                        else if (ch == '\\')
                                esc = true;
                        else if (ch == '"')
                                str = false;
                        continue;
                }
                if (ch == '"') {
                        str = true;
                } else if (ch == '{' || ch == '[') {
                        if (++depth > max) {
                                max = depth;
                                if (max > limit)
                                        return max;
                        }
                } else if ((ch == '}' || ch == ']') && depth > 0) {
                        depth--;
                }
        }
        return max;
}

static bool is_addr(const char *s)
{
        struct in6_addr a6;
        struct in_addr a4;

        return inet_pton(AF_INET, s, &a4) == 1 || inet_pton(AF_INET6, s, &a6) == 1;
}

int req_xff_client(const char *xff, size_t len, bool (*trusted)(const char *addr, void *ud),
                   void *ud, char *out, size_t cap)
{
        char tmp[64];

        while (len > 0) {
                size_t end = len, start;
                while (end > 0 && (xff[end - 1] == ' ' || xff[end - 1] == '\t' ||
                                   xff[end - 1] == ','))
                        end--;
                if (end == 0)
                        return 0;
                start = end;
                while (start > 0 && xff[start - 1] != ',')
                        start--;
                while (start < end && (xff[start] == ' ' || xff[start] == '\t'))
                        start++;
                if (end - start >= sizeof(tmp))
                        return -EINVAL;
                memcpy(tmp, xff + start, end - start);
                tmp[end - start] = '\0';
                if (!is_addr(tmp))
                        return -EINVAL;
                if (!trusted(tmp, ud)) {
                        if (end - start >= cap)
                                return -EINVAL;
                        memcpy(out, tmp, end - start + 1);
                        return 1;
                }
                len = start;
        }
        return 0;
}
