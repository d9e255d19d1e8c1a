/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ctl-cfg.h"
#include "http1-parse.h"
#include "route-match.h"

/*
 * The control HTTP/1.1 server on the uring loop: listeners, keep-alive connections, bounded
 * request bodies (Content-Length only), one request in flight per connection (later pipelined
 * requests wait in a side buffer, so pointers into the current request stay valid however
 * long its handler waits on PostgreSQL), and replies that a handler may send at once or from
 * a database callback.
 */

/* The longest request-target taken (414 past it): RFC 9112 §3 recommends request lines of
 * 8,000 octets at least, and a steering URL with its session id, its pathways and what the
 * player adds to it comes within half of that. The head's 16 KiB still bound it all. */
#define CTL_TARGET_MAX 8192

struct ctl;
struct ctl_conn;
struct ctl_server;
struct pgdb_res;


/*
 * One request. Owned by its connection; valid from the handler call until the handler (or its
 * callback) calls one of the ctl_reply* functions, exactly once. The connection may have
 * closed meanwhile: replying is still required and then only releases the request.
 */
struct ctl_req {
        struct ctl *ctl;
        struct ctl_conn *conn;
        uint64_t id;
        enum http_method method;
        const struct http1_req *head; /* borrowed; valid until the reply */
        const char *path;             /* path as sent (not percent-decoded), NUL-terminated */
        size_t path_len;
        const char *query;            /* after '?', NUL-terminated, "" when none */
        size_t query_len;
        const char *body;             /* Content-Length bytes (not NUL-terminated) */
        size_t body_len;
        char peer[64];                /* socket peer address */
        char client[64];              /* client address after trusted-proxy handling */
        char origin[CTL_ORIGIN_MAX];  /* Origin header, "" when absent */
        /* Path segments a route captured ("*"), NUL-terminated (route-match.h). */
        char arg[ROUTE_ARGS][ROUTE_ARG_CAP];
        uint64_t start_us;
        bool replied;
        void *handler_data;           /* for the handler's own use */
};

typedef void (*ctl_handler_fn)(struct ctl_req *rq);

/* Start listening on every cfg->listen address. Returns 0 or -errno (msg in log). Start-up. */
int ctl_server_start(struct ctl *ctl, struct ctl_server **ret);
/* Stop accepting, close idle connections, finish the rest with Connection: close. */
void ctl_server_drain(struct ctl_server *srv);
/* Open connections (for draining). */
unsigned ctl_server_conns(const struct ctl_server *srv);
/* Free the server once drained (the loop must still exist). */
void ctl_server_free(struct ctl_server *srv);
/* The first listener's bound port (tests with port 0). */
unsigned ctl_server_port(const struct ctl_server *srv);

/* ---- replies (each ends the request) ---- */

/*
 * Send status with body[0..len) of content type ctype (NULL: no body headers for 204/304).
 * extra is NULL or a NULL-terminated array of {name, value} pairs. The body is copied.
 */
void ctl_reply(struct ctl_req *rq, int status, const char *ctype, const char *body, size_t len,
               const char *const *extra);
/* JSON reply; takes a reference to (steals) v. */
void ctl_reply_json(struct ctl_req *rq, int status, json_t *v);
/* Error reply {"error","detail"}; 503 carries Retry-After, 401 WWW-Authenticate. */
void ctl_reply_error(struct ctl_req *rq, int status, const char *error, const char *detail);
/*
 * Map a pgdb completion error to a reply: SQL errors by SQLSTATE (project codes SLnnn → nnn,
 * arithmetic faults → 500, other data errors → 400, unique violation → 409), and database
 * unavailability/timeout → 503.
 */
void ctl_reply_db_error(struct ctl_req *rq, int err, const struct pgdb_res *res);
/* The same for an SQL error given as its SQLSTATE and message (both borrowed). */
void ctl_reply_sql_error(struct ctl_req *rq, const char *state, const char *msg);

/* ---- request helpers ---- */

/*
 * Query parameter name, percent-decoded ('+' is a space), into buf (cap bytes, NUL-terminated).
 * Returns its length, -ENOENT absent, -E2BIG too long, -EINVAL bad escape or a NUL/control byte.
 */
int ctl_query_get(const struct ctl_req *rq, const char *name, char *buf, size_t cap);

/*
 * Parse the body as a JSON object with at most depth levels of nesting. Returns 0 with *ret
 * (caller's reference) or replies 400/415 itself and returns -EINVAL.
 */
int ctl_body_json(struct ctl_req *rq, size_t max_depth, json_t **ret);

/* Whether the request's Content-Type, when it has one, is application/json or text/plain
 * (parameters aside); otherwise replies 415 itself. */
bool ctl_body_type_ok(struct ctl_req *rq);

/* Whether the request carries the admin bearer token (constant-time compare). */
bool ctl_req_admin_ok(const struct ctl_req *rq);

