/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/*
 * Guards for JSON measured before it is parsed, from its bytes outside strings, without
 * parsing; malformed text is measured all the same and left for the parser to refuse. No
 * allocation. Nesting, for JSON from clients: jansson recurses once per level (a stray closer
 * never takes the depth below zero). Size, further below, for JSON that may be large.
 */

/* The deepest nesting of objects and arrays in buf[0..len). Stops at the first bracket past
 * limit and returns limit + 1 there, so a result > limit means too deep. */
size_t json_depth(const char *buf, size_t len, size_t limit);

/* Whether buf[0..len) nests objects and arrays more than max levels deep: json_depth() > max. */
bool json_depth_exceeds(const char *buf, size_t len, size_t max);

/*
 * Size guard for JSON from another program: jansson builds the whole tree before its caller can
 * count what it holds, and spends far more on it than the text takes (about 200 bytes on an
 * empty object, 120 on an empty array, 70 on a string or an object member, 30 on a number), so
 * a few MB of "{}," cost GBs. The text is counted first, outside strings, without parsing:
 * containers ('{' and '['), and values, one plus each ',', ':' and '[' (a member is one for its
 * ':', one more for the ',' after it). Whether buf[0..len) holds at most max_containers and
 * max_values of them; the scan stops at the first past either. Malformed text is counted all
 * the same and left for the parser. No allocation.
 */
bool json_shape_within(const char *buf, size_t len, size_t max_containers, size_t max_values);
