/* SPDX-License-Identifier: MIT */
/*
 * HTTP dates (RFC 9110 §5.6.7), entity-tag comparison (§8.8.3.2) and precondition evaluation
 * (§13.2.2). Date conversion uses our own civil-day arithmetic rather than timegm/mktime so
 * it never depends on the process time zone or locale.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "bug.h"
#include "http-cond.h"

static const char wkday[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const weekday_long[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                            "Thursday", "Friday", "Saturday"};
static const char month_name[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* Days since 1970-01-01 for a proleptic Gregorian date (month 1..12). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
        y -= m <= 2;
        int64_t era = (y >= 0 ? y : y - 399) / 400;
        unsigned yoe = (unsigned)(y - era * 400);
        unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        return era * 146097 + (int64_t)doe - 719468;
}

static bool leap(int64_t y)
{
        return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
        static const unsigned char dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        return dim[m - 1] + (m == 2 && leap(y));
}

static int digits(const char *s, size_t n)
{
        int v = 0;
        for (size_t i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -1;
                v = v * 10 + (s[i] - '0');
        }
        return v;
}

static int month_of(const char *s)
{
        for (int i = 0; i < 12; i++)
                if (memcmp(s, month_name[i], 3) == 0)
                        return i + 1;
        return -1;
}

static bool wkday_ok(const char *s)
{
        for (int i = 0; i < 7; i++)
                if (memcmp(s, wkday[i], 3) == 0)
                        return true;
        return false;
}

/* "HH:MM:SS"; second 60 is allowed for a leap second (RFC 9110 §5.6.7). */
static int time_of_day(const char *s, int *h, int *mi, int *sec)
{
        if (s[2] != ':' || s[5] != ':')
                return -EINVAL;
        *h = digits(s, 2);
        *mi = digits(s + 3, 2);
        *sec = digits(s + 6, 2);
        if (*h < 0 || *h > 23 || *mi < 0 || *mi > 59 || *sec < 0 || *sec > 60)
                return -EINVAL;
        return 0;
}

static int make_time(int64_t y, int mon, int day, int h, int mi, int sec, time_t *ret)
{
        if (mon < 1 || day < 1 || (unsigned)day > days_in_month(y, (unsigned)mon))
                return -EINVAL;
        int64_t t = days_from_civil(y, (unsigned)mon, (unsigned)day) * 86400 + h * 3600 +
                    mi * 60 + sec;
        *ret = (time_t)t;
        return 0;
}

int http_date_parse(const char *s, size_t len, time_t *ret)
{
        int h, mi, sec, day, mon, year;

        if (!s)
                return -EINVAL;
        /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT" */
        if (len == 29 && s[3] == ',') {
                if (!wkday_ok(s) || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
                    s[25] != ' ' || memcmp(s + 26, "GMT", 3) != 0)
                        return -EINVAL;
                day = digits(s + 5, 2);
                mon = month_of(s + 8);
                year = digits(s + 12, 4);
                if (day < 0 || mon < 0 || year < 0 || time_of_day(s + 17, &h, &mi, &sec) < 0)
                        return -EINVAL;
                return make_time(year, mon, day, h, mi, sec, ret);
        }
        /* asctime: "Sun Nov  6 08:49:37 1994" */
        if (len == 24 && s[3] == ' ') {
                if (!wkday_ok(s) || s[7] != ' ' || s[10] != ' ' || s[19] != ' ')
                        return -EINVAL;
                mon = month_of(s + 4);
                day = s[8] == ' ' ? digits(s + 9, 1) : digits(s + 8, 2);
                year = digits(s + 20, 4);
                if (day < 0 || mon < 0 || year < 0 || time_of_day(s + 11, &h, &mi, &sec) < 0)
                        return -EINVAL;
                return make_time(year, mon, day, h, mi, sec, ret);
        }
        /* rfc850-date: "Sunday, 06-Nov-94 08:49:37 GMT" */
        const char *comma = memchr(s, ',', len < 10 ? len : 10);
        if (!comma)
                return -EINVAL;
        size_t wl = (size_t)(comma - s);
        bool named = false;
        for (int i = 0; i < 7; i++)
                if (strlen(weekday_long[i]) == wl && memcmp(s, weekday_long[i], wl) == 0)
                        named = true;
        if (!named || len != wl + 24)
                return -EINVAL;
        const char *d = comma + 1;
        if (d[0] != ' ' || d[3] != '-' || d[7] != '-' || d[10] != ' ' || d[19] != ' ' ||
            memcmp(d + 20, "GMT", 3) != 0)
                return -EINVAL;
        day = digits(d + 1, 2);
        mon = month_of(d + 4);
        int yy = digits(d + 8, 2);
        if (day < 0 || mon < 0 || yy < 0 || time_of_day(d + 11, &h, &mi, &sec) < 0)
                return -EINVAL;
        /* A two-digit year that looks more than 50 years ahead is in the past (§5.6.7). */
        struct tm now;
        time_t tnow = time(NULL);
        if (!gmtime_r(&tnow, &now))
                return -EINVAL;
        int cur = now.tm_year + 1900;
        year = cur - cur % 100 + yy;
        if (year > cur + 50)
                year -= 100;
        return make_time(year, mon, day, h, mi, sec, ret);
}

