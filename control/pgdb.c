/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "log.h"
#include "uring-loop.h"

#include "pgdb.h"

#define BACKOFF_MIN_MS 250u
#define BACKOFF_MAX_MS 5000u

enum pc_state {
        PC_DOWN,       /* no PGconn */
        PC_CONNECTING, /* PQconnectPoll in progress */
        PC_IDLE,
        PC_PREPARING,  /* PQsendPrepare for q sent, waiting for its result */
        PC_QUERY,      /* PQsendQueryPrepared for q sent */
};

struct pgdb_query {
        struct pgdb_query *next;
        int stmt;
        int n_params;
        const char *params[PGDB_MAX_PARAMS];
        uint64_t deadline_ms;
        pgdb_done_fn fn;
        void *userdata;
        char data[]; /* parameter values, NUL-separated */
};

struct pgdb_res {
        PGresult *pg;
};

struct pconn {
        struct pgdb *db;
        unsigned idx;
        enum pc_state state;
        PGconn *pg;
        int fd;
        uint32_t slot;
        bool have_slot;
        bool in_armed, out_armed;
        bool want_out; /* PQflush left output queued, or connect polling for write */
        uint64_t prepared; /* bit per statement id */
        struct pgdb_query *q;
        PGresult *res; /* first error result, else the last result, of q */
        struct uring_timer timer;
};

struct stmt {
        const char *name;
        const char *sql;
        int n_params;
};

struct pgdb {
        struct uring_loop *loop;
        char *conninfo;
        unsigned pool_size, max_queue;
        uint64_t query_timeout_ms, connect_timeout_ms;
        uint8_t op_in, op_out, op_cancel;
        struct stmt stmts[PGDB_MAX_STMTS];
        int n_stmts;
        struct pgdb_query *head, *tail;
        unsigned queued, running;
        uint64_t backoff_ms;
        uint64_t down_until_ms; /* refuse new queries until then when nothing is connected */
        bool unreachable;       /* on_reach told "down" and not yet "up" */
        uint64_t down_since_ms;
        void (*on_reach)(void *userdata, bool up, const char *why, uint64_t down_ms);
        void *reach_userdata;
        struct uring_timer queue_timer;
        struct pconn *conns;
};

static void pc_step(struct pconn *pc);
static void dispatch(struct pgdb *db);

static void notice_ignore(void *arg, const char *message)
{
        /* Server notices (e.g. "relation already exists, skipping") are not errors. */
}

/* ---- queue ---- */

static void queue_timer_arm(struct pgdb *db)
{
        if (db->head)
                (void)uring_timer_arm(db->loop, &db->queue_timer, db->head->deadline_ms);
        else
                uring_timer_cancel(db->loop, &db->queue_timer);
}

static struct pgdb_query *queue_pop(struct pgdb *db)
{
        struct pgdb_query *q = db->head;

        if (!q)
                return NULL;
        db->head = q->next;
        if (!db->head)
                db->tail = NULL;
        q->next = NULL;
        db->queued--;
        return q;
}

static void query_finish(struct pgdb *db, struct pgdb_query *q, int err, PGresult *pg)
{
        struct pgdb_res res = {.pg = pg};

        q->fn(q->userdata, err, pg ? &res : NULL);
        free(q);
}

static void queue_fail_all(struct pgdb *db, int err)
{
        struct pgdb_query *q;

        while ((q = queue_pop(db)))
                query_finish(db, q, err, NULL);
        queue_timer_arm(db);
}

static void on_queue_timer(struct uring_loop *loop, struct uring_timer *t)
{
        struct pgdb *db = (struct pgdb *)((char *)t - offsetof(struct pgdb, queue_timer));
        uint64_t now = uring_loop_now_ms(loop);

        while (db->head && db->head->deadline_ms <= now)
                query_finish(db, queue_pop(db), -ETIMEDOUT, NULL);
        dispatch(db);
}

/* ---- connection lifecycle ---- */

static unsigned n_alive(const struct pgdb *db)
{
        unsigned n = 0;

        for (unsigned i = 0; i < db->pool_size; i++)
                if (db->conns[i].state >= PC_IDLE)
                        n++;
        return n;
}

