/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "fixture.h"
#include "mpd.h"
#include "tests.h"
#include "xml-check.h"

static const struct mpd_edge two_edges[] = {
    {.service_location = "edge-a", .base_url = "https://a.example", .token = "TOK1"},
    {.service_location = "edge-b", .base_url = "http://b.example:8080/", .token = "TOK2"},
};

static char *build(const struct mpd_params *p)
{
        char *out = NULL;
        size_t len = 0;
        int r = mpd_build(p, &out, &len);
        if (r < 0) {
                fprintf(stderr, "mpd_build: %d\n", r);
                return NULL;
        }
        if (strlen(out) != len) {
                free(out);
                return NULL;
        }
        return out;
}

/* The text between the first occurrence of from and the next until (exclusive), as a copy. */
static char *slice(const char *s, const char *from, const char *until)
{
        const char *a = strstr(s, from);
        if (!a)
                return NULL;
        const char *b = strstr(a + strlen(from), until);
        if (!b)
                return NULL;
        return strndup(a, (size_t)(b - a));
}

TEST(clear_title_shape)
{
        struct asset *a = fixture_asset("asset-clear.json");
        struct mpd_marker intro = {.kind = "intro", .start = 5, .duration = 30};
        struct mpd_params p = {.asset = a,
                               .edges = two_edges,
                               .n_edges = 2,
                               .steering_url = "https://control.example/v1/steering/S1",
                               .steering_query_before_start = true,
                               .markers = &intro,
                               .n_markers = 1};
        char *m = build(&p);
        ASSERT_TRUE(m != NULL);
        const char *why = xml_check(m);
        if (why)
                TEST_FAIL_AT("not well-formed: %s\n%s", why, m);

        static const char head[] =
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<MPD "
            "xmlns=\"urn:mpeg:dash:schema:mpd:2011\" type=\"static\" "
            "profiles=\"urn:mpeg:dash:profile:isoff-live:2011\" "
            "mediaPresentationDuration=\"PT10.000S\" maxSegmentDuration=\"PT4.011S\" "
            "minBufferTime=\"PT2.000S\">\n";
        ASSERT_TRUE(strncmp(m, head, strlen(head)) == 0);
        /* Ranked BaseURLs, token as a path segment, trailing slash normalised. */
        const char *ba = strstr(
            m, "  <BaseURL serviceLocation=\"edge-a\">https://a.example/s/TOK1/demo1/</BaseURL>\n");
        const char *bb =
            strstr(m, "  <BaseURL "
                      "serviceLocation=\"edge-b\">http://b.example:8080/s/TOK2/demo1/</BaseURL>\n");
        ASSERT_TRUE(ba && bb && ba < bb);
        ASSERT_TRUE(
            strstr(m,
                   "  <ContentSteering defaultServiceLocation=\"edge-a\" queryBeforeStart=\"true\">"
                   "https://control.example/v1/steering/S1?pathways=edge-a,edge-b"
                   "</ContentSteering>\n") != NULL);
        ASSERT_TRUE(strstr(m, "</ContentSteering>\n  <Period id=\"0\" start=\"PT0S\">\n") != NULL);
        ASSERT_EQ(fixture_count(m, "<AdaptationSet "), 4);
        ASSERT_EQ(fixture_count(m, "<ContentProtection"), 0);
        ASSERT_TRUE(strstr(m, "xmlns:cenc") == NULL);

        char *video = slice(m, "<AdaptationSet id=\"0\"", "</AdaptationSet>");
        ASSERT_TRUE(video != NULL);
        ASSERT_TRUE(strstr(video,
                           "contentType=\"video\" mimeType=\"video/mp4\" segmentAlignment=\"true\" "
                           "startWithSAP=\"1\" maxWidth=\"640\" maxHeight=\"360\">") != NULL);
        ASSERT_TRUE(strstr(video, "<SegmentTemplate initialization=\"$RepresentationID$/init.mp4\" "
                                  "media=\"$RepresentationID$/seg-$Number$.m4s\" startNumber=\"1\" "
                                  "timescale=\"12800\" duration=\"51200\"/>") != NULL);
        ASSERT_TRUE(
            strstr(video,
                   "<Representation id=\"video-240p\" codecs=\"avc1.64000d\" bandwidth=\"312000\" "
                   "width=\"426\" height=\"240\" frameRate=\"25\" sar=\"1:1\"/>") != NULL);
        ASSERT_TRUE(
            strstr(video, "id=\"video-360p\" codecs=\"avc1.64001e\" bandwidth=\"715000\"") != NULL);
        ASSERT_EQ(fixture_count(video, "<Representation "), 2);
        free(video);

        char *en = slice(m, "<AdaptationSet id=\"1\"", "</AdaptationSet>");
        char *fr = slice(m, "<AdaptationSet id=\"2\"", "</AdaptationSet>");
        ASSERT_TRUE(en && fr);
        ASSERT_TRUE(strstr(en, "contentType=\"audio\" mimeType=\"audio/mp4\"") != NULL);
        ASSERT_TRUE(strstr(en, " lang=\"en\">") != NULL);
        ASSERT_TRUE(strstr(en, "<Role schemeIdUri=\"urn:mpeg:dash:role:2011\" value=\"main\"/>") !=
                    NULL);
        ASSERT_TRUE(strstr(en, "timescale=\"48000\" duration=\"192000\"/>") != NULL);
        ASSERT_TRUE(
            strstr(en, "<Representation id=\"audio-en\" codecs=\"mp4a.40.2\" bandwidth=\"130000\" "
                       "audioSamplingRate=\"48000\">\n        <AudioChannelConfiguration "
                       "schemeIdUri=\"urn:mpeg:dash:23003:3:audio_channel_configuration:2011\" "
                       "value=\"2\"/>\n      </Representation>") != NULL);
        ASSERT_TRUE(strstr(fr, " lang=\"fr\">") != NULL);
        ASSERT_TRUE(strstr(fr, "value=\"alternate\"") != NULL);
        free(en);
        free(fr);

        char *text = slice(m, "<AdaptationSet id=\"3\"", "</AdaptationSet>");
        ASSERT_TRUE(text != NULL);
        ASSERT_TRUE(strstr(text, "contentType=\"text\" mimeType=\"text/vtt\" lang=\"en\">") !=
                    NULL);
        ASSERT_TRUE(strstr(text, "value=\"subtitle\"/>") != NULL);
        ASSERT_TRUE(strstr(text, "<Representation id=\"text-en\" bandwidth=\"256\">\n        "
                                 "<BaseURL>text-en/subtitles.vtt</BaseURL>") != NULL);
        free(text);

        ASSERT_TRUE(
            strstr(
                m,
                "    <EventStream schemeIdUri=\"urn:sluice:marker:2025\" value=\"1\" "
                "timescale=\"1000\">\n"
                "      <Event id=\"0\" presentationTime=\"5000\" duration=\"30000\">intro</Event>\n"
                "    </EventStream>\n    <AdaptationSet id=\"0\"") != NULL);
        ASSERT_TRUE(strstr(m, "  </Period>\n</MPD>\n") != NULL);
        free(m);
        asset_free(a);
}

