/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lang.h"
#include "probe.h"

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
        va_list ap;

        if (errlen) {
                va_start(ap, fmt);
                (void)vsnprintf(err, errlen, fmt, ap);
                va_end(ap);
        }
        return -EINVAL;
}

int probe_lang_valid(const char *l)
{
        size_t n = strlen(l);

        if (n < 2 || n > 15)
                return 0;
        for (size_t i = 0; i < n; i++)
                if (!((l[i] >= 'a' && l[i] <= 'z') || (l[i] >= 'A' && l[i] <= 'Z') || l[i] == '-'))
                        return 0;
        return 1;
}

/* Parse "N/D" (or "N:D") into a positive fraction of terms up to a million. */
static int frac_parse(const char *s, unsigned *num, unsigned *den)
{
        char *end;
        unsigned long n = strtoul(s, &end, 10), d = 1;

        if (end == s)
                return -EINVAL;
        if (*end == '/' || *end == ':')
                d = strtoul(end + 1, &end, 10);
        if (*end || n == 0 || d == 0 || n > 1000000 || d > 1000000)
                return -EINVAL;
        *num = (unsigned)n;
        *den = (unsigned)d;
        return 0;
}

/* A stream's width or height: the positive integer given, else 0 (unknown). */
static long long dimension(json_t *stream, const char *key)
{
        json_t *v = json_object_get(stream, key);

        return json_is_integer(v) && json_integer_value(v) > 0 ? (long long)json_integer_value(v)
                                                               : 0;
}

/*
 * Whether the stream's display matrix turns the picture a quarter (90 or 270 degrees, as
 * phones record): ffmpeg then turns it before any filter, so the encoders scale a picture of
 * the other shape. Only the matrix counts, as for ffmpeg 5.1's own turning: a "rotate" tag
 * is plain metadata to it.
 */
static bool quarter_turned(json_t *st)
{
        json_t *sd;
        size_t i;

        json_array_foreach(json_object_get(st, "side_data_list"), i, sd)
        {
                const char *type = json_string_value(json_object_get(sd, "side_data_type"));
                json_t *rot = json_object_get(sd, "rotation");

                if (type && !strcmp(type, "Display Matrix") && json_is_number(rot)) {
                        double deg = fmod(fabs(json_number_value(rot)), 180);

                        return fabs(deg - 90) < 1;
                }
        }
        return false;
}

static void video_stream(json_t *st, size_t pos, struct ladder_src *s, long long w, long long h)
{
        const char *sar = json_string_value(json_object_get(st, "sample_aspect_ratio"));
        const char *fr = json_string_value(json_object_get(st, "avg_frame_rate"));
        const char *fo = json_string_value(json_object_get(st, "field_order"));
        json_t *index = json_object_get(st, "index");

        /* ffprobe lists every stream in index order, so its place stands in for an index
         * not given */
        s->video_index = json_is_integer(index) && json_integer_value(index) >= 0 &&
                                 json_integer_value(index) <= PROBE_STREAMS_MAX
                             ? (unsigned)json_integer_value(index)
                             : (unsigned)pos;
        s->width = (unsigned)w;
        s->height = (unsigned)h;
        /* "progressive", "unknown" or none: taken as progressive */
        s->interlaced = fo && (!strcmp(fo, "tt") || !strcmp(fo, "bb") || !strcmp(fo, "tb") ||
                               !strcmp(fo, "bt"));
        /* ffprobe says 0:1 for unknown; an absurd one would make the rungs' widths overflow */
        if (!sar || frac_parse(sar, &s->sar_num, &s->sar_den) < 0 ||
            s->sar_num > s->sar_den * PROBE_SAR_MAX || s->sar_den > s->sar_num * PROBE_SAR_MAX)
                s->sar_num = s->sar_den = 1;
        if (!fr || frac_parse(fr, &s->fps_num, &s->fps_den) < 0 ||
            (double)s->fps_num / s->fps_den > PROBE_FPS_MAX) {
                fr = json_string_value(json_object_get(st, "r_frame_rate"));
                if (!fr || frac_parse(fr, &s->fps_num, &s->fps_den) < 0)
                        s->fps_num = 25, s->fps_den = 1;
        }
        /* The size (and pixel aspect) as shown, which is what the ladder scales. */
        if (quarter_turned(st)) {
                unsigned t = s->width;

                s->width = s->height;
                s->height = t;
                t = s->sar_num;
                s->sar_num = s->sar_den;
                s->sar_den = t;
        }
}

