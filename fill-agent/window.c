/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "window.h"

static time_t clock_offset;

static int hhmm(const char *s, int *ret)
{
        if (s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' || s[2] != ':' || s[3] < '0' ||
            s[3] > '9' || s[4] < '0' || s[4] > '9')
                return -EINVAL;
        int h = (s[0] - '0') * 10 + (s[1] - '0');
        int m = (s[3] - '0') * 10 + (s[4] - '0');
        if (h > 24 || m > 59 || (h == 24 && m != 0))
                return -EINVAL;
        *ret = h * 60 + m;
        return 0;
}

int window_parse(const char *s, struct window *ret)
{
        struct window w;

        if (!s || strlen(s) != 11 || s[5] != '-')
                return -EINVAL;
        if (hhmm(s, &w.start_min) < 0 || hhmm(s + 6, &w.end_min) < 0)
                return -EINVAL;
        /* 24:00 is the end of the day: a window cannot start there ("24:00-24:00" read as
         * 00:00 would be all day, though "00:00-00:00" is refused). */
        if (w.start_min == 24 * 60 || w.start_min == w.end_min)
                return -EINVAL;
        *ret = w;
        return 0;
}

bool window_all_day(const struct window *w)
{
        return w->start_min == 0 && w->end_min == 24 * 60;
}

/* Whether path is a compiled zone file (RFC 8536: it starts "TZif"). A regular file that is
 * not one (zone.tab under the zone directory, /etc/passwd) glibc reads as UTC, silently. */
static bool tzif_file(const char *path)
{
        char magic[4];
        struct stat st;
        FILE *f;
        bool ok;

        if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
                return false;
        f = fopen(path, "rbe");
        if (!f)
                return false;
        ok = fread(magic, 1, sizeof(magic), f) == sizeof(magic) && !memcmp(magic, "TZif", 4);
        fclose(f);
        return ok;
}

bool window_tz_ok(const char *tz)
{
        const char *dir = getenv("TZDIR");
        char path[512];

        if (!tz || !*tz)
                return true;
        if (tz[0] == ':')
                tz++;
        if (tz[0] == '/')
                return tzif_file(tz);
        if (strstr(tz, "..") ||
            snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", tz) >=
                (int)sizeof(path))
                return false;
        return tzif_file(path);
}

/* The local time of day at (seconds) on the day of tm, with DST flag isdst (-1: whichever
 * mktime takes), day_add days on; (time_t)-1 when mktime cannot place it. With a flag, only a
 * time that reads back as at: the other flag's reading of a wall time is another instant. */
static time_t at_day(const struct tm *tm, int64_t at, int day_add, int isdst)
{
        struct tm x = *tm, back;
        time_t u;

        x.tm_hour = (int)(at / 3600);
        x.tm_min = (int)(at / 60 % 60);
        x.tm_sec = 0;
        x.tm_mday += day_add; /* mktime normalises */
        x.tm_isdst = isdst;
        u = mktime(&x);
        if (u == (time_t)-1 || isdst < 0)
                return u;
        if (!localtime_r(&u, &back) || back.tm_hour != (int)(at / 3600) ||
            back.tm_min != (int)(at / 60 % 60) || back.tm_isdst != isdst)
                return (time_t)-1;
        return u;
}

/* Whether the wall clock at x reads (year, yday, at) or later. */
static bool reached(time_t x, int year, int yday, int64_t at)
{
        struct tm l;

        if (!localtime_r(&x, &l))
                return true;
        if (l.tm_year != year)
                return l.tm_year > year;
        if (l.tm_yday != yday)
                return l.tm_yday > yday;
        return (int64_t)l.tm_hour * 3600 + l.tm_min * 60 + l.tm_sec >= at;
}

/*
 * For a local time of day at that the zone skips on the day of tm, day_add days on: the
 * instant the clock jumps past it, the end of the gap (at 01:00 UTC on 2030-03-31 London's
 * clock goes from 00:59:59 to 02:00, so 01:30 is 01:00 UTC). mktime places such a time as
 * far past the gap as it lay inside (01:30 as 02:30 BST): an hour late, a window opening an
 * hour after its clock passed its start and closing an hour after its end. Found by halving
 * the day before mktime's instant; (time_t)-1 when that does not read past at.
 */
static time_t gap_end(const struct tm *tm, int64_t at, int day_add)
{
        struct tm d = *tm;
        time_t lo, hi = at_day(tm, at, day_add, -1);

        d.tm_mday += day_add;
        d.tm_hour = 12;
        d.tm_min = d.tm_sec = 0;
        d.tm_isdst = -1;
        if (hi == (time_t)-1 || mktime(&d) == (time_t)-1)
                return (time_t)-1;
        lo = hi - 86400;
        if (!reached(hi, d.tm_year, d.tm_yday, at) || reached(lo, d.tm_year, d.tm_yday, at))
                return (time_t)-1;
        while (hi - lo > 1) {
                time_t mid = lo + (hi - lo) / 2;
                if (reached(mid, d.tm_year, d.tm_yday, at))
                        hi = mid;
                else
                        lo = mid;
        }
        return hi;
}

/*
 * The first instant after t at which the clock of the day of tm, day_add days on, reads at:
 * in the hour the clocks go back it reads it twice, and the first reading still ahead is
 * taken (either flag); a time the zone skips that day is reached where the gap ends.
 * (time_t)-1 when that day's reading is past or cannot be placed.
 */
