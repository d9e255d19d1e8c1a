/* SPDX-License-Identifier: MIT */
/*
 * HTTP/2 streams of a client connection (see h2-serve.h). Each stream's request is read
 * through the same http1_req view the HTTP/1.1 path uses, admitted and answered by the shared
 * rules (serve-admit.c, serve-plan.c), and the resulting plan is rendered as h2 header fields
 * with the body sent behind DATA frame headers.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http-cond.h"
#include "http-resp.h"
#include "http1-parse.h"
#include "log.h"
#include "metrics.h"
#include "path-norm.h"

#include "access-log.h"
#include "conn-tls.h"
#include "conn.h"
#include "edge-cfg.h"
#include "edge-metrics.h"
#include "fill.h"
#include "h2-names.h"
#include "h2-serve.h"
#include "h2-tls.h"
#include "h2-zc.h"
#include "h2.h"
#include "hit.h"
#include "serve-admit.h"
#include "serve-plan.h"
#include "store.h"
#include "tls.h"
#include "worker.h"

#define PREFACE      "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define PREFACE_LEN  (sizeof(PREFACE) - 1)
#define H2_NAME_MAX  40 /* longer than any field name a plan carries */

/*
 * What a stream holds until it is gone: its access-log line, and the store object (a hit) or
 * the fill (a miss) its body is read from. A miss waits in this thread's queue until the
 * input that carried its request has been processed (so a stream the client resets in the
 * same burst never starts a fill), then on the worker's list of h2 fill waiters. A miss whose
 * connection already started H2_LED_MAX fills still waiting for their upstream's head is held
 * until one of them has it (see struct h2_led).
 */
struct h2_served {
        struct conn *c;
        struct h2_stream *st;
        struct access_log_pending *log;
        uint64_t start_us;
        int status;
        bool has_obj;
        bool peer;
        bool head_sent;
        bool collapsed;
        bool stale; /* a revalidation of the stored copy (reval: its validators) */
        struct fill_reval reval;
        struct store_obj obj;
        struct fill *fill;
        const char *log_cache;  /* access log cache= (a literal), or NULL */
        char log_upstream[128]; /* access log upstream=, "" when none */
        struct h2_served **list, *prev, *next;
        char text[SERVE_TEXT_MAX]; /* a text body, read by h2.c after the answer is queued */
        size_t key_len;
        char key[];
};

/* This worker thread's streams: misses to start after the current input, misses held for
 * their connection's fills, and misses waiting on (or streaming from) a fill. Each connection
 * belongs to one worker thread. */
static __thread struct h2_served *start_q, *held, *waiters;

/*
 * The fills a connection's streams started (not joined) whose upstream head has not come, a
 * reference on each. A fill goes on when the stream that started it is reset (others may
 * want the object), so without a bound a client could have the origin asked for one object
 * per stream and reset each at once, a hundred a connection, again and again: rapid reset
 * aimed at the origin. Players ask for a few objects at a time; past H2_LED_MAX the next
 * miss waits for a head, and a stream reset while it waits starts nothing.
 */
#define H2_LED_MAX 8
struct h2_led {
        struct conn *c;
        struct h2_led *prev, *next; /* this thread's connections with such fills */
        unsigned n;
        struct fill *f[H2_LED_MAX];
};

/* Looked through on every kick, so a reference (and the fill's file) goes once its head is
 * in, not only at the connection's next miss or its close. */
static __thread struct h2_led *led_list;

int h2_serve_sniff(const char *buf, size_t len)
{
        if (len >= PREFACE_LEN)
                return memcmp(buf, PREFACE, PREFACE_LEN) == 0 ? 1 : -1;
        return memcmp(buf, PREFACE, len) == 0 ? 0 : -1;
}

/* ---- transport: the plain socket ---- */

