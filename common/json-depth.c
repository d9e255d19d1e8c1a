/* SPDX-License-Identifier: MIT */
#include "json-depth.h"

size_t json_depth(const char *buf, size_t len, size_t limit)
{
        size_t depth = 0, deepest = 0;
        bool in_str = false;

        for (size_t i = 0; i < len; i++) {
                char ch = buf[i];
                if (in_str) {
                        if (ch == '\\')
                                i++; /* the escaped byte cannot end the string */
                        else if (ch == '"')
                                in_str = false;
                } else if (ch == '"') {
                        in_str = true;
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
        bool in_str = false;

        for (size_t i = 0; i < len; i++) {
                char ch = buf[i];
                if (in_str) {
                        if (ch == '\\')
                                i++; /* the escaped byte cannot end the string */
                        else if (ch == '"')
                                in_str = false;
                        continue;
                }
                if (ch == '"')
                        in_str = true;
                else if (ch == '{' || ch == '[')
                        containers++;
                if (ch == ',' || ch == ':' || ch == '[')
                        values++;
                if (containers > max_containers || values > max_values)
                        return false;
        }
        return values <= max_values; /* the one a text without separators holds */
}
