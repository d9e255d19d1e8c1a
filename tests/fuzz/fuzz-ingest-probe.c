/* SPDX-License-Identifier: MIT */
/*
 * Fuzz sluice-ingest's reading of ffprobe's JSON about a source (what the file claims, so
 * untrusted). Whatever the input, a parse either fails with a NUL-terminated message or
 * gives a source inside probe.h's bounds, and every rung's width computed from it is even,
 * positive and no wider than the frame the encoder is told to draw.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Built in rather than linked, so libFuzzer's coverage instrumentation sees them. */
#include "../../tools/ingest/ladder.c"
#include "../../tools/ingest/lang.c"
#include "../../tools/ingest/probe.c"
#include "../../tools/ingest/util.c"

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct ladder_src s;
        char err[160];

        memset(&s, 0xa5, sizeof(s));
        s.path = NULL;
        if (probe_parse((const char *)data, size, &s, err, sizeof(err)) < 0) {
                CHECK(memchr(err, '\0', sizeof(err)) && err[0]);
                return 0;
        }
        CHECK(s.path == NULL);
        CHECK(s.width >= 1 && s.width <= PROBE_DIM_MAX && s.height >= 1 &&
              s.height <= PROBE_DIM_MAX);
        CHECK(isfinite(s.duration) && s.duration >= 1 && s.duration <= PROBE_DURATION_MAX);
        CHECK(s.fps_num >= 1 && s.fps_den >= 1 && s.fps_num <= 1000000 && s.fps_den <= 1000000);
        CHECK(s.sar_num >= 1 && s.sar_den >= 1 && s.sar_num <= s.sar_den * PROBE_SAR_MAX &&
              s.sar_den <= s.sar_num * PROBE_SAR_MAX);
        CHECK(s.n_audio <= LADDER_AUDIO_MAX);
        for (unsigned i = 0; i < s.n_audio; i++) {
                CHECK(memchr(s.audio_lang[i], '\0', sizeof(s.audio_lang[i])));
                CHECK(probe_lang_valid(s.audio_lang[i]) || !strcmp(s.audio_lang[i], "und"));
        }
        for (size_t i = 0; i < ladder_rungs_n; i++) {
                unsigned w = ladder_width_for(&s, ladder_rungs[i].height);
                /* the widest picture: PROBE_DIM_MAX pixels across each PROBE_SAR_MAX wide */
                double most = (double)ladder_rungs[i].height * PROBE_DIM_MAX * PROBE_SAR_MAX + 2;

                CHECK(w >= 2 && w % 2 == 0 && w <= most);
        }
        return 0;
}
