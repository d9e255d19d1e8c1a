/* SPDX-License-Identifier: MIT */
/*
 * The DASH trace generator. The model, one day at a time:
 *   - titles: episodes (20-60 min) and films (90-150 min); popularity starts Zipf over a
 *     random ranking, drifts each day by a log-normal factor (churn), and each day a few new
 *     releases enter near the top and fade over the following days (spikes);
 *   - sessions: start times follow a diurnal curve peaking at 21:00; each picks a title by
 *     popularity, starts at segment 0 on the lowest rung and climbs the ladder towards its
 *     own bandwidth cap, dipping now and then; it seeks forward (skipping intros, jumping
 *     ahead) or back now and then, and abandons early, part-way or at the end;
 *   - requests: the init segment of each rung used, then one media segment per 4 s after a
 *     faster start-up burst that fills the player's buffer.
 */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

#include "gen-dash.h"
#include "policy-map.h"

/* The seed ladder, kbit/s, from the lowest rung up. */
static const unsigned ladder_kbps[GEN_DASH_RUNGS] = {300, 700, 1500, 3000, 5000};
/* Share of sessions whose bandwidth caps them at each rung. */
static const double cap_share[GEN_DASH_RUNGS] = {0.05, 0.10, 0.20, 0.30, 0.35};

#define DAY_SECS 86400u

struct rng {
        uint64_t s[4];
};

static uint64_t rotl(uint64_t x, int k)
{
        return (x << k) | (x >> (64 - k));
}

/* xoshiro256**: small, fast, and the same stream on every platform for a given seed. */
static uint64_t rng_next(struct rng *r)
{
        uint64_t res = rotl(r->s[1] * 5, 7) * 9, t = r->s[1] << 17;
        r->s[2] ^= r->s[0];
        r->s[3] ^= r->s[1];
        r->s[1] ^= r->s[2];
        r->s[0] ^= r->s[3];
        r->s[2] ^= t;
        r->s[3] = rotl(r->s[3], 45);
        return res;
}

static void rng_seed(struct rng *r, uint64_t seed)
{
        for (unsigned i = 0; i < 4; i++) {
                seed += 0x9e3779b97f4a7c15ULL;
                r->s[i] = policy_hash64(seed);
        }
}

