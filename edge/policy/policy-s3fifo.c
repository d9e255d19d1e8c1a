/* SPDX-License-Identifier: MIT */
/*
 * S3-FIFO (Yang et al., SOSP 2023): three FIFO queues.
 *   - small (S, 10% of the bytes): every new object enters here;
 *   - main (M, the rest): objects that proved themselves;
 *   - ghost (G): ids (no data) of objects recently evicted from S.
 * A hit only bumps a 2-bit frequency (capped at 3); queues are never reordered on a hit.
 * A miss whose id is in G goes straight to M. To evict: while S holds at least its 10%
 * share, take S's tail: if it was accessed while in S it moves to M's head, else it is
 * evicted and its id goes to G. Otherwise take M's tail: if its frequency is non-zero it is
 * reinserted at M's head with the frequency decremented, else it is evicted.
 * Byte-sized caches: S's share and G's capacity are measured in bytes (G holds as many bytes
 * worth of ids as M may hold data), which reduces to the paper's counts for equal sizes.
 */
#include <errno.h>
#include <stdlib.h>

#include "policy-list.h"
#include "policy-map.h"
#include "policy.h"

enum { Q_SMALL, Q_MAIN, Q_GHOST };

struct s3_entry {
        struct policy_link link;
        uint64_t id, size;
        uint8_t freq;
        uint8_t queue;
};

struct s3fifo {
        struct policy base;
        struct policy_map map;   /* resident objects */
        struct policy_map ghost; /* ghost ids */
        struct policy_link q[3];
        uint64_t bytes[3];
        uint64_t small_cap, ghost_cap;
};

static int s3_new(const struct policy_cfg *cfg, struct policy **ret)
{
        struct s3fifo *s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        policy_map_init(&s->map);
        policy_map_init(&s->ghost);
        for (unsigned i = 0; i < 3; i++)
                policy_list_init(&s->q[i]);
        s->small_cap = cfg->budget / 10;
        s->ghost_cap = cfg->budget - s->small_cap;
        *ret = &s->base;
        return 0;
}

static void s3_free(struct policy *p)
{
        struct s3fifo *s = (struct s3fifo *)p;
        for (unsigned i = 0; i < 3; i++) {
                struct policy_link *n;
                while ((n = policy_list_tail(&s->q[i]))) {
                        policy_list_unlink(n);
                        free(policy_container_of(n, struct s3_entry, link));
                }
        }
        policy_map_done(&s->map);
        policy_map_done(&s->ghost);
        free(s);
}

static bool s3_access(struct policy *p, const struct policy_req *req)
{
        struct s3fifo *s = (struct s3fifo *)p;
        struct s3_entry *e = policy_map_get(&s->map, req->id);
        if (!e)
                return false;
        if (e->freq < 3)
                e->freq++;
        return true;
}

static void enqueue(struct s3fifo *s, struct s3_entry *e, unsigned q)
{
        e->queue = (uint8_t)q;
        policy_list_push_head(&s->q[q], &e->link);
        s->bytes[q] += e->size;
}

static void dequeue(struct s3fifo *s, struct s3_entry *e)
{
        policy_list_unlink(&e->link);
        s->bytes[e->queue] -= e->size;
}

static void ghost_trim(struct s3fifo *s)
{
        while (s->bytes[Q_GHOST] > s->ghost_cap) {
                struct policy_link *n = policy_list_tail(&s->q[Q_GHOST]);
                if (!n)
                        break;
                struct s3_entry *g = policy_container_of(n, struct s3_entry, link);
                dequeue(s, g);
                (void)policy_map_del(&s->ghost, g->id);
                free(g);
        }
}

/* Removes a resident entry, already dequeued, from the cache's books. */
static void forget(struct s3fifo *s, struct s3_entry *e)
{
        (void)policy_map_del(&s->map, e->id);
        s->base.stats.used -= e->size;
        s->base.stats.objects--;
}

/* Evicts exactly one object (S or M), possibly after moving or reinserting others. */
static void evict_one(struct s3fifo *s)
{
        for (;;) {
                bool from_small =
                    !policy_list_empty(&s->q[Q_SMALL]) &&
                    (s->bytes[Q_SMALL] >= s->small_cap || policy_list_empty(&s->q[Q_MAIN]));
                struct policy_link *n = policy_list_tail(&s->q[from_small ? Q_SMALL : Q_MAIN]);
                if (!n)
                        return;
                if (from_small) {
                        struct s3_entry *e = policy_container_of(n, struct s3_entry, link);
                        dequeue(s, e);
                        if (e->freq > 0) {
                                enqueue(s, e, Q_MAIN);
                                continue;
                        }
                        forget(s, e);
                        uint64_t id = e->id, size = e->size;
                        /* The entry becomes the ghost record; a failed map insert just means
                         * no ghost for it, which is harmless. */
                        if (policy_map_put(&s->ghost, id, e) == 0) {
                                enqueue(s, e, Q_GHOST);
                                ghost_trim(s);
                        } else {
                                free(e);
                        }
                        policy_note_evict(&s->base, id, size);
                        return;
                }
                struct s3_entry *e = policy_container_of(n, struct s3_entry, link);
                dequeue(s, e);
                if (e->freq > 0) {
                        e->freq--;
                        enqueue(s, e, Q_MAIN);
                        continue;
                }
                forget(s, e);
                uint64_t id = e->id, size = e->size;
                free(e);
                policy_note_evict(&s->base, id, size);
                return;
        }
}

static void s3_evict_until(struct policy *p, uint64_t target)
{
        struct s3fifo *s = (struct s3fifo *)p;
        while (p->stats.used > target && s->base.stats.objects > 0)
                evict_one(s);
}

static int s3_insert(struct policy *p, const struct policy_req *req)
{
        struct s3fifo *s = (struct s3fifo *)p;
        uint64_t size = policy_req_size(req);
        if (policy_map_get(&s->map, req->id))
                return -EEXIST;
        if (size > p->cfg.budget)
                return 0;
        unsigned q = Q_SMALL;
        struct s3_entry *e = policy_map_del(&s->ghost, req->id);
        if (e) {
                dequeue(s, e);
                q = Q_MAIN;
        } else {
                e = malloc(sizeof(*e));
                if (!e)
                        return -ENOMEM;
        }
        e->id = req->id;
        e->size = size;
        e->freq = 0;
        if (policy_map_put(&s->map, e->id, e) < 0) {
                free(e);
                return -ENOMEM;
        }
        s3_evict_until(p, p->cfg.budget - size);
        enqueue(s, e, q);
        p->stats.used += size;
        p->stats.objects++;
        return 1;
}

static int s3_remove(struct policy *p, uint64_t id)
{
        struct s3fifo *s = (struct s3fifo *)p;
        struct s3_entry *e = policy_map_get(&s->map, id);
        if (!e)
                return -ENOENT;
        dequeue(s, e);
        forget(s, e);
        free(e);
        return 0;
}

const struct policy_ops policy_s3fifo_ops = {
    .name = "s3fifo",
    .summary = "S3-FIFO: small, main and ghost FIFO queues (SOSP 2023)",
    .new = s3_new,
    .free = s3_free,
    .access = s3_access,
    .insert = s3_insert,
    .remove = s3_remove,
    .evict_until = s3_evict_until,
};
