/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "avc.h"

/* A reader of a NAL unit's bits that steps over emulation prevention bytes (00 00 03). */
struct bits {
        const uint8_t *p;
        size_t len, pos; /* pos: the raw byte being read */
        unsigned bit;    /* bits of p[pos] read so far */
        unsigned zeros;  /* 0x00 bytes just read */
        bool err;
};

static unsigned u1(struct bits *b)
{
        if (b->err)
                return 0;
        if (b->bit == 0 && b->zeros >= 2 && b->pos < b->len && b->p[b->pos] == 0x03) {
                b->pos++;
                b->zeros = 0;
        }
        if (b->pos >= b->len) {
                b->err = true;
                return 0;
        }
        unsigned v = (b->p[b->pos] >> (7 - b->bit)) & 1u;
        if (++b->bit == 8) {
                b->zeros = b->p[b->pos] ? 0 : b->zeros + 1;
                b->pos++;
                b->bit = 0;
        }
        return v;
}

static uint32_t un(struct bits *b, unsigned n)
{
        uint32_t v = 0;
        while (n--)
                v = v << 1 | u1(b);
        return v;
}

static uint32_t ue(struct bits *b)
{
        unsigned lz = 0;
        while (!b->err && u1(b) == 0)
                if (++lz > 31)
                        b->err = true;
        if (b->err)
                return 0;
        return (uint32_t)((1ull << lz) - 1 + un(b, lz));
}

static void se(struct bits *b)
{
        (void)ue(b);
}

/* ue() no greater than max, else an error. */
static uint32_t ue_max(struct bits *b, uint32_t max)
{
        uint32_t v = ue(b);
        if (v > max)
                b->err = true;
        return b->err ? 0 : v;
}

static bool high_profile(unsigned profile)
{
        static const uint8_t high[] = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134,
                                       135};
        for (size_t i = 0; i < sizeof(high); i++)
                if (profile == high[i])
                        return true;
        return false;
}

static void scaling_list(struct bits *b, unsigned size)
{
        unsigned last = 8, next = 8;
        for (unsigned j = 0; j < size && !b->err; j++) {
                if (next) {
                        uint32_t k = ue(b);
                        int delta = (k & 1) ? (int)((k + 1) / 2) : -(int)(k / 2);
                        next = (unsigned)(((int)last + delta + 256) % 256);
                }
                last = next ? next : last;
        }
}

static int sps_parse(const uint8_t *sps, size_t len, struct avc_params *p, uint32_t *ret_id)
{
        struct bits b = {.p = sps, .len = len};
        unsigned chroma_format = 1;
        if (len < 4 || (sps[0] & 0x1f) != 7)
                return -EBADMSG;
        (void)un(&b, 8);
        unsigned profile = un(&b, 8);
        (void)un(&b, 16); /* constraint flags, level */
        *ret_id = ue_max(&b, 31);
        if (high_profile(profile)) {
                chroma_format = ue_max(&b, 3);
                if (chroma_format == 3)
                        p->separate_colour_plane = u1(&b);
                (void)ue_max(&b, 6); /* bit depths */
                (void)ue_max(&b, 6);
                (void)u1(&b);
                if (u1(&b))
                        for (unsigned i = 0; i < (chroma_format != 3 ? 8u : 12u); i++)
                                if (u1(&b))
                                        scaling_list(&b, i < 6 ? 16 : 64);
        }
        p->chroma_array_type = p->separate_colour_plane ? 0 : (uint8_t)chroma_format;
        p->log2_max_frame_num = (uint8_t)(ue_max(&b, 12) + 4);
        p->poc_type = (uint8_t)ue_max(&b, 2);
        if (p->poc_type == 0) {
                p->log2_max_poc_lsb = (uint8_t)(ue_max(&b, 12) + 4);
        } else if (p->poc_type == 1) {
                p->delta_pic_order_always_zero = u1(&b);
                se(&b);
                se(&b);
                for (uint32_t n = ue_max(&b, 255); n > 0 && !b.err; n--)
                        se(&b);
        }
        (void)ue(&b); /* max_num_ref_frames */
        (void)u1(&b);
        (void)ue(&b); /* size in macroblocks */
        (void)ue(&b);
        p->frame_mbs_only = u1(&b);
        return b.err ? -EBADMSG : 0;
}