static unsigned n_connecting(const struct pgdb *db)
{
        unsigned n = 0;

        for (unsigned i = 0; i < db->pool_size; i++)
                if (db->conns[i].state == PC_CONNECTING)
                        n++;
        return n;
}

/* Stop watching the socket: cancel our polls and retire the slot, so completions still in
 * flight carry a stale generation. The cancel is submitted now, before libpq closes the fd. */
static void pc_unwatch(struct pconn *pc)
{
        struct pgdb *db = pc->db;

        if (!pc->have_slot)
                return;
        if ((pc->in_armed || pc->out_armed) && pc->fd >= 0 &&
            uring_loop_cancel_fd(db->loop, pc->slot, db->op_cancel, pc->fd) == 0)
                (void)io_uring_submit(uring_loop_ring(db->loop));
        uring_loop_slot_close(db->loop, pc->slot);
        pc->have_slot = false;
        pc->in_armed = pc->out_armed = false;
}

static int pc_watch(struct pconn *pc)
{
        int r;

        r = uring_loop_slot_alloc(pc->db->loop, pc, NULL, &pc->slot);
        if (r < 0)
                return r;
        pc->have_slot = true;
        return 0;
}

/* Drop the connection; a query it was running fails with err. */
static void pc_reset(struct pconn *pc, int err, const char *why)
{
        struct pgdb *db = pc->db;
        struct pgdb_query *q = pc->q;
        PGresult *res = pc->res;

        if (pc->state != PC_DOWN)
                log_debug("pgdb: connection %u: %s", pc->idx, why);
        pc_unwatch(pc);
        uring_timer_cancel(db->loop, &pc->timer);
        if (pc->pg)
                PQfinish(pc->pg);
        pc->pg = NULL;
        pc->fd = -1;
        pc->state = PC_DOWN;
        pc->prepared = 0;
        pc->want_out = false;
        pc->q = NULL;
        pc->res = NULL;
        if (res)
                PQclear(res);
        if (q) {
                db->running--;
                query_finish(db, q, err, NULL);
        }
}

/* libpq's message on one line (it ends in a newline and may carry a hint on another). */
static void one_line(char *out, size_t cap, const char *msg)
{
        size_t n = 0;
        bool space = false;

        for (const char *p = msg; *p && n + 1 < cap; p++) {
                if ((unsigned char)*p < 0x20 || *p == 0x7f) {
                        space = n > 0;
                        continue;
                }
                if (space && n + 2 < cap)
                        out[n++] = ' ';
                space = false;
                out[n++] = *p;
        }
        out[n] = '\0';
}

/* A connection attempt failed: back off, and fail what waits when nothing else can serve. */
static void connect_failed(struct pconn *pc, const char *why)
{
        struct pgdb *db = pc->db;
        char reason[256];

        log_debug("pgdb: connect failed: %s", why);
        /* why may be libpq's buffer, freed with the connection. */
        one_line(reason, sizeof(reason), why);
        pc_reset(pc, -ECONNREFUSED, "connect failed");
        if (n_alive(db) == 0 && n_connecting(db) == 0) {
                db->backoff_ms = db->backoff_ms ? db->backoff_ms * 2 : BACKOFF_MIN_MS;
                if (db->backoff_ms > BACKOFF_MAX_MS)
                        db->backoff_ms = BACKOFF_MAX_MS;
                db->down_until_ms = uring_loop_now_ms(db->loop) + db->backoff_ms;
                if (!db->unreachable) {
                        db->unreachable = true;
                        db->down_since_ms = uring_loop_now_ms(db->loop);
                        if (db->on_reach)
                                db->on_reach(db->reach_userdata, false,
                                             reason[0] ? reason : "unknown", 0);
                }
                queue_fail_all(db, -ECONNREFUSED);
        }
}

static void on_pc_timer(struct uring_loop *loop, struct uring_timer *t)
{
        struct pconn *pc = (struct pconn *)((char *)t - offsetof(struct pconn, timer));

        if (pc->state == PC_CONNECTING)
                connect_failed(pc, "timed out connecting");
        else if (pc->q)
                pc_reset(pc, -ETIMEDOUT, "query timed out");
}

