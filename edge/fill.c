/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "fnv.h"
#include "hex.h"
#include "http-resp.h"
#include "log.h"
#include "metrics.h"

#include "edge-cfg.h"
#include "evict.h"
#include "fill.h"
#include "miss.h"
#include "plan-sums.h"
#include "runtime.h"
#include "serve-plan.h"
#include "store.h"
#include "upstream-head.h"
#include "upstream.h"
#include "worker.h"

#define TABLE_BUCKETS 1024 /* in-flight fills; chains are short: fills are few at a time */
#define NEG_SLOTS     4096 /* negative cache, direct-mapped by key hash */
#define FRESH_SLOTS   4096 /* short-lived keys filled or revalidated lately, the same way */

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fill *table[TABLE_BUCKETS];
static uint64_t table_fills; /* fills in the table, under table_lock (cache.max_fills) */

/* A 64-bit hash stands for the key: a collision would only turn a miss into a brief 404. */
static struct {
        uint64_t hash;
        uint64_t expires_ms;
} neg[NEG_SLOTS];

/* Until when a short-lived key (a manifest) stays fresh, by key hash: a collision at worst
 * makes one revalidation early. */
static struct {
        uint64_t hash;
        uint64_t until_ms;
} fresh_until[FRESH_SLOTS];

static uint64_t now_ms(void)
{
        return uring_loop_clock_us() / 1000;
}

/* The whole seconds since key's copy was made (noted at until - max-age), -1 when key is
 * not in the table; fresh_only: -1 as well once it is past its max-age. */
static int64_t noted_age_s(const char *key, size_t key_len, bool fresh_only)
{
        uint64_t h = key_hash64(key, key_len), now = now_ms(), until;
        bool hit;

        pthread_mutex_lock(&table_lock);
        until = fresh_until[h % FRESH_SLOTS].until_ms;
        hit = fresh_until[h % FRESH_SLOTS].hash == h && until && (!fresh_only || until > now);
        pthread_mutex_unlock(&table_lock);
        if (!hit)
                return -1;
        /* until >= max-age + 1 (fresh_note): the note's time is never 0. */
        return now > until - SERVE_MANIFEST_MAX_AGE_MS
                       ? (int64_t)((now - (until - SERVE_MANIFEST_MAX_AGE_MS)) / 1000)
                       : 0;
}

int64_t fill_age_s(const char *key, size_t key_len)
{
        return noted_age_s(key, key_len, false);
}

bool fill_fresh(const char *key, size_t key_len)
{
        return noted_age_s(key, key_len, true) >= 0;
}

int64_t fill_answer_age_s(const struct fill *f)
{
        uint64_t now = now_ms();

        if (!f->made_ms)
                return -1;
        return now > f->made_ms ? (int64_t)((now - f->made_ms) / 1000) : 0;
}

/* When the head of an upstream answer with Age age (-1: none) came in now: the time its
 * copy was made, 0 for none (never 0 otherwise). */
static uint64_t made_at(int64_t age)
{
        uint64_t now = now_ms(), a = (uint64_t)age * 1000;

        if (age < 0)
                return 0;
        return now > a ? now - a : 1;
}

/*
 * f's key was just filled or revalidated: fresh for its max-age, when it has a short one,
 * counted from when the upstream's copy was made (its Age: a parent's copy a second old is
 * fresh here for one second more, not two, and a chain of caches never adds up staleness).
 */
static void fresh_note(const struct fill *f)
{
        uint64_t made;

        if (!serve_key_short_lived(f->key, f->key_len))
                return;
        made = f->made_ms ? f->made_ms : now_ms();
        if (!made)
                made = 1;
        pthread_mutex_lock(&table_lock);
        fresh_until[f->hash % FRESH_SLOTS].hash = f->hash;
        fresh_until[f->hash % FRESH_SLOTS].until_ms = made + SERVE_MANIFEST_MAX_AGE_MS;
        pthread_mutex_unlock(&table_lock);
}

bool fill_negative(const char *key, size_t key_len)
{
        uint64_t h = key_hash64(key, key_len);
        bool hit;

        pthread_mutex_lock(&table_lock);
        hit = neg[h % NEG_SLOTS].hash == h && neg[h % NEG_SLOTS].expires_ms > now_ms();
        pthread_mutex_unlock(&table_lock);
        return hit;
}

