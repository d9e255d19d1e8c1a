/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "tests.h"

#include "cenc.h"
#include "mp4-box.h"
#include "mp4-fixtures.h"
#include "mp4-info.h"
#include "proc.h"
#include "util.h"

#define T(s) MP4_FOURCC(s[0], s[1], s[2], s[3])

static const struct cenc_key test_key = {
    .key = {0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d,
            0x1e, 0x1f},
    .kid = {0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0x46, 0xa7, 0x88, 0xa9, 0xaa, 0xab, 0xac, 0xad,
            0xae, 0xaf},
};

/*
 * Check an encrypted segment against its clear original, reading the encryption boxes by
 * hand (not through cenc.c): trun points at the mdat payload, saio at the first IV in senc,
 * saiz sizes match senc records, clear ranges are untouched, and decrypting the protected
 * ranges with OpenSSL gives back the clear samples bit for bit. Returns samples checked, or
 * -1 after reporting the first mismatch; ret_protected (may be NULL) gets the bytes the
 * encryption boxes say are protected, so a caller can tell an encryption that left
 * everything clear from one that did its job.
 */
static long verify_segment(const uint8_t *clear, size_t clen, const uint8_t *enc, size_t elen,
                           const struct mp4_track *t, const struct cenc_key *k,
                           size_t *ret_protected)
{
        size_t protected_bytes = 0;
        struct mp4_box *croot = NULL, *eroot = NULL;
        long checked = -1;
        EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
        if (mp4_box_parse(clear, clen, &croot) < 0 || mp4_box_parse(enc, elen, &eroot) < 0) {
                fprintf(stderr, "  parse failed\n");
                goto out;
        }
        if (croot->n_kids != eroot->n_kids) {
                fprintf(stderr, "  top-level box count differs\n");
                goto out;
        }
        checked = 0;
        for (size_t i = 0; i < eroot->n_kids; i++) {
                struct mp4_box *em = eroot->kids[i], *cm = croot->kids[i];
                if (em->type == T("sidx")) {
                        /* referenced_size must equal the new moof + mdat */
                        uint64_t ref = mp4_rd32(em->data + (em->data[0] ? 32 : 24)) & 0x7fffffff;
                        uint64_t want = 0;
                        for (size_t j = i + 1; j < eroot->n_kids; j++)
                                want += eroot->kids[j]->parsed_size;
                        if (ref != want) {
                                fprintf(stderr, "  sidx size %llu != %llu\n",
                                        (unsigned long long)ref, (unsigned long long)want);
                                checked = -1;
                                goto out;
                        }
                }
                if (em->type != T("moof"))
                        continue;
                struct mp4_frag ef, cf;
                if (mp4_info_frag_parse(em, elen, t, &ef) < 0 ||
                    mp4_info_frag_parse(cm, clen, t, &cf) < 0) {
                        fprintf(stderr, "  fragment parse failed\n");
                        checked = -1;
                        goto out;
                }
                struct mp4_box *traf = mp4_box_child_find(em, T("traf"));
                struct mp4_box *senc = mp4_box_child_find(traf, T("senc"));
                struct mp4_box *saiz = mp4_box_child_find(traf, T("saiz"));
                struct mp4_box *saio = mp4_box_child_find(traf, T("saio"));
                struct mp4_box *mdat = eroot->kids[i + 1];
                int ok =
                    senc && saiz && saio && ef.n_samples == cf.n_samples && mdat->type == T("mdat");
                /* first sample sits at the start of the mdat payload */
                ok = ok && ef.samples[0].offset == mdat->offset + 8;
                uint32_t use_sub = ok ? mp4_rd32(senc->data) & 2 : 0;
                ok = ok && mp4_rd32(senc->data + 4) == ef.n_samples;
                ok = ok && mp4_rd32(saio->data + 4) == 1;
                uint64_t ivs = ok ? em->offset + mp4_rd32(saio->data + 8) : 0;
                ok = ok && ivs == senc->offset + 16 &&
                     memcmp(enc + ivs, senc->data + 8, CENC_IV_SIZE) == 0;
                ok = ok && mp4_rd32(saiz->data + 5) == ef.n_samples;
                if (!ok) {
                        fprintf(stderr, "  encryption boxes do not describe the fragment\n");
                        checked = -1;
                }
                const uint8_t *rec = senc ? senc->data + 8 : NULL;
                for (size_t s = 0; ok && s < ef.n_samples; s++) {
                        const uint8_t *iv8 = rec;
                        size_t nsub = 0, pos = 0, rl = CENC_IV_SIZE;
                        uint8_t iv[16] = {0};
                        uint8_t *plain = malloc(ef.samples[s].size + 1);
                        int outl;
                        memcpy(plain, enc + ef.samples[s].offset, ef.samples[s].size);
                        memcpy(iv, iv8, CENC_IV_SIZE);
                        EVP_DecryptInit_ex(ctx, EVP_aes_128_ctr(), NULL, k->key, iv);
                        if (use_sub) {
                                nsub = mp4_rd16(rec + 8);
                                rl += 2 + 6 * nsub;
                                for (size_t j = 0; j < nsub; j++) {
                                        uint16_t c = mp4_rd16(rec + 10 + 6 * j);
                                        uint32_t p = mp4_rd32(rec + 12 + 6 * j);
                                        /* clear bytes are left as they were */
                                        ok = ok && pos + c + p <= ef.samples[s].size &&
                                             memcmp(plain + pos, clear + cf.samples[s].offset + pos,
                                                    c) == 0;
                                        if (!ok)
                                                break;
                                        pos += c;
                                        EVP_DecryptUpdate(ctx, plain + pos, &outl, plain + pos,
                                                          (int)p);
                                        pos += p;
                                        protected_bytes += p;
                                }
                                ok = ok && pos == ef.samples[s].size;
                        } else {
                                EVP_DecryptUpdate(ctx, plain, &outl, plain,
                                                  (int)ef.samples[s].size);
                                protected_bytes += ef.samples[s].size;
                        }
                        uint8_t saiz_size = saiz->data[4] ? saiz->data[4] : saiz->data[9 + s];
                        ok = ok && saiz_size == rl;
                        ok = ok && ef.samples[s].size == cf.samples[s].size &&
                             memcmp(plain, clear + cf.samples[s].offset, ef.samples[s].size) == 0;
                        if (!ok) {
                                fprintf(stderr, "  sample %zu does not decrypt to the clear one\n",
                                        s);
                                checked = -1;
                        } else {
                                checked++;
                        }
                        rec += rl;
                        free(plain);
                }
                free(ef.samples);
                free(cf.samples);
                if (checked < 0)
                        goto out;
        }
out:
        if (ret_protected)
                *ret_protected = protected_bytes;
        EVP_CIPHER_CTX_free(ctx);
        mp4_box_free(croot);
        mp4_box_free(eroot);
        return checked;
}

