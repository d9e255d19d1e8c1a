/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "policy-heap.h"

void policy_heap_init(struct policy_heap *h)
{
        h->v = NULL;
        h->len = h->cap = 0;
}

void policy_heap_done(struct policy_heap *h)
{
        free(h->v);
        policy_heap_init(h);
}

static bool less(const struct policy_heap_node *a, const struct policy_heap_node *b)
{
        if (a->key != b->key)
                return a->key < b->key;
        return a->seq < b->seq;
}

static void place(struct policy_heap *h, size_t i, struct policy_heap_node *n)
{
        h->v[i] = n;
        n->idx = i;
}

static void sift_up(struct policy_heap *h, size_t i)
{
        struct policy_heap_node *n = h->v[i];
        while (i > 0) {
                size_t parent = (i - 1) / 2;
                if (!less(n, h->v[parent]))
                        break;
                place(h, i, h->v[parent]);
                i = parent;
        }
        place(h, i, n);
}

static void sift_down(struct policy_heap *h, size_t i)
{
        struct policy_heap_node *n = h->v[i];
        for (;;) {
                size_t c = 2 * i + 1;
                if (c >= h->len)
                        break;
                if (c + 1 < h->len && less(h->v[c + 1], h->v[c]))
                        c++;
                if (!less(h->v[c], n))
                        break;
                place(h, i, h->v[c]);
                i = c;
        }
        place(h, i, n);
}

int policy_heap_push(struct policy_heap *h, struct policy_heap_node *n)
{
        if (h->len == h->cap) {
                size_t ncap = h->cap ? h->cap * 2 : 64;
                struct policy_heap_node **nv = realloc(h->v, ncap * sizeof(*nv));
                if (!nv)
                        return -ENOMEM;
                h->v = nv;
                h->cap = ncap;
        }
        place(h, h->len++, n);
        sift_up(h, n->idx);
        return 0;
}

void policy_heap_update(struct policy_heap *h, struct policy_heap_node *n)
{
        size_t i = n->idx;
        sift_up(h, i);
        if (n->idx == i)
                sift_down(h, i);
}

void policy_heap_remove(struct policy_heap *h, struct policy_heap_node *n)
{
        size_t i = n->idx;
        struct policy_heap_node *last = h->v[--h->len];
        if (last == n)
                return;
        place(h, i, last);
        policy_heap_update(h, last);
}

void policy_heap_reorder(struct policy_heap *h)
{
        for (size_t i = h->len / 2; i-- > 0;)
                sift_down(h, i);
}
