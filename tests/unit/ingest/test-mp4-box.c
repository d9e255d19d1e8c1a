/* SPDX-License-Identifier: MIT */
#include <errno.h>

#include "tests.h"

#include "mp4-box.h"
#include "mp4-info.h"
#include "mp4-fixtures.h"

#define T(s) MP4_FOURCC(s[0], s[1], s[2], s[3])

TEST(parse_write_roundtrip)
{
        struct mp4_buf b = {0}, out = {0};
        struct mp4_box *root = NULL;
        uint8_t ftyp[8] = {'i', 's', 'o', '6', 0, 0, 2, 0};
        put_box(&b, "ftyp", ftyp, sizeof(ftyp));
        size_t moov = b.len;
        put_box(&b, "mvhd", "\0\0\0\0abcdefgh", 12);
        size_t trak = b.len;
        put_box(&b, "tkhd", "xyz", 3);
        wrap(&b, trak, "trak");
        wrap(&b, moov, "moov");
        put_box(&b, "mdat", "payload", 7);

        ASSERT_EQ(mp4_box_parse(b.p, b.len, &root), 0);
        ASSERT_EQ(root->n_kids, 3);
        ASSERT_TRUE(root->kids[1]->is_container);
        struct mp4_box *tkhd = mp4_box_path_find(root, "moov/trak/tkhd");
        ASSERT_TRUE(tkhd != NULL);
        ASSERT_MEMEQ(tkhd->data, tkhd->data_len, "xyz", 3);
        ASSERT_EQ(mp4_box_size(root), b.len);
        ASSERT_EQ(mp4_box_write(root, &out), 0);
        ASSERT_MEMEQ(out.p, out.len, b.p, b.len);

        /* Adding a box deep down grows every ancestor. */
        struct mp4_box *extra = mp4_box_new(T("udta"));
        ASSERT_EQ(mp4_box_payload_set(extra, "12345", 5), 0);
        struct mp4_box *trakb = mp4_box_path_find(root, "moov/trak");
        ASSERT_EQ(mp4_box_child_add(trakb, extra, SIZE_MAX), 0);
        out.len = 0;
        ASSERT_EQ(mp4_box_write(root, &out), 0);
        ASSERT_EQ(out.len, b.len + 13);
        ASSERT_EQ(mp4_rd32(out.p + 16), mp4_rd32(b.p + 16) + 13); /* moov size */
        struct mp4_box *again = NULL;
        ASSERT_EQ(mp4_box_parse(out.p, out.len, &again), 0);
        ASSERT_TRUE(mp4_box_path_find(again, "moov/trak/udta") != NULL);
        ASSERT_EQ(mp4_box_path_find(again, "moov/trak/udta")->data_len, 5);
        mp4_box_free(again);
        mp4_box_free(root);
        mp4_buf_done(&b);
        mp4_buf_done(&out);
}

TEST(parse_rejects_bad_sizes)
{
        struct mp4_box *root = NULL;
        uint8_t small[8] = {0, 0, 0, 4, 'f', 'r', 'e', 'e'};
        ASSERT_EQ(mp4_box_parse(small, sizeof(small), &root), -EBADMSG);
        uint8_t big[8] = {0, 0, 0, 9, 'f', 'r', 'e', 'e'};
        ASSERT_EQ(mp4_box_parse(big, sizeof(big), &root), -EBADMSG);
        uint8_t trunc[6] = {0, 0, 0, 8, 'f', 'r'};
        ASSERT_EQ(mp4_box_parse(trunc, sizeof(trunc), &root), -EBADMSG);
        /* child overruns its parent */
        uint8_t kid[16] = {0, 0, 0, 16, 'm', 'o', 'o', 'v', 0, 0, 0, 9, 'f', 'r', 'e', 'e'};
        ASSERT_EQ(mp4_box_parse(kid, sizeof(kid), &root), -EBADMSG);
        /* size 0 ("to the end") is fine at the top, not inside a container */
        uint8_t zero[12] = {0, 0, 0, 0, 'm', 'd', 'a', 't', 1, 2, 3, 4};
        ASSERT_EQ(mp4_box_parse(zero, sizeof(zero), &root), 0);
        ASSERT_EQ(root->kids[0]->data_len, 4);
        root = mp4_box_free(root);
        uint8_t zin[16] = {0, 0, 0, 16, 'm', 'o', 'o', 'v', 0, 0, 0, 0, 'f', 'r', 'e', 'e'};
        ASSERT_EQ(mp4_box_parse(zin, sizeof(zin), &root), -EBADMSG);
        /* 64-bit largesize */
        uint8_t large[20] = {0, 0, 0, 1, 'm', 'd', 'a', 't', 0, 0, 0, 0, 0, 0, 0, 20, 9, 9, 9, 9};
        ASSERT_EQ(mp4_box_parse(large, sizeof(large), &root), 0);
        ASSERT_EQ(root->kids[0]->data_len, 4);
        mp4_box_free(root);
}

