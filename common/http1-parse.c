/* SPDX-License-Identifier: MIT */
/*
 * Strict HTTP/1.1 request-head parser (RFC 9112 §2-§6, RFC 9110 §5, §7.2).
 *
 * Two phases. Phase one runs on every call over the bytes not seen before (p->scanned..len)
 * and only looks for the blank line that ends the head, refusing a bare LF as soon as it
 * arrives and a bare CR as soon as the byte after it does; it is two memchr per line, so
 * feeding a head one byte at a time stays O(n). Phase two runs once, over the complete head,
 * and validates and splits it in a single pass driven by a 256-entry class table. Keeping
 * validation out of phase one means partial input is never re-validated, and keeping the end
 * search out of phase two means it never sees a partial head.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "bug.h"
#include "http1-parse.h"

/* A method longer than this is refused; RFC 9110 sets no limit but no real method comes near. */
#define METHOD_MAX 24
/* RFC 9112 §2.2: skip "at least one" empty line before the request line; we skip two. */
#define LEADING_CRLF_MAX 2

#define DEFAULT_MAX_HEADER_BYTES 8192
#define DEFAULT_MAX_TARGET 4096
#define DEFAULT_MAX_HEADERS 64

enum {
        C_TCHAR = 1 << 0,  /* token (RFC 9110 §5.6.2) */
        C_FVCHAR = 1 << 1, /* field-vchar: VCHAR / obs-text */
        /* bytes allowed in a request-target: RFC 3986 characters, and the five outside it
         * that browsers send unencoded (WHATWG URL: "|" and "^" in a path, "`", "{" and "}"
         * in a query too), which name what their percent-encoded forms name */
        C_TARGET = 1 << 2,
        C_HOST = 1 << 3,   /* reg-name: unreserved / sub-delims / "%" */
        C_WS = 1 << 4,     /* SP / HTAB */
};

static const uint8_t cls[256] = {
        ['\t'] = C_WS,
        [' '] = C_WS,
        ['!'] = C_TCHAR | C_FVCHAR | C_TARGET | C_HOST,
        ['"'] = C_FVCHAR,
        ['#'] = C_TCHAR | C_FVCHAR, /* fragments are never sent */
        ['$'] = C_TCHAR | C_FVCHAR | C_TARGET | C_HOST,
        ['%'] = C_TCHAR | C_FVCHAR | C_TARGET | C_HOST,
        ['&'] = C_TCHAR | C_FVCHAR | C_TARGET | C_HOST,
        ['\''] = C_TCHAR | C_FVCHAR | C_TARGET | C_HOST,
        ['('] = C_FVCHAR | C_TARGET | C_HOST,
        [')'] = C_FVCHAR | C_TARGET | C_HOST,
        ['*'] = C_TCHAR | C_FVCHAR | C_TARGET | C_HOST,
        ['+'] = C_TCHAR | C_FVCHAR | C_TARGET | C_HOST,
        [','] = C_FVCHAR | C_TARGET | C_HOST,
        ['-'] = C_TCHAR | C_FVCHAR | C_TARGET | C_HOST,
        ['.'] = C_TCHAR | C_FVCHAR | C_TARGET | C_HOST,
        ['/'] = C_FVCHAR | C_TARGET,
        ['0' ... '9'] = C_TCHAR | C_FVCHAR | C_TARGET | C_HOST,
        [':'] = C_FVCHAR | C_TARGET,
        [';'] = C_FVCHAR | C_TARGET | C_HOST,
        ['<'] = C_FVCHAR,
        ['='] = C_FVCHAR | C_TARGET | C_HOST,
        ['>'] = C_FVCHAR,
        ['?'] = C_FVCHAR | C_TARGET,
        ['@'] = C_FVCHAR | C_TARGET,
        ['A' ... 'Z'] = C_TCHAR | C_FVCHAR | C_TARGET | C_HOST,
        ['['] = C_FVCHAR | C_TARGET, /* IP-literal in an absolute-form authority */
        ['\\'] = C_FVCHAR,
        [']'] = C_FVCHAR | C_TARGET,
        ['^'] = C_TCHAR | C_FVCHAR | C_TARGET,
        ['_'] = C_TCHAR | C_FVCHAR | C_TARGET | C_HOST,
        ['`'] = C_TCHAR | C_FVCHAR | C_TARGET,
        ['a' ... 'z'] = C_TCHAR | C_FVCHAR | C_TARGET | C_HOST,
        ['{'] = C_FVCHAR | C_TARGET,
        ['|'] = C_TCHAR | C_FVCHAR | C_TARGET,
        ['}'] = C_FVCHAR | C_TARGET,
        ['~'] = C_TCHAR | C_FVCHAR | C_TARGET | C_HOST,
        [0x80 ... 0xff] = C_FVCHAR,
};

