/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mp4-box.h"

/*
 * Boxes we descend into, with the bytes of their own fields before the child boxes start.
 * Sample entries are containers too: the encryption rewrite appends 'sinf' to them.
 */
static const struct {
        uint32_t type;
        uint32_t prefix;
} containers[] = {
    {MP4_FOURCC('m', 'o', 'o', 'v'), 0},
    {MP4_FOURCC('t', 'r', 'a', 'k'), 0},
    {MP4_FOURCC('m', 'd', 'i', 'a'), 0},
    {MP4_FOURCC('m', 'i', 'n', 'f'), 0},
    {MP4_FOURCC('s', 't', 'b', 'l'), 0},
    {MP4_FOURCC('m', 'v', 'e', 'x'), 0},
    {MP4_FOURCC('m', 'o', 'o', 'f'), 0},
    {MP4_FOURCC('t', 'r', 'a', 'f'), 0},
    {MP4_FOURCC('d', 'i', 'n', 'f'), 0},
    {MP4_FOURCC('e', 'd', 't', 's'), 0},
    {MP4_FOURCC('s', 'i', 'n', 'f'), 0},
    {MP4_FOURCC('s', 'c', 'h', 'i'), 0},
    /* FullBox header + entry_count */
    {MP4_FOURCC('s', 't', 's', 'd'), 8},
    /* SampleEntry (8) + VisualSampleEntry fields (70) */
    {MP4_FOURCC('a', 'v', 'c', '1'), 78},
    {MP4_FOURCC('a', 'v', 'c', '3'), 78},
    {MP4_FOURCC('e', 'n', 'c', 'v'), 78},
    /* SampleEntry (8) + AudioSampleEntry fields (20) */
    {MP4_FOURCC('m', 'p', '4', 'a'), 28},
    {MP4_FOURCC('e', 'n', 'c', 'a'), 28},
};

static int container_prefix(uint32_t type)
{
        for (size_t i = 0; i < sizeof(containers) / sizeof(containers[0]); i++)
                if (containers[i].type == type)
                        return (int)containers[i].prefix;
        return -1;
}

struct mp4_box *mp4_box_new(uint32_t type)
{
        struct mp4_box *b = calloc(1, sizeof(*b));
        if (b)
                b->type = type;
        return b;
}

struct mp4_box *mp4_box_free(struct mp4_box *b)
{
        if (!b)
                return NULL;
        for (size_t i = 0; i < b->n_kids; i++)
                mp4_box_free(b->kids[i]);
        free(b->kids);
        free(b->owned);
        free(b);
        return NULL;
}

int mp4_box_payload_set(struct mp4_box *b, const void *data, size_t len)
{
        uint8_t *copy = malloc(len ? len : 1);
        if (!copy)
                return -ENOMEM;
        if (len)
                memcpy(copy, data, len);
        free(b->owned);
        b->owned = copy;
        b->data = copy;
        b->data_len = len;
        return 0;
}

int mp4_box_child_add(struct mp4_box *parent, struct mp4_box *kid, size_t pos)
{
        if (parent->n_kids == parent->cap_kids) {
                size_t cap = parent->cap_kids ? parent->cap_kids * 2 : 4;
                struct mp4_box **k = realloc(parent->kids, cap * sizeof(*k));
                if (!k)
                        return -ENOMEM;
                parent->kids = k;
                parent->cap_kids = cap;
        }
        if (pos > parent->n_kids)
                pos = parent->n_kids;
        memmove(parent->kids + pos + 1, parent->kids + pos,
                (parent->n_kids - pos) * sizeof(*parent->kids));
        parent->kids[pos] = kid;
        parent->n_kids++;
        parent->is_container = 1;
        return 0;
}

struct mp4_box *mp4_box_child_find(const struct mp4_box *parent, uint32_t type)
{
        for (size_t i = 0; parent && i < parent->n_kids; i++)
                if (parent->kids[i]->type == type)
                        return parent->kids[i];
        return NULL;
}

struct mp4_box *mp4_box_path_find(const struct mp4_box *parent, const char *path)
{
        const struct mp4_box *cur = parent;
        const char *p = path;
        while (cur && *p) {
                if (strlen(p) < 4)
                        return NULL;
                cur = mp4_box_child_find(cur, MP4_FOURCC(p[0], p[1], p[2], p[3]));
                p += 4;
                if (*p == '/')
                        p++;
        }
        return (struct mp4_box *)cur;
}

