/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "log.h"
#include "mono-time.h"

#include "fetch.h"
#include "journal.h"
#include "metrics-file.h"
#include "run.h"
#include "survey.h"
#include "transfer.h"
#include "window.h"

enum edge_state { E_ACTIVE, E_OUTSIDE, E_ERROR };

/* The part of an edge's survey its thread is at (survey_thread). */
enum survey_step { STEP_NONE, STEP_PLAN, STEP_HOLD, STEP_REFRESH };

struct run_edge {
        struct survey s;
        enum edge_state state;
        int rc;
        bool has_window, opened, closed;
        struct window w;
        const char *tz;
        struct journal *journal;
        int lock_fd; /* the edge's run lock (journal_lock), or -1 */
        const struct plan_obj **queue;
        const struct diff_item **queue_items; /* queue[i]'s diff item: its victims */
        size_t n_queue;
        struct transfer_edge *te;
        bool wait_mode;
        int64_t gate_at_ns; /* when gate() last looked at the clock */
        enum transfer_gate gate_last;
        struct survey_retry retry; /* for control and the edge's listing (retry_set) */
        bool reported;             /* its rc is its outcome (report_edge) */
        /* The survey runs in a thread of its own, one step at a time, so that an edge whose
         * control or listing is retried holds up no other; between steps, and for anything
         * touching the window (the zone switch is process-wide), the transfer loop's thread
         * takes over (advance). step_done is set by the thread as it ends, step_r its
         * result. */
        const struct fill_opts *o;
        pthread_t thread;
        enum survey_step step;
        int step_r, step_done;
        bool listed;                 /* plan and listing in */
        bool waited;                 /* it waited for its window: listed again when it opens */
        struct transfer_edge *slot;  /* its place on the transfer loop; te once queued */
};

/* What the transfer loop's tick (advance_all) works on. */
struct run {
        const struct fill_opts *o;
        struct run_edge *res;
        size_t n;
        struct progress *prog;
        struct progress_edge *pes; /* one per queued edge, in the order they were queued */
        int64_t tick_at_ns, said_at_ns;
        int metrics_fd;        /* the metrics file's claim, or -1 (metrics_claim) */
        int64_t start_s;       /* the run's start, Unix time, for the metrics file */
        int64_t metrics_at_ns; /* when the metrics file was last written */
};

/* While a run transfers, how often its metrics file is written again with the figures so far. */
#define METRICS_EVERY_NS (10 * 1000000000ll)

static void metrics_out(const struct fill_opts *o, int claim_fd, const struct run_edge *res,
                        size_t n, int64_t start_s, int rc, bool running);

/* Without a window, how long control and an edge's listing are retried (survey.h). */
#define RETRY_NO_WINDOW_S 600

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
        (void)sig;
        stop_flag = 1;
}

static void install_signals(void)
{
        struct sigaction sa = {.sa_handler = on_signal};
        sigemptyset(&sa.sa_mask);
        (void)sigaction(SIGINT, &sa, NULL);
        (void)sigaction(SIGTERM, &sa, NULL);
        /* A reader of the progress that goes away (`| head`) must not end the run in the
         * middle, leaving its journal unfinished: the output is lost, the run goes on. */
        (void)signal(SIGPIPE, SIG_IGN);
}

static void emit_json(json_t *o)
{
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (s) {
                printf("%s\n", s);
                fflush(stdout);
        }
        free(s);
        json_decref(o);
}

/* Inside its window (or none)? Sets *ret_wait to the seconds until it opens. */
static bool in_window(struct run_edge *re, int64_t *ret_wait)
{
        int64_t wait = 0, left = 0;
        bool in = !re->has_window || window_check(&re->w, re->tz, window_clock(), &wait, &left);
        *ret_wait = wait;
        return in;
}

/* Whether re's zone is unknown here: the edge then ends with rc, saying why. */
static bool tz_refused(struct run_edge *re, int rc)
{
        if (window_tz_ok(re->tz))
                return false;
        snprintf(re->s.err, sizeof(re->s.err),
                 "unknown time zone \"%.200s\" (no such zone file under /usr/share/zoneinfo): "
                 "the window cannot be placed",
                 re->tz);
        re->state = E_ERROR;
        re->rc = rc;
        return true;
}

