/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "path-norm.h"

#include "conn.h"
#include "edge-cfg.h"
#include "edge-metrics.h"
#include "evict.h"
#include "fill.h"
#include "hit.h"
#include "miss.h"
#include "request.h"
#include "serve-plan.h"
#include "store.h"
#include "worker.h"

int hit_lookup(struct edge_worker *w, uint64_t conn_id, const char *key, size_t key_len,
               struct store_obj *ret)
{
        int r = store_lookup(w->reader, key, key_len, ret);

        if (r != -ESTALE)
                return r;
        log_conn(LOG_LVL_WARN, conn_id,
                 "cached file of %.*s was missing or changed size behind the edge's back; "
                 "dropped, refilling",
                 (int)key_len, key);
        metrics_add(w->srv->m.damaged_open, 1);
        evict_forget(w->srv, key, key_len);
        return -ENOENT;
}

bool hit_stale(const struct edge_worker *w, const char *key, size_t key_len,
               const struct store_obj *obj, struct fill_reval *ret)
{
        if (!serve_key_short_lived(key, key_len) || w->rt->cfg->upstreams.n == 0 || !w->up ||
            fill_fresh(key, key_len))
                return false;
        ret->last_modified = obj->last_modified;
        (void)snprintf(ret->etag, sizeof(ret->etag), "%s", obj->etag);
        return true;
}

void hit_serve(struct conn *c, const struct http1_req *req, const struct path_norm *pn, bool peer)
{
        struct edge_worker *w = c->w;
        struct serve_plan p;
        struct store_obj obj;
        struct fill_reval rv;
        int r;

        r = hit_lookup(w, c->id, pn->key, pn->key_len, &obj);
        if (r == -ENOENT) {
                miss_serve(c, req, pn, peer, NULL);
                return;
        }
        if (r < 0) {
                log_conn(LOG_LVL_WARN, c->id, "store lookup of %.*s failed: %s", (int)pn->key_len,
                         pn->key, strerror(-r));
                serve_plan_status(&p, c, req, 503);
                request_render(c, req, &p);
                return;
        }
        if (hit_stale(w, pn->key, pn->key_len, &obj, &rv)) {
                store_obj_release(w->reader, &obj);
                miss_serve(c, req, pn, peer, &rv);
                return;
        }
        serve_plan_hit(&p, c, req, pn->key, pn->key_len, &obj, peer);
        /* A file body passes to the connection with the response (even one whose head
         * overflowed: request_render() releases it then); anything else is done with it. */
        request_render(c, req, &p);
        if (p.body != SERVE_BODY_FILE)
                store_obj_release(w->reader, &obj);
}
