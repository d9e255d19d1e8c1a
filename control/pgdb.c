/* SPDX-License-Identifier: MIT */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <libpq-fe.h>
#include <openssl/crypto.h>

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
        size_t data_len; /* bytes at data */
        char data[];     /* parameter values, NUL-separated */
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
        uint64_t step_sent_ms; /* when q's current step (prepare or query) was taken to send */
        PGresult *res; /* first error result, else the last result, of q */
        struct uring_timer timer;
};

struct stmt {
        const char *name;
        const char *sql;
        int n_params;
};

/* ---- host names, resolved off the loop ---- */

#define RESOLVE_EVERY_MS  30000u /* again, to follow a name that moves */
#define RESOLVE_GAP_MS    1000u  /* at least this between passes asked for by failures */
#define RESOLVE_MAX_ADDRS 8      /* addresses kept per name */
#define RESOLVE_STOP_MS   200u   /* what pgdb_free waits for the thread before leaving it */

struct rhost {
        char *name;   /* the host entry as written */
        char *port;   /* its own port entry; NULL when one port (or none) serves every host */
        bool dns;     /* a name to resolve, not an address, a socket directory or empty */
        bool literal; /* an IP address: given as its own hostaddr */
        /* The thread's own: the last addresses found for the name. */
        unsigned n_addrs;
        char addrs[RESOLVE_MAX_ADDRS][INET6_ADDRSTRLEN];
};

/* Lists for PQconnectStartParams, one entry per address to try; host NULL: none known. */
struct rs_answer {
        char *host, *hostaddr, *port;
        char err[256]; /* "" when every name resolved */
};

struct resolver {
        pthread_mutex_t mu;
        pthread_cond_t cond;
        pthread_t thread;
        struct uring_loop *loop;
        struct rhost *hosts; /* fixed at creation */
        unsigned n_hosts;
        /* Under mu. */
        unsigned refs; /* the pool's and the thread's */
        bool stop, asked, exited;
        uint64_t version; /* bumped on each change of the answer; 0: no pass finished yet */
        struct rs_answer ans;
};

static uint64_t mono_ms(void)
{
        struct timespec ts;

        (void)clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void answer_done(struct rs_answer *a)
{
        free(a->host);
        free(a->hostaddr);
        free(a->port);
        a->host = a->hostaddr = a->port = NULL;
}

static bool str_eq(const char *a, const char *b)
{
        return a == b || (a && b && !strcmp(a, b));
}

static bool answer_eq(const struct rs_answer *a, const struct rs_answer *b)
{
        return str_eq(a->host, b->host) && str_eq(a->hostaddr, b->hostaddr) &&
               str_eq(a->port, b->port) && !strcmp(a->err, b->err);
}

static void hosts_free(struct rhost *h, unsigned n)
{
        for (unsigned i = 0; h && i < n; i++) {
                free(h[i].name);
                free(h[i].port);
        }
        free(h);
}

static void resolver_destroy(struct resolver *rs)
{
        answer_done(&rs->ans);
        hosts_free(rs->hosts, rs->n_hosts);
        pthread_cond_destroy(&rs->cond);
        pthread_mutex_destroy(&rs->mu);
        free(rs);
}

/* Append one entry to a comma-separated list (a failed write shows at fclose). */
static void list_add(FILE *f, bool first, const char *s)
{
        if (!first)
                (void)fputc(',', f);
        (void)fputs(s, f);
}

static void err_add(char *err, size_t cap, const char *name, const char *why, bool kept)
{
        size_t n = strlen(err);

        if (n + 1 >= cap)
                return;
        snprintf(err + n, cap - n, "%s\"%s\": %s%s", n ? "; " : "cannot resolve ", name, why,
                 kept ? " (using its last addresses)" : "");
}

/* Resolve one name into h->addrs; a temporary failure keeps what was there. */
static void resolve_one(struct rhost *h, char *err, size_t cap)
{
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
        struct addrinfo *res = NULL;
        int r = getaddrinfo(h->name, NULL, &hints, &res);

        if (r != 0) {
                const char *why = r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r);
                bool keep = r == EAI_AGAIN && h->n_addrs > 0;
                if (!keep)
                        h->n_addrs = 0;
                err_add(err, cap, h->name, why, keep);
                return;
        }
        h->n_addrs = 0;
        for (struct addrinfo *ai = res; ai && h->n_addrs < RESOLVE_MAX_ADDRS; ai = ai->ai_next) {
                char *out = h->addrs[h->n_addrs];
                const void *src;
                bool dup = false;
                if (ai->ai_family == AF_INET)
                        src = &((const struct sockaddr_in *)(const void *)ai->ai_addr)->sin_addr;
                else if (ai->ai_family == AF_INET6)
                        src = &((const struct sockaddr_in6 *)(const void *)ai->ai_addr)->sin6_addr;
                else
                        continue;
                if (!inet_ntop(ai->ai_family, src, out, INET6_ADDRSTRLEN))
                        continue;
                for (unsigned i = 0; i < h->n_addrs && !dup; i++)
                        dup = !strcmp(h->addrs[i], out);
                if (!dup)
                        h->n_addrs++;
        }
        freeaddrinfo(res);
        if (h->n_addrs == 0)
                err_add(err, cap, h->name, "no IPv4 or IPv6 address", false);
}

