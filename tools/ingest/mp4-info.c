/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mp4-info.h"

#define T(s) MP4_FOURCC(s[0], s[1], s[2], s[3])

/* MPEG-4 descriptor length: up to four bytes, seven bits each. */
static int desc_len(const uint8_t *p, size_t avail, size_t *ret_len, size_t *ret_hdr)
{
        size_t n = 0;
        for (size_t i = 0; i < 4; i++) {
                if (i >= avail)
                        return -EBADMSG;
                n = n << 7 | (p[i] & 0x7f);
                if (!(p[i] & 0x80)) {
                        *ret_len = n;
                        *ret_hdr = i + 1;
                        return 0;
                }
        }
        return -EBADMSG;
}

/* esds -> "mp4a.<oti>.<audio object type>" */
static int esds_codec(const struct mp4_box *esds, char *out, size_t outlen)
{
        const uint8_t *p = esds->data;
        size_t n = esds->data_len, len, hdr;
        if (n < 4 + 2)
                return -EBADMSG;
        p += 4, n -= 4;
        if (p[0] != 0x03 || desc_len(p + 1, n - 1, &len, &hdr) < 0)
                return -EBADMSG;
        p += 1 + hdr, n -= 1 + hdr;
        if (n < 3)
                return -EBADMSG;
        uint8_t fl = p[2];
        size_t skip = 3 + (fl & 0x80 ? 2 : 0) + (fl & 0x20 ? 2 : 0);
        if (fl & 0x40) {
                if (n < skip + 1)
                        return -EBADMSG;
                skip += 1 + p[skip];
        }
        if (n < skip + 2)
                return -EBADMSG;
        p += skip, n -= skip;
        if (p[0] != 0x04 || desc_len(p + 1, n - 1, &len, &hdr) < 0)
                return -EBADMSG;
        p += 1 + hdr, n -= 1 + hdr;
        if (n < 13)
                return -EBADMSG;
        uint8_t oti = p[0];
        unsigned aot = 0;
        p += 13, n -= 13;
        if (n >= 3 && p[0] == 0x05 && desc_len(p + 1, n - 1, &len, &hdr) == 0 && len >= 1 &&
            n >= 1 + hdr + 1) {
                const uint8_t *asc = p + 1 + hdr;
                aot = asc[0] >> 3;
                if (aot == 31 && len >= 2 && n >= 1 + hdr + 2)
                        aot = 32 + (((asc[0] & 7u) << 3) | (asc[1] >> 5));
        }
        if (aot)
                snprintf(out, outlen, "mp4a.%02x.%u", oti, aot);
        else
                snprintf(out, outlen, "mp4a.%02x", oti);
        return 0;
}

/* avcC's first SPS and first PPS, as the slice headers' lengths need them; left invalid
 * when they cannot be read (CENC then keeps its fixed clear part of each slice). */
static void avcc_params(const uint8_t *p, size_t n, struct avc_params *ret)
{
        size_t off = 6, sps_len = 0, pps_len = 0;
        const uint8_t *sps = NULL, *pps = NULL;
        unsigned nsps = p[5] & 0x1fu;
        for (unsigned i = 0; i < nsps; i++) {
                if (n < off + 2 || n < off + 2 + mp4_rd16(p + off))
                        return;
                if (!sps) {
                        sps = p + off + 2;
                        sps_len = mp4_rd16(p + off);
                }
                off += 2 + (size_t)mp4_rd16(p + off);
        }
        if (n < off + 3 || p[off] == 0 || n < off + 3 + mp4_rd16(p + off + 1))
                return;
        pps = p + off + 3;
        pps_len = mp4_rd16(p + off + 1);
        (void)avc_params_parse(sps, sps_len, pps, pps_len, ret);
}

/*
 * avcC -> "avc1.PPCCLL" read from the first SPS itself (profile_idc, constraint flags,
 * level_idc follow the one-byte NAL header), and the NAL length size.
 */
