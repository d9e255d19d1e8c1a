/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hls.h"
#include "mpd.h"

/* A string placed in a playlist line or a quoted attribute: no quotes, no line breaks. */
static int line_safe(const char *s)
{
        for (const char *p = s; *p; p++)
                if (*p == '"' || (unsigned char)*p < 0x20 || *p == 0x7f)
                        return 0;
        return 1;
}

static int params_check(const struct hls_params *p)
{
        if (!p->asset || !p->media_base_url || !*p->media_base_url)
                return -EINVAL;
        if (p->asset->encrypted)
                return -ENOTSUP;
        if (!line_safe(p->media_base_url) || (p->playlist_prefix && !line_safe(p->playlist_prefix)))
                return -EINVAL;
        for (size_t i = 0; i < p->asset->n_reps; i++)
                if (p->asset->reps[i].kind == ASSET_VIDEO)
                        return 0;
        return -EINVAL;
}

/* media_base_url with exactly one '/' between it and what follows. */
static void base(struct mpd_buf *b, const struct hls_params *p)
{
        size_t n = strlen(p->media_base_url);
        mpd_buf_append(b, p->media_base_url, n);
        if (p->media_base_url[n - 1] != '/')
                mpd_buf_puts(b, "/");
}

static void playlist_uri(struct mpd_buf *b, const struct hls_params *p, const char *id)
{
        mpd_buf_printf(b, "%s%s.m3u8", p->playlist_prefix ? p->playlist_prefix : "", id);
}

/* NAME must be unique in its group: the language, or "lang id" when the language repeats. */
static int lang_repeats(const struct asset *a, const struct asset_rep *r)
{
        for (size_t i = 0; i < a->n_reps; i++)
                if (&a->reps[i] != r && a->reps[i].kind == ASSET_AUDIO &&
                    strcmp(a->reps[i].lang, r->lang) == 0)
                        return 1;
        return 0;
}

int hls_master_build(const struct hls_params *p, char **ret, size_t *ret_len)
{
        const struct asset *a = p->asset;
        struct mpd_buf b;
        uint64_t max_audio = 0, max_audio_avg = 0;
        bool audio_avg = true; /* every audio rendition's average is known */
        int r = params_check(p);
        if (r < 0)
                return r;

        mpd_buf_init(&b, HLS_OUT_MAX);
        mpd_buf_puts(&b, "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n");

        int first = 1;
        for (size_t i = 0; i < a->n_reps; i++) {
                const struct asset_rep *ar = &a->reps[i];
                if (ar->kind != ASSET_AUDIO)
                        continue;
                if (ar->bandwidth > max_audio)
                        max_audio = ar->bandwidth;
                if (ar->average_bitrate > max_audio_avg)
                        max_audio_avg = ar->average_bitrate;
                audio_avg = audio_avg && ar->average_bitrate;
                mpd_buf_printf(&b, "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"aud\",NAME=\"%s%s%s\"",
                               ar->lang, lang_repeats(a, ar) ? " " : "",
                               lang_repeats(a, ar) ? ar->id : "");
                if (strcmp(ar->lang, "und") != 0)
                        mpd_buf_printf(&b, ",LANGUAGE=\"%s\"", ar->lang);
                mpd_buf_printf(&b, ",DEFAULT=%s,AUTOSELECT=YES", first ? "YES" : "NO");
                if (ar->channels)
                        mpd_buf_printf(&b, ",CHANNELS=\"%" PRIu32 "\"", ar->channels);
                mpd_buf_puts(&b, ",URI=\"");
                playlist_uri(&b, p, ar->id);
                mpd_buf_puts(&b, "\"\n");
                first = 0;
        }
        for (size_t i = 0; i < a->n_texts; i++) {
                const struct asset_text *t = &a->texts[i];
                mpd_buf_printf(&b, "#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"sub\",NAME=\"%s %s\"",
                               t->lang, t->id);
                if (strcmp(t->lang, "und") != 0)
                        mpd_buf_printf(&b, ",LANGUAGE=\"%s\"", t->lang);
                mpd_buf_puts(&b, ",DEFAULT=NO,AUTOSELECT=YES,URI=\"");
                playlist_uri(&b, p, t->id);
                mpd_buf_puts(&b, "\"\n");
        }

        for (size_t i = 0; i < a->n_reps; i++) {
                const struct asset_rep *vr = &a->reps[i];
                if (vr->kind != ASSET_VIDEO)
                        continue;
                mpd_buf_printf(&b, "#EXT-X-STREAM-INF:BANDWIDTH=%" PRIu64,
                               vr->bandwidth + max_audio);
                /* RFC 8216 4.3.4.2: the average segment bit rate, with the heaviest audio. */
                if (vr->average_bitrate && audio_avg)
                        mpd_buf_printf(&b, ",AVERAGE-BANDWIDTH=%" PRIu64,
                                       vr->average_bitrate + max_audio_avg);
                mpd_buf_printf(&b, ",CODECS=\"%s", vr->codec);
                /* Every distinct audio codec, since the variant may play any rendition. */
                for (size_t j = 0; j < a->n_reps; j++) {
                        const struct asset_rep *ar = &a->reps[j];
                        int dup = ar->kind != ASSET_AUDIO;
                        for (size_t k = 0; k < j && !dup; k++)
                                dup = a->reps[k].kind == ASSET_AUDIO &&
                                      strcmp(a->reps[k].codec, ar->codec) == 0;
                        if (!dup)
                                mpd_buf_printf(&b, ",%s", ar->codec);
                }
                mpd_buf_printf(&b, "\",RESOLUTION=%" PRIu32 "x%" PRIu32, vr->width, vr->height);
                if (vr->fps_num)
                        mpd_buf_printf(&b, ",FRAME-RATE=%.3f", (double)vr->fps_num / vr->fps_den);
                if (max_audio)
                        mpd_buf_puts(&b, ",AUDIO=\"aud\"");
                if (a->n_texts)
                        mpd_buf_puts(&b, ",SUBTITLES=\"sub\"");
                mpd_buf_puts(&b, "\n");
                playlist_uri(&b, p, vr->id);
                mpd_buf_puts(&b, "\n");
        }
        return mpd_buf_steal(&b, ret, ret_len);
}

