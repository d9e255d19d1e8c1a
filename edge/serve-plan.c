/* SPDX-License-Identifier: MIT */
/*
 * The response rules shared by HTTP/1.1 and HTTP/2 (see serve-plan.h): a plan's field list,
 * the hit (store object) and the fill (miss) answers.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "hex.h"
#include "http-cond.h"
#include "http-range.h"
#include "http-resp.h"
#include "http1-parse.h"
#include "metrics.h"

#include "cmsd.h"
#include "conn.h"
#include "cors.h"
#include "edge-cfg.h"
#include "evict.h"
#include "fill.h"
#include "serve-plan.h"
#include "store.h"
#include "worker.h"

#define CC_MEDIA    "public, max-age=86400"
#define CC_MANIFEST "public, max-age=2"
#define CACHE_STATUS_MAX 352
#define CACHE_ITEM_MAX   131 /* a 128-byte edge id, quoted */

/* ---- the field list ---- */

static void plan_begin(struct serve_plan *p, struct conn *c, bool head_only, int status,
                       const char *origin, size_t origin_len)
{
        p->status = status;
        p->head_only = head_only;
        p->overflow = false;
        p->body = SERVE_BODY_NONE;
        p->text = NULL;
        p->obj = NULL;
        p->fill = NULL;
        p->off = p->len = 0;
        p->log_cache = p->log_upstream = NULL;
        p->n_hdrs = 0;
        p->arena_len = 0;
        if (!c->admin)
                cors_plan(p, &c->w->rt->cfg->cors_origins, origin, origin_len);
}

void serve_plan_start(struct serve_plan *p, struct conn *c, const struct http1_req *req,
                      int status)
{
        size_t len = 0;
        const char *origin = req ? http1_req_known(req, HK_ORIGIN, &len) : NULL;

        plan_begin(p, c, req && req->method == HTTP_M_HEAD, status, origin, len);
}

void serve_plan_header_named(struct serve_plan *p, const char *name, size_t name_len,
                             const char *value, size_t len)
{
        if (p->n_hdrs == SERVE_PLAN_HDRS) {
                p->overflow = true;
                return;
        }
        p->hdrs[p->n_hdrs++] = (struct serve_hdr){name, value, name_len, len};
}

void serve_plan_headerf(struct serve_plan *p, const char *name, const char *fmt, ...)
{
        size_t room = sizeof(p->arena) - p->arena_len;
        char *dst = p->arena + p->arena_len;
        va_list ap;
        int n;

        va_start(ap, fmt);
        n = vsnprintf(dst, room, fmt, ap);
        va_end(ap);
        if (n < 0 || (size_t)n >= room) {
                p->overflow = true;
                return;
        }
        p->arena_len += (size_t)n;
        serve_plan_header(p, name, dst, (size_t)n);
}

/* Copy a and b, one after the other, into the arena as one value. */
static void header_cat(struct serve_plan *p, const char *name, const char *a, size_t alen,
                       const char *b, size_t blen)
{
        char *dst = p->arena + p->arena_len;

        if (alen + blen > sizeof(p->arena) - p->arena_len) {
                p->overflow = true;
                return;
        }
        memcpy(dst, a, alen);
        memcpy(dst + alen, b, blen);
        p->arena_len += alen + blen;
        serve_plan_header(p, name, dst, alen + blen);
}

void serve_plan_header_copy(struct serve_plan *p, const char *name, const char *value,
                            size_t len)
{
        header_cat(p, name, value, len, "", 0);
}

void serve_plan_header_u64(struct serve_plan *p, const char *name, uint64_t v)
{
        /* Every body answer carries one: digits without printf's formatting machinery. */
        char digits[20];
        size_t n = sizeof(digits);

        do
                digits[--n] = (char)('0' + v % 10);
        while ((v /= 10) > 0);
        header_cat(p, name, digits + n, sizeof(digits) - n, "", 0);
}

void serve_plan_text(struct serve_plan *p, const char *text)
{
        size_t len = text ? strlen(text) : 0;

        if (len)
                serve_plan_header(p, "Content-Type", "text/plain; charset=utf-8", 25);
        if (p->status != 204 && p->status != 304)
                serve_plan_header_u64(p, "Content-Length", len);
        if (len >= SERVE_TEXT_MAX) {
                p->overflow = true;
                return;
        }
        p->body = len ? SERVE_BODY_TEXT : SERVE_BODY_NONE;
        p->text = text;
        p->len = len;
}

