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

struct held {
        const char **titles; /* borrowed from the snapshot's JSON, sorted */
        size_t n;
};

struct ctl_cache {
        uint64_t ttl_ms;
        struct sess_slot *sessions;
        struct asset_slot *assets;
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
        if (!c->sessions || !c->assets) {
                ctl_cache_free(c);
                return -ENOMEM;
        }
        *ret = c;
        return 0;
}

static void held_free(struct ctl_cache *c)
{
        for (size_t i = 0; i < c->n_held; i++)
                free(c->held[i].titles);
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
        held_free(c);
        json_decref(c->edges);
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
        s.markers = json_is_object(m) ? json_incref(m) : json_object();
        *ret = s;
        json_incref(ret->markers);
        if (c->ttl_ms > 0) {
                struct sess_slot *e = &c->sessions[hash(s.sid) & (SESSIONS - 1)];
                if (e->used)
                        json_decref(e->s.markers);
                e->used = true;
                e->fetched_ms = now_ms;
                e->s = s;
        } else {
                json_decref(s.markers);
        }
        return 0;
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

json_t *ctl_cache_edges_put(struct ctl_cache *c, json_t *edges, uint64_t now_ms)
{
        size_t n = json_array_size(edges);

        if (c->ttl_ms == 0)
                return edges;
        held_free(c);
        json_decref(c->edges);
        c->edges = edges;
        c->edges_ms = now_ms;
        c->held = calloc(n ? n : 1, sizeof(*c->held));
        if (!c->held)
                return edges;
        c->n_held = n;
        for (size_t i = 0; i < n; i++) {
                json_t *t = json_object_get(json_array_get(edges, i), "titles");
                size_t k, m = 0, nt = json_array_size(t);
                json_t *v;
                c->held[i].titles = calloc(nt ? nt : 1, sizeof(char *));
                if (!c->held[i].titles)
                        continue;
                json_array_foreach(t, k, v)
                {
                        if (json_is_string(v))
                                c->held[i].titles[m++] = json_string_value(v);
                }
                qsort(c->held[i].titles, m, sizeof(char *), cmp_str);
                c->held[i].n = m;
        }
        return json_incref(edges);
}

bool ctl_cache_edge_holds(const struct ctl_cache *c, json_t *edges, size_t idx,
                          const char *asset)
{
        json_t *t, *v;
        size_t i;

        if (edges == c->edges) {
                if (idx >= c->n_held || !c->held[idx].titles)
                        return false;
                return bsearch(&asset, c->held[idx].titles, c->held[idx].n, sizeof(char *),
                               cmp_str);
        }
        t = json_object_get(json_array_get(edges, idx), "titles");
        json_array_foreach(t, i, v)
        {
                if (json_is_string(v) && !strcmp(json_string_value(v), asset))
                        return true;
        }
        return false;
}

void ctl_cache_edges_forget(struct ctl_cache *c)
{
        held_free(c);
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
