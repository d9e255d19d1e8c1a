/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * DASH MPD builder (ISO/IEC 23009-1, static, profile isoff-live): one Period with a video
 * AdaptationSet (all video representations), one audio AdaptationSet per language, one text
 * AdaptationSet per subtitle file; SegmentTemplate with $RepresentationID$ and $Number$.
 * One BaseURL per ranked edge, each `<edge>/s/<jwt>/<title>/` so relative segment URLs inherit
 * the token; a ContentSteering element whose URL names those pathways; for encrypted titles
 * mp4protection + ClearKey ContentProtection with the licence URL; skip-intro/credits as an
 * EventStream.
 * See docs/manifests.md for the shape and the reasons.
 *
 * I/O-free and allocation-bounded: output larger than MPD_OUT_MAX fails with -E2BIG.
 * Every string from the caller or the asset is XML-escaped.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "asset.h"
#include "buf.h"

#define MPD_OUT_MAX     (16u << 20)
#define MPD_EDGES_MAX   16
#define MPD_MARKERS_MAX 16

/* One edge, in rank order (best first). All strings borrowed. */
struct mpd_edge {
        const char *service_location; /* pathway id, e.g. "edge-a"; [A-Za-z0-9._-], as it also
                                       * goes into the steering URL's query */
        const char *base_url;         /* "https://edge-a.example:8443" (a trailing / is fine) */
        const char *token;            /* JWT for /s/<token>/, or NULL for no token */
};

/* A marker on the title's timeline (skip intro, credits), in seconds. */
struct mpd_marker {
        const char *kind; /* "intro", "credits", ... (becomes the event's value) */
        double start;
        double duration;
};

struct mpd_params {
        const struct asset *asset;
        const char *title_path; /* path segment(s) of the title on the edges; NULL: asset->title */
        const struct mpd_edge *edges; /* ranked; at least one, at most MPD_EDGES_MAX */
        size_t n_edges;
        /* Absolute URL for <ContentSteering>, or NULL for none; the MPD appends
         * STEERING_MANIFEST_ARG=<each edge's service_location, comma-separated>. */
        const char *steering_url;
        bool steering_query_before_start; /* queryBeforeStart="true" */
        const char *license_url;          /* ClearKey licence URL; required when asset->encrypted */
        const struct mpd_marker *markers; /* may be NULL */
        size_t n_markers;
        bool segment_timeline;      /* SegmentTimeline from asset segments instead of @duration */
        unsigned min_buffer_time_s; /* 0: 2 s */
};

/*
 * mpd_build: render the MPD. On success *ret is a NUL-terminated malloc'd string (caller
 * frees) and *ret_len its length. Returns 0; -EINVAL bad params (no edges, too many, an
 * encrypted asset without license_url, an asset without video); -E2BIG over MPD_OUT_MAX;
 * -ENOMEM.
 */
int mpd_build(const struct mpd_params *p, char **ret, size_t *ret_len);

/*
 * Growable, bounded text buffer shared by the manifest builders (mpd.c, hls.c).
 * Functions return 0 or -E2BIG (over max) / -ENOMEM; after a failure further appends are
 * no-ops returning the same error, so a builder may check once at the end.
 */
struct mpd_buf {
        struct buf b; /* common/buf.h; its -ENOBUFS is this API's -E2BIG */
};

/* mpd_buf_init: empty buffer that may grow to max bytes. No allocation until the first append. */
void mpd_buf_init(struct mpd_buf *b, size_t max);
/* mpd_buf_done: free the data. */
void mpd_buf_done(struct mpd_buf *b);
/* mpd_buf_reserve: make room for n more bytes (and the NUL) now. Returns 0 or the error. */
int mpd_buf_reserve(struct mpd_buf *b, size_t n);
int mpd_buf_append(struct mpd_buf *b, const char *s, size_t n);
int mpd_buf_puts(struct mpd_buf *b, const char *s);
int mpd_buf_printf(struct mpd_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* mpd_buf_xml_escape: append s with & < > " ' escaped (attribute- and text-safe). */
int mpd_buf_xml_escape(struct mpd_buf *b, const char *s);
/*
 * mpd_buf_steal: hand the NUL-terminated data to the caller (*ret, *ret_len) and reset b.
 * Returns b's error if any append failed (nothing handed over then), else 0.
 */
int mpd_buf_steal(struct mpd_buf *b, char **ret, size_t *ret_len);

/*
 * mpd_duration_format: ISO 8601 duration "PT#H#M#.###S" for seconds >= 0 into out (cap bytes).
 * Returns the length or -ENOBUFS.
 */
int mpd_duration_format(double seconds, char *out, size_t cap);