static ssize_t io_write(void *ctx, const void *buf, size_t len)
{
        struct conn *c = ctx;
        ssize_t n;

        do
                n = send(c->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        return n < 0 ? -errno : n;
}

static ssize_t io_write_file(void *ctx, const void *hdr, size_t hlen, int fd, off_t off,
                             size_t len)
{
        struct conn *c = ctx;
        ssize_t n = 0, m;

        if (hlen) {
                do
                        n = send(c->fd, hdr, hlen,
                                 MSG_DONTWAIT | MSG_NOSIGNAL | (len ? MSG_MORE : 0));
                while (n < 0 && errno == EINTR);
                if (n < 0)
                        return -errno;
                if ((size_t)n < hlen || len == 0)
                        return n;
        }
        do
                m = sendfile(c->fd, fd, &off, len);
        while (m < 0 && errno == EINTR);
        if (m < 0)
                return n ? n : -errno;
        if (m == 0) {
                /* The file shrank: never pad a response; its stream distrusts the object. */
                c->h2_body_short = true;
                c->h2_short_fd = fd;
                return n ? n : -EIO;
        }
        c->req_bytes += (uint64_t)m;
        return n + m;
}

/* ---- transport: TLS ---- */

static ssize_t io_write_tls(void *ctx, const void *buf, size_t len)
{
        struct conn *c = ctx;

        return tls_conn_write(c->tls, buf, len);
}

/* Frame header and payload sealed together (h2-tls.c's bursts carry every frame of ours;
 * this is the direct path for one that would not fit). A retry re-reads the same file bytes. */
static ssize_t io_write_file_tls(void *ctx, const void *hdr, size_t hlen, int fd, off_t off,
                                 size_t len)
{
        struct conn *c = ctx;
        size_t cap;
        char *buf = conn_tls_scratch(&cap);
        ssize_t n;

        if (!buf)
                return -ENOMEM;
        if (hlen + len > cap)
                len = cap - hlen;
        memcpy(buf, hdr, hlen);
        if (len) {
                do
                        n = pread(fd, buf + hlen, len, off);
                while (n < 0 && errno == EINTR);
                if (n < 0)
                        return -errno;
                if ((size_t)n < len) {
                        c->h2_body_short = true; /* as io_write_file */
                        c->h2_short_fd = fd;
                        return -EIO;
                }
        }
        n = tls_conn_write(c->tls, buf, hlen + len);
        if (n > (ssize_t)hlen)
                c->req_bytes += (uint64_t)n - hlen;
        return n;
}

/* kTLS: the kernel seals what the socket is given, so a DATA frame from a file goes as on h2c:
 * its header straight to the socket with MSG_MORE, which holds the kernel's record open, and
 * its payload by SSL_sendfile into that record. No copy in userspace, none of the payload in
 * the kernel's send either; encryption reads the file's pages. */
static ssize_t io_write_file_ktls(void *ctx, const void *hdr, size_t hlen, int fd, off_t off,
                                  size_t len)
{
        struct conn *c = ctx;
        ssize_t n = 0, m;

        if (hlen) {
                n = len ? tls_conn_ktls_send_more(c->tls, hdr, hlen)
                        : tls_conn_write(c->tls, hdr, hlen);
                if (n < 0)
                        return n;
                if ((size_t)n < hlen || len == 0)
                        return n;
        }
        m = tls_conn_sendfile(c->tls, fd, off, len, NULL, 0);
        if (m == -EIO) {
                c->h2_body_short = true; /* as io_write_file */
                c->h2_short_fd = fd;
        }
        if (m < 0)
                return n ? n : m;
        c->req_bytes += (uint64_t)m;
        return n + m;
}

/* ---- the request and the answer ---- */

/* Request fields the shared rules read, by their HTTP/2 (lowercase) names. */
#define LIT(s) s, sizeof(s) - 1 /* a literal and its length */
static const struct {
        int hk; /* enum http_known_hdr, or -1 for one looked up by name */
        const char *name;
        size_t len;
} stream_fields[] = {
    {HK_RANGE, LIT("range")},
    {HK_IF_RANGE, LIT("if-range")},
    {HK_IF_NONE_MATCH, LIT("if-none-match")},
    {HK_IF_MODIFIED_SINCE, LIT("if-modified-since")},
    {HK_IF_MATCH, LIT("if-match")},
    {HK_IF_UNMODIFIED_SINCE, LIT("if-unmodified-since")},
    {HK_ORIGIN, LIT("origin")},
    {HK_AUTHORIZATION, LIT("authorization")},
    {HK_ACCESS_CONTROL_REQUEST_METHOD, LIT("access-control-request-method")},
    {HK_ACCESS_CONTROL_REQUEST_HEADERS, LIT("access-control-request-headers")},
    {HK_USER_AGENT, LIT("user-agent")},
    {-1, LIT("cmcd-object")},
    {-1, LIT("cmcd-request")},
    {-1, LIT("cmcd-session")},
    {-1, LIT("cmcd-status")},
};
#undef LIT

static void req_add(struct http1_req *req, int hk, const char *name, size_t name_len, const char *v,
                    size_t len)
{
        struct http_hdr *h = &req->hdrs[req->n_hdrs];

        if (!v || len > UINT16_MAX || req->n_hdrs == HTTP1_MAX_HEADERS_CAP)
                return;
        *h = (struct http_hdr){name, v, (uint16_t)name_len, (uint16_t)len};
        if (hk >= 0 && req->known[hk] < 0)
                req->known[hk] = (int16_t)req->n_hdrs;
        req->n_hdrs++;
}

/*
 * The stream's request as the shared rules (serve-admit.c, serve-plan.c, prefetch.c) read
 * requests: method, :path as the target, :authority as Host, and the fields they look at,
 * pointing into the stream's own storage (valid until on_stream_gone).
 */
static void stream_req(struct h2_stream *st, struct http1_req *req)
{
        const char *m, *v;
        size_t len = 0;

        m = h2_stream_method(st, &len);
        req->method_str = m ? m : "";
        req->method_len = m ? (uint32_t)len : 0;
        if (len == 3 && !memcmp(req->method_str, "GET", 3))
                req->method = HTTP_M_GET;
        else if (len == 4 && !memcmp(req->method_str, "HEAD", 4))
                req->method = HTTP_M_HEAD;
        else if (len == 7 && !memcmp(req->method_str, "OPTIONS", 7))
                req->method = HTTP_M_OPTIONS;
        else
                req->method = HTTP_M_OTHER;
        len = 0;
        v = h2_stream_path(st, &len);
        req->target = v ? v : "";
        req->target_len = v ? (uint32_t)len : 0;
        req->minor = 1;
        req->keep_alive = true;
        req->chunked = req->expect_continue = false;
        req->content_length = -1;
        req->n_hdrs = 0;
        for (unsigned i = 0; i < HK_COUNT; i++)
                req->known[i] = -1;
        v = h2_stream_authority(st, &len);
        req_add(req, HK_HOST, "host", 4, v, len);
        /* Every field of a name, in the order received, as HTTP/1.1 keeps them: a list sent as
         * several fields is one list (RFC 9110 §5.3). One pass over the fields. */
        const char *name;
        size_t name_len;
        uint32_t pos = 0;
        while ((v = h2_stream_field_next(st, &pos, &name, &name_len, &len))) {
                for (size_t i = 0; i < sizeof(stream_fields) / sizeof(stream_fields[0]); i++)
                        if (stream_fields[i].len == name_len &&
                            memcmp(stream_fields[i].name, name, name_len) == 0) {
                                req_add(req, stream_fields[i].hk, stream_fields[i].name, name_len,
                                        v, len);
                                break;
                        }
        }
}

static void list_add(struct h2_served **list, struct h2_served *sv)
{
        sv->list = list;
        sv->prev = NULL;
        sv->next = *list;
        if (*list)
                (*list)->prev = sv;
        *list = sv;
}

static void list_del(struct h2_served *sv)
{
        if (!sv->list)
                return;
        if (sv->prev)
                sv->prev->next = sv->next;
        else
                *sv->list = sv->next;
        if (sv->next)
                sv->next->prev = sv->prev;
        sv->list = NULL;
        sv->prev = sv->next = NULL;
}

/* How much of the fill's temp file exists, for h2.c's read callback. */
static uint64_t fill_body_avail(void *ctx, bool *failed)
{
        struct fill *f = ctx;

        *failed = fill_state_get(f) == FILL_FAILED;
        return fill_avail(f);
}

/* A bare answer when there is nothing to describe it with (no memory for the stream). */
static bool respond_bare(struct conn *c, struct h2_stream *st, int status)
{
        struct h2_header h[2] = {{"date", http_date_now(), 4, HTTP_DATE_LEN, true},
                                 {"content-length", "0", 14, 1, true}};

        if (h2_stream_respond(st, status, h, 2, NULL) < 0)
                return false;
        edge_metrics_request(&c->w->srv->m, c->w->idx, status, 0);
        return true;
}

/* Answer sv's stream as p says: date and server, then p's fields with HTTP/2's lowercase
 * names. */
static void render(struct h2_served *sv, const struct serve_plan *p)
{
        struct h2_header h[SERVE_PLAN_HDRS + 2];
        char names[SERVE_PLAN_HDRS][H2_NAME_MAX];
        struct h2_body body = {.fd = -1, .off = p->off, .len = p->head_only ? 0 : p->len};
        const void *map;
        size_t n = 0;

        if (p->overflow) {
                log_conn(LOG_LVL_ERROR, sv->c->id, "response fields overflow, answering 500");
                if (respond_bare(sv->c, sv->st, 500))
                        sv->status = 500;
                return;
        }
        h[n++] = (struct h2_header){"date", http_date_now(), 4, HTTP_DATE_LEN, true};
        /* as HTTP/1.1's; players read it */
        h[n++] = (struct h2_header){"server", "sluice", 6, 6, true};
        for (size_t i = 0; i < p->n_hdrs; i++) {
                const struct serve_hdr *f = &p->hdrs[i];
                const char *lower = h2_static_name(f->name, f->name_len);

                if (lower) {
                        h[n++] =
                            (struct h2_header){lower, f->value, f->name_len, f->value_len, true};
                        continue;
                }
                if (f->name_len >= H2_NAME_MAX)
                        continue; /* none of ours is that long */
                for (size_t j = 0; j < f->name_len; j++)
                        names[i][j] = h2_ascii_lower(f->name[j]);
                h[n++] = (struct h2_header){names[i], f->value, f->name_len, f->value_len, false};
        }
        switch (p->body) {
        case SERVE_BODY_NONE:
                body.len = 0;
                break;
        case SERVE_BODY_TEXT:
                /* h2.c reads a memory body as flow control allows: keep it with the stream. */
                memcpy(sv->text, p->text, p->len);
                body.mem = sv->text;
                break;
        case SERVE_BODY_FILE:
                body.fd = p->obj->fd;
                /* h2c: DATA frames in batches named by iovecs into the object's mapping
                 * (h2-zc.c): by reference for bodies small enough that zero copy pays, copied
                 * into the socket by the kernel for larger ones (see H2_ZC_BODY_MAX). */
                if (!sv->c->tls && h2_zc_enabled() && body.len &&
                    store_obj_map(p->obj, &map) == 0) {
                        body.map = map;
                        body.map_obj = p->obj;
                        body.map_copy = body.len > H2_ZC_BODY_MAX;
                }
                break;
        case SERVE_BODY_FILL:
                body.fd = p->fill->rfd;
                body.avail = fill_body_avail;
                body.avail_ctx = p->fill;
                break;
        }
        if (h2_stream_respond(sv->st, p->status, h, n, body.len ? &body : NULL) == 0) {
                sv->status = p->status;
                sv->log_cache = p->log_cache;
                /* Cut to fit, as HTTP/1.1's; "" on every hit. */
                size_t up =
                    p->log_upstream ? strnlen(p->log_upstream, sizeof(sv->log_upstream) - 1) : 0;
                memcpy(sv->log_upstream, p->log_upstream ? p->log_upstream : "", up);
                sv->log_upstream[up] = '\0';
                /* The bytes count as they go out: at the stream's end (on_stream_gone). */
                edge_metrics_request(&sv->c->w->srv->m, sv->c->w->idx, p->status, 0);
        }
}

/* The hit: the shared rules on sv->obj, which the stream keeps until it is gone. */
static void serve_hit(struct h2_served *sv, const struct http1_req *req)
{
        struct serve_plan p;

        serve_plan_hit(&p, sv->c, req, sv->key, sv->key_len, &sv->obj, sv->peer);
        render(sv, &p);
}

/* The stored copy answers sv's revalidation (the upstream said 304, or failed before its
 * head): looked up afresh, and kept with the stream as a hit's object is. */
static void answer_stored(struct h2_served *sv, const struct http1_req *req)
{
        struct serve_plan p;

        if (hit_lookup(sv->c->w, sv->c->id, sv->key, sv->key_len, &sv->obj) < 0) {
                /* Deleted or evicted meanwhile: nothing left to answer with. */
                serve_plan_status(&p, sv->c, req, 502);
                render(sv, &p);
                return;
        }
        sv->has_obj = true;
        serve_plan_hit_revalidated(&p, sv->c, req, sv->key, sv->key_len, &sv->obj, sv->peer,
                                   sv->fill);
        render(sv, &p);
}

/* Answer what the fill allows now; a stream already answered gets its body resumed. */
static void advance(struct h2_served *sv)
{
        struct http1_req req;
        struct serve_kept k;
        struct serve_plan p;
        int r;

        if (sv->head_sent) {
                h2_stream_resume(sv->st);
                return;
        }
        stream_req(sv->st, &req);
        if (serve_kept_save(&k, &req, sv->peer) < 0) {
                /* Out of memory, as start_miss answers it. */
                sv->head_sent = true;
                serve_plan_status(&p, sv->c, &req, 503);
                render(sv, &p);
                list_del(sv);
                return;
        }
        k.collapsed = sv->collapsed;
        k.stale = sv->stale;
        r = serve_plan_fill(&p, sv->c, &req, &k, sv->fill, sv->key, sv->key_len);
        serve_kept_free(&k); /* what the plan borrows is the fill's, or in its arena */
        if (r < 0)
                return;
        sv->head_sent = true;
        if (r == 1) {
                answer_stored(sv, &req);
                list_del(sv);
                return;
        }
        render(sv, &p);
        if (p.body == SERVE_BODY_FILL && sv->status)
                return; /* stays a waiter: the body follows the fill */
        list_del(sv);
}

/* Ask for POLLOUT so pump() runs from the completion (never from inside a walk of the
 * waiters, which closing the connection would change). */
static void want_pump(struct conn *c)
{
        if (c->poll_armed || c->state == CONN_CLOSED)
                return;
        if (uring_loop_poll(c->w->loop, c->slot, EDGE_OP_POLLOUT, c->fd, POLLOUT) < 0) {
                log_conn(LOG_LVL_WARN, c->id, "cannot arm poll for h2 fill progress, ignoring");
                return;
        }
        c->poll_armed = true;
}

static void start_held(void);
static void led_prune(struct h2_led *l);

void h2_serve_kick(struct edge_worker *w)
{
        struct h2_served *sv, *next;

        (void)w;
        for (sv = waiters; sv; sv = next) {
                next = sv->next;
                advance(sv);
                want_pump(sv->c);
        }
        for (struct h2_led *l = led_list, *lnext; l; l = lnext) {
                lnext = l->next;
                led_prune(l);
        }
        if (held)
                start_held();
}

bool h2_serve_wait_moved(struct conn *c)
{
        /* A stream the client stalls is the client's wait, whatever its siblings wait on. */
        if (h2_conn_held_by_client(c->h2))
                return false;
        for (struct h2_served *sv = waiters; sv; sv = sv->next) {
                if (sv->c != c || !sv->fill)
                        continue;
                /* The fill's wait, not the client's, for as long as the fill goes on: before
                 * the answer begins (the upstream's head, or the check of a range or a
                 * condition), or for the body's next bytes with all before them sent. The
                 * upstream's own timeouts end a fill that stops. */
                if (!sv->head_sent && fill_state_get(sv->fill) == FILL_PENDING)
                        return true;
                if (fill_in_flight(sv->fill, uring_loop_now_ms(c->w->loop)) &&
                    (!sv->head_sent || h2_stream_waits_on_body(sv->st)))
                        return true;
        }
        return false;
}

/* A queued miss, once the input that carried it is processed: join or start the key's fill.
 * A fill committed since the lookup is served as a hit (looked up once more only). */
static void start_miss(struct h2_served *sv)
{
        struct conn *c = sv->c;
        struct edge_worker *w = c->w;
        struct http1_req req;
        struct serve_plan p;
        int r;

        stream_req(sv->st, &req);
        r = serve_fill_join(&p, c, &req, sv->key, sv->key_len, false,
                            sv->stale ? &sv->reval : NULL, &sv->fill, &sv->collapsed);
        if (r == 2) {
                /* No fill for the revalidation (the fill limit): the stored copy answers. */
                if (hit_lookup(w, c->id, sv->key, sv->key_len, &sv->obj) < 0) {
                        serve_plan_status(&p, c, &req, 503);
                } else {
                        sv->has_obj = true;
                        serve_plan_hit_unrevalidated(&p, c, &req, sv->key, sv->key_len,
                                                     &sv->obj, sv->peer);
                }
                render(sv, &p);
                return;
        }
        if (r == -EEXIST) {
                if (hit_lookup(w, c->id, sv->key, sv->key_len, &sv->obj) == 0) {
                        sv->has_obj = true;
                        serve_hit(sv, &req);
                        return;
                }
                r = serve_fill_join(&p, c, &req, sv->key, sv->key_len, true, NULL, &sv->fill,
                                    &sv->collapsed);
        }
        if (r != 0) {
                if (r < 0)
                        serve_plan_status(&p, c, &req, 503);
                render(sv, &p);
                return;
        }
        list_add(&waiters, sv);
        /* Watch before looking, so progress made in between still kicks this worker. */
        fill_watch(sv->fill, w->idx);
        advance(sv);
}

/* Let go of l's fills past their head; l goes with the last. */
static void led_prune(struct h2_led *l)
{
        for (unsigned i = 0; i < l->n;) {
                if (fill_state_get(l->f[i]) == FILL_PENDING) {
                        i++;
                        continue;
                }
                fill_unref(l->f[i]);
                l->f[i] = l->f[--l->n];
        }
        if (l->n)
                return;
        if (l->prev)
                l->prev->next = l->next;
        else
                led_list = l->next;
        if (l->next)
                l->next->prev = l->prev;
        l->c->h2_led = NULL;
        free(l);
}

/* Whether c may start one more fill. */
static bool led_room(struct conn *c)
{
        if (c->h2_led)
                led_prune(c->h2_led);
        return !c->h2_led || c->h2_led->n < H2_LED_MAX;
}

/* sv's stream started its fill: c counts it until the head comes, and this worker is kicked
 * when it does (h2_serve_kick then starts what was held). */
static void led_note(struct h2_served *sv)
{
        struct conn *c = sv->c;
        struct h2_led *l = c->h2_led;

        if (!sv->fill || sv->collapsed || fill_state_get(sv->fill) != FILL_PENDING)
                return;
        if (!l) {
                l = calloc(1, sizeof(*l));
                if (!l)
                        return; /* not counted: at worst as before the bound */
                l->c = c;
                l->next = led_list;
                if (led_list)
                        led_list->prev = l;
                led_list = l;
                c->h2_led = l;
        }
        atomic_fetch_add(&sv->fill->refs, 1);
        l->f[l->n++] = sv->fill;
        fill_watch(sv->fill, c->w->idx);
}

static void led_free(struct conn *c)
{
        struct h2_led *l = c->h2_led;

        if (!l)
                return;
        for (unsigned i = 0; i < l->n; i++)
                fill_unref(l->f[i]);
        l->n = 0;
        led_prune(l);
}

/* Start sv's miss, or hold it while its connection has H2_LED_MAX fills before their head.
 * Returns whether it started. */
static bool start_or_hold(struct h2_served *sv)
{
        /* Reset already (its close, and on_stream_gone, follow): no fill for it. */
        if (h2_stream_ended_by_client(sv->st)) {
                list_del(sv);
                return false;
        }
        if (!led_room(sv->c)) {
                if (sv->list != &held) {
                        metrics_add(sv->c->w->srv->m.h2_misses_held, 1);
                        list_add(&held, sv);
                }
                return false;
        }
        list_del(sv);
        start_miss(sv);
        led_note(sv);
        return true;
}

/* The last of a list: list_add puts each in front, so the oldest. */
static struct h2_served *oldest(struct h2_served *sv)
{
        while (sv && sv->next)
                sv = sv->next;
        return sv;
}

/* Misses of the input just processed, oldest first: a player's segments in its order. */
static void start_queued(void)
{
        for (struct h2_served *sv = oldest(start_q), *prev; sv; sv = prev) {
                prev = sv->prev;
                list_del(sv);
                (void)start_or_hold(sv);
        }
}

/* Held misses whose connection has room now (some fill of its had its head), oldest first. */
static void start_held(void)
{
        for (struct h2_served *sv = oldest(held), *prev; sv; sv = prev) {
                prev = sv->prev;
                if (start_or_hold(sv))
                        want_pump(sv->c);
        }
}

/* Forget c's queued and held misses: its session is over (GOAWAY sent), so no fill is
 * started for them. They stay with their streams, freed with the session (on_stream_gone). */
static void unqueue(struct conn *c)
{
        struct h2_served **lists[] = {&start_q, &held};

        for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++)
                for (struct h2_served *sv = *lists[i], *next; sv; sv = next) {
                        next = sv->next;
                        if (sv->c == c)
                                list_del(sv);
                }
}

