/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "buf.h"
#include "hex.h"
#include "log.h"
#include "mono-time.h"

#include "fetch.h"
#include "holdings.h"
#include "transfer.h"

/*
 * X_CLEARING: the object's victims are being deleted from the edge, one DELETE at a time; its
 * GET starts after the last. X_RUNNING: the GET and/or the PUT are on the multi handle.
 * X_CHECKING: the PUT's answer was lost after the whole body went out, and the edge's listing
 * says whether it committed the object; the transfer keeps its edge's in-flight place
 * meanwhile. X_WAITING: a retry is due at retry_at_ns.
 */
enum xfer_state { X_CLEARING, X_RUNNING, X_CHECKING, X_WAITING };

/* The check's answer is the listing of keys starting with the object's: one entry, or a few
 * when other keys extend it. A longer one, like a timeout, counts as no answer (a retry). */
#define CHECK_MAX_BYTES  (1u << 20)
#define CHECK_TIMEOUT_MS 10000L

enum outcome { O_COMMITTED, O_REFUSED, O_RETRY, O_FATAL };

/* Which side stopped moving bytes, when libcurl's low-speed check ended a transfer. */
enum stall { STALL_NONE, STALL_ORIGIN, STALL_EDGE };

struct xfer {
        struct transfer_edge *e;
        const struct plan_obj *o;
        enum xfer_state state;
        CURL *get, *put, *chk, *del;
        struct curl_slist *hdrs; /* the PUT's, then the check's */
        struct curl_slist *del_hdrs;
        const struct held_obj *const *victims; /* to delete before the GET (borrowed) */
        size_t n_victims, victim_next;
        char del_err[CURL_ERROR_SIZE];
        char *ring;
        size_t rpos, rlen;
        uint64_t got, sent;
        EVP_MD_CTX *md;
        bool get_done, get_ok, hash_ok, too_long;
        bool put_started, put_done;
        bool get_paused, put_paused;
        size_t held_n; /* the chunk a paused GET holds */
        bool put_held;   /* put_paused, and its receive side paused too (nudge()) */
        bool cap_queued; /* in its edge's cap_wait queue, linked by cap_next */
        struct xfer *cap_next;
        CURLcode get_rc, put_rc;
        long get_status, put_status;
        enum stall stall;
        char put_body[256];
        size_t put_body_len;
        struct buf chk_body; /* the check's answer, at most CHECK_MAX_BYTES */
        const char *reason; /* why the attempt under check failed (a static string) */
        unsigned attempt;
        int64_t retry_at_ns;
        char detail[256];
        struct xfer *next;
};

struct engine {
        CURLM *multi;
        struct xfer *list;
        const struct transfer_opts *opts;
        struct transfer_edge *edges;
        size_t n;
        size_t turn; /* nudge()'s rotating start */
};

/* ---- callbacks ---- */

/*
 * The rate cap serves the GETs waiting for it in turn. One the cap paused joins its edge's
 * queue; while any GET waits, a running one about to take bytes joins the tail instead, and
 * only the first in line takes what the bucket refilled. Otherwise the running GETs take each
 * refill inside libcurl's loop, before nudge() looks at the paused ones, and a paused one can
 * wait long enough for the edge to end its PUT as stalled (its send_timeout).
 */
static void capq_add(struct xfer *x)
{
        struct xfer **p = &x->e->cap_wait;

        if (x->cap_queued)
                return;
        while (*p)
                p = &(*p)->cap_next;
        *p = x;
        x->cap_next = NULL;
        x->cap_queued = true;
}

static void capq_remove(struct xfer *x)
{
        struct xfer **p = &x->e->cap_wait;

        if (!x->cap_queued)
                return;
        while (*p != x)
                p = &(*p)->cap_next;
        *p = x->cap_next;
        x->cap_next = NULL;
        x->cap_queued = false;
}

/* A chunk of libcurl's always fits the bucket (its buffer is ratecap_chunk() of the cap), so
 * none overdraws it. */
_Static_assert(TRANSFER_GET_CHUNK == RATECAP_CHUNK_MAX, "a GET chunk must fit the rate cap's bucket");

/* May x's GET take its chunk of n bytes from the cap now: none waits, or x is first in line,
 * and the bucket holds the chunk. */
static bool cap_turn(struct xfer *x, size_t n, int64_t now)
{
        return (!x->e->cap_wait || x->e->cap_wait == x) && ratecap_may_pass(&x->e->rc, n, now);
}

