/* SPDX-License-Identifier: MIT */
/*
 * MPD templates per asset version (mpd-cache.h).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fnv.h"

#include "mpd-cache.h"

#define MARK       '\xff' /* never in UTF-8 text, never touched by the XML escaper */
#define ID_MAX     129
#define KIND_MAX   32
#define BASE_STACK 512

/* A piece of a template: literal text, or the per-request string a code names. */
struct piece {
        uint32_t off, len; /* literal: text[off, off + len) */
        char code; /* 0 literal; 'E' pathway, 'B' base URL, 'K' token, 'S' session,
                    * 'L' every pathway, comma-separated (the steering URL's list) */
};

struct marker_key {
        char kind[KIND_MAX];
        double start, duration;
};

struct tmpl {
        bool used;
        char asset[ID_MAX];
        int64_t version;
        /* The rest of the key: what mpd_build() reads besides the per-request strings. */
        char *steer, *lic; /* with the session id replaced by MARK 'S'; NULL when absent */
        bool query_before_start, timeline;
        unsigned min_buffer_time_s;
        size_t n_markers;
        struct marker_key markers[MPD_MARKERS_MAX];
        /* The template. */
        char *text;
        size_t text_len;
        struct piece *pieces;
        size_t n_pieces, block_from, block_to; /* pieces[block_from, block_to): a BaseURL */
};

struct mpd_cache {
        struct tmpl slots[MPD_CACHE_SLOTS];
};

/* mpd_params as this file knows it: a new member must join the key above (and this size). */
_Static_assert(sizeof(void *) != 8 || sizeof(struct mpd_params) == 80,
               "struct mpd_params changed: add the new member to mpd-cache.c's key");

static void tmpl_clear(struct tmpl *t)
{
        free(t->steer);
        free(t->lic);
        free(t->text);
        free(t->pieces);
        memset(t, 0, sizeof(*t));
}

int mpd_cache_new(struct mpd_cache **ret)
{
        *ret = calloc(1, sizeof(**ret));
        return *ret ? 0 : -ENOMEM;
}

void mpd_cache_free(struct mpd_cache *c)
{
        if (!c)
                return;
        for (size_t i = 0; i < MPD_CACHE_SLOTS; i++)
                tmpl_clear(&c->slots[i]);
        free(c);
}

static uint32_t hash(const char *s, int64_t v)
{
        return fnv1a_str(FNV1A_INIT ^ (uint32_t)v ^ (uint32_t)((uint64_t)v >> 32), s);
}

/* s with each occurrence of sid replaced by MARK 'S' into out (cap bytes); NULL s gives "".
 * Returns false when it does not fit or s already holds MARK. */
static bool templated(const char *s, const char *sid, char *out, size_t cap)
{
        size_t o = 0, sl = strlen(sid);

        out[0] = '\0';
        if (!s)
                return true;
        if (strchr(s, MARK) || sl == 0)
                return false;
        for (const char *hit; (hit = strstr(s, sid)); s = hit + sl) {
                size_t n = (size_t)(hit - s);
                if (o + n + 2 >= cap)
                        return false;
                memcpy(out + o, s, n);
                o += n;
                out[o++] = MARK;
                out[o++] = 'S';
        }
        size_t rest = strlen(s);
        if (o + rest >= cap)
                return false;
        memcpy(out + o, s, rest + 1);
        return true;
}

static bool same_str(const char *kept, const char *now, bool present)
{
        return present ? kept && !strcmp(kept, now) : !kept;
}

static bool key_matches(const struct tmpl *t, const struct mpd_params *p, const char *asset_id,
                        int64_t version, const char *steer, const char *lic)
{
        if (!t->used || t->version != version || strcmp(t->asset, asset_id) ||
            t->query_before_start != p->steering_query_before_start ||
            t->timeline != p->segment_timeline || t->min_buffer_time_s != p->min_buffer_time_s ||
            t->n_markers != p->n_markers || !same_str(t->steer, steer, p->steering_url) ||
            !same_str(t->lic, lic, p->license_url))
                return false;
        for (size_t i = 0; i < p->n_markers; i++) {
                const struct mpd_marker *m = &p->markers[i];
                if (strcmp(t->markers[i].kind, m->kind ? m->kind : "") ||
                    t->markers[i].start != m->start || t->markers[i].duration != m->duration)
                        return false;
        }
        return true;
}

/* Cut text into pieces at each MARK code and find the BaseURL block. The template's one edge
 * is also the whole pathway list in the ContentSteering URL: a pathway mark inside that
 * element's text becomes 'L'. Returns 0 or -EINVAL (an unknown code, or no single BaseURL
 * line) / -ENOMEM. */
