/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "ladder.h"

/* The quality tiers every title is offered in (kbit/s at each height). */
const struct ladder_rung ladder_rungs[] = {
    {"240p", 240, 300},  {"360p", 360, 700},    {"480p", 480, 1500},
    {"720p", 720, 3000}, {"1080p", 1080, 5000}, {"2160p", 2160, 25000},
};
const size_t ladder_rungs_n = sizeof(ladder_rungs) / sizeof(ladder_rungs[0]);

int ladder_rungs_select(const char *spec, unsigned src_height, unsigned *ret_mask)
{
        unsigned mask = 0;
        if (!spec) {
                for (size_t i = 0; i < ladder_rungs_n; i++)
                        if (ladder_rungs[i].height <= src_height)
                                mask |= 1u << i;
                *ret_mask = mask ? mask : 1u;
                return 0;
        }
        const char *p = spec;
        while (*p) {
                size_t n = strcspn(p, ",");
                size_t i;
                for (i = 0; i < ladder_rungs_n; i++)
                        if (strlen(ladder_rungs[i].name) == n &&
                            strncmp(ladder_rungs[i].name, p, n) == 0)
                                break;
                if (i == ladder_rungs_n)
                        return -EINVAL;
                mask |= 1u << i;
                p += n;
                if (*p == ',')
                        p++;
        }
        if (!mask)
                return -EINVAL;
        *ret_mask = mask;
        return 0;
}

unsigned ladder_width_for(const struct ladder_src *s, unsigned h)
{
        double dar = (double)s->width / s->height;
        if (s->sar_num && s->sar_den)
                dar *= (double)s->sar_num / s->sar_den;
        unsigned w = (unsigned)lround(h * dar / 2.0) * 2;
        return w ? w : 2;
}

static void input_args(struct strv *a, const struct ladder_job *j, const struct ladder_src *s)
{
        if (j->kind == LADDER_TEXT) {
                strv_add(a, "-i");
                strv_add(a, j->text_path);
                return;
        }
        if (s->path) {
                strv_add(a, "-i");
                strv_add(a, s->path);
                return;
        }
        /* The test source: a moving pattern, and a tone that beeps once a second so
         * audio/video sync is easy to judge by eye and ear. The pattern is drawn at each
         * rung's own size: scaling a synthetic picture down tests nothing, and drawing it at
         * 2160p for the 240p rung made the small rungs cost as much as the top one. */
        strv_add(a, "-f");
        strv_add(a, "lavfi");
        strv_add(a, "-i");
        if (j->kind == LADDER_VIDEO)
                strv_addf(a, "testsrc2=size=%ux%u:rate=%u/%u:duration=%.3f", j->width, j->height,
                          s->fps_num, s->fps_den, s->duration);
        else
                strv_addf(a, "sine=frequency=%u:beep_factor=4:sample_rate=48000:duration=%.3f",
                          440 + 110 * j->audio_index, s->duration);
}

/* An encoder's thread count is an output option: placed before -i it would only reach the
 * decoder, and x264 would still take every core. */
static void threads_args(struct strv *a, const struct ladder_opts *o)
{
        if (o->threads > 0) {
                strv_add(a, "-threads");
                strv_addf(a, "%d", o->threads);
        }
}

static void dash_args(struct strv *a, const char *outdir)
{
        strv_add(a, "-f");
        strv_add(a, "dash");
        strv_add(a, "-seg_duration");
        strv_addf(a, "%d", LADDER_SEGMENT_SECONDS);
        strv_add(a, "-use_template");
        strv_add(a, "1");
        strv_add(a, "-use_timeline");
        strv_add(a, "0");
        strv_add(a, "-init_seg_name");
        strv_add(a, "init.mp4");
        strv_add(a, "-media_seg_name");
        strv_add(a, "seg-$Number$.m4s");
        /* ffmpeg insists on writing a manifest; control builds the real one, so this one is
         * deleted after the run. */
        strv_addf(a, "%s/ffmpeg.mpd", outdir);
}