#define CLS(c) cls[(uint8_t)(c)]

void http1_parser_init(struct http1_parser *p)
{
        p->scanned = 0;
        p->status = 0;
        p->reason = NULL;
}

static int refuse(struct http1_parser *p, int status, const char *reason)
{
        p->status = status;
        p->reason = reason;
        return -EPROTO;
}

/* Compare a token already known to hold only tchars against a lower-case literal. OR-ing 0x20
 * folds ASCII letters and leaves '-' and digits alone; no other tchar folds onto a letter,
 * digit or '-', so this is exact for the literals used here. */
static inline bool lower_eq(const char *s, const char *lit, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (((uint8_t)s[i] | 0x20) != (uint8_t)lit[i])
                        return false;
        return true;
}

static inline bool ci_eq(const char *s, size_t n, const char *lit)
{
        size_t ln = strlen(lit);
        return n == ln && lower_eq(s, lit, n);
}

static enum http_method method_of(const char *m, size_t n)
{
        switch (n) {
        case 3:
                if (memcmp(m, "GET", 3) == 0)
                        return HTTP_M_GET;
                if (memcmp(m, "PUT", 3) == 0)
                        return HTTP_M_PUT;
                break;
        case 4:
                if (memcmp(m, "HEAD", 4) == 0)
                        return HTTP_M_HEAD;
                if (memcmp(m, "POST", 4) == 0)
                        return HTTP_M_POST;
                break;
        case 5:
                if (memcmp(m, "PATCH", 5) == 0)
                        return HTTP_M_PATCH;
                if (memcmp(m, "TRACE", 5) == 0)
                        return HTTP_M_TRACE;
                break;
        case 6:
                if (memcmp(m, "DELETE", 6) == 0)
                        return HTTP_M_DELETE;
                break;
        case 7:
                if (memcmp(m, "OPTIONS", 7) == 0)
                        return HTTP_M_OPTIONS;
                if (memcmp(m, "CONNECT", 7) == 0)
                        return HTTP_M_CONNECT;
                break;
        }
        return HTTP_M_OTHER;
}

const char *http_method_name(enum http_method m)
{
        static const char *const names[] = {
                [HTTP_M_OTHER] = "OTHER",     [HTTP_M_GET] = "GET",
                [HTTP_M_HEAD] = "HEAD",       [HTTP_M_POST] = "POST",
                [HTTP_M_PUT] = "PUT",         [HTTP_M_DELETE] = "DELETE",
                [HTTP_M_OPTIONS] = "OPTIONS", [HTTP_M_PATCH] = "PATCH",
                [HTTP_M_TRACE] = "TRACE",     [HTTP_M_CONNECT] = "CONNECT",
        };
        if ((unsigned)m >= ARRAY_SIZE(names))
                return "OTHER";
        return names[m];
}

/* Which known header a field name is, or -1. Names hold only tchars (checked by the caller). */
static int known_of(const char *n, size_t len)
{
        switch (len) {
        case 4:
                if (lower_eq(n, "host", 4))
                        return HK_HOST;
                break;
        case 5:
                if (lower_eq(n, "range", 5))
                        return HK_RANGE;
                break;
        case 6:
                if (lower_eq(n, "origin", 6))
                        return HK_ORIGIN;
                if (lower_eq(n, "expect", 6))
                        return HK_EXPECT;
                break;
        case 8:
                if (lower_eq(n, "if-range", 8))
                        return HK_IF_RANGE;
                if (lower_eq(n, "if-match", 8))
                        return HK_IF_MATCH;
                break;
        case 10:
                if (lower_eq(n, "connection", 10))
                        return HK_CONNECTION;
                if (lower_eq(n, "user-agent", 10))
                        return HK_USER_AGENT;
                break;
        case 13:
                if (lower_eq(n, "if-none-match", 13))
                        return HK_IF_NONE_MATCH;
                if (lower_eq(n, "authorization", 13))
                        return HK_AUTHORIZATION;
                break;
        case 14:
                if (lower_eq(n, "content-length", 14))
                        return HK_CONTENT_LENGTH;
                break;
        case 15:
                if (lower_eq(n, "x-sluice-sha256", 15))
                        return HK_X_SLUICE_SHA256;
                break;
        case 17:
                if (lower_eq(n, "if-modified-since", 17))
                        return HK_IF_MODIFIED_SINCE;
                if (lower_eq(n, "transfer-encoding", 17))
                        return HK_TRANSFER_ENCODING;
                break;
        case 19:
                if (lower_eq(n, "if-unmodified-since", 19))
                        return HK_IF_UNMODIFIED_SINCE;
                break;
        case 29:
                if (lower_eq(n, "access-control-request-method", 29))
                        return HK_ACCESS_CONTROL_REQUEST_METHOD;
                break;
        case 30:
                if (lower_eq(n, "access-control-request-headers", 30))
                        return HK_ACCESS_CONTROL_REQUEST_HEADERS;
                break;
        }
        return -1;
}

