/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <time.h>

#include "http-cond.h"
#include "tests.h"

#define T1994 ((time_t)784111777) /* Sun, 06 Nov 1994 08:49:37 GMT */

static int date(const char *s, time_t *t)
{
        return http_date_parse(s, strlen(s), t);
}

TEST(date_formats)
{
        time_t t = 0;
        ASSERT_EQ(date("Sun, 06 Nov 1994 08:49:37 GMT", &t), 0);
        ASSERT_EQ(t, T1994);
        t = 0;
        ASSERT_EQ(date("Sunday, 06-Nov-94 08:49:37 GMT", &t), 0);
        ASSERT_EQ(t, T1994);
        t = 0;
        ASSERT_EQ(date("Sun Nov  6 08:49:37 1994", &t), 0);
        ASSERT_EQ(t, T1994);
        ASSERT_EQ(date("Thu, 01 Jan 1970 00:00:00 GMT", &t), 0);
        ASSERT_EQ(t, 0);
        ASSERT_EQ(date("Tue, 29 Feb 2000 23:59:59 GMT", &t), 0);
        ASSERT_EQ(t, 951868799);
        ASSERT_EQ(date("Fri, 31 Dec 9999 23:59:59 GMT", &t), 0);
        ASSERT_EQ(t, 253402300799LL);
        ASSERT_EQ(date("Wed Dec 31 23:59:60 2008", &t), 0); /* leap second accepted */
        ASSERT_EQ(date("Wednesday, 12-Jan-00 10:00:00 GMT", &t), 0);
        ASSERT_EQ(t, 947671200); /* 2000, not 1900 */
}

TEST(date_rfc850_year_window)
{
        /* A two-digit year more than 50 years ahead means the previous century. */
        struct tm now;
        time_t tn = time(NULL), t;
        gmtime_r(&tn, &now);
        int y = now.tm_year + 1900;
        char buf[64];
        int ahead = (y + 49) % 100, behind = (y + 51) % 100;
        snprintf(buf, sizeof(buf), "Monday, 01-Jan-%02d 00:00:00 GMT", ahead);
        ASSERT_EQ(date(buf, &t), 0);
        gmtime_r(&t, &now);
        ASSERT_EQ(now.tm_year + 1900, y + 49);
        snprintf(buf, sizeof(buf), "Monday, 01-Jan-%02d 00:00:00 GMT", behind);
        ASSERT_EQ(date(buf, &t), 0);
        gmtime_r(&t, &now);
        ASSERT_EQ(now.tm_year + 1900, y + 51 - 100);
}

TEST(date_strict)
{
        static const char *bad[] = {
                "",
                "Sun, 06 Nov 1994 08:49:37 UTC",
                "Sun, 06 Nov 1994 08:49:37 gmt",
                "sun, 06 Nov 1994 08:49:37 GMT",
                "Sun, 06 nov 1994 08:49:37 GMT",
                "Sun, 6 Nov 1994 08:49:37 GMT",
                "Sun,  6 Nov 1994 08:49:37 GMT",
                "Sun, 06 Nov 94 08:49:37 GMT",
                "Sun, 06 Nov 1994 8:49:37 GMT",
                "Sun, 06 Nov 1994 24:00:00 GMT",
                "Sun, 06 Nov 1994 23:60:00 GMT",
                "Sun, 06 Nov 1994 23:59:61 GMT",
                "Sun, 31 Nov 1994 08:49:37 GMT",
                "Sun, 29 Feb 1900 08:49:37 GMT",
                "Sun, 00 Nov 1994 08:49:37 GMT",
                "Xyz, 06 Nov 1994 08:49:37 GMT",
                " Sun, 06 Nov 1994 08:49:37 GMT",
                "Sun, 06 Nov 1994 08:49:37 GMT ",
                "Sun, 06 Nov 1994 08.49.37 GMT",
                "Sun, 06-Nov-1994 08:49:37 GMT",
                "Sunday, 06 Nov 94 08:49:37 GMT",
                "Sunday, 06-Nov-94 08:49:37 UTC",
                "Sunny, 06-Nov-94 08:49:37 GMT",
                "Sun Nov 6 08:49:37 1994",
                "Sun Nov 06 08:49:37 94",
                "Sun Nov  6 08:49:37 1994 ",
                "Sun Nov  x 08:49:37 1994",
                "1994-11-06T08:49:37Z",
                "784111777",
        };
        time_t t;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                if (date(bad[i], &t) != -EINVAL)
                        TEST_FAIL_AT("accepted '%s'", bad[i]);
        ASSERT_EQ(http_date_parse(NULL, 0, &t), -EINVAL);
        /* asctime allows a two-digit day too */
        ASSERT_EQ(date("Sun Nov 16 08:49:37 1994", &t), 0);
}

