/* SPDX-License-Identifier: MIT */
/*
 * The route table of sluice-control. One row per method and path pattern; "*" matches one
 * path segment of id characters and is captured into rq->arg[]. A path that matches a row
 * with another method answers 405 with Allow; none at all, 404.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"

#include "api.h"
#include "ctl.h"
#include "pgdb.h"
#include "route-match.h"
#include "router.h"
#include "server.h"

enum route_flags {
        R_ADMIN = 1,   /* bearer token required */
        R_SESSION = 2, /* the first "*" is a signed session id: up to sizeof(rq->arg[0]) */
};

struct route {
        enum http_method method;
        const char *pattern;
        ctl_handler_fn fn;
        unsigned flags;
};

static void healthz(struct ctl_req *rq);
static void metrics_page(struct ctl_req *rq);

/* Manifest paths carry the session id with an extension; the handlers strip it. */
static const struct route routes[] = {
    {HTTP_M_GET, "/healthz", healthz, 0},
    {HTTP_M_GET, "/metrics", metrics_page, 0},
    {HTTP_M_GET, "/v1/catalog", api_browse, 0},
    {HTTP_M_GET, "/v1/catalog/trending", api_trending, 0},
    {HTTP_M_GET, "/v1/catalog/genres", api_genres, 0},
    {HTTP_M_GET, "/v1/search", api_search, 0},
    {HTTP_M_GET, "/v1/titles/*", api_title, 0},
    {HTTP_M_POST, "/v1/profiles", api_profile_create, 0},
    {HTTP_M_GET, "/v1/continue-watching", api_continue_watching, 0},
    {HTTP_M_POST, "/v1/playback", api_playback, 0},
    {HTTP_M_POST, "/v1/playback/report", api_report, 0},
    {HTTP_M_GET, "/v1/manifest/*", api_manifest_mpd, R_SESSION}, /* .mpd or .m3u8 */
    {HTTP_M_GET, "/v1/manifest/*/*", api_manifest_media, R_SESSION},
    {HTTP_M_GET, "/v1/steering/*", api_steering, R_SESSION},
    {HTTP_M_POST, "/v1/license/clearkey", api_license_clearkey, 0},
    {HTTP_M_POST, "/v1/edges/*/heartbeat", api_heartbeat, 0},
    /* The admin token or the edge's own signature: the handler checks which. */
    {HTTP_M_GET, "/v1/fill/plan", api_fill_plan, 0},
    {HTTP_M_POST, "/v1/admin/titles", api_admin_title, R_ADMIN},
    {HTTP_M_PUT, "/v1/admin/titles/*/licences", api_admin_licences, R_ADMIN},
    {HTTP_M_POST, "/v1/admin/edges", api_admin_edge, R_ADMIN},
    {HTTP_M_GET, "/v1/admin/keys", api_admin_keys_get, R_ADMIN},
    {HTTP_M_POST, "/v1/admin/keys/rotate", api_admin_keys_rotate, R_ADMIN},
    {HTTP_M_POST, "/v1/admin/sessions/*/end", api_admin_session_end, R_ADMIN | R_SESSION},
};

/* A player sending CMCD as headers (CTA-5004) sends all four on its manifest requests too,
 * and a browser refuses a request with a header the preflight did not allow. */
#define ALLOW_HEADERS                                                                              \
        "Content-Type, Authorization, CMCD-Object, CMCD-Request, CMCD-Session, CMCD-Status"

static void preflight(struct ctl_req *rq)
{
        static const char *const extra[] = {
                "Access-Control-Allow-Methods", "GET, POST, PUT, OPTIONS",
                "Access-Control-Allow-Headers", ALLOW_HEADERS,
                "Access-Control-Max-Age", "600",
                NULL,
        };

        metrics_add(rq->ctl->m.preflights, 1);
        ctl_reply(rq, 204, NULL, NULL, 0, extra);
}

/* Append method m to the Allow list a (length *al) unless it is there. */
static void allow_add(char *a, size_t cap, size_t *al, const char *m)
{
        int n;

        if (strstr(a, m))
                return;
        n = snprintf(a + *al, cap - *al, "%s%s", *al ? ", " : "", m);
        if (n > 0 && (size_t)n < cap - *al)
                *al += (size_t)n;
}

void router_dispatch(struct ctl_req *rq)
{
        char allow[64] = "";
        size_t al = 0;
        bool path_known = false;

        for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
                const struct route *r = &routes[i];
                if (!route_match(r->pattern, rq->path, r->flags & R_SESSION, rq->arg))
                        continue;
                path_known = true;
                if (rq->method == r->method ||
                    (rq->method == HTTP_M_HEAD && r->method == HTTP_M_GET)) {
                        if ((r->flags & R_ADMIN) && !ctl_req_admin_ok(rq)) {
                                ctl_reply_error(rq, 401, "unauthorized",
                                                "admin routes need the bearer token");
                                return;
                        }
                        r->fn(rq);
                        return;
                }
                allow_add(allow, sizeof(allow), &al, http_method_name(r->method));
                /* HEAD is served wherever GET is (above). */
                if (r->method == HTTP_M_GET)
                        allow_add(allow, sizeof(allow), &al, "HEAD");
        }
        /* On any path: a browser takes a preflight answered other than 2xx as a network
         * error, and a page asking for a path no route has would read no status, not the 404
         * its request is answered (below). */
        if (rq->method == HTTP_M_OPTIONS) {
                preflight(rq);
                return;
        }
        if (path_known) {
                const char *extra[] = {"Allow", allow, "Cache-Control", "no-store", NULL};
                char body[192];
                int n;

                /* Every known path answers a preflight (above). */
                allow_add(allow, sizeof(allow), &al, "OPTIONS");
                /* Method names only: nothing in allow needs a JSON escape, and it fits. */
                n = snprintf(body, sizeof(body),
                             "{\"error\":\"method_not_allowed\",\"detail\":\"this path takes "
                             "%s\"}",
                             allow);
                ctl_reply(rq, 405, "application/json", body, (size_t)n, extra);
                return;
        }
        ctl_reply_error(rq, 404, "not_found", "no such route");
}

static void healthz(struct ctl_req *rq)
{
        struct ctl *ctl = rq->ctl;
        json_t *o;

        /* Healthy means able to answer: a load balancer takes an instance whose database
         * pool cannot connect out of rotation. pgdb_connected() is 0 only before the first
         * query or after failures; the pool refuses quickly in the latter case. */
        o = json_pack("{s:s, s:i, s:i, s:b}", "status", ctl->draining ? "draining" : "ok",
                      "db_connections", (int)pgdb_connected(ctl->db), "db_pending",
                      (int)pgdb_pending(ctl->db), "signing_key", ctl->keys.n > 0);
        ctl_reply_json(rq, ctl->draining ? 503 : 200, o);
}

static void metrics_page(struct ctl_req *rq)
{
        char *buf = NULL;
        size_t len = 0;

        /* Pool state is sampled when scraped rather than tracked on every query. */
        metrics_gauge_set(rq->ctl->m.db_connected, (int64_t)pgdb_connected(rq->ctl->db));
        metrics_gauge_set(rq->ctl->m.db_pending, (int64_t)pgdb_pending(rq->ctl->db));
        if (metrics_render(rq->ctl->m.reg, &buf, &len) < 0) {
                ctl_reply_error(rq, 500, "internal", "cannot render metrics");
                return;
        }
        ctl_reply(rq, 200, "text/plain; version=0.0.4", buf, len, NULL);
        free(buf);
}
