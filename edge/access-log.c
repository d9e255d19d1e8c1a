/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmcd.h"
#include "path-norm.h"

#include "access-log.h"

void access_log_buf_init(struct access_log_buf *b, int fd)
{
        b->len = 0;
        b->staged = false;
        b->front_len = b->tail_len = 0;
        b->fd = fd;
}

/*
 * Append s[0..n) to the stage at *pos, escaping bytes that would break the line: spaces,
 * control bytes and non-ASCII as \xHH, and with quotes, '"' and '\\' as \" and \\ (inside
 * the quoted request; cmcd_format_log() escapes its own quoted values).
 */
static void put_esc(char *out, size_t cap, size_t *pos, const char *s, size_t n, bool quotes)
{
        static const char hexd[] = "0123456789abcdef";

        for (size_t i = 0; i < n && *pos + 4 < cap; i++) {
                unsigned char c = (unsigned char)s[i];
                if (quotes && (c == '"' || c == '\\')) {
                        out[(*pos)++] = '\\';
                        out[(*pos)++] = (char)c;
                } else if (c < 0x21 || c >= 0x7f) {
                        out[(*pos)++] = '\\';
                        out[(*pos)++] = 'x';
                        out[(*pos)++] = hexd[c >> 4];
                        out[(*pos)++] = hexd[c & 15];
                } else {
                        out[(*pos)++] = (char)c;
                }
        }
}

static void put_safe(char *out, size_t cap, size_t *pos, const char *s, size_t n)
{
        put_esc(out, cap, pos, s, n, true);
}

static void put_raw(char *out, size_t cap, size_t *pos, const char *s, size_t n)
{
        if (n > cap - *pos)
                n = cap - *pos;
        memcpy(out + *pos, s, n);
        *pos += n;
}

