/* SPDX-License-Identifier: MIT */
#pragma once

#include <stddef.h>
#include <stdint.h>

/*
 * A Prometheus metrics registry. Metrics are created at start-up (not on the data path) and
 * live until metrics_reg_free(). Updates are lock-free: each metric keeps one cache-line-padded
 * slot per worker thread (METRICS_MAX_WORKERS), selected by the calling thread's worker index,
 * and rendering sums the slots.
 */
#define METRICS_MAX_WORKERS 64

struct metrics_reg;
struct metric;

enum metric_kind { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM };

/* Returns a new registry or NULL on OOM (start-up: caller exits). */
struct metrics_reg *metrics_reg_new(void);
void metrics_reg_free(struct metrics_reg *reg);

/* The calling thread's slot index (0..METRICS_MAX_WORKERS-1). Main thread is 0. */
void metrics_set_worker(unsigned idx);
/* The same, for a thread that is the only one ever to take slot idx (a worker's own): its
 * updates skip the bus lock. Slot 0, and an index past the last, stay shared. */
void metrics_own_slot(unsigned idx);

/*
 * Register a metric. name must be a valid Prometheus name; labels is NULL or a constant label
 * set such as "status=\"200\"" (several metrics may share a name with different labels; they
 * are rendered under one HELP/TYPE). For histograms, bounds is an ascending array of n_bounds
 * upper bounds (the +Inf bucket is implicit). Returns NULL on OOM or bad arguments.
 */
struct metric *metrics_counter_new(struct metrics_reg *reg, const char *name, const char *help,
                                   const char *labels);
struct metric *metrics_gauge_new(struct metrics_reg *reg, const char *name, const char *help,
                                 const char *labels);
struct metric *metrics_histogram_new(struct metrics_reg *reg, const char *name, const char *help,
                                     const char *labels, const double *bounds, size_t n_bounds);

/*
 * A label value as the exposition format quotes it, for series written outside a registry:
 * \\, \" and newline escaped (s NULL: ""). Malloc'd; NULL when out of memory.
 */
char *metrics_label_escape(const char *s);

/* Hot-path updates; m may be NULL (no-op). */
void metrics_add(struct metric *m, uint64_t n);   /* counter += n */
void metrics_gauge_add(struct metric *m, int64_t delta);
void metrics_gauge_set(struct metric *m, int64_t v); /* sets this worker's slot */
void metrics_observe(struct metric *m, double v);    /* histogram */

/* Sum of all worker slots (for tests and health). */
int64_t metrics_value(const struct metric *m);

/*
 * Render the whole registry in Prometheus text exposition format 0.0.4 into a malloc'd buffer.
 * On success returns 0, *ret_buf owned by the caller (free()), *ret_len its length; -ENOMEM.
 */
int metrics_render(struct metrics_reg *reg, char **ret_buf, size_t *ret_len);