TEST(date_format_roundtrip)
{
        char out[HTTP_DATE_LEN + 1];
        ASSERT_EQ(http_date_format(T1994, out), HTTP_DATE_LEN);
        ASSERT_STREQ(out, "Sun, 06 Nov 1994 08:49:37 GMT");
        ASSERT_EQ(http_date_format(0, out), HTTP_DATE_LEN);
        ASSERT_STREQ(out, "Thu, 01 Jan 1970 00:00:00 GMT");
        for (time_t t = 0; t < (time_t)4102444800LL; t += 86399 * 37) {
                time_t back;
                http_date_format(t, out);
                ASSERT_EQ(http_date_parse(out, HTTP_DATE_LEN, &back), 0);
                ASSERT_EQ(back, t);
        }
}

TEST(etag_match)
{
        const char *strong = "\"abc\"";
        size_t sl = strlen(strong);
#define W(l) http_etag_match_weak(l, strlen(l), strong, sl)
#define S(l) http_etag_match_strong(l, strlen(l), strong, sl)
        ASSERT_TRUE(W("\"abc\""));
        ASSERT_TRUE(S("\"abc\""));
        ASSERT_TRUE(W("W/\"abc\""));
        ASSERT_TRUE(!S("W/\"abc\""));
        ASSERT_TRUE(W("\"x\", \"abc\""));
        ASSERT_TRUE(W("\"x\",W/\"abc\""));
        ASSERT_TRUE(S(" \"x\" ,\t\"abc\" "));
        ASSERT_TRUE(W(",, \"abc\",,"));
        ASSERT_TRUE(W("*"));
        ASSERT_TRUE(S(" * "));
        ASSERT_TRUE(!W("\"abcd\""));
        ASSERT_TRUE(!W("\"ABC\""));
        ASSERT_TRUE(!W("abc"));
        ASSERT_TRUE(!W(""));
        ASSERT_TRUE(!W("\"abc"));
        ASSERT_TRUE(!W("w/\"abc\""));           /* W is case-sensitive */
        ASSERT_TRUE(!W("\"abc\" \"x\""));        /* missing comma: malformed */
        ASSERT_TRUE(!W("\"abc\", x"));           /* malformed element spoils the list */
        ASSERT_TRUE(!W("*, \"abc\""));           /* "*" only alone */
        ASSERT_TRUE(!W("\"a bc\""));             /* SP is not etagc */
        /* our own weak tag: weak comparison matches, strong never */
        const char *wk = "W/\"abc\"";
        ASSERT_TRUE(http_etag_match_weak("\"abc\"", 5, wk, strlen(wk)));
        ASSERT_TRUE(!http_etag_match_strong("\"abc\"", 5, wk, strlen(wk)));
        ASSERT_TRUE(http_etag_match_strong("*", 1, wk, strlen(wk)));
        /* no etag at all: only "*" */
        ASSERT_TRUE(http_etag_match_weak("*", 1, NULL, 0));
        ASSERT_TRUE(!http_etag_match_weak("\"abc\"", 5, NULL, 0));
#undef W
#undef S
}

