/* SPDX-License-Identifier: MIT */
/*
 * Per-worker fd cache: a fixed array of slots, a chained hash on file id
 * and an intrusive LRU list of idle slots. All index links are slot numbers, so the whole cache
 * is two allocations made once.
 */
#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fd-cache.h"

#define NIL UINT32_MAX

struct fd_cache_ent {
        uint64_t file_id;
        int fd; /* -1: slot free */
        unsigned refs;
        bool hashed; /* reachable by file id; false once dropped */
        void *map;   /* read-only mapping of the file's first map_len bytes, or NULL */
        size_t map_len;
        uint32_t hnext;
        uint32_t prev, next; /* LRU (idle entries) or free list (next only) */
};

struct fd_cache {
        struct fd_cache_ent *e;
        uint32_t *buckets;
        uint32_t nbuckets; /* power of two */
        uint32_t cap;
        uint32_t used;
        uint32_t free_head;
        uint32_t lru_head, lru_tail; /* head: most recent */
};

static uint32_t bucket_of(const struct fd_cache *c, uint64_t id)
{
        /* Ids are random already; a multiply spreads any that are not. */
        return (uint32_t)((id * 0x9e3779b97f4a7c15ull) >> 32) & (c->nbuckets - 1);
}

int fd_cache_new(unsigned cap, struct fd_cache **ret)
{
        struct fd_cache *c = calloc(1, sizeof(*c));
        uint32_t nb = 1;

        if (!c)
                return -ENOMEM;
        if (cap > (1u << 24))
                cap = 1u << 24;
        while (nb < cap * 2u)
                nb <<= 1;
        c->cap = cap;
        c->nbuckets = nb;
        c->e = calloc(cap ? cap : 1, sizeof(*c->e));
        c->buckets = malloc(nb * sizeof(*c->buckets));
        if (!c->e || !c->buckets) {
                free(c->e);
                free(c->buckets);
                free(c);
                return -ENOMEM;
        }
        for (uint32_t i = 0; i < nb; i++)
                c->buckets[i] = NIL;
        c->free_head = cap ? 0 : NIL;
        for (uint32_t i = 0; i < cap; i++) {
                c->e[i].fd = -1;
                c->e[i].next = i + 1 < cap ? i + 1 : NIL;
        }
        c->lru_head = c->lru_tail = NIL;
        *ret = c;
        return 0;
}

static void lru_unlink(struct fd_cache *c, uint32_t i)
{
        struct fd_cache_ent *e = &c->e[i];

        if (e->prev != NIL)
                c->e[e->prev].next = e->next;
        else
                c->lru_head = e->next;
        if (e->next != NIL)
                c->e[e->next].prev = e->prev;
        else
                c->lru_tail = e->prev;
        e->prev = e->next = NIL;
}

static void lru_push(struct fd_cache *c, uint32_t i)
{
        struct fd_cache_ent *e = &c->e[i];

        e->prev = NIL;
        e->next = c->lru_head;
        if (c->lru_head != NIL)
                c->e[c->lru_head].prev = i;
        c->lru_head = i;
        if (c->lru_tail == NIL)
                c->lru_tail = i;
}

static void hash_remove(struct fd_cache *c, uint32_t i)
{
        struct fd_cache_ent *e = &c->e[i];
        uint32_t *p = &c->buckets[bucket_of(c, e->file_id)];

        if (!e->hashed)
                return;
        while (*p != NIL && *p != i)
                p = &c->e[*p].hnext;
        if (*p == i)
                *p = e->hnext;
        e->hashed = false;
        e->hnext = NIL;
}

static void unmap(struct fd_cache_ent *e)
{
        if (e->map)
                (void)munmap(e->map, e->map_len);
        e->map = NULL;
        e->map_len = 0;
}

/* Close an idle slot that is not on the LRU list and return it to the free list. */
static void slot_release(struct fd_cache *c, uint32_t i)
{
        struct fd_cache_ent *e = &c->e[i];

        hash_remove(c, i);
        unmap(e);
        (void)close(e->fd);
        e->fd = -1;
        e->refs = 0;
        e->next = c->free_head;
        c->free_head = i;
        c->used--;
}

void fd_cache_free(struct fd_cache *c)
{
        if (!c)
                return;
        for (uint32_t i = 0; i < c->cap; i++) {
                assert(c->e[i].refs == 0);
                unmap(&c->e[i]);
                if (c->e[i].fd >= 0)
                        (void)close(c->e[i].fd);
        }
        free(c->e);
        free(c->buckets);
        free(c);
}

