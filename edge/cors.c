/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "cfg.h"

#include "cors.h"
#include "serve-plan.h"

/* Retry-After too: a page reads no field it does not name, and a player backs off a 503 (the
 * fill limit) by it. */
#define EXPOSE                                                                                     \
        "Content-Length, Content-Range, Content-Type, ETag, Last-Modified, "                       \
        "Accept-Ranges, Cache-Control, Cache-Status, CMSD-Dynamic, Date, Server, Retry-After"
#define ALLOW_HEADERS                                                                              \
        "Range, If-Range, If-None-Match, If-Modified-Since, If-Match, "                            \
        "If-Unmodified-Since, CMCD-Object, CMCD-Request, CMCD-Session, CMCD-Status"
#define MAX_AGE "86400"

/* Always inlined: cors_plan() runs for every answer, and takes it as it did before
 * cors_needs_origin() shared it. */
static inline __attribute__((always_inline)) bool any_origin(const struct cfg_strlist *origins)
{
        if (!origins)
                return true;
        for (size_t i = 0; i < origins->n; i++)
                if (strcmp(origins->items[i], "*") == 0)
                        return true;
        return false;
}

bool cors_needs_origin(const struct cfg_strlist *origins)
{
        return origins && origins->n > 0 && !any_origin(origins);
}

void cors_plan(struct serve_plan *p, const struct cfg_strlist *origins, const char *origin,
               size_t len)
{
        if (origins && origins->n == 0)
                return; /* cors_origins: [] — no CORS fields at all */
        if (any_origin(origins)) {
                serve_plan_header(p, "Access-Control-Allow-Origin", "*", 1);
                origin = "*";
                len = 1;
        } else {
                /* Caches between us and the player must key on Origin when we echo it. */
                serve_plan_header(p, "Vary", "Origin", 6);
                if (!origin)
                        return;
                for (size_t i = 0;; i++) {
                        if (i == origins->n)
                                return;
                        if (strlen(origins->items[i]) == len &&
                            memcmp(origins->items[i], origin, len) == 0) {
                                /* The same bytes, from the configuration: they outlive the
                                 * request's (a refused request's are a copy on the stack). */
                                origin = origins->items[i];
                                break;
                        }
                }
                serve_plan_header(p, "Access-Control-Allow-Origin", origin, len);
        }
        serve_plan_header(p, "Access-Control-Expose-Headers", EXPOSE, sizeof(EXPOSE) - 1);
        /* Resource Timing's sizes and phases for the same origins: a player measures its
         * throughput from them (dash.js does, and the page's report to control). */
        serve_plan_header(p, "Timing-Allow-Origin", origin, len);
}

void cors_preflight_plan(struct serve_plan *p)
{
        serve_plan_header(p, "Access-Control-Allow-Methods", "GET, HEAD, OPTIONS", 18);
        serve_plan_header(p, "Access-Control-Allow-Headers", ALLOW_HEADERS,
                          sizeof(ALLOW_HEADERS) - 1);
        serve_plan_header(p, "Access-Control-Max-Age", MAX_AGE, sizeof(MAX_AGE) - 1);
}
