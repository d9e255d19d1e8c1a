/* SPDX-License-Identifier: MIT */
/*
 * Control's route matching (control/route-match.c) on arbitrary request paths. The first
 * byte picks one of the route table's patterns (bit 7: the first "*" is a session id), the
 * rest is the path. The answer must agree with a matcher written segment by segment from
 * route-match.h's description, and a match must capture only what it promises: ids of the
 * documented lengths that, put back in place of the "*"s, give the path again.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "route-match.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The patterns of router.c's table. */
static const char *const patterns[] = {
    "/healthz",
    "/v1/catalog/trending",
    "/v1/titles/*",
    "/v1/manifest/*",
    "/v1/manifest/*/*",
    "/v1/steering/*",
    "/v1/edges/*/heartbeat",
    "/v1/admin/titles/*/licences",
    "/v1/admin/sessions/*/end",
};
#define N_PATTERNS (sizeof(patterns) / sizeof(patterns[0]))

static void check(int cond, const char *what)
{
        if (!cond) {
                fprintf(stderr, "route-match invariant violated: %s\n", what);
                abort();
        }
}

static bool id_ok(const char *s, size_t n, size_t max)
{
        if (n == 0 || n > max || s[0] == '.')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-",
                            s[i]) ||
                    s[i] == '\0')
                        return false;
        return true;
}

static size_t id_max(bool session, unsigned n_arg)
{
        return session && n_arg == 0 ? ROUTE_ARG_CAP - 1 : ROUTE_ID_MAX;
}

/* The path's segments against the pattern's, one by one. */
static bool ref_match(const char *pat, const char *path, bool session)
{
        unsigned n_arg = 0;

        for (;;) {
                size_t pl = strcspn(pat, "/"), sl = strcspn(path, "/");

                if (pl == 1 && pat[0] == '*') {
                        if (n_arg == ROUTE_ARGS || !id_ok(path, sl, id_max(session, n_arg)))
                                return false;
                        n_arg++;
                } else if (pl != sl || memcmp(pat, path, pl) != 0) {
                        return false;
                }
                if (!pat[pl] || !path[sl])
                        return !pat[pl] && !path[sl];
                pat += pl + 1;
                path += sl + 1;
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        static char arg[ROUTE_ARGS][ROUTE_ARG_CAP];
        static char again[2 * ROUTE_ARG_CAP + 64];

        if (size < 1 || size > 4096)
                return 0;
        const char *pat = patterns[(data[0] & 0x7f) % N_PATTERNS];
        bool session = data[0] & 0x80;
        char *path = malloc(size);
        if (!path)
                return 0;
        memcpy(path, data + 1, size - 1);
        path[size - 1] = '\0';

        bool m = route_match(pat, path, session, arg);
        check(m == ref_match(pat, path, session), "answer differs from the segment matcher");
        if (m) {
                size_t o = 0;
                unsigned n_arg = 0;

                for (const char *p = pat; *p; p++) {
                        if (*p != '*') {
                                again[o++] = *p;
                                continue;
                        }
                        size_t n = strlen(arg[n_arg]);
                        check(id_ok(arg[n_arg], n, id_max(session, n_arg)), "capture not an id");
                        memcpy(again + o, arg[n_arg], n);
                        o += n;
                        n_arg++;
                }
                again[o] = '\0';
                check(strcmp(again, path) == 0, "captures do not give the path back");
        }
        free(path);
        return 0;
}
