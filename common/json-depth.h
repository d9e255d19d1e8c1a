/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/*
 * Nesting guard for JSON from clients: jansson recurses once per level, so a body is measured
 * before it is parsed. Brackets are counted outside strings, without parsing; malformed text
 * is measured all the same and left for the parser to refuse. No allocation.
 */

/* Whether buf[0..len) nests objects and arrays more than max levels deep. Stops at the first
 * bracket past max. */
bool json_depth_exceeds(const char *buf, size_t len, size_t max);
