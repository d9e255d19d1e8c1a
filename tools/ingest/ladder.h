/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * The bitrate ladder and the ffmpeg command line for each rendition. One ffmpeg per
 * rendition: they run in parallel, and a failure names the rung that failed.
 *
 * Alignment: every video rung forces a keyframe at each multiple of the segment duration
 * (and x264's own keyframe interval equals it, scene cuts disabled), so segment n of every
 * rung starts on the same frame and a player can switch between rungs at any boundary.
 */

#include <stdbool.h>
#include <stddef.h>

#include "proc.h"
#include "util.h"

#define LADDER_SEGMENT_SECONDS 4
#define LADDER_AUDIO_KBPS      128
#define LADDER_AUDIO_MAX       8
#define LADDER_TEXT_MAX        8

struct ladder_rung {
        const char *name; /* "720p" */
        unsigned height;
        unsigned kbps;
};

extern const struct ladder_rung ladder_rungs[];
extern const size_t ladder_rungs_n;

struct ladder_src {
        const char *path; /* ffmpeg's "file:" URL of the source; NULL: lavfi test source */
        double duration;  /* seconds */
        unsigned width, height;
        unsigned sar_num, sar_den;
        unsigned fps_num, fps_den;
        /* ffprobe's index of the video stream these facts are about, which is the one
         * encoded: not always ffmpeg's first video stream (0:v:0), which may be cover art */
        unsigned video_index;
        /* ffprobe gives the video stream an interlaced field_order ("tt", "bb", "tb", "bt"):
         * deinterlaced before scaling, one frame per frame, so the frame rate is kept */
        bool interlaced;
        unsigned n_audio;        /* audio streams encoded: the first LADDER_AUDIO_MAX */
        unsigned n_audio_source; /* audio streams the source has */
        char audio_lang[LADDER_AUDIO_MAX][16];
};

enum ladder_kind { LADDER_VIDEO, LADDER_AUDIO, LADDER_TEXT };

struct ladder_job {
        enum ladder_kind kind;
        char id[48]; /* representation directory: video-720p, audio-en, text-fr */
        unsigned width, height, kbps;
        unsigned audio_index; /* which source audio stream */
        char lang[16];
        const char *text_path; /* "file:" URL: WebVTT (or anything ffmpeg reads as subtitles) */
        /* run state, owned by the scheduler */
        struct proc proc;
        int state; /* 0 waiting, 1 running, 2 done */
};

struct ladder_opts {
        const char *ffmpeg; /* program name or path */
        const char *preset; /* x264 preset */
        int threads;        /* per ffmpeg; 0 lets ffmpeg choose */
};

/*
 * ladder_rungs_select: which rungs to encode, as a bit mask over ladder_rungs. spec is NULL (every
 * rung up to the source height, at least the lowest) or a comma list of rung names
 * ("240p,720p"). Returns 0, or -EINVAL naming nothing known (bad names are an error).
 */
int ladder_rungs_select(const char *spec, unsigned src_height, unsigned *ret_mask);

/*
 * ladder_width_for: the even width that keeps the source's display aspect at height h.
 */
unsigned ladder_width_for(const struct ladder_src *s, unsigned h);

/*
 * ladder_job_argv: the ffmpeg argv for job j writing into outdir (which must exist).
 * Returns 0 or -ENOMEM. ret is the caller's (strv_done).
 */
int ladder_job_argv(const struct ladder_job *j, const struct ladder_src *s,
                    const struct ladder_opts *o, const char *outdir, struct strv *ret);
