/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "policy-map.h"

#define MAP_MIN_CAP 64

void policy_map_init(struct policy_map *m)
{
        m->keys = NULL;
        m->vals = NULL;
        m->cap = 0;
        m->count = 0;
}

void policy_map_done(struct policy_map *m)
{
        free(m->keys);
        free(m->vals);
        policy_map_init(m);
}

static size_t slot_of(const struct policy_map *m, uint64_t key)
{
        return (size_t)policy_hash64(key) & (m->cap - 1);
}

void *policy_map_get(const struct policy_map *m, uint64_t key)
{
        if (m->cap == 0)
                return NULL;
        for (size_t i = slot_of(m, key);; i = (i + 1) & (m->cap - 1)) {
                if (!m->vals[i])
                        return NULL;
                if (m->keys[i] == key)
                        return m->vals[i];
        }
}

static int grow(struct policy_map *m)
{
        size_t ncap = m->cap ? m->cap * 2 : MAP_MIN_CAP;
        uint64_t *nkeys = malloc(ncap * sizeof(*nkeys));
        void **nvals = calloc(ncap, sizeof(*nvals));
        if (!nkeys || !nvals) {
                free(nkeys);
                free(nvals);
                return -ENOMEM;
        }
        for (size_t i = 0; i < m->cap; i++) {
                if (!m->vals[i])
                        continue;
                size_t j = (size_t)policy_hash64(m->keys[i]) & (ncap - 1);
                while (nvals[j])
                        j = (j + 1) & (ncap - 1);
                nkeys[j] = m->keys[i];
                nvals[j] = m->vals[i];
        }
        free(m->keys);
        free(m->vals);
        m->keys = nkeys;
        m->vals = nvals;
        m->cap = ncap;
        return 0;
}

int policy_map_put(struct policy_map *m, uint64_t key, void *val)
{
        if ((m->count + 1) * 10 > m->cap * 7) {
                int r = grow(m);
                if (r < 0)
                        return r;
        }
        size_t i = slot_of(m, key);
        while (m->vals[i]) {
                if (m->keys[i] == key) {
                        m->vals[i] = val;
                        return 0;
                }
                i = (i + 1) & (m->cap - 1);
        }
        m->keys[i] = key;
        m->vals[i] = val;
        m->count++;
        return 0;
}

/* True if home slot h lies cyclically in (hole, cur]: the entry at cur must stay put. */
static bool stays(size_t hole, size_t cur, size_t h)
{
        if (hole <= cur)
                return hole < h && h <= cur;
        return hole < h || h <= cur;
}

void *policy_map_del(struct policy_map *m, uint64_t key)
{
        if (m->cap == 0)
                return NULL;
        size_t mask = m->cap - 1, i = slot_of(m, key);
        while (m->vals[i] && m->keys[i] != key)
                i = (i + 1) & mask;
        void *val = m->vals[i];
        if (!val)
                return NULL;
        /* Backward shift: pull later members of the probe run into the hole. */
        size_t hole = i;
        for (size_t cur = (hole + 1) & mask; m->vals[cur]; cur = (cur + 1) & mask) {
                size_t h = slot_of(m, m->keys[cur]);
                if (stays(hole, cur, h))
                        continue;
                m->keys[hole] = m->keys[cur];
                m->vals[hole] = m->vals[cur];
                hole = cur;
        }
        m->vals[hole] = NULL;
        m->count--;
        return val;
}
