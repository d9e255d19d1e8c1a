/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "json-depth.h"
#include "path-norm.h"

#include "fetch.h"
#include "plan.h"
#include "req-sign.h"

/* A plan path is used verbatim as the edge's key, so it must already be in normal form. */
static bool path_ok(const char *p, size_t n)
{
        size_t seg = 0;

        if (n == 0 || n > PLAN_MAX_PATH || p[0] == '/')
                return false;
        for (size_t i = 0; i <= n; i++) {
                if (i == n || p[i] == '/') {
                        size_t len = i - seg;
                        if (len == 0 || (len == 1 && p[seg] == '.') ||
                            (len == 2 && p[seg] == '.' && p[seg + 1] == '.'))
                                return false;
                        seg = i + 1;
                        continue;
                }
                unsigned char c = (unsigned char)p[i];
                if (c < 0x20 || c == 0x7f || c == '?' || c == '#' || c == '%' || c == '\\')
                        return false;
        }
        return true;
}

/*
 * Why the edge would not store key[0..n) (a normal "/" + path) as that very key, or NULL when
 * it would. The agent sends a key percent-encoded (path_norm_encode) and the edge takes the
 * PUT's path through path_norm: what that refuses is a 400 at every PUT of the object, and
 * what it changes (a leading s/<token> pair is a signed-URL token, never part of a key) is
 * stored under a key the plan does not name.
 */
#define TEXT_(x) #x
#define TEXT(x)  TEXT_(x)

static const char *edge_refuses(const char *key, size_t n)
{
        static const char too_long[] =
            "longer than the edge's keys can be (" TEXT(PATH_NORM_MAX) " bytes with the leading /)";
        char enc[3 * (PLAN_MAX_PATH + 1) + 1];
        struct path_norm pn;
        int r;

        for (size_t i = 0; i < n; i++)
                if (key[i] == ' ')
                        return "it holds a space, which the edge refuses in a key (encoded too)";
        if (n > PATH_NORM_MAX)
                return too_long;
        r = path_norm_encode(key, n, enc, sizeof(enc));
        if (r >= 0)
                r = path_norm(enc, (size_t)r, &pn);
        if (r == -ENAMETOOLONG)
                return too_long;
        if (r < 0)
                return "not a key the edge takes";
        if (pn.key_len != n || memcmp(pn.key, key, n) != 0)
                return "the edge would store it under another key (a leading s/<token> is a "
                       "signed-URL token's place)";
        return NULL;
}

static bool sha_ok(const char *s, size_t n)
{
        if (n != 64)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
                      (s[i] >= 'A' && s[i] <= 'F')))
                        return false;
        return true;
}

static char *dup_str(const char *s, size_t n)
{
        char *d = malloc(n + 1);
        if (d) {
                memcpy(d, s, n);
                d[n] = '\0';
        }
        return d;
}

static const struct plan *sort_plan;

static int cmp_key(const void *a, const void *b)
{
        const struct plan_obj *x = &sort_plan->objs[*(const size_t *)a];
        const struct plan_obj *y = &sort_plan->objs[*(const size_t *)b];
        size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
        int c = memcmp(x->key, y->key, n);
        if (c)
                return c;
        if (x->key_len != y->key_len)
                return x->key_len < y->key_len ? -1 : 1;
        return x->rank < y->rank ? -1 : x->rank > y->rank;
}

/* Sort an index by key; drop later duplicates from objs (keeping rank order). */
static int build_index(struct plan *p)
{
        bool *drop = NULL;
        size_t w = 0;
        int r = 0;

        p->by_key = malloc((p->n ? p->n : 1) * sizeof(size_t));
        drop = calloc(p->n ? p->n : 1, sizeof(bool));
        if (!p->by_key || !drop) {
                r = -ENOMEM;
                goto out;
        }
        for (size_t i = 0; i < p->n; i++)
                p->by_key[i] = i;
        sort_plan = p;
        qsort(p->by_key, p->n, sizeof(size_t), cmp_key);
        for (size_t i = 1; i < p->n; i++) {
                const struct plan_obj *a = &p->objs[p->by_key[i - 1]], *b = &p->objs[p->by_key[i]];
                if (a->key_len == b->key_len && memcmp(a->key, b->key, a->key_len) == 0)
                        drop[p->by_key[i]] = true;
        }
        for (size_t i = 0; i < p->n; i++) {
                if (drop[i]) {
                        free(p->objs[i].key);
                        free(p->objs[i].url);
                        p->dropped_dups++;
                        continue;
                }
                p->objs[w] = p->objs[i];
                p->objs[w].rank = w;
                w++;
        }
        p->n = w;
        for (size_t i = 0; i < p->n; i++)
                p->by_key[i] = i;
        qsort(p->by_key, p->n, sizeof(size_t), cmp_key);
out:
        free(drop);
        return r;
}