const char *serve_plan_status_text(struct serve_plan *p)
{
        char *body = p->arena + p->arena_len;
        int n;

        if (sizeof(p->arena) - p->arena_len < SERVE_TEXT_MAX) {
                p->overflow = true;
                return NULL;
        }
        /* snprintf: the reason table is the parser engineer's and has bounded strings */
        n = snprintf(body, SERVE_TEXT_MAX, "%d %s\n", p->status, http_status_reason(p->status));
        if (n < 0 || n >= SERVE_TEXT_MAX) {
                p->overflow = true;
                return NULL;
        }
        p->arena_len += (size_t)n + 1;
        return body;
}

void serve_plan_status(struct serve_plan *p, struct conn *c, const struct http1_req *req,
                       int status)
{
        serve_plan_start(p, c, req, status);
        serve_plan_text(p, serve_plan_status_text(p));
}

void serve_plan_refused(struct serve_plan *p, struct conn *c, const char *origin, size_t origin_len,
                        bool head_only, int status)
{
        plan_begin(p, c, head_only, status, origin, origin_len);
        serve_plan_text(p, serve_plan_status_text(p));
}

/* ---- shared rules ---- */

static bool ends_with(const char *s, size_t len, const char *suffix)
{
        size_t n = strlen(suffix);

        return len >= n && strncasecmp(s + len - n, suffix, n) == 0;
}

bool serve_key_short_lived(const char *key, size_t len)
{
        /* Manifests and playlists may be regenerated; segments never change under a key. The
         * extension is read in any case, as the content type is (http_content_type_for). */
        return ends_with(key, len, ".mpd") || ends_with(key, len, ".m3u8");
}

const char *serve_cache_control(const char *key, size_t len)
{
        return serve_key_short_lived(key, len) ? CC_MANIFEST : CC_MEDIA;
}

const char *serve_cache_name(const struct conn *c)
{
        const char *id = c->w->rt->cfg->control.edge_id;

        return id && *id ? id : "sluice";
}

/* The name as a Cache-Status item (RFC 9211 §2): a token, or a string when it starts with a
 * digit (a token cannot, RFC 8941 §3.3.4); an edge id needs no escapes (edge-cfg.c). */
static const char *cache_item(const struct conn *c, char buf[CACHE_ITEM_MAX])
{
        const char *name = serve_cache_name(c);

        if (isalpha((unsigned char)name[0]))
                return name;
        (void)snprintf(buf, CACHE_ITEM_MAX, "\"%s\"", name);
        return buf;
}

/* Last-Modified text, formatted once per distinct time per thread. Never later than the Date
 * beside it (RFC 9110 §8.8.2.1): a replace within the second stores the next second (so that
 * If-Modified-Since tells the two apart), and an upstream's clock may run ahead. */
static const char *last_modified_text(time_t t)
{
        static __thread time_t cached_t = (time_t)-1, seen_now;
        static __thread char cached[HTTP_DATE_LEN + 1];

        /* The clock is read only for a time not known to be past: most objects are older
         * than the last second this thread saw, and the hit path reads no clock for them. */
        if (t > seen_now) {
                seen_now = http_now_sec();
                if (t > seen_now)
                        t = seen_now;
        }
        if (t != cached_t) {
                (void)http_date_format(t, cached);
                cached_t = t;
        }
        return cached;
}

static void range_header(struct serve_plan *p, const struct http_range *rg, uint64_t size)
{
        serve_plan_headerf(p, "Content-Range", "bytes %llu-%llu/%llu",
                           (unsigned long long)rg->first, (unsigned long long)rg->last,
                           (unsigned long long)size);
}

/* The start of a 416 for a Range none of whose parts lies in the object: the caller adds
 * Cache-Status and ends it with serve_plan_text(p, NULL). */
static void plan_unsatisfiable(struct serve_plan *p, struct conn *c, const struct http1_req *req,
                               uint64_t size)
{
        metrics_add(c->w->srv->m.range_unsatisfiable, 1); /* a hit's and a miss's alike */
        serve_plan_start(p, c, req, 416);
        serve_plan_headerf(p, "Content-Range", "bytes */%llu", (unsigned long long)size);
}

/* ---- the hit ---- */

/*
 * A field that takes one value (If-Modified-Since, If-Unmodified-Since, If-Range): sent on
 * more than one line it is a list, which RFC 9110 has a recipient ignore for the dates
 * (§13.1.3, §13.1.4) and which as an If-Range validator matches nothing (§13.1.5: the Range is
 * ignored, 200). Either way "," stands for it: no date and no entity-tag.
 */
