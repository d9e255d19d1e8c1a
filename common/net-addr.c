/* SPDX-License-Identifier: MIT */
/*
 * Listen addresses and upstream/control URLs from configuration files (net-addr.h).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

#include "net-addr.h"

/* "digits" of 1..5 bytes → port, or -1. */
static long port_parse(const char *s)
{
        long port = 0;
        size_t n = strlen(s);

        if (n == 0 || n > 5)
                return -1;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -1;
                port = port * 10 + (s[i] - '0');
        }
        return port > 65535 ? -1 : port;
}

int net_addr_parse(const char *s, struct sockaddr_storage *ret, socklen_t *ret_len)
{
        char host[NET_ADDR_TEXT_MAX + 1];
        const char *sep, *hs, *port_s;
        bool v6;
        long port;
        size_t hl;

        if (!s)
                return -EINVAL;
        if (strnlen(s, NET_ADDR_TEXT_MAX + 1) > NET_ADDR_TEXT_MAX)
                return -E2BIG;
        v6 = s[0] == '[';
        if (v6) {
                sep = strchr(s, ']');
                if (!sep || sep[1] != ':')
                        return -EINVAL;
                hs = s + 1;
                port_s = sep + 2;
        } else {
                sep = strrchr(s, ':');
                if (!sep || memchr(s, ':', (size_t)(sep - s)))
                        return -EINVAL;
                hs = s;
                port_s = sep + 1;
        }
        hl = (size_t)(sep - hs);
        memcpy(host, hs, hl); /* hl < strlen(s) <= NET_ADDR_TEXT_MAX */
        host[hl] = '\0';
        port = port_parse(port_s);
        if (port < 0)
                return -EINVAL;

        memset(ret, 0, sizeof(*ret));
        if (v6) {
                struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ret;
                a6->sin6_family = AF_INET6;
                a6->sin6_port = htons((uint16_t)port);
                if (inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
                        return -EINVAL;
                *ret_len = sizeof(*a6);
                return 0;
        }
        struct sockaddr_in *a4 = (struct sockaddr_in *)ret;
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        /* ":8080" listens on every IPv4 address; "[::]:8080" is the IPv6 spelling. */
        if (host[0] == '\0')
                a4->sin_addr.s_addr = htonl(INADDR_ANY);
        else if (!strcasecmp(host, "localhost"))
                a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        else if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
                return -EINVAL;
        *ret_len = sizeof(*a4);
        return 0;
}

/* What follows "http://" or "https://" (any case) in u, or NULL for another scheme. */
static const char *after_http_scheme(const char *u)
{
        if (!strncasecmp(u, "http://", 7))
                return u + 7;
        if (!strncasecmp(u, "https://", 8))
                return u + 8;
        return NULL;
}

/* RFC 3986 unreserved and sub-delims: what a reg-name holds besides percent-escapes. */
static bool reg_name_byte(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               (c && strchr("-._~!$&'()*+,;=", c));
}

/* Whether the last label of the name h[0..n) (a trailing dot aside) is a number as a browser's
 * URL parser reads one (digits, or "0x" and hex digits): it then takes the whole name for an
 * IPv4 address, and refuses the URL when it is not one ("http://h.999", "http://1.2.3.256"). */
static bool ends_in_number(const char *h, size_t n)
{
        size_t s, i = 0;

        if (n > 0 && h[n - 1] == '.')
                n--;
        for (s = n; s > 0 && h[s - 1] != '.'; s--)
                ;
        if (s == n)
                return false;
        if (n - s >= 2 && h[s] == '0' && (h[s + 1] == 'x' || h[s + 1] == 'X')) {
                for (i = s + 2; i < n; i++)
                        if (!strchr("0123456789abcdefABCDEF", h[i]))
                                return false;
                return true;
        }
        for (i = s; i < n; i++)
                if (h[i] < '0' || h[i] > '9')
                        return false;
        return true;
}

/*
 * Why the host h[0..n) of a URL is not one every URL parser reads the same, or NULL: a
 * bracketed IPv6 address, a dotted-decimal IPv4 address, or a reg-name (RFC 3986 §3.2.2)
 * without percent-escapes (a browser decodes them, and "%2F" or "%3A" would move the host's
 * end). Nothing is resolved.
 */
/* An RFC 6874 zone identifier's text after "%25": unreserved bytes and percent-escapes. */
static bool zone_id_ok(const char *z, size_t n)
{
        if (n == 0)
                return false;
        for (size_t i = 0; i < n; i++) {
                if (z[i] == '%') {
                        if (i + 2 >= n || !isxdigit((unsigned char)z[i + 1]) ||
                            !isxdigit((unsigned char)z[i + 2]))
                                return false;
                        i += 2;
                } else if (!((z[i] >= 'a' && z[i] <= 'z') || (z[i] >= 'A' && z[i] <= 'Z') ||
                             (z[i] >= '0' && z[i] <= '9') || strchr("-._~", z[i]))) {
                        return false;
                }
        }
        return true;
}

/* zone: an IPv6 address may name its zone (RFC 6874, "[fe80::1%25eth0]"), as an upstream
 * fetched by the edge may; a browser takes none, so no URL a player reads may carry one. */
static const char *host_why(const char *h, size_t n, bool zone)
{
        char a[INET6_ADDRSTRLEN + 1];
        struct in6_addr a6;
        struct in_addr a4;

        if (n == 0)
                return "no host";
        if (h[0] == '[') {
                const char *z = n >= 3 ? memmem(h + 1, n - 2, "%25", 3) : NULL;
                size_t m = z ? (size_t)(z - (h + 1)) : n - 2;

                if (n < 3 || h[n - 1] != ']' || m >= sizeof(a))
                        return "the host in brackets is not an IPv6 address";
                if (z && (!zone || !zone_id_ok(z + 3, (size_t)(h + n - 1 - (z + 3)))))
                        return zone ? "the IPv6 zone (after %25) is not a zone name"
                                    : "an IPv6 zone (%25...) that no browser takes";
                memcpy(a, h + 1, m);
                a[m] = '\0';
                if (inet_pton(AF_INET6, a, &a6) != 1)
                        return "the host in brackets is not an IPv6 address";
                return NULL;
        }
        for (size_t i = 0; i < n; i++)
                if (!reg_name_byte(h[i]))
                        return "the host is not a name (letters, digits and -._~!$&'()*+,;=), a "
                               "dotted IPv4 address or an IPv6 address in brackets";
        if (!ends_in_number(h, n))
                return NULL;
        if (n >= sizeof(a))
                return "the host ends in a number but is not a dotted IPv4 address";
        memcpy(a, h, n);
        a[n] = '\0';
        if (inet_pton(AF_INET, a, &a4) != 1)
                return "the host ends in a number but is not a dotted IPv4 address";
        return NULL;
}

const char *net_url_why(const char *u, bool base)
{
        const char *rest, *host, *at, *port;
        size_t alen, hlen;

        if (!u)
                return "no URL";
        if (strnlen(u, NET_URL_MAX + 1) > NET_URL_MAX)
                return "longer than 2048 bytes";
        if (!(rest = after_http_scheme(u)))
                return "not an http:// or https:// URL";
        for (const char *p = u; *p; p++)
                if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '"' || *p == '<' || *p == '>' ||
                    *p == '\\')
                        return "a control byte, space, '\"', '<', '>' or '\\' in it";
        /* The authority runs to the first '/', '?' or '#' (RFC 3986 §3.2); past any
         * "userinfo@" it names a host, then maybe a port. */
        alen = strcspn(rest, "/?#");
        at = memchr(rest, '@', alen);
        host = at ? at + 1 : rest;
        hlen = alen - (size_t)(host - rest);
        if (base && strpbrk(u, "?#@"))
                return "a query, fragment or userinfo in it ('?', '#' or '@': paths are appended "
                       "to it)";
        for (const char *p = rest; at && p < at; p++)
                if (!reg_name_byte(*p) && *p != ':' && *p != '%')
                        return "the userinfo holds a byte it cannot";
        /* A port ends the host at its ':', after the ']' of an IPv6 address. */
        if (hlen > 0 && host[0] == '[') {
                const char *close = memchr(host, ']', hlen);
                if (!close)
                        return "the host's '[' is not closed";
                port = close + 1 < host + hlen ? close + 1 : NULL;
                if (port && *port != ':')
                        return "the host in brackets is followed by more than a port";
        } else {
                port = memchr(host, ':', hlen);
        }
        if (port) {
                const char *e = host + hlen;
                long v = 0;

                if (port + 1 == e || e - (port + 1) > 5)
                        return "the port is not a number in 1..65535";
                for (const char *p = port + 1; p < e; p++) {
                        if (*p < '0' || *p > '9')
                                return "the port is not a number in 1..65535";
                        v = v * 10 + (*p - '0');
                }
                if (v < 1 || v > 65535)
                        return "the port is not a number in 1..65535";
                hlen = (size_t)(port - host);
        }
        return host_why(host, hlen, !base);
}