static void negative_add(uint64_t h, uint64_t ttl_ms)
{
        if (!ttl_ms)
                return;
        pthread_mutex_lock(&table_lock);
        neg[h % NEG_SLOTS].hash = h;
        neg[h % NEG_SLOTS].expires_ms = now_ms() + ttl_ms;
        pthread_mutex_unlock(&table_lock);
}

void fill_drop_commit(const char *key, size_t key_len)
{
        uint64_t h = key_hash64(key, key_len);

        pthread_mutex_lock(&table_lock);
        for (struct fill *f = table[h % TABLE_BUCKETS]; f; f = f->hnext)
                if (f->hash == h && f->key_len == key_len && !memcmp(f->key, key, key_len))
                        atomic_store(&f->dropped, true);
        pthread_mutex_unlock(&table_lock);
}

void fill_watch(struct fill *f, unsigned idx)
{
        if (idx < 64)
                atomic_fetch_or(&f->workers_mask, 1ull << idx);
}

void fill_unref(struct fill *f)
{
        if (!f || atomic_fetch_sub(&f->refs, 1) != 1)
                return;
        if (f->rfd >= 0)
                (void)close(f->rfd);
        store_put_abort(f->put);
        edge_runtime_put(f->rt);
        free(f->key);
        free(f);
}

uint64_t fill_avail(struct fill *f)
{
        enum fill_state st = fill_state_get(f);
        uint64_t w;

        /* The size is the owner's until the state leaves FILL_PENDING: a waiter on another
         * worker (a miss-wait deadline) may look before the head. Nothing is written yet. */
        if (st == FILL_PENDING)
                return 0;
        if (st == FILL_DONE)
                return f->size;
        w = atomic_load_explicit(&f->written, memory_order_acquire);
        return f->size && w >= f->size ? f->size - 1 : w;
}

static void etag_from_hex(const char *hex, char *out)
{
        out[0] = '"';
        for (int i = 0; i < 16; i++)
                out[1 + i] = (char)tolower((unsigned char)hex[i]);
        out[17] = '"';
        out[18] = '\0';
}

bool fill_etag(struct fill *f, char *out)
{
        if (f->has_sha) {
                etag_from_hex(f->sha_hex, out);
                return true;
        }
        if (fill_state_get(f) == FILL_DONE && f->done_etag[0]) {
                memcpy(out, f->done_etag, FILL_ETAG_LEN + 1);
                return true;
        }
        return false;
}

/* Wake every worker with waiters on f. */
static void kick(struct fill *f)
{
        struct edge_server *srv = f->owner->srv;
        uint64_t mask = atomic_load(&f->workers_mask);

        for (unsigned i = 0; mask && i < srv->n_workers && i < 64; i++)
                if (mask & (1ull << i))
                        miss_notify(&srv->workers[i]);
}

static void table_remove(struct fill *f)
{
        struct fill **pp;

        pthread_mutex_lock(&table_lock);
        for (pp = &table[f->hash % TABLE_BUCKETS]; *pp; pp = &(*pp)->hnext)
                if (*pp == f) {
                        *pp = f->hnext;
                        break;
                }
        f->in_table = false;
        table_fills--;
        pthread_mutex_unlock(&table_lock);
}

/* The end of a fill: out of the table first (new requests go to the store), then tell. */
static void finish(struct fill *f, enum fill_state st)
{
        struct edge_metrics *m = &f->owner->srv->m;

        if (f->in_table) {
                table_remove(f);
                fill_unref(f); /* the table's reference */
        }
        atomic_store_explicit(&f->state, (int)st, memory_order_release);
        metrics_add(f->too_large         ? m->fills_too_large
                    : f->store_full      ? m->fills_store_full
                    : f->superseded      ? m->fills_superseded
                    : st == FILL_DONE    ? m->fills_ok
                    : st == FILL_FRESH   ? m->fills_not_modified
                    : st == FILL_MISSING ? m->fills_missing
                                         : m->fills_failed,
                    1);
        kick(f);
        fill_unref(f); /* the fetch's reference */
}