/*
 * How long a failure to get re's plan or listing is retried: until its window next closes
 * (in re->tz: before the plan arrives a zone given only by the plan is not known, and the
 * local one stands in); outside the window with --outside-window exit, not at all (the run
 * exits 4 there anyway); without a window, or with an all-day one, RETRY_NO_WINDOW_S. An
 * all-day window never closes: the end it reports is the next midnight, which would cut the
 * retries short by the time of day.
 */
static void retry_set(struct run_edge *re)
{
        int64_t wait = 0, left = 0, secs = RETRY_NO_WINDOW_S;

        if (re->has_window && !window_all_day(&re->w)) {
                int len = re->w.end_min > re->w.start_min ? re->w.end_min - re->w.start_min
                                                          : re->w.end_min + 1440 - re->w.start_min;
                if (window_check(&re->w, re->tz, window_clock(), &wait, &left))
                        secs = left > 0 ? left : (int64_t)len * 60;
                else
                        secs = re->wait_mode ? wait + (int64_t)len * 60 : 0;
        }
        re->retry = (struct survey_retry){
            .deadline_ns = secs > 0 ? mono_ns() + secs * 1000000000ll : 0, .stop = &stop_flag};
}

static enum transfer_gate gate_eval(struct run_edge *re)
{
        int64_t wait;

        if (in_window(re, &wait)) {
                if (re->closed)
                        return TRANSFER_STOP;
                re->opened = true;
                return TRANSFER_GO;
        }
        if (re->opened)
                re->closed = true; /* it closed during the run: finish what is in flight */
        return !re->closed && re->wait_mode ? TRANSFER_WAIT : TRANSFER_STOP;
}

/* Asked on every turn of the transfer loop; the zone lookup behind it is not free, and a
 * window is minutes wide, so look at the clock at most every 200 ms. */
static enum transfer_gate gate(void *ud)
{
        struct run_edge *re = ud;
        int64_t now = mono_ns();

        if (!re->has_window)
                return TRANSFER_GO;
        if (re->gate_at_ns && now - re->gate_at_ns < 200000000ll)
                return re->gate_last;
        re->gate_at_ns = now;
        re->gate_last = gate_eval(re);
        return re->gate_last;
}

/*
 * The victims that make room for queue[i]: transfer_run deletes them just before it sends it,
 * once its edge's gate said GO. A run the window, a signal or errors cut short has deleted
 * only what the objects it started needed.
 */
static size_t victims(void *ud, size_t i, const struct held_obj *const **ret)
{
        const struct run_edge *re = ud;
        const struct diff_item *it = re->queue_items[i];

        *ret = re->s.diff.evict + it->evict_first;
        return it->n_evict;
}

/* Append id to a comma-separated list in buf (cap bytes), ending it with "..." when full. */
static void list_add(char *buf, size_t cap, const char *id)
{
        size_t len = strlen(buf);
        int n = snprintf(buf + len, cap - len, "%s%s", len ? ", " : "", id);

        if (n < 0 || (size_t)n >= cap - len)
                memcpy(buf + cap - 4, "...", 4);
}

/* A transfer waiting for its turn at a low cap longer than this risks its upload: an edge
 * ends one whose body stops for its limits.send_timeout (30 s by default). */
#define SLOW_TURN_S 10.0

/*
 * The defaults are any hour and no cap: fine for a test bench, not for an edge serving its
 * peak. Say so, loudly, for each edge that got neither from the config or the flags; and for
 * a cap so low for its parallel transfers that each waits long for its next turn.
 */