/* An http or https URI's authority (RFC 9113 §8.3.1, RFC 9110 §4.2): read as HTTP/1.1 reads
 * Host, without userinfo, and not empty (an absolute-form target's authority is read so; an
 * empty host before a port is refused by http1_host_ok() for all three). */
static bool h2_authority_ok(const char *s, size_t n)
{
        return n > 0 && !memchr(s, '@', n) && http1_host_ok(s, n);
}

/*
 * Whether st's :authority and host fields are what HTTP/1.1 takes as Host: each as
 * h2_authority_ok says, and a host beside :authority naming the same (RFC 9113 §8.3.1: a
 * request where they differ is treated as malformed). nghttp2 checks that one of the two is
 * there, and refuses an empty or repeated one itself.
 */
static bool authority_ok(const struct h2_stream *st)
{
        size_t alen = 0, hlen = 0;
        const char *a = h2_stream_header(st, ":authority", &alen);
        const char *host = h2_stream_header(st, "host", &hlen);

        if (a && !h2_authority_ok(a, alen))
                return false;
        if (!host)
                return true;
        if (!h2_authority_ok(host, hlen))
                return false;
        return !a || (alen == hlen && strncasecmp(a, host, alen) == 0);
}

/*
 * The status HTTP/1.1's parser would refuse st's request with, or 0: fields past
 * max_header_list (431, as a head past limits.max_header_bytes), a :path longer than
 * limits.max_target (414) or holding a byte no request-target may (400), an authority
 * HTTP/1.1 would refuse as Host (400). nghttp2 checks the rest of what HTTP/2 allows
 * (RFC 9113 §8.2-8.3), which is more than a request-target does.
 */
