/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/*
 * A request path against one of the route table's patterns (router.c), I/O-free so it can be
 * fuzzed: the path is whatever a client sent. "*" in a pattern matches one path segment of
 * id characters, [A-Za-z0-9._-], not starting with '.', and is captured into arg[]; at most
 * ROUTE_ARGS of them. A segment is 1..ROUTE_ID_MAX characters, or when session is set and it
 * is the first "*", 1..ROUTE_ARG_CAP - 1 (a signed session id, with ".m3u8" after it).
 */
#define ROUTE_ARGS    2
#define ROUTE_ARG_CAP 1040 /* a signed session id (sessid.h) and ".m3u8" fit */
#define ROUTE_ID_MAX  128  /* the schema's sluice_id */

/* Whether path matches pattern; on a match arg[0..] hold the captures, NUL-terminated. On no
 * match arg[] may have been written. */
bool route_match(const char *pattern, const char *path, bool session,
                 char arg[ROUTE_ARGS][ROUTE_ARG_CAP]);
