/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "hex.h"
#include "steering.h"

#define SCORE_REGION   1000
#define SCORE_HOLDS    400
#define SCORE_LOAD     600 /* times load */
#define SCORE_STICKY   150
#define SCORE_STRUGGLE (-300)
#define LOAD_FULL      0.95 /* at or above: the region bonus is lost */
#define QUERY_MAX      8192 /* room for STEERING_MANIFEST_ARG's 16 ids of 128 bytes besides */

unsigned steering_period_s(int64_t heartbeat_period_ms)
{
        return heartbeat_period_ms > 0 ? (unsigned)((heartbeat_period_ms + 999) / 1000) : 0;
}

bool steering_edge_alive(const struct steering_edge *e, int64_t now, unsigned heartbeat_period_s)
{
        if (e->disabled || e->last_heartbeat <= 0)
                return false;
        /* A heartbeat stamped in the future (clock skew) counts as fresh. */
        return now - e->last_heartbeat <= 2 * (int64_t)heartbeat_period_s;
}

static double load_of(const struct steering_edge *e)
{
        double l = e->load;
        if (!(l >= 0)) /* NaN or negative: NaN is treated as full, negative as idle */
                return isnan(l) ? 1 : 0;
        return l > 1 ? 1 : l;
}

static int64_t score_of(const struct steering_edge *e, const struct steering_client *c)
{
        double load = load_of(e);
        int64_t s = 0;
        if (c->region && e->region && strcmp(c->region, e->region) == 0 && load < LOAD_FULL)
                s += SCORE_REGION;
        if (e->holds_title)
                s += SCORE_HOLDS;
        s -= (int64_t)llround(load * SCORE_LOAD);
        const struct steering_query *q = c->query;
        for (size_t i = 0; q && i < q->n; i++) {
                if (strcmp(q->pathway[i], e->id) != 0)
                        continue;
                /* Struggling wherever the client measured too little; staying only where it is
                 * known to be (see steering_query.current). */
                int64_t tp = q->throughput[i];
                if (c->poor_throughput_bps && tp >= 0 && (uint64_t)tp < c->poor_throughput_bps)
                        s += SCORE_STRUGGLE;
                else if (q->current == (int)i)
                        s += SCORE_STICKY;
                break;
        }
        return s;
}

/* Total order: score, then capacity, both descending; then id, then index. */
static int rank_before(const struct steering_edge *edges, const struct steering_rank *x,
                       const struct steering_rank *y)
{
        if (x->score != y->score)
                return x->score > y->score;
        const struct steering_edge *a = &edges[x->idx], *b = &edges[y->idx];
        if (a->capacity != b->capacity)
                return a->capacity > b->capacity;
        int cmp = strcmp(a->id, b->id);
        if (cmp != 0)
                return cmp < 0;
        return x->idx < y->idx;
}

int steering_edges_rank(const struct steering_edge *edges, size_t n,
                        const struct steering_client *c, struct steering_rank *ret, size_t cap)
{
        struct steering_rank all[STEERING_EDGES_MAX];
        size_t m = 0;

        if (n > STEERING_EDGES_MAX || (n && !edges) || !c || c->heartbeat_period_s == 0)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                if (!edges[i].id)
                        return -EINVAL;
                if (!steering_edge_alive(&edges[i], c->now, c->heartbeat_period_s))
                        continue;
                struct steering_rank r = {.idx = i, .score = score_of(&edges[i], c)};
                /* Insertion sort: n is small and the order must not depend on qsort. */
                size_t j = m++;
                while (j > 0 && rank_before(edges, &r, &all[j - 1])) {
                        all[j] = all[j - 1];
                        j--;
                }
                all[j] = r;
        }
        if (m > cap)
                m = cap;
        if (m)
                memcpy(ret, all, m * sizeof(*ret));
        return (int)m;
}

/* Percent-decode s[0..n) into out (cap bytes, NUL-terminated). Returns the length or -1. */
static int pct_decode(const char *s, size_t n, char *out, size_t cap)
{
        size_t o = 0;
        for (size_t i = 0; i < n; i++) {
                char ch = s[i];
                if (ch == '%' && i + 2 < n) {
                        int h = hex_digit(s[i + 1]), l = hex_digit(s[i + 2]);
                        if (h >= 0 && l >= 0) {
                                ch = (char)(h * 16 + l);
                                i += 2;
                        }
                }
                if (ch == '\0' || o + 1 >= cap)
                        return -1;
                out[o++] = ch;
        }
        out[o] = '\0';
        return (int)o;
}

static int id_ok(const char *s)
{
        if (!*s)
                return 0;
        for (const char *p = s; *p; p++)
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
                        return 0;
        return 1;
}