static void warn_defaults(const struct fill_opts *o)
{
        char no_window[256] = "", no_rate[256] = "";

        for (size_t i = 0; i < o->n_edges; i++) {
                const struct fill_edge_cfg *e = &o->edges[i];
                uint64_t rate = opts_edge_rate(o, e);
                unsigned par = opts_edge_parallel(o, e);
                uint64_t chunk = ratecap_chunk(rate);
                double turn_s = rate ? (double)par * (double)chunk * 8 / (double)rate : 0;

                if (!opts_edge_window(o, e))
                        list_add(no_window, sizeof(no_window), e->id);
                if (!opts_edge_rate_set(o, e))
                        list_add(no_rate, sizeof(no_rate), e->id);
                if (turn_s > SLOW_TURN_S) {
                        char cap[32];

                        log_warn("WARNING: %s: %u transfers share a %s cap, so each waits about "
                                 "%.0f s between its %.1f KiB turns; an edge drops an upload that "
                                 "waits past its send_timeout (30 s by default): lower parallel "
                                 "or raise rate",
                                 e->id, par, fill_cfg_rate_format(rate, cap, sizeof(cap)), turn_s,
                                 (double)chunk / 1024);
                }
        }
        if (no_window[0])
                log_warn("WARNING: no off-peak window for %s: pushing at any hour, peak included "
                         "(set window: in the config or --window HH:MM-HH:MM; 00:00-24:00 means "
                         "any hour)",
                         no_window);
        if (no_rate[0])
                log_warn("WARNING: no rate cap for %s: pushing as fast as the origin and the edge "
                         "allow (set rate: in the config or --rate, e.g. 2Gbit; unlimited means no "
                         "cap)",
                         no_rate);
}

/*
 * One run per edge at a time: two would each take the whole rate cap and journal every
 * commit twice. Held from before the survey to the end of the run.
 */
static int lock_edge(const struct fill_opts *o, struct run_edge *re)
{
        char path[4200];
        int r = journal_lock(opts_state_path(o, re->s.cfg->id, ".lock", path, sizeof(path)),
                             &re->lock_fd);

        if (r == -EBUSY)
                snprintf(re->s.err, sizeof(re->s.err),
                         "another sluice-fill is filling %s (it holds the lock %.400s)",
                         re->s.cfg->id, path);
        else if (r < 0)
                snprintf(re->s.err, sizeof(re->s.err), "%.400s: %s", path, strerror(-r));
        return r;
}

/*
 * Open the edge's journal for the run. One that does not parse (a line damaged by hand or on
 * disk) is moved aside to <path>.corrupt, with a warning, and a fresh one is started: the
 * edge's listing, not the journal, says what to send, so the run loses only the reports of
 * objects an earlier run committed and the edge no longer holds ("lost").
 */
static int open_journal(const struct fill_opts *o, struct run_edge *re, char *path, size_t cap)
{
        char aside[4300], why[256] = "";
        int r = journal_open(opts_journal_path(o, re->s.cfg->id, path, cap), true, &re->journal,
                             why, sizeof(why));

        if (r != -EINVAL)
                goto out;
        snprintf(aside, sizeof(aside), "%s.corrupt", path);
        if (rename(path, aside) < 0) {
                r = -errno;
                snprintf(re->s.err, sizeof(re->s.err), "%.400s, %s; cannot move it aside: %s", path,
                         why, strerror(-r));
                return r;
        }
        log_warn("%s: journal %s, %s: moved aside to %s; starting a new journal (the edge's "
                 "listing says what to send)",
                 re->s.cfg->id, path, why, aside);
        r = journal_open(path, true, &re->journal, why, sizeof(why));
out:
        if (r < 0)
                snprintf(re->s.err, sizeof(re->s.err), "%.400s: %s", path,
                         r == -EINVAL ? why : strerror(-r));
        return r;
}

static int prepare_edge(const struct fill_opts *o, struct run_edge *re, struct progress *p)
{
        char path[4200];
        int r;

        r = open_journal(o, re, path, sizeof(path));
        if (r < 0)
                return r;
        /* Deletes happen object by object, as each is started (victims), so only inside the
         * edge's own window and only for what the run gets to send. What the journal holds
         * is read before the run begins in it: beginning after an ended run starts afresh. */
        re->queue = calloc(re->s.diff.n + 1, sizeof(*re->queue));
        re->queue_items = calloc(re->s.diff.n + 1, sizeof(*re->queue_items));
        if (!re->queue || !re->queue_items)
                return -ENOMEM;
        for (size_t i = 0; i < re->s.diff.n; i++) {
                const struct diff_item *it = &re->s.diff.items[i];
                if (it->state != DIFF_ADD && it->state != DIFF_REPLACE)
                        continue; /* held, no room, or beyond --limit */
                if (journal_committed(re->journal, it->obj->key, it->obj->key_len, it->obj->sha256))
                        progress_event(p, "lost", re->s.cfg->id, it->obj->key, it->obj->size,
                                       "committed-earlier",
                                       "committed by an earlier run but no longer on the edge; "
                                       "sending again");
                re->queue_items[re->n_queue] = it;
                re->queue[re->n_queue++] = it->obj;
        }
        r = journal_run_begin(re->journal, (int64_t)window_clock(), re->s.plan.generated);
        if (r < 0)
                snprintf(re->s.err, sizeof(re->s.err), "%.400s: %s", path, strerror(-r));
        return r;
}

