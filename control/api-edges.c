/* SPDX-License-Identifier: MIT */
/*
 * Edges: signed heartbeats (health, load, holdings), fill plans, admin registration, and the
 * edge set read back for steering and manifests (its background refresh).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

#include "log.h"
#include "metrics.h"
#include "req-sign.h"
#include "uring-loop.h"

#include "api.h"
#include "body-check.h"
#include "cache.h"
#include "edge-auth.h"
#include "pgdb.h"
#include "ctl-cfg.h"
#include "ctl.h"
#include "server.h"


/* Re-render a checked body for a jsonb parameter; replies 500 itself on failure. */
static char *dump(struct ctl_req *rq, json_t *v)
{
        char *s = json_dumps(v, JSON_COMPACT);

        if (!s)
                ctl_reply_error(rq, 500, "internal", "out of memory");
        return s;
}

/*
 * POST /v1/edges/<id>/heartbeat {"load": 0..1, "bytes_served", "disk_used", "disk_total",
 * "titles": [asset ids held], "digest", "draining"?: true on the last, as it stops}, signed by the edge with its own secret
 * (common/req-sign.h): 401 without a signature, with a bad one, a signed time outside
 * heartbeat_skew, or one not newer than the last accepted (checked in the same statement that
 * stores it). Unknown edges get 404: registration is an admin act. 200 when stored, with
 * {"heartbeat_period_s": n}: this instance's heartbeat_period, after two of which without a
 * heartbeat the edge drops out of steering, so an edge configured to beat more slowly than
 * that can tell (and its operator be told) before its clients are sent elsewhere.
 */
/* rq->handler_data of a heartbeat that says its edge is draining (stopping). */
static const char draining_beat;

static void heartbeat_done(void *userdata, int err, const struct pgdb_res *res)
{
        static const char *const nocache[] = {"Cache-Control", "no-store", NULL};
        struct ctl_req *rq = userdata;
        int64_t ms = rq->ctl->cfg->heartbeat_period_ms;
        char body[64];
        int n;

        if (err < 0) {
                /* A replay or an older one is refused by the statement that stores it: a 401
                 * counted with the others. */
                const char *state = res ? pgdb_res_sqlstate(res) : NULL;
                if (state && !strcmp(state, "SL401"))
                        metrics_add(rq->ctl->m.heartbeat_refusals, 1);
                ctl_reply_db_error(rq, err, res);
                return;
        }
        metrics_add(rq->ctl->m.heartbeats, 1);
        /* An edge coming (back) to life should take clients now, not a TTL later, and one
         * stopping (its last heartbeat says "draining") should take none from now; done once
         * its heartbeat is committed, so a refetch sees it. A steady heartbeat of a live
         * edge leaves the snapshot alone. */
        if (rq->handler_data == &draining_beat ||
            !ctl_cache_edge_healthy(rq->ctl->cache, rq->arg[0]))
                ctl_cache_edges_forget(rq->ctl->cache);
        if (ms % 1000 == 0)
                n = snprintf(body, sizeof(body), "{\"heartbeat_period_s\":%" PRId64 "}", ms / 1000);
        else
                n = snprintf(body, sizeof(body), "{\"heartbeat_period_s\":%" PRId64 ".%03d}",
                             ms / 1000, (int)(ms % 1000));
        ctl_reply(rq, 200, "application/json", body, (size_t)n, nocache);
}

/* The signature holds: check the body and store it. */
static void heartbeat_ingest(struct ctl_req *rq, int64_t signed_ms)
{
        struct ctl *ctl = rq->ctl;
        json_t *body = NULL;
        char ts[24];
        char *s;
        int r;

        if (ctl_body_json(rq, 3, &body) < 0)
                return;
        if (body_heartbeat_check(body) < 0) {
                json_decref(body);
                ctl_reply_error(rq, 400, "bad_request",
                                "heartbeat fields: load, bytes_served, disk_used, disk_total "
                                "(numbers >= 0), titles (array), digest");
                return;
        }
        rq->handler_data = json_is_true(json_object_get(body, "draining")) ? (void *)&draining_beat
                                                                          : NULL;
        s = dump(rq, body);
        json_decref(body);
        if (!s)
                return;
        snprintf(ts, sizeof(ts), "%" PRId64, signed_ms);
        const char *params[] = {rq->arg[0], s, ts};
        r = pgdb_exec(ctl->db, ctl->st.heartbeat, params, 3, heartbeat_done, rq);
        free(s);
        if (r < 0)
                ctl_reply_db_error(rq, r, NULL);
}

