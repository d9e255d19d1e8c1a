/* SPDX-License-Identifier: MIT */
/*
 * Response head writer. Every append checks room once and latches the first failure, so a
 * caller can build a whole head without checking each step and look at the result once in
 * http_resp_finish().
 */
#include <errno.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bug.h"
#include "http-cond.h"
#include "http-resp.h"

const char *http_status_reason(int status)
{
        switch (status) {
        case 100: return "Continue";
        case 101: return "Switching Protocols";
        case 200: return "OK";
        case 201: return "Created";
        case 202: return "Accepted";
        case 204: return "No Content";
        case 206: return "Partial Content";
        case 301: return "Moved Permanently";
        case 302: return "Found";
        case 303: return "See Other";
        case 304: return "Not Modified";
        case 307: return "Temporary Redirect";
        case 308: return "Permanent Redirect";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 406: return "Not Acceptable";
        case 408: return "Request Timeout";
        case 409: return "Conflict";
        case 410: return "Gone";
        case 411: return "Length Required";
        case 412: return "Precondition Failed";
        case 413: return "Content Too Large";
        case 414: return "URI Too Long";
        case 415: return "Unsupported Media Type";
        case 416: return "Range Not Satisfiable";
        case 417: return "Expectation Failed";
        case 422: return "Unprocessable Content";
        case 425: return "Too Early";
        case 426: return "Upgrade Required";
        case 428: return "Precondition Required";
        case 429: return "Too Many Requests";
        case 431: return "Request Header Fields Too Large";
        case 451: return "Unavailable For Legal Reasons";
        case 500: return "Internal Server Error";
        case 501: return "Not Implemented";
        case 502: return "Bad Gateway";
        case 503: return "Service Unavailable";
        case 504: return "Gateway Timeout";
        case 505: return "HTTP Version Not Supported";
        case 507: return "Insufficient Storage";
        }
        return "Unknown";
}

static void put(struct http_resp *r, const char *s, size_t n)
{
        if (r->overflow)
                return;
        if (n > r->cap - r->len) {
                r->overflow = -ENOBUFS;
                return;
        }
        memcpy(r->buf + r->len, s, n);
        r->len += n;
}

static void put_u64(struct http_resp *r, uint64_t v)
{
        char tmp[20];
        size_t i = sizeof(tmp);
        do {
                tmp[--i] = (char)('0' + v % 10);
                v /= 10;
        } while (v);
        put(r, tmp + i, sizeof(tmp) - i);
}

/* A CR or LF in a value would end the header early and let the rest be read as new fields
 * or a body (response splitting), so such a value poisons the whole head. Every response's
 * values pass through here (a dozen a response; the CORS lists are 100 bytes and more):
 * sixteen bytes at a time where the machine has SSE2, eight where not, and the tail as one
 * more such block overlapping the last, so that only values under eight bytes go bytewise. */
#define ONES  0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* Whether the eight bytes at v hold a CR, LF or NUL. */
static inline bool bad8(const char *v)
{
        uint64_t x, cr, lf;

        memcpy(&x, v, 8);
        cr = x ^ (ONES * '\r');
        lf = x ^ (ONES * '\n');
        /* Non-zero where a byte of x, cr or lf is zero. */
        return ((x - ONES) & ~x & HIGHS) | ((cr - ONES) & ~cr & HIGHS) |
               ((lf - ONES) & ~lf & HIGHS);
}

#ifdef __SSE2__
static inline bool bad16(const char *v)
{
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)v);
        __m128i bad = _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('\r')),
                                   _mm_cmpeq_epi8(x, _mm_set1_epi8('\n')));

        return _mm_movemask_epi8(_mm_or_si128(bad, _mm_cmpeq_epi8(x, _mm_setzero_si128()))) != 0;
}
#define BLOCK     16
#define bad_block bad16
#else
#define BLOCK     8
#define bad_block bad8
#endif

static bool value_safe(const char *v, size_t n)
{
        size_t i = 0;

        if (n >= BLOCK) {
                for (; i + BLOCK <= n; i += BLOCK)
                        if (bad_block(v + i))
                                return false;
                return i == n || !bad_block(v + n - BLOCK);
        }
#ifdef __SSE2__
        if (n >= 8)
                return !bad8(v) && !bad8(v + n - 8);
#endif
        for (; i < n; i++)
                if (v[i] == '\r' || v[i] == '\n' || v[i] == '\0')
                        return false;
        return true;
}

static void put_name(struct http_resp *r, const char *name)
{
        put(r, name, strlen(name));
        put(r, ": ", 2);
}

void http_resp_start(struct http_resp *r, char *buf, size_t cap, int status)
{
        r->buf = buf;
        r->cap = buf ? cap : 0;
        r->len = 0;
        r->overflow = 0;
        if (status < 100 || status > 999) {
                r->overflow = -EINVAL;
                return;
        }
        put(r, "HTTP/1.1 ", 9);
        put_u64(r, (uint64_t)status);
        put(r, " ", 1);
        const char *reason = http_status_reason(status);
        put(r, reason, strlen(reason));
        put(r, "\r\nDate: ", 8);
        put(r, http_date_now(), HTTP_DATE_LEN);
        put(r, "\r\nServer: sluice\r\n", 18);
}

