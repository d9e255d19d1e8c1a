/* SPDX-License-Identifier: MIT */
/*
 * Listeners and connections of sluice-control. Input arrives through multishot recv into the
 * loop's provided buffers and is copied into the connection; output is a send through the
 * ring, submitted with the loop's next wait (so a reply costs no system call of its own, and
 * the replies of one loop iteration share one), resubmitted for the rest after a short send.
 * A connection holds at most one request in its handler; see server.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "bearer.h"
#include "buf.h"
#include "geo.h"
#include "http-resp.h"
#include "json-depth.h"
#include "log.h"
#include "metrics.h"
#include "net-addr.h"
#include "uring-loop.h"

#include "ctl-cfg.h"
#include "ctl.h"
#include "json-write.h"
#include "pgdb.h"
#include "req-chunked.h"
#include "req-parse.h"
#include "router.h"
#include "server.h"

#define LISTEN_MAX       16
#define HEAD_MAX         16384
#define HEADER_TIMEOUT   10000u
#define RESP_HEAD_MAX    2048
/* Bytes a client may send ahead of the response it waits for (pipelining). */
#define PIPELINE_MAX     (64u << 10)

enum conn_state {
        CS_READ_HEAD,
        CS_READ_BODY,
        CS_HANDLING,
        CS_SEND,
        CS_LINGER, /* answered and shut for writing: what the client still sends is dropped */
        CS_CLOSED,
};

/* A refused request's body may still be on its way when the answer is out: closing with it
 * unread would reset the connection, and the client would lose the answer (RFC 9112 §9.6).
 * The connection is shut for writing and read (and dropped) for this long or this much. */
#define LINGER_MS    2000u
#define LINGER_BYTES (16u << 20)

struct listener {
        struct ctl_server *srv;
        int fd;
        uint32_t slot;
        bool open;
        bool starved; /* accepts wait for the retry timer: why is said once until one works */
        unsigned port;
        struct uring_timer retry;
};

#define ACCEPT_RETRY_MS 100 /* after an accept failed in a way that may come again */

struct ctl_conn {
        struct ctl_server *srv;
        struct ctl_conn *prev, *next;
        struct ctl_conn *idle_prev, *idle_next; /* on srv's idle list: see idle_add() */
        bool idle;
        uint64_t id;
        int fd;
        uint32_t slot;
        enum conn_state state;
        unsigned refs;      /* the loop slot, and a request in its handler */
        bool recv_armed;
        bool peer_eof;
        bool body_admin;       /* the body comes with the admin token: its deadline is progress */
        uint64_t body_limit;   /* body_max() of its head, worked out while the head is valid */
        bool lingers;          /* a refused body may follow: linger after the answer */
        size_t linger_bytes;   /* dropped while lingering */
        bool close_after;
        bool in_process;    /* conn_process() is on the stack */
        bool again;         /* a reply inside it made the next request parsable */
        struct buf in;      /* current request (and what followed it before it was dispatched) */
        struct buf more;    /* bytes that arrived while a request was in its handler */
        size_t head_len;    /* of the current request, once parsed */
        size_t body_len;    /* of its body (a chunked one's once decoded whole) */
        bool chunked;       /* its body is chunked and being decoded */
        struct req_chunked ch;
        struct http1_parser parser;
        struct http1_req head;
        struct ctl_req rq;
        char *path_buf;
        char *out;
        size_t out_len, out_off;
        int status;
        uint64_t deadline_ms;
        struct uring_timer timer;
        char peer[64];
};

struct ctl_server {
        struct ctl *ctl;
        struct listener *listeners[LISTEN_MAX]; /* each freed by its slot's free callback */
        size_t n_listeners;
        struct ctl_conn *conns;
        struct ctl_conn *idle_head, *idle_tail; /* oldest idle first */
        unsigned n_conns;
        uint64_t conn_seq;
        bool draining;
        struct http1_limits limits;
};

static void conn_close(struct ctl_conn *c, const char *why);
static void conn_process(struct ctl_conn *c);

/* ---- helpers ---- */

/* The reply is wiped before it is freed: some carry secrets (a licence's content keys, a new
 * edge's secret), and memory given back unwiped keeps them until reused. Every reply, not
 * only those: a route that forgot to mark its reply would leak, and clearing a buffer just
 * written and sent costs a fraction of having built it (even a fill plan, the largest reply
 * at some 24 MB, is one pass of memset over what a JSON renderer and a copy wrote). */
static void out_free(struct ctl_conn *c)
{
        if (c->out)
                OPENSSL_cleanse(c->out, c->out_len);
        free(c->out);
        c->out = NULL;
        c->out_len = c->out_off = 0;
}

static void conn_unref(struct ctl_conn *c)
{
        if (--c->refs > 0)
                return;
        buf_done(&c->in);
        buf_done(&c->more);
        out_free(c);
        free(c->path_buf);
        free(c);
}

static void free_conn_slot(struct uring_loop *loop, void *owner)
{
        struct ctl_conn *c = owner;

        (void)close(c->fd);
        c->fd = -1;
        conn_unref(c);
}

static void deadline_set(struct ctl_conn *c, uint64_t ms)
{
        struct uring_loop *loop = c->srv->ctl->loop;

        c->deadline_ms = uring_loop_now_ms(loop) + ms;
        if (!uring_timer_armed(&c->timer) || c->deadline_ms < c->timer.deadline_ms)
                (void)uring_timer_arm(loop, &c->timer, c->deadline_ms);
}

static void on_conn_timer(struct uring_loop *loop, struct uring_timer *t)
{
        struct ctl_conn *c = (struct ctl_conn *)((char *)t - offsetof(struct ctl_conn, timer));

        if (c->state == CS_CLOSED)
                return;
        /* A handler's wait is bounded by the database timeout, not by this timer. */
        if (c->state == CS_HANDLING)
                return;
        if (uring_loop_now_ms(loop) < c->deadline_ms) {
                (void)uring_timer_arm(loop, t, c->deadline_ms);
                return;
        }
        conn_close(c, "deadline");
}

/* Input a connection may buffer: a head (or the head and body being read) plus what a client
 * pipelines behind it. Kept small while reading heads, since each answered request moves
 * what follows it to the front of the buffer. */
