/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Access log: one line per request, buffered per worker and written with one write(2) per
 * flush (each loop iteration, or when the buffer fills), so lines from several workers never
 * interleave inside a line. Format (docs/edge.md):
 *
 *   <time> conn=<id> <client> "<method> <target>" <status> <bytes> <dur_us> key=<key> cmcd=<...>
 *   proto=<h1|h2> tls=<ktls|user|plain> cache=<hit|miss|collapsed|...> upstream=<url>
 *
 * <time> is the request's arrival (UTC, ISO 8601 with milliseconds); <target> has the signed
 * token replaced by "*"; <bytes> counts head and body bytes written; <dur_us> runs from the
 * complete request head to the last byte handed to the kernel; cmcd is "-" when absent.
 * cache and upstream are known only once the answer is chosen, so _end() takes them: what this
 * cache's Cache-Status entry says, and the upstream a miss was filled from ("-" when none).
 *
 * A line is built in two steps because a response can outlive its request buffer: _begin()
 * formats what the request knows into the worker's staging area; _end() adds status, bytes
 * and duration. A response that must wait for the socket detaches the staged text
 * (access_log_detach(), one malloc) and ends it later.
 */

/*
 * The stage holds a line's front (up to the target's closing quote: a longer target is cut)
 * and its tail, which always fits whole: the longest key and CMCD rendering, every byte of
 * them escaped, and the fields after them (access-log.c checks the bound).
 */
#define ACCESS_LOG_BUF   32768
#define ACCESS_LOG_FRONT 1024
#define ACCESS_LOG_TAIL  4352
#define ACCESS_LOG_STAGE (ACCESS_LOG_FRONT + ACCESS_LOG_TAIL)

struct cmcd;

struct access_log_buf {
        char buf[ACCESS_LOG_BUF];
        size_t len;
        char stage[ACCESS_LOG_STAGE]; /* front then tail */
        size_t front_len, tail_len;
        bool staged;
        uint64_t staged_conn; /* the connection the staged line is for */
        int fd;               /* -1: logging off */
};

struct access_log_rec {
        uint64_t conn_id;
        const char *client; /* text address */
        const char *method;
        size_t method_len;
        const char *target;
        size_t target_len;
        const char *token; /* inside target, masked; NULL if none */
        size_t token_len;
        const char *key;
        size_t key_len;
        const struct cmcd *cmcd; /* NULL if none */
        const char *proto;       /* "h1", "h2"; NULL: "-" */
        const char *send_path;   /* "ktls", "user" (TLS) or "plain"; NULL: "-" */
};

/* How the answer was found, given at the end of a line. Strings may be NULL ("-"). */
struct access_log_outcome {
        const char *cache;    /* "hit", "miss", "collapsed", "negative", "upstream-failed", ... */
        const char *upstream; /* the URL a miss was filled from */
};

/* A detached staged line (owned by the connection until access_log_end_detached()). */
struct access_log_pending {
        size_t front_len, tail_len;
        char text[]; /* front then tail */
};

void access_log_buf_init(struct access_log_buf *b, int fd);
static inline bool access_log_on(const struct access_log_buf *b)
{
        return b->fd >= 0;
}
/* Stage a request (no-op when logging is off). */
void access_log_begin(struct access_log_buf *b, const struct access_log_rec *rec);
/* Finish the staged line; o may be NULL (cache=- upstream=-). */
void access_log_end(struct access_log_buf *b, int status, uint64_t bytes, uint64_t dur_us,
                    const struct access_log_outcome *o);
/* Finish the staged line if it is connection conn_id's (one closed before its answer was handed
 * over or detached); else nothing. */
void access_log_end_conn(struct access_log_buf *b, uint64_t conn_id, int status, uint64_t bytes,
                         uint64_t dur_us, const struct access_log_outcome *o);
/* Move the staged line to the heap. Returns NULL when nothing is staged or on OOM (the line
 * is then lost, which is logged nowhere: the access log is best effort). */
struct access_log_pending *access_log_detach(struct access_log_buf *b);
/* Finish and free a detached line (p may be NULL). */
void access_log_end_detached(struct access_log_buf *b, struct access_log_pending *p, int status,
                             uint64_t bytes, uint64_t dur_us, const struct access_log_outcome *o);
/* Write out buffered lines. */
void access_log_flush(struct access_log_buf *b);
