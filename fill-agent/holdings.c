/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "fetch.h"
#include "holdings.h"

static int cmp_held(const void *a, const void *b)
{
        const struct held_obj *x = a, *y = b;
        size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
        int c = memcmp(x->key, y->key, n);
        if (c)
                return c;
        return x->key_len < y->key_len ? -1 : x->key_len > y->key_len;
}

static int parse_entry(json_t *o, size_t i, struct held_obj *ret, char *err, size_t errlen)
{
        json_t *key = json_object_get(o, "key"), *size = json_object_get(o, "size");
        json_t *sha = json_object_get(o, "sha256"), *hits = json_object_get(o, "hits");
        json_t *last = json_object_get(o, "last_access");
        size_t n;

        if (!json_is_object(o) || !json_is_string(key) || json_string_length(key) == 0 ||
            json_string_length(key) > HOLDINGS_MAX_KEY || json_string_value(key)[0] != '/' ||
            !json_is_integer(size) || json_integer_value(size) < 0) {
                snprintf(err, errlen, "listing[%zu]: needs a key starting with '/' and a size", i);
                return -EINVAL;
        }
        n = json_string_length(key);
        ret->key = malloc(n + 1);
        if (!ret->key)
                return -ENOMEM;
        memcpy(ret->key, json_string_value(key), n);
        ret->key[n] = '\0';
        ret->key_len = n;
        ret->size = (uint64_t)json_integer_value(size);
        if (json_is_string(sha) && json_string_length(sha) == 64) {
                const char *s = json_string_value(sha);
                ret->has_sha256 = true;
                for (size_t k = 0; k < 64; k++) {
                        char c = s[k];
                        if (c >= 'A' && c <= 'F')
                                c = (char)(c - 'A' + 'a');
                        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
                                snprintf(err, errlen, "listing[%zu].sha256: not hex", i);
                                return -EINVAL;
                        }
                        ret->sha256[k] = c;
                }
                ret->sha256[64] = '\0';
        } else if (sha && !json_is_null(sha)) {
                snprintf(err, errlen, "listing[%zu].sha256: not 64 hex digits or null", i);
                return -EINVAL;
        }
        if (json_is_integer(hits) && json_integer_value(hits) > 0)
                ret->hits = (uint64_t)json_integer_value(hits);
        if (json_is_integer(last))
                ret->last_access = json_integer_value(last);
        return 0;
}

int holdings_parse(const char *buf, size_t len, struct holdings *ret, char *err, size_t errlen)
{
        json_error_t je;
        json_t *root;
        int r = 0;

        memset(ret, 0, sizeof(*ret));
        if (len > HOLDINGS_MAX_BYTES) {
                snprintf(err, errlen, "listing larger than %u bytes", HOLDINGS_MAX_BYTES);
                return -E2BIG;
        }
        root = json_loadb(buf, len, 0, &je);
        if (!root) {
                snprintf(err, errlen, "listing: line %d column %d: %s", je.line, je.column,
                         je.text);
                return -EINVAL;
        }
        if (!json_is_array(root)) {
                snprintf(err, errlen, "listing: not an array");
                r = -EINVAL;
                goto out;
        }
        if (json_array_size(root) > HOLDINGS_MAX_OBJECTS) {
                snprintf(err, errlen, "listing: more than %u entries", HOLDINGS_MAX_OBJECTS);
                r = -E2BIG;
                goto out;
        }
        ret->objs = calloc(json_array_size(root) + 1, sizeof(*ret->objs));
        if (!ret->objs) {
                r = -ENOMEM;
                goto out;
        }
        for (size_t i = 0; i < json_array_size(root); i++) {
                r = parse_entry(json_array_get(root, i), i, &ret->objs[ret->n], err, errlen);
                ret->n++; /* counted even when partly filled, so holdings_done frees it */
                if (r < 0)
                        goto out;
                ret->bytes += ret->objs[ret->n - 1].size;
        }
        qsort(ret->objs, ret->n, sizeof(*ret->objs), cmp_held);
        for (size_t i = 1; i < ret->n; i++) {
                if (cmp_held(&ret->objs[i - 1], &ret->objs[i]) == 0) {
                        snprintf(err, errlen, "listing: key %.200s listed twice", ret->objs[i].key);
                        r = -EINVAL;
                        goto out;
                }
        }
out:
        if (r == -ENOMEM)
                snprintf(err, errlen, "listing: out of memory");
        if (r < 0)
                holdings_done(ret);
        json_decref(root);
        return r;
}

