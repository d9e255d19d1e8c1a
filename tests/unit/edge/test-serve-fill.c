/* SPDX-License-Identifier: MIT */
/*
 * The shared response plan on a miss (edge/serve-plan.c): what a request keeps for the fill
 * (serve_kept_save), the answer with no upstream (serve_fill_join), and serve_plan_fill for a
 * fill in each state, described as the fill's owner leaves it (size, type, Last-Modified,
 * content hash, committed ETag); no upstream is fetched and no file is read.
 */
#include "plan-fixture.h"

#include "fill.h"

#define KEY      "/t1/v1/seg-3.m4s"
#define SHA_HEX  "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"
#define SHA_ETAG "\"0123456789abcdef\""

static struct serve_plan plan;
static struct serve_kept kept;
static struct fill fl;

/* A fill of 1000 bytes in state s, with the upstream's Last-Modified and no hash yet. */
static void fill_init(enum fill_state s)
{
        memset(&fl, 0, sizeof(fl));
        atomic_store(&fl.state, (int)s);
        fl.rfd = -1;
        fl.size = 1000;
        fl.last_modified = FIX_LM;
}

/* serve_plan_fill for a request with these header lines, kept as a miss keeps it. */
static int answer(const char *method, const char *hdrs, bool peer)
{
        struct http1_req *req = fix_req(method, KEY, hdrs);

        serve_kept_free(&kept);
        if (serve_kept_save(&kept, req, peer) < 0) {
                fprintf(stderr, "serve_kept_save: out of memory\n");
                exit(1);
        }
        return serve_plan_fill(&plan, &fix.c, req, &kept, &fl, KEY, strlen(KEY));
}

/* serve_kept_save for a GET with these header lines, what an earlier one held freed. */
static void keep(const char *method, const char *hdrs, bool peer)
{
        serve_kept_free(&kept);
        if (serve_kept_save(&kept, fix_req(method, KEY, hdrs), peer) < 0) {
                fprintf(stderr, "serve_kept_save: out of memory\n");
                exit(1);
        }
}

