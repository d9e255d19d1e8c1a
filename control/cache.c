/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asset.h"
#include "fnv.h"

#include "cache.h"

#define SESSIONS 8192 /* power of two */
#define ASSETS   256
#define WARM     1024
#define BWS      4096
#define WARM_KEY (2 * CTL_CACHE_ID_MAX + 4)
#define IP_MAX   64

struct warm_slot {
        char key[WARM_KEY];
        uint64_t fetched_ms;
        struct ctl_warm w; /* w.o NULL: empty */
};

struct bw_slot {
        char ip[IP_MAX];
        uint64_t fetched_ms;
        int64_t bw;
};

struct sess_slot {
        bool used;
        uint64_t fetched_ms;
        struct ctl_session s;
};

struct ctl_asset_ref {
        unsigned refs;
        struct asset *a;
};

struct asset_slot {
        char id[CTL_CACHE_ID_MAX];
        int64_t version;
        uint64_t fetched_ms;
        struct ctl_asset_ref *r;
};

/* One edge's holdings, kept across snapshots while its titles_gen stays the same. */
struct held {
        char id[CTL_CACHE_ID_MAX]; /* "": unused */
        int64_t gen;               /* the titles_gen these titles are; -1: none fetched */
        char *buf;                 /* the titles, each NUL-terminated */
        const char **titles;       /* into buf, sorted */
        size_t n;
};

struct ctl_cache {
        uint64_t ttl_ms;
        struct sess_slot *sessions;
        struct asset_slot *assets;
        struct warm_slot *warm;
        uint64_t warm_epoch; /* warm forgets so far */
        struct bw_slot *bws;
        json_t *edges;
        uint64_t edges_ms;
        struct held *held;
        size_t n_held;
};

static uint32_t hash(const char *s)
{
        return fnv1a_str(FNV1A_INIT, s);
}

int ctl_cache_new(uint64_t ttl_ms, struct ctl_cache **ret)
{
        struct ctl_cache *c = calloc(1, sizeof(*c));

        if (!c)
                return -ENOMEM;
        c->ttl_ms = ttl_ms;
        c->sessions = calloc(SESSIONS, sizeof(*c->sessions));
        c->assets = calloc(ASSETS, sizeof(*c->assets));
        c->warm = calloc(WARM, sizeof(*c->warm));
        c->bws = calloc(BWS, sizeof(*c->bws));
        if (!c->sessions || !c->assets || !c->warm || !c->bws) {
                ctl_cache_free(c);
                return -ENOMEM;
        }
        *ret = c;
        return 0;
}

static void held_free(struct ctl_cache *c)
{
        for (size_t i = 0; i < c->n_held; i++) {
                free(c->held[i].buf);
                free(c->held[i].titles);
        }
        free(c->held);
        c->held = NULL;
        c->n_held = 0;
}

void ctl_cache_free(struct ctl_cache *c)
{
        if (!c)
                return;
        for (size_t i = 0; c->sessions && i < SESSIONS; i++)
                if (c->sessions[i].used)
                        json_decref(c->sessions[i].s.markers);
        for (size_t i = 0; c->assets && i < ASSETS; i++)
                ctl_asset_ref_unref(c->assets[i].r);
        if (c->warm)
                ctl_cache_warm_forget(c, NULL);
        held_free(c);
        json_decref(c->edges);
        free(c->warm);
        free(c->bws);
        free(c->sessions);
        free(c->assets);
        free(c);
}

uint64_t ctl_cache_ttl(const struct ctl_cache *c)
{
        return c->ttl_ms;
}

static bool fresh(const struct ctl_cache *c, uint64_t fetched_ms, uint64_t now_ms)
{
        return c->ttl_ms > 0 && now_ms < fetched_ms + c->ttl_ms;
}

bool ctl_cache_session_get(struct ctl_cache *c, const char *sid, uint64_t now_ms, double wall,
                           struct ctl_session *ret)
{
        struct sess_slot *e = &c->sessions[hash(sid) & (SESSIONS - 1)];