static int parse_obj(json_t *o, size_t i, struct plan_obj *ret, char *err, size_t errlen)
{
        json_t *path = json_object_get(o, "path"), *size = json_object_get(o, "size");
        json_t *sha = json_object_get(o, "sha256"), *url = json_object_get(o, "url");
        json_t *score = json_object_get(o, "score");
        const char *s;
        size_t n;

        if (!json_is_object(o)) {
                snprintf(err, errlen, "objects[%zu]: not an object", i);
                return -EINVAL;
        }
        if (!json_is_string(path) || !path_ok(json_string_value(path), json_string_length(path))) {
                snprintf(err, errlen, "objects[%zu].path: missing, too long or not a normal path",
                         i);
                return -EINVAL;
        }
        {
                char key[PLAN_MAX_PATH + 2];
                const char *why;

                n = json_string_length(path);
                key[0] = '/';
                memcpy(key + 1, json_string_value(path), n);
                why = edge_refuses(key, n + 1);
                if (why) {
                        snprintf(err, errlen, "objects[%zu].path: %s", i, why);
                        return -EINVAL;
                }
        }
        if (!json_is_integer(size) || json_integer_value(size) < 0) {
                snprintf(err, errlen, "objects[%zu].size: not a non-negative integer", i);
                return -EINVAL;
        }
        /* Bounded so that no sum of sizes wraps: three objects near 2^63 bytes read as a
         * plan of a few bytes, or as one of 9223 PB. */
        if ((uint64_t)json_integer_value(size) > PLAN_MAX_SIZE) {
                snprintf(err, errlen,
                         "objects[%zu].size: %" JSON_INTEGER_FORMAT " bytes, more than an object "
                         "may be (4 TiB)",
                         i, json_integer_value(size));
                return -EINVAL;
        }
        if (!json_is_string(sha) || !sha_ok(json_string_value(sha), json_string_length(sha))) {
                snprintf(err, errlen, "objects[%zu].sha256: not 64 hex digits", i);
                return -EINVAL;
        }
        if (!json_is_string(url) || json_string_length(url) > PLAN_MAX_URL ||
            (strncmp(json_string_value(url), "http://", 7) != 0 &&
             strncmp(json_string_value(url), "https://", 8) != 0) ||
            strlen(json_string_value(url)) != json_string_length(url)) {
                snprintf(err, errlen, "objects[%zu].url: not an http(s) URL", i);
                return -EINVAL;
        }
        if (score && !json_is_null(score) &&
            (!json_is_number(score) || !isfinite(json_number_value(score)) ||
             json_number_value(score) < 0)) {
                snprintf(err, errlen, "objects[%zu].score: not a non-negative number", i);
                return -EINVAL;
        }
        s = json_string_value(path);
        n = json_string_length(path);
        ret->key = malloc(n + 2);
        ret->url = strdup(json_string_value(url));
        if (!ret->key || !ret->url)
                return -ENOMEM;
        ret->key[0] = '/';
        memcpy(ret->key + 1, s, n);
        ret->key[n + 1] = '\0';
        ret->key_len = n + 1;
        ret->size = (uint64_t)json_integer_value(size);
        for (size_t k = 0; k < 64; k++) {
                char c = json_string_value(sha)[k];
                ret->sha256[k] = (char)(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
        }
        ret->sha256[64] = '\0';
        ret->score = json_is_number(score) ? json_number_value(score) : 0;
        ret->rank = i;
        return 0;
}

static int opt_str(json_t *root, const char *name, char **ret)
{
        json_t *v = json_object_get(root, name);
        if (!json_is_string(v))
                return 0;
        if (json_string_length(v) > 256)
                return -EINVAL;
        *ret = dup_str(json_string_value(v), json_string_length(v));
        return *ret ? 0 : -ENOMEM;
}

int plan_parse(const char *buf, size_t len, struct plan *ret, char *err, size_t errlen)
{
        json_error_t je;
        json_t *root = NULL, *objs, *gen;
        int r = 0;

        memset(ret, 0, sizeof(*ret));
        if (len > PLAN_MAX_BYTES) {
                snprintf(err, errlen, "plan larger than %u bytes", PLAN_MAX_BYTES);
                return -E2BIG;
        }
        if (!json_shape_within(buf, len, PLAN_MAX_CONTAINERS, PLAN_MAX_VALUES)) {
                snprintf(err, errlen,
                         "plan: more JSON values than a plan of %u objects holds, refused "
                         "unparsed",
                         PLAN_MAX_OBJECTS);
                return -E2BIG;
        }
        root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
        if (!root) {
                snprintf(err, errlen, "plan: line %d column %d: %s", je.line, je.column, je.text);
                return -EINVAL;
        }
        objs = json_object_get(root, "objects");
        if (!json_is_object(root) || !json_is_array(objs)) {
                snprintf(err, errlen, "plan: not an object with an \"objects\" array");
                r = -EINVAL;
                goto out;
        }
        if (json_array_size(objs) > PLAN_MAX_OBJECTS) {
                snprintf(err, errlen, "plan: more than %u objects", PLAN_MAX_OBJECTS);
                r = -E2BIG;
                goto out;
        }
        if (opt_str(root, "edge", &ret->edge) < 0 || opt_str(root, "region", &ret->region) < 0 ||
            opt_str(root, "tz", &ret->tz) < 0) {
                snprintf(err, errlen, "plan: edge, region or tz too long");
                r = -EINVAL;
                goto out;
        }
        gen = json_object_get(root, "generated");
        if (json_is_integer(gen))
                ret->generated = json_integer_value(gen);
        else if (json_is_real(gen) && json_real_value(gen) >= 0 && json_real_value(gen) < 1e15)
                ret->generated = (int64_t)json_real_value(gen);
        ret->objs = calloc(json_array_size(objs) + 1, sizeof(*ret->objs));
        if (!ret->objs) {
                r = -ENOMEM;
                goto out;
        }
        for (size_t i = 0; i < json_array_size(objs); i++) {
                r = parse_obj(json_array_get(objs, i), i, &ret->objs[ret->n], err, errlen);
                if (r < 0) {
                        free(ret->objs[ret->n].key);
                        free(ret->objs[ret->n].url);
                        goto out;
                }
                ret->n++;
        }
        r = build_index(ret);
out:
        if (r == -ENOMEM)
                snprintf(err, errlen, "plan: out of memory");
        if (r < 0)
                plan_done(ret);
        json_decref(root);
        return r;
}

void plan_done(struct plan *p)
{
        if (!p)
                return;
        for (size_t i = 0; i < p->n; i++) {
                free(p->objs[i].key);
                free(p->objs[i].url);
        }
        free(p->objs);
        free(p->by_key);
        free(p->edge);
        free(p->region);
        free(p->tz);
        memset(p, 0, sizeof(*p));
}

const struct plan_obj *plan_find(const struct plan *p, const char *key, size_t key_len)
{
        size_t lo = 0, hi = p->n;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                const struct plan_obj *o = &p->objs[p->by_key[mid]];
                size_t n = o->key_len < key_len ? o->key_len : key_len;
                int c = memcmp(o->key, key, n);
                if (c == 0)
                        c = o->key_len < key_len ? -1 : o->key_len > key_len;
                if (c == 0)
                        return o;
                if (c < 0)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return NULL;
}

int plan_fetch(const char *control, const char *bearer, const char *secret, size_t secret_len,
               const char *edge_id, long timeout_ms, int64_t *ret_retry_after, struct plan *ret,
               char *err, size_t errlen)
{
        char *id = curl_easy_escape(NULL, edge_id, 0), *url = NULL, *body = NULL, *target;
        char lines[2][REQ_SIGN_LINE_MAX];
        const char *signed_hdrs[3] = {NULL};
        size_t blen = 0, ulen;
        long status = 0;
        int r;

        if (!id)
                return -ENOMEM;
        ulen = strlen(control) + strlen(id) + 32;
        url = malloc(ulen);
        if (!url) {
                r = -ENOMEM;
                goto out;
        }
        {
                size_t cl = strlen(control);
                while (cl && control[cl - 1] == '/')
                        cl--;
                snprintf(url, ulen, "%.*s/v1/fill/plan?edge=%s", (int)cl, control, id);
                target = url + cl; /* what control checks: the request target as sent */
        }
        if (secret) {
                r = req_sign_headers(secret, secret_len, "GET", target, NULL, 0, lines[0],
                                     lines[1]);
                if (r < 0) {
                        snprintf(err, errlen, "cannot sign the plan request for %s: %s", edge_id,
                                 r == -EINVAL ? "the secret is not 32 to 128 visible ASCII bytes"
                                              : strerror(-r));
                        /* The secret's fault, not the plan's (plan_parse's -EINVAL). */
                        if (r == -EINVAL)
                                r = -EKEYREJECTED;
                        goto out;
                }
                signed_hdrs[0] = lines[0];
                signed_hdrs[1] = lines[1];
        }
        struct fetch_req req = {.url = url,
                                .bearer = bearer,
                                .headers = signed_hdrs,
                                .max_body = PLAN_MAX_BYTES,
                                .timeout_ms = timeout_ms,
                                .ret_retry_after = ret_retry_after};
        r = fetch_do(&req, &status, &body, &blen, err, errlen);
        if (r < 0)
                goto out;
        if (status != 200) {
                fetch_status_error(err, errlen, url, status, body, blen);
                r = status == 401                    ? -EACCES
                    : status == 403                  ? -EPERM
                    : status == 404                  ? -ENOENT
                    : fetch_status_transient(status) ? -EAGAIN
                                                     : -EPROTO;
                goto out;
        }
        r = plan_parse(body, blen, ret, err, errlen);
        /* Another edge's plan would have this one fill, and evict, by the wrong list. */
        if (r >= 0 && (!ret->edge || strcmp(ret->edge, edge_id) != 0)) {
                char name[201];

                fetch_answer_text(name, sizeof(name), ret->edge, ret->edge ? strlen(ret->edge) : 0);
                snprintf(err, errlen,
                         "control answered the fill plan for %s with %s%s%s; refusing it", edge_id,
                         ret->edge ? "a plan for edge \"" : "a plan naming no edge", name,
                         ret->edge ? "\"" : "");
                plan_done(ret);
                r = -EBADMSG;
        }
out:
        free(body);
        free(url);
        curl_free(id);
        return r;
}