TEST(kept_save)
{
        static char line[3000];

        fix_init(NULL, NULL);
        keep("GET",
             "Range: bytes=0-9\r\nIf-Range: \"a\"\r\nOrigin: https://p.example\r\n"
             "If-None-Match: \"b\"\r\nIf-Match: *\r\n"
             "If-Modified-Since: " FIX_LM_TEXT "\r\n"
             "If-Unmodified-Since: " FIX_LM_TEXT "\r\n",
             true);
        ASSERT_TRUE(!kept.head_only && kept.peer && !kept.collapsed);
        ASSERT_STREQ(kept.range, "bytes=0-9");
        ASSERT_STREQ(kept.if_range, "\"a\"");
        ASSERT_MEMEQ(kept.origin, kept.origin_len, "https://p.example", 17);
        ASSERT_MEMEQ(kept.if_none_match, kept.if_none_match_len, "\"b\"", 3);
        ASSERT_MEMEQ(kept.if_match, kept.if_match_len, "*", 1);
        ASSERT_STREQ(kept.if_modified_since, FIX_LM_TEXT);
        ASSERT_STREQ(kept.if_unmodified_since, FIX_LM_TEXT);

        /* a HEAD's Range is ignored (RFC 9110 §14.2), its conditionals kept */
        keep("HEAD", "Range: bytes=0-9\r\nIf-Match: *\r\n", true);
        ASSERT_TRUE(kept.head_only);
        ASSERT_STREQ(kept.range, "");
        ASSERT_MEMEQ(kept.if_match, kept.if_match_len, "*", 1);
        ASSERT_TRUE(kept.if_none_match == NULL);

        /* a list is kept whole, however long, and beside it the others: nothing is dropped */
        (void)snprintf(line, sizeof(line), "Range: bytes=0-9\r\nIf-Match: *\r\n");
        tag_list_line(line + strlen(line), sizeof(line) - strlen(line), "If-None-Match", 60,
                  ", \"y\"");
        (void)snprintf(line + strlen(line), sizeof(line) - strlen(line),
                       "If-Unmodified-Since: " FIX_LM_TEXT "\r\n");
        keep("GET", line, false);
        ASSERT_TRUE(!kept.head_only && !kept.peer);
        ASSERT_EQ(kept.if_none_match_len, 60 * 20 - 2 + 5);
        ASSERT_TRUE(memcmp(kept.if_none_match + kept.if_none_match_len - 6, "\", \"y\"", 6) == 0);
        ASSERT_MEMEQ(kept.if_match, kept.if_match_len, "*", 1);
        ASSERT_STREQ(kept.if_unmodified_since, FIX_LM_TEXT);
        ASSERT_STREQ(kept.range, "bytes=0-9");

        /* a list on several lines is kept as the one list they form; an empty one is kept */
        keep("GET",
             "If-Match: \"a\"\r\nIf-None-Match: \"n\"\r\nIf-Match: \"b\", \"c\"\r\n"
             "If-Match: \"d\"\r\n",
             false);
        ASSERT_MEMEQ(kept.if_match, kept.if_match_len, "\"a\", \"b\", \"c\", \"d\"", 18);
        ASSERT_MEMEQ(kept.if_none_match, kept.if_none_match_len, "\"n\"", 3);
        keep("GET", "If-Match:\r\n", false);
        ASSERT_TRUE(kept.if_match != NULL);
        ASSERT_EQ(kept.if_match_len, 0);

        /* a date too long to keep is no date, dropped alone; one sent twice, or empty, is no
         * date either, kept as the "," that stands for one */
        keep("GET",
             "If-Match: \"a\"\r\nIf-Unmodified-Since: " FIX_LM_TEXT " and a good deal more\r\n",
             false);
        ASSERT_STREQ(kept.if_unmodified_since, "");
        ASSERT_MEMEQ(kept.if_match, kept.if_match_len, "\"a\"", 3);
        keep("GET",
             "If-Modified-Since: " FIX_LM_TEXT "\r\nIf-Modified-Since: " FIX_LM_TEXT "\r\n"
             "If-Unmodified-Since:\r\n",
             false);
        ASSERT_STREQ(kept.if_modified_since, ",");
        ASSERT_STREQ(kept.if_unmodified_since, ",");

        /* a Range, or its If-Range, too long to keep: the whole object */
        (void)snprintf(line, sizeof(line), "Range: bytes=0-1%0150d\r\n", 0);
        keep("GET", line, false);
        ASSERT_STREQ(kept.range, "");
        (void)snprintf(line, sizeof(line), "Range: bytes=0-9\r\nIf-Range: \"%080d\"\r\n", 0);
        keep("GET", line, false);
        ASSERT_STREQ(kept.range, "");
        serve_kept_free(&kept);
        ASSERT_TRUE(kept.lists == NULL && kept.if_match == NULL && kept.if_none_match == NULL);
}

TEST(no_upstream_is_404)
{
        struct fill *f = &fl;
        bool collapsed = false;

        fix_init("edge-a", NULL);
        struct http1_req *req = fix_req("GET", KEY, NULL);
        ASSERT_EQ(serve_fill_join(&plan, &fix.c, req, KEY, strlen(KEY), false, NULL, &f, &collapsed),
                  1);
        ASSERT_TRUE(f == NULL);
        ASSERT_EQ(plan.status, 404);
        ASSERT_STREQ(hdr_names(&plan),
                     CORS_ANY ", Cache-Status, Cache-Control, Content-Type, Content-Length");
        ASSERT_STREQ(hdr(&plan, "Cache-Status"), "edge-a; fwd=miss; detail=no-upstream");
        ASSERT_STREQ(hdr(&plan, "Cache-Control"), "max-age=2");
        ASSERT_MEMEQ(plan.text, plan.len, "404 Not Found\n", 14);
        ASSERT_EQ(metrics_value(fix.srv.m.misses), 1);
}

