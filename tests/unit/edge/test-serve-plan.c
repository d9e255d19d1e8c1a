/* SPDX-License-Identifier: MIT */
/*
 * The shared response plan (edge/serve-plan.c) on a hit: status, fields in their order, body
 * source and range, for GET and HEAD, the preconditions of RFC 9110 §13.2.2, Range and
 * If-Range, validators, Content-Type, Cache-Control, Cache-Status and CORS. No socket: the
 * request is parsed from text, the object is a description (the plan never reads its file).
 */
#include "cmsd.h"
#include "plan-fixture.h"

#define HIT_200                                                                                    \
        CORS_ANY ", Content-Type, Content-Length, ETag, Last-Modified, Cache-Control, "            \
                 "Accept-Ranges, Cache-Status, CMSD-Dynamic"
#define HIT_206                                                                                    \
        CORS_ANY ", Content-Type, Content-Length, Content-Range, ETag, Last-Modified, "            \
                 "Cache-Control, Accept-Ranges, Cache-Status, CMSD-Dynamic"
#define HIT_304 CORS_ANY ", ETag, Last-Modified, Cache-Control, Cache-Status"

static struct serve_plan plan;

/* A hit on key for a request with the given header lines. */
static struct serve_plan *hit(const char *method, const char *key, const char *hdrs)
{
        struct http1_req *req = fix_req(method, key, hdrs);

        serve_plan_hit(&plan, &fix.c, req, key, strlen(key), &fix.obj, false);
        return &plan;
}

/* The status a GET for the segment gets with these header lines. */
static int status_for(const char *hdrs)
{
        return hit("GET", "/t1/v1/seg-3.m4s", hdrs)->status;
}

TEST(get_hit)
{
        fix_init(NULL, NULL);
        struct serve_plan *p = hit("GET", "/t1/v1/seg-3.m4s", NULL);

        ASSERT_EQ(p->status, 200);
        ASSERT_TRUE(!p->head_only && !p->overflow);
        ASSERT_EQ(p->body, SERVE_BODY_FILE);
        ASSERT_TRUE(p->obj == &fix.obj);
        ASSERT_EQ(p->off, 0);
        ASSERT_EQ(p->len, 1000);
        ASSERT_STREQ(hdr_names(p), HIT_200);
        ASSERT_STREQ(hdr(p, "Access-Control-Allow-Origin"), "*");
        ASSERT_STREQ(hdr(p, "Timing-Allow-Origin"), "*");
        ASSERT_STREQ(hdr(p, "Access-Control-Expose-Headers"),
                     "Content-Length, Content-Range, Content-Type, ETag, Last-Modified, "
                     "Accept-Ranges, Cache-Control, Cache-Status, CMSD-Dynamic, Date, Server, "
                     "Retry-After");
        ASSERT_STREQ(hdr(p, "Content-Type"), "video/iso.segment");
        ASSERT_STREQ(hdr(p, "Content-Length"), "1000");
        ASSERT_STREQ(hdr(p, "ETag"), FIX_ETAG);
        ASSERT_STREQ(hdr(p, "Last-Modified"), FIX_LM_TEXT);
        ASSERT_STREQ(hdr(p, "Cache-Control"), "public, max-age=86400");
        ASSERT_STREQ(hdr(p, "Accept-Ranges"), "bytes");
        ASSERT_STREQ(hdr(p, "Cache-Status"), "sluice; hit");
        ASSERT_TRUE(hdr(p, "X-Sluice-SHA256") == NULL);
        ASSERT_EQ(metrics_value(fix.srv.m.hits), 1);
        ASSERT_EQ(metrics_value(fix.srv.m.ranges), 0);
}

TEST(head_hit_describes_the_body_it_does_not_send)
{
        fix_init(NULL, NULL);
        struct serve_plan *p = hit("HEAD", "/t1/v1/seg-3.m4s", NULL);

        ASSERT_EQ(p->status, 200);
        ASSERT_TRUE(p->head_only);
        ASSERT_EQ(p->body, SERVE_BODY_FILE);
        ASSERT_EQ(p->len, 1000);
        ASSERT_STREQ(hdr_names(p), HIT_200);
        ASSERT_STREQ(hdr(p, "Content-Length"), "1000");
}

