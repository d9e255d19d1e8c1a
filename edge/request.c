/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cmcd.h"
#include "http-resp.h"
#include "http1-parse.h"
#include "log.h"
#include "metrics.h"
#include "path-norm.h"
#include "token.h"

#include "conn.h"
#include "cors.h"
#include "edge-cfg.h"
#include "hit.h"
#include "prefetch.h"
#include "request.h"
#include "tls.h"
#include "worker.h"

#define TOKEN_SKEW_S 30
#define ALLOW        "GET, HEAD, OPTIONS"

void request_head_start(struct conn *c, const struct http1_req *req, struct http_resp *hr,
                        int status)
{
        const struct edge_cfg *cfg = c->w->rt->cfg;

        c->req_status = status;
        http_resp_start(hr, c->w->head, sizeof(c->w->head), status);
        if (c->close_after || c->w->draining)
                http_resp_header(hr, "Connection", "close", 5);
        else if (req && req->minor == 0)
                http_resp_header(hr, "Connection", "keep-alive", 10);
        if (!c->admin)
                cors_headers(hr, &cfg->cors_origins, req);
}

void request_respond_text(struct conn *c, const struct http1_req *req, struct http_resp *hr,
                          const char *body)
{
        size_t blen = body ? strlen(body) : 0;
        struct conn_resp r = {0};
        int n;

        if (blen)
                http_resp_header(hr, "Content-Type", "text/plain; charset=utf-8", 25);
        if (c->req_status != 204 && c->req_status != 304)
                http_resp_header_u64(hr, "Content-Length", blen);
        n = http_resp_finish(hr);
        if (n < 0) {
                log_conn(LOG_LVL_ERROR, c->id, "response head overflow, closing");
                conn_close(c, "head overflow");
                return;
        }
        r.status = c->req_status;
        r.head = hr->buf;
        r.head_len = (size_t)n;
        if (!(req && req->method == HTTP_M_HEAD)) {
                r.body = body;
                r.body_len = blen;
        }
        r.client = !c->admin;
        conn_respond(c, &r);
}

/* CMCD from the query argument or the four CMCD-* headers; false when there is none. */
static bool cmcd_gather(const struct http1_req *req, const struct path_norm *pn, struct cmcd *cm)
{
        static const char *const hdrs[] = {"CMCD-Object", "CMCD-Request", "CMCD-Session",
                                           "CMCD-Status"};
        bool any = false;

        cmcd_init(cm);
        if (pn && pn->cmcd) {
                (void)cmcd_parse(cm, pn->cmcd, pn->cmcd_len, 0);
                any = true;
        }
        for (size_t i = 0; i < sizeof(hdrs) / sizeof(hdrs[0]); i++) {
                size_t len;
                const char *v = http1_req_header(req, hdrs[i], &len);
                if (v) {
                        (void)cmcd_parse(cm, v, len, 1);
                        any = true;
                }
        }
        return any;
}

void request_log_begin(struct conn *c, const struct http1_req *req, const struct path_norm *pn)
{
        struct access_log_rec rec = {0};
        char client[64];
        struct cmcd cm;

        if (!access_log_on(&c->w->alog))
                return;
        rec.conn_id = c->id;
        rec.client = conn_peer_str(c, client, sizeof(client));
        if (req) {
                rec.method = req->method_str;
                rec.method_len = req->method_len;
                rec.target = req->target;
                rec.target_len = req->target_len;
                if (!c->admin && cmcd_gather(req, pn, &cm))
                        rec.cmcd = &cm;
        } else {
                rec.method = rec.target = "-";
                rec.method_len = rec.target_len = 1;
        }
        if (pn) {
                rec.token = pn->token;
                rec.token_len = pn->token_len;
                rec.key = pn->key;
                rec.key_len = pn->key_len;
        }
        rec.proto = "h1";
        rec.send_path = c->tls ? tls_conn_path(c->tls) : "plain";
        access_log_begin(&c->w->alog, &rec);
}

void request_refuse(struct conn *c, int status)
{
        struct http_resp hr;
        char body[64];

        c->close_after = true;
        if (!c->admin)
                edge_metrics_refusal(&c->w->srv->m, status);
        request_log_begin(c, NULL, NULL);
        request_head_start(c, NULL, &hr, status);
        /* snprintf: the reason table is the parser engineer's and has bounded strings */
        (void)snprintf(body, sizeof(body), "%d %s\n", status, http_status_reason(status));
        request_respond_text(c, NULL, &hr, body);
}

static void respond_status(struct conn *c, const struct http1_req *req, int status,
                           const char *allow)
{
        struct http_resp hr;
        char body[64];

        request_head_start(c, req, &hr, status);
        if (allow)
                http_resp_header(&hr, "Allow", allow, strlen(allow));
        (void)snprintf(body, sizeof(body), "%d %s\n", status, http_status_reason(status));
        request_respond_text(c, req, &hr, body);
}

