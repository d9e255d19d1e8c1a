/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/*
 * I/O-free parsers for what a client puts in a control request besides the head: query
 * parameters and X-Forwarded-For (a JSON body's nesting is common's json-depth.h). Bounded
 * by their callers' buffers; fuzzed by tests/fuzz/fuzz-ctl-req.c.
 */

/*
 * The value of parameter name in query[0..len) (no '?'), percent-decoded with '+' as a space,
 * into buf (cap bytes, NUL-terminated). The first occurrence wins. Returns the value's length,
 * -ENOENT absent, -E2BIG longer than cap - 1, -EINVAL a bad %-escape or a decoded control
 * byte (NUL included).
 */
int req_query_get(const char *query, size_t len, const char *name, char *buf, size_t cap);

/* A piece of a request: one field line's value. */
struct req_span {
        const char *p;
        size_t len;
};

/*
 * The client address from the X-Forwarded-For field lines lines[0..n_lines) as seen by a
 * trusted proxy. The lines are one comma-separated list in their order (RFC 9110 5.3), so a
 * line a proxy appended counts as the list's end whatever the client sent before it. Walk
 * that list right to left, skipping entries trusted() accepts (our own proxies), and return
 * the first other entry in out (cap bytes) as a bare address. Entries are IP addresses,
 * optionally with a port as "a.b.c.d:port" or "[v6]:port" (the port is dropped); an entry
 * of 64 bytes or more, or anything else, is malformed and ends the walk (nothing left of it
 * is believed). Returns 1 when out was set, 0 when the list names no untrusted address,
 * -EINVAL on a malformed entry or an address that does not fit in out.
 */
int req_xff_client(const struct req_span *lines, size_t n_lines,
                   bool (*trusted)(const char *addr, void *ud), void *ud, char *out, size_t cap);
