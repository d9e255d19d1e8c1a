/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

/*
 * A growable byte buffer with a hard size limit, for answers built in memory (the edge's admin
 * JSON) and answers gathered from the network (the fill agent's requests). Bytes are kept
 * NUL-terminated once anything was written, so text can be handed on as a C string; the NUL
 * is not counted in len nor against max.
 *
 * The first failure latches: every later write returns the same error and changes nothing, so
 * a writer may append many pieces and check once (b->err, or the last call's result) at the
 * end; the bytes then never have a hole in them. -ENOBUFS: the limit would be passed;
 * -ENOMEM: out of memory. buf_reset() clears it.
 *
 * Embedded (buf_init/buf_done), never shared between threads.
 */
struct buf {
        char *p;    /* NULL until the first byte (or buf_reserve) */
        size_t len; /* bytes held, the NUL not counted */
        size_t cap; /* bytes allocated at p */
        size_t max; /* most bytes len may reach */
        int err;    /* 0, or the latched -ENOBUFS / -ENOMEM */
        bool wipe;  /* set by the owner: bytes are cleared before their memory is freed, moved
                     * or left behind (input that may carry a secret) */
};

/* An empty buffer that may hold at most max bytes (SIZE_MAX: no limit but memory). */
void buf_init(struct buf *b, size_t max);

/* Free the bytes; b is empty again with its limit (and wipe) kept. Accepts a buffer never
 * written. */
void buf_done(struct buf *b);

/* Empty b and clear a latched error, keeping its memory for the next use. */
void buf_reset(struct buf *b);

/* Latch err (a -errno) for a failure the writer found itself, unless one is latched already.
 * Returns the latched error. */
int buf_fail(struct buf *b, int err);

/* Keep only the first len bytes (len <= b->len), to take back what was written past them. */
void buf_truncate(struct buf *b, size_t len);

/* Drop the first n bytes (all of them when n >= b->len), moving the rest to the front: input
 * read past one request stays for the next. Keeps the memory. */
void buf_consume(struct buf *b, size_t n);

/*
 * Make room for n more bytes (and the NUL) without growing again. Returns 0, -ENOBUFS (len + n
 * past max) or -ENOMEM; either latches.
 */
int buf_reserve(struct buf *b, size_t n);

/* Append s[0..n). Returns 0 or the latched error (nothing appended then). */
int buf_append(struct buf *b, const void *s, size_t n);

/* Append a NUL-terminated string. Returns 0 or the latched error. */
int buf_append_str(struct buf *b, const char *s);

/* Append printf-style output, whatever its length. Returns 0 or the latched error (nothing
 * appended then; a format vsnprintf refuses latches -EINVAL). */
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* buf_printf() with the arguments as a va_list, which is left unused (copied, not consumed). */
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

/*
 * Hand the bytes over: returns the malloc'd NUL-terminated string (an empty one when nothing
 * was written) for the caller to free, with its length in *ret_len (may be NULL), and leaves b
 * empty. Returns NULL on a latched error, or when out of memory (which then latches).
 */
char *buf_steal(struct buf *b, size_t *ret_len);
