/* SPDX-License-Identifier: MIT */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Strict, incremental HTTP/1.1 request-head parser (RFC 9112). It does not copy: after a
 * successful parse the struct http1_req points into the caller's buffer, which must stay
 * unchanged until the request is handled.
 *
 * It refuses what request smuggling needs and maps each refusal to a status:
 *   400: bare LF, obs-fold, whitespace before a colon, bad token/field characters, NUL or other
 *        control bytes, missing/duplicate/malformed Host (HTTP/1.1), duplicate or conflicting
 *        Content-Length, Content-Length together with Transfer-Encoding, bad request line,
 *        HTTP/1.0 with Transfer-Encoding;
 *   414: request-target longer than limits.max_target;
 *   431: header section larger than limits.max_header_bytes or more than limits.max_headers;
 *   501: unknown Transfer-Encoding coding.
 *   505: an HTTP major version other than 1 (a later 1.x minor is read as 1.1).
 * Whether a body is acceptable for the method (e.g. Transfer-Encoding on GET) is the caller's
 * decision: req->chunked and req->content_length report what was declared.
 */

enum http_method {
        HTTP_M_OTHER = 0,
        HTTP_M_GET,
        HTTP_M_HEAD,
        HTTP_M_POST,
        HTTP_M_PUT,
        HTTP_M_DELETE,
        HTTP_M_OPTIONS,
        HTTP_M_PATCH,
        HTTP_M_TRACE,
        HTTP_M_CONNECT,
};

#define HTTP1_MAX_HEADERS_CAP 100 /* hard upper bound for limits.max_headers */

struct http_hdr {
        const char *name;
        const char *value; /* OWS trimmed */
        uint16_t name_len;
        uint16_t value_len;
};

/* Indices into hdrs[] of headers the edge looks at (the first occurrence), or -1. */
enum http_known_hdr {
        HK_HOST,
        HK_RANGE,
        HK_IF_RANGE,
        HK_IF_NONE_MATCH,
        HK_IF_MODIFIED_SINCE,
        HK_IF_MATCH,
        HK_IF_UNMODIFIED_SINCE,
        HK_ORIGIN,
        HK_AUTHORIZATION,
        HK_CONNECTION,
        HK_CONTENT_LENGTH,
        HK_TRANSFER_ENCODING,
        HK_EXPECT,
        HK_ACCESS_CONTROL_REQUEST_METHOD,
        HK_ACCESS_CONTROL_REQUEST_HEADERS,
        HK_X_SLUICE_SHA256,
        HK_USER_AGENT,
        HK_COUNT,
};

/* A NULL limits pointer or a zero member means the default (8192 / 4096 / 64). */
struct http1_limits {
        uint32_t max_header_bytes; /* whole head incl. request line; e.g. 8192 */
        uint32_t max_target;       /* e.g. 4096 */
        uint16_t max_headers;      /* <= HTTP1_MAX_HEADERS_CAP; e.g. 64 */
};

struct http1_req {
        enum http_method method;
        const char *method_str;
        const char *target;
        uint32_t method_len;
        uint32_t target_len;
        uint8_t minor; /* HTTP/1.<minor>: 0 or 1 */
        bool keep_alive; /* from version and Connection */
        bool chunked;    /* Transfer-Encoding: chunked declared */
        bool expect_continue;
        int64_t content_length; /* -1 when absent */
        int16_t known[HK_COUNT];
        uint16_t n_hdrs;
        struct http_hdr hdrs[HTTP1_MAX_HEADERS_CAP];
};

struct http1_parser {
        uint32_t scanned; /* bytes already checked for the end of the head */
        int status;       /* on failure: 400/414/431/501/505 */
        const char *reason; /* static string for logs */
};

void http1_parser_init(struct http1_parser *p);

/*
 * Feed the whole buffer seen so far (buf[0..len), same start each call until a request
 * completes). Returns the head length (> 0) when complete and fills *req; -EAGAIN when more
 * input is needed; -EPROTO on a refusal with p->status and p->reason set. After a complete
 * head, call http1_parser_init() again before the next request.
 */
int http1_req_parse(struct http1_parser *p, const char *buf, size_t len,
                    const struct http1_limits *limits, struct http1_req *req);

/*
 * Whether t[0..len) holds only bytes the parser takes in a request-target (RFC 3986's, and
 * "|", "^", "`", "{" and "}", which browsers send unencoded), for a target that arrived
 * another way (HTTP/2's :path), so that both are refused alike. Says nothing of its form.
 */
bool http1_target_chars_ok(const char *t, size_t len);