static bool hex64(const char *s)
{
        if (!s || strlen(s) != 64)
                return false;
        for (const char *p = s; *p; p++)
                if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
                      (*p >= 'A' && *p <= 'F')))
                        return false;
        return true;
}

static unsigned n_upstreams(const struct fill *f)
{
        return (unsigned)f->rt->cfg->upstreams.n;
}

static bool is_parent(const struct fill *f, unsigned idx)
{
        return idx + 1 < n_upstreams(f);
}

static const char *up_url(const struct fill *f, unsigned idx)
{
        return ((const struct edge_cfg_upstream *)f->rt->cfg->upstreams.items)[idx].url;
}

const char *fill_upstream_url(const struct fill *f)
{
        return f->rt && f->upstream_idx < n_upstreams(f) ? up_url(f, f->upstream_idx) : NULL;
}

/* r is an open that found the descriptor table full, and an idle cached file of the owner's
 * made room for another try. */
static bool fds_freed(const struct fill *f, int r)
{
        return (r == -EMFILE || r == -ENFILE) && f->owner->reader &&
               store_reader_shed(f->owner->reader, 1) == 1;
}

struct put_args {
        struct fill *f;
        uint64_t size;
        const char *ctype;
};

/* store_put_begin, making room in the descriptor table as it needs (evict_put_begin's begin). */
static int put_begin(void *ud)
{
        const struct put_args *a = ud;
        struct fill *f = a->f;
        int r;

        do {
                r = store_put_begin(f->owner->srv->store, f->key, f->key_len, a->size,
                                    f->has_sha ? f->sha_hex : NULL, a->ctype, &f->put);
        } while (fds_freed(f, r));
        return r;
}

/* A full disk refuses every miss: its warnings, per worker, at most this many a second (the
 * rest are summed up; all are counted as store_full). */
#define FILL_LOGS_PER_S 10
static _Thread_local struct log_budget begin_failures;
/* Every request for a path the upstream lacks, and every miss during an origin outage, fails a
 * fill: their lines are budgeted, or a client asking for random paths floods the log. */
static _Thread_local struct log_budget upstream_failures;
#define UPSTREAM_FAILURES "fills failed by their upstream"

