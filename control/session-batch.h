/* SPDX-License-Identifier: MIT */
#pragma once

#include <jansson.h>

/*
 * Group commit for new sessions: the items added during one loop iteration go to PostgreSQL
 * as one statement (sluice_session_start_batch, migrations/013_session_batch.sql) at the end
 * of that iteration, at most SESSION_BATCH_MAX to a statement, so they share a round trip,
 * a transaction and its commit. Each item is answered on its own: its session, or the SQL
 * error that refused it alone. What fails the statement (database down, slow, queue full, a
 * statement error) fails every item of it with the same code, and nothing of it commits.
 */

struct uring_loop;
struct pgdb;
struct metric;
struct session_batch;

#define SESSION_BATCH_MAX 32 /* items per statement: one subtransaction each, under 64 */

/*
 * Called once per item, from the loop. err 0: answer is the item's JSON text (borrowed for
 * the call). err -EPROTO: state and msg are the SQLSTATE and message refusing it (its own, or
 * the statement's). Otherwise a pgdb_exec()/pgdb_done_fn code (-ECONNREFUSED, -ETIMEDOUT,
 * -EBUSY, -ECANCELED, -ENOMEM) and the others are NULL.
 */
typedef void (*session_batch_fn)(void *userdata, int err, const char *answer, const char *state,
                                 const char *msg);

/*
 * stmt: the registered statement taking the items' JSON array as $1; statements: a counter of
 * the statements sent, or NULL. Returns 0 and *ret, or -ENOMEM. Start-up.
 */
int session_batch_new(struct uring_loop *loop, struct pgdb *db, int stmt, struct metric *statements,
                      struct session_batch **ret);

/* Fail items not yet sent with -ECANCELED, then free. Before pgdb_free(); accepts NULL. */
void session_batch_free(struct session_batch *sb);

/*
 * Queue item (a JSON object; the reference is stolen, also on failure) for this iteration's
 * statement. Returns 0, and fn runs exactly once later; or -ENOMEM, and fn never runs.
 */
int session_batch_add(struct session_batch *sb, json_t *item, session_batch_fn fn, void *userdata);
