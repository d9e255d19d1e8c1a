/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "bearer.h"
#include "buf.h"
#include "hex.h"
#include "http-resp.h"
#include "http1-parse.h"
#include "log.h"
#include "metrics.h"
#include "path-norm.h"
#include "utf8.h"

#include "access-log.h"
#include "admin.h"
#include "evict.h"
#include "fill.h"
#include "conn.h"
#include "request.h"
#include "serve-admit.h"
#include "tls-metrics.h"
#include "store.h"
#include "worker.h"

#define OBJECTS_PREFIX "/admin/objects"
#define JSON_TYPE      "application/json"
#define PROM_TYPE      "text/plain; version=0.0.4; charset=utf-8"

struct admin_put_state {
        struct store_put *put;
        uint64_t left;
        uint64_t size;
        bool existed;
        size_t key_len;
        char key[PATH_NORM_MAX + 1]; /* for the eviction policy at commit */
};

/* ---- JSON strings ---- */

/* Answers of a known small size (errors, /healthz) never need more than this. */
#define SMALL_ANSWER_MAX (64u << 10)

/*
 * A JSON string of s[0..n). Keys are bytes, JSON strings UTF-8: a byte outside well-formed
 * UTF-8 (a key from "%ff") is written as \u00XX, its Latin-1 reading, so that one such key
 * leaves the listing JSON a strict reader (jansson, the fill agent's) still accepts. That
 * reading is not the key ("%ff" and "%c3%bf" both read as "\u00ff"): the listing adds the
 * exact bytes as "key_pct", and the cursor in X-Sluice-Next stays the exact key.
 */
static void json_str(struct buf *b, const char *s, size_t n)
{
        static const char hexd[] = "0123456789abcdef";
        size_t k;

        (void)buf_append(b, "\"", 1);
        for (size_t i = 0; i < n; i += k) {
                unsigned char ch = (unsigned char)s[i];

                k = utf8_seq_len(s + i, n - i);
                if (ch == '"' || ch == '\\') {
                        char e[2] = {'\\', (char)ch};
                        (void)buf_append(b, e, 2);
                } else if (ch < 0x20 || k == 0) {
                        char e[6] = {'\\', 'u', '0', '0', hexd[ch >> 4], hexd[ch & 15]};
                        (void)buf_append(b, e, 6);
                        k = 1;
                } else {
                        (void)buf_append(b, s + i, k);
                }
        }
        (void)buf_append(b, "\"", 1);
}

/* ---- responses ---- */

struct extra_hdr {
        const char *name; /* NULL: none */
        const char *value;
        size_t len;
};

static void respond_with(struct conn *c, const struct http1_req *req, int status, const char *ctype,
                         const char *body, size_t len, const struct extra_hdr *extra,
                         size_t n_extra)
{
        struct conn_resp r = {0};
        struct http_resp hr;
        int n;

        request_head_start(c, req, &hr, status);
        for (size_t i = 0; i < n_extra; i++) {
                if (extra[i].name)
                        http_resp_header(&hr, extra[i].name, extra[i].value, extra[i].len);
        }
        if (status != 204) {
                if (len)
                        http_resp_header(&hr, "Content-Type", ctype, strlen(ctype));
                http_resp_header_u64(&hr, "Content-Length", len);
        }
        n = http_resp_finish(&hr);
        if (n < 0) {
                conn_close(c, "head overflow");
                return;
        }
        r.status = status;
        r.head = hr.buf;
        r.head_len = (size_t)n;
        if (status != 204 && !(req && req->method == HTTP_M_HEAD)) {
                r.body = body;
                r.body_len = len;
        }
        conn_respond(c, &r);
}

static void respond_body(struct conn *c, const struct http1_req *req, int status, const char *ctype,
                         const char *body, size_t len, const char *extra_name,
                         const char *extra_value)
{
        struct extra_hdr h = {extra_name, extra_value, extra_name ? strlen(extra_value) : 0};

        respond_with(c, req, status, ctype, body, len, &h, 1);
}

