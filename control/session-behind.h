/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Warm starts counted behind: a session started from warm data (no database round trip) is
 * answered at once and counted here, by title, episode, asset, country, region and second;
 * the counts go to PostgreSQL many to a statement (sluice_session_starts_add,
 * migrations/018_session_starts.sql) SESSION_BEHIND_DELAY_MS after the first of them, or as
 * soon as SESSION_BEHIND_BATCH counts are waiting. A start whose key equals one of the last
 * SESSION_BEHIND_MERGE counts queued adds to it (their keys' hashes compared first), so a busy
 * title costs a count per statement and second (about four a second), not a row a start.
 * One statement at a time; a statement that fails (database down or slow) puts its counts
 * back in front and the next try waits SESSION_BEHIND_RETRY_MS; one the
 * database refuses (an SQL error: none is expected) sends its counts again one to a
 * statement, and a count refused alone is dropped and its starts counted as dropped. The
 * queue holds at most SESSION_BEHIND_MAX counts: a start that finds it full is dropped and
 * counted (the session still plays, its id carries it; only fill plans' demand misses it).
 * Loop thread only.
 */

struct uring_loop;
struct pgdb;
struct metric;
struct session_behind;

#define SESSION_BEHIND_BATCH    512
#define SESSION_BEHIND_DELAY_MS 250
#define SESSION_BEHIND_RETRY_MS 1000
#define SESSION_BEHIND_MAX      65536
#define SESSION_BEHIND_MERGE    64

struct session_behind_metrics {
        struct metric *written; /* starts the database took (counter) */
        struct metric *dropped; /* starts refused by a full queue or the database (counter) */
        struct metric *depth;   /* counts waiting, the statement in flight's included (gauge) */
};

/* A warm start: what sluice_session_starts_add counts it by. Strings borrowed for the call. */
struct session_behind_start {
        const char *title;
        const char *episode; /* NULL: a movie */
        const char *asset;
        const char *country;
        const char *region; /* NULL: none */
        int64_t created;    /* epoch seconds */
};

/* stmt: the registered statement taking the counts' JSON array as $1. 0 and *ret, or -ENOMEM. */
int session_behind_new(struct uring_loop *loop, struct pgdb *db, int stmt,
                       const struct session_behind_metrics *m, struct session_behind **ret);
/* Free; counts still queued are lost (after a drain, none are). Accepts NULL. */
void session_behind_free(struct session_behind *sb);

/* Count start s (copied, as the JSON text the statement reads, unless it adds to a
 * count queued). 0, or -ENOSPC (dropped, counted) / -ENOMEM. */
int session_behind_add(struct session_behind *sb, const struct session_behind_start *s);

/* Send what is queued now rather than after the delay (draining). */
void session_behind_flush(struct session_behind *sb);

/* Counts queued or in flight. */
size_t session_behind_depth(const struct session_behind *sb);