static int tmpl_parse(struct tmpl *t)
{
        static const char bu[] = "  <BaseURL serviceLocation=\"\xff"
                                 "E\">";
        const char *text = t->text, *end = text + t->text_len;
        const char *from = strstr(text, bu), *to;
        const char *cs = strstr(text, "<ContentSteering "), *cs_end = NULL;
        size_t cap = 16;

        if (cs && (cs = strchr(cs, '>')))
                cs_end = strstr(cs, "</ContentSteering>");

        if (!from || !(to = strstr(from, "</BaseURL>\n")) || strstr(to, bu))
                return -EINVAL;
        to += strlen("</BaseURL>\n");
        t->pieces = malloc(cap * sizeof(*t->pieces));
        if (!t->pieces)
                return -ENOMEM;
        const char *run = text, *p = text;
        for (;;) {
                bool mark = p < end && *p == MARK;
                if (p != from && p != to && p != end && !mark) {
                        p++;
                        continue;
                }
                if (t->n_pieces + 2 > cap) {
                        struct piece *n = realloc(t->pieces, 2 * cap * sizeof(*n));
                        if (!n)
                                return -ENOMEM;
                        t->pieces = n;
                        cap *= 2;
                }
                if (p > run)
                        t->pieces[t->n_pieces++] = (struct piece){.off = (uint32_t)(run - text),
                                                                  .len = (uint32_t)(p - run)};
                if (p == from)
                        t->block_from = t->n_pieces;
                if (p == to)
                        t->block_to = t->n_pieces;
                if (p == end)
                        break;
                if (mark) {
                        char code = p + 1 < end ? p[1] : 0;
                        if (code != 'E' && code != 'B' && code != 'K' && code != 'S')
                                return -EINVAL;
                        if (code == 'E' && cs_end && p > cs && p < cs_end)
                                code = 'L';
                        t->pieces[t->n_pieces++] = (struct piece){.code = code};
                        p += 2;
                        run = p;
                } else {
                        run = p++; /* a block edge: the next literal starts here */
                }
        }
        return t->block_to > t->block_from ? 0 : -EINVAL;
}

/* Build the template for p into t (cleared first). Returns 0 or -errno (t left unused). */
static int tmpl_make(struct tmpl *t, const struct mpd_params *p, const char *asset_id,
                     int64_t version, const char *steer, const char *lic)
{
        const struct mpd_edge edge = {.service_location = "\xff"
                                                          "E",
                                      .base_url = "\xff"
                                                  "B",
                                      .token = "\xff"
                                               "K"};
        struct mpd_params tp = *p;
        int r;

        tmpl_clear(t);
        if (strlen(asset_id) >= sizeof(t->asset) || p->n_markers > MPD_MARKERS_MAX)
                return -EINVAL;
        for (size_t i = 0; i < p->n_markers; i++) {
                const char *k = p->markers[i].kind ? p->markers[i].kind : "";
                if (strlen(k) >= KIND_MAX || strchr(k, MARK))
                        return -EINVAL;
                snprintf(t->markers[i].kind, KIND_MAX, "%s", k);
                t->markers[i].start = p->markers[i].start;
                t->markers[i].duration = p->markers[i].duration;
        }
        tp.edges = &edge;
        tp.n_edges = 1;
        tp.steering_url = p->steering_url ? steer : NULL;
        tp.license_url = p->license_url ? lic : NULL;
        r = mpd_build(&tp, &t->text, &t->text_len);
        if (r < 0)
                goto fail;
        if (t->text_len > UINT32_MAX) {
                r = -E2BIG;
                goto fail;
        }
        r = tmpl_parse(t);
        if (r < 0)
                goto fail;
        t->steer = p->steering_url ? strdup(steer) : NULL;
        t->lic = p->license_url ? strdup(lic) : NULL;
        if ((p->steering_url && !t->steer) || (p->license_url && !t->lic)) {
                r = -ENOMEM;
                goto fail;
        }
        memcpy(t->asset, asset_id, strlen(asset_id) + 1);
        t->version = version;
        t->query_before_start = p->steering_query_before_start;
        t->timeline = p->segment_timeline;
        t->min_buffer_time_s = p->min_buffer_time_s;
        t->n_markers = p->n_markers;
        t->used = true;
        return 0;
fail:
        tmpl_clear(t);
        return r;
}

/* The bytes mpd_buf_xml_escape() changes: a string without them goes out as it is (a token,
 * a session id, most URLs), found by one table scan instead of a byte-by-byte switch (the
 * library's strcspn() rebuilt a table of these 33 bytes on every call). */