        if (!e->used || strcmp(e->s.sid, sid) || !fresh(c, e->fetched_ms, now_ms))
                return false;
        /* The entry speaks for the licence status only until its next boundary. */
        if (e->s.licence_change > 0 && wall >= e->s.licence_change)
                return false;
        if (wall >= (double)e->s.expires)
                return false;
        *ret = e->s;
        json_incref(ret->markers);
        return true;
}

static bool copy_str(char *dst, size_t cap, json_t *v, bool required)
{
        const char *s = json_string_value(v);

        if (!s) {
                dst[0] = '\0';
                return !required && (!v || json_is_null(v));
        }
        if (strlen(s) >= cap)
                return false;
        memcpy(dst, s, strlen(s) + 1);
        return true;
}

int ctl_cache_session_put(struct ctl_cache *c, json_t *o, uint64_t now_ms,
                          struct ctl_session *ret)
{
        struct ctl_session s = {0};
        json_t *m;

        if (!copy_str(s.sid, sizeof(s.sid), json_object_get(o, "session"), true) ||
            !copy_str(s.title, sizeof(s.title), json_object_get(o, "title"), true) ||
            !copy_str(s.asset, sizeof(s.asset), json_object_get(o, "asset"), true) ||
            !copy_str(s.country, sizeof(s.country), json_object_get(o, "country"), true) ||
            !copy_str(s.region, sizeof(s.region), json_object_get(o, "region"), false))
                return -EINVAL;
        s.created = json_integer_value(json_object_get(o, "created"));
        s.expires = json_integer_value(json_object_get(o, "expires"));
        s.asset_version = json_integer_value(json_object_get(o, "asset_version"));
        s.licensed = json_is_true(json_object_get(o, "licensed"));
        s.licence_change = json_number_value(json_object_get(o, "licence_change"));
        s.licence_end = json_number_value(json_object_get(o, "licence_end"));
        m = json_object_get(o, "markers");
        s.markers = json_is_object(m) ? m : NULL;
        ctl_cache_session_add(c, &s, now_ms, ret);
        return ret->markers ? 0 : -ENOMEM;
}

void ctl_cache_session_add(struct ctl_cache *c, const struct ctl_session *s, uint64_t now_ms,
                           struct ctl_session *ret)
{
        json_t *m = s->markers ? json_incref(s->markers) : json_object();

        *ret = *s;
        ret->markers = m;
        if (c->ttl_ms > 0 && m) {
                struct sess_slot *e = &c->sessions[hash(s->sid) & (SESSIONS - 1)];
                if (e->used)
                        json_decref(e->s.markers);
                e->used = true;
                e->fetched_ms = now_ms;
                e->s = *ret;
                json_incref(m);
        }
}

void ctl_session_done(struct ctl_session *s)
{
        json_decref(s->markers);
        s->markers = NULL;
}

const struct asset *ctl_asset_ref_asset(const struct ctl_asset_ref *r)
{
        return r->a;
}

void ctl_asset_ref_unref(struct ctl_asset_ref *r)
{
        if (!r || --r->refs > 0)
                return;
        asset_free(r->a);
        free(r);
}

struct ctl_asset_ref *ctl_cache_asset_get(struct ctl_cache *c, const char *id, int64_t version,
                                          uint64_t now_ms)
{
        struct asset_slot *e = &c->assets[hash(id) & (ASSETS - 1)];

        /* Keyed by version: a re-registered asset is a miss at once, and a version match is
         * the same content however old the copy, so no TTL applies (the table's size bounds
         * the memory). Without this, every session expiring from the cache at once would
         * re-parse a large asset once each. */
        if (c->ttl_ms == 0 || !e->r || strcmp(e->id, id) || e->version != version)
                return NULL;
        e->r->refs++;
        return e->r;
}