bool net_url_ok(const char *u)
{
        return !net_url_why(u, false);
}

bool net_url_base_ok(const char *u)
{
        return !net_url_why(u, true);
}

/* ":port" as a browser serialises it (none for the scheme's default), or "". */
static bool origin_port_ok(const char *p, bool https)
{
        unsigned long v = 0;

        if (!*p)
                return true;
        if (*p++ != ':' || *p < '1' || *p > '9')
                return false; /* "a:", "a:0443", "a:0" */
        for (; *p; p++) {
                if (*p < '0' || *p > '9')
                        return false;
                v = v * 10 + (unsigned long)(*p - '0');
                if (v > 65535)
                        return false;
        }
        return v != (https ? 443u : 80u);
}

bool net_origin_ok(const char *o)
{
        const char *host, *end;
        bool https;

        if (!o)
                return false;
        if (!strcmp(o, "*"))
                return true;
        /* No length bound here: the lists that hold origins set their own. An Origin field is
         * the browser's serialisation, compared byte for byte: scheme and host in lower case
         * (as its URL parser leaves them), the port only when not the scheme's default. */
        https = !strncmp(o, "https://", 8);
        if (!https && strncmp(o, "http://", 7))
                return false;
        host = o + (https ? 8 : 7);
        if (*host == '[') {
                end = strchr(host, ']');
                if (!end || end == host + 1)
                        return false;
                end++;
        } else {
                end = host + strcspn(host, ":");
        }
        if (end == host || host_why(host, (size_t)(end - host), false))
                return false;
        for (const char *p = host; p < end; p++)
                if ((unsigned char)*p <= ' ' || *p == 0x7f || (*p >= 'A' && *p <= 'Z') ||
                    strchr("/?#@\"<>\\^|%", *p))
                        return false;
        return origin_port_ok(end, https);
}