static size_t in_max(const struct ctl_conn *c)
{
        /* A chunked body is decoded as it comes (framing dropped): what it has so far. */
        if (c->state == CS_READ_BODY && c->chunked)
                return c->head_len + c->ch.out + PIPELINE_MAX;
        if (c->state == CS_READ_BODY)
                return c->head_len + c->body_len + PIPELINE_MAX;
        return HEAD_MAX + PIPELINE_MAX;
}

/* ---- idle connections ---- */

/* A connection that holds no part of a request (new, or kept alive between requests) is idle,
 * listed from the longest idle: at max_connections the first of them makes room for a new
 * connection rather than the new one being refused while it waits for idle_timeout. */
static void idle_add(struct ctl_conn *c)
{
        struct ctl_server *srv = c->srv;

        if (c->idle)
                return;
        c->idle = true;
        c->idle_next = NULL;
        c->idle_prev = srv->idle_tail;
        if (srv->idle_tail)
                srv->idle_tail->idle_next = c;
        else
                srv->idle_head = c;
        srv->idle_tail = c;
}

static void idle_del(struct ctl_conn *c)
{
        struct ctl_server *srv = c->srv;

        if (!c->idle)
                return;
        c->idle = false;
        if (c->idle_prev)
                c->idle_prev->idle_next = c->idle_next;
        else
                srv->idle_head = c->idle_next;
        if (c->idle_next)
                c->idle_next->idle_prev = c->idle_prev;
        else
                srv->idle_tail = c->idle_prev;
        c->idle_prev = c->idle_next = NULL;
}

/* ---- closing ---- */

static void conn_close(struct ctl_conn *c, const char *why)
{
        struct ctl_server *srv = c->srv;
        struct uring_loop *loop = srv->ctl->loop;

        if (c->state == CS_CLOSED)
                return;
        log_conn(LOG_LVL_DEBUG, c->id, "close: %s", why);
        c->state = CS_CLOSED;
        idle_del(c);
        uring_timer_cancel(loop, &c->timer);
        if (c->prev)
                c->prev->next = c->next;
        else
                srv->conns = c->next;
        if (c->next)
                c->next->prev = c->prev;
        c->prev = c->next = NULL;
        srv->n_conns--;
        metrics_gauge_add(srv->ctl->m.conns_open, -1);
        if (uring_loop_cancel_fd(loop, c->slot, CTL_OP_CANCEL, c->fd) < 0)
                (void)shutdown(c->fd, SHUT_RDWR);
        uring_loop_slot_close(loop, c->slot);
}

/* ---- output ---- */

static void linger(struct ctl_conn *c)
{
        c->state = CS_LINGER;
        c->linger_bytes = 0;
        buf_reset(&c->in);
        buf_reset(&c->more);
        (void)shutdown(c->fd, SHUT_WR);
        c->deadline_ms = uring_loop_now_ms(c->srv->ctl->loop) + LINGER_MS;
        (void)uring_timer_arm(c->srv->ctl->loop, &c->timer, c->deadline_ms);
}

static void response_done(struct ctl_conn *c)
{
        struct ctl_server *srv = c->srv;
        size_t used = c->head_len + c->body_len;

        out_free(c);
        free(c->path_buf);
        c->path_buf = NULL;
        if (c->close_after || srv->draining) {
                /* Input not read, or more on its way: linger rather than reset. */
                if (!c->peer_eof && (c->in.len > used || c->more.len || c->lingers)) {
                        linger(c);
                        return;
                }
                conn_close(c, "response done, closing");
                return;
        }
        /* What followed the request, then what arrived while it was handled. */
        buf_consume(&c->in, used);
        c->head_len = c->body_len = 0;
        if (c->more.len) {
                c->in.max = in_max(c) + PIPELINE_MAX;
                if (buf_append(&c->in, c->more.p, c->more.len) < 0) {
                        conn_close(c, "input over limit");
                        return;
                }
                buf_reset(&c->more);
        }
        c->state = CS_READ_HEAD;
        if (c->in.len == 0) {
                if (c->peer_eof) {
                        conn_close(c, "peer closed");
                        return;
                }
                /* Idle keep-alive: drop the buffers (both: what arrived while a request was
                 * in its handler grew the second) and wait for the next request. */
                buf_done(&c->in);
                buf_done(&c->more);
                deadline_set(c, (uint64_t)srv->ctl->cfg->idle_timeout_ms);
                idle_add(c);
                return;
        }
        deadline_set(c, HEADER_TIMEOUT);
        conn_process(c);
}

/* The rest of the reply as one send through the ring (c->out stays the operation's until its
 * CQE: the connection frees it only after its slot's operations are done), or, all sent, the
 * response is done. A full socket keeps the send waiting in the kernel, bounded by the
 * connection's send deadline (send_timeout without a byte taken). */
static void send_more(struct ctl_conn *c)
{
        struct uring_loop *loop = c->srv->ctl->loop;

        if (c->out_off >= c->out_len) {
                response_done(c);
                return;
        }
        if (uring_loop_send(loop, c->slot, CTL_OP_SEND, c->fd, c->out + c->out_off,
                            c->out_len - c->out_off, 0) < 0) {
                conn_close(c, "no SQE for send");
                return;
        }
}

static void on_send(struct ctl_conn *c, const struct io_uring_cqe *cqe)
{
        if (c->state != CS_SEND)
                return;
        if (cqe->res == -EAGAIN) {
                /* Nothing taken: a wakeup without room (the client's FIN) sends the ring's
                 * retry to a worker that cannot wait on a nonblocking socket. Again. */
                send_more(c);
                return;
        }
        if (cqe->res <= 0) {
                conn_close(c, "send failed");
                return;
        }
        c->out_off += (size_t)cqe->res;
        /* The deadline is for progress: a large reply (a fill plan of 100,000 files is about
         * 24 MB) to a client on a slow link takes as long as the link needs. */
        deadline_set(c, (uint64_t)c->srv->ctl->cfg->send_timeout_ms);
        send_more(c);
}

/* Whether the answer depends on the request's Origin: a list of origins, not "*" (none
 * configured: no CORS at all, the same for everyone). */
static bool cors_varies(const struct ctl_req *rq)
{
        const struct cfg_strlist *o = &rq->ctl->cfg->cors_origins;

        for (size_t i = 0; i < o->n; i++)
                if (!strcmp(o->items[i], "*"))
                        return false;
        return o->n > 0;
}

