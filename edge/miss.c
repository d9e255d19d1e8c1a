/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http-range.h"
#include "http-resp.h"
#include "http1-parse.h"
#include "log.h"
#include "metrics.h"
#include "path-norm.h"

#include "conn.h"
#include "edge-cfg.h"
#include "evict.h"
#include "fill.h"
#include "hit.h"
#include "miss.h"
#include "request.h"
#include "worker.h"

#define CACHE_STATUS_MAX 320

const char *miss_cache_name(const struct edge_worker *w)
{
        const char *id = w->rt->cfg->control.edge_id;

        return id && *id ? id : "sluice";
}

void miss_notify(struct edge_worker *w)
{
        if (!atomic_exchange(&w->miss_kick, true) && w->loop)
                (void)uring_loop_wake(w->loop);
}

static void unlink_wait(struct edge_worker *w, struct miss_wait *mw)
{
        if (mw->prev)
                mw->prev->next = mw->next;
        else if (w->miss_waiters == mw)
                w->miss_waiters = mw->next;
        if (mw->next)
                mw->next->prev = mw->prev;
        mw->prev = mw->next = NULL;
}

void miss_release(struct conn *c)
{
        struct miss_wait *mw = c->mw;

        if (!mw)
                return;
        c->mw = NULL;
        unlink_wait(c->w, mw);
        fill_unref(mw->fill);
        free(mw);
}

uint64_t miss_body_avail(struct conn *c, bool *ret_failed)
{
        struct fill *f = c->mw->fill;

        *ret_failed = fill_state_get(f) == FILL_FAILED;
        return fill_avail(f);
}

/*
 * The request as far as a later response needs it (CORS Origin, HTTP version), rebuilt in
 * the worker's scratch request: the original pointed into input that is gone by now.
 */
static const struct http1_req *saved_req(struct miss_wait *mw)
{
        struct http1_req *req = &mw->c->w->req;

        req->method = mw->head_only ? HTTP_M_HEAD : HTTP_M_GET;
        req->minor = mw->minor;
        req->n_hdrs = 0;
        for (unsigned i = 0; i < HK_COUNT; i++)
                req->known[i] = -1;
        if (mw->origin_len) {
                req->hdrs[0].name = "Origin";
                req->hdrs[0].name_len = 6;
                req->hdrs[0].value = mw->origin;
                req->hdrs[0].value_len = (uint16_t)mw->origin_len;
                req->known[HK_ORIGIN] = 0;
                req->n_hdrs = 1;
        }
        return req;
}

static void cache_status(struct miss_wait *mw, int fwd_status, char *out, size_t cap)
{
        const struct fill *f = mw->fill;
        const char *up = f && f->upstream_status[0] ? f->upstream_status : NULL;

        if (fwd_status)
                (void)snprintf(out, cap, "%s%s%s; fwd=miss; fwd-status=%d%s", up ? up : "",
                               up ? ", " : "", miss_cache_name(mw->c->w), fwd_status,
                               mw->collapsed ? "; collapsed" : "");
        else
                (void)snprintf(out, cap, "%s; fwd=miss; detail=%s%s", miss_cache_name(mw->c->w),
                               f && f->verdict == 503 ? "store-full" : "upstream-failed",
                               mw->collapsed ? "; collapsed" : "");
}

static void respond_text(struct conn *c, const struct http1_req *req, int status,
                         const char *cstatus)
{
        struct http_resp hr;
        char body[64];

        request_head_start(c, req, &hr, status);
        http_resp_header(&hr, "Cache-Status", cstatus, strlen(cstatus));
        if (status == 404) /* the negative entry's lifetime, at most a few seconds */
                http_resp_header(&hr, "Cache-Control", "max-age=2", 9);
        else
                http_resp_header(&hr, "Cache-Control", "no-store", 8);
        (void)snprintf(body, sizeof(body), "%d %s\n", status, http_status_reason(status));
        request_respond_text(c, req, &hr, body);
}

static void respond_body(struct miss_wait *mw, const struct http1_req *req)
{
        struct conn *c = mw->c;
        struct fill *f = mw->fill;
        struct http_range rg = {0};
        enum http_range_result rr = HTTP_RANGE_NONE;
        struct conn_resp resp = {0};
        struct http_resp hr;
        char cstatus[CACHE_STATUS_MAX];
        const char *ctype, *cc;
        uint64_t off = 0, len = f->size;
        int status = 200, n;

        if (mw->range[0])
                rr = http_range_parse(mw->range, strlen(mw->range), f->size, &rg);
        if (rr == HTTP_RANGE_UNSATISFIABLE) {
                request_head_start(c, req, &hr, 416);
                http_resp_headerf(&hr, "Content-Range", "bytes */%llu",
                                  (unsigned long long)f->size);
                cache_status(mw, 200, cstatus, sizeof(cstatus));
                http_resp_header(&hr, "Cache-Status", cstatus, strlen(cstatus));
                mw->head_sent = true;
                request_respond_text(c, req, &hr, NULL);
                return;
        }
        if (rr == HTTP_RANGE_SINGLE) {
                status = 206;
                off = rg.first;
                len = rg.last - rg.first + 1;
                metrics_add(c->w->srv->m.ranges, 1);
        }
        ctype = f->ctype[0] ? f->ctype : http_content_type_for(mw->key, mw->key_len);
        cc = hit_cache_control(mw->key, mw->key_len);
        request_head_start(c, req, &hr, status);
        http_resp_header(&hr, "Content-Type", ctype, strlen(ctype));
        http_resp_header_u64(&hr, "Content-Length", len);
        if (status == 206)
                http_resp_headerf(&hr, "Content-Range", "bytes %llu-%llu/%llu",
                                  (unsigned long long)rg.first, (unsigned long long)rg.last,
                                  (unsigned long long)f->size);
        if (f->has_sha) {
                /* The same strong tag the store gives the committed object. */
                char etag[19];
                etag[0] = '"';
                for (int i = 0; i < 16; i++)
                        etag[1 + i] = (char)tolower((unsigned char)f->sha_hex[i]);
                etag[17] = '"';
                etag[18] = '\0';
                http_resp_header(&hr, "ETag", etag, 18);
                if (mw->peer)
                        http_resp_header(&hr, "X-Sluice-SHA256", f->sha_hex, 64);
        }
        http_resp_header(&hr, "Cache-Control", cc, strlen(cc));
        http_resp_header(&hr, "Accept-Ranges", "bytes", 5);
        cache_status(mw, 200, cstatus, sizeof(cstatus));
        http_resp_header(&hr, "Cache-Status", cstatus, strlen(cstatus));
        n = http_resp_finish(&hr);
        if (n < 0) {
                log_conn(LOG_LVL_ERROR, c->id, "response head overflow, closing");
                conn_close(c, "head overflow");
                return;
        }
        resp.status = status;
        resp.head = hr.buf;
        resp.head_len = (size_t)n;
        resp.from_fill = true;
        resp.fill_fd = f->rfd;
        resp.off = off;
        resp.len = mw->head_only ? 0 : len;
        resp.client = true;
        mw->head_sent = true;
        conn_respond(c, &resp); /* may release mw */
}