static void pc_arm(struct pconn *pc, bool in, bool out)
{
        struct pgdb *db = pc->db;

        if (in && !pc->in_armed) {
                if (uring_loop_poll(db->loop, pc->slot, db->op_in, pc->fd, POLLIN) == 0)
                        pc->in_armed = true;
        }
        if (out && !pc->out_armed) {
                if (uring_loop_poll(db->loop, pc->slot, db->op_out, pc->fd, POLLOUT) == 0)
                        pc->out_armed = true;
        }
        /* No SQE: the pconn timer still bounds the wait. */
}

static void pc_connect_start(struct pconn *pc)
{
        struct pgdb *db = pc->db;

        pc->pg = PQconnectStart(db->conninfo);
        if (!pc->pg || PQstatus(pc->pg) == CONNECTION_BAD) {
                connect_failed(pc, pc->pg ? PQerrorMessage(pc->pg) : "out of memory");
                return;
        }
        PQsetNoticeProcessor(pc->pg, notice_ignore, NULL);
        pc->state = PC_CONNECTING;
        pc->fd = -1;
        (void)uring_timer_arm(db->loop, &pc->timer,
                              uring_loop_now_ms(db->loop) + db->connect_timeout_ms);
        /* libpq asks to be polled for writing first. */
        pc->want_out = true;
        pc_step(pc);
}

/* One PQconnectPoll round. */
static void pc_connect_step(struct pconn *pc)
{
        struct pgdb *db = pc->db;
        PostgresPollingStatusType st = PQconnectPoll(pc->pg);
        int fd = PQsocket(pc->pg);

        if (st == PGRES_POLLING_FAILED || fd < 0) {
                connect_failed(pc, PQerrorMessage(pc->pg));
                return;
        }
        if (fd != pc->fd) {
                /* libpq moved to another address (new socket): watch it from a fresh slot. */
                pc_unwatch(pc);
                pc->fd = fd;
                if (pc_watch(pc) < 0) {
                        connect_failed(pc, "no loop slot");
                        return;
                }
        }
        if (st == PGRES_POLLING_OK) {
                if (PQsetnonblocking(pc->pg, 1) != 0) {
                        connect_failed(pc, "cannot set non-blocking");
                        return;
                }
                uring_timer_cancel(db->loop, &pc->timer);
                pc->state = PC_IDLE;
                pc->want_out = false;
                db->backoff_ms = 0;
                db->down_until_ms = 0;
                log_debug("pgdb: connection %u up", pc->idx);
                if (db->unreachable) {
                        db->unreachable = false;
                        if (db->on_reach)
                                db->on_reach(db->reach_userdata, true, NULL,
                                             uring_loop_now_ms(db->loop) - db->down_since_ms);
                }
                pc_arm(pc, true, false);
                dispatch(db);
                return;
        }
        pc->want_out = st == PGRES_POLLING_WRITING;
        pc_arm(pc, st == PGRES_POLLING_READING, pc->want_out);
}

/* ---- queries ---- */

static void pc_flush(struct pconn *pc)
{
        int r = PQflush(pc->pg);

        if (r < 0) {
                pc_reset(pc, -ECONNREFUSED, "flush failed");
                return;
        }
        pc->want_out = r == 1;
        pc_arm(pc, true, pc->want_out);
}

static void pc_send(struct pconn *pc)
{
        struct pgdb *db = pc->db;
        struct pgdb_query *q = pc->q;
        const struct stmt *s = &db->stmts[q->stmt];
        int ok;

        if (!(pc->prepared & (1ull << q->stmt))) {
                ok = PQsendPrepare(pc->pg, s->name, s->sql, s->n_params, NULL);
                pc->state = PC_PREPARING;
        } else {
                ok = PQsendQueryPrepared(pc->pg, s->name, q->n_params, q->params, NULL, NULL, 0);
                pc->state = PC_QUERY;
        }
        if (!ok) {
                pc_reset(pc, -ECONNREFUSED, PQerrorMessage(pc->pg));
                return;
        }
        pc_flush(pc);
}

static void pc_take(struct pconn *pc, struct pgdb_query *q)
{
        struct pgdb *db = pc->db;

        pc->q = q;
        db->running++;
        (void)uring_timer_arm(db->loop, &pc->timer, q->deadline_ms);
        pc_send(pc);
}

