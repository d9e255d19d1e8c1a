/* SPDX-License-Identifier: MIT */
/*
 * The compact JSON writer of json-write.h. jansson's own dump checks every byte of every
 * string as UTF-8 and goes through a string buffer per value; the answers here carry long
 * ASCII URLs (and an MPD inline), so the common cases are written directly and only the rare
 * ones are handed to jansson.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json-write.h"

/* The first allocation: most answers and rows fit without growing. */
#define JSON_WRITE_FIRST 1024

void json_write_init(struct json_write *w)
{
        buf_init(&w->b, SIZE_MAX);
}

void json_write_done(struct json_write *w)
{
        buf_done(&w->b);
}

void json_write_raw(struct json_write *w, const char *s, size_t n)
{
        if (!w->b.cap)
                (void)buf_reserve(&w->b, n > JSON_WRITE_FIRST ? n : JSON_WRITE_FIRST);
        (void)buf_append(&w->b, s, n);
}

void json_write_lit(struct json_write *w, const char *s)
{
        json_write_raw(w, s, strlen(s));
}

/* What jansson itself writes for v. */
static void write_jansson(struct json_write *w, const json_t *v)
{
        char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

        if (!s) {
                (void)buf_fail(&w->b, -ENOMEM);
                return;
        }
        json_write_raw(w, s, strlen(s));
        free(s);
}

/* What a byte of a string needs: 0 nothing, 1 an escape, 2 jansson's UTF-8 check. */
static const unsigned char str_class[256] = {
    [0x00 ... 0x1f] = 1,
    ['"'] = 1,
    ['\\'] = 1,
    [0x80 ... 0xff] = 2,
};

/* A string as jansson writes it: '"', '\\' and control bytes escaped (\b \t \n \f \r, the
 * rest as \u00XX), other ASCII as it is, '/' too. A string with a byte past ASCII goes
 * through jansson, which checks it as UTF-8 (and refuses it when it is not): what was written
 * of it by then is taken back. One pass, runs of plain bytes copied at once. */
void json_write_str(struct json_write *w, const char *s, size_t n)
{
        static const char hex[] = "0123456789ABCDEF";
        size_t i = 0, run, start = w->b.len;
        char esc[6];

        if (!s) {
                json_write_raw(w, "null", 4);
                return;
        }
        json_write_raw(w, "\"", 1);
        while (i < n) {
                unsigned char c;
                size_t el = 2;

                for (run = i; i < n && !str_class[(unsigned char)s[i]]; i++)
                        ;
                json_write_raw(w, s + run, i - run);
                if (i == n)
                        break;
                c = (unsigned char)s[i++];
                if (str_class[c] == 2) {
                        json_t *t = json_stringn(s, n);
                        buf_truncate(&w->b, start);
                        if (!t)
                                (void)buf_fail(&w->b, -EINVAL);
                        else
                                write_jansson(w, t);
                        json_decref(t);
                        return;
                }
                esc[0] = '\\';
                switch (c) {
                case '"':
                case '\\':
                        esc[1] = (char)c;
                        break;
                case '\b':
                        esc[1] = 'b';
                        break;
                case '\t':
                        esc[1] = 't';
                        break;
                case '\n':
                        esc[1] = 'n';
                        break;
                case '\f':
                        esc[1] = 'f';
                        break;
                case '\r':
                        esc[1] = 'r';
                        break;
                default:
                        memcpy(esc + 1, "u00", 3);
                        esc[4] = hex[c >> 4];
                        esc[5] = hex[c & 15];
                        el = 6;
                        break;
                }
                json_write_raw(w, esc, el);
        }
        json_write_raw(w, "\"", 1);
}

void json_write_cstr(struct json_write *w, const char *s)
{
        json_write_str(w, s, s ? strlen(s) : 0);
}

void json_write_int(struct json_write *w, int64_t v)
{
        char num[24];
        int n = snprintf(num, sizeof(num), "%" PRId64, v);

        json_write_raw(w, num, (size_t)n);
}