static int parser_refusal(const struct conn *c, const struct h2_stream *st,
                          const struct http1_req *req)
{
        if (h2_stream_fields_too_large(st))
                return 431;
        if (req->target_len > c->w->plimits.max_target)
                return 414;
        if (!http1_target_chars_ok(req->target, req->target_len) || !authority_ok(st))
                return 400;
        return 0;
}

static void serve(struct conn *c, struct h2_stream *st)
{
        struct edge_worker *w = c->w;
        struct http1_req req;
        struct serve_plan p;
        struct h2_served *sv;
        struct path_norm pn;
        int r;

        stream_req(st, &req);
        sv = calloc(1, sizeof(*sv) + req.target_len + 1);
        if (!sv) {
                (void)respond_bare(c, st, 503);
                return;
        }
        sv->c = c;
        sv->st = st;
        sv->start_us = uring_loop_clock_us();
        h2_stream_set_data(st, sv);
        r = parser_refusal(c, st, &req);
        if (r) {
                /* Counted and logged as HTTP/1.1's parser refusals are (request_refuse), but
                 * only this stream ends. */
                edge_metrics_refusal(&w->srv->m, r);
                serve_log_begin(c, NULL, NULL);
                serve_plan_status(&p, c, &req, r); /* its Origin too: CORS as for any */
                sv->log = access_log_detach(&c->w->alog);
                render(sv, &p);
                return;
        }

        r = serve_admit(&p, c, &req, req.target, req.target_len, h2_stream_has_body(st), &pn,
                        &sv->peer);
        sv->log = access_log_detach(&c->w->alog);
        if (r) {
                render(sv, &p);
                return;
        }
        memcpy(sv->key, pn.key, pn.key_len);
        sv->key_len = pn.key_len;
        r = hit_lookup(w, c->id, pn.key, pn.key_len, &sv->obj);
        if (r == 0 && hit_stale(w, pn.key, pn.key_len, &sv->obj, &sv->reval)) {
                /* Revalidated upstream first: through the miss queue, as a fill is. */
                store_obj_release(w->reader, &sv->obj);
                sv->stale = true;
                list_add(&start_q, sv);
                return;
        }
        if (r == 0) {
                sv->has_obj = true;
                serve_hit(sv, &req);
                return;
        }
        if (r != -ENOENT) {
                log_conn(LOG_LVL_WARN, c->id, "store lookup of %.*s failed: %s",
                         (int)pn.key_len, pn.key, strerror(-r));
                serve_plan_status(&p, c, &req, 503);
                render(sv, &p);
                return;
        }
        list_add(&start_q, sv);
}

