/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "buf.h"
#include "hex.h"
#include "mono-time.h"
#include "path-norm.h"

#include "fetch.h"

/* Set by fetch_stop_watch(): a signal's flag every request gives up on. */
static volatile sig_atomic_t *stop_flag;

void fetch_stop_watch(volatile sig_atomic_t *stop)
{
        stop_flag = stop;
}

/* A request's timeout bounds its silences: waiting for the answer, or a pause in its body. A
 * plan of 100,000 files (about 24 MB) then comes over a slow link however long it takes, up to
 * FETCH_SPANS timeouts in all (ten minutes at the default 30 s). */
#define FETCH_SPANS 20

/* libcurl calls this about once a second at least, waiting for an answer or not. */
static int on_xferinfo(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
        struct fetch_quiet *q = ud;
        int64_t now = mono_ms();

        (void)dltotal, (void)ultotal;
        if (stop_flag && *stop_flag)
                return 1;
        if (dlnow + ulnow != q->moved) {
                q->moved = dlnow + ulnow;
                q->since_ms = now;
        } else if (now - q->since_ms >= q->timeout_ms) {
                q->stalled = true;
                return 1;
        }
        return 0;
}

void fetch_quiet_arm(void *curl, struct fetch_quiet *q, long timeout_ms)
{
        *q = (struct fetch_quiet){.timeout_ms = timeout_ms > 0 ? timeout_ms : 30000L,
                                  .since_ms = mono_ms()};
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, q->timeout_ms * FETCH_SPANS);
        curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_xferinfo);
        curl_easy_setopt(curl, CURLOPT_XFERINFODATA, q);
        curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
}

void fetch_quiet_say(const struct fetch_quiet *q, const char *url, uint64_t received, char *err,
                     size_t errlen)
{
        snprintf(err, errlen, "%s: nothing arrived for %g s (%llu bytes received)", url,
                 (double)q->timeout_ms / 1000, (unsigned long long)received);
}

size_t fetch_body_write(char *data, size_t size, size_t nmemb, void *userdata)
{
        struct buf *b = userdata;
        size_t n = size * nmemb;

        return buf_append(b, data, n) < 0 ? 0 : n;
}

int fetch_do(const struct fetch_req *req, long *ret_status, char **ret_body, size_t *ret_len,
             char *err, size_t errlen)
{
        struct buf b;
        struct curl_slist *hdrs = NULL;
        char auth[FETCH_TOKEN_MAX + 32];
        CURL *h = curl_easy_init();
        struct fetch_quiet q;
        CURLcode cc;
        int r = 0;

        buf_init(&b, req->max_body);
        if (req->ret_retry_after)
                *req->ret_retry_after = 0;
        if (req->ret_header)
                *req->ret_header = NULL;
        if (!h)
                return -ENOMEM;
        curl_easy_setopt(h, CURLOPT_URL, req->url);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, fetch_body_write);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
        fetch_quiet_arm(h, &q, req->timeout_ms);
        curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
        curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
        if (req->method)
                curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
        if (req->bearer) {
                int n = snprintf(auth, sizeof(auth), "Authorization: Bearer %s", req->bearer);
                /* Never a request with the token cut short, or without it. */
                if (n >= 0 && (size_t)n < sizeof(auth))
                        hdrs = curl_slist_append(NULL, auth);
                explicit_bzero(auth, sizeof(auth));
                if (!hdrs) {
                        bool big = n >= 0 && (size_t)n >= sizeof(auth);
                        curl_easy_cleanup(h);
                        snprintf(err, errlen, "%s: bearer token %s", req->url,
                                 fetch_token_strerror(big ? -EMSGSIZE : -ENOMEM));
                        return big ? -EMSGSIZE : -ENOMEM;
                }
        }
        for (const char *const *l = req->headers; l && *l; l++) {
                struct curl_slist *n = curl_slist_append(hdrs, *l);
                if (!n) {
                        fetch_headers_free(hdrs);
                        curl_easy_cleanup(h);
                        return -ENOMEM;
                }
                hdrs = n;
        }
        if (hdrs)
                curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
        cc = curl_easy_perform(h);
        if (cc != CURLE_OK) {
                if (cc == CURLE_ABORTED_BY_CALLBACK && q.stalled) {
                        fetch_quiet_say(&q, req->url, b.len, err, errlen);
                        r = -EIO;
                } else if (cc == CURLE_ABORTED_BY_CALLBACK) {
                        snprintf(err, errlen, "%s: interrupted", req->url);
                        r = -EINTR;
                } else if (b.err == -ENOBUFS) {
                        snprintf(err, errlen, "%s: answer larger than %zu bytes", req->url,
                                 req->max_body);
                        r = -EFBIG;
                } else if (b.err == -ENOMEM) {
                        snprintf(err, errlen, "%s: out of memory", req->url);
                        r = -ENOMEM;
                } else {
                        snprintf(err, errlen, "%s: %s", req->url, curl_easy_strerror(cc));
                        r = -EIO;
                }
                goto out;
        }
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, ret_status);
        if (req->ret_retry_after) {
                /* libcurl reads delay-seconds and HTTP dates (as seconds from now). */
                curl_off_t ra = 0;
                if (curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &ra) != CURLE_OK || ra < 0)
                        ra = 0;
                *req->ret_retry_after = (int64_t)ra;
        }
        if (req->header && req->ret_header) {
                struct curl_header *f = NULL;
                if (curl_easy_header(h, req->header, 0, CURLH_HEADER, -1, &f) == CURLHE_OK &&
                    f->amount > 0 && !(*req->ret_header = strdup(f->value))) {
                        r = -ENOMEM;
                        goto out;
                }
        }
        if (ret_body) {
                *ret_body = buf_steal(&b, ret_len);
                if (!*ret_body)
                        r = -ENOMEM;
        }