int net_origin_canon(const char *o, char *out, size_t cap)
{
        size_t n, h, e;
        bool https;

        if (!o)
                return -1;
        if (net_origin_ok(o))
                return 0;
        n = strlen(o);
        if (n + 1 > cap)
                return -1;
        memcpy(out, o, n + 1);
        /* Scheme and host in lower case, as a browser's URL parser leaves them. */
        for (h = 0; out[h] && out[h] != ':'; h++)
                if (out[h] >= 'A' && out[h] <= 'Z')
                        out[h] = (char)(out[h] - 'A' + 'a');
        https = !strncmp(out, "https://", 8);
        if (!https && strncmp(out, "http://", 7))
                return -1;
        h = https ? 8 : 7;
        if (out[h] == '[') {
                const char *rb = strchr(out + h, ']');
                if (!rb)
                        return -1;
                e = (size_t)(rb - out) + 1;
        } else {
                e = h + strcspn(out + h, ":/");
        }
        for (size_t i = h; i < e; i++)
                if (out[i] >= 'A' && out[i] <= 'Z')
                        out[i] = (char)(out[i] - 'A' + 'a');
        /* The scheme's default port, written out: left out. */
        const char *dp = https ? ":443" : ":80";
        size_t dl = strlen(dp);
        if (!strncmp(out + e, dp, dl) && (out[e + dl] == '\0' || out[e + dl] == '/'))
                memmove(out + e, out + e + dl, strlen(out + e + dl) + 1);
        /* One "/" after the authority: the empty path a URL has, never part of an Origin. */
        n = strlen(out);
        if (n > e && out[n - 1] == '/' && strchr(out + e, '/') == out + n - 1)
                out[n - 1] = '\0';
        return net_origin_ok(out) ? 1 : -1;
}
