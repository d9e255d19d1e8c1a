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

static bool is_port(const char *s, size_t n)
{
        unsigned v = 0;

        if (n == 0 || n > 5)
                return false;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return false;
                v = v * 10 + (unsigned)(s[i] - '0');
        }
        return v <= 65535;
}

/*
 * One list entry s[0..n) as a bare address into out (cap bytes): "a.b.c.d", an IPv6 address,
 * and either with a port as proxies write them ("a.b.c.d:port", "[v6]" or "[v6]:port").
 * Returns false for anything else.
 */
static bool entry_addr(const char *s, size_t n, char *out, size_t cap)
{
        struct in6_addr a6;
        struct in_addr a4;
        const char *colon;

        /* inet_pton reads up to a NUL: one inside the entry would pass its prefix off as
         * the whole. */
        if (n == 0 || n >= cap || memchr(s, '\0', n))
                return false;
        if (s[0] == '[') {
                const char *rb = memchr(s, ']', n);
                size_t k = rb ? (size_t)(rb - s) : 0;
                if (!rb || (k + 1 < n && (s[k + 1] != ':' || !is_port(s + k + 2, n - k - 2))))
                        return false;
                memcpy(out, s + 1, k - 1);
                out[k - 1] = '\0';
                return inet_pton(AF_INET6, out, &a6) == 1;
        }
        memcpy(out, s, n);
        out[n] = '\0';
        if (inet_pton(AF_INET, out, &a4) == 1 || inet_pton(AF_INET6, out, &a6) == 1)
                return true;
        /* A single colon: IPv4 with a port (an IPv6 address with a port needs brackets). */
        colon = memchr(out, ':', n);
        if (!colon || memchr(colon + 1, ':', n - (size_t)(colon - out) - 1) ||
            !is_port(colon + 1, n - (size_t)(colon - out) - 1))
                return false;
        out[colon - out] = '\0';
        return inet_pton(AF_INET, out, &a4) == 1;
}

int req_xff_client(const struct req_span *lines, size_t n_lines,
                   bool (*trusted)(const char *addr, void *ud), void *ud, char *out, size_t cap)
{
        char tmp[64];

        /* The field lines make one list in order (RFC 9110 5.3): walk the last line first. */
        for (size_t l = n_lines; l-- > 0;) {
                const char *xff = lines[l].p;
                size_t len = lines[l].len;

                while (len > 0) {
                        size_t end = len, start;
                        while (end > 0 && (xff[end - 1] == ' ' || xff[end - 1] == '\t' ||
                                           xff[end - 1] == ','))
                                end--;
                        if (end == 0)
                                break;
                        start = end;
                        while (start > 0 && xff[start - 1] != ',')
                                start--;
                        while (start < end && (xff[start] == ' ' || xff[start] == '\t'))
                                start++;
                        if (!entry_addr(xff + start, end - start, tmp, sizeof(tmp)))
                                return -EINVAL;
                        if (!trusted(tmp, ud)) {
                                size_t tl = strlen(tmp);
                                if (tl >= cap)
                                        return -EINVAL;
                                memcpy(out, tmp, tl + 1);
                                return 1;
                        }
                        len = start;
                }
        }
        return 0;
}
