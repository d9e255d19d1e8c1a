/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * asset.json reader: what sluice-ingest wrote about a title (docs/ingest.md, "asset.json"),
 * turned into a plain struct the manifest builders (mpd.c, hls.c) and the fill planner read.
 * I/O-free: the caller hands over the bytes (from the registration body or the database).
 *
 * Limits (input is operator-supplied but still untrusted): ASSET_JSON_MAX bytes, nesting
 * ASSET_DEPTH_MAX, ASSET_REPS_MAX representations, ASSET_TEXTS_MAX subtitle tracks,
 * ASSET_SEGMENTS_MAX segments per representation, ASSET_FILES_MAX files. Strings that end up
 * in URLs or XML (ids, paths, languages, codecs) are checked against a conservative character
 * set, so a manifest never carries markup or path tricks from an asset.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define ASSET_JSON_MAX     (32u << 20)
#define ASSET_DEPTH_MAX    8
#define ASSET_REPS_MAX     64
#define ASSET_TEXTS_MAX    64
#define ASSET_SEGMENTS_MAX 65536 /* 72 h of 4 s segments */
#define ASSET_FILES_MAX    (1u << 20)
/* title and representation ids, incl. NUL; the schema holds asset ids to the same 63 bytes
 * (026_asset_id_length.sql) */
#define ASSET_ID_MAX       64
#define ASSET_PATH_MAX     256 /* a file path relative to the title, incl. NUL */
#define ASSET_LANG_MAX     36  /* BCP 47 tag, incl. NUL */
#define ASSET_CODEC_MAX    64  /* RFC 6381 codecs string, incl. NUL */
#define ASSET_MIME_MAX     32

enum asset_kind {
        ASSET_VIDEO,
        ASSET_AUDIO,
};

/* One segment, in the representation's timescale. */
struct asset_segment {
        uint64_t t;
        uint64_t d;
};

struct asset_rep {
        char id[ASSET_ID_MAX]; /* also the directory name on the origin */
        enum asset_kind kind;
        char mime_type[ASSET_MIME_MAX]; /* "video/mp4" / "audio/mp4" */
        char codec[ASSET_CODEC_MAX];    /* "avc1.64001f", "mp4a.40.2" */
        uint64_t bandwidth;             /* bit/s, > 0 */
        uint64_t average_bitrate;       /* bit/s, <= bandwidth; 0 when not given */
        uint32_t width, height;         /* video only, else 0 */
        uint32_t fps_num, fps_den;      /* video only ("25/1"); 0/0 when absent */
        char lang[ASSET_LANG_MAX];      /* audio only; "und" when absent */
        uint32_t sample_rate, channels; /* audio only, else 0 */
        uint32_t timescale;             /* > 0 */
        uint32_t start_number;          /* first segment number (1) */
        uint32_t segment_count;         /* == n_segments when segments were listed */
        uint32_t segment_duration;      /* nominal, seconds, > 0 */
        struct asset_segment *segments; /* may be NULL (n_segments 0) */
        size_t n_segments;
};

/* A subtitle track: one WebVTT file for the whole title. */
struct asset_text {
        char id[ASSET_ID_MAX];
        char lang[ASSET_LANG_MAX];
        char path[ASSET_PATH_MAX];      /* "text-en/subtitles.vtt", relative to the title */
        char mime_type[ASSET_MIME_MAX]; /* "text/vtt" */
};

struct asset_file {
        char path[ASSET_PATH_MAX];
        uint64_t size;
        uint8_t sha256[32];
};

struct asset {
        unsigned version; /* 1 */
        char title[ASSET_ID_MAX];
        double duration;           /* seconds, > 0 */
        uint32_t segment_duration; /* nominal, seconds */
        uint32_t segment_count;    /* of the video representations */
        bool encrypted;
        uint8_t kid[16];        /* default_KID when encrypted */
        unsigned iv_size;       /* 8 or 16 when encrypted */
        struct asset_rep *reps; /* file order; video and audio mixed */
        size_t n_reps;
        struct asset_text *texts;
        size_t n_texts;
        struct asset_file *files;
        size_t n_files;
};

/*
 * asset_json_parse: parse asset.json from buf[0..len) (need not be NUL-terminated).
 * On success *ret is a new asset the caller frees with asset_free(). On failure a one-line
 * reason (JSON path and problem) is written to err (errlen bytes; err may be NULL).
 * Returns 0; -E2BIG input over ASSET_JSON_MAX or a count over its limit; -EBADMSG not JSON,
 * too deep, or a field missing/wrong; -ENOTSUP unknown "version"; -ENOMEM.
 */
int asset_json_parse(const char *buf, size_t len, struct asset **ret, char *err, size_t errlen);

/*
 * asset_json_load: the same from an already parsed JSON value (e.g. the "asset" member of the
 * registration body; the caller bounds that body's size and depth). Borrows root.
 */
int asset_json_load(const json_t *root, struct asset **ret, char *err, size_t errlen);

/* asset_free: free an asset from asset_json_parse/load. Accepts NULL. */
void asset_free(struct asset *a);

/* asset_rep_find / asset_text_find: by id, or NULL. Borrowed pointers into a. */
const struct asset_rep *asset_rep_find(const struct asset *a, const char *id);
const struct asset_text *asset_text_find(const struct asset *a, const char *id);

/* asset_file_find: by path relative to the title (binary search; files are sorted on load). */
const struct asset_file *asset_file_find(const struct asset *a, const char *path);

/*
 * asset_kid_hex: the KID as 32 lowercase hex digits; asset_kid_uuid: as the 8-4-4-4-12 UUID
 * form cenc:default_KID uses. out must hold 33 / 37 bytes. Return out.
 */
char *asset_kid_hex(const uint8_t kid[16], char out[33]);
char *asset_kid_uuid(const uint8_t kid[16], char out[37]);
