/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * What ingest needs to know about ffmpeg's fMP4 output: the track described by an init
 * segment (codec string, size, timescale, defaults for fragments), and the samples of each
 * movie fragment in a media segment. Both work on trees from mp4_box_parse() and never
 * trust a count or offset without checking it against the buffer.
 */

#include <stddef.h>
#include <stdint.h>

#include "avc.h"
#include "mp4-box.h"

/* tfhd / trun flags (ISO/IEC 14496-12 8.8.7, 8.8.8) */
#define MP4_TFHD_BASE_DATA_OFFSET 0x000001u
#define MP4_TFHD_SDI              0x000002u
#define MP4_TFHD_DURATION         0x000008u
#define MP4_TFHD_SIZE             0x000010u
#define MP4_TFHD_FLAGS            0x000020u
#define MP4_TFHD_BASE_IS_MOOF     0x020000u
#define MP4_TRUN_DATA_OFFSET      0x000001u
#define MP4_TRUN_FIRST_FLAGS      0x000004u
#define MP4_TRUN_DURATION         0x000100u
#define MP4_TRUN_SIZE             0x000200u
#define MP4_TRUN_FLAGS            0x000400u
#define MP4_TRUN_CTO              0x000800u
/* sample_is_non_sync_sample in sample flags */
#define MP4_SAMPLE_NON_SYNC 0x00010000u

/* Upper bound on samples in one fragment: 4 s of 240 fps video is 960; audio far fewer. */
#define MP4_FRAG_SAMPLES_MAX 65536

struct mp4_track {
        uint32_t track_id;
        uint32_t handler;    /* 'vide' or 'soun' */
        uint32_t entry_type; /* sample entry: 'avc1', 'mp4a', 'encv', ... */
        uint32_t timescale;
        uint16_t width, height;
        uint16_t channels;
        uint32_t sample_rate;
        unsigned nal_length_size; /* from avcC; 0 for audio */
        struct avc_params avc;    /* avcC's first SPS and PPS, when they could be read */
        char codec[40];           /* RFC 6381 codecs parameter: avc1.64001f, mp4a.40.2 */
        uint32_t trex_duration, trex_size, trex_flags;
};

struct mp4_sample {
        uint64_t offset; /* from the start of the segment buffer */
        uint32_t size;
        uint32_t duration;
        uint32_t flags;
};

struct mp4_frag {
        uint64_t base_time; /* tfdt, in the track's timescale */
        uint64_t duration;  /* sum of sample durations */
        struct mp4_sample *samples;
        size_t n_samples;
};

/*
 * mp4_info_track_parse: describe the single track of an init segment.
 * Returns 0, -EBADMSG when a box the description needs is missing or malformed, -ENOTSUP
 * for more than one track, -ENOMEM.
 */
int mp4_info_track_parse(const uint8_t *buf, size_t len, struct mp4_track *ret);

/*
 * mp4_info_frag_parse: the samples of one moof (one traf) in a segment buffer of len bytes,
 * resolved to absolute offsets and checked to lie within the buffer.
 * Returns 0, -EBADMSG, -ENOTSUP (several trafs, explicit base_data_offset), -E2BIG past
 * MP4_FRAG_SAMPLES_MAX, -ENOMEM. ret->samples is the caller's (free()).
 */
int mp4_info_frag_parse(const struct mp4_box *moof, size_t len, const struct mp4_track *t,
                        struct mp4_frag *ret);

/*
 * mp4_info_segment_timing: start (tfdt of the first fragment) and total duration of a media
 * segment, and whether its first sample is a sync sample (a keyframe).
 * Returns 0 or a negative errno as mp4_info_frag_parse(); -EBADMSG if it has no fragment.
 */
int mp4_info_segment_timing(const uint8_t *buf, size_t len, const struct mp4_track *t,
                            uint64_t *ret_start, uint64_t *ret_duration, int *ret_sync);
