/* SPDX-License-Identifier: MIT */
/*
 * Popularity-weighted LRU, the edge's eviction policy.
 *
 * Every access stamps the object with H = clock + weight, and the object with the lowest H
 * is evicted; the clock then moves up to that H. With a constant weight this is exactly LRU
 * (later stamps are never lower); with weight = frequency it is LFU with dynamic aging.
 * The weight is what an edge knows about future demand, multiplied together:
 *   - the object's own recent request count, from a count-min sketch that halves itself
 *     periodically, so popularity fades unless renewed, plus credit for hints: first
 *     segments of a title (every session starts there), the lowest rung of a warm title
 *     (every player falls back to it), titles the fill plan ranks high;
 *   - the square of its title's recent session starts (requests carrying the first-segment
 *     hint: init segments and the first media segments), so a segment of a title many
 *     people start watching outranks one of a title nobody watches - the signal
 *     per-object policies cannot see. Starts, not requests: one viewer of a long film
 *     makes thousands of requests but says no more about the next viewer than one who
 *     stops after a minute. Requests still count, 1/256 of a start each, so sessions
 *     under way when the counts are empty (after a restart) are seen. Squared, so the
 *     ranking between titles dominates the ageing clock: at large sizes what matters is
 *     which titles to hold, not how recently.
 *   - how often sessions reach the object's place in its representation (the request rate
 *     of its range of positions, [2^b, 2^(b+1)), per position, over the busiest range's),
 *     square-rooted: most sessions stop within minutes, so a late segment's next viewer is
 *     rarer than an early one's. Learnt online from every request that names a position;
 *     it sharpens the object's own count, which is noisy at one or two requests.
 *   An object inserted without a request (POLICY_HINT_PUSHED: the fill plan pushed it) has
 *   its title's factor unsquared until a request comes. A stamp is only renewed by a
 *   request, and the title's heat is what the edge saw before the push: squared, a pushed
 *   file of a title that was busy yesterday holds its place for as long as that heat
 *   outweighs the clock's progress (a whole day on a small cache), ahead of the files the
 *   day does ask for, whether or not anyone wants it. Unsquared, the plan still ranks it
 *   above a cold title's files, but the day's own demand outranks it.
 *
 * Re-evaluation. A stamp is set when the object is requested, with the title's heat of that
 * moment; the title may get busier afterwards (its evening, a release) while this segment's
 * next viewer has not reached it yet. So before an object is evicted its weight is
 * recomputed from the sketches as they stand now, from the clock of its last request; if
 * that stamp is higher (its weight grew by a tenth at least), the object takes it and the
 * next lowest is considered; the sketches do not change during one eviction pass, so each
 * object is raised once at most. Re-evaluation only raises, never lowers a stamp to its
 * title's cooler heat: a title cooling off for the night does not evict what its next
 * evening will ask for (lowering them too, a few objects re-weighed per request, lost 2-3
 * points of the gap closed to Belady at 10 and 20% of the footprint). What lowers stamps
 * is ageing, below, the same for all.
 * Restored objects have no clock of their last request and keep their stamps until requested.
 *
 * Ageing of stamps. Each time the sketches halve, every object's lead over the clock halves
 * too, requested or not: stamp' = clock + (stamp - clock) / 2. A weight is the counts of its
 * window, and without this a stamp kept the counts of the window it was set in for good. The
 * clock only rises by the stamps of what is evicted, a few units per turn of the cache, so a
 * title that once had a thousand session starts a window left stamps a million units ahead
 * of it: its files outlived every later title, however long nobody asked for them, and took
 * the room of the titles being watched. Now such a stamp comes down to the others' within
 * about log2 of its lead windows (20 for a million), each window being AGING_PER_OBJECT
 * requests per resident object; a title still being watched is stamped afresh by its
 * requests, or raised again by re-evaluation. The lowering is the same for every stamp, so
 * the order of the heap does not change: the heap holds raw keys, and a stamp is
 * raw * key_mul + key_add with one key_mul and key_add for all (stamp_key, set_stamp_key),
 * so ageing is O(1), with no pause for a pass over a million objects; the raw keys are
 * rewritten to key_mul 1 and key_add 0 every RAW_REBASE_AGINGS agings. An ageing changes
 * every saved record's priority, so it asks the owner for a whole save (changes "lost").
 *
 * Admission. A missed object is admitted while the cache is below its high watermark, or if
 * the sketch has seen it before (a doorkeeper: the first request of a one-hit wonder never
 * displaces anything), or if a hint vouches for it, or if its stamp would beat the current
 * victim's. So a scan of cold objects cannot flush popular titles.
 *
 * Watermarks. When an insert would take use above the high watermark, eviction runs until
 * use is at the low one, so the edge deletes files in batches rather than on every commit.
 *
 * Memory. The object sketch keeps SKETCH_PER_OBJECT counters per row for each resident
 * object, widened by doubling as the cache fills: its ageing window grows with the cache
 * (AGING_PER_OBJECT requests per object), and a fixed width would count millions of ids in
 * a few hundred thousand cells, so every id would look popular.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "policy-heap.h"
#include "policy-map.h"
#include "policy-sketch.h"
#include "policy-sluice.h"
#include "policy.h"

#define DEFAULT_HIGH_PERMILLE 950
#define DEFAULT_LOW_PERMILLE  900
#define OBJ_SKETCH_WIDTH      (1u << 18)
#define GROUP_SKETCH_WIDTH    (1u << 14)
/* Sketches halve after this many requests per resident object (TinyLFU's sample size). */
#define AGING_PER_OBJECT 10
#define AGING_MIN        4096
/* Counters per row of the object sketch for each resident object (grown by doubling). */
#define SKETCH_PER_OBJECT 8
/* Title session starts that double an object's weight, before squaring. */
#define TITLE_HEAT_SCALE     1.0
/* A title's requests count this much less than its session starts: enough to see the
 * sessions already under way when the start counts are empty (after a restart, or for
 * content without first-segment paths), too little to rank long titles above busy ones. */