static uint32_t find(struct fd_cache *c, uint64_t id)
{
        for (uint32_t i = c->buckets[bucket_of(c, id)]; i != NIL; i = c->e[i].hnext)
                if (c->e[i].file_id == id)
                        return i;
        return NIL;
}

struct fd_cache_ent *fd_cache_get(struct fd_cache *c, uint64_t file_id, int *ret_fd)
{
        uint32_t i = find(c, file_id);

        if (i == NIL)
                return NULL;
        if (c->e[i].refs++ == 0)
                lru_unlink(c, i);
        *ret_fd = c->e[i].fd;
        return &c->e[i];
}

struct fd_cache_ent *fd_cache_add(struct fd_cache *c, uint64_t file_id, int fd)
{
        uint32_t i = c->free_head;

        if (i == NIL) {
                i = c->lru_tail; /* least recently used idle entry */
                if (i == NIL)
                        return NULL;
                lru_unlink(c, i);
                slot_release(c, i);
                i = c->free_head;
        }
        c->free_head = c->e[i].next;
        c->used++;

        /* A second open of the same id (two lookups racing a miss) replaces the older entry
         * in the hash; the older one lives on unhashed until its users let go. */
        uint32_t old = find(c, file_id);
        if (old != NIL)
                hash_remove(c, old);

        struct fd_cache_ent *e = &c->e[i];
        e->file_id = file_id;
        e->fd = fd;
        e->refs = 1;
        e->prev = e->next = NIL;
        uint32_t b = bucket_of(c, file_id);
        e->hnext = c->buckets[b];
        c->buckets[b] = i;
        e->hashed = true;
        if (old != NIL && c->e[old].refs == 0) {
                lru_unlink(c, old);
                slot_release(c, old);
        }
        return e;
}

void fd_cache_put(struct fd_cache *c, struct fd_cache_ent *e)
{
        uint32_t i = (uint32_t)(e - c->e);

        assert(i < c->cap && e->refs > 0);
        if (--e->refs > 0)
                return;
        if (!e->hashed)
                slot_release(c, i);
        else
                lru_push(c, i);
}

uint64_t fd_cache_ent_id(const struct fd_cache_ent *e)
{
        return e->file_id;
}

void fd_cache_ref(struct fd_cache_ent *e)
{
        assert(e->refs > 0);
        e->refs++;
}

int fd_cache_map(struct fd_cache_ent *e, size_t len, const void **ret)
{
        void *m;

        if (e->map && e->map_len >= len) {
                *ret = e->map;
                return 0;
        }
        if (e->map && e->refs > 1)
                return -EBUSY; /* another user may still hand the old mapping to the kernel */
        if (len == 0)
                return -EINVAL;
        m = mmap(NULL, len, PROT_READ, MAP_SHARED, e->fd, 0);
        if (m == MAP_FAILED)
                return -errno;
        unmap(e);
        e->map = m;
        e->map_len = len;
        *ret = m;
        return 0;
}

void fd_cache_drop(struct fd_cache *c, uint64_t file_id)
{
        uint32_t i = find(c, file_id);

        if (i == NIL)
                return;
        if (c->e[i].refs == 0) {
                lru_unlink(c, i);
                slot_release(c, i);
        } else {
                hash_remove(c, i);
        }
}

void fd_cache_drop_all(struct fd_cache *c)
{
        while (c->lru_tail != NIL) {
                uint32_t i = c->lru_tail;
                lru_unlink(c, i);
                slot_release(c, i);
        }
        /* Entries in use stay open for their users but are no longer found: each is closed
         * when its last user lets go, as fd_cache_drop does, instead of going back idle and
         * keeping a file that may be unlinked (and its blocks) open. */
        for (uint32_t i = 0; i < c->cap; i++)
                if (c->e[i].fd >= 0 && c->e[i].hashed)
                        hash_remove(c, i);
}

unsigned fd_cache_shed(struct fd_cache *c, unsigned n)
{
        unsigned done = 0;

        while (done < n && c->lru_tail != NIL) {
                uint32_t i = c->lru_tail;
                lru_unlink(c, i);
                slot_release(c, i);
                done++;
        }
        return done;
}

unsigned fd_cache_count(const struct fd_cache *c)
{
        return c->used;
}
