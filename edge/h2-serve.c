/* SPDX-License-Identifier: MIT */
/*
 * HTTP/2 streams of a client connection answered from the store (see h2-serve.h). The hit
 * logic follows hit.c rule for rule (RFC 9110 preconditions, then one Range) with the same
 * common helpers; the response is described as h2 header fields instead of an HTTP/1.1 head.
 */
#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "hex.h"
#include "http-cond.h"
#include "http-range.h"
#include "http-resp.h"
#include "log.h"
#include "metrics.h"
#include "path-norm.h"
#include "token.h"

#include "access-log.h"
#include "conn-tls.h"
#include "conn.h"
#include "cors.h"
#include "edge-cfg.h"
#include "evict.h"
#include "fill.h"
#include "h2-serve.h"
#include "h2.h"
#include "hit.h"
#include "miss.h"
#include "store.h"
#include "tls.h"
#include "worker.h"

#define PREFACE     "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define PREFACE_LEN (sizeof(PREFACE) - 1)
#define TOKEN_SKEW_S 30
#define CACHE_STATUS_MAX 320

/*
 * What a stream holds until it is gone: its access-log line, and the store object (a hit) or
 * the fill (a miss) its body is read from. A miss waits in this thread's queue until the
 * input that carried its request has been processed (so a stream the client resets in the
 * same burst never starts a fill), then on the worker's list of h2 fill waiters.
 */
struct h2_served {
        struct conn *c;
        struct h2_stream *st;
        struct access_log_pending *log;
        uint64_t start_us;
        int status;
        bool has_obj;
        bool peer;
        bool head_only;
        bool head_sent;
        bool collapsed;
        struct store_obj obj;
        struct fill *fill;
        struct h2_served **list, *prev, *next;
        size_t key_len;
        char key[];
};

/* This worker thread's streams: misses to start after the current input, and misses waiting
 * on (or streaming from) a fill. Each connection belongs to one worker thread. */
static __thread struct h2_served *start_q, *waiters;

int h2_serve_sniff(const char *buf, size_t len)
{
        if (len >= PREFACE_LEN)
                return memcmp(buf, PREFACE, PREFACE_LEN) == 0 ? 1 : -1;
        return memcmp(buf, PREFACE, len) == 0 ? 0 : -1;
}

/* ---- transport: the plain socket ---- */