int holdings_parse_health(const char *buf, size_t len, uint64_t *ret_bytes, uint64_t *ret_max)
{
        json_t *root = json_loadb(buf, len, 0, NULL), *b, *m;
        int r = -EINVAL;

        if (!root)
                return -EINVAL;
        b = json_object_get(root, "bytes");
        m = json_object_get(root, "max_bytes");
        if (json_is_integer(b) && json_is_integer(m) && json_integer_value(b) >= 0 &&
            json_integer_value(m) >= 0) {
                *ret_bytes = (uint64_t)json_integer_value(b);
                *ret_max = (uint64_t)json_integer_value(m);
                r = 0;
        }
        json_decref(root);
        return r;
}

void holdings_done(struct holdings *h)
{
        if (!h)
                return;
        for (size_t i = 0; i < h->n; i++)
                free(h->objs[i].key);
        free(h->objs);
        memset(h, 0, sizeof(*h));
}

const struct held_obj *holdings_find(const struct holdings *h, const char *key, size_t key_len)
{
        struct held_obj probe = {.key = (char *)key, .key_len = key_len};
        return h->n ? bsearch(&probe, h->objs, h->n, sizeof(*h->objs), cmp_held) : NULL;
}

bool holdings_has(const struct holdings *h, const char *key, size_t key_len, uint64_t size,
                  const char *sha256)
{
        const struct held_obj *o = holdings_find(h, key, key_len);

        return o && o->size == size && o->has_sha256 && memcmp(o->sha256, sha256, 64) == 0;
}

static size_t base_len(const char *admin_url)
{
        size_t n = strlen(admin_url);

        while (n && admin_url[n - 1] == '/')
                n--;
        return n;
}

char *holdings_listing_url(const char *admin_url, const char *prefix)
{
        size_t base = base_len(admin_url), len;
        char *esc = NULL, *url;

        if (prefix && *prefix) {
                esc = curl_easy_escape(NULL, prefix, 0);
                if (!esc)
                        return NULL;
        }
        len = base + (esc ? strlen(esc) : 0) + sizeof("/admin/objects?prefix=");
        url = malloc(len);
        if (url)
                snprintf(url, len, "%.*s/admin/objects%s%s", (int)base, admin_url,
                         esc ? "?prefix=" : "", esc ? esc : "");
        curl_free(esc);
        return url;
}

static int get(const char *url, const char *bearer, long timeout_ms, int64_t *retry_after,
               size_t max, char **body, size_t *blen, char *err, size_t errlen)
{
        struct fetch_req req = {.url = url,
                                .bearer = bearer,
                                .max_body = max,
                                .timeout_ms = timeout_ms,
                                .ret_retry_after = retry_after};
        long status = 0;
        int r = fetch_do(&req, &status, body, blen, err, errlen);

        if (r < 0)
                return r;
        if (status != 200) {
                snprintf(err, errlen, "%s: HTTP %ld: %.200s", url, status, *body);
                free(*body);
                *body = NULL;
                return status == 401 ? -EACCES : fetch_status_transient(status) ? -EAGAIN : -EPROTO;
        }
        return 0;
}

int holdings_fetch(const char *admin_url, const char *bearer, const char *prefix, long timeout_ms,
                   int64_t *ret_retry_after, struct holdings *ret, char *err, size_t errlen)
{
        size_t base = base_len(admin_url), hlen = base + sizeof("/healthz");
        char *health = malloc(hlen), *listing = holdings_listing_url(admin_url, prefix);
        char *body = NULL;
        size_t blen = 0;
        uint64_t bytes, max;
        int r;

        if (!health || !listing) {
                snprintf(err, errlen, "out of memory");
                r = -ENOMEM;
                goto out;
        }
        snprintf(health, hlen, "%.*s/healthz", (int)base, admin_url);
        r = get(health, NULL, timeout_ms, ret_retry_after, 1 << 16, &body, &blen, err, errlen);
        if (r < 0)
                goto out;
        if (holdings_parse_health(body, blen, &bytes, &max) < 0) {
                snprintf(err, errlen, "%s: not the edge's health JSON", health);
                r = -EINVAL;
                goto out;
        }
        free(body);
        body = NULL;
        r = get(listing, bearer, timeout_ms, ret_retry_after, HOLDINGS_MAX_BYTES, &body, &blen, err,
                errlen);
        if (r < 0)
                goto out;
        r = holdings_parse(body, blen, ret, err, errlen);
        if (r < 0)
                goto out;
        /* Health counts every object, the listing only the prefix. */
        if (!prefix || !*prefix)
                ret->bytes = bytes;
        ret->max_bytes = max;
out:
        free(body);
        free(listing);
        free(health);
        return r;
}
