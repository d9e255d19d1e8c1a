/* SPDX-License-Identifier: MIT */
/*
 * A count is kept as its key's JSON text (the object without its closing count), written once
 * when its first start is queued: a batch's statement parameter is the keys joined into an
 * array, each closed with its count, with no JSON tree per count or per batch.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "uring-loop.h"

#include "json-write.h"
#include "pgdb.h"
#include "session-behind.h"

struct start_count {
        char *p; /* the key: {"title":...,"created":N */
        size_t len;
        uint64_t hash; /* of the key */
        uint64_t n;    /* starts */
};

/* Counts in order, oldest first: [0, n) of items, room for cap. */
struct count_list {
        struct start_count *items;
        size_t n, cap;
};

struct session_behind {
        struct uring_loop *loop;
        struct pgdb *db;
        int stmt;
        struct session_behind_metrics m;
        struct count_list queue;    /* counts waiting, oldest first */
        struct count_list inflight; /* counts of the statement in flight (n 0: none) */
        bool failing;               /* the last statement failed: the next waits RETRY_MS */
        size_t singles;             /* counts at the queue's front to send one to a statement */
        struct uring_timer timer;
};

static int list_reserve(struct count_list *l, size_t n)
{
        struct start_count *p;
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

/* Free the counts [from, n) of l and drop them from it. Returns their starts. */
static uint64_t list_cut(struct count_list *l, size_t from)
{
        uint64_t starts = 0;

        for (size_t i = from; i < l->n; i++) {
                starts += l->items[i].n;
                free(l->items[i].p);
        }
        if (from < l->n)
                l->n = from;
        return starts;
}

static void list_free(struct count_list *l)
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

/* The counts in flight go back in front of the queue, as far as room allows (the newest queued
 * give way, their starts counted as dropped). */
static void put_back(struct session_behind *sb)
{
        struct count_list *q = &sb->queue, *f = &sb->inflight;
        size_t room = SESSION_BEHIND_MAX - f->n;

        if (q->n > room)
                metrics_add(sb->m.dropped, list_cut(q, room));
        if (list_reserve(q, q->n + f->n) < 0) {
                metrics_add(sb->m.dropped, list_cut(f, 0));
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
                /* Refused alone: this count is the reason; the others go on. */
                msg = res ? pgdb_res_message(res) : NULL;
                log_warn("sessions: a count of starts written behind was refused (%s), "
                         "dropping it",
                         msg ? msg : "?");
                metrics_add(sb->m.dropped, list_cut(&sb->inflight, 0));
        } else if (err == 0) {
                v = pgdb_res_value(res, 0, 0, NULL);
                metrics_add(sb->m.written, v ? strtoull(v, NULL, 10) : 0);
                list_cut(&sb->inflight, 0);
                if (sb->failing)
                        log_info("sessions: writing behind again, %zu count(s) queued",
                                 sb->queue.n);
                sb->failing = false;
        } else {
                /* An SQL error is some count's (none is expected: the statement leaves out
                 * counts whose references are gone): each goes again alone, so one cannot
                 * hold back the others for good. */
                if (err == -EPROTO) {
                        msg = res ? pgdb_res_message(res) : NULL;
                        log_warn("sessions: %zu count(s) written behind were refused (%s); "
                                 "sending them one at a time",
                                 n, msg ? msg : "?");
                        sb->singles = n;
                }
                put_back(sb);
                if (!sb->failing && err != -EPROTO)
                        log_warn("sessions: writing %zu count(s) behind failed (%s); retrying",
                                 sb->queue.n, pgdb_why(sb->db, err, res));
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

static void send_counts(struct session_behind *sb)
{
        struct count_list *q = &sb->queue, *f = &sb->inflight;
        size_t batch = sb->singles > 0 ? 1 : SESSION_BEHIND_BATCH, n, len = 2, o;
        char *text;
        int r;

        if (f->n || q->n == 0)
                return;
        n = q->n < batch ? q->n : batch;
        for (size_t i = 0; i < n; i++)
                len += q->items[i].len + sizeof(",\"n\":}") + 20;
        text = malloc(len + 1);
        if (!text || list_reserve(f, n) < 0) {
                free(text);
                arm(sb, SESSION_BEHIND_RETRY_MS);
                return;
        }
        /* The batch's array, then its counts move from the queue to the flight. */
        text[0] = '[';
        o = 1;
        for (size_t i = 0; i < n; i++) {
                if (i)
                        text[o++] = ',';
                memcpy(text + o, q->items[i].p, q->items[i].len);
                o += q->items[i].len;
                o += (size_t)snprintf(text + o, len + 1 - o, ",\"n\":%" PRIu64 "}", q->items[i].n);
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
        send_counts(sb);
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

/* The count's key as sluice_session_starts_add reads it, every member present (null when
 * absent), open for its count. */
static char *key_text(const struct session_behind_start *st, size_t *ret_len)
{
        struct json_write w;

        json_write_init(&w);
        json_write_lit(&w, "{\"title\":");
        json_write_cstr(&w, st->title);
        json_write_lit(&w, ",\"episode\":");
        json_write_cstr(&w, st->episode);
        json_write_lit(&w, ",\"asset\":");
        json_write_cstr(&w, st->asset);
        json_write_lit(&w, ",\"country\":");
        json_write_cstr(&w, st->country);
        json_write_lit(&w, ",\"region\":");
        json_write_cstr(&w, st->region);
        json_write_lit(&w, ",\"created\":");
        json_write_int(&w, st->created);
        return json_write_steal(&w, ret_len);
}

/* FNV-1a: a key is about a hundred bytes; the hash only spares most memcmp calls. */
static uint64_t key_hash(const char *key, size_t len)
{
        uint64_t h = 0xcbf29ce484222325ull;

        for (size_t i = 0; i < len; i++)
                h = (h ^ (unsigned char)key[i]) * 0x100000001b3ull;
        return h;
}

/* A count of the last few queued with this key (not one in flight: those are sent). */
static struct start_count *key_find(struct session_behind *sb, const char *key, size_t len,
                                    uint64_t hash)
{
        struct count_list *q = &sb->queue;
        size_t last = q->n > SESSION_BEHIND_MERGE ? q->n - SESSION_BEHIND_MERGE : 0;

        /* Counts sent one to a statement (after a refusal) are not added to. */
        if (last < sb->singles)
                last = sb->singles;
        for (size_t i = q->n; i-- > last;)
                if (q->items[i].hash == hash && q->items[i].len == len &&
                    memcmp(q->items[i].p, key, len) == 0)
                        return &q->items[i];
        return NULL;
}

int session_behind_add(struct session_behind *sb, const struct session_behind_start *s)
{
        struct start_count t, *same;

        t.p = key_text(s, &t.len);
        t.n = 1;
        if (!t.p)
                return -ENOMEM;
        t.hash = key_hash(t.p, t.len);
        same = key_find(sb, t.p, t.len, t.hash);
        if (same) {
                free(t.p);
                same->n++;
                return 0;
        }
        if (session_behind_depth(sb) >= SESSION_BEHIND_MAX) {
                free(t.p);
                metrics_add(sb->m.dropped, 1);
                return -ENOSPC;
        }
        if (list_reserve(&sb->queue, sb->queue.n + 1) < 0) {
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
                send_counts(sb);
        }
}