TEST(content_type_and_cache_control_by_extension)
{
        static const struct {
                const char *key, *ctype, *cc;
        } cases[] = {
            {"/t1/manifest.mpd", "application/dash+xml", "public, max-age=2"},
            {"/t1/v1/seg-3.m4s", "video/iso.segment", "public, max-age=86400"},
            {"/t1/v1/init.mp4", "video/mp4", "public, max-age=86400"},
            {"/t1/index.m3u8", "application/vnd.apple.mpegurl", "public, max-age=2"},
            {"/t1/sub/en.vtt", "text/vtt", "public, max-age=86400"},
            {"/t1/asset.json", "application/json", "public, max-age=86400"},
            /* The type is read whatever the extension's case; so is a manifest's short life
             * (it is revalidated by the same rule, hit.c). */
            {"/t1/LIVE.MPD", "application/dash+xml", "public, max-age=2"},
            {"/t1/Index.M3u8", "application/vnd.apple.mpegurl", "public, max-age=2"},
            {"/t1/V1/SEG-3.M4S", "video/iso.segment", "public, max-age=86400"},
        };

        fix_init(NULL, NULL);
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct serve_plan *p = hit("GET", cases[i].key, NULL);
                ASSERT_EQ(p->status, 200);
                ASSERT_STREQ(hdr(p, "Content-Type"), cases[i].ctype);
                ASSERT_STREQ(hdr(p, "Cache-Control"), cases[i].cc);
                ASSERT_STREQ(serve_cache_control(cases[i].key, strlen(cases[i].key)), cases[i].cc);
        }
}

TEST(stored_content_type_wins_over_the_extension)
{
        fix_init(NULL, NULL);
        (void)snprintf(fix.obj.content_type, sizeof(fix.obj.content_type), "audio/mp4");
        ASSERT_STREQ(hdr(hit("GET", "/t1/a1/seg-1.m4s", NULL), "Content-Type"), "audio/mp4");
}

TEST(if_none_match_gives_304_with_the_validators)
{
        fix_init(NULL, NULL);
        struct serve_plan *p = hit("GET", "/t1/v1/seg-3.m4s", "If-None-Match: \"3f2a9c\"\r\n");

        ASSERT_EQ(p->status, 304);
        ASSERT_EQ(p->body, SERVE_BODY_NONE);
        ASSERT_EQ(p->len, 0);
        ASSERT_STREQ(hdr_names(p), HIT_304);
        ASSERT_STREQ(hdr(p, "ETag"), FIX_ETAG);
        ASSERT_STREQ(hdr(p, "Last-Modified"), FIX_LM_TEXT);
        ASSERT_STREQ(hdr(p, "Cache-Control"), "public, max-age=86400");
        ASSERT_STREQ(hdr(p, "Cache-Status"), "sluice; hit");
        ASSERT_EQ(metrics_value(fix.srv.m.not_modified), 1);
        ASSERT_EQ(metrics_value(fix.srv.m.hits), 1);

        /* weak comparison, lists and "*" */
        ASSERT_EQ(status_for("If-None-Match: W/\"3f2a9c\"\r\n"), 304);
        ASSERT_EQ(status_for("If-None-Match: \"a\", W/\"3f2a9c\" , \"b\"\r\n"), 304);
        ASSERT_EQ(status_for("If-None-Match: *\r\n"), 304);
        ASSERT_EQ(status_for("If-None-Match: \"3f2a9d\", \"a\"\r\n"), 200);
        ASSERT_EQ(status_for("If-None-Match: 3f2a9c\r\n"), 200); /* unquoted: no tag */
        ASSERT_EQ(hit("HEAD", "/t1/v1/seg-3.m4s", "If-None-Match: *\r\n")->status, 304);
        ASSERT_EQ(metrics_value(fix.srv.m.not_modified), 5);
}

TEST(if_match_mismatch_gives_412)
{
        fix_init(NULL, NULL);
        struct serve_plan *p = hit("GET", "/t1/v1/seg-3.m4s", "If-Match: \"other\"\r\n");

        ASSERT_EQ(p->status, 412);
        ASSERT_EQ(p->body, SERVE_BODY_TEXT);
        ASSERT_MEMEQ(p->text, p->len, "412 Precondition Failed\n", 24);
        ASSERT_STREQ(hdr_names(p), CORS_ANY ", Cache-Status, Content-Type, Content-Length");
        ASSERT_STREQ(hdr(p, "Cache-Status"), "sluice; hit");
        ASSERT_STREQ(hdr(p, "Content-Type"), "text/plain; charset=utf-8");
        ASSERT_STREQ(hdr(p, "Content-Length"), "24");
        ASSERT_EQ(metrics_value(fix.srv.m.precond_failed), 1);

        /* strong comparison: a weak tag never matches; "*" and the tag itself do */
        ASSERT_EQ(status_for("If-Match: W/\"3f2a9c\"\r\n"), 412);
        ASSERT_EQ(status_for("If-Match: \"a\", \"3f2a9c\"\r\n"), 200);
        ASSERT_EQ(status_for("If-Match: *\r\n"), 200);
}

