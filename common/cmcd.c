/* SPDX-License-Identifier: MIT */
/*
 * CMCD (CTA-5004) key lists. The payload is a Structured Field Values dictionary (RFC 8941
 * §3.2) whose members are Integers, Decimals, Strings, Tokens or Booleans (a bare key is
 * true). We read it the same way whether it came from the query argument or a CMCD-* header;
 * the query form is percent-encoded first (RFC 3986: '+' stays '+').
 *
 * A member of the wrong type for its key, or with a value out of range, is dropped on its own;
 * only a syntax error stops the parse with -EINVAL, keeping what was read before it.
 *
 * CMCD version 2 (CTA-5004-B) sends some keys as inner lists: nor as a list of strings (the
 * next objects, each perhaps with an "r" range parameter), br, bl, mtp and tb as lists of
 * integers (one per object type, each perhaps with a type token as parameter). The first
 * member of such a list is taken as the key's value, as version 1 sends it alone; the rest
 * and all parameters are read over.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "bug.h"
#include "cmcd.h"
#include "hex.h"
#include "http1-parse.h"

#define CMCD_INPUT_MAX 1024
#define INT_DIGITS_MAX 15 /* RFC 8941 §3.3.1 */

enum vtype { V_BOOL, V_INT, V_DEC, V_STR, V_TOKEN, V_LIST, V_OTHER };

struct value {
        enum vtype type;
        bool b;
        bool neg;      /* V_INT, V_DEC: a minus sign (so "-0.5" is told from "0.5") */
        int64_t i;     /* V_INT, V_DEC: the integer part */
        unsigned frac; /* V_DEC: the fraction in thousandths */
        char s[CMCD_INPUT_MAX]; /* string/token contents, unescaped */
        size_t slen;
        const char *list; /* V_LIST: the inner list's contents, between the parentheses */
        size_t list_len;
};

void cmcd_init(struct cmcd *c)
{
        memset(c, 0, sizeof(*c));
        c->br = c->bl = c->d = c->dl = c->mtp = c->rtp = c->tb = -1;
        c->pr = c->v = -1;
}

/* Percent-decode s[0..n) into out (at least n bytes). Returns the decoded length or -EINVAL. */
static int pct_decode(const char *s, size_t n, char *out)
{
        size_t o = 0;
        for (size_t i = 0; i < n; i++) {
                if (s[i] != '%') {
                        out[o++] = s[i];
                        continue;
                }
                int h, l;
                if (i + 2 >= n || (h = hex_digit(s[i + 1])) < 0 || (l = hex_digit(s[i + 2])) < 0)
                        return -EINVAL;
                out[o++] = (char)(h << 4 | l);
                i += 2;
        }
        return (int)o;
}

