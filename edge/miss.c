/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http-cond.h"
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
#include "prefetch.h"
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

/* ETag (the same strong tag the store gives the committed object) and Last-Modified, as
 * far as the fill knows them. */
static void validator_headers(struct http_resp *hr, struct fill *f)
{
        char etag[FILL_ETAG_LEN + 1], date[HTTP_DATE_LEN + 1];

        if (fill_etag(f, etag))
                http_resp_header(hr, "ETag", etag, FILL_ETAG_LEN);
        if (f->last_modified > 0 && http_date_format(f->last_modified, date) == HTTP_DATE_LEN)
                http_resp_header(hr, "Last-Modified", date, HTTP_DATE_LEN);
}

static bool has_cond(const struct miss_wait *mw)
{
        return mw->if_none_match[0] || mw->if_match[0] || mw->if_modified_since[0] ||
               mw->if_unmodified_since[0];
}

/*
 * The preconditions of a request waiting on a fill with a head (FILL_BODY or FILL_DONE):
 * 304, 412, 0 to send the body, or -EAGAIN while an entity-tag condition waits for the
 * ETag (the end of the fill).
 */
static int cond_eval(struct miss_wait *mw)
{
        struct fill *f = mw->fill;
        struct http_cond_hdrs ch = {0};
        struct http_validators v = {0};
        char etag[FILL_ETAG_LEN + 1];

        if (!has_cond(mw))
                return 0;
        if (fill_etag(f, etag)) {
                v.etag = etag;
                v.etag_len = FILL_ETAG_LEN;
        } else if (mw->if_none_match[0] || mw->if_match[0]) {
                return -EAGAIN;
        } else {
                v.etag = "";
        }
        v.last_modified = f->last_modified;
#define COND(field)                                                                   \
        if (mw->field[0]) {                                                           \
                ch.field = mw->field;                                                 \
                ch.field##_len = strlen(mw->field);                                   \
        }
        COND(if_none_match)
        COND(if_match)
        COND(if_modified_since)
        COND(if_unmodified_since)
#undef COND
        return http_cond_eval(&ch, &v);
}

/* Whether a Range may be honoured: no If-Range, or one that matches the validators known
 * now (an entity-tag not yet known does not match: the whole object is sent). */
static bool if_range_ok(struct miss_wait *mw)
{
        struct http_cond_hdrs ch = {0};
        struct http_validators v = {0};
        char etag[FILL_ETAG_LEN + 1];

        if (!mw->if_range[0])
                return true;
        ch.if_range = mw->if_range;
        ch.if_range_len = strlen(mw->if_range);
        if (fill_etag(mw->fill, etag)) {
                v.etag = etag;
                v.etag_len = FILL_ETAG_LEN;
        } else {
                v.etag = "";
        }
        v.last_modified = mw->fill->last_modified;
        return http_if_range_ok(&ch, &v);
}

static void respond_not_modified(struct miss_wait *mw, const struct http1_req *req)
{
        struct conn *c = mw->c;
        const char *cc = hit_cache_control(mw->key, mw->key_len);
        char cstatus[CACHE_STATUS_MAX];
        struct http_resp hr;

        metrics_add(c->w->srv->m.not_modified, 1);
        request_head_start(c, req, &hr, 304);
        validator_headers(&hr, mw->fill);
        http_resp_header(&hr, "Cache-Control", cc, strlen(cc));
        cache_status(mw, 200, cstatus, sizeof(cstatus));
        http_resp_header(&hr, "Cache-Status", cstatus, strlen(cstatus));
        mw->head_sent = true;
        request_respond_text(c, req, &hr, NULL);
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

        if (mw->range[0] && if_range_ok(mw))
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
        validator_headers(&hr, f);
        if (f->has_sha && mw->peer)
                http_resp_header(&hr, "X-Sluice-SHA256", f->sha_hex, 64);
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
                switch (cond_eval(mw)) {
                case -EAGAIN:
                        return;
                case 304:
                        respond_not_modified(mw, req ? req : saved_req(mw));
                        break;
                case 412:
                        metrics_add(c->w->srv->m.precond_failed, 1);
                        mw->head_sent = true;
                        cache_status(mw, 200, cstatus, sizeof(cstatus));
                        respond_text(c, req ? req : saved_req(mw), 412, cstatus);
                        break;
                default:
                        respond_body(mw, req ? req : saved_req(mw));
                        break;
                }
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
        prefetch_sweep(w);
}