static void two(char *o, int v)
{
        o[0] = (char)('0' + v / 10 % 10);
        o[1] = (char)('0' + v % 10);
}

int http_date_format(time_t t, char *out)
{
        struct tm tm;
        if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 > 9999 || tm.tm_year + 1900 < 0) {
                /* Out of the four-digit range an IMF-fixdate can hold: clamp to the epoch. */
                t = 0;
                (void)gmtime_r(&t, &tm);
        }
        int y = tm.tm_year + 1900;
        memcpy(out, wkday[tm.tm_wday], 3);
        out[3] = ',';
        out[4] = ' ';
        two(out + 5, tm.tm_mday);
        out[7] = ' ';
        memcpy(out + 8, month_name[tm.tm_mon], 3);
        out[11] = ' ';
        two(out + 12, y / 100);
        two(out + 14, y % 100);
        out[16] = ' ';
        two(out + 17, tm.tm_hour);
        out[19] = ':';
        two(out + 20, tm.tm_min);
        out[22] = ':';
        two(out + 23, tm.tm_sec);
        memcpy(out + 25, " GMT", 4);
        out[HTTP_DATE_LEN] = '\0';
        return HTTP_DATE_LEN;
}

/* entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE; etagc = %x21 / %x23-7E / obs-text.
 * Returns the tag's length at s, or 0 when s does not start with one. */
static size_t etag_len_at(const char *s, size_t n, bool *ret_weak)
{
        size_t i = 0;
        *ret_weak = false;
        if (n >= 2 && s[0] == 'W' && s[1] == '/') {
                *ret_weak = true;
                i = 2;
        }
        if (i >= n || s[i] != '"')
                return 0;
        for (i++; i < n; i++) {
                unsigned char c = (unsigned char)s[i];
                if (c == '"')
                        return i + 1;
                if (c < 0x21 || c == 0x7f)
                        return 0;
        }
        return 0;
}

/* Compare opaque-tags (the quoted parts). */
static bool opaque_eq(const char *a, size_t al, bool aw, const char *b, size_t bl, bool bw)
{
        if (aw) {
                a += 2;
                al -= 2;
        }
        if (bw) {
                b += 2;
                bl -= 2;
        }
        return al == bl && memcmp(a, b, al) == 0;
}

static bool is_ows(char c)
{
        return c == ' ' || c == '\t';
}

/* What one line of an entity-tag list holds, under a comparison with our tag. */
enum etag_line {
        LINE_BAD,   /* malformed */
        LINE_NONE,  /* tags (or none at all), none of them ours */
        LINE_MATCH, /* tags, one of them ours */
        LINE_STAR,  /* "*" */
};

/*
 * "*" / #entity-tag. A malformed line is LINE_BAD even if an earlier element matched, so a
 * garbled header cannot be half-honoured.
 */
static enum etag_line etag_line_judge(const char *list, size_t len, const char *etag,
                                      size_t etag_len, bool strong)
{
        bool ew = false, matched = false;
        size_t i = 0;

        if (etag && etag_len_at(etag, etag_len, &ew) != etag_len)
                etag = NULL; /* our own tag is unusable: only "*" can match */

        while (i < len && is_ows(list[i]))
                i++;
        if (i < len && list[i] == '*') {
                i++;
                while (i < len && is_ows(list[i]))
                        i++;
                return i == len ? LINE_STAR : LINE_BAD;
        }
        for (;;) {
                while (i < len && (is_ows(list[i]) || list[i] == ','))
                        i++;
                if (i >= len)
                        break;
                bool w;
                size_t tl = etag_len_at(list + i, len - i, &w);
                if (tl == 0)
                        return LINE_BAD;
                if (etag && !(strong && (w || ew)) &&
                    opaque_eq(list + i, tl, w, etag, etag_len, ew))
                        matched = true;
                i += tl;
                while (i < len && is_ows(list[i]))
                        i++;
                if (i < len && list[i] != ',')
                        return LINE_BAD;
        }
        return matched ? LINE_MATCH : LINE_NONE;
}

