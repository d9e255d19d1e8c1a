/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * What the edge keeps of a parent's or origin's response head, read one field line at a time
 * as libcurl hands them over (upstream.c's header callback). I/O-free, so it can be fuzzed:
 * the lines are whatever the upstream sent. A value too long to be one of ours, or holding a
 * byte no field value may, is kept as absent (http1_field_line_value()): it would be stored
 * with the object and break every answer that repeats it.
 */
#define UPSTREAM_HDR_VAL_MAX 256
/* The longest Content-Length the edge reads: 18 digits always fit an int64_t. */
#define UPSTREAM_CL_DIGITS_MAX 18

struct upstream_head {
        bool te;       /* Transfer-Encoding seen: the body is not Content-Length framed */
        bool cl_bad;   /* Content-Length lines that disagree, a list, or a value not 1*DIGIT: the
                        * framing is unknown */
        char cl[32];   /* the first Content-Length line's value */
        char cenc[32]; /* Content-Encoding, when one other than identity was named; "?" unread */
        char ctype[UPSTREAM_HDR_VAL_MAX];
        char sha[UPSTREAM_HDR_VAL_MAX];     /* X-Sluice-SHA256 */
        char cstatus[UPSTREAM_HDR_VAL_MAX]; /* Cache-Status */
        char lastmod[64];
        int64_t age; /* Age (RFC 9111 section 5.1) in seconds; -1 when absent or not 1*DIGIT */
};

/* Forget what was read: a new response head starts (after a 1xx). */
void upstream_head_reset(struct upstream_head *h);

/* Read one field line ("Name: value", with or without its CRLF): neither the status line nor
 * the blank line that ends the head. */
void upstream_head_line(struct upstream_head *h, const char *line, size_t len);

/* The body's length: curl_cl (what curl read) when Content-Length alone frames the body and
 * curl read its digits as they are; -1 when Transfer-Encoding, or Content-Length lines that
 * disagree or are not 1*DIGIT, leave it unknown (RFC 9112 section 6.3), which the fill
 * refuses. */
int64_t upstream_head_length(const struct upstream_head *h, int64_t curl_cl);

/*
 * The fwd-status (RFC 9211) of cs's last entry, the one the upstream that sent cs (a
 * Cache-Status value, or NULL) added itself: the status its own next hop answered. 0 when
 * that entry names none (it did not forward the request, or its next hop gave no answer).
 */
int upstream_head_fwd_status(const char *cs);