static const char *single(const struct http1_req *req, enum http_known_hdr k, const char *name,
                          size_t *len)
{
        const char *v = http1_req_known(req, k, len);
        unsigned pos;
        size_t n;

        if (!v)
                return NULL;
        pos = (unsigned)req->known[k] + 1;
        if (!http1_req_header_next(req, name, &pos, &n))
                return v;
        *len = 1;
        return ",";
}

/* http_cond_hdrs.more for a request (ctx): the lines of If-Match or If-None-Match after the
 * first, which cond_hdrs() gives. HTTP/2 fields sent several times are lines too (stream_req). */
static const char *cond_more(const void *ctx, const char *name, unsigned *pos, size_t *len)
{
        const struct http1_req *req = ctx;

        if (*pos == 0) {
                enum http_known_hdr hk =
                    strcmp(name, "If-Match") == 0 ? HK_IF_MATCH : HK_IF_NONE_MATCH;

                *pos = (unsigned)req->known[hk] + 1;
        }
        return http1_req_header_next(req, name, pos, len);
}

/* The request's preconditions: each list judged on all its lines where they lie, with no copy
 * that a long list could overrun (http_cond_hdrs.more). */
static void cond_hdrs(const struct http1_req *req, struct http_cond_hdrs *ch)
{
        ch->if_match = http1_req_known(req, HK_IF_MATCH, &ch->if_match_len);
        ch->if_none_match = http1_req_known(req, HK_IF_NONE_MATCH, &ch->if_none_match_len);
        ch->more = cond_more;
        ch->more_ctx = req;
        ch->if_modified_since = single(req, HK_IF_MODIFIED_SINCE, "If-Modified-Since",
                                       &ch->if_modified_since_len);
        ch->if_unmodified_since = single(req, HK_IF_UNMODIFIED_SINCE, "If-Unmodified-Since",
                                         &ch->if_unmodified_since_len);
        ch->if_range = single(req, HK_IF_RANGE, "If-Range", &ch->if_range_len);
}

static void hit_validators(struct serve_plan *p, const struct store_obj *obj, const char *cc)
{
        serve_plan_header(p, "ETag", obj->etag, strlen(obj->etag));
        serve_plan_header(p, "Last-Modified", last_modified_text(obj->last_modified),
                          HTTP_DATE_LEN);
        serve_plan_header(p, "Cache-Control", cc, strlen(cc));
}

/* RFC 9111 section 4: a stored response used without validation says how old it is. A
 * manifest filled from upstream is as old as its fill or last revalidation, the upstream's
 * own Age included (fill_age_s), fresh or, served stale, past its max-age; the edge's other
 * objects are its own, and their Cache-Control counts from each answer. */
static void hit_age(struct serve_plan *p, const char *key, size_t key_len)
{
        int64_t age;

        /* Only manifests are noted: a segment's hit takes no lock and no hash for this. */
        if (!serve_key_short_lived(key, key_len))
                return;
        age = fill_age_s(key, key_len);
        if (age >= 0)
                serve_plan_header_u64(p, "Age", (uint64_t)age);
}

/* RFC 9211: one entry for this cache, "hit" (on every hit: no printf), or what a
 * revalidation of the stored copy did (tail, with its access-log word). */
static void cache_status_hit(struct serve_plan *p, const struct conn *c, const char *tail,
                             const char *log_word)
{
        char buf[CACHE_ITEM_MAX];
        const char *name = cache_item(c, buf);

        p->log_cache = log_word ? log_word : "hit";
        tail = tail ? tail : "; hit";
        header_cat(p, "Cache-Status", name, strlen(name), tail, strlen(tail));
}

static void plan_hit(struct serve_plan *p, struct conn *c, const struct http1_req *req,
                     const char *key, size_t key_len, struct store_obj *obj, bool peer,
                     const char *tail, const char *log_word);

void serve_plan_hit(struct serve_plan *p, struct conn *c, const struct http1_req *req,
                    const char *key, size_t key_len, struct store_obj *obj, bool peer)
{
        plan_hit(p, c, req, key, key_len, obj, peer, NULL, NULL);
}