static const char *cors_origin(const struct ctl_req *rq)
{
        const struct cfg_strlist *o = &rq->ctl->cfg->cors_origins;

        if (!rq->origin[0])
                return NULL;
        for (size_t i = 0; i < o->n; i++) {
                if (!strcmp(o->items[i], "*"))
                        return "*";
                if (!strcmp(o->items[i], rq->origin))
                        return rq->origin;
        }
        return NULL;
}

static void observe(struct ctl *ctl, int status, uint64_t start_us)
{
        unsigned cls = (unsigned)status / 100;

        if (cls >= 1 && cls <= 5)
                metrics_add(ctl->m.requests[cls], 1);
        metrics_observe(ctl->m.latency, (double)(uring_loop_clock_us() - start_us) / 1e6);
}

void ctl_reply(struct ctl_req *rq, int status, const char *ctype, const char *body, size_t len,
               const char *const *extra)
{
        struct ctl_conn *c = rq->conn;
        struct ctl *ctl = rq->ctl;
        struct http_resp r;
        char head[RESP_HEAD_MAX];
        const char *allow;
        int hl;

        if (rq->replied)
                return;
        rq->replied = true;
        observe(ctl, status, rq->start_us);
        log_conn(LOG_LVL_DEBUG, c->id, "%s %s -> %d", http_method_name(rq->method), rq->path,
                 status);
        if (c->state == CS_CLOSED) {
                conn_unref(c);
                return;
        }
        c->refs--; /* the request's reference; the slot still holds one */
        c->status = status;

        http_resp_start(&r, head, sizeof(head), status);
        allow = cors_origin(rq);
        if (allow) {
                http_resp_header(&r, "Access-Control-Allow-Origin", allow, strlen(allow));
                http_resp_header(&r, "Access-Control-Expose-Headers", "Retry-After", 11);
        }
        /* On every answer while it depends on Origin, echoed or not: a cache that kept one
         * without it (an unlisted origin's, or one with no Origin) would hand it to a listed
         * origin, which then reads no Access-Control-Allow-Origin. */
        if (cors_varies(rq))
                http_resp_header(&r, "Vary", "Origin", 6);
        for (size_t i = 0; extra && extra[i]; i += 2)
                http_resp_header(&r, extra[i], extra[i + 1], strlen(extra[i + 1]));
        if (ctype) {
                http_resp_header(&r, "Content-Type", ctype, strlen(ctype));
                http_resp_header_u64(&r, "Content-Length", len);
        } else if (status != 204 && status != 304) {
                http_resp_header(&r, "Content-Length", "0", 1);
        }
        /* After the client's half-close, the answer to its last request closes; requests it
         * pipelined before it are answered first. */
        if (!c->head.keep_alive || c->srv->draining || ctl->draining ||
            (c->peer_eof && c->in.len <= c->head_len + c->body_len && c->more.len == 0))
                c->close_after = true;
        if (c->close_after)
                http_resp_header(&r, "Connection", "close", 5);
        else if (c->head.minor == 0) /* an HTTP/1.0 client closes after an answer without it */
                http_resp_header(&r, "Connection", "keep-alive", 10);
        hl = http_resp_finish(&r);
        if (hl < 0) {
                conn_close(c, "response head does not fit");
                return;
        }
        if (rq->method == HTTP_M_HEAD)
                len = 0;
        c->out = malloc((size_t)hl + len + 1);
        if (!c->out) {
                conn_close(c, "out of memory");
                return;
        }
        memcpy(c->out, head, (size_t)hl);
        if (len)
                memcpy(c->out + hl, body, len);
        c->out_len = (size_t)hl + len;
        c->out_off = 0;
        c->state = CS_SEND;
        deadline_set(c, (uint64_t)c->srv->ctl->cfg->send_timeout_ms);
        send_more(c);
}

void ctl_reply_json(struct ctl_req *rq, int status, json_t *v)
{
        char *text = v ? json_write_dumps(v) : NULL;
        size_t len = text ? strlen(text) : 0;

        json_decref(v);
        if (!text) {
                ctl_reply_error(rq, 500, "internal", "cannot render JSON");
                return;
        }
        ctl_reply(rq, status, "application/json", text, len, NULL);
        free(text);
}

void ctl_reply_error(struct ctl_req *rq, int status, const char *error, const char *detail)
{
        static const char *const retry[] = {"Retry-After", "1", "Cache-Control", "no-store", NULL};
        static const char *const auth[] = {"WWW-Authenticate", "Bearer realm=\"sluice-control\"",
                                           "Cache-Control", "no-store", NULL};
        static const char *const plain[] = {"Cache-Control", "no-store", NULL};
        json_t *o = json_pack("{s:s, s:s}", "error", error ? error : "error", "detail",
                              detail ? detail : "");
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        const char *const *extra = status == 503 ? retry : status == 401 ? auth : plain;

        json_decref(o);
        if (!s) {
                static const char body[] = "{\"error\":\"internal\",\"detail\":\"\"}";
                ctl_reply(rq, status, "application/json", body, sizeof(body) - 1, extra);
                return;
        }
        ctl_reply(rq, status, "application/json", s, strlen(s), extra);
        free(s);
}

/*
 * What a client sent that a unique constraint refused, in the API's words: the constraint's
 * name says nothing to a client. Only registrations reach one (every other write checks first
 * or takes the stored row); a constraint not listed gets the general sentence.
 */
static const char *conflict_detail(const char *constraint)
{
        static const struct {
                const char *constraint, *detail;
        } known[] = {
            {"episodes_title_id_season_number_key",
             "series.season and series.episode: another episode of that series already "
             "has that season and number"},
            {"token_keys_pkey", "kid already used"},
        };

        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
                if (!strcmp(constraint, known[i].constraint))
                        return known[i].detail;
        return "conflicts with what is already stored";
}