/* Returns true on a match under the given comparison; a malformed list never matches. */
static bool etag_list_match(const char *list, size_t len, const char *etag, size_t etag_len,
                            bool strong)
{
        enum etag_line r;

        if (!list)
                return false;
        r = etag_line_judge(list, len, etag, etag_len, strong);
        return r == LINE_MATCH || r == LINE_STAR;
}

/*
 * The list of first[0..len) and of the lines c->more gives after it, judged as the lines
 * joined by ", " would be without joining them, which would take a copy as long as the
 * request: it matches when a line has our tag and no line is malformed. "*" is the whole
 * field value or nothing (RFC 9110 §13.1.1, §13.1.2), so beside another line it is malformed
 * as it would be in the joined list.
 */
static bool cond_list_match(const struct http_cond_hdrs *c, const char *name, const char *first,
                            size_t len, const struct http_validators *v, bool strong)
{
        enum etag_line r0 = etag_line_judge(first, len, v->etag, v->etag_len, strong), r;
        bool matched = r0 == LINE_MATCH;
        unsigned pos = 0;
        const char *line;

        if (r0 == LINE_BAD)
                return false;
        while (c->more && (line = c->more(c->more_ctx, name, &pos, &len))) {
                r = etag_line_judge(line, len, v->etag, v->etag_len, strong);
                if (r0 == LINE_STAR || r == LINE_BAD || r == LINE_STAR)
                        return false;
                matched |= r == LINE_MATCH;
        }
        return matched || r0 == LINE_STAR;
}

bool http_etag_match_weak(const char *list, size_t len, const char *etag, size_t etag_len)
{
        return etag_list_match(list, len, etag, etag_len, false);
}

bool http_etag_match_strong(const char *list, size_t len, const char *etag, size_t etag_len)
{
        return etag_list_match(list, len, etag, etag_len, true);
}

int http_cond_eval(const struct http_cond_hdrs *c, const struct http_validators *v)
{
        time_t t;

        /* Step 1, else step 2. Without a Last-Modified, If-Unmodified-Since is ignored. */
        if (c->if_match) {
                if (!cond_list_match(c, "If-Match", c->if_match, c->if_match_len, v, true))
                        return 412;
        } else if (c->if_unmodified_since && v->last_modified > 0 &&
                   http_date_parse(c->if_unmodified_since, c->if_unmodified_since_len, &t) == 0 &&
                   v->last_modified > t) {
                return 412;
        }
        /* Step 3, else step 4 (this function is only asked about GET and HEAD). */
        if (c->if_none_match) {
                if (cond_list_match(c, "If-None-Match", c->if_none_match, c->if_none_match_len,
                                    v, false))
                        return 304;
        } else if (c->if_modified_since && v->last_modified > 0 &&
                   http_date_parse(c->if_modified_since, c->if_modified_since_len, &t) == 0 &&
                   v->last_modified <= t) {
                return 304;
        }
        return 0;
}

bool http_if_range_ok(const struct http_cond_hdrs *c, const struct http_validators *v)
{
        time_t t;
        bool w;

        if (!c->if_range)
                return true;
        const char *s = c->if_range;
        size_t n = c->if_range_len;
        /* An entity-tag starts with '"' or "W/"; a date may start with 'W' (Wednesday). */
        if (n > 0 && (s[0] == '"' || (n > 1 && s[0] == 'W' && s[1] == '/'))) {
                if (etag_len_at(s, n, &w) != n || w || !v->etag)
                        return false;
                bool ew;
                if (etag_len_at(v->etag, v->etag_len, &ew) != v->etag_len || ew)
                        return false;
                return n == v->etag_len && memcmp(s, v->etag, n) == 0;
        }
        if (http_date_parse(s, n, &t) < 0 || v->last_modified <= 0 || t != v->last_modified)
                return false;
        /* §8.8.2.2: a Last-Modified is strong only if the representation cannot have changed
         * twice within that second, which holds once that second is over. */
        return v->last_modified < time(NULL);
}