TEST(encrypted_title)
{
        struct asset *a = fixture_asset("asset-enc.json");
        struct mpd_params p = {.asset = a, .edges = two_edges, .n_edges = 1};
        char *out;
        size_t len;
        ASSERT_EQ(mpd_build(&p, &out, &len), -EINVAL); /* no licence URL */
        p.license_url = "https://control.example/v1/license/clearkey?session=S1&x=1";
        char *m = build(&p);
        ASSERT_TRUE(m != NULL);
        const char *why = xml_check(m);
        if (why)
                TEST_FAIL_AT("not well-formed: %s", why);
        ASSERT_TRUE(
            strstr(m,
                   " xmlns:cenc=\"urn:mpeg:cenc:2013\" xmlns:dashif=\"https://dashif.org/CPS\"") !=
            NULL);
        /* Video and two audio sets, each with both ContentProtection elements. */
        ASSERT_EQ(fixture_count(m, "<AdaptationSet "), 3);
        ASSERT_EQ(fixture_count(
                      m,
                      "<ContentProtection schemeIdUri=\"urn:mpeg:dash:mp4protection:2011\" "
                      "value=\"cenc\" cenc:default_KID=\"01234567-89ab-cdef-0123-456789abcdef\"/>"),
                  3);
        ASSERT_EQ(
            fixture_count(
                m,
                "<ContentProtection schemeIdUri=\"urn:uuid:e2719d58-a985-b3c9-781a-b030af78d30e\" "
                "value=\"ClearKey1.0\" cenc:default_KID=\"01234567-89ab-cdef-0123-456789abcdef\">\n"
                "        "
                "<dashif:Laurl>https://control.example/v1/license/clearkey?session=S1&amp;x=1</"
                "dashif:Laurl>\n"
                "      </ContentProtection>"),
            3);
        /* No steering URL, no ContentSteering. */
        ASSERT_TRUE(strstr(m, "ContentSteering") == NULL);
        free(m);
        asset_free(a);
}

