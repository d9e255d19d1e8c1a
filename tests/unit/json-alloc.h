/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * For the tests of JSON refused from its text before jansson builds it: jansson's allocations
 * counted by their usable size, refused past a cap (so a text it would build after all stops
 * there), and texts made of one unit repeated.
 */

#include <jansson.h>
#include <malloc.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static size_t json_held, json_held_cap = SIZE_MAX;
static bool json_held_over;

static inline void *json_counted_malloc(size_t n)
{
        void *p;

        if (json_held + n > json_held_cap) {
                json_held_over = true;
                return NULL;
        }
        p = malloc(n);
        if (p)
                json_held += malloc_usable_size(p);
        return p;
}

static inline void json_counted_free(void *p)
{
        json_held -= p ? malloc_usable_size(p) : 0;
        free(p);
}

/* Count jansson's allocations from now on, refusing any that would take it past cap. */
static inline void json_counting_start(size_t cap)
{
        json_held = 0;
        json_held_cap = cap;
        json_held_over = false;
        json_set_alloc_funcs(json_counted_malloc, json_counted_free);
}

/* Stop counting; whether jansson asked for more than the cap meanwhile. */
static inline bool json_counting_stop(void)
{
        json_set_alloc_funcs(malloc, free);
        json_held_cap = SIZE_MAX;
        return json_held_over;
}

/* head, then unit n times comma-separated, then tail (malloc'd, NULL when out of memory). */
static inline char *json_repeated(const char *head, const char *unit, size_t n,
                                  const char *tail, size_t *ret_len)
{
        size_t hl = strlen(head), ul = strlen(unit), tl = strlen(tail), len = hl;
        char *s = malloc(hl + n * (ul + 1) + tl + 1);

        if (!s)
                return NULL;
        memcpy(s, head, hl);
        for (size_t i = 0; i < n; i++) {
                if (i)
                        s[len++] = ',';
                memcpy(s + len, unit, ul);
                len += ul;
        }
        memcpy(s + len, tail, tl);
        len += tl;
        *ret_len = len;
        return s;
}
