/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <time.h>

#include "http-cond.h"
#include "http-resp.h"
#include "tests.h"

TEST(reasons)
{
        ASSERT_STREQ(http_status_reason(200), "OK");
        ASSERT_STREQ(http_status_reason(206), "Partial Content");
        ASSERT_STREQ(http_status_reason(304), "Not Modified");
        ASSERT_STREQ(http_status_reason(412), "Precondition Failed");
        ASSERT_STREQ(http_status_reason(414), "URI Too Long");
        ASSERT_STREQ(http_status_reason(416), "Range Not Satisfiable");
        ASSERT_STREQ(http_status_reason(431), "Request Header Fields Too Large");
        ASSERT_STREQ(http_status_reason(451), "Unavailable For Legal Reasons");
        ASSERT_STREQ(http_status_reason(501), "Not Implemented");
        ASSERT_STREQ(http_status_reason(299), "Unknown");
}

TEST(full_head)
{
        char buf[512], before[HTTP_DATE_LEN + 1];
        struct http_resp r;
        /* The Date field is the second the head was started in: it may tick over before the
         * expected text is made (often under valgrind), so either second is right. */
        memcpy(before, http_date_now(), sizeof(before));
        http_resp_start(&r, buf, sizeof(buf), 206);
        http_resp_header(&r, "Content-Type", "video/iso.segment", 17);
        http_resp_header_u64(&r, "Content-Length", 100);
        http_resp_headerf(&r, "Content-Range", "bytes %d-%d/%llu", 0, 99, 18446744073709551615ULL);
        http_resp_header_u64(&r, "X-Zero", 0);
        int n = http_resp_finish(&r);
        ASSERT_TRUE(n > 0);
        ASSERT_EQ(n, (int)r.len);

        char date[HTTP_DATE_LEN + 1];
        memcpy(date, http_date_now(), sizeof(date));
        size_t at = sizeof("HTTP/1.1 206 Partial Content\r\nDate: ") - 1;
        if ((size_t)n > at + HTTP_DATE_LEN && memcmp(buf + at, before, HTTP_DATE_LEN) == 0)
                memcpy(date, before, sizeof(date));
        char want[512];
        int wl = snprintf(want, sizeof(want),
                          "HTTP/1.1 206 Partial Content\r\nDate: %s\r\nServer: sluice\r\n"
                          "Content-Type: video/iso.segment\r\nContent-Length: 100\r\n"
                          "Content-Range: bytes 0-99/18446744073709551615\r\nX-Zero: 0\r\n\r\n",
                          date);
        ASSERT_MEMEQ(buf, (size_t)n, want, (size_t)wl);
}

TEST(overflow_latches)
{
        char buf[80];
        struct http_resp r;
        http_resp_start(&r, buf, sizeof(buf), 200); /* the status line, Date and Server: 70 */
        size_t before = r.len;
        ASSERT_EQ(before, 70);
        ASSERT_EQ(r.overflow, 0);
        http_resp_header(&r, "X-Long", "0123456789012345678901234567890123456789", 40);
        ASSERT_EQ(r.overflow, -ENOBUFS);
        ASSERT_EQ(r.len, before); /* a header that does not fit leaves nothing half-written */
        http_resp_header_u64(&r, "A", 1);
        ASSERT_EQ(http_resp_finish(&r), -ENOBUFS);

        /* every size from 0 up: never writes past cap, fails until it fits */
        char big[256];
        int full = -1;
        for (size_t cap = 0; cap < sizeof(big); cap++) {
                memset(big, 'Z', sizeof(big));
                http_resp_start(&r, big, cap, 404);
                http_resp_headerf(&r, "Content-Length", "%d", 0);
                int n = http_resp_finish(&r);
                for (size_t i = cap; i < sizeof(big); i++)
                        if (big[i] != 'Z')
                                TEST_FAIL_AT("wrote past cap %zu at %zu", cap, i);
                if (n > 0 && full < 0)
                        full = (int)cap;
                if (full < 0)
                        ASSERT_EQ(n, -ENOBUFS);
                else
                        ASSERT_EQ(n, full);
        }
        ASSERT_TRUE(full > 0);
}

TEST(no_response_splitting)
{
        char buf[256];
        struct http_resp r;
        http_resp_start(&r, buf, sizeof(buf), 302);
        http_resp_header(&r, "Location", "/a\r\nSet-Cookie: x=1", 19);
        ASSERT_TRUE(http_resp_finish(&r) < 0);
        http_resp_start(&r, buf, sizeof(buf), 302);
        http_resp_headerf(&r, "Location", "/%s", "a\nb");
        ASSERT_TRUE(http_resp_finish(&r) < 0);
        http_resp_start(&r, buf, sizeof(buf), 1000);
        ASSERT_TRUE(http_resp_finish(&r) < 0);
}

/* A CR, LF or NUL anywhere in a value of any length refuses the head: in the part read
 * sixteen bytes at a time, eight at a time, or in the tail. Every other byte passes. */