TEST(lists_on_several_lines_past_2k)
{
        static char line[3000], two[3200];

        fix_init(NULL, NULL);
        /* The lines are one list (RFC 9110 §5.3) whatever their length: the first line was
         * judged alone once the joined list passed 2048 bytes. */
        tag_list_line(line, sizeof(line), "If-Match", 120, ", " FIX_ETAG);
        (void)snprintf(two, sizeof(two), "If-Match: \"x\"\r\n%s", line);
        ASSERT_EQ(status_for(two), 200);
        tag_list_line(line, sizeof(line), "If-Match", 120, "");
        (void)snprintf(two, sizeof(two), "If-Match: " FIX_ETAG "\r\n%s", line);
        ASSERT_EQ(status_for(two), 200);
        (void)snprintf(two, sizeof(two), "If-Match: \"x\"\r\n%s", line);
        ASSERT_EQ(status_for(two), 412);
        /* a malformed line spoils the list, however long: it matches nothing */
        tag_list_line(line, sizeof(line), "If-None-Match", 120, ", garbage");
        (void)snprintf(two, sizeof(two), "If-None-Match: " FIX_ETAG "\r\n%s", line);
        ASSERT_EQ(status_for(two), 200);
        (void)snprintf(two, sizeof(two), "If-Match: " FIX_ETAG "\r\n%s",
                       tag_list_line(line, sizeof(line), "If-Match", 120, ", garbage"));
        ASSERT_EQ(status_for(two), 412);
        tag_list_line(line, sizeof(line), "If-None-Match", 120, ", W/" FIX_ETAG);
        (void)snprintf(two, sizeof(two), "If-None-Match: \"x\"\r\n%s", line);
        ASSERT_EQ(status_for(two), 304);
}

TEST(modified_since_dates)
{
        fix_init(NULL, NULL);
        ASSERT_EQ(status_for("If-Modified-Since: " FIX_LM_TEXT "\r\n"), 304);
        ASSERT_EQ(status_for("If-Modified-Since: Tue, 14 Nov 2023 22:13:21 GMT\r\n"), 304);
        ASSERT_EQ(status_for("If-Modified-Since: Tue, 14 Nov 2023 22:13:19 GMT\r\n"), 200);
        /* RFC 850 and asctime forms are dates too; a malformed one is ignored */
        ASSERT_EQ(status_for("If-Modified-Since: Tuesday, 14-Nov-23 22:13:20 GMT\r\n"), 304);
        ASSERT_EQ(status_for("If-Modified-Since: Tue Nov 14 22:13:20 2023\r\n"), 304);
        ASSERT_EQ(status_for("If-Modified-Since: Tue, 14 Nov 2023 22:13:20 gmt\r\n"), 200);

        ASSERT_EQ(status_for("If-Unmodified-Since: Tue, 14 Nov 2023 22:13:19 GMT\r\n"), 412);
        ASSERT_EQ(status_for("If-Unmodified-Since: " FIX_LM_TEXT "\r\n"), 200);
        ASSERT_EQ(status_for("If-Unmodified-Since: not a date\r\n"), 200);
}

