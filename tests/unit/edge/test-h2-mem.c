/* SPDX-License-Identifier: MIT */
/*
 * nghttp2's allocator (edge/h2-mem.c): blocks of every size hold what was written, calloc
 * zeroes, realloc keeps the bytes across size classes, freed blocks are reused, the free
 * lists stay within their bound, a thread's lists go back to malloc when it ends, and sessions
 * keep malloc under AddressSanitizer.
 */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "sanitizer.h"

#include "h2-mem.h"
#include "tests.h"

static void fill(unsigned char *p, size_t n, unsigned seed)
{
        for (size_t i = 0; i < n; i++)
                p[i] = (unsigned char)(seed + i * 7);
}

static bool holds(const unsigned char *p, size_t n, unsigned seed)
{
        for (size_t i = 0; i < n; i++)
                if (p[i] != (unsigned char)(seed + i * 7))
                        return false;
        return true;
}

TEST(every_size_holds_its_bytes)
{
        nghttp2_mem *m = h2_mem();
        static const size_t sizes[] = {0,   1,   15,   16,   31,   32,   33,   100,   255,
                                       256, 257, 1000, 2048, 4095, 4096, 4097, 10000, 100000};
        void *p[sizeof(sizes) / sizeof(sizes[0])];

        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
                p[i] = m->malloc(sizes[i], m->mem_user_data);
                ASSERT_TRUE(p[i] != NULL);
                ASSERT_EQ((uintptr_t)p[i] % 16, 0);
                fill(p[i], sizes[i], (unsigned)i);
        }
        for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
                ASSERT_TRUE(holds(p[i], sizes[i], (unsigned)i));
                m->free(p[i], m->mem_user_data);
        }
        m->free(NULL, m->mem_user_data);
        h2_mem_thread_release();
        ASSERT_EQ(h2_mem_kept(), 0);
}

TEST(calloc_zeroes_a_reused_block)
{
        nghttp2_mem *m = h2_mem();
        unsigned char *a = m->malloc(200, m->mem_user_data);
        unsigned char *b;

        ASSERT_TRUE(a != NULL);
        memset(a, 0xa5, 200);
        m->free(a, m->mem_user_data);
        b = m->calloc(25, 8, m->mem_user_data);
        ASSERT_TRUE(b == a); /* the same class: the block just freed */
        for (size_t i = 0; i < 200; i++)
                ASSERT_EQ(b[i], 0);
        m->free(b, m->mem_user_data);
        ASSERT_TRUE(m->calloc(SIZE_MAX / 2, 4, m->mem_user_data) == NULL);
        h2_mem_thread_release();
}

TEST(realloc_keeps_bytes_across_classes)
{
        nghttp2_mem *m = h2_mem();
        unsigned char *p = m->realloc(NULL, 40, m->mem_user_data);
        static const size_t steps[] = {64, 65, 3000, 5000, 70000, 4000, 300, 20, 8};
        size_t have = 40;

        ASSERT_TRUE(p != NULL);
        fill(p, have, 3);
        for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
                size_t keep = have < steps[i] ? have : steps[i];
                p = m->realloc(p, steps[i], m->mem_user_data);
                ASSERT_TRUE(p != NULL);
                ASSERT_TRUE(holds(p, keep, 3));
                fill(p, steps[i], 3);
                have = steps[i];
        }
        m->free(p, m->mem_user_data);
        h2_mem_thread_release();
        ASSERT_EQ(h2_mem_kept(), 0);
}

TEST(free_lists_stay_bounded)
{
        nghttp2_mem *m = h2_mem();
        enum { N = 4000 };
        static void *p[N];

        for (size_t i = 0; i < N; i++) {
                p[i] = m->malloc(1 + i % H2_MEM_CLASS_MAX, m->mem_user_data);
                ASSERT_TRUE(p[i] != NULL);
        }
        for (size_t i = 0; i < N; i++)
                m->free(p[i], m->mem_user_data);
        /* Eight classes, each kept to H2_MEM_KEEP bytes. */
        ASSERT_TRUE(h2_mem_kept() > 0);
        ASSERT_TRUE(h2_mem_kept() <= 8 * (size_t)H2_MEM_KEEP);
        h2_mem_thread_release();
        ASSERT_EQ(h2_mem_kept(), 0);
}

static void *other_thread(void *arg)
{
        nghttp2_mem *m = h2_mem();
        void **blocks = arg;

        /* Blocks made on the test's thread, freed here: they join this thread's lists. */
        for (size_t i = 0; i < 16; i++)
                m->free(blocks[i], m->mem_user_data);
        size_t kept = h2_mem_kept();
        h2_mem_thread_release();
        return (void *)kept;
}

TEST(a_block_freed_on_another_thread)
{
        nghttp2_mem *m = h2_mem();
        void *blocks[16];
        pthread_t t;
        void *kept;

        for (size_t i = 0; i < 16; i++) {
                blocks[i] = m->malloc(100, m->mem_user_data);
                ASSERT_TRUE(blocks[i] != NULL);
        }
        ASSERT_EQ(pthread_create(&t, NULL, other_thread, blocks), 0);
        ASSERT_EQ(pthread_join(t, &kept), 0);
        ASSERT_EQ((size_t)kept, 16 * 128);
        ASSERT_EQ(h2_mem_kept(), 0);
}

/* Sessions get the free lists, except in a build with AddressSanitizer: there nghttp2 keeps
 * malloc, so that the sanitizer sees each block of nghttp2's on its own. */
TEST(sessions_keep_malloc_under_asan)
{
        ASSERT_TRUE(h2_session_mem() == (SLUICE_ASAN ? NULL : h2_mem()));
}

TEST_MAIN()
