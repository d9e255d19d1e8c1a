/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "mpd.h"

/*
 * MPD templates per asset: most of an MPD — the Period with every AdaptationSet and
 * Representation, the header, the markers — depends on the asset alone, yet mpd_build()
 * renders it for each manifest request. This keeps, per (asset id, version), the output of
 * mpd_build() for the same parameters with the per-request strings replaced by markers: each
 * edge's pathway, base URL and token (the BaseURL line is repeated per edge), the session id
 * inside the steering and licence URLs and the list of pathways the steering URL ends with. A request then copies the template and writes its
 * own strings, escaped as mpd_build() escapes them: the same bytes, a fraction of the work.
 *
 * A template is a pure function of its key (asset version, markers, flags, the steering and
 * licence URLs with the session id taken out), so it never goes stale: a re-registered asset
 * has a new version, a SIGHUP that moves public_url changes the key. Several instances each
 * keep their own; there is nothing to share or expire. Direct-mapped, MPD_CACHE_SLOTS
 * entries, a colliding asset replaces the older. Loop thread only.
 */

#define MPD_CACHE_SLOTS 64

struct mpd_cache;

/* Start-up: an empty cache. Returns 0 or -ENOMEM. */
int mpd_cache_new(struct mpd_cache **ret);
void mpd_cache_free(struct mpd_cache *c);

/*
 * mpd_build(p) for asset (id, version) and session sid: every occurrence of sid in
 * p->steering_url and p->license_url is per request, as is every edge's strings; all edges
 * must carry the same token. Same return and ownership as mpd_build(). Falls back to
 * mpd_build() (uncached) for what a template cannot express: no token, a marker kind longer
 * than 31 bytes, inputs holding the marker byte 0xff.
 */
int mpd_cache_build(struct mpd_cache *c, const struct mpd_params *p, const char *asset_id,
                    int64_t version, const char *sid, char **ret, size_t *ret_len);
