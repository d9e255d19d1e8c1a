/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "hls.h"
#include "tests.h"

static const char *base = "https://a.example/s/TOK/demo1";

TEST(master)
{
        struct asset *a = fixture_asset("asset-clear.json");
        struct hls_params p = {.asset = a, .media_base_url = base};
        char *m;
        size_t len;
        ASSERT_EQ(hls_master_build(&p, &m, &len), 0);
        ASSERT_EQ(strlen(m), len);
        static const char want[] =
            "#EXTM3U\n"
            "#EXT-X-VERSION:7\n"
            "#EXT-X-INDEPENDENT-SEGMENTS\n"
            "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aud\",NAME=\"en\",LANGUAGE=\"en\",DEFAULT=YES,"
            "AUTOSELECT=YES,CHANNELS=\"2\",URI=\"audio-en.m3u8\"\n"
            "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aud\",NAME=\"fr\",LANGUAGE=\"fr\",DEFAULT=NO,"
            "AUTOSELECT=YES,CHANNELS=\"2\",URI=\"audio-fr.m3u8\"\n"
            "#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"sub\",NAME=\"en text-en\",LANGUAGE=\"en\","
            "DEFAULT=NO,AUTOSELECT=YES,URI=\"text-en.m3u8\"\n"
            "#EXT-X-STREAM-INF:BANDWIDTH=442000,AVERAGE-BANDWIDTH=419000,CODECS=\"avc1.64000d,mp4a.40.2\",RESOLUTION="
            "426x240,"
            "FRAME-RATE=25.000,AUDIO=\"aud\",SUBTITLES=\"sub\"\n"
            "video-240p.m3u8\n"
            "#EXT-X-STREAM-INF:BANDWIDTH=845000,AVERAGE-BANDWIDTH=822000,CODECS=\"avc1.64001e,mp4a.40.2\",RESOLUTION="
            "640x360,"
            "FRAME-RATE=25.000,AUDIO=\"aud\",SUBTITLES=\"sub\"\n"
            "video-360p.m3u8\n";
        ASSERT_STREQ(m, want);
        free(m);

        p.playlist_prefix = "/v1/hls/S1/";
        ASSERT_EQ(hls_master_build(&p, &m, &len), 0);
        ASSERT_TRUE(strstr(m, "\n/v1/hls/S1/video-360p.m3u8\n") != NULL);
        ASSERT_TRUE(strstr(m, "URI=\"/v1/hls/S1/audio-fr.m3u8\"") != NULL);
        free(m);
        asset_free(a);
}

TEST(media_video)
{
        struct asset *a = fixture_asset("asset-clear.json");
        struct hls_params p = {.asset = a, .media_base_url = base};
        char *m;
        size_t len;
        ASSERT_EQ(hls_media_build(&p, "video-240p", &m, &len), 0);
        static const char want[] =
            "#EXTM3U\n"
            "#EXT-X-VERSION:7\n"
            "#EXT-X-TARGETDURATION:4\n"
            "#EXT-X-MEDIA-SEQUENCE:1\n"
            "#EXT-X-PLAYLIST-TYPE:VOD\n"
            "#EXT-X-INDEPENDENT-SEGMENTS\n"
            "#EXT-X-MAP:URI=\"https://a.example/s/TOK/demo1/video-240p/init.mp4\"\n"
            "#EXTINF:4.000,\n"
            "https://a.example/s/TOK/demo1/video-240p/seg-1.m4s\n"
            "#EXTINF:4.000,\n"
            "https://a.example/s/TOK/demo1/video-240p/seg-2.m4s\n"
            "#EXTINF:2.000,\n"
            "https://a.example/s/TOK/demo1/video-240p/seg-3.m4s\n"
            "#EXT-X-ENDLIST\n";
        ASSERT_STREQ(m, want);
        free(m);

        /* Audio durations come from the timeline (AAC frame boundaries). */
        ASSERT_EQ(hls_media_build(&p, "audio-fr", &m, &len), 0);
        ASSERT_TRUE(strstr(m, "#EXTINF:4.011,\nhttps://a.example/s/TOK/demo1/audio-fr/seg-1.m4s\n"
                              "#EXTINF:3.989,\n") != NULL);
        free(m);

        /* Without a timeline: nominal durations, the last one trimmed to the title. */
        free(a->reps[0].segments);
        a->reps[0].segments = NULL;
        a->reps[0].n_segments = 0;
        p.media_base_url = "https://a.example/s/TOK/demo1/";
        ASSERT_EQ(hls_media_build(&p, "video-240p", &m, &len), 0);
        ASSERT_TRUE(
            strstr(m, "#EXTINF:2.000,\nhttps://a.example/s/TOK/demo1/video-240p/seg-3.m4s\n") !=
            NULL);
        ASSERT_TRUE(strstr(m, "demo1//") == NULL);
        free(m);
        asset_free(a);
}

