/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>

/*
 * Range header parsing (RFC 9110 §14). Only the "bytes" unit is understood.
 *
 * Policy (documented in docs/edge.md): a request with more than one range gets 200 with the
 * whole object, never multipart/byteranges, so a range request can never amplify.
 */

enum http_range_result {
        HTTP_RANGE_NONE = 0,      /* absent, unknown unit or syntactically invalid: ignore, 200 */
        HTTP_RANGE_SINGLE,        /* *ret holds the resolved range: 206 */
        HTTP_RANGE_MULTI,         /* several satisfiable ranges: 200 whole object (policy) */
        HTTP_RANGE_UNSATISFIABLE, /* 416 with Content-Range: bytes *\/size */
};

struct http_range {
        uint64_t first; /* inclusive */
        uint64_t last;  /* inclusive, < size */
};

#define HTTP_RANGE_MAX_SPECS 32 /* more range-specs than this: treated as HTTP_RANGE_NONE */

/*
 * Parse value[0..len) against an object of size bytes. A zero-length object has no
 * satisfiable range. Never fails; returns one of enum http_range_result.
 */
enum http_range_result http_range_parse(const char *value, size_t len, uint64_t size,
                                        struct http_range *ret);