TEST(fill_without_a_body)
{
        fix_init(NULL, NULL);
        fill_init(FILL_PENDING);
        ASSERT_EQ(answer("GET", NULL, false), -EAGAIN);

        fill_init(FILL_MISSING);
        ASSERT_EQ(answer("GET", NULL, false), 0);
        ASSERT_EQ(plan.status, 404);
        ASSERT_STREQ(hdr(&plan, "Cache-Status"), "sluice; fwd=miss; fwd-status=404");
        ASSERT_STREQ(hdr(&plan, "Cache-Control"), "max-age=2");
        /* through a parent: its entry first */
        (void)snprintf(fl.upstream_status, sizeof(fl.upstream_status),
                       "parent-a; fwd=miss; fwd-status=404");
        ASSERT_EQ(answer("GET", NULL, false), 0);
        ASSERT_STREQ(hdr(&plan, "Cache-Status"),
                     "parent-a; fwd=miss; fwd-status=404, sluice; fwd=miss; fwd-status=404");

        fill_init(FILL_FAILED);
        ASSERT_EQ(answer("GET", NULL, false), 0);
        ASSERT_EQ(plan.status, 502);
        ASSERT_STREQ(hdr(&plan, "Cache-Status"), "sluice; fwd=miss; detail=upstream-failed");
        ASSERT_STREQ(hdr(&plan, "Cache-Control"), "no-store");
        fl.verdict = 503;
        ASSERT_EQ(answer("GET", NULL, false), 0);
        ASSERT_EQ(plan.status, 503);
        ASSERT_STREQ(hdr(&plan, "Cache-Status"), "sluice; fwd=miss; detail=store-full");
}

TEST(fill_body_streams_from_the_fill)
{
        fix_init("edge-a", NULL);
        fill_init(FILL_BODY);
        ASSERT_EQ(answer("GET", NULL, false), 0);
        ASSERT_EQ(plan.status, 200);
        ASSERT_EQ(plan.body, SERVE_BODY_FILL);
        ASSERT_TRUE(plan.fill == &fl);
        ASSERT_EQ(plan.off, 0);
        ASSERT_EQ(plan.len, 1000);
        /* no ETag while the hash is unknown */
        ASSERT_STREQ(hdr_names(&plan), CORS_ANY ", Content-Type, Content-Length, Last-Modified, "
                                                "Cache-Control, Accept-Ranges, Cache-Status, "
                                                "CMSD-Dynamic");
        ASSERT_STREQ(hdr(&plan, "Content-Type"), "video/iso.segment");
        ASSERT_STREQ(hdr(&plan, "Last-Modified"), FIX_LM_TEXT);
        ASSERT_STREQ(hdr(&plan, "Cache-Status"), "edge-a; fwd=miss; fwd-status=200");

        /* the upstream's type; the hash known: the ETag the store will give, and the hash
         * itself to a child edge */
        (void)snprintf(fl.ctype, sizeof(fl.ctype), "audio/mp4");
        fl.has_sha = true;
        memcpy(fl.sha_hex, SHA_HEX, 65);
        ASSERT_EQ(answer("HEAD", NULL, true), 0);
        ASSERT_TRUE(plan.head_only);
        ASSERT_STREQ(hdr_names(&plan), CORS_ANY ", Content-Type, Content-Length, ETag, "
                                                "Last-Modified, X-Sluice-SHA256, Cache-Control, "
                                                "Accept-Ranges, Cache-Status, CMSD-Dynamic");
        ASSERT_STREQ(hdr(&plan, "Content-Type"), "audio/mp4");
        ASSERT_STREQ(hdr(&plan, "ETag"), SHA_ETAG);
        ASSERT_STREQ(hdr(&plan, "X-Sluice-SHA256"), SHA_HEX);
        kept.collapsed = true;
        ASSERT_EQ(serve_plan_fill(&plan, &fix.c, &fix.req, &kept, &fl, KEY, strlen(KEY)), 0);
        ASSERT_STREQ(hdr(&plan, "Cache-Status"), "edge-a; fwd=miss; fwd-status=200; collapsed");
}