/* Length-prefixed NAL unit helper for synthetic AVC samples. */
static size_t put_nal(uint8_t *p, uint8_t header, size_t len, uint8_t fill)
{
        mp4_wr32(p, (uint32_t)len);
        p[4] = header;
        memset(p + 5, fill, len - 1);
        return 4 + len;
}

TEST(subsamples_split)
{
        uint8_t s[512];
        uint16_t c[8];
        uint32_t p[8];
        size_t n = 0;
        n += put_nal(s + n, 0x09, 2, 0xf0);   /* AUD: clear */
        n += put_nal(s + n, 0x06, 20, 0x01);  /* SEI: clear */
        n += put_nal(s + n, 0x65, 200, 0x55); /* IDR slice: 32 clear, rest protected */
        ASSERT_EQ(cenc_subsamples_split(s, n, 4, NULL, c, p, 8), 1);
        /* protected is whole blocks: (200 - 32) = 168 -> 160 protected, 8 more clear */
        ASSERT_EQ(p[0], 160);
        ASSERT_EQ(c[0], 6 + 24 + 4 + 32 + 8);
        ASSERT_EQ(c[0] + p[0], n);

        n += put_nal(s + n, 0x41, 100, 0x66); /* a second slice */
        n += put_nal(s + n, 0x0c, 3, 0x00);   /* filler after it: clear tail */
        ASSERT_EQ(cenc_subsamples_split(s, n, 4, NULL, c, p, 8), 3);
        ASSERT_EQ(p[1], 64);
        ASSERT_EQ(c[1], 4 + 32 + 4);
        ASSERT_EQ(c[2], 7);
        ASSERT_EQ(p[2], 0);

        ASSERT_EQ(cenc_subsamples_split(s, n, 4, NULL, c, p, 2), -E2BIG);

        /* a tiny slice stays clear; a NAL running past the sample is an error */
        size_t m = put_nal(s, 0x65, 10, 0x11);
        ASSERT_EQ(cenc_subsamples_split(s, m, 4, NULL, c, p, 8), 1);
        ASSERT_EQ(c[0], 14);
        ASSERT_EQ(p[0], 0);
        ASSERT_EQ(cenc_subsamples_split(s, m - 1, 4, NULL, c, p, 8), -EBADMSG);
        ASSERT_EQ(cenc_subsamples_split(s, 3, 4, NULL, c, p, 8), -EBADMSG);
}

