/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Common Encryption (ISO/IEC 23001-7), 'cenc' scheme (AES-128-CTR, 8-byte per-sample IVs),
 * applied to ffmpeg's clear fMP4 output. ffmpeg 5.1 can encrypt, but writes no per-sample IVs
 * players can use, so ingest rewrites the boxes itself:
 *
 *   init:    avc1/mp4a -> encv/enca, with sinf{frma, schm('cenc'), schi{tenc}}; no pssh
 *            (DRM signalling lives in the manifest: ClearKey with cenc:default_KID).
 *   segment: each traf gains saiz, saio and senc (IV plus clear/protected ranges per sample);
 *            video NAL units keep their length prefix, header and slice header in the clear;
 *            audio samples are encrypted whole; trun data_offset and sidx referenced_size
 *            grow by what the moof grew.
 */

#include <stddef.h>
#include <stdint.h>

#include "mp4-box.h"
#include "mp4-info.h"

#define CENC_IV_SIZE 8
/* Bytes of each video slice NAL unit (after its length prefix) left clear at least: the
 * one-byte header and the next 31; more when its slice header runs longer (avc.h). */
#define CENC_VCL_CLEAR 32

struct cenc_key {
        uint8_t key[16];
        uint8_t kid[16];
};

/*
 * cenc_key_generate: a fresh random key and KID from OpenSSL's RAND_bytes.
 * Returns 0 or -EIO when the RNG fails.
 */
int cenc_key_generate(struct cenc_key *ret);

/*
 * cenc_init_rewrite: the encrypted form of a clear init segment in[0..len), appended to out.
 * Returns 0, -EBADMSG (malformed), -ENOTSUP (codec we cannot protect), -EEXIST (already
 * protected), -ENOMEM.
 */
int cenc_init_rewrite(const uint8_t *in, size_t len, const struct cenc_key *k, struct mp4_buf *out);

/*
 * cenc_segment_rewrite: the encrypted form of a clear media segment in[0..len) of track t
 * (as described by the clear init segment), appended to out. IVs come from RAND_bytes.
 * Returns 0, -EBADMSG, -ENOTSUP (layouts ffmpeg does not write: several trafs, explicit
 * base offsets, an sidx that does not index the fragments), -EEXIST, -E2BIG (a sample
 * needing more subsamples than saiz can describe), -EIO (OpenSSL), -ENOMEM.
 */
int cenc_segment_rewrite(const uint8_t *in, size_t len, const struct mp4_track *t,
                         const struct cenc_key *k, struct mp4_buf *out);

/*
 * cenc_subsamples_split: split one AVC sample (length-prefixed NAL units of nal_len bytes) into
 * clear/protected pairs, as written to senc. With avc (valid, from the track's SPS and PPS)
 * each slice's whole header stays clear, else CENC_VCL_CLEAR bytes. At most max pairs go to
 * clear[]/prot[]. Returns the number of pairs, -EBADMSG if the NAL units overrun the sample
 * or a slice header cannot be read, -E2BIG past max.
 */
int cenc_subsamples_split(const uint8_t *s, size_t n, unsigned nal_len,
                          const struct avc_params *avc, uint16_t *clear, uint32_t *prot,
                          size_t max);
