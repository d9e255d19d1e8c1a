/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "cenc.h"

#define T(s) MP4_FOURCC(s[0], s[1], s[2], s[3])

/* saiz stores one byte per sample: IV + count + 6 bytes per pair must fit in 255. */
#define SUBSAMPLES_MAX ((255 - CENC_IV_SIZE - 2) / 6)

int cenc_key_generate(struct cenc_key *ret)
{
        if (RAND_bytes(ret->key, sizeof(ret->key)) != 1 ||
            RAND_bytes(ret->kid, sizeof(ret->kid)) != 1)
                return -EIO;
        /* Mark the KID as a random (version 4) UUID, as players print it in that form. */
        ret->kid[6] = (uint8_t)((ret->kid[6] & 0x0f) | 0x40);
        ret->kid[8] = (uint8_t)((ret->kid[8] & 0x3f) | 0x80);
        return 0;
}

static struct mp4_box *leaf_new(uint32_t type, const void *data, size_t len)
{
        struct mp4_box *b = mp4_box_new(type);
        if (b && mp4_box_payload_set(b, data, len) < 0)
                b = mp4_box_free(b);
        return b;
}

/* Add a leaf to parent; on failure the leaf is freed. */
static int leaf_add(struct mp4_box *parent, uint32_t type, const void *data, size_t len)
{
        struct mp4_box *b = leaf_new(type, data, len);
        if (!b)
                return -ENOMEM;
        if (mp4_box_child_add(parent, b, SIZE_MAX) < 0) {
                mp4_box_free(b);
                return -ENOMEM;
        }
        return 0;
}

/* sinf{frma, schm, schi{tenc}} for a sample entry whose clear format was orig. */
static struct mp4_box *sinf_new(uint32_t orig, const struct cenc_key *k)
{
        uint8_t frma[4], schm[12] = {0}, tenc[24] = {0};
        struct mp4_box *sinf = mp4_box_new(T("sinf")), *schi = NULL;

        mp4_wr32(frma, orig);
        mp4_wr32(schm + 4, T("cenc"));
        mp4_wr32(schm + 8, 0x00010000);
        /* version 0: two reserved bytes, then isProtected, IV size and the KID */
        tenc[6] = 1;
        tenc[7] = CENC_IV_SIZE;
        memcpy(tenc + 8, k->kid, 16);
        if (!sinf || leaf_add(sinf, T("frma"), frma, sizeof(frma)) < 0 ||
            leaf_add(sinf, T("schm"), schm, sizeof(schm)) < 0)
                goto fail;
        schi = mp4_box_new(T("schi"));
        if (!schi || mp4_box_child_add(sinf, schi, SIZE_MAX) < 0) {
                mp4_box_free(schi);
                goto fail;
        }
        /* schi belongs to sinf from here on */
        if (leaf_add(schi, T("tenc"), tenc, sizeof(tenc)) < 0)
                goto fail;
        return sinf;
fail:
        return mp4_box_free(sinf);
}

int cenc_init_rewrite(const uint8_t *in, size_t len, const struct cenc_key *k, struct mp4_buf *out)
{
        struct mp4_box *root = NULL;
        int r = mp4_box_parse(in, len, &root);
        if (r < 0)
                return r;
        struct mp4_box *moov = mp4_box_child_find(root, T("moov"));
        r = -EBADMSG;
        if (!moov)
                goto out;
        if (mp4_box_child_find(moov, T("pssh"))) {
                r = -EEXIST;
                goto out;
        }
        size_t protected = 0;
        for (size_t i = 0; i < moov->n_kids; i++) {
                struct mp4_box *trak = moov->kids[i];
                if (trak->type != T("trak"))
                        continue;
                struct mp4_box *stsd = mp4_box_path_find(trak, "mdia/minf/stbl/stsd");
                if (!stsd || stsd->n_kids == 0)
                        goto out;
                for (size_t j = 0; j < stsd->n_kids; j++) {
                        struct mp4_box *e = stsd->kids[j];
                        uint32_t enc;
                        if (e->type == T("avc1") || e->type == T("avc3"))
                                enc = T("encv");
                        else if (e->type == T("mp4a"))
                                enc = T("enca");
                        else if (e->type == T("encv") || e->type == T("enca")) {
                                r = -EEXIST;
                                goto out;
                        } else {
                                r = -ENOTSUP;
                                goto out;
                        }
                        if (!e->is_container)
                                goto out;
                        struct mp4_box *sinf = sinf_new(e->type, k);
                        if (!sinf) {
                                r = -ENOMEM;
                                goto out;
                        }
                        r = mp4_box_child_add(e, sinf, SIZE_MAX);
                        if (r < 0) {
                                mp4_box_free(sinf);
                                goto out;
                        }
                        e->type = enc;
                        protected++;
                }
        }
        r = protected ? mp4_box_write(root, out) : -EBADMSG;
out:
        mp4_box_free(root);
        return r;
}