TEST(precondition_precedence)
{
        fix_init(NULL, NULL);
        /* If-Match present: If-Unmodified-Since is not evaluated */
        ASSERT_EQ(status_for("If-Match: \"3f2a9c\"\r\n"
                             "If-Unmodified-Since: Tue, 14 Nov 2023 22:13:19 GMT\r\n"),
                  200);
        /* If-None-Match present: If-Modified-Since is not evaluated, either way */
        ASSERT_EQ(status_for("If-None-Match: \"other\"\r\n"
                             "If-Modified-Since: Tue, 14 Nov 2023 22:13:21 GMT\r\n"),
                  200);
        ASSERT_EQ(status_for("If-None-Match: \"3f2a9c\"\r\n"
                             "If-Modified-Since: Tue, 14 Nov 2023 22:13:19 GMT\r\n"),
                  304);
        /* 412 is decided before 304 */
        ASSERT_EQ(status_for("If-Match: \"other\"\r\nIf-None-Match: \"3f2a9c\"\r\n"), 412);
        ASSERT_EQ(status_for("If-Unmodified-Since: Tue, 14 Nov 2023 22:13:19 GMT\r\n"
                             "If-Modified-Since: " FIX_LM_TEXT "\r\n"),
                  412);
        /* a precondition outranks Range */
        ASSERT_EQ(status_for("If-None-Match: *\r\nRange: bytes=0-9\r\n"), 304);
        ASSERT_EQ(status_for("If-Match: \"x\"\r\nRange: bytes=0-9\r\n"), 412);
        /* no known modification time: date conditions are ignored */
        fix.obj.last_modified = 0;
        ASSERT_EQ(status_for("If-Modified-Since: " FIX_LM_TEXT "\r\n"), 200);
        ASSERT_EQ(status_for("If-Unmodified-Since: Tue, 14 Nov 2023 22:13:19 GMT\r\n"), 200);
}

TEST(single_range_gives_206)
{
        static const struct {
                const char *range, *content_range;
                uint64_t off, len;
        } cases[] = {
            {"bytes=100-199", "bytes 100-199/1000", 100, 100},
            {"bytes=990-", "bytes 990-999/1000", 990, 10},
            {"bytes=-100", "bytes 900-999/1000", 900, 100},
            {"bytes=900-5000", "bytes 900-999/1000", 900, 100},
            {"bytes=-5000", "bytes 0-999/1000", 0, 1000},
            {"BYTES=0-0", "bytes 0-0/1000", 0, 1},
        };
        char line[64];

        fix_init(NULL, NULL);
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                (void)snprintf(line, sizeof(line), "Range: %s\r\n", cases[i].range);
                struct serve_plan *p = hit("GET", "/t1/v1/seg-3.m4s", line);
                ASSERT_EQ(p->status, 206);
                ASSERT_EQ(p->body, SERVE_BODY_FILE);
                ASSERT_EQ(p->off, cases[i].off);
                ASSERT_EQ(p->len, cases[i].len);
                ASSERT_STREQ(hdr_names(p), HIT_206);
                ASSERT_STREQ(hdr(p, "Content-Range"), cases[i].content_range);
                ASSERT_EQ(strtoull(hdr(p, "Content-Length"), NULL, 10), cases[i].len);
        }
        ASSERT_EQ(metrics_value(fix.srv.m.ranges), 6);

        /* Range is defined for GET alone (RFC 9110 §14.2): a HEAD's is ignored */
        struct serve_plan *p = hit("HEAD", "/t1/v1/seg-3.m4s", "Range: bytes=10-19\r\n");
        ASSERT_EQ(p->status, 200);
        ASSERT_TRUE(p->head_only);
        ASSERT_EQ(p->len, 1000);
        ASSERT_TRUE(hdr(p, "Content-Range") == NULL);
}

TEST(unsatisfiable_range_gives_416)
{
        fix_init("edge-a", NULL);
        struct serve_plan *p = hit("GET", "/t1/v1/seg-3.m4s", "Range: bytes=1000-\r\n");

        ASSERT_EQ(p->status, 416);
        ASSERT_EQ(p->body, SERVE_BODY_NONE);
        ASSERT_STREQ(hdr_names(p), CORS_ANY ", Content-Range, Cache-Status, Content-Length");
        ASSERT_STREQ(hdr(p, "Content-Range"), "bytes */1000");
        ASSERT_STREQ(hdr(p, "Cache-Status"), "edge-a; hit");
        ASSERT_STREQ(hdr(p, "Content-Length"), "0");
        ASSERT_EQ(metrics_value(fix.srv.m.range_unsatisfiable), 1);

        ASSERT_EQ(status_for("Range: bytes=-0\r\n"), 416);
        ASSERT_EQ(status_for("Range: bytes=2000-3000, 1000-\r\n"), 416);
        fix.obj.size = 0;
        p = hit("GET", "/t1/v1/seg-3.m4s", "Range: bytes=0-\r\n");
        ASSERT_EQ(p->status, 416);
        ASSERT_STREQ(hdr(p, "Content-Range"), "bytes */0");
}