int avc_params_parse(const uint8_t *sps, size_t sps_len, const uint8_t *pps, size_t pps_len,
                     struct avc_params *ret)
{
        struct avc_params p = {0};
        struct bits b = {.p = pps, .len = pps_len};
        uint32_t sps_id;
        int r = sps_parse(sps, sps_len, &p, &sps_id);
        if (r < 0)
                return r;
        if (pps_len < 2 || (pps[0] & 0x1f) != 8)
                return -EBADMSG;
        (void)un(&b, 8);
        p.pps_id = (uint8_t)ue_max(&b, 255);
        if (ue_max(&b, 31) != sps_id && !b.err)
                return -ENOTSUP;
        p.cabac = u1(&b);
        p.bottom_field_pic_order = u1(&b);
        if (ue(&b) != 0 && !b.err)
                return -ENOTSUP; /* slice groups (Baseline's FMO): not from x264 */
        p.ref_idx_l0 = (uint8_t)(ue_max(&b, 31) + 1);
        p.ref_idx_l1 = (uint8_t)(ue_max(&b, 31) + 1);
        p.weighted_pred = u1(&b);
        p.weighted_bipred_idc = (uint8_t)un(&b, 2);
        se(&b); /* pic_init_qp, pic_init_qs, chroma_qp_index_offset */
        se(&b);
        se(&b);
        p.deblocking_control = u1(&b);
        (void)u1(&b);
        p.redundant_pic_cnt = u1(&b);
        if (b.err)
                return -EBADMSG;
        p.valid = true;
        *ret = p;
        return 0;
}

/* ref_pic_list_modification() for one list */
static void list_modification(struct bits *b)
{
        if (!u1(b))
                return;
        for (unsigned i = 0; i < 100 && !b->err; i++) {
                uint32_t idc = ue_max(b, 5);
                if (idc == 3)
                        return;
                (void)ue(b); /* abs_diff_pic_num_minus1, long_term_pic_num or view idx */
        }
        b->err = true;
}

static void weights(struct bits *b, unsigned n, bool chroma)
{
        for (unsigned i = 0; i < n && !b->err; i++) {
                if (u1(b)) {
                        se(b);
                        se(b);
                }
                if (chroma && u1(b))
                        for (unsigned j = 0; j < 4; j++)
                                se(b);
        }
}

static void ref_pic_marking(struct bits *b, bool idr)
{
        if (idr) {
                (void)un(b, 2);
                return;
        }
        if (!u1(b))
                return;
        for (unsigned i = 0; i < 100 && !b->err; i++) {
                uint32_t op = ue_max(b, 6);
                if (op == 0)
                        return;
                (void)ue(b);
                if (op == 3)
                        (void)ue(b);
        }
        b->err = true;
}

int avc_slice_header_size(const uint8_t *nal, size_t len, const struct avc_params *p)
{
        struct bits b = {.p = nal, .len = len};
        if (len < 2)
                return -EBADMSG;
        unsigned type = nal[0] & 0x1fu, ref_idc = (nal[0] >> 5) & 3u;
        (void)un(&b, 8);
        (void)ue(&b); /* first_mb_in_slice */
        unsigned st = ue_max(&b, 9) % 5;
        bool pb = st == 0 || st == 1 || st == 3, bs = st == 1, intra = st == 2 || st == 4;
        if (ue_max(&b, 255) != p->pps_id)
                return b.err ? -EBADMSG : -ENOTSUP;
        if (p->separate_colour_plane)
                (void)un(&b, 2);
        (void)un(&b, p->log2_max_frame_num);
        bool field = false;
        if (!p->frame_mbs_only && (field = u1(&b)))
                (void)u1(&b);
        if (type == 5)
                (void)ue(&b);
        if (p->poc_type == 0) {
                (void)un(&b, p->log2_max_poc_lsb);
                if (p->bottom_field_pic_order && !field)
                        se(&b);
        } else if (p->poc_type == 1 && !p->delta_pic_order_always_zero) {
                se(&b);
                if (p->bottom_field_pic_order && !field)
                        se(&b);
        }
        if (p->redundant_pic_cnt)
                (void)ue(&b);
        if (bs)
                (void)u1(&b);
        unsigned l0 = p->ref_idx_l0, l1 = p->ref_idx_l1;
        if (pb && u1(&b)) {
                l0 = ue_max(&b, 31) + 1;
                if (bs)
                        l1 = ue_max(&b, 31) + 1;
        }
        if (!intra)
                list_modification(&b);
        if (bs)
                list_modification(&b);
        if ((p->weighted_pred && (st == 0 || st == 3)) || (p->weighted_bipred_idc == 1 && bs)) {
                (void)ue(&b);
                if (p->chroma_array_type)
                        (void)ue(&b);
                weights(&b, l0, p->chroma_array_type != 0);
                if (bs)
                        weights(&b, l1, p->chroma_array_type != 0);
        }
        if (ref_idc)
                ref_pic_marking(&b, type == 5);
        if (p->cabac && !intra)
                (void)ue(&b);
        se(&b); /* slice_qp_delta */
        if (st == 3 || st == 4) {
                if (st == 3)
                        (void)u1(&b);
                se(&b);
        }
        if (p->deblocking_control && ue_max(&b, 2) != 1) {
                se(&b);
                se(&b);
        }
        if (b.err || b.pos + (b.bit != 0) > len)
                return -EBADMSG;
        return (int)(b.pos + (b.bit != 0));
}