static time_t reading_on(const struct tm *tm, time_t t, int64_t at, int day_add)
{
        time_t best = (time_t)-1, u;
        bool read = false;

        for (int isdst = 0; isdst <= 1; isdst++) {
                u = at_day(tm, at, day_add, isdst);
                if (u == (time_t)-1)
                        continue;
                read = true;
                if (u > t && (best == (time_t)-1 || u < best))
                        best = u;
        }
        if (read)
                return best;
        u = gap_end(tm, at, day_add);
        return u != (time_t)-1 && u > t ? u : (time_t)-1;
}

/*
 * The next instant after t (local seconds after midnight s, broken down in tm) whose local
 * time of day is at, or at which the clock jumps past at (reading_on): today's, else
 * tomorrow's. Failing both, as mktime places it.
 */
static time_t next_at(const struct tm *tm, time_t t, int64_t at, int64_t s)
{
        time_t u = reading_on(tm, t, at, 0);

        if (u != (time_t)-1)
                return u;
        u = reading_on(tm, t, at, 1);
        if (u != (time_t)-1)
                return u;
        if (at > s) {
                u = at_day(tm, at, 0, -1);
                if (u != (time_t)-1 && u > t)
                        return u;
        }
        return at_day(tm, at, 1, -1);
}

/* In zone tz (NULL or "": the machine's), the local seconds after midnight of t, and the real
 * seconds from t to the next local time of day a (*ret_to_a) and b (*ret_to_b): on the nights
 * the clocks change those differ from the wall-clock difference by the change. */
static int64_t local_secs(const char *tz, time_t t, int64_t a, int64_t b, int64_t *ret_to_a,
                          int64_t *ret_to_b)
{
        const int64_t day = 86400;
        char *saved = NULL;
        const char *cur = getenv("TZ");
        struct tm tm;
        int64_t s, at[2] = {a, b}, *to[2] = {ret_to_a, ret_to_b};

        if (cur)
                saved = strdup(cur);
        if (tz && *tz) {
                char zone[256];
                /* A leading ':' makes glibc read the zone file rather than a POSIX TZ rule. */
                snprintf(zone, sizeof(zone), "%s%s", tz[0] == ':' ? "" : ":", tz);
                setenv("TZ", zone, 1);
        }
        tzset();
        localtime_r(&t, &tm);
        s = (int64_t)tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
        for (int i = 0; i < 2; i++) {
                time_t u = next_at(&tm, t, at[i], s);
                /* Failing that, the wall-clock difference. */
                *to[i] =
                    u != (time_t)-1 && u > t ? (int64_t)(u - t) : ((at[i] - s) % day + day) % day;
        }
        if (tz && *tz) {
                if (saved)
                        setenv("TZ", saved, 1);
                else
                        unsetenv("TZ");
                tzset();
        }
        free(saved);
        return s;
}

void window_tz_pin(void)
{
        /* Unset TZ is /etc/localtime to glibc, and so is this; once TZ is in the environment,
         * a switch only swaps its value (the array that other threads' getenv walks is left
         * alone). */
        if (!getenv("TZ"))
                setenv("TZ", ":/etc/localtime", 1);
}

bool window_check(const struct window *w, const char *tz, time_t now, int64_t *ret_wait_s,
                  int64_t *ret_left_s)
{
        int64_t a = (int64_t)w->start_min * 60, b = (int64_t)w->end_min * 60, to_a, to_b;
        int64_t s = local_secs(tz, now, a, b % 86400, &to_a, &to_b);
        bool in = a < b ? (s >= a && s < b) : (s >= a || s < b);

        *ret_wait_s = in ? 0 : to_a;
        *ret_left_s = in ? to_b : 0;
        return in;
}

static int digits(const char *s, int n, int *ret)
{
        int v = 0;
        for (int i = 0; i < n; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return -EINVAL;
                v = v * 10 + (s[i] - '0');
        }
        *ret = v;
        return 0;
}

int window_now_parse(const char *s, time_t *ret)
{
        struct tm tm = {0};
        int y, mo, d, h, mi, sec = 0;
        size_t n = s ? strlen(s) : 0;

        if (n > 1 && s[0] == '@') {
                char *end;
                errno = 0;
                long long v = strtoll(s + 1, &end, 10);
                if (errno || *end || v < 0)
                        return -EINVAL;
                *ret = (time_t)v;
                return 0;
        }
        if ((n != 17 && n != 20) || s[n - 1] != 'Z' || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
            s[13] != ':' || (n == 20 && s[16] != ':'))
                return -EINVAL;
        if (digits(s, 4, &y) < 0 || digits(s + 5, 2, &mo) < 0 || digits(s + 8, 2, &d) < 0 ||
            digits(s + 11, 2, &h) < 0 || digits(s + 14, 2, &mi) < 0 ||
            (n == 20 && digits(s + 17, 2, &sec) < 0))
                return -EINVAL;
        static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
        bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

        /* A day the month does not have (2030-02-31) is refused, not moved into the next. */
        if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
            (mo == 2 && d == 29 && !leap) || h > 23 || mi > 59 || sec > 60)
                return -EINVAL;
        tm.tm_year = y - 1900;
        tm.tm_mon = mo - 1;
        tm.tm_mday = d;
        tm.tm_hour = h;
        tm.tm_min = mi;
        tm.tm_sec = sec;
        *ret = timegm(&tm);
        return 0;
}

void window_clock_fake(time_t fake_now)
{
        clock_offset = fake_now - time(NULL);
}

time_t window_clock(void)
{
        return time(NULL) + clock_offset;
}