void serve_plan_hit_revalidated(struct serve_plan *p, struct conn *c, const struct http1_req *req,
                                const char *key, size_t key_len, struct store_obj *obj,
                                bool peer, struct fill *f)
{
        bool ok = fill_state_get(f) == FILL_FRESH;

        plan_hit(p, c, req, key, key_len, obj, peer,
                 ok ? "; fwd=stale; fwd-status=304" : "; fwd=stale; detail=upstream-failed",
                 ok ? "revalidated" : "stale");
        p->log_upstream = fill_upstream_url(f);
}

void serve_plan_hit_unrevalidated(struct serve_plan *p, struct conn *c,
                                  const struct http1_req *req, const char *key, size_t key_len,
                                  struct store_obj *obj, bool peer)
{
        plan_hit(p, c, req, key, key_len, obj, peer, "; fwd=stale; detail=fill-limit", "stale");
}

static void plan_hit(struct serve_plan *p, struct conn *c, const struct http1_req *req,
                     const char *key, size_t key_len, struct store_obj *obj, bool peer,
                     const char *tail, const char *log_word)
{
        struct edge_worker *w = c->w;
        struct edge_metrics *m = &w->srv->m;
        struct http_validators v;
        struct http_cond_hdrs ch;
        struct http_range rg = {0};
        enum http_range_result rr = HTTP_RANGE_NONE;
        const char *cc, *ctype, *range, *text;
        size_t range_len;
        int status;

        if (!tail) /* a revalidation counted as the miss it was (serve_fill_join) */
                metrics_add(m->hits, 1);
        evict_access(w->srv, key, key_len, obj->size);
        v.etag = obj->etag;
        v.etag_len = strlen(obj->etag);
        v.last_modified = obj->last_modified;
        cond_hdrs(req, &ch);
        cc = serve_cache_control(key, key_len);

        status = http_cond_eval(&ch, &v);
        if (status == 412) {
                /* Answered by the cache like any hit: Cache-Status says so (docs/edge.md). */
                metrics_add(m->precond_failed, 1);
                serve_plan_start(p, c, req, 412);
                text = serve_plan_status_text(p);
                cache_status_hit(p, c, tail, log_word);
                serve_plan_text(p, text);
                return;
        }
        if (status == 304) {
                metrics_add(m->not_modified, 1);
                serve_plan_start(p, c, req, 304);
                hit_validators(p, obj, cc);
                hit_age(p, key, key_len);
                cache_status_hit(p, c, tail, log_word);
                serve_plan_text(p, NULL);
                return;
        }

        /* Range is defined for GET alone (RFC 9110 §14.2): a HEAD's is ignored. */
        range = req->method == HTTP_M_GET ? http1_req_known(req, HK_RANGE, &range_len) : NULL;
        if (range && http_if_range_ok(&ch, &v))
                rr = http_range_parse(range, range_len, obj->size, &rg);
        if (rr == HTTP_RANGE_UNSATISFIABLE) {
                plan_unsatisfiable(p, c, req, obj->size);
                cache_status_hit(p, c, tail, log_word);
                serve_plan_text(p, NULL);
                return;
        }
        serve_plan_start(p, c, req, rr == HTTP_RANGE_SINGLE ? 206 : 200);
        p->body = SERVE_BODY_FILE;
        p->obj = obj;
        p->len = obj->size;
        if (rr == HTTP_RANGE_SINGLE) {
                metrics_add(m->ranges, 1);
                p->off = rg.first;
                p->len = rg.last - rg.first + 1;
        }
        ctype = obj->content_type[0] ? obj->content_type : http_content_type_for(key, key_len);
        serve_plan_header(p, "Content-Type", ctype, strlen(ctype));
        serve_plan_header_u64(p, "Content-Length", p->len);
        if (rr == HTTP_RANGE_SINGLE)
                range_header(p, &rg, obj->size);
        hit_validators(p, obj, cc);
        hit_age(p, key, key_len);
        serve_plan_header(p, "Accept-Ranges", "bytes", 5);
        cache_status_hit(p, c, tail, log_word);
        cmsd_plan(p, c);
        if (peer && obj->has_sha256) {
                char hex[65];
                serve_plan_header_copy(p, "X-Sluice-SHA256", hex_encode(obj->sha256, 32, hex),
                                       64);
        }
}

/* ---- the miss ---- */

/* A one-value field as single() reads it, copied into out; false when it is there but too
 * long to keep. An empty one is no value either, kept as the "," that stands for none: "" reads
 * as absent, and an empty If-Range, which matches nothing, would let its Range through. */
