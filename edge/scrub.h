/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdint.h>

struct edge_server;
struct scrub;

/*
 * The background scrub: a thread of its own that re-reads every cached object at a bounded
 * rate (cache.scrub_rate bytes/s) and compares it with the SHA-256 and size in the index
 * (store_scrub); a damaged object is dropped, logged and counted, and the next request for it
 * refills it. After a full pass it waits cache.scrub_pause (at least SCRUB_PAUSE_MIN_MS),
 * then starts again. Off the data
 * path: it holds no index transaction while reading. A pass a stop or a restart cut short goes
 * on after the last key it checked (kept in the cache directory), not from the first key.
 *
 * Start-up only: returns 0 and *ret (NULL when cache.scrub_rate is 0), or -errno.
 * scrub_stop() wakes and joins the thread and frees it; NULL is fine.
 */
#define SCRUB_PAUSE_MIN_MS 1000
/* How often at most the position of a pass under way is written down (store_scrub_pos_save),
 * besides at its end and at a stop. */
#define SCRUB_POS_SAVE_S 10

int scrub_start(struct edge_server *srv, uint64_t rate, int64_t pause_ms, struct scrub **ret);
void scrub_stop(struct scrub *sc);
