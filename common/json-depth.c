/* SPDX-License-Identifier: MIT */
#include "json-depth.h"

/* Where the string opened at buf[open] ends: its closing quote, or len - 1 for a string left
 * open. An escaped byte cannot end it. */
static size_t string_end(const char *buf, size_t len, size_t open)
{
        for (size_t i = open + 1; i < len; i++) {
                if (buf[i] == '\\')
                        i++;
                else if (buf[i] == '"')
                        return i;
        }
        return len - 1;
}

size_t json_depth(const char *buf, size_t len, size_t limit)
{
        size_t depth = 0, deepest = 0;

        for (size_t i = 0; i < len; i++) {
                char ch = buf[i];
                if (ch == '"') {
                        i = string_end(buf, len, i);
                } else if (ch == '{' || ch == '[') {
                        if (++depth > deepest) {
                                deepest = depth;
                                if (deepest > limit)
                                        return deepest;
                        }
                } else if ((ch == '}' || ch == ']') && depth > 0) {
                        depth--;
                }
        }
        return deepest;
}

bool json_depth_exceeds(const char *buf, size_t len, size_t max)
{
        return json_depth(buf, len, max) > max;
}

bool json_shape_within(const char *buf, size_t len, size_t max_containers, size_t max_values)
{
        size_t containers = 0, values = 1;

        for (size_t i = 0; i < len; i++) {
                char ch = buf[i];
                if (ch == '"')
                        i = string_end(buf, len, i);
                else if (ch == '{' || ch == '[')
                        containers++;
                if (ch == ',' || ch == ':' || ch == '[')
                        values++;
                if (containers > max_containers || values > max_values)
                        return false;
        }
        return values <= max_values; /* the one a text without separators holds */
}