static int avcc_codec(const struct mp4_box *avcc, uint32_t entry, char *out, size_t outlen,
                      unsigned *ret_nal_len)
{
        const uint8_t *p = avcc->data;
        size_t n = avcc->data_len;
        char fcc[5];
        if (n < 7 || p[0] != 1)
                return -EBADMSG;
        *ret_nal_len = (p[4] & 3u) + 1;
        if (*ret_nal_len == 3)
                return -EBADMSG;
        unsigned nsps = p[5] & 0x1fu;
        if (nsps == 0)
                return -EBADMSG;
        size_t sps_len = mp4_rd16(p + 6);
        if (sps_len < 4 || n < 8 + sps_len)
                return -EBADMSG;
        const uint8_t *sps = p + 8;
        if ((sps[0] & 0x1f) != 7)
                return -EBADMSG;
        (void)mp4_fourcc_str(entry, fcc);
        snprintf(out, outlen, "%s.%02x%02x%02x", fcc, sps[1], sps[2], sps[3]);
        return 0;
}

int mp4_info_track_parse(const uint8_t *buf, size_t len, struct mp4_track *ret)
{
        struct mp4_box *root = NULL;
        struct mp4_track t = {0};
        int r = mp4_box_parse(buf, len, &root);
        if (r < 0)
                return r;
        struct mp4_box *moov = mp4_box_child_find(root, T("moov"));
        r = -EBADMSG;
        if (!moov)
                goto out;
        size_t ntrak = 0;
        for (size_t i = 0; i < moov->n_kids; i++)
                ntrak += moov->kids[i]->type == T("trak");
        if (ntrak != 1) {
                r = ntrak ? -ENOTSUP : -EBADMSG;
                goto out;
        }
        struct mp4_box *tkhd = mp4_box_path_find(moov, "trak/tkhd");
        struct mp4_box *mdhd = mp4_box_path_find(moov, "trak/mdia/mdhd");
        struct mp4_box *hdlr = mp4_box_path_find(moov, "trak/mdia/hdlr");
        struct mp4_box *stsd = mp4_box_path_find(moov, "trak/mdia/minf/stbl/stsd");
        if (!tkhd || !mdhd || !hdlr || !stsd || stsd->n_kids < 1)
                goto out;
        if (tkhd->data_len < 4 || hdlr->data_len < 12 || mdhd->data_len < 4)
                goto out;
        unsigned v = tkhd->data[0];
        if (tkhd->data_len < (v == 1 ? 24u : 16u))
                goto out;
        t.track_id = mp4_rd32(tkhd->data + (v == 1 ? 20 : 12));
        t.handler = mp4_rd32(hdlr->data + 8);
        v = mdhd->data[0];
        if (mdhd->data_len < (v == 1 ? 24u : 16u))
                goto out;
        t.timescale = mp4_rd32(mdhd->data + (v == 1 ? 20 : 12));
        if (t.timescale == 0)
                goto out;

        struct mp4_box *entry = stsd->kids[0];
        t.entry_type = entry->type;
        uint32_t orig = entry->type;
        struct mp4_box *frma = mp4_box_path_find(entry, "sinf/frma");
        if (frma && frma->data_len >= 4)
                orig = mp4_rd32(frma->data);
        if (orig == T("avc1") || orig == T("avc3")) {
                struct mp4_box *avcc = mp4_box_child_find(entry, T("avcC"));
                if (!avcc || !entry->is_container || entry->data_len < 78)
                        goto out;
                t.width = mp4_rd16(entry->data + 24);
                t.height = mp4_rd16(entry->data + 26);
                r = avcc_codec(avcc, orig, t.codec, sizeof(t.codec), &t.nal_length_size);
                if (r < 0)
                        goto out;
                avcc_params(avcc->data, avcc->data_len, &t.avc);
        } else if (orig == T("mp4a")) {
                struct mp4_box *esds = mp4_box_child_find(entry, T("esds"));
                if (!esds || !entry->is_container || entry->data_len < 28)
                        goto out;
                t.channels = mp4_rd16(entry->data + 16);
                t.sample_rate = mp4_rd32(entry->data + 24) >> 16;
                r = esds_codec(esds, t.codec, sizeof(t.codec));
                if (r < 0)
                        goto out;
        } else {
                r = -ENOTSUP;
                goto out;
        }

        struct mp4_box *mvex = mp4_box_child_find(moov, T("mvex"));
        for (size_t i = 0; mvex && i < mvex->n_kids; i++) {
                struct mp4_box *trex = mvex->kids[i];
                if (trex->type != T("trex") || trex->data_len < 24)
                        continue;
                if (mp4_rd32(trex->data + 4) != t.track_id)
                        continue;
                t.trex_duration = mp4_rd32(trex->data + 12);
                t.trex_size = mp4_rd32(trex->data + 16);
                t.trex_flags = mp4_rd32(trex->data + 20);
        }
        *ret = t;
        r = 0;
out:
        mp4_box_free(root);
        return r;
}