/* Answer what the fill allows now. req: the live request, or NULL (rebuilt). */
static void advance(struct miss_wait *mw, const struct http1_req *req)
{
        struct conn *c = mw->c;
        char cstatus[CACHE_STATUS_MAX];

        if (mw->head_sent) {
                conn_output_resume(c);
                return;
        }
        switch (fill_state_get(mw->fill)) {
        case FILL_PENDING:
                return;
        case FILL_MISSING:
                mw->head_sent = true;
                cache_status(mw, 404, cstatus, sizeof(cstatus));
                respond_text(c, req ? req : saved_req(mw), 404, cstatus);
                break;
        case FILL_FAILED:
                mw->head_sent = true;
                cache_status(mw, 0, cstatus, sizeof(cstatus));
                respond_text(c, req ? req : saved_req(mw), mw->fill->verdict == 503 ? 503 : 502,
                             cstatus);
                break;
        case FILL_BODY:
        case FILL_DONE:
                respond_body(mw, req ? req : saved_req(mw));
                break;
        }
        if (!req)
                conn_resume_input(c);
}

void miss_worker_kick(struct edge_worker *w)
{
        struct miss_wait *mw, *next;

        if (!atomic_exchange(&w->miss_kick, false))
                return;
        for (mw = w->miss_waiters; mw; mw = next) {
                next = mw->next;
                advance(mw, NULL);
        }
}

void miss_serve(struct conn *c, const struct http1_req *req, const struct path_norm *pn,
                bool peer)
{
        struct edge_worker *w = c->w;
        struct edge_metrics *m = &w->srv->m;
        struct miss_wait *mw;
        const char *v;
        size_t vlen;
        char cstatus[CACHE_STATUS_MAX];
        bool created;
        int r;

        metrics_add(m->misses, 1);
        evict_access(w->srv, pn->key, pn->key_len, 0); /* the admission sketch counts it */
        if (w->rt->cfg->upstreams.n == 0 || !w->up) {
                (void)snprintf(cstatus, sizeof(cstatus), "%s; fwd=miss; detail=no-upstream",
                               miss_cache_name(w));
                respond_text(c, req, 404, cstatus);
                return;
        }
        mw = calloc(1, sizeof(*mw) + pn->key_len + 1);
        if (!mw) {
                conn_close(c, "out of memory");
                return;
        }
        r = fill_get(w, pn->key, pn->key_len, &mw->fill, &created);
        if (r < 0) {
                free(mw);
                if (r == -ENOENT) {
                        metrics_add(m->negative_hits, 1);
                        (void)snprintf(cstatus, sizeof(cstatus), "%s; hit; detail=negative",
                                       miss_cache_name(w));
                        respond_text(c, req, 404, cstatus);
                } else {
                        conn_close(c, "out of memory");
                }
                return;
        }
        mw->c = c;
        mw->collapsed = !created;
        if (!created)
                metrics_add(m->collapsed, 1);
        mw->head_only = req->method == HTTP_M_HEAD;
        mw->minor = req->minor;
        mw->peer = peer;
        memcpy(mw->key, pn->key, pn->key_len);
        mw->key_len = pn->key_len;
        /* If-Range needs validators a miss does not have yet: send the whole object. */
        v = http1_req_known(req, HK_RANGE, &vlen);
        if (v && vlen < sizeof(mw->range) && !http1_req_known(req, HK_IF_RANGE, &(size_t){0})) {
                memcpy(mw->range, v, vlen);
                mw->range[vlen] = '\0';
        }
        v = http1_req_known(req, HK_ORIGIN, &vlen);
        if (v && vlen < sizeof(mw->origin)) {
                memcpy(mw->origin, v, vlen);
                mw->origin_len = vlen;
        }
        mw->next = w->miss_waiters;
        if (w->miss_waiters)
                w->miss_waiters->prev = mw;
        w->miss_waiters = mw;
        c->mw = mw;
        /* Watch before looking, so progress made in between still kicks this worker. */
        fill_watch(mw->fill, w->idx);

        advance(mw, req);
        if (c->state != CONN_CLOSED && c->mw == mw && !mw->head_sent)
                conn_wait_miss(c);
}
