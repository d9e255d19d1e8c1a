/* SPDX-License-Identifier: MIT */
#pragma once

/*
 * Request traces for sluice-cachesim: loading CSV (`timestamp,object_id,size`) and
 * libCacheSim's oracleGeneral binary format into memory, and computing each request's next
 * access (Belady's input).
 *
 * oracleGeneral: packed little-endian records of 24 bytes,
 *     uint32 clock_time; uint64 obj_id; uint32 obj_size; int64 next_access_vtime;
 * next_access_vtime is ignored on input (recomputed, so CSV and binary are treated alike).
 */

#include <stddef.h>
#include <stdint.h>

#define TRACE_ORACLE_RECORD        24
#define TRACE_CSV_LINE_MAX         4096
#define TRACE_DEFAULT_MAX_REQUESTS (256ull << 20)

enum trace_format {
        TRACE_FORMAT_AUTO,
        TRACE_FORMAT_CSV,
        TRACE_FORMAT_ORACLE,
};

struct trace_req {
        uint64_t id;
        uint32_t size;
        uint32_t time; /* seconds */
};

struct trace {
        struct trace_req *reqs;
        size_t len, cap;
        uint64_t *next; /* per request: index of the next request for the same id, or UINT64_MAX */
        uint64_t footprint; /* bytes of distinct objects (each at its first-seen size) */
        uint64_t objects;   /* distinct objects */
};

/* Input limits; every field must be non-zero. */
struct trace_limits {
        uint64_t max_requests;
        uint64_t max_object_size; /* bytes; larger sizes are an error, not truncated */
};

/* Where parsing failed, for a "file:line: message" error. */
struct trace_error {
        uint64_t line; /* 1-based line (CSV) or record number (oracle) */
        const char *msg;
};

/* Default limits: TRACE_DEFAULT_MAX_REQUESTS requests and 4 GiB objects. */
struct trace_limits trace_limits_default(void);

/* Empties t (frees its arrays). Accepts an already-empty trace. */
void trace_done(struct trace *t);

/* Appends one request; -E2BIG over lim->max_requests, -ENOMEM. */
int trace_append(struct trace *t, const struct trace_limits *lim, uint64_t id, uint64_t size,
                 uint32_t time);

/*
 * Guesses the format of a buffer: CSV if its first 64 bytes are text (no control byte but
 * tab, CR and LF; UTF-8 is text), else oracleGeneral. Never fails.
 */
enum trace_format trace_format_detect(const uint8_t *buf, size_t len);

/*
 * Parses CSV from buf (not NUL-terminated). Accepts a leading UTF-8 byte-order mark, an
 * optional header line, '#' comments, blank lines, CRLF, fractional timestamps (truncated),
 * and non-numeric object ids (hashed).
 * Appends to t. Returns 0, -EINVAL (syntax or limit; *err says where), -E2BIG, -ENOMEM.
 */
int trace_csv_parse(const uint8_t *buf, size_t len, const struct trace_limits *lim, struct trace *t,
                    struct trace_error *err);

/* Parses oracleGeneral records; same contract. A length not a multiple of 24 is -EINVAL. */
int trace_oracle_parse(const uint8_t *buf, size_t len, const struct trace_limits *lim,
                       struct trace *t, struct trace_error *err);

/*
 * Loads a whole file: a regular file (mapped), or a pipe or "-" for standard input (parsed
 * as it is read, a buffer at a time, and read no further than the request limit: `zstd -dc
 * x.oracleGeneral.zst | sluice-cachesim --trace -`). Returns 0, -errno from the file system,
 * -E2BIG over the limits, or a parser's error (with *err filled in). The caller owns *t
 * (trace_done()).
 */
int trace_load(const char *path, enum trace_format fmt, const struct trace_limits *lim,
               struct trace *t, struct trace_error *err);

/* Fills t->next, t->footprint and t->objects. Returns 0 or -ENOMEM. */
int trace_analyse(struct trace *t);

/* Writes t as CSV (with a header line) or oracleGeneral. Returns 0 or -errno, that of the
 * first write that failed; a regular file written in part is removed. */
int trace_write(const struct trace *t, const char *path, enum trace_format fmt);