TEST(subsamples_long_clear_run)
{
        /* 70000 bytes of SEI need two clear-only pairs (16-bit clear counts) */
        size_t n = 4 + 70000;
        uint8_t *s = calloc(1, n);
        uint16_t c[4];
        uint32_t p[4];
        put_nal(s, 0x06, 70000, 0);
        ASSERT_EQ(cenc_subsamples_split(s, n, 4, NULL, c, p, 4), 2);
        ASSERT_EQ(c[0], 65535);
        ASSERT_EQ(c[0] + c[1], n);
        ASSERT_EQ(p[0] + p[1], 0);
        free(s);
}

TEST(init_rewrite)
{
        for (int video = 0; video <= 1; video++) {
                struct mp4_buf in = {0}, out = {0}, again = {0};
                struct mp4_box *root = NULL;
                struct mp4_track t;
                make_init(&in, video);
                ASSERT_EQ(cenc_init_rewrite(in.p, in.len, &test_key, &out), 0);
                ASSERT_EQ(out.len, in.len + 80); /* sinf: 8 + frma 12 + schm 20 + schi 40 */
                ASSERT_EQ(mp4_box_parse(out.p, out.len, &root), 0);
                struct mp4_box *stsd = mp4_box_path_find(root, "moov/trak/mdia/minf/stbl/stsd");
                ASSERT_TRUE(stsd && stsd->n_kids == 1);
                struct mp4_box *e = stsd->kids[0];
                ASSERT_EQ(e->type, video ? T("encv") : T("enca"));
                struct mp4_box *frma = mp4_box_path_find(e, "sinf/frma");
                struct mp4_box *schm = mp4_box_path_find(e, "sinf/schm");
                struct mp4_box *tenc = mp4_box_path_find(e, "sinf/schi/tenc");
                ASSERT_TRUE(frma && schm && tenc);
                ASSERT_EQ(mp4_rd32(frma->data), video ? T("avc1") : T("mp4a"));
                ASSERT_EQ(mp4_rd32(schm->data + 4), T("cenc"));
                ASSERT_EQ(mp4_rd32(schm->data + 8), 0x00010000);
                ASSERT_EQ(tenc->data_len, 24);
                ASSERT_EQ(tenc->data[6], 1);
                ASSERT_EQ(tenc->data[7], CENC_IV_SIZE);
                ASSERT_MEMEQ(tenc->data + 8, 16, test_key.kid, 16);
                ASSERT_TRUE(mp4_box_path_find(root, "moov/pssh") == NULL);
                /* still describable through frma; refusing to encrypt twice */
                ASSERT_EQ(mp4_info_track_parse(out.p, out.len, &t), 0);
                ASSERT_STREQ(t.codec, video ? "avc1.64001f" : "mp4a.40.2");
                ASSERT_EQ(cenc_init_rewrite(out.p, out.len, &test_key, &again), -EEXIST);
                mp4_box_free(root);
                mp4_buf_done(&in);
                mp4_buf_done(&out);
                mp4_buf_done(&again);
        }
}

TEST(segment_rewrite_video)
{
        struct mp4_buf init = {0}, seg = {0}, out = {0}, again = {0};
        struct mp4_track t;
        uint8_t data[2000];
        uint32_t sizes[3];
        size_t n = 0;
        make_init(&init, 1);
        ASSERT_EQ(mp4_info_track_parse(init.p, init.len, &t), 0);
        n += put_nal(data + n, 0x67, 4, 0x64);
        n += put_nal(data + n, 0x65, 700, 0x77);
        sizes[0] = (uint32_t)n;
        n += put_nal(data + n, 0x41, 301, 0x42);
        sizes[1] = (uint32_t)n - sizes[0];
        n += put_nal(data + n, 0x01, 16, 0x43);
        n += put_nal(data + n, 0x01, 500, 0x44);
        sizes[2] = (uint32_t)n - sizes[0] - sizes[1];
        make_segment(&seg, sizes, 3, data, 0);
        ASSERT_EQ(cenc_segment_rewrite(seg.p, seg.len, &t, &test_key, &out), 0);
        ASSERT_TRUE(out.len > seg.len);
        ASSERT_EQ(verify_segment(seg.p, seg.len, out.p, out.len, &t, &test_key, NULL), 3);
        /* protected bytes really changed */
        ASSERT_TRUE(memcmp(out.p + out.len - 100, seg.p + seg.len - 100, 100) != 0);
        ASSERT_EQ(cenc_segment_rewrite(out.p, out.len, &t, &test_key, &again), -EEXIST);
        /* a truncated segment is refused, not half-encrypted */
        mp4_buf_done(&again);
        ASSERT_TRUE(cenc_segment_rewrite(seg.p, seg.len - 10, &t, &test_key, &again) < 0);
        mp4_buf_done(&init);
        mp4_buf_done(&seg);
        mp4_buf_done(&out);
        mp4_buf_done(&again);
}