#define TITLE_REQUESTS_PER_START 256.0
#define HINT_FIRST_WEIGHT    2.0
#define HINT_LOW_RUNG_WEIGHT 1.0
#define HINT_PLAN_WEIGHT     2.0
/* A title is "warm" for the low-rung hint from this many recent session starts. */
#define WARM_TITLE_STARTS    8
#define PRIORITY_FIXED_POINT 1024.0
/*
 * Re-evaluation raises a stamp only when the weight grew by this factor: the title's heat
 * creeps up with each request (1/256 of a start), and each raise is a record the edge's next
 * save writes; raising on any growth made every save after an eviction a whole rewrite. The
 * tenth costs 0.0002-0.0003 of byte miss ratio at 10-20% of the footprint.
 */
#define REEVAL_GROWTH 1.1
/* Ranges of positions [2^b, 2^(b+1)) whose request rates are learnt (positions are 32-bit). */
#define POSITION_RANGES 32
/* Requests the busiest range needs before positions weigh anything. */
#define POSITION_MIN_REQUESTS 16.0
/* What remains of every stamp's lead over the clock at each ageing (see the head). */
#define LEAD_DECAY 0.5
/* Agings after which the raw heap keys are brought back to mul 1 (2^-256 of their scale). */
#define RAW_REBASE_AGINGS 256

struct sl_entry {
        struct policy_heap_node node; /* key = (H - key_add) / key_mul */
        uint64_t id, size, group;
        uint32_t hints, freq, position;
        double base;    /* the clock when last stamped; < 0 when restored (not re-evaluated) */
        size_t changed; /* its slot in sluice.changed + 1; 0 when not noted */
};

