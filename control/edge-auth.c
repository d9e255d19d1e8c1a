/* SPDX-License-Identifier: MIT */
/*
 * Edge request signatures (heartbeats, fill plans) and the per-instance cache of edge secrets
 * (edge-auth.h).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "fnv.h"
#include "req-sign.h"

#include "edge-auth.h"
#include "server.h"

#define SLOTS          1024 /* power of two */
#define REFETCH_MIN_MS 1000 /* a copy this old is fetched again when a signature fails */
#define EDGE_ID_MAX    129

struct slot {
        char edge[EDGE_ID_MAX];
        char secret[REQ_SIGN_SECRET_MAX];
        size_t len;
        uint64_t fetched_ms;
        bool used;
};

struct edge_auth {
        uint64_t ttl_ms;
        struct slot *slots;
};

int edge_auth_new(uint64_t ttl_ms, struct edge_auth **ret)
{
        struct edge_auth *a = calloc(1, sizeof(*a));

        if (!a)
                return -ENOMEM;
        a->ttl_ms = ttl_ms;
        a->slots = calloc(SLOTS, sizeof(*a->slots));
        if (!a->slots) {
                free(a);
                return -ENOMEM;
        }
        *ret = a;
        return 0;
}

void edge_auth_free(struct edge_auth *a)
{
        if (!a)
                return;
        OPENSSL_cleanse(a->slots, SLOTS * sizeof(*a->slots));
        free(a->slots);
        free(a);
}

int edge_auth_time(const struct ctl_req *rq, int64_t *ret_ms)
{
        size_t tl = 0, sl = 0;
        const char *t = http1_req_header(rq->head, REQ_SIGN_TIME_HEADER, &tl);
        const char *s = http1_req_header(rq->head, REQ_SIGN_SIG_HEADER, &sl);

        if (!t || !s)
                return -ENOKEY;
        return req_sign_time_parse(t, tl, ret_ms);
}

int edge_auth_verify(const char *secret, size_t len, const struct ctl_req *rq, int64_t signed_ms)
{
        char target[CTL_TARGET_MAX + 1];
        size_t sl = 0, tl = rq->head->target_len;
        const char *sig = http1_req_header(rq->head, REQ_SIGN_SIG_HEADER, &sl);

        /* The request target as sent, query included: a signature for one edge's plan
         * (?edge=<id>) is no signature for another's, nor for another limit. */
        if (!sig || len == 0 || tl > CTL_TARGET_MAX)
                return -EPERM;
        memcpy(target, rq->head->target, tl);
        target[tl] = '\0';
        return req_sign_verify(secret, len, http_method_name(rq->method), target, signed_ms,
                               rq->body, rq->body_len, sig, sl) == 0
                   ? 0
                   : -EPERM;
}

int edge_auth_cached(struct edge_auth *a, const char *edge, const struct ctl_req *rq,
                     int64_t signed_ms, uint64_t loop_ms)
{
        struct slot *s = &a->slots[fnv1a_str(FNV1A_INIT, edge) & (SLOTS - 1)];
        uint64_t age;

        if (!s->used || strcmp(s->edge, edge))
                return -ENOENT;
        age = loop_ms - s->fetched_ms;
        if (age > a->ttl_ms)
                return -ENOENT;
        if (edge_auth_verify(s->secret, s->len, rq, signed_ms) == 0)
                return 0;
        if (age >= REFETCH_MIN_MS)
                return -ENOENT;
        return s->len ? -EPERM : -ENOKEY;
}

void edge_auth_forget(struct edge_auth *a, const char *edge)
{
        struct slot *s = &a->slots[fnv1a_str(FNV1A_INIT, edge) & (SLOTS - 1)];

        if (s->used && !strcmp(s->edge, edge))
                OPENSSL_cleanse(s, sizeof(*s));
}

void edge_auth_put(struct edge_auth *a, const char *edge, const char *secret, size_t len,
                   uint64_t loop_ms)
{
        struct slot *s = &a->slots[fnv1a_str(FNV1A_INIT, edge) & (SLOTS - 1)];
        size_t el = strlen(edge);

        if (a->ttl_ms == 0 || el >= sizeof(s->edge) || len > sizeof(s->secret))
                return;
        OPENSSL_cleanse(s, sizeof(*s));
        memcpy(s->edge, edge, el + 1);
        if (len)
                memcpy(s->secret, secret, len);
        s->len = len;
        s->fetched_ms = loop_ms;
        s->used = true;
}
