/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

/*
 * Response head writer. It formats into a caller-provided buffer (no allocation); on
 * overflow it latches an error that http_resp_finish() reports.
 */
struct http_resp {
        char *buf;
        size_t cap;
        size_t len;
        int overflow;
};

/* Reason phrase for a status ("OK", "Partial Content", ...); "Unknown" otherwise. */
const char *http_status_reason(int status);

/* Start "HTTP/1.1 <status> <reason>\r\n" followed by Date and Server headers. */
void http_resp_start(struct http_resp *r, char *buf, size_t cap, int status);

/* Append "name: value\r\n". A field that does not fit is dropped whole and latches -ENOBUFS;
 * a value holding CR, LF or NUL (response splitting) latches -EINVAL. */
void http_resp_header(struct http_resp *r, const char *name, const char *value, size_t value_len);
/* The same with the name's length known (a caller that kept it saves the strlen()). */
void http_resp_header_named(struct http_resp *r, const char *name, size_t name_len,
                            const char *value, size_t value_len);
void http_resp_headerf(struct http_resp *r, const char *name, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
void http_resp_header_u64(struct http_resp *r, const char *name, uint64_t v);

/* Append the final CRLF. Returns the head length, or the latched error: -ENOBUFS on overflow,
 * -EINVAL for an unsafe value or a status outside 100..999. */
int http_resp_finish(struct http_resp *r);

/*
 * The current Date header value, cached per second per thread (IMF-fixdate, HTTP_DATE_LEN
 * bytes, NUL-terminated).
 */
const char *http_date_now(void);
/* The second http_date_now() formats: a Last-Modified must not be later (RFC 9110 §8.8.2.1). */
time_t http_now_sec(void);

/* Content-Type for a cache key by its extension (.mpd .m4s .mp4 .m3u8 .vtt .json ...). A key
 * is decoded and has no query: a '?' in it is part of a name ("/t/a%3Fb.mpd" is "a?b.mpd"). */
const char *http_content_type_for(const char *path, size_t len);
/* Whether path's extension has a type of its own above (not application/octet-stream). */
bool http_content_type_mapped(const char *path, size_t len);