static void parse_pathways(struct steering_query *q, char *v)
{
        size_t n = strlen(v);
        if (n >= 2 && v[0] == '"' && v[n - 1] == '"') {
                v[n - 1] = '\0';
                v++;
        }
        q->n = 0;
        for (char *p = v; p && *p && q->n < STEERING_PATHWAYS_MAX;) {
                char *comma = strchr(p, ',');
                if (comma)
                        *comma = '\0';
                size_t len = strlen(p);
                /* Keep the slot even when the id is unusable: throughputs align by position. */
                if (len < STEERING_ID_MAX && id_ok(p))
                        memcpy(q->pathway[q->n], p, len + 1);
                else
                        q->pathway[q->n][0] = '\0';
                q->n++;
                p = comma ? comma + 1 : NULL;
        }
        /* One entry is the pathway in use. Several are those used since the last request, in
         * the order first used: after A, B and A again dash.js sends "A,B", as after A then
         * B, so no entry is known to be in use. */
        q->current = q->n == 1 && q->pathway[0][0] ? 0 : -1;
}

/* The MPD's pathways: comma-separated ids; malformed ones are dropped, a repeated one is
 * kept once. */
static void parse_manifest(struct steering_query *q, char *v)
{
        q->has_manifest = true;
        q->n_manifest = 0;
        for (char *p = v; p && q->n_manifest < STEERING_MANIFEST_MAX;) {
                char *comma = strchr(p, ',');
                if (comma)
                        *comma = '\0';
                size_t len = strlen(p);
                bool dup = false;
                for (size_t i = 0; i < q->n_manifest && !dup; i++)
                        dup = strcmp(q->manifest[i], p) == 0;
                if (len < STEERING_MANIFEST_ID_MAX && id_ok(p) && !dup)
                        memcpy(q->manifest[q->n_manifest++], p, len + 1);
                p = comma ? comma + 1 : NULL;
        }
}

/* Comma-separated bit/s values; an empty or malformed field is "unknown" (-1). */
static void parse_throughputs(struct steering_query *q, const char *v)
{
        const char *p = v;
        for (size_t i = 0; i < STEERING_PATHWAYS_MAX; i++) {
                size_t n = strcspn(p, ",");
                int64_t x = n ? 0 : -1;
                for (size_t k = 0; k < n && x >= 0; k++) {
                        if (p[k] < '0' || p[k] > '9' || x > (INT64_MAX - 9) / 10)
                                x = -1;
                        else
                                x = x * 10 + (p[k] - '0');
                }
                q->throughput[i] = x;
                if (p[n] != ',')
                        break;
                p += n + 1;
        }
}

int steering_query_parse(const char *query, size_t len, struct steering_query *ret)
{
        char val[QUERY_MAX + 1], key[32];

        memset(ret, 0, sizeof(*ret));
        ret->current = -1;
        for (size_t i = 0; i < STEERING_PATHWAYS_MAX; i++)
                ret->throughput[i] = -1;
        if (len > QUERY_MAX)
                return -EINVAL;
        const char *p = query, *end = query + len;
        while (p < end) {
                const char *amp = memchr(p, '&', (size_t)(end - p));
                const char *stop = amp ? amp : end;
                const char *eq = memchr(p, '=', (size_t)(stop - p));
                if (eq && pct_decode(p, (size_t)(eq - p), key, sizeof(key)) >= 0 &&
                    pct_decode(eq + 1, (size_t)(stop - eq - 1), val, sizeof(val)) >= 0) {
                        if (strcmp(key, "_DASH_pathway") == 0)
                                parse_pathways(ret, val);
                        else if (strcmp(key, "_DASH_throughput") == 0)
                                parse_throughputs(ret, val);
                        else if (strcmp(key, STEERING_MANIFEST_ARG) == 0)
                                parse_manifest(ret, val);
                }
                if (!amp)
                        break; /* stop + 1 would point past the end of the query */
                p = amp + 1;
        }
        return 0;
}

/* host[:port] of an absolute URL into out, or -EINVAL. */
static int url_authority(const char *url, char *out, size_t cap)
{
        const char *p = strstr(url, "://");
        if (!p)
                return -EINVAL;
        p += 3;
        size_t n = strcspn(p, "/?#");
        if (n == 0 || n >= cap)
                return -EINVAL;
        memcpy(out, p, n);
        out[n] = '\0';
        return 0;
}

/* Whether a and b differ in their authority alone (scheme and path the same): a clone names
 * only a HOST, and players keep the base pathway's scheme and path around it. */
static bool same_but_authority(const char *a, const char *b)
{
        const char *pa = strstr(a, "://"), *pb = strstr(b, "://");

        if (!pa || !pb || pa - a != pb - b || strncmp(a, b, (size_t)(pa - a)) != 0)
                return false;
        pa += 3 + strcspn(pa + 3, "/?#");
        pb += 3 + strcspn(pb + 3, "/?#");
        /* "https://e.example" and "https://e.example/" name the same path */
        if (!strcmp(pa, "/"))
                pa = "";
        if (!strcmp(pb, "/"))
                pb = "";
        return strcmp(pa, pb) == 0;
}