/* Copy a header into out; false when it is there but too long to keep. */
static bool save_hdr(const struct http1_req *req, int hk, char *out, size_t cap)
{
        size_t len;
        const char *v = http1_req_known(req, hk, &len);

        if (v && len < cap) {
                memcpy(out, v, len);
                out[len] = '\0';
        }
        return !v || len < cap;
}

void miss_serve(struct conn *c, const struct http1_req *req, const struct path_norm *pn,
                bool peer)
{
        static __thread bool rechecked;
        struct edge_worker *w = c->w;
        struct edge_metrics *m = &w->srv->m;
        struct miss_wait *mw;
        const char *v;
        size_t vlen;
        char cstatus[CACHE_STATUS_MAX];
        bool created, kept;
        int r;

        if (w->rt->cfg->upstreams.n == 0 || !w->up) {
                metrics_add(m->misses, 1);
                evict_access(w->srv, pn->key, pn->key_len, 0);
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
        if (r == -EEXIST && !rechecked) {
                /* Committed since hit_serve's lookup: a hit after all (once: a key evicted
                 * again at once would come back here as a plain miss). */
                free(mw);
                rechecked = true;
                hit_serve(c, req, pn, peer);
                rechecked = false;
                return;
        }
        metrics_add(m->misses, 1);
        evict_access(w->srv, pn->key, pn->key_len, 0); /* the admission sketch counts it */
        if (r < 0) {
                free(mw);
                if (r == -ENOENT) {
                        metrics_add(m->negative_hits, 1);
                        (void)snprintf(cstatus, sizeof(cstatus), "%s; hit; detail=negative",
                                       miss_cache_name(w));
                        respond_text(c, req, 404, cstatus);
                } else if (r == -EEXIST) {
                        /* Indexed, yet the lookup cannot open it twice running. */
                        (void)snprintf(cstatus, sizeof(cstatus), "%s; fwd=miss; detail=busy",
                                       miss_cache_name(w));
                        respond_text(c, req, 503, cstatus);
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
        /* If-Range is weighed when the head is in (if_range_ok); one too long to keep, or
         * a Range too long, means the whole object. */
        v = http1_req_known(req, HK_RANGE, &vlen);
        if (v && vlen < sizeof(mw->range) &&
            save_hdr(req, HK_IF_RANGE, mw->if_range, sizeof(mw->if_range))) {
                memcpy(mw->range, v, vlen);
                mw->range[vlen] = '\0';
        }
        v = http1_req_known(req, HK_ORIGIN, &vlen);
        if (v && vlen < sizeof(mw->origin)) {
                memcpy(mw->origin, v, vlen);
                mw->origin_len = vlen;
        }
        /* Kept for when the head arrives. When one is too long to keep, all are dropped
         * (evaluating the others alone could turn a 200 into a 304): the full answer is
         * always a correct one to If-None-Match / If-Modified-Since. */
        kept = save_hdr(req, HK_IF_NONE_MATCH, mw->if_none_match, sizeof(mw->if_none_match));
        kept &= save_hdr(req, HK_IF_MATCH, mw->if_match, sizeof(mw->if_match));
        kept &= save_hdr(req, HK_IF_MODIFIED_SINCE, mw->if_modified_since,
                         sizeof(mw->if_modified_since));
        kept &= save_hdr(req, HK_IF_UNMODIFIED_SINCE, mw->if_unmodified_since,
                         sizeof(mw->if_unmodified_since));
        if (!kept)
                mw->if_none_match[0] = mw->if_match[0] = mw->if_modified_since[0] =
                    mw->if_unmodified_since[0] = '\0';
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
