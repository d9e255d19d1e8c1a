/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <nghttp2/nghttp2.h>

/*
 * The client's frames followed alongside nghttp2, for what nghttp2 does not keep: it folds a
 * SETTINGS frame's values into one per setting, the last, before any callback sees them,
 * while RFC 9113 §6.5.3 processes them in order, each with its effect (an
 * INITIAL_WINDOW_SIZE of 2^31-1 then one of 65535 in one frame overflows a stream window on
 * the way). Only the frames' boundaries and SETTINGS payloads are read; nghttp2 judges the
 * frames. It also counts DATA frames, which nghttp2 drops without a callback on a stream it
 * forgot.
 */
struct h2_scan {
        size_t preface; /* bytes of the client preface still to come */
        uint32_t left;  /* payload bytes of the current frame still to come */
        uint8_t hd[9];  /* the current frame's header, hd_len bytes of it so far */
        uint8_t hd_len;
        uint8_t ent[6]; /* a SETTINGS entry split between inputs */
        uint8_t ent_len;
        bool settings;      /* the current frame is a SETTINGS frame (not an ACK) */
        int64_t window_max; /* the largest INITIAL_WINDOW_SIZE of the latest SETTINGS frame
                             * (the one being read, or the last one read), -1 if it had none */
        uint64_t data_frames; /* DATA frame headers read: nghttp2 drops some unreported */
};

/* A connection's scan; its input starts with a client preface of preface_len bytes. */
void h2_scan_init(struct h2_scan *sc, size_t preface_len);

/*
 * Follows buf[0..len), and returns how many of its bytes to hand to nghttp2 next: len, or
 * fewer so that a SETTINGS frame with a payload ends them, its window_max then read before
 * the next call (nghttp2 reports the frame once its last byte is in).
 */
size_t h2_scan(struct h2_scan *sc, const uint8_t *buf, size_t len);

/* Extension frames (every type past CONTINUATION) registered with cb and opt, so that their
 * headers reach the begin-frame callback, which counts them; their payloads are dropped as
 * they come, and the frames ignored (RFC 9113 §4.1, §5.5). */
void h2_scan_extensions(nghttp2_session_callbacks *cb, nghttp2_option *opt);