TEST(escaping)
{
        struct asset *a = fixture_asset("asset-clear.json");
        struct mpd_edge e = {
            .service_location = "a\"<&>'b", .base_url = "https://x/?q=1&r=<2>", .token = "t&t"};
        struct mpd_marker mk = {.kind = "<intro & \"x\">\x01", .start = 1, .duration = 2};
        struct mpd_params p = {.asset = a,
                               .edges = &e,
                               .n_edges = 1,
                               .title_path = "t<1>",
                               .steering_url = "https://c/s?a=1&b=2",
                               .markers = &mk,
                               .n_markers = 1};
        char *m = build(&p);
        ASSERT_TRUE(m != NULL);
        const char *why = xml_check(m);
        if (why)
                TEST_FAIL_AT("not well-formed: %s", why);
        ASSERT_TRUE(strstr(m, "<BaseURL "
                              "serviceLocation=\"a&quot;&lt;&amp;&gt;&apos;b\">https://x/"
                              "?q=1&amp;r=&lt;2&gt;/s/t&amp;t/t&lt;1&gt;/</BaseURL>") != NULL);
        ASSERT_TRUE(strstr(m, "defaultServiceLocation=\"a&quot;&lt;&amp;&gt;&apos;b\"") != NULL);
        /* The pathway list joins the URL's own query, its one id escaped as XML. */
        ASSERT_TRUE(strstr(m, ">https://c/s?a=1&amp;b=2&amp;pathways="
                              "a&quot;&lt;&amp;&gt;&apos;b</ContentSteering>") != NULL);
        ASSERT_TRUE(strstr(m, ">&lt;intro &amp; &quot;x&quot;&gt;</Event>") != NULL);
        free(m);
        asset_free(a);
}

TEST(segment_timeline)
{
        struct asset *a = fixture_asset("asset-clear.json");
        struct mpd_params p = {
            .asset = a, .edges = two_edges, .n_edges = 1, .segment_timeline = true};
        char *m = build(&p);
        ASSERT_TRUE(m != NULL);
        ASSERT_TRUE(xml_check(m) == NULL);
        ASSERT_TRUE(strstr(m, "startNumber=\"1\" timescale=\"12800\">\n"
                              "        <SegmentTimeline>\n"
                              "          <S t=\"0\" d=\"51200\" r=\"1\"/>\n"
                              "          <S d=\"25600\"/>\n"
                              "        </SegmentTimeline>\n"
                              "      </SegmentTemplate>\n") != NULL);
        ASSERT_TRUE(strstr(m, "<S t=\"0\" d=\"192512\"/>\n          <S d=\"191488\"/>\n          "
                              "<S d=\"96000\"/>\n") != NULL);
        ASSERT_TRUE(strstr(m, "duration=\"51200\"") == NULL);
        free(m);
        asset_free(a);
}

TEST(segment_timeline_without_segments)
{
        /* segments are optional in asset.json: the timeline falls back to @duration. */
        struct asset *a = fixture_asset("asset-clear.json");
        for (size_t i = 0; i < a->n_reps; i++) {
                free(a->reps[i].segments);
                a->reps[i].segments = NULL;
                a->reps[i].n_segments = 0;
        }
        struct mpd_params p = {
            .asset = a, .edges = two_edges, .n_edges = 1, .segment_timeline = true};
        char *m = build(&p);
        ASSERT_TRUE(m != NULL);
        ASSERT_TRUE(xml_check(m) == NULL);
        ASSERT_TRUE(strstr(m, "<SegmentTimeline>") == NULL);
        ASSERT_TRUE(strstr(m, "timescale=\"12800\" duration=\"51200\"/>") != NULL);
        free(m);
        asset_free(a);
}