static const struct http_validators V = {.etag = "\"v1\"", .etag_len = 4, .last_modified = T1994};

#define HDR(field, s) .field = s, .field##_len = sizeof(s) - 1

TEST(cond_order)
{
        const struct http_cond_hdrs none = {0};
        ASSERT_EQ(http_cond_eval(&none, &V), 0);

        /* If-Match */
        ASSERT_EQ(http_cond_eval(&(struct http_cond_hdrs){HDR(if_match, "\"v1\"")}, &V), 0);
        ASSERT_EQ(http_cond_eval(&(struct http_cond_hdrs){HDR(if_match, "\"v2\"")}, &V), 412);
        ASSERT_EQ(http_cond_eval(&(struct http_cond_hdrs){HDR(if_match, "W/\"v1\"")}, &V), 412);
        ASSERT_EQ(http_cond_eval(&(struct http_cond_hdrs){HDR(if_match, "*")}, &V), 0);
        /* If-Match wins over If-Unmodified-Since: IUS is not evaluated */
        ASSERT_EQ(http_cond_eval(&(struct http_cond_hdrs){HDR(if_match, "\"v1\""),
                                                          HDR(if_unmodified_since,
                                                              "Sat, 01 Jan 1994 00:00:00 GMT")},
                                 &V),
                  0);
        /* If-Unmodified-Since */
        ASSERT_EQ(http_cond_eval(&(struct http_cond_hdrs){HDR(if_unmodified_since,
                                                              "Sat, 01 Jan 1994 00:00:00 GMT")},
                                 &V),
                  412);
        ASSERT_EQ(http_cond_eval(&(struct http_cond_hdrs){HDR(if_unmodified_since,
                                                              "Sun, 06 Nov 1994 08:49:37 GMT")},
                                 &V),
                  0);
        ASSERT_EQ(http_cond_eval(&(struct http_cond_hdrs){HDR(if_unmodified_since, "garbage")}, &V),
                  0);
        /* If-None-Match */
        ASSERT_EQ(http_cond_eval(&(struct http_cond_hdrs){HDR(if_none_match, "\"v1\"")}, &V), 304);
        ASSERT_EQ(http_cond_eval(&(struct http_cond_hdrs){HDR(if_none_match, "W/\"v1\"")}, &V),
                  304);
        ASSERT_EQ(http_cond_eval(&(struct http_cond_hdrs){HDR(if_none_match, "*")}, &V), 304);
        ASSERT_EQ(http_cond_eval(&(struct http_cond_hdrs){HDR(if_none_match, "\"v2\"")}, &V), 0);
        /* If-None-Match present: If-Modified-Since is not evaluated */
        ASSERT_EQ(http_cond_eval(&(struct http_cond_hdrs){HDR(if_none_match, "\"v2\""),
                                                          HDR(if_modified_since,
                                                              "Sun, 06 Nov 1994 08:49:37 GMT")},
                                 &V),
                  0);
        /* If-Modified-Since */
        ASSERT_EQ(http_cond_eval(&(struct http_cond_hdrs){HDR(if_modified_since,
                                                              "Sun, 06 Nov 1994 08:49:37 GMT")},
                                 &V),
                  304);
        ASSERT_EQ(http_cond_eval(&(struct http_cond_hdrs){HDR(if_modified_since,
                                                              "Sunday, 06-Nov-94 08:49:38 GMT")},
                                 &V),
                  304);
        ASSERT_EQ(http_cond_eval(&(struct http_cond_hdrs){HDR(if_modified_since,
                                                              "Sun, 06 Nov 1994 08:49:36 GMT")},
                                 &V),
                  0);
        ASSERT_EQ(http_cond_eval(&(struct http_cond_hdrs){HDR(if_modified_since, "yesterday")}, &V),
                  0);
        /* 412 from If-Match comes before 304 from If-None-Match */
        ASSERT_EQ(http_cond_eval(&(struct http_cond_hdrs){HDR(if_match, "\"zz\""),
                                                          HDR(if_none_match, "\"v1\"")},
                                 &V),
                  412);
        /* no Last-Modified: date conditions are ignored */
        const struct http_validators nolm = {.etag = "\"v1\"", .etag_len = 4};
        ASSERT_EQ(http_cond_eval(&(struct http_cond_hdrs){HDR(if_modified_since,
                                                              "Sun, 06 Nov 1994 08:49:37 GMT")},
                                 &nolm),
                  0);
        ASSERT_EQ(http_cond_eval(&(struct http_cond_hdrs){HDR(if_unmodified_since,
                                                              "Sun, 06 Nov 1994 08:49:37 GMT")},
                                 &nolm),
                  0);
}

