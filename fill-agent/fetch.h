/* SPDX-License-Identifier: MIT */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Small blocking HTTP requests (libcurl easy) for the control plane and the edge's admin API:
 * plans, listings, health, deletes. Transfers of objects go through transfer.c instead.
 */

struct fetch_req {
        const char *url;
        const char *method;         /* NULL: GET */
        const char *bearer;         /* NULL: no Authorization */
        const char *const *headers; /* more "Name: value" lines, NULL-terminated; or NULL */
        size_t max_body;            /* a longer answer fails with -EFBIG */
        long timeout_ms;          /* cut when nothing moves this long (0: 30 s), or at 20 of them */
        int64_t *ret_retry_after; /* not NULL: the answer's Retry-After in seconds, 0 if none */
        const char *header;       /* not NULL: the answer's field of this name goes to */
        char **ret_header;        /* *ret_header (malloc'd, its last value), or NULL if none */
};

/* CURLOPT_WRITEFUNCTION for a struct buf (CURLOPT_WRITEDATA, common/buf.h): an answer past
 * the buffer's limit latches -ENOBUFS there and ends the transfer with CURLE_WRITE_ERROR, as
 * running out of memory (-ENOMEM) does. */
size_t fetch_body_write(char *data, size_t size, size_t nmemb, void *userdata);

/*
 * Once *stop is set (by a signal handler), every fetch_do() in progress or to come gives up
 * within about a second with -EINTR. NULL: none does. stop must outlive the requests.
 */
void fetch_stop_watch(volatile sig_atomic_t *stop);

/*
 * A transfer's silences bounded, as fetch_do() bounds its own: the easy handle curl is cut
 * (CURLE_ABORTED_BY_CALLBACK, with q->stalled set) once nothing has moved either way for
 * timeout_ms (0: 30 s), within about a second, or after 20 of them in all
 * (CURLE_OPERATION_TIMEDOUT); and once fetch_stop_watch()'s flag is set (q->stalled unset).
 * q must outlive the transfer. Sets the handle's progress callback and its CURLOPT_TIMEOUT_MS.
 */
struct fetch_quiet {
        long timeout_ms;
        int64_t since_ms; /* the last byte either way, or the start */
        int64_t moved;
        bool stalled;
};
void fetch_quiet_arm(void *curl, struct fetch_quiet *q, long timeout_ms);
/* Say in err that q cut url's transfer, with the bytes it had received. */
void fetch_quiet_say(const struct fetch_quiet *q, const char *url, uint64_t received, char *err,
                     size_t errlen);

/*
 * Perform req. Returns 0 with *ret_status (the HTTP status) and, when ret_body is not NULL,
 * the body in a malloc'd NUL-terminated buffer the caller frees (*ret_len bytes). Returns
 * -EIO (transport failure), -EINTR (stopped, fetch_stop_watch), -EFBIG, -EMSGSIZE (a bearer
 * token over FETCH_TOKEN_MAX) or -ENOMEM with err set ("url: reason"), and then
 * *req->ret_header NULL.
 */
int fetch_do(const struct fetch_req *req, long *ret_status, char **ret_body, size_t *ret_len,
             char *err, size_t errlen);

/*
 * Up to cap - 1 bytes (cap > 0) of an answer's text s[0..n), from control or an edge, into out
 * (NUL-terminated), as one printable ASCII line for the agent's output: line breaks and tabs
 * become one space, other control bytes and bytes past ASCII \xNN, trailing blanks go. Such
 * text then can neither start a line of its own in the output nor make a JSON event drop it
 * (json_string() takes only UTF-8). s may be NULL when n is 0.
 */
void fetch_answer_text(char *out, size_t cap, const char *s, size_t n);

/* "url: HTTP status: <the first 200 bytes of body, as fetch_answer_text() gives them>". */
void fetch_status_error(char *err, size_t errlen, const char *url, long status, const char *body,
                        size_t n);

/* Is an HTTP status one a later attempt may not get (5xx, 408, 429)? */
static inline bool fetch_status_transient(long status)
{
        return status >= 500 || status == 408 || status == 429;
}

/* The longest token or secret a file may hold (its first line, without the line end). */
#define FETCH_TOKEN_MAX 1000

/*
 * Read the first line of path (a token or secret file) into a malloc'd string (wipe it
 * before free). Returns 0, -ENODATA (empty), -EMSGSIZE (longer than FETCH_TOKEN_MAX: never
 * cut short), -EILSEQ (a NUL byte in it: never taken as the token's end) or -errno. The
 * bytes read are wiped from the stack.
 */
int fetch_token_read(const char *path, char **ret);

/* Wipe a token fetch_token_read returned and free it. token may be NULL. */
void fetch_token_free(char *token);

/* Wipe each header line of list (a struct curl_slist *, some carrying a bearer token) and
 * free the list, as curl_slist_free_all does. list may be NULL. */
void fetch_headers_free(void *list);

/* What went wrong reading a token file, for "path: <this>". */
const char *fetch_token_strerror(int r);

/*
 * Join base and a key that starts with '/', percent-encoding the key as a URL path.
 * Returns a malloc'd string or NULL.
 */
char *fetch_url_join(const char *base, const char *prefix, const char *key, size_t key_len);