static int push_pair(uint16_t *clear, uint32_t *prot, size_t *n, size_t max, size_t c, size_t p)
{
        /* A clear run longer than 16 bits becomes several pairs with nothing protected. */
        while (c > UINT16_MAX) {
                if (*n >= max)
                        return -E2BIG;
                clear[*n] = UINT16_MAX;
                prot[(*n)++] = 0;
                c -= UINT16_MAX;
        }
        if (p > UINT32_MAX)
                return -EBADMSG;
        if (*n >= max)
                return -E2BIG;
        clear[*n] = (uint16_t)c;
        prot[(*n)++] = (uint32_t)p;
        return 0;
}

int cenc_subsamples_split(const uint8_t *s, size_t n, unsigned nal_len,
                          const struct avc_params *avc, uint16_t *clear, uint32_t *prot,
                          size_t max)
{
        size_t pos = 0, run = 0, count = 0;
        int r;
        if (nal_len < 1 || nal_len > 4)
                return -EBADMSG;
        while (pos < n) {
                if (n - pos < nal_len)
                        return -EBADMSG;
                size_t nal = 0;
                for (unsigned i = 0; i < nal_len; i++)
                        nal = nal << 8 | s[pos + i];
                pos += nal_len;
                if (nal > n - pos)
                        return -EBADMSG;
                unsigned type = nal ? s[pos] & 0x1fu : 0;
                size_t keep = CENC_VCL_CLEAR;
                if (type >= 1 && type <= 5 && nal > keep && avc && avc->valid) {
                        int h = avc_slice_header_size(s + pos, nal, avc);
                        if (h < 0)
                                return -EBADMSG;
                        keep = (size_t)h > keep ? (size_t)h : keep;
                }
                /* Only coded slices (types 1-5) are protected; parameter sets, SEI and
                 * delimiters stay clear so a player can parse the stream unkeyed. */
                if (type >= 1 && type <= 5 && nal > keep) {
                        size_t p = nal - keep;
                        /* Whole AES blocks protected, the remainder clear: not needed for
                         * 'cenc', but what hardware decryptors handle best. */
                        keep += p % 16;
                        p -= p % 16;
                        run += nal_len + keep;
                        if (p) {
                                r = push_pair(clear, prot, &count, max, run, p);
                                if (r < 0)
                                        return r;
                                run = 0;
                        }
                } else {
                        run += nal_len + nal;
                }
                pos += nal;
        }
        if (run || count == 0) {
                r = push_pair(clear, prot, &count, max, run, 0);
                if (r < 0)
                        return r;
        }
        return (int)count;
}

static void iv_add(uint8_t iv[CENC_IV_SIZE], uint64_t n)
{
        uint64_t v = mp4_rd64(iv) + n;
        mp4_wr64(iv, v);
}

