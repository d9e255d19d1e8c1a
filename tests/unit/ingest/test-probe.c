/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <string.h>

#include "tests.h"

#include "ladder.h"
#include "lang.h"
#include "probe.h"

static int parse(const char *json, struct ladder_src *s, char *err, size_t errlen)
{
        memset(s, 0, sizeof(*s));
        return probe_parse(json, strlen(json), s, err, errlen);
}

TEST(probe_video_and_audio)
{
        struct ladder_src s;
        char err[160];

        ASSERT_EQ(parse("{\"streams\":[{\"codec_type\":\"video\",\"width\":600,\"height\":600,"
                        "\"disposition\":{\"attached_pic\":1}},{\"codec_type\":\"video\","
                        "\"width\":1920,\"height\":1080,\"sample_aspect_ratio\":\"1:1\","
                        "\"avg_frame_rate\":\"30000/1001\",\"disposition\":{\"attached_pic\":0}},"
                        "{\"codec_type\":\"audio\",\"tags\":{\"language\":\"pt-BR\"}},"
                        "{\"codec_type\":\"audio\",\"tags\":{\"language\":\"x1\"}}],"
                        "\"format\":{\"format_name\":\"mov\",\"duration\":\"60.500000\"}}",
                        &s, err, sizeof(err)),
                  0);
        ASSERT_EQ(s.width, 1920u);
        ASSERT_EQ(s.height, 1080u);
        ASSERT_EQ(s.fps_num, 30000u);
        ASSERT_EQ(s.fps_den, 1001u);
        ASSERT_TRUE(s.duration == 60.5);
        ASSERT_EQ(s.n_audio, 2u);
        ASSERT_STREQ(s.audio_lang[0], "pt-BR");
        ASSERT_STREQ(s.audio_lang[1], "und");
        ASSERT_TRUE(s.path == NULL);
        /* the stream encoded is the one described, not ffmpeg's first video stream (the
         * cover art), which was encoded as a still picture */
        ASSERT_EQ(s.video_index, 1u);
}

TEST(probe_interlaced_field_order)
{
        static const char *const orders[] = {"tt",          "bb",      "tb", "bt",
                                             "progressive", "unknown", NULL};
        struct ladder_src s;
        char json[512], err[160];

        for (size_t i = 0; i < sizeof(orders) / sizeof(orders[0]); i++) {
                snprintf(json, sizeof(json),
                         "{\"streams\":[{\"codec_type\":\"video\",\"width\":1920,"
                         "\"height\":1080%s%s%s}],\"format\":{\"duration\":\"5.0\"}}",
                         orders[i] ? ",\"field_order\":\"" : "", orders[i] ? orders[i] : "",
                         orders[i] ? "\"" : "");
                ASSERT_EQ(parse(json, &s, err, sizeof(err)), 0);
                ASSERT_EQ(s.interlaced, i < 4);
        }
        /* and an interlaced source is deinterlaced before it is scaled, at its frame rate */
        struct ladder_job j = {
            .kind = LADDER_VIDEO, .id = "video-240p", .width = 426, .height = 240, .kbps = 300};
        struct ladder_opts o = {.ffmpeg = "ffmpeg", .preset = "veryfast"};
        struct strv a;
        for (int il = 0; il < 2; il++) {
                s.interlaced = il;
                s.path = "file:in.ts";
                ASSERT_EQ(ladder_job_argv(&j, &s, &o, "out", &a), 0);
                const char *vf = NULL;
                for (size_t k = 0; k + 1 < a.n; k++)
                        if (!strcmp(a.v[k], "-vf"))
                                vf = a.v[k + 1];
                ASSERT_TRUE(vf != NULL);
                ASSERT_EQ(strncmp(vf, "bwdif=mode=send_frame:parity=auto:deint=all,scale=426:240",
                                  57) == 0,
                          il);
                strv_done(&a);
        }
}

