/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Title metadata for registration (--metadata FILE): what control's admin API takes beside
 * the asset and the key — "metadata" (name, synopsis, year, maturity_rating, genres, cast),
 * "series" (id, name, season, episode, episode_name, episode_synopsis) and "markers"
 * (intro/credits start and end). The file is YAML; JSON, being YAML's flow style, is read
 * by the same loader (common/cfg.h: bounded size, depth and scalars, no aliases, unknown
 * keys refused). Values are checked here against what control stores, so a bad file is
 * refused before an encode, with "file:line:col: message".
 */

#include <stddef.h>

#include <jansson.h>

/* Bounds beyond cfg's own (4096-byte scalars, 1 MiB file). Control stores at most these. */
#define METADATA_NAME_MAX   500 /* title, series and episode names */
#define METADATA_PERSON_MAX 300 /* a cast member's name */
#define METADATA_RATING_MAX 32
#define METADATA_GENRE_MAX  64 /* bytes per genre */
#define METADATA_GENRES_MAX 32
#define METADATA_CAST_MAX   200
#define METADATA_NUMBER_MAX 100000   /* season and episode numbers */
#define METADATA_MARKER_MAX 864000.0 /* seconds: ten days */

/*
 * metadata_buf_parse: read buf (len bytes; name is used in messages) into a JSON object
 * holding the members present among "metadata", "series" and "markers", each only with the
 * fields the document gives (control keeps what is not sent). Returns 0 with *ret the
 * caller's (json_decref), -EINVAL with "name:line:col: message" in err (size errlen), or
 * -ENOMEM.
 */
int metadata_buf_parse(const char *name, const char *buf, size_t len, json_t **ret, char *err,
                       size_t errlen);

/*
 * metadata_file_load: metadata_buf_parse of the file at path. Returns as it does, or -errno
 * (-EFBIG past 1 MiB) with "path: reason" in err.
 */
int metadata_file_load(const char *path, json_t **ret, char *err, size_t errlen);

/*
 * metadata_markers_check: whether every marker in meta (from metadata_buf_parse; NULL has
 * none) ends by duration seconds, as control requires of a title's markers. what names the
 * duration ("the source's"). Returns 0, or -ERANGE with "markers.intro: end 500 is past the
 * source's duration (1 s)" in err (size errlen).
 */
int metadata_markers_check(const json_t *meta, double duration, const char *what, char *err,
                           size_t errlen);
