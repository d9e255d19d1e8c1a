/* SPDX-License-Identifier: MIT */
/*
 * Prometheus metrics with per-worker slots. Each metric owns METRICS_MAX_WORKERS slots, each
 * on its own cache line(s), so workers updating the same counter never share a line. Updates
 * are relaxed atomics: a slot normally has one writer (its worker), but threads that never
 * called metrics_set_worker() all use slot 0, and atomics keep them correct at little cost. A
 * thread that took a slot of its own (metrics_own_slot) adds without the bus lock: a relaxed
 * load and store, which readers still see whole.
 *
 * Metrics sharing a name form a family, rendered under one HELP/TYPE in registration order.
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

#define CACHE_LINE 64
/* Bounds per histogram: enough for any latency/size ladder, small enough to bound rendering. */
#define METRICS_MAX_BOUNDS 64
#define METRICS_MAX_NAME   200
#define METRICS_MAX_LABELS 1024
#define METRICS_MAX_HELP   1024

struct metric {
        struct metric *next; /* in family */
        struct metric_family *fam;
        char *labels; /* NULL or the constant label set */
        size_t n_bounds;
        double *bounds;
        size_t stride;        /* bytes per worker slot, multiple of CACHE_LINE */
        unsigned char *slots; /* METRICS_MAX_WORKERS * stride, CACHE_LINE aligned */
};

struct metric_family {
        struct metric_family *next;
        char *name;
        char *help;
        enum metric_kind kind;
        struct metric *first, *last;
};

struct metrics_reg {
        pthread_mutex_t lock; /* registration vs rendering; never taken on updates */
        struct metric_family *first, *last;
};

static _Thread_local unsigned worker_idx;
static _Thread_local bool slot_owned;

void metrics_set_worker(unsigned idx)
{
        /* Out-of-range indexes fold onto a valid slot rather than writing out of bounds. */
        worker_idx = idx % METRICS_MAX_WORKERS;
        slot_owned = false;
}

void metrics_own_slot(unsigned idx)
{
        metrics_set_worker(idx);
        /* Slot 0 is every other thread's; a folded index may be another's too. */
        slot_owned = idx != 0 && idx < METRICS_MAX_WORKERS;
}

struct metrics_reg *metrics_reg_new(void)
{
        struct metrics_reg *reg = calloc(1, sizeof(*reg));
        if (!reg)
                return NULL;
        if (pthread_mutex_init(&reg->lock, NULL) != 0) {
                free(reg);
                return NULL;
        }
        return reg;
}

static void metric_free(struct metric *m)
{
        if (!m)
                return;
        free(m->labels);
        free(m->bounds);
        free(m->slots);
        free(m);
}

