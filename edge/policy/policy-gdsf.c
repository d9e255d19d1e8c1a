/* SPDX-License-Identifier: MIT */
/*
 * GreedyDual-Size-Frequency (Cherkasova, 1998) and LFU with Dynamic Aging (Arlitt et al.,
 * 2000), which differ only in the priority of an object:
 *     gdsf:   H = L + freq * cost / size     (cost = 1: favours small objects)
 *     lfuda:  H = L + freq                   (cost = size: size-neutral, for byte hit ratio)
 * The object with the lowest H is evicted and the "inflation" L becomes its H, so objects
 * that were popular long ago age out once newer ones overtake them.
 */
#include <errno.h>
#include <stdlib.h>

#include "policy-heap.h"
#include "policy-map.h"
#include "policy.h"

struct gd_entry {
        struct policy_heap_node node;
        uint64_t id, size;
        uint64_t freq;
};

struct gd {
        struct policy base;
        struct policy_map map;
        struct policy_heap heap;
        double inflation;
        uint64_t seq;
        bool by_size;
};

static int gd_new(const struct policy_cfg *cfg, struct policy **ret, bool by_size)
{
        struct gd *g = calloc(1, sizeof(*g));
        if (!g)
                return -ENOMEM;
        policy_map_init(&g->map);
        policy_heap_init(&g->heap);
        g->by_size = by_size;
        *ret = &g->base;
        return 0;
}

static int gdsf_new(const struct policy_cfg *cfg, struct policy **ret)
{
        return gd_new(cfg, ret, true);
}

static int lfuda_new(const struct policy_cfg *cfg, struct policy **ret)
{
        return gd_new(cfg, ret, false);
}

static void gd_free(struct policy *p)
{
        struct gd *g = (struct gd *)p;
        for (size_t i = 0; i < g->heap.len; i++)
                free(policy_container_of(g->heap.v[i], struct gd_entry, node));
        policy_heap_done(&g->heap);
        policy_map_done(&g->map);
        free(g);
}

static void stamp(struct gd *g, struct gd_entry *e)
{
        double f = (double)e->freq;
        e->node.key = g->inflation + (g->by_size ? f / (double)e->size : f);
        e->node.seq = ++g->seq;
}

static bool gd_access(struct policy *p, const struct policy_req *req)
{
        struct gd *g = (struct gd *)p;
        struct gd_entry *e = policy_map_get(&g->map, req->id);
        if (!e)
                return false;
        e->freq++;
        stamp(g, e);
        policy_heap_update(&g->heap, &e->node);
        return true;
}

static void drop(struct gd *g, struct gd_entry *e)
{
        policy_heap_remove(&g->heap, &e->node);
        (void)policy_map_del(&g->map, e->id);
        g->base.stats.used -= e->size;
        g->base.stats.objects--;
        free(e);
}

static void gd_evict_until(struct policy *p, uint64_t target)
{
        struct gd *g = (struct gd *)p;
        struct policy_heap_node *n;
        while (p->stats.used > target && (n = policy_heap_peek(&g->heap))) {
                struct gd_entry *e = policy_container_of(n, struct gd_entry, node);
                g->inflation = e->node.key;
                uint64_t id = e->id, size = e->size;
                drop(g, e);
                policy_note_evict(p, id, size);
        }
}

static int gd_insert(struct policy *p, const struct policy_req *req)
{
        struct gd *g = (struct gd *)p;
        uint64_t size = policy_req_size(req);
        if (policy_map_get(&g->map, req->id))
                return -EEXIST;
        if (size > p->cfg.budget)
                return 0;
        struct gd_entry *e = malloc(sizeof(*e));
        if (!e)
                return -ENOMEM;
        e->id = req->id;
        e->size = size;
        e->freq = 1;
        if (policy_map_put(&g->map, e->id, e) < 0) {
                free(e);
                return -ENOMEM;
        }
        gd_evict_until(p, p->cfg.budget - size);
        /* Stamped after eviction so it starts from the raised inflation. */
        stamp(g, e);
        if (policy_heap_push(&g->heap, &e->node) < 0) {
                (void)policy_map_del(&g->map, e->id);
                free(e);
                return -ENOMEM;
        }
        p->stats.used += size;
        p->stats.objects++;
        return 1;
}

static int gd_remove(struct policy *p, uint64_t id)
{
        struct gd *g = (struct gd *)p;
        struct gd_entry *e = policy_map_get(&g->map, id);
        if (!e)
                return -ENOENT;
        drop(g, e);
        return 0;
}

const struct policy_ops policy_gdsf_ops = {
    .name = "gdsf",
    .summary = "GreedyDual-Size-Frequency, cost 1",
    .new = gdsf_new,
    .free = gd_free,
    .access = gd_access,
    .insert = gd_insert,
    .remove = gd_remove,
    .evict_until = gd_evict_until,
};

const struct policy_ops policy_lfuda_ops = {
    .name = "lfuda",
    .summary = "LFU with dynamic aging (GreedyDual with cost = size)",
    .new = lfuda_new,
    .free = gd_free,
    .access = gd_access,
    .insert = gd_insert,
    .remove = gd_remove,
    .evict_until = gd_evict_until,
};