int ladder_job_argv(const struct ladder_job *j, const struct ladder_src *s,
                    const struct ladder_opts *o, const char *outdir, struct strv *ret)
{
        struct strv a = {0};
        strv_add(&a, o->ffmpeg);
        strv_add(&a, "-hide_banner");
        strv_add(&a, "-nostdin");
        strv_add(&a, "-nostats");
        strv_add(&a, "-loglevel");
        strv_add(&a, "error");
        strv_add(&a, "-y");
        strv_add(&a, "-progress");
        strv_add(&a, "pipe:1");
        threads_args(&a, o); /* the source's decoder */
        input_args(&a, j, s);
        strv_add(&a, "-map_metadata");
        strv_add(&a, "-1");

        switch (j->kind) {
        case LADDER_VIDEO: {
                unsigned gop =
                    (unsigned)ceil(LADDER_SEGMENT_SECONDS * (double)s->fps_num / s->fps_den);
                strv_add(&a, "-map");
                if (s->path)
                        strv_addf(&a, "0:%u", s->video_index);
                else
                        strv_add(&a, "0:v:0");
                strv_add(&a, "-vf");
                /* Fields woven into a progressive rung, scaled, comb on every edge that moves:
                 * bwdif (motion-adaptive, the field order from each frame) makes whole frames
                 * first. */
                if (s->path)
                        strv_addf(&a, "%sscale=%u:%u:flags=bicubic,setsar=1",
                                  s->interlaced ? "bwdif=mode=send_frame:parity=auto:deint=all,"
                                                : "",
                                  j->width, j->height);
                else
                        strv_addf(&a,
                                  "scale=%u:%u:flags=bicubic,setsar=1,"
                                  "drawtext=text='%s %%{pts\\:hms}':x=w/20:y=h/20:"
                                  "fontsize=h/10:fontcolor=white:box=1:boxcolor=black@0.6",
                                  j->width, j->height, j->id);
                strv_add(&a, "-r");
                strv_addf(&a, "%u/%u", s->fps_num, s->fps_den);
                strv_add(&a, "-c:v");
                strv_add(&a, "libx264");
                strv_add(&a, "-preset");
                strv_add(&a, o->preset);
                strv_add(&a, "-profile:v");
                strv_add(&a, "high");
                strv_add(&a, "-pix_fmt");
                strv_add(&a, "yuv420p");
                strv_add(&a, "-b:v");
                strv_addf(&a, "%uk", j->kbps);
                strv_add(&a, "-maxrate");
                strv_addf(&a, "%uk", j->kbps);
                strv_add(&a, "-bufsize");
                strv_addf(&a, "%uk", 2 * j->kbps);
                strv_add(&a, "-g");
                strv_addf(&a, "%u", gop);
                strv_add(&a, "-keyint_min");
                strv_addf(&a, "%u", gop);
                strv_add(&a, "-sc_threshold");
                strv_add(&a, "0");
                strv_add(&a, "-force_key_frames");
                strv_addf(&a, "expr:gte(t,n_forced*%d)", LADDER_SEGMENT_SECONDS);
                threads_args(&a, o);
                dash_args(&a, outdir);
                break;
        }
        case LADDER_AUDIO:
                strv_add(&a, "-map");
                strv_addf(&a, "0:a:%u", s->path ? j->audio_index : 0);
                /* Audio that starts after the video (0.977 s into a capture) would start at
                 * 0 in the fragments, its delay held only in an empty edit that MSE and
                 * players placing samples by tfdt ignore: silence fills from 0 instead, as
                 * the video's -r fills its start, and a gap in the source's timestamps is
                 * filled (an overlap dropped) so later samples keep their times. */
                strv_add(&a, "-af");
                strv_add(&a, "aresample=async=1:first_pts=0");
                strv_add(&a, "-c:a");
                strv_add(&a, "aac");
                strv_add(&a, "-b:a");
                strv_addf(&a, "%uk", j->kbps);
                strv_add(&a, "-ac");
                strv_add(&a, "2");
                strv_add(&a, "-ar");
                strv_add(&a, "48000");
                threads_args(&a, o);
                dash_args(&a, outdir);
                break;
        case LADDER_TEXT:
                strv_add(&a, "-map");
                strv_add(&a, "0:s:0");
                strv_add(&a, "-c:s");
                strv_add(&a, "webvtt");
                strv_add(&a, "-f");
                strv_add(&a, "webvtt");
                strv_addf(&a, "%s/subtitles.vtt", outdir);
                break;
        }
        if (a.oom) {
                strv_done(&a);
                return -ENOMEM;
        }
        *ret = a;
        return 0;
}