static int on_head(void *ud, const struct upstream_resp *resp)
{
        struct fill *f = ud;
        const char *ctype = resp->content_type;
        char plan_hex[65];
        bool refused =
            (resp->status == 401 || resp->status == 403) && is_parent(f, f->upstream_idx);
        /* A parent's 5xx whose own Cache-Status entry says what its upstream answered
         * (fwd-status) passes that answer about this object on: the parent did its part, as
         * when it answers 404. Marked down for it, one object the origin fails would send
         * every miss past the parent for as long as players ask for that object. */
        bool relayed = resp->status >= 500 && is_parent(f, f->upstream_idx) &&
                       upstream_head_fwd_status(resp->cache_status) != 0;
        int r, fd;

        /* A parent refusing our peer token is as unusable as a down one, and stays so until
         * its config or ours changes: marked down, so misses skip it while it backs off. A
         * 200's verdict waits for its body (on_done): one that breaks off is no answer. */
        if (resp->status != 200 || refused)
                upstream_health_report(f->upstream_idx, up_url(f, f->upstream_idx),
                                       (resp->status < 500 || relayed) && !refused);
        if (resp->status == 404 || resp->status == 410) {
                f->verdict = 404;
                f->gone_status = resp->status;
                return -1;
        }
        if (resp->status == 304 && f->reval) {
                /* The stored copy is current; a 304 has no body (on_done ends the fill). */
                f->made_ms = made_at(resp->age);
                f->verdict = 304;
                return 0;
        }
        if (refused) {
                metrics_add(f->owner->srv->m.parent_refusals, 1);
                f->retry = true;
                f->verdict = 502;
                log_warn("fill %.*s: parent %s answered %ld: it does not accept our peer token "
                         "(upstreams[%u].token_file against its tokens.peer_token_file); "
                         "trying the next upstream",
                         (int)f->key_len, f->key, up_url(f, f->upstream_idx), resp->status,
                         f->upstream_idx);
                return -1;
        }
        if (resp->status != 200) {
                /* 5xx from a parent: the origin may still answer. Nothing else is retried. */
                if (resp->status >= 500)
                        metrics_add(f->owner->srv->m.upstream_failures, 1);
                f->retry = resp->status >= 500 && is_parent(f, f->upstream_idx);
                f->verdict = 502;
                f->answered_status = (int)resp->status;
                if (log_budget_take(&upstream_failures, FILL_LOGS_PER_S, UPSTREAM_FAILURES))
                        log_info("fill %.*s: upstream %s answered %ld%s", (int)f->key_len,
                                 f->key, up_url(f, f->upstream_idx), resp->status,
                                 relayed ? " (its own upstream's answer: not marked down)" : "");
                return -1;
        }
        if (resp->content_coding) {
                /* The edge asked for identity: coded bytes stored as the object would go to
                 * every client as the object, without the coding named. */
                f->verdict = 502;
                f->answered_status = 200;
                log_warn("fill %.*s: upstream %s sent Content-Encoding %s where identity was "
                         "asked for, refusing",
                         (int)f->key_len, f->key, up_url(f, f->upstream_idx), resp->content_coding);
                return -1;
        }
        if (resp->content_length < 0) {
                /* Without a length the commit could not tell a whole body from a cut one. */
                f->verdict = 502;
                f->answered_status = 200;
                log_info("fill %.*s: upstream %s sent no Content-Length, refusing",
                         (int)f->key_len, f->key, up_url(f, f->upstream_idx));
                return -1;
        }
        /* A key whose extension the edge maps gets that type, as an admin PUT's does: origins
         * often send application/octet-stream for manifests and subtitles, which players and
         * browsers refuse (a <track> needs text/vtt). */
        if (ctype && (strlen(ctype) >= sizeof(f->ctype) || !*ctype ||
                      http_content_type_mapped(f->key, f->key_len)))
                ctype = NULL;
        f->has_sha = hex64(resp->sha256_hex);
        if (f->has_sha)
                memcpy(f->sha_hex, resp->sha256_hex, 65);
        if (plan_sums_lookup(f->owner->srv, f->key, f->key_len, plan_hex)) {
                /* The catalog's value is the one that counts. */
                if (f->has_sha && strcasecmp(f->sha_hex, plan_hex) != 0)
                        log_warn("fill %.*s: upstream %s names another SHA-256 than the fill "
                                 "plan; checking the plan's",
                                 (int)f->key_len, f->key, up_url(f, f->upstream_idx));
                memcpy(f->sha_hex, plan_hex, 65);
                f->has_sha = true;
                f->plan_checked = true;
                metrics_add(f->owner->srv->m.plan_checked, 1);
        }
        /* Room made by the eviction policy as needed; an object over the whole budget is
         * refused without touching what the cache holds. */
        r = evict_put_begin(f->owner->srv, (uint64_t)resp->content_length, f->owner, put_begin,
                            &(struct put_args){f, (uint64_t)resp->content_length, ctype});
        if (r == -EFBIG) {
                f->put = NULL;
                f->verdict = 503;
                f->answered_status = 200;
                f->too_large = true;
                f->retry = false; /* no upstream would make it fit */
                log_warn("fill %.*s: %lld bytes is more than cache.max_size, refusing",
                         (int)f->key_len, f->key, (long long)resp->content_length);
                return -1;
        }
        if (r < 0) {
                /* Our disk or budget, not the upstream: 503, and the upstream stays healthy. */
                f->put = NULL;
                f->verdict = r == -ENOSPC ? 503 : 502;
                f->store_full = r == -ENOSPC;
                if (log_budget_take(&begin_failures, FILL_LOGS_PER_S, "fills that could not "
                                                                    "begin a store put"))
                        log_warn("fill %.*s: cannot begin a store put: %s", (int)f->key_len,
                                 f->key, strerror(-r));
                return -1;
        }
        do {
                fd = store_put_open_read(f->put);
        } while (fds_freed(f, fd));
        if (fd < 0) {
                f->verdict = 502;
                return -1;
        }
        f->rfd = fd;
        f->size = (uint64_t)resp->content_length;
        f->from_parent = is_parent(f, f->upstream_idx);
        /* Kept as the object's Last-Modified, so hits and children answer with the same. An
         * upstream whose clock runs ahead is taken at now (RFC 9110 §8.8.2.1): the date
         * shown then stays the same from answer to answer, and a client's If-Modified-Since,
         * If-Unmodified-Since or If-Range with it is judged against the date it was shown.
         * (Only shown clamped, it moved on with the clock and conditions were judged
         * against the upstream's: If-Unmodified-Since with the date shown got 412.) */
        f->made_ms = made_at(resp->age);
        f->last_modified = resp->last_modified;
        if (f->last_modified > 0 && f->last_modified > http_now_sec())
                f->last_modified = http_now_sec();
        store_put_set_mtime(f->put, f->last_modified);
        /* An admin PUT or DELETE of the key while this fill runs is the newer word. */
        store_put_if_unchanged(f->put, f->base_known ? &f->base_file : NULL, &f->dropped);
        (void)snprintf(f->ctype, sizeof(f->ctype), "%s",
                       ctype ? ctype : "");
        if (resp->cache_status && strlen(resp->cache_status) < sizeof(f->upstream_status))
                memcpy(f->upstream_status, resp->cache_status, strlen(resp->cache_status) + 1);
        atomic_store_explicit(&f->state, FILL_BODY, memory_order_release);
        kick(f);
        return 0;
}

