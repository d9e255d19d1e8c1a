/* SPDX-License-Identifier: MIT */
/*
 * SIEVE (Zhang et al., NSDI 2024): one FIFO queue, a "visited" bit per object and a hand.
 * A hit only sets the bit, so hits never reorder the queue. To evict, the hand walks from
 * where it last stopped towards the head: visited objects have their bit cleared and stay
 * in place, the first unvisited one is evicted. A hand that falls off the head wraps to the
 * tail. New objects always enter at the head.
 */
#include <errno.h>
#include <stdlib.h>

#include "policy-list.h"
#include "policy-map.h"
#include "policy.h"

struct sieve_entry {
        struct policy_link link;
        uint64_t id, size;
        bool visited;
};

struct sieve {
        struct policy base;
        struct policy_map map;
        struct policy_link list;  /* head->next newest, head->prev oldest */
        struct policy_link *hand; /* NULL: start at the tail */
};

static int sieve_new(const struct policy_cfg *cfg, struct policy **ret)
{
        struct sieve *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        policy_map_init(&s->map);
        policy_list_init(&s->list);
        *ret = &s->base;
        return 0;
}

static void sieve_free(struct policy *p)
{
        struct sieve *s = (struct sieve *)p;
        struct policy_link *n;
        while ((n = policy_list_tail(&s->list))) {
                policy_list_unlink(n);
                free(policy_container_of(n, struct sieve_entry, link));
        }
        policy_map_done(&s->map);
        free(s);
}

static bool sieve_access(struct policy *p, const struct policy_req *req)
{
        struct sieve *s = (struct sieve *)p;
        struct sieve_entry *e = policy_map_get(&s->map, req->id);
        if (!e)
                return false;
        e->visited = true;
        return true;
}

static void drop(struct sieve *s, struct sieve_entry *e)
{
        /* The hand moves on to the next newer object, as the paper's hand does after an
         * eviction; past the head it becomes NULL and restarts from the tail. */
        if (s->hand == &e->link)
                s->hand = e->link.prev == &s->list ? NULL : e->link.prev;
        policy_list_unlink(&e->link);
        (void)policy_map_del(&s->map, e->id);
        s->base.stats.used -= e->size;
        s->base.stats.objects--;
        free(e);
}

static void sieve_evict_until(struct policy *p, uint64_t target)
{
        struct sieve *s = (struct sieve *)p;
        while (p->stats.used > target && !policy_list_empty(&s->list)) {
                struct policy_link *n = s->hand ? s->hand : s->list.prev;
                struct sieve_entry *e = policy_container_of(n, struct sieve_entry, link);
                while (e->visited) {
                        e->visited = false;
                        n = n->prev == &s->list ? s->list.prev : n->prev;
                        e = policy_container_of(n, struct sieve_entry, link);
                }
                s->hand = n;
                uint64_t id = e->id, size = e->size;
                drop(s, e);
                policy_note_evict(p, id, size);
        }
}

static int sieve_insert(struct policy *p, const struct policy_req *req)
{
        struct sieve *s = (struct sieve *)p;
        uint64_t size = policy_req_size(req);
        if (policy_map_get(&s->map, req->id))
                return -EEXIST;
        if (size > p->cfg.budget)
                return 0;
        struct sieve_entry *e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        e->id = req->id;
        e->size = size;
        if (policy_map_put(&s->map, e->id, e) < 0) {
                free(e);
                return -ENOMEM;
        }
        sieve_evict_until(p, p->cfg.budget - size);
        policy_list_push_head(&s->list, &e->link);
        p->stats.used += size;
        p->stats.objects++;
        return 1;
}

static int sieve_remove(struct policy *p, uint64_t id)
{
        struct sieve *s = (struct sieve *)p;
        struct sieve_entry *e = policy_map_get(&s->map, id);
        if (!e)
                return -ENOENT;
        drop(s, e);
        return 0;
}

const struct policy_ops policy_sieve_ops = {
    .name = "sieve",
    .summary = "SIEVE: FIFO with a visited bit and a moving hand (NSDI 2024)",
    .new = sieve_new,
    .free = sieve_free,
    .access = sieve_access,
    .insert = sieve_insert,
    .remove = sieve_remove,
    .evict_until = sieve_evict_until,
};