static void *survey_thread(void *ud)
{
        struct run_edge *re = ud;
        int r;

        if (re->step == STEP_PLAN)
                r = survey_load(&re->s, re->o, re->s.cfg, false, &re->retry);
        else if (re->step == STEP_HOLD)
                r = survey_hold(&re->s, re->o, &re->retry);
        else
                r = survey_refresh(&re->s, re->o, &re->retry);
        re->step_r = r;
        __atomic_store_n(&re->step_done, 1, __ATOMIC_RELEASE);
        return NULL;
}

/* Start step of re's survey in its thread. Returns 0, or -errno with re ended (E_ERROR). */
static int step_start(struct run_edge *re, enum survey_step step)
{
        int r;

        re->step = step;
        re->step_done = 0;
        r = pthread_create(&re->thread, NULL, survey_thread, re);
        if (r == 0)
                return 0;
        re->step = STEP_NONE;
        snprintf(re->s.err, sizeof(re->s.err), "cannot start its survey: %s", strerror(r));
        re->state = E_ERROR;
        re->rc = FILL_EXIT_ERROR;
        return -r;
}

static void step_join(struct run_edge *re)
{
        if (re->step == STEP_NONE)
                return;
        (void)pthread_join(re->thread, NULL);
        re->step = STEP_NONE;
}

/* Put re's objects on the transfer loop (run.pes: its progress after the others'). */
static int queue_edge(struct run *run, struct run_edge *re)
{
        struct progress_edge *pe = &run->pes[run->prog->n];
        int r = prepare_edge(run->o, re, run->prog);

        if (r < 0)
                return r;
        *pe = (struct progress_edge){.id = re->s.cfg->id};
        for (size_t k = 0; k < re->n_queue; k++) {
                pe->objects_total++;
                pe->bytes_total += re->queue[k]->size;
        }
        re->te = re->slot;
        re->te->bearer = re->s.bearer;
        re->te->queue = re->queue;
        re->te->n_queue = re->n_queue;
        re->te->journal = re->journal;
        re->te->prog = pe;
        run->prog->n++;
        return 0;
}

/*
 * On the transfer loop's thread: move re on once its survey's step ended. After the plan, a
 * zone only the plan gives is checked and the retries' end placed in it, and the edge is
 * listed; once listed, inside its window it is queued, outside it ends (exit 4) or, waiting
 * for the window, is listed again when it opens and then queued. Clears re->slot->pending
 * once the edge is queued or ended.
 */
static void advance(struct run *run, struct run_edge *re)
{
        int64_t wait;

        if (re->state != E_ACTIVE || !re->slot->pending)
                return;
        if (re->step != STEP_NONE) {
                enum survey_step step = re->step;

                if (!__atomic_load_n(&re->step_done, __ATOMIC_ACQUIRE))
                        return;
                step_join(re);
                if (re->step_r < 0) {
                        re->state = E_ERROR;
                        re->rc = re->s.rc;
                        goto ended;
                }
                if (step == STEP_PLAN) {
                        /* A zone only the plan gave that is unknown here is control's fault,
                         * as any answer that is not a plan (exit 1). */
                        if (!re->tz && re->s.plan.tz) {
                                re->tz = re->s.plan.tz;
                                if (re->has_window && tz_refused(re, FILL_EXIT_ERROR))
                                        goto ended;
                                retry_set(re);
                        }
                        if (step_start(re, STEP_HOLD) < 0)
                                goto ended;
                        return;
                }
                re->listed = true;
        }
        if (!re->listed)
                return;
        if (!in_window(re, &wait)) {
                if (!re->wait_mode) {
                        re->state = E_OUTSIDE;
                        re->rc = FILL_EXIT_WINDOW;
                        goto ended;
                }
                re->waited = true;
                return;
        }
        if (re->waited) {
                /* Its listing is from before the wait: what the edge got meanwhile (a client
                 * fill, another run) is not sent again. */
                re->waited = re->listed = false;
                retry_set(re);
                if (step_start(re, STEP_REFRESH) < 0)
                        goto ended;
                return;
        }
        if (queue_edge(run, re) < 0) {
                re->state = E_ERROR;
                re->rc = FILL_EXIT_ERROR;
        }
ended:
        re->slot->pending = false;
}