/* Wall-clock timestamp, formatted once per second and per thread. */
static size_t format_time(char *out, size_t cap)
{
        static __thread time_t last_sec = -1;
        static __thread char prefix[32];
        struct timespec ts;
        struct tm tm;
        int n;

        (void)clock_gettime(CLOCK_REALTIME, &ts);
        if (ts.tv_sec != last_sec) {
                (void)gmtime_r(&ts.tv_sec, &tm);
                if (strftime(prefix, sizeof(prefix), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
                        prefix[0] = '\0';
                last_sec = ts.tv_sec;
        }
        n = snprintf(out, cap, "%s.%03ldZ", prefix, ts.tv_nsec / 1000000);
        return n < 0 ? 0 : (size_t)n >= cap ? cap - 1 : (size_t)n;
}

/*
 * put_safe() of t[0..n) with each signed token in it written as "*": the span token names
 * (the token the request carried, as path_norm() read it), and every other run that reads as
 * a JWS (path_norm_jws_next(): one in a query argument of another name, a second "/s/", a
 * token the key kept), so that no valid token is ever logged.
 */
static void put_masked(char *out, size_t cap, size_t *pos, const char *t, size_t n,
                       const char *token, size_t token_len)
{
        size_t at = 0, tf = n, tl = n;

        if (token && token_len && token >= t && token + token_len <= t + n) {
                tf = (size_t)(token - t);
                tl = tf + token_len;
        }
        while (at < n) {
                size_t f = n, l = n;

                if (!path_norm_jws_next(t, n, at, &f, &l))
                        f = l = n;
                if (tf >= at && tf < n && (tf < f || (tf == f && tl > l))) {
                        f = tf;
                        l = tl;
                }
                put_safe(out, cap, pos, t + at, f - at);
                if (f == n)
                        break;
                put_raw(out, cap, pos, "*", 1);
                at = l;
        }
}

/* The CMCD rendering's room; escaped, each of its bytes takes at most four. */
#define CMCD_LOG_MAX 512
#define TAIL_FIXED   (sizeof(" key= cmcd= proto=h2 tls=plain") - 1)
_Static_assert(ACCESS_LOG_TAIL >= TAIL_FIXED + 4 * (PATH_NORM_MAX + CMCD_LOG_MAX),
               "the tail of a line always fits whole");

void access_log_begin(struct access_log_buf *b, const struct access_log_rec *rec)
{
        char *s = b->stage;
        const size_t cap = ACCESS_LOG_FRONT;
        const size_t fcap = cap - 1; /* the front's closing quote always fits */
        const size_t tcap = ACCESS_LOG_TAIL;
        size_t pos = 0;
        char num[48];
        int n;

        if (b->fd < 0)
                return;
        pos = format_time(s, fcap);
        n = snprintf(num, sizeof(num), " conn=%llu ", (unsigned long long)rec->conn_id);
        put_raw(s, fcap, &pos, num, n > 0 ? (size_t)n : 0);
        put_raw(s, fcap, &pos, rec->client ? rec->client : "-",
                rec->client ? strlen(rec->client) : 1);
        put_raw(s, fcap, &pos, " \"", 2);
        put_safe(s, fcap, &pos, rec->method, rec->method_len);
        put_raw(s, fcap, &pos, " ", 1);
        put_masked(s, fcap, &pos, rec->target, rec->target_len, rec->token, rec->token_len);
        put_raw(s, cap, &pos, "\"", 1);
        b->front_len = pos;

        /* The tail lives after the front's room; it has room for its longest self. */
        s = b->stage + ACCESS_LOG_FRONT;
        pos = 0;
        put_raw(s, tcap, &pos, " key=", 5);
        if (rec->key_len)
                put_masked(s, tcap, &pos, rec->key, rec->key_len, NULL, 0);
        else
                put_raw(s, tcap, &pos, "-", 1);
        put_raw(s, tcap, &pos, " cmcd=", 6);
        if (rec->cmcd) {
                char tmp[CMCD_LOG_MAX];
                size_t m = cmcd_format_log(rec->cmcd, tmp, sizeof(tmp));
                if (m >= sizeof(tmp))
                        m = sizeof(tmp) - 1;
                if (m)
                        put_esc(s, tcap, &pos, tmp, m, false);
                else
                        put_raw(s, tcap, &pos, "-", 1);
        } else {
                put_raw(s, tcap, &pos, "-", 1);
        }
        put_raw(s, tcap, &pos, " proto=", 7);
        put_raw(s, tcap, &pos, rec->proto ? rec->proto : "-", rec->proto ? strlen(rec->proto) : 1);
        put_raw(s, tcap, &pos, " tls=", 5);
        put_raw(s, tcap, &pos, rec->send_path ? rec->send_path : "-",
                rec->send_path ? strlen(rec->send_path) : 1);
        b->tail_len = pos;
        b->staged = true;
        b->staged_conn = rec->conn_id;
}

#define OUTCOME_MAX 512

/* " cache=<c> upstream=<u>" into out (OUTCOME_MAX bytes); returns its length. */
static size_t format_outcome(char *out, const struct access_log_outcome *o)
{
        const char *cache = o && o->cache ? o->cache : "-";
        const char *up = o && o->upstream && *o->upstream ? o->upstream : "-";
        size_t pos = 0;

        put_raw(out, OUTCOME_MAX, &pos, " cache=", 7);
        put_safe(out, OUTCOME_MAX, &pos, cache, strlen(cache));
        put_raw(out, OUTCOME_MAX, &pos, " upstream=", 10);
        put_safe(out, OUTCOME_MAX, &pos, up, strlen(up));
        return pos;
}

static void emit(struct access_log_buf *b, const char *front, size_t front_len, const char *tail,
                 size_t tail_len, int status, uint64_t bytes, uint64_t dur_us,
                 const struct access_log_outcome *o)
{
        char mid[80], end[OUTCOME_MAX];
        int n = snprintf(mid, sizeof(mid), " %d %llu %llu", status, (unsigned long long)bytes,
                         (unsigned long long)dur_us);
        size_t end_len = format_outcome(end, o);
        size_t need = front_len + (size_t)(n > 0 ? n : 0) + tail_len + end_len + 1;

        if (need > sizeof(b->buf) - b->len)
                access_log_flush(b);
        if (need > sizeof(b->buf))
                return;
        memcpy(b->buf + b->len, front, front_len);
        b->len += front_len;
        memcpy(b->buf + b->len, mid, (size_t)n);
        b->len += (size_t)n;
        memcpy(b->buf + b->len, tail, tail_len);
        b->len += tail_len;
        memcpy(b->buf + b->len, end, end_len);
        b->len += end_len;
        b->buf[b->len++] = '\n';
}

void access_log_end(struct access_log_buf *b, int status, uint64_t bytes, uint64_t dur_us,
                    const struct access_log_outcome *o)
{
        if (b->fd < 0 || !b->staged)
                return;
        emit(b, b->stage, b->front_len, b->stage + ACCESS_LOG_FRONT, b->tail_len, status, bytes,
             dur_us, o);
        b->staged = false;
}

void access_log_end_conn(struct access_log_buf *b, uint64_t conn_id, int status, uint64_t bytes,
                         uint64_t dur_us, const struct access_log_outcome *o)
{
        if (b->staged && b->staged_conn == conn_id)
                access_log_end(b, status, bytes, dur_us, o);
}

struct access_log_pending *access_log_detach(struct access_log_buf *b)
{
        struct access_log_pending *p;

        if (b->fd < 0 || !b->staged)
                return NULL;
        b->staged = false;
        p = malloc(sizeof(*p) + b->front_len + b->tail_len);
        if (!p)
                return NULL;
        p->front_len = b->front_len;
        p->tail_len = b->tail_len;
        memcpy(p->text, b->stage, b->front_len);
        memcpy(p->text + b->front_len, b->stage + ACCESS_LOG_FRONT, b->tail_len);
        return p;
}

void access_log_end_detached(struct access_log_buf *b, struct access_log_pending *p, int status,
                             uint64_t bytes, uint64_t dur_us, const struct access_log_outcome *o)
{
        if (!p)
                return;
        if (b->fd >= 0)
                emit(b, p->text, p->front_len, p->text + p->front_len, p->tail_len, status, bytes,
                     dur_us, o);
        free(p);
}

void access_log_flush(struct access_log_buf *b)
{
        size_t off = 0;

        if (b->fd < 0 || b->len == 0)
                return;
        while (off < b->len) {
                ssize_t n = write(b->fd, b->buf + off, b->len - off);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        break; /* best effort: a full disk must not stop serving */
                }
                off += (size_t)n;
        }
        b->len = 0;
}