/* A field that does not fit is dropped whole, so the buffer never holds half a line. */
static void end_field(struct http_resp *r, size_t start)
{
        put(r, "\r\n", 2);
        if (r->overflow)
                r->len = start;
}

/* One field, checked and sized once: written whole or not at all. */
void http_resp_header_named(struct http_resp *r, const char *name, size_t name_len,
                            const char *value, size_t value_len)
{
        size_t room = r->cap - r->len;
        char *p;

        if (r->overflow)
                return;
        if (!value_safe(value, value_len)) {
                r->overflow = -EINVAL;
                return;
        }
        if (name_len > room || value_len > room - name_len || room - name_len - value_len < 4) {
                r->overflow = -ENOBUFS;
                return;
        }
        p = r->buf + r->len;
        memcpy(p, name, name_len);
        p += name_len;
        *p++ = ':';
        *p++ = ' ';
        memcpy(p, value, value_len);
        p += value_len;
        *p++ = '\r';
        *p = '\n';
        r->len += name_len + value_len + 4;
}

void http_resp_header(struct http_resp *r, const char *name, const char *value, size_t value_len)
{
        http_resp_header_named(r, name, strlen(name), value, value_len);
}

void http_resp_headerf(struct http_resp *r, const char *name, const char *fmt, ...)
{
        va_list ap;
        size_t start = r->len;
        put_name(r, name);
        if (r->overflow) {
                r->len = start;
                return;
        }
        size_t room = r->cap - r->len;
        va_start(ap, fmt);
        int n = vsnprintf(r->buf + r->len, room, fmt, ap);
        va_end(ap);
        /* vsnprintf needs room for its NUL, so n == room also means it did not fit. */
        if (n < 0 || (size_t)n >= room) {
                r->overflow = n < 0 ? -EINVAL : -ENOBUFS;
                r->len = start;
                return;
        }
        if (!value_safe(r->buf + r->len, (size_t)n)) {
                r->overflow = -EINVAL;
                r->len = start;
                return;
        }
        r->len += (size_t)n;
        end_field(r, start);
}

void http_resp_header_u64(struct http_resp *r, const char *name, uint64_t v)
{
        size_t start = r->len;
        put_name(r, name);
        put_u64(r, v);
        end_field(r, start);
}

int http_resp_finish(struct http_resp *r)
{
        put(r, "\r\n", 2);
        if (r->overflow)
                return r->overflow;
        if (r->len > INT32_MAX)
                return -ENOBUFS;
        return (int)r->len;
}

time_t http_now_sec(void)
{
        struct timespec ts;

        /* The coarse clock is a vDSO read without a syscall; a Date header needs only seconds. */
        if (clock_gettime(CLOCK_REALTIME_COARSE, &ts) < 0)
                ts.tv_sec = time(NULL);
        return ts.tv_sec;
}

const char *http_date_now(void)
{
        /* One formatting per second per thread; workers never share this buffer. */
        static __thread char cached[HTTP_DATE_LEN + 1];
        static __thread time_t cached_sec = -1;
        time_t now = http_now_sec();

        if (now != cached_sec) {
                (void)http_date_format(now, cached);
                cached_sec = now;
        }
        return cached;
}

static bool ext_is(const char *ext, size_t n, const char *lit)
{
        size_t ln = strlen(lit);
        if (n != ln)
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = ext[i];
                if (c >= 'A' && c <= 'Z')
                        c = (char)(c + 32);
                if (c != lit[i])
                        return false;
        }
        return true;
}

const char *http_content_type_for(const char *path, size_t len)
{
        static const struct {
                const char *ext, *type;
        } types[] = {
                {"m4s", "video/iso.segment"},
                {"mp4", "video/mp4"}, /* init segments; audio/mp4 is not told apart by name */
                {"mpd", "application/dash+xml"},
                {"m3u8", "application/vnd.apple.mpegurl"},
                {"vtt", "text/vtt"},
                /* CMAF tracks (CTA-5000), HLS's MPEG-2 transport stream segments, and the
                 * other names packagers give media files and subtitles */
                {"cmfv", "video/mp4"},
                {"cmfa", "audio/mp4"},
                {"cmft", "application/mp4"},
                {"ts", "video/mp2t"},
                {"m4v", "video/mp4"},
                {"m4a", "audio/mp4"},
                {"aac", "audio/aac"},
                {"webm", "video/webm"},
                {"ttml", "application/ttml+xml"},
                {"json", "application/json"},
                {"html", "text/html; charset=utf-8"},
                {"js", "text/javascript"},
        };
        size_t i = len;
        while (i > 0 && path[i - 1] != '.' && path[i - 1] != '/')
                i--;
        if (i > 0 && path[i - 1] == '.') {
                for (size_t k = 0; k < ARRAY_SIZE(types); k++)
                        if (ext_is(path + i, len - i, types[k].ext))
                                return types[k].type;
        }
        return "application/octet-stream";
}

bool http_content_type_mapped(const char *path, size_t len)
{
        return strcmp(http_content_type_for(path, len), "application/octet-stream") != 0;
}