/*
 * While no edge is at work (being surveyed, or sending in its window) and some wait for their
 * windows, say how long until the first opens: at once, then once a minute.
 */
static void say_waiting(struct run *run, int64_t now)
{
        int64_t soonest = -1, wait;

        for (size_t i = 0; i < run->n; i++) {
                struct run_edge *re = &run->res[i];

                if (re->state != E_ACTIVE)
                        continue;
                if (re->te && (re->te->next < re->te->n_queue || re->te->in_flight))
                        return;
                if (!re->slot || !re->slot->pending)
                        continue;
                if (re->step != STEP_NONE || !re->waited)
                        return;
                (void)in_window(re, &wait);
                if (soonest < 0 || wait < soonest)
                        soonest = wait;
        }
        if (soonest < 0) {
                run->said_at_ns = 0;
                return;
        }
        if (run->said_at_ns && now - run->said_at_ns < 60 * 1000000000ll)
                return;
        run->said_at_ns = now;
        if (run->prog->mode == PROGRESS_JSON) {
                emit_json(json_pack("{s:s,s:I}", "event", "waiting", "seconds",
                                    (json_int_t)soonest));
        } else {
                progress_clear(run->prog);
                fprintf(stderr, "sluice-fill: outside the window; waiting %lld s\n",
                        (long long)soonest);
        }
}

/* transfer_opts.tick: every 100 ms at most, for the clock lookups behind the windows. */
static void advance_all(void *ud)
{
        struct run *run = ud;
        int64_t now = mono_ns();

        if (run->tick_at_ns && now - run->tick_at_ns < 100000000ll)
                return;
        run->tick_at_ns = now;
        for (size_t i = 0; i < run->n; i++)
                if (run->res[i].slot)
                        advance(run, &run->res[i]);
        say_waiting(run, now);
        if (run->metrics_fd >= 0 && now - run->metrics_at_ns >= METRICS_EVERY_NS) {
                run->metrics_at_ns = now;
                metrics_out(run->o, run->metrics_fd, run->res, run->n, run->start_s, 0, true);
        }
}

static void report_edge(const struct fill_opts *o, struct run_edge *re, struct progress *p)
{
        const char *id = re->s.cfg->id;
        struct transfer_edge *te = re->te;

        if (p->mode == PROGRESS_JSON || o->json) {
                json_t *j = json_object();
                json_object_set_new(j, "event", json_string("done"));
                json_object_set_new(j, "edge", json_string(id));
                json_object_set_new(j, "exit", json_integer(re->rc));
                json_object_set_new(j, "queued", json_integer((json_int_t)re->n_queue));
                if (te) {
                        json_object_set_new(j, "committed",
                                            json_integer((json_int_t)te->committed));
                        json_object_set_new(j, "refused", json_integer((json_int_t)te->refused));
                        json_object_set_new(j, "failed", json_integer((json_int_t)te->failed));
                        json_object_set_new(j, "bytes",
                                            json_integer((json_int_t)te->prog->bytes_done));
                }
                if (re->state == E_OUTSIDE)
                        json_object_set_new(j, "outside_window", json_true());
                if (re->s.err[0])
                        json_object_set_new(j, "error", json_string(re->s.err));
                emit_json(j);
                return;
        }
        if (re->state == E_ERROR)
                fprintf(stderr, "%s: error: %s\n", id, re->s.err);
        else if (re->state == E_OUTSIDE)
                fprintf(stderr, "%s: outside the window, nothing done\n", id);
        else if (!te)
                fprintf(stderr, "%s: stopped before anything was sent (exit %d)\n", id, re->rc);
        else
                fprintf(stderr, "%s: %llu committed, %llu refused, %llu failed of %zu (exit %d)\n",
                        id, (unsigned long long)te->committed, (unsigned long long)te->refused,
                        (unsigned long long)te->failed, re->n_queue, re->rc);
}

