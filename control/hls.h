/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * HLS playlists (RFC 8216) over the same fMP4 segments the MPD describes.
 *
 * Master playlist: EXT-X-INDEPENDENT-SEGMENTS, one EXT-X-MEDIA TYPE=AUDIO per audio
 * representation (GROUP-ID "aud"), one EXT-X-MEDIA TYPE=SUBTITLES per subtitle track (GROUP-ID
 * "sub"), one EXT-X-STREAM-INF per video representation (BANDWIDTH = video + highest audio,
 * CODECS = video + audio codec, RESOLUTION, FRAME-RATE, AUDIO/SUBTITLES). Each rendition's URI
 * is playlist_prefix + "<id>.m3u8" (relative by default, so media playlists are served next to
 * the master by control).
 *
 * Media playlist: EXT-X-VERSION 7, EXT-X-TARGETDURATION, EXT-X-MEDIA-SEQUENCE, EXT-X-PLAYLIST-TYPE
 * VOD, EXT-X-INDEPENDENT-SEGMENTS, EXT-X-MAP for init.mp4, EXTINF per segment, EXT-X-ENDLIST;
 * segment URIs are absolute: media_base_url + "<rep>/seg-<n>.m4s". A subtitle playlist is one
 * EXTINF covering the title with the whole WebVTT file.
 *
 * Encrypted titles are DASH-only: hls.js cannot play cenc (AES-CTR) fMP4 with ClearKey, and
 * SAMPLE-AES-CTR is not something it decrypts, so both builders refuse them (-ENOTSUP).
 *
 * I/O-free; output bounded by HLS_OUT_MAX (-E2BIG), a media playlist by that plus its segment
 * lines (HLS_SEG_LINE_MAX).
 */

#include <stddef.h>

#include "asset.h"

#define HLS_OUT_MAX (8u << 20)
/* A media playlist's segment lines besides the base URL and the representation id: the
 * EXTINF line, "/seg-<n>.m4s" and newlines. Its bound is HLS_OUT_MAX plus this much and the
 * base and id per segment. */
#define HLS_SEG_LINE_MAX 64u

struct hls_params {
        const struct asset *asset;
        /* "https://edge-a.example/s/<jwt>/<title>/": edge, token and title; '/' added if missing */
        const char *media_base_url;
        /* prefix of media playlist URIs in the master; NULL or "" for relative "<id>.m3u8" */
        const char *playlist_prefix;
};

/*
 * hls_master_build: render the master playlist. On success *ret is a NUL-terminated malloc'd
 * string (caller frees), *ret_len its length. Returns 0; -ENOTSUP encrypted asset; -EINVAL no
 * video representation or bad params; -E2BIG; -ENOMEM.
 */
int hls_master_build(const struct hls_params *p, char **ret, size_t *ret_len);

/*
 * hls_media_build: render the media playlist of the representation or subtitle track named id
 * (as it appears in the master, without ".m3u8"). Same returns as hls_master_build, plus
 * -ENOENT for an unknown id.
 */
int hls_media_build(const struct hls_params *p, const char *id, char **ret, size_t *ret_len);
