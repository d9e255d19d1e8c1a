/* SPDX-License-Identifier: MIT */
/*
 * Belady's MIN, the offline limit: it reads each request's next access time (computed by
 * the simulator from the whole trace) and evicts the object needed furthest in the future.
 * With variable sizes MIN is no longer strictly optimal (that problem is NP-hard), so this
 * is the usual practical bound: it also refuses to admit an object whose next use is later
 * than that of everything it would displace, and never admits an object with no next use.
 */
#include <errno.h>
#include <stdlib.h>

#include "policy-heap.h"
#include "policy-map.h"
#include "policy.h"

struct belady_entry {
        struct policy_heap_node node; /* key = -next access: the heap's minimum is the furthest */
        uint64_t id, size, next;
};

struct belady {
        struct policy base;
        struct policy_map map;
        struct policy_heap heap;
        uint64_t seq;
};

static int belady_new(const struct policy_cfg *cfg, struct policy **ret)
{
        struct belady *b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        policy_map_init(&b->map);
        policy_heap_init(&b->heap);
        *ret = &b->base;
        return 0;
}

static void belady_free(struct policy *p)
{
        struct belady *b = (struct belady *)p;
        for (size_t i = 0; i < b->heap.len; i++)
                free(policy_container_of(b->heap.v[i], struct belady_entry, node));
        policy_heap_done(&b->heap);
        policy_map_done(&b->map);
        free(b);
}

static void stamp(struct belady *b, struct belady_entry *e, uint64_t next)
{
        e->next = next;
        e->node.key = -(double)next;
        e->node.seq = ++b->seq;
}

static bool belady_access(struct policy *p, const struct policy_req *req)
{
        struct belady *b = (struct belady *)p;
        struct belady_entry *e = policy_map_get(&b->map, req->id);
        if (!e)
                return false;
        stamp(b, e, req->next_access);
        policy_heap_update(&b->heap, &e->node);
        return true;
}

static void drop(struct belady *b, struct belady_entry *e)
{
        policy_heap_remove(&b->heap, &e->node);
        (void)policy_map_del(&b->map, e->id);
        b->base.stats.used -= e->size;
        b->base.stats.objects--;
        free(e);
}

static void belady_evict_until(struct policy *p, uint64_t target)
{
        struct belady *b = (struct belady *)p;
        struct policy_heap_node *n;
        while (p->stats.used > target && (n = policy_heap_peek(&b->heap))) {
                struct belady_entry *e = policy_container_of(n, struct belady_entry, node);
                uint64_t id = e->id, size = e->size;
                drop(b, e);
                policy_note_evict(p, id, size);
        }
}

static int belady_insert(struct policy *p, const struct policy_req *req)
{
        struct belady *b = (struct belady *)p;
        uint64_t size = policy_req_size(req);
        if (policy_map_get(&b->map, req->id))
                return -EEXIST;
        if (size > p->cfg.budget || req->next_access == POLICY_NEVER)
                return 0;
        /* Evict only objects needed later than this one; if that is not enough, bypass. */
        struct policy_heap_node *n;
        while (p->stats.used + size > p->cfg.budget && (n = policy_heap_peek(&b->heap))) {
                struct belady_entry *v = policy_container_of(n, struct belady_entry, node);
                if (v->next <= req->next_access)
                        return 0;
                uint64_t id = v->id, vsize = v->size;
                drop(b, v);
                policy_note_evict(p, id, vsize);
        }
        struct belady_entry *e = malloc(sizeof(*e));
        if (!e)
                return -ENOMEM;
        e->id = req->id;
        e->size = size;
        stamp(b, e, req->next_access);
        if (policy_map_put(&b->map, e->id, e) < 0) {
                free(e);
                return -ENOMEM;
        }
        if (policy_heap_push(&b->heap, &e->node) < 0) {
                (void)policy_map_del(&b->map, e->id);
                free(e);
                return -ENOMEM;
        }
        p->stats.used += size;
        p->stats.objects++;
        return 1;
}

static int belady_remove(struct policy *p, uint64_t id)
{
        struct belady *b = (struct belady *)p;
        struct belady_entry *e = policy_map_get(&b->map, id);
        if (!e)
                return -ENOENT;
        drop(b, e);
        return 0;
}

const struct policy_ops policy_belady_ops = {
    .name = "belady",
    .summary = "Belady MIN with bypass (offline: needs next-access times)",
    .needs_future = true,
    .new = belady_new,
    .free = belady_free,
    .access = belady_access,
    .insert = belady_insert,
    .remove = belady_remove,
    .evict_until = belady_evict_until,
};
