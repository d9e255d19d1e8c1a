/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "http-cond.h"
#include "http-range.h"
#include "hex.h"
#include "http-resp.h"
#include "http1-parse.h"
#include "log.h"
#include "metrics.h"
#include "path-norm.h"

#include "conn.h"
#include "evict.h"
#include "hit.h"
#include "miss.h"
#include "request.h"
#include "store.h"
#include "worker.h"

#define CC_MEDIA    "public, max-age=86400"
#define CC_MANIFEST "public, max-age=2"

static bool ends_with(const char *s, size_t len, const char *suffix)
{
        size_t n = strlen(suffix);

        return len >= n && memcmp(s + len - n, suffix, n) == 0;
}

const char *hit_cache_control(const char *key, size_t len)
{
        /* Manifests and playlists may be regenerated; segments never change under a key. */
        if (ends_with(key, len, ".mpd") || ends_with(key, len, ".m3u8"))
                return CC_MANIFEST;
        return CC_MEDIA;
}

/* Last-Modified text, formatted once per distinct time per thread. */
static const char *last_modified_text(time_t t)
{
        static __thread time_t cached_t = (time_t)-1;
        static __thread char cached[HTTP_DATE_LEN + 1];

        if (t != cached_t) {
                (void)http_date_format(t, cached);
                cached_t = t;
        }
        return cached;
}

static void cond_hdrs(const struct http1_req *req, struct http_cond_hdrs *ch)
{
        ch->if_match = http1_req_known(req, HK_IF_MATCH, &ch->if_match_len);
        ch->if_none_match = http1_req_known(req, HK_IF_NONE_MATCH, &ch->if_none_match_len);
        ch->if_modified_since =
            http1_req_known(req, HK_IF_MODIFIED_SINCE, &ch->if_modified_since_len);
        ch->if_unmodified_since =
            http1_req_known(req, HK_IF_UNMODIFIED_SINCE, &ch->if_unmodified_since_len);
        ch->if_range = http1_req_known(req, HK_IF_RANGE, &ch->if_range_len);
}

static void validators_headers(struct http_resp *hr, const struct store_obj *obj, const char *cc)
{
        http_resp_header(hr, "ETag", obj->etag, strlen(obj->etag));
        http_resp_header(hr, "Last-Modified", last_modified_text(obj->last_modified),
                         HTTP_DATE_LEN);
        http_resp_header(hr, "Cache-Control", cc, strlen(cc));
}

static void respond_plain(struct conn *c, const struct http1_req *req, int status)
{
        struct http_resp hr;
        char body[64];

        request_head_start(c, req, &hr, status);
        (void)snprintf(body, sizeof(body), "%d %s\n", status, http_status_reason(status));
        request_respond_text(c, req, &hr, body);
}

/* RFC 9211: one entry for this cache, "hit". */
static void cache_status_hit(struct conn *c, struct http_resp *hr)
{
        /* Every hit carries this: assemble it without printf's formatting machinery. */
        const char *name = miss_cache_name(c->w);
        size_t n = strlen(name);
        char v[128];

        if (n > sizeof(v) - 5) {
                http_resp_headerf(hr, "Cache-Status", "%s; hit", name);
                return;
        }
        memcpy(v, name, n);
        memcpy(v + n, "; hit", 5);
        http_resp_header(hr, "Cache-Status", v, n + 5);
}

void hit_serve(struct conn *c, const struct http1_req *req, const struct path_norm *pn, bool peer)
{
        struct edge_worker *w = c->w;
        struct edge_metrics *m = &w->srv->m;
        struct http_validators v;
        struct http_cond_hdrs ch;
        struct http_range rg = {0};
        enum http_range_result rr = HTTP_RANGE_NONE;
        struct conn_resp resp = {0};
        struct store_obj obj;
        struct http_resp hr;
        const char *cc, *ctype, *range;
        size_t range_len;
        uint64_t off = 0, len;
        int r, status;

        r = store_lookup(w->reader, pn->key, pn->key_len, &obj);
        if (r == -ENOENT) {
                miss_serve(c, req, pn, peer);
                return;
        }
        if (r < 0) {
                log_conn(LOG_LVL_WARN, c->id, "store lookup of %.*s failed: %s", (int)pn->key_len,
                         pn->key, strerror(-r));
                respond_plain(c, req, 503);
                return;
        }
        metrics_add(m->hits, 1);
        evict_access(w->srv, pn->key, pn->key_len, obj.size);

        v.etag = obj.etag;
        v.etag_len = strlen(obj.etag);
        v.last_modified = obj.last_modified;
        cond_hdrs(req, &ch);
        cc = hit_cache_control(pn->key, pn->key_len);

        status = http_cond_eval(&ch, &v);
        if (status == 412) {
                store_obj_release(w->reader, &obj);
                metrics_add(m->precond_failed, 1);
                respond_plain(c, req, 412);
                return;
        }
        if (status == 304) {
                metrics_add(m->not_modified, 1);
                request_head_start(c, req, &hr, 304);
                validators_headers(&hr, &obj, cc);
                cache_status_hit(c, &hr);
                store_obj_release(w->reader, &obj);
                request_respond_text(c, req, &hr, NULL);
                return;
        }

        range = http1_req_known(req, HK_RANGE, &range_len);
        if (range && http_if_range_ok(&ch, &v))
                rr = http_range_parse(range, range_len, obj.size, &rg);

        len = obj.size;
        status = 200;
        if (rr == HTTP_RANGE_SINGLE) {
                status = 206;
                off = rg.first;
                len = rg.last - rg.first + 1;
                metrics_add(m->ranges, 1);
        } else if (rr == HTTP_RANGE_UNSATISFIABLE) {
                metrics_add(m->range_unsatisfiable, 1);
                request_head_start(c, req, &hr, 416);
                http_resp_headerf(&hr, "Content-Range", "bytes */%llu",
                                  (unsigned long long)obj.size);
                store_obj_release(w->reader, &obj);
                request_respond_text(c, req, &hr, NULL);
                return;
        }

        ctype =
            obj.content_type[0] ? obj.content_type : http_content_type_for(pn->key, pn->key_len);
        request_head_start(c, req, &hr, status);
        http_resp_header(&hr, "Content-Type", ctype, strlen(ctype));
        http_resp_header_u64(&hr, "Content-Length", len);
        if (status == 206)
                http_resp_headerf(&hr, "Content-Range", "bytes %llu-%llu/%llu",
                                  (unsigned long long)rg.first, (unsigned long long)rg.last,
                                  (unsigned long long)obj.size);
        validators_headers(&hr, &obj, cc);
        http_resp_header(&hr, "Accept-Ranges", "bytes", 5);
        cache_status_hit(c, &hr);
        if (peer && obj.has_sha256) {
                char hex[65];
                http_resp_header(&hr, "X-Sluice-SHA256", hex_encode(obj.sha256, 32, hex), 64);
        }
        r = http_resp_finish(&hr);
        if (r < 0) {
                store_obj_release(w->reader, &obj);
                log_conn(LOG_LVL_ERROR, c->id, "response head overflow, closing");
                conn_close(c, "head overflow");
                return;
        }
        resp.status = status;
        resp.head = hr.buf;
        resp.head_len = (size_t)r;
        resp.obj = &obj;
        resp.off = off;
        resp.len = req->method == HTTP_M_HEAD ? 0 : len;
        resp.client = true;
        conn_respond(c, &resp);
}
