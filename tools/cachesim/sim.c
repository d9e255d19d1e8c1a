/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "gen-dash.h"
#include "policy-map.h"
#include "sim.h"

#define DAY_SECS 86400u

/*
 * The fill plan a control plane would send: yesterday's most requested titles. Built per day
 * from the trace itself before the replay, using only the past, so the hint never peeks.
 */
struct plan {
        struct policy_map top; /* title -> (void *)1, for the current day */
        unsigned day;
};

struct title_count {
        uint32_t title;
        uint64_t n;
};

static int cmp_count_desc(const void *a, const void *b)
{
        const struct title_count *x = a, *y = b;
        if (x->n != y->n)
                return x->n > y->n ? -1 : 1;
        return x->title < y->title ? -1 : x->title > y->title;
}

/* Rebuilds plan->top from requests of day `day - 1`, i.e. indices [from, to). */
static int plan_build(struct plan *pl, const struct trace *t, size_t from, size_t to, unsigned top)
{
        struct policy_map counts;
        struct title_count *v = NULL;
        size_t nv = 0;
        int r = -ENOMEM;
        policy_map_init(&counts);
        policy_map_done(&pl->top);
        /* Counts are stored as count + 1 in the pointer (values must be non-NULL). */
        for (size_t i = from; i < to; i++) {
                uint32_t title = gen_dash_id_title(t->reqs[i].id);
                uintptr_t c = (uintptr_t)policy_map_get(&counts, title);
                if (policy_map_put(&counts, title, (void *)(c ? c + 1 : 2)) < 0)
                        goto out;
        }
        v = malloc((counts.count ? counts.count : 1) * sizeof(*v));
        if (!v)
                goto out;
        for (size_t i = 0; i < counts.cap; i++)
                if (counts.vals[i])
                        v[nv++] = (struct title_count){(uint32_t)counts.keys[i],
                                                       (uintptr_t)counts.vals[i] - 1};
        qsort(v, nv, sizeof(*v), cmp_count_desc);
        for (size_t i = 0; i < nv && i < top; i++)
                if (policy_map_put(&pl->top, v[i].title, (void *)1) < 0)
                        goto out;
        r = 0;
out:
        free(v);
        policy_map_done(&counts);
        return r;
}

/* The hints the edge derives from a segment's URL path. */
static uint32_t dash_hints(uint64_t id, const struct sim_opts *o)
{
        uint32_t seg = gen_dash_id_segment(id), hints = 0;
        if (seg == GEN_DASH_INIT_SEGMENT || seg < o->first_segments)
                hints |= POLICY_HINT_FIRST_SEGMENTS;
        if (gen_dash_id_rung(id) == 0)
                hints |= POLICY_HINT_LOW_RUNG;
        return hints;
}

/* The position the edge reads from `seg-<n>.m4s` (ingest numbers from 1); 0 for init. */
static uint32_t dash_position(uint64_t id)
{
        uint32_t seg = gen_dash_id_segment(id);
        return seg == GEN_DASH_INIT_SEGMENT ? 0 : seg + 1;
}

static void fill_req(const struct trace *t, size_t i, const struct sim_opts *o,
                     const struct plan *pl, struct policy_req *req)
{
        const struct trace_req *tr = &t->reqs[i];
        *req = (struct policy_req){
            .id = tr->id,
            .size = tr->size,
            .group = tr->id,
            .next_access = t->next[i],
        };
        if (!o->dash_ids)
                return;
        req->group = gen_dash_id_title(tr->id);
        req->hints = dash_hints(tr->id, o);
        req->position = dash_position(tr->id);
        if (o->plan_top && policy_map_get(&pl->top, req->group))
                req->hints |= POLICY_HINT_PLAN_HIGH;
}

/*
 * The control plane's demand signal per title (index = title - 1): session starts decayed
 * with the half-life, kept as (value at `last`, last) so nothing overflows over long traces.
 * A session is counted at its rung-0 init segment, which every generated session requests
 * first (a later dip back to rung 0 counts again; such dips are rare).
 */
struct demand {
        double *views;
        uint32_t *last;
        size_t n;
        struct policy_map files; /* id -> struct file_demand, with plan_files only */
};

struct file_demand {
        double views;
        uint32_t last;
};

struct ranked {
        uint64_t id; /* title, or object id with plan_files */
        double score;
};

static int cmp_ranked(const void *a, const void *b)
{
        const struct ranked *x = a, *y = b;
        if (x->score != y->score)
                return x->score > y->score ? -1 : 1;
        return x->id < y->id ? -1 : x->id > y->id;
}

