/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "fixture.h"
#include "mpd-cache.h"
#include "mpd.h"
#include "tests.h"

#define SID1 "0123456789abcdef0123456789abcdef"
#define SID2 "fedcba9876543210fedcba9876543210"

/* What a manifest request passes: ranked edges with one token, session URLs, markers. */
struct req {
        struct mpd_edge edges[3];
        struct mpd_marker markers[2];
        char steer[256], lic[256];
        struct mpd_params p;
};

static void req_init(struct req *q, const struct asset *a, const char *sid, const char *token,
                     size_t n_edges, size_t n_markers)
{
        static const char *const ids[] = {"edge-a", "edge-b", "edge-<c>&"};
        static const char *const bases[] = {"https://a.example", "http://b.example:8080//",
                                            "http://c.example/x?y=\"1\"'"};

        memset(q, 0, sizeof(*q));
        for (size_t i = 0; i < n_edges; i++)
                q->edges[i] = (struct mpd_edge){
                    .service_location = ids[i], .base_url = bases[i], .token = token};
        q->markers[0] = (struct mpd_marker){.kind = "intro", .start = 60, .duration = 90};
        q->markers[1] = (struct mpd_marker){.kind = "credits", .start = 3500, .duration = 100};
        snprintf(q->steer, sizeof(q->steer), "http://ctl.test/v1/steering/%s", sid);
        snprintf(q->lic, sizeof(q->lic), "http://ctl.test/v1/license/clearkey?session=%s&x=<%s>",
                 sid, sid);
        q->p = (struct mpd_params){
            .asset = a,
            .edges = q->edges,
            .n_edges = n_edges,
            .steering_url = q->steer,
            .steering_query_before_start = true,
            .license_url = a->encrypted ? q->lic : NULL,
            .markers = n_markers ? q->markers : NULL,
            .n_markers = n_markers,
        };
}

/* The cached rendering is byte for byte mpd_build()'s. Returns 0 or a failure line. */
static int same(struct mpd_cache *c, const struct req *q, const char *id, int64_t version,
                const char *sid)
{
        char *want = NULL, *got = NULL;
        size_t wl = 0, gl = 0;
        int r = -1;

        if (mpd_build(&q->p, &want, &wl) < 0 ||
            mpd_cache_build(c, &q->p, id, version, sid, &got, &gl) < 0)
                goto out;
        if (wl != gl || memcmp(want, got, wl) || strlen(got) != gl) {
                fprintf(stderr, "--- mpd_build\n%s\n--- mpd_cache_build\n%s\n", want, got);
                goto out;
        }
        r = 0;
out:
        free(want);
        free(got);
        return r;
}

TEST(identical_to_mpd_build)
{
        struct mpd_cache *c = NULL;
        struct req q;
        const char *files[] = {"asset-clear.json", "asset-enc.json", "asset-ingest-enc.json"};

        ASSERT_EQ(mpd_cache_new(&c), 0);
        for (size_t f = 0; f < 3; f++) {
                struct asset *a = fixture_asset(files[f]);
                for (size_t n = 1; n <= 3; n++) {
                        for (size_t m = 0; m <= 2; m++) {
                                /* First a miss (the template is made), then hits. */
                                req_init(&q, a, SID1, "TOK.1-_x", n, m);
                                ASSERT_EQ(same(c, &q, files[f], 7, SID1), 0);
                                ASSERT_EQ(same(c, &q, files[f], 7, SID1), 0);
                                req_init(&q, a, SID2, "TOK.2", n, m);
                                ASSERT_EQ(same(c, &q, files[f], 7, SID2), 0);
                        }
                }
                asset_free(a);
        }
        mpd_cache_free(c);
}