TEST(fill_preconditions)
{
        fix_init(NULL, NULL);
        fill_init(FILL_BODY);
        /* an entity-tag condition waits for the ETag; a date one does not */
        ASSERT_EQ(answer("GET", "If-None-Match: \"x\"\r\n", false), -EAGAIN);
        ASSERT_EQ(answer("GET", "If-Match: \"x\"\r\n", false), -EAGAIN);
        ASSERT_EQ(answer("GET", "If-Modified-Since: " FIX_LM_TEXT "\r\n", false), 0);
        ASSERT_EQ(plan.status, 304);
        ASSERT_STREQ(hdr_names(&plan), CORS_ANY ", Last-Modified, Cache-Control, Cache-Status");
        ASSERT_EQ(answer("GET", "If-Unmodified-Since: Tue, 14 Nov 2023 22:13:19 GMT\r\n", false),
                  0);
        ASSERT_EQ(plan.status, 412);
        ASSERT_STREQ(hdr(&plan, "Cache-Status"), "sluice; fwd=miss; fwd-status=200");
        ASSERT_STREQ(hdr(&plan, "Cache-Control"), "no-store");

        /* committed: the ETag is known */
        fill_init(FILL_DONE);
        memcpy(fl.done_etag, SHA_ETAG, sizeof(SHA_ETAG));
        ASSERT_EQ(answer("GET", "If-None-Match: W/" SHA_ETAG "\r\n", false), 0);
        ASSERT_EQ(plan.status, 304);
        ASSERT_STREQ(hdr_names(&plan),
                     CORS_ANY ", ETag, Last-Modified, Cache-Control, Cache-Status");
        ASSERT_STREQ(hdr(&plan, "ETag"), SHA_ETAG);
        ASSERT_EQ(answer("GET", "If-Match: \"other\"\r\n", false), 0);
        ASSERT_EQ(plan.status, 412);
        ASSERT_EQ(answer("GET", "If-Match: " SHA_ETAG "\r\nIf-None-Match: \"x\"\r\n", false), 0);
        ASSERT_EQ(plan.status, 200);
        ASSERT_EQ(metrics_value(fix.srv.m.not_modified), 2);
        ASSERT_EQ(metrics_value(fix.srv.m.precond_failed), 2);
}

TEST(fill_long_preconditions)
{
        static char line[3000], two[3200];

        fix_init(NULL, NULL);
        fill_init(FILL_DONE);
        memcpy(fl.done_etag, SHA_ETAG, sizeof(SHA_ETAG));
        /* An If-Match of 20 tags, none the fill's: 412, as on a hit (it was let through). */
        ASSERT_EQ(answer("GET", tag_list_line(line, sizeof(line), "If-Match", 20, ""), false), 0);
        ASSERT_EQ(plan.status, 412);
        ASSERT_EQ(answer("GET", tag_list_line(line, sizeof(line), "If-Match", 20, ", " SHA_ETAG),
                         false),
                  0);
        ASSERT_EQ(plan.status, 200);
        /* A short failing If-Match, or a past If-Unmodified-Since, beside a long If-None-Match */
        tag_list_line(line, sizeof(line), "If-None-Match", 20, "");
        (void)snprintf(two, sizeof(two), "%sIf-Match: \"x\"\r\n", line);
        ASSERT_EQ(answer("GET", two, false), 0);
        ASSERT_EQ(plan.status, 412);
        (void)snprintf(two, sizeof(two),
                       "%sIf-Unmodified-Since: Tue, 14 Nov 2023 22:13:19 GMT\r\n", line);
        ASSERT_EQ(answer("GET", two, false), 0);
        ASSERT_EQ(plan.status, 412);
        /* The long If-None-Match itself is judged: a 304 for the fill's tag at its end, and
         * If-Modified-Since not left to decide alone when it has not */
        tag_list_line(line, sizeof(line), "If-None-Match", 20, ", " SHA_ETAG);
        ASSERT_EQ(answer("GET", line, false), 0);
        ASSERT_EQ(plan.status, 304);
        tag_list_line(line, sizeof(line), "If-None-Match", 20, "");
        (void)snprintf(two, sizeof(two), "%sIf-Modified-Since: " FIX_LM_TEXT "\r\n", line);
        ASSERT_EQ(answer("GET", two, false), 0);
        ASSERT_EQ(plan.status, 200);
        /* Lines past 2 KB together are still one list: ours on the second line passes an
         * If-Match whose first line fails; a malformed second line spoils an If-None-Match
         * whose first line matches */
        tag_list_line(line, sizeof(line), "If-Match", 130, ", " SHA_ETAG);
        (void)snprintf(two, sizeof(two), "If-Match: \"x\"\r\n%s", line);
        ASSERT_EQ(answer("GET", two, false), 0);
        ASSERT_EQ(plan.status, 200);
        tag_list_line(line, sizeof(line), "If-None-Match", 130, ", garbage");
        (void)snprintf(two, sizeof(two), "If-None-Match: " SHA_ETAG "\r\n%s", line);
        ASSERT_EQ(answer("GET", two, false), 0);
        ASSERT_EQ(plan.status, 200);
        /* An empty If-Range is no validator: the Range is ignored, as on a hit */
        ASSERT_EQ(answer("GET", "Range: bytes=0-9\r\nIf-Range:\r\n", false), 0);
        ASSERT_EQ(plan.status, 200);
        serve_kept_free(&kept);
}

