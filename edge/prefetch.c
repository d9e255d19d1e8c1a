/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cmcd.h"
#include "http1-parse.h"
#include "metrics.h"
#include "path-norm.h"

#include "edge-cfg.h"
#include "evict.h"
#include "fill.h"
#include "prefetch.h"
#include "store.h"
#include "worker.h"

void prefetch_sweep(struct edge_worker *w)
{
        unsigned i = 0;

        while (i < w->n_prefetch) {
                enum fill_state st = fill_state_get(w->prefetch[i]);
                if (st == FILL_PENDING || st == FILL_BODY) {
                        i++;
                        continue;
                }
                fill_unref(w->prefetch[i]);
                w->prefetch[i] = w->prefetch[--w->n_prefetch];
                w->prefetch[w->n_prefetch] = NULL;
        }
}

void prefetch_worker_done(struct edge_worker *w)
{
        for (unsigned i = 0; i < w->n_prefetch; i++) {
                fill_unref(w->prefetch[i]);
                w->prefetch[i] = NULL;
        }
        w->n_prefetch = 0;
}

/* Length of the title segment of key ("/<title>/..."), 0 when key has no second segment. */
static size_t title_len(const char *key, size_t len)
{
        const char *slash = len > 1 ? memchr(key + 1, '/', len - 1) : NULL;

        return slash ? (size_t)(slash - key) : 0;
}

/*
 * The cache key nor names, resolved against the request's key (RFC 3986 §5.2 for the path
 * forms a player sends: "seg-8.m4s", "../v2/seg-8.m4s", "/t/v1/seg-8.m4s"). Returns 0 or
 * -EINVAL for what is not prefetched here (another host, a query-only or empty reference).
 */
static int resolve(const char *key, size_t key_len, const char *nor, struct path_norm *ret)
{
        char target[PATH_NORM_MAX + sizeof(((struct cmcd *)0)->nor) + 2];
        size_t nlen = strcspn(nor, "?#"), dir;
        int n;

        /* nor arrives decoded: a '%' left in it would be decoded a second time. */
        if (!nlen || strchr(nor, ':') || strchr(nor, '%') || (nor[0] == '/' && nor[1] == '/'))
                return -EINVAL;
        if (nor[0] == '/') {
                n = snprintf(target, sizeof(target), "%.*s", (int)nlen, nor);
        } else {
                for (dir = key_len; dir > 0 && key[dir - 1] != '/'; dir--)
                        ;
                n = snprintf(target, sizeof(target), "%.*s%.*s", (int)dir, key, (int)nlen, nor);
        }
        if (n < 0 || (size_t)n >= sizeof(target))
                return -EINVAL;
        return path_norm(target, (size_t)n, ret) < 0 ? -EINVAL : 0;
}

void prefetch_hint(struct edge_worker *w, const struct http1_req *req, const struct path_norm *pn)
{
        struct edge_metrics *m = &w->srv->m;
        struct path_norm next;
        struct cmcd cm;
        struct fill *f;
        const char *hv;
        size_t hlen = 0, tl;
        unsigned max = (unsigned)w->rt->cfg->cache.prefetch_max;
        bool created;

        hv = http1_req_header(req, "CMCD-Request", &hlen);
        if ((!pn->cmcd && !hv) || !max || !w->up || !w->rt->cfg->upstreams.n || !w->reader)
                return;
        cmcd_init(&cm);
        if (pn->cmcd)
                (void)cmcd_parse(&cm, pn->cmcd, pn->cmcd_len, 0);
        if (hv)
                (void)cmcd_parse(&cm, hv, hlen, 1);
        if (!cm.nor[0] || resolve(pn->key, pn->key_len, cm.nor, &next) < 0)
                return;
        tl = title_len(pn->key, pn->key_len);
        if (!tl || next.key_len > STORE_KEY_MAX || next.key_len <= tl ||
            memcmp(next.key, pn->key, tl + 1) != 0 ||
            (next.key_len == pn->key_len && !memcmp(next.key, pn->key, pn->key_len)))
                return;
        prefetch_sweep(w);
        if (w->n_prefetch >= max || w->n_prefetch >= PREFETCH_SLOTS) {
                metrics_add(m->prefetch_dropped, 1);
                return;
        }
        if (store_has(w->reader, next.key, next.key_len))
                return;
        /* -ENOENT (a recent 404), -EEXIST (committed meanwhile), -ENOMEM: nothing to do. */
        if (fill_get(w, next.key, next.key_len, &f, &created) < 0)
                return;
        if (!created) {
                fill_unref(f); /* already being filled */
                return;
        }
        metrics_add(m->prefetches, 1);
        evict_access(w->srv, next.key, next.key_len, 0);
        fill_watch(f, w->idx); /* so its end kicks this loop, which sweeps the slot */
        w->prefetch[w->n_prefetch++] = f;
}