TEST(steering_url_lists_every_pathway)
{
        struct mpd_cache *c = NULL;
        struct asset *a = fixture_asset("asset-clear.json");
        struct req q;
        char *m = NULL;
        size_t len = 0;

        ASSERT_EQ(mpd_cache_new(&c), 0);
        /* The template is made from one edge; a later request with three lists all three. */
        req_init(&q, a, SID1, "T", 1, 0);
        ASSERT_EQ(mpd_cache_build(c, &q.p, "t", 1, SID1, &m, &len), 0);
        ASSERT_TRUE(strstr(m, "/v1/steering/" SID1 "?pathways=edge-a</ContentSteering>") != NULL);
        free(m);
        req_init(&q, a, SID2, "T", 3, 0);
        ASSERT_EQ(mpd_cache_build(c, &q.p, "t", 1, SID2, &m, &len), 0);
        ASSERT_TRUE(strstr(m, " defaultServiceLocation=\"edge-a\" ") != NULL);
        ASSERT_TRUE(strstr(m, "/v1/steering/" SID2 "?pathways=edge-a,edge-b,edge-&lt;c&gt;&amp;"
                              "</ContentSteering>") != NULL);
        free(m);
        mpd_cache_free(c);
        asset_free(a);
}

TEST(key_changes_rebuild)
{
        struct mpd_cache *c = NULL;
        struct asset *clear = fixture_asset("asset-clear.json");
        struct asset *enc = fixture_asset("asset-enc.json");
        struct req q;

        ASSERT_EQ(mpd_cache_new(&c), 0);
        req_init(&q, clear, SID1, "T", 2, 2);
        ASSERT_EQ(same(c, &q, "t1", 1, SID1), 0);
        /* Another asset under the same id and version must not be served from the template:
         * the version is the key, so a new version rebuilds. */
        req_init(&q, enc, SID1, "T", 2, 2);
        ASSERT_EQ(same(c, &q, "t1", 2, SID1), 0);
        /* Markers, flags and the public URL are part of the key. */
        q.markers[0].start = 61;
        ASSERT_EQ(same(c, &q, "t1", 2, SID1), 0);
        q.p.steering_query_before_start = false;
        ASSERT_EQ(same(c, &q, "t1", 2, SID1), 0);
        q.p.min_buffer_time_s = 6;
        ASSERT_EQ(same(c, &q, "t1", 2, SID1), 0);
        snprintf(q.steer, sizeof(q.steer), "https://other.test/v1/steering/%s", SID1);
        ASSERT_EQ(same(c, &q, "t1", 2, SID1), 0);
        q.p.steering_url = NULL;
        ASSERT_EQ(same(c, &q, "t1", 2, SID1), 0);
        mpd_cache_free(c);
        asset_free(clear);
        asset_free(enc);
}

TEST(falls_back_when_a_template_cannot_say_it)
{
        struct mpd_cache *c = NULL;
        struct asset *a = fixture_asset("asset-enc.json");
        struct req q;

        ASSERT_EQ(mpd_cache_new(&c), 0);
        /* No token, different tokens per edge, a long marker kind: still mpd_build's bytes. */
        req_init(&q, a, SID1, NULL, 2, 0);
        ASSERT_EQ(same(c, &q, "t", 1, SID1), 0);
        req_init(&q, a, SID1, "A", 2, 1);
        q.edges[1].token = "B";
        ASSERT_EQ(same(c, &q, "t", 1, SID1), 0);
        req_init(&q, a, SID1, "A", 1, 1);
        q.markers[0].kind = "a-marker-kind-longer-than-thirty-two-bytes";
        ASSERT_EQ(same(c, &q, "t", 1, SID1), 0);
        /* Errors are mpd_build's too. */
        char *out = NULL;
        size_t len = 0;
        req_init(&q, a, SID1, "A", 1, 0);
        q.p.license_url = NULL;
        ASSERT_EQ(mpd_cache_build(c, &q.p, "t", 1, SID1, &out, &len), -EINVAL);
        mpd_cache_free(c);
        asset_free(a);
}

TEST_MAIN()