/* Uniform in [0, 1). */
static double uni(struct rng *r)
{
        return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

static double normal(struct rng *r)
{
        double u = uni(r), v = uni(r);
        return sqrt(-2.0 * log(1.0 - u)) * cos(2.0 * M_PI * v);
}

/* Seconds into the day, denser in the evening: 1 + 0.8 cos(2 pi (h - 21) / 24). */
static uint32_t diurnal(struct rng *r)
{
        for (;;) {
                double h = uni(r) * 24.0;
                double density = (1.0 + 0.8 * cos(2.0 * M_PI * (h - 21.0) / 24.0)) / 1.8;
                if (uni(r) < density)
                        return (uint32_t)(h * 3600.0);
        }
}

struct gen_dash_opts gen_dash_opts_default(void)
{
        return (struct gen_dash_opts){
            .seed = 1,
            .days = 3,
            .titles = 2000,
            .sessions_per_day = 4000,
            .zipf = 0.9,
            .releases_per_day = 3,
            .churn = 0.3,
        };
}

struct title {
        double base;   /* popularity before release fading */
        uint32_t segs; /* media segments */
        int born;      /* release day */
        bool released; /* a spike title (fades after release) */
};

struct pending {
        uint64_t id;
        uint32_t size, time;
        uint64_t seq;
};

struct out {
        struct pending *v;
        size_t len, cap;
        uint64_t max;
};

static int emit(struct out *o, uint64_t id, uint32_t size, uint32_t time)
{
        if (o->len >= o->max)
                return -E2BIG;
        if (o->len == o->cap) {
                size_t ncap = o->cap ? o->cap * 2 : 65536;
                struct pending *n = realloc(o->v, ncap * sizeof(*n));
                if (!n)
                        return -ENOMEM;
                o->v = n;
                o->cap = ncap;
        }
        o->v[o->len] = (struct pending){.id = id, .size = size, .time = time, .seq = o->len};
        o->len++;
        return 0;
}

/* Media segment size: the rung's bitrate over 4 s, varied +-30% per segment (VBR). */
static uint32_t seg_size(uint64_t id, uint32_t rung)
{
        if (rung >= GEN_DASH_RUNGS)
                return 0;
        if (gen_dash_id_segment(id) == GEN_DASH_INIT_SEGMENT)
                return 900 + 100 * rung;
        double vbr = 0.7 + 0.6 * (double)(policy_hash64(id) >> 11) * 0x1.0p-53;
        return (uint32_t)(ladder_kbps[rung] * 1000.0 / 8.0 * GEN_DASH_SEGMENT_SECS * vbr);
}

static unsigned pick_cap(struct rng *r)
{
        double u = uni(r), acc = 0;
        for (unsigned i = 0; i < GEN_DASH_RUNGS; i++) {
                acc += cap_share[i];
                if (u < acc)
                        return i;
        }
        return GEN_DASH_RUNGS - 1;
}

static int session(struct rng *r, struct out *o, uint32_t title, const struct title *ti,
                   uint32_t start)
{
        unsigned cap = pick_cap(r), rung = 0;
        uint64_t target;
        double u = uni(r);
        /* Samplers leave within minutes; others stop part-way or watch to the credits. */
        if (u < 0.35)
                target = 1 + (uint64_t)(-30.0 * log(1.0 - uni(r)));
        else if (u < 0.70)
                target = (uint64_t)(ti->segs * (0.1 + 0.9 * uni(r)));
        else
                target = ti->segs;
        uint32_t t = start, seg = 0;
        int rc = emit(o, gen_dash_id(title, rung, GEN_DASH_INIT_SEGMENT),
                      seg_size(gen_dash_id(title, rung, GEN_DASH_INIT_SEGMENT), rung), t);
        for (uint64_t watched = 0; rc == 0 && seg < ti->segs && watched < target; watched++) {
                uint64_t id = gen_dash_id(title, rung, seg);
                rc = emit(o, id, seg_size(id, rung), t);
                if (rc < 0)
                        break;
                t += watched < 4 ? 1 : GEN_DASH_SEGMENT_SECS;
                unsigned was = rung;
                if (rung < cap && uni(r) < 0.35)
                        rung++;
                else if (rung > 0 && uni(r) < 0.02)
                        rung--;
                if (rung != was) {
                        uint64_t init = gen_dash_id(title, rung, GEN_DASH_INIT_SEGMENT);
                        rc = emit(o, init, seg_size(init, rung), t);
                }
                double s = uni(r);
                if (s < 0.004) {
                        seg += 15 + (uint32_t)(uni(r) * 150);
                        t += 1;
                } else if (s < 0.005) {
                        uint32_t back = 5 + (uint32_t)(uni(r) * 40);
                        seg = seg > back ? seg - back : 0;
                        t += 1;
                } else {
                        seg++;
                }
        }
        return rc;
}

uint32_t gen_dash_object_size(uint64_t id)
{
        return seg_size(id, gen_dash_id_rung(id));
}

static int cmp_pending(const void *a, const void *b)
{
        const struct pending *x = a, *y = b;
        if (x->time != y->time)
                return x->time < y->time ? -1 : 1;
        return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Popularity of title i on day d: drifted base, boosted then fading after a release. */
static double popularity(const struct title *ti, unsigned d)
{
        if (!ti->released)
                return ti->base;
        int age = (int)d - ti->born;
        return ti->base * (1.0 + 4.0 * pow(0.5, age));
}

static bool opts_valid(const struct gen_dash_opts *o)
{
        return o->days > 0 && o->titles > 0 && o->sessions_per_day > 0 && o->zipf >= 0 &&
               o->churn >= 0 && o->days <= 365 && o->titles <= (1u << 24);
}

/*
 * Draws the catalogue (n titles: o->titles, then the releases in birth order) from a freshly
 * seeded r. gen_dash_catalog_new() replays exactly these draws, so the two must not diverge.
 * Returns 0 or -ENOMEM.
 */
static int titles_setup(const struct gen_dash_opts *o, struct rng *r, struct title *ti, size_t n)
{
        uint32_t *perm = malloc(o->titles * sizeof(*perm));
        if (!perm)
                return -ENOMEM;
        rng_seed(r, o->seed);
        for (uint32_t i = 0; i < o->titles; i++)
                perm[i] = i;
        for (uint32_t i = o->titles; i > 1; i--) {
                uint32_t j = (uint32_t)(rng_next(r) % i);
                uint32_t tmp = perm[i - 1];
                perm[i - 1] = perm[j];
                perm[j] = tmp;
        }
        for (size_t i = 0; i < n; i++) {
                bool film = uni(r) < 0.4;
                double minutes = film ? 90 + 60 * uni(r) : 20 + 40 * uni(r);
                ti[i].segs = (uint32_t)(minutes * 60 / GEN_DASH_SEGMENT_SECS);
                if (i < o->titles) {
                        ti[i].base = 1.0 / pow(perm[i] + 1.0, o->zipf);
                } else {
                        size_t k = i - o->titles;
                        ti[i].born = (int)(k / (o->releases_per_day ? o->releases_per_day : 1));
                        ti[i].released = true;
                        /* New releases land among the top ten of the catalogue. */
                        ti[i].base = 1.0 / pow(1.0 + 9.0 * uni(r), o->zipf);
                }
        }
        free(perm);
        return 0;
}

int gen_dash_catalog_new(const struct gen_dash_opts *o, struct gen_dash_catalog *ret)
{
        if (!opts_valid(o))
                return -EINVAL;
        size_t n = (size_t)o->titles + (size_t)o->days * o->releases_per_day;
        struct title *ti = calloc(n, sizeof(*ti));
        struct gen_dash_catalog c = {.n = n};
        struct rng r;
        int rc = -ENOMEM;
        c.segs = malloc(n * sizeof(*c.segs));
        c.release_day = malloc(n * sizeof(*c.release_day));
        if (!ti || !c.segs || !c.release_day)
                goto out;
        rc = titles_setup(o, &r, ti, n);
        if (rc < 0)
                goto out;
        for (size_t i = 0; i < n; i++) {
                c.segs[i] = ti[i].segs;
                c.release_day[i] = ti[i].released ? ti[i].born : -1;
        }
        *ret = c;
        c = (struct gen_dash_catalog){0};
out:
        gen_dash_catalog_done(&c);
        free(ti);
        return rc;
}

void gen_dash_catalog_done(struct gen_dash_catalog *c)
{
        free(c->segs);
        free(c->release_day);
        *c = (struct gen_dash_catalog){0};
}

int gen_dash_run(const struct gen_dash_opts *o, const struct trace_limits *lim, struct trace *t)
{
        if (!opts_valid(o))
                return -EINVAL;
        size_t n = (size_t)o->titles + (size_t)o->days * o->releases_per_day;
        struct title *ti = calloc(n, sizeof(*ti));
        double *cum = malloc(n * sizeof(*cum));
        struct out out = {.max = lim->max_requests};
        struct rng r;
        int rc = -ENOMEM;
        if (!ti || !cum)
                goto out;
        rc = titles_setup(o, &r, ti, n);
        if (rc < 0)
                goto out;
        for (unsigned d = 0; d < o->days; d++) {
                size_t alive = 0;
                double total = 0;
                if (d > 0)
                        for (size_t i = 0; i < n; i++)
                                ti[i].base *= exp(o->churn * normal(&r));
                for (size_t i = 0; i < n; i++) {
                        if (ti[i].born > (int)d)
                                continue;
                        total += popularity(&ti[i], d);
                        cum[i] = total;
                        alive = i + 1;
                }
                for (unsigned s = 0; s < o->sessions_per_day; s++) {
                        double x = uni(&r) * total;
                        size_t lo = 0, hi = alive - 1;
                        /* First title whose cumulative share exceeds x. Releases are stored
                         * in birth order, so the titles alive today are a prefix. */
                        while (lo < hi) {
                                size_t mid = (lo + hi) / 2;
                                if (cum[mid] > x)
                                        hi = mid;
                                else
                                        lo = mid + 1;
                        }
                        uint32_t start = d * DAY_SECS + diurnal(&r);
                        rc = session(&r, &out, (uint32_t)lo + 1, &ti[lo], start);
                        if (rc < 0)
                                goto out;
                }
        }
        qsort(out.v, out.len, sizeof(*out.v), cmp_pending);
        rc = 0;
        for (size_t i = 0; i < out.len && rc == 0; i++)
                rc = trace_append(t, lim, out.v[i].id, out.v[i].size, out.v[i].time);
out:
        free(out.v);
        free(cum);
        free(ti);
        return rc;
}