/* AES-128-CTR over the protected ranges of one sample, as one keystream. */
static int crypt_sample(EVP_CIPHER_CTX *ctx, const uint8_t iv8[CENC_IV_SIZE], uint8_t *s,
                        const uint16_t *clear, const uint32_t *prot, size_t npairs, size_t size)
{
        uint8_t iv[16] = {0};
        int outl;
        memcpy(iv, iv8, CENC_IV_SIZE);
        if (EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, iv) != 1)
                return -EIO;
        if (npairs == 0) {
                if (size > INT32_MAX || EVP_EncryptUpdate(ctx, s, &outl, s, (int)size) != 1)
                        return -EIO;
                return 0;
        }
        size_t pos = 0;
        for (size_t i = 0; i < npairs; i++) {
                pos += clear[i];
                if (prot[i] && EVP_EncryptUpdate(ctx, s + pos, &outl, s + pos, (int)prot[i]) != 1)
                        return -EIO;
                pos += prot[i];
        }
        return 0;
}

struct frag_out {
        struct mp4_buf senc, saiz_sizes;
        size_t n;
};

/* Encrypt the samples of one fragment in place (in work) and describe them. */
static int crypt_frag(EVP_CIPHER_CTX *ctx, uint8_t *work, const struct mp4_frag *f,
                      const struct mp4_track *t, struct frag_out *o)
{
        uint8_t iv[CENC_IV_SIZE];
        uint16_t clear[SUBSAMPLES_MAX];
        uint32_t prot[SUBSAMPLES_MAX];
        int video = t->nal_length_size > 0;
        int r;

        if (RAND_bytes(iv, sizeof(iv)) != 1)
                return -EIO;
        for (size_t i = 0; i < f->n_samples; i++) {
                const struct mp4_sample *s = &f->samples[i];
                uint8_t *p = work + s->offset;
                size_t npairs = 0;
                if (video) {
                        r = cenc_subsamples_split(p, s->size, t->nal_length_size, &t->avc,
                                                  clear, prot, SUBSAMPLES_MAX);
                        if (r < 0)
                                return r;
                        npairs = (size_t)r;
                }
                r = crypt_sample(ctx, iv, p, clear, prot, npairs, s->size);
                if (r < 0)
                        return r;
                uint8_t rec[8 + 2 + 6 * SUBSAMPLES_MAX];
                size_t rl = CENC_IV_SIZE;
                memcpy(rec, iv, CENC_IV_SIZE);
                if (video) {
                        mp4_wr16(rec + rl, (uint16_t)npairs);
                        rl += 2;
                        for (size_t j = 0; j < npairs; j++) {
                                mp4_wr16(rec + rl, clear[j]);
                                mp4_wr32(rec + rl + 2, prot[j]);
                                rl += 6;
                        }
                }
                uint8_t sz = (uint8_t)rl;
                if (mp4_buf_append(&o->senc, rec, rl) < 0 ||
                    mp4_buf_append(&o->saiz_sizes, &sz, 1) < 0)
                        return -ENOMEM;
                iv_add(iv, 1);
                o->n++;
        }
        return 0;
}

/* Add saiz, saio and senc to traf. Returns the saio box so its offset can be set later. */
static int traf_boxes_add(struct mp4_box *traf, const struct frag_out *o, int video,
                          struct mp4_box **ret_saio, struct mp4_box **ret_senc)
{
        struct mp4_buf b = {0};
        struct mp4_box *saiz = NULL, *saio = NULL, *senc = NULL;
        uint8_t hdr[9] = {0};
        int r = -ENOMEM;
        int uniform = 1;
        for (size_t i = 1; i < o->n; i++)
                uniform &= o->saiz_sizes.p[i] == o->saiz_sizes.p[0];

        /* saiz: flags 0 (aux_info_type implied by the scheme), default size, count, sizes */
        hdr[4] = (uniform && o->n) ? o->saiz_sizes.p[0] : 0;
        mp4_wr32(hdr + 5, (uint32_t)o->n);
        if (mp4_buf_append(&b, hdr, 9) < 0 ||
            (!hdr[4] && mp4_buf_append(&b, o->saiz_sizes.p, o->saiz_sizes.len) < 0))
                goto out;
        saiz = leaf_new(T("saiz"), b.p, b.len);