void ctl_reply_db_error(struct ctl_req *rq, int err, const struct pgdb_res *res)
{
        if (err != -EPROTO) {
                metrics_add(rq->ctl->m.db_errors, 1);
                ctl_reply_error(rq, 503, "unavailable",
                                err == -ETIMEDOUT ? "database timed out"
                                : err == -EBUSY   ? "database queue full"
                                                  : "database unavailable");
                return;
        }
        if (!strcmp(pgdb_res_sqlstate(res), "23505")) {
                ctl_reply_error(rq, 409, "conflict", conflict_detail(pgdb_res_constraint(res)));
                return;
        }
        ctl_reply_sql_error(rq, pgdb_res_sqlstate(res), pgdb_res_message(res));
}

void ctl_reply_sql_error(struct ctl_req *rq, const char *state, const char *msg)
{
        if (!strncmp(state, "SL", 2)) {
                int status = (int)strtol(state + 2, NULL, 10);
                const char *e = status == 400   ? "bad_request"
                                : status == 401 ? "unauthorized"
                                : status == 403 ? "forbidden"
                                : status == 404 ? "not_found"
                                : status == 409 ? "conflict"
                                : status == 451 ? "unavailable_for_legal_reasons"
                                                : "error";
                if (status < 400 || status > 599)
                        status = 500;
                ctl_reply_error(rq, status, e, msg);
                return;
        }
        /* Connection, shutdown and resource classes: the database cannot serve now (as pgdb
         * maps them for a whole statement). */
        if (!strncmp(state, "08", 2) || !strncmp(state, "57", 2) || !strncmp(state, "53", 2)) {
                ctl_reply_db_error(rq, -ECONNREFUSED, NULL);
                return;
        }
        /* Arithmetic faults (a value out of range, division by zero, a bad logarithm or power)
         * are the server's: every number a client sends is bounded before it gets here, so
         * they come from a computation over stored rows, and the statement is at fault. */
        if (!strcmp(state, "22003") || !strcmp(state, "22012") || !strcmp(state, "2201E") ||
            !strcmp(state, "2201F") || !strcmp(state, "22P01")) {
                log_error("request %" PRIu64 ": database error %s: %s", rq->id, state, msg);
                ctl_reply_error(rq, 500, "internal", "database error");
                return;
        }
        /* Other data exceptions and integrity violations come from what the client sent. */
        if (!strncmp(state, "22", 2) || !strcmp(state, "23514") || !strcmp(state, "23502") ||
            !strcmp(state, "23503")) {
                ctl_reply_error(rq, 400, "bad_request", msg);
                return;
        }
        if (!strcmp(state, "23505")) {
                ctl_reply_error(rq, 409, "conflict", conflict_detail(""));
                return;
        }
        log_error("request %" PRIu64 ": database error %s: %s", rq->id, state, msg);
        ctl_reply_error(rq, 500, "internal", "database error");
}

/* ---- request helpers ---- */

int ctl_query_get(const struct ctl_req *rq, const char *name, char *buf, size_t cap)
{
        return req_query_get(rq->query, rq->query_len, name, buf, cap);
}

/* Whether the media type of Content-Type value ct[0..len) is type (any case), its parameters
 * aside: "application/jsonp" is not "application/json". */
static bool media_type_is(const char *ct, size_t len, const char *type)
{
        size_t n = strlen(type);

        return len >= n && !strncasecmp(ct, type, n) &&
               (len == n || ct[n] == ';' || ct[n] == ' ' || ct[n] == '\t');
}

bool ctl_body_type_ok(struct ctl_req *rq)
{
        size_t ctl_len = 0;
        const char *ct = http1_req_header(rq->head, "content-type", &ctl_len);

        /* text/plain too: what a page's fetch() sends with a string body and no type, a CORS
         * "simple" request that needs no preflight (docs/player.md). */
        if (ct && !media_type_is(ct, ctl_len, "application/json") &&
            !media_type_is(ct, ctl_len, "text/plain")) {
                ctl_reply_error(rq, 415, "unsupported_media_type",
                                "body must be application/json (or text/plain)");
                return false;
        }
        return true;
}

int ctl_body_json(struct ctl_req *rq, size_t max_depth, json_t **ret)
{
        json_error_t jerr;
        json_t *v;

        if (!ctl_body_type_ok(rq))
                return -EINVAL;
        if (rq->body_len == 0) {
                ctl_reply_error(rq, 400, "bad_request", "a JSON body is required");
                return -EINVAL;
        }
        /* jansson recurses per level; refuse deep documents before it sees them. */
        if (json_depth_exceeds(rq->body, rq->body_len, max_depth)) {
                ctl_reply_error(rq, 400, "bad_request", "JSON nested too deeply");
                return -EINVAL;
        }
        v = json_loadb(rq->body, rq->body_len, JSON_REJECT_DUPLICATES, &jerr);
        if (!v) {
                char d[200];
                snprintf(d, sizeof(d), "invalid JSON at %d:%d: %s", jerr.line, jerr.column,
                         jerr.text);
                ctl_reply_error(rq, 400, "bad_request", d);
                return -EINVAL;
        }
        if (!json_is_object(v)) {
                json_decref(v);
                ctl_reply_error(rq, 400, "bad_request", "body must be a JSON object");
                return -EINVAL;
        }
        *ret = v;
        return 0;
}

/* Whether head carries the admin bearer token (constant-time compare). */
static bool head_admin_ok(const struct ctl *ctl, const struct http1_req *head)
{
        size_t len = 0;
        const char *v = http1_req_known(head, HK_AUTHORIZATION, &len);

        return v && bearer_ok(v, len, ctl->admin_token, ctl->admin_token_len);
}

bool ctl_req_admin_ok(const struct ctl_req *rq)
{
        return head_admin_ok(rq->ctl, rq->head);
}

/* A request to an admin route (/v1/admin/...), token or not. */
static bool head_on_admin_route(const struct http1_req *head)
{
        static const char admin[] = "/v1/admin/";
        const char *t;
        size_t tl;

        http1_origin_form(head->target, head->target_len, &t, &tl);
        return tl >= sizeof(admin) - 1 && memcmp(t, admin, sizeof(admin) - 1) == 0;
}

/* An admin route's request carrying the admin token. */
static bool head_is_admin(const struct ctl *ctl, const struct http1_req *head)
{
        return head_on_admin_route(head) && head_admin_ok(ctl, head);
}

