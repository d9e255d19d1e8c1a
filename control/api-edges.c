/* SPDX-License-Identifier: MIT */
/*
 * Edges: heartbeats (health, load, holdings), fill plans, and admin registration.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

#include "api.h"
#include "cache.h"
#include "pgdb.h"
#include "ctl-cfg.h"
#include "ctl.h"
#include "server.h"

#define HOLDINGS_MAX 100000

/* Re-render a checked body for a jsonb parameter; replies 500 itself on failure. */
static char *dump(struct ctl_req *rq, json_t *v)
{
        char *s = json_dumps(v, JSON_COMPACT);

        if (!s)
                ctl_reply_error(rq, 500, "internal", "out of memory");
        return s;
}

static bool num_ok(json_t *o, const char *key, double max)
{
        json_t *v = json_object_get(o, key);

        return !v || (json_is_number(v) && json_number_value(v) >= 0 && json_number_value(v) <= max);
}

/*
 * POST /v1/edges/<id>/heartbeat {"load": 0..1, "bytes_served", "disk_used", "disk_total",
 * "titles": [asset ids held], "digest"}. Unknown edges get 404: registration is an admin act.
 */
static void heartbeat_done(void *userdata, int err, const struct pgdb_res *res)
{
        struct ctl_req *rq = userdata;
        const char *v = err == 0 ? pgdb_res_value(res, 0, 0, NULL) : NULL;

        if (!v) {
                ctl_reply_db_error(rq, err < 0 ? err : -EIO, res);
                return;
        }
        /* An edge coming (back) to life should take clients now, not a TTL later; done once
         * its heartbeat is committed, so a refetch sees it. A steady heartbeat of a live
         * edge leaves the snapshot alone. */
        if (!ctl_cache_edge_healthy(rq->ctl->cache, rq->arg[0]))
                ctl_cache_edges_forget(rq->ctl->cache);
        ctl_reply(rq, 200, "application/json", v, strlen(v), NULL);
}

void api_heartbeat(struct ctl_req *rq)
{
        struct ctl *ctl = rq->ctl;
        json_t *body = NULL, *titles;
        char *s;
        int r;

        if (ctl_body_json(rq, 3, &body) < 0)
                return;
        titles = json_object_get(body, "titles");
        if (!num_ok(body, "load", 1000) || !num_ok(body, "bytes_served", 9.2e18) ||
            !num_ok(body, "disk_used", 9.2e18) || !num_ok(body, "disk_total", 9.2e18) ||
            (titles && (!json_is_array(titles) || json_array_size(titles) > HOLDINGS_MAX))) {
                json_decref(body);
                ctl_reply_error(rq, 400, "bad_request",
                                "heartbeat fields: load, bytes_served, disk_used, disk_total "
                                "(numbers >= 0), titles (array), digest");
                return;
        }
        s = dump(rq, body);
        json_decref(body);
        if (!s)
                return;
        metrics_add(ctl->m.heartbeats, 1);
        const char *params[] = {rq->arg[0], s};
        r = pgdb_exec(ctl->db, ctl->st.heartbeat, params, 2, heartbeat_done, rq);
        free(s);
        if (r < 0)
                ctl_reply_db_error(rq, r, NULL);
}

/* GET /v1/fill/plan?edge=<id>&limit=N */
void api_fill_plan(struct ctl_req *rq)
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
                char *end;
                limit = strtol(limit_s, &end, 10);
                if (*end || limit < 1 || limit > 1000000) {
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

/* POST /v1/admin/edges {"id","region","base_url","capacity_mbps"?,"enabled"?} */
void api_admin_edge(struct ctl_req *rq)
{
        json_t *body = NULL;
        char *s;

        if (ctl_body_json(rq, 2, &body) < 0)
                return;
        if (!json_is_string(json_object_get(body, "id")) ||
            !json_is_string(json_object_get(body, "region")) ||
            !json_is_string(json_object_get(body, "base_url")) ||
            !num_ok(body, "capacity_mbps", 1e9)) {
                json_decref(body);
                ctl_reply_error(rq, 400, "bad_request",
                                "need \"id\", \"region\", \"base_url\", optional "
                                "\"capacity_mbps\"");
                return;
        }
        s = dump(rq, body);
        json_decref(body);
        if (!s)
                return;
        ctl_cache_edges_forget(rq->ctl->cache);
        const char *params[] = {s};
        api_exec_json(rq, rq->ctl->st.edge_register, params, 1);
        free(s);
}