struct sluice {
        struct policy base;
        struct policy_map map;
        struct policy_heap heap;
        struct policy_sketch objs;
        struct policy_sketch groups;     /* title -> session starts */
        struct policy_sketch group_reqs; /* title -> requests */
        /* Requests per range of positions, halved with the sketches. */
        double position_reqs[POSITION_RANGES];
        double position_best;    /* the highest requests per position of any range */
        double position_busiest; /* the most requests of any range */
        uint64_t seen; /* requests since the last aging */
        double clock;
        /* The stamps' map from heap keys (see the head): H = key * key_mul + key_add. */
        double key_mul, key_add;
        unsigned agings; /* since the raw keys were last rebased */
        uint64_t seq;
        uint64_t high, low; /* bytes */
        /*
         * Change tracking (policy_sluice_changes_*), off unless the owner turns it on.
         * changed holds each entry stamped since the last take at most once; its capacity is
         * reserved on insert, so a request never allocates. gone holds dropped ids.
         */
        bool track;
        bool lost; /* a change went unnoted (out of memory, ageing): the owner saves everything */
        struct sl_entry **changed;
        size_t n_changed, cap_changed;
        uint64_t *gone;
        size_t n_gone, cap_gone;
};

static struct sluice *to_sluice(struct policy *p)
{
        return p->ops == &policy_sluice_ops ? (struct sluice *)p : NULL;
}

static int sl_new(const struct policy_cfg *cfg, struct policy **ret)
{
        struct sluice *s = calloc(1, sizeof(*s));
        int r = -ENOMEM;
        if (!s)
                return -ENOMEM;
        policy_map_init(&s->map);
        policy_heap_init(&s->heap);
        s->key_mul = 1.0;
        /* Aging is driven here (see age_maybe), so the sketches' own windows never fire. */
        r = policy_sketch_init(&s->objs, cfg->sketch_width ? cfg->sketch_width : OBJ_SKETCH_WIDTH,
                               UINT64_MAX);
        if (r < 0)
                goto out;
        r = policy_sketch_init(&s->groups, GROUP_SKETCH_WIDTH, UINT64_MAX);
        if (r < 0)
                goto out;
        r = policy_sketch_init(&s->group_reqs, GROUP_SKETCH_WIDTH, UINT64_MAX);
        if (r < 0)
                goto out;
        unsigned high = cfg->high_permille ? cfg->high_permille : DEFAULT_HIGH_PERMILLE;
        unsigned low = cfg->low_permille ? cfg->low_permille : DEFAULT_LOW_PERMILLE;
        if (low > high)
                low = high;
        /* Split the multiplication so budgets near UINT64_MAX do not overflow. */
        s->high = cfg->budget / 1000 * high + cfg->budget % 1000 * high / 1000;
        s->low = cfg->budget / 1000 * low + cfg->budget % 1000 * low / 1000;
        if (s->high == 0)
                s->high = 1;
        *ret = &s->base;
        s = NULL;
        r = 0;
out:
        if (s) {
                policy_sketch_done(&s->objs);
                policy_sketch_done(&s->groups);
                policy_sketch_done(&s->group_reqs);
                free(s);
        }
        return r;
}

static void sl_free(struct policy *p)
{
        struct sluice *s = (struct sluice *)p;
        for (size_t i = 0; i < s->heap.len; i++)
                free(policy_container_of(s->heap.v[i], struct sl_entry, node));
        policy_heap_done(&s->heap);
        policy_map_done(&s->map);
        policy_sketch_done(&s->objs);
        policy_sketch_done(&s->groups);
        policy_sketch_done(&s->group_reqs);
        free(s->changed);
        free(s->gone);
        free(s);
}

/* Room in s->changed for every resident object and one more. Failing only loses track. */
static void reserve_changed(struct sluice *s)
{
        size_t want = s->base.stats.objects + 1, cap;
        struct sl_entry **v;

        if (!s->track || s->cap_changed >= want)
                return;
        cap = s->cap_changed ? s->cap_changed * 2 : 64;
        if (cap < want)
                cap = want;
        v = realloc(s->changed, cap * sizeof(*v));
        if (!v) {
                s->lost = true;
                return;
        }
        s->changed = v;
        s->cap_changed = cap;
}

static void note_changed(struct sluice *s, struct sl_entry *e)
{
        if (!s->track || e->changed)
                return;
        if (s->n_changed == s->cap_changed) {
                s->lost = true; /* the reserve failed */
                return;
        }
        s->changed[s->n_changed++] = e;
        e->changed = s->n_changed;
}

