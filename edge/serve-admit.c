/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "bearer.h"
#include "cmcd.h"
#include "http1-parse.h"
#include "log.h"
#include "metrics.h"
#include "path-norm.h"
#include "token.h"

#include "access-log.h"
#include "conn.h"
#include "cors.h"
#include "edge-cfg.h"
#include "prefetch.h"
#include "serve-admit.h"
#include "serve-plan.h"
#include "tls.h"
#include "worker.h"

#define TOKEN_SKEW_S 30
#define ALLOW        "GET, HEAD, OPTIONS"

/* Stage the access-log line; cm: the request's CMCD, already read (NULL: none). */
static void log_begin(struct conn *c, const struct http1_req *req, const struct path_norm *pn,
                      const struct cmcd *cm)
{
        struct access_log_rec rec = {0};
        char client[64];

        if (!access_log_on(&c->w->alog))
                return;
        rec.conn_id = c->id;
        rec.client = conn_peer_str(c, client, sizeof(client));
        if (req) {
                rec.method = req->method_str;
                rec.method_len = req->method_len;
                rec.target = req->target;
                rec.target_len = req->target_len;
                rec.cmcd = cm;
        } else {
                rec.method = rec.target = "-";
                rec.method_len = rec.target_len = 1;
        }
        if (pn) {
                rec.token = pn->token;
                rec.token_len = pn->token_len;
                rec.key = pn->key;
                rec.key_len = pn->key_len;
        } else if (req) {
                /* Refused before (or by) the key's making, a preflight: a token in the
                 * target is still hidden. */
                (void)path_norm_token_span(req->target, req->target_len, &rec.token,
                                           &rec.token_len);
        }
        rec.proto = c->h2 ? "h2" : "h1";
        rec.send_path = c->tls ? tls_conn_path(c->tls) : "plain";
        access_log_begin(&c->w->alog, &rec);
}

void serve_log_begin(struct conn *c, const struct http1_req *req, const struct path_norm *pn)
{
        struct cmcd cm;
        bool has = req && !c->admin && access_log_on(&c->w->alog) &&
                   cmcd_from_request(&cm, req, pn ? pn->cmcd : NULL, pn ? pn->cmcd_len : 0);

        log_begin(c, req, pn, has ? &cm : NULL);
}

/*
 * A child edge filling from us presents tokens.peer_token as a bearer instead of a URI token
 * (its upstream request carries the cache key, never a player's token); bearer_ok() compares.
 */
static bool peer_auth(const struct conn *c, const struct http1_req *req)
{
        const struct edge_runtime *rt = c->w->rt;
        const char *v;
        size_t len;

        if (!rt->peer_token_len || !(v = http1_req_known(req, HK_AUTHORIZATION, &len)))
                return false;
        return bearer_ok(v, len, rt->peer_token, rt->peer_token_len);
}

#define REFUSAL_LOGS_PER_S 10 /* per worker; the rest are counted and summed up */

/*
 * A refused token: counted by reason, and logged at info with the key and client (never the
 * token) at most REFUSAL_LOGS_PER_S times a second per worker, so a flood of bad URLs cannot
 * fill the log. Returns 403.
 */
static int token_refused(struct conn *c, const struct path_norm *pn, enum edge_token_refusal why)
{
        static _Thread_local struct log_budget budget;
        char client[64];

        metrics_add(c->w->srv->m.token_refusals[why], 1);
        if (!log_budget_take(&budget, REFUSAL_LOGS_PER_S, "token refusals"))
                return 403;
        log_conn(LOG_LVL_INFO, c->id, "token refused (%s): %s %.*s",
                 edge_metrics_token_reason(why), conn_peer_str(c, client, sizeof(client)),
                 (int)pn->key_len, pn->key);
        return 403;
}

static enum edge_token_refusal verify_reason(int r)
{
        switch (r) {
        case -ENOKEY:
                return TOKEN_REFUSED_UNKNOWN_KID;
        case -EPERM:
                return TOKEN_REFUSED_SIGNATURE;
        case -ESTALE:
                return TOKEN_REFUSED_EXPIRED;
        case -EAGAIN:
                return TOKEN_REFUSED_NOT_YET;
        default:
                return TOKEN_REFUSED_MALFORMED;
        }
}

/*
 * RFC 9246 matches cdniuc against the request URI with the signing package removed; the
 * normalised key is that URI's path, so the container cannot be dodged by encoding. The
 * scheme is the connection's (https on a TLS listener); Host is :authority over HTTP/2.
 * Returns the URI's length in uri, or -1 when it does not fit.
 */
static int token_uri(char *uri, size_t cap, bool tls, const char *host, size_t host_len,
                     const char *key, size_t key_len)
{
        int n = snprintf(uri, cap, "%s://%.*s%.*s", tls ? "https" : "http",
                         host ? (int)host_len : 0, host ? host : "", (int)key_len, key);

        return n < 0 || (size_t)n >= cap ? -1 : n;
}

#define TOKEN_URI_MAX (TOKEN_UC_MAX + PATH_NORM_MAX + 16)