static void preflight(struct conn *c, const struct http1_req *req)
{
        struct http_resp hr;

        request_head_start(c, req, &hr, 204);
        http_resp_header(&hr, "Allow", ALLOW, sizeof(ALLOW) - 1);
        cors_preflight_headers(&hr, &c->w->rt->cfg->cors_origins, req);
        request_respond_text(c, req, &hr, NULL);
}

/*
 * A child edge filling from us presents tokens.peer_token as a bearer instead of a URI token
 * (its upstream request carries the cache key, never a player's token). Compared in constant
 * time over the configured length.
 */
static bool peer_auth(const struct conn *c, const struct http1_req *req)
{
        const struct edge_runtime *rt = c->w->rt;
        const char *v;
        size_t len;
        unsigned char diff = 0;

        if (!rt->peer_token_len)
                return false;
        v = http1_req_known(req, HK_AUTHORIZATION, &len);
        if (!v || len != 7 + rt->peer_token_len || strncasecmp(v, "Bearer ", 7) != 0)
                return false;
        for (size_t i = 0; i < rt->peer_token_len; i++)
                diff |= (unsigned char)(v[7 + i] ^ rt->peer_token[i]);
        return diff == 0;
}

/* Signed-URL check (RFC 9246) when tokens are required. Returns 0 or an HTTP status. */
static int token_check(struct conn *c, const struct http1_req *req, const struct path_norm *pn)
{
        const struct edge_runtime *rt = c->w->rt;
        struct token_claims claims;
        char client[64];
        int r;

        if (!rt->cfg->tokens.required)
                return 0;
        if (!pn->token || !rt->keys)
                return 403;
        r = token_verify(rt->keys, pn->token, pn->token_len, (int64_t)time(NULL), TOKEN_SKEW_S,
                         &claims);
        if (r < 0) {
                log_conn(LOG_LVL_DEBUG, c->id, "token refused: %d", r);
                return 403;
        }
        /*
         * RFC 9246 matches cdniuc against the request URI with the signing package removed;
         * the normalised key is that URI's path, so the container cannot be dodged by encoding.
         */
        char uri[TOKEN_UC_MAX + PATH_NORM_MAX + 16];
        size_t host_len = 0;
        const char *host = http1_req_known(req, HK_HOST, &host_len);
        int n = snprintf(uri, sizeof(uri), "http://%.*s%.*s", host ? (int)host_len : 0,
                         host ? host : "", (int)pn->key_len, pn->key);
        if (n < 0 || (size_t)n >= sizeof(uri))
                return 403;
        r = token_scope_check(&claims, uri, (size_t)n,
                              claims.ip[0] ? conn_peer_str(c, client, sizeof(client)) : NULL);
        return r < 0 ? 403 : 0;
}

/*
 * RFC 9112 §3.2.2: a server must accept the absolute-form ("http://host/path"); the authority
 * then overrides Host, which does not matter here since every name serves the same objects.
 * Yields the origin-form part ("/" when the URI has no path).
 */
static void origin_form(const struct http1_req *req, const char **ret, size_t *ret_len)
{
        const char *t = req->target, *end = t + req->target_len, *p;
        size_t skip;

        *ret = t;
        *ret_len = req->target_len;
        if (req->target_len >= 7 && strncasecmp(t, "http://", 7) == 0)
                skip = 7;
        else if (req->target_len >= 8 && strncasecmp(t, "https://", 8) == 0)
                skip = 8;
        else
                return;
        for (p = t + skip; p < end && *p != '/' && *p != '?'; p++)
                ;
        if (p == end || *p == '?') {
                *ret = "/";
                *ret_len = 1;
                return;
        }
        *ret = p;
        *ret_len = (size_t)(end - p);
}

void request_handle(struct conn *c, const struct http1_req *req)
{
        const char *target;
        size_t target_len;
        struct path_norm pn;
        bool has_body = req->chunked || req->content_length > 0;
        bool peer;
        int r;

        if (!req->keep_alive || c->w->draining)
                c->close_after = true;
        /* A body we will not read would be taken for the next request: close after. */
        if (has_body)
                c->close_after = true;

        switch (req->method) {
        case HTTP_M_GET:
        case HTTP_M_HEAD:
                break;
        case HTTP_M_OPTIONS:
                request_log_begin(c, req, NULL);
                if (has_body)
                        respond_status(c, req, 400, NULL);
                else
                        preflight(c, req);
                return;
        default:
                request_log_begin(c, req, NULL);
                respond_status(c, req, 405, ALLOW);
                return;
        }
        if (has_body) {
                request_log_begin(c, req, NULL);
                respond_status(c, req, 400, NULL);
                return;
        }

        origin_form(req, &target, &target_len);
        r = path_norm(target, target_len, &pn);
        if (r < 0) {
                request_log_begin(c, req, NULL);
                respond_status(c, req, r == -ENAMETOOLONG ? 414 : 400, NULL);
                return;
        }
        request_log_begin(c, req, &pn);
        peer = peer_auth(c, req);
        r = peer ? 0 : token_check(c, req, &pn);
        if (r) {
                respond_status(c, req, r, NULL);
                return;
        }
        prefetch_hint(c->w, req, &pn);
        hit_serve(c, req, &pn, peer);
}
