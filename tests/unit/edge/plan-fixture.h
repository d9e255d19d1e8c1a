/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * What serve-plan.c and serve-admit.c read of a connection, built from the edge's own
 * structures without a ring or a socket: a configuration, its runtime snapshot, a server with
 * a real metrics registry, one client worker and one connection. Requests are parsed from
 * HTTP/1.1 text by the parser request.c uses, so a test sees the request view the edge sees.
 */
#include <stdio.h>
#include <time.h>

#include "http-cond.h"
#include "http1-parse.h"
#include "metrics.h"
#include "tests.h"

#include "access-log.h"
#include "conn.h"
#include "edge-cfg.h"
#include "serve-plan.h"
#include "store.h"
#include "worker.h"

#define FIX_LM      ((time_t)1700000000)
#define FIX_LM_TEXT "Tue, 14 Nov 2023 22:13:20 GMT"
#define FIX_ETAG    "\"3f2a9c\""
/* The CORS fields of every client response under cors_origins ["*"], in their order. */
#define CORS_ANY                                                                                   \
        "Access-Control-Allow-Origin, Access-Control-Expose-Headers, Timing-Allow-Origin"

struct plan_fixture {
        struct edge_cfg cfg;
        struct edge_runtime rt;
        struct edge_server srv;
        struct edge_worker w;
        struct conn c;
        struct store_obj obj;
        char *origins[2];
        char req_buf[4096];
        struct http1_req req;
};

/* One fixture per test executable, reset by fix_init() at the start of each test. */
static struct plan_fixture fix;

/* cors: NULL for the default (any origin), else the one listed origin. */
static void fix_init(const char *edge_id, const char *cors)
{
        if (fix.srv.reg)
                metrics_reg_free(fix.srv.reg);
        memset(&fix, 0, sizeof(fix));
        fix.cfg.control.edge_id = (char *)edge_id;
        /* As the config's default, ["*"]: an empty list means no CORS fields (cors.c). */
        fix.origins[0] = cors ? (char *)cors : (char *)"*";
        fix.cfg.cors_origins.items = fix.origins;
        fix.cfg.cors_origins.n = 1;
        fix.rt.cfg = &fix.cfg;
        fix.srv.reg = metrics_reg_new();
        if (!fix.srv.reg || edge_metrics_init(&fix.srv.m, fix.srv.reg, 1) < 0) {
                fprintf(stderr, "metrics registry: out of memory\n");
                exit(1);
        }
        fix.w.srv = &fix.srv;
        fix.w.rt = &fix.rt;
        access_log_buf_init(&fix.w.alog, -1);
        fix.c.w = &fix.w;
        fix.c.id = 1;
        fix.c.fd = -1;
        fix.c.peer_known = true; /* no socket: an unknown peer */
        fix.obj.fd = -1;
        fix.obj.size = 1000;
        fix.obj.last_modified = FIX_LM;
        (void)snprintf(fix.obj.etag, sizeof(fix.obj.etag), "%s", FIX_ETAG);
}

/* Parse "METHOD target" plus header lines (each ending in CRLF) as request.c would. */
static struct http1_req *fix_req(const char *method, const char *target, const char *hdrs)
{
        struct http1_parser ps;
        int n = snprintf(fix.req_buf, sizeof(fix.req_buf), "%s %s HTTP/1.1\r\nHost: edge\r\n%s\r\n",
                         method, target, hdrs ? hdrs : "");

        if (n < 0 || (size_t)n >= sizeof(fix.req_buf)) {
                fprintf(stderr, "request too long for the fixture\n");
                exit(1);
        }
        http1_parser_init(&ps);
        if (http1_req_parse(&ps, fix.req_buf, (size_t)n, NULL, &fix.req) != n) {
                fprintf(stderr, "fixture request refused by the parser: %s\n", fix.req_buf);
                exit(1);
        }
        return &fix.req;
}

/* The value of a field as a string (one static buffer), or NULL when the plan has none. */
static const char *hdr(const struct serve_plan *p, const char *name)
{
        static char v[SERVE_PLAN_ARENA + 1];

        for (size_t i = 0; i < p->n_hdrs; i++)
                if (strcmp(p->hdrs[i].name, name) == 0) {
                        (void)snprintf(v, sizeof(v), "%.*s", (int)p->hdrs[i].value_len,
                                       p->hdrs[i].value);
                        return v;
                }
        return NULL;
}

/* The field names in order, joined by ", " (one static buffer). */
static const char *hdr_names(const struct serve_plan *p)
{
        static char out[SERVE_PLAN_HDRS * 40];
        size_t len = 0;

        out[0] = '\0';
        for (size_t i = 0; i < p->n_hdrs && len < sizeof(out); i++)
                len += (size_t)snprintf(out + len, sizeof(out) - len, "%s%s", i ? ", " : "",
                                        p->hdrs[i].name);
        return out;
}

/* "name: " and n entity tags "0000000000000000"..., none a fixture's, then tail, into line;
 * CRLF-ended, about 20 bytes a tag. */
static inline const char *tag_list_line(char *line, size_t cap, const char *name, unsigned n,
                                        const char *tail)
{
        size_t len = (size_t)snprintf(line, cap, "%s: ", name);

        for (unsigned i = 0; i < n; i++)
                len += (size_t)snprintf(line + len, cap - len, "%s\"%016x\"", i ? ", " : "", i);
        (void)snprintf(line + len, cap - len, "%s\r\n", tail);
        return line;
}
