/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "route-match.h"

static bool id_char(char c)
{
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '_' || c == '-';
}

bool route_match(const char *pattern, const char *path, bool session,
                 char arg[ROUTE_ARGS][ROUTE_ARG_CAP])
{
        const char *p = pattern, *s = path;
        unsigned n_arg = 0;

        while (*p && *s) {
                if (*p == '*') {
                        size_t n = 0;
                        while (s[n] && s[n] != '/') {
                                if (!id_char(s[n]))
                                        return false;
                                n++;
                        }
                        size_t max = session && n_arg == 0 ? ROUTE_ARG_CAP - 1 : ROUTE_ID_MAX;
                        if (n == 0 || n > max || n_arg >= ROUTE_ARGS || s[0] == '.')
                                return false;
                        memcpy(arg[n_arg], s, n);
                        arg[n_arg][n] = '\0';
                        n_arg++;
                        s += n;
                        p++;
                        continue;
                }
                if (*p != *s)
                        return false;
                p++;
                s++;
        }
        return *p == '\0' && *s == '\0';
}