TEST(timeline_where_duration_misnames)
{
        /* A 29.97 fps title of 4.004 s: one video segment of 120120 / 30000, where @duration
         * 4 s would name ceil(4.004 / 4) = 2. Its video gets a SegmentTimeline of exactly that
         * segment; audio listed without segments (an older asset.json) keeps @duration. */
        struct asset *a = fixture_asset("asset-clear.json");
        a->duration = 4.004;
        for (size_t i = 0; i < a->n_reps; i++) {
                struct asset_rep *r = &a->reps[i];
                r->n_segments = r->kind == ASSET_VIDEO;
                if (r->kind == ASSET_VIDEO) {
                        r->timescale = 30000;
                        r->segments[0] = (struct asset_segment){.t = 0, .d = 120120};
                }
        }
        struct mpd_params p = {.asset = a, .edges = two_edges, .n_edges = 1};
        char *m = build(&p);
        ASSERT_TRUE(m != NULL);
        ASSERT_TRUE(xml_check(m) == NULL);
        ASSERT_TRUE(strstr(m, "startNumber=\"1\" timescale=\"30000\">\n"
                              "        <SegmentTimeline>\n"
                              "          <S t=\"0\" d=\"120120\"/>\n"
                              "        </SegmentTimeline>\n") != NULL);
        ASSERT_TRUE(strstr(m, "duration=\"120000\"") == NULL);
        ASSERT_TRUE(strstr(m, "timescale=\"48000\" duration=\"192000\"/>") != NULL);
        ASSERT_EQ(fixture_count(m, "<SegmentTimeline>"), 1);
        free(m);
        /* Segments @duration names exactly (three for 10 s) keep the compact form, and so do
         * those of 8 s, whose third segments start at 8 s: past the end, never played. */
        a->duration = 10;
        for (size_t i = 0; i < a->n_reps; i++)
                if (a->reps[i].kind == ASSET_VIDEO) {
                        a->reps[i].timescale = 12800;
                        a->reps[i].n_segments = 3;
                        a->reps[i].segments[0].d = 51200;
                }
        m = build(&p);
        ASSERT_TRUE(m != NULL);
        ASSERT_TRUE(strstr(m, "<SegmentTimeline>") == NULL);
        ASSERT_TRUE(strstr(m, "timescale=\"12800\" duration=\"51200\"/>") != NULL);
        free(m);
        a->duration = 8;
        m = build(&p);
        ASSERT_TRUE(m != NULL);
        ASSERT_TRUE(strstr(m, "<SegmentTimeline>") == NULL);
        free(m);
        /* One @duration leaves out but that starts before the end (7.9 s of 7.99) would be
         * missing from the presentation: the video rungs get their timelines. */
        a->duration = 7.99;
        for (size_t i = 0; i < a->n_reps; i++)
                if (a->reps[i].kind == ASSET_VIDEO)
                        a->reps[i].segments[2].t = 101120;
        m = build(&p);
        ASSERT_TRUE(m != NULL);
        ASSERT_EQ(fixture_count(m, "<SegmentTimeline>"), 1);
        ASSERT_TRUE(strstr(m, "<S t=\"101120\" d=\"25600\"/>") != NULL);
        free(m);
        asset_free(a);
}

TEST(per_representation_template)
{
        struct asset *a = fixture_asset("asset-clear.json");
        a->reps[1].timescale = 90000; /* renditions no longer share a template */
        for (size_t k = 0; k < a->reps[1].n_segments; k++) {
                a->reps[1].segments[k].t = a->reps[1].segments[k].t * 90000 / 12800;
                a->reps[1].segments[k].d = a->reps[1].segments[k].d * 90000 / 12800;
        }
        struct mpd_edge e = {.service_location = "e", .base_url = "http://e", .token = NULL};
        struct mpd_params p = {.asset = a, .edges = &e, .n_edges = 1};
        char *m = build(&p);
        ASSERT_TRUE(m != NULL);
        ASSERT_TRUE(xml_check(m) == NULL);
        ASSERT_TRUE(strstr(m, "<BaseURL serviceLocation=\"e\">http://e/demo1/</BaseURL>") != NULL);
        ASSERT_TRUE(strstr(m,
                           "sar=\"1:1\">\n        <SegmentTemplate "
                           "initialization=\"$RepresentationID$/init.mp4\" "
                           "media=\"$RepresentationID$/seg-$Number$.m4s\" startNumber=\"1\" "
                           "timescale=\"90000\" duration=\"360000\"/>\n      </Representation>") !=
                    NULL);
        ASSERT_EQ(fixture_count(m, "<SegmentTemplate"), 2 + 2);
        free(m);
        asset_free(a);
}