/* e is being dropped: it leaves the changed set and its id is gone. */
static void note_gone(struct sluice *s, struct sl_entry *e)
{
        if (!s->track)
                return;
        if (e->changed) {
                struct sl_entry *last = s->changed[--s->n_changed];
                s->changed[e->changed - 1] = last;
                last->changed = e->changed;
                e->changed = 0;
        }
        if (s->n_gone == s->cap_gone) {
                size_t cap = s->cap_gone ? s->cap_gone * 2 : 64;
                uint64_t *v = realloc(s->gone, cap * sizeof(*v));
                if (!v) {
                        s->lost = true;
                        return;
                }
                s->gone = v;
                s->cap_gone = cap;
        }
        s->gone[s->n_gone++] = e->id;
}

static bool has_group(uint64_t id, uint64_t group)
{
        return group != id;
}

/* The range [2^b, 2^(b+1)) holding position (> 0). */
static unsigned position_range(uint32_t position)
{
        unsigned b = 0;
        while (position >> (b + 1))
                b++;
        return b;
}

/*
 * How likely a session is to reach this position, relative to the busiest range: that
 * range's requests per position over the busiest's, in (0, 1]. 1 (no effect) for an object
 * without a position, a range no request has named yet, or before the busiest range has
 * POSITION_MIN_REQUESTS.
 */
static double position_share(const struct sluice *s, uint32_t position)
{
        if (!position || s->position_busiest < POSITION_MIN_REQUESTS)
                return 1.0;
        unsigned b = position_range(position);
        double rate = s->position_reqs[b] / (double)(1ull << b);
        return rate > 0 ? rate / s->position_best : 1.0;
}

/*
 * The popularity weight. Within a title, the object's own recent count (plus hint credit)
 * ranks it; across titles the count is scaled by the square of the title's recent session
 * starts. The product is what makes DASH caching work: a segment's next request comes from
 * the title's next session, so its reuse interval is the title's inter-session gap,
 * whatever the segment; how far sessions get into the title scales the count. An object
 * pushed without a request (requested false) gets its title's factor once, not squared, and
 * no low-rung credit (see the head of this file).
 */
static double weight(const struct sluice *s, uint64_t id, uint64_t group, uint32_t hints,
                     uint32_t position, bool requested)
{
        double w = (double)policy_sketch_get(&s->objs, id) * sqrt(position_share(s, position));
        double heat = 0;
        if (has_group(id, group))
                heat = (double)policy_sketch_get(&s->groups, group) +
                       (double)policy_sketch_get(&s->group_reqs, group) / TITLE_REQUESTS_PER_START;
        if (hints & POLICY_HINT_FIRST_SEGMENTS)
                w += HINT_FIRST_WEIGHT;
        if (requested && (hints & POLICY_HINT_LOW_RUNG) && heat >= WARM_TITLE_STARTS)
                w += HINT_LOW_RUNG_WEIGHT;
        if (hints & POLICY_HINT_PLAN_HIGH)
                w += HINT_PLAN_WEIGHT;
        double title = 1.0 + heat / TITLE_HEAT_SCALE;
        return requested ? w * title * title : w * title;
}

/*
 * Keeps SKETCH_PER_OBJECT counters per row per resident object. Doubling makes the copy
 * O(1) amortised per insert; a failed allocation keeps the narrower sketch (estimates
 * only get coarser), so it is not an error.
 */
static void sketch_fit(struct sluice *s)
{
        uint64_t want = s->base.stats.objects * SKETCH_PER_OBJECT;
        if (want > s->objs.width && s->objs.width < POLICY_SKETCH_MAX_WIDTH)
                (void)policy_sketch_grow(&s->objs, s->objs.width * 2);
}

static double stamp_key(const struct sluice *s, const struct sl_entry *e)
{
        return e->node.key * s->key_mul + s->key_add;
}

static void set_stamp_key(struct sluice *s, struct sl_entry *e, double key)
{
        e->node.key = (key - s->key_add) / s->key_mul;
}