int mp4_info_frag_parse(const struct mp4_box *moof, size_t len, const struct mp4_track *t,
                        struct mp4_frag *ret)
{
        struct mp4_frag f = {0};
        struct mp4_box *traf = NULL;
        int r = -EBADMSG;
        for (size_t i = 0; i < moof->n_kids; i++) {
                if (moof->kids[i]->type != T("traf"))
                        continue;
                if (traf)
                        return -ENOTSUP;
                traf = moof->kids[i];
        }
        if (!traf)
                return -EBADMSG;
        struct mp4_box *tfhd = mp4_box_child_find(traf, T("tfhd"));
        struct mp4_box *tfdt = mp4_box_child_find(traf, T("tfdt"));
        if (!tfhd || tfhd->data_len < 8)
                return -EBADMSG;
        uint32_t fl = mp4_rd32(tfhd->data) & 0xffffffu;
        if (fl & MP4_TFHD_BASE_DATA_OFFSET)
                return -ENOTSUP;
        size_t need = 8 + (fl & MP4_TFHD_SDI ? 4 : 0) + (fl & MP4_TFHD_DURATION ? 4 : 0) +
                      (fl & MP4_TFHD_SIZE ? 4 : 0) + (fl & MP4_TFHD_FLAGS ? 4 : 0);
        if (tfhd->data_len < need)
                return -EBADMSG;
        const uint8_t *p = tfhd->data + 8 + (fl & MP4_TFHD_SDI ? 4 : 0);
        uint32_t def_dur = t->trex_duration, def_size = t->trex_size, def_flags = t->trex_flags;
        if (fl & MP4_TFHD_DURATION)
                def_dur = mp4_rd32(p), p += 4;
        if (fl & MP4_TFHD_SIZE)
                def_size = mp4_rd32(p), p += 4;
        if (fl & MP4_TFHD_FLAGS)
                def_flags = mp4_rd32(p);

        if (tfdt) {
                if (tfdt->data_len < 8)
                        return -EBADMSG;
                if (tfdt->data[0] == 1) {
                        if (tfdt->data_len < 12)
                                return -EBADMSG;
                        f.base_time = mp4_rd64(tfdt->data + 4);
                } else {
                        f.base_time = mp4_rd32(tfdt->data + 4);
                }
        }