static const bool xml_special[256] = {
    ['&'] = true,  ['<'] = true,  ['>'] = true,  ['"'] = true,  ['\''] = true, [0x01] = true,
    [0x02] = true, [0x03] = true, [0x04] = true, [0x05] = true, [0x06] = true, [0x07] = true,
    [0x08] = true, [0x0b] = true, [0x0c] = true, [0x0e] = true, [0x0f] = true, [0x10] = true,
    [0x11] = true, [0x12] = true, [0x13] = true, [0x14] = true, [0x15] = true, [0x16] = true,
    [0x17] = true, [0x18] = true, [0x19] = true, [0x1a] = true, [0x1b] = true, [0x1c] = true,
    [0x1d] = true, [0x1e] = true, [0x1f] = true,
};

static void put_escaped(struct mpd_buf *b, const char *s)
{
        size_t n = 0;

        while (s[n] && !xml_special[(unsigned char)s[n]])
                n++;
        if (!s[n])
                mpd_buf_append(b, s, n);
        else
                mpd_buf_xml_escape(b, s);
}

/* An edge's base URL without trailing slashes, escaped (as mpd_build's BaseURL does). */
static void put_base(struct mpd_buf *b, const char *base)
{
        char stack[BASE_STACK];
        size_t n = strlen(base);

        while (n > 0 && base[n - 1] == '/')
                n--;
        char *s = n < sizeof(stack) ? stack : malloc(n + 1);
        if (!s) {
                (void)buf_fail(&b->b, -ENOMEM);
                return;
        }
        memcpy(s, base, n);
        s[n] = '\0';
        put_escaped(b, s);
        if (s != stack)
                free(s);
}

static void put_piece(struct mpd_buf *b, const struct tmpl *t, const struct piece *pc,
                      const struct mpd_params *p, const struct mpd_edge *e, const char *sid)
{
        switch (pc->code) {
        case 'L':
                for (size_t i = 0; i < p->n_edges; i++) {
                        if (i)
                                mpd_buf_append(b, ",", 1);
                        put_escaped(b, p->edges[i].service_location);
                }
                break;
        case 0:
                mpd_buf_append(b, t->text + pc->off, pc->len);
                break;
        case 'E':
                put_escaped(b, e->service_location);
                break;
        case 'B':
                put_base(b, e->base_url);
                break;
        case 'K':
                put_escaped(b, e->token);
                break;
        default:
                put_escaped(b, sid);
                break;
        }
}

static int render(const struct tmpl *t, const struct mpd_params *p, const char *sid, char **ret,
                  size_t *ret_len)
{
        struct mpd_buf b;

        mpd_buf_init(&b, MPD_OUT_MAX);
        /* Most of the answer is the template: one allocation, no growth. */
        (void)mpd_buf_reserve(&b, t->text_len + 1024 * p->n_edges);
        for (size_t i = 0; i < t->block_from; i++)
                put_piece(&b, t, &t->pieces[i], p, &p->edges[0], sid);
        for (size_t e = 0; e < p->n_edges; e++)
                for (size_t i = t->block_from; i < t->block_to; i++)
                        put_piece(&b, t, &t->pieces[i], p, &p->edges[e], sid);
        for (size_t i = t->block_to; i < t->n_pieces; i++)
                put_piece(&b, t, &t->pieces[i], p, &p->edges[0], sid);
        return mpd_buf_steal(&b, ret, ret_len);
}

int mpd_cache_build(struct mpd_cache *c, const struct mpd_params *p, const char *asset_id,
                    int64_t version, const char *sid, char **ret, size_t *ret_len)
{
        char steer[2048], lic[2048]; /* a public URL and a signed session id */
        const char *token;
        struct tmpl *t;

        if (!c || !p->asset || !p->edges || p->n_edges == 0 || p->n_edges > MPD_EDGES_MAX ||
            p->title_path || !asset_id || !sid)
                return mpd_build(p, ret, ret_len);
        token = p->edges[0].token;
        for (size_t i = 0; i < p->n_edges; i++) {
                const struct mpd_edge *e = &p->edges[i];
                if (!token || !*token || !e->token || strcmp(e->token, token) ||
                    !e->service_location || !e->base_url)
                        return mpd_build(p, ret, ret_len);
        }
        if (!templated(p->steering_url, sid, steer, sizeof(steer)) ||
            !templated(p->license_url, sid, lic, sizeof(lic)))
                return mpd_build(p, ret, ret_len);
        t = &c->slots[hash(asset_id, version) & (MPD_CACHE_SLOTS - 1)];
        if (!key_matches(t, p, asset_id, version, steer, lic) &&
            tmpl_make(t, p, asset_id, version, steer, lic) < 0)
                return mpd_build(p, ret, ret_len);
        return render(t, p, sid, ret, ret_len);
}