TEST(every_position_of_a_bad_byte)
{
        static const char bad[] = {'\r', '\n', '\0'};
        char buf[512], v[80];
        struct http_resp r;

        for (size_t len = 0; len <= 70; len++) {
                for (size_t i = 0; i < len; i++)
                        v[i] = (char)(i % 3 == 0   ? '\t'
                                      : i % 3 == 1 ? (char)0xff
                                                   : (char)(0x0b + i % 2));
                http_resp_start(&r, buf, sizeof(buf), 200);
                http_resp_header_named(&r, "X-V", 3, v, len);
                ASSERT_TRUE(http_resp_finish(&r) > 0);
                for (size_t at = 0; at < len; at++)
                        for (size_t b = 0; b < sizeof(bad); b++) {
                                char keep = v[at];
                                v[at] = bad[b];
                                http_resp_start(&r, buf, sizeof(buf), 200);
                                http_resp_header_named(&r, "X-V", 3, v, len);
                                if (http_resp_finish(&r) != -EINVAL)
                                        TEST_FAIL_AT("byte %d at %zu of %zu passed", bad[b], at,
                                                     len);
                                v[at] = keep;
                        }
        }
}

/* The name given with its length is written exactly as that many bytes (a name need not end
 * there), and the same value checks and overflow rules apply. */
TEST(header_named)
{
        char buf[256], date[HTTP_DATE_LEN + 1];
        char want[256];
        struct http_resp r;
        int n, wl;

        http_resp_start(&r, buf, sizeof(buf), 200);
        memcpy(date, http_date_now(), sizeof(date));
        http_resp_header_named(&r, "ETagXYZ", 4, "\"ab\"", 4);
        n = http_resp_finish(&r);
        wl = snprintf(want, sizeof(want),
                      "HTTP/1.1 200 OK\r\nDate: %s\r\nServer: sluice\r\nETag: \"ab\"\r\n\r\n",
                      date);
        ASSERT_MEMEQ(buf, (size_t)n, want, (size_t)wl);

        http_resp_start(&r, buf, sizeof(buf), 200);
        http_resp_header_named(&r, "Vary", 4, "a\r\nb", 4);
        ASSERT_EQ(http_resp_finish(&r), -EINVAL);

        http_resp_start(&r, buf, 80, 200);
        http_resp_header_named(&r, "X-Long", 6, "0123456789012345678901234567890123456789", 40);
        ASSERT_EQ(r.len, 70);
        ASSERT_EQ(http_resp_finish(&r), -ENOBUFS);
}

TEST(date_now)
{
        const char *d = http_date_now();
        ASSERT_EQ(strlen(d), HTTP_DATE_LEN);
        time_t t;
        ASSERT_EQ(http_date_parse(d, strlen(d), &t), 0);
        time_t now = time(NULL);
        ASSERT_TRUE(t <= now + 1 && t >= now - 2);
        /* cached: the same pointer each call */
        ASSERT_TRUE(http_date_now() == d);
}

TEST(content_types)
{
        static const struct {
                const char *path, *type;
        } t[] = {
                {"/t1/manifest.mpd", "application/dash+xml"},
                {"/t1/v720/seg-12.m4s", "video/iso.segment"},
                {"/t1/v720/init.mp4", "video/mp4"},
                {"/t1/a128/init.MP4", "video/mp4"},
                {"/t1/master.m3u8", "application/vnd.apple.mpegurl"},
                {"/t1/sub/en.vtt", "text/vtt"},
                {"/t1/v/seg-3.cmfv", "video/mp4"},
                {"/t1/a/seg-3.cmfa", "audio/mp4"},
                {"/t1/t/seg-3.cmft", "application/mp4"},
                {"/t1/hls/seg-3.ts", "video/mp2t"},
                {"/t1/hls/seg-3.TS", "video/mp2t"},
                {"/t1/v.m4v", "video/mp4"},
                {"/t1/a.m4a", "audio/mp4"},
                {"/t1/hls/a-3.aac", "audio/aac"},
                {"/t1/v/seg-3.webm", "video/webm"},
                {"/t1/sub/en.ttml", "application/ttml+xml"},
                {"/t1/seg-3.tsx", "application/octet-stream"},
                {"/v1/steering.json", "application/json"},
                {"/player/index.html", "text/html; charset=utf-8"},
                {"/player/dash.all.min.js", "text/javascript"},
                /* keys, decoded: a '?' is part of the name */
                {"/t4/a?b.mpd", "application/dash+xml"},
                {"/t4/v.m4s?x.mpd", "application/dash+xml"},
                {"/t1/noext", "application/octet-stream"},
                {"/t1.mpd/noext", "application/octet-stream"},
                {"/t1/file.", "application/octet-stream"},
                {"/t1/file.bin", "application/octet-stream"},
                {"", "application/octet-stream"},
        };
        for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
                ASSERT_STREQ(http_content_type_for(t[i].path, strlen(t[i].path)), t[i].type);
}

TEST_MAIN()
