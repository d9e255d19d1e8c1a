/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "buf.h"
#include "hex.h"
#include "json-depth.h"
#include "path-norm.h"
#include "utf8.h"

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

/* Does k[0..n) hold a control byte (NUL included)? The edge's paths refuse them, so no key it
 * stores has one; a listing naming such a key would carry it into the output and the URLs. */
static bool key_has_ctl(const char *k, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if ((unsigned char)k[i] < 0x20 || k[i] == 0x7f)
                        return true;
        return false;
}

/*
 * The key's exact bytes from "key_pct" (s[0..n), percent-encoded) into a malloc'd string.
 * "%XX" is the byte XX, any other byte stands for itself; a '%' without two hex digits, a
 * control byte (NUL included), a result not starting with '/' or longer than HOLDINGS_MAX_KEY
 * is refused (-EINVAL).
 */
static int key_pct_decode(const char *s, size_t n, char **ret, size_t *ret_len)
{
        char *key;
        size_t o = 0;

        if (n == 0 || n > HOLDINGS_MAX_KEY_PCT)
                return -EINVAL;
        key = malloc(n + 1);
        if (!key)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                int hi, lo;

                if (s[i] != '%') {
                        key[o++] = s[i];
                        continue;
                }
                hi = i + 2 < n ? hex_digit(s[i + 1]) : -1;
                lo = hi >= 0 ? hex_digit(s[i + 2]) : -1;
                if (lo < 0)
                        goto bad;
                key[o++] = (char)((hi << 4) | lo);
                i += 2;
        }
        if (o > HOLDINGS_MAX_KEY || key[0] != '/' || key_has_ctl(key, o))
                goto bad;
        key[o] = '\0';
        *ret = key;
        *ret_len = o;
        return 0;
bad:
        free(key);
        return -EINVAL;
}

/*
 * The entry's key: "key" as listed, or, when the edge gives "key_pct", the bytes it names. An
 * edge lists a key that is not UTF-8 by a reading of it ("\u00ff" for the byte 0xff) that
 * is another key's bytes; a delete by that reading would miss, or remove that other object.
 */
static int parse_key(json_t *o, size_t i, struct held_obj *ret, char *err, size_t errlen)
{
        json_t *key = json_object_get(o, "key"), *pct = json_object_get(o, "key_pct");
        size_t n;
        int r;

        if (pct) {
                r = -EINVAL;
                if (json_is_string(pct))
                        r = key_pct_decode(json_string_value(pct), json_string_length(pct),
                                           &ret->key, &ret->key_len);
                if (r == -EINVAL)
                        snprintf(err, errlen,
                                 "listing[%zu].key_pct: not a percent-encoded key starting with "
                                 "'/' of at most %u bytes without control bytes",
                                 i, HOLDINGS_MAX_KEY);
                return r;
        }
        n = json_string_length(key);
        if (key_has_ctl(json_string_value(key), n)) {
                snprintf(err, errlen, "listing[%zu].key: holds a control byte", i);
                return -EINVAL;
        }
        ret->key = malloc(n + 1);
        if (!ret->key)
                return -ENOMEM;
        memcpy(ret->key, json_string_value(key), n);
        ret->key[n] = '\0';
        ret->key_len = n;
        return 0;
}