static void on_request(void *ctx, struct h2_stream *st)
{
        struct conn *c = ctx;

        metrics_add(c->w->srv->m.h2_streams, 1);
        /* A request ends the idle time: its answer goes under the send deadline, and pump()
         * arms a fresh idle deadline once no stream is left. pump() alone would not see it:
         * an answer handed over whole in one flush never shows it the session busy. */
        if (c->state == CONN_IDLE)
                conn_set_state(c, CONN_SEND);
        serve(ctx, st);
}

/* A request nghttp2 resets as malformed: counted and logged as HTTP/1.1's parser refusals are
 * (request_refuse), status 400 with nothing sent but the reset. */
static void on_malformed(void *ctx, struct h2_stream *st)
{
        struct conn *c = ctx;
        static const struct access_log_outcome o = {NULL, ""};

        (void)st;
        edge_metrics_refusal(&c->w->srv->m, 400);
        serve_log_begin(c, NULL, NULL);
        access_log_end(&c->w->alog, 400, 0, 0, &o);
}

/* Client resets since the last look go to the metrics (counted by h2.c per connection). */
static void resets_fold(struct conn *c)
{
        const struct h2_stats *hs = h2_conn_stats(c->h2);

        if (hs->client_resets > c->h2_resets_seen) {
                metrics_add(c->w->srv->m.h2_client_resets, hs->client_resets - c->h2_resets_seen);
                c->h2_resets_seen = hs->client_resets;
        }
}

