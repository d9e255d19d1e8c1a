/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

/*
 * The HTTP/2 (lowercase) names of the response fields the edge's answers carry, as static
 * strings: handed to nghttp2 with NGHTTP2_NV_FLAG_NO_COPY_NAME, they are neither copied nor
 * lowercased again for each answer. h2_static_name() returns the one for name (any case), or
 * NULL for a name not among them (the caller lowercases a copy itself).
 */
const char *h2_static_name(const char *name, size_t len);

/* c in lowercase if an ASCII capital (field names are ASCII; no locale applies). */
static inline char h2_ascii_lower(char c)
{
        return c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c;
}