TEST(audio_languages_as_bcp47)
{
        struct ladder_src s;
        char err[160];

        /* Containers' ISO 639-2 codes, B and T forms, become the ISO 639-1 code RFC 5646
         * takes (they went out as lang="eng"); a language without one keeps its own. */
        ASSERT_EQ(parse("{\"streams\":[{\"codec_type\":\"video\",\"width\":640,"
                        "\"height\":360,\"avg_frame_rate\":\"25/1\"},"
                        "{\"codec_type\":\"audio\",\"tags\":{\"language\":\"eng\"}},"
                        "{\"codec_type\":\"audio\",\"tags\":{\"language\":\"GER\"}},"
                        "{\"codec_type\":\"audio\",\"tags\":{\"language\":\"deu\"}},"
                        "{\"codec_type\":\"audio\",\"tags\":{\"language\":\"fil\"}},"
                        "{\"codec_type\":\"audio\",\"tags\":{\"language\":\"sv\"}}],"
                        "\"format\":{\"format_name\":\"mov\",\"duration\":\"10\"}}",
                        &s, err, sizeof(err)),
                  0);
        ASSERT_EQ(s.n_audio, 5u);
        ASSERT_STREQ(s.audio_lang[0], "en");
        ASSERT_STREQ(s.audio_lang[1], "de");
        ASSERT_STREQ(s.audio_lang[2], "de");
        ASSERT_STREQ(s.audio_lang[3], "fil");
        ASSERT_STREQ(s.audio_lang[4], "sv");
        ASSERT_STREQ(lang_bcp47("zho"), "zh");
        ASSERT_STREQ(lang_bcp47("aar"), "aa");
        ASSERT_STREQ(lang_bcp47("zul"), "zu");
        ASSERT_STREQ(lang_bcp47("und"), "und");
        ASSERT_STREQ(lang_bcp47("en-US"), "en-US");
}

TEST(probe_video_index)
{
        struct ladder_src s;
        char err[160];

        /* ffprobe's own index, where it gives one */
        ASSERT_EQ(parse("{\"streams\":[{\"index\":0,\"codec_type\":\"audio\"},"
                        "{\"index\":1,\"codec_type\":\"video\",\"width\":600,\"height\":600,"
                        "\"disposition\":{\"attached_pic\":1}},{\"index\":2,\"codec_type\":"
                        "\"video\",\"width\":640,\"height\":360}],"
                        "\"format\":{\"duration\":\"5\"}}",
                        &s, err, sizeof(err)),
                  0);
        ASSERT_EQ(s.video_index, 2u);
        ASSERT_EQ(s.width, 640u);
        /* a video stream of unknown size is passed over for the next, index and all */
        ASSERT_EQ(parse("{\"streams\":[{\"index\":0,\"codec_type\":\"video\"},"
                        "{\"index\":1,\"codec_type\":\"video\",\"width\":64,\"height\":48}],"
                        "\"format\":{\"duration\":\"5\"}}",
                        &s, err, sizeof(err)),
                  0);
        ASSERT_EQ(s.video_index, 1u);
        ASSERT_EQ(s.height, 48u);
        /* an index out of bounds is not believed: the stream's place stands for it */
        ASSERT_EQ(parse("{\"streams\":[{\"index\":-1,\"codec_type\":\"video\",\"width\":64,"
                        "\"height\":48}],\"format\":{\"duration\":\"5\"}}",
                        &s, err, sizeof(err)),
                  0);
        ASSERT_EQ(s.video_index, 0u);
        ASSERT_EQ(parse("{\"streams\":[{\"codec_type\":\"audio\"},{\"index\":99999999999,"
                        "\"codec_type\":\"video\",\"width\":64,\"height\":48}],"
                        "\"format\":{\"duration\":\"5\"}}",
                        &s, err, sizeof(err)),
                  0);
        ASSERT_EQ(s.video_index, 1u);
}

TEST(probe_audio_streams_counted)
{
        struct ladder_src s;
        char err[160];
        const char *a = ",{\"codec_type\":\"audio\"}";
        char json[2048];

        snprintf(json, sizeof(json),
                 "{\"streams\":[{\"codec_type\":\"video\",\"width\":64,\"height\":48}"
                 "%s%s%s%s%s%s%s%s%s%s%s],\"format\":{\"duration\":\"5\"}}",
                 a, a, a, a, a, a, a, a, a, a, a);
        ASSERT_EQ(parse(json, &s, err, sizeof(err)), 0);
        /* the first LADDER_AUDIO_MAX are encoded, and the rest are counted, so ingest can
         * say it leaves them out */
        ASSERT_EQ(s.n_audio, (unsigned)LADDER_AUDIO_MAX);
        ASSERT_EQ(s.n_audio_source, 11u);
}