static void on_stream_gone(void *ctx, struct h2_stream *st, bool answered)
{
        struct conn *c = ctx;
        struct h2_served *sv = h2_stream_get_data(st);

        if (!sv)
                return;
        list_del(sv);
        if (c->tls)
                h2_tls_settle(c); /* frames of its file may still wait for their bytes */
        if (sv->status) /* a client that reset or never read got only what went out */
                metrics_add(c->w->srv->m.bytes_sent, h2_stream_body_sent(st));
        if (sv->log) {
                /* A stream reset while it waited on a fill still says it asked the upstream
                 * (or joined who did): rapid reset aimed at the origin shows in the log. */
                struct access_log_outcome o = {
                    sv->log_cache ? sv->log_cache
                    : sv->fill    ? (sv->collapsed ? "collapsed" : "miss")
                                  : NULL,
                    sv->log_upstream};

                /* 499: the client reset the stream before it was answered. */
                access_log_end_detached(&c->w->alog, sv->log,
                                        answered && sv->status ? sv->status : 499,
                                        h2_stream_body_sent(st),
                                        uring_loop_clock_us() - sv->start_us, &o);
        }
        if (sv->has_obj && c->h2_body_short && sv->obj.fd == c->h2_short_fd) {
                store_obj_distrust(c->w->reader, &sv->obj); /* as a short sendfile on HTTP/1.1 */
                c->h2_body_short = false; /* the fd may be reused for another object */
        } else if (sv->fill && c->h2_body_short && fill_state_get(sv->fill) != FILL_PENDING &&
                   sv->fill->rfd == c->h2_short_fd) {
                /* A fill's file: nothing stored to distrust, and its fd may be reused for an
                 * object. A pending fill sent nothing here, and its rfd is the owner's to set
                 * until its head, maybe on another worker (fill.h): it is not read. */
                c->h2_body_short = false;
        }
        if (sv->has_obj)
                store_obj_release(c->w->reader, &sv->obj);
        fill_unref(sv->fill);
        free(sv);
        h2_stream_set_data(st, NULL);
}

