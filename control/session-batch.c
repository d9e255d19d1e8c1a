/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "uring-loop.h"

#include "json-write.h"
#include "pgdb.h"
#include "server.h"
#include "session-batch.h"

/* An item waiting for the end of the iteration. */
struct sb_item {
        struct sb_item *next;
        json_t *item;
        session_batch_fn fn;
        void *userdata;
};

/* One statement: its items in the order of the array sent, which is the order of its rows. */
struct sb_sent {
        struct session_batch *sb;
        unsigned n;
        struct {
                json_t *item;
                session_batch_fn fn;
                void *userdata;
        } to[SESSION_BATCH_MAX];
};

struct session_batch {
        struct uring_loop *loop;
        struct pgdb *db;
        int stmt;
        struct metric *statements;
        struct sb_item *head, **tail; /* non-empty only while flush_timer is armed */
        struct uring_timer flush_timer;
};

static void sent_exec(struct sb_sent *s);

static void sent_free(struct sb_sent *s)
{
        for (unsigned i = 0; i < s->n; i++)
                json_decref(s->to[i].item);
        free(s);
}

/* Answer every item of s alike, then free s. */
static void sent_fail(struct sb_sent *s, int err, const char *state, const char *msg)
{
        for (unsigned i = 0; i < s->n; i++)
                s->to[i].fn(s->to[i].userdata, err, NULL, state, msg);
        sent_free(s);
}

/*
 * A statement error is no item's own (each item's errors are caught in its subtransaction),
 * so no item should pay for another's: each goes again in a statement of its own, where the
 * error, if it recurs, is its alone.
 */
static void sent_split(struct sb_sent *s)
{
        for (unsigned i = 0; i < s->n; i++) {
                struct sb_sent *one = calloc(1, sizeof(*one));
                if (!one) {
                        s->to[i].fn(s->to[i].userdata, -ENOMEM, NULL, NULL, NULL);
                        continue;
                }
                one->sb = s->sb;
                one->n = 1;
                one->to[0].item = json_incref(s->to[i].item);
                one->to[0].fn = s->to[i].fn;
                one->to[0].userdata = s->to[i].userdata;
                sent_exec(one);
        }
        sent_free(s);
}

static void sent_done(void *userdata, int err, const struct pgdb_res *res)
{
        struct sb_sent *s = userdata;

        /* A statement the database ran (its answer, or its error); not one that never reached
         * it (no connection, the queue's deadline). */
        if (err == 0 || err == -EPROTO)
                metrics_add(s->sb->statements, 1);
        if (err == -EPROTO && s->n > 1) {
                sent_split(s);
                return;
        }
        if (err < 0) {
                if (err == -EPROTO)
                        sent_fail(s, err, pgdb_res_sqlstate(res), pgdb_res_message(res));
                else
                        sent_fail(s, err, NULL, NULL);
                return;
        }
        for (unsigned i = 0; i < s->n; i++) {
                const char *n = pgdb_res_value(res, (int)i, 0, NULL);
                const char *answer = pgdb_res_value(res, (int)i, 1, NULL);
                const char *state = pgdb_res_value(res, (int)i, 2, NULL);
                const char *msg = pgdb_res_value(res, (int)i, 3, NULL);
                char *end;

                if (!n || strtoul(n, &end, 10) != i || *end)
                        s->to[i].fn(s->to[i].userdata, -EPROTO, NULL, "XX000",
                                    "session batch answer out of order");
                else if (answer)
                        s->to[i].fn(s->to[i].userdata, 0, answer, NULL, NULL);
                else
                        s->to[i].fn(s->to[i].userdata, -EPROTO, NULL, state ? state : "XX000",
                                    msg ? msg : "");
        }
        sent_free(s);
}

/* Send s as one statement; when that cannot be done, answer its items with why. */
static void sent_exec(struct sb_sent *s)
{
        struct session_batch *sb = s->sb;
        json_t *arr = json_array();
        char *text = NULL;
        int r = -ENOMEM;

        for (unsigned i = 0; arr && i < s->n; i++) {
                if (json_array_append(arr, s->to[i].item) < 0) {
                        json_decref(arr);
                        arr = NULL;
                }
        }
        if (arr)
                text = json_write_dumps(arr);
        json_decref(arr);
        if (text) {
                const char *params[] = {text};
                /* The parameter is copied; s belongs to sent_done from here on success. */
                r = pgdb_exec(sb->db, sb->stmt, params, 1, sent_done, s);
                free(text);
                if (r == 0)
                        return;
        }
        sent_fail(s, r, NULL, NULL);
}

static void on_flush(struct uring_loop *loop, struct uring_timer *t)
{
        struct session_batch *sb =
            (struct session_batch *)((char *)t - offsetof(struct session_batch, flush_timer));

        (void)loop;
        while (sb->head) {
                struct sb_sent *s = calloc(1, sizeof(*s));
                unsigned n = 0;

                while (sb->head && n < SESSION_BATCH_MAX) {
                        struct sb_item *it = sb->head;
                        sb->head = it->next;
                        if (!sb->head)
                                sb->tail = &sb->head;
                        if (s) {
                                s->to[n].item = it->item;
                                s->to[n].fn = it->fn;
                                s->to[n].userdata = it->userdata;
                                free(it);
                        } else {
                                /* The answer may add items: it is off the list first. */
                                struct sb_item one = *it;
                                free(it);
                                json_decref(one.item);
                                one.fn(one.userdata, -ENOMEM, NULL, NULL, NULL);
                        }
                        n++;
                }
                if (s) {
                        s->sb = sb;
                        s->n = n;
                        /* Answers (even at once, on a failed send) may add items: the loop
                         * takes them too. */
                        sent_exec(s);
                }
        }
}

int session_batch_new(struct uring_loop *loop, struct pgdb *db, int stmt, struct metric *statements,
                      struct session_batch **ret)
{
        struct session_batch *sb = calloc(1, sizeof(*sb));

        if (!sb)
                return -ENOMEM;
        sb->loop = loop;
        sb->db = db;
        sb->stmt = stmt;
        sb->statements = statements;
        sb->tail = &sb->head;
        uring_timer_init(&sb->flush_timer, on_flush);
        *ret = sb;
        return 0;
}

void session_batch_free(struct session_batch *sb)
{
        if (!sb)
                return;
        while (sb->head) {
                struct sb_item one = *sb->head;
                free(sb->head);
                sb->head = one.next;
                if (!sb->head)
                        sb->tail = &sb->head;
                json_decref(one.item);
                one.fn(one.userdata, -ECANCELED, NULL, NULL, NULL);
        }
        uring_timer_cancel(sb->loop, &sb->flush_timer);
        free(sb);
}

int session_batch_add(struct session_batch *sb, json_t *item, session_batch_fn fn, void *userdata)
{
        struct sb_item *it = malloc(sizeof(*it));

        if (!it) {
                json_decref(item);
                return -ENOMEM;
        }
        *it = (struct sb_item){.item = item, .fn = fn, .userdata = userdata};
        /* Due now: the timer runs after this iteration's completions, so every request read
         * in the iteration joins the statement. */
        if (!uring_timer_armed(&sb->flush_timer) &&
            uring_timer_arm(sb->loop, &sb->flush_timer, uring_loop_now_ms(sb->loop)) < 0) {
                /* Unarmed means nothing waits (the flush takes all): item would be alone. */
                json_decref(item);
                free(it);
                return -ENOMEM;
        }
        *sb->tail = it;
        sb->tail = &it->next;
        return 0;
}