/*
 * Claim metrics_file for this run, when one is set: the fd that holds it, or -1 (none set, a
 * dry run, or another run reporting there: then said, and this run writes no figures).
 */
static int metrics_claim(const struct fill_opts *o)
{
        int fd = -1, r;

        if (!o->cfg.metrics_file || o->dry_run)
                return -1;
        r = metrics_file_claim(o->cfg.metrics_file, &fd);
        if (r == -EBUSY)
                log_warn("metrics file %s: another sluice-fill run reports there (it holds "
                         "%s.lock); this run's figures are not written",
                         o->cfg.metrics_file, o->cfg.metrics_file);
        else if (r < 0)
                log_warn("metrics file %s: %s (its lock %s.lock); the run goes on without it",
                         o->cfg.metrics_file, strerror(-r), o->cfg.metrics_file);
        return r < 0 ? -1 : fd;
}

/* The run's figures to metrics_file, when this run holds it (claim_fd, from metrics_claim; a
 * failure is said, never fatal). While running, those of the edges queued so far (res given:
 * on the transfer loop's thread, which alone moves their counts), without exit statuses. */
static void metrics_out(const struct fill_opts *o, int claim_fd, const struct run_edge *res,
                        size_t n, int64_t start_s, int rc, bool running)
{
        struct metrics_edge *me = NULL;
        struct metrics_run mr = {.running = running, .start_s = start_s, .exit_status = rc};
        size_t k = 0;
        int r;

        if (claim_fd < 0)
                return;
        if (!running)
                mr.end_s = (int64_t)time(NULL);
        me = res ? calloc(n + 1, sizeof(*me)) : NULL;
        for (size_t i = 0; me && i < n; i++) {
                const struct run_edge *re = &res[i];
                const struct transfer_edge *te = re->te;

                if (running && !te)
                        continue; /* not queued yet: nothing to count */
                me[k] = (struct metrics_edge){
                    .id = o->edges[i].id,
                    .exit_status = re->reported ? re->rc : rc,
                    .queued = re->n_queue,
                };
                if (te) {
                        me[k].committed = te->committed;
                        me[k].refused = te->refused;
                        me[k].failed = te->failed;
                        me[k].bytes_committed = te->prog->bytes_done;
                        me[k].bytes_moved = te->origin_bytes;
                }
                k++;
        }
        mr.edges = me;
        mr.n_edges = me ? k : 0;
        r = metrics_file_write(o->cfg.metrics_file, &mr);
        if (r < 0)
                log_warn("metrics file %s: %s; the run goes on without it", o->cfg.metrics_file,
                         strerror(-r));
        free(me);
}

/*
 * run --dry-run: each edge surveyed in turn (nothing is sent, so none waits for another's
 * transfers), then what a run would send and delete. Returns the exit status.
 */
static int dry_run(const struct fill_opts *o, struct run_edge *res, size_t n)
{
        int rc = FILL_EXIT_OK;

        for (size_t i = 0; i < n && !stop_flag; i++) {
                struct run_edge *re = &res[i];

                if (re->state != E_ACTIVE)
                        continue;
                retry_set(re);
                if (survey_load(&re->s, o, re->s.cfg, false, &re->retry) < 0) {
                        re->state = E_ERROR;
                        re->rc = re->s.rc;
                        continue;
                }
                if (!re->tz && re->s.plan.tz) {
                        re->tz = re->s.plan.tz;
                        if (re->has_window && tz_refused(re, FILL_EXIT_ERROR))
                                continue;
                        retry_set(re);
                }
                if (survey_hold(&re->s, o, &re->retry) < 0) {
                        re->state = E_ERROR;
                        re->rc = re->s.rc;
                }
        }
        if (stop_flag)
                return FILL_EXIT_INTERRUPTED;
        for (size_t i = 0; i < n; i++) {
                struct run_edge *re = &res[i];
                int64_t wait = 0;
                bool in = re->state == E_ACTIVE && in_window(re, &wait);

                if (re->state == E_ACTIVE && !re->wait_mode && !in) {
                        re->state = E_OUTSIDE;
                        re->rc = FILL_EXIT_WINDOW;
                }
                if (re->state == E_ERROR) {
                        fprintf(stderr, "sluice-fill: %s\n", re->s.err);
                } else if (o->json) {
                        diff_print_json(stdout, re->s.cfg->id, &re->s.diff, true);
                } else {
                        printf("dry run: nothing is sent or deleted\n");
                        diff_print_table(stdout, re->s.cfg->id, &re->s.diff, true);
                        if (re->state == E_OUTSIDE || !in)
                                printf("  outside the window: the run would %s\n",
                                       re->wait_mode ? "wait" : "exit (status 4)");
                }
                rc = fill_exit_worse(rc, re->state == E_ACTIVE && !in && !re->wait_mode
                                             ? FILL_EXIT_WINDOW
                                             : re->rc);
        }
        return rc;
}

