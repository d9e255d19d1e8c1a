/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Playback reports per session, bounded: a token bucket per session id of `burst` reports,
 * refilled one per `interval_ms` (control's report_burst and report_interval, read at each
 * call so a reload applies them). A player reports every few seconds while it plays and on
 * pause, seek and unload, well within the defaults; a player stuck in a loop (or a client
 * flooding) is answered 429 instead of writing a row and moving its network's and profile's
 * throughput estimates with every request.
 *
 * Direct-mapped by a hash of the id, seeded at start: a session that lands on a slot another
 * holds takes it over with a full bucket, which costs at most one burst more. Memory: slots ×
 * 16 bytes. In one control instance: behind a balancer each instance keeps its own.
 */
struct report_limit;

/* slots: rounded up to a power of two (at least 64). 0 or -ENOMEM. */
int report_limit_new(size_t slots, uint32_t seed, struct report_limit **ret);
void report_limit_free(struct report_limit *rl); /* accepts NULL */

/*
 * Take one report of session id at now_ms (monotonic). True when it may go on (always with
 * interval_ms 0); false when the session's bucket is empty, with *retry_ms (may be NULL) the
 * wait for its next report.
 */
bool report_limit_take(struct report_limit *rl, const char *id, int64_t now_ms, uint32_t burst,
                       int64_t interval_ms, int64_t *retry_ms);