/* A field's lines for http_cond_hdrs.more: v[0] is the first, given in the field itself. */
struct lines {
        const char *const *v;
        unsigned n;
};

static const char *lines_more(const void *ctx, const char *name, unsigned *pos, size_t *len)
{
        const struct lines *l = ctx;

        (void)name;
        if (*pos + 1 >= l->n)
                return NULL;
        *len = strlen(l->v[++*pos]);
        return l->v[*pos];
}

/* http_cond_eval of If-Match (or If-None-Match) on the n lines v, judged where they lie; and
 * in *joined, of the same lines joined by ", " into one, which they must agree with. */
static int on_lines(bool if_match, const char *const *v, unsigned n, int *joined)
{
        struct lines l = {v, n};
        struct http_cond_hdrs c = {.more = lines_more, .more_ctx = &l}, j = {0};
        static char buf[4096];
        size_t len = 0;

        for (unsigned i = 0; i < n; i++)
                len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s", i ? ", " : "",
                                        v[i]);
        if (if_match) {
                c.if_match = v[0];
                c.if_match_len = strlen(v[0]);
                j.if_match = buf;
                j.if_match_len = len;
        } else {
                c.if_none_match = v[0];
                c.if_none_match_len = strlen(v[0]);
                j.if_none_match = buf;
                j.if_none_match_len = len;
        }
        *joined = http_cond_eval(&j, &V);
        return http_cond_eval(&c, &V);
}

TEST(lists_on_several_lines)
{
        static const struct {
                const char *v[3];
                unsigned n;
                int if_match, if_none_match; /* the statuses the one list they form gets */
        } cases[] = {
            {{"\"x\"", "\"v1\""}, 2, 0, 304},           /* ours on the second line */
            {{"\"v1\"", "\"x\""}, 2, 0, 304},           /* on the first */
            {{"\"x\"", "\"y\"", "\"z\""}, 3, 412, 0},     /* on none */
            {{"\"v1\"", "garbage"}, 2, 412, 0},         /* a malformed line spoils them all */
            {{"garbage", "\"v1\""}, 2, 412, 0},
            {{"\"x\"", "\"v1\" junk", "\"v1\""}, 3, 412, 0},
            {{"*", "\"x\""}, 2, 412, 0},                /* "*" only alone, not on a line */
            {{"\"v1\"", "*"}, 2, 412, 0},
            {{"*", ""}, 2, 412, 0},
            {{"", "\"v1\""}, 2, 0, 304},                /* an empty line is empty elements */
            {{"\"v1\"", " , "}, 2, 0, 304},
            {{"", ""}, 2, 412, 0},
            {{"W/\"v1\"", "\"x\""}, 2, 412, 304},       /* each list its comparison */
            {{"*"}, 1, 0, 304},
        };
        int joined;

        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                ASSERT_EQ(on_lines(true, cases[i].v, cases[i].n, &joined), cases[i].if_match);
                ASSERT_EQ(joined, cases[i].if_match);
                ASSERT_EQ(on_lines(false, cases[i].v, cases[i].n, &joined),
                          cases[i].if_none_match);
                ASSERT_EQ(joined, cases[i].if_none_match);
        }
        /* No bound on a list's length: 200 lines of 12 tags each, ours the very last. */
        static char tags[200][12 * 8];
        static const char *many[200];
        for (unsigned i = 0; i < 200; i++) {
                size_t n = 0;
                for (unsigned t = 0; t < 12; t++)
                        n += (size_t)snprintf(tags[i] + n, sizeof(tags[i]) - n, "%s\"%03x\"",
                                              t ? ", " : "", (i * 12 + t) & 0xfff);
                many[i] = tags[i];
        }
        many[199] = "\"v1\"";
        struct lines l = {many, 200};
        struct http_cond_hdrs c = {.if_match = many[0], .if_match_len = strlen(many[0]),
                                   .more = lines_more, .more_ctx = &l};
        ASSERT_EQ(http_cond_eval(&c, &V), 0);
        l.n = 199;
        ASSERT_EQ(http_cond_eval(&c, &V), 412);
}

