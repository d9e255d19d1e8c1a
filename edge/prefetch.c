/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmcd.h"
#include "fnv.h"
#include "metrics.h"
#include "path-norm.h"

#include "edge-cfg.h"
#include "evict.h"
#include "fill.h"
#include "prefetch.h"
#include "serve-admit.h"
#include "store.h"
#include "upstream.h"
#include "worker.h"

#define START_WINDOW_MS 3000 /* a session's inits this soon after its first are its start */
#define SIDS            4096 /* sessions remembered for the start window, by sid hash */

/*
 * Sessions seen lately, shared by the workers (a player's connections may land on several):
 * direct-mapped by the sid's hash, each slot the hash (0: empty) and when it was first seen.
 * Relaxed atomics: a race between two workers, or a slot taken over by another session, only
 * costs one start prefetch too many.
 */
static _Atomic uint64_t sid_hash[SIDS];
static _Atomic uint64_t sid_first_ms[SIDS];

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
        char target[PATH_NORM_MAX * 3 + sizeof(((struct cmcd *)0)->nor) + 2];
        size_t nlen = strcspn(nor, "?#"), dir;
        int n, d;

        /* nor arrives decoded: a '%' left in it would be decoded a second time. */
        if (!nlen || strchr(nor, ':') || strchr(nor, '%') || (nor[0] == '/' && nor[1] == '/'))
                return -EINVAL;
        if (nor[0] == '/') {
                n = snprintf(target, sizeof(target), "%.*s", (int)nlen, nor);
        } else {
                /* The key is decoded already: its directory goes back into URL form, or a '%'
                 * or '?' it holds (from "%25", "%3F") would be read as syntax again. */
                for (dir = key_len; dir > 0 && key[dir - 1] != '/'; dir--)
                        ;
                d = path_norm_encode(key, dir, target, sizeof(target));
                if (d < 0)
                        return -EINVAL;
                n = snprintf(target + d, sizeof(target) - (size_t)d, "%.*s", (int)nlen, nor);
                if (n >= 0)
                        n += d;
        }
        if (n < 0 || (size_t)n >= sizeof(target))
                return -EINVAL;
        return path_norm(target, (size_t)n, ret) < 0 ? -EINVAL : 0;
}

/* Whether one of w's prefetches in flight is for key. */
static bool prefetching(const struct edge_worker *w, const char *key, size_t key_len)
{
        for (unsigned i = 0; i < w->n_prefetch; i++)
                if (w->prefetch[i]->key_len == key_len &&
                    !memcmp(w->prefetch[i]->key, key, key_len))
                        return true;
        return false;
}

/*
 * Start one prefetch of key (already normalised, under the request's title). Returns true
 * when a fill was started; false when the object is held, being filled, a recent 404, not
 * covered by the request's token (scope), the worker is at cache.prefetch_max (counted as
 * dropped: only a key that would have been fetched is), or the fill would take the last of
 * cache.max_fills.
 */
static bool prefetch_key(struct edge_worker *w, const char *key, size_t key_len,
                         const struct serve_scope *scope)
{
        struct edge_metrics *m = &w->srv->m;
        unsigned max = (unsigned)w->rt->cfg->cache.prefetch_max;
        struct fill *f;
        bool created;

        prefetch_sweep(w);
        if (store_has(w->reader, key, key_len) || fill_negative(key, key_len) ||
            prefetching(w, key, key_len) || !serve_scope_covers(scope, key, key_len))
                return false;
        if (w->n_prefetch >= max || w->n_prefetch >= PREFETCH_SLOTS) {
                metrics_add(m->prefetch_dropped, 1);
                return false;
        }
        /* The last free fill is left to a player's own miss, this request's among them: it
         * runs after its hints, and would otherwise be refused for the sake of its next. */
        if (!fill_room_to_spare(w))
                return false;
        /* -ENOENT (a recent 404), -EEXIST (committed meanwhile), -EBUSY (cache.max_fills in
         * flight), -ENOMEM: nothing to do. */
        if (fill_get(w, key, key_len, &f, &created) < 0)
                return false;
        if (!created) {
                fill_unref(f); /* already being filled */
                return false;
        }
        evict_access(w->srv, key, key_len, 0);
        fill_watch(f, w->idx); /* so its end kicks this loop, which sweeps the slot */
        w->prefetch[w->n_prefetch++] = f;
        return true;
}

/* Whether the session sid (CMCD) was first seen within START_WINDOW_MS, recording it when
 * new. */