static bool save_single(const struct http1_req *req, enum http_known_hdr hk, const char *name,
                        char *out, size_t cap)
{
        size_t len;
        const char *v = single(req, hk, name, &len);

        if (v && len == 0) {
                v = ",";
                len = 1;
        }
        if (v && len < cap) {
                memcpy(out, v, len);
                out[len] = '\0';
        }
        return !v || len < cap;
}

/* The one list the lines of an If-Match or If-None-Match form (RFC 9110 §5.3), joined by ", "
 * into out (NULL: only measured); its length. The field is there. */
static size_t list_join(const struct http1_req *req, enum http_known_hdr hk, const char *name,
                        char *out)
{
        size_t n, len;
        const char *v = http1_req_known(req, hk, &n);
        unsigned pos = (unsigned)req->known[hk] + 1;

        if (out)
                memcpy(out, v, n);
        while ((v = http1_req_header_next(req, name, &pos, &len))) {
                if (out) {
                        memcpy(out + n, ", ", 2);
                        memcpy(out + n + 2, v, len);
                }
                n += 2 + len;
        }
        return n;
}

/* If-None-Match and If-Match, whole: as long as the request head that carried them at most. */
static int save_lists(struct serve_kept *k, const struct http1_req *req)
{
        bool inm = http1_req_known(req, HK_IF_NONE_MATCH, NULL) != NULL;
        bool im = http1_req_known(req, HK_IF_MATCH, NULL) != NULL;
        size_t inm_len = inm ? list_join(req, HK_IF_NONE_MATCH, "If-None-Match", NULL) : 0;
        size_t im_len = im ? list_join(req, HK_IF_MATCH, "If-Match", NULL) : 0;
        char *buf;

        if (!inm && !im)
                return 0;
        buf = malloc(inm_len + 1 + im_len + 1);
        if (!buf)
                return -ENOMEM;
        k->lists = buf;
        if (inm) {
                (void)list_join(req, HK_IF_NONE_MATCH, "If-None-Match", buf);
                buf[inm_len] = '\0';
                k->if_none_match = buf;
                k->if_none_match_len = inm_len;
        }
        buf += inm_len + 1;
        if (im) {
                (void)list_join(req, HK_IF_MATCH, "If-Match", buf);
                buf[im_len] = '\0';
                k->if_match = buf;
                k->if_match_len = im_len;
        }
        return 0;
}

int serve_kept_save(struct serve_kept *k, const struct http1_req *req, bool peer)
{
        const char *v;
        size_t vlen;

        memset(k, 0, sizeof(*k));
        k->head_only = req->method == HTTP_M_HEAD;
        k->peer = peer;
        /* If-Range is weighed when the head is in (fill_if_range_ok); one too long to keep,
         * or a Range too long, means the whole object. */
        v = req->method == HTTP_M_GET ? http1_req_known(req, HK_RANGE, &vlen) : NULL;
        if (v && vlen < sizeof(k->range) &&
            save_single(req, HK_IF_RANGE, "If-Range", k->if_range, sizeof(k->if_range))) {
                memcpy(k->range, v, vlen);
                k->range[vlen] = '\0';
        }
        v = http1_req_known(req, HK_ORIGIN, &vlen);
        if (v && vlen < sizeof(k->origin)) {
                memcpy(k->origin, v, vlen);
                k->origin_len = vlen;
        }
        /* Kept for when the head arrives. A date too long for its buffer is no date
         * (http_date_parse takes 33 bytes at most), so dropping it ignores it as a hit does;
         * a date sent twice is kept as single() has it, no date. */
        (void)save_single(req, HK_IF_MODIFIED_SINCE, "If-Modified-Since", k->if_modified_since,
                          sizeof(k->if_modified_since));
        (void)save_single(req, HK_IF_UNMODIFIED_SINCE, "If-Unmodified-Since",
                          k->if_unmodified_since, sizeof(k->if_unmodified_since));
        return save_lists(k, req);
}

void serve_kept_free(struct serve_kept *k)
{
        free(k->lists);
        k->lists = NULL;
        k->if_none_match = k->if_match = NULL;
}

/* A miss answered with a text, its Cache-Status and how long to keep the answer. */
static void plan_miss_text(struct serve_plan *p, struct conn *c, const struct http1_req *req,
                           int status, const char *cstatus)
{
        const char *text;

        serve_plan_start(p, c, req, status);
        text = serve_plan_status_text(p);
        serve_plan_header_copy(p, "Cache-Status", cstatus, strlen(cstatus));
        if (status == 404) /* the negative entry's lifetime, at most a few seconds */
                serve_plan_header(p, "Cache-Control", "max-age=2", 9);
        else
                serve_plan_header(p, "Cache-Control", "no-store", 8);
        serve_plan_text(p, text);
}