/*
 * The body a request may send: max_admin_body on the admin routes with the admin token (a
 * registration carries a whole asset.json, megabytes for a feature film), max_body for the
 * rest, so no route anyone can reach buffers more than that. An admin route never takes less
 * than the others (a max_body raised for registrations before max_admin_body existed).
 */
static int64_t body_max(const struct ctl *ctl, const struct http1_req *head)
{
        const struct ctl_cfg *cfg = ctl->cfg;

        if (head_is_admin(ctl, head))
                return cfg->max_admin_body > cfg->max_body ? cfg->max_admin_body : cfg->max_body;
        return cfg->max_body;
}

/* ---- input ---- */

static bool proxy_trusted(const char *addr, void *ud)
{
        const struct ctl *ctl = ud;
        char cc[3];

        return geo_table_lookup_str(ctl->trusted, addr, cc) == 0;
}

/* The client address: the peer, or behind a trusted proxy the right-most X-Forwarded-For
 * entry that is not itself a trusted proxy (entries left of it are client-controlled). */
static void client_addr(struct ctl_conn *c, struct ctl_req *rq)
{
        struct ctl *ctl = c->srv->ctl;
        struct req_span lines[HTTP1_MAX_HEADERS_CAP];
        char cc[3], addr[64];
        size_t n = 0, len;
        unsigned pos = 0;
        const char *v;

        snprintf(rq->client, sizeof(rq->client), "%s", c->peer);
        if (!ctl->trusted || geo_table_lookup_str(ctl->trusted, c->peer, cc) != 0)
                return;
        /* Every X-Forwarded-For line, in order: a proxy that appends a line of its own rather
         * than extending the client's must not leave the client's first line in charge. */
        while ((v = http1_req_header_next(&c->head, "x-forwarded-for", &pos, &len)))
                lines[n++] = (struct req_span){v, len};
        if (n > 0 && req_xff_client(lines, n, proxy_trusted, ctl, addr, sizeof(addr)) == 1)
                snprintf(rq->client, sizeof(rq->client), "%s", addr);
}

static void dispatch(struct ctl_conn *c)
{
        struct ctl_server *srv = c->srv;
        struct ctl_req *rq = &c->rq;
        const char *t, *qm;
        size_t tl, pl, lead;
        size_t olen = 0;
        const char *origin;

        memset(rq, 0, sizeof(*rq));
        rq->ctl = srv->ctl;
        rq->conn = c;
        rq->id = c->id;
        rq->method = c->head.method;
        rq->head = &c->head;
        rq->start_us = uring_loop_clock_us();
        rq->body = c->in.p + c->head_len;
        rq->body_len = c->body_len;
        snprintf(rq->peer, sizeof(rq->peer), "%s", c->peer);
        client_addr(c, rq);
        origin = http1_req_known(&c->head, HK_ORIGIN, &olen);
        if (origin && olen < sizeof(rq->origin)) {
                memcpy(rq->origin, origin, olen);
                rq->origin[olen] = '\0';
        }
        /* "http://h" and "http://h?q" name "/" */
        lead = http1_origin_form(c->head.target, c->head.target_len, &t, &tl);
        qm = memchr(t, '?', tl);
        pl = qm ? (size_t)(qm - t) : tl;
        c->path_buf = malloc(lead + tl + 2);
        if (!c->path_buf) {
                conn_close(c, "out of memory");
                return;
        }
        c->path_buf[0] = '/';
        memcpy(c->path_buf + lead, t, pl);
        pl += lead;
        c->path_buf[pl] = '\0';
        rq->path = c->path_buf;
        rq->path_len = pl;
        rq->query = c->path_buf + pl + 1;
        rq->query_len = qm ? (size_t)(t + tl - qm - 1) : 0;
        memcpy(c->path_buf + pl + 1, qm ? qm + 1 : "", rq->query_len);
        c->path_buf[pl + 1 + rq->query_len] = '\0';

        c->state = CS_HANDLING;
        c->refs++;
        if (rq->path[0] != '/') {
                /* Another scheme's absolute-form names no resource of this service, and the
                 * asterisk-form asks of the server as a whole, which has nothing to say. */
                ctl_reply_error(rq, 400, "bad_request",
                                "origin-form or http(s) absolute-form request target required");
                return;
        }
        router_dispatch(rq);
}

/*
 * The first Origin line of a head the parser refused, in[0..len), into out (cap bytes; "" when
 * there is none or it is unreadable). Lines end at LF, with or without CR before it, up to
 * the blank line; empty lines before the request line are skipped like the parser does, the
 * request line too, and a line the input cuts short is not read. The value only selects
 * which cors_origins entry to answer with (cors_origin), so a head that is wrong elsewhere
 * can name it as well as a good one.
 */
static void refused_origin(const char *in, size_t len, char *out, size_t cap)
{
        const char *p = in, *end = in + len, *nl;
        bool request_line = true;

        out[0] = '\0';
        for (; p < end && (nl = memchr(p, '\n', (size_t)(end - p))); p = nl + 1) {
                size_t n = (size_t)(nl - p);
                int r;

                if (n && p[n - 1] == '\r')
                        n--;
                if (request_line) {
                        request_line = n == 0;
                        continue;
                }
                if (n == 0)
                        return;
                r = http1_field_line_value(p, n, "origin", out, cap);
                if (r != -ENOENT) {
                        if (r < 0)
                                out[0] = '\0';
                        return;
                }
        }
}

/* Parse c's head again from c->in, where reading its body may have moved it (c->head points
 * into the buffer); false when it does not parse as it did. */
static bool head_again(struct ctl_conn *c)
{
        int r = http1_req_parse(&c->parser, c->in.p, c->in.len, &c->srv->limits, &c->head);

        http1_parser_init(&c->parser);
        return r == (int)c->head_len;
}

/* Refuse the request in c->in with status. head_ok: the parser took its head (the refusal is
 * of its body's framing or size), so its Origin is read from c->head; otherwise from the raw
 * bytes. Either way the answer carries CORS as every other does, or a player on another
 * origin would see a network error where the status is. */
