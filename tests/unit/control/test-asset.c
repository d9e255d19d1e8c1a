/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include <jansson.h>

#include "asset.h"
#include "fixture.h"
#include "tests.h"

TEST(clear_fixture)
{
        struct asset *a = fixture_asset("asset-clear.json");
        ASSERT_EQ(a->version, 1);
        ASSERT_STREQ(a->title, "demo1");
        ASSERT_TRUE(a->duration > 9.999 && a->duration < 10.001);
        ASSERT_EQ(a->segment_duration, 4);
        ASSERT_EQ(a->segment_count, 3);
        ASSERT_TRUE(!a->encrypted);
        ASSERT_EQ(a->n_reps, 4);

        const struct asset_rep *v = asset_rep_find(a, "video-360p");
        ASSERT_TRUE(v != NULL);
        ASSERT_EQ(v->kind, ASSET_VIDEO);
        ASSERT_STREQ(v->codec, "avc1.64001e");
        ASSERT_STREQ(v->mime_type, "video/mp4");
        ASSERT_EQ(v->bandwidth, 715000);
        ASSERT_EQ(v->width, 640);
        ASSERT_EQ(v->height, 360);
        ASSERT_EQ(v->fps_num, 25);
        ASSERT_EQ(v->fps_den, 1);
        ASSERT_EQ(v->timescale, 12800);
        ASSERT_EQ(v->start_number, 1);
        ASSERT_EQ(v->segment_count, 3);
        ASSERT_EQ(v->n_segments, 3);
        ASSERT_EQ(v->segments[1].t, 51200);
        ASSERT_EQ(v->segments[2].d, 25600);

        const struct asset_rep *fr = asset_rep_find(a, "audio-fr");
        ASSERT_TRUE(fr != NULL);
        ASSERT_EQ(fr->kind, ASSET_AUDIO);
        ASSERT_STREQ(fr->lang, "fr");
        ASSERT_EQ(fr->sample_rate, 48000);
        ASSERT_EQ(fr->channels, 2);
        ASSERT_EQ(fr->width, 0);
        ASSERT_TRUE(asset_rep_find(a, "audio-de") == NULL);

        ASSERT_EQ(a->n_texts, 1);
        ASSERT_STREQ(a->texts[0].id, "text-en");
        ASSERT_STREQ(a->texts[0].path, "text-en/subtitles.vtt");
        ASSERT_STREQ(a->texts[0].mime_type, "text/vtt");
        ASSERT_TRUE(asset_text_find(a, "text-en") == &a->texts[0]);

        ASSERT_EQ(a->n_files, 4 * 4 + 1);
        for (size_t i = 1; i < a->n_files; i++)
                ASSERT_TRUE(strcmp(a->files[i - 1].path, a->files[i].path) < 0);
        const struct asset_file *f = asset_file_find(a, "video-240p/seg-2.m4s");
        ASSERT_TRUE(f != NULL);
        ASSERT_EQ(f->size, 20000);
        /* sha256("video-240p/2") from the fixture generator */
        ASSERT_EQ(f->sha256[0], 0xbd);
        ASSERT_TRUE(asset_file_find(a, "video-240p/seg-9.m4s") == NULL);
        ASSERT_TRUE(asset_file_find(a, "") == NULL);
        asset_free(a);
}

TEST(encrypted_fixture)
{
        struct asset *a = fixture_asset("asset-enc.json");
        char hex[33], uuid[37];
        ASSERT_TRUE(a->encrypted);
        ASSERT_EQ(a->iv_size, 8);
        ASSERT_EQ(a->kid[0], 0x01);
        ASSERT_EQ(a->kid[15], 0xef);
        ASSERT_STREQ(asset_kid_hex(a->kid, hex), "0123456789abcdef0123456789abcdef");
        ASSERT_STREQ(asset_kid_uuid(a->kid, uuid), "01234567-89ab-cdef-0123-456789abcdef");
        ASSERT_EQ(a->n_texts, 0);
        asset_free(a);
}

/* Load the clear fixture, let edit change it, and parse the result. */
static int parse_edited(void (*edit)(json_t *root), char *err, size_t errlen)
{
        json_t *root = json_load_file("asset-clear.json", 0, NULL);
        if (!root)
                return -999;
        edit(root);
        char *s = json_dumps(root, JSON_COMPACT);
        json_decref(root);
        struct asset *a = NULL;
        int r = asset_json_parse(s, strlen(s), &a, err, errlen);
        free(s);
        asset_free(a);
        return r;
}

static json_t *rep0(json_t *root)
{
        return json_array_get(json_object_get(root, "representations"), 0);
}