TEST(several_ranges_per_the_documented_choice)
{
        fix_init(NULL, NULL);
        /* several satisfiable ranges: the whole object, never multipart/byteranges */
        struct serve_plan *p = hit("GET", "/t1/v1/seg-3.m4s", "Range: bytes=0-9, 20-29\r\n");
        ASSERT_EQ(p->status, 200);
        ASSERT_EQ(p->off, 0);
        ASSERT_EQ(p->len, 1000);
        ASSERT_STREQ(hdr_names(p), HIT_200);
        ASSERT_TRUE(hdr(p, "Content-Range") == NULL);
        /* exactly one of them satisfiable: that one */
        p = hit("GET", "/t1/v1/seg-3.m4s", "Range: bytes=5000-6000, 10-19\r\n");
        ASSERT_EQ(p->status, 206);
        ASSERT_STREQ(hdr(p, "Content-Range"), "bytes 10-19/1000");
        /* unreadable: ignored */
        ASSERT_EQ(status_for("Range: items=0-9\r\n"), 200);
        ASSERT_EQ(status_for("Range: bytes=9-0\r\n"), 200);
        ASSERT_EQ(status_for("Range: bytes 0-9\r\n"), 200);
}

TEST(if_range)
{
        fix_init(NULL, NULL);
        ASSERT_EQ(status_for("Range: bytes=0-9\r\nIf-Range: \"3f2a9c\"\r\n"), 206);
        ASSERT_EQ(status_for("Range: bytes=0-9\r\nIf-Range: \"stale\"\r\n"), 200);
        ASSERT_EQ(status_for("Range: bytes=0-9\r\nIf-Range: W/\"3f2a9c\"\r\n"), 200);
        ASSERT_EQ(status_for("Range: bytes=0-9\r\nIf-Range: " FIX_LM_TEXT "\r\n"), 206);
        ASSERT_EQ(status_for("Range: bytes=0-9\r\nIf-Range: Tue, 14 Nov 2023 22:13:21 GMT\r\n"),
                  200);
        /* an unsatisfiable range under a stale If-Range is not looked at: 200, not 416 */
        ASSERT_EQ(status_for("Range: bytes=5000-\r\nIf-Range: \"stale\"\r\n"), 200);
        /* a Last-Modified not yet a second in the past is not a strong validator (a future one
         * here, so that the clock ticking during the test cannot change the answer) */
        fix.obj.last_modified = time(NULL) + 5;
        char date[HTTP_DATE_LEN + 1], line[96];
        (void)http_date_format(fix.obj.last_modified, date);
        (void)snprintf(line, sizeof(line), "Range: bytes=0-9\r\nIf-Range: %s\r\n", date);
        ASSERT_EQ(status_for(line), 200);
}

TEST(cors_on_and_off)
{
        struct serve_plan *p;

        fix_init(NULL, "https://player.example");
        p = hit("GET", "/t1/v1/seg-3.m4s", "Origin: https://player.example\r\n");
        ASSERT_EQ(p->status, 200);
        ASSERT_STREQ(hdr_names(p), "Vary, " HIT_200);
        ASSERT_STREQ(hdr(p, "Vary"), "Origin");
        ASSERT_STREQ(hdr(p, "Access-Control-Allow-Origin"), "https://player.example");
        ASSERT_STREQ(hdr(p, "Timing-Allow-Origin"), "https://player.example");

        /* an unlisted Origin, or none: Vary only */
        p = hit("GET", "/t1/v1/seg-3.m4s", "Origin: https://other.example\r\n");
        ASSERT_EQ(p->status, 200);
        ASSERT_STREQ(hdr(p, "Vary"), "Origin");
        ASSERT_TRUE(hdr(p, "Access-Control-Allow-Origin") == NULL);
        ASSERT_TRUE(hdr(p, "Access-Control-Expose-Headers") == NULL);
        ASSERT_TRUE(hdr(p, "Timing-Allow-Origin") == NULL);
        p = hit("GET", "/t1/v1/seg-3.m4s", NULL);
        ASSERT_TRUE(hdr(p, "Access-Control-Allow-Origin") == NULL);
        ASSERT_STREQ(hdr(p, "Vary"), "Origin");

        /* the admin listener answers no CORS at all */
        fix_init(NULL, NULL);
        fix.c.admin = true;
        p = hit("GET", "/t1/v1/seg-3.m4s", "Origin: https://player.example\r\n");
        ASSERT_STREQ(hdr_names(p), &HIT_200[sizeof(CORS_ANY ", ") - 1]);
}