static void refuse(struct ctl_conn *c, int status, const char *detail, bool head_ok)
{
        const char *origin;
        size_t olen = 0;

        /* Reading the body may have moved c->in since the head was parsed. */
        if (head_ok && c->state == CS_READ_BODY && !head_again(c))
                head_ok = false;
        /* A request that cannot be framed cannot be followed by another on this connection;
         * its body may still be coming, so the close lingers. */
        c->close_after = true;
        c->lingers = true;
        c->head.keep_alive = false;
        c->head.method = HTTP_M_OTHER;
        c->head_len = c->in.len;
        c->body_len = 0;
        memset(&c->rq, 0, sizeof(c->rq));
        c->rq.ctl = c->srv->ctl;
        c->rq.conn = c;
        c->rq.id = c->id;
        c->rq.path = "-";
        c->rq.query = "";
        c->rq.start_us = uring_loop_clock_us();
        c->rq.head = &c->head;
        if (!head_ok) {
                refused_origin(c->in.p, c->in.len, c->rq.origin, sizeof(c->rq.origin));
        } else if ((origin = http1_req_known(&c->head, HK_ORIGIN, &olen)) &&
                   olen < sizeof(c->rq.origin)) {
                memcpy(c->rq.origin, origin, olen);
                c->rq.origin[olen] = '\0';
        }
        c->state = CS_HANDLING;
        c->refs++;
        ctl_reply_error(&c->rq, status,
                        status == 413   ? "payload_too_large"
                        : status == 401 ? "unauthorized"
                                        : "bad_request",
                        detail);
}

static void process_one(struct ctl_conn *c);

/*
 * Parse and dispatch what c->in holds. A handler that replies at once finishes its response
 * inside this call and makes the next pipelined request parsable; that request is taken by
 * this loop rather than by a nested call, so a burst of pipelined requests cannot grow the
 * stack with it.
 */
static void conn_process(struct ctl_conn *c)
{
        if (c->in_process) {
                c->again = true;
                return;
        }
        c->in_process = true;
        c->refs++; /* c stays allocated until this loop is done with it */
        do {
                c->again = false;
                process_one(c);
        } while (c->again && c->state != CS_CLOSED);
        c->in_process = false;
        conn_unref(c);
}

static void process_one(struct ctl_conn *c)
{
        struct ctl_server *srv = c->srv;

        if (c->state == CS_READ_HEAD) {
                int r = http1_req_parse(&c->parser, c->in.p, c->in.len, &srv->limits, &c->head);
                if (r == -EAGAIN) {
                        if (c->peer_eof)
                                conn_close(c, "peer closed mid-head");
                        return;
                }
                if (r < 0) {
                        int st = c->parser.status ? c->parser.status : 400;
                        const char *why = c->parser.reason ? c->parser.reason : "malformed request";

                        http1_parser_init(&c->parser); /* clears reason: read it first */
                        refuse(c, st, why, false);
                        return;
                }
                http1_parser_init(&c->parser);
                c->head_len = (size_t)r;
                /* A chunked body (RFC 9112 §7.1) is decoded in place as it arrives, under the
                 * same limit as a Content-Length (req-chunked.h). */
                c->chunked = c->head.chunked;
                if (c->chunked)
                        req_chunked_init(&c->ch);
                c->body_len = c->head.content_length > 0 ? (size_t)c->head.content_length : 0;
                /* Worked out now: c->head points into c->in, which reading the body may move
                 * (and, wiped, clear) before it is parsed again once whole. */
                int64_t limit = body_max(srv->ctl, &c->head);
                c->body_limit = (uint64_t)limit;
                if (c->head.content_length > limit) {
                        refuse(c, 413, "request body over the limit", true);
                        return;
                }
                /* Whether the client may still be waiting to send its body: a chunked one
                 * with none of it here yet, or a declared length not all here. */
                bool awaited = c->chunked
                                   ? c->in.len == c->head_len
                                   : c->body_len > 0 && c->in.len < c->head_len + c->body_len;
                /* A client waiting for 100 Continue is told at once when the body would only
                 * be read to be refused: an admin route without the admin token. */
                if (c->head.expect_continue && awaited && head_on_admin_route(&c->head) &&
                    !head_admin_ok(srv->ctl, &c->head)) {
                        refuse(c, 401, "admin routes need the bearer token", true);
                        return;
                }
                c->state = CS_READ_BODY;
                if (c->head.expect_continue && awaited) {
                        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
                        /* Best effort: a client that gets no 100 sends the body anyway. */
                        (void)send(c->fd, cont, sizeof(cont) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
                }
                /* Anyone's body has body_timeout from its head; one sent with the admin token
                 * (a registration of 7.6 MB for a 4-hour title) has it from its last byte. */
                c->body_admin = head_is_admin(srv->ctl, &c->head);
                deadline_set(c, (uint64_t)srv->ctl->cfg->body_timeout_ms);
        }
        if (c->state == CS_READ_BODY && c->chunked) {
                size_t len = c->in.len - c->head_len;
                int r = req_chunked_decode(&c->ch, c->in.p + c->head_len, &len, c->body_limit);
                if (r == -EMSGSIZE) {
                        refuse(c, 413, "request body over the limit", true);
                        return;
                }
                if (r == -EINVAL) {
                        refuse(c, 400, c->ch.why, true);
                        return;
                }
                /* The framing read is dropped: the body decoded so far, then (once whole) the
                 * bytes that followed it. */
                buf_truncate(&c->in, c->head_len + len);
                if (r == -EAGAIN) {
                        if (c->peer_eof)
                                conn_close(c, "peer closed mid-body");
                        return;
                }
                c->body_len = c->ch.out;
                c->chunked = false;
        }
        if (c->state == CS_READ_BODY) {
                if (c->in.len < c->head_len + c->body_len) {
                        if (c->peer_eof)
                                conn_close(c, "peer closed mid-body");
                        return;
                }
                /* Reading the body may have moved c->in: parse the head again so c->head
                 * points into the buffer as it stays while the handler runs. */
                if (!head_again(c)) {
                        conn_close(c, "head changed");
                        return;
                }
                dispatch(c);
        }
}

static void input(struct ctl_conn *c, const char *data, size_t n)
{
        switch (c->state) {
        case CS_HANDLING:
        case CS_SEND:
                /* After a refusal nothing more is read: the rest of its body is dropped. */
                if (c->lingers)
                        return;
                if (buf_append(&c->more, data, n) < 0)
                        conn_close(c, "pipelined input over limit");
                return;
        case CS_LINGER:
                c->linger_bytes += n;
                if (c->linger_bytes > LINGER_BYTES)
                        conn_close(c, "lingered over its byte bound");
                return;
        case CS_READ_HEAD:
        case CS_READ_BODY:
                if (c->in.len == 0 && c->state == CS_READ_HEAD) {
                        idle_del(c);
                        deadline_set(c, HEADER_TIMEOUT);
                }
                c->in.max = in_max(c);
                if (buf_append(&c->in, data, n) < 0) {
                        conn_close(c, "input over limit");
                        return;
                }
                conn_process(c);
                return;
        case CS_CLOSED:
                return;
        }
}

static void on_recv(struct ctl_conn *c, struct uring_loop *loop, const struct io_uring_cqe *cqe)
{
        bool more = cqe->flags & IORING_CQE_F_MORE;

        if (cqe->res > 0) {
                const char *data = uring_loop_cqe_buf(loop, cqe);
                if (data) {
                        input(c, data, (size_t)cqe->res);
                        /* Copied (or dropped): the ring's buffer keeps none of a secret for
                         * the next recv, of whichever connection, to leave behind. */
                        if (c->in.wipe)
                                explicit_bzero((void *)data, (size_t)cqe->res);
                }
                uring_loop_buf_recycle(loop, cqe);
                if (c->state == CS_READ_BODY && c->body_admin)
                        deadline_set(c, (uint64_t)c->srv->ctl->cfg->body_timeout_ms);
        } else {
                uring_loop_buf_recycle(loop, cqe);
        }
        if (c->state == CS_CLOSED)
                return;
        if (more)
                return;
        c->recv_armed = false;
        if (cqe->res == 0 || (cqe->res < 0 && cqe->res != -ENOBUFS)) {
                c->peer_eof = true;
                if (c->state == CS_LINGER)
                        conn_close(c, "lingered until the client closed");
                else if (c->state == CS_READ_HEAD && c->in.len == 0)
                        conn_close(c, "peer closed");
                else if (c->state == CS_READ_HEAD || c->state == CS_READ_BODY)
                        conn_process(c);
                else if (cqe->res < 0)
                        c->close_after = true; /* reset: nobody reads the answers */
                /* A clean half-close (after pipelined requests, as `nc -N` does) still gets
                 * every answer: response_done closes once the input is used up. */
                return;
        }
        if (uring_loop_recv_multishot(loop, c->slot, CTL_OP_RECV, c->fd) < 0)
                conn_close(c, "cannot re-arm recv");
        else
                c->recv_armed = true;
}

static void on_conn_cqe(struct uring_loop *loop, void *owner, const struct io_uring_cqe *cqe)
{
        struct ctl_conn *c = owner;

        switch (uring_loop_ud_op(cqe->user_data)) {
        case CTL_OP_RECV:
                on_recv(c, loop, cqe);
                break;
        case CTL_OP_SEND:
                on_send(c, cqe);
                break;
        default:
                break;
        }
}

static void peer_str(int fd, char *buf, size_t cap)
{
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);

        snprintf(buf, cap, "-");
        if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
                return;
        if (ss.ss_family == AF_INET) {
                (void)inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, buf, (socklen_t)cap);
        } else if (ss.ss_family == AF_INET6) {
                const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
                /* A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d. */
                if (IN6_IS_ADDR_V4MAPPED(a))
                        (void)inet_ntop(AF_INET, &a->s6_addr[12], buf, (socklen_t)cap);
                else
                        (void)inet_ntop(AF_INET6, a, buf, (socklen_t)cap);
        }
}