/* One pass over every name (blocking: the thread's only), then the lists libpq is given. */
static int resolve_all(struct resolver *rs, struct rs_answer *a)
{
        FILE *fh = NULL, *fa = NULL, *fp = NULL;
        size_t nh, na, np;
        bool first = true, ports = false;
        int r = -ENOMEM;

        *a = (struct rs_answer){0};
        for (unsigned i = 0; i < rs->n_hosts; i++)
                if (rs->hosts[i].dns)
                        resolve_one(&rs->hosts[i], a->err, sizeof(a->err));
        fh = open_memstream(&a->host, &nh);
        fa = open_memstream(&a->hostaddr, &na);
        fp = open_memstream(&a->port, &np);
        if (!fh || !fa || !fp)
                goto out;
        for (unsigned i = 0; i < rs->n_hosts; i++) {
                const struct rhost *h = &rs->hosts[i];
                unsigned n = h->dns ? h->n_addrs : 1;
                for (unsigned j = 0; j < n; j++) {
                        list_add(fh, first, h->name);
                        list_add(fa, first, h->dns ? h->addrs[j] : h->literal ? h->name : "");
                        list_add(fp, first, h->port ? h->port : "");
                        ports |= h->port != NULL;
                        first = false;
                }
        }
        r = 0;
out:
        if ((fh && fclose(fh) != 0) || (fa && fclose(fa) != 0) || (fp && fclose(fp) != 0))
                r = -ENOMEM;
        if (r < 0 || first) {
                /* Nothing to connect to (or no memory to say it): no address known. */
                answer_done(a);
                if (r < 0 && !a->err[0])
                        snprintf(a->err, sizeof(a->err), "out of memory resolving");
                return r;
        }
        if (!ports) {
                free(a->port);
                a->port = NULL;
        }
        return 0;
}