void json_write_real(struct json_write *w, double d)
{
        char num[40], *e;
        int n;

        if (!isfinite(d)) {
                (void)buf_fail(&w->b, -EINVAL);
                return;
        }
        /* Whole numbers well inside the exact range (the common case: seconds, positions):
         * "%.17g" would give the same digits, and jansson adds ".0". -0 is left to the rest. */
        if (d > -1e15 && d < 1e15 && d == (double)(long long)d && !(d == 0 && signbit(d))) {
                n = snprintf(num, sizeof(num), "%lld.0", (long long)d);
                json_write_raw(w, num, (size_t)n);
                return;
        }
        /* As jansson does (this process keeps the C locale, so the point is '.'): 17
         * significant digits, ".0" when neither a point nor an exponent shows it is a real,
         * and an exponent without '+' or leading zeros. */
        n = snprintf(num, sizeof(num) - 2, "%.17g", d);
        if (n < 0 || (size_t)n >= sizeof(num) - 2) {
                (void)buf_fail(&w->b, -EINVAL);
                return;
        }
        e = strchr(num, 'e');
        if (!e && !strchr(num, '.')) {
                memcpy(num + n, ".0", 3);
                n += 2;
        }
        if (e) {
                char *start = e + 1, *end = start + 1;
                if (*start == '-')
                        start++;
                while (*end == '0')
                        end++;
                if (end != start)
                        memmove(start, end, strlen(end) + 1);
                n = (int)strlen(num);
        }
        json_write_raw(w, num, (size_t)n);
}

static void write_value(struct json_write *w, const json_t *v, unsigned depth)
{
        const char *key;
        json_t *m;
        size_t i;
        bool first = true;

        if (!v) {
                (void)buf_fail(&w->b, -EINVAL);
                return;
        }
        if (depth > JSON_WRITE_DEPTH) {
                write_jansson(w, v);
                return;
        }
        switch (json_typeof(v)) {
        case JSON_OBJECT:
                json_write_raw(w, "{", 1);
                json_object_foreach((json_t *)v, key, m)
                {
                        if (!first)
                                json_write_raw(w, ",", 1);
                        first = false;
                        json_write_str(w, key, strlen(key));
                        json_write_raw(w, ":", 1);
                        write_value(w, m, depth + 1);
                }
                json_write_raw(w, "}", 1);
                break;
        case JSON_ARRAY:
                json_write_raw(w, "[", 1);
                json_array_foreach((json_t *)v, i, m)
                {
                        if (i)
                                json_write_raw(w, ",", 1);
                        write_value(w, m, depth + 1);
                }
                json_write_raw(w, "]", 1);
                break;
        case JSON_STRING:
                json_write_str(w, json_string_value(v), json_string_length(v));
                break;
        case JSON_INTEGER:
                json_write_int(w, (int64_t)json_integer_value(v));
                break;
        case JSON_REAL:
                json_write_real(w, json_real_value(v));
                break;
        case JSON_TRUE:
                json_write_raw(w, "true", 4);
                break;
        case JSON_FALSE:
                json_write_raw(w, "false", 5);
                break;
        case JSON_NULL:
                json_write_raw(w, "null", 4);
                break;
        default:
                write_jansson(w, v);
                break;
        }
}

void json_write_value(struct json_write *w, const json_t *v)
{
        write_value(w, v, 0);
}

void json_write_members(struct json_write *w, const json_t *o)
{
        if (!json_is_object(o)) {
                (void)buf_fail(&w->b, -EINVAL);
                return;
        }
        write_value(w, o, 0);
        if (!w->b.err && w->b.len > 0 && w->b.p[w->b.len - 1] == '}')
                buf_truncate(&w->b, w->b.len - 1);
}

char *json_write_steal(struct json_write *w, size_t *ret_len)
{
        char *p = w->b.p ? buf_steal(&w->b, ret_len) : NULL;

        if (!p)
                json_write_done(w);
        return p;
}

char *json_write_dumps(const json_t *v)
{
        struct json_write w;

        json_write_init(&w);
        json_write_value(&w, v);
        return json_write_steal(&w, NULL);
}
