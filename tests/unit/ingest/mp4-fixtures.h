/* SPDX-License-Identifier: MIT */
#pragma once

/* Hand-built fMP4 boxes for the ingest unit tests: init segments and media segments shaped
 * like ffmpeg's dash muxer output. */

#include <stdlib.h>
#include <string.h>

#include "mp4-box.h"

/* Append a box header + payload to b; returns the offset of the box. */
static inline size_t put_box(struct mp4_buf *b, const char *type, const void *payload, size_t len)
{
        uint8_t h[8];
        size_t at = b->len;
        mp4_wr32(h, (uint32_t)(8 + len));
        memcpy(h + 4, type, 4);
        (void)mp4_buf_append(b, h, 8);
        (void)mp4_buf_append(b, payload, len);
        return at;
}

/* Wrap b's bytes from 'from' on into a container box of type. */
static inline void wrap(struct mp4_buf *b, size_t from, const char *type)
{
        size_t inner = b->len - from;
        uint8_t h[8];
        mp4_wr32(h, (uint32_t)(8 + inner));
        memcpy(h + 4, type, 4);
        (void)mp4_buf_append(b, h, 8);
        memmove(b->p + from + 8, b->p + from, inner);
        memcpy(b->p + from, h, 8);
}

/* A minimal single-track init segment: AVC or AAC. */
static inline void make_init(struct mp4_buf *b, int video)
{
        uint8_t mdhd[24] = {0}, hdlr[24] = {0}, tkhd[84] = {0}, trex[24] = {0};
        mp4_wr32(tkhd + 12, 1); /* track_ID */
        mp4_wr32(mdhd + 12, video ? 12800 : 48000);
        memcpy(hdlr + 8, video ? "vide" : "soun", 4);
        mp4_wr32(trex + 4, 1);
        mp4_wr32(trex + 8, 1);
        mp4_wr32(trex + 12, video ? 512 : 1024);
        put_box(b, "ftyp", "iso6\0\0\0\0", 8);
        size_t moov = b->len;
        size_t trak = b->len;
        put_box(b, "tkhd", tkhd, sizeof(tkhd));
        size_t mdia = b->len;
        put_box(b, "mdhd", mdhd, sizeof(mdhd));
        put_box(b, "hdlr", hdlr, sizeof(hdlr));
        size_t minf = b->len;
        size_t stbl = b->len;
        size_t stsd = b->len;
        uint8_t stsd_hdr[8] = {0, 0, 0, 0, 0, 0, 0, 1};
        (void)mp4_buf_append(b, stsd_hdr, 8);
        size_t entry = b->len;
        if (video) {
                uint8_t ve[78] = {0};
                mp4_wr16(ve + 6, 1);
                mp4_wr16(ve + 24, 640);
                mp4_wr16(ve + 26, 360);
                (void)mp4_buf_append(b, ve, sizeof(ve));
                /* avcC: version, profile/compat/level, 4-byte lengths, one SPS, one PPS */
                uint8_t avcc[] = {1,    0x64, 0,    0x1f, 0xff, 0xe1, 0,    4,   0x67,
                                  0x64, 0x00, 0x1f, 1,    0,    2,    0x68, 0xce};
                put_box(b, "avcC", avcc, sizeof(avcc));
                wrap(b, entry, "avc1");
        } else {
                uint8_t ae[28] = {0};
                mp4_wr16(ae + 6, 1);
                mp4_wr16(ae + 16, 2);
                mp4_wr16(ae + 18, 16);
                mp4_wr32(ae + 24, 48000u << 16);
                (void)mp4_buf_append(b, ae, sizeof(ae));
                /* ES_Descriptor{DecoderConfig{oti 0x40, DecSpecificInfo: AAC-LC 48k stereo}} */
                uint8_t esds[] = {0,    0,    0,    0, 0x03, 25,   0,    1,    0, 0x04, 17,
                                  0x40, 0x15, 0,    0, 0,    0,    1,    0xf4, 0, 0,    1,
                                  0xf4, 0,    0x05, 2, 0x11, 0x90, 0x06, 1,    2};
                put_box(b, "esds", esds, sizeof(esds));
                wrap(b, entry, "mp4a");
        }
        wrap(b, stsd, "stsd");
        wrap(b, stbl, "stbl");
        wrap(b, minf, "minf");
        wrap(b, mdia, "mdia");
        wrap(b, trak, "trak");
        size_t mvex = b->len;
        put_box(b, "trex", trex, sizeof(trex));
        wrap(b, mvex, "mvex");
        wrap(b, moov, "moov");
}

/*
 * A media segment: styp, sidx (one reference), one moof with n samples of the given sizes
 * and mdat holding the sample bytes from data. Sample 0 is a sync sample.
 */
static inline void make_segment(struct mp4_buf *b, const uint32_t *sizes, size_t n,
                                const uint8_t *data, uint64_t base_time)
{
        size_t total = 0;
        for (size_t i = 0; i < n; i++)
                total += sizes[i];
        put_box(b, "styp", "msdh\0\0\0\0msdh", 12);
        uint8_t sidx[32 + 12] = {0};
        sidx[0] = 1;
        mp4_wr32(sidx + 4, 1);
        mp4_wr32(sidx + 8, 12800);
        mp4_wr16(sidx + 30, 1);
        size_t sidx_at = put_box(b, "sidx", sidx, sizeof(sidx));
        size_t moof = b->len;
        uint8_t mfhd[8] = {0, 0, 0, 0, 0, 0, 0, 1};
        put_box(b, "mfhd", mfhd, sizeof(mfhd));
        size_t traf = b->len;
        uint8_t tfhd[16] = {0, 0x02, 0, 0x08};
        mp4_wr32(tfhd + 4, 1);
        mp4_wr32(tfhd + 8, 512);
        put_box(b, "tfhd", tfhd, 12);
        uint8_t tfdt[12] = {1};
        mp4_wr64(tfdt + 4, base_time);
        put_box(b, "tfdt", tfdt, sizeof(tfdt));
        size_t trun_len = 16 + 8 * n;
        uint8_t *trun = calloc(1, trun_len);
        mp4_wr32(trun, 0x000605); /* data offset, first sample flags, size, flags */
        mp4_wr32(trun + 4, (uint32_t)n);
        mp4_wr32(trun + 12, 0x02000000);
        for (size_t i = 0; i < n; i++) {
                mp4_wr32(trun + 16 + 8 * i, sizes[i]);
                mp4_wr32(trun + 20 + 8 * i, 0x01010000);
        }
        size_t trun_at = put_box(b, "trun", trun, trun_len);
        free(trun);
        wrap(b, traf, "traf");
        trun_at += 8;
        wrap(b, moof, "moof");
        trun_at += 8;
        size_t moof_size = b->len - moof;
        mp4_wr32(b->p + trun_at + 8 + 8, (uint32_t)(moof_size + 8));
        put_box(b, "mdat", data, total);
        mp4_wr32(b->p + sidx_at + 8 + 32, (uint32_t)(b->len - moof));
        mp4_wr32(b->p + sidx_at + 8 + 36, (uint32_t)(n * 512));
}