/*
 * Signed-URL check (RFC 9246) when tokens are required. Returns 0 or an HTTP status; on 0,
 * *scope holds what the token covers when one was checked (scope->claims NULL: none was).
 */
static int token_check(struct conn *c, const struct http1_req *req, const struct path_norm *pn,
                       struct serve_scope *scope)
{
        const struct edge_runtime *rt = c->w->rt;
        struct token_claims *claims = &scope->claims_buf;
        char uri[TOKEN_URI_MAX];
        size_t host_len = 0;
        const char *host;
        int r, n;

        scope->claims = NULL;
        if (!rt->cfg->tokens.required)
                return 0;
        if (!pn->token)
                return token_refused(c, pn, TOKEN_REFUSED_MISSING);
        if (!rt->keys)
                return token_refused(c, pn, TOKEN_REFUSED_NO_KEYS);
        r = token_verify(rt->keys, pn->token, pn->token_len, (int64_t)time(NULL), TOKEN_SKEW_S,
                         claims);
        if (r < 0)
                return token_refused(c, pn, verify_reason(r));
        if ((claims->exp == 0 || !claims->uc[0]) && !rt->cfg->tokens.allow_unbounded)
                return token_refused(c, pn, TOKEN_REFUSED_UNBOUNDED);
        host = http1_req_authority(req, &host_len);
        n = token_uri(uri, sizeof(uri), c->tls != NULL, host, host_len, pn->key, pn->key_len);
        if (n < 0)
                return token_refused(c, pn, TOKEN_REFUSED_SCOPE);
        scope->client[0] = '\0';
        if (claims->ip[0])
                (void)conn_peer_str(c, scope->client, sizeof(scope->client));
        r = token_scope_check(claims, uri, (size_t)n, claims->ip[0] ? scope->client : NULL);
        if (r < 0)
                return token_refused(c, pn, TOKEN_REFUSED_SCOPE);
        scope->claims = claims;
        scope->host = host;
        scope->host_len = host_len;
        scope->tls = c->tls != NULL;
        return 0;
}

bool serve_scope_covers(const struct serve_scope *scope, const char *key, size_t key_len)
{
        char uri[TOKEN_URI_MAX];
        int n;

        if (!scope || !scope->claims)
                return true;
        n = token_uri(uri, sizeof(uri), scope->tls, scope->host, scope->host_len, key, key_len);
        return n >= 0 && token_scope_check(scope->claims, uri, (size_t)n,
                                           scope->claims->ip[0] ? scope->client : NULL) == 0;
}

static void preflight(struct serve_plan *p, struct conn *c, const struct http1_req *req)
{
        serve_plan_start(p, c, req, 204);
        serve_plan_header(p, "Allow", ALLOW, sizeof(ALLOW) - 1);
        cors_preflight_plan(p);
        serve_plan_text(p, NULL);
}

/* The plain answer with status, and Allow for a 405. */
static int refuse(struct serve_plan *p, struct conn *c, const struct http1_req *req, int status)
{
        const char *text;

        serve_plan_start(p, c, req, status);
        text = serve_plan_status_text(p);
        if (status == 405)
                serve_plan_header(p, "Allow", ALLOW, sizeof(ALLOW) - 1);
        serve_plan_text(p, text);
        return 1;
}

int serve_admit(struct serve_plan *p, struct conn *c, const struct http1_req *req,
                const char *target, size_t target_len, bool has_body, struct path_norm *pn,
                bool *ret_peer)
{
        int r;

        switch (req->method) {
        case HTTP_M_GET:
        case HTTP_M_HEAD:
                break;
        case HTTP_M_OPTIONS:
                serve_log_begin(c, req, NULL);
                if (has_body)
                        return refuse(p, c, req, 400);
                preflight(p, c, req);
                return 1;
        default:
                serve_log_begin(c, req, NULL);
                return refuse(p, c, req, 405);
        }
        if (has_body) {
                serve_log_begin(c, req, NULL);
                return refuse(p, c, req, 400);
        }
        r = path_norm(target, target_len, pn);
        if (r < 0) {
                serve_log_begin(c, req, NULL);
                return refuse(p, c, req, r == -ENAMETOOLONG ? 414 : 400);
        }
        /* The CMCD is read once, for the log and the prefetch, and only when one wants it. */
        bool prefetch = prefetch_wanted(c->w);
        struct cmcd cm;
        bool has_cmcd = !c->admin && (prefetch || access_log_on(&c->w->alog)) &&
                        cmcd_from_request(&cm, req, pn->cmcd, pn->cmcd_len);
        log_begin(c, req, pn, has_cmcd ? &cm : NULL);
        /* A prefetch for this request fetches only what its token covers. */
        struct serve_scope scope = {.claims = NULL};
        *ret_peer = peer_auth(c, req);
        r = *ret_peer ? 0 : token_check(c, req, pn, &scope);
        if (r)
                return refuse(p, c, req, r);
        if (prefetch && has_cmcd)
                prefetch_hint(c->w, pn, &cm, &scope);
        return 0;
}