        /* Without an explicit base, a single traf's data is relative to the moof. */
        uint64_t next = moof->offset;
        for (size_t k = 0; k < traf->n_kids; k++) {
                struct mp4_box *trun = traf->kids[k];
                if (trun->type != T("trun"))
                        continue;
                if (trun->data_len < 8)
                        goto bad;
                uint32_t tf = mp4_rd32(trun->data) & 0xffffffu;
                uint32_t count = mp4_rd32(trun->data + 4);
                size_t hdr =
                    8 + (tf & MP4_TRUN_DATA_OFFSET ? 4 : 0) + (tf & MP4_TRUN_FIRST_FLAGS ? 4 : 0);
                size_t per = (tf & MP4_TRUN_DURATION ? 4u : 0u) + (tf & MP4_TRUN_SIZE ? 4u : 0u) +
                             (tf & MP4_TRUN_FLAGS ? 4u : 0u) + (tf & MP4_TRUN_CTO ? 4u : 0u);
                if (trun->data_len < hdr || (per && count > (trun->data_len - hdr) / per))
                        goto bad;
                if (count > MP4_FRAG_SAMPLES_MAX - f.n_samples) {
                        r = -E2BIG;
                        goto out;
                }
                p = trun->data + 8;
                uint64_t data = next;
                if (tf & MP4_TRUN_DATA_OFFSET) {
                        int32_t d = (int32_t)mp4_rd32(p);
                        p += 4;
                        if (d < 0 && (uint64_t) - (int64_t)d > moof->offset)
                                goto bad;
                        data = (uint64_t)((int64_t)moof->offset + d);
                }
                uint32_t first_flags = def_flags;
                int has_first = 0;
                if (tf & MP4_TRUN_FIRST_FLAGS) {
                        first_flags = mp4_rd32(p);
                        has_first = 1;
                        p += 4;
                }
                struct mp4_sample *s = realloc(f.samples, (f.n_samples + count + 1) * sizeof(*s));
                if (!s) {
                        r = -ENOMEM;
                        goto out;
                }
                f.samples = s;
                for (uint32_t i = 0; i < count; i++) {
                        struct mp4_sample *x = &f.samples[f.n_samples++];
                        x->duration = def_dur;
                        x->size = def_size;
                        x->flags = (i == 0 && has_first) ? first_flags : def_flags;
                        if (tf & MP4_TRUN_DURATION)
                                x->duration = mp4_rd32(p), p += 4;
                        if (tf & MP4_TRUN_SIZE)
                                x->size = mp4_rd32(p), p += 4;
                        if (tf & MP4_TRUN_FLAGS) {
                                uint32_t sf = mp4_rd32(p);
                                p += 4;
                                if (!(i == 0 && has_first))
                                        x->flags = sf;
                        }
                        if (tf & MP4_TRUN_CTO)
                                p += 4;
                        if (data > len || x->size > len - data)
                                goto bad;
                        x->offset = data;
                        data += x->size;
                        f.duration += x->duration;
                }
                next = data;
        }
        *ret = f;
        return 0;
bad:
        r = -EBADMSG;
out:
        free(f.samples);
        return r;
}

int mp4_info_segment_timing(const uint8_t *buf, size_t len, const struct mp4_track *t,
                            uint64_t *ret_start, uint64_t *ret_duration, int *ret_sync)
{
        struct mp4_box *root = NULL;
        int r = mp4_box_parse(buf, len, &root);
        if (r < 0)
                return r;
        uint64_t start = 0, dur = 0;
        int sync = 0, nfrag = 0;
        for (size_t i = 0; i < root->n_kids; i++) {
                if (root->kids[i]->type != T("moof"))
                        continue;
                struct mp4_frag f;
                r = mp4_info_frag_parse(root->kids[i], len, t, &f);
                if (r < 0)
                        goto out;
                if (nfrag++ == 0) {
                        start = f.base_time;
                        sync = f.n_samples > 0 && !(f.samples[0].flags & MP4_SAMPLE_NON_SYNC);
                }
                dur += f.duration;
                free(f.samples);
        }
        r = nfrag ? 0 : -EBADMSG;
        if (r == 0) {
                *ret_start = start;
                *ret_duration = dur;
                *ret_sync = sync;
        }
out:
        mp4_box_free(root);
        return r;
}
