/* SPDX-License-Identifier: MIT */
/*
 * HTTP/2 streams of a client connection answered from the store (see h2-serve.h). The hit
 * logic follows hit.c rule for rule (RFC 9110 preconditions, then one Range) with the same
 * common helpers; the response is described as h2 header fields instead of an HTTP/1.1 head.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "http-cond.h"
#include "http-range.h"
#include "http-resp.h"
#include "log.h"
#include "metrics.h"
#include "path-norm.h"
#include "token.h"

#include "conn-tls.h"
#include "conn.h"
#include "edge-cfg.h"
#include "h2-serve.h"
#include "h2.h"
#include "hit.h"
#include "store.h"
#include "tls.h"
#include "worker.h"

#define PREFACE     "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define PREFACE_LEN (sizeof(PREFACE) - 1)
#define TOKEN_SKEW_S 30

/* What a stream holds until it is gone: the store object its body is read from. */
struct h2_served {
        struct store_obj obj;
};

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
        struct h2_header h[16];
        size_t n;
};

static void hdr_add(struct hdrs *hs, const char *name, const char *value, size_t vlen)
{
        if (hs->n < 16)
                hs->h[hs->n++] = (struct h2_header){name, value, strlen(name), vlen};
}

static void respond_status(struct conn *c, struct h2_stream *st, int status)
{
        struct edge_worker *w = c->w;
        const char *date = http_date_now();
        struct hdrs hs = {.n = 0};

        hdr_add(&hs, "date", date, HTTP_DATE_LEN);
        if (status == 405)
                hdr_add(&hs, "allow", "GET, HEAD", 9);
        hdr_add(&hs, "content-length", "0", 1);
        if (h2_stream_respond(st, status, hs.h, hs.n, NULL) == 0)
                edge_metrics_request(&w->srv->m, w->idx, status, 0);
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

static void serve(struct conn *c, struct h2_stream *st)
{
        struct edge_worker *w = c->w;
        struct edge_metrics *m = &w->srv->m;
        const struct edge_cfg *cfg = w->rt->cfg;
        struct h2_served *sv = NULL;
        struct http_validators v;
        struct http_cond_hdrs ch;
        struct http_range rg = {0};
        enum http_range_result rr = HTTP_RANGE_NONE;
        struct path_norm pn;
        struct hdrs hs = {.n = 0};
        struct h2_body body = {.fd = -1};
        char len_s[24], range_s[80], lm[HTTP_DATE_LEN + 1];
        const char *method, *path, *range, *cc, *ctype;
        size_t method_len, path_len, range_len;
        uint64_t off = 0, len;
        bool head;
        int r, status;

        method = h2_stream_method(st, &method_len);
        path = h2_stream_path(st, &path_len);
        head = method_len == 4 && !memcmp(method, "HEAD", 4);
        if (!head && !(method_len == 3 && !memcmp(method, "GET", 3))) {
                respond_status(c, st, 405);
                return;
        }
        if (!path || path_len == 0 || path[0] != '/') {
                respond_status(c, st, 400);
                return;
        }
        r = path_norm(path, path_len, &pn);
        if (r < 0) {
                respond_status(c, st, r == -ENAMETOOLONG ? 414 : 400);
                return;
        }
        r = token_check(c, st, &pn);
        if (r) {
                respond_status(c, st, r);
                return;
        }
        sv = calloc(1, sizeof(*sv));
        if (!sv) {
                respond_status(c, st, 503);
                return;
        }
        r = store_lookup(w->reader, pn.key, pn.key_len, &sv->obj);
        if (r < 0) {
                free(sv);
                /* The fill path is not wired to HTTP/2 streams yet (docs/tls.md). */
                if (r == -ENOENT)
                        metrics_add(m->misses, 1);
                respond_status(c, st, r == -ENOENT ? 404 : 503);
                return;
        }
        metrics_add(m->hits, 1);
        h2_stream_set_data(st, sv);

        v.etag = sv->obj.etag;
        v.etag_len = strlen(sv->obj.etag);
        v.last_modified = sv->obj.last_modified;
        cond_hdrs(st, &ch);
        cc = hit_cache_control(pn.key, pn.key_len);
        (void)http_date_format(sv->obj.last_modified, lm);

        hdr_add(&hs, "date", http_date_now(), HTTP_DATE_LEN);
        /* CORS: browsers' players fetch segments cross-origin; "*" is the default policy. */
        if (cfg->cors_origins.n == 1 && !strcmp(cfg->cors_origins.items[0], "*"))
                hdr_add(&hs, "access-control-allow-origin", "*", 1);
        status = http_cond_eval(&ch, &v);
        if (status == 412) {
                metrics_add(m->precond_failed, 1);
                respond_status(c, st, 412);
                return;
        }
        if (status == 304) {
                metrics_add(m->not_modified, 1);
                hdr_add(&hs, "etag", sv->obj.etag, strlen(sv->obj.etag));
                hdr_add(&hs, "last-modified", lm, HTTP_DATE_LEN);
                hdr_add(&hs, "cache-control", cc, strlen(cc));
                if (h2_stream_respond(st, 304, hs.h, hs.n, NULL) == 0)
                        edge_metrics_request(m, w->idx, 304, 0);
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
                if (h2_stream_respond(st, 416, hs.h, hs.n, NULL) == 0)
                        edge_metrics_request(m, w->idx, 416, 0);
                return;
        }
        ctype = sv->obj.content_type[0] ? sv->obj.content_type
                                        : http_content_type_for(pn.key, pn.key_len);
        (void)snprintf(len_s, sizeof(len_s), "%llu", (unsigned long long)len);
        hdr_add(&hs, "content-type", ctype, strlen(ctype));
        hdr_add(&hs, "content-length", len_s, strlen(len_s));
        hdr_add(&hs, "etag", sv->obj.etag, strlen(sv->obj.etag));
        hdr_add(&hs, "last-modified", lm, HTTP_DATE_LEN);
        hdr_add(&hs, "cache-control", cc, strlen(cc));
        hdr_add(&hs, "accept-ranges", "bytes", 5);
        body.fd = sv->obj.fd;
        body.off = off;
        body.len = head ? 0 : len;
        if (h2_stream_respond(st, status, hs.h, hs.n, &body) == 0)
                edge_metrics_request(m, w->idx, status, head ? 0 : len);
}

static void on_request(void *ctx, struct h2_stream *st)
{
        serve(ctx, st);
}

static void on_stream_gone(void *ctx, struct h2_stream *st, bool answered)
{
        struct conn *c = ctx;
        struct h2_served *sv = h2_stream_get_data(st);

        (void)answered;
        if (!sv)
                return;
        store_obj_release(c->w->reader, &sv->obj);
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
