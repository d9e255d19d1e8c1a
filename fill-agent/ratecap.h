/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/*
 * A token bucket in bytes, clocked by the caller (monotonic nanoseconds), so tests drive it
 * with a fake clock. It starts empty and holds at most `burst` bytes, so the bytes let through
 * in any interval T are at most rate*T + burst; with burst = rate/100 the cap holds within 5%
 * over any window of a second or more. Taking may overdraw (a chunk is taken whole); the
 * debt is repaid before anything more passes.
 *
 * rate 0 means uncapped: everything passes. No allocation; embed the struct.
 */
struct ratecap {
        double rate;  /* bytes per second; 0: uncapped */
        double burst; /* bytes */
        double tokens;
        int64_t last_ns;
};

/* Start an empty bucket at now_ns for bits_per_s (0: uncapped). */
void ratecap_init(struct ratecap *rc, uint64_t bits_per_s, int64_t now_ns);

/* True when a chunk may pass now (the bucket is not in debt). */
bool ratecap_may_pass(struct ratecap *rc, int64_t now_ns);

/* Account n bytes that passed (may overdraw). */
void ratecap_take(struct ratecap *rc, uint64_t n, int64_t now_ns);

/* Milliseconds until ratecap_may_pass() turns true (0 when it is already). */
int64_t ratecap_wait_ms(struct ratecap *rc, int64_t now_ns);