/* Parse the boxes in buf[start..end) as children of parent. */
static int parse_range(const uint8_t *buf, size_t start, size_t end, struct mp4_box *parent,
                       unsigned depth, size_t *count)
{
        size_t off = start;
        if (depth > MP4_BOX_DEPTH_MAX)
                return -E2BIG;
        while (off < end) {
                size_t avail = end - off;
                if (avail < 8)
                        return -EBADMSG;
                uint64_t size = mp4_rd32(buf + off);
                uint32_t type = mp4_rd32(buf + off + 4);
                size_t hdr = 8;
                if (size == 1) {
                        if (avail < 16)
                                return -EBADMSG;
                        size = mp4_rd64(buf + off + 8);
                        hdr = 16;
                } else if (size == 0) {
                        /* "extends to the end": only meaningful at the top level */
                        if (depth != 0)
                                return -EBADMSG;
                        size = avail;
                }
                if (size < hdr || size > avail)
                        return -EBADMSG;
                if (++*count > MP4_BOX_COUNT_MAX)
                        return -E2BIG;

                struct mp4_box *b = mp4_box_new(type);
                if (!b)
                        return -ENOMEM;
                b->offset = off;
                b->parsed_size = size;
                int r = mp4_box_child_add(parent, b, SIZE_MAX);
                if (r < 0) {
                        mp4_box_free(b);
                        return r;
                }
                size_t body = off + hdr, body_end = off + (size_t)size;
                int prefix = container_prefix(type);
                if (prefix < 0 || (size_t)prefix > body_end - body) {
                        b->data = buf + body;
                        b->data_len = body_end - body;
                } else {
                        b->is_container = 1;
                        b->data = buf + body;
                        b->data_len = (size_t)prefix;
                        r = parse_range(buf, body + (size_t)prefix, body_end, b, depth + 1, count);
                        if (r < 0)
                                return r;
                }
                off = body_end;
        }
        return 0;
}

int mp4_box_parse(const uint8_t *buf, size_t len, struct mp4_box **ret_root)
{
        size_t count = 0;
        struct mp4_box *root = mp4_box_new(0);
        if (!root)
                return -ENOMEM;
        root->is_container = 1;
        root->is_root = 1;
        int r = parse_range(buf, 0, len, root, 0, &count);
        if (r < 0) {
                mp4_box_free(root);
                return r;
        }
        *ret_root = root;
        return 0;
}

static uint64_t body_size(const struct mp4_box *b)
{
        uint64_t n = b->data_len;
        for (size_t i = 0; i < b->n_kids; i++)
                n += mp4_box_size(b->kids[i]);
        return n;
}

uint64_t mp4_box_size(const struct mp4_box *b)
{
        uint64_t n = body_size(b);
        if (b->is_root)
                return n;
        return n + (n + 8 > UINT32_MAX ? 16 : 8);
}

int mp4_buf_append(struct mp4_buf *out, const void *data, size_t len)
{
        if (len > SIZE_MAX - out->len)
                return -ENOMEM;
        if (out->len + len > out->cap) {
                size_t cap = out->cap ? out->cap : 4096;
                while (cap < out->len + len)
                        cap *= 2;
                uint8_t *p = realloc(out->p, cap);
                if (!p)
                        return -ENOMEM;
                out->p = p;
                out->cap = cap;
        }
        if (len)
                memcpy(out->p + out->len, data, len);
        out->len += len;
        return 0;
}

void mp4_buf_done(struct mp4_buf *out)
{
        free(out->p);
        *out = (struct mp4_buf){0};
}

int mp4_box_write(const struct mp4_box *b, struct mp4_buf *out)
{
        int r;
        if (!b->is_root) {
                uint64_t size = mp4_box_size(b);
                uint8_t hdr[16];
                size_t hlen = 8;
                if (size > UINT32_MAX) {
                        mp4_wr32(hdr, 1);
                        mp4_wr32(hdr + 4, b->type);
                        mp4_wr64(hdr + 8, size);
                        hlen = 16;
                } else {
                        mp4_wr32(hdr, (uint32_t)size);
                        mp4_wr32(hdr + 4, b->type);
                }
                r = mp4_buf_append(out, hdr, hlen);
                if (r < 0)
                        return r;
        }
        r = mp4_buf_append(out, b->data, b->data_len);
        if (r < 0)
                return r;
        for (size_t i = 0; i < b->n_kids; i++) {
                r = mp4_box_write(b->kids[i], out);
                if (r < 0)
                        return r;
        }
        return 0;
}

const char *mp4_fourcc_str(uint32_t type, char buf[5])
{
        for (int i = 0; i < 4; i++) {
                char c = (char)(type >> (24 - 8 * i));
                buf[i] = (c >= 0x20 && c < 0x7f) ? c : '.';
        }
        buf[4] = '\0';
        return buf;
}
