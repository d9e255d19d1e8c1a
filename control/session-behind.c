/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"
#include "uring-loop.h"

#include "json-write.h"
#include "pgdb.h"
#include "session-behind.h"

struct session_behind {
        struct uring_loop *loop;
        struct pgdb *db;
        int stmt;
        struct session_behind_metrics m;
        json_t *queue;    /* rows waiting, oldest first */
        json_t *inflight; /* rows of the statement in flight, or NULL */
        bool failing;     /* the last statement failed: the next waits RETRY_MS */
        size_t singles;   /* rows at the queue's front to send one to a statement */
        struct uring_timer timer;
};

static void depth_note(struct session_behind *sb)
{
        metrics_gauge_set(sb->m.depth, (int64_t)session_behind_depth(sb));
}

size_t session_behind_depth(const struct session_behind *sb)
{
        return json_array_size(sb->queue) + json_array_size(sb->inflight);
}

static void arm(struct session_behind *sb, uint64_t delay_ms)
{
        if (!uring_timer_armed(&sb->timer))
                (void)uring_timer_arm(sb->loop, &sb->timer, uring_loop_now_ms(sb->loop) + delay_ms);
}

static void send_rows(struct session_behind *sb);

static void sent_done(void *userdata, int err, const struct pgdb_res *res)
{
        struct session_behind *sb = userdata;
        json_t *rows = sb->inflight;
        const char *v, *msg;

        sb->inflight = NULL;
        if (sb->singles > 0)
                sb->singles--;
        if (err == -EPROTO && json_array_size(rows) == 1) {
                /* Refused alone: this row is the reason; the others go on. */
                msg = res ? pgdb_res_message(res) : NULL;
                log_warn("sessions: a row written behind was refused (%s), dropping it",
                         msg ? msg : "?");
                metrics_add(sb->m.dropped, 1);
                json_decref(rows);
        } else if (err == 0) {
                v = pgdb_res_value(res, 0, 0, NULL);
                metrics_add(sb->m.written, v ? strtoull(v, NULL, 10) : 0);
                json_decref(rows);
                if (sb->failing)
                        log_info("sessions: writing behind again, %zu row(s) queued",
                                 json_array_size(sb->queue));
                sb->failing = false;
        } else {
                /* Back in front, as far as room allows (the newest queued give way). */
                size_t room = SESSION_BEHIND_MAX - json_array_size(rows);
                size_t over =
                    json_array_size(sb->queue) > room ? json_array_size(sb->queue) - room : 0;
                for (size_t i = 0; i < over; i++)
                        (void)json_array_remove(sb->queue, json_array_size(sb->queue) - 1);
                metrics_add(sb->m.dropped, over);
                /* An SQL error is some row's (none is expected: the statement leaves out rows
                 * whose references are gone): each goes again alone, so one row cannot hold
                 * back the others for good. */
                if (err == -EPROTO) {
                        msg = res ? pgdb_res_message(res) : NULL;
                        log_warn("sessions: %zu row(s) written behind were refused (%s); "
                                 "sending them one at a time",
                                 json_array_size(rows), msg ? msg : "?");
                        sb->singles = json_array_size(rows);
                }
                if (json_array_extend(rows, sb->queue) == 0) {
                        json_decref(sb->queue);
                        sb->queue = rows;
                } else {
                        metrics_add(sb->m.dropped, json_array_size(rows));
                        json_decref(rows);
                }
                if (!sb->failing && err != -EPROTO)
                        log_warn("sessions: writing %zu row(s) behind failed (%s); retrying",
                                 json_array_size(sb->queue), strerror(-err));
                /* Unreachable or slow: wait before the next try. */
                if (err != -EPROTO)
                        sb->failing = true;
        }
        depth_note(sb);
        if (json_array_size(sb->queue) > 0)
                arm(sb, sb->failing ? SESSION_BEHIND_RETRY_MS
                        : sb->singles > 0 || json_array_size(sb->queue) >= SESSION_BEHIND_BATCH
                            ? 0
                            : SESSION_BEHIND_DELAY_MS);
}

static void send_rows(struct session_behind *sb)
{
        size_t n = json_array_size(sb->queue);
        json_t *rows, *rest;
        char *text;
        int r;

        if (sb->inflight || n == 0)
                return;
        size_t batch = sb->singles > 0 ? 1 : SESSION_BEHIND_BATCH;

        if (n <= batch) {
                rows = sb->queue;
                rest = json_array();
        } else {
                rows = json_array();
                rest = json_array();
                for (size_t i = 0; rows && rest && i < n; i++)
                        (void)json_array_append(i < batch ? rows : rest,
                                                json_array_get(sb->queue, i));
                if (rows && rest)
                        json_decref(sb->queue);
        }
        if (!rows || !rest) {
                if (rows != sb->queue)
                        json_decref(rows);
                json_decref(rest);
                arm(sb, SESSION_BEHIND_RETRY_MS);
                return;
        }
        sb->queue = rest;
        sb->inflight = rows;
        text = json_write_dumps(rows);
        if (!text) {
                sent_done(sb, -ENOMEM, NULL);
                return;
        }
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
        sb->queue = json_array();
        if (!sb->queue) {
                free(sb);
                return -ENOMEM;
        }
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
        json_decref(sb->queue);
        json_decref(sb->inflight);
        free(sb);
}

int session_behind_add(struct session_behind *sb, json_t *row)
{
        size_t n;

        if (session_behind_depth(sb) >= SESSION_BEHIND_MAX) {
                json_decref(row);
                metrics_add(sb->m.dropped, 1);
                return -ENOSPC;
        }
        if (json_array_append_new(sb->queue, row) < 0)
                return -ENOMEM;
        n = json_array_size(sb->queue);
        depth_note(sb);
        if (!sb->inflight && n >= SESSION_BEHIND_BATCH && !sb->failing) {
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
        if (!sb->inflight && !sb->failing && json_array_size(sb->queue) > 0) {
                uring_timer_cancel(sb->loop, &sb->timer);
                send_rows(sb);
        }
}