int run_cmd(const struct fill_opts *o)
{
        size_t n = o->n_edges;
        struct run_edge *res = calloc(n + 1, sizeof(*res));
        struct transfer_edge *tes = calloc(n + 1, sizeof(*tes));
        struct progress_edge *pes = calloc(n + 1, sizeof(*pes));
        struct transfer_edge *active = calloc(n + 1, sizeof(*active));
        struct progress prog = {0};
        bool wait_mode = strcmp(o->cfg.outside, "wait") == 0;
        size_t n_active = 0;
        int64_t start_s = (int64_t)time(NULL);
        int rc = FILL_EXIT_OK, r, claim_fd = -1;

        if (!res || !tes || !pes || !active) {
                fprintf(stderr, "sluice-fill: out of memory\n");
                rc = FILL_EXIT_ERROR;
                goto out;
        }
        install_signals();
        fetch_stop_watch(&stop_flag);
        warn_defaults(o);
        claim_fd = metrics_claim(o);
        metrics_out(o, claim_fd, NULL, 0, start_s, rc, true);
        /* Every event's t counts from here, the transfers' included (below). */
        progress_init(&prog, o->dry_run ? PROGRESS_NONE : o->progress, o->progress_interval_ms, pes,
                      0, mono_ns());

        for (size_t i = 0; i < n; i++)
                res[i].lock_fd = -1;
        for (size_t i = 0; i < n && !stop_flag; i++) {
                struct run_edge *re = &res[i];
                const char *win = opts_edge_window(o, &o->edges[i]);

                re->o = o;
                re->wait_mode = wait_mode;
                re->s.cfg = &o->edges[i];
                re->tz = opts_edge_tz(o, &o->edges[i]);
                if (!o->dry_run && lock_edge(o, re) < 0) {
                        re->state = E_ERROR;
                        re->rc = FILL_EXIT_ERROR;
                        continue;
                }
                if (win) {
                        if (window_parse(win, &re->w) < 0) {
                                snprintf(re->s.err, sizeof(re->s.err), "bad window \"%s\"", win);
                                re->state = E_ERROR;
                                re->rc = FILL_EXIT_USAGE;
                                continue;
                        }
                        re->has_window = true;
                }
                /* A zone given here (flag or file) is checked, with a window or without (as
                 * the file's are), and the window placed, before anything is asked: outside
                 * it with --outside-window exit the edge is skipped, exit 4, whether or not
                 * control and the edge would answer. */
                if (re->tz && tz_refused(re, FILL_EXIT_USAGE))
                        continue;
                if (re->has_window && re->tz) {
                        int64_t wait;

                        if (!wait_mode && !o->dry_run && !in_window(re, &wait)) {
                                re->state = E_OUTSIDE;
                                re->rc = FILL_EXIT_WINDOW;
                                continue;
                        }
                }
        }
        if (stop_flag) {
                rc = FILL_EXIT_INTERRUPTED;
                goto out;
        }
        if (o->dry_run) {
                rc = dry_run(o, res, n);
                goto out;
        }

        /*
         * Each edge's survey (plan, listing, their retries) runs in a thread of its own and
         * its transfers start as soon as it is in, whatever the other edges' are at: one
         * whose control or listing is retried until its window closes holds up no other.
         * Until then its place on the transfer loop is pending.
         */
        window_tz_pin();
        for (size_t i = 0; i < n; i++) {
                struct run_edge *re = &res[i];

                if (re->state != E_ACTIVE)
                        continue;
                re->slot = &active[n_active++];
                *re->slot = (struct transfer_edge){
                    .id = re->s.cfg->id,
                    .admin_url = re->s.cfg->admin_url,
                    .parallel = opts_edge_parallel(o, re->s.cfg),
                    .rate_bps = opts_edge_rate(o, re->s.cfg),
                    .gate = gate,
                    .gate_ud = re,
                    .victims = victims,
                    .pending = true,
                };
                retry_set(re);
                if (step_start(re, STEP_PLAN) < 0)
                        re->slot->pending = false;
        }

        {
                struct run run = {.o = o, .res = res, .n = n, .prog = &prog, .pes = pes,
                                  .metrics_fd = claim_fd, .start_s = start_s,
                                  .metrics_at_ns = mono_ns()};
                int64_t start = prog.start_ns;

                progress_init(&prog, o->progress, o->progress_interval_ms, pes, 0, mono_ns());
                prog.start_ns = start;
                struct transfer_opts topts = {.retries = (unsigned)o->cfg.retries,
                                              .connect_timeout_ms = 10000,
                                              .stall_timeout_ms = (long)o->cfg.stall_timeout_ms,
                                              .delete_timeout_ms = (long)o->cfg.timeout_ms,
                                              .progress = &prog,
                                              .stop = &stop_flag,
                                              .tick = advance_all,
                                              .tick_ud = &run};
                r = n_active ? transfer_run(active, n_active, &topts) : 0;
                /* The loop ended early (a signal, libcurl failing): surveys still at work
                 * give up within a second of the flag (survey.h, fetch.h). */
                if (r < 0)
                        stop_flag = 1;
                for (size_t i = 0; i < n; i++)
                        step_join(&res[i]);
                progress_finish(&prog, mono_ns());
        }

        for (size_t i = 0; i < n; i++) {
                struct run_edge *re = &res[i];
                struct transfer_edge *te = re->te;

                if (re->state == E_ACTIVE && !te) {
                        /* Stopped while it was surveyed or waited for its window. */
                        re->rc = r == -EINTR ? FILL_EXIT_INTERRUPTED : FILL_EXIT_ERROR;
                } else if (re->state == E_ACTIVE) {
                        bool finished = te->next >= te->n_queue && !te->in_flight;

                        if (r == -EINTR && !finished)
                                re->rc = FILL_EXIT_INTERRUPTED;
                        else if (te->fatal) {
                                re->rc = FILL_EXIT_ERROR;
                                snprintf(re->s.err, sizeof(re->s.err), "%s", te->fatal_msg);
                        } else if (r < 0 && r != -EINTR)
                                re->rc = FILL_EXIT_ERROR;
                        else if (te->refused || te->failed > te->failed_closed)
                                re->rc = FILL_EXIT_PARTIAL;
                        else if (te->failed_closed || te->next < te->n_queue)
                                re->rc = FILL_EXIT_WINDOW; /* the window closed before the end */
                        else
                                re->rc = FILL_EXIT_OK;
                        int jr = journal_run_end(re->journal, (int64_t)window_clock(), re->rc);
                        if (jr < 0)
                                log_warn("%s: journal: %s, ignoring", re->s.cfg->id, strerror(-jr));
                }
                report_edge(o, re, &prog);
                re->reported = true;
                rc = fill_exit_worse(rc, re->rc);
        }
out:
        /* Stopped before the transfers (a signal while control was retried or the window
         * awaited): every edge still says how it ended, as the output promises. */
        for (size_t i = 0; res && rc == FILL_EXIT_INTERRUPTED && !o->dry_run && i < n; i++) {
                struct run_edge *re = &res[i];

                if (re->reported)
                        continue;
                if (!re->s.cfg)
                        re->s.cfg = &o->edges[i];
                if (re->state == E_ACTIVE)
                        re->rc = FILL_EXIT_INTERRUPTED;
                report_edge(o, re, &prog);
                re->reported = true;
        }
        metrics_out(o, claim_fd, res, n, start_s, rc, false);
        if (claim_fd >= 0)
                close(claim_fd);
        for (size_t i = 0; res && i < n; i++) {
                survey_done(&res[i].s);
                journal_free(res[i].journal);
                free(res[i].queue);
                free(res[i].queue_items);
                if (res[i].lock_fd >= 0)
                        close(res[i].lock_fd);
        }
        free(res);
        free(tes);
        free(pes);
        free(active);
        return rc;
}