int serve_fill_join(struct serve_plan *p, struct conn *c, const struct http1_req *req,
                    const char *key, size_t key_len, bool retry, const struct fill_reval *reval,
                    struct fill **ret_fill, bool *ret_collapsed)
{
        struct edge_worker *w = c->w;
        struct edge_metrics *m = &w->srv->m;
        char cstatus[CACHE_STATUS_MAX], item[CACHE_ITEM_MAX];
        const char *detail = NULL;
        bool created;
        int r = 0;

        if (w->rt->cfg->upstreams.n == 0 || !w->up) {
                metrics_add(m->misses, 1);
                evict_access(w->srv, key, key_len, 0);
                detail = "fwd=miss; detail=no-upstream";
                goto answer;
        }
        r = fill_get_reval(w, key, key_len, reval, ret_fill, &created);
        if (r == -EEXIST && !retry)
                return -EEXIST;
        metrics_add(m->misses, 1);
        evict_access(w->srv, key, key_len, 0); /* the admission sketch counts it */
        if (r == -ENOENT) {
                metrics_add(m->negative_hits, 1);
                detail = "hit; detail=negative";
        } else if (r == -EEXIST) {
                /* Indexed, yet the lookup cannot open it twice running. */
                detail = "fwd=miss; detail=busy";
        } else if (r == -EBUSY) {
                /* cache.max_fills in flight: the origin is not asked for more. A stored copy
                 * due for revalidation answers, as when its upstream fails. */
                metrics_add(m->fills_busy, 1);
                if (reval) {
                        *ret_fill = NULL;
                        return 2;
                }
                detail = "fwd=miss; detail=fill-limit";
        } else if (r < 0) {
                return -ENOMEM;
        } else {
                *ret_collapsed = !created;
                if (!created)
                        metrics_add(m->collapsed, 1);
                return 0;
        }
answer:
        *ret_fill = NULL;
        (void)snprintf(cstatus, sizeof(cstatus), "%s; %s", cache_item(c, item), detail);
        plan_miss_text(p, c, req, r == -EEXIST || r == -EBUSY ? 503 : 404, cstatus);
        if (r == -EBUSY)
                serve_plan_header(p, "Retry-After", "1", 1);
        p->log_cache = r == -ENOENT          ? "negative"
                       : r == -EEXIST || r == -EBUSY ? "busy"
                                                     : "no-upstream";
        return 1;
}

/* RFC 9211 for a miss: the upstream's entry first when it sent one. */
static void cache_status_fill(const struct conn *c, const struct serve_kept *k,
                              const struct fill *f, int fwd_status, char *out, size_t cap)
{
        const char *up = f->upstream_status[0] ? f->upstream_status : NULL;
        char item[CACHE_ITEM_MAX];

        if (fwd_status)
                (void)snprintf(out, cap, "%s%s%s; fwd=%s; fwd-status=%d%s", up ? up : "",
                               up ? ", " : "", cache_item(c, item), k->stale ? "stale" : "miss",
                               fwd_status, k->collapsed ? "; collapsed" : "");
        else if (f->answered_status)
                /* The upstream answered, about this object: a child of ours that sees the
                 * fwd-status does not take it for this edge failing (fill.c's on_head). */
                (void)snprintf(out, cap, "%s; fwd=%s; fwd-status=%d; detail=%s%s",
                               cache_item(c, item), k->stale ? "stale" : "miss",
                               f->answered_status,
                               f->too_large ? "too-large" : "upstream-failed",
                               k->collapsed ? "; collapsed" : "");
        else
                (void)snprintf(out, cap, "%s; fwd=%s; detail=%s%s", cache_item(c, item),
                               k->stale ? "stale" : "miss",
                               f->too_large        ? "too-large"
                               : f->verdict == 503 ? "store-full"
                                                   : "upstream-failed",
                               k->collapsed ? "; collapsed" : "");
}

/* The validators as far as the fill knows them: its content-hash ETag ("" while unknown,
 * which matches nothing) and the upstream's Last-Modified. */
static void fill_validators(struct fill *f, char etag[FILL_ETAG_LEN + 1],
                            struct http_validators *v)
{
        if (fill_etag(f, etag)) {
                v->etag = etag;
                v->etag_len = FILL_ETAG_LEN;
        } else {
                etag[0] = '\0';
                v->etag = etag;
                v->etag_len = 0;
        }
        v->last_modified = f->last_modified;
}