static ssize_t io_write(void *ctx, const void *buf, size_t len)
{
        struct conn *c = ctx;
        ssize_t n;

        do
                n = send(c->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        return n < 0 ? -errno : n;
}

static ssize_t io_write_file(void *ctx, const void *hdr, size_t hlen, int fd, off_t off,
                             size_t len)
{
        struct conn *c = ctx;
        ssize_t n = 0, m;

        if (hlen) {
                do
                        n = send(c->fd, hdr, hlen,
                                 MSG_DONTWAIT | MSG_NOSIGNAL | (len ? MSG_MORE : 0));
                while (n < 0 && errno == EINTR);
                if (n < 0)
                        return -errno;
                if ((size_t)n < hlen || len == 0)
                        return n;
        }
        do
                m = sendfile(c->fd, fd, &off, len);
        while (m < 0 && errno == EINTR);
        if (m < 0)
                return n ? n : -errno;
        if (m == 0)
                return n ? n : -EIO; /* the file shrank: never pad a response */
        c->req_bytes += (uint64_t)m;
        return n + m;
}

/* ---- transport: TLS ---- */

static ssize_t io_write_tls(void *ctx, const void *buf, size_t len)
{
        struct conn *c = ctx;

        return tls_conn_write(c->tls, buf, len);
}

static int io_flush_tls(void *ctx)
{
        struct conn *c = ctx;

        return tls_conn_flush(c->tls);
}

/* Frame header and payload sealed together (one record when the payload is at most
 * 16384 - 9, which io.max_data ensures). A retry re-reads the same file bytes. */
static ssize_t io_write_file_tls(void *ctx, const void *hdr, size_t hlen, int fd, off_t off,
                                 size_t len)
{
        struct conn *c = ctx;
        size_t cap;
        char *buf = conn_tls_scratch(&cap);
        ssize_t n;

        if (!buf)
                return -ENOMEM;
        if (hlen + len > cap)
                len = cap - hlen;
        memcpy(buf, hdr, hlen);
        if (len) {
                do
                        n = pread(fd, buf + hlen, len, off);
                while (n < 0 && errno == EINTR);
                if (n < 0)
                        return -errno;
                if ((size_t)n < len)
                        return -EIO;
        }
        n = tls_conn_write(c->tls, buf, hlen + len);
        if (n > (ssize_t)hlen)
                c->req_bytes += (uint64_t)n - hlen;
        return n;
}

/* ---- answering a stream ---- */

struct hdrs {
        struct h2_header h[20];
        size_t n;
};

static void hdr_add(struct hdrs *hs, const char *name, const char *value, size_t vlen)
{
        if (hs->n < sizeof(hs->h) / sizeof(hs->h[0]))
                hs->h[hs->n++] = (struct h2_header){name, value, strlen(name), vlen};
}

/* Date, and CORS (browsers' players fetch segments cross-origin), with cors.c's policy. */
static void hdrs_common(struct conn *c, struct h2_stream *st, struct hdrs *hs)
{
        const struct edge_cfg *cfg = c->w->rt->cfg;
        const char *origin, *allow, *expose;
        size_t len = 0;
        bool vary;

        hdr_add(hs, "date", http_date_now(), HTTP_DATE_LEN);
        origin = h2_stream_header(st, "origin", &len);
        allow = cors_allow_origin(&cfg->cors_origins, origin, len, &vary, &expose);
        if (vary)
                hdr_add(hs, "vary", "Origin", 6);
        if (!allow)
                return;
        hdr_add(hs, "access-control-allow-origin", allow, strlen(allow));
        hdr_add(hs, "access-control-expose-headers", expose, strlen(expose));
}

static void list_add(struct h2_served **list, struct h2_served *sv)
{
        sv->list = list;
        sv->prev = NULL;
        sv->next = *list;
        if (*list)
                (*list)->prev = sv;
        *list = sv;
}

static void list_del(struct h2_served *sv)
{
        if (!sv->list)
                return;
        if (sv->prev)
                sv->prev->next = sv->next;
        else
                *sv->list = sv->next;
        if (sv->next)
                sv->next->prev = sv->prev;
        sv->list = NULL;
        sv->prev = sv->next = NULL;
}

static int respond(struct h2_served *sv, int status, struct hdrs *hs, const struct h2_body *body)
{
        int r = h2_stream_respond(sv->st, status, hs->h, hs->n, body);

        if (r == 0) {
                sv->status = status;
                edge_metrics_request(&sv->c->w->srv->m, sv->c->w->idx, status,
                                     body ? body->len : 0);
        }
        return r;
}

/* An answer without a body; cstatus (Cache-Status) may be NULL. */
static void respond_empty(struct conn *c, struct h2_stream *st, struct h2_served *sv,
                          int status, const char *cstatus)
{
        struct hdrs hs = {.n = 0};

        hdrs_common(c, st, &hs);
        if (status == 405)
                hdr_add(&hs, "allow", "GET, HEAD", 9);
        if (cstatus) {
                hdr_add(&hs, "cache-status", cstatus, strlen(cstatus));
                /* A 404 from the origin is remembered for a few seconds; errors not at all. */
                if (status == 404)
                        hdr_add(&hs, "cache-control", "max-age=2", 9);
                else
                        hdr_add(&hs, "cache-control", "no-store", 8);
        }
        hdr_add(&hs, "content-length", "0", 1);
        if (sv) {
                (void)respond(sv, status, &hs, NULL);
                return;
        }
        if (h2_stream_respond(st, status, hs.h, hs.n, NULL) == 0)
                edge_metrics_request(&c->w->srv->m, c->w->idx, status, 0);
}

/* A child edge filling from us presents tokens.peer_token as a bearer instead of a URI token,
 * as over HTTP/1.1 (request.c); compared in constant time. */
static bool peer_auth(struct conn *c, struct h2_stream *st)
{
        const struct edge_runtime *rt = c->w->rt;
        unsigned char diff = 0;
        const char *v;
        size_t len = 0;

        if (!rt->peer_token_len)
                return false;
        v = h2_stream_header(st, "authorization", &len);
        if (!v || len != 7 + rt->peer_token_len || strncasecmp(v, "Bearer ", 7) != 0)
                return false;
        for (size_t i = 0; i < rt->peer_token_len; i++)
                diff |= (unsigned char)(v[7 + i] ^ rt->peer_token[i]);
        return diff == 0;
}

/* Signed-URL check, as request.c does for HTTP/1.1 (:authority stands for Host). Returns 0 or
 * an HTTP status. */
static int token_check(struct conn *c, struct h2_stream *st, const struct path_norm *pn)
{
        const struct edge_runtime *rt = c->w->rt;
        struct token_claims claims;
        char uri[TOKEN_UC_MAX + PATH_NORM_MAX + 16], client[64];
        size_t host_len = 0;
        const char *host;
        int n, r;

        if (!rt->cfg->tokens.required)
                return 0;
        if (!pn->token || !rt->keys)
                return 403;
        r = token_verify(rt->keys, pn->token, pn->token_len, (int64_t)time(NULL), TOKEN_SKEW_S,
                         &claims);
        if (r < 0)
                return 403;
        host = h2_stream_authority(st, &host_len);
        n = snprintf(uri, sizeof(uri), "http://%.*s%.*s", host ? (int)host_len : 0,
                     host ? host : "", (int)pn->key_len, pn->key);
        if (n < 0 || (size_t)n >= sizeof(uri))
                return 403;
        r = token_scope_check(&claims, uri, (size_t)n,
                              claims.ip[0] ? conn_peer_str(c, client, sizeof(client)) : NULL);
        return r < 0 ? 403 : 0;
}

static void cond_hdrs(struct h2_stream *st, struct http_cond_hdrs *ch)
{
        ch->if_match = h2_stream_header(st, "if-match", &ch->if_match_len);
        ch->if_none_match = h2_stream_header(st, "if-none-match", &ch->if_none_match_len);
        ch->if_modified_since =
            h2_stream_header(st, "if-modified-since", &ch->if_modified_since_len);
        ch->if_unmodified_since =
            h2_stream_header(st, "if-unmodified-since", &ch->if_unmodified_since_len);
        ch->if_range = h2_stream_header(st, "if-range", &ch->if_range_len);
}

/* Stage the stream's access-log line (ended in on_stream_gone). pn may be NULL. */
static void log_stage(struct h2_served *sv, const char *method, size_t method_len,
                      const char *path, size_t path_len, const struct path_norm *pn)
{
        struct conn *c = sv->c;
        struct access_log_rec rec = {0};
        char client[64];

        if (!access_log_on(&c->w->alog))
                return;
        rec.conn_id = c->id;
        rec.client = conn_peer_str(c, client, sizeof(client));
        rec.method = method ? method : "-";
        rec.method_len = method ? method_len : 1;
        rec.target = path ? path : "-";
        rec.target_len = path ? path_len : 1;
        if (pn) {
                rec.token = pn->token;
                rec.token_len = pn->token_len;
                rec.key = pn->key;
                rec.key_len = pn->key_len;
        }
        rec.proto = "h2";
        rec.send_path = c->tls ? tls_conn_path(c->tls) : "plain";
        access_log_begin(&c->w->alog, &rec);
        sv->log = access_log_detach(&c->w->alog);
}

/* RFC 9211 for a miss, as miss.c writes it: the upstream's entry first when it sent one. */
static void cache_status_miss(struct h2_served *sv, int fwd_status, char *out, size_t cap)
{
        const struct fill *f = sv->fill;
        const char *up = f && f->upstream_status[0] ? f->upstream_status : NULL;
        const char *name = miss_cache_name(sv->c->w);

        if (fwd_status)
                (void)snprintf(out, cap, "%s%s%s; fwd=miss; fwd-status=%d%s", up ? up : "",
                               up ? ", " : "", name, fwd_status,
                               sv->collapsed ? "; collapsed" : "");
        else
                (void)snprintf(out, cap, "%s; fwd=miss; detail=%s%s", name,
                               f && f->verdict == 503 ? "store-full" : "upstream-failed",
                               sv->collapsed ? "; collapsed" : "");
}

/* The hit: preconditions, then one Range, as hit.c. Takes over sv->obj. */
static void serve_hit(struct h2_served *sv)
{
        struct conn *c = sv->c;
        struct h2_stream *st = sv->st;
        struct edge_worker *w = c->w;
        struct edge_metrics *m = &w->srv->m;
        struct http_validators v;
        struct http_cond_hdrs ch;
        struct http_range rg = {0};
        enum http_range_result rr = HTTP_RANGE_NONE;
        struct hdrs hs = {.n = 0};
        struct h2_body body = {.fd = -1};
        char len_s[24], range_s[80], lm[HTTP_DATE_LEN + 1], cstatus[128], hex[65];
        const char *range, *cc, *ctype, *name = miss_cache_name(w);
        size_t range_len;
        uint64_t off = 0, len;
        int status;

        metrics_add(m->hits, 1);
        evict_access(w->srv, sv->key, sv->key_len, sv->obj.size);
        v.etag = sv->obj.etag;
        v.etag_len = strlen(sv->obj.etag);
        v.last_modified = sv->obj.last_modified;
        cond_hdrs(st, &ch);
        cc = hit_cache_control(sv->key, sv->key_len);
        (void)http_date_format(sv->obj.last_modified, lm);
        (void)snprintf(cstatus, sizeof(cstatus), "%s; hit", name);

        hdrs_common(c, st, &hs);
        status = http_cond_eval(&ch, &v);
        if (status == 412) {
                metrics_add(m->precond_failed, 1);
                respond_empty(c, st, sv, 412, NULL);
                return;
        }
        hdr_add(&hs, "cache-status", cstatus, strlen(cstatus));
        if (status == 304) {
                metrics_add(m->not_modified, 1);
                hdr_add(&hs, "etag", sv->obj.etag, strlen(sv->obj.etag));
                hdr_add(&hs, "last-modified", lm, HTTP_DATE_LEN);
                hdr_add(&hs, "cache-control", cc, strlen(cc));
                (void)respond(sv, 304, &hs, NULL);
                return;
        }
        range = h2_stream_header(st, "range", &range_len);
        if (range && http_if_range_ok(&ch, &v))
                rr = http_range_parse(range, range_len, sv->obj.size, &rg);
        len = sv->obj.size;
        status = 200;
        if (rr == HTTP_RANGE_SINGLE) {
                status = 206;
                off = rg.first;
                len = rg.last - rg.first + 1;
                metrics_add(m->ranges, 1);
                (void)snprintf(range_s, sizeof(range_s), "bytes %llu-%llu/%llu",
                               (unsigned long long)rg.first, (unsigned long long)rg.last,
                               (unsigned long long)sv->obj.size);
                hdr_add(&hs, "content-range", range_s, strlen(range_s));
        } else if (rr == HTTP_RANGE_UNSATISFIABLE) {
                metrics_add(m->range_unsatisfiable, 1);
                (void)snprintf(range_s, sizeof(range_s), "bytes */%llu",
                               (unsigned long long)sv->obj.size);
                hdr_add(&hs, "content-range", range_s, strlen(range_s));
                hdr_add(&hs, "content-length", "0", 1);
                (void)respond(sv, 416, &hs, NULL);
                return;
        }
        ctype = sv->obj.content_type[0] ? sv->obj.content_type
                                        : http_content_type_for(sv->key, sv->key_len);
        (void)snprintf(len_s, sizeof(len_s), "%llu", (unsigned long long)len);
        hdr_add(&hs, "content-type", ctype, strlen(ctype));
        hdr_add(&hs, "content-length", len_s, strlen(len_s));
        hdr_add(&hs, "etag", sv->obj.etag, strlen(sv->obj.etag));
        hdr_add(&hs, "last-modified", lm, HTTP_DATE_LEN);
        hdr_add(&hs, "cache-control", cc, strlen(cc));
        hdr_add(&hs, "accept-ranges", "bytes", 5);
        if (sv->peer && sv->obj.has_sha256)
                hdr_add(&hs, "x-sluice-sha256", hex_encode(sv->obj.sha256, 32, hex), 64);
        body.fd = sv->obj.fd;
        body.off = off;
        body.len = sv->head_only ? 0 : len;
        (void)respond(sv, status, &hs, &body);
}

/* How much of the fill's temp file exists, for h2.c's read callback. */
static uint64_t fill_body_avail(void *ctx, bool *failed)
{
        struct fill *f = ctx;

        *failed = fill_state_get(f) == FILL_FAILED;
        return fill_avail(f);
}

/* The fill has its 200 head: answer with the body streamed from the temp file as it grows. */
static void respond_fill_body(struct h2_served *sv)
{
        struct conn *c = sv->c;
        struct fill *f = sv->fill;
        struct http_range rg = {0};
        enum http_range_result rr = HTTP_RANGE_NONE;
        struct hdrs hs = {.n = 0};
        struct h2_body body = {.fd = f->rfd, .avail = fill_body_avail, .avail_ctx = f};
        char len_s[24], range_s[80], cstatus[CACHE_STATUS_MAX], etag[19];
        const char *range, *ctype, *cc;
        size_t range_len = 0, irl = 0;
        uint64_t off = 0, len = f->size;
        int status = 200;

        /* If-Range needs validators a miss does not have yet: send the whole object. */
        range = h2_stream_header(sv->st, "range", &range_len);
        if (range && !h2_stream_header(sv->st, "if-range", &irl))
                rr = http_range_parse(range, range_len, f->size, &rg);
        hdrs_common(c, sv->st, &hs);
        cache_status_miss(sv, 200, cstatus, sizeof(cstatus));
        hdr_add(&hs, "cache-status", cstatus, strlen(cstatus));
        if (rr == HTTP_RANGE_UNSATISFIABLE) {
                (void)snprintf(range_s, sizeof(range_s), "bytes */%llu",
                               (unsigned long long)f->size);
                hdr_add(&hs, "content-range", range_s, strlen(range_s));
                hdr_add(&hs, "content-length", "0", 1);
                (void)respond(sv, 416, &hs, NULL);
                return;
        }
        if (rr == HTTP_RANGE_SINGLE) {
                status = 206;
                off = rg.first;
                len = rg.last - rg.first + 1;
                metrics_add(c->w->srv->m.ranges, 1);
                (void)snprintf(range_s, sizeof(range_s), "bytes %llu-%llu/%llu",
                               (unsigned long long)rg.first, (unsigned long long)rg.last,
                               (unsigned long long)f->size);
                hdr_add(&hs, "content-range", range_s, strlen(range_s));
        }
        ctype = f->ctype[0] ? f->ctype : http_content_type_for(sv->key, sv->key_len);
        cc = hit_cache_control(sv->key, sv->key_len);
        (void)snprintf(len_s, sizeof(len_s), "%llu", (unsigned long long)len);
        hdr_add(&hs, "content-type", ctype, strlen(ctype));
        hdr_add(&hs, "content-length", len_s, strlen(len_s));
        if (f->has_sha) {
                /* The same strong tag the store gives the committed object. */
                etag[0] = '"';
                for (int i = 0; i < 16; i++)
                        etag[1 + i] = (char)tolower((unsigned char)f->sha_hex[i]);
                etag[17] = '"';
                etag[18] = '\0';
                hdr_add(&hs, "etag", etag, 18);
                if (sv->peer)
                        hdr_add(&hs, "x-sluice-sha256", f->sha_hex, 64);
        }
        hdr_add(&hs, "cache-control", cc, strlen(cc));
        hdr_add(&hs, "accept-ranges", "bytes", 5);
        body.off = off;
        body.len = sv->head_only ? 0 : len;
        (void)respond(sv, status, &hs, &body);
}

/* Answer what the fill allows now; a stream already answered gets its body resumed. */
static void advance(struct h2_served *sv)
{
        char cstatus[CACHE_STATUS_MAX];
        int status;

        if (sv->head_sent) {
                h2_stream_resume(sv->st);
                return;
        }
        switch (fill_state_get(sv->fill)) {
        case FILL_PENDING:
                return;
        case FILL_MISSING:
                cache_status_miss(sv, 404, cstatus, sizeof(cstatus));
                respond_empty(sv->c, sv->st, sv, 404, cstatus);
                break;
        case FILL_FAILED:
                status = sv->fill->verdict == 503 ? 503 : 502;
                cache_status_miss(sv, 0, cstatus, sizeof(cstatus));
                respond_empty(sv->c, sv->st, sv, status, cstatus);
                break;
        case FILL_BODY:
        case FILL_DONE:
                respond_fill_body(sv);
                sv->head_sent = true;
                if (sv->status == 200 || sv->status == 206)
                        return; /* stays a waiter: the body follows the fill */
                break;
        }
        sv->head_sent = true;
        list_del(sv);
}

/* Ask for POLLOUT so pump() runs from the completion (never from inside a walk of the
 * waiters, which closing the connection would change). */
static void want_pump(struct conn *c)
{
        if (c->poll_armed || c->state == CONN_CLOSED)
                return;
        if (uring_loop_poll(c->w->loop, c->slot, EDGE_OP_POLLOUT, c->fd, POLLOUT) < 0) {
                log_conn(LOG_LVL_WARN, c->id, "cannot arm poll for h2 fill progress, ignoring");
                return;
        }
        c->poll_armed = true;
}

void h2_serve_kick(struct edge_worker *w)
{
        struct h2_served *sv, *next;

        (void)w;
        for (sv = waiters; sv; sv = next) {
                next = sv->next;
                advance(sv);
                want_pump(sv->c);
        }
}

/* A queued miss, once the input that carried it is processed: join or start the key's fill.
 * A fill committed since the lookup is served as a hit (looked up once more only). */
static void start_miss(struct h2_served *sv)
{
        struct conn *c = sv->c;
        struct edge_worker *w = c->w;
        struct edge_metrics *m = &w->srv->m;
        char cstatus[CACHE_STATUS_MAX];
        bool created = false;
        int r;

        r = fill_get(w, sv->key, sv->key_len, &sv->fill, &created);
        if (r == -EEXIST) {
                r = store_lookup(w->reader, sv->key, sv->key_len, &sv->obj);
                if (r == 0) {
                        sv->has_obj = true;
                        serve_hit(sv);
                        return;
                }
                r = fill_get(w, sv->key, sv->key_len, &sv->fill, &created);
        }
        metrics_add(m->misses, 1);
        evict_access(w->srv, sv->key, sv->key_len, 0); /* the admission sketch counts it */
        if (r < 0) {
                sv->fill = NULL;
                if (r == -ENOENT) {
                        metrics_add(m->negative_hits, 1);
                        (void)snprintf(cstatus, sizeof(cstatus), "%s; hit; detail=negative",
                                       miss_cache_name(w));
                        respond_empty(c, sv->st, sv, 404, cstatus);
                } else {
                        (void)snprintf(cstatus, sizeof(cstatus), "%s; fwd=miss; detail=busy",
                                       miss_cache_name(w));
                        respond_empty(c, sv->st, sv, 503, cstatus);
                }
                return;
        }
        sv->collapsed = !created;
        if (!created)
                metrics_add(m->collapsed, 1);
        list_add(&waiters, sv);
        /* Watch before looking, so progress made in between still kicks this worker. */
        fill_watch(sv->fill, w->idx);
        advance(sv);
}

static void start_queued(void)
{
        while (start_q) {
                struct h2_served *sv = start_q;
                list_del(sv);
                start_miss(sv);
        }
}

static void serve(struct conn *c, struct h2_stream *st)
{
        struct edge_worker *w = c->w;
        struct h2_served *sv;
        struct path_norm pn;
        const char *method, *path;
        char cstatus[CACHE_STATUS_MAX];
        size_t method_len = 0, path_len = 0;
        int r, bad = 0;

        method = h2_stream_method(st, &method_len);
        path = h2_stream_path(st, &path_len);
        sv = calloc(1, sizeof(*sv) + path_len + 1);
        if (!sv) {
                respond_empty(c, st, NULL, 503, NULL);
                return;
        }
        sv->c = c;
        sv->st = st;
        sv->start_us = uring_loop_clock_us();
        h2_stream_set_data(st, sv);

        sv->head_only = method_len == 4 && !memcmp(method, "HEAD", 4);
        if (!sv->head_only && !(method_len == 3 && !memcmp(method, "GET", 3)))
                bad = 405;
        else if (!path || path_len == 0 || path[0] != '/')
                bad = 400;
        else if ((r = path_norm(path, path_len, &pn)) < 0)
                bad = r == -ENAMETOOLONG ? 414 : 400;
        log_stage(sv, method, method_len, path, path_len, bad ? NULL : &pn);
        if (bad) {
                respond_empty(c, st, sv, bad, NULL);
                return;
        }
        memcpy(sv->key, pn.key, pn.key_len);
        sv->key_len = pn.key_len;
        sv->peer = peer_auth(c, st);
        r = sv->peer ? 0 : token_check(c, st, &pn);
        if (r) {
                respond_empty(c, st, sv, r, NULL);
                return;
        }
        r = store_lookup(w->reader, pn.key, pn.key_len, &sv->obj);
        if (r == 0) {
                sv->has_obj = true;
                serve_hit(sv);
                return;
        }
        if (r != -ENOENT) {
                log_conn(LOG_LVL_WARN, c->id, "store lookup of %.*s failed: %s",
                         (int)pn.key_len, pn.key, strerror(-r));
                respond_empty(c, st, sv, 503, NULL);
                return;
        }
        if (w->rt->cfg->upstreams.n == 0 || !w->up) {
                metrics_add(w->srv->m.misses, 1);
                evict_access(w->srv, pn.key, pn.key_len, 0);
                (void)snprintf(cstatus, sizeof(cstatus), "%s; fwd=miss; detail=no-upstream",
                               miss_cache_name(w));
                respond_empty(c, st, sv, 404, cstatus);
                return;
        }
        list_add(&start_q, sv);
}

static void on_request(void *ctx, struct h2_stream *st)
{
        serve(ctx, st);
}

static void on_stream_gone(void *ctx, struct h2_stream *st, bool answered)
{
        struct conn *c = ctx;
        struct h2_served *sv = h2_stream_get_data(st);

        if (!sv)
                return;
        list_del(sv);
        if (sv->log)
                /* 499: the client reset the stream before it was answered. */
                access_log_end_detached(&c->w->alog, sv->log,
                                        answered && sv->status ? sv->status : 499,
                                        h2_stream_body_sent(st),
                                        uring_loop_clock_us() - sv->start_us);
        if (sv->has_obj)
                store_obj_release(c->w->reader, &sv->obj);
        fill_unref(sv->fill);
        free(sv);
        h2_stream_set_data(st, NULL);
}

/* ---- the connection ---- */

/* Write what can be written and set the connection's state and deadline accordingly. */
static void pump(struct conn *c)
{
        int r = h2_conn_flush(c->h2);

        if (r < 0) {
                conn_close(c, "h2 send error");
                return;
        }
        if (r == 2) {
                conn_close(c, "h2 session over");
                return;
        }
        if (r == 0) {
                if (!c->poll_armed) {
                        if (uring_loop_poll(c->w->loop, c->slot, EDGE_OP_POLLOUT, c->fd,
                                            POLLOUT) < 0) {
                                conn_close(c, "cannot arm poll");
                                return;
                        }
                        c->poll_armed = true;
                }
                conn_set_state(c, CONN_SEND);
                return;
        }
        if ((c->peer_eof || c->close_after || c->w->draining) && !h2_conn_busy(c->h2)) {
                conn_close(c, c->peer_eof ? "peer closed" : "drain");
                return;
        }
        /* Streams waiting on the client's window count as sending: the send deadline ends a
         * client that never opens it. */
        conn_set_state(c, h2_conn_busy(c->h2) ? CONN_SEND : CONN_IDLE);
}

bool h2_serve_start(struct conn *c, const char *buf, size_t len)
{
        const struct edge_cfg_http2 *cfg = &c->w->rt->cfg->http2;
        struct h2_limits lim = {
            .max_concurrent_streams = (uint32_t)cfg->max_concurrent_streams,
            .window = (uint32_t)cfg->window,
            .max_header_list = (uint32_t)cfg->max_header_list,
            .max_resets_per_s = (uint32_t)cfg->max_resets_per_s,
            .max_control_per_s = (uint32_t)cfg->max_control_per_s,
        };
        struct h2_io io = {.write = io_write,
                           .write_file = io_write_file,
                           .on_request = on_request,
                           .on_stream_gone = on_stream_gone,
                           .ctx = c};

        if (c->tls) {
                io.write = io_write_tls;
                io.write_file = io_write_file_tls;
                io.flush = io_flush_tls;
                io.max_data = 16384 - 9;
        }

        if (h2_conn_new(&lim, &io, &c->h2) < 0) {
                conn_close(c, "out of memory");
                return false;
        }
        log_conn(LOG_LVL_DEBUG, c->id, "%s", c->tls ? "h2 (ALPN)" : "h2c (prior knowledge)");
        return h2_serve_input(c, buf, len);
}

bool h2_serve_input(struct conn *c, const char *buf, size_t len)
{
        int r = h2_conn_input(c->h2, buf, len);

        if (r == -ENOMEM) {
                conn_close(c, "out of memory");
                return false;
        }
        /* A protocol error or abuse: the GOAWAY is queued; send it, then close. */
        if (r < 0)
                (void)h2_conn_flush(c->h2);
        if (r < 0) {
                conn_close(c, "h2 protocol error");
                return false;
        }
        start_queued();
        pump(c);
        return c->state != CONN_CLOSED;
}

void h2_serve_pollout(struct conn *c)
{
        c->poll_armed = false;
        pump(c);
}

void h2_serve_free(struct conn *c)
{
        h2_conn_free(c->h2); /* releases every stream's object through on_stream_gone */
        c->h2 = NULL;
}
