/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Well-formed UTF-8 (RFC 3629): shortest forms only, no surrogates, nothing past U+10FFFF.
 * Cache keys are bytes (a decoded "%ff" is one); JSON strings must be UTF-8, and jansson
 * refuses a string that is not, so whoever writes a key into JSON asks here first.
 */

#include <stdbool.h>
#include <stddef.h>

/* The length (1 to 4) of the well-formed sequence that starts s[0..n), or 0 (none, or n 0). */
size_t utf8_seq_len(const char *s, size_t n);

/* Whether s[0..n) is well-formed UTF-8 throughout. */
bool utf8_valid(const char *s, size_t n);