static void e_version(json_t *r)
{
        json_object_set_new(r, "version", json_integer(2));
}
static void e_no_title(json_t *r)
{
        json_object_del(r, "title");
}
static void e_title_dots(json_t *r)
{
        json_object_set_new(r, "title", json_string("../etc"));
}
static void e_id_markup(json_t *r)
{
        json_object_set_new(rep0(r), "id", json_string("a<b>"));
}
static void e_codec_quote(json_t *r)
{
        json_object_set_new(rep0(r), "codec", json_string("avc1\"x"));
}
static void e_path_dotdot(json_t *r)
{
        json_object_set_new(json_array_get(json_object_get(r, "files"), 0), "path",
                            json_string("video-240p/../../x"));
}
static void e_path_abs(json_t *r)
{
        json_object_set_new(json_array_get(json_object_get(r, "subtitles"), 0), "path",
                            json_string("/etc/passwd"));
}
static void e_seg_count(json_t *r)
{
        json_object_set_new(rep0(r), "segment_count", json_integer(4));
}
static void e_seg_overlap(json_t *r)
{
        json_object_set_new(json_array_get(json_object_get(rep0(r), "segments"), 1), "t",
                            json_integer(100));
}
static void e_dup_rep(json_t *r)
{
        json_object_set_new(json_array_get(json_object_get(r, "representations"), 1), "id",
                            json_string("video-240p"));
}
static void e_no_video(json_t *r)
{
        json_t *reps = json_object_get(r, "representations");
        json_array_remove(reps, 0);
        json_array_remove(reps, 0);
}
static void e_sha(json_t *r)
{
        json_object_set_new(json_array_get(json_object_get(r, "files"), 0), "sha256",
                            json_string("abc"));
}
static void e_dup_file(json_t *r)
{
        json_t *files = json_object_get(r, "files");
        json_array_append(files, json_array_get(files, 3));
}
static void e_cbcs(json_t *r)
{
        json_object_set_new(
            r, "encryption",
            json_pack("{s:s,s:s}", "scheme", "cbcs", "kid", "0123456789abcdef0123456789abcdef"));
}
static void e_kid(json_t *r)
{
        json_object_set_new(r, "encryption", json_pack("{s:s,s:s}", "scheme", "cenc", "kid", "01"));
}
static void e_fps(json_t *r)
{
        json_object_set_new(rep0(r), "frame_rate", json_string("25/0"));
}
static void e_bw_zero(json_t *r)
{
        json_object_set_new(rep0(r), "bandwidth", json_integer(0));
}
static void e_bw_neg(json_t *r)
{
        json_object_set_new(rep0(r), "bandwidth", json_integer(-5));
}
static void e_bw_str(json_t *r)
{
        json_object_set_new(rep0(r), "bandwidth", json_string("5"));
}
static void e_avg_over_peak(json_t *r)
{
        json_int_t bw = json_integer_value(json_object_get(rep0(r), "bandwidth"));
        json_object_set_new(rep0(r), "average_bitrate", json_integer(bw + 1));
}
static void e_avg_at_peak(json_t *r)
{
        json_object_set(rep0(r), "average_bitrate", json_object_get(rep0(r), "bandwidth"));
}
static void e_type(json_t *r)
{
        json_object_set_new(rep0(r), "type", json_string("text"));
}
static void e_dur(json_t *r)
{
        json_object_set_new(r, "duration", json_real(-1));
}
static void e_nothing(json_t *r)
{
        (void)r;
}
static void e_optional(json_t *r)
{
        /* Optional members may be absent: segments, subtitles, frame_rate, audio details. */
        json_object_del(rep0(r), "segments");
        json_object_del(rep0(r), "frame_rate");
        json_object_del(r, "subtitles");
        json_object_del(json_array_get(json_object_get(r, "representations"), 2), "lang");
}

