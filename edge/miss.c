/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "http1-parse.h"
#include "path-norm.h"

#include "conn.h"
#include "fill.h"
#include "hit.h"
#include "miss.h"
#include "prefetch.h"
#include "request.h"
#include "serve-plan.h"
#include "store.h"
#include "worker.h"

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
        serve_kept_free(&mw->kept);
        free(mw);
}

uint64_t miss_body_avail(struct conn *c, bool *ret_failed)
{
        struct fill *f = c->mw->fill;

        *ret_failed = fill_state_get(f) == FILL_FAILED;
        return fill_avail(f);
}

/* v: NULL when the request had no such field. */
static void saved_add(struct http1_req *req, enum http_known_hdr hk, const char *name,
                      const char *v, size_t len)
{
        struct http_hdr *h = &req->hdrs[req->n_hdrs];

        if (!v)
                return;
        *h = (struct http_hdr){name, v, (uint16_t)strlen(name), (uint16_t)len};
        req->known[hk] = (int16_t)req->n_hdrs++;
}

/* A field kept in a buffer of its own, or NULL when there was none ("" in k). */
static const char *kept_text(const char *s)
{
        return s[0] ? s : NULL;
}

/*
 * The request as far as a later response needs it (CORS Origin, HTTP version, and for an
 * answer from the store its Range and preconditions), rebuilt from k in the worker's scratch
 * request: the original pointed into input that is gone by now. Points into k.
 */
static const struct http1_req *saved_req(struct conn *c, const struct serve_kept *k,
                                         uint8_t minor)
{
        struct http1_req *req = &c->w->req;

        req->method = k->head_only ? HTTP_M_HEAD : HTTP_M_GET;
        req->minor = minor;
        req->n_hdrs = 0;
        for (unsigned i = 0; i < HK_COUNT; i++)
                req->known[i] = -1;
        saved_add(req, HK_ORIGIN, "Origin", k->origin_len ? k->origin : NULL, k->origin_len);
        saved_add(req, HK_RANGE, "Range", kept_text(k->range), strlen(k->range));
        saved_add(req, HK_IF_RANGE, "If-Range", kept_text(k->if_range), strlen(k->if_range));
        /* A list is kept even when empty, which as an If-Match matches nothing. */
        saved_add(req, HK_IF_NONE_MATCH, "If-None-Match", k->if_none_match,
                  k->if_none_match_len);
        saved_add(req, HK_IF_MATCH, "If-Match", k->if_match, k->if_match_len);
        saved_add(req, HK_IF_MODIFIED_SINCE, "If-Modified-Since",
                  kept_text(k->if_modified_since), strlen(k->if_modified_since));
        saved_add(req, HK_IF_UNMODIFIED_SINCE, "If-Unmodified-Since",
                  kept_text(k->if_unmodified_since), strlen(k->if_unmodified_since));
        return req;
}

/*
 * The stored copy answers mw's revalidation (the upstream said 304, or failed before its
 * head): looked up afresh and served as a hit. mw is released first, since a connection with
 * one sends its body as a fill's; what the answer needs of it is copied out.
 */
static void answer_stored(struct miss_wait *mw, const struct http1_req *live)
{
        struct conn *c = mw->c;
        struct edge_worker *w = c->w;
        struct serve_kept k = mw->kept;
        struct fill *f = mw->fill; /* its reference, taken over: the plan names its upstream */
        uint8_t minor = mw->minor;
        const struct http1_req *req;
        struct serve_plan p;
        struct store_obj obj;
        int r;

        mw->fill = NULL;
        mw->kept.lists = NULL; /* k's now: the answer reads them */
        miss_release(c);
        req = live ? live : saved_req(c, &k, minor);
        r = hit_lookup(w, c->id, f->key, f->key_len, &obj);
        if (r < 0) {
                /* Deleted or evicted meanwhile: nothing left to answer with. */
                serve_plan_status(&p, c, req, 502);
                request_render(c, req, &p);
        } else {
                serve_plan_hit_revalidated(&p, c, req, f->key, f->key_len, &obj, k.peer, f);
                request_render(c, req, &p);
                if (p.body != SERVE_BODY_FILE)
                        store_obj_release(w->reader, &obj);
        }
        fill_unref(f);
        serve_kept_free(&k);
}

/* The stored copy answers a revalidation no fill could be started for (the fill limit). */
static void answer_unrevalidated(struct conn *c, const struct http1_req *req,
                                 const struct path_norm *pn, bool peer)
{
        struct edge_worker *w = c->w;
        struct serve_plan p;
        struct store_obj obj;

        if (hit_lookup(w, c->id, pn->key, pn->key_len, &obj) < 0) {
                /* Deleted or evicted meanwhile: nothing left to answer with. */
                serve_plan_status(&p, c, req, 503);
                request_render(c, req, &p);
                return;
        }
        serve_plan_hit_unrevalidated(&p, c, req, pn->key, pn->key_len, &obj, peer);
        request_render(c, req, &p);
        if (p.body != SERVE_BODY_FILE)
                store_obj_release(w->reader, &obj);
}

/* Answer what the fill allows now. req: the live request, or NULL (rebuilt). */
static void advance(struct miss_wait *mw, const struct http1_req *req)
{
        struct conn *c = mw->c;
        const struct http1_req *r;
        struct serve_plan p;
        int ret;

        if (mw->head_sent) {
                conn_output_resume(c);
                return;
        }
        r = req ? req : saved_req(c, &mw->kept, mw->minor);
        ret = serve_plan_fill(&p, c, r, &mw->kept, mw->fill, mw->key, mw->key_len);
        if (ret < 0)
                return;
        mw->head_sent = true;
        if (ret == 1)
                answer_stored(mw, req); /* releases mw */
        else
                request_render(c, r, &p); /* may release mw */
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

void miss_serve(struct conn *c, const struct http1_req *req, const struct path_norm *pn,
                bool peer, const struct fill_reval *reval)
{
        static __thread bool rechecked;
        struct edge_worker *w = c->w;
        struct serve_plan p;
        struct miss_wait *mw;
        int r;

        mw = calloc(1, sizeof(*mw) + pn->key_len + 1);
        if (!mw) {
                conn_close(c, "out of memory");
                return;
        }
        if (serve_kept_save(&mw->kept, req, peer) < 0) {
                free(mw);
                conn_close(c, "out of memory");
                return;
        }
        mw->kept.stale = reval != NULL;
        r = serve_fill_join(&p, c, req, pn->key, pn->key_len, rechecked, reval, &mw->fill,
                            &mw->kept.collapsed);
        if (r != 0) /* answered here, from the live request */
                serve_kept_free(&mw->kept);
        if (r == -EEXIST) {
                /* Committed since hit_serve's lookup: a hit after all (once: a key evicted
                 * again at once would come back here as a plain miss). */
                free(mw);
                rechecked = true;
                hit_serve(c, req, pn, peer);
                rechecked = false;
                return;
        }
        if (r == 2) {
                free(mw);
                answer_unrevalidated(c, req, pn, peer);
                return;
        }
        if (r != 0) {
                free(mw);
                if (r == 1)
                        request_render(c, req, &p);
                else
                        conn_close(c, "out of memory");
                return;
        }
        mw->c = c;
        mw->minor = req->minor;
        memcpy(mw->key, pn->key, pn->key_len);
        mw->key_len = pn->key_len;
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