static void *resolver_main(void *arg)
{
        struct resolver *rs = arg;
        uint64_t last = 0;
        bool first = true, last_ref;

        pthread_mutex_lock(&rs->mu);
        for (;;) {
                while (!rs->stop && !first) {
                        uint64_t due = last + (rs->asked ? RESOLVE_GAP_MS : RESOLVE_EVERY_MS);
                        struct timespec ts = {.tv_sec = (time_t)(due / 1000u),
                                              .tv_nsec = (long)(due % 1000u) * 1000000L};
                        if (mono_ms() >= due)
                                break;
                        (void)pthread_cond_timedwait(&rs->cond, &rs->mu, &ts);
                }
                if (rs->stop)
                        break;
                rs->asked = false;
                first = false;
                pthread_mutex_unlock(&rs->mu);

                struct rs_answer a;
                (void)resolve_all(rs, &a);

                pthread_mutex_lock(&rs->mu);
                last = mono_ms();
                if (!rs->stop && (rs->version == 0 || !answer_eq(&a, &rs->ans))) {
                        struct rs_answer old = rs->ans;
                        rs->ans = a;
                        a = old;
                        rs->version++;
                        /* Under mu: once pgdb_free has set stop, the loop is never woken. */
                        (void)uring_loop_wake(rs->loop);
                }
                answer_done(&a);
        }
        rs->exited = true;
        last_ref = --rs->refs == 0;
        pthread_cond_broadcast(&rs->cond);
        pthread_mutex_unlock(&rs->mu);
        if (last_ref)
                resolver_destroy(rs);
        return NULL;
}

/* Ask for a pass soon (a connection attempt failed). Loop thread; mu is never held long. */
static void resolver_ask(struct resolver *rs)
{
        pthread_mutex_lock(&rs->mu);
        if (!rs->asked) {
                rs->asked = true;
                pthread_cond_signal(&rs->cond);
        }
        pthread_mutex_unlock(&rs->mu);
}

static void resolver_stop(struct resolver *rs)
{
        uint64_t due = mono_ms() + RESOLVE_STOP_MS;
        struct timespec ts = {.tv_sec = (time_t)(due / 1000u),
                              .tv_nsec = (long)(due % 1000u) * 1000000L};
        pthread_t t;
        bool exited, last_ref;

        pthread_mutex_lock(&rs->mu);
        rs->stop = true;
        pthread_cond_broadcast(&rs->cond);
        while (!rs->exited && pthread_cond_timedwait(&rs->cond, &rs->mu, &ts) != ETIMEDOUT)
                ;
        exited = rs->exited;
        t = rs->thread;
        last_ref = --rs->refs == 0;
        pthread_mutex_unlock(&rs->mu);
        /* A thread still inside getaddrinfo() finishes alone and frees rs itself. */
        if (exited)
                (void)pthread_join(t, NULL);
        else
                (void)pthread_detach(t);
        if (last_ref)
                resolver_destroy(rs);
}

struct pgdb {
        struct uring_loop *loop;
        char *conninfo;
        unsigned pool_size, max_queue;
        uint64_t query_timeout_ms, connect_timeout_ms;
        uint64_t statement_ms; /* the server's statement_timeout we set; 0: not ours to know */
        uint8_t op_in, op_out, op_cancel;
        struct stmt stmts[PGDB_MAX_STMTS];
        int n_stmts;
        struct pgdb_query *head, *tail;
        unsigned queued, running;
        /* Statements the server cancelled for our statement_timeout before their deadline,
         * by deadline: each is answered -ETIMEDOUT at it, as our own timer answers. */
        struct pgdb_query *late;
        unsigned n_late;
        struct uring_timer late_timer;
        uint64_t backoff_ms;
        uint64_t down_until_ms; /* refuse new queries until then when nothing is connected */
        bool unreachable;       /* on_reach told "down" and not yet "up" */
        char down_reason[256];  /* libpq's reason for the last failed connect, one line */
        char why[320];          /* pgdb_why's answer */
        uint64_t down_since_ms;
        void (*on_reach)(void *userdata, bool up, const char *why, uint64_t down_ms);
        void (*on_dns)(void *userdata, const char *why);
        void *reach_userdata;
        struct pgdb *peer; /* a pool on the same database (pgdb_pair), or NULL */
        struct uring_timer queue_timer;
        struct resolver *rs;     /* NULL: no host name to resolve */
        uint64_t rs_version;     /* of the answer copied into rs_ans; 0: none yet */
        struct rs_answer rs_ans; /* the loop's own copy */
        char rs_said[256];       /* the resolver error on_dns was last told */
        struct pconn *conns;
        struct pgdb *next_resolving; /* the loop's other pools with a resolver */
};

