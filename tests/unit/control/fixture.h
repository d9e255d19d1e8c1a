/* SPDX-License-Identifier: MIT */
#pragma once

/* Test fixtures for the control-plane unit tests (run with this directory as the cwd). */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asset.h"

/* Whole file as a NUL-terminated malloc'd string, or NULL. */
static inline char *fixture_read(const char *path, size_t *ret_len)
{
        FILE *f = fopen(path, "rb");
        if (!f)
                return NULL;
        char *buf = NULL;
        size_t len = 0, cap = 0;
        for (;;) {
                if (len + 4096 + 1 > cap) {
                        cap = cap ? cap * 2 : 8192;
                        char *n = realloc(buf, cap);
                        if (!n) {
                                free(buf);
                                fclose(f);
                                return NULL;
                        }
                        buf = n;
                }
                size_t r = fread(buf + len, 1, 4096, f);
                if (r == 0)
                        break;
                len += r;
        }
        fclose(f);
        buf[len] = '\0';
        if (ret_len)
                *ret_len = len;
        return buf;
}

/* Parse a fixture asset.json; exits the test binary if it cannot (the fixture is ours). */
static inline struct asset *fixture_asset(const char *path)
{
        size_t len;
        char err[256];
        struct asset *a = NULL;
        char *buf = fixture_read(path, &len);
        if (!buf || asset_json_parse(buf, len, &a, err, sizeof(err)) < 0) {
                fprintf(stderr, "fixture %s: %s\n", path, buf ? err : "cannot read");
                exit(1);
        }
        free(buf);
        return a;
}

/* Count non-overlapping occurrences of needle in hay. */
static inline unsigned fixture_count(const char *hay, const char *needle)
{
        unsigned n = 0;
        size_t nl = strlen(needle);
        for (const char *p = strstr(hay, needle); p; p = strstr(p + nl, needle))
                n++;
        return n;
}
