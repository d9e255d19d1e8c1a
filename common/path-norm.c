/* SPDX-License-Identifier: MIT */
/*
 * Request-target → cache key (contract in path-norm.h).
 *
 * Decisions beyond the header:
 *   - The path is walked segment by segment on the raw input; each segment is percent-decoded
 *     exactly once straight into the key, and only then compared with "." and "..". So
 *     "%2e%2e", "%2E.", ".%2e" are dot segments, while "%252e" decodes to the three literal
 *     bytes "%2e" and is an ordinary name. Nothing is ever decoded twice, so "%c0%ae" is
 *     the two bytes 0xc0 0xae — a plain name, never a dot.
 *   - Because the key is decoded, it may contain '%', '?', '#' or bytes >= 0x80. Whoever turns
 *     a key back into a URL (the upstream fetch) must re-encode it: path_norm_encode().
 *   - A '#' anywhere in the target is refused: user agents never send fragments, so one here
 *     is a malformed or hostile request.
 *   - The token in "/s/<token>/" and in URISigningPackage= must look like a JWT (base64url and
 *     '.'); anything else is refused rather than silently becoming part of the key. Two tokens
 *     (path and query) are refused as ambiguous.
 *   - "/s/<token>" with nothing after it names no object and is refused.
 *   - No key starts with "/s/": that prefix is the token's, so a key that would (after slashes
 *     collapse, dots resolve or "%73" decodes) is refused, as is a token after a token.
 */
#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "hex.h"
#include "path-norm.h"

static bool is_ctl(unsigned char c)
{
        return c < 0x21 || c == 0x7f;
}

static bool is_token_char(unsigned char c)
{
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '_' || c == '.';
}

static bool token_ok(const char *t, size_t len)
{
        if (len == 0)
                return false;
        for (size_t i = 0; i < len; i++)
                if (!is_token_char((unsigned char)t[i]))
                        return false;
        return true;
}

/*
 * Decode one raw segment p[0..len) (no '/' inside) and append it as "/<segment>" to the key,
 * or resolve it if it is "." or "..". An empty segment is dropped (duplicate slash). *ret_dir
 * is set when the segment leaves the key naming a directory.
 *
 * Dot segments go before the length limit (RFC 3986 §5.2.4 removes them first): a segment
 * that does not fit in the key is counted in *over instead of stored, as is every segment
 * after it, and a ".." takes one of them back; the key is too long only if some are left at
 * the end.
 */
static int add_segment(struct path_norm *n, const char *p, size_t len, size_t *over, bool *ret_dir)
{
        size_t start = n->key_len, seg = 0;
        bool fits = *over == 0 && start + 1 <= PATH_NORM_MAX;
        unsigned char first[2] = {0, 0};

        *ret_dir = false;
        if (len == 0) {
                *ret_dir = true;
                return 0;
        }
        if (fits)
                n->key[start] = '/';
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char)p[i];
                if (c == '\\')
                        return -EINVAL;
                if (c == '%') {
                        int hi, lo;
                        if (i + 2 >= len)
                                return -EINVAL;
                        hi = hex_digit(p[i + 1]);
                        lo = hex_digit(p[i + 2]);
                        if (hi < 0 || lo < 0)
                                return -EINVAL;
                        c = (unsigned char)(hi << 4 | lo);
                        i += 2;
                        /* An encoded separator or NUL could make a segment the raw walk never
                         * saw; refuse rather than guess what the client meant. */
                        if (c == '/' || c == '\\' || c == 0)
                                return -EINVAL;
                }
                if (is_ctl(c))
                        return -EINVAL;
                if (seg < 2)
                        first[seg] = c;
                if (fits && start + 1 + seg + 1 > PATH_NORM_MAX)
                        fits = false;
                if (fits)
                        n->key[start + 1 + seg] = (char)c;
                seg++;
        }

        if (seg == 1 && first[0] == '.') {
                *ret_dir = true;
                return 0;
        }
        if (seg == 2 && first[0] == '.' && first[1] == '.') {
                *ret_dir = true;
                if (*over > 0) {
                        (*over)--;
                        return 0;
                }
                if (start == 0)
                        return -EINVAL; /* above the root */
                size_t j = start;
                while (j > 0 && n->key[j - 1] != '/')
                        j--;
                /* j is just past the previous '/', which is removed with its segment. */
                n->key_len = j - 1;
                return 0;
        }
        if (!fits) {
                (*over)++;
                return 0;
        }
        n->key_len = start + 1 + seg;
        return 0;
}

