/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "buf.h"

/*
 * Compact JSON text, byte for byte what json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) gives
 * for the same values, written into a growing buffer: from a jansson value, or piece by piece
 * by a caller that has the values at hand and no tree (the answers of warm starts, the counts
 * written behind). ASCII strings, integers and whole reals are written here; strings with a
 * byte past ASCII (jansson checks them as UTF-8), other reals and values nested deeper than
 * JSON_WRITE_DEPTH go through jansson.
 *
 * A failed write (memory, a value JSON cannot hold) latches in the buffer (common/buf.h);
 * later writes do nothing and json_write_steal() returns NULL, so a caller checks once at the
 * end.
 */

#define JSON_WRITE_DEPTH 32

struct json_write {
        struct buf b; /* no limit but memory */
};

/* An empty buffer (no allocation yet). */
void json_write_init(struct json_write *w);
/* Free the buffer's memory (after a steal, nothing is left to free). */
void json_write_done(struct json_write *w);

/* s[0..n) as it is (punctuation, or text already in JSON form). */
void json_write_raw(struct json_write *w, const char *s, size_t n);
/* The NUL-terminated s as it is. */
void json_write_lit(struct json_write *w, const char *s);
/* s[0..n) as a JSON string, escaped as jansson escapes it; s NULL writes null. */
void json_write_str(struct json_write *w, const char *s, size_t n);
/* The NUL-terminated s as a JSON string; NULL writes null. */
void json_write_cstr(struct json_write *w, const char *s);
/* An integer as jansson writes a JSON_INTEGER. */
void json_write_int(struct json_write *w, int64_t v);
/* A double as jansson writes a JSON_REAL (finite; NaN and infinities fail the buffer). */
void json_write_real(struct json_write *w, double d);
/* v (borrowed; NULL fails the buffer) as jansson writes it. */
void json_write_value(struct json_write *w, const json_t *v);
/* The object o (borrowed) as json_write_value() writes it but without its closing '}', so
 * the caller can add members (",\"k\":v") and close it; a non-object fails the buffer. */
void json_write_members(struct json_write *w, const json_t *o);

/*
 * The text (malloc'd, NUL-terminated; free() it) and its length into *ret_len (may be NULL);
 * the buffer is left empty. NULL when any write failed (the buffer is freed then too).
 */
char *json_write_steal(struct json_write *w, size_t *ret_len);

/* v as json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) writes it; NULL on failure. free() it. */
char *json_write_dumps(const json_t *v);
