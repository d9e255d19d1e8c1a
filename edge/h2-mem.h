/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>

#include <nghttp2/nghttp2.h>

/*
 * nghttp2's allocator: each h2 answer makes and frees a score of small blocks (the stream, its
 * queued frames, a copy of the response fields, the request's decoded fields), most of the
 * same few sizes. Blocks up to H2_MEM_CLASS_MAX bytes come from per-thread free lists, one per
 * power-of-two size, kept at most H2_MEM_KEEP bytes each; larger ones are malloc's. A block
 * freed on another thread than its own joins that thread's lists.
 */
#define H2_MEM_CLASS_MAX 4096u
#define H2_MEM_KEEP      (64u << 10)

/* The free-list allocator. */
nghttp2_mem *h2_mem(void);
/* The allocator to hand nghttp2_session_server_new3: h2_mem(), or NULL (nghttp2's default,
 * malloc) in a build with AddressSanitizer, which then sees each of nghttp2's blocks on its
 * own rather than a block reused from a free list. */
nghttp2_mem *h2_session_mem(void);

/* Bytes the calling thread keeps in its free lists. */
size_t h2_mem_kept(void);
/* Give the calling thread's free lists back to malloc (a worker that ends). */
void h2_mem_thread_release(void);