/* Every stamp's lead over the clock times LEAD_DECAY, in O(1) (see the head). */
static void age_stamps(struct sluice *s)
{
        s->key_add = s->key_add * LEAD_DECAY + s->clock * (1.0 - LEAD_DECAY);
        s->key_mul *= LEAD_DECAY;
        /* Every record's priority changed and none was noted: the owner saves them all, or
         * a record saved with a lead it has since lost, of an object nobody asked for again,
         * would bring the lead back at every restart. */
        if (s->track)
                s->lost = true;
        if (++s->agings < RAW_REBASE_AGINGS)
                return;
        for (size_t i = 0; i < s->heap.len; i++) {
                struct sl_entry *e = policy_container_of(s->heap.v[i], struct sl_entry, node);
                e->node.key = stamp_key(s, e);
        }
        s->key_mul = 1.0;
        s->key_add = 0.0;
        s->agings = 0;
        /* The rounding may have made unequal keys equal, which the heap orders by seq. */
        policy_heap_reorder(&s->heap);
}

static void age_maybe(struct sluice *s)
{
        uint64_t window = s->base.stats.objects * AGING_PER_OBJECT;
        if (window < AGING_MIN)
                window = AGING_MIN;
        if (++s->seen < window)
                return;
        policy_sketch_age(&s->objs);
        policy_sketch_age(&s->groups);
        policy_sketch_age(&s->group_reqs);
        for (unsigned b = 0; b < POSITION_RANGES; b++)
                s->position_reqs[b] /= 2;
        s->position_best /= 2;
        s->position_busiest /= 2;
        age_stamps(s);
        s->seen = 0;
}

static double entry_weight(const struct sluice *s, const struct sl_entry *e)
{
        return weight(s, e->id, e->group, e->hints, e->position, e->freq > 0);
}

static void stamp(struct sluice *s, struct sl_entry *e)
{
        e->base = s->clock;
        set_stamp_key(s, e, s->clock + entry_weight(s, e));
        e->node.seq = ++s->seq;
}

static void count_position(struct sluice *s, uint32_t position)
{
        unsigned b = position_range(position);
        double reqs = ++s->position_reqs[b], rate = reqs / (double)(1ull << b);
        if (rate > s->position_best)
                s->position_best = rate;
        if (reqs > s->position_busiest)
                s->position_busiest = reqs;
}

static bool sl_access(struct policy *p, const struct policy_req *req)
{
        struct sluice *s = (struct sluice *)p;
        (void)policy_sketch_add(&s->objs, req->id);
        if (has_group(req->id, req->group)) {
                (void)policy_sketch_add(&s->group_reqs, req->group);
                if (req->hints & POLICY_HINT_FIRST_SEGMENTS)
                        (void)policy_sketch_add(&s->groups, req->group);
                if (req->position)
                        count_position(s, req->position);
        }
        age_maybe(s);
        struct sl_entry *e = policy_map_get(&s->map, req->id);
        if (!e)
                return false;
        if (e->freq < UINT32_MAX)
                e->freq++;
        e->hints = req->hints;
        e->position = req->position;
        stamp(s, e);
        policy_heap_update(&s->heap, &e->node);
        note_changed(s, e);
        return true;
}

static void drop(struct sluice *s, struct sl_entry *e)
{
        note_gone(s, e);
        policy_heap_remove(&s->heap, &e->node);
        (void)policy_map_del(&s->map, e->id);
        s->base.stats.used -= e->size;
        s->base.stats.objects--;
        free(e);
}

static void sl_evict_until(struct policy *p, uint64_t target)
{
        struct sluice *s = (struct sluice *)p;
        struct policy_heap_node *n;
        while (p->stats.used > target && (n = policy_heap_peek(&s->heap))) {
                struct sl_entry *e = policy_container_of(n, struct sl_entry, node);
                /* Re-evaluation (see the head of this file): the weight recomputed now, still
                 * from the clock of the last request; it only raises, and by a tenth at
                 * least. */
                double now = stamp_key(s, e);
                if (e->base >= 0) {
                        double w = entry_weight(s, e), key = e->base + w;
                        if (key > now && w > (now - e->base) * REEVAL_GROWTH) {
                                set_stamp_key(s, e, key);
                                policy_heap_update(&s->heap, &e->node);
                                note_changed(s, e);
                                continue;
                        }
                }
                if (now > s->clock)
                        s->clock = now;
                uint64_t id = e->id, size = e->size;
                drop(s, e);
                policy_note_evict(p, id, size);
        }
}