TEST(segment_rewrite_audio)
{
        struct mp4_buf init = {0}, seg = {0}, out = {0};
        struct mp4_track t;
        uint8_t data[900];
        uint32_t sizes[4] = {200, 250, 17, 433};
        for (size_t i = 0; i < sizeof(data); i++)
                data[i] = (uint8_t)(i * 7);
        make_init(&init, 0);
        ASSERT_EQ(mp4_info_track_parse(init.p, init.len, &t), 0);
        make_segment(&seg, sizes, 4, data, 0);
        ASSERT_EQ(cenc_segment_rewrite(seg.p, seg.len, &t, &test_key, &out), 0);
        size_t prot = 0;
        ASSERT_EQ(verify_segment(seg.p, seg.len, out.p, out.len, &t, &test_key, &prot), 4);
        ASSERT_EQ(prot, sizeof(data)); /* audio samples are encrypted whole */
        mp4_buf_done(&init);
        mp4_buf_done(&seg);
        mp4_buf_done(&out);
}

TEST(key_generate)
{
        struct cenc_key a, b;
        ASSERT_EQ(cenc_key_generate(&a), 0);
        ASSERT_EQ(cenc_key_generate(&b), 0);
        ASSERT_TRUE(memcmp(a.key, b.key, 16) != 0);
        ASSERT_TRUE(memcmp(a.kid, b.kid, 16) != 0);
        ASSERT_EQ(a.kid[6] >> 4, 4);
}

/* Encrypt ffmpeg's real output and decrypt it again, segment by segment. Last: its skip (no
 * ffmpeg) ends the file, so every other test has run by then. */
TEST(ffmpeg_output_roundtrip)
{
        char dir[] = "/tmp/test-cenc.XXXXXX", mpd[64], path[128];
        if (!mkdtemp(dir))
                TEST_FAIL_AT("mkdtemp");
        snprintf(mpd, sizeof(mpd), "%s/out.mpd", dir);
        for (int video = 0; video <= 1; video++) {
                char *argv[] = {"ffmpeg",
                                "-nostdin",
                                "-v",
                                "error",
                                "-f",
                                "lavfi",
                                "-i",
                                video ? "testsrc2=size=160x90:rate=25:duration=6"
                                      : "sine=frequency=440:duration=6",
                                "-c:v",
                                "libx264",
                                "-g",
                                "100",
                                "-keyint_min",
                                "100",
                                "-c:a",
                                "aac",
                                "-f",
                                "dash",
                                "-seg_duration",
                                "4",
                                "-init_seg_name",
                                "init.mp4",
                                "-media_seg_name",
                                "seg-$Number$.m4s",
                                mpd,
                                NULL};
                char *out = NULL;
                const char *err = NULL;
                int r = proc_capture(argv, 1 << 16, &out, &err);
                free(out);
                if (r < 0 || r == 127) {
                        char *rm[] = {"rm", "-rf", dir, NULL};
                        (void)proc_capture(rm, 1024, &out, &err);
                        free(out);
                        TEST_SKIP("ffmpeg not available");
                }
                ASSERT_EQ(r, 0);
                uint8_t *ib, *sb;
                size_t il, sl;
                struct mp4_track t;
                struct mp4_buf enc = {0};
                snprintf(path, sizeof(path), "%s/init.mp4", dir);
                ASSERT_EQ(util_file_read(path, 1 << 20, &ib, &il), 0);
                ASSERT_EQ(mp4_info_track_parse(ib, il, &t), 0);
                ASSERT_EQ(cenc_init_rewrite(ib, il, &test_key, &enc), 0);
                mp4_buf_done(&enc);
                for (int s = 1; s <= 2; s++) {
                        snprintf(path, sizeof(path), "%s/seg-%d.m4s", dir, s);
                        ASSERT_EQ(util_file_read(path, 1 << 24, &sb, &sl), 0);
                        ASSERT_EQ(cenc_segment_rewrite(sb, sl, &t, &test_key, &enc), 0);
                        size_t prot = 0;
                        long checked = verify_segment(sb, sl, enc.p, enc.len, &t, &test_key, &prot);
                        ASSERT_TRUE(checked > 0);
                        /* most of a real segment is slice data, and that is protected */
                        ASSERT_TRUE(prot > sl / 2);
                        mp4_buf_done(&enc);
                        free(sb);
                        (void)unlink(path);
                }
                free(ib);
                snprintf(path, sizeof(path), "%s/init.mp4", dir);
                (void)unlink(path);
                (void)unlink(mpd);
        }
        ASSERT_EQ(rmdir(dir), 0);
}

TEST_MAIN()
