/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the ISO BMFF box parser and everything in ingest that trusts its output: track and
 * fragment inspection and the CENC rewrite. Inputs are init or media segments.
 */
#include <stdint.h>
#include <stdlib.h>

#include "cenc.h"
#include "mp4-box.h"
#include "mp4-info.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static const struct cenc_key key = {{1, 2, 3}, {4, 5, 6}};
        struct mp4_box *root = NULL, *again = NULL;
        struct mp4_buf out = {0};
        struct mp4_track t;

        if (mp4_box_parse(data, size, &root) == 0) {
                /* what we write must parse again, at the size we computed */
                if (mp4_box_write(root, &out) != 0 || out.len != mp4_box_size(root) ||
                    mp4_box_parse(out.p, out.len, &again) != 0)
                        abort();
                mp4_box_free(again);
                mp4_box_free(root);
                mp4_buf_done(&out);
        }

        if (mp4_info_track_parse(data, size, &t) == 0) {
                (void)cenc_init_rewrite(data, size, &key, &out);
                mp4_buf_done(&out);
        }

        /* Media segments: an audio and a video track description, and a video one whose
         * slice headers are read (with every optional part of them present). */
        for (int kind = 0; kind <= 2; kind++) {
                struct mp4_track f = {.track_id = 1,
                                      .timescale = 12800,
                                      .trex_duration = 512,
                                      .nal_length_size = kind ? 4 : 0};
                if (kind == 2)
                        f.avc = (struct avc_params){.valid = true,
                                                    .chroma_array_type = 1,
                                                    .log2_max_frame_num = 4,
                                                    .log2_max_poc_lsb = 6,
                                                    .cabac = true,
                                                    .bottom_field_pic_order = true,
                                                    .ref_idx_l0 = 2,
                                                    .ref_idx_l1 = 2,
                                                    .weighted_pred = true,
                                                    .weighted_bipred_idc = 1,
                                                    .deblocking_control = true,
                                                    .redundant_pic_cnt = true};
                uint64_t start, dur;
                int sync;
                (void)mp4_info_segment_timing(data, size, &f, &start, &dur, &sync);
                if (cenc_segment_rewrite(data, size, &f, &key, &out) == 0) {
                        /* the encrypted segment must still describe the same fragments */
                        if (mp4_box_parse(out.p, out.len, &again) != 0)
                                abort();
                        mp4_box_free(again);
                }
                mp4_buf_done(&out);
        }
        return 0;
}