static size_t on_get_data(char *data, size_t size, size_t nmemb, void *ud)
{
        struct xfer *x = ud;
        size_t n = size * nmemb, tail, first;
        int64_t now;

        if (x->got + n > x->o->size) {
                x->too_long = true;
                return 0; /* ends the GET with CURLE_WRITE_ERROR */
        }
        x->held_n = n; /* libcurl offers the same chunk again after a pause */
        if (TRANSFER_RING_BYTES - x->rlen < n) {
                /* Waiting for its PUT, not for the cap: it must not hold up the queue. */
                capq_remove(x);
                x->get_paused = true;
                return CURL_WRITEFUNC_PAUSE;
        }
        now = mono_ns();
        if (!cap_turn(x, n, now)) {
                capq_add(x);
                x->get_paused = true;
                return CURL_WRITEFUNC_PAUSE;
        }
        capq_remove(x);
        ratecap_take(&x->e->rc, n, now);
        tail = (x->rpos + x->rlen) % TRANSFER_RING_BYTES;
        first = TRANSFER_RING_BYTES - tail < n ? TRANSFER_RING_BYTES - tail : n;
        memcpy(x->ring + tail, data, first);
        memcpy(x->ring, data + first, n - first);
        x->rlen += n;
        x->got += n;
        (void)EVP_DigestUpdate(x->md, data, n);
        x->e->prog->bytes_moved += n;
        x->e->origin_bytes += n;
        return n;
}

/* Bytes the PUT may take now: all buffered ones, except that the object's last byte waits
 * until the whole object is hashed and matched. */
static size_t sendable(const struct xfer *x)
{
        uint64_t left = x->o->size - x->sent;
        size_t avail = x->rlen;

        if (avail > left)
                avail = (size_t)left;
        if (!x->hash_ok && left > 0 && avail >= left)
                avail = (size_t)left - 1;
        return avail;
}

static size_t on_put_read(char *buf, size_t size, size_t nitems, void *ud)
{
        struct xfer *x = ud;
        size_t cap = size * nitems, n, first;

        if (x->get_done && !x->hash_ok)
                return CURL_READFUNC_ABORT;
        if (x->sent == x->o->size)
                return 0;
        n = sendable(x);
        if (n == 0) {
                x->put_paused = true;
                return CURL_READFUNC_PAUSE;
        }
        if (n > cap)
                n = cap;
        first = TRANSFER_RING_BYTES - x->rpos < n ? TRANSFER_RING_BYTES - x->rpos : n;
        memcpy(buf, x->ring + x->rpos, first);
        memcpy(buf + first, x->ring, n - first);
        x->rpos = (x->rpos + n) % TRANSFER_RING_BYTES;
        x->rlen -= n;
        x->sent += n;
        return n;
}

static size_t on_put_answer(char *data, size_t size, size_t nmemb, void *ud)
{
        struct xfer *x = ud;
        size_t n = size * nmemb, room = sizeof(x->put_body) - 1 - x->put_body_len;

        if (n < room)
                room = n;
        memcpy(x->put_body + x->put_body_len, data, room);
        x->put_body_len += room;
        x->put_body[x->put_body_len] = '\0';
        return n;
}

/* ---- lifecycle ---- */

/* End x's GET, if any, and its place in the rate cap's queue. */
static void drop_get(struct engine *g, struct xfer *x)
{
        capq_remove(x);
        if (x->get) {
                curl_multi_remove_handle(g->multi, x->get);
                curl_easy_cleanup(x->get);
                x->get = NULL;
        }
}

static void drop_handles(struct engine *g, struct xfer *x)
{
        drop_get(g, x);
        if (x->put) {
                curl_multi_remove_handle(g->multi, x->put);
                curl_easy_cleanup(x->put);
                x->put = NULL;
        }
        if (x->chk) {
                curl_multi_remove_handle(g->multi, x->chk);
                curl_easy_cleanup(x->chk);
                x->chk = NULL;
        }
        if (x->del) {
                curl_multi_remove_handle(g->multi, x->del);
                curl_easy_cleanup(x->del);
                x->del = NULL;
        }
        fetch_headers_free(x->del_hdrs);
        x->del_hdrs = NULL;
        fetch_headers_free(x->hdrs);
        x->hdrs = NULL;
        buf_done(&x->chk_body);
}

static void xfer_free(struct engine *g, struct xfer *x)
{
        drop_handles(g, x);
        EVP_MD_CTX_free(x->md);
        free(x->ring);
        free(x);
}

static long stall_secs(const struct transfer_opts *opts)
{
        long secs = (opts->stall_timeout_ms + 999) / 1000;
        return secs > 0 ? secs : 1;
}

/*
 * No byte either way for the stall bound ends the transfer with CURLE_OPERATION_TIMEDOUT. A
 * limit of 1 byte/s means "nothing at all": libcurl averages over its last five seconds, so a
 * slow origin is not a stall. Transfers we hold back are exempt: libcurl skips the check for
 * a transfer whose receive side is paused (7.88 looks at that side only), which a GET is when
 * the ring is full or the rate cap spent, and nudge() pauses a PUT's receive side while it
 * waits for origin bytes. So a GET's check measures the origin and a PUT's the edge.
 */