TEST(probe_frame_rate_fallbacks)
{
        struct ladder_src s;
        char err[160];

        /* an average over 120 frames a second falls back to r_frame_rate */
        ASSERT_EQ(parse("{\"streams\":[{\"codec_type\":\"video\",\"width\":64,\"height\":64,"
                        "\"avg_frame_rate\":\"1000/1\",\"r_frame_rate\":\"50/1\"}],"
                        "\"format\":{\"duration\":\"2\"}}",
                        &s, err, sizeof(err)),
                  0);
        ASSERT_EQ(s.fps_num, 50u);
        ASSERT_EQ(s.fps_den, 1u);
        ASSERT_EQ(parse("{\"streams\":[{\"codec_type\":\"video\",\"width\":64,\"height\":64,"
                        "\"avg_frame_rate\":\"0/0\"}],\"format\":{\"duration\":\"2\"}}",
                        &s, err, sizeof(err)),
                  0);
        ASSERT_EQ(s.fps_num, 25u);
        ASSERT_EQ(s.fps_den, 1u);
}

TEST(probe_absurd_pixel_aspect_is_square)
{
        struct ladder_src s;
        char err[160];

        ASSERT_EQ(parse("{\"streams\":[{\"codec_type\":\"video\",\"width\":16384,\"height\":1,"
                        "\"sample_aspect_ratio\":\"1000000:1\"}],\"format\":{\"duration\":\"5\"}}",
                        &s, err, sizeof(err)),
                  0);
        ASSERT_EQ(s.sar_num, 1u);
        ASSERT_EQ(s.sar_den, 1u);
        /* the widest rung stays a width an unsigned holds, not a wrapped one */
        ASSERT_EQ(ladder_width_for(&s, 2160), 2160u * 16384u);
        ASSERT_EQ(parse("{\"streams\":[{\"codec_type\":\"video\",\"width\":720,\"height\":576,"
                        "\"sample_aspect_ratio\":\"64:45\"}],\"format\":{\"duration\":\"5\"}}",
                        &s, err, sizeof(err)),
                  0);
        ASSERT_EQ(s.sar_num, 64u);
        ASSERT_EQ(s.sar_den, 45u);
}

TEST(probe_quarter_turn_is_displayed_size)
{
        struct ladder_src s;
        char err[160];

        /* a phone's portrait clip: stored 1920x1080, shown turned (ffprobe says -90 or 90) */
        ASSERT_EQ(parse("{\"streams\":[{\"codec_type\":\"video\",\"width\":1920,"
                        "\"height\":1080,\"sample_aspect_ratio\":\"4:3\",\"side_data_list\":"
                        "[{\"side_data_type\":\"Display Matrix\",\"rotation\":-90}]}],"
                        "\"format\":{\"duration\":\"5\"}}",
                        &s, err, sizeof(err)),
                  0);
        ASSERT_EQ(s.width, 1080u);
        ASSERT_EQ(s.height, 1920u);
        ASSERT_EQ(s.sar_num, 3u);
        ASSERT_EQ(s.sar_den, 4u);
        ASSERT_EQ(parse("{\"streams\":[{\"codec_type\":\"video\",\"width\":320,"
                        "\"height\":180,\"side_data_list\":[{\"side_data_type\":\"Stereo 3D\"},"
                        "{\"side_data_type\":\"Display Matrix\",\"rotation\":270}]}],"
                        "\"format\":{\"duration\":\"5\"}}",
                        &s, err, sizeof(err)),
                  0);
        ASSERT_EQ(s.width, 180u);
        ASSERT_EQ(s.height, 320u);
        /* the 240p rung of the portrait picture is portrait: 136x240, not 426x240 */
        ASSERT_EQ(ladder_width_for(&s, 240), 136u);
        /* upside down, or a rotate tag ffmpeg does not act on: the stored size */
        ASSERT_EQ(parse("{\"streams\":[{\"codec_type\":\"video\",\"width\":320,"
                        "\"height\":180,\"side_data_list\":[{\"side_data_type\":"
                        "\"Display Matrix\",\"rotation\":180}]}],\"format\":{\"duration\":\"5\"}}",
                        &s, err, sizeof(err)),
                  0);
        ASSERT_EQ(s.width, 320u);
        ASSERT_EQ(s.height, 180u);
        ASSERT_EQ(parse("{\"streams\":[{\"codec_type\":\"video\",\"width\":320,"
                        "\"height\":180,\"tags\":{\"rotate\":\"90\"}}],"
                        "\"format\":{\"duration\":\"5\"}}",
                        &s, err, sizeof(err)),
                  0);
        ASSERT_EQ(s.width, 320u);
        ASSERT_EQ(s.height, 180u);
}