/* A title as long as an asset may be, behind a long base URL: the playlist is built whole.
 * And TARGETDURATION covers each EXTINF as printed. */
TEST(media_long_and_rounded)
{
        struct asset *a = fixture_asset("asset-clear.json");
        struct hls_params p = {.asset = a};
        char long_base[320], *m;
        size_t len;

        memset(long_base, 'b', sizeof(long_base) - 1);
        memcpy(long_base, "https://a.example/", 18);
        long_base[sizeof(long_base) - 1] = '\0';
        p.media_base_url = long_base;
        free(a->reps[0].segments);
        a->reps[0].segments = NULL;
        a->reps[0].n_segments = 0;
        a->reps[0].segment_count = ASSET_SEGMENTS_MAX;
        a->duration = (double)ASSET_SEGMENTS_MAX * a->reps[0].segment_duration;
        ASSERT_EQ(hls_media_build(&p, "video-240p", &m, &len), 0);
        ASSERT_TRUE(len > (size_t)ASSET_SEGMENTS_MAX * 300);
        ASSERT_TRUE(strstr(m, "/seg-65536.m4s\n#EXT-X-ENDLIST\n") != NULL);
        free(m);
        asset_free(a);

        /* 4.49960 s prints as 4.500, which rounds to 5. */
        a = fixture_asset("asset-clear.json");
        p.asset = a;
        p.media_base_url = base;
        a->reps[0].timescale = 90000;
        a->reps[0].segments[0].d = 404964;
        ASSERT_EQ(hls_media_build(&p, "video-240p", &m, &len), 0);
        ASSERT_TRUE(strstr(m, "#EXT-X-TARGETDURATION:5\n") != NULL);
        ASSERT_TRUE(strstr(m, "#EXTINF:4.500,\n") != NULL);
        free(m);
        asset_free(a);
}

TEST(media_subtitles)
{
        struct asset *a = fixture_asset("asset-clear.json");
        struct hls_params p = {.asset = a, .media_base_url = base};
        char *m;
        size_t len;
        ASSERT_EQ(hls_media_build(&p, "text-en", &m, &len), 0);
        ASSERT_STREQ(
            m, "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:1\n"
               "#EXT-X-PLAYLIST-TYPE:VOD\n#EXTINF:10.000,\n"
               "https://a.example/s/TOK/demo1/text-en/subtitles.vtt\n#EXT-X-ENDLIST\n");
        free(m);
        ASSERT_EQ(hls_media_build(&p, "nope", &m, &len), -ENOENT);
        ASSERT_EQ(hls_media_build(&p, NULL, &m, &len), -EINVAL);
        asset_free(a);
}