static int on_body(void *ud, const char *buf, size_t len)
{
        struct fill *f = ud;
        struct edge_metrics *m = &f->owner->srv->m;
        int r;

        if (!f->put)
                return -1;
        r = store_put_write(f->put, buf, len);
        if (r < 0) {
                log_warn("fill %.*s: store write failed: %s", (int)f->key_len, f->key,
                         strerror(-r));
                return -1;
        }
        atomic_fetch_add_explicit(&f->written, len, memory_order_release);
        metrics_add(f->from_parent ? m->upstream_bytes_parent : m->upstream_bytes_origin, len);
        kick(f);
        return 0;
}

static void on_done(void *ud, int err);

static const struct upstream_cbs fill_cbs = {
    .on_head = on_head,
    .on_body = on_body,
    .on_done = on_done,
};

/* Start the fetch at the first usable upstream from idx. Returns 0 or -errno. */
static int start_from(struct fill *f, unsigned idx, bool fresh)
{
        unsigned n = n_upstreams(f);
        int r = -ENOENT;

        for (; idx < n; idx++) {
                const struct edge_cfg_upstream *u =
                    (const struct edge_cfg_upstream *)f->rt->cfg->upstreams.items + idx;
                struct upstream_cond cond = {.if_modified_since = f->reval_with.last_modified};

                /* The origin is always tried: there is nothing behind it to prefer. */
                if (idx + 1 < n && !upstream_health_usable(idx, u->url))
                        continue;
                if (idx != f->upstream_idx)
                        f->fresh_tried = false;
                f->upstream_idx = idx;
                f->verdict = 0;
                f->answered_status = 0;
                f->retry = false;
                /* The edge's tag means something only to an edge: a parent. An origin's tags
                 * are its own, and one that matches nothing would make it ignore
                 * If-Modified-Since (RFC 9110 §13.1.3). */
                if (idx + 1 < n && f->reval_with.etag[0])
                        cond.if_none_match = f->reval_with.etag;
                r = upstream_fetch_start(f->owner->up, u, f->rt->upstream_bearer[idx], f->key,
                                         f->key_len, fresh, f->reval ? &cond : NULL, &fill_cbs,
                                         f);
                if (r == 0)
                        return 0;
        }
        return r;
}

/*
 * A fill plan that arrived while the body was on its way may name the key: its SHA-256 is then
 * the one the commit checks, as it would have been from the head. The waiters' last byte is
 * still held back, so a body the plan refuses never looks whole to them.
 */
static void plan_check_late(struct fill *f)
{
        char plan_hex[65];

        if (f->plan_checked || !plan_sums_lookup(f->owner->srv, f->key, f->key_len, plan_hex))
                return;
        if (store_put_expect(f->put, plan_hex) != 0)
                return; /* plan-sums.c keeps only 64 hex digits */
        log_info("fill %.*s: the fill plan named it during the fill; checking the plan's SHA-256",
                 (int)f->key_len, f->key);
        metrics_add(f->owner->srv->m.plan_checked, 1);
}