TEST(probe_refusals)
{
        struct ladder_src s;
        char err[160];

        ASSERT_EQ(parse("not json", &s, err, sizeof(err)), -EINVAL);
        ASSERT_STREQ(err, "ffprobe found no streams");
        ASSERT_EQ(parse("{\"streams\":[{\"codec_type\":\"video\",\"width\":100000,\"height\":2}],"
                        "\"format\":{\"duration\":\"5\"}}",
                        &s, err, sizeof(err)),
                  -EINVAL);
        ASSERT_STREQ(err, "a video stream of 100000x2 pixels, more than 16384 on a side");
        /* a negative size was read as a huge unsigned one, and passed */
        ASSERT_EQ(parse("{\"streams\":[{\"codec_type\":\"video\",\"width\":-1,\"height\":1080}],"
                        "\"format\":{\"duration\":\"5\"}}",
                        &s, err, sizeof(err)),
                  -EINVAL);
        ASSERT_STREQ(err, "no video stream (is this a video file?)");
        ASSERT_EQ(parse("{\"streams\":[{\"codec_type\":\"video\",\"width\":64,\"height\":64}],"
                        "\"format\":{\"format_name\":\"tty\",\"duration\":\"5\"}}",
                        &s, err, sizeof(err)),
                  -EINVAL);
        ASSERT_STREQ(err, "no video stream (is this a video file?)");
        /* an infinite duration passed "at least a second" and reached the encoders */
        ASSERT_EQ(parse("{\"streams\":[{\"codec_type\":\"video\",\"width\":64,\"height\":64}],"
                        "\"format\":{\"duration\":\"1e999\"}}",
                        &s, err, sizeof(err)),
                  -EINVAL);
        ASSERT_STREQ(err, "a duration of inf s, more than the 262144 s control takes");
        /* control's asset reader takes 65536 segments a representation: a longer title was
         * encoded, published and then refused by control, which cannot make its manifest */
        ASSERT_EQ(parse("{\"streams\":[{\"codec_type\":\"video\",\"width\":64,\"height\":64}],"
                        "\"format\":{\"duration\":\"262145\"}}",
                        &s, err, sizeof(err)),
                  -EINVAL);
        ASSERT_STREQ(err, "a duration of 262145 s, more than the 262144 s control takes");
        ASSERT_EQ(parse("{\"streams\":[{\"codec_type\":\"video\",\"width\":64,\"height\":64}],"
                        "\"format\":{\"duration\":\"262144\"}}",
                        &s, err, sizeof(err)),
                  0);
        ASSERT_EQ(parse("{\"streams\":[{\"codec_type\":\"video\",\"width\":64,\"height\":64}],"
                        "\"format\":{\"duration\":\"N/A\"}}",
                        &s, err, sizeof(err)),
                  -EINVAL);
        ASSERT_STREQ(err, "shorter than a second, or of unknown duration");
        ASSERT_EQ(parse("{\"streams\":[{\"codec_type\":\"video\",\"width\":64,\"height\":64}],"
                        "\"format\":{\"duration\":\"0.5\"}}",
                        &s, err, sizeof(err)),
                  -EINVAL);
        ASSERT_STREQ(err, "shorter than a second, or of unknown duration");
        /* a message that does not fit is cut, still terminated */
        ASSERT_EQ(parse("{}", &s, err, 8), -EINVAL);
        ASSERT_STREQ(err, "ffprobe");
}

TEST(probe_size_limit)
{
        struct ladder_src s;
        char err[160];

        ASSERT_EQ(probe_parse("{}", (size_t)PROBE_OUT_MAX + 1, &s, err, sizeof(err)), -EINVAL);
        ASSERT_STREQ(err, "ffprobe's answer is over 4194304 bytes");
}

TEST_MAIN()
