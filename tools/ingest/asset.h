/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * asset.json: what the control plane (manifests, catalog) and the fill agent (verification)
 * know about a title. Built by reading back the finished files, so it describes what is on
 * disk rather than what ingest meant to write.
 */

#include <stdint.h>

#include <jansson.h>

#include "cenc.h"
#include "ladder.h"

#define ASSET_VERSION 1
/* Largest file read whole while building the asset (a 4 s 2160p segment is ~13 MB). */
#define ASSET_FILE_MAX (256u << 20)
/* Seconds a rendition may end before the source's probed duration (streams that end a few
 * frames apart); one that ends sooner was cut short, and the title is refused. */
#define ASSET_SHORT_MAX 1.0

/*
 * asset_file_sha256: SHA-256 and size of a file. Returns 0 or -errno (-EIO for OpenSSL).
 */
int asset_file_sha256(const char *path, uint8_t ret_digest[32], uint64_t *ret_size);

/*
 * asset_json_build: describe the title laid out under dir (one subdirectory per job).
 * Checks what players rely on: every segment of a video rendition starts with a keyframe,
 * segment n starts at the same time in every video rendition, and every rendition runs to
 * within ASSET_SHORT_MAX of src->duration. The "duration" written is src->duration, or the
 * end of the rendition that ends first when that is sooner (to the millisecond, down), so the
 * presentation never runs past the media of any rendition.
 * kid is the key ID when the title is encrypted, else NULL. On failure a message goes to
 * err (size errlen). Returns 0, -EBADMSG (a check failed) or -errno; *ret is the caller's.
 */
int asset_json_build(const char *dir, const char *title, const struct ladder_job *jobs,
                     size_t n_jobs, const struct ladder_src *src, const uint8_t *kid, json_t **ret,
                     char *err, size_t errlen);
