/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/*
 * A token bucket in bytes, clocked by the caller (monotonic nanoseconds), so tests drive it
 * with a fake clock. It starts empty and holds at most `burst` bytes (10 ms of the rate, and
 * at least two of ratecap_chunk(), the chunk the caller reads in), and a chunk passes only
 * once the bucket holds all of it: the bytes let through in any interval T are at most
 * rate*T + burst. So the cap holds within 1% over any second from about 1.6 Mbit/s up (where
 * 10 ms of the rate is two RATECAP_CHUNK_MIN). A chunk larger than the bucket waits for a
 * full one and overdraws; the debt is repaid before anything more passes.
 *
 * rate 0 means uncapped: everything passes. No allocation; embed the struct.
 */
struct ratecap {
        double rate;  /* bytes per second; 0: uncapped */
        double burst; /* bytes */
        double tokens;
        double need; /* what the last chunk refused waits for (ratecap_wait_ms) */
        int64_t last_ns;
};

#define RATECAP_CHUNK_MAX 65536 /* bytes: the largest chunk, TRANSFER_GET_CHUNK */
#define RATECAP_CHUNK_MIN 1024  /* bytes: the smallest buffer libcurl takes */

/* The chunk to read in under a cap of bits_per_s: 5 ms of the rate, within
 * RATECAP_CHUNK_MIN..RATECAP_CHUNK_MAX (the most, uncapped), so the bucket need not be
 * deeper than 10 ms of the rate to hold two. */
uint64_t ratecap_chunk(uint64_t bits_per_s);

/* Start an empty bucket at now_ns for bits_per_s (0: uncapped). */
void ratecap_init(struct ratecap *rc, uint64_t bits_per_s, int64_t now_ns);

/* True when a chunk of n bytes may pass now: the bucket holds n (or is full, for one larger
 * than it). False records n for ratecap_wait_ms. */
bool ratecap_may_pass(struct ratecap *rc, uint64_t n, int64_t now_ns);

/* Account n bytes that passed (may overdraw). */
void ratecap_take(struct ratecap *rc, uint64_t n, int64_t now_ns);

/* Milliseconds until ratecap_may_pass() turns true for the chunk it last refused (0 when it
 * is already, or none was refused). */
int64_t ratecap_wait_ms(struct ratecap *rc, int64_t now_ns);