static bool has_cond(const struct serve_kept *k)
{
        return k->if_none_match || k->if_match || k->if_modified_since[0] ||
               k->if_unmodified_since[0];
}

/* 304, 412, 0 to send the body, or -EAGAIN while an entity-tag condition waits for the ETag. */
static int fill_cond_eval(const struct serve_kept *k, struct fill *f)
{
        struct http_cond_hdrs ch = {0};
        struct http_validators v;
        char etag[FILL_ETAG_LEN + 1];

        if (!has_cond(k))
                return 0;
        fill_validators(f, etag, &v);
        if (!v.etag_len && (k->if_none_match || k->if_match))
                return -EAGAIN;
        /* The lists are one line each, joined when kept: no more lines to ask for. */
        ch.if_none_match = k->if_none_match;
        ch.if_none_match_len = k->if_none_match_len;
        ch.if_match = k->if_match;
        ch.if_match_len = k->if_match_len;
#define COND(field)                                                                   \
        if (k->field[0]) {                                                            \
                ch.field = k->field;                                                  \
                ch.field##_len = strlen(k->field);                                    \
        }
        COND(if_modified_since)
        COND(if_unmodified_since)
#undef COND
        return http_cond_eval(&ch, &v);
}

/* Whether a Range may be honoured: no If-Range, or one that matches the validators known now
 * (an entity-tag not yet known does not match: the whole object is sent). */
static bool fill_if_range_ok(const struct serve_kept *k, struct fill *f)
{
        struct http_cond_hdrs ch = {0};
        struct http_validators v;
        char etag[FILL_ETAG_LEN + 1];

        if (!k->if_range[0])
                return true;
        ch.if_range = k->if_range;
        ch.if_range_len = strlen(k->if_range);
        fill_validators(f, etag, &v);
        return http_if_range_ok(&ch, &v);
}

/* ETag (the same strong tag the store gives the committed object) and Last-Modified. */
static void fill_validator_headers(struct serve_plan *p, struct fill *f)
{
        char etag[FILL_ETAG_LEN + 1];

        if (fill_etag(f, etag))
                serve_plan_header_copy(p, "ETag", etag, FILL_ETAG_LEN);
        if (f->last_modified > 0)
                serve_plan_header_copy(p, "Last-Modified", last_modified_text(f->last_modified),
                                       HTTP_DATE_LEN);
}

static void plan_fill_body(struct serve_plan *p, struct conn *c, const struct http1_req *req,
                           const struct serve_kept *k, struct fill *f, const char *key,
                           size_t key_len, const char *cstatus)
{
        struct http_range rg = {0};
        enum http_range_result rr = HTTP_RANGE_NONE;
        const char *ctype, *cc;
        int64_t age;

        if (k->range[0] && fill_if_range_ok(k, f))
                rr = http_range_parse(k->range, strlen(k->range), f->size, &rg);
        if (rr == HTTP_RANGE_UNSATISFIABLE) {
                plan_unsatisfiable(p, c, req, f->size);
                serve_plan_header_copy(p, "Cache-Status", cstatus, strlen(cstatus));
                serve_plan_text(p, NULL);
                return;
        }
        serve_plan_start(p, c, req, rr == HTTP_RANGE_SINGLE ? 206 : 200);
        p->head_only = k->head_only;
        p->body = SERVE_BODY_FILL;
        p->fill = f;
        p->len = f->size;
        if (rr == HTTP_RANGE_SINGLE) {
                metrics_add(c->w->srv->m.ranges, 1);
                p->off = rg.first;
                p->len = rg.last - rg.first + 1;
        }
        ctype = f->ctype[0] ? f->ctype : http_content_type_for(key, key_len);
        cc = serve_cache_control(key, key_len);
        serve_plan_header(p, "Content-Type", ctype, strlen(ctype));
        serve_plan_header_u64(p, "Content-Length", p->len);
        if (rr == HTTP_RANGE_SINGLE)
                range_header(p, &rg, f->size);
        fill_validator_headers(p, f);
        if (f->has_sha && k->peer)
                serve_plan_header(p, "X-Sluice-SHA256", f->sha_hex, 64);
        serve_plan_header(p, "Cache-Control", cc, strlen(cc));
        /* A copy a cache upstream held carries its Age on: RFC 9111 section 4. */
        age = serve_key_short_lived(key, key_len) ? fill_answer_age_s(f) : -1;
        if (age >= 0)
                serve_plan_header_u64(p, "Age", (uint64_t)age);
        serve_plan_header(p, "Accept-Ranges", "bytes", 5);
        serve_plan_header_copy(p, "Cache-Status", cstatus, strlen(cstatus));
        cmsd_plan(p, c);
}