/* The JSON error body ({"error", "detail"}) with one extra header field (name NULL: none). */
static void respond_error_with(struct conn *c, const struct http1_req *req, int status,
                               const char *detail, const char *name, const char *value)
{
        struct buf b;

        buf_init(&b, SMALL_ANSWER_MAX);
        (void)buf_append(&b, "{\"error\":", 9);
        json_str(&b, http_status_reason(status), strlen(http_status_reason(status)));
        (void)buf_append(&b, ",\"detail\":", 10);
        json_str(&b, detail, strlen(detail));
        if (buf_append(&b, "}\n", 2) < 0) {
                buf_done(&b);
                conn_close(c, "out of memory");
                return;
        }
        respond_body(c, req, status, JSON_TYPE, b.p, b.len, name, value);
        buf_done(&b);
}

static void respond_error(struct conn *c, const struct http1_req *req, int status,
                          const char *detail)
{
        respond_error_with(c, req, status, detail, status == 401 ? "WWW-Authenticate" : NULL,
                           "Bearer realm=\"sluice-admin\"");
}

void admin_refuse(struct conn *c, int status, const char *detail, bool head_only)
{
        const struct http1_req head = {.method = HTTP_M_HEAD, .minor = 1};

        respond_error(c, head_only ? &head : NULL, status, detail);
}

/* 405 with what the path allows. */
static void respond_405(struct conn *c, const struct http1_req *req, const char *allow)
{
        respond_error_with(c, req, 405, "method not allowed here", "Allow", allow);
}

/* 200 with b's JSON, or 500 when writing it failed. Frees b's bytes either way. */
static void respond_json(struct conn *c, const struct http1_req *req, struct buf *b)
{
        int err = b->err;

        if (err) {
                buf_done(b);
                respond_error(c, req, 500,
                              err == -ENOBUFS ? "answer too large; ask for pages (limit=)"
                                              : "out of memory");
                return;
        }
        respond_body(c, req, 200, JSON_TYPE, b->p, b->len, NULL, NULL);
        buf_done(b);
}

/* ---- query ---- */

/* The percent-decoded value of name= in req's query (path_norm_query_arg()). */
static int query_arg(const struct http1_req *req, const char *name, char *out, size_t cap)
{
        return path_norm_query_arg(req->target, req->target_len, name, out, cap);
}

/*
 * The Content-Type to keep for a PUT of key, from the request's (ct, clen; ct may be NULL)
 * into out (cap bytes). Returns out, or NULL for "by the key's extension" (the store's
 * default). The extensions the edge knows (.mpd, .m4s, .mp4, .m3u8, .vtt, .json, ...) always
 * get their own type: a pusher's generic header (curl --data-binary sends a form type) must
 * not make a manifest unplayable. Otherwise an empty or form type is ignored too.
 */
static const char *put_ctype(const char *key, size_t key_len, const char *ct, size_t clen,
                             char *out, size_t cap)
{
        static const char *const forms[] = {"application/x-www-form-urlencoded",
                                            "multipart/form-data"};

        if (http_content_type_mapped(key, key_len))
                return NULL;
        while (ct && clen && (ct[clen - 1] == ' ' || ct[clen - 1] == '\t'))
                clen--;
        if (!ct || !clen || clen >= cap)
                return NULL;
        for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
                size_t n = strlen(forms[i]);
                if (clen >= n && strncasecmp(ct, forms[i], n) == 0 &&
                    (clen == n || ct[n] == ';' || ct[n] == ' '))
                        return NULL;
        }
        memcpy(out, ct, clen);
        out[clen] = '\0';
        return out;
}

static bool path_is(const struct http1_req *req, const char *path)
{
        size_t n = strlen(path);
        size_t plen = req->target_len;
        const char *q = memchr(req->target, '?', req->target_len);

        if (q)
                plen = (size_t)(q - req->target);
        return plen == n && memcmp(req->target, path, n) == 0;
}

/* ---- handlers ---- */