TEST(refusals)
{
        struct asset *a = fixture_asset("asset-enc.json");
        struct hls_params p = {.asset = a, .media_base_url = base};
        char *m;
        size_t len;
        /* Encrypted titles are DASH-only. */
        ASSERT_EQ(hls_master_build(&p, &m, &len), -ENOTSUP);
        ASSERT_EQ(hls_media_build(&p, "video-240p", &m, &len), -ENOTSUP);
        asset_free(a);

        a = fixture_asset("asset-clear.json");
        p.asset = a;
        p.media_base_url = "https://x/\"evil";
        ASSERT_EQ(hls_master_build(&p, &m, &len), -EINVAL);
        p.media_base_url = "https://x/\nevil";
        ASSERT_EQ(hls_media_build(&p, "video-240p", &m, &len), -EINVAL);
        p.media_base_url = base;
        p.playlist_prefix = "a\"b";
        ASSERT_EQ(hls_master_build(&p, &m, &len), -EINVAL);
        p.playlist_prefix = NULL;
        p.media_base_url = "";
        ASSERT_EQ(hls_master_build(&p, &m, &len), -EINVAL);
        asset_free(a);
}

TEST(ingest_output)
{
        struct asset *a = fixture_asset("asset-ingest-clear.json");
        struct hls_params p = {.asset = a, .media_base_url = base};
        char *m;
        size_t len;
        ASSERT_EQ(hls_master_build(&p, &m, &len), 0);
        ASSERT_EQ(fixture_count(m, "#EXT-X-STREAM-INF:"), 5);
        ASSERT_TRUE(strstr(m, "RESOLUTION=1920x1080") != NULL);
        /* sluice-ingest writes each rendition's average_bitrate: the variant's average is the
         * video's and the audio's (RFC 8216 4.3.4.2), beside the peak BANDWIDTH. */
        ASSERT_EQ(fixture_count(m, "AVERAGE-BANDWIDTH="), 5);
        ASSERT_TRUE(strstr(m, "#EXT-X-STREAM-INF:BANDWIDTH=457000,AVERAGE-BANDWIDTH=438657,"
                              "CODECS=") != NULL);
        ASSERT_TRUE(strstr(m, "BANDWIDTH=5507000,AVERAGE-BANDWIDTH=5236179,") != NULL);
        free(m);
        /* One audio rendition without an average: no variant can name its own. */
        a->reps[a->n_reps - 1].average_bitrate = 0;
        ASSERT_EQ(a->reps[a->n_reps - 1].kind, ASSET_AUDIO);
        ASSERT_EQ(hls_master_build(&p, &m, &len), 0);
        ASSERT_EQ(fixture_count(m, "AVERAGE-BANDWIDTH="), 0);
        free(m);
        for (size_t i = 0; i < a->n_reps; i++) {
                ASSERT_EQ(hls_media_build(&p, a->reps[i].id, &m, &len), 0);
                ASSERT_EQ(fixture_count(m, "#EXTINF:"), a->reps[i].segment_count);
                ASSERT_TRUE(strstr(m, "#EXT-X-TARGETDURATION:4\n") != NULL);
                free(m);
        }
        asset_free(a);
}

/* A segment starting at the presentation's end or after it (an AAC tail a few ms past video
 * that ends on a segment boundary) is not listed, as the MPD does not address it: hls.js
 * waited for it and never ended. Here the title ends where the 8th segments start (28 s). */
TEST(tail_at_the_end_left_out)
{
        struct asset *a = fixture_asset("asset-ingest-clear.json");
        struct hls_params p = {.asset = a, .media_base_url = base};
        char *m;
        size_t len;

        a->duration = 28.0;
        for (size_t i = 0; i < a->n_reps; i++) {
                ASSERT_EQ(hls_media_build(&p, a->reps[i].id, &m, &len), 0);
                ASSERT_EQ(fixture_count(m, "#EXTINF:"), 7);
                ASSERT_TRUE(strstr(m, "/seg-8.m4s") == NULL);
                free(m);
        }
        /* A title ending a millisecond later plays a millisecond of the 8th. */
        a->duration = 28.011;
        ASSERT_EQ(hls_media_build(&p, "audio-en", &m, &len), 0);
        ASSERT_EQ(fixture_count(m, "#EXTINF:"), 8);
        free(m);
        asset_free(a);
}

TEST_MAIN()
