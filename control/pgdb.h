/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A small pool of non-blocking PostgreSQL connections driven by a uring loop: connection
 * set-up (PQconnectStart/PQconnectPoll), queries (PQsendQueryPrepared) and results
 * (PQconsumeInput/PQisBusy/PQgetResult) all progress from poll completions on PQsocket(), so
 * no call blocks the loop thread. Statements are registered once and prepared lazily on each
 * connection the first time it runs them. Results go to a callback.
 *
 * Failure model, so an API can answer 503 with Retry-After rather than hang:
 *   - a query waits at most params.query_timeout_ms, queued or running; past that the
 *     connection running it is dropped (PostgreSQL aborts the statement when the socket
 *     closes) and the callback gets -ETIMEDOUT. The server is told a statement_timeout
 *     slightly below it (keyword=value conninfo without "options"), which usually ends a
 *     slow statement first (SQLSTATE 57014): that too is -ETIMEDOUT, given at the query's
 *     deadline, the connection kept; a statement cancelled otherwise (pg_cancel_backend())
 *     is a refusal, -ECONNREFUSED with a warning logged;
 *   - when no connection can be made, queued queries fail with -ECONNREFUSED, and for a
 *     back-off period new queries are refused at once by pgdb_exec();
 *   - the queue is bounded (params.max_queue): -EBUSY.
 * libpq's own codes never leave this module; SQL errors come back as -EPROTO with the
 * SQLSTATE and message readable from the result.
 *
 * Host names: libpq would resolve a host name with a blocking getaddrinfo() inside
 * PQconnectStart on every connection. When the conninfo (or $PGHOST) names one without a
 * hostaddr, the pool resolves off the loop instead: a thread of its own resolves each host
 * entry, again every 30 s and soon after a connection attempt fails, and each connection is
 * started with hostaddr set to those addresses (one entry per address, host keeping the name
 * for TLS verification and the password file). Until the first answer, new connections wait
 * for it (queries still bounded by their timeout); afterwards a name that resolves to nothing
 * fails the attempt at once, as an unreachable server does, with the resolver's reason. A
 * temporary failure (EAI_AGAIN) keeps a name's last addresses. The pool then owns the loop's
 * wake hook (uring_loop_set_wake_hook), which the caller must leave alone; several pools on
 * one loop share it.
 */

struct uring_loop;
struct pgdb;
struct pgdb_res;

#define PGDB_MAX_PARAMS 16
#define PGDB_MAX_STMTS  64

struct pgdb_params {
        const char *conninfo;        /* libpq conninfo; copied */
        unsigned pool_size;          /* connections; 0: 4 */
        unsigned max_queue;          /* queued queries; 0: 4096 */
        uint64_t query_timeout_ms;   /* 0: 3000 */
        uint64_t connect_timeout_ms; /* 0: 3000 */
        uint8_t op_base;             /* this module uses loop op codes op_base..op_base+2 */
        /*
         * Optional: told of reachability changes, so the caller can log each once rather than
         * once per failed query. up false: a connection attempt failed with no other
         * connection open or opening (why: libpq's reason, on one line; borrowed for the
         * call). up true: a connection opened after that (down_ms: since the failure). A
         * query timing out on a slow database is not a change.
         */
        void (*on_reach)(void *userdata, bool up, const char *why, uint64_t down_ms);
        /*
         * Optional, with a host name to resolve (see above): told when what resolving the names
         * gives changes, once per change rather than per attempt. why: which names failed and
         * why, on one line (borrowed for the call); NULL: every name resolves again.
         */
        void (*on_dns)(void *userdata, const char *why);
        void *reach_userdata; /* for on_reach and on_dns */
};

/*
 * Called once per query. Normally from the loop; only when a send fails on an idle connection
 * can it run before pgdb_exec() returns, so a caller must not touch userdata after a
 * successful pgdb_exec() that it has handed over. err is 0 with a
 * result; -EPROTO with a result carrying the SQL error; -ETIMEDOUT, -ECONNREFUSED (database
 * unreachable or the connection broke) or -ECANCELED (pgdb_free) with res NULL. res is
 * borrowed for the duration of the call.
 */
typedef void (*pgdb_done_fn)(void *userdata, int err, const struct pgdb_res *res);

/*
 * Create the pool (no connection is opened yet; the resolver thread, when a name needs one,
 * starts). Returns 0 and *ret, or -errno. Start-up.
 */
int pgdb_new(struct uring_loop *loop, const struct pgdb_params *params, struct pgdb **ret);

/*
 * Two pools on one database (control's players' and admin pools): a connection either opens
 * ends the other's back-off, so a pool that failed during an outage does not go on refusing
 * (-ECONNREFUSED) for up to 5 s after the database answered the other. Start-up.
 */
void pgdb_pair(struct pgdb *a, struct pgdb *b);

/*
 * Fail every queued and running query with -ECANCELED, close the connections and stop the
 * resolver (a thread stuck in a slow lookup is left to finish alone, never waited for more
 * than a moment). The loop must still be alive (pending poll completions are dropped through
 * slot generations).
 */
void pgdb_free(struct pgdb *db);

/*
 * Register a statement. name and sql must stay valid for the pool's life (string literals).
 * Returns the statement id (>= 0) for pgdb_exec, -E2BIG (more than PGDB_MAX_STMTS) or -EINVAL.
 */
int pgdb_stmt_add(struct pgdb *db, const char *name, const char *sql, int n_params);

/*
 * Run statement stmt with text parameters (NULL entries are SQL NULLs; values are copied).
 * Returns 0 when queued, fn then runs exactly once (see pgdb_done_fn); or -ECONNREFUSED (database known to be
 * down, retry later), -EBUSY (queue full), -EINVAL, -ENOMEM, and fn never runs.
 */
int pgdb_exec(struct pgdb *db, int stmt, const char *const *params, int n_params, pgdb_done_fn fn,
              void *userdata);

/*
 * Whether conninfo (with $PGHOST, $PGHOSTADDR and $PGPORT where it gives none) names a host
 * that libpq would resolve with getaddrinfo() (a host name without hostaddr): the pool then
 * resolves it on a thread of its own (see above). For a start-up line.
 */
bool pgdb_conninfo_needs_dns(const char *conninfo);

/* Queries queued, running, or timed out by the server and waiting for their deadline to be
 * answered (for draining on shutdown and for metrics). */
unsigned pgdb_pending(const struct pgdb *db);
/* Connections currently usable (idle or busy). */
unsigned pgdb_connected(const struct pgdb *db);

/* ---- results ---- */

int pgdb_res_rows(const struct pgdb_res *res);
int pgdb_res_cols(const struct pgdb_res *res);
/* Text value of row/col, NUL-terminated, or NULL for SQL NULL or out of range; *ret_len set
 * when not NULL. Borrowed from res. */
const char *pgdb_res_value(const struct pgdb_res *res, int row, int col, size_t *ret_len);
/* For -EPROTO: the five-character SQLSTATE ("" if unknown) and the primary message. */
const char *pgdb_res_sqlstate(const struct pgdb_res *res);
const char *pgdb_res_message(const struct pgdb_res *res);
/* For -EPROTO: the name of the constraint the statement violated ("" if none). */
const char *pgdb_res_constraint(const struct pgdb_res *res);
/*
 * What a pgdb_done_fn's err (with its res) means, on one line for a log: the SQL error's
 * message, or "database unavailable: " and libpq's reason for the last failed connect (not
 * "Connection refused", which err's strerror would say of a wrong password too). Valid until
 * the next call on db.
 */
const char *pgdb_why(struct pgdb *db, int err, const struct pgdb_res *res);