static double decayed(const struct demand *d, size_t i, uint32_t now, double halflife_s)
{
        if (d->views[i] == 0)
                return 0;
        return d->views[i] * exp2(-((double)now - d->last[i]) / halflife_s);
}

/* Counts one request of a file (plan_files). Returns 0 or -ENOMEM. */
static int file_note(struct demand *d, uint64_t id, uint32_t now, double halflife_s)
{
        struct file_demand *f = policy_map_get(&d->files, id);
        if (!f) {
                f = calloc(1, sizeof(*f));
                if (!f || policy_map_put(&d->files, id, f) < 0) {
                        free(f);
                        return -ENOMEM;
                }
        }
        f->views = f->views * exp2(-((double)now - f->last) / halflife_s) + 1;
        f->last = now;
        return 0;
}

static void demand_done(struct demand *d)
{
        for (size_t i = 0; i < d->files.cap; i++)
                free(d->files.vals[i]);
        policy_map_done(&d->files);
        free(d->views);
        free(d->last);
}

/* Views of the 10th most viewed title at now, at least 1: a release's expected demand when
 * it has no views of its own (control's sluice_fill_plan(): a release lands among the top
 * ten on its first day). */
static double release_prior(const struct demand *d, uint32_t now, double halflife_s)
{
        double top[10] = {0};
        for (size_t i = 0; i < d->n; i++) {
                double v = decayed(d, i, now, halflife_s);
                for (size_t k = 0; k < 10; k++)
                        if (v > top[k]) {
                                double t = top[k];
                                top[k] = v;
                                v = t;
                        }
        }
        double tenth = top[9];
        for (size_t k = 10; tenth == 0 && k-- > 0;)
                tenth = top[k]; /* fewer than ten viewed: the least of them */
        return tenth > 1 ? tenth : 1;
}

/* For a release due within the horizon: its expected demand (own views, else the prior)
 * x (1 - 0.5 x time to release / horizon); else 0. */
static double release_score(const struct sim_opts *o, const struct demand *d, size_t i,
                            uint32_t now, double prior)
{
        int day = o->catalog->release_day[i];
        if (day < 0)
                return 0;
        double due = (double)day * DAY_SECS - now;
        if (!(due > 0 && due <= o->horizon_s))
                return 0;
        double own = decayed(d, i, now, o->halflife_s);
        return (own > 0 ? own : prior) * (1.0 - 0.5 * due / o->horizon_s);
}

static void demand_note(struct demand *d, uint64_t id, uint32_t now, double halflife_s)
{
        uint32_t title = gen_dash_id_title(id);
        if (gen_dash_id_rung(id) != 0 || gen_dash_id_segment(id) != GEN_DASH_INIT_SEGMENT ||
            title == 0 || title > d->n)
                return;
        d->views[title - 1] = decayed(d, title - 1, now, halflife_s) + 1;
        d->last[title - 1] = now;
}

/* Offers one planned object; *room is what is left of the plan's budget. */
static int push_object(struct policy *p, const struct sim_opts *o, uint32_t title, uint64_t id,
                       uint64_t *room, struct sim_result *res)
{
        uint32_t size = gen_dash_object_size(id);
        if (size == 0 || size > *room)
                return 0; /* as sluice-fill: skip what does not fit, smaller ones may */
        *room -= size;
        struct policy_req req = {
            .id = id,
            .size = size,
            .group = title,
            .next_access = POLICY_NEVER,
            .hints = dash_hints(id, o) | POLICY_HINT_PLAN_HIGH | POLICY_HINT_PUSHED,
            .position = dash_position(id),
        };
        int r = policy_insert(p, &req);
        if (r == 1) {
                res->pushed_objects++;
                res->pushed_bytes += size;
        }
        return r < 0 && r != -EEXIST ? r : 0;
}

/*
 * One night's run. The plan, as control's sluice_fill_plan() builds it: per title, decayed
 * views plus, for a release due within the horizon, its expected demand ramped by the time
 * to release (release_score());
 * titles best first; within a title every file, init segments first, then segments in order
 * (the rungs of one segment together). Objects are taken in plan order while they fit in
 * the cache budget, held ones counting against it as in sluice-fill's diff; the policy
 * picks the victims that make room, as it does for any commit.
 */
