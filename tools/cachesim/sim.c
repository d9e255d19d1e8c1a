/* SPDX-License-Identifier: MIT */
#include <errno.h>
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
        uint32_t seg = gen_dash_id_segment(tr->id);
        req->group = gen_dash_id_title(tr->id);
        if (seg == GEN_DASH_INIT_SEGMENT || seg < o->first_segments)
                req->hints |= POLICY_HINT_FIRST_SEGMENTS;
        if (gen_dash_id_rung(tr->id) == 0)
                req->hints |= POLICY_HINT_LOW_RUNG;
        if (o->plan_top && policy_map_get(&pl->top, req->group))
                req->hints |= POLICY_HINT_PLAN_HIGH;
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
        size_t day_start = 0, prev_day_start = 0;
        int r;
        policy_map_init(&pl.top);
        r = policy_new(ops, &cfg, &p);
        if (r < 0)
                goto out;
        for (size_t i = 0; i < t->len; i++) {
                struct policy_req req;
                unsigned day = t->reqs[i].time / DAY_SECS;
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
                res.requests++;
                res.bytes += size;
                if (policy_access(p, &req))
                        continue;
                res.misses++;
                res.miss_bytes += size;
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
        return r;
}