static void conn_accept(struct ctl_server *srv, int fd)
{
        struct uring_loop *loop = srv->ctl->loop;
        struct ctl_conn *c;
        int one = 1;

        if (srv->n_conns >= (unsigned)srv->ctl->cfg->max_connections && srv->idle_head) {
                metrics_add(srv->ctl->m.conns_idle_closed, 1);
                conn_close(srv->idle_head, "idle at max_connections: room for a new one");
        }
        if (srv->n_conns >= (unsigned)srv->ctl->cfg->max_connections) {
                /* Counted: players closed at once leave no other trace. */
                metrics_add(srv->ctl->m.conns_refused, 1);
                (void)close(fd);
                return;
        }
        c = calloc(1, sizeof(*c));
        if (!c) {
                (void)close(fd);
                return;
        }
        c->srv = srv;
        c->fd = fd;
        c->id = ++srv->conn_seq;
        c->refs = 1;
        buf_init(&c->in, HEAD_MAX + PIPELINE_MAX); /* in_max() sets it before each append */
        buf_init(&c->more, PIPELINE_MAX);
        /* What clients send holds secrets (the admin token, a registration's content key, an
         * edge's secret, a profile's key): what the connection reads is cleared before its
         * memory is freed, moved or reused, and the ring's buffer once copied (on_recv). */
        c->in.wipe = c->more.wipe = true;
        c->state = CS_READ_HEAD;
        http1_parser_init(&c->parser);
        uring_timer_init(&c->timer, on_conn_timer);
        if (uring_loop_slot_alloc(loop, c, free_conn_slot, &c->slot) < 0) {
                (void)close(fd);
                free(c);
                return;
        }
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        peer_str(fd, c->peer, sizeof(c->peer));
        c->next = srv->conns;
        if (srv->conns)
                srv->conns->prev = c;
        srv->conns = c;
        srv->n_conns++;
        metrics_gauge_add(srv->ctl->m.conns_open, 1);
        if (uring_loop_recv_multishot(loop, c->slot, CTL_OP_RECV, fd) < 0) {
                conn_close(c, "cannot arm recv");
                return;
        }
        c->recv_armed = true;
        deadline_set(c, HEADER_TIMEOUT);
        idle_add(c);
}

/* ---- listeners ---- */

/* The accepts wait ACCEPT_RETRY_MS: re-armed at once, one that fails again would fail at once,
 * a core's worth, while the pending connections wait in the backlog. Said once (why) until
 * an accept works again. */
static void accept_later(struct listener *l, const char *why)
{
        struct uring_loop *loop = l->srv->ctl->loop;

        if (!l->starved)
                log_warn("accept on port %u: %s (%u connections open); trying again every %u ms",
                         l->port, why, l->srv->n_conns, ACCEPT_RETRY_MS);
        l->starved = true;
        if (l->open && !uring_timer_armed(&l->retry))
                (void)uring_timer_arm(loop, &l->retry, uring_loop_now_ms(loop) + ACCEPT_RETRY_MS);
}