static inline bool is_hex(char c)
{
        return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

/* IP-literal contents (between the brackets): IPv6address or IPvFuture (RFC 3986 §3.2.2). */
static bool ip_literal_ok(const char *s, size_t n)
{
        if (n == 0)
                return false;
        if ((s[0] | 0x20) == 'v') {
                size_t i = 1;
                while (i < n && is_hex(s[i]))
                        i++;
                if (i == 1 || i >= n || s[i] != '.')
                        return false;
                if (++i >= n)
                        return false;
                /* 1*( unreserved / sub-delims / ":" ): the reg-name class minus '%' */
                for (; i < n; i++) {
                        if (s[i] == ':')
                                continue;
                        if (!(CLS(s[i]) & C_HOST) || s[i] == '%')
                                return false;
                }
                return true;
        }
        char tmp[INET6_ADDRSTRLEN];
        struct in6_addr a;
        if (n >= sizeof(tmp))
                return false;
        memcpy(tmp, s, n);
        tmp[n] = '\0';
        return inet_pton(AF_INET6, tmp, &a) == 1;
}

/*
 * Host = uri-host [ ":" port ] (RFC 9110 §7.2). An empty value is valid: RFC 9112 §3.2 has
 * clients send it when the target URI has no authority. An empty host before a port (":80",
 * ":") is not: a port means an http(s) authority, whose host is never empty (RFC 9110 §4.2.1),
 * and an absolute-form target or an HTTP/2 authority naming one is refused alike. The port is
 * *DIGIT in the grammar; we allow at most five digits.
 */
bool http1_host_ok(const char *s, size_t n)
{
        size_t i = 0;
        if (n > 0 && s[0] == '[') {
                const char *close = memchr(s, ']', n);
                if (!close || !ip_literal_ok(s + 1, (size_t)(close - s) - 1))
                        return false;
                i = (size_t)(close - s) + 1;
        } else {
                while (i < n && (CLS(s[i]) & C_HOST)) {
                        if (s[i] == '%') {
                                if (i + 2 >= n || !is_hex(s[i + 1]) || !is_hex(s[i + 2]))
                                        return false;
                                i += 2;
                        }
                        i++;
                }
        }
        if (i == n)
                return true;
        if (i == 0 || s[i] != ':' || n - i - 1 > 5)
                return false;
        for (i++; i < n; i++)
                if (s[i] < '0' || s[i] > '9')
                        return false;
        return true;
}

/* Content-Length = 1*DIGIT; 18 digits keep it inside int64_t without overflow checks. */
static int64_t content_length_of(const char *s, size_t n)
{
        if (n == 0 || n > 18)
                return -1;
        int64_t v = 0;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -1;
                v = v * 10 + (s[i] - '0');
        }
        return v;
}

/* Walk a #list of tokens (RFC 9110 §5.6.1): calls back with each non-empty element, trimmed.
 * Returns false when an element is not a token (or, for TE, a token with parameters). */
struct list_iter {
        const char *s;
        size_t n, i;
};

static bool list_next(struct list_iter *it, const char **ret, size_t *ret_len, bool *ret_bad)
{
        *ret_bad = false;
        for (;;) {
                while (it->i < it->n && (CLS(it->s[it->i]) & C_WS))
                        it->i++;
                if (it->i >= it->n)
                        return false;
                if (it->s[it->i] == ',') {
                        it->i++;
                        continue;
                }
                size_t b = it->i;
                while (it->i < it->n && (CLS(it->s[it->i]) & C_TCHAR))
                        it->i++;
                *ret = it->s + b;
                *ret_len = it->i - b;
                while (it->i < it->n && (CLS(it->s[it->i]) & C_WS))
                        it->i++;
                if (it->i < it->n && it->s[it->i] != ',')
                        *ret_bad = true;
                if (*ret_len == 0)
                        *ret_bad = true;
                /* Skip the rest of a bad element so the caller can decide. */
                while (it->i < it->n && it->s[it->i] != ',')
                        it->i++;
                return true;
        }
}

