/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * What sluice-ingest takes from ffprobe's JSON (-show_format -show_streams) about a source:
 * the first video stream's index, size, pixel aspect and frame rate (cover art, an
 * "attached_pic" video stream, is not the video), the audio streams' languages and the
 * duration. ffprobe repeats what the file claims, so its output is read as
 * untrusted input: bounded in size, numbers range-checked, and a source outside the bounds
 * refused with a message instead of reaching the encoder's command line.
 *
 * Size and pixel aspect are as displayed: when a display matrix turns the picture 90 or 270
 * degrees (ffmpeg turns it so before encoding), width and height are swapped.
 */

#include <stddef.h>

#include "ladder.h"

#define PROBE_OUT_MAX      (4u << 20) /* bytes of ffprobe output read */
#define PROBE_DIM_MAX      16384      /* pixels on a side (the largest H.264 level allows less) */
/* seconds: 65536 segments of 4 s, the most control's asset reader takes in a representation
 * (control/asset.h ASSET_SEGMENTS_MAX); a longer title could be encoded but never played */
#define PROBE_DURATION_MAX 262144.0
#define PROBE_SAR_MAX      16         /* a pixel aspect beyond 16:1 or 1:16 is read as 1:1 */
#define PROBE_FPS_MAX      120        /* average frame rates above fall back to r_frame_rate */
#define PROBE_STREAMS_MAX  65535      /* a stream "index" above is not believed */

/*
 * probe_parse: read ffprobe's JSON (json, len bytes; need not be NUL-terminated) into *s,
 * leaving s->path alone. Returns 0, or -EINVAL with a message for "<source>: <message>" in
 * err (errlen bytes, always NUL-terminated when errlen > 0): not JSON, no streams, no video,
 * a picture larger than PROBE_DIM_MAX on a side, a duration under a second, unknown or above
 * PROBE_DURATION_MAX. On success width, height and fps are positive, every audio language is
 * probe_lang_valid() or "und", and at most LADDER_AUDIO_MAX audio streams are kept (the
 * first; n_audio_source counts them all).
 */
int probe_parse(const char *json, size_t len, struct ladder_src *s, char *err, size_t errlen);

/* probe_lang_valid: 1 when l is 2 to 15 letters or '-' (a BCP 47-ish language tag), else 0. */
int probe_lang_valid(const char *l);
