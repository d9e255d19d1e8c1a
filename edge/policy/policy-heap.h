/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Binary min-heap of nodes embedded in policy entries, ordered by (key, seq): the lowest
 * key is the next victim and, among equal keys, the least recently stamped one. Each node
 * knows its slot, so updating or removing any member is O(log n).
 */

#include <stddef.h>
#include <stdint.h>

/* The entry that embeds a node or link. */
#ifndef policy_container_of
#define policy_container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#endif

struct policy_heap_node {
        double key;
        uint64_t seq;
        size_t idx;
};

struct policy_heap {
        struct policy_heap_node **v;
        size_t len, cap;
};

/* Initialises an empty heap. Never fails. */
void policy_heap_init(struct policy_heap *h);

/* Frees the array, not the nodes. */
void policy_heap_done(struct policy_heap *h);

/* Adds n (not already a member). Returns 0 or -ENOMEM (heap unchanged). */
int policy_heap_push(struct policy_heap *h, struct policy_heap_node *n);

/* Restores order after n->key or n->seq changed. */
void policy_heap_update(struct policy_heap *h, struct policy_heap_node *n);

/* Restores order after any number of keys changed: O(n). */
void policy_heap_reorder(struct policy_heap *h);

/* Removes member n. */
void policy_heap_remove(struct policy_heap *h, struct policy_heap_node *n);

/* Smallest node, or NULL if empty; stays in the heap. */
static inline struct policy_heap_node *policy_heap_peek(const struct policy_heap *h)
{
        return h->len ? h->v[0] : NULL;
}