/*
 * Whether the answer must wait for the fill's end. A fill whose SHA-256 is known (the fill
 * plan's, or an upstream's) is checked only once every byte is in: a range that stops short of
 * the object's end would otherwise be served whole and look correct before the check, so it
 * waits for FILL_DONE (a failed check ends the fill FILL_FAILED: 502). Whole bodies and ranges
 * up to the end hold back the last byte until the commit anyway; an empty body has no last
 * byte to hold back, so it waits for the commit, checked or not (a whole answer means a hit
 * next, docs/edge.md). Without a known SHA-256 nothing is checked, and a range is served as
 * the bytes arrive.
 */
static bool waits_for_check(const struct serve_kept *k, struct fill *f)
{
        struct http_range rg = {0};

        if (fill_state_get(f) == FILL_DONE)
                return false;
        if (f->size == 0)
                return true;
        if (!f->has_sha)
                return false;
        if (!k->range[0] || !fill_if_range_ok(k, f))
                return false;
        return http_range_parse(k->range, strlen(k->range), f->size, &rg) == HTTP_RANGE_SINGLE &&
               rg.last + 1 < f->size;
}

static int plan_fill(struct serve_plan *p, struct conn *c, const struct http1_req *req,
                     const struct serve_kept *k, struct fill *f, const char *key, size_t key_len)
{
        struct edge_metrics *m = &c->w->srv->m;
        char cstatus[CACHE_STATUS_MAX];
        const char *cc;

        switch (fill_state_get(f)) {
        case FILL_PENDING:
                return -EAGAIN;
        case FILL_FRESH:
                return 1;
        case FILL_MISSING:
                /* Answered 404 either way; fwd-status is what the upstream said (RFC 9211). */
                cache_status_fill(c, k, f, f->gone_status ? f->gone_status : 404, cstatus,
                                  sizeof(cstatus));
                plan_miss_text(p, c, req, 404, cstatus);
                return 0;
        case FILL_FAILED:
                /* Before its head (a head that came and broke off was answered already): a
                 * stored copy is better than a 502. */
                if (k->stale)
                        return 1;
                cache_status_fill(c, k, f, 0, cstatus, sizeof(cstatus));
                plan_miss_text(p, c, req, f->verdict == 503 ? 503 : 502, cstatus);
                return 0;
        case FILL_BODY:
        case FILL_DONE:
                break;
        }
        cache_status_fill(c, k, f, 200, cstatus, sizeof(cstatus));
        switch (fill_cond_eval(k, f)) {
        case -EAGAIN:
                return -EAGAIN;
        case 304:
                metrics_add(m->not_modified, 1);
                cc = serve_cache_control(key, key_len);
                serve_plan_start(p, c, req, 304);
                fill_validator_headers(p, f);
                serve_plan_header(p, "Cache-Control", cc, strlen(cc));
                serve_plan_header_copy(p, "Cache-Status", cstatus, strlen(cstatus));
                serve_plan_text(p, NULL);
                return 0;
        case 412:
                metrics_add(m->precond_failed, 1);
                plan_miss_text(p, c, req, 412, cstatus);
                return 0;
        default:
                if (waits_for_check(k, f))
                        return -EAGAIN;
                plan_fill_body(p, c, req, k, f, key, key_len, cstatus);
                return 0;
        }
}

int serve_plan_fill(struct serve_plan *p, struct conn *c, const struct http1_req *req,
                    const struct serve_kept *k, struct fill *f, const char *key, size_t key_len)
{
        int r = plan_fill(p, c, req, k, f, key, key_len);

        if (r != 0)
                return r;
        /* The same words as this cache's Cache-Status entry (cache_status_fill); only a
         * failed fill answers 5xx. */
        if (p->status >= 500)
                p->log_cache = f->too_large        ? "too-large"
                               : f->verdict == 503 ? "store-full"
                                                   : "upstream-failed";
        else if (k->stale)
                p->log_cache = fill_state_get(f) == FILL_MISSING ? "gone" : "refreshed";
        else
                p->log_cache = k->collapsed ? "collapsed" : "miss";
        p->log_upstream = fill_upstream_url(f);
        return 0;
}
