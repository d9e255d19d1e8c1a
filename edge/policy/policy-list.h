/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Intrusive circular doubly-linked list with a sentinel head. Queue policies keep the
 * newest object at head->next and the oldest at head->prev. Nodes are owned by whatever
 * embeds them; the list never allocates.
 */

#include <stdbool.h>
#include <stddef.h>

struct policy_link {
        struct policy_link *prev, *next;
};

#ifndef policy_container_of
#define policy_container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))
#endif

static inline void policy_list_init(struct policy_link *head)
{
        head->prev = head->next = head;
}

static inline bool policy_list_empty(const struct policy_link *head)
{
        return head->next == head;
}

/* Links n just after `at` (at == head: n becomes the newest). */
static inline void policy_list_insert_after(struct policy_link *at, struct policy_link *n)
{
        n->prev = at;
        n->next = at->next;
        at->next->prev = n;
        at->next = n;
}

static inline void policy_list_push_head(struct policy_link *head, struct policy_link *n)
{
        policy_list_insert_after(head, n);
}

static inline void policy_list_unlink(struct policy_link *n)
{
        n->prev->next = n->next;
        n->next->prev = n->prev;
        n->prev = n->next = NULL;
}

/* Oldest node, or NULL if empty. */
static inline struct policy_link *policy_list_tail(struct policy_link *head)
{
        return policy_list_empty(head) ? NULL : head->prev;
}
