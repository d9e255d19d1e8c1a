/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/*
 * Nesting guard for JSON from clients: jansson recurses once per level, so a body is measured
 * before it is parsed. Brackets are counted outside strings, without parsing; malformed text
 * is measured all the same (a stray closer never takes the depth below zero) and left for the
 * parser to refuse. No allocation.
 */

/* The deepest nesting of objects and arrays in buf[0..len). Stops at the first bracket past
 * limit and returns limit + 1 there, so a result > limit means too deep. */
size_t json_depth(const char *buf, size_t len, size_t limit);

/* Whether buf[0..len) nests objects and arrays more than max levels deep: json_depth() > max. */
bool json_depth_exceeds(const char *buf, size_t len, size_t max);