struct ctl_asset_ref *ctl_cache_asset_put(struct ctl_cache *c, const char *id, int64_t version,
                                          struct asset *a, uint64_t now_ms)
{
        struct asset_slot *e = &c->assets[hash(id) & (ASSETS - 1)];
        struct ctl_asset_ref *r = calloc(1, sizeof(*r));

        if (!r) {
                asset_free(a);
                return NULL;
        }
        r->a = a;
        r->refs = 1;
        if (c->ttl_ms == 0 || strlen(id) >= sizeof(e->id))
                return r;
        ctl_asset_ref_unref(e->r);
        memcpy(e->id, id, strlen(id) + 1);
        e->version = version;
        e->fetched_ms = now_ms;
        e->r = r;
        r->refs++;
        return r;
}

json_t *ctl_cache_edges_get(struct ctl_cache *c, uint64_t now_ms)
{
        return c->edges && fresh(c, c->edges_ms, now_ms) ? json_incref(c->edges) : NULL;
}

static int cmp_str(const void *a, const void *b)
{
        return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The holdings of edge id, looked for at hint first (the snapshot's order rarely changes). */
static struct held *held_find(const struct ctl_cache *c, const char *id, size_t hint)
{
        if (hint < c->n_held && !strcmp(c->held[hint].id, id))
                return &c->held[hint];
        for (size_t i = 0; i < c->n_held; i++)
                if (!strcmp(c->held[i].id, id))
                        return &c->held[i];
        return NULL;
}

/* Titles sent as "a\nb\n...", into h (sorted, for bsearch). Returns 0 or -ENOMEM. */
static int held_parse(struct held *h, const char *s, size_t len)
{
        size_t cap = 1, m = 0;
        char *p;

        for (size_t i = 0; i < len; i++)
                cap += s[i] == '\n';
        h->buf = malloc(len + 1);
        h->titles = calloc(cap, sizeof(char *));
        if (!h->buf || !h->titles)
                return -ENOMEM;
        memcpy(h->buf, s, len);
        h->buf[len] = '\0';
        for (p = h->buf; p < h->buf + len;) {
                char *nl = memchr(p, '\n', (size_t)(h->buf + len - p));
                if (nl)
                        *nl = '\0';
                if (*p)
                        h->titles[m++] = p;
                p = nl ? nl + 1 : h->buf + len;
        }
        qsort(h->titles, m, sizeof(char *), cmp_str);
        h->n = m;
        return 0;
}

/* The entry of t for edge id, looked for from *next on (t usually lists edges in order). */
static const struct ctl_edge_titles *titles_find(const struct ctl_edge_titles *t, size_t n,
                                                 const char *id, size_t *next)
{
        for (size_t k = 0; k < n; k++) {
                size_t j = (*next + k) % n;
                if (!strcmp(t[j].edge, id)) {
                        *next = j + 1;
                        return &t[j];
                }
        }
        return NULL;
}

/*
 * The holdings of the edges of the new snapshot edges: those fetched (t) replace what is kept
 * for their edge, the others are kept as they are (the database sends titles only where
 * titles_gen differs from the one ctl_cache_edges_known gave). Holdings of edges no longer
 * listed go.
 */
static void held_update(struct ctl_cache *c, json_t *edges, const struct ctl_edge_titles *t,
                        size_t n_t)
{
        size_t i, next = 0, n = json_array_size(edges);
        struct held *h = calloc(n ? n : 1, sizeof(*h));
        json_t *e;

        if (!h)
                return; /* out of memory: the old holdings stay, and stay asked for */
        json_array_foreach(edges, i, e)
        {
                const char *id = json_string_value(json_object_get(e, "id"));
                const struct ctl_edge_titles *f;
                struct held *old;

                if (!id || strlen(id) >= sizeof(h[i].id))
                        continue;
                memcpy(h[i].id, id, strlen(id) + 1);
                h[i].gen = -1;
                if ((f = titles_find(t, n_t, id, &next))) {
                        if (held_parse(&h[i], f->titles, f->len) == 0)
                                h[i].gen = f->gen;
                } else if ((old = held_find(c, id, i))) {
                        h[i].gen = old->gen;
                        h[i].buf = old->buf;
                        h[i].titles = old->titles;
                        h[i].n = old->n;
                        old->buf = NULL;
                        old->titles = NULL;
                        old->n = 0;
                }
        }
        held_free(c);
        c->held = h;
        c->n_held = n;
}

json_t *ctl_cache_edges_put(struct ctl_cache *c, json_t *edges, const struct ctl_edge_titles *t,
                            size_t n_t, uint64_t now_ms)
{
        /* Holdings are kept even with the cache off: titles_gen says when they change. */
        held_update(c, edges, t, n_t);
        if (c->ttl_ms == 0)
                return edges;
        json_decref(c->edges);
        c->edges = edges;
        c->edges_ms = now_ms;
        return json_incref(edges);
}

char *ctl_cache_edges_known(const struct ctl_cache *c)
{
        json_t *o = json_object();
        char *s;

        for (size_t i = 0; o && i < c->n_held; i++)
                if (c->held[i].id[0] && c->held[i].gen >= 0 &&
                    json_object_set_new(o, c->held[i].id, json_integer(c->held[i].gen)) < 0) {
                        json_decref(o);
                        return NULL;
                }
        s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        json_decref(o);
        return s;
}

size_t ctl_cache_holdings_behind(const struct ctl_cache *c, json_t *edges)
{
        size_t i, n = 0;
        json_t *e;

        json_array_foreach(edges, i, e)
        {
                const char *id = json_string_value(json_object_get(e, "id"));
                json_int_t gen = json_integer_value(json_object_get(e, "titles_gen"));
                const struct held *h = id ? held_find(c, id, i) : NULL;

                /* titles_gen 0: no heartbeat yet, nothing to ship */
                if (gen > 0 && (!h || h->gen != gen))
                        n++;
        }
        return n;
}

bool ctl_cache_edge_holds(const struct ctl_cache *c, json_t *edges, size_t idx,
                          const char *asset)
{
        const char *id = json_string_value(json_object_get(json_array_get(edges, idx), "id"));
        const struct held *h = id ? held_find(c, id, idx) : NULL;

        return h && h->n && bsearch(&asset, h->titles, h->n, sizeof(char *), cmp_str);
}

void ctl_cache_edges_forget(struct ctl_cache *c)
{
        /* The holdings stay: they are right for as long as their titles_gen is. */
        json_decref(c->edges);
        c->edges = NULL;
}

bool ctl_cache_edge_healthy(const struct ctl_cache *c, const char *id)
{
        json_t *e;
        size_t i;

        json_array_foreach(c->edges, i, e)
        {
                const char *eid = json_string_value(json_object_get(e, "id"));
                if (eid && !strcmp(eid, id))
                        return json_is_true(json_object_get(e, "healthy"));
        }
        return false;
}

static bool warm_key(char *key, const char *title, const char *episode, const char *country)
{
        int n = snprintf(key, WARM_KEY, "%s\n%s\n%s", title, episode ? episode : "", country);

        return n > 0 && n < WARM_KEY;
}

bool ctl_cache_warm_get(struct ctl_cache *c, const char *title, const char *episode,
                        const char *country, uint64_t now_ms, struct ctl_warm *ret)
{
        char key[WARM_KEY];
        struct warm_slot *e;

        if (c->ttl_ms == 0 || !warm_key(key, title, episode, country))
                return false;
        e = &c->warm[hash(key) & (WARM - 1)];
        if (!e->w.o || strcmp(e->key, key) || !fresh(c, e->fetched_ms, now_ms))
                return false;
        *ret = e->w;
        json_incref(ret->o);
        return true;
}

uint64_t ctl_cache_warm_epoch(const struct ctl_cache *c)
{
        return c->warm_epoch;
}

int ctl_cache_warm_put(struct ctl_cache *c, const char *title, const char *episode,
                       const char *country, json_t *o, uint64_t asked, uint64_t now_ms,
                       struct ctl_warm *ret)
{
        json_t *ws = json_object_get(o, "windows"), *v;
        struct ctl_warm w;
        char key[WARM_KEY];
        size_t i;

        memset(&w, 0, sizeof(w));
        if (!json_is_array(ws) || !json_is_string(json_object_get(o, "asset")))
                return -EINVAL;
        if (json_array_size(ws) > CTL_WINDOWS_MAX)
                return -E2BIG;
        json_array_foreach(ws, i, v)
        {
                json_t *f = json_array_get(v, 0), *u = json_array_get(v, 1);
                if (!json_is_number(f) || !(json_is_number(u) || json_is_null(u)))
                        return -EINVAL;
                w.from[i] = json_number_value(f);
                w.until[i] = json_is_number(u) ? json_number_value(u) : 0;
        }
        w.n_windows = json_array_size(ws);
        w.o = json_incref(o);
        *ret = w;
        if (c->ttl_ms > 0 && asked == c->warm_epoch && warm_key(key, title, episode, country)) {
                struct warm_slot *e = &c->warm[hash(key) & (WARM - 1)];
                json_decref(e->w.o);
                memcpy(e->key, key, strlen(key) + 1);
                e->fetched_ms = now_ms;
                e->w = w;
                json_incref(o);
        }
        return 0;
}

void ctl_warm_done(struct ctl_warm *w)
{
        json_decref(w->o);
        w->o = NULL;
}

void ctl_cache_warm_forget(struct ctl_cache *c, const char *title)
{
        size_t tl = title ? strlen(title) : 0;

        c->warm_epoch++;
        for (size_t i = 0; i < WARM; i++) {
                const char *k = c->warm[i].key;
                if (title && (strncmp(k, title, tl) || k[tl] != '\n'))
                        continue;
                json_decref(c->warm[i].w.o);
                c->warm[i].w.o = NULL;
        }
}

void ctl_licence_eval(const struct ctl_warm *w, double wall, bool *ret_licensed, double *ret_change,
                      double *ret_end)
{
        bool lic = false, open = false, done = false;
        double change = 0, cover = 0;

        /* Windows are earliest first; those over by now bear on nothing. */
        for (size_t i = 0; i < w->n_windows; i++) {
                double from = w->from[i], until = w->until[i];
                if (until != 0 && until <= wall)
                        continue;
                if (from <= wall)
                        lic = true;
                else if (change == 0 || from < change)
                        change = from;
                if (until != 0 && (change == 0 || until < change))
                        change = until;
                if (done)
                        continue;
                if (from > (cover != 0 ? cover : wall)) {
                        done = true;
                } else if (until == 0) {
                        open = true;
                        done = true;
                } else {
                        double base = cover != 0 ? cover : wall;
                        cover = until > base ? until : base;
                }
        }
        *ret_licensed = lic;
        *ret_change = change;
        *ret_end = open ? 0 : (cover != 0 ? cover : wall);
}

bool ctl_cache_bw_get(struct ctl_cache *c, const char *ip, uint64_t now_ms, int64_t *ret)
{
        struct bw_slot *e = &c->bws[hash(ip) & (BWS - 1)];

        if (c->ttl_ms == 0 || !e->ip[0] || strcmp(e->ip, ip) || !fresh(c, e->fetched_ms, now_ms))
                return false;
        *ret = e->bw;
        return true;
}

void ctl_cache_bw_put(struct ctl_cache *c, const char *ip, int64_t bw, uint64_t now_ms)
{
        struct bw_slot *e = &c->bws[hash(ip) & (BWS - 1)];

        if (c->ttl_ms == 0 || strlen(ip) >= sizeof(e->ip))
                return;
        memcpy(e->ip, ip, strlen(ip) + 1);
        e->fetched_ms = now_ms;
        e->bw = bw;
}