TEST(cache_status_names_this_edge)
{
        fix_init("edge-a", NULL);
        ASSERT_STREQ(hdr(hit("GET", "/t1/v1/seg-3.m4s", NULL), "Cache-Status"), "edge-a; hit");
        ASSERT_STREQ(serve_cache_name(&fix.c), "edge-a");
        fix_init("", NULL);
        ASSERT_STREQ(serve_cache_name(&fix.c), "sluice");
}

TEST(peer_gets_the_content_hash)
{
        fix_init(NULL, NULL);
        for (int i = 0; i < 32; i++)
                fix.obj.sha256[i] = (uint8_t)i;
        fix.obj.has_sha256 = true;
        struct http1_req *req = fix_req("GET", "/t1/v1/seg-3.m4s", NULL);
        serve_plan_hit(&plan, &fix.c, req, "/t1/v1/seg-3.m4s", 16, &fix.obj, true);
        ASSERT_STREQ(hdr(&plan, "X-Sluice-SHA256"),
                     "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
        ASSERT_EQ(plan.n_hdrs, 12);
        /* a player never sees it */
        ASSERT_TRUE(hdr(hit("GET", "/t1/v1/seg-3.m4s", NULL), "X-Sluice-SHA256") == NULL);
}

TEST(cmsd_dynamic_on_media_answers)
{
        /* The fixture's connection has no socket: no TCP estimate, 0; its limits are unset:
         * no duress. Its name is the edge id's fallback. */
        ASSERT_STREQ(hdr(hit("GET", "/t1/v1/seg-3.m4s", NULL), "CMSD-Dynamic"),
                     "\"sluice\";etp=0;rtt=0");
        fix.w.limits.max_connections = 10;
        atomic_store(&fix.srv.conns_open, 9);
        ASSERT_STREQ(hdr(hit("GET", "/t1/v1/seg-3.m4s", NULL), "CMSD-Dynamic"),
                     "\"sluice\";etp=0;rtt=0;du");
        atomic_store(&fix.srv.conns_open, 8);
        ASSERT_STREQ(hdr(hit("GET", "/t1/v1/seg-3.m4s", NULL), "CMSD-Dynamic"),
                     "\"sluice\";etp=0;rtt=0");
        /* not on a 304 (no body to estimate for) */
        ASSERT_TRUE(hdr(hit("GET", "/t1/v1/seg-3.m4s", "If-None-Match: " FIX_ETAG "\r\n"),
                        "CMSD-Dynamic") == NULL);
}

TEST(cmsd_format_names_and_bounds)
{
        char v[64];

        ASSERT_EQ(cmsd_format(v, sizeof(v), "edge-a", 12000, 3, false), 24);
        ASSERT_STREQ(v, "\"edge-a\";etp=12000;rtt=3");
        cmsd_format(v, sizeof(v), "bad\"name", 1, 2, true);
        ASSERT_STREQ(v, "\"sluice\";etp=1;rtt=2;du");
        cmsd_format(v, sizeof(v), "tab\there", 1, 2, false);
        ASSERT_STREQ(v, "\"sluice\";etp=1;rtt=2");
        ASSERT_EQ(cmsd_format(v, 10, "edge-a", 12000, 3, false), 0); /* does not fit */
}

TEST(status_answers_and_overflow)
{
        fix_init(NULL, NULL);
        serve_plan_status(&plan, &fix.c, NULL, 404);
        ASSERT_EQ(plan.status, 404);
        ASSERT_EQ(plan.body, SERVE_BODY_TEXT);
        ASSERT_MEMEQ(plan.text, plan.len, "404 Not Found\n", 14);
        ASSERT_STREQ(hdr_names(&plan), CORS_ANY ", Content-Type, Content-Length");
        ASSERT_STREQ(hdr(&plan, "Content-Length"), "14");

        /* more fields than a plan holds: marked, never sent */
        serve_plan_start(&plan, &fix.c, NULL, 200);
        for (int i = 0; i < SERVE_PLAN_HDRS; i++)
                serve_plan_header_u64(&plan, "X-N", (uint64_t)i);
        ASSERT_TRUE(plan.overflow);
        ASSERT_EQ(plan.n_hdrs, SERVE_PLAN_HDRS);
        /* a value larger than the arena */
        static char big[SERVE_PLAN_ARENA + 1];
        memset(big, 'a', sizeof(big));
        serve_plan_start(&plan, &fix.c, NULL, 200);
        ASSERT_TRUE(!plan.overflow);
        serve_plan_header_copy(&plan, "X-Big", big, sizeof(big));
        ASSERT_TRUE(plan.overflow);
}

TEST_MAIN()
