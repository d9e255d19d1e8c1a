/* SPDX-License-Identifier: MIT */
/*
 * The rows are kept as their JSON text, each written once when queued: a batch's statement
 * parameter is the rows joined into an array, with no JSON tree per row or per batch.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "uring-loop.h"

#include "json-write.h"
#include "pgdb.h"
#include "session-behind.h"

struct row_text {
        char *p;
        size_t len;
};

/* Rows in order, oldest first: [0, n) of items, room for cap. */
struct row_list {
        struct row_text *items;
        size_t n, cap;
};

struct session_behind {
        struct uring_loop *loop;
        struct pgdb *db;
        int stmt;
        struct session_behind_metrics m;
        struct row_list queue;    /* rows waiting, oldest first */
        struct row_list inflight; /* rows of the statement in flight (n 0: none) */
        bool failing;             /* the last statement failed: the next waits RETRY_MS */
        size_t singles;           /* rows at the queue's front to send one to a statement */
        struct uring_timer timer;
};

static int list_reserve(struct row_list *l, size_t n)
{
        struct row_text *p;
        size_t cap = l->cap ? l->cap : 64;

        if (n <= l->cap)
                return 0;
        while (cap < n)
                cap *= 2;
        p = realloc(l->items, cap * sizeof(*p));
        if (!p)
                return -ENOMEM;
        l->items = p;
        l->cap = cap;
        return 0;
}

/* Free the rows [from, n) of l and drop them from it. */
static void list_cut(struct row_list *l, size_t from)
{
        for (size_t i = from; i < l->n; i++)
                free(l->items[i].p);
        if (from < l->n)
                l->n = from;
}

static void list_free(struct row_list *l)
{
        list_cut(l, 0);
        free(l->items);
        memset(l, 0, sizeof(*l));
}

static void depth_note(struct session_behind *sb)
{
        metrics_gauge_set(sb->m.depth, (int64_t)session_behind_depth(sb));
}

size_t session_behind_depth(const struct session_behind *sb)
{
        return sb->queue.n + sb->inflight.n;
}

static void arm(struct session_behind *sb, uint64_t delay_ms)
{
        if (!uring_timer_armed(&sb->timer))
                (void)uring_timer_arm(sb->loop, &sb->timer, uring_loop_now_ms(sb->loop) + delay_ms);
}

/* The rows in flight go back in front of the queue, as far as room allows (the newest queued
 * give way, counted as dropped). */
static void put_back(struct session_behind *sb)
{
        struct row_list *q = &sb->queue, *f = &sb->inflight;
        size_t room = SESSION_BEHIND_MAX - f->n;

        if (q->n > room) {
                metrics_add(sb->m.dropped, q->n - room);
                list_cut(q, room);
        }
        if (list_reserve(q, q->n + f->n) < 0) {
                metrics_add(sb->m.dropped, f->n);
                list_cut(f, 0);
                return;
        }
        memmove(q->items + f->n, q->items, q->n * sizeof(*q->items));
        memcpy(q->items, f->items, f->n * sizeof(*f->items));
        q->n += f->n;
        f->n = 0;
}

static void sent_done(void *userdata, int err, const struct pgdb_res *res)
{
        struct session_behind *sb = userdata;
        size_t n = sb->inflight.n;
        const char *v, *msg;

        if (sb->singles > 0)
                sb->singles--;
        if (err == -EPROTO && n == 1) {
                /* Refused alone: this row is the reason; the others go on. */
                msg = res ? pgdb_res_message(res) : NULL;
                log_warn("sessions: a row written behind was refused (%s), dropping it",
                         msg ? msg : "?");
                metrics_add(sb->m.dropped, 1);
                list_cut(&sb->inflight, 0);
        } else if (err == 0) {
                v = pgdb_res_value(res, 0, 0, NULL);
                metrics_add(sb->m.written, v ? strtoull(v, NULL, 10) : 0);
                list_cut(&sb->inflight, 0);
                if (sb->failing)
                        log_info("sessions: writing behind again, %zu row(s) queued", sb->queue.n);
                sb->failing = false;
        } else {
                /* An SQL error is some row's (none is expected: the statement leaves out rows
                 * whose references are gone): each goes again alone, so one row cannot hold
                 * back the others for good. */
                if (err == -EPROTO) {
                        msg = res ? pgdb_res_message(res) : NULL;
                        log_warn("sessions: %zu row(s) written behind were refused (%s); "
                                 "sending them one at a time",
                                 n, msg ? msg : "?");
                        sb->singles = n;
                }
                put_back(sb);
                if (!sb->failing && err != -EPROTO)
                        log_warn("sessions: writing %zu row(s) behind failed (%s); retrying",
                                 sb->queue.n, strerror(-err));
                /* Unreachable or slow: wait before the next try. */
                if (err != -EPROTO)
                        sb->failing = true;
        }
        depth_note(sb);
        if (sb->queue.n > 0)
                arm(sb, sb->failing ? SESSION_BEHIND_RETRY_MS
                        : sb->singles > 0 || sb->queue.n >= SESSION_BEHIND_BATCH
                            ? 0
                            : SESSION_BEHIND_DELAY_MS);
}