static void heartbeat_refuse(struct ctl_req *rq, const char *detail)
{
        char d[256];

        metrics_add(rq->ctl->m.heartbeat_refusals, 1);
        snprintf(d, sizeof(d), "heartbeat refused: %s", detail);
        ctl_reply_error(rq, 401, "unauthorized", d);
}

static int64_t wall_ms(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * A request an edge signs with its own secret (heartbeat, fill plan), checked by
 * edge_signed() for the edge in rq->arg[0]: what runs once the signature holds, how a refusal
 * answers, and the detail for an edge registered without a secret.
 */
struct signed_route {
        void (*accept)(struct ctl_req *rq, int64_t signed_ms);
        void (*refuse)(struct ctl_req *rq, const char *detail);
        const char *no_secret;
        bool unknown_refused; /* an edge not registered: 401 (else the database's 404) */
};

static void secret_done(void *userdata, int err, const struct pgdb_res *res)
{
        struct ctl_req *rq = userdata;
        struct ctl *ctl = rq->ctl;
        const struct signed_route *route = rq->handler_data;
        const char *v = err == 0 ? pgdb_res_value(res, 0, 0, NULL) : NULL;
        json_t *o, *sec;
        int64_t t = -1;
        int ok;

        rq->handler_data = NULL;
        if (!v) {
                if (err == -EPROTO && route->unknown_refused &&
                    !strcmp(pgdb_res_sqlstate(res), "SL404")) {
                        route->refuse(rq, "not signed by a registered edge");
                        return;
                }
                ctl_reply_db_error(rq, err < 0 ? err : -EIO, res);
                return;
        }
        (void)edge_auth_time(rq, &t); /* checked by the handler; the request is unchanged */
        o = json_loads(v, 0, NULL);
        sec = json_object_get(o, "secret");
        const char *secret = json_is_string(sec) ? json_string_value(sec) : "";
        size_t len = json_is_string(sec) ? json_string_length(sec) : 0;
        edge_auth_put(ctl->edge_auth, rq->arg[0], secret, len, uring_loop_now_ms(ctl->loop));
        ok = len && edge_auth_verify(secret, len, rq, t) == 0;
        json_decref(o); /* its blocks, the secret's copy among them, are wiped as freed (main.c) */
        if (!len)
                route->refuse(rq, route->no_secret);
        else if (!ok)
                route->refuse(rq, "bad signature");
        else
                route->accept(rq, t);
}

/*
 * Check the signature of rq for the edge in rq->arg[0]: the signed time within
 * heartbeat_skew of this clock, the MAC with the edge's secret (cached, else fetched). Then
 * route->accept, or route->refuse with the reason. Whether a time must also be newer than the
 * last one accepted is the accepting handler's business.
 */
static void edge_signed(struct ctl_req *rq, const struct signed_route *route)
{
        struct ctl *ctl = rq->ctl;
        int64_t t = -1, now;
        int r;

        r = edge_auth_time(rq, &t);
        if (r == -ENOKEY) {
                route->refuse(rq, "not signed (" REQ_SIGN_TIME_HEADER ", " REQ_SIGN_SIG_HEADER ")");
                return;
        }
        if (r < 0) {
                route->refuse(rq, "malformed " REQ_SIGN_TIME_HEADER);
                return;
        }
        now = wall_ms();
        if (t > now + ctl->cfg->heartbeat_skew_ms || t < now - ctl->cfg->heartbeat_skew_ms) {
                route->refuse(rq, "signed time outside heartbeat_skew (stale, replayed, or a "
                                  "clock off)");
                return;
        }
        r = edge_auth_cached(ctl->edge_auth, rq->arg[0], rq, t, uring_loop_now_ms(ctl->loop));
        if (r == 0) {
                route->accept(rq, t);
                return;
        }
        if (r == -EPERM || r == -ENOKEY) {
                route->refuse(rq, r == -ENOKEY ? route->no_secret : "bad signature");
                return;
        }
        const char *params[] = {rq->arg[0]};
        /* The route is static and outlives the statement; the callback takes it back. */
        rq->handler_data = (void *)route;
        r = pgdb_exec(ctl->db, ctl->st.edge_secret, params, 1, secret_done, rq);
        if (r < 0) {
                rq->handler_data = NULL;
                ctl_reply_db_error(rq, r, NULL);
        }
}

static const struct signed_route heartbeat_route = {
    .accept = heartbeat_ingest,
    .refuse = heartbeat_refuse,
    .no_secret = "no secret is registered for this edge (register it again)",
};

void api_heartbeat(struct ctl_req *rq)
{
        edge_signed(rq, &heartbeat_route);
}

/*
 * GET /v1/fill/plan?edge=<id>&limit=N. The plan names pre-release titles with their origin
 * URLs, so it is not public: the admin bearer token (sluice-fill) or the signature of the
 * edge named in ?edge= (its own plan fetch), else 401; docs/control.md, "Fill plan
 * authentication". A signed plan request need not be newer than the last one: it changes
 * nothing, and whoever could copy it within heartbeat_skew could read the answer too.
 */
static void plan_query(struct ctl_req *rq, int64_t signed_ms)
{
        struct ctl *ctl = rq->ctl;
        char edge[130], limit_s[24], halflife[32], horizon[32];
        long limit = 100000;
        int r = ctl_query_get(rq, "edge", edge, sizeof(edge));

        if (r <= 0) {
                ctl_reply_error(rq, 400, "bad_request",
                                r == -ENOENT || r == 0 ? "'edge' is required" : "'edge' is malformed");
                return;
        }
        r = ctl_query_get(rq, "limit", limit_s, sizeof(limit_s));
        if (r > 0) {
                limit = api_digits(limit_s) ? strtol(limit_s, NULL, 10) : -1;
                if (limit < 1 || limit > 1000000) {
                        ctl_reply_error(rq, 400, "bad_request", "'limit' must be 1..1000000");
                        return;
                }
        } else if (r != -ENOENT) {
                ctl_reply_error(rq, 400, "bad_request", "'limit' is malformed");
                return;
        }
        snprintf(limit_s, sizeof(limit_s), "%ld", limit);
        snprintf(halflife, sizeof(halflife), "%.3f", (double)ctl->cfg->demand.halflife_ms / 1e3);
        snprintf(horizon, sizeof(horizon), "%.3f",
                 (double)ctl->cfg->demand.release_horizon_ms / 1e3);
        const char *params[] = {edge, ctl->cfg->origin_url, halflife, horizon, limit_s};
        api_exec_json(rq, ctl->st.fill_plan, params, 5);
}

static void plan_refuse(struct ctl_req *rq, const char *detail)
{
        char d[256];

        metrics_add(rq->ctl->m.plan_refusals, 1);
        snprintf(d, sizeof(d),
                 "a fill plan needs the admin bearer token or the signature of the edge it is "
                 "for: %s",
                 detail);
        ctl_reply_error(rq, 401, "unauthorized", d);
}

static const struct signed_route plan_route = {
    .accept = plan_query,
    .refuse = plan_refuse,
    .no_secret = "the edge has no secret registered (use the admin token, or register the "
                 "edge again to give it one)",
    .unknown_refused = true,
};

void api_fill_plan(struct ctl_req *rq)
{
        int r;

        if (ctl_req_admin_ok(rq)) {
                plan_query(rq, -1);
                return;
        }
        /* The edge whose secret must have signed is the one whose plan is asked for. */
        r = ctl_query_get(rq, "edge", rq->arg[0], sizeof(rq->arg[0]));
        if (r <= 0) {
                plan_refuse(rq, r == -ENOENT || r == 0 ? "no 'edge'" : "'edge' is malformed");
                return;
        }
        edge_signed(rq, &plan_route);
}

/*
 * Whether region is one country_prefixes names (true when none names any): steering gives an
 * edge its region's viewers only when the two are spelt alike, so a typo at registration
 * would send them elsewhere without a word.
 */
static bool region_known(const struct ctl_cfg *cfg, const char *region)
{
        const struct ctl_cfg_prefix *p = cfg->country_prefixes.items;
        bool any = false;

        for (size_t i = 0; i < cfg->country_prefixes.n; i++) {
                if (!p[i].region)
                        continue;
                if (region && !strcmp(p[i].region, region))
                        return true;
                any = true;
        }
        return !any;
}

/* From the stored row, which may carry the new secret: named field by field. */
static void edge_audit(const struct ctl_req *rq, const json_t *res)
{
        char id[136], region[136], url[264], tz[BODY_TZ_MAX + 1];
        const char *zone = json_string_value(json_object_get(res, "tz"));
        const char *edge = json_string_value(json_object_get(res, "id"));

        /* Forgotten before the statement too, but a manifest's or a heartbeat's read between
         * that and the commit may have put the old row back: forget it again now that the new
         * one is stored. */
        ctl_cache_edges_forget(rq->ctl->cache);
        if (edge)
                edge_auth_forget(rq->ctl->edge_auth, edge);

        log_info(
            "admin: edge %s registered (region %s, base_url %s%s%s, %s, secret %s; "
            "request %" PRIu64 " from %s)",
            api_log_safe(edge, id, sizeof(id)),
            api_log_safe(json_string_value(json_object_get(res, "region")), region, sizeof(region)),
            api_log_safe(json_string_value(json_object_get(res, "base_url")), url, sizeof(url)),
            zone ? ", tz " : "", zone ? api_log_safe(zone, tz, sizeof(tz)) : "",
            json_is_false(json_object_get(res, "enabled")) ? "disabled" : "enabled",
            json_is_true(json_object_get(res, "secret_set")) ? "stored" : "unchanged", rq->id,
            rq->client);
        if (!region_known(rq->ctl->cfg, json_string_value(json_object_get(res, "region"))))
                log_warn("steering: edge %s is in region %s, which no country_prefixes "
                         "entry names: no viewers are its region's, so none are sent to it "
                         "first",
                         id, region);
}

static const struct api_audit edge_audited = {.log = edge_audit};

/*
 * POST /v1/admin/edges {"id","region","base_url","capacity_mbps"?,"enabled"?,"secret"?,
 * "rotate_secret"?}. The edge's heartbeat secret: "secret" sets it; else control makes one
 * for an edge that has none (or, with "rotate_secret": true, replaces it) and answers it once
 * in "secret" — the operator copies it into the edge's control.secret_file.
 */
void api_admin_edge(struct ctl_req *rq)
{
        struct body_edge e;
        json_t *body = NULL;
        char made[2 * 32 + 1];
        const char *secret;
        bool replace;
        char *s;

        if (ctl_body_json(rq, 2, &body) < 0)
                return;
        if (body_edge_check(body, &e) < 0) {
                json_decref(body);
                if (e.base_url_why) {
                        char detail[256];

                        snprintf(detail, sizeof(detail),
                                 "\"base_url\": %s; want an http:// or https:// URL with a "
                                 "host, an optional port and no query, fragment or userinfo",
                                 e.base_url_why);
                        ctl_reply_error(rq, 400, "bad_request", detail);
                        return;
                }
                ctl_reply_error(rq, 400, "bad_request",
                                "need \"id\", \"region\", \"base_url\", optional "
                                "\"capacity_mbps\", \"tz\" (an IANA zone name: up to 64 of "
                                "[A-Za-z0-9_+/-], starting with a letter), \"secret\" (32 to "
                                "128 visible ASCII characters) or \"rotate_secret\": true");
                return;
        }
        if (api_random_hex(made, 32) < 0) {
                json_decref(body);
                ctl_reply_error(rq, 500, "internal", "cannot make a secret");
                return;
        }
        replace = e.secret || e.rotate_secret;
        secret = e.secret ? e.secret : made;
        /* The secret is a parameter of its own, never part of the stored document. */
        json_object_del(body, "rotate_secret");
        s = json_dumps(body, JSON_COMPACT);
        if (!s) {
                json_decref(body);
                OPENSSL_cleanse(made, sizeof(made));
                ctl_reply_error(rq, 500, "internal", "out of memory");
                return;
        }
        ctl_cache_edges_forget(rq->ctl->cache);
        edge_auth_forget(rq->ctl->edge_auth, json_string_value(json_object_get(body, "id")));
        const char *params[] = {s, secret, replace ? "true" : "false", e.secret ? "false" : "true"};
        api_exec_json_audited(rq, rq->ctl->st.edge_register, params, 4, &edge_audited);
        OPENSSL_cleanse(made, sizeof(made));
        OPENSSL_cleanse(s, strlen(s));
        free(s);
        json_decref(body);
}

/* ---- the edge set (the snapshot control/cache.c keeps) ---- */

/* Stale threshold for edge liveness: two heartbeat periods, less the time a snapshot may be
 * reused, so an edge is out of answers within two periods of its last heartbeat. */
static void stale_param(const struct ctl *ctl, char *buf, size_t cap)
{
        double s = 2.0 * (double)ctl->cfg->heartbeat_period_ms / 1000.0 -
                   (double)ctl_cache_ttl(ctl->cache) / 1000.0;

        snprintf(buf, cap, "%.3f", s > 0 ? s : 0);
}

/* Ask for the edge set, saying which holdings this instance has: only changed ones come,
 * CTL_HOLDINGS_PER_READ titles of them at most. */
int api_edges_query(struct ctl *ctl, pgdb_done_fn fn, void *userdata)
{
        char stale[32], budget[24], *known = ctl_cache_edges_known(ctl->cache);
        const char *p[] = {stale, known ? known : "{}", budget};
        int r;

        stale_param(ctl, stale, sizeof(stale));
        snprintf(budget, sizeof(budget), "%d", CTL_HOLDINGS_PER_READ);
        r = pgdb_exec(ctl->db, ctl->st.edges_view, p, 3, fn, userdata);
        free(known);
        return r;
}

json_t *api_edges_result(struct ctl *ctl, const struct pgdb_res *res)
{
        int rows = pgdb_res_rows(res);
        struct ctl_edge_titles *t = calloc(rows > 0 ? (size_t)rows : 1, sizeof(*t));
        json_t *edges = NULL;
        size_t n = 0;

        for (int i = 0; t && i < rows; i++) {
                const char *doc = pgdb_res_value(res, i, 0, NULL);
                const char *id = pgdb_res_value(res, i, 1, NULL);
                const char *gen = pgdb_res_value(res, i, 2, NULL);
                size_t len = 0;
                const char *titles = pgdb_res_value(res, i, 3, &len);

                if (doc) {
                        json_decref(edges);
                        edges = json_loads(doc, 0, NULL);
                } else if (id && gen && titles) {
                        t[n++] = (struct ctl_edge_titles){id, strtoll(gen, NULL, 10), titles, len};
                }
        }
        if (t && json_is_array(edges)) {
                edges = ctl_cache_edges_put(ctl->cache, edges, t, n, uring_loop_now_ms(ctl->loop));
                metrics_gauge_set(ctl->m.holdings_behind,
                                  (int64_t)ctl_cache_holdings_behind(ctl->cache, edges));
        } else {
                json_decref(edges);
                edges = NULL;
        }
        free(t);
        return edges;
}

/* ---- background edge snapshot refresh ---- */

static struct uring_timer edges_timer;
static struct ctl *edges_ctl;
static bool edges_inflight;

static void edges_bg_done(void *userdata, int err, const struct pgdb_res *res)
{
        struct ctl *ctl = userdata;

        edges_inflight = false;
        if (err == 0)
                json_decref(api_edges_result(ctl, res));
}

static void on_edges_timer(struct uring_loop *loop, struct uring_timer *t)
{
        struct ctl *ctl = edges_ctl;
        uint64_t ttl = ctl_cache_ttl(ctl->cache);

        /* Never two at once: a refresh slower than ttl / 2 is let finish. Set before the
         * call, as for the key refresh (api-admin.c): edges_bg_done may run inside
         * pgdb_exec and clear it. */
        if (!edges_inflight && !ctl->draining) {
                edges_inflight = true;
                if (api_edges_query(ctl, edges_bg_done, ctl) < 0)
                        edges_inflight = false;
        }
        /* Refresh at half the TTL so requests find a fresh snapshot rather than fetch one. */
        (void)uring_timer_arm(loop, t, uring_loop_now_ms(loop) + (ttl / 2 ? ttl / 2 : 1));
}

void api_cache_start(struct ctl *ctl)
{
        edges_ctl = ctl;
        uring_timer_init(&edges_timer, on_edges_timer);
        if (ctl_cache_ttl(ctl->cache) > 0)
                (void)uring_timer_arm(ctl->loop, &edges_timer, uring_loop_now_ms(ctl->loop));
}