static bool admit(struct sluice *s, const struct policy_req *req, uint64_t size)
{
        if (s->base.stats.used + size <= s->high)
                return true;
        if (policy_sketch_get(&s->objs, req->id) >= 2)
                return true;
        if (req->hints & (POLICY_HINT_FIRST_SEGMENTS | POLICY_HINT_PLAN_HIGH))
                return true;
        const struct policy_heap_node *victim = policy_heap_peek(&s->heap);
        if (!victim)
                return true;
        return s->clock + weight(s, req->id, req->group, req->hints, req->position, true) >
               stamp_key(s, policy_container_of(victim, struct sl_entry, node));
}

static int sl_insert(struct policy *p, const struct policy_req *req)
{
        struct sluice *s = (struct sluice *)p;
        uint64_t size = policy_req_size(req);
        if (policy_map_get(&s->map, req->id))
                return -EEXIST;
        if (size > p->cfg.budget || !admit(s, req, size))
                return 0;
        struct sl_entry *e = malloc(sizeof(*e));
        if (!e)
                return -ENOMEM;
        /* freq counts requests: a pushed object has had none. */
        *e = (struct sl_entry){.id = req->id,
                               .size = size,
                               .group = req->group,
                               .hints = req->hints,
                               .position = req->position,
                               .freq = (req->hints & POLICY_HINT_PUSHED) ? 0 : 1};
        if (policy_map_put(&s->map, e->id, e) < 0) {
                free(e);
                return -ENOMEM;
        }
        if (p->stats.used + size > s->high) {
                uint64_t target = s->low >= size ? s->low - size : p->cfg.budget - size;
                sl_evict_until(p, target);
        }
        stamp(s, e);
        if (policy_heap_push(&s->heap, &e->node) < 0) {
                (void)policy_map_del(&s->map, e->id);
                free(e);
                return -ENOMEM;
        }
        p->stats.used += size;
        p->stats.objects++;
        sketch_fit(s);
        reserve_changed(s);
        note_changed(s, e);
        return 1;
}

static int sl_remove(struct policy *p, uint64_t id)
{
        struct sluice *s = (struct sluice *)p;
        struct sl_entry *e = policy_map_get(&s->map, id);
        if (!e)
                return -ENOENT;
        drop(s, e);
        return 0;
}

static void to_record(const struct sluice *s, const struct sl_entry *e, struct policy_record *rec)
{
        double rel = stamp_key(s, e) - s->clock;
        *rec = (struct policy_record){
            .id = e->id,
            .size = e->size,
            .group = e->group,
            .hints = e->hints,
            .freq = e->freq,
            .priority = rel > 0 ? (uint64_t)(rel * PRIORITY_FIXED_POINT) : 0,
            .seq = e->node.seq,
        };
}

int policy_sluice_export(struct policy *p, int (*fn)(void *ctx, const struct policy_record *rec),
                         void *ctx)
{
        struct sluice *s = to_sluice(p);
        if (!s)
                return -EOPNOTSUPP;
        for (size_t i = 0; i < s->heap.len; i++) {
                struct policy_record rec;
                /* The entries lie wherever malloc put them: fetch ahead, the edge copies them
                 * all while its requests wait. */
                if (i + 8 < s->heap.len)
                        __builtin_prefetch(s->heap.v[i + 8]);
                to_record(s, policy_container_of(s->heap.v[i], struct sl_entry, node), &rec);
                int r = fn(ctx, &rec);
                if (r < 0)
                        return r;
        }
        return 0;
}