/* Duration of segment i (0-based) of r in seconds, from the timeline or the nominal length. */
static double seg_seconds(const struct asset *a, const struct asset_rep *r, size_t i)
{
        if (r->n_segments)
                return (double)r->segments[i].d / r->timescale;
        if (i + 1 < r->segment_count)
                return r->segment_duration;
        double last = a->duration - (double)r->segment_duration * (r->segment_count - 1);
        return last > 0 && last <= r->segment_duration ? last : r->segment_duration;
}

/*
 * How many of r's segments the playlist lists: those that start before the presentation ends.
 * An AAC tail that asset.json lists starting at the end or after it (audio a few ms longer than
 * video whose end falls on a segment boundary) is left out, as the MPD leaves it out: hls.js
 * waited for it 40 ms before the end and never ended.
 */
static size_t played_count(const struct asset *a, const struct asset_rep *r)
{
        double sec = a->duration >= 0 && a->duration <= 1e9 ? a->duration : 0;
        uint64_t end_ms = (uint64_t)llround(sec * 1000.0);
        size_t n = 0;

        if (!r->n_segments || end_ms == 0 || r->timescale == 0)
                return r->segment_count;
        /* Compared in ms × timescale, as mpd.c's duration_addresses() does. */
        if (end_ms > UINT64_MAX / r->timescale)
                return r->n_segments;
        while (n < r->n_segments && r->segments[n].t <= UINT64_MAX / 1000 &&
               r->segments[n].t * 1000 < end_ms * r->timescale)
                n++;
        return n ? n : r->n_segments;
}

static int media_rep(const struct hls_params *p, const struct asset_rep *r, char **ret,
                     size_t *ret_len)
{
        struct mpd_buf b;
        size_t count = played_count(p->asset, r);
        double max = 0;
        for (size_t i = 0; i < count; i++) {
                /* As EXTINF prints it (%.3f): 4.49960 s is written 4.500, which rounds to 5. */
                double d = round(seg_seconds(p->asset, r, i) * 1000.0) / 1000.0;
                max = d > max ? d : max;
        }
        /* RFC 8216 4.3.3.1: each EXTINF rounded to the nearest integer <= target duration. */
        long target = lround(max);
        if (target < 1)
                target = 1;

        /* Every segment line carries the whole base URL (the segments are the edge's, the
         * playlist control's): the bound grows with them, so a title as long as an asset may
         * be (ASSET_SEGMENTS_MAX) always fits. */
        mpd_buf_init(&b, HLS_OUT_MAX + count *
                                           (HLS_SEG_LINE_MAX + strlen(p->media_base_url) +
                                            strlen(r->id)));
        mpd_buf_printf(&b,
                       "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:%ld\n"
                       "#EXT-X-MEDIA-SEQUENCE:%" PRIu32 "\n#EXT-X-PLAYLIST-TYPE:VOD\n"
                       "#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-MAP:URI=\"",
                       target, r->start_number);
        base(&b, p);
        mpd_buf_printf(&b, "%s/init.mp4\"\n", r->id);
        for (size_t i = 0; i < count && !b.b.err; i++) {
                mpd_buf_printf(&b, "#EXTINF:%.3f,\n", seg_seconds(p->asset, r, i));
                base(&b, p);
                mpd_buf_printf(&b, "%s/seg-%" PRIu64 ".m4s\n", r->id,
                               (uint64_t)r->start_number + i);
        }
        mpd_buf_puts(&b, "#EXT-X-ENDLIST\n");
        return mpd_buf_steal(&b, ret, ret_len);
}

static int media_text(const struct hls_params *p, const struct asset_text *t, char **ret,
                      size_t *ret_len)
{
        struct mpd_buf b;
        mpd_buf_init(&b, HLS_OUT_MAX);
        mpd_buf_printf(&b,
                       "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:%.0f\n"
                       "#EXT-X-MEDIA-SEQUENCE:1\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXTINF:%.3f,\n",
                       ceil(p->asset->duration), p->asset->duration);
        base(&b, p);
        mpd_buf_printf(&b, "%s\n#EXT-X-ENDLIST\n", t->path);
        return mpd_buf_steal(&b, ret, ret_len);
}

int hls_media_build(const struct hls_params *p, const char *id, char **ret, size_t *ret_len)
{
        int r = params_check(p);
        if (r < 0)
                return r;
        if (!id)
                return -EINVAL;
        const struct asset_rep *rep = asset_rep_find(p->asset, id);
        if (rep)
                return media_rep(p, rep, ret, ret_len);
        const struct asset_text *t = asset_text_find(p->asset, id);
        if (t)
                return media_text(p, t, ret, ret_len);
        return -ENOENT;
}