/* State carried across the header lines of one request. */
struct te_state {
        bool seen;
        bool last_chunked; /* the last coding seen so far is chunked */
        bool chunked_before; /* chunked appeared before some later coding */
        bool other_known;  /* a registered coding we do not decode */
        bool unknown;      /* an unregistered coding */
        bool bad;          /* syntax error (parameters, empty) */
};

static void te_add(struct te_state *te, const char *v, size_t n)
{
        struct list_iter it = {v, n, 0};
        const char *e;
        size_t el;
        bool bad, any = false;

        te->seen = true;
        while (list_next(&it, &e, &el, &bad)) {
                any = true;
                if (bad) {
                        te->bad = true;
                        continue;
                }
                if (te->last_chunked)
                        te->chunked_before = true;
                te->last_chunked = false;
                if (ci_eq(e, el, "chunked"))
                        te->last_chunked = true;
                else if (ci_eq(e, el, "gzip") || ci_eq(e, el, "x-gzip") ||
                         ci_eq(e, el, "deflate") || ci_eq(e, el, "compress") ||
                         ci_eq(e, el, "x-compress"))
                        te->other_known = true;
                else
                        te->unknown = true;
        }
        if (!any)
                te->bad = true;
}

static void connection_add(const char *v, size_t n, bool *close, bool *keep)
{
        struct list_iter it = {v, n, 0};
        const char *e;
        size_t el;
        bool bad;
        while (list_next(&it, &e, &el, &bad)) {
                if (bad)
                        continue;
                if (ci_eq(e, el, "close"))
                        *close = true;
                else if (ci_eq(e, el, "keep-alive"))
                        *keep = true;
        }
}

/* request-target forms (RFC 9112 §3.2): origin-form, absolute-form, authority-form for
 * CONNECT, asterisk-form for OPTIONS. */
bool http1_absolute_authority(const char *t, size_t n, const char **ret, size_t *ret_len)
{
        size_t skip, i;

        if (n >= 7 && strncasecmp(t, "http://", 7) == 0)
                skip = 7;
        else if (n >= 8 && strncasecmp(t, "https://", 8) == 0)
                skip = 8;
        else
                return false;
        for (i = skip; i < n && t[i] != '/' && t[i] != '?'; i++)
                ;
        *ret = t + skip;
        *ret_len = i - skip;
        return true;
}

bool http1_origin_form(const char *t, size_t n, const char **ret, size_t *ret_len)
{
        const char *a;
        size_t a_len;

        *ret = t;
        *ret_len = n;
        if (!http1_absolute_authority(t, n, &a, &a_len))
                return false;
        *ret = a + a_len;
        *ret_len = n - (size_t)(a + a_len - t);
        return *ret_len == 0 || **ret == '?';
}