int policy_sluice_entry_export(struct policy *p, uint64_t id, struct policy_record *ret)
{
        struct sluice *s = to_sluice(p);
        if (!s)
                return -EOPNOTSUPP;
        struct sl_entry *e = policy_map_get(&s->map, id);
        if (!e)
                return -ENOENT;
        to_record(s, e, ret);
        return 0;
}

int policy_sluice_restore_entry(struct policy *p, const struct policy_record *rec)
{
        struct sluice *s = to_sluice(p);
        if (!s)
                return -EOPNOTSUPP;
        if (rec->size == 0)
                return -EINVAL;
        if (policy_map_get(&s->map, rec->id))
                return -EEXIST;
        struct sl_entry *e = malloc(sizeof(*e));
        if (!e)
                return -ENOMEM;
        *e = (struct sl_entry){.id = rec->id,
                               .size = rec->size,
                               .group = rec->group,
                               .hints = rec->hints,
                               .freq = rec->freq,
                               .base = -1};
        set_stamp_key(s, e, s->clock + (double)rec->priority / PRIORITY_FIXED_POINT);
        e->node.seq = rec->seq;
        if (rec->seq > s->seq)
                s->seq = rec->seq;
        if (policy_map_put(&s->map, e->id, e) < 0) {
                free(e);
                return -ENOMEM;
        }
        if (policy_heap_push(&s->heap, &e->node) < 0) {
                (void)policy_map_del(&s->map, e->id);
                free(e);
                return -ENOMEM;
        }
        p->stats.used += rec->size;
        p->stats.objects++;
        sketch_fit(s);
        reserve_changed(s);
        note_changed(s, e);
        /* The sketch is not persisted; reseed it from the counts that were, capped so one
         * old favourite cannot dominate the fresh window. */
        for (uint32_t i = 0; i < rec->freq && i < 16; i++)
                (void)policy_sketch_add(&s->objs, rec->id);
        return 0;
}

int policy_sluice_changes_track(struct policy *p)
{
        struct sluice *s = to_sluice(p);
        if (!s)
                return -EOPNOTSUPP;
        if (s->track)
                return 0;
        s->track = true;
        reserve_changed(s);
        if (s->lost) {
                s->track = s->lost = false;
                return -ENOMEM;
        }
        return 0;
}

struct policy_changes policy_sluice_changes_get(struct policy *p)
{
        struct sluice *s = to_sluice(p);
        if (!s)
                return (struct policy_changes){0};
        return (struct policy_changes){.changed = s->n_changed, .gone = s->n_gone, .lost = s->lost};
}

void policy_sluice_changes_take(struct policy *p, void (*gone_fn)(void *ctx, uint64_t id),
                                void (*changed_fn)(void *ctx, const struct policy_record *rec),
                                void *ctx)
{
        struct sluice *s = to_sluice(p);
        if (!s)
                return;
        for (size_t i = 0; i < s->n_gone; i++)
                gone_fn(ctx, s->gone[i]);
        for (size_t i = 0; i < s->n_changed; i++) {
                struct policy_record rec;
                if (i + 8 < s->n_changed)
                        __builtin_prefetch(s->changed[i + 8]);
                to_record(s, s->changed[i], &rec);
                s->changed[i]->changed = 0;
                changed_fn(ctx, &rec);
        }
        s->n_changed = s->n_gone = 0;
        s->lost = false;
}

void policy_sluice_changes_clear(struct policy *p)
{
        struct sluice *s = to_sluice(p);
        if (!s)
                return;
        for (size_t i = 0; i < s->n_changed; i++)
                s->changed[i]->changed = 0;
        s->n_changed = s->n_gone = 0;
        s->lost = false;
}

uint64_t policy_sluice_clock(struct policy *p)
{
        struct sluice *s = to_sluice(p);
        return s ? (uint64_t)(s->clock * PRIORITY_FIXED_POINT) : 0;
}

const struct policy_ops policy_sluice_ops = {
    .name = "sluice",
    .summary = "popularity-weighted LRU with admission filter, title heat and hints",
    .new = sl_new,
    .free = sl_free,
    .access = sl_access,
    .insert = sl_insert,
    .remove = sl_remove,
    .evict_until = sl_evict_until,
};
