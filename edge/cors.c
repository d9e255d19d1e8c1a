/* SPDX-License-Identifier: MIT */
#include <string.h>

#include "cfg.h"
#include "http-resp.h"
#include "http1-parse.h"

#include "cors.h"

#define EXPOSE                                                                                     \
        "Content-Length, Content-Range, Content-Type, ETag, Last-Modified, "                       \
        "Accept-Ranges, Cache-Control, Date, Server"
#define ALLOW_HEADERS                                                                              \
        "Range, If-Range, If-None-Match, If-Modified-Since, If-Match, "                            \
        "If-Unmodified-Since, CMCD-Object, CMCD-Request, CMCD-Session, CMCD-Status"
#define MAX_AGE "86400"

static bool any_origin(const struct cfg_strlist *origins)
{
        if (!origins || origins->n == 0)
                return true;
        for (size_t i = 0; i < origins->n; i++)
                if (strcmp(origins->items[i], "*") == 0)
                        return true;
        return false;
}

const char *cors_allow_origin(const struct cfg_strlist *origins, const char *origin, size_t len,
                              bool *ret_vary, const char **ret_expose)
{
        *ret_expose = EXPOSE;
        *ret_vary = false;
        if (any_origin(origins))
                return "*";
        *ret_vary = true;
        if (!origin)
                return NULL;
        for (size_t i = 0; i < origins->n; i++)
                if (strlen(origins->items[i]) == len && memcmp(origins->items[i], origin, len) == 0)
                        return origins->items[i];
        return NULL;
}

void cors_headers(struct http_resp *hr, const struct cfg_strlist *origins,
                  const struct http1_req *req)
{
        const char *origin;
        size_t len;

        if (any_origin(origins)) {
                http_resp_header(hr, "Access-Control-Allow-Origin", "*", 1);
        } else {
                origin = req ? http1_req_known(req, HK_ORIGIN, &len) : NULL;
                /* Caches between us and the player must key on Origin when we echo it. */
                http_resp_header(hr, "Vary", "Origin", 6);
                if (!origin)
                        return;
                for (size_t i = 0;; i++) {
                        if (i == origins->n)
                                return;
                        if (strlen(origins->items[i]) == len &&
                            memcmp(origins->items[i], origin, len) == 0)
                                break;
                }
                http_resp_header(hr, "Access-Control-Allow-Origin", origin, len);
        }
        http_resp_header(hr, "Access-Control-Expose-Headers", EXPOSE, sizeof(EXPOSE) - 1);
}

void cors_preflight_headers(struct http_resp *hr, const struct cfg_strlist *origins,
                            const struct http1_req *req)
{
        http_resp_header(hr, "Access-Control-Allow-Methods", "GET, HEAD, OPTIONS", 18);
        http_resp_header(hr, "Access-Control-Allow-Headers", ALLOW_HEADERS,
                         sizeof(ALLOW_HEADERS) - 1);
        http_resp_header(hr, "Access-Control-Max-Age", MAX_AGE, sizeof(MAX_AGE) - 1);
}