int probe_parse(const char *json, size_t len, struct ladder_src *s, char *err, size_t errlen)
{
        json_t *j = NULL, *streams, *st, *format;
        const char *fmt, *dur;
        bool have_video = false;
        char *end;
        size_t i;
        int r = -EINVAL;

        if (errlen)
                err[0] = '\0';
        s->width = s->height = 0;
        s->sar_num = s->sar_den = 1;
        s->fps_num = 25;
        s->fps_den = 1;
        s->n_audio = s->n_audio_source = 0;
        s->video_index = 0;
        s->interlaced = false;
        s->duration = 0;
        if (len > PROBE_OUT_MAX)
                return fail(err, errlen, "ffprobe's answer is over %u bytes", PROBE_OUT_MAX);
        j = json_loadb(json, len, 0, NULL);
        streams = json_object_get(j, "streams");
        if (!json_is_array(streams)) {
                r = fail(err, errlen, "ffprobe found no streams");
                goto out;
        }
        json_array_foreach(streams, i, st)
        {
                const char *type = json_string_value(json_object_get(st, "codec_type"));
                json_t *disp = json_object_get(st, "disposition");

                if (!type)
                        continue;
                if (!strcmp(type, "video") && !have_video &&
                    json_integer_value(json_object_get(disp, "attached_pic")) == 0) {
                        long long w = dimension(st, "width"), h = dimension(st, "height");

                        if (w > PROBE_DIM_MAX || h > PROBE_DIM_MAX) {
                                r = fail(err, errlen,
                                         "a video stream of %lldx%lld pixels, more than %d on a "
                                         "side",
                                         w, h, PROBE_DIM_MAX);
                                goto out;
                        }
                        video_stream(st, i, s, w, h);
                        have_video = w > 0 && h > 0;
                } else if (!strcmp(type, "audio") && s->n_audio_source++ < LADDER_AUDIO_MAX) {
                        const char *lang = json_string_value(
                            json_object_get(json_object_get(st, "tags"), "language"));

                        (void)snprintf(s->audio_lang[s->n_audio], sizeof(s->audio_lang[0]), "%s",
                                       lang && probe_lang_valid(lang) ? lang : "und");
                        lang_bcp47_in_place(s->audio_lang[s->n_audio++], sizeof(s->audio_lang[0]));
                }
        }
        format = json_object_get(j, "format");
        fmt = json_string_value(json_object_get(format, "format_name"));
        /* ffmpeg renders any text file as ANSI art: a "video" no one wants to publish */
        if (!have_video || (fmt && !strcmp(fmt, "tty"))) {
                r = fail(err, errlen, "no video stream (is this a video file?)");
                goto out;
        }
        dur = json_string_value(json_object_get(format, "duration"));
        s->duration = dur ? strtod(dur, &end) : 0;
        if (!dur || end == dur || *end || !(s->duration >= 1)) {
                s->duration = 0;
                r = fail(err, errlen, "shorter than a second, or of unknown duration");
                goto out;
        }
        if (!(s->duration <= PROBE_DURATION_MAX)) {
                r = fail(err, errlen, "a duration of %.0f s, more than the %.0f s control takes",
                         s->duration, PROBE_DURATION_MAX);
                s->duration = 0;
                goto out;
        }
        r = 0;
out:
        json_decref(j);
        return r;
}