static void healthz(struct conn *c, const struct http1_req *req)
{
        struct store_stats st;
        struct buf b;

        buf_init(&b, SMALL_ANSWER_MAX);
        store_get_stats(c->w->srv->store, &st);
        (void)buf_printf(&b,
                         "{\"status\":\"%s\",\"objects\":%llu,\"bytes\":%llu,\"max_bytes\":%llu,",
                         c->w->draining ? "draining" : "ok", (unsigned long long)st.objects,
                         (unsigned long long)st.bytes, (unsigned long long)st.max_bytes);
        (void)buf_printf(&b, "\"connections\":%lld,\"workers\":%u}\n",
                         (long long)atomic_load(&c->w->srv->conns_open), c->w->srv->n_workers);
        respond_json(c, req, &b);
}

static void metrics_page(struct conn *c, const struct http1_req *req)
{
        struct store_stats st;
        char *buf = NULL;
        size_t len = 0;

        store_get_stats(c->w->srv->store, &st);
        if (metrics_render(c->w->srv->reg, &buf, &len) < 0 ||
            edge_metrics_append_store(&st, &buf, &len) < 0 ||
            tls_metrics_append(c->w->rt, &buf, &len) < 0) {
                free(buf);
                respond_error(c, req, 500, "cannot render metrics");
                return;
        }
        respond_body(c, req, 200, PROM_TYPE, buf, len, NULL, NULL);
        free(buf);
}

/* Percent-encode s[0..n) as a query value into out (cap bytes, NUL-terminated): unreserved
 * characters and '/' stay. Returns the length, or -ENOBUFS. */
