/* SPDX-License-Identifier: MIT */
/*
 * The client's frame boundaries and SETTINGS values, read as the input passes (see
 * h2-frame-scan.h).
 */
#include "h2-frame-scan.h"

#define FRAME_DATA          0x0
#define FRAME_SETTINGS      0x4
#define FLAG_ACK            0x1
#define INITIAL_WINDOW_SIZE 0x4

void h2_scan_init(struct h2_scan *sc, size_t preface_len)
{
        *sc = (struct h2_scan){.preface = preface_len, .window_max = -1};
}

static void entry(struct h2_scan *sc)
{
        const uint8_t *e = sc->ent;
        uint32_t v = (uint32_t)e[2] << 24 | (uint32_t)e[3] << 16 | (uint32_t)e[4] << 8 | e[5];

        if ((e[0] << 8 | e[1]) == INITIAL_WINDOW_SIZE && (int64_t)v > sc->window_max)
                sc->window_max = v;
}

size_t h2_scan(struct h2_scan *sc, const uint8_t *buf, size_t len)
{
        size_t i = 0;

        if (sc->preface > 0) {
                i = sc->preface < len ? sc->preface : len;
                sc->preface -= i;
        }
        while (i < len) {
                size_t n;

                if (sc->hd_len < sizeof(sc->hd)) {
                        sc->hd[sc->hd_len++] = buf[i++];
                        if (sc->hd_len < sizeof(sc->hd))
                                continue;
                        sc->left = (uint32_t)sc->hd[0] << 16 | (uint32_t)sc->hd[1] << 8 | sc->hd[2];
                        sc->settings = sc->hd[3] == FRAME_SETTINGS && !(sc->hd[4] & FLAG_ACK);
                        sc->data_frames += sc->hd[3] == FRAME_DATA;
                        if (sc->settings) {
                                sc->window_max = -1;
                                sc->ent_len = 0;
                        }
                        if (sc->left > 0)
                                continue;
                        sc->hd_len = 0;
                        continue;
                }
                n = len - i < sc->left ? len - i : sc->left;
                for (size_t k = 0; sc->settings && k < n; k++) {
                        sc->ent[sc->ent_len++] = buf[i + k];
                        if (sc->ent_len == sizeof(sc->ent)) {
                                entry(sc);
                                sc->ent_len = 0;
                        }
                }
                i += n;
                sc->left -= (uint32_t)n;
                if (sc->left == 0) {
                        sc->hd_len = 0;
                        if (sc->settings)
                                return i; /* its values are read: nghttp2 reports it next */
                }
        }
        return len;
}

/* ---- extension frames ---- */

/* An extension frame's payload, dropped as it comes. */
static int ext_chunk_cb(nghttp2_session *s, const nghttp2_frame_hd *hd, const uint8_t *data,
                        size_t len, void *ud)
{
        (void)s;
        (void)hd;
        (void)data;
        (void)len;
        (void)ud;
        return 0;
}

static int ext_unpack_cb(nghttp2_session *s, void **payload, const nghttp2_frame_hd *hd, void *ud)
{
        (void)s;
        (void)payload;
        (void)hd;
        (void)ud;
        return NGHTTP2_ERR_CANCEL; /* ignored, as RFC 9113 §4.1 and §5.5 ask */
}

void h2_scan_extensions(nghttp2_session_callbacks *cb, nghttp2_option *opt)
{
        nghttp2_session_callbacks_set_on_extension_chunk_recv_callback(cb, ext_chunk_cb);
        nghttp2_session_callbacks_set_unpack_extension_callback(cb, ext_unpack_cb);
        for (unsigned t = NGHTTP2_CONTINUATION + 1; t <= 0xff; t++)
                nghttp2_option_set_user_recv_extension_type(opt, (uint8_t)t);
}