static void dispatch(struct pgdb *db)
{
        unsigned want_new;

        for (unsigned i = 0; i < db->pool_size && db->head; i++) {
                struct pconn *pc = &db->conns[i];
                if (pc->state == PC_IDLE)
                        pc_take(pc, queue_pop(db));
        }
        queue_timer_arm(db);
        if (!db->head)
                return;
        /* Grow the pool toward what is waiting, one connection per waiting query. */
        want_new = db->queued > n_connecting(db) ? db->queued - n_connecting(db) : 0;
        for (unsigned i = 0; i < db->pool_size && want_new > 0; i++) {
                struct pconn *pc = &db->conns[i];
                if (pc->state == PC_DOWN) {
                        want_new--;
                        pc_connect_start(pc);
                        if (!db->head)
                                return;
                }
        }
}

/* The whole result of the current step is in: finish the prepare or the query. */
static void pc_result_done(struct pconn *pc)
{
        struct pgdb *db = pc->db;
        struct pgdb_query *q = pc->q;
        PGresult *res = pc->res;
        ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
        bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;

        pc->res = NULL;
        if (pc->state == PC_PREPARING && ok) {
                PQclear(res);
                pc->prepared |= 1ull << q->stmt;
                pc_send(pc);
                return;
        }
        pc->q = NULL;
        db->running--;
        uring_timer_cancel(db->loop, &pc->timer);
        pc->state = PC_IDLE;
        if (!res) {
                query_finish(db, q, -ECONNREFUSED, NULL);
        } else if (ok) {
                query_finish(db, q, 0, res);
        } else {
                const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
                /* Class 08 (connection), 57 (shutdown, cancel) and 53 (resources) mean the
                 * database cannot serve now, not that the request was wrong. */
                if (state && (!strncmp(state, "08", 2) || !strncmp(state, "57", 2) ||
                              !strncmp(state, "53", 2)))
                        query_finish(db, q, -ECONNREFUSED, NULL);
                else
                        query_finish(db, q, -EPROTO, res);
        }
        PQclear(res);
        if (PQstatus(pc->pg) == CONNECTION_BAD) {
                pc_reset(pc, -ECONNREFUSED, "connection lost");
                return;
        }
        dispatch(db);
}

/* Read what arrived and collect results while libpq can give them without blocking. */
static void pc_read(struct pconn *pc)
{
        if (!PQconsumeInput(pc->pg)) {
                pc_reset(pc, -ECONNREFUSED, PQerrorMessage(pc->pg));
                return;
        }
        if (pc->state == PC_IDLE) {
                PGnotify *n;
                while ((n = PQnotifies(pc->pg)))
                        PQfreemem(n);
                if (PQstatus(pc->pg) == CONNECTION_BAD)
                        pc_reset(pc, 0, "server closed the connection");
                return;
        }
        while (pc->state == PC_QUERY || pc->state == PC_PREPARING) {
                PGresult *r;
                if (PQisBusy(pc->pg))
                        return;
                r = PQgetResult(pc->pg);
                if (!r) {
                        pc_result_done(pc);
                        return;
                }
                if (!pc->res) {
                        pc->res = r;
                } else if (PQresultStatus(pc->res) == PGRES_FATAL_ERROR) {
                        PQclear(r); /* keep the first error */
                } else {
                        PQclear(pc->res);
                        pc->res = r;
                }
        }
}

static void pc_step(struct pconn *pc)
{
        switch (pc->state) {
        case PC_CONNECTING:
                pc_connect_step(pc);
                break;
        case PC_IDLE:
                pc_read(pc);
                if (pc->state == PC_IDLE)
                        pc_arm(pc, true, false);
                break;
        case PC_PREPARING:
        case PC_QUERY:
                if (pc->want_out) {
                        pc_flush(pc);
                        if (pc->state == PC_DOWN)
                                break;
                }
                pc_read(pc);
                if (pc->state == PC_PREPARING || pc->state == PC_QUERY)
                        pc_arm(pc, true, pc->want_out);
                else if (pc->state == PC_IDLE)
                        pc_arm(pc, true, false);
                break;
        case PC_DOWN:
                break;
        }
}