/* What the commit of f's whole body came to (c->r, as store_put_commit_id's). */
static void commit_done(struct fill *f, const struct store_commit *c)
{
        char hex[65];
        int r = c->r;

        f->put = NULL;
        if (r == 0 || r == -ENOSPC || r == -ECANCELED)
                etag_from_hex(hex_encode(c->sha256, 32, hex), f->done_etag);
        /* An admin DELETE of the key came during the fill (fill_drop_commit): the commit does
         * not stand. Made after the DELETE marked the fill, the index refused it (-ECANCELED);
         * made before, the DELETE's own transaction removed it, or this does. */
        if (r == 0 && atomic_load(&f->dropped)) {
                (void)store_delete_file(f->owner->srv->store, f->key, f->key_len, c->file_id);
                r = -ECANCELED;
        }
        if (r == 0) {
                /* Declined by admission: served from the temp file, not kept. */
                (void)evict_note_fill(f->owner->srv, f->key, f->key_len, f->size, c->file_id,
                                      false);
                fresh_note(f);
                finish(f, FILL_DONE);
                return;
        }
        if (r == -ENOSPC) {
                /* The body is whole and its SHA-256 checked (the commit verifies before it
                 * writes), but the disk or the index is full: the readers' fd still holds the
                 * bytes, so they are served, and nothing is kept. */
                log_warn("fill %.*s: the store is full, served without keeping it",
                         (int)f->key_len, f->key);
                f->store_full = true;
                finish(f, FILL_DONE);
                return;
        }
        if (r == -ECANCELED) {
                /* The key was pushed or deleted through the admin API during the fill: what
                 * it holds now (or its absence) stands. The waiters get the whole body. */
                log_info("fill %.*s: the key changed during the fill, served without keeping it",
                         (int)f->key_len, f->key);
                f->superseded = true;
                finish(f, FILL_DONE);
                return;
        }
        log_warn("fill %.*s: commit refused: %s", (int)f->key_len, f->key,
                 r == -EBADMSG ? "length or SHA-256 mismatch" : strerror(-r));
        finish(f, FILL_FAILED);
}

/*
 * The commits of n whole bodies as one group (store_put_commit_many), on the committer thread
 * (or a fill's owner, failing that: then n is 1).
 */
static void commit_run(struct fill **fs, size_t n)
{
        struct store_commit c[STORE_COMMIT_MAX];

        for (size_t i = 0; i < n; i++) {
                plan_check_late(fs[i]);
                c[i] = (struct store_commit){.put = fs[i]->put};
        }
        store_put_commit_many(c, n);
        metrics_add(fs[0]->owner->srv->m.fill_commits, n);
        metrics_add(fs[0]->owner->srv->m.fill_commit_groups, 1);
        for (size_t i = 0; i < n; i++)
                commit_done(fs[i], &c[i]);
}

bool fill_in_flight(struct fill *f, uint64_t now_ms)
{
        uint64_t until;

        if (fill_state_get(f) != FILL_BODY)
                return false;
        until = atomic_load(&f->commit_until_ms);
        if (!until || now_ms < until)
                return true;
        if (!atomic_exchange(&f->commit_overdue, true)) {
                log_warn("fill %.*s: its commit has run past limits.commit_timeout (a stalled "
                         "disk?): the answers waiting on it are closed at their send deadline",
                         (int)f->key_len, f->key);
                metrics_add(f->owner->srv->m.fill_commits_overdue, 1);
        }
        return false;
}

/*
 * Commits run on a thread of their own: fsync, rename and LMDB's fdatasync take milliseconds
 * that the owning worker would otherwise spend not serving anyone — the heads of the fill's
 * own waiters included, when the body arrived in one read. Started at the first commit. The
 * bodies that became whole while a group was committing are the next group: one LMDB commit
 * and one sync of each directory for all of them (store_put_commit_many).
 */
static pthread_mutex_t commit_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t commit_cond = PTHREAD_COND_INITIALIZER;
static pthread_cond_t commit_idle = PTHREAD_COND_INITIALIZER;
static struct fill *commit_head, **commit_tail = &commit_head;
static unsigned commit_pending;
static bool commit_started;