TEST(fill_ranges)
{
        fix_init(NULL, NULL);
        fill_init(FILL_BODY);
        ASSERT_EQ(answer("GET", "Range: bytes=100-199\r\n", false), 0);
        ASSERT_EQ(plan.status, 206);
        ASSERT_EQ(plan.body, SERVE_BODY_FILL);
        ASSERT_EQ(plan.off, 100);
        ASSERT_EQ(plan.len, 100);
        ASSERT_STREQ(hdr(&plan, "Content-Range"), "bytes 100-199/1000");
        ASSERT_STREQ(hdr(&plan, "Content-Length"), "100");

        ASSERT_EQ(answer("GET", "Range: bytes=1000-\r\n", false), 0);
        ASSERT_EQ(plan.status, 416);
        ASSERT_STREQ(hdr_names(&plan), CORS_ANY ", Content-Range, Cache-Status, Content-Length");
        ASSERT_STREQ(hdr(&plan, "Content-Range"), "bytes */1000");

        ASSERT_EQ(answer("GET", "Range: bytes=0-9, 20-29\r\n", false), 0);
        ASSERT_EQ(plan.status, 200);
        ASSERT_EQ(plan.len, 1000);

        /* If-Range: by date now; by tag only once the tag is known */
        ASSERT_EQ(answer("GET", "Range: bytes=0-9\r\nIf-Range: " FIX_LM_TEXT "\r\n", false), 0);
        ASSERT_EQ(plan.status, 206);
        ASSERT_EQ(answer("GET", "Range: bytes=0-9\r\nIf-Range: " SHA_ETAG "\r\n", false), 0);
        ASSERT_EQ(plan.status, 200);
        fl.has_sha = true;
        memcpy(fl.sha_hex, SHA_HEX, 65);
        /* With a SHA-256 to check, a range short of the end waits for the check; one to the
         * end holds back its last byte like a whole body, and a stale If-Range is a 200. */
        ASSERT_EQ(answer("GET", "Range: bytes=0-9\r\nIf-Range: " SHA_ETAG "\r\n", false),
                  -EAGAIN);
        ASSERT_EQ(answer("GET", "Range: bytes=900-\r\n", false), 0);
        ASSERT_EQ(plan.status, 206);
        ASSERT_EQ(answer("GET", "Range: bytes=0-9\r\nIf-Range: \"stale\"\r\n", false), 0);
        ASSERT_EQ(plan.status, 200);
        atomic_store(&fl.state, (int)FILL_DONE);
        ASSERT_EQ(answer("GET", "Range: bytes=0-9\r\nIf-Range: " SHA_ETAG "\r\n", false), 0);
        ASSERT_EQ(plan.status, 206);
        serve_kept_free(&kept);
}

TEST_MAIN()