static int query_escape(const char *s, size_t n, char *out, size_t cap)
{
        static const char hexd[] = "0123456789ABCDEF";
        size_t o = 0;

        for (size_t i = 0; i < n; i++) {
                unsigned char ch = (unsigned char)s[i];
                bool plain = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                             (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' ||
                             ch == '~' || ch == '/';

                if (o + (plain ? 1 : 3) >= cap)
                        return -ENOBUFS;
                if (plain) {
                        out[o++] = (char)ch;
                } else {
                        out[o++] = '%';
                        out[o++] = hexd[ch >> 4];
                        out[o++] = hexd[ch & 15];
                }
        }
        out[o] = '\0';
        return (int)o;
}

/*
 * Paging (docs/edge.md): limit=N entries per answer, after=<key> to resume past a key. Without
 * limit= the listing is whole, as it always was, so callers that never ask are not paged. With
 * keys of at most STORE_KEY_MAX bytes a page of PAGE_LIMIT_MAX entries is about 2 MiB of JSON
 * for typical segment keys, and stays below PAGE_ANSWER_MAX at worst: every key byte outside
 * UTF-8 is six bytes as "key" ("\u00ff") and three more as "key_pct" ("%FF"), 4.6 KiB an entry.
 */
#define PAGE_LIMIT_MAX  10000
#define PAGE_ANSWER_MAX (64u << 20)

struct page {
        const char *path; /* the listing's path, for the Link header */
        char prefix[PATH_NORM_MAX + 1];
        size_t prefix_len;
        bool has_after;
        char after[STORE_KEY_MAX + 1];
        size_t after_len;
        size_t limit; /* 0: no paging */
};

struct list_ctx {
        struct buf *b;
        size_t n;
        bool keys_only;
        size_t limit;                 /* 0: every entry */
        bool more;                    /* entries remain past this page */
        char last[STORE_KEY_MAX + 1]; /* the last key listed: the next page's cursor */
        size_t last_len;
};

static int list_cb(const struct store_entry_info *info, void *userdata)
{
        struct list_ctx *x = userdata;
        char hex[65], pct[STORE_KEY_MAX * 3 + 1];

        if (x->limit && x->n >= x->limit) {
                x->more = true;
                return 1;
        }
        if (x->n++)
                (void)buf_append(x->b, ",", 1);
        if (x->keys_only) {
                json_str(x->b, info->key, info->key_len);
        } else {
                (void)buf_append(x->b, "{\"key\":", 7);
                json_str(x->b, info->key, info->key_len);
                if (!utf8_valid(info->key, info->key_len)) {
                        /* "key" above is a reading of it, not its bytes: give them exactly,
                         * in the form a DELETE path or after= takes. */
                        int n = query_escape(info->key, info->key_len, pct, sizeof(pct));

                        if (n < 0)
                                return n;
                        (void)buf_append(x->b, ",\"key_pct\":\"", 12);
                        (void)buf_append(x->b, pct, (size_t)n);
                        (void)buf_append(x->b, "\"", 1);
                }
                (void)buf_printf(x->b,
                                 ",\"size\":%llu,\"sha256\":", (unsigned long long)info->size);
                if (info->has_sha256) {
                        (void)hex_encode(info->sha256, 32, hex);
                        json_str(x->b, hex, 64);
                } else {
                        (void)buf_append(x->b, "null", 4);
                }
                (void)buf_printf(x->b, ",\"hits\":%llu,\"last_access\":%lld}",
                                 (unsigned long long)info->hits, (long long)info->last_access);
        }
        if (x->limit && info->key_len < sizeof(x->last)) {
                memcpy(x->last, info->key, info->key_len);
                x->last_len = info->key_len;
        }
        return x->b->err;
}

/*
 * Read limit=, after= and, when with_prefix, prefix= into *pg. Returns 0, or -EINVAL having
 * answered 400: a bad value must not be read as "no paging" and list the whole store.
 */
static int page_parse(struct conn *c, const struct http1_req *req, bool with_prefix,
                      struct page *pg)
{
        char num[8], msg[96];
        int n;

        n = with_prefix ? query_arg(req, "prefix", pg->prefix, sizeof(pg->prefix)) : -ENOENT;
        if (n == -ENAMETOOLONG) {
                /* Listing everything instead would answer a question nobody asked. */
                (void)snprintf(msg, sizeof(msg), "prefix longer than a cache key can be (%d bytes)",
                               PATH_NORM_MAX);
                respond_error(c, req, 400, msg);
                return -EINVAL;
        }
        pg->prefix_len = n > 0 ? (size_t)n : 0;

        n = query_arg(req, "after", pg->after, sizeof(pg->after));
        if (n == -ENAMETOOLONG) {
                (void)snprintf(msg, sizeof(msg), "after longer than a cache key can be (%d bytes)",
                               STORE_KEY_MAX);
                respond_error(c, req, 400, msg);
                return -EINVAL;
        }
        pg->has_after = n > 0;
        pg->after_len = n > 0 ? (size_t)n : 0;

        n = query_arg(req, "limit", num, sizeof(num));
        pg->limit = 0;
        if (n == -ENOENT)
                return 0;
        for (int i = 0; i < n; i++) {
                if (num[i] < '0' || num[i] > '9') {
                        n = -EINVAL;
                        break;
                }
                pg->limit = pg->limit * 10 + (size_t)(num[i] - '0');
        }
        if (n <= 0 || pg->limit < 1 || pg->limit > PAGE_LIMIT_MAX) {
                (void)snprintf(msg, sizeof(msg), "limit must be a whole number from 1 to %d",
                               PAGE_LIMIT_MAX);
                respond_error(c, req, 400, msg);
                return -EINVAL;
        }
        return 0;
}

/*
 * The answer to a listing: 200 with b's JSON, and when entries remain past this page the
 * cursor in X-Sluice-Next (the last key, percent-encoded, to send back as after=) and a Link
 * to the next page. A Link that would not fit the head is left out; the cursor always fits.
 */
static void respond_page(struct conn *c, const struct http1_req *req, const struct page *pg,
                         const struct list_ctx *x, struct buf *b)
{
        char cursor[STORE_KEY_MAX * 3 + 1], link[1536], pfx[1024];
        struct extra_hdr h[2] = {{0}};
        int clen, plen = 0, llen = -1;

        if (!x->more || b->err) {
                respond_json(c, req, b); /* a failed write answers 500 */
                return;
        }
        clen = query_escape(x->last, x->last_len, cursor, sizeof(cursor));
        if (pg->prefix_len)
                plen = query_escape(pg->prefix, pg->prefix_len, pfx, sizeof(pfx));
        if (clen >= 0) {
                h[0] = (struct extra_hdr){"X-Sluice-Next", cursor, (size_t)clen};
                if (plen >= 0)
                        llen = snprintf(link, sizeof(link),
                                        "<%s?%s%s%slimit=%zu&after=%s>; rel=\"next\"", pg->path,
                                        pg->prefix_len ? "prefix=" : "", pg->prefix_len ? pfx : "",
                                        pg->prefix_len ? "&" : "", pg->limit, cursor);
                if (llen > 0 && (size_t)llen < sizeof(link))
                        h[1] = (struct extra_hdr){"Link", link, (size_t)llen};
        }
        respond_with(c, req, 200, JSON_TYPE, b->p, b->len, h, 2);
        buf_done(b);
}

/* The buffer for a listing's answer: a page is bounded, a whole listing is answered whole. */
static void list_buf_init(struct buf *b, const struct page *pg)
{
        buf_init(b, pg->limit ? PAGE_ANSWER_MAX : SIZE_MAX);
}

static void list_objects(struct conn *c, const struct http1_req *req)
{
        struct page pg = {.path = OBJECTS_PREFIX};
        struct buf b;
        struct list_ctx x = {.b = &b};
        int r;

        if (page_parse(c, req, true, &pg) < 0)
                return;
        x.limit = pg.limit;
        list_buf_init(&b, &pg);
        (void)buf_append(&b, "[", 1);
        r = store_list_after(c->w->srv->store, pg.prefix, pg.prefix_len,
                             pg.has_after ? pg.after : NULL, pg.after_len, list_cb, &x);
        (void)buf_append(&b, "]\n", 2);
        if (r < 0 && r != b.err) {
                buf_done(&b);
                respond_error(c, req, 500, strerror(-r));
                return;
        }
        respond_page(c, req, &pg, &x, &b);
}

static void holdings(struct conn *c, const struct http1_req *req)
{
        struct page pg = {.path = "/admin/holdings"};
        struct store_stats st;
        struct buf b;
        struct list_ctx x = {.b = &b, .keys_only = true};
        int r;

        /* Holdings are every key: a prefix= here was always ignored, and still is. */
        if (page_parse(c, req, false, &pg) < 0)
                return;
        x.limit = pg.limit;
        list_buf_init(&b, &pg);
        store_get_stats(c->w->srv->store, &st);
        (void)buf_printf(&b, "{\"objects\":%llu,\"bytes\":%llu,\"max_bytes\":%llu,\"keys\":[",
                         (unsigned long long)st.objects, (unsigned long long)st.bytes,
                         (unsigned long long)st.max_bytes);
        r = store_list_after(c->w->srv->store, pg.prefix, pg.prefix_len,
                             pg.has_after ? pg.after : NULL, pg.after_len, list_cb, &x);
        (void)buf_append(&b, "]", 1);
        if (x.more) {
                (void)buf_append(&b, ",\"next\":", 8);
                json_str(&b, x.last, x.last_len);
        }
        (void)buf_append(&b, "}\n", 2);
        if (r < 0 && r != b.err) {
                buf_done(&b);
                respond_error(c, req, 500, strerror(-r));
                return;
        }
        respond_page(c, req, &pg, &x, &b);
}

struct exists_ctx {
        const char *key;
        size_t len;
        bool found;
};

static int exists_cb(const struct store_entry_info *info, void *userdata)
{
        struct exists_ctx *x = userdata;

        if (info->key_len == x->len && memcmp(info->key, x->key, x->len) == 0)
                x->found = true;
        return 1; /* the first entry at or after the key decides */
}

/* The cache key an admin target names, from "/admin/objects/<key>". */
#define KEY_TOO_LONG "object key longer than 511 bytes"
_Static_assert(PATH_NORM_MAX == 511, "KEY_TOO_LONG names the limit");

static int object_key(const struct http1_req *req, struct path_norm *pn)
{
        size_t n = sizeof(OBJECTS_PREFIX) - 1;

        if (req->target_len <= n + 1 || memcmp(req->target, OBJECTS_PREFIX, n) != 0 ||
            req->target[n] != '/')
                return -EINVAL;
        return path_norm(req->target + n, req->target_len - n, pn);
}

/* A PUT the store had no room for: said and counted, as a fill's store-full is. */
static void store_full_said(struct conn *c, const char *key, size_t key_len, const char *when)
{
        log_conn(LOG_LVL_WARN, c->id, "admin put of %.*s: the store is full at %s (budget, disk "
                 "or index), refusing with 507", (int)key_len, key, when);
        metrics_add(c->w->srv->m.admin_put_full, 1);
}

/* 413 is for an object no room could ever hold; a store that is merely full answers 507. */
static bool larger_than_budget(struct conn *c, uint64_t size)
{
        struct store_stats st;

        store_get_stats(c->w->srv->store, &st);
        return st.max_bytes && size > st.max_bytes;
}

static void put_finish(struct conn *c)
{
        struct admin_put_state *ps = c->put;
        uint64_t file_id = 0;
        int r;

        c->put = NULL;
        r = store_put_commit_id(ps->put, NULL, &file_id);
        /* Pushed by the fill plan: the policy weighs it as a title ranked high. */
        if (r == 0 && !evict_note_fill(c->w->srv, ps->key, ps->key_len, ps->size, file_id,
                                       true)) {
                /* Committed, then deleted again: answering 201 would claim it is held. */
                log_conn(LOG_LVL_WARN, c->id, "admin put of %.*s: not kept by the cache policy",
                         (int)ps->key_len, ps->key);
                metrics_add(c->w->srv->m.admin_put_declined, 1);
                respond_error(c, NULL, 507, "not kept: the cache policy declined it");
        } else if (r == 0) {
                metrics_add(c->w->srv->m.admin_puts, 1);
                respond_body(c, NULL, ps->existed ? 204 : 201, JSON_TYPE, "", 0, NULL, NULL);
        } else if (r == -EBADMSG) {
                metrics_add(c->w->srv->m.admin_put_bad, 1);
                respond_error(c, NULL, 400, "length or SHA-256 mismatch; nothing committed");
        } else if (r == -ENOSPC) {
                /* The budget, the disk or the index is full: RFC 4918 Insufficient Storage. */
                store_full_said(c, ps->key, ps->key_len, "its commit");
                respond_error(c, NULL, 507, "the store is full (budget, disk or index)");
        } else {
                log_conn(LOG_LVL_WARN, c->id, "admin put commit failed: %s", strerror(-r));
                respond_error(c, NULL, 500, strerror(-r));
        }
        free(ps);
}

size_t admin_body(struct conn *c, const char *data, size_t n)
{
        struct admin_put_state *ps = c->put;
        size_t take;
        int r;

        if (!ps)
                return 0;
        take = n < ps->left ? n : (size_t)ps->left;
        if (take) {
                r = store_put_write(ps->put, data, take);
                if (r < 0) {
                        log_conn(LOG_LVL_WARN, c->id, "admin put write failed: %s", strerror(-r));
                        if (r == -ENOSPC)
                                metrics_add(c->w->srv->m.admin_put_full, 1);
                        admin_put_abort(c);
                        c->close_after = true;
                        respond_error(c, NULL, r == -ENOSPC ? 507 : 500, strerror(-r));
                        return n;
                }
                ps->left -= take;
        }
        if (ps->left == 0)
                put_finish(c);
        else
                conn_set_state(c, CONN_READ_BODY); /* refreshes the progress deadline */
        return take;
}

void admin_put_abort(struct conn *c)
{
        if (!c->put)
                return;
        store_put_abort(c->put->put);
        free(c->put);
        c->put = NULL;
}

struct put_args {
        struct conn *c;
        const struct path_norm *pn;
        const char *sha;
        const char *ctype;
        uint64_t size;
        struct store_put **put;
};

/* store_put_begin, as evict_put_begin calls it. */
static int put_begin(void *ud)
{
        const struct put_args *a = ud;

        return store_put_begin(a->c->w->srv->store, a->pn->key, a->pn->key_len, a->size, a->sha,
                               a->ctype, a->put);
}

static void put_object(struct conn *c, const struct http1_req *req, const char *body,
                       size_t body_len, size_t *ret_used)
{
        struct admin_put_state *ps;
        struct exists_ctx ex;
        struct path_norm pn;
        char sha[65], ctype[STORE_CTYPE_MAX + 1];
        const char *v;
        size_t vlen;
        int r;

        if (req->chunked || req->content_length < 0) {
                c->close_after = true;
                respond_error(c, req, 411, "Content-Length required");
                return;
        }
        r = object_key(req, &pn);
        if (r < 0) {
                c->close_after = true;
                respond_error(c, req, 400, r == -ENAMETOOLONG ? KEY_TOO_LONG : "bad object path");
                return;
        }
        v = http1_req_known(req, HK_X_SLUICE_SHA256, &vlen);
        if (v) {
                if (vlen != 64) {
                        c->close_after = true;
                        respond_error(c, req, 400, "X-Sluice-SHA256 must be 64 hex digits");
                        return;
                }
                memcpy(sha, v, 64);
                sha[64] = '\0';
        }
        {
                size_t clen = 0;
                const char *ct = http1_req_header(req, "Content-Type", &clen);

                ct = put_ctype(pn.key, pn.key_len, ct, clen, ctype, sizeof(ctype));
                ex = (struct exists_ctx){.key = pn.key, .len = pn.key_len};
                (void)store_list(c->w->srv->store, pn.key, pn.key_len, exists_cb, &ex);

                ps = calloc(1, sizeof(*ps));
                if (!ps) {
                        conn_close(c, "out of memory");
                        return;
                }
                /* Over the whole budget: refused before evicting anything, which could
                 * only empty the cache and still not make it fit. Else room is made as a
                 * fill's is, with as many tries. */
                if (larger_than_budget(c, (uint64_t)req->content_length))
                        r = -EFBIG;
                else
                        r = evict_put_begin(c->w->srv, (uint64_t)req->content_length, c->w,
                                            put_begin,
                                            &(struct put_args){c, &pn, v ? sha : NULL, ct,
                                                               (uint64_t)req->content_length,
                                                               &ps->put});
        }
        if (r < 0) {
                free(ps);
                c->close_after = true; /* the body is not read */
                if (r == -EFBIG) {
                        log_conn(LOG_LVL_WARN, c->id,
                                 "admin put of %lld bytes: more than cache.max_size, refusing",
                                 (long long)req->content_length);
                        metrics_add(c->w->srv->m.admin_put_large, 1);
                        respond_error(c, req, 413, "object larger than the cache budget");
                } else if (r == -ENOSPC) {
                        store_full_said(c, pn.key, pn.key_len, "its start");
                        respond_error(c, req, 507, "the store is full (budget or disk)");
                }
                else if (r == -EINVAL)
                        respond_error(c, req, 400, "bad key or SHA-256");
                else
                        respond_error(c, req, 500, strerror(-r));
                return;
        }
        ps->left = (uint64_t)req->content_length;
        ps->size = ps->left;
        ps->existed = ex.found;
        memcpy(ps->key, pn.key, pn.key_len);
        ps->key_len = pn.key_len;
        c->put = ps;
        /*
         * The body spans many events, and other requests on this worker begin meanwhile:
         * keep this request's log line with the connection, not in the worker's one stage.
         */
        if (!c->pending_log)
                c->pending_log = access_log_detach(&c->w->alog);
        if (req->expect_continue && body_len < ps->left) {
                static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
                /* Tiny and first on an empty socket buffer: a short write here is a broken
                 * client; it then simply sends the body anyway. */
                (void)send(c->fd, cont, sizeof(cont) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
        }
        *ret_used = admin_body(c, body, body_len);
}

static void delete_object(struct conn *c, const struct http1_req *req)
{
        struct path_norm pn;
        int r = object_key(req, &pn);

        if (r < 0) {
                respond_error(c, req, 400, r == -ENAMETOOLONG ? KEY_TOO_LONG : "bad object path");
                return;
        }
        fill_drop_commit(pn.key, pn.key_len); /* first: a fill's commit may follow ours */
        r = store_delete(c->w->srv->store, pn.key, pn.key_len);
        evict_forget(c->w->srv, pn.key, pn.key_len);
        if (r == -ENOENT) {
                respond_error(c, req, 404, "no such object");
                return;
        }
        if (r < 0) {
                respond_error(c, req, 500, strerror(-r));
                return;
        }
        metrics_add(c->w->srv->m.admin_deletes, 1);
        respond_body(c, req, 204, JSON_TYPE, "", 0, NULL, NULL);
}

void admin_handle(struct conn *c, const struct http1_req *req, const char *body, size_t body_len,
                  size_t *ret_used)
{
        const struct edge_runtime *rt = c->w->rt;
        bool get = req->method == HTTP_M_GET || req->method == HTTP_M_HEAD, object;
        const char *auth;
        size_t auth_len;

        *ret_used = 0;
        if (!req->keep_alive || c->w->draining)
                c->close_after = true;
        serve_log_begin(c, req, NULL);

        if (path_is(req, "/healthz") || path_is(req, "/metrics")) {
                if (!get) {
                        c->close_after |= req->content_length > 0 || req->chunked;
                        respond_405(c, req, "GET, HEAD");
                } else if (path_is(req, "/healthz")) {
                        healthz(c, req);
                } else {
                        metrics_page(c, req);
                }
                return;
        }
        if (req->target_len < 7 || memcmp(req->target, "/admin/", 7) != 0) {
                c->close_after |= req->content_length > 0 || req->chunked;
                respond_error(c, req, 404, "no such endpoint");
                return;
        }
        auth = http1_req_known(req, HK_AUTHORIZATION, &auth_len);
        if (!bearer_ok(auth, auth_len, rt->admin_token, rt->admin_token_len)) {
                c->close_after |= req->content_length > 0 || req->chunked;
                respond_error(c, req, 401, "missing or wrong bearer token");
                return;
        }
        /* Objects are put and deleted under /admin/objects/; elsewhere those methods get the
         * 405 or 404 of the path, as any other method does. */
        object = req->target_len >= sizeof(OBJECTS_PREFIX) &&
                 memcmp(req->target, OBJECTS_PREFIX "/", sizeof(OBJECTS_PREFIX)) == 0;
        if (req->method == HTTP_M_PUT && object) {
                put_object(c, req, body, body_len, ret_used);
                return;
        }
        /* Only PUT reads a body; anything else with one ends the connection after. */
        c->close_after |= req->content_length > 0 || req->chunked;
        if (req->method == HTTP_M_DELETE && object) {
                delete_object(c, req);
        } else if (get && path_is(req, OBJECTS_PREFIX)) {
                list_objects(c, req);
        } else if (get && path_is(req, "/admin/holdings")) {
                holdings(c, req);
        } else if (path_is(req, OBJECTS_PREFIX) || path_is(req, "/admin/holdings") ||
                   (req->target_len > sizeof(OBJECTS_PREFIX) &&
                    memcmp(req->target, OBJECTS_PREFIX "/", sizeof(OBJECTS_PREFIX)) == 0)) {
                /* A listing is read; an object (the admin API serves no object's bytes) is
                 * put or deleted. */
                respond_405(c, req,
                            path_is(req, OBJECTS_PREFIX) || path_is(req, "/admin/holdings")
                                ? "GET, HEAD"
                                : "PUT, DELETE");
        } else {
                respond_error(c, req, 404, "no such endpoint");
        }
}