/*
 * Whether s[0..n) is a Host value the parser takes: uri-host [ ":" port ] (RFC 9110 §7.2), a
 * port of five digits at most. Empty is valid (RFC 9112 §3.2); an empty host before a port
 * (":80") and userinfo ('@') are not. For an authority that arrived another way (HTTP/2's
 * :authority and host), so that both are refused alike.
 */
bool http1_host_ok(const char *s, size_t n);

/* Header lookup helpers. Return the value or NULL; *ret_len gets its length. */
const char *http1_req_known(const struct http1_req *req, enum http_known_hdr k, size_t *ret_len);
const char *http1_req_header(const struct http1_req *req, const char *name, size_t *ret_len);
/* The authority of an http or https absolute-form target ("http://a:1/p" → "a:1", up to the
 * first '/' or '?'); false for any other target. RFC 9112 §3.2.2: it then stands for Host. */
bool http1_absolute_authority(const char *t, size_t n, const char **ret, size_t *ret_len);
/* The origin-form part of target t[0..n) into *ret, *ret_len: the target itself, or what follows
 * an http(s) absolute-form target's authority (RFC 9112 §3.2.2 has a server accept that form).
 * True when that part is empty or starts with '?', the URI having no path: its path is "/". */
bool http1_origin_form(const char *t, size_t n, const char **ret, size_t *ret_len);
/* The authority the request names: an http(s) absolute-form target's, which then stands for
 * Host (RFC 9112 §3.2.2), else Host's value; NULL with *ret_len 0 when it has neither. */
const char *http1_req_authority(const struct http1_req *req, size_t *ret_len);
/* The next line of a field that may repeat: searches from *pos (0 to begin) and leaves *pos
 * past the line returned. */
const char *http1_req_header_next(const struct http1_req *req, const char *name, unsigned *pos,
                                  size_t *ret_len);

/*
 * The value of one header line of a response as a client library hands it over ("Name: value"
 * with or without its CRLF) when the field is name (case-insensitive): without the SP/HTAB
 * around it, NUL-terminated in out (cap >= 1 bytes). Returns its length; -ENOENT for another
 * field; -EINVAL when the value holds a byte no field value may (NUL, a bare CR or another
 * control byte: copied into our own answers, it would break them); -ENAMETOOLONG when it
 * does not fit. For another field out is left as it is (callers try one line against several
 * names in turn, each with its own out); for this one it is "" unless a length is returned.
 */
int http1_field_line_value(const char *line, size_t len, const char *name, char *out, size_t cap);

/*
 * The value of the first field named name (case-insensitive) among the complete lines of a
 * request head the parser refused or did not finish (buf holds len bytes of it, maybe cut
 * short; nothing past the blank line that ends it is read), copied as
 * http1_field_line_value() does. For an answer to a refused request, which may still carry
 * fields a browser needs (Origin). Returns the length, -ENOENT, -EINVAL or -ENAMETOOLONG.
 */
int http1_raw_field(const char *buf, size_t len, const char *name, char *out, size_t cap);

/*
 * The same search over a head that arrives in pieces, none of them kept but the line being
 * read: for the rest of a head the parser refused before its end (its request line too long,
 * say), read on to find that field. Fed from the head's first byte (empty lines before the
 * request line are skipped, and the request line is never a field) up to the blank line that
 * ends the head, budget bytes at most. A line of the field longer than HTTP1_SEEK_LINE_MAX
 * (the space after its colon aside) is too long. About 1 KiB: allocate one per search.
 */
#define HTTP1_SEEK_LINE_MAX 1024
struct http1_field_seek {
        const char *name; /* outlives the search */
        uint32_t name_len;
        uint32_t budget; /* bytes still to look at */
        uint32_t seen;   /* bytes of the current line so far */
        uint32_t len;    /* of them kept in line[] */
        uint8_t at;      /* before, in or after the request line (http1-parse.c) */
        bool skip;       /* the current line is not the field's */
        bool cr_first;   /* ... and began with CR: the blank line if its LF follows */
        char line[HTTP1_SEEK_LINE_MAX];
};

void http1_field_seek_init(struct http1_field_seek *s, const char *name, uint32_t budget);

/*
 * Look at the next len bytes of the head. -EAGAIN when the search goes on (all of them looked
 * at); otherwise it is over, with what http1_raw_field() returns: the first line of the field
 * (its value in out, its length), -ENOENT when the head ended or the budget ran out without
 * one.
 */
int http1_field_seek_feed(struct http1_field_seek *s, const char *buf, size_t len, char *out,
                          size_t cap);

/* "GET" etc. for a method; "OTHER" for HTTP_M_OTHER. */
const char *http_method_name(enum http_method m);
