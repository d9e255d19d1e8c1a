/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>

/*
 * Lowercase hex encoding, used for SHA-256 digests (64 chars) and object file ids (16 chars).
 * No allocation.
 */

/* Value of one hex digit (either case), or -1. */
int hex_digit(char c);

/*
 * Write 2*len lowercase hex chars of in[0..len) and a NUL to out, which must hold 2*len + 1
 * bytes. Returns out.
 */
char *hex_encode(const void *in, size_t len, char *out);

/*
 * Decode exactly 2*out_len hex chars (either case) from in[0..in_len) into out. Returns 0;
 * -EINVAL if in_len != 2*out_len or a char is not hex (out is then unspecified).
 */
int hex_decode(const char *in, size_t in_len, void *out, size_t out_len);

/* A 64-bit id as 16 lowercase hex chars, most significant first; out holds 17 bytes. */
char *hex_u64_encode(uint64_t v, char out[17]);

/* Parse exactly 16 hex chars. Returns 0 or -EINVAL. */
int hex_u64_decode(const char *in, size_t in_len, uint64_t *ret);