static void accept_arm(struct listener *l)
{
        if (l->open && uring_loop_accept_multishot(l->srv->ctl->loop, l->slot, CTL_OP_ACCEPT,
                                                   l->fd) < 0)
                accept_later(l, "cannot arm the accept");
}

static void on_accept_retry(struct uring_loop *loop, struct uring_timer *t)
{
        (void)loop;
        accept_arm((struct listener *)((char *)t - offsetof(struct listener, retry)));
}

static void on_accept(struct uring_loop *loop, void *owner, const struct io_uring_cqe *cqe)
{
        struct listener *l = owner;
        int err = cqe->res < 0 ? -cqe->res : 0;
        /* One connection's trouble (gone before it was taken, or a filter refused it) ends
         * that accept only; any other error may come again at once (a full descriptor table,
         * or a listener the kernel closed under us: `ss -K` makes every accept EINVAL). */
        bool transient = err == 0 || err == ECONNABORTED || err == EINTR || err == EAGAIN ||
                         err == EPERM || err == EPROTO || err == ECANCELED;

        (void)loop;
        if (cqe->res >= 0) {
                l->starved = false;
                if (!l->open || l->srv->draining)
                        (void)close(cqe->res);
                else
                        conn_accept(l->srv, cqe->res);
        } else if (!transient) {
                if (!(cqe->flags & IORING_CQE_F_MORE))
                        accept_later(l, strerror(err));
                return;
        } else if (err != ECANCELED) {
                log_debug("accept failed: %s", strerror(err));
        }
        if (!(cqe->flags & IORING_CQE_F_MORE))
                accept_arm(l);
}

static void free_listener(struct uring_loop *loop, void *owner)
{
        struct listener *l = owner;

        uring_timer_cancel(loop, &l->retry);
        (void)close(l->fd);
        free(l);
}

static void on_cqe(struct uring_loop *loop, void *owner, const struct io_uring_cqe *cqe)
{
        /* Listeners and connections share op codes by kind; the owner type follows the op. */
        if (uring_loop_ud_op(cqe->user_data) == CTL_OP_ACCEPT)
                on_accept(loop, owner, cqe);
        else
                on_conn_cqe(loop, owner, cqe);
}

static int listen_on(struct ctl_server *srv, const char *addr_s)
{
        struct listener *l;
        struct sockaddr_storage ss;
        socklen_t sl;
        int fd, one = 1, r;

        r = net_addr_parse(addr_s, &ss, &sl);
        if (r < 0)
                return r;
        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        uring_timer_init(&l->retry, on_accept_retry);
        fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
                free(l);
                return -errno;
        }
        /* SO_REUSEPORT lets several instances (or a restarting one) share the port. */
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
            setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0 ||
            bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 1024) < 0) {
                r = -errno;
                (void)close(fd);
                free(l);
                return r;
        }
        sl = sizeof(ss);
        if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
                l->port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                                        : ((struct sockaddr_in6 *)&ss)->sin6_port);
        l->srv = srv;
        l->fd = fd;
        r = uring_loop_slot_alloc(srv->ctl->loop, l, free_listener, &l->slot);
        if (r < 0) {
                (void)close(fd);
                free(l);
                return r;
        }
        l->open = true;
        srv->listeners[srv->n_listeners++] = l;
        r = uring_loop_accept_multishot(srv->ctl->loop, l->slot, CTL_OP_ACCEPT, fd);
        if (r < 0)
                return r;
        log_info("listening on %s (port %u)", addr_s, l->port);
        return 0;
}

int ctl_server_start(struct ctl *ctl, struct ctl_server **ret)
{
        struct ctl_server *srv = calloc(1, sizeof(*srv));
        int r;

        if (!srv)
                return -ENOMEM;
        srv->ctl = ctl;
        srv->limits = (struct http1_limits){.max_header_bytes = HEAD_MAX,
                                            .max_target = CTL_TARGET_MAX, .max_headers = 64};
        uring_loop_set_handler(ctl->loop, CTL_OP_ACCEPT, on_cqe);
        uring_loop_set_handler(ctl->loop, CTL_OP_RECV, on_cqe);
        uring_loop_set_handler(ctl->loop, CTL_OP_SEND, on_cqe);
        uring_loop_set_handler(ctl->loop, CTL_OP_CANCEL, on_cqe);
        for (size_t i = 0; i < ctl->cfg->listen.n && i < LISTEN_MAX; i++) {
                r = listen_on(srv, ctl->cfg->listen.items[i]);
                if (r < 0) {
                        log_error("cannot listen on %s: %s", ctl->cfg->listen.items[i],
                                  strerror(-r));
                        ctl_server_free(srv);
                        return r;
                }
        }
        *ret = srv;
        return 0;
}

void ctl_server_drain(struct ctl_server *srv)
{
        struct ctl_conn *c, *next;

        srv->draining = true;
        for (size_t i = 0; i < srv->n_listeners; i++) {
                struct listener *l = srv->listeners[i];
                if (!l->open)
                        continue;
                l->open = false;
                uring_timer_cancel(srv->ctl->loop, &l->retry);
                if (uring_loop_cancel_fd(srv->ctl->loop, l->slot, CTL_OP_CANCEL, l->fd) < 0)
                        (void)shutdown(l->fd, SHUT_RDWR);
                uring_loop_slot_close(srv->ctl->loop, l->slot);
        }
        for (c = srv->conns; c; c = next) {
                next = c->next;
                if (c->state == CS_READ_HEAD && c->in.len == 0)
                        conn_close(c, "drain");
                else
                        c->close_after = true;
        }
}

unsigned ctl_server_conns(const struct ctl_server *srv)
{
        return srv->n_conns;
}

unsigned ctl_server_port(const struct ctl_server *srv)
{
        return srv->n_listeners ? srv->listeners[0]->port : 0;
}

void ctl_server_free(struct ctl_server *srv)
{
        if (!srv)
                return;
        if (!srv->draining)
                ctl_server_drain(srv);
        while (srv->conns)
                conn_close(srv->conns, "shutdown");
        free(srv);
}