static int parse_query(struct path_norm *n, const char *q, size_t len)
{
        static const char sig[] = "URISigningPackage=";
        static const char cmcd[] = "CMCD=";
        size_t i = 0;

        while (i <= len) {
                size_t j = i;
                while (j < len && q[j] != '&')
                        j++;
                const char *a = q + i;
                size_t alen = j - i;
                if (alen >= sizeof(sig) - 1 && memcmp(a, sig, sizeof(sig) - 1) == 0) {
                        const char *v = a + sizeof(sig) - 1;
                        size_t vlen = alen - (sizeof(sig) - 1);
                        if (n->token || !token_ok(v, vlen))
                                return -EINVAL;
                        n->token = v;
                        n->token_len = vlen;
                } else if (alen >= sizeof(cmcd) - 1 && memcmp(a, cmcd, sizeof(cmcd) - 1) == 0) {
                        if (!n->cmcd) {
                                n->cmcd = a + sizeof(cmcd) - 1;
                                n->cmcd_len = alen - (sizeof(cmcd) - 1);
                        }
                }
                i = j + 1;
        }
        return 0;
}

/* The empty result: what a failed normalisation leaves behind. */
static void norm_clear(struct path_norm *n)
{
        n->key[0] = '\0';
        n->key_len = 0;
        n->token = NULL;
        n->token_len = 0;
        n->cmcd = NULL;
        n->cmcd_len = 0;
}

int path_norm(const char *target, size_t len, struct path_norm *ret)
{
        struct path_norm *n = ret;
        size_t plen, i, over = 0;
        bool dir = false;
        int r;

        norm_clear(n);

        if (!target || len == 0 || target[0] != '/')
                return -EINVAL;
        for (i = 0; i < len; i++) {
                unsigned char c = (unsigned char)target[i];
                if (is_ctl(c) || c == '#')
                        return -EINVAL;
        }

        const char *qm = memchr(target, '?', len);
        plen = qm ? (size_t)(qm - target) : len;

        i = 0;
        if (plen > 3 && memcmp(target, "/s/", 3) == 0) {
                const char *t = target + 3;
                const char *end = memchr(t, '/', plen - 3);
                if (!end)
                        return -EINVAL; /* a token but no object */
                if (!token_ok(t, (size_t)(end - t)))
                        return -EINVAL;
                n->token = t;
                n->token_len = (size_t)(end - t);
                i = (size_t)(end - target);
        }

        /* target[i] == '/' here; walk the segments after each slash. */
        while (i < plen) {
                size_t s = i + 1, e = s;
                while (e < plen && target[e] != '/')
                        e++;
                r = add_segment(n, target + s, e - s, &over, &dir);
                if (r < 0)
                        goto fail;
                i = e;
        }
        if (over > 0) {
                r = -ENAMETOOLONG;
                goto fail;
        }
        if (n->key_len == 0 || dir) {
                /* The root, or a path ending in "/", "/." or "/..": it names a directory. */
                if (n->key_len + 1 > PATH_NORM_MAX) {
                        r = -ENAMETOOLONG;
                        goto fail;
                }
                n->key[n->key_len++] = '/';
        }
        n->key[n->key_len] = '\0';
        /* "/s/" is the token namespace: a key there (from "//s/", "/%73/", "/./s/" or a second
         * token) would mean different things to us and to whoever re-parses the URL. */
        if (n->key_len >= 3 && memcmp(n->key, "/s/", 3) == 0) {
                r = -EINVAL;
                goto fail;
        }

        if (qm) {
                r = parse_query(n, qm + 1, len - plen - 1);
                if (r < 0)
                        goto fail;
        }
        return 0;

fail:
        norm_clear(n);
        return r;
}

static bool is_pchar_plain(unsigned char c)
{
        /* RFC 3986 unreserved, sub-delims, ':' and '@' — and '/', since we encode a path. */
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
                return true;
        return strchr("-._~!$&'()*+,;=:@/", c) != NULL && c != '\0';
}

int path_norm_encode(const char *key, size_t key_len, char *buf, size_t cap)
{
        static const char hx[] = "0123456789ABCDEF";
        size_t o = 0;

        for (size_t i = 0; i < key_len; i++) {
                unsigned char c = (unsigned char)key[i];
                if (is_pchar_plain(c)) {
                        if (o + 1 >= cap)
                                return -ENOBUFS;
                        buf[o++] = (char)c;
                } else {
                        if (o + 3 >= cap)
                                return -ENOBUFS;
                        buf[o++] = '%';
                        buf[o++] = hx[c >> 4];
                        buf[o++] = hx[c & 15];
                }
        }
        if (o >= cap)
                return -ENOBUFS;
        buf[o] = '\0';
        return (int)o;
}

