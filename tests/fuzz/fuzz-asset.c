/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the asset.json reader, and feed whatever it accepts to the MPD and HLS builders.
 * Aborts when an accepted asset breaks the reader's promises (counts within limits, strings
 * NUL-terminated, files sorted, segment timelines ordered) or a manifest comes out with a
 * length that disagrees with its text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "asset.h"
#include "hls.h"
#include "mpd.h"

#include "fuzz.h"

static void check_asset(const struct asset *a)
{
        CHECK(a->n_reps >= 1 && a->n_reps <= ASSET_REPS_MAX);
        CHECK(a->n_texts <= ASSET_TEXTS_MAX && a->n_files <= ASSET_FILES_MAX);
        CHECK(memchr(a->title, 0, sizeof(a->title)) && a->title[0]);
        for (size_t i = 0; i < a->n_reps; i++) {
                const struct asset_rep *r = &a->reps[i];
                CHECK(memchr(r->id, 0, sizeof(r->id)) && memchr(r->codec, 0, sizeof(r->codec)));
                CHECK(r->timescale > 0 && r->bandwidth > 0 && r->segment_duration > 0);
                CHECK(r->n_segments == 0 || r->n_segments == r->segment_count);
                for (size_t s = 1; s < r->n_segments; s++)
                        CHECK(r->segments[s].t >= r->segments[s - 1].t + r->segments[s - 1].d);
                CHECK(asset_rep_find(a, r->id) == r);
        }
        for (size_t i = 1; i < a->n_files; i++)
                CHECK(strcmp(a->files[i - 1].path, a->files[i].path) < 0);
        for (size_t i = 0; i < a->n_files; i++)
                CHECK(asset_file_find(a, a->files[i].path) == &a->files[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct asset *a = NULL;
        char err[256];
        if (asset_json_parse((const char *)data, size, &a, err, sizeof(err)) < 0) {
                CHECK(a == NULL);
                CHECK(memchr(err, 0, sizeof(err)));
                return 0;
        }
        check_asset(a);

        struct mpd_edge e = {.service_location = "edge-a", .base_url = "https://e", .token = "t"};
        struct mpd_params p = {.asset = a,
                               .edges = &e,
                               .n_edges = 1,
                               .steering_url = "https://c/s",
                               .license_url = "https://c/l",
                               .segment_timeline = size & 1};
        char *out = NULL;
        size_t len = 0;
        if (mpd_build(&p, &out, &len) == 0) {
                CHECK(strlen(out) == len);
                CHECK(strstr(out, "</MPD>\n") != NULL);
                free(out);
        }
        struct hls_params h = {.asset = a, .media_base_url = "https://e/s/t/x/"};
        if (hls_master_build(&h, &out, &len) == 0) {
                CHECK(strlen(out) == len);
                free(out);
        }
        if (hls_media_build(&h, a->reps[0].id, &out, &len) == 0) {
                CHECK(strlen(out) == len && strstr(out, "#EXT-X-ENDLIST\n"));
                free(out);
        }
        asset_free(a);
        return 0;
}
