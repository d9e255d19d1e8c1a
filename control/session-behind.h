/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Sessions written behind: a session started from warm data (no database round trip) is
 * answered at once and its row queued here, then inserted with many others in one statement
 * (sluice_sessions_insert_rows, migrations/016_sessions_insert_json.sql)
 * SESSION_BEHIND_DELAY_MS after the first of them, or as soon as SESSION_BEHIND_BATCH are
 * waiting. One statement at a time; a statement that fails (database down or slow) puts its
 * rows back in front and the next try waits SESSION_BEHIND_RETRY_MS; one the database refuses
 * (an SQL error: none is expected) sends its rows again one to a statement, and a row refused
 * alone is dropped and counted. The queue holds at most SESSION_BEHIND_MAX rows: a row that
 * finds it full is dropped and counted (the session still plays, its id carries it; only what
 * reads rows, fill plans' weights and prune, never sees it). Loop thread only.
 */

struct uring_loop;
struct pgdb;
struct metric;
struct session_behind;

#define SESSION_BEHIND_BATCH    512
#define SESSION_BEHIND_DELAY_MS 50
#define SESSION_BEHIND_RETRY_MS 1000
#define SESSION_BEHIND_MAX      65536

struct session_behind_metrics {
        struct metric *written; /* rows the database took (counter) */
        struct metric *dropped; /* rows refused by a full queue (counter) */
        struct metric *depth;   /* rows waiting, the statement in flight's included (gauge) */
};

/* A session row: what sluice_sessions_insert_rows takes of it. Strings borrowed for the call. */
struct session_behind_row {
        const char *id; /* the nonce (32 hex) */
        const char *title;
        const char *episode; /* NULL: a movie */
        const char *asset;
        const char *country;
        const char *region;       /* NULL: none */
        const char *ip;           /* NULL: unknown */
        int64_t created, expires; /* epoch seconds */
};

/* stmt: the registered statement taking the rows' JSON array as $1. 0 and *ret, or -ENOMEM. */
int session_behind_new(struct uring_loop *loop, struct pgdb *db, int stmt,
                       const struct session_behind_metrics *m, struct session_behind **ret);
/* Free; rows still queued are lost (after a drain, none are). Accepts NULL. */
void session_behind_free(struct session_behind *sb);

/* Queue row (copied, as the JSON text the statement reads). 0, or -ENOSPC (dropped, counted)
 * / -ENOMEM. */
int session_behind_add(struct session_behind *sb, const struct session_behind_row *row);

/* Send what is queued now rather than after the delay (draining). */
void session_behind_flush(struct session_behind *sb);

/* Rows queued or in flight. */
size_t session_behind_depth(const struct session_behind *sb);
