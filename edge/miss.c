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

        req->method = mw->kept.head_only ? HTTP_M_HEAD : HTTP_M_GET;
        req->minor = mw->minor;
        req->n_hdrs = 0;
        for (unsigned i = 0; i < HK_COUNT; i++)
                req->known[i] = -1;
        if (mw->kept.origin_len) {
                req->hdrs[0].name = "Origin";
                req->hdrs[0].name_len = 6;
                req->hdrs[0].value = mw->kept.origin;
                req->hdrs[0].value_len = (uint16_t)mw->kept.origin_len;
                req->known[HK_ORIGIN] = 0;
                req->n_hdrs = 1;
        }
        return req;
}

/* Answer what the fill allows now. req: the live request, or NULL (rebuilt). */
static void advance(struct miss_wait *mw, const struct http1_req *req)
{
        struct conn *c = mw->c;
        const struct http1_req *r;
        struct serve_plan p;

        if (mw->head_sent) {
                conn_output_resume(c);
                return;
        }
        r = req ? req : saved_req(mw);
        if (serve_plan_fill(&p, c, r, &mw->kept, mw->fill, mw->key, mw->key_len) < 0)
                return;
        mw->head_sent = true;
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
                bool peer)
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
        serve_kept_save(&mw->kept, req, peer);
        r = serve_fill_join(&p, c, req, pn->key, pn->key_len, rechecked, &mw->fill,
                            &mw->kept.collapsed);
        if (r == -EEXIST) {
                /* Committed since hit_serve's lookup: a hit after all (once: a key evicted
                 * again at once would come back here as a plain miss). */
                free(mw);
                rechecked = true;
                hit_serve(c, req, pn, peer);
                rechecked = false;
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
