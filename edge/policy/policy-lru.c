/* SPDX-License-Identifier: MIT */
/*
 * LRU: a hit moves the object to the head; the tail is evicted. The reference every other
 * policy is measured against.
 */
#include <errno.h>
#include <stdlib.h>

#include "policy-list.h"
#include "policy-map.h"
#include "policy.h"

struct lru_entry {
        struct policy_link link;
        uint64_t id, size;
};

struct lru {
        struct policy base;
        struct policy_map map;
        struct policy_link list;
};

static int lru_new(const struct policy_cfg *cfg, struct policy **ret)
{
        struct lru *l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        policy_map_init(&l->map);
        policy_list_init(&l->list);
        *ret = &l->base;
        return 0;
}

static void lru_free(struct policy *p)
{
        struct lru *l = (struct lru *)p;
        struct policy_link *n;
        while ((n = policy_list_tail(&l->list))) {
                policy_list_unlink(n);
                free(policy_container_of(n, struct lru_entry, link));
        }
        policy_map_done(&l->map);
        free(l);
}

static bool lru_access(struct policy *p, const struct policy_req *req)
{
        struct lru *l = (struct lru *)p;
        struct lru_entry *e = policy_map_get(&l->map, req->id);
        if (!e)
                return false;
        policy_list_unlink(&e->link);
        policy_list_push_head(&l->list, &e->link);
        return true;
}

static void drop(struct lru *l, struct lru_entry *e)
{
        policy_list_unlink(&e->link);
        (void)policy_map_del(&l->map, e->id);
        l->base.stats.used -= e->size;
        l->base.stats.objects--;
        free(e);
}

static void lru_evict_until(struct policy *p, uint64_t target)
{
        struct lru *l = (struct lru *)p;
        struct policy_link *n;
        while (p->stats.used > target && (n = policy_list_tail(&l->list))) {
                struct lru_entry *e = policy_container_of(n, struct lru_entry, link);
                uint64_t id = e->id, size = e->size;
                drop(l, e);
                policy_note_evict(p, id, size);
        }
}

static int lru_insert(struct policy *p, const struct policy_req *req)
{
        struct lru *l = (struct lru *)p;
        uint64_t size = policy_req_size(req);
        if (policy_map_get(&l->map, req->id))
                return -EEXIST;
        if (size > p->cfg.budget)
                return 0;
        struct lru_entry *e = malloc(sizeof(*e));
        if (!e)
                return -ENOMEM;
        e->id = req->id;
        e->size = size;
        if (policy_map_put(&l->map, e->id, e) < 0) {
                free(e);
                return -ENOMEM;
        }
        lru_evict_until(p, p->cfg.budget - size);
        policy_list_push_head(&l->list, &e->link);
        p->stats.used += size;
        p->stats.objects++;
        return 1;
}

static int lru_remove(struct policy *p, uint64_t id)
{
        struct lru *l = (struct lru *)p;
        struct lru_entry *e = policy_map_get(&l->map, id);
        if (!e)
                return -ENOENT;
        drop(l, e);
        return 0;
}

const struct policy_ops policy_lru_ops = {
    .name = "lru",
    .summary = "least recently used",
    .new = lru_new,
    .free = lru_free,
    .access = lru_access,
    .insert = lru_insert,
    .remove = lru_remove,
    .evict_until = lru_evict_until,
};