static void on_poll(struct uring_loop *loop, void *owner, const struct io_uring_cqe *cqe)
{
        struct pconn *pc = owner;
        struct pgdb *db = pc->db;
        uint8_t op = uring_loop_ud_op(cqe->user_data);

        if (op == db->op_in)
                pc->in_armed = false;
        else if (op == db->op_out)
                pc->out_armed = false;
        else
                return;
        if (cqe->res == -ECANCELED)
                return;
        pc_step(pc);
}

/* ---- API ---- */

/*
 * Have the server give up on a statement shortly before we do: a query abandoned on our
 * timeout (the connection is dropped) must not go on running and committing behind the 503
 * the client already got. Applied to keyword=value conninfo strings without their own
 * "options"; URIs and explicit options are left as the operator wrote them.
 */
static char *conninfo_with_timeout(const char *conninfo, uint64_t timeout_ms)
{
        uint64_t st = timeout_ms > 200 ? timeout_ms - 100 : timeout_ms;
        size_t n = strlen(conninfo) + 64;
        char *s;

        if (!strncmp(conninfo, "postgres", 8) || strstr(conninfo, "options"))
                return strdup(conninfo);
        s = malloc(n);
        if (s)
                snprintf(s, n, "%s options='-c statement_timeout=%llu'", conninfo,
                         (unsigned long long)st);
        return s;
}

int pgdb_new(struct uring_loop *loop, const struct pgdb_params *p, struct pgdb **ret)
{
        struct pgdb *db;

        if (!p->conninfo || p->op_base == 0 || p->op_base > URING_LOOP_OP_MAX - 2)
                return -EINVAL;
        db = calloc(1, sizeof(*db));
        if (!db)
                return -ENOMEM;
        db->loop = loop;
        db->pool_size = p->pool_size ? p->pool_size : 4;
        db->max_queue = p->max_queue ? p->max_queue : 4096;
        db->query_timeout_ms = p->query_timeout_ms ? p->query_timeout_ms : 3000;
        db->connect_timeout_ms = p->connect_timeout_ms ? p->connect_timeout_ms : 3000;
        db->op_in = p->op_base;
        db->op_out = (uint8_t)(p->op_base + 1);
        db->op_cancel = (uint8_t)(p->op_base + 2);
        db->on_reach = p->on_reach;
        db->reach_userdata = p->reach_userdata;
        db->conninfo = conninfo_with_timeout(p->conninfo, db->query_timeout_ms);
        db->conns = calloc(db->pool_size, sizeof(*db->conns));
        if (!db->conninfo || !db->conns) {
                free(db->conninfo);
                free(db->conns);
                free(db);
                return -ENOMEM;
        }
        uring_timer_init(&db->queue_timer, on_queue_timer);
        for (unsigned i = 0; i < db->pool_size; i++) {
                struct pconn *pc = &db->conns[i];
                pc->db = db;
                pc->idx = i;
                pc->fd = -1;
                uring_timer_init(&pc->timer, on_pc_timer);
        }
        uring_loop_set_handler(loop, db->op_in, on_poll);
        uring_loop_set_handler(loop, db->op_out, on_poll);
        uring_loop_set_handler(loop, db->op_cancel, on_poll);
        *ret = db;
        return 0;
}

void pgdb_free(struct pgdb *db)
{
        if (!db)
                return;
        queue_fail_all(db, -ECANCELED);
        for (unsigned i = 0; i < db->pool_size; i++)
                pc_reset(&db->conns[i], -ECANCELED, "pool closed");
        uring_timer_cancel(db->loop, &db->queue_timer);
        free(db->conns);
        free(db->conninfo);
        free(db);
}

int pgdb_stmt_add(struct pgdb *db, const char *name, const char *sql, int n_params)
{
        if (!name || !sql || n_params < 0 || n_params > PGDB_MAX_PARAMS)
                return -EINVAL;
        if (db->n_stmts >= PGDB_MAX_STMTS)
                return -E2BIG;
        db->stmts[db->n_stmts] = (struct stmt){.name = name, .sql = sql, .n_params = n_params};
        return db->n_stmts++;
}