/* ---- the connection ---- */

/* Enter CONN_SEND, or stay in it: the send deadline moves on only when answers did. A
 * client's input alone (PINGs, SETTINGS, one-byte WINDOW_UPDATEs) does not push it. */
static void send_progress(struct conn *c)
{
        if (h2_conn_progressed(c->h2) || c->state != CONN_SEND)
                conn_set_state(c, CONN_SEND);
}

/* Write what can be written and set the connection's state and deadline accordingly. */
static void pump(struct conn *c)
{
        int r = h2_conn_flush(c->h2);

        if (r < 0) {
                conn_close(c, "h2 send error");
                return;
        }
        if (r == 2) {
                /* Its last frames may still be in the kernel's hands: a close now would
                 * reset the connection, and lose them, at the client's next WINDOW_UPDATE. */
                conn_linger(c, "h2 session over");
                return;
        }
        if (r == 0) {
                /* A batch under way resumes output from its completion, not POLLOUT. */
                if (!h2_zc_waiting(c) && !conn_arm_pollout(c))
                        return;
                /* Frames of our own on an idle connection (the ACKs of a client's PINGs and
                 * SETTINGS) leave it idle: its idle deadline stands. After that deadline
                 * (close_after) the send deadline bounds the GOAWAY's way out. */
                if (c->state != CONN_IDLE || c->close_after || h2_conn_busy(c->h2))
                        send_progress(c);
                return;
        }
        if ((c->peer_eof || c->close_after || c->w->draining) && !h2_conn_busy(c->h2) &&
            !h2_zc_waiting(c)) {
                /* GOAWAYs before the close (RFC 9113 §6.8, §9.1): for a session that began
                 * after conn_drain's, or an idle one past its deadline. The flush that sends
                 * the final one ends the session (h2_conn_flush 2). */
                if (!c->peer_eof && h2_serve_shutdown(c)) {
                        pump(c);
                        return;
                }
                if (c->peer_eof || !h2_conn_shutdown_waits(c->h2)) {
                        conn_linger(c, c->peer_eof ? "peer closed" : "drain");
                        return;
                }
                /* After the notice, the final GOAWAY waits for the PING's ACK or the notice
                 * timer, the connection idle meanwhile: its idle deadline sends the final
                 * GOAWAY too, should the timer be missing. */
                conn_set_state(c, CONN_IDLE);
                return;
        }
        /* Streams waiting on the client's window count as sending: the send deadline ends a
         * client that never opens it, or opens it too thinly for a DATA frame. The idle
         * deadline is armed once, as the connection becomes idle (the session's start, its last
         * stream's end): frames that open no stream (PING, SETTINGS, WINDOW_UPDATE, unknown
         * types) do not push it on, or a client sending one every few seconds would hold its
         * connection for ever (conn_set_state re-arms whatever the state was). */
        if (h2_conn_busy(c->h2))
                send_progress(c);
        else if (c->state != CONN_IDLE)
                conn_set_state(c, CONN_IDLE);
}