static int in_manifest(const char *id, const char *const *ids, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (ids[i] && strcmp(ids[i], id) == 0)
                        return 1;
        return 0;
}

/* Whether every edge's base_url differs from the others' in its authority alone. */
static bool fleet_uniform(const struct steering_edge *edges, size_t n_edges)
{
        const char *first = NULL;

        for (size_t i = 0; i < n_edges; i++) {
                if (!edges[i].base_url)
                        continue;
                if (!first)
                        first = edges[i].base_url;
                else if (!same_but_authority(first, edges[i].base_url))
                        return false;
        }
        return true;
}

int steering_json_build(const struct steering_edge *edges, size_t n_edges,
                        const struct steering_rank *rank, size_t n_rank,
                        const char *const *manifest_ids, size_t n_manifest_ids, unsigned ttl_s,
                        const char *reload_uri, char **ret, size_t *ret_len)
{
        json_t *root = NULL, *prio = NULL, *clones = NULL;
        const char *clone_base = NULL, *clone_base_url = NULL;
        bool uniform = false;
        char host[256];
        int r = -ENOMEM;

        if (ttl_s == 0 || ((n_rank || n_edges) && !edges) || (n_rank && !rank) ||
            (n_manifest_ids && !manifest_ids))
                return -EINVAL;
        /* Clones derive their URLs from a pathway the client has: the best-ranked such one,
         * else the first of its manifest's that control knows (a dead edge's URL still serves
         * as a template). The player keeps that pathway's scheme and path around a clone's
         * HOST, so only edges that differ from it in their authority alone are cloned. */
        for (size_t i = 0; i < n_rank && !clone_base; i++)
                if (in_manifest(edges[rank[i].idx].id, manifest_ids, n_manifest_ids)) {
                        clone_base = edges[rank[i].idx].id;
                        clone_base_url = edges[rank[i].idx].base_url;
                }
        for (size_t m = 0; m < n_manifest_ids && !clone_base; m++)
                for (size_t i = 0; i < n_edges && !clone_base; i++)
                        if (manifest_ids[m] && edges[i].id && edges[i].base_url &&
                            strcmp(edges[i].id, manifest_ids[m]) == 0) {
                                clone_base = edges[i].id;
                                clone_base_url = edges[i].base_url;
                        }
        /* None known (disabled or gone since): its URL cannot be checked, so clones are sent
         * only when every edge's URL has the same scheme and path, as that one's had then. */
        if (!clone_base && n_manifest_ids && fleet_uniform(edges, n_edges)) {
                clone_base = manifest_ids[0];
                uniform = true;
        }

        root = json_object();
        prio = json_array();
        clones = json_array();
        if (!root || !prio || !clones)
                goto out;
        for (size_t i = 0; i < n_rank && json_array_size(prio) < STEERING_PRIORITY_MAX; i++) {
                const struct steering_edge *e = &edges[rank[i].idx];
                if (!in_manifest(e->id, manifest_ids, n_manifest_ids)) {
                        if (!clone_base || !e->base_url ||
                            url_authority(e->base_url, host, sizeof(host)) < 0 ||
                            (!uniform && (!clone_base_url ||
                                          !same_but_authority(clone_base_url, e->base_url))))
                                continue; /* cannot reach it from this manifest, leave it out */
                        json_t *c = json_pack("{s:s, s:s, s:{s:s}}", "BASE-ID", clone_base, "ID",
                                              e->id, "URI-REPLACEMENT", "HOST", host);
                        if (!c || json_array_append_new(clones, c) < 0)
                                goto out;
                }
                if (json_array_append_new(prio, json_string(e->id)) < 0)
                        goto out;
        }
        if (json_object_set_new(root, "VERSION", json_integer(1)) < 0 ||
            json_object_set_new(root, "TTL", json_integer(ttl_s)) < 0)
                goto out;
        if (reload_uri && json_object_set_new(root, "RELOAD-URI", json_string(reload_uri)) < 0)
                goto out;
        if (json_object_set(root, "PATHWAY-PRIORITY", prio) < 0)
                goto out;
        if (json_array_size(clones) && json_object_set(root, "PATHWAY-CLONES", clones) < 0)
                goto out;
        char *s = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (!s)
                goto out;
        size_t n = strlen(s);
        if (n > STEERING_OUT_MAX) {
                free(s);
                r = -E2BIG;
                goto out;
        }
        *ret = s;
        *ret_len = n;
        r = 0;
out:
        json_decref(root);
        json_decref(prio);
        json_decref(clones);
        return r;
}
