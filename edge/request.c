/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include "http-resp.h"
#include "http1-parse.h"
#include "log.h"
#include "path-norm.h"

#include "admin.h"
#include "conn.h"
#include "edge-metrics.h"
#include "fill.h"
#include "hit.h"
#include "request.h"
#include "serve-admit.h"
#include "serve-plan.h"
#include "worker.h"

void request_head_start(struct conn *c, const struct http1_req *req, struct http_resp *hr,
                        int status)
{
        c->req_status = status;
        http_resp_start(hr, c->w->head, sizeof(c->w->head), status);
        if (c->close_after || c->w->draining)
                http_resp_header(hr, "Connection", "close", 5);
        else if (req && req->minor == 0)
                http_resp_header(hr, "Connection", "keep-alive", 10);
}

/* The access log's upstream= for the response, cut to fit; "" when none (every hit). */
static void upstream_keep(struct conn *c, const char *url)
{
        size_t n = url ? strnlen(url, sizeof(c->req_upstream) - 1) : 0;

        memcpy(c->req_upstream, url ? url : "", n);
        c->req_upstream[n] = '\0';
}

void request_render(struct conn *c, const struct http1_req *req, const struct serve_plan *p)
{
        struct conn_resp r = {0};
        struct http_resp hr;
        int n;

        request_head_start(c, req, &hr, p->status);
        for (size_t i = 0; i < p->n_hdrs; i++)
                http_resp_header_named(&hr, p->hdrs[i].name, p->hdrs[i].name_len,
                                       p->hdrs[i].value, p->hdrs[i].value_len);
        n = http_resp_finish(&hr);
        if (n < 0 || p->overflow) {
                log_conn(LOG_LVL_ERROR, c->id, "response head overflow, closing");
                /* The connection never takes the file: its object is released here. */
                if (p->body == SERVE_BODY_FILE && p->obj)
                        store_obj_release(c->w->reader, p->obj);
                conn_close(c, "head overflow");
                return;
        }
        c->req_cache = p->log_cache;
        upstream_keep(c, p->log_upstream);
        r.status = p->status;
        r.head = hr.buf;
        r.head_len = (size_t)n;
        r.client = !c->admin;
        switch (p->body) {
        case SERVE_BODY_NONE:
                break;
        case SERVE_BODY_TEXT:
                if (!p->head_only) {
                        r.body = p->text;
                        r.body_len = p->len;
                }
                break;
        case SERVE_BODY_FILE:
                r.obj = p->obj;
                r.off = p->off;
                r.len = p->head_only ? 0 : p->len;
                break;
        case SERVE_BODY_FILL:
                r.from_fill = true;
                r.fill_fd = p->fill->rfd;
                r.off = p->off;
                r.len = p->head_only ? 0 : p->len;
                break;
        }
        conn_respond(c, &r);
}

void request_refuse(struct conn *c, int status, const char *reason, const char *origin,
                    size_t origin_len, bool head_only)
{
        struct serve_plan p;

        c->close_after = true;
        serve_log_begin(c, NULL, NULL);
        if (c->admin) {
                /* The admin API's errors are JSON, the parser's too. */
                admin_refuse(c, status, reason ? reason : http_status_reason(status), head_only);
                return;
        }
        edge_metrics_refusal(&c->w->srv->m, status);
        serve_plan_refused(&p, c, origin, origin_len, head_only, status);
        request_render(c, NULL, &p);
}

void request_handle(struct conn *c, const struct http1_req *req)
{
        struct serve_plan p;
        struct path_norm pn;
        char pathless[WORKER_MAX_TARGET + 1];
        const char *target;
        size_t target_len;
        bool has_body = req->chunked || req->content_length > 0;
        bool peer;

        if (!req->keep_alive || c->w->draining)
                c->close_after = true;
        /* A body we will not read would be taken for the next request: close after. */
        if (has_body)
                c->close_after = true;

        /* RFC 9112 §3.2.2: the absolute-form's authority, checked by the parser, overrides
         * Host, which matters only to a token's scope (http1_req_authority()): every name
         * serves the same objects. A URI with no path names "/", its query kept. */
        if (http1_origin_form(req->target, req->target_len, &target, &target_len) &&
            target_len < sizeof(pathless)) { /* it is: the target is at most max_target */
                pathless[0] = '/';
                memcpy(pathless + 1, target, target_len);
                target = pathless;
                target_len++;
        }
        if (serve_admit(&p, c, req, target, target_len, has_body, &pn, &peer)) {
                request_render(c, req, &p);
                return;
        }
        hit_serve(c, req, &pn, peer);
}