static void on_notice_over(struct uring_loop *loop, struct uring_timer *t)
{
        struct conn *c = (struct conn *)((char *)t - offsetof(struct conn, h2_notice));

        (void)loop;
        if (c->h2 && h2_conn_shutdown_final(c->h2))
                h2_serve_output(c);
}

bool h2_serve_shutdown(struct conn *c)
{
        if (!h2_conn_shutdown(c->h2))
                return false;
        /* Not armed (no memory): the drain's deadline, or the idle one, ends the session. */
        (void)uring_timer_arm(c->w->loop, &c->h2_notice,
                              uring_loop_now_ms(c->w->loop) + H2_NOTICE_MS);
        return true;
}

bool h2_serve_start(struct conn *c, const char *buf, size_t len)
{
        const struct edge_cfg_http2 *cfg = &c->w->rt->cfg->http2;
        struct h2_limits lim = {
            .max_concurrent_streams = (uint32_t)cfg->max_concurrent_streams,
            .window = (uint32_t)cfg->window,
            .max_header_list = (uint32_t)cfg->max_header_list,
            .max_fields = c->w->limits.max_headers, /* as HTTP/1.1's parser counts them */
            .max_resets_per_s = (uint32_t)cfg->max_resets_per_s,
            .max_control_per_s = (uint32_t)cfg->max_control_per_s,
        };
        struct h2_io io = {.write = io_write,
                           .write_file = io_write_file,
                           .on_request = on_request,
                           .on_stream_gone = on_stream_gone,
                           .on_malformed = on_malformed,
                           .ctx = c};

        if (!c->tls && h2_zc_enabled()) {
                io.queue = h2_zc_queue;
                io.queue_map = h2_zc_queue_map;
                io.flush = h2_zc_flush;
                io.unsent = h2_zc_unsent;
        }
        if (c->tls && tls_conn_ktls(c->tls)) {
                /* Each frame written as it comes, the payloads from their files. A frame of
                 * 16384 bytes in all fills one record of the kernel's: with the client's
                 * 16 KiB frames, a payload of 16384 would seal its last 9 bytes alone. */
                io.write = io_write_tls;
                io.write_file = io_write_file_ktls;
                io.max_data = 16384 - 9;
        } else if (c->tls) {
                /* Frames gathered into bursts (h2-tls.c); the direct writes below are for a
                 * frame larger than the burst buffer, which ours never are. */
                io.write = io_write_tls;
                io.write_file = io_write_file_tls;
                io.queue = h2_tls_queue;
                io.queue_file = h2_tls_queue_file;
                io.flush = h2_tls_flush;
                io.unsent = h2_tls_unsent;
        }

        uring_timer_init(&c->h2_notice, on_notice_over);
        if (h2_conn_new(&lim, &io, &c->h2) < 0) {
                conn_close(c, "out of memory");
                return false;
        }
        log_conn(LOG_LVL_DEBUG, c->id, "%s", c->tls ? "h2 (ALPN)" : "h2c (prior knowledge)");
        return h2_serve_input(c, buf, len);
}

bool h2_serve_input(struct conn *c, const char *buf, size_t len)
{
        int r = h2_conn_input(c->h2, buf, len);

        if (r == -ENOMEM) {
                conn_close(c, "out of memory");
                return false;
        }
        resets_fold(c);
        /* A protocol error or abuse: the GOAWAY is queued; send it, then close. */
        if (r < 0) {
                (void)h2_conn_flush(c->h2);
                if (h2_zc_waiting(c)) {
                        unqueue(c);
                        c->h2_ending = true; /* h2_serve_output closes once it is out */
                        send_progress(c);
                        return true;
                }
                conn_close(c, "h2: GOAWAY sent");
                return false;
        }
        start_queued();
        pump(c);
        return c->state != CONN_CLOSED;
}

void h2_serve_output(struct conn *c)
{
        if (c->state == CONN_CLOSED || c->state == CONN_LINGER)
                return;
        if (c->h2_ending) {
                if (h2_conn_flush(c->h2) != 0 || !h2_zc_waiting(c))
                        conn_close(c, "h2: GOAWAY sent");
                return;
        }
        pump(c);
}

void h2_serve_pollout(struct conn *c)
{
        c->poll_armed = false;
        h2_serve_output(c);
}

void h2_serve_free(struct conn *c)
{
        uint32_t code = h2_conn_stats(c->h2)->goaway_reason;

        resets_fold(c);
        /* Every session we ended with an error passes here, whichever side noticed it. */
        if (code) {
                edge_metrics_goaway(&c->w->srv->m, code);
                log_conn(LOG_LVL_INFO, c->id, "h2: closed after GOAWAY %s (0x%x)",
                         h2_error_name(code), code);
        }
        uring_timer_cancel(c->w->loop, &c->h2_notice);
        h2_conn_free(c->h2); /* releases every stream's object through on_stream_gone */
        c->h2 = NULL;
        led_free(c);
}