TEST(bad_params)
{
        struct asset *a = fixture_asset("asset-clear.json");
        struct mpd_edge many[MPD_EDGES_MAX + 1];
        for (size_t i = 0; i <= MPD_EDGES_MAX; i++)
                many[i] = two_edges[0];
        struct mpd_params p = {.asset = a, .edges = many, .n_edges = 0};
        char *out = NULL;
        size_t len;
        ASSERT_EQ(mpd_build(&p, &out, &len), -EINVAL);
        p.n_edges = MPD_EDGES_MAX + 1;
        ASSERT_EQ(mpd_build(&p, &out, &len), -EINVAL);
        p.n_edges = MPD_EDGES_MAX;
        ASSERT_EQ(mpd_build(&p, &out, &len), 0);
        ASSERT_EQ(fixture_count(out, "<BaseURL serviceLocation="), MPD_EDGES_MAX);
        free(out);
        struct mpd_edge nul = {.service_location = NULL, .base_url = "http://x"};
        p.edges = &nul;
        p.n_edges = 1;
        ASSERT_EQ(mpd_build(&p, &out, &len), -EINVAL);
        /* An asset with no video cannot be a manifest. */
        p.edges = two_edges;
        for (size_t i = 0; i < a->n_reps; i++)
                a->reps[i].kind = ASSET_AUDIO;
        ASSERT_EQ(mpd_build(&p, &out, &len), -EINVAL);
        asset_free(a);
}

TEST(durations)
{
        char b[48];
        ASSERT_EQ(mpd_duration_format(0, b, sizeof(b)), 8);
        ASSERT_STREQ(b, "PT0.000S");
        mpd_duration_format(3725.5, b, sizeof(b));
        ASSERT_STREQ(b, "PT1H2M5.500S");
        mpd_duration_format(59.9996, b, sizeof(b));
        ASSERT_STREQ(b, "PT1M0.000S");
        mpd_duration_format(7200, b, sizeof(b));
        ASSERT_STREQ(b, "PT2H0M0.000S");
        mpd_duration_format(-3, b, sizeof(b));
        ASSERT_STREQ(b, "PT0.000S");
        ASSERT_EQ(mpd_duration_format(1, b, 4), -ENOBUFS);
}

TEST(buffer_bound)
{
        struct mpd_buf b;
        char *out = NULL;
        size_t len;
        mpd_buf_init(&b, 10);
        ASSERT_EQ(mpd_buf_puts(&b, "0123456789"), 0);
        ASSERT_EQ(mpd_buf_puts(&b, "x"), -E2BIG);
        ASSERT_EQ(mpd_buf_printf(&b, "%d", 1), -E2BIG);
        ASSERT_EQ(mpd_buf_steal(&b, &out, &len), -E2BIG);
        ASSERT_TRUE(out == NULL);
        mpd_buf_init(&b, 1000);
        ASSERT_EQ(mpd_buf_printf(&b, "%0300d|", 7), 0);
        ASSERT_EQ(mpd_buf_xml_escape(&b, "a\x02<b\tc"), 0);
        ASSERT_EQ(mpd_buf_steal(&b, &out, &len), 0);
        ASSERT_EQ(len, 301 + 8);
        ASSERT_STREQ(out + 301, "a&lt;b\tc");
        free(out);
        mpd_buf_init(&b, 10);
        ASSERT_EQ(mpd_buf_steal(&b, &out, &len), 0);
        ASSERT_EQ(len, 0);
        ASSERT_STREQ(out, "");
        free(out);
}

TEST(ingest_output)
{
        /* asset.json files written by sluice-ingest itself (clear 5-rung ladder, encrypted). */
        const char *files[] = {"asset-ingest-clear.json", "asset-ingest-enc.json"};
        for (size_t i = 0; i < 2; i++) {
                struct asset *a = fixture_asset(files[i]);
                struct mpd_params p = {.asset = a,
                                       .edges = two_edges,
                                       .n_edges = 2,
                                       .steering_url = "http://c/s",
                                       .license_url = "http://c/l",
                                       .segment_timeline = i == 1};
                char *m = build(&p);
                ASSERT_TRUE(m != NULL);
                const char *why = xml_check(m);
                if (why)
                        TEST_FAIL_AT("%s: %s", files[i], why);
                ASSERT_EQ(fixture_count(m, "<Representation "), a->n_reps);
                ASSERT_EQ(fixture_count(m, "<ContentProtection "), a->encrypted ? 4 : 0);
                free(m);
                asset_free(a);
        }
}

TEST_MAIN()