static int prepush(struct policy *p, const struct sim_opts *o, const struct demand *d, uint32_t now,
                   uint64_t budget, struct sim_result *res)
{
        const struct gen_dash_catalog *c = o->catalog;
        struct ranked *v = malloc((c->n ? c->n : 1) * sizeof(*v));
        size_t nv = 0;
        uint64_t room = budget;
        int r = 0;
        if (!v)
                return -ENOMEM;
        double prior = release_prior(d, now, o->halflife_s);
        for (size_t i = 0; i < c->n; i++) {
                double score =
                    decayed(d, i, now, o->halflife_s) + release_score(o, d, i, now, prior);
                if (score > 0)
                        v[nv++] = (struct ranked){i + 1, score};
        }
        qsort(v, nv, sizeof(*v), cmp_ranked);
        res->pushes++;
        for (size_t k = 0; k < nv && r == 0; k++) {
                uint32_t title = (uint32_t)v[k].id;
                for (uint32_t rung = 0; rung < GEN_DASH_RUNGS && r == 0; rung++)
                        r = push_object(p, o, title,
                                        gen_dash_id(title, rung, GEN_DASH_INIT_SEGMENT), &room,
                                        res);
                for (uint32_t seg = 0; seg < c->segs[title - 1] && r == 0; seg++)
                        for (uint32_t rung = 0; rung < GEN_DASH_RUNGS && r == 0; rung++)
                                r = push_object(p, o, title, gen_dash_id(title, rung, seg), &room,
                                                res);
        }
        free(v);
        return r;
}

/*
 * The per-file variant: every file requested before, by its decayed requests (files below
 * 1/1000 of a request are dropped), and each due release's init segments and first
 * segments on every rung at the release score; best first, within the budget.
 */
static int prepush_files(struct policy *p, const struct sim_opts *o, const struct demand *d,
                         uint32_t now, uint64_t budget, struct sim_result *res)
{
        const struct gen_dash_catalog *c = o->catalog;
        size_t cap = d->files.count + 1;
        struct ranked *v = malloc(cap * sizeof(*v));
        size_t nv = 0;
        uint64_t room = budget;
        int r = -ENOMEM;
        if (!v)
                goto out;
        for (size_t i = 0; i < d->files.cap; i++) {
                const struct file_demand *f = d->files.vals[i];
                double score = f ? f->views * exp2(-((double)now - f->last) / o->halflife_s) : 0;
                if (score >= 1e-3)
                        v[nv++] = (struct ranked){d->files.keys[i], score};
        }
        double prior = release_prior(d, now, o->halflife_s);
        for (size_t i = 0; i < c->n; i++) {
                double score = release_score(o, d, i, now, prior);
                /* seg == first_segments stands for the rung's init segment. */
                for (uint32_t seg = 0; score > 0 && seg <= o->first_segments; seg++) {
                        uint32_t s = seg == o->first_segments ? GEN_DASH_INIT_SEGMENT : seg;
                        if (s != GEN_DASH_INIT_SEGMENT && s >= c->segs[i])
                                continue;
                        for (uint32_t rung = 0; rung < GEN_DASH_RUNGS; rung++) {
                                if (nv == cap) {
                                        struct ranked *bigger = realloc(v, 2 * cap * sizeof(*v));
                                        if (!bigger)
                                                goto out;
                                        v = bigger;
                                        cap *= 2;
                                }
                                v[nv++] =
                                    (struct ranked){gen_dash_id((uint32_t)i + 1, rung, s), score};
                        }
                }
        }
        qsort(v, nv, sizeof(*v), cmp_ranked);
        res->pushes++;
        r = 0;
        for (size_t k = 0; k < nv && r == 0; k++)
                r = push_object(p, o, gen_dash_id_title(v[k].id), v[k].id, &room, res);
out:
        free(v);
        return r;
}

/*
 * The ceiling: the files requested in the 24 hours from the push (requests [from, ...)),
 * most requested first, within the budget. Counts are kept as count + 1 in the map's values.
 */