        /* saio: one contiguous run; the offset is filled in once the moof is laid out */
        uint8_t saio_p[12] = {0};
        mp4_wr32(saio_p + 4, 1);
        saio = leaf_new(T("saio"), saio_p, sizeof(saio_p));

        b.len = 0;
        uint8_t senc_hdr[8] = {0};
        mp4_wr32(senc_hdr, video ? 0x2u : 0u); /* 0x2: subsample information present */
        mp4_wr32(senc_hdr + 4, (uint32_t)o->n);
        if (mp4_buf_append(&b, senc_hdr, 8) < 0 || mp4_buf_append(&b, o->senc.p, o->senc.len) < 0)
                goto out;
        senc = leaf_new(T("senc"), b.p, b.len);
        if (!saiz || !saio || !senc)
                goto out;
        if (mp4_box_child_add(traf, saiz, SIZE_MAX) < 0)
                goto out;
        saiz = NULL;
        if (mp4_box_child_add(traf, saio, SIZE_MAX) < 0)
                goto out;
        *ret_saio = saio;
        saio = NULL;
        if (mp4_box_child_add(traf, senc, SIZE_MAX) < 0)
                goto out;
        *ret_senc = senc;
        senc = NULL;
        r = 0;
out:
        mp4_box_free(saiz);
        mp4_box_free(saio);
        mp4_box_free(senc);
        mp4_buf_done(&b);
        return r;
}

/* Offset of child within parent's serialised form, header of parent included. */
static uint64_t child_offset(const struct mp4_box *parent, const struct mp4_box *child)
{
        uint64_t size = mp4_box_size(parent);
        uint64_t off = size > UINT32_MAX ? 16 : 8;
        off += parent->data_len;
        for (size_t i = 0; i < parent->n_kids && parent->kids[i] != child; i++)
                off += mp4_box_size(parent->kids[i]);
        return off;
}

/* Rewrite a FullBox leaf with a field changed: replaces its payload with an owned copy. */
static int payload_own(struct mp4_box *b)
{
        if (b->owned)
                return 0;
        return mp4_box_payload_set(b, b->data, b->data_len);
}

static int trun_shift(struct mp4_box *traf, int64_t delta)
{
        for (size_t i = 0; i < traf->n_kids; i++) {
                struct mp4_box *trun = traf->kids[i];
                if (trun->type != T("trun"))
                        continue;
                uint32_t fl = mp4_rd32(trun->data) & 0xffffffu;
                /* Without a data_offset the data would start at the moof itself. */
                if (!(fl & MP4_TRUN_DATA_OFFSET))
                        return -ENOTSUP;
                int r = payload_own(trun);
                if (r < 0)
                        return r;
                int64_t d = (int32_t)mp4_rd32(trun->owned + 8) + delta;
                if (d > INT32_MAX || d < INT32_MIN)
                        return -E2BIG;
                mp4_wr32(trun->owned + 8, (uint32_t)(int32_t)d);
        }
        return 0;
}

/* sidx referenced_size of reference i grows by delta[i]; one reference per moof. */
static int sidx_fix(struct mp4_box *sidx, const int64_t *delta, size_t nfrag)
{
        int r = payload_own(sidx);
        if (r < 0)
                return r;
        uint8_t *p = sidx->owned;
        size_t n = sidx->data_len;
        size_t off = (n >= 1 && p[0] == 1) ? 4 + 8 + 16 : 4 + 8 + 8;
        if (n < off + 4)
                return -EBADMSG;
        size_t count = mp4_rd16(p + off + 2);
        off += 4;
        if (count != nfrag || n < off + 12 * count)
                return -ENOTSUP;
        for (size_t i = 0; i < count; i++, off += 12) {
                uint32_t v = mp4_rd32(p + off);
                if (v & 0x80000000u)
                        return -ENOTSUP; /* references another sidx */
                int64_t size = (int64_t)v + delta[i];
                if (size < 0 || size > 0x7fffffff)
                        return -E2BIG;
                mp4_wr32(p + off, (uint32_t)size);
        }
        return 0;
}