/* The pools with a resolver, which share their loop's wake hook. Loop thread only. */
static struct pgdb *resolving;

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
        /* A value may be a secret (a registration's content key): cleared before it goes. */
        explicit_bzero(q->data, q->data_len);
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

/* ---- statements timed out by the server, answered at their deadline ---- */

static void late_timer_arm(struct pgdb *db)
{
        if (db->late)
                (void)uring_timer_arm(db->loop, &db->late_timer, db->late->deadline_ms);
        else
                uring_timer_cancel(db->loop, &db->late_timer);
}

/* q (off every list) waits for its deadline, then fails with -ETIMEDOUT. */
static void late_add(struct pgdb *db, struct pgdb_query *q)
{
        struct pgdb_query **p = &db->late;

        while (*p && (*p)->deadline_ms <= q->deadline_ms)
                p = &(*p)->next;
        q->next = *p;
        *p = q;
        db->n_late++;
        late_timer_arm(db);
}

static struct pgdb_query *late_pop(struct pgdb *db)
{
        struct pgdb_query *q = db->late;

        if (q) {
                db->late = q->next;
                q->next = NULL;
                db->n_late--;
        }
        return q;
}

static void on_late_timer(struct uring_loop *loop, struct uring_timer *t)
{
        struct pgdb *db = (struct pgdb *)((char *)t - offsetof(struct pgdb, late_timer));
        uint64_t now = uring_loop_now_ms(loop);

        while (db->late && db->late->deadline_ms <= now)
                query_finish(db, late_pop(db), -ETIMEDOUT, NULL);
        late_timer_arm(db);
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

/* Drop the connection; a query it was running fails with err. */
static void pc_reset(struct pconn *pc, int err, const char *why)
{
        struct pgdb *db = pc->db;
        struct pgdb_query *q = pc->q;
        PGresult *res = pc->res;
        char reason[256];

        one_line(reason, sizeof(reason), why);
        /* A statement lost with its connection: its client gets "database unavailable". */
        if (q && err && err != -ECANCELED && err != -ETIMEDOUT)
                log_warn("connection %u: %s; its statement %s fails", pc->idx, reason,
                         db->stmts[q->stmt].name);
        else if (pc->state != PC_DOWN)
                log_debug("connection %u: %s", pc->idx, reason);
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
        /* Queries waiting for a connection get one (a new one, or another of the pool) from
         * the queue's timer, now rather than at the first one's deadline: not from here, under
         * whoever lost this connection. */
        if (db->head)
                (void)uring_timer_arm(db->loop, &db->queue_timer, uring_loop_now_ms(db->loop));
}

/* A connection attempt failed: back off, and fail what waits when nothing else can serve. */
static void connect_failed(struct pconn *pc, const char *why)
{
        struct pgdb *db = pc->db;
        char reason[256];

        /* why may be libpq's buffer, freed with the connection. */
        one_line(reason, sizeof(reason), why);
        log_debug("connect failed: %s", reason);
        memcpy(db->down_reason, reason, sizeof(db->down_reason));
        pc_reset(pc, -ECONNREFUSED, "connect failed");
        /* The name may have moved (or come back): have it looked up again soon. */
        if (db->rs)
                resolver_ask(db->rs);
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

/* Copy the resolver's answer when it changed (strings under its lock, briefly). Loop thread. */
static void rs_sync(struct pgdb *db)
{
        struct resolver *rs = db->rs;
        struct rs_answer a = {0};
        uint64_t v;
        bool oom = false;

        pthread_mutex_lock(&rs->mu);
        v = rs->version;
        if (v != db->rs_version) {
                a.host = rs->ans.host ? strdup(rs->ans.host) : NULL;
                a.hostaddr = rs->ans.hostaddr ? strdup(rs->ans.hostaddr) : NULL;
                a.port = rs->ans.port ? strdup(rs->ans.port) : NULL;
                memcpy(a.err, rs->ans.err, sizeof(a.err));
                oom = (rs->ans.host && !a.host) || (rs->ans.hostaddr && !a.hostaddr) ||
                      (rs->ans.port && !a.port);
        }
        pthread_mutex_unlock(&rs->mu);
        if (v == db->rs_version || oom) {
                /* Out of memory: keep the last copy and try again at the next attempt. */
                answer_done(&a);
                return;
        }
        answer_done(&db->rs_ans);
        db->rs_ans = a;
        db->rs_version = v;
}

/* A resolver's answer changed: say so when its error did, and serve what waited for it. */
static void on_wake_one(struct pgdb *db)
{
        rs_sync(db);
        if (strcmp(db->rs_ans.err, db->rs_said)) {
                memcpy(db->rs_said, db->rs_ans.err, sizeof(db->rs_said));
                if (db->on_dns)
                        db->on_dns(db->reach_userdata, db->rs_said[0] ? db->rs_said : NULL);
        }
        if (db->head)
                dispatch(db);
}

/* Any of the loop's resolvers woke it: each pool takes what changed (a copy when it did). */
static void on_wake(struct uring_loop *loop, void *userdata)
{
        for (struct pgdb *db = resolving; db; db = db->next_resolving)
                if (db->loop == loop)
                        on_wake_one(db);
}

/*
 * With a resolver, the names come with the addresses found for them: host and hostaddr given
 * after the expanded conninfo override its own (libpq takes the last non-empty value), so
 * libpq looks nothing up and still verifies TLS and reads the password file by name.
 */
static PGconn *connect_start(struct pgdb *db)
{
        const char *kw[5] = {"dbname", "host", "hostaddr", NULL, NULL};
        const char *val[5] = {db->conninfo, db->rs_ans.host, db->rs_ans.hostaddr, NULL, NULL};

        if (!db->rs)
                return PQconnectStart(db->conninfo);
        if (db->rs_ans.port) {
                kw[3] = "port";
                val[3] = db->rs_ans.port;
        }
        return PQconnectStartParams(kw, val, 1);
}

static void pc_connect_start(struct pconn *pc)
{
        struct pgdb *db = pc->db;

        if (db->rs) {
                rs_sync(db);
                /* Before the first answer: wait for it (on_wake dispatches again). */
                if (db->rs_version == 0)
                        return;
                if (!db->rs_ans.host) {
                        connect_failed(pc, db->rs_ans.err[0] ? db->rs_ans.err
                                                             : "no address for the host");
                        return;
                }
        }
        pc->pg = connect_start(db);
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
                if (db->peer) {
                        /* The database answers: the other pool's next query tries at once. */
                        db->peer->backoff_ms = 0;
                        db->peer->down_until_ms = 0;
                }
                log_debug("connection %u up", pc->idx);
                db->down_reason[0] = '\0';
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

        pc->step_sent_ms = uring_loop_now_ms(db->loop);
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

/* Past the server's statement_timeout, what it may still be doing with a statement sent now. */
#define STATEMENT_MARGIN_MS 100

static void pc_take(struct pconn *pc, struct pgdb_query *q)
{
        struct pgdb *db = pc->db;
        uint64_t until = q->deadline_ms;

        /* A query that waited in the queue has less than the timeout left, but the server
         * gives the statement its whole statement_timeout from now: dropped sooner, it could
         * still commit behind the 503 its client got. So a statement sent is given up only
         * once the server has given up on it too. */
        if (db->statement_ms) {
                uint64_t server = uring_loop_now_ms(db->loop) + db->statement_ms +
                                  STATEMENT_MARGIN_MS;
                if (server > until)
                        until = server;
        }
        pc->q = q;
        db->running++;
        (void)uring_timer_arm(db->loop, &pc->timer, until);
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

/* The server's message for a statement its statement_timeout cancelled, untranslated. */
#define STATEMENT_TIMEOUT_MSG "canceling statement due to statement timeout"

/*
 * Whether the error res ending the current step is the server giving up on it for the
 * statement_timeout we set (conninfo_with_timeout): SQLSTATE 57014 (query_canceled), which
 * pg_cancel_backend() gives too. The server says which in its message, in English unless its
 * lc_messages translates it; whatever the language, only the timeout can have cancelled a step
 * sent statement_ms ago or more (the server counts from when the step reached it, after we
 * sent it). The message matters when the server's timer runs out early: it counts on the
 * server's wall clock, which a step forward (a virtual machine resumed) can bring before
 * statement_ms has passed here.
 */
static bool statement_timed_out(const struct pconn *pc, const PGresult *res)
{
        const struct pgdb *db = pc->db;
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

        if (!db->statement_ms || !state || strcmp(state, "57014"))
                return false;
        return (msg && !strcmp(msg, STATEMENT_TIMEOUT_MSG)) ||
               uring_loop_now_ms(db->loop) - pc->step_sent_ms >= db->statement_ms;
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
        } else if (statement_timed_out(pc, res)) {
                /* Our own timeout, reached by the server first: a slow database, no outage to
                 * log, answered as our timer answers, at the query's deadline (the server's
                 * timeout runs out before it; a statement sent late, after waiting in the
                 * queue, is past it already). The connection serves on meanwhile. */
                if (q->deadline_ms > uring_loop_now_ms(db->loop))
                        late_add(db, q);
                else
                        query_finish(db, q, -ETIMEDOUT, NULL);
        } else {
                const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
                /* Class 08 (connection), 57 (shutdown, cancel) and 53 (resources) mean the
                 * database cannot serve now, not that the request was wrong. */
                if (state && (!strncmp(state, "08", 2) || !strncmp(state, "57", 2) ||
                              !strncmp(state, "53", 2))) {
                        /* The client gets only "database unavailable": say here why. */
                        const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
                        log_warn("%s: the database refused it: SQLSTATE %s: %s",
                                 db->stmts[q->stmt].name, state, msg ? msg : "-");
                        query_finish(db, q, -ECONNREFUSED, NULL);
                } else
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
static char *conninfo_with_timeout(const char *conninfo, uint64_t timeout_ms,
                                   uint64_t *ret_statement_ms)
{
        uint64_t st = timeout_ms > 200 ? timeout_ms - 100 : timeout_ms;
        size_t n = strlen(conninfo) + 64;
        char *s;

        *ret_statement_ms = 0;
        if (!strncmp(conninfo, "postgres", 8) || strstr(conninfo, "options"))
                return strdup(conninfo);
        *ret_statement_ms = st;
        s = malloc(n);
        if (s)
                snprintf(s, n, "%s options='-c statement_timeout=%llu'", conninfo,
                         (unsigned long long)st);
        return s;
}

/* Free a copy of the conninfo: it may hold the database's password. */
static void conninfo_free(char *conninfo)
{
        if (conninfo)
                OPENSSL_cleanse(conninfo, strlen(conninfo));
        free(conninfo);
}

/* Count the entries of a comma-separated list. */
static unsigned list_len(const char *s)
{
        unsigned n = 1;

        for (; *s; s++)
                n += *s == ',';
        return n;
}

/* Copy the next entry of a comma-separated list and step past it. */
static char *list_next(const char **p)
{
        size_t n = strcspn(*p, ",");
        char *s = strndup(*p, n);

        *p += n + ((*p)[n] == ',');
        return s;
}

/*
 * The host entries libpq would try, from conninfo or else $PGHOST (as libpq takes them; a host
 * named only in a service file is not seen), each classified. Returns 1 with *ret (*ret_n
 * entries, the caller's) when one is a name to resolve; 0 when none is, hostaddr is given, or
 * libpq will refuse the conninfo before any look-up; -ENOMEM.
 */
static int conninfo_hosts(const char *conninfo, struct rhost **ret, unsigned *ret_n)
{
        PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
        const char *host = NULL, *hostaddr = NULL, *port = NULL, *hp, *pp;
        struct rhost *h = NULL;
        unsigned n = 0, n_ports = 1;
        bool dns = false;
        int r = 0;

        if (!opts)
                return 0;
        for (PQconninfoOption *o = opts; o->keyword; o++) {
                if (!strcmp(o->keyword, "host"))
                        host = o->val;
                else if (!strcmp(o->keyword, "hostaddr"))
                        hostaddr = o->val;
                else if (!strcmp(o->keyword, "port"))
                        port = o->val;
        }
        if (!host || !*host)
                host = getenv("PGHOST");
        if (!hostaddr || !*hostaddr)
                hostaddr = getenv("PGHOSTADDR");
        if (!port || !*port)
                port = getenv("PGPORT");
        if (!host || !*host || (hostaddr && *hostaddr))
                goto out;
        n = list_len(host);
        if (port && *port)
                n_ports = list_len(port);
        if (n_ports != 1 && n_ports != n)
                goto out;
        h = calloc(n, sizeof(*h));
        if (!h) {
                r = -ENOMEM;
                goto out;
        }
        hp = host;
        pp = port;
        for (unsigned i = 0; i < n; i++) {
                struct in6_addr a6;
                h[i].name = list_next(&hp);
                if (n_ports > 1)
                        h[i].port = list_next(&pp);
                if (!h[i].name || (n_ports > 1 && !h[i].port)) {
                        r = -ENOMEM;
                        goto out;
                }
                h[i].literal = inet_pton(AF_INET, h[i].name, &a6) == 1 ||
                               inet_pton(AF_INET6, h[i].name, &a6) == 1;
                /* What libpq takes for a socket directory: an absolute or abstract path. */
                h[i].dns =
                    h[i].name[0] && h[i].name[0] != '/' && h[i].name[0] != '@' && !h[i].literal;
                dns |= h[i].dns;
        }
        if (dns) {
                *ret = h;
                *ret_n = n;
                h = NULL;
                r = 1;
        }
out:
        hosts_free(h, n);
        PQconninfoFree(opts);
        return r;
}

/* Take db out of the resolving pools; the loop's wake hook goes with the last of them. */
static void resolving_unlink(struct pgdb *db)
{
        bool others = false;

        for (struct pgdb **p = &resolving; *p; p = &(*p)->next_resolving) {
                if (*p == db) {
                        *p = db->next_resolving;
                        break;
                }
        }
        for (struct pgdb *o = resolving; o; o = o->next_resolving)
                others |= o->loop == db->loop;
        if (!others)
                uring_loop_set_wake_hook(db->loop, NULL, NULL);
}

/* Start the resolver thread for hosts (taken, even on failure). Returns 0 or -errno. */
static int resolver_start(struct pgdb *db, struct rhost *hosts, unsigned n)
{
        struct resolver *rs = calloc(1, sizeof(*rs));
        pthread_condattr_t ca;
        sigset_t all, old;
        int r;

        if (!rs) {
                hosts_free(hosts, n);
                return -ENOMEM;
        }
        rs->loop = db->loop;
        rs->hosts = hosts;
        rs->n_hosts = n;
        rs->refs = 2;
        (void)pthread_mutex_init(&rs->mu, NULL);
        (void)pthread_condattr_init(&ca);
        (void)pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        (void)pthread_cond_init(&rs->cond, &ca);
        (void)pthread_condattr_destroy(&ca);
        /* Set before the thread can wake the loop (which runs on_wake on this thread). */
        db->rs = rs;
        db->next_resolving = resolving;
        resolving = db;
        uring_loop_set_wake_hook(db->loop, on_wake, NULL);
        /* Signals are the loop's (signalfd): the thread takes none. */
        (void)sigfillset(&all);
        (void)pthread_sigmask(SIG_SETMASK, &all, &old);
        r = pthread_create(&rs->thread, NULL, resolver_main, rs);
        (void)pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (r != 0) {
                resolving_unlink(db);
                db->rs = NULL;
                resolver_destroy(rs);
                return -r;
        }
        return 0;
}

int pgdb_new(struct uring_loop *loop, const struct pgdb_params *p, struct pgdb **ret)
{
        struct rhost *hosts = NULL;
        unsigned n_hosts = 0;
        struct pgdb *db;
        int r;

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
        db->on_dns = p->on_dns;
        db->reach_userdata = p->reach_userdata;
        db->conninfo = conninfo_with_timeout(p->conninfo, db->query_timeout_ms, &db->statement_ms);
        db->conns = calloc(db->pool_size, sizeof(*db->conns));
        if (!db->conninfo || !db->conns) {
                conninfo_free(db->conninfo);
                free(db->conns);
                free(db);
                return -ENOMEM;
        }
        uring_timer_init(&db->queue_timer, on_queue_timer);
        uring_timer_init(&db->late_timer, on_late_timer);
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
        r = conninfo_hosts(p->conninfo, &hosts, &n_hosts);
        if (r > 0)
                r = resolver_start(db, hosts, n_hosts);
        if (r < 0) {
                free(db->conns);
                conninfo_free(db->conninfo);
                free(db);
                return r;
        }
        *ret = db;
        return 0;
}

void pgdb_pair(struct pgdb *a, struct pgdb *b)
{
        a->peer = b;
        b->peer = a;
}

void pgdb_free(struct pgdb *db)
{
        if (!db)
                return;
        if (db->peer)
                db->peer->peer = NULL;
        queue_fail_all(db, -ECANCELED);
        for (unsigned i = 0; i < db->pool_size; i++)
                pc_reset(&db->conns[i], -ECANCELED, "pool closed");
        uring_timer_cancel(db->loop, &db->queue_timer);
        while (db->late)
                query_finish(db, late_pop(db), -ECANCELED, NULL);
        uring_timer_cancel(db->loop, &db->late_timer);
        if (db->rs) {
                resolver_stop(db->rs);
                db->rs = NULL;
                resolving_unlink(db);
                answer_done(&db->rs_ans);
        }
        free(db->conns);
        conninfo_free(db->conninfo);
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
        q->data_len = total;
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
        struct rhost *hosts = NULL;
        unsigned n = 0;
        int r = conninfo_hosts(conninfo, &hosts, &n);

        hosts_free(hosts, n);
        return r > 0;
}

unsigned pgdb_pending(const struct pgdb *db)
{
        return db->queued + db->running + db->n_late;
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

const char *pgdb_why(struct pgdb *db, int err, const struct pgdb_res *res)
{
        switch (err) {
        case -EPROTO:
                snprintf(db->why, sizeof(db->why), "the database refused it: %s",
                         pgdb_res_message(res));
                break;
        case -ECONNREFUSED:
                if (db->down_reason[0])
                        snprintf(db->why, sizeof(db->why), "database unavailable: %s",
                                 db->down_reason);
                else
                        snprintf(db->why, sizeof(db->why), "database unavailable");
                break;
        case -ETIMEDOUT:
                snprintf(db->why, sizeof(db->why), "database timed out");
                break;
        default:
                snprintf(db->why, sizeof(db->why), "%s", strerror(-err));
        }
        return db->why;
}

const char *pgdb_res_message(const struct pgdb_res *res)
{
        const char *s = res && res->pg ? PQresultErrorField(res->pg, PG_DIAG_MESSAGE_PRIMARY) : NULL;

        return s ? s : "";
}

const char *pgdb_res_constraint(const struct pgdb_res *res)
{
        const char *s =
            res && res->pg ? PQresultErrorField(res->pg, PG_DIAG_CONSTRAINT_NAME) : NULL;

        return s ? s : "";
}
