/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/*
 * I/O-free parsers for what a client puts in a control request besides the head: query
 * parameters, the nesting of a JSON body (checked before jansson, which recurses per level),
 * and X-Forwarded-For. Bounded by their callers' buffers; fuzzed by tests/fuzz/fuzz-ctl-req.c.
 */

/*
 * The value of parameter name in query[0..len) (no '?'), percent-decoded with '+' as a space,
 * into buf (cap bytes, NUL-terminated). The first occurrence wins. Returns the value's length,
 * -ENOENT absent, -E2BIG longer than cap - 1, -EINVAL a bad %-escape or a decoded control
 * byte (NUL included).
 */
int req_query_get(const char *query, size_t len, const char *name, char *buf, size_t cap);

/* Deepest nesting of objects/arrays in buf[0..len), counting brackets outside strings;
 * stops early and returns a value > limit once limit is exceeded. */
size_t req_json_depth(const char *buf, size_t len, size_t limit);

/*
 * The client address from X-Forwarded-For xff[0..len) as seen by a trusted proxy: walk the
 * list right to left, skipping entries trusted() accepts (our own proxies), and return the
 * first other entry in out (cap bytes). Entries must be IP addresses; a malformed one ends
 * the walk (nothing left of it is believed). Returns 1 when out was set, 0 when the list
 * names no untrusted address, -EINVAL on a malformed entry.
 */
int req_xff_client(const char *xff, size_t len, bool (*trusted)(const char *addr, void *ud),
                   void *ud, char *out, size_t cap);
