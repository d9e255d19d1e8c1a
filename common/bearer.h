/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/*
 * Whether the Authorization field value v[0..n) is the bearer credential want[0..want_len)
 * (RFC 6750 §2.1: "Bearer", in any case, one or more spaces, the token). An empty want
 * matches nothing. The two tokens are compared by their SHA-256 digests in constant time, so
 * the time taken says neither want's bytes nor its length. No logging; any thread.
 */
bool bearer_ok(const char *v, size_t n, const char *want, size_t want_len);