int cenc_segment_rewrite(const uint8_t *in, size_t len, const struct mp4_track *t,
                         const struct cenc_key *k, struct mp4_buf *out)
{
        struct mp4_box *root = NULL;
        EVP_CIPHER_CTX *ctx = NULL;
        int64_t *delta = NULL;
        size_t nfrag = 0;
        int r;
        uint8_t *work = malloc(len ? len : 1);
        if (!work)
                return -ENOMEM;
        memcpy(work, in, len);
        r = mp4_box_parse(work, len, &root);
        if (r < 0)
                goto out;
        r = -ENOMEM;
        ctx = EVP_CIPHER_CTX_new();
        delta = calloc(root->n_kids + 1, sizeof(*delta));
        if (!ctx || !delta)
                goto out;
        r = -EIO;
        if (EVP_EncryptInit_ex(ctx, EVP_aes_128_ctr(), NULL, k->key, NULL) != 1)
                goto out;

        for (size_t i = 0; i < root->n_kids; i++) {
                struct mp4_box *moof = root->kids[i];
                if (moof->type != T("moof"))
                        continue;
                struct mp4_box *traf = mp4_box_child_find(moof, T("traf"));
                if (traf &&
                    (mp4_box_child_find(traf, T("senc")) || mp4_box_child_find(traf, T("saiz")))) {
                        r = -EEXIST;
                        goto out;
                }
                /* Samples must sit in the mdat right after this moof. */
                struct mp4_box *mdat = i + 1 < root->n_kids ? root->kids[i + 1] : NULL;
                if (!mdat || mdat->type != T("mdat")) {
                        r = -EBADMSG;
                        goto out;
                }
                uint64_t lo = (uint64_t)(mdat->data - work), hi = lo + mdat->data_len;
                struct mp4_frag f;
                r = mp4_info_frag_parse(moof, len, t, &f);
                if (r < 0)
                        goto out;
                struct frag_out o = {0};
                for (size_t j = 0; j < f.n_samples; j++)
                        if (f.samples[j].offset < lo ||
                            f.samples[j].offset + f.samples[j].size > hi)
                                r = -EBADMSG;
                if (r >= 0)
                        r = crypt_frag(ctx, work, &f, t, &o);
                free(f.samples);
                struct mp4_box *saio = NULL, *senc = NULL;
                if (r >= 0)
                        r = traf_boxes_add(traf, &o, t->nal_length_size > 0, &saio, &senc);
                mp4_buf_done(&o.senc);
                mp4_buf_done(&o.saiz_sizes);
                if (r < 0)
                        goto out;
                /* The IVs start after senc's header, FullBox fields and sample_count; the
                 * offset is from the moof, the base tfhd sets (default-base-is-moof). */
                uint64_t ivs = child_offset(moof, traf) + child_offset(traf, senc) + 16;
                if (ivs > UINT32_MAX) {
                        r = -E2BIG;
                        goto out;
                }
                mp4_wr32(saio->owned + 8, (uint32_t)ivs);
                delta[nfrag] = (int64_t)mp4_box_size(moof) - (int64_t)moof->parsed_size;
                r = trun_shift(traf, delta[nfrag]);
                if (r < 0)
                        goto out;
                nfrag++;
        }
        r = -EBADMSG;
        if (nfrag == 0)
                goto out;
        struct mp4_box *sidx = mp4_box_child_find(root, T("sidx"));
        if (sidx) {
                r = sidx_fix(sidx, delta, nfrag);
                if (r < 0)
                        goto out;
        }
        r = mp4_box_write(root, out);
out:
        mp4_box_free(root);
        EVP_CIPHER_CTX_free(ctx);
        free(delta);
        free(work);
        return r;
}