out:
        if (r < 0 && req->ret_header) {
                free(*req->ret_header);
                *req->ret_header = NULL;
        }
        buf_done(&b);
        curl_easy_cleanup(h);
        fetch_headers_free(hdrs);
        return r;
}

int fetch_token_read(const char *path, char **ret)
{
        char line[FETCH_TOKEN_MAX + 2]; /* the token and "\r\n" */
        FILE *f = fopen(path, "re");
        size_t got, n;
        int r = 0;

        if (!f)
                return -errno;
        /* Unbuffered: read straight into line, not into a buffer fclose frees unwiped. */
        (void)setvbuf(f, NULL, _IONBF, 0);
        errno = 0;
        got = fread(line, 1, sizeof(line), f);
        if (ferror(f)) {
                r = errno ? -errno : -EIO;
                goto out;
        }
        n = 0;
        while (n < got && line[n] != '\r' && line[n] != '\n')
                n++;
        if (n > FETCH_TOKEN_MAX) {
                r = -EMSGSIZE;
                goto out;
        }
        if (n == 0) {
                r = -ENODATA;
                goto out;
        }
        /* Read as a string, the token would end there, and its prefix pass. */
        if (memchr(line, '\0', n)) {
                r = -EILSEQ;
                goto out;
        }
        *ret = strndup(line, n);
        if (!*ret)
                r = -ENOMEM;
out:
        explicit_bzero(line, sizeof(line));
        fclose(f);
        return r;
}

void fetch_token_free(char *token)
{
        if (!token)
                return;
        explicit_bzero(token, strlen(token));
        free(token);
}

void fetch_headers_free(void *list)
{
        for (struct curl_slist *l = list; l; l = l->next)
                if (l->data)
                        explicit_bzero(l->data, strlen(l->data));
        curl_slist_free_all(list);
}

_Static_assert(FETCH_TOKEN_MAX == 1000, "fetch_token_strerror() names the limit");

const char *fetch_token_strerror(int r)
{
        if (r == -EMSGSIZE)
                return "longer than 1000 bytes";
        if (r == -ENODATA)
                return "empty";
        if (r == -EILSEQ)
                return "its first line holds a NUL byte";
        return strerror(-r);
}

char *fetch_url_join(const char *base, const char *prefix, const char *key, size_t key_len)
{
        size_t blen = strlen(base), plen = strlen(prefix), cap = key_len * 3 + 1;
        char *enc = malloc(cap), *url = NULL;
        int n;

        if (!enc)
                return NULL;
        while (blen && base[blen - 1] == '/')
                blen--;
        n = path_norm_encode(key, key_len, enc, cap);
        if (n < 0)
                goto out;
        url = malloc(blen + plen + (size_t)n + 1);
        if (!url)
                goto out;
        memcpy(url, base, blen);
        memcpy(url + blen, prefix, plen);
        memcpy(url + blen + plen, enc, (size_t)n);
        url[blen + plen + (size_t)n] = '\0';
out:
        free(enc);
        return url;
}

void fetch_status_error(char *err, size_t errlen, const char *url, long status, const char *body,
                        size_t n)
{
        char text[201];

        fetch_answer_text(text, sizeof(text), body, n);
        snprintf(err, errlen, "%s: HTTP %ld: %s", url, status, text);
}

void fetch_answer_text(char *out, size_t cap, const char *s, size_t n)
{
        size_t o = 0;

        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)s[i];

                if (c == '\r' || c == '\n' || c == '\t') {
                        if (o > 0 && out[o - 1] != ' ' && o + 1 < cap)
                                out[o++] = ' ';
                } else if (c >= 0x20 && c < 0x7f) {
                        if (o + 1 >= cap)
                                break;
                        out[o++] = (char)c;
                } else {
                        if (o + 4 >= cap)
                                break;
                        out[o++] = '\\';
                        out[o++] = 'x';
                        hex_encode(&c, 1, out + o); /* two digits and a NUL, within cap */
                        o += 2;
                }
        }
        while (o > 0 && out[o - 1] == ' ')
                o--;
        out[o] = '\0';
}
