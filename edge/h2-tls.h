/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/*
 * h2 over TLS output in batches: a burst's frames (control frames, HEADERS, DATA headers and
 * payloads) are laid end to end in the worker thread's plaintext buffer, file payloads read
 * into their places when it is sealed (one read per run of a file's frames), and the burst
 * goes to OpenSSL in one write, which cuts it into full 16 KiB records regardless of where
 * frames begin and end. So DATA frames are as large as the client allows (16 KiB by default)
 * and a 64 KiB response is four frames in five records, not five frames (16 KiB less the
 * frame header each, to keep each in one record) in six. The buffer holds one connection's
 * burst at a time: h2_tls_flush empties it, and whatever the socket would not take is kept by
 * the connection's tls_conn (copied), to go before anything else.
 */

struct conn;

/* struct h2_io's queue, queue_file and flush for a TLS connection; ctx is the conn. */
int h2_tls_queue(void *ctx, const void *a, size_t alen, const void *b, size_t blen);
int h2_tls_queue_file(void *ctx, const void *hdr, int fd, off_t off, size_t len);
int h2_tls_flush(void *ctx);

/* Read the file payloads c's burst has put off (h2-tls.c): call before a file a queued frame
 * came from may be closed. A file found short there cuts the burst before its frame: nothing
 * more is queued (-EPIPE) and the next flush fails once the frames before the cut are out. */
void h2_tls_settle(struct conn *c);

/* Drop c's part of this thread's batch (the connection is going): its bytes count as lost. */
void h2_tls_forget(struct conn *c);
/* struct h2_io's unsent: c's burst, what it lost, and the plaintext TLS holds or dropped. */
uint64_t h2_tls_unsent(void *ctx);