static void *committer(void *arg)
{
        (void)arg;
        pthread_mutex_lock(&commit_lock);
        for (;;) {
                struct fill *fs[STORE_COMMIT_MAX];
                size_t n = 0;

                while (!commit_head)
                        pthread_cond_wait(&commit_cond, &commit_lock);
                /* Whatever queued while the last group ran is the next group. */
                while (commit_head && n < STORE_COMMIT_MAX) {
                        fs[n++] = commit_head;
                        commit_head = commit_head->cnext;
                }
                if (!commit_head)
                        commit_tail = &commit_head;
                pthread_mutex_unlock(&commit_lock);
                commit_run(fs, n);
                pthread_mutex_lock(&commit_lock);
                commit_pending -= (unsigned)n;
                if (commit_pending == 0)
                        pthread_cond_broadcast(&commit_idle);
        }
        return NULL;
}

/* Hand f's commit to the committer thread. False when it cannot be started. */
static bool commit_queue(struct fill *f)
{
        pthread_mutex_lock(&commit_lock);
        if (!commit_started) {
                pthread_t t;
                /* It inherits the worker's signal mask: signals stay with the main thread. */
                if (pthread_create(&t, NULL, committer, NULL) != 0) {
                        pthread_mutex_unlock(&commit_lock);
                        return false;
                }
                (void)pthread_detach(t);
                commit_started = true;
        }
        f->cnext = NULL;
        *commit_tail = f;
        commit_tail = &f->cnext;
        commit_pending++;
        pthread_cond_signal(&commit_cond);
        pthread_mutex_unlock(&commit_lock);
        return true;
}

void fill_commits_drain(void)
{
        pthread_mutex_lock(&commit_lock);
        while (commit_pending)
                pthread_cond_wait(&commit_idle, &commit_lock);
        pthread_mutex_unlock(&commit_lock);
}

static void on_done(void *ud, int err)
{
        struct fill *f = ud;
        enum fill_state st = fill_state_get(f);
        struct edge_metrics *m = &f->owner->srv->m;

        if (st == FILL_PENDING) {
                if (f->verdict == 304 && err == 0) {
                        fresh_note(f);
                        finish(f, FILL_FRESH);
                        return;
                }
                if (f->verdict == 404) {
                        negative_add(f->hash, (uint64_t)f->rt->cfg->cache.negative_ttl_ms);
                        finish(f, FILL_MISSING);
                        return;
                }
                if (f->verdict == 0 && err == -ECANCELED) {
                        /* The worker's teardown cancelled it: no retry, and the upstream did
                         * nothing wrong. */
                        finish(f, FILL_FAILED);
                        return;
                }
                if (f->verdict == 0 && !f->fresh_tried && err == -EPIPE) {
                        /* A pooled connection the upstream had closed, or one left out of
                         * step by an earlier over-long body: once more on a new one (a new
                         * one that failed so was the upstream's own answer). */
                        f->fresh_tried = true;
                        if (start_from(f, f->upstream_idx, true) == 0)
                                return;
                }
                if (f->verdict == 0) {
                        /* No head at all: connect error, timeout, reset. */
                        upstream_health_report(f->upstream_idx, up_url(f, f->upstream_idx),
                                               false);
                        metrics_add(m->upstream_failures, 1);
                        if (log_budget_take(&upstream_failures, FILL_LOGS_PER_S,
                                            UPSTREAM_FAILURES))
                                log_info("fill %.*s: upstream %s failed: %s", (int)f->key_len,
                                         f->key, up_url(f, f->upstream_idx), strerror(-err));
                        f->retry = is_parent(f, f->upstream_idx);
                }
                if (f->retry && start_from(f, f->upstream_idx + 1, false) == 0)
                        return;
                finish(f, FILL_FAILED);
                return;
        }
        if (err == 0 && atomic_load(&f->written) == f->size) {
                upstream_health_report(f->upstream_idx, up_url(f, f->upstream_idx), true);
                atomic_store(&f->commit_until_ms, uring_loop_clock_us() / 1000u +
                                                          f->owner->limits.commit_timeout_ms);
                if (!commit_queue(f))
                        commit_run(&f, 1);
                return;
        }
        if (log_budget_take(&upstream_failures, FILL_LOGS_PER_S, UPSTREAM_FAILURES))
                log_info("fill %.*s: body from %s broke off at %llu of %llu bytes: %s",
                         (int)f->key_len, f->key, up_url(f, f->upstream_idx),
                         (unsigned long long)atomic_load(&f->written), (unsigned long long)f->size,
                         strerror(-err));
        /* The upstream's doing (a reset, a close short of its length, a low-speed timeout),
         * not ours (-ECANCELED: our store or teardown): a parent that cuts bodies off is marked
         * down as one that sends no head is, so that the next misses skip it. */
        if (err != -ECANCELED && err != 0) {
                upstream_health_report(f->upstream_idx, up_url(f, f->upstream_idx), false);
                metrics_add(m->upstream_failures, 1);
        }
        store_put_abort(f->put);
        f->put = NULL;
        finish(f, FILL_FAILED);
}

