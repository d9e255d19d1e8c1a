/* SPDX-License-Identifier: MIT */
#pragma once

#include <inttypes.h> /* PRIu64 in log_conn */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

enum log_level { LOG_LVL_ERROR = 0, LOG_LVL_WARN, LOG_LVL_INFO, LOG_LVL_DEBUG };

/* Current threshold; messages above it are not formatted. Written at start-up and on reload
 * (log_init, log_set_level) while workers read it: both sides use relaxed atomics. */
extern enum log_level log_threshold;

/*
 * log_init: set the threshold and where lines go. target is "stderr" (default when NULL),
 * "journal" (stderr with <N> priority prefixes, for systemd), or a file path (appended).
 * Returns 0 or -errno.
 */
int log_init(enum log_level level, const char *target);

/* Set the threshold alone (a reload), keeping where lines go. */
void log_set_level(enum log_level level);

/* Parse "error"/"warn"/"info"/"debug". Returns the level or -EINVAL. */
int log_level_parse(const char *s);

/* Emit one line: "<timestamp> <level> <component>: message". Thread-safe (one write(2)). In the
 * message, control bytes (C0, DEL and C1), line separators, bidirectional overrides and bytes
 * that are not UTF-8 are written as \xHH, a tab as a space. */
void log_emit(enum log_level level, const char *file, int line, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

#define log_at(lvl, ...)                                                                           \
        do {                                                                                       \
                if ((int)(lvl) <= (int)__atomic_load_n(&log_threshold, __ATOMIC_RELAXED))          \
                        log_emit((lvl), __FILE__, __LINE__, __VA_ARGS__);                          \
        } while (0)

#define log_error(...) log_at(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_at(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  log_at(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LOG_LVL_DEBUG, __VA_ARGS__)

/* Connection-scoped variants: prefix "conn=<id> ". */
#define log_conn(lvl, id, fmt, ...)                                                                \
        log_at((lvl), "conn=%" PRIu64 " " fmt, (uint64_t)(id), ##__VA_ARGS__)

/*
 * A budget of lines a second for a message a flood could repeat (a bad URL, a full disk):
 * one per thread (_Thread_local, zeroed). log_budget_take says whether one more line of it
 * fits this second's per_s; the first take in a later second first logs, at info, how many
 * went unlogged before ("<what>: N more in the last S s not logged").
 */
struct log_budget {
        time_t window;
        unsigned logged, dropped;
};
bool log_budget_take(struct log_budget *b, unsigned per_s, const char *what);
