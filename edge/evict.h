/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>

/*
 * Eviction: keeps the store under its byte budget by the popularity-weighted LRU policy
 * (edge/policy/). Filled in below the miss path; these hooks are what fill.c calls.
 */

struct edge_server;

/* A fill needs size bytes the budget does not have: evict down to the low watermark. */
void evict_make_room(struct edge_server *srv, uint64_t size);
/* A fill committed key (size bytes): tell the policy, evict past the high watermark. */
void evict_note_fill(struct edge_server *srv, const char *key, size_t key_len, uint64_t size);