static void set_stall_limit(CURL *h, const struct transfer_opts *opts)
{
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, stall_secs(opts));
}

static int start_get(struct engine *g, struct xfer *x)
{
        x->rpos = x->rlen = 0;
        x->got = x->sent = 0;
        x->get_done = x->get_ok = x->hash_ok = x->too_long = false;
        x->put_started = x->put_done = false;
        x->get_paused = x->put_paused = x->put_held = false;
        x->get_status = x->put_status = 0;
        x->stall = STALL_NONE;
        x->put_body_len = 0;
        x->put_body[0] = '\0';
        x->detail[0] = '\0';
        if (!EVP_DigestInit_ex(x->md, EVP_sha256(), NULL))
                return -ENOMEM;
        x->get = curl_easy_init();
        if (!x->get)
                return -ENOMEM;
        curl_easy_setopt(x->get, CURLOPT_URL, x->o->url);
        curl_easy_setopt(x->get, CURLOPT_PRIVATE, x);
        curl_easy_setopt(x->get, CURLOPT_WRITEFUNCTION, on_get_data);
        curl_easy_setopt(x->get, CURLOPT_WRITEDATA, x);
        curl_easy_setopt(x->get, CURLOPT_FAILONERROR, 1L);
        curl_easy_setopt(x->get, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(x->get, CURLOPT_MAXREDIRS, 5L);
        curl_easy_setopt(x->get, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(x->get, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(x->get, CURLOPT_CONNECTTIMEOUT_MS, g->opts->connect_timeout_ms);
        set_stall_limit(x->get, g->opts);
        curl_easy_setopt(x->get, CURLOPT_NOSIGNAL, 1L);
        /* Under a low cap, smaller chunks: the bucket need hold only 10 ms of the rate. libcurl
         * hands over at most a buffer's worth at a time. */
        curl_easy_setopt(x->get, CURLOPT_BUFFERSIZE, (long)ratecap_chunk(x->e->rate_bps));
        if (curl_multi_add_handle(g->multi, x->get) != CURLM_OK)
                return -ENOMEM;
        x->state = X_RUNNING;
        return 0;
}

static int start_put(struct engine *g, struct xfer *x)
{
        char line[1200];
        char *url = fetch_url_join(x->e->admin_url, "/admin/objects", x->o->key, x->o->key_len);

        if (!url)
                return -ENOMEM;
        x->put = curl_easy_init();
        if (!x->put) {
                free(url);
                return -ENOMEM;
        }
        snprintf(line, sizeof(line), "Authorization: Bearer %s", x->e->bearer);
        x->hdrs = curl_slist_append(x->hdrs, line);
        explicit_bzero(line, sizeof(line));
        snprintf(line, sizeof(line), "X-Sluice-SHA256: %s", x->o->sha256);
        x->hdrs = curl_slist_append(x->hdrs, line);
        x->hdrs = curl_slist_append(x->hdrs, "Expect:");
        curl_easy_setopt(x->put, CURLOPT_URL, url);
        free(url);
        curl_easy_setopt(x->put, CURLOPT_PRIVATE, x);
        curl_easy_setopt(x->put, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(x->put, CURLOPT_INFILESIZE_LARGE, (curl_off_t)x->o->size);
        curl_easy_setopt(x->put, CURLOPT_READFUNCTION, on_put_read);
        curl_easy_setopt(x->put, CURLOPT_READDATA, x);
        curl_easy_setopt(x->put, CURLOPT_WRITEFUNCTION, on_put_answer);
        curl_easy_setopt(x->put, CURLOPT_WRITEDATA, x);
        curl_easy_setopt(x->put, CURLOPT_HTTPHEADER, x->hdrs);
        curl_easy_setopt(x->put, CURLOPT_CONNECTTIMEOUT_MS, g->opts->connect_timeout_ms);
        set_stall_limit(x->put, g->opts);
        curl_easy_setopt(x->put, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(x->put, CURLOPT_UPLOAD_BUFFERSIZE, 65536L);
        if (curl_multi_add_handle(g->multi, x->put) != CURLM_OK)
                return -ENOMEM;
        x->put_started = true;
        return 0;
}

/*
 * A request to x's edge's admin API, for the multi handle: url (taken, freed here), with the
 * agent's bearer token, ended after timeout_ms. Returns the handle with its header list in
 * *ret_hdrs, or NULL, nothing left to free, when it could not be set up.
 */
static CURL *admin_request(struct engine *g, struct xfer *x, char *url, long timeout_ms,
                           struct curl_slist **ret_hdrs)
{
        char line[1200];
        struct curl_slist *h;
        CURL *c;

        if (!url)
                return NULL;
        snprintf(line, sizeof(line), "Authorization: Bearer %s", x->e->bearer);
        h = curl_slist_append(NULL, line);
        explicit_bzero(line, sizeof(line));
        c = curl_easy_init();
        if (!h || !c) {
                fetch_headers_free(h);
                curl_easy_cleanup(c);
                free(url);
                return NULL;
        }
        curl_easy_setopt(c, CURLOPT_URL, url);
        free(url);
        curl_easy_setopt(c, CURLOPT_PRIVATE, x);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, g->opts->connect_timeout_ms);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        *ret_hdrs = h;
        return c;
}

/*
 * Ask the edge whether it committed x: GET its listing of keys starting with x's, on the
 * engine's multi handle like the transfers, bounded in size (CHECK_MAX_BYTES) and time
 * (CHECK_TIMEOUT_MS). on_done() takes the answer. Returns 0, or -ENOMEM when the request
 * could not be set up (the caller then retries as after no answer).
 */
static int start_check(struct engine *g, struct xfer *x)
{
        x->chk = admin_request(g, x, holdings_listing_url(x->e->admin_url, x->o->key),
                               CHECK_TIMEOUT_MS, &x->hdrs);
        if (!x->chk)
                return -ENOMEM;
        buf_init(&x->chk_body, CHECK_MAX_BYTES);
        curl_easy_setopt(x->chk, CURLOPT_WRITEFUNCTION, fetch_body_write);
        curl_easy_setopt(x->chk, CURLOPT_WRITEDATA, &x->chk_body);
        if (curl_multi_add_handle(g->multi, x->chk) != CURLM_OK)
                return -ENOMEM;
        x->state = X_CHECKING;
        return 0;
}

static size_t discard_body(char *data, size_t size, size_t nmemb, void *ud)
{
        (void)data;
        (void)ud;
        return size * nmemb;
}

/*
 * DELETE x's next victim from the edge, on the multi handle: the other transfers go on while
 * an edge is slow to answer. on_done() takes the answer (delete_done). Returns 0, -ENOMEM.
 */
static int start_delete(struct engine *g, struct xfer *x)
{
        const struct held_obj *h = x->victims[x->victim_next];
        char *url = fetch_url_join(x->e->admin_url, "/admin/objects", h->key, h->key_len);

        x->del = admin_request(g, x, url, g->opts->delete_timeout_ms, &x->del_hdrs);
        if (!x->del)
                return -ENOMEM;
        x->del_err[0] = '\0';
        curl_easy_setopt(x->del, CURLOPT_CUSTOMREQUEST, "DELETE");
        curl_easy_setopt(x->del, CURLOPT_WRITEFUNCTION, discard_body);
        curl_easy_setopt(x->del, CURLOPT_ERRORBUFFER, x->del_err);
        if (curl_multi_add_handle(g->multi, x->del) != CURLM_OK)
                return -ENOMEM;
        x->state = X_CLEARING;
        return 0;
}

static enum transfer_gate edge_gate(struct transfer_edge *e);
static void give_up(struct engine *g, struct xfer *x, const char *reason);

/* Delete the next victim, or, once none is left, start the GET. Returns 0, -ENOMEM. */
static int clear_or_start(struct engine *g, struct xfer *x)
{
        while (x->victim_next < x->n_victims) {
                if (start_delete(g, x) == 0)
                        return 0;
                drop_handles(g, x);
                progress_event(g->opts->progress, "evict-failed", x->e->id,
                               x->victims[x->victim_next]->key, x->victims[x->victim_next]->size,
                               NULL, "out of memory");
                x->victim_next++;
        }
        return start_get(g, x);
}

/* A victim's DELETE ended: gone when the edge says so (204) or never held it (404). */
static void delete_done(struct engine *g, struct xfer *x, CURLcode rc)
{
        const struct held_obj *h = x->victims[x->victim_next];
        char err[256];
        long status = 0;

        curl_easy_getinfo(x->del, CURLINFO_RESPONSE_CODE, &status);
        if (rc != CURLE_OK)
                snprintf(err, sizeof(err), "%s",
                         x->del_err[0] ? x->del_err : curl_easy_strerror(rc));
        else if (status != 204 && status != 404)
                snprintf(err, sizeof(err), "the edge answered %ld", status);
        else
                err[0] = '\0';
        progress_event(g->opts->progress, err[0] ? "evict-failed" : "evicted", x->e->id, h->key,
                       h->size, NULL, err[0] ? err : NULL);
        drop_handles(g, x);
        x->victim_next++;
        /* The window closed (or a signal came) while the edge deleted: no further delete,
         * and no transfer for the room made so far (docs/fill.md, Data flow). */
        if (edge_gate(x->e) == TRANSFER_STOP) {
                x->e->failed_closed++;
                give_up(g, x, "window closed");
                return;
        }
        if (clear_or_start(g, x) < 0) {
                /* As for a GET that could not start (launch()): try again in a second. */
                drop_handles(g, x);
                x->retry_at_ns = mono_ns() + 1000000000ll;
                x->state = X_WAITING;
        }
}

static struct xfer *xfer_new(struct engine *g, struct transfer_edge *e, size_t i)
{
        struct xfer *x = calloc(1, sizeof(*x));

        if (!x)
                return NULL;
        x->e = e;
        x->o = e->queue[i];
        if (e->victims)
                x->n_victims = e->victims(e->gate_ud, i, &x->victims);
        x->ring = malloc(TRANSFER_RING_BYTES);
        x->md = EVP_MD_CTX_new();
        if (!x->ring || !x->md || clear_or_start(g, x) < 0) {
                xfer_free(g, x);
                return NULL;
        }
        x->next = g->list;
        g->list = x;
        e->in_flight++;
        return x;
}

static void unlink_xfer(struct engine *g, struct xfer *x)
{
        for (struct xfer **p = &g->list; *p; p = &(*p)->next) {
                if (*p == x) {
                        *p = x->next;
                        return;
                }
        }
}

/* ---- outcomes ---- */

static enum outcome classify(struct engine *g, struct xfer *x, const char **ret_reason)
{
        *ret_reason = NULL;
        if (x->put_started && x->put_done && x->put_rc == CURLE_OK &&
            (x->put_status == 201 || x->put_status == 204))
                return x->hash_ok ? O_COMMITTED : O_REFUSED;
        if (x->too_long) {
                *ret_reason = "size-mismatch";
                snprintf(x->detail, sizeof(x->detail), "origin sent more than %" PRIu64 " bytes",
                         x->o->size);
                return O_REFUSED;
        }
        if (x->get_done && x->get_ok && !x->hash_ok) {
                *ret_reason = x->got != x->o->size ? "size-mismatch" : "sha256-mismatch";
                if (x->got != x->o->size)
                        snprintf(x->detail, sizeof(x->detail),
                                 "origin sent %" PRIu64 " bytes, the plan says %" PRIu64, x->got,
                                 x->o->size);
                return O_REFUSED;
        }
        if (x->stall != STALL_NONE) {
                long secs = stall_secs(g->opts);
                *ret_reason = "stalled";
                if (x->stall == STALL_ORIGIN)
                        snprintf(x->detail, sizeof(x->detail),
                                 "origin stalled: no byte for %ld s (%" PRIu64 " of %" PRIu64
                                 " bytes received)",
                                 secs, x->got, x->o->size);
                else
                        snprintf(x->detail, sizeof(x->detail),
                                 "edge stalled: nothing taken or answered for %ld s (%" PRIu64
                                 " of %" PRIu64 " bytes sent)",
                                 secs, x->sent, x->o->size);
                return O_RETRY;
        }
        if (x->get_done && !x->get_ok) {
                if (x->get_status >= 400 && x->get_status < 500 && x->get_status != 408 &&
                    x->get_status != 429) {
                        *ret_reason = "origin-error";
                        snprintf(x->detail, sizeof(x->detail), "origin answered %ld",
                                 x->get_status);
                        return O_REFUSED;
                }
                /* The plan's URL itself cannot be fetched: no retry makes it fetchable. */
                if (x->get_rc == CURLE_URL_MALFORMAT || x->get_rc == CURLE_UNSUPPORTED_PROTOCOL) {
                        *ret_reason = "origin-error";
                        snprintf(x->detail, sizeof(x->detail), "the plan's URL: %s",
                                 curl_easy_strerror(x->get_rc));
                        return O_REFUSED;
                }
                *ret_reason = "origin-unavailable";
                if (!x->detail[0])
                        snprintf(x->detail, sizeof(x->detail), "origin: %s (status %ld)",
                                 curl_easy_strerror(x->get_rc), x->get_status);
                return O_RETRY;
        }
        if (x->put_done) {
                long st = x->put_status;
                bool auth = st == 401 || st == 403;

                /* 507: the edge's store is full (budget, disk or index). A 4xx but 408 and
                 * 429 is a no to this request, which sent again gets the same no: 404
                 * (nothing at that path takes objects), 409 (a conflict with what is there)
                 * as well as the edge's own 400 and 411 (docs/edge.md, Admin API). */
                if (auth || st == 507 ||
                    (st >= 400 && st < 500 && st != 408 && st != 429)) {
                        char text[151];

                        fetch_answer_text(text, sizeof(text), x->put_body, x->put_body_len);
                        snprintf(x->detail, sizeof(x->detail), "edge answered %ld: %s", st, text);
                        *ret_reason = auth                     ? "edge-auth"
                                      : st == 413 || st == 507 ? "no-room"
                                                               : "edge-refused";
                        return auth ? O_FATAL : O_REFUSED;
                }
                *ret_reason = "edge-unavailable";
                if (x->put_rc == CURLE_OK && st) {
                        char text[151];

                        fetch_answer_text(text, sizeof(text), x->put_body, x->put_body_len);
                        snprintf(x->detail, sizeof(x->detail), "edge answered %ld: %s", st, text);
                } else {
                        snprintf(x->detail, sizeof(x->detail), "edge: %s (status %ld)",
                                 curl_easy_strerror(x->put_rc), st);
                }
                return O_RETRY;
        }
        *ret_reason = "aborted";
        return O_RETRY;
}

/* Count x failed for reason and let it go (it still held its edge's in-flight place). */
static void give_up(struct engine *g, struct xfer *x, const char *reason)
{
        struct transfer_edge *e = x->e;

        progress_event(g->opts->progress, "failed", e->id, x->o->key, x->o->size, reason,
                       x->detail);
        e->failed++;
        e->prog->failed++;
        (void)journal_refuse(e->journal, x->o->key, x->o->key_len, "failed");
        e->in_flight--;
        unlink_xfer(g, x);
        xfer_free(g, x);
}

/* Count, journal and report x's outcome: committed, refused and fatal end it, a retry waits
 * for its backoff (or ends it failed once retries are spent). */
static void settle(struct engine *g, struct xfer *x, enum outcome oc, const char *reason)
{
        struct transfer_edge *e = x->e;
        int r;

        if (oc == O_RETRY && x->attempt >= g->opts->retries) {
                give_up(g, x, reason);
                return;
        }
        switch (oc) {
        case O_COMMITTED:
                r = journal_commit(e->journal, x->o->key, x->o->key_len, x->o->sha256, x->o->size);
                if (r < 0)
                        log_warn("%s: journal write failed: %s, ignoring", e->id, strerror(-r));
                e->committed++;
                e->prog->objects_done++;
                e->prog->bytes_done += x->o->size;
                progress_event(g->opts->progress, "committed", e->id, x->o->key, x->o->size, NULL,
                               NULL);
                goto done;
        case O_REFUSED:
                e->refused++;
                e->prog->refused++;
                if (!reason)
                        reason = "refused";
                (void)journal_refuse(e->journal, x->o->key, x->o->key_len, reason);
                progress_event(g->opts->progress, "refused", e->id, x->o->key, x->o->size, reason,
                               x->detail[0] ? x->detail : NULL);
                goto done;
        case O_FATAL:
                e->fatal = true;
                snprintf(e->fatal_msg, sizeof(e->fatal_msg), "%s", x->detail);
                /* Ended as any failed object is (counted in the progress too, reported and
                 * journalled), so the progress lines count what the done line does. */
                give_up(g, x, reason);
                return;
        case O_RETRY: {
                int64_t backoff_ms = 250ll << (x->attempt < 5 ? x->attempt : 5);
                x->attempt++;
                x->state = X_WAITING;
                x->retry_at_ns = mono_ns() + backoff_ms * 1000000ll;
                e->prog->bytes_moved -=
                    x->got < e->prog->bytes_moved ? x->got : e->prog->bytes_moved;
                progress_event(g->opts->progress, "retry", e->id, x->o->key, x->o->size, reason,
                               x->detail);
                return;
        }
        }
done:
        e->in_flight--;
        unlink_xfer(g, x);
        xfer_free(g, x);
}

static void finish(struct engine *g, struct xfer *x)
{
        const char *reason;
        bool full_body = x->put_started && x->sent == x->o->size;
        enum outcome oc = classify(g, x, &reason);

        drop_handles(g, x);
        /* The whole body went out but no answer came back: the edge may have committed it.
         * Ask before sending it again; the other transfers go on meanwhile. The journal
         * records the commit only once the edge confirmed it. An answer that came (a 5xx)
         * says it did not: no question. */
        if (oc == O_RETRY && full_body && x->put_status == 0) {
                x->reason = reason;
                if (start_check(g, x) == 0) {
                        progress_event(g->opts->progress, "check", x->e->id, x->o->key,
                                       x->o->size, reason, x->detail);
                        return;
                }
                drop_handles(g, x);
        }
        settle(g, x, oc, reason);
}

/* The check's answer: committed when the edge lists the object with its size and SHA-256;
 * anything else (no answer, an error status, a listing without it) means send it again. */
static void check_done(struct engine *g, struct xfer *x, CURLcode rc)
{
        struct holdings h;
        char err[256];
        long status = 0;
        bool held = false;

        curl_easy_getinfo(x->chk, CURLINFO_RESPONSE_CODE, &status);
        if (rc != CURLE_OK)
                log_debug("%s: %s: check: %s", x->e->id, x->o->key, curl_easy_strerror(rc));
        else if (status != 200)
                log_debug("%s: %s: check: status %ld", x->e->id, x->o->key, status);
        else if (holdings_parse(x->chk_body.p ? x->chk_body.p : "", x->chk_body.len, &h, err,
                                sizeof(err)) < 0)
                log_debug("%s: %s: check: %s", x->e->id, x->o->key, err);
        else {
                held = holdings_has(&h, x->o->key, x->o->key_len, x->o->size, x->o->sha256);
                holdings_done(&h);
        }
        drop_handles(g, x);
        settle(g, x, held ? O_COMMITTED : O_RETRY, x->reason);
}

/* Ended by the low-speed check? No overall timeout is set, so a timeout after the request
 * went out is that check; one before it is the connect timeout. */
static bool ended_stalled(CURL *h, CURLcode rc)
{
        curl_off_t pre = 0;

        if (rc != CURLE_OPERATION_TIMEDOUT)
                return false;
        return curl_easy_getinfo(h, CURLINFO_PRETRANSFER_TIME_T, &pre) == CURLE_OK && pre > 0;
}

static void on_done(struct engine *g, CURL *h, CURLcode rc)
{
        struct xfer *x = NULL;

        curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&x);
        if (!x)
                return;
        if (h == x->chk) {
                check_done(g, x, rc);
                return;
        }
        if (h == x->del) {
                delete_done(g, x, rc);
                return;
        }
        if (h == x->get) {
                unsigned char md[32];
                char hex[65];
                unsigned len = 0;

                x->get_done = true;
                x->get_rc = rc;
                curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &x->get_status);
                x->get_ok = rc == CURLE_OK;
                if (ended_stalled(h, rc))
                        x->stall = STALL_ORIGIN;
                drop_get(g, x);
                if (x->get_ok) {
                        (void)EVP_DigestFinal_ex(x->md, md, &len);
                        (void)hex_encode(md, 32, hex);
                        x->hash_ok = x->got == x->o->size && memcmp(hex, x->o->sha256, 64) == 0;
                        if (!x->hash_ok && x->got == x->o->size)
                                snprintf(x->detail, sizeof(x->detail),
                                         "origin bytes hash to %s, the plan says %s", hex,
                                         x->o->sha256);
                }
                if (!x->hash_ok && x->put) {
                        /* Cut the PUT short: the edge then discards what it received. */
                        curl_multi_remove_handle(g->multi, x->put);
                        curl_easy_cleanup(x->put);
                        x->put = NULL;
                        x->put_done = false;
                }
                if (!x->hash_ok || (x->put_started && !x->put))
                        finish(g, x);
                else if (!x->put_started && start_put(g, x) < 0)
                        finish(g, x);
                return;
        }
        if (h == x->put) {
                x->put_done = true;
                x->put_rc = rc;
                curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &x->put_status);
                /* Paused PUTs are exempt (nudge()); should a libcurl check one, a PUT paused
                 * with the GET still running was waiting for origin bytes. */
                if (ended_stalled(h, rc))
                        x->stall = x->put_paused && x->get ? STALL_ORIGIN : STALL_EDGE;
                curl_multi_remove_handle(g->multi, x->put);
                curl_easy_cleanup(x->put);
                x->put = NULL;
                if (x->get) {
                        /* The edge answered before the body ended (a refusal or an error). */
                        drop_get(g, x);
                        x->get_done = false;
                }
                finish(g, x);
        }
}

/* Unpause what can move again; start PUTs once data arrived. */
static void nudge_one(struct engine *g, struct xfer *x, int64_t now)
{
        if (x->state != X_RUNNING)
                return;
        if (x->get && x->get_paused && TRANSFER_RING_BYTES - x->rlen >= TRANSFER_RING_BYTES / 2) {
                /* One paused for its PUT, with room again, waits its turn like the others. */
                if (x->e->rc.rate > 0)
                        capq_add(x);
                if (cap_turn(x, x->held_n, now)) {
                        x->get_paused = false;
                        curl_easy_pause(x->get, CURLPAUSE_CONT);
                        /* libcurl usually hands over the chunk it held right away (and the
                         * GET may queue again behind the others); if not, this turn is
                         * spent, so that a slow origin holds up no one. */
                        if (!x->get_paused)
                                capq_remove(x);
                }
        }
        if (!x->put_started && x->rlen > 0) {
                if (start_put(g, x) < 0)
                        finish(g, x);
        } else if (x->put && x->put_paused && (sendable(x) > 0 || x->get_done)) {
                x->put_paused = x->put_held = false;
                curl_easy_pause(x->put, CURLPAUSE_CONT);
        } else if (x->put && x->put_paused && !x->put_held) {
                /* CURL_READFUNC_PAUSE paused the sending side only, which libcurl's
                 * low-speed check ignores: waiting for the origin (or for our rate
                 * cap) would count as a stalled edge. An answer the edge sends
                 * before the body ends (a refusal) is read once bytes flow again. */
                x->put_held = true;
                curl_easy_pause(x->put, CURLPAUSE_ALL);
        }
}

/* Each turn starts one transfer further down the list: an unpaused GET takes what the edge's
 * rate cap has refilled, so whichever came first would otherwise take it every time and the
 * others would trickle. The list keeps its order (most valuable first) for launch(). */
static void nudge(struct engine *g, int64_t now)
{
        size_t len = 0, start, i = 0;
        struct xfer *x, *next;

        for (x = g->list; x; x = x->next)
                len++;
        if (len == 0)
                return;
        start = g->turn++ % len;
        /* finish() unlinks only the transfer it ends, so the first `start` stay in place. */
        for (x = g->list; x; x = next, i++) {
                next = x->next;
                if (i >= start)
                        nudge_one(g, x, now);
        }
        for (x = g->list, i = 0; x && i < start; x = next, i++) {
                next = x->next;
                nudge_one(g, x, now);
        }
}

static enum transfer_gate edge_gate(struct transfer_edge *e)
{
        if (e->fatal)
                return TRANSFER_STOP;
        return e->gate ? e->gate(e->gate_ud) : TRANSFER_GO;
}

/* Start queued objects and due retries. Returns the earliest pending retry time or 0. */
static int64_t launch(struct engine *g, int64_t now)
{
        int64_t soonest = 0;

        for (struct xfer *x = g->list, *next; x; x = next) {
                next = x->next;
                if (x->state != X_WAITING)
                        continue;
                /* The edge refused the agent (401/403): its retries would be refused too, and
                 * one left waiting would keep the run from ever ending. */
                if (x->e->fatal) {
                        give_up(g, x, "the edge refused the agent");
                        continue;
                }
                /* The window closed: no more attempts, as for new transfers. */
                if (edge_gate(x->e) == TRANSFER_STOP) {
                        x->e->failed_closed++;
                        give_up(g, x, "window closed");
                        continue;
                }
                if (x->retry_at_ns <= now) {
                        if (start_get(g, x) < 0) {
                                x->retry_at_ns = now + 1000000000ll;
                                x->state = X_WAITING;
                        }
                } else if (!soonest || x->retry_at_ns < soonest) {
                        soonest = x->retry_at_ns;
                }
        }
        for (size_t i = 0; i < g->n; i++) {
                struct transfer_edge *e = &g->edges[i];
                while (e->in_flight < e->parallel && e->next < e->n_queue &&
                       edge_gate(e) == TRANSFER_GO) {
                        if (!xfer_new(g, e, e->next))
                                return soonest; /* out of memory: try again next round */
                        e->next++;
                }
        }
        return soonest;
}

static bool all_done(struct engine *g)
{
        if (g->list)
                return false;
        for (size_t i = 0; i < g->n; i++) {
                struct transfer_edge *e = &g->edges[i];
                if (e->pending)
                        return false;
                if (e->next < e->n_queue && edge_gate(e) != TRANSFER_STOP)
                        return false;
        }
        return true;
}

int transfer_run(struct transfer_edge *edges, size_t n, const struct transfer_opts *opts)
{
        struct engine g = {.opts = opts, .edges = edges, .n = n};
        int64_t now = mono_ns();
        int running = 0, r = 0;

        g.multi = curl_multi_init();
        if (!g.multi)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                ratecap_init(&edges[i].rc, edges[i].rate_bps, now);
                if (!edges[i].parallel)
                        edges[i].parallel = 1;
        }
        for (;;) {
                CURLMsg *m;
                int left, timeout_ms = 200;
                int64_t soonest;

                if (opts->stop && *opts->stop) {
                        r = -EINTR;
                        break;
                }
                if (opts->tick)
                        opts->tick(opts->tick_ud);
                now = mono_ns();
                soonest = launch(&g, now);
                if (all_done(&g))
                        break;
                if (curl_multi_perform(g.multi, &running) != CURLM_OK) {
                        r = -EIO;
                        break;
                }
                bool finished = false;
                while ((m = curl_multi_info_read(g.multi, &left))) {
                        if (m->msg == CURLMSG_DONE) {
                                on_done(&g, m->easy_handle, m->data.result);
                                finished = true;
                        }
                }
                /* A finished transfer frees a slot: fill it now rather than after a poll. */
                if (finished)
                        timeout_ms = 0;
                now = mono_ns();
                nudge(&g, now);
                progress_tick(opts->progress, now, false);
                for (size_t i = 0; i < n; i++) {
                        int64_t w = ratecap_wait_ms(&edges[i].rc, now);
                        if (w > 0 && w < timeout_ms && timeout_ms > 0)
                                timeout_ms = (int)w;
                }
                if (soonest) {
                        int64_t w = (soonest - now) / 1000000 + 1;
                        if (w < timeout_ms && timeout_ms > 0)
                                timeout_ms = w < 1 ? 1 : (int)w;
                }
                if (timeout_ms > 0)
                        curl_multi_poll(g.multi, NULL, 0, timeout_ms, NULL);
        }
        while (g.list) {
                struct xfer *x = g.list;
                g.list = x->next;
                x->e->in_flight--;
                xfer_free(&g, x);
        }
        curl_multi_cleanup(g.multi);
        return r;
}