static bool session_starting(const char *sid)
{
        uint64_t h = key_hash64(sid, strlen(sid));
        uint64_t now = uring_loop_clock_us() / 1000;
        size_t i = h % SIDS;

        if (atomic_load_explicit(&sid_hash[i], memory_order_relaxed) != h) {
                atomic_store_explicit(&sid_first_ms[i], now, memory_order_relaxed);
                atomic_store_explicit(&sid_hash[i], h, memory_order_relaxed);
                return true;
        }
        return now - atomic_load_explicit(&sid_first_ms[i], memory_order_relaxed) <=
               START_WINDOW_MS;
}

/*
 * Start prefetch: the first segments of a representation, when a player starts it. key is
 * "<dir>/init.mp4" (the first segment is seg-1) or "<dir>/seg-<n>.m4s" (a start at n: after a
 * seek, a resume or a rebuffer; the next ones). Returns how many fills were started.
 */
static unsigned prefetch_start(struct edge_worker *w, const struct path_norm *pn, bool init,
                               const struct serve_scope *scope)
{
        struct edge_metrics *m = &w->srv->m;
        unsigned n = (unsigned)w->rt->cfg->cache.prefetch_start, started = 0;
        char key[STORE_KEY_MAX + 1];
        size_t dir;
        unsigned long first = 1;
        int len;

        for (dir = pn->key_len; dir > 0 && pn->key[dir - 1] != '/'; dir--)
                ;
        if (!init) {
                const char *name = pn->key + dir;
                char *end;
                size_t nlen = pn->key_len - dir;

                if (nlen < 9 || memcmp(name, "seg-", 4) != 0 || name[4] < '0' || name[4] > '9')
                        return 0;
                first = strtoul(name + 4, &end, 10);
                if (end != pn->key + pn->key_len - 4 || memcmp(end, ".m4s", 4) != 0 ||
                    first >= 1000000000ul)
                        return 0;
                first++; /* the request itself is being served */
        }
        for (unsigned i = 0; i < n; i++) {
                len = snprintf(key, sizeof(key), "%.*sseg-%lu.m4s", (int)dir, pn->key, first + i);
                if (len < 0 || (size_t)len >= sizeof(key))
                        break;
                if (prefetch_key(w, key, (size_t)len, scope)) {
                        metrics_add(m->prefetch_starts, 1);
                        started++;
                }
        }
        return started;
}

/* Whether the key's last segment is name. */
static bool last_segment_is(const struct path_norm *pn, const char *name)
{
        size_t n = strlen(name);

        return pn->key_len > n && pn->key[pn->key_len - n - 1] == '/' &&
               memcmp(pn->key + pn->key_len - n, name, n) == 0;
}

/*
 * Whether some upstream is usable. While every one is marked down, the origin included, a
 * prefetch would only add to a failing upstream's load, once per player request: none is
 * started. The players' own misses still try the origin, and its first usable answer clears
 * the mark.
 */
static bool upstream_usable(const struct edge_worker *w)
{
        const struct edge_cfg_upstream *u = w->rt->cfg->upstreams.items;

        for (size_t i = 0; i < w->rt->cfg->upstreams.n; i++)
                if (upstream_health_usable((unsigned)i, u[i].url))
                        return true;
        return false;
}

bool prefetch_wanted(const struct edge_worker *w)
{
        return w->rt->cfg->cache.prefetch_max && w->up && w->rt->cfg->upstreams.n && w->reader;
}

void prefetch_hint(struct edge_worker *w, const struct path_norm *pn, const struct cmcd *cm,
                   const struct serve_scope *scope)
{
        struct edge_metrics *m = &w->srv->m;
        struct path_norm next;
        size_t tl;
        bool init;

        if (!prefetch_wanted(w) || !upstream_usable(w))
                return;
        tl = title_len(pn->key, pn->key_len);
        if (!tl)
                return;
        if (cm->nor[0] && resolve(pn->key, pn->key_len, cm->nor, &next) == 0 &&
            next.key_len <= STORE_KEY_MAX && next.key_len > tl &&
            memcmp(next.key, pn->key, tl + 1) == 0 &&
            !(next.key_len == pn->key_len && !memcmp(next.key, pn->key, pn->key_len)) &&
            prefetch_key(w, next.key, next.key_len, scope))
                metrics_add(m->prefetches, 1);
        /* CMCD su marks a startup request; the session id tells a title starting from a
         * representation switch (dash.js marks every init request su). */
        init = last_segment_is(pn, "init.mp4");
        if (cm->su && w->rt->cfg->cache.prefetch_start &&
            (!init || (cm->sid[0] && session_starting(cm->sid))))
                (void)prefetch_start(w, pn, init, scope);
}