TEST(if_range)
{
        ASSERT_TRUE(http_if_range_ok(&(struct http_cond_hdrs){0}, &V));
        ASSERT_TRUE(http_if_range_ok(&(struct http_cond_hdrs){HDR(if_range, "\"v1\"")}, &V));
        ASSERT_TRUE(!http_if_range_ok(&(struct http_cond_hdrs){HDR(if_range, "\"v2\"")}, &V));
        ASSERT_TRUE(!http_if_range_ok(&(struct http_cond_hdrs){HDR(if_range, "W/\"v1\"")}, &V));
        ASSERT_TRUE(!http_if_range_ok(&(struct http_cond_hdrs){HDR(if_range, "\"v1\", \"v2\"")},
                                      &V));
        ASSERT_TRUE(http_if_range_ok(
                &(struct http_cond_hdrs){HDR(if_range, "Sun, 06 Nov 1994 08:49:37 GMT")}, &V));
        ASSERT_TRUE(!http_if_range_ok(
                &(struct http_cond_hdrs){HDR(if_range, "Sun, 06 Nov 1994 08:49:38 GMT")}, &V));
        ASSERT_TRUE(!http_if_range_ok(
                &(struct http_cond_hdrs){HDR(if_range, "Sun, 06 Nov 1994 08:49:36 GMT")}, &V));
        ASSERT_TRUE(!http_if_range_ok(&(struct http_cond_hdrs){HDR(if_range, "soon")}, &V));
        /* A Wednesday's date is a date, not a weak entity-tag. */
        struct http_validators wed = V;
        wed.last_modified = V.last_modified + 3 * 86400;
        ASSERT_TRUE(http_if_range_ok(
                &(struct http_cond_hdrs){HDR(if_range, "Wed, 09 Nov 1994 08:49:37 GMT")}, &wed));
        ASSERT_TRUE(!http_if_range_ok(
                &(struct http_cond_hdrs){HDR(if_range, "Wed, 09 Nov 1994 08:49:38 GMT")}, &wed));
        ASSERT_TRUE(!http_if_range_ok(&(struct http_cond_hdrs){HDR(if_range, "")}, &V));
        /* A Last-Modified of the current second is weak: never honoured by date (asked again
         * if the second turned meanwhile). One of the second before is strong: that second is
         * over, so the object cannot change twice within it any more (RFC 9110 §8.8.2.2). */
        char now[HTTP_DATE_LEN + 1];
        struct http_validators fresh = V;
        struct http_cond_hdrs c = {.if_range = now, .if_range_len = HTTP_DATE_LEN};
        bool ok;
        time_t t0;
        do {
                t0 = time(NULL);
                fresh.last_modified = t0;
                http_date_format(fresh.last_modified, now);
                ok = http_if_range_ok(&c, &fresh);
        } while (time(NULL) != t0);
        ASSERT_TRUE(!ok);
        fresh.last_modified = time(NULL) - 1;
        http_date_format(fresh.last_modified, now);
        ASSERT_TRUE(http_if_range_ok(&c, &fresh));
}

TEST_MAIN()