static int parse_entry(json_t *o, size_t i, struct held_obj *ret, char *err, size_t errlen)
{
        json_t *key = json_object_get(o, "key"), *size = json_object_get(o, "size");
        json_t *sha = json_object_get(o, "sha256"), *hits = json_object_get(o, "hits");
        json_t *last = json_object_get(o, "last_access");
        int r;

        if (!json_is_object(o) || !json_is_string(key) || json_string_length(key) == 0 ||
            json_string_length(key) > HOLDINGS_MAX_KEY || json_string_value(key)[0] != '/' ||
            !json_is_integer(size) || json_integer_value(size) < 0) {
                snprintf(err, errlen, "listing[%zu]: needs a key starting with '/' and a size", i);
                return -EINVAL;
        }
        /* An edge's size beyond any object's would wrap the sums made of it (the listing's
         * bytes, the unplanned bytes, the room evicting makes): 2^63 - 1 twice and 4 more
         * read as 2 bytes. */
        if ((uint64_t)json_integer_value(size) > HOLDINGS_MAX_SIZE) {
                snprintf(err, errlen,
                         "listing[%zu].size: %" JSON_INTEGER_FORMAT " bytes, more than an "
                         "object may be (4 TiB)",
                         i, json_integer_value(size));
                return -EINVAL;
        }
        r = parse_key(o, i, ret, err, errlen);
        if (r < 0)
                return r;
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

/* Append the entries of one listing (a JSON array) to h; *ret_n gets how many it held. */
static int parse_append(const char *buf, size_t len, struct holdings *h, size_t *ret_n, char *err,
                        size_t errlen)
{
        json_error_t je;
        json_t *root;
        size_t n;
        int r = 0;

        if (len > HOLDINGS_MAX_BYTES) {
                snprintf(err, errlen, "listing larger than %u bytes", HOLDINGS_MAX_BYTES);
                return -E2BIG;
        }
        if (!json_shape_within(buf, len, HOLDINGS_MAX_CONTAINERS, HOLDINGS_MAX_VALUES)) {
                snprintf(err, errlen,
                         "listing: more JSON values than a listing of %u entries holds, refused "
                         "unparsed",
                         HOLDINGS_MAX_OBJECTS);
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
        n = json_array_size(root);
        *ret_n = n;
        if (n > HOLDINGS_MAX_OBJECTS - h->n) {
                snprintf(err, errlen, "listing: more than %u entries", HOLDINGS_MAX_OBJECTS);
                r = -E2BIG;
                goto out;
        }
        if (h->n + n + 1 > h->cap) {
                size_t cap = h->cap ? h->cap : 16;
                struct held_obj *objs;

                while (cap < h->n + n + 1)
                        cap *= 2;
                objs = realloc(h->objs, cap * sizeof(*objs));
                if (!objs) {
                        r = -ENOMEM;
                        goto out;
                }
                memset(objs + h->cap, 0, (cap - h->cap) * sizeof(*objs));
                h->objs = objs;
                h->cap = cap;
        }
        for (size_t i = 0; i < n; i++) {
                r = parse_entry(json_array_get(root, i), i, &h->objs[h->n], err, errlen);
                h->n++; /* counted even when partly filled, so holdings_done frees it */
                if (r < 0)
                        goto out;
                /* Checked, so that the total and every sum of some entries' sizes stay a
                 * signed 64-bit integer, as --json writes them. */
                if (h->objs[h->n - 1].size > INT64_MAX - h->bytes) {
                        snprintf(err, errlen,
                                 "listing[%zu]: the sizes listed add up to more than %" PRId64
                                 " bytes",
                                 i, INT64_MAX);
                        r = -EINVAL;
                        goto out;
                }
                h->bytes += h->objs[h->n - 1].size;
        }
out:
        if (r == -ENOMEM)
                snprintf(err, errlen, "listing: out of memory");
        json_decref(root);
        return r;
}

/* Sort by key and refuse a key listed twice. */
static int finish(struct holdings *h, char *err, size_t errlen)
{
        if (h->n)
                qsort(h->objs, h->n, sizeof(*h->objs), cmp_held);
        for (size_t i = 1; i < h->n; i++) {
                if (cmp_held(&h->objs[i - 1], &h->objs[i]) == 0) {
                        snprintf(err, errlen, "listing: key %.200s listed twice", h->objs[i].key);
                        return -EINVAL;
                }
        }
        return 0;
}

int holdings_parse(const char *buf, size_t len, struct holdings *ret, char *err, size_t errlen)
{
        size_t n;
        int r;

        memset(ret, 0, sizeof(*ret));
        r = parse_append(buf, len, ret, &n, err, errlen);
        if (r >= 0)
                r = finish(ret, err, errlen);
        if (r < 0)
                holdings_done(ret);
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

char *holdings_page_url(const char *admin_url, const char *prefix, unsigned limit,
                        const char *after, size_t after_len)
{
        size_t base = base_len(admin_url), len;
        char *pre = NULL, *aft = NULL, *url = NULL;
        char lim[24] = "";

        if (prefix && *prefix && !(pre = curl_easy_escape(NULL, prefix, 0)))
                goto out;
        if (after && !(aft = curl_easy_escape(NULL, after, (int)after_len)))
                goto out;
        if (limit)
                snprintf(lim, sizeof(lim), "%u", limit);
        len = base + sizeof("/admin/objects?prefix=&limit=&after=") + (pre ? strlen(pre) : 0) +
              strlen(lim) + (aft ? strlen(aft) : 0);
        url = malloc(len);
        if (url)
                snprintf(url, len, "%.*s/admin/objects%s%s%s%s%s%s%s%s", (int)base, admin_url,
                         pre || lim[0] || aft ? "?" : "", pre ? "prefix=" : "", pre ? pre : "",
                         pre && lim[0] ? "&" : "", lim[0] ? "limit=" : "", lim,
                         aft ? (pre || lim[0] ? "&after=" : "after=") : "", aft ? aft : "");
out:
        curl_free(pre);
        curl_free(aft);
        return url;
}

char *holdings_listing_url(const char *admin_url, const char *prefix)
{
        return holdings_page_url(admin_url, prefix, 0, NULL, 0);
}

/* GET url; *next (when not NULL) gets the answer's X-Sluice-Next, percent-decoded, or NULL. */
static int get(const char *url, const char *bearer, long timeout_ms, int64_t *retry_after,
               size_t max, char **body, size_t *blen, char **next, size_t *next_len, char *err,
               size_t errlen)
{
        struct fetch_req req = {.url = url,
                                .bearer = bearer,
                                .max_body = max,
                                .timeout_ms = timeout_ms,
                                .ret_retry_after = retry_after,
                                .header = next ? "X-Sluice-Next" : NULL,
                                .ret_header = next};
        long status = 0;
        int r = fetch_do(&req, &status, body, blen, err, errlen);

        if (r < 0)
                return r;
        if (status != 200) {
                fetch_status_error(err, errlen, url, status, *body, *blen);
                free(*body);
                *body = NULL;
                r = status == 401 ? -EACCES : fetch_status_transient(status) ? -EAGAIN : -EPROTO;
        } else if (next && *next) {
                int n = 0;
                char *raw = curl_easy_unescape(NULL, *next, 0, &n);
                char *copy = raw ? malloc((size_t)n + 1) : NULL;

                if (copy) {
                        memcpy(copy, raw, (size_t)n + 1);
                        *next_len = (size_t)n;
                } else {
                        snprintf(err, errlen, "out of memory");
                        r = -ENOMEM;
                }
                curl_free(raw);
                free(*next);
                *next = copy;
        }
        if (r < 0 && next) {
                free(*next);
                *next = NULL;
        }
        return r;
}

/*
 * The listing in pages of page entries: while more remain, the edge names the cursor for the
 * next page (X-Sluice-Next: the page's last key as stored, whatever its bytes), and a page
 * without one is the last. An edge that does not page answers everything at once, without a
 * cursor: that is the whole listing too. A cursor that does not move forward stops the survey.
 */
static int fetch_listing(const char *admin_url, const char *bearer, const char *prefix,
                         unsigned page, long timeout_ms, int64_t *ret_retry_after,
                         struct holdings *ret, char *err, size_t errlen)
{
        char *after = NULL;
        size_t after_len = 0;
        int r;

        memset(ret, 0, sizeof(*ret));
        for (;;) {
                char *url = holdings_page_url(admin_url, prefix, page, after, after_len);
                char *body = NULL, *next = NULL;
                size_t blen = 0, n = 0, next_len = 0;

                if (!url) {
                        snprintf(err, errlen, "out of memory");
                        r = -ENOMEM;
                        break;
                }
                r = get(url, bearer, timeout_ms, ret_retry_after, HOLDINGS_MAX_BYTES, &body, &blen,
                        &next, &next_len, err, errlen);
                free(url);
                if (r >= 0)
                        r = parse_append(body, blen, ret, &n, err, errlen);
                free(body);
                if (r < 0 || !next) {
                        free(next);
                        if (r == -ENOMEM)
                                snprintf(err, errlen, "out of memory");
                        break;
                }
                if (n == 0) {
                        snprintf(err, errlen, "listing: an empty page named a next one");
                        free(next);
                        r = -EPROTO;
                        break;
                }
                if (after) {
                        struct held_obj a = {.key = after, .key_len = after_len};
                        struct held_obj b = {.key = next, .key_len = next_len};
                        if (cmp_held(&b, &a) <= 0) {
                                char text[201];

                                fetch_answer_text(text, sizeof(text), after, after_len);
                                snprintf(err, errlen, "listing: a page did not move past %s", text);
                                free(next);
                                r = -EPROTO;
                                break;
                        }
                }
                free(after);
                after = next;
                after_len = next_len;
        }
        free(after);
        if (r >= 0)
                r = finish(ret, err, errlen);
        if (r < 0)
                holdings_done(ret);
        return r;
}

int holdings_fetch(const char *admin_url, const char *bearer, const char *prefix, unsigned page,
                   long timeout_ms, int64_t *ret_retry_after, struct holdings *ret, char *err,
                   size_t errlen)
{
        size_t base = base_len(admin_url), hlen = base + sizeof("/healthz");
        char *health = malloc(hlen), *body = NULL;
        size_t blen = 0;
        uint64_t bytes, max;
        int r;

        memset(ret, 0, sizeof(*ret));
        if (!health) {
                snprintf(err, errlen, "out of memory");
                return -ENOMEM;
        }
        snprintf(health, hlen, "%.*s/healthz", (int)base, admin_url);
        r = get(health, NULL, timeout_ms, ret_retry_after, 1 << 16, &body, &blen, NULL, NULL, err,
                errlen);
        if (r < 0)
                goto out;
        if (holdings_parse_health(body, blen, &bytes, &max) < 0) {
                snprintf(err, errlen, "%s: not the edge's health JSON", health);
                r = -EINVAL;
                goto out;
        }
        if (page == 0 || page > HOLDINGS_PAGE)
                page = HOLDINGS_PAGE;
        r = fetch_listing(admin_url, bearer, prefix, page, timeout_ms, ret_retry_after, ret, err,
                          errlen);
        if (r < 0)
                goto out;
        /* Health counts every object, the listing only the prefix. */
        if (!prefix || !*prefix)
                ret->bytes = bytes;
        ret->max_bytes = max;
out:
        free(body);
        free(health);
        return r;
}

int holdings_key_json(json_t *o, const char *key, size_t len)
{
        struct buf shown;
        char *pct = NULL;
        int r = -ENOMEM, n;

        if (utf8_valid(key, len))
                return json_object_set_new(o, "key", json_stringn(key, len)) < 0 ? -ENOMEM : 0;
        buf_init(&shown, 2 * len);
        for (size_t i = 0, k; i < len; i += k) {
                unsigned char ch = (unsigned char)key[i];

                k = utf8_seq_len(key + i, len - i);
                if (k == 0) {
                        char latin1[2] = {(char)(0xc0 | ch >> 6), (char)(0x80 | (ch & 0x3f))};
                        (void)buf_append(&shown, latin1, 2);
                        k = 1;
                } else {
                        (void)buf_append(&shown, key + i, k);
                }
        }
        pct = malloc(3 * len + 1);
        if (shown.err || !pct)
                goto out;
        n = path_norm_encode(key, len, pct, 3 * len + 1);
        if (n < 0 || json_object_set_new(o, "key", json_stringn(shown.p, shown.len)) < 0 ||
            json_object_set_new(o, "key_pct", json_stringn(pct, (size_t)n)) < 0)
                goto out;
        r = 0;
out:
        free(pct);
        buf_done(&shown);
        return r;
}
