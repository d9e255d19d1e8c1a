/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * ISO BMFF (ISO/IEC 14496-12) boxes as a small tree: parse a buffer, find and edit boxes,
 * serialise it back. Sizes are recomputed on write, so adding a box anywhere grows every
 * ancestor without the caller doing arithmetic.
 *
 * Leaf payloads are not copied: a parsed box points into the caller's buffer, which must
 * outlive the tree. A payload set with mp4_box_payload_set() is owned by the box.
 */

#include <stddef.h>
#include <stdint.h>

/* Limits for untrusted input: nesting depth and total number of boxes in one parse. */
#define MP4_BOX_DEPTH_MAX 16
#define MP4_BOX_COUNT_MAX 100000

#define MP4_FOURCC(a, b, c, d)                                                                     \
        ((uint32_t)(uint8_t)(a) << 24 | (uint32_t)(uint8_t)(b) << 16 |                             \
         (uint32_t)(uint8_t)(c) << 8 | (uint32_t)(uint8_t)(d))

struct mp4_box {
        uint32_t type;
        uint64_t offset;      /* where the box started in the parsed buffer (0 for new) */
        uint64_t parsed_size; /* its size there, header included (0 for new) */
        /* Payload bytes before any children; for a leaf, the whole payload. */
        const uint8_t *data;
        size_t data_len;
        uint8_t *owned; /* non-NULL when data is ours to free */
        struct mp4_box **kids;
        size_t n_kids, cap_kids;
        /* Containers that were parsed as such (even when empty). */
        int is_container;
        int is_root; /* the pseudo-box mp4_box_parse() returns */
};

/* A growable output buffer. */
struct mp4_buf {
        uint8_t *p;
        size_t len, cap;
};

static inline uint16_t mp4_rd16(const uint8_t *p)
{
        return (uint16_t)(p[0] << 8 | p[1]);
}
static inline uint32_t mp4_rd32(const uint8_t *p)
{
        return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t mp4_rd64(const uint8_t *p)
{
        return (uint64_t)mp4_rd32(p) << 32 | mp4_rd32(p + 4);
}
static inline void mp4_wr16(uint8_t *p, uint16_t v)
{
        p[0] = (uint8_t)(v >> 8);
        p[1] = (uint8_t)v;
}
static inline void mp4_wr32(uint8_t *p, uint32_t v)
{
        p[0] = (uint8_t)(v >> 24);
        p[1] = (uint8_t)(v >> 16);
        p[2] = (uint8_t)(v >> 8);
        p[3] = (uint8_t)v;
}
static inline void mp4_wr64(uint8_t *p, uint64_t v)
{
        mp4_wr32(p, (uint32_t)(v >> 32));
        mp4_wr32(p + 4, (uint32_t)v);
}

/*
 * mp4_box_parse: parse buf[0..len) into a tree. The returned root is a pseudo-box (type 0)
 * whose children are the top-level boxes. Known containers (moov, trak, moof, stsd, sample
 * entries, ...) are descended into; everything else, mdat included, is a leaf pointing into
 * buf. Returns 0, -EBADMSG on malformed input, -E2BIG past the limits above, -ENOMEM.
 * Ownership: *ret_root is the caller's (mp4_box_free); buf must outlive it.
 */
int mp4_box_parse(const uint8_t *buf, size_t len, struct mp4_box **ret_root);

/* mp4_box_free: free a tree (accepts NULL). Returns NULL. */
struct mp4_box *mp4_box_free(struct mp4_box *b);

/* mp4_box_new: a new empty box of type, or NULL on OOM. Owned by the caller until added. */
struct mp4_box *mp4_box_new(uint32_t type);

/*
 * mp4_box_payload_set: replace b's leading payload with a copy of data[0..len).
 * Returns 0 or -ENOMEM.
 */
int mp4_box_payload_set(struct mp4_box *b, const void *data, size_t len);

/*
 * mp4_box_child_add: append kid to parent's children (at index pos, or at the end when pos
 * is past it). The parent takes ownership on success. Returns 0 or -ENOMEM.
 */
int mp4_box_child_add(struct mp4_box *parent, struct mp4_box *kid, size_t pos);

/* mp4_box_child_find: first direct child of type, or NULL. Borrowed pointer. */
struct mp4_box *mp4_box_child_find(const struct mp4_box *parent, uint32_t type);

/*
 * mp4_box_path_find: walk a '/'-separated path of four-character codes from parent,
 * taking the first match at each level ("moov/trak/mdia"). Borrowed pointer or NULL.
 */
struct mp4_box *mp4_box_path_find(const struct mp4_box *parent, const char *path);

/* mp4_box_size: serialised size of b with its header and children. */
uint64_t mp4_box_size(const struct mp4_box *b);

/*
 * mp4_box_write: append b (or, for a root pseudo-box, its children) to out.
 * Returns 0 or -ENOMEM.
 */
int mp4_box_write(const struct mp4_box *b, struct mp4_buf *out);

/* mp4_buf_append: append bytes to out, growing it. Returns 0 or -ENOMEM. */
int mp4_buf_append(struct mp4_buf *out, const void *data, size_t len);

/* mp4_buf_done: free out's memory and zero it. */
void mp4_buf_done(struct mp4_buf *out);

/* mp4_fourcc_str: type as four printable characters in buf[5]. Returns buf. */
const char *mp4_fourcc_str(uint32_t type, char buf[5]);