int path_norm_query_arg(const char *target, size_t len, const char *name, char *out, size_t cap)
{
        const char *q = memchr(target, '?', len);
        size_t nlen = strlen(name), i, end;

        out[0] = '\0';
        if (!q)
                return -ENOENT;
        /* Indices, not pointers: a walk past the last argument must not form end + 1. */
        for (i = (size_t)(q - target) + 1; i < len; i = end + 1) {
                const char *e = memchr(target + i, '&', len - i);
                size_t o = 0;

                end = e ? (size_t)(e - target) : len;
                if (end - i <= nlen || memcmp(target + i, name, nlen) != 0 ||
                    target[i + nlen] != '=')
                        continue;
                for (size_t k = i + nlen + 1; k < end; k++) {
                        char ch = target[k];
                        int hi, lo;

                        if (ch == '%' && end - k >= 3 && (hi = hex_digit(target[k + 1])) >= 0 &&
                            (lo = hex_digit(target[k + 2])) >= 0) {
                                ch = (char)(hi * 16 + lo);
                                k += 2;
                        } else if (ch == '+') {
                                ch = ' ';
                        }
                        if (o + 1 >= cap) {
                                out[0] = '\0';
                                return -ENAMETOOLONG;
                        }
                        out[o++] = ch;
                }
                out[o] = '\0';
                return (int)o;
        }
        return -ENOENT;
}

static bool b64url_or_dot(char ch)
{
        return isalnum((unsigned char)ch) || ch == '-' || ch == '_' || ch == '.';
}

/*
 * The first run from offset from on that reads as a compact JWS (RFC 7515 section 7.1: three
 * base64url parts, the header a JSON object, so "eyJ" first): a token the rules below miss
 * ("/./s/<jwt>", "/%73/<jwt>", a '?' in an absolute form's authority) is still not logged.
 */
bool path_norm_jws_next(const char *target, size_t len, size_t from, size_t *first, size_t *last)
{
        for (size_t i = from; i + 3 <= len; i++) {
                size_t j = i, dots = 0;

                if (memcmp(target + i, "eyJ", 3) != 0 || (i > 0 && b64url_or_dot(target[i - 1])))
                        continue;
                while (j < len && b64url_or_dot(target[j]))
                        dots += target[j++] == '.';
                if (dots == 2 && j - i >= 16) {
                        *first = i;
                        *last = j;
                        return true;
                }
                i = j;
        }
        return false;
}

bool path_norm_token_span(const char *target, size_t len, const char **ret, size_t *ret_len)
{
        static const char sig[] = "URISigningPackage=";
        const size_t slen = sizeof(sig) - 1;
        const char *q = memchr(target, '?', len);
        size_t plen = q ? (size_t)(q - target) : len, first = len, last = 0, p = 0, s;

        /* Absolute form: the path starts after "scheme://authority". */
        for (size_t i = 0; i + 2 < plen && target[i] != '/'; i++) {
                if (target[i] == ':' && target[i + 1] == '/' && target[i + 2] == '/') {
                        const char *slash = memchr(target + i + 3, '/', plen - (i + 3));
                        p = slash ? (size_t)(slash - target) : plen;
                        break;
                }
        }
        /* "/s/<token>", after any number of slashes. */
        for (s = p; s < plen && target[s] == '/'; s++)
                ;
        if (s > p && plen - s > 2 && target[s] == 's' && target[s + 1] == '/') {
                const char *end = memchr(target + s + 2, '/', plen - (s + 2));
                first = s + 2;
                last = end ? (size_t)(end - target) : plen;
        }
        for (size_t i = plen + 1, end; q && i < len; i = end + 1) {
                const char *e = memchr(target + i, '&', len - i);
                end = e ? (size_t)(e - target) : len;
                if (end - i >= slen && memcmp(target + i, sig, slen) == 0) {
                        if (first == len)
                                first = i + slen;
                        last = end;
                }
        }
        if ((first == len || last <= first) && !path_norm_jws_next(target, len, 0, &first, &last))
                return false;
        *ret = target + first;
        *ret_len = last - first;
        return true;
}