TEST(field_errors)
{
        char err[256];
        ASSERT_EQ(parse_edited(e_nothing, err, sizeof(err)), 0);
        ASSERT_EQ(parse_edited(e_optional, err, sizeof(err)), 0);
        ASSERT_EQ(parse_edited(e_version, err, sizeof(err)), -ENOTSUP);
        ASSERT_STREQ(err, "version: 2 not supported (1 only)");
        ASSERT_EQ(parse_edited(e_no_title, err, sizeof(err)), -EBADMSG);
        ASSERT_STREQ(err, "asset.title: missing");
        ASSERT_EQ(parse_edited(e_title_dots, err, sizeof(err)), -EBADMSG);
        ASSERT_EQ(parse_edited(e_id_markup, err, sizeof(err)), -EBADMSG);
        ASSERT_STREQ(err, "representations[0].id: unexpected characters");
        ASSERT_EQ(parse_edited(e_codec_quote, err, sizeof(err)), -EBADMSG);
        ASSERT_EQ(parse_edited(e_path_dotdot, err, sizeof(err)), -EBADMSG);
        ASSERT_EQ(parse_edited(e_path_abs, err, sizeof(err)), -EBADMSG);
        ASSERT_EQ(parse_edited(e_seg_count, err, sizeof(err)), -EBADMSG);
        ASSERT_EQ(parse_edited(e_seg_overlap, err, sizeof(err)), -EBADMSG);
        ASSERT_STREQ(err, "representations[0].segments[1].t: overlaps the previous segment");
        ASSERT_EQ(parse_edited(e_dup_rep, err, sizeof(err)), -EBADMSG);
        ASSERT_EQ(parse_edited(e_no_video, err, sizeof(err)), -EBADMSG);
        ASSERT_STREQ(err, "representations: no video");
        ASSERT_EQ(parse_edited(e_sha, err, sizeof(err)), -EBADMSG);
        ASSERT_EQ(parse_edited(e_dup_file, err, sizeof(err)), -EBADMSG);
        ASSERT_EQ(parse_edited(e_cbcs, err, sizeof(err)), -ENOTSUP);
        ASSERT_EQ(parse_edited(e_kid, err, sizeof(err)), -EBADMSG);
        ASSERT_EQ(parse_edited(e_fps, err, sizeof(err)), -EBADMSG);
        ASSERT_EQ(parse_edited(e_bw_zero, err, sizeof(err)), -EBADMSG);
        ASSERT_EQ(parse_edited(e_bw_neg, err, sizeof(err)), -EBADMSG);
        ASSERT_EQ(parse_edited(e_bw_str, err, sizeof(err)), -EBADMSG);
        ASSERT_EQ(parse_edited(e_type, err, sizeof(err)), -EBADMSG);
        ASSERT_EQ(parse_edited(e_dur, err, sizeof(err)), -EBADMSG);
        /* average_bitrate is optional, and never over the peak rate bandwidth is */
        ASSERT_EQ(parse_edited(e_avg_at_peak, err, sizeof(err)), 0);
        ASSERT_EQ(parse_edited(e_avg_over_peak, err, sizeof(err)), -EBADMSG);
        ASSERT_TRUE(strstr(err, "representations[0].average_bitrate: ") != NULL);
}

TEST(limits)
{
        struct asset *a = NULL;
        char err[128];
        /* Too large: refused before looking at the bytes. */
        size_t big = (size_t)ASSET_JSON_MAX + 1;
        char *buf = calloc(1, big);
        ASSERT_TRUE(buf != NULL);
        ASSERT_EQ(asset_json_parse(buf, big, &a, err, sizeof(err)), -E2BIG);
        free(buf);

        /* Too deep, even inside an ignored member. */
        const char *deep = "{\"version\":1,\"x\":[[[[[[[[[[1]]]]]]]]]]}";
        ASSERT_EQ(asset_json_parse(deep, strlen(deep), &a, err, sizeof(err)), -EBADMSG);
        ASSERT_STREQ(err, "nested deeper than 8");
        /* Brackets in strings do not count. */
        const char *str = "{\"version\":1,\"x\":\"[[[[[[[[[[[[\"}";
        ASSERT_EQ(asset_json_parse(str, strlen(str), &a, err, sizeof(err)), -EBADMSG);
        ASSERT_STREQ(err, "asset.title: missing");

        ASSERT_EQ(asset_json_parse("nope", 4, &a, err, sizeof(err)), -EBADMSG);
        ASSERT_EQ(asset_json_parse("[]", 2, &a, NULL, 0), -EBADMSG);
        const char *dupkey = "{\"version\":1,\"version\":1}";
        ASSERT_EQ(asset_json_parse(dupkey, strlen(dupkey), &a, err, sizeof(err)), -EBADMSG);
        ASSERT_TRUE(a == NULL);
}

static void e_many_reps(json_t *r)
{
        json_t *reps = json_object_get(r, "representations");
        for (int i = 0; i < ASSET_REPS_MAX; i++)
                json_array_append(reps, json_array_get(reps, 0));
}

TEST(count_limit)
{
        char err[128];
        ASSERT_EQ(parse_edited(e_many_reps, err, sizeof(err)), -E2BIG);
        ASSERT_STREQ(err, "representations: more than 64 entries");
}

TEST(nul_in_string)
{
        const char *s = "{\"version\":1,\"title\":\"a\\u0000b\"}";
        struct asset *a = NULL;
        char err[128];
        /* jansson refuses \u0000 in text; a value built in memory is checked by us. */
        ASSERT_EQ(asset_json_parse(s, strlen(s), &a, err, sizeof(err)), -EBADMSG);
        json_t *root = json_pack("{s:i, s:s#}", "version", 1, "title", "a\0b", (size_t)3);
        ASSERT_TRUE(root != NULL);
        ASSERT_EQ(asset_json_load(root, &a, err, sizeof(err)), -EBADMSG);
        ASSERT_STREQ(err, "asset.title: contains NUL");
        json_decref(root);
}

TEST(load_from_value)
{
        json_t *root = json_load_file("asset-enc.json", 0, NULL);
        ASSERT_TRUE(root != NULL);
        json_t *body = json_pack("{s:s, s:o}", "title", "film42", "asset", root);
        struct asset *a = NULL;
        ASSERT_EQ(asset_json_load(json_object_get(body, "asset"), &a, NULL, 0), 0);
        ASSERT_STREQ(a->title, "film42");
        ASSERT_TRUE(a->encrypted);
        asset_free(a);
        asset_free(NULL);
        json_decref(body);
}

TEST_MAIN()
