/* SPDX-License-Identifier: MIT */
/*
 * Per-thread free lists for nghttp2's small blocks (see h2-mem.h). Each block carries a 16-byte
 * head naming its size class, so free and realloc need no size; the user part stays 16-byte
 * aligned as malloc's is.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sanitizer.h"

#include "h2-mem.h"

#define HEAD        16u
#define CLASS_MIN   32u
#define N_CLASSES   8u /* 32 .. 4096 */
#define CLASS_LARGE 0xffu

_Static_assert((CLASS_MIN << (N_CLASSES - 1)) == H2_MEM_CLASS_MAX, "classes end at the max");

struct block_head {
        uint32_t cls;
        uint32_t pad[3];
};

struct free_block {
        struct free_block *next;
};

struct free_list {
        struct free_block *first;
        size_t bytes;
};

static _Thread_local struct free_list lists[N_CLASSES];

static size_t class_size(unsigned c)
{
        return (size_t)CLASS_MIN << c;
}

static unsigned class_of(size_t n)
{
        unsigned c = 0;

        while (c < N_CLASSES && class_size(c) < n)
                c++;
        return c < N_CLASSES ? c : CLASS_LARGE;
}

static struct block_head *head_of(void *p)
{
        return (struct block_head *)(void *)((char *)p - HEAD);
}

static void *mem_malloc(size_t n, void *ud)
{
        unsigned c = class_of(n ? n : 1);
        struct block_head *h;

        (void)ud;
        if (c != CLASS_LARGE && lists[c].first) {
                struct free_block *b = lists[c].first;
                lists[c].first = b->next;
                lists[c].bytes -= class_size(c);
                return b;
        }
        if (n > SIZE_MAX - HEAD)
                return NULL;
        h = malloc(HEAD + (c == CLASS_LARGE ? n : class_size(c)));
        if (!h)
                return NULL;
        h->cls = c;
        return (char *)h + HEAD;
}

static void mem_free(void *p, void *ud)
{
        struct block_head *h;
        unsigned c;

        (void)ud;
        if (!p)
                return;
        h = head_of(p);
        c = h->cls;
        if (c == CLASS_LARGE || lists[c].bytes + class_size(c) > H2_MEM_KEEP) {
                free(h);
                return;
        }
        struct free_block *b = p;
        b->next = lists[c].first;
        lists[c].first = b;
        lists[c].bytes += class_size(c);
}

static void *mem_calloc(size_t nmemb, size_t size, void *ud)
{
        void *p;

        if (size && nmemb > SIZE_MAX / size)
                return NULL;
        p = mem_malloc(nmemb * size, ud);
        if (p)
                memset(p, 0, nmemb * size);
        return p;
}

static void *mem_realloc(void *p, size_t n, void *ud)
{
        struct block_head *h;
        size_t have;
        void *q;

        if (!p)
                return mem_malloc(n, ud);
        h = head_of(p);
        if (h->cls == CLASS_LARGE) {
                if (n > SIZE_MAX - HEAD)
                        return NULL;
                h = realloc(h, HEAD + (n ? n : 1));
                return h ? (char *)h + HEAD : NULL;
        }
        have = class_size(h->cls);
        if (n <= have && n > have / 2)
                return p;
        q = mem_malloc(n, ud);
        if (!q)
                return NULL;
        memcpy(q, p, n < have ? n : have);
        mem_free(p, ud);
        return q;
}

nghttp2_mem *h2_mem(void)
{
        static nghttp2_mem mem = {NULL, mem_malloc, mem_free, mem_calloc, mem_realloc};
        return &mem;
}

nghttp2_mem *h2_session_mem(void)
{
        return SLUICE_ASAN ? NULL : h2_mem();
}

size_t h2_mem_kept(void)
{
        size_t n = 0;

        for (unsigned c = 0; c < N_CLASSES; c++)
                n += lists[c].bytes;
        return n;
}

void h2_mem_thread_release(void)
{
        for (unsigned c = 0; c < N_CLASSES; c++) {
                while (lists[c].first) {
                        struct free_block *b = lists[c].first;
                        lists[c].first = b->next;
                        free(head_of(b));
                }
                lists[c].bytes = 0;
        }
}
