/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plan.h"

/*
 * The resume state of one edge: <state_dir>/<edge id>.journal, an append-only text file.
 *
 *   sluice-fill-journal 1
 *   S <unix time> <plan generated>          a run began
 *   C <sha256 hex> <size> <key>             an object committed by the edge (fsync'd)
 *   R <reason> <key>                        an object refused in this run
 *   E <unix time> <exit code>               the run ended
 *
 * Keys are percent-escaped (bytes <= 0x20, '%' and >= 0x7f), so a record is one line. A torn
 * last line (a crash mid-append) is ignored. A run that begins after an ended run starts a
 * fresh file (written beside and renamed over); one that follows an unfinished run appends,
 * keeping what that run committed. Limits: JOURNAL_MAX_BYTES, JOURNAL_MAX_LINE per record.
 */
#define JOURNAL_MAX_BYTES (256u << 20)
/* The longest key journalled: a plan's longest path, after its "/". */
#define JOURNAL_MAX_KEY (PLAN_MAX_PATH + 1u)
/* A record of that key with every byte escaped ("%XX"), plus the rest of a C or R record
 * (at most 88 bytes). */
#define JOURNAL_MAX_LINE (JOURNAL_MAX_KEY * 3u + 100u)

struct journal;

struct journal_summary {
        int64_t started, ended; /* 0: none */
        int64_t plan_generated;
        int exit_code; /* of the ended run; -1 when unfinished */
        uint64_t committed, committed_bytes, refused;
        bool resumed; /* the current run continues an unfinished one */
};

/*
 * Open (creating the directory and file when write is true) the journal at path and load it.
 * Returns 0, -EINVAL for a file that is not a journal (bad header or record: err, when not
 * NULL, says "line N: reason"; or larger than JOURNAL_MAX_BYTES: err says so), or -errno. With write false a missing file reads as empty.
 * Free with journal_free().
 */
int journal_open(const char *path, bool write, struct journal **ret, char *err, size_t errlen);

/*
 * Take the edge's run lock: an exclusive flock() on path (<state_dir>/<id>.lock, created with
 * its directory), held until *ret_fd is closed (by exit at the latest, so a killed run leaves
 * no stale lock). Returns 0 with *ret_fd, -EBUSY when another process holds it, or -errno.
 */
int journal_lock(const char *path, int *ret_fd);

/* Parse a journal image (for tests and fuzzing); same rules as journal_open. */
int journal_load_buf(struct journal *j, const char *buf, size_t len);

/* An empty in-memory journal (no file); records are kept in memory only. */
int journal_new_memory(struct journal **ret);

void journal_free(struct journal *j);

/* Record a run's start. Returns 0 or -errno. */
int journal_run_begin(struct journal *j, int64_t now, int64_t plan_generated);

/* Record the end of a run. Returns 0 or -errno. */
int journal_run_end(struct journal *j, int64_t now, int exit_code);

/* Record a commit and fsync before returning. Returns 0 or -errno. */
int journal_commit(struct journal *j, const char *key, size_t key_len, const char *sha256,
                   uint64_t size);

/* Record a refusal (reason: one word). Returns 0 or -errno. */
int journal_refuse(struct journal *j, const char *key, size_t key_len, const char *reason);

/* Whether key was committed with this SHA-256 (in the loaded or current run). */
bool journal_committed(const struct journal *j, const char *key, size_t key_len,
                       const char *sha256);

void journal_get_summary(const struct journal *j, struct journal_summary *ret);