static bool target_form_ok(enum http_method m, const char *t, size_t n)
{
        const char *a;
        size_t a_len;

        if (t[0] == '/')
                return true;
        if (m == HTTP_M_CONNECT)
                return true;
        if (n == 1 && t[0] == '*')
                return m == HTTP_M_OPTIONS;
        /* An http(s) URI's host is never empty (RFC 9110 §4.2.1; http1_host_ok() refuses one
         * before a port), and its userinfo is refused (§4.2.4): what is left must pass as a
         * Host would. */
        if (http1_absolute_authority(t, n, &a, &a_len))
                return a_len > 0 && !memchr(a, '@', a_len) && http1_host_ok(a, a_len);
        if (n >= 5 && (strncasecmp(t, "http:", 5) == 0 || strncasecmp(t, "https:", 6) == 0))
                return false; /* "http:/p", "http:p": no authority */
        /* another scheme's absolute-form: scheme ":" ... */
        if (!((t[0] | 0x20) >= 'a' && (t[0] | 0x20) <= 'z'))
                return false;
        for (size_t i = 1; i < n; i++) {
                char c = t[i];
                if (c == ':')
                        return true;
                if (!(((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || (c >= '0' && c <= '9') ||
                      c == '+' || c == '-' || c == '.'))
                        return false;
        }
        return false;
}

/*
 * Phase two: the head buf[start..end) is complete (end is just past the blank line's LF).
 */
static int parse_head(struct http1_parser *p, const char *buf, size_t start, size_t end,
                      uint32_t max_target, uint16_t max_headers, struct http1_req *req)
{
        const char *s = buf + start;
        const char *e = buf + end;
        const char *q = s;
        bool conn_close = false, conn_keep = false, host_seen = false;
        struct te_state te = {0};

        memset(req->known, 0xff, sizeof(req->known));
        req->n_hdrs = 0;
        req->chunked = false;
        req->expect_continue = false;
        req->content_length = -1;

        /* method SP */
        while (CLS(*q) & C_TCHAR)
                q++;
        if (q == s || *q != ' ')
                return refuse(p, 400, "malformed request line");
        if (q - s > METHOD_MAX)
                return refuse(p, 400, "method too long");
        req->method_str = s;
        req->method_len = (uint32_t)(q - s);
        req->method = method_of(s, req->method_len);

        /* request-target SP */
        const char *t = ++q;
        while (CLS(*q) & C_TARGET)
                q++;
        if ((size_t)(q - t) > max_target)
                return refuse(p, 414, "request-target too long");
        if (q == t || *q != ' ')
                return refuse(p, 400, "malformed request-target");
        req->target = t;
        req->target_len = (uint32_t)(q - t);
        if (!target_form_ok(req->method, t, req->target_len))
                return refuse(p, 400, "malformed request-target");

        /* HTTP-version CRLF: "HTTP/" DIGIT "." DIGIT, case-sensitive (RFC 9112 §2.3) */
        q++;
        if (e - q < 10 || memcmp(q, "HTTP/", 5) != 0 || q[5] < '0' || q[5] > '9' ||
            q[6] != '.' || q[7] < '0' || q[7] > '9' || q[8] != '\r' || q[9] != '\n')
                return refuse(p, 400, "malformed HTTP-version");
        /* RFC 9110 section 2.5: a later 1.x is answered as 1.1, the highest we speak; another
         * major version is 505 (section 15.6.6). */
        if (q[5] != '1')
                return refuse(p, 505, "unsupported HTTP major version");
        req->minor = q[7] == '0' ? 0 : 1;
        q += 10;

        /* field-lines, then the CRLF that ends the head */
        for (;;) {
                if (*q == '\r') {
                        if (q[1] != '\n')
                                return refuse(p, 400, "bare CR");
                        q += 2;
                        break;
                }
                if (CLS(*q) & C_WS)
                        return refuse(p, 400, "obs-fold or whitespace before field name");

                const char *name = q;
                while (CLS(*q) & C_TCHAR)
                        q++;
                size_t name_len = (size_t)(q - name);
                if (*q != ':') {
                        if (CLS(*q) & C_WS)
                                return refuse(p, 400, "whitespace before colon");
                        return refuse(p, 400, "invalid field name");
                }
                if (name_len == 0)
                        return refuse(p, 400, "empty field name");
                q++;

                while (CLS(*q) & C_WS)
                        q++;
                const char *val = q, *val_end = q;
                for (;;) {
                        uint8_t c = CLS(*q);
                        if (c & C_FVCHAR)
                                val_end = ++q;
                        else if (c & C_WS)
                                q++;
                        else
                                break;
                }
                if (*q != '\r')
                        return refuse(p, 400, "invalid byte in field value");
                if (q[1] != '\n')
                        return refuse(p, 400, "bare CR");
                q += 2;
                /* A continuation line (obs-fold) starts with SP/HTAB; the check at the top of
                 * the loop refuses it. */

                size_t val_len = (size_t)(val_end - val);
                if (name_len > UINT16_MAX || val_len > UINT16_MAX)
                        return refuse(p, 431, "field too large");
                if (req->n_hdrs >= max_headers)
                        return refuse(p, 431, "too many header fields");

                struct http_hdr *h = &req->hdrs[req->n_hdrs];
                h->name = name;
                h->name_len = (uint16_t)name_len;
                h->value = val;
                h->value_len = (uint16_t)val_len;

                int k = known_of(name, name_len);
                if (k >= 0) {
                        switch (k) {
                        case HK_HOST:
                                if (host_seen)
                                        return refuse(p, 400, "duplicate Host");
                                host_seen = true;
                                if (!http1_host_ok(val, val_len))
                                        return refuse(p, 400, "malformed Host");
                                break;
                        case HK_CONTENT_LENGTH:
                                if (req->content_length >= 0)
                                        return refuse(p, 400, "duplicate Content-Length");
                                req->content_length = content_length_of(val, val_len);
                                if (req->content_length < 0)
                                        return refuse(p, 400, "malformed Content-Length");
                                break;
                        case HK_TRANSFER_ENCODING:
                                te_add(&te, val, val_len);
                                break;
                        case HK_CONNECTION:
                                connection_add(val, val_len, &conn_close, &conn_keep);
                                break;
                        case HK_EXPECT:
                                if (ci_eq(val, val_len, "100-continue"))
                                        req->expect_continue = true;
                                break;
                        }
                        if (req->known[k] < 0)
                                req->known[k] = (int16_t)req->n_hdrs;
                }
                req->n_hdrs++;
        }
        BUG_ON_HOT(q != e);

        if (req->minor == 1 && !host_seen)
                return refuse(p, 400, "missing Host");
        if (te.seen) {
                /* RFC 9112 §6.1: a 1.0 message with Transfer-Encoding cannot be trusted to be
                 * framed the way a downstream reader would frame it. */
                if (req->minor == 0)
                        return refuse(p, 400, "Transfer-Encoding in HTTP/1.0");
                if (req->content_length >= 0)
                        return refuse(p, 400, "Content-Length with Transfer-Encoding");
                if (te.bad)
                        return refuse(p, 400, "malformed Transfer-Encoding");
                /* RFC 9112 §6.3: a final coding other than chunked leaves the length unknown,
                 * a 400 whatever that coding is; 501 is for codings before it (§6.1). */
                if (!te.last_chunked || te.chunked_before)
                        return refuse(p, 400, "Transfer-Encoding does not end in chunked");
                if (te.unknown)
                        return refuse(p, 501, "unknown transfer coding");
                if (te.other_known)
                        return refuse(p, 501, "unsupported transfer coding");
                req->chunked = true;
        }
        if (req->minor == 0)
                req->expect_continue = false; /* RFC 9110 §10.1.1: ignore from 1.0 */
        req->keep_alive = req->minor == 1 ? !conn_close : (conn_keep && !conn_close);
        return 0;
}

/* Number of leading CRLF pairs before the request line (complete pairs only). */
static size_t leading_crlfs(const char *buf, size_t len)
{
        size_t n = 0;
        while (2 * n + 1 < len && buf[2 * n] == '\r' && buf[2 * n + 1] == '\n')
                n++;
        return n;
}

/*
 * Early 414: once the bytes after the method could hold max_target + 1 target bytes without a
 * SP, the target is too long whatever follows. Runs once per request, on the call whose new
 * bytes cross that threshold, so it does not break the O(n) bound.
 */
static int check_long_line(struct http1_parser *p, const char *buf, size_t len, size_t lead,
                           uint32_t max_target)
{
        size_t start = 2 * lead;
        size_t thresh = start + METHOD_MAX + 1 + (size_t)max_target + 1;
        if (!(p->scanned < thresh && len >= thresh))
                return 0;
        const char *sp = memchr(buf + start, ' ', METHOD_MAX + 1);
        if (!sp)
                return refuse(p, 400, "malformed request line");
        size_t t = (size_t)(sp - buf) + 1;
        const char *lf = memchr(buf + start, '\n', t - start);
        if (lf)
                return 0; /* a line ended inside the method: phase two will refuse it */
        if (!memchr(buf + t, ' ', max_target + 1) && !memchr(buf + t, '\n', max_target + 1))
                return refuse(p, 414, "request-target too long");
        return 0;
}

int http1_req_parse(struct http1_parser *p, const char *buf, size_t len,
                    const struct http1_limits *limits, struct http1_req *req)
{
        uint32_t max_bytes = DEFAULT_MAX_HEADER_BYTES, max_target = DEFAULT_MAX_TARGET;
        uint16_t max_headers = DEFAULT_MAX_HEADERS;
        size_t i, end = 0;
        int r;

        if (p->status)
                return -EPROTO;
        if (limits) {
                if (limits->max_header_bytes)
                        max_bytes = limits->max_header_bytes;
                if (limits->max_target)
                        max_target = limits->max_target;
                if (limits->max_headers)
                        max_headers = limits->max_headers;
        }
        if (max_headers > HTTP1_MAX_HEADERS_CAP)
                max_headers = HTTP1_MAX_HEADERS_CAP;
        if (max_bytes > INT32_MAX)
                max_bytes = INT32_MAX; /* the head length is returned as an int */

        /* Phase one: find the blank line, looking no further than the limit allows. Every LF
         * must follow a CR, and every CR be followed by an LF. */
        size_t lim = len < max_bytes ? len : max_bytes;
        i = p->scanned;
        while (i < lim) {
                const char *lf = memchr(buf + i, '\n', lim - i);
                size_t at = lf ? (size_t)(lf - buf) : lim;
                /* No byte of buf[i..at) is an LF, so a CR in buf[i - 1..at - 1) is bare: the
                 * byte after it has arrived and is not an LF. buf[i - 1] is the last byte of
                 * the call before (or the LF of the line before); a CR at at - 1 is followed by
                 * the LF found, or by a byte not yet looked at. Phase two alone would be too
                 * late: a bare CR where the blank line belongs ("\r\r\n") ends no head, so a
                 * client waiting for its answer would get none before the header timeout. */
                size_t from = i > 0 ? i - 1 : 0;
                if (at > from && memchr(buf + from, '\r', at - 1 - from))
                        return refuse(p, 400, "bare CR");
                if (!lf)
                        break;
                if (at == 0 || buf[at - 1] != '\r')
                        return refuse(p, 400, "bare LF");
                size_t ls = at - 1; /* start of this line if it is empty */
                i = at + 1;
                if (ls != 0 && buf[ls - 1] != '\n')
                        continue; /* not an empty line */
                if (leading_crlfs(buf, ls) * 2 == ls) {
                        /* An empty line before the request line. */
                        if (ls / 2 + 1 > LEADING_CRLF_MAX)
                                return refuse(p, 400, "too many empty lines before request");
                        continue;
                }
                end = i;
                break;
        }

        if (!end) {
                size_t lead = leading_crlfs(buf, len);
                if (lead > LEADING_CRLF_MAX)
                        lead = LEADING_CRLF_MAX;
                r = check_long_line(p, buf, len, lead, max_target);
                if (r < 0)
                        return r;
                p->scanned = (uint32_t)lim;
                if (len > max_bytes)
                        return refuse(p, 431, "request head too large");
                return -EAGAIN;
        }
        p->scanned = (uint32_t)end;

        size_t lead = leading_crlfs(buf, end);
        if (lead > LEADING_CRLF_MAX)
                lead = LEADING_CRLF_MAX;
        r = parse_head(p, buf, 2 * lead, end, max_target, max_headers, req);
        if (r < 0)
                return r;
        return (int)end;
}

bool http1_target_chars_ok(const char *t, size_t len)
{
        for (size_t i = 0; i < len; i++)
                if (!(CLS(t[i]) & C_TARGET))
                        return false;
        return true;
}

const char *http1_req_known(const struct http1_req *req, enum http_known_hdr k, size_t *ret_len)
{
        if ((unsigned)k >= HK_COUNT || req->known[k] < 0) {
                if (ret_len)
                        *ret_len = 0;
                return NULL;
        }
        const struct http_hdr *h = &req->hdrs[req->known[k]];
        if (ret_len)
                *ret_len = h->value_len;
        return h->value;
}

const char *http1_req_authority(const struct http1_req *req, size_t *ret_len)
{
        const char *a;
        size_t a_len;

        if (req->target && http1_absolute_authority(req->target, req->target_len, &a, &a_len)) {
                *ret_len = a_len;
                return a;
        }
        return http1_req_known(req, HK_HOST, ret_len);
}

const char *http1_req_header_next(const struct http1_req *req, const char *name, unsigned *pos,
                                  size_t *ret_len)
{
        size_t n = strlen(name);
        for (unsigned i = *pos; i < req->n_hdrs; i++) {
                const struct http_hdr *h = &req->hdrs[i];
                if (h->name_len != n)
                        continue;
                size_t j = 0;
                for (; j < n; j++) {
                        char a = h->name[j], b = name[j];
                        if (a >= 'A' && a <= 'Z')
                                a = (char)(a + 32);
                        if (b >= 'A' && b <= 'Z')
                                b = (char)(b + 32);
                        if (a != b)
                                break;
                }
                if (j == n) {
                        *pos = i + 1;
                        if (ret_len)
                                *ret_len = h->value_len;
                        return h->value;
                }
        }
        *pos = req->n_hdrs;
        if (ret_len)
                *ret_len = 0;
        return NULL;
}

const char *http1_req_header(const struct http1_req *req, const char *name, size_t *ret_len)
{
        unsigned pos = 0;

        return http1_req_header_next(req, name, &pos, ret_len);
}

int http1_field_line_value(const char *line, size_t len, const char *name, char *out, size_t cap)
{
        size_t n = strlen(name), v, end = len;

        if (len <= n || line[n] != ':' || strncasecmp(line, name, n) != 0)
                return -ENOENT; /* another field's line: out keeps what it holds */
        out[0] = '\0';
        for (v = n + 1; v < end && (CLS(line[v]) & C_WS);)
                v++;
        while (end > v &&
               (line[end - 1] == '\n' || line[end - 1] == '\r' || (CLS(line[end - 1]) & C_WS)))
                end--;
        for (size_t i = v; i < end; i++)
                if (!(CLS(line[i]) & (C_FVCHAR | C_WS)))
                        return -EINVAL;
        if (end - v >= cap)
                return -ENAMETOOLONG;
        memcpy(out, line + v, end - v);
        out[end - v] = '\0';
        return (int)(end - v);
}

enum { SEEK_LEAD, SEEK_FIRST, SEEK_LINE };

void http1_field_seek_init(struct http1_field_seek *s, const char *name, uint32_t budget)
{
        s->name = name;
        s->name_len = (uint32_t)strlen(name);
        s->budget = budget;
        s->at = SEEK_LEAD;
        s->skip = s->cr_first = false;
        s->seen = s->len = 0;
}

static char ascii_lower(char b)
{
        return b >= 'A' && b <= 'Z' ? (char)(b + 32) : b;
}

/* One more byte (not an LF) of a field line: kept while the line may be the field's. Returns
 * 0, or -ENAMETOOLONG when it is and does not fit. */
static int seek_keep(struct http1_field_seek *s, char b)
{
        uint32_t k = s->len;

        if (k < s->name_len ? ascii_lower(b) != ascii_lower(s->name[k])
                            : k == s->name_len && b != ':') {
                s->skip = true; /* another field's line (or the blank line's CR) */
                return 0;
        }
        if (k == s->name_len + 1 && (b == ' ' || b == '\t'))
                return 0; /* OWS before the value is not kept: a run of it takes no room */
        if (k == sizeof(s->line))
                return -ENAMETOOLONG;
        s->line[s->len++] = b;
        return 0;
}

/* A line's LF came: the search's result, or -EAGAIN to go on. */
static int seek_line_end(const struct http1_field_seek *s, char *out, size_t cap)
{
        if (s->at == SEEK_FIRST)
                return -EAGAIN; /* the request line is never a field */
        if (s->seen == 0 || (s->seen == 1 && s->cr_first))
                return -ENOENT; /* the blank line: the head ended without the field */
        if (s->skip || s->len <= s->name_len)
                return -EAGAIN;
        return http1_field_line_value(s->line, s->len, s->name, out, cap);
}

int http1_field_seek_feed(struct http1_field_seek *s, const char *buf, size_t len, char *out,
                          size_t cap)
{
        size_t i = 0;

        while (i < len) {
                size_t n = len - i < s->budget ? len - i : s->budget;
                int r;

                if (n == 0)
                        return -ENOENT; /* the budget is spent */
                if (s->at == SEEK_LEAD) {
                        if (buf[i] != '\r' && buf[i] != '\n') {
                                s->at = SEEK_FIRST;
                                continue;
                        }
                        i++;
                        s->budget--;
                        continue;
                }
                if (s->at == SEEK_FIRST || s->skip) {
                        /* Nothing of this line is kept: on to its end. */
                        const char *lf = memchr(buf + i, '\n', n);
                        size_t take = lf ? (size_t)(lf - (buf + i)) : n;

                        s->seen += (uint32_t)take;
                        s->budget -= (uint32_t)take;
                        i += take;
                        if (!lf)
                                continue;
                }
                s->budget--;
                if (buf[i] == '\n') {
                        i++;
                        r = seek_line_end(s, out, cap);
                        if (r != -EAGAIN)
                                return r;
                        s->at = SEEK_LINE;
                        s->skip = s->cr_first = false;
                        s->seen = s->len = 0;
                        continue;
                }
                if (s->seen++ == 0 && buf[i] == '\r')
                        s->cr_first = true;
                r = seek_keep(s, buf[i++]);
                if (r < 0)
                        return r;
        }
        return s->budget == 0 ? -ENOENT : -EAGAIN;
}

int http1_raw_field(const char *buf, size_t len, const char *name, char *out, size_t cap)
{
        struct http1_field_seek s;
        int r;

        http1_field_seek_init(&s, name, len < UINT32_MAX ? (uint32_t)len : UINT32_MAX);
        r = http1_field_seek_feed(&s, buf, len, out, cap);
        return r == -EAGAIN ? -ENOENT : r; /* a line not yet whole is no line */
}