static int prepush_oracle(struct policy *p, const struct sim_opts *o, const struct trace *t,
                          size_t from, uint32_t now, uint64_t budget, struct sim_result *res)
{
        struct policy_map counts;
        struct ranked *v = NULL;
        size_t nv = 0;
        uint64_t room = budget;
        int r = -ENOMEM;
        policy_map_init(&counts);
        for (size_t i = from; i < t->len && t->reqs[i].time < (uint64_t)now + DAY_SECS; i++) {
                uintptr_t c = (uintptr_t)policy_map_get(&counts, t->reqs[i].id);
                if (policy_map_put(&counts, t->reqs[i].id, (void *)(c ? c + 1 : 2)) < 0)
                        goto out;
        }
        v = malloc((counts.count ? counts.count : 1) * sizeof(*v));
        if (!v)
                goto out;
        for (size_t i = 0; i < counts.cap; i++)
                if (counts.vals[i])
                        v[nv++] = (struct ranked){counts.keys[i],
                                                  (double)((uintptr_t)counts.vals[i] - 1)};
        qsort(v, nv, sizeof(*v), cmp_ranked);
        res->pushes++;
        r = 0;
        for (size_t k = 0; k < nv && r == 0; k++)
                r = push_object(p, o, gen_dash_id_title(v[k].id), v[k].id, &room, res);
out:
        free(v);
        policy_map_done(&counts);
        return r;
}

int sim_run(const struct trace *t, const struct policy_ops *ops, uint64_t budget,
            const struct sim_opts *o, struct sim_result *ret)
{
        struct policy_cfg cfg = {
            .budget = budget,
            .high_permille = o->high_permille,
            .low_permille = o->low_permille,
        };
        struct policy *p = NULL;
        struct plan pl = {.day = 0};
        struct sim_result res = {0};
        struct demand dm = {0};
        policy_map_init(&dm.files);
        size_t day_start = 0, prev_day_start = 0;
        /* Next push (and start of the "next day" counters), in trace seconds. */
        uint64_t push_at = UINT64_MAX, split_at = UINT64_MAX;
        int r;
        policy_map_init(&pl.top);
        if (o->catalog) {
                r = -EINVAL;
                if (!o->dash_ids || (o->prepush && ops->needs_future))
                        goto out;
                split_at = push_at = (uint64_t)DAY_SECS + o->prepush_at;
                dm.n = o->catalog->n;
                dm.views = calloc(dm.n ? dm.n : 1, sizeof(*dm.views));
                dm.last = calloc(dm.n ? dm.n : 1, sizeof(*dm.last));
                r = -ENOMEM;
                if (!dm.views || !dm.last)
                        goto out;
        }
        r = policy_new(ops, &cfg, &p);
        if (r < 0)
                goto out;
        for (size_t i = 0; i < t->len; i++) {
                struct policy_req req;
                unsigned day = t->reqs[i].time / DAY_SECS;
                while (t->reqs[i].time >= push_at) {
                        if (o->prepush) {
                                uint32_t now = (uint32_t)push_at;
                                if (o->plan_oracle)
                                        r = prepush_oracle(p, o, t, i, now, budget, &res);
                                else if (o->plan_files)
                                        r = prepush_files(p, o, &dm, now, budget, &res);
                                else
                                        r = prepush(p, o, &dm, now, budget, &res);
                                if (r < 0)
                                        goto out;
                        }
                        push_at += DAY_SECS;
                }
                if (o->catalog) {
                        uint32_t title = gen_dash_id_title(t->reqs[i].id);
                        r = -EINVAL;
                        if (title == 0 || title > dm.n)
                                goto out;
                        demand_note(&dm, t->reqs[i].id, t->reqs[i].time, o->halflife_s);
                        if (o->prepush && o->plan_files) {
                                r = file_note(&dm, t->reqs[i].id, t->reqs[i].time, o->halflife_s);
                                if (r < 0)
                                        goto out;
                        }
                }
                if (o->dash_ids && o->plan_top && day != pl.day) {
                        prev_day_start = day_start;
                        day_start = i;
                        pl.day = day;
                        r = plan_build(&pl, t, prev_day_start, day_start, o->plan_top);
                        if (r < 0)
                                goto out;
                }
                fill_req(t, i, o, &pl, &req);
                uint64_t size = policy_req_size(&req);
                bool next = t->reqs[i].time >= split_at;
                res.requests++;
                res.bytes += size;
                res.next_requests += next;
                res.next_bytes += next ? size : 0;
                if (policy_access(p, &req))
                        continue;
                res.misses++;
                res.miss_bytes += size;
                res.next_misses += next;
                res.next_miss_bytes += next ? size : 0;
                r = policy_insert(p, &req);
                if (r < 0 && r != -EEXIST)
                        goto out;
        }
        res.rejected = policy_stats_get(p).rejected;
        *ret = res;
        r = 0;
out:
        policy_free(p);
        policy_map_done(&pl.top);
        demand_done(&dm);
        return r;
}
