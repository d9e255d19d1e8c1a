/* SPDX-License-Identifier: MIT */
/*
 * Listen addresses and upstream/control URLs from configuration files (net-addr.h).
 */
#include <arpa/inet.h>
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

bool net_url_ok(const char *u)
{
        const char *rest;

        if (!u || strnlen(u, NET_URL_MAX + 1) > NET_URL_MAX || !(rest = after_http_scheme(u)))
                return false;
        /* The authority runs to the first '/', '?' or '#' (RFC 3986 §3.2); past any
         * "userinfo@" it names a host, which a ":port" alone does not. */
        size_t alen = strcspn(rest, "/?#");
        const char *at = memchr(rest, '@', alen);
        const char *host = at ? at + 1 : rest;
        size_t hlen = alen - (size_t)(host - rest);

        if (hlen == 0 || host[0] == ':')
                return false;
        for (const char *p = u; *p; p++)
                if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '"' || *p == '<' || *p == '>' ||
                    *p == '\\')
                        return false;
        return true;
}

bool net_url_base_ok(const char *u)
{
        return net_url_ok(u) && !strpbrk(u, "?#@");
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
        if (end == host)
                return false;
        for (const char *p = host; p < end; p++)
                if ((unsigned char)*p <= ' ' || *p == 0x7f || (*p >= 'A' && *p <= 'Z') ||
                    strchr("/?#@\"<>\\^|%", *p))
                        return false;
        return origin_port_ok(end, https);
}