int pgdb_exec(struct pgdb *db, int stmt, const char *const *params, int n_params, pgdb_done_fn fn,
              void *userdata)
{
        struct pgdb_query *q;
        size_t total = 0;
        char *p;

        if (stmt < 0 || stmt >= db->n_stmts || n_params != db->stmts[stmt].n_params || !fn)
                return -EINVAL;
        if (db->queued >= db->max_queue)
                return -EBUSY;
        if (n_alive(db) == 0 && n_connecting(db) == 0 && db->down_until_ms &&
            uring_loop_now_ms(db->loop) < db->down_until_ms)
                return -ECONNREFUSED;
        for (int i = 0; i < n_params; i++)
                if (params[i])
                        total += strlen(params[i]) + 1;
        q = calloc(1, sizeof(*q) + total);
        if (!q)
                return -ENOMEM;
        q->stmt = stmt;
        q->n_params = n_params;
        q->fn = fn;
        q->userdata = userdata;
        q->deadline_ms = uring_loop_now_ms(db->loop) + db->query_timeout_ms;
        p = q->data;
        for (int i = 0; i < n_params; i++) {
                if (!params[i])
                        continue;
                size_t n = strlen(params[i]) + 1;
                memcpy(p, params[i], n);
                q->params[i] = p;
                p += n;
        }
        if (db->tail)
                db->tail->next = q;
        else
                db->head = q;
        db->tail = q;
        db->queued++;
        for (unsigned i = 0; i < db->pool_size; i++) {
                if (db->conns[i].state == PC_IDLE) {
                        dispatch(db);
                        return 0;
                }
        }
        /* Opening a connection can fail at once and fail the queue with it; do that from the
         * loop (the queue timer, due now) so fn never runs inside this call on that path. */
        if (n_connecting(db) < db->queued && n_connecting(db) + n_alive(db) < db->pool_size)
                (void)uring_timer_arm(db->loop, &db->queue_timer, uring_loop_now_ms(db->loop));
        else
                queue_timer_arm(db);
        return 0;
}

bool pgdb_conninfo_needs_dns(const char *conninfo)
{
        PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
        const char *host = NULL, *hostaddr = NULL;
        bool dns = false;

        if (!opts)
                return false;
        for (PQconninfoOption *o = opts; o->keyword; o++) {
                if (!strcmp(o->keyword, "host"))
                        host = o->val;
                else if (!strcmp(o->keyword, "hostaddr"))
                        hostaddr = o->val;
        }
        if (host && *host && !(hostaddr && *hostaddr)) {
                /* Each comma-separated entry: a socket directory or an address needs no DNS. */
                const char *p = host;
                while (*p && !dns) {
                        char one[256];
                        size_t n = strcspn(p, ",");
                        struct in6_addr a6;
                        if (n < sizeof(one)) {
                                memcpy(one, p, n);
                                one[n] = '\0';
                                dns = one[0] != '/' && one[0] != '@' &&
                                      inet_pton(AF_INET, one, &a6) != 1 &&
                                      inet_pton(AF_INET6, one, &a6) != 1;
                        }
                        p += n + (p[n] == ',');
                }
        }
        PQconninfoFree(opts);
        return dns;
}

unsigned pgdb_pending(const struct pgdb *db)
{
        return db->queued + db->running;
}

unsigned pgdb_connected(const struct pgdb *db)
{
        return n_alive(db);
}

int pgdb_res_rows(const struct pgdb_res *res)
{
        return res && res->pg ? PQntuples(res->pg) : 0;
}

int pgdb_res_cols(const struct pgdb_res *res)
{
        return res && res->pg ? PQnfields(res->pg) : 0;
}

const char *pgdb_res_value(const struct pgdb_res *res, int row, int col, size_t *ret_len)
{
        if (!res || !res->pg || row < 0 || col < 0 || row >= PQntuples(res->pg) ||
            col >= PQnfields(res->pg) || PQgetisnull(res->pg, row, col))
                return NULL;
        if (ret_len)
                *ret_len = (size_t)PQgetlength(res->pg, row, col);
        return PQgetvalue(res->pg, row, col);
}

const char *pgdb_res_sqlstate(const struct pgdb_res *res)
{
        const char *s = res && res->pg ? PQresultErrorField(res->pg, PG_DIAG_SQLSTATE) : NULL;

        return s ? s : "";
}

const char *pgdb_res_message(const struct pgdb_res *res)
{
        const char *s = res && res->pg ? PQresultErrorField(res->pg, PG_DIAG_MESSAGE_PRIMARY) : NULL;

        return s ? s : "";
}