void metrics_reg_free(struct metrics_reg *reg)
{
        if (!reg)
                return;
        struct metric_family *f = reg->first;
        while (f) {
                struct metric_family *fn = f->next;
                struct metric *m = f->first;
                while (m) {
                        struct metric *mn = m->next;
                        metric_free(m);
                        m = mn;
                }
                free(f->name);
                free(f->help);
                free(f);
                f = fn;
        }
        pthread_mutex_destroy(&reg->lock);
        free(reg);
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* */
static bool name_valid(const char *s)
{
        if (!s || !*s || strlen(s) > METRICS_MAX_NAME)
                return false;
        for (size_t i = 0; s[i]; i++) {
                char c = s[i];
                bool alpha =
                    (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
                if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
                        return false;
        }
        return true;
}

/*
 * A label set as written inside braces: name="value"[,name="value"...]. Values may use the
 * exposition escapes \\ \" \n. Label names starting with "__" are reserved, and histograms may
 * not carry "le" (the renderer adds it).
 */
static bool labels_valid(const char *s, bool histogram)
{
        if (!*s || strlen(s) > METRICS_MAX_LABELS)
                return false;
        const char *p = s;
        for (;;) {
                const char *n = p;
                if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_'))
                        return false;
                while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' ||
                       (*p >= '0' && *p <= '9'))
                        p++;
                size_t nlen = (size_t)(p - n);
                if (nlen >= 2 && n[0] == '_' && n[1] == '_')
                        return false;
                if (histogram && nlen == 2 && n[0] == 'l' && n[1] == 'e')
                        return false;
                if (*p++ != '=' || *p++ != '"')
                        return false;
                while (*p != '"') {
                        if (*p == '\0' || *p == '\n')
                                return false;
                        if (*p == '\\') {
                                p++;
                                if (*p != '\\' && *p != '"' && *p != 'n')
                                        return false;
                        }
                        p++;
                }
                p++;
                if (*p == '\0')
                        return true;
                if (*p++ != ',')
                        return false;
        }
}

static struct metric *metric_new(struct metrics_reg *reg, enum metric_kind kind, const char *name,
                                 const char *help, const char *labels, const double *bounds,
                                 size_t n_bounds)
{
        struct metric *m = NULL, *ret = NULL;
        struct metric_family *f = NULL, *newfam = NULL;

        if (!reg || !name_valid(name) || (help && strlen(help) > METRICS_MAX_HELP))
                return NULL;
        if (labels && !labels_valid(labels, kind == METRIC_HISTOGRAM))
                return NULL;
        if (kind == METRIC_HISTOGRAM) {
                if (n_bounds > METRICS_MAX_BOUNDS || (n_bounds > 0 && !bounds))
                        return NULL;
                for (size_t i = 0; i < n_bounds; i++) {
                        if (!isfinite(bounds[i]) || (i > 0 && !(bounds[i] > bounds[i - 1])))
                                return NULL;
                }
        }

        m = calloc(1, sizeof(*m));
        if (!m)
                return NULL;
        if (labels && !(m->labels = strdup(labels)))
                goto out;
        if (kind == METRIC_HISTOGRAM) {
                m->n_bounds = n_bounds;
                if (n_bounds) {
                        m->bounds = malloc(n_bounds * sizeof(double));
                        if (!m->bounds)
                                goto out;
                        memcpy(m->bounds, bounds, n_bounds * sizeof(double));
                }
                /* n_bounds + 1 bucket counts, then the sum (as double bits). */
                size_t bytes = (n_bounds + 2) * sizeof(uint64_t);
                m->stride = (bytes + CACHE_LINE - 1) / CACHE_LINE * CACHE_LINE;
        } else {
                m->stride = CACHE_LINE;
        }
        m->slots = aligned_alloc(CACHE_LINE, m->stride * METRICS_MAX_WORKERS);
        if (!m->slots)
                goto out;
        memset(m->slots, 0, m->stride * METRICS_MAX_WORKERS);

        pthread_mutex_lock(&reg->lock);
        for (f = reg->first; f; f = f->next)
                if (strcmp(f->name, name) == 0)
                        break;
        if (f) {
                bool clash = f->kind != kind;
                for (struct metric *o = f->first; o && !clash; o = o->next)
                        clash = (o->labels == NULL && m->labels == NULL) ||
                                (o->labels && m->labels && strcmp(o->labels, m->labels) == 0);
                if (clash) {
                        pthread_mutex_unlock(&reg->lock);
                        goto out;
                }
        } else {
                newfam = calloc(1, sizeof(*newfam));
                if (!newfam || !(newfam->name = strdup(name)) ||
                    !(newfam->help = strdup(help ? help : ""))) {
                        pthread_mutex_unlock(&reg->lock);
                        goto out;
                }
                newfam->kind = kind;
                f = newfam;
                if (reg->last)
                        reg->last->next = f;
                else
                        reg->first = f;
                reg->last = f;
                newfam = NULL;
        }
        m->fam = f;
        if (f->last)
                f->last->next = m;
        else
                f->first = m;
        f->last = m;
        pthread_mutex_unlock(&reg->lock);
        ret = m;
        m = NULL;
out:
        if (newfam) {
                free(newfam->name);
                free(newfam->help);
                free(newfam);
        }
        metric_free(m);
        return ret;
}

struct metric *metrics_counter_new(struct metrics_reg *reg, const char *name, const char *help,
                                   const char *labels)
{
        return metric_new(reg, METRIC_COUNTER, name, help, labels, NULL, 0);
}

struct metric *metrics_gauge_new(struct metrics_reg *reg, const char *name, const char *help,
                                 const char *labels)
{
        return metric_new(reg, METRIC_GAUGE, name, help, labels, NULL, 0);
}

struct metric *metrics_histogram_new(struct metrics_reg *reg, const char *name, const char *help,
                                     const char *labels, const double *bounds, size_t n_bounds)
{
        return metric_new(reg, METRIC_HISTOGRAM, name, help, labels, bounds, n_bounds);
}

static inline uint64_t *slot_u64(const struct metric *m, unsigned w)
{
        return (uint64_t *)(void *)(m->slots + (size_t)w * m->stride);
}

/* Add n to the calling thread's slot word s: without the bus lock when no other thread
 * writes that slot. */
static inline void slot_add(uint64_t *s, uint64_t n)
{
        if (slot_owned)
                __atomic_store_n(s, __atomic_load_n(s, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
        else
                __atomic_fetch_add(s, n, __ATOMIC_RELAXED);
}

void metrics_add(struct metric *m, uint64_t n)
{
        if (!m)
                return;
        slot_add(slot_u64(m, worker_idx), n);
}

void metrics_gauge_add(struct metric *m, int64_t delta)
{
        if (!m)
                return;
        /* Two's complement: adding the unsigned image of a negative delta subtracts. */
        slot_add(slot_u64(m, worker_idx), (uint64_t)delta);
}

void metrics_gauge_set(struct metric *m, int64_t v)
{
        if (!m)
                return;
        __atomic_store_n(slot_u64(m, worker_idx), (uint64_t)v, __ATOMIC_RELAXED);
}

void metrics_observe(struct metric *m, double v)
{
        if (!m || isnan(v))
                return;
        uint64_t *s = slot_u64(m, worker_idx);
        size_t b = 0;
        /* Buckets are "less than or equal"; linear is fine for the short ladders used. */
        while (b < m->n_bounds && v > m->bounds[b])
                b++;
        slot_add(&s[b], 1);

        uint64_t *sum = &s[m->n_bounds + 1];
        uint64_t old = __atomic_load_n(sum, __ATOMIC_RELAXED), nv;
        do {
                double d;
                memcpy(&d, &old, sizeof(d));
                d += v;
                memcpy(&nv, &d, sizeof(nv));
        } while (
            !__atomic_compare_exchange_n(sum, &old, nv, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
}

int64_t metrics_value(const struct metric *m)
{
        if (!m)
                return 0;
        uint64_t total = 0;
        size_t words = m->fam->kind == METRIC_HISTOGRAM ? m->n_bounds + 1 : 1;
        for (unsigned w = 0; w < METRICS_MAX_WORKERS; w++) {
                const uint64_t *s = slot_u64(m, w);
                for (size_t i = 0; i < words; i++)
                        total += __atomic_load_n(&s[i], __ATOMIC_RELAXED);
        }
        return (int64_t)total;
}

/* Growable output buffer; a failed append latches oom and later appends do nothing. */
struct out {
        char *buf;
        size_t len, cap;
        bool oom;
};

__attribute__((format(printf, 2, 3))) static void out_printf(struct out *o, const char *fmt, ...)
{
        if (o->oom)
                return;
        for (;;) {
                va_list ap;
                va_start(ap, fmt);
                int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
                va_end(ap);
                if (n < 0) {
                        o->oom = true;
                        return;
                }
                if ((size_t)n < o->cap - o->len) {
                        o->len += (size_t)n;
                        return;
                }
                size_t ncap = o->cap * 2;
                while (ncap - o->len <= (size_t)n)
                        ncap *= 2;
                char *nb = realloc(o->buf, ncap);
                if (!nb) {
                        o->oom = true;
                        return;
                }
                o->buf = nb;
                o->cap = ncap;
        }
}

/* Shortest text that reads back as the same double, in the exposition's spelling. */
static void fmt_double(char *buf, size_t len, double v)
{
        if (isnan(v)) {
                snprintf(buf, len, "NaN");
                return;
        }
        if (isinf(v)) {
                snprintf(buf, len, "%s", v > 0 ? "+Inf" : "-Inf");
                return;
        }
        /* Whole numbers (counts of bytes, seconds) read better without an exponent. */
        if (v == floor(v) && fabs(v) < 1e15) {
                snprintf(buf, len, "%.0f", v);
                return;
        }
        for (int p = 1; p <= 17; p++) {
                snprintf(buf, len, "%.*g", p, v);
                if (strtod(buf, NULL) == v)
                        return;
        }
}

char *metrics_label_escape(const char *s)
{
        size_t n = 1;
        char *out, *o;

        s = s ? s : "";
        for (const char *p = s; *p; p++)
                n += (*p == '\\' || *p == '"' || *p == '\n') ? 2 : 1;
        out = malloc(n);
        if (!out)
                return NULL;
        for (o = out; *s; s++) {
                if (*s == '\\' || *s == '"' || *s == '\n')
                        *o++ = '\\';
                *o++ = *s == '\n' ? 'n' : *s;
        }
        *o = '\0';
        return out;
}

/* HELP text escapes only backslash and newline (format 0.0.4). */
static void out_help(struct out *o, const char *name, const char *help)
{
        out_printf(o, "# HELP %s%s", name, *help ? " " : "");
        for (const char *p = help; *p; p++) {
                if (*p == '\\')
                        out_printf(o, "\\\\");
                else if (*p == '\n')
                        out_printf(o, "\\n");
                else
                        out_printf(o, "%c", *p);
        }
        out_printf(o, "\n");
}

static const char *kind_name(enum metric_kind k)
{
        switch (k) {
        case METRIC_COUNTER:
                return "counter";
        case METRIC_GAUGE:
                return "gauge";
        case METRIC_HISTOGRAM:
                return "histogram";
        }
        return "untyped";
}

static void render_histogram(struct out *o, const char *name, const struct metric *m)
{
        uint64_t counts[METRICS_MAX_BOUNDS + 1] = {0};
        double sum = 0;
        for (unsigned w = 0; w < METRICS_MAX_WORKERS; w++) {
                const uint64_t *s = slot_u64(m, w);
                for (size_t i = 0; i <= m->n_bounds; i++)
                        counts[i] += __atomic_load_n(&s[i], __ATOMIC_RELAXED);
                uint64_t bits = __atomic_load_n(&s[m->n_bounds + 1], __ATOMIC_RELAXED);
                double d;
                memcpy(&d, &bits, sizeof(d));
                sum += d;
        }
        const char *l = m->labels ? m->labels : "";
        const char *sep = m->labels ? "," : "";
        char num[64];
        /* Buckets are cumulative; _count is their total, so the three always agree. */
        uint64_t cum = 0;
        for (size_t i = 0; i < m->n_bounds; i++) {
                cum += counts[i];
                fmt_double(num, sizeof(num), m->bounds[i]);
                out_printf(o, "%s_bucket{%s%sle=\"%s\"} %" PRIu64 "\n", name, l, sep, num, cum);
        }
        cum += counts[m->n_bounds];
        out_printf(o, "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n", name, l, sep, cum);
        fmt_double(num, sizeof(num), sum);
        if (m->labels) {
                out_printf(o, "%s_sum{%s} %s\n", name, l, num);
                out_printf(o, "%s_count{%s} %" PRIu64 "\n", name, l, cum);
        } else {
                out_printf(o, "%s_sum %s\n", name, num);
                out_printf(o, "%s_count %" PRIu64 "\n", name, cum);
        }
}

int metrics_render(struct metrics_reg *reg, char **ret_buf, size_t *ret_len)
{
        struct out o = {.cap = 4096};
        o.buf = malloc(o.cap);
        if (!o.buf)
                return -ENOMEM;
        o.buf[0] = '\0';

        pthread_mutex_lock(&reg->lock);
        for (const struct metric_family *f = reg->first; f; f = f->next) {
                out_help(&o, f->name, f->help);
                out_printf(&o, "# TYPE %s %s\n", f->name, kind_name(f->kind));
                for (const struct metric *m = f->first; m; m = m->next) {
                        if (f->kind == METRIC_HISTOGRAM) {
                                render_histogram(&o, f->name, m);
                                continue;
                        }
                        int64_t v = metrics_value(m);
                        if (m->labels)
                                out_printf(&o, "%s{%s} ", f->name, m->labels);
                        else
                                out_printf(&o, "%s ", f->name);
                        if (f->kind == METRIC_COUNTER)
                                out_printf(&o, "%" PRIu64 "\n", (uint64_t)v);
                        else
                                out_printf(&o, "%" PRId64 "\n", v);
                }
        }
        pthread_mutex_unlock(&reg->lock);

        if (o.oom) {
                free(o.buf);
                return -ENOMEM;
        }
        *ret_buf = o.buf;
        *ret_len = o.len;
        return 0;
}