bool fill_room_to_spare(const struct edge_worker *w)
{
        uint64_t max = (uint64_t)w->rt->cfg->cache.max_fills;
        bool room;

        if (w->rt->cfg->cache.max_fills <= 0) /* 0: a configuration built by hand */
                return true;
        pthread_mutex_lock(&table_lock);
        room = table_fills + 1 < max;
        pthread_mutex_unlock(&table_lock);
        return room;
}

int fill_get(struct edge_worker *w, const char *key, size_t key_len, struct fill **ret,
             bool *ret_created)
{
        return fill_get_reval(w, key, key_len, NULL, ret, ret_created);
}

int fill_get_reval(struct edge_worker *w, const char *key, size_t key_len,
                   const struct fill_reval *rv, struct fill **ret, bool *ret_created)
{
        uint64_t h = key_hash64(key, key_len);
        struct fill *f;

        *ret_created = false;
        pthread_mutex_lock(&table_lock);
        if (neg[h % NEG_SLOTS].hash == h && neg[h % NEG_SLOTS].expires_ms > now_ms()) {
                pthread_mutex_unlock(&table_lock);
                return -ENOENT;
        }
        for (f = table[h % TABLE_BUCKETS]; f; f = f->hnext)
                if (f->hash == h && f->key_len == key_len && !memcmp(f->key, key, key_len)) {
                        atomic_fetch_add(&f->refs, 1);
                        pthread_mutex_unlock(&table_lock);
                        *ret = f;
                        return 0;
                }
        /* The caller's store lookup missed, but a fill may have committed and left the table
         * since: commits land in the index before their fill leaves the table (finish()), so
         * with the lock held, "not in the table" and "not in the index" together mean no
         * fill has this key. Without this look a second upstream fetch would start. */
        uint64_t base_file = 0;
        bool present = w->reader && store_file_of(w->reader, key, key_len, &base_file);
        if (!rv && present) {
                pthread_mutex_unlock(&table_lock);
                return -EEXIST;
        }
        if (w->rt->cfg->cache.max_fills > 0 && /* 0: a configuration built by hand */
            table_fills >= (uint64_t)w->rt->cfg->cache.max_fills) {
                pthread_mutex_unlock(&table_lock);
                return -EBUSY;
        }
        f = calloc(1, sizeof(*f));
        if (f)
                f->key = malloc(key_len + 1);
        if (!f || !f->key) {
                pthread_mutex_unlock(&table_lock);
                if (f)
                        free(f);
                return -ENOMEM;
        }
        memcpy(f->key, key, key_len);
        f->key[key_len] = '\0';
        f->key_len = key_len;
        f->hash = h;
        f->rfd = -1;
        /* What the key names now is what the commit must still find: an admin PUT from here
         * on, even one that lands while the upstream's head is awaited, is the newer word. */
        f->base_known = w->reader != NULL;
        f->base_file = base_file;
        if (rv) {
                f->reval = true;
                f->reval_with = *rv;
        }
        f->owner = w;
        f->rt = edge_runtime_ref(w->rt); /* the fill may outlast the worker's snapshot */
        atomic_init(&f->refs, 3); /* the table, the fetch, the caller */
        atomic_init(&f->state, FILL_PENDING);
        f->in_table = true;
        table_fills++;
        f->hnext = table[h % TABLE_BUCKETS];
        table[h % TABLE_BUCKETS] = f;
        pthread_mutex_unlock(&table_lock);

        *ret = f;
        *ret_created = true;
        if (start_from(f, 0, false) < 0)
                finish(f, FILL_FAILED);
        return 0;
}