static bool is_digit(char c)
{
        return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* tchar (RFC 9110 §5.6.2) plus ":" and "/" as sf-token allows. */
static bool is_token_char(char c)
{
        return is_alpha(c) || is_digit(c) || (c && strchr("!#$%&'*+-.^_`|~:/", c));
}

/* Keys: sf-key is lower-case; CTA-5004 custom keys ("com.example-myKey") carry upper case in
 * the wild, so letters of either case are read and unknown keys are dropped anyway. */
static bool is_key_start(char c)
{
        return is_alpha(c) || c == '*';
}

static bool is_key_char(char c)
{
        return is_alpha(c) || is_digit(c) || c == '_' || c == '-' || c == '.' || c == '*';
}

static int parse_value(const char *s, size_t n, size_t *i, struct value *v)
{
        size_t p = *i;
        if (p >= n)
                return -EINVAL;
        if (s[p] == '"') {
                v->type = V_STR;
                v->slen = 0;
                for (p++; p < n; p++) {
                        char c = s[p];
                        if (c == '"') {
                                *i = p + 1;
                                return 0;
                        }
                        if (c == '\\') {
                                if (++p >= n || (s[p] != '"' && s[p] != '\\'))
                                        return -EINVAL;
                                c = s[p];
                        } else if (c < 0x20 || c > 0x7e) {
                                return -EINVAL;
                        }
                        v->s[v->slen++] = c;
                }
                return -EINVAL;
        }
        if (s[p] == '?') {
                if (p + 1 >= n || (s[p + 1] != '0' && s[p + 1] != '1'))
                        return -EINVAL;
                v->type = V_BOOL;
                v->b = s[p + 1] == '1';
                *i = p + 2;
                return 0;
        }
        if (s[p] == '-' || is_digit(s[p])) {
                bool neg = s[p] == '-';
                size_t b;
                int64_t x = 0;
                if (neg)
                        p++;
                b = p;
                while (p < n && is_digit(s[p])) {
                        if (p - b >= INT_DIGITS_MAX)
                                return -EINVAL;
                        x = x * 10 + (s[p] - '0');
                        p++;
                }
                if (p == b)
                        return -EINVAL;
                v->type = V_INT;
                v->frac = 0;
                if (p < n && s[p] == '.') {
                        /* Decimal: at most 12 integer and 3 fraction digits (§3.3.2). */
                        size_t f = ++p;
                        unsigned scale = 100;
                        while (p < n && is_digit(s[p])) {
                                v->frac += scale * (unsigned)(s[p] - '0');
                                scale /= 10;
                                p++;
                        }
                        if (f - 1 - b > 12 || p == f || p - f > 3)
                                return -EINVAL;
                        v->type = V_DEC;
                }
                v->neg = neg;
                v->i = neg ? -x : x;
                *i = p;
                return 0;
        }
        if (is_alpha(s[p]) || s[p] == '*') {
                v->type = V_TOKEN;
                v->slen = 0;
                while (p < n && is_token_char(s[p]))
                        v->s[v->slen++] = s[p++];
                *i = p;
                return 0;
        }
        /* A byte sequence or an inner list (RFC 8941 sections 3.3.5, 3.1.1): no CMCD key takes
         * one, but a custom key may, and the keys after it still count. Read over whole. */
        if (s[p] == ':') {
                for (p++; p < n && s[p] != ':'; p++)
                        if (!is_alpha(s[p]) && !is_digit(s[p]) && s[p] != '+' && s[p] != '/' &&
                            s[p] != '=')
                                return -EINVAL;
                if (p >= n)
                        return -EINVAL;
                v->type = V_OTHER;
                *i = p + 1;
                return 0;
        }
        if (s[p] == '(') {
                bool quoted = false;
                size_t open = p;
                for (p++; p < n; p++) {
                        if (quoted) {
                                if (s[p] == '\\')
                                        p++;
                                else if (s[p] == '"')
                                        quoted = false;
                        } else if (s[p] == '"') {
                                quoted = true;
                        } else if (s[p] == ')') {
                                v->type = V_LIST;
                                v->list = s + open + 1;
                                v->list_len = p - open - 1;
                                *i = p + 1;
                                return 0;
                        } else if (s[p] == '(' || s[p] == ',') {
                                return -EINVAL; /* inner lists do not nest, nor hold commas */
                        }
                }
        }
        return -EINVAL;
}

static void copy_trunc(char *dst, size_t cap, const char *src, size_t n)
{
        if (n >= cap)
                n = cap - 1;
        memcpy(dst, src, n);
        dst[n] = '\0';
}

static bool key_is(const char *k, size_t kl, const char *lit)
{
        return strlen(lit) == kl && memcmp(k, lit, kl) == 0;
}

/*
 * v itself, or for an inner list its first member (a version 2 key, see the head) into item.
 * NULL when the list is empty or its first member does not parse.
 */
static const struct value *single(const struct value *v, struct value *item)
{
        size_t i = 0;
        if (v->type != V_LIST)
                return v;
        while (i < v->list_len && v->list[i] == ' ')
                i++;
        if (i >= v->list_len || parse_value(v->list, v->list_len, &i, item) < 0)
                return NULL;
        return item;
}

static void store(struct cmcd *c, const char *k, size_t kl, const struct value *whole)
{
        struct value item;
        const struct value *v = whole;
        static const struct {
                const char *key;
                size_t off;
        } ints[] = {
                {"br", offsetof(struct cmcd, br)},   {"bl", offsetof(struct cmcd, bl)},
                {"d", offsetof(struct cmcd, d)},     {"dl", offsetof(struct cmcd, dl)},
                {"mtp", offsetof(struct cmcd, mtp)}, {"rtp", offsetof(struct cmcd, rtp)},
                {"tb", offsetof(struct cmcd, tb)},
        };
        for (size_t j = 0; j < ARRAY_SIZE(ints); j++) {
                if (!key_is(k, kl, ints[j].key))
                        continue;
                v = single(whole, &item);
                if (v && v->type == V_INT && v->i >= 0)
                        *(int64_t *)((char *)c + ints[j].off) = v->i;
                return;
        }
        if (key_is(k, kl, "bs") || key_is(k, kl, "su")) {
                if (v->type == V_BOOL)
                        *(k[0] == 'b' ? &c->bs : &c->su) = v->b;
                return;
        }
        if (key_is(k, kl, "sid") || key_is(k, kl, "cid")) {
                if (v->type == V_STR) {
                        if (k[0] == 's')
                                copy_trunc(c->sid, sizeof(c->sid), v->s, v->slen);
                        else
                                copy_trunc(c->cid, sizeof(c->cid), v->s, v->slen);
                }
                return;
        }
        if (key_is(k, kl, "ot") || key_is(k, kl, "sf") || key_is(k, kl, "st")) {
                if (v->type != V_TOKEN)
                        return;
                char *dst = k[0] == 'o' ? c->ot : k[1] == 'f' ? c->sf : c->st;
                size_t cap = k[0] == 'o' ? sizeof(c->ot) : sizeof(c->sf);
                if (v->slen < cap) /* a token too long for its field is no known value */
                        copy_trunc(dst, cap, v->s, v->slen);
                return;
        }
        if (key_is(k, kl, "pr")) {
                /* A Decimal; a player may write a whole rate as an Integer ("pr=2"), no
                 * longer than a Decimal's integer part, so that the log writes a Decimal. */
                if ((v->type == V_DEC || v->type == V_INT) && !v->neg && v->i <= 999999999999)
                        c->pr = v->i * 1000 + (int64_t)v->frac;
                return;
        }
        if (key_is(k, kl, "v")) {
                if (v->type == V_INT && v->i >= 1)
                        c->v = v->i;
                return;
        }
        if (key_is(k, kl, "nrr")) {
                /* A byte range as "<first>-<last>" (either side may be empty, not both). */
                size_t dash = 0, digits = 0;
                if (v->type != V_STR || v->slen >= sizeof(c->nrr))
                        return;
                for (size_t j = 0; j < v->slen; j++) {
                        if (v->s[j] == '-')
                                dash++;
                        else if (is_digit(v->s[j]))
                                digits++;
                        else
                                return;
                }
                if (dash == 1 && digits > 0)
                        copy_trunc(c->nrr, sizeof(c->nrr), v->s, v->slen);
                return;
        }
        if (key_is(k, kl, "nor")) {
                /* nor is itself URL-encoded (CTA-5004 §3.3); keep it decoded for prefetch. A
                 * control byte after decoding is no path we would fetch. */
                char tmp[CMCD_INPUT_MAX];
                int n;
                v = single(whole, &item);
                if (!v || v->type != V_STR || (n = pct_decode(v->s, v->slen, tmp)) <= 0 ||
                    (size_t)n >= sizeof(c->nor))
                        return;
                for (int j = 0; j < n; j++)
                        if ((unsigned char)tmp[j] < 0x20 || tmp[j] == 0x7f)
                                return;
                copy_trunc(c->nor, sizeof(c->nor), tmp, (size_t)n);
        }
}

int cmcd_parse(struct cmcd *c, const char *s, size_t len, int decoded)
{
        char buf[CMCD_INPUT_MAX];
        struct value v;
        size_t i = 0;

        if (!s || len > CMCD_INPUT_MAX)
                return -EINVAL;
        if (!decoded) {
                int n = pct_decode(s, len, buf);
                if (n < 0)
                        return n;
                s = buf;
                len = (size_t)n;
        }

        for (;;) {
                while (i < len && (s[i] == ' ' || s[i] == '\t'))
                        i++;
                if (i >= len)
                        return 0;
                if (!is_key_start(s[i]))
                        return -EINVAL;
                size_t kb = i;
                while (i < len && is_key_char(s[i]))
                        i++;
                size_t kl = i - kb;
                if (i < len && s[i] == '=') {
                        i++;
                        if (parse_value(s, len, &i, &v) < 0)
                                return -EINVAL;
                } else {
                        v.type = V_BOOL;
                        v.b = true;
                }
                /* RFC 8941 parameters (";a=b") are not used by CMCD and would hide a syntax
                 * error, so anything but OWS and a comma after a member is malformed. */
                while (i < len && (s[i] == ' ' || s[i] == '\t'))
                        i++;
                if (i < len && s[i] != ',')
                        return -EINVAL;
                store(c, s + kb, kl, &v);
                if (i < len) {
                        i++; /* the comma */
                        size_t j = i;
                        while (j < len && (s[j] == ' ' || s[j] == '\t'))
                                j++;
                        if (j >= len)
                                return -EINVAL; /* trailing comma (RFC 8941 §4.2.2) */
                }
        }
}

/* Append a whole item, or nothing when it does not fit. */
struct out {
        char *p;
        size_t cap, len;
        bool first;
};

static void emit(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void emit(struct out *o, const char *fmt, ...)
{
        char item[sizeof(((struct cmcd *)0)->nor) * 3 + 16];
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(item, sizeof(item), fmt, ap);
        va_end(ap);
        if (n < 0 || (size_t)n >= sizeof(item))
                return;
        size_t need = (size_t)n + (o->first ? 0 : 1);
        if (o->len + need >= o->cap)
                return;
        if (!o->first)
                o->p[o->len++] = ',';
        memcpy(o->p + o->len, item, (size_t)n);
        o->len += (size_t)n;
        o->p[o->len] = '\0';
        o->first = false;
}

/* Quote a string for the log: escapes '"' and '\' as the input syntax does. Stored strings
 * hold only printable ASCII, so nothing else needs escaping. */
static void quote(char *dst, size_t cap, const char *s)
{
        size_t o = 0;
        for (; *s && o + 3 < cap; s++) {
                if (*s == '"' || *s == '\\')
                        dst[o++] = '\\';
                dst[o++] = *s;
        }
        dst[o] = '\0';
}

/* nor holds decoded bytes: percent-encode anything that could break a log line or be taken
 * for syntax when the line is read back. */
static void pct_encode(char *dst, size_t cap, const char *s)
{
        static const char hex[] = "0123456789ABCDEF";
        size_t o = 0;
        for (; *s && o + 4 < cap; s++) {
                unsigned char c = (unsigned char)*s;
                if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '%' || c == ',') {
                        dst[o++] = '%';
                        dst[o++] = hex[c >> 4];
                        dst[o++] = hex[c & 15];
                } else {
                        dst[o++] = (char)c;
                }
        }
        dst[o] = '\0';
}

size_t cmcd_format_log(const struct cmcd *c, char *out, size_t cap)
{
        struct out o = {out, cap, 0, true};
        char tmp[sizeof(c->nor) * 3 + 1];

        if (!out || cap == 0)
                return 0;
        out[0] = '\0';
        /* Keys in alphabetical order, as CTA-5004 recommends for the wire. */
        if (c->bl >= 0)
                emit(&o, "bl=%lld", (long long)c->bl);
        if (c->br >= 0)
                emit(&o, "br=%lld", (long long)c->br);
        if (c->bs)
                emit(&o, "bs");
        if (c->cid[0]) {
                quote(tmp, sizeof(tmp), c->cid);
                emit(&o, "cid=\"%s\"", tmp);
        }
        if (c->d >= 0)
                emit(&o, "d=%lld", (long long)c->d);
        if (c->dl >= 0)
                emit(&o, "dl=%lld", (long long)c->dl);
        if (c->mtp >= 0)
                emit(&o, "mtp=%lld", (long long)c->mtp);
        if (c->nor[0]) {
                pct_encode(tmp, sizeof(tmp), c->nor);
                emit(&o, "nor=\"%s\"", tmp);
        }
        if (c->nrr[0])
                emit(&o, "nrr=\"%s\"", c->nrr);
        if (c->ot[0])
                emit(&o, "ot=%s", c->ot);
        if (c->pr >= 0) {
                /* As RFC 8941 writes a Decimal: no trailing zero but one digit at least. */
                int frac = (int)(c->pr % 1000), digits = 3;
                while (digits > 1 && frac % 10 == 0) {
                        frac /= 10;
                        digits--;
                }
                emit(&o, "pr=%lld.%0*d", (long long)(c->pr / 1000), digits, frac);
        }
        if (c->rtp >= 0)
                emit(&o, "rtp=%lld", (long long)c->rtp);
        if (c->sf[0])
                emit(&o, "sf=%s", c->sf);
        if (c->sid[0]) {
                quote(tmp, sizeof(tmp), c->sid);
                emit(&o, "sid=\"%s\"", tmp);
        }
        if (c->st[0])
                emit(&o, "st=%s", c->st);
        if (c->su)
                emit(&o, "su");
        if (c->tb >= 0)
                emit(&o, "tb=%lld", (long long)c->tb);
        if (c->v >= 0)
                emit(&o, "v=%lld", (long long)c->v);
        return o.len;
}

bool cmcd_from_request(struct cmcd *c, const struct http1_req *req, const char *query,
                       size_t query_len)
{
        static const char *const hdrs[] = {"CMCD-Object", "CMCD-Request", "CMCD-Session",
                                           "CMCD-Status"};
        bool any = false;

        cmcd_init(c);
        if (query) {
                (void)cmcd_parse(c, query, query_len, 0);
                any = true;
        }
        /* A field sent on several lines is one comma-separated list (RFC 8941 §4.2): every
         * line counts, each read as a list of its own. */
        for (size_t i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++) {
                unsigned pos = 0;
                size_t len;
                const char *v;
                while ((v = http1_req_header_next(req, hdrs[i], &pos, &len))) {
                        (void)cmcd_parse(c, v, len, 1);
                        any = true;
                }
        }
        return any;
}