static void send_rows(struct session_behind *sb)
{
        struct row_list *q = &sb->queue, *f = &sb->inflight;
        size_t batch = sb->singles > 0 ? 1 : SESSION_BEHIND_BATCH, n, len = 2, o;
        char *text;
        int r;

        if (f->n || q->n == 0)
                return;
        n = q->n < batch ? q->n : batch;
        for (size_t i = 0; i < n; i++)
                len += q->items[i].len + 1;
        text = malloc(len + 1);
        if (!text || list_reserve(f, n) < 0) {
                free(text);
                arm(sb, SESSION_BEHIND_RETRY_MS);
                return;
        }
        /* The batch's array, then its rows move from the queue to the flight. */
        text[0] = '[';
        o = 1;
        for (size_t i = 0; i < n; i++) {
                if (i)
                        text[o++] = ',';
                memcpy(text + o, q->items[i].p, q->items[i].len);
                o += q->items[i].len;
        }
        text[o++] = ']';
        text[o] = '\0';
        memcpy(f->items, q->items, n * sizeof(*q->items));
        f->n = n;
        memmove(q->items, q->items + n, (q->n - n) * sizeof(*q->items));
        q->n -= n;
        const char *params[] = {text};
        r = pgdb_exec(sb->db, sb->stmt, params, 1, sent_done, sb);
        free(text);
        if (r < 0)
                sent_done(sb, r, NULL);
}

static void on_timer(struct uring_loop *loop, struct uring_timer *t)
{
        struct session_behind *sb =
            (struct session_behind *)((char *)t - offsetof(struct session_behind, timer));

        (void)loop;
        send_rows(sb);
}

int session_behind_new(struct uring_loop *loop, struct pgdb *db, int stmt,
                       const struct session_behind_metrics *m, struct session_behind **ret)
{
        struct session_behind *sb = calloc(1, sizeof(*sb));

        if (!sb)
                return -ENOMEM;
        sb->loop = loop;
        sb->db = db;
        sb->stmt = stmt;
        sb->m = *m;
        uring_timer_init(&sb->timer, on_timer);
        *ret = sb;
        return 0;
}

void session_behind_free(struct session_behind *sb)
{
        if (!sb)
                return;
        uring_timer_cancel(sb->loop, &sb->timer);
        list_free(&sb->queue);
        list_free(&sb->inflight);
        free(sb);
}

/* The row as sluice_sessions_insert reads it: every member present, null when absent. */
static char *row_text(const struct session_behind_row *r, size_t *ret_len)
{
        struct json_write w;

        json_write_init(&w);
        json_write_lit(&w, "{\"id\":");
        json_write_cstr(&w, r->id);
        json_write_lit(&w, ",\"title\":");
        json_write_cstr(&w, r->title);
        json_write_lit(&w, ",\"episode\":");
        json_write_cstr(&w, r->episode);
        json_write_lit(&w, ",\"asset\":");
        json_write_cstr(&w, r->asset);
        json_write_lit(&w, ",\"country\":");
        json_write_cstr(&w, r->country);
        json_write_lit(&w, ",\"region\":");
        json_write_cstr(&w, r->region);
        json_write_lit(&w, ",\"ip\":");
        json_write_cstr(&w, r->ip);
        json_write_lit(&w, ",\"created\":");
        json_write_int(&w, r->created);
        json_write_lit(&w, ",\"expires\":");
        json_write_int(&w, r->expires);
        json_write_raw(&w, "}", 1);
        return json_write_steal(&w, ret_len);
}

int session_behind_add(struct session_behind *sb, const struct session_behind_row *row)
{
        struct row_text t;

        if (session_behind_depth(sb) >= SESSION_BEHIND_MAX) {
                metrics_add(sb->m.dropped, 1);
                return -ENOSPC;
        }
        t.p = row_text(row, &t.len);
        if (!t.p || list_reserve(&sb->queue, sb->queue.n + 1) < 0) {
                free(t.p);
                return -ENOMEM;
        }
        sb->queue.items[sb->queue.n++] = t;
        depth_note(sb);
        if (!sb->inflight.n && sb->queue.n >= SESSION_BEHIND_BATCH && !sb->failing) {
                uring_timer_cancel(sb->loop, &sb->timer);
                arm(sb, 0);
        } else {
                arm(sb, sb->failing ? SESSION_BEHIND_RETRY_MS : SESSION_BEHIND_DELAY_MS);
        }
        return 0;
}

void session_behind_flush(struct session_behind *sb)
{
        /* After a failure the retry timer paces the tries. */
        if (!sb->inflight.n && !sb->failing && sb->queue.n > 0) {
                uring_timer_cancel(sb->loop, &sb->timer);
                send_rows(sb);
        }
}
