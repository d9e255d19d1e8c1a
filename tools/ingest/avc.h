/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Where an H.264 slice header ends (ISO/IEC 14496-10 7.3.3), so CENC leaves all of it clear:
 * its length depends on the stream's SPS and PPS (frame_num and POC widths, weighted
 * prediction) and on the slice itself (reference list changes, prediction weights, memory
 * management operations), and with x264's slower presets it runs past 32 bytes.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a slice header's syntax depends on, from one SPS and one PPS. */
struct avc_params {
        bool valid;
        uint8_t pps_id;
        uint8_t chroma_array_type;
        bool separate_colour_plane;
        uint8_t log2_max_frame_num;
        uint8_t poc_type;
        uint8_t log2_max_poc_lsb;
        bool delta_pic_order_always_zero;
        bool frame_mbs_only;
        bool cabac;
        bool bottom_field_pic_order;
        uint8_t ref_idx_l0, ref_idx_l1; /* num_ref_idx_lX_default_active */
        bool weighted_pred;
        uint8_t weighted_bipred_idc;
        bool deblocking_control;
        bool redundant_pic_cnt;
};

/*
 * avc_params_parse: read an SPS and a PPS NAL unit (header byte first, as in avcC). Returns
 * 0 with *ret valid, -EBADMSG (malformed) or -ENOTSUP (slice groups, or a PPS of another SPS).
 */
int avc_params_parse(const uint8_t *sps, size_t sps_len, const uint8_t *pps, size_t pps_len,
                     struct avc_params *ret);

/*
 * avc_slice_header_size: bytes of the coded slice NAL unit nal[0..len) (header byte first)
 * up to the first byte that holds only slice data, emulation prevention bytes counted.
 * Returns that size, -EBADMSG (malformed or past len) or -ENOTSUP (a PPS other than p's).
 */
int avc_slice_header_size(const uint8_t *nal, size_t len, const struct avc_params *p);