TEST(parse_depth_limit)
{
        struct mp4_buf b = {0};
        struct mp4_box *root = NULL;
        put_box(&b, "free", NULL, 0);
        for (int i = 0; i < MP4_BOX_DEPTH_MAX + 4; i++)
                wrap(&b, 0, "moov");
        ASSERT_EQ(mp4_box_parse(b.p, b.len, &root), -E2BIG);
        mp4_buf_done(&b);
}

TEST(parse_count_limit)
{
        struct mp4_buf b = {0};
        struct mp4_box *root = NULL;
        for (int i = 0; i < MP4_BOX_COUNT_MAX + 1; i++)
                put_box(&b, "free", NULL, 0);
        ASSERT_EQ(mp4_box_parse(b.p, b.len, &root), -E2BIG);
        mp4_buf_done(&b);
}

TEST(track_video)
{
        struct mp4_buf b = {0};
        struct mp4_track t;
        make_init(&b, 1);
        ASSERT_EQ(mp4_info_track_parse(b.p, b.len, &t), 0);
        ASSERT_STREQ(t.codec, "avc1.64001f");
        ASSERT_EQ(t.width, 640);
        ASSERT_EQ(t.height, 360);
        ASSERT_EQ(t.timescale, 12800);
        ASSERT_EQ(t.nal_length_size, 4);
        ASSERT_EQ(t.track_id, 1);
        ASSERT_EQ(t.trex_duration, 512);
        ASSERT_EQ(t.handler, T("vide"));
        /* Every truncation is an error, never a crash. */
        for (size_t cut = 0; cut < b.len; cut += 7)
                ASSERT_TRUE(mp4_info_track_parse(b.p, cut, &t) < 0);
        mp4_buf_done(&b);
}

TEST(track_audio)
{
        struct mp4_buf b = {0};
        struct mp4_track t;
        make_init(&b, 0);
        ASSERT_EQ(mp4_info_track_parse(b.p, b.len, &t), 0);
        ASSERT_STREQ(t.codec, "mp4a.40.2");
        ASSERT_EQ(t.channels, 2);
        ASSERT_EQ(t.sample_rate, 48000);
        ASSERT_EQ(t.nal_length_size, 0);
        mp4_buf_done(&b);
}

TEST(segment_samples)
{
        struct mp4_buf init = {0}, seg = {0};
        struct mp4_track t;
        uint32_t sizes[3] = {10, 20, 30};
        uint8_t data[60];
        for (int i = 0; i < 60; i++)
                data[i] = (uint8_t)i;
        make_init(&init, 1);
        ASSERT_EQ(mp4_info_track_parse(init.p, init.len, &t), 0);
        make_segment(&seg, sizes, 3, data, 51200);
        uint64_t start, dur;
        int sync;
        ASSERT_EQ(mp4_info_segment_timing(seg.p, seg.len, &t, &start, &dur, &sync), 0);
        ASSERT_EQ(start, 51200);
        ASSERT_EQ(dur, 3 * 512);
        ASSERT_TRUE(sync);

        struct mp4_box *root = NULL;
        struct mp4_frag f;
        ASSERT_EQ(mp4_box_parse(seg.p, seg.len, &root), 0);
        struct mp4_box *moof = mp4_box_child_find(root, T("moof"));
        ASSERT_EQ(mp4_info_frag_parse(moof, seg.len, &t, &f), 0);
        ASSERT_EQ(f.n_samples, 3);
        ASSERT_EQ(f.samples[1].size, 20);
        ASSERT_MEMEQ(seg.p + f.samples[2].offset, 30, data + 30, 30);
        ASSERT_TRUE(f.samples[1].flags & MP4_SAMPLE_NON_SYNC);
        free(f.samples);
        /* A sample that runs past the buffer is refused. */
        ASSERT_EQ(mp4_info_frag_parse(moof, seg.len - 1, &t, &f), -EBADMSG);
        mp4_box_free(root);
        mp4_buf_done(&init);
        mp4_buf_done(&seg);
}

TEST_MAIN()
