/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "hex.h"
#include "log.h"
#include "metrics.h"

#include "edge-cfg.h"
#include "edge-metrics.h"
#include "evict.h"
#include "heartbeat.h"
#include "plan-sums.h"
#include "runtime.h"
#include "store.h"
#include "worker.h"

#define PLAN_BODY_MAX (64u << 20) /* PLAN_SUMS_MAX objects' JSON is about 25 MB */
/* A plan takes as long as the link needs: a fetch is given up when nothing of it arrives for
 * PLAN_STALL_S (control gone quiet, or still building it), or after PLAN_TOTAL_MS in all, when
 * a 25 MB plan would need about 350 kbit/s. A limit on the whole of it, 30 s as a beat has,
 * never let a full plan through a link under about 7 Mbit/s. */
#define PLAN_CONNECT_MS 10000L
#define PLAN_STALL_S    30L
#define PLAN_TOTAL_MS   600000L

void plan_sums_install(struct edge_server *srv, struct plan_sums *t)
{
        struct plan_sums *old;

        pthread_mutex_lock(&srv->sums_lock);
        old = srv->sums;
        srv->sums = t;
        pthread_mutex_unlock(&srv->sums_lock);
        plan_sums_free(old);
}

bool plan_sums_lookup(struct edge_server *srv, const char *key, size_t key_len, char hex[65])
{
        bool found;

        pthread_mutex_lock(&srv->sums_lock);
        found = plan_sums_find(srv->sums, key, key_len, hex);
        pthread_mutex_unlock(&srv->sums_lock);
        return found;
}

#define SWEEP_LOGS 10 /* objects named in the log per plan; the rest are counted */

struct sweep {
        struct edge_server *srv;
        size_t dropped;
};

/* A stored object of a key the plan lists, whose SHA-256 is not the plan's: committed before
 * the plan named it (checked by length only) or the catalog has changed it since. Either way
 * its bytes are not the catalog's: drop it (that file only) and let the next request refill
 * it, checked against the plan. */
static void sweep_one(const char *key, size_t key_len, const char *hex, void *userdata)
{
        struct sweep *sw = userdata;
        struct store_entry_info info;
        char have[65];

        if (store_get_info(sw->srv->store, key, key_len, &info) < 0 || !info.has_sha256)
                return;
        (void)hex_encode(info.sha256, sizeof(info.sha256), have);
        if (strcmp(have, hex) == 0)
                return;
        if (store_delete_file(sw->srv->store, key, key_len, info.file_id) < 0)
                return; /* replaced or deleted meanwhile */
        evict_forget(sw->srv, key, key_len);
        metrics_add(sw->srv->m.damaged_plan, 1);
        if (sw->dropped++ < SWEEP_LOGS)
                log_warn("%.*s: stored SHA-256 %.16s... is not the fill plan's %.16s...; dropped, "
                         "the next request refills it",
                         (int)key_len, key, have, hex);
}

struct body {
        char *p;
        size_t len, cap;
};

static size_t collect(char *ptr, size_t size, size_t nmemb, void *userdata)
{
        struct body *b = userdata;
        size_t n = size * nmemb;

        if (b->len + n > PLAN_BODY_MAX)
                return 0; /* refuse: curl fails the transfer */
        if (b->len + n + 1 > b->cap) {
                size_t cap = b->cap ? b->cap : 1 << 16;
                while (cap < b->len + n + 1)
                        cap *= 2;
                char *p = realloc(b->p, cap);
                if (!p)
                        return 0;
                b->p = p;
                b->cap = cap;
        }
        memcpy(b->p + b->len, ptr, n);
        b->len += n;
        return n;
}

static int refresh_under(struct edge_server *srv, void *curl, const struct edge_runtime *rt)
{
        const struct edge_cfg *cfg = rt->cfg;
        struct curl_slist *hdrs = NULL;
        struct plan_sums *t = NULL;
        struct body b = {0};
        char url[1024], path[256], *id = NULL;
        size_t skipped = 0;
        long status = 0;
        CURLcode rc;
        int n, r;

        if (!cfg->control.url || !cfg->control.edge_id)
                return -ENOENT;
        /* Control answers a plan only to the admin token or to the edge it is for, signed. */
        if (rt->heartbeat_secret_len == 0)
                return -ENOKEY;
        id = curl_easy_escape(curl, cfg->control.edge_id, 0);
        if (!id)
                return -ENOMEM;
        n = snprintf(path, sizeof(path), "/v1/fill/plan?edge=%s&limit=%u", id, PLAN_SUMS_MAX);
        curl_free(id);
        if (n < 0 || (size_t)n >= sizeof(path))
                return -ENAMETOOLONG;
        r = edge_cfg_control_url(cfg, path, url, sizeof(url));
        if (r < 0)
                return r;
        r = heartbeat_req_sign(rt, "GET", path, NULL, 0, &hdrs);
        if (r < 0) {
                curl_slist_free_all(hdrs);
                return r;
        }
        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, PLAN_CONNECT_MS);
        curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L); /* bytes/s: anything at all */
        curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, PLAN_STALL_S);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, PLAN_TOTAL_MS);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_PROXY, "");
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
        rc = curl_easy_perform(curl);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, NULL);
        curl_slist_free_all(hdrs);
        if (rc == CURLE_OK)
                (void)curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
        if (rc != CURLE_OK || status != 200) {
                log_debug("fill plan from %s: %s", url,
                          rc != CURLE_OK ? curl_easy_strerror(rc) : "status not 200");
                free(b.p);
                return rc != CURLE_OK ? -EIO : status == 401 || status == 403 ? -EACCES : -EPROTO;
        }
        r = plan_sums_parse(b.p ? b.p : "", b.len, &t, &skipped);
        free(b.p);
        if (r < 0)
                return r;
        if (skipped)
                log_warn("fill plan: %zu object(s) without a usable path or sha256, ignoring",
                         skipped);
        n = (int)plan_sums_count(t);
        plan_sums_install(srv, t);
        /* t stays valid: only this thread installs a table, which frees the one before. */
        struct sweep sw = {.srv = srv};
        plan_sums_foreach(t, sweep_one, &sw);
        if (sw.dropped > SWEEP_LOGS)
                log_warn("fill plan: %zu stored object(s) in all not matching its SHA-256, dropped",
                         sw.dropped);
        return n;
}

int plan_sums_refresh(struct edge_server *srv, void *curl)
{
        const struct edge_runtime *rt = edge_runtime_get(srv); /* a reload may come meanwhile */
        int r = refresh_under(srv, curl, rt);

        edge_runtime_put(rt);
        return r;
}
