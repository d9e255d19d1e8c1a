/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "log.h"
#include "mono-time.h"

#include "fetch.h"
#include "survey.h"

/*
 * Attempt n (0: the first) at what failed with r, s->err saying why. Returns 0 after waiting
 * for the next attempt; r when it is not worth retrying or no time is left (s->err then says
 * how many attempts were made); -EINTR when stopped.
 */
static int retry_wait(struct survey *s, const struct survey_retry *rt, const char *what, int r,
                      int64_t retry_after_s, unsigned n)
{
        int64_t delay_s = n < 6 ? (int64_t)1 << n : SURVEY_BACKOFF_MAX_S, end;

        if (!rt || (r != -EIO && r != -EAGAIN))
                return r;
        if (rt->stop && *rt->stop)
                return -EINTR;
        if (delay_s > SURVEY_BACKOFF_MAX_S)
                delay_s = SURVEY_BACKOFF_MAX_S;
        if (retry_after_s > 0)
                delay_s = retry_after_s < SURVEY_RETRY_AFTER_MAX_S ? retry_after_s
                                                                   : SURVEY_RETRY_AFTER_MAX_S;
        end = mono_ns() + delay_s * 1000000000ll;
        if (end > rt->deadline_ns) {
                if (n > 0) {
                        size_t len = strlen(s->err);
                        snprintf(s->err + len, sizeof(s->err) - len,
                                 " (gave up after %u attempts: no time left to retry)", n + 1);
                }
                return r;
        }
        log_warn("%s: %s: %s; retrying in %lld s", s->cfg->id, what, s->err, (long long)delay_s);
        mono_sleep_until(end, rt->stop);
        return rt->stop && *rt->stop ? -EINTR : 0;
}

int survey_load(struct survey *s, const struct fill_opts *o, const struct fill_edge_cfg *cfg,
                bool want_held, const struct survey_retry *rt)
{
        char *ctl_token = NULL, *secret = NULL;
        int r;

        memset(s, 0, sizeof(*s));
        s->cfg = cfg;
        if (!o->cfg.control) {
                snprintf(s->err, sizeof(s->err), "no control URL (--control or control:)");
                s->rc = FILL_EXIT_USAGE;
                return -EINVAL;
        }
        if (o->cfg.control_token_file) {
                r = fetch_token_read(o->cfg.control_token_file, &ctl_token);
                if (r < 0) {
                        snprintf(s->err, sizeof(s->err), "%s: %s", o->cfg.control_token_file,
                                 fetch_token_strerror(r));
                        s->rc = FILL_EXIT_USAGE;
                        return r;
                }
        }
        if (cfg->secret_file) {
                r = fetch_token_read(cfg->secret_file, &secret);
                if (r < 0) {
                        fetch_token_free(ctl_token);
                        snprintf(s->err, sizeof(s->err), "%s: %s", cfg->secret_file,
                                 fetch_token_strerror(r));
                        s->rc = FILL_EXIT_USAGE;
                        return r;
                }
        }
        for (unsigned n = 0;; n++) {
                int64_t retry_after = 0;
                r = plan_fetch(o->cfg.control, ctl_token, secret, secret ? strlen(secret) : 0,
                               cfg->id, (long)o->cfg.timeout_ms, &retry_after, &s->plan, s->err,
                               sizeof(s->err));
                if (r >= 0 || (r = retry_wait(s, rt, "fill plan", r, retry_after, n)) < 0)
                        break;
        }
        if (r == -EINTR) {
                snprintf(s->err, sizeof(s->err), "interrupted while asking for the fill plan");
                s->rc = FILL_EXIT_INTERRUPTED;
        } else if (r == -EACCES)
                /* Plans name unreleased titles: control answers them to its admin token, or to
                 * the edge itself, signed with its secret. */
                snprintf(s->err, sizeof(s->err),
                         "control refused the fill plan for %s (401): %s; sluice-fill needs "
                         "control's admin token (--control-token-file or control_token_file:) or "
                         "the edge's control secret (--secret-file or the edge's secret_file:)",
                         cfg->id,
                         ctl_token && secret ? "neither the control token nor the edge's "
                                               "secret was accepted"
                         : ctl_token         ? "the token in the control token file is not "
                                               "control's admin token"
                         : secret ? "the edge's secret was not accepted (not the one control "
                                    "holds for this edge, or the clocks differ)"
                                  : "no control token or edge secret was given");
        else if (r == -EPERM) {
                /* Control answers wrong credentials with 401: a 403 is something else saying
                 * no (a proxy in front of it, an access rule), and naming the plan's
                 * credentials would send the operator after the wrong file. */
                char why[sizeof(s->err)];

                memcpy(why, s->err, sizeof(why));
                snprintf(s->err, sizeof(s->err),
                         "control refused the fill plan for %s (403 Forbidden): %.250s; control "
                         "answers missing or wrong credentials with 401, so something in front "
                         "of it (a proxy or an access rule) forbids this request",
                         cfg->id, why);
        } else if (r == -EKEYREJECTED)
                s->rc = FILL_EXIT_USAGE; /* the secret file holds no usable secret */
        fetch_token_free(ctl_token);
        fetch_token_free(secret);
        if (r < 0) {
                if (s->rc == 0)
                        s->rc = FILL_EXIT_ERROR;
                return r;
        }
        s->have_plan = true;
        return want_held ? survey_hold(s, o, rt) : 0;
}

int survey_hold(struct survey *s, const struct fill_opts *o, const struct survey_retry *rt)
{
        const struct fill_edge_cfg *cfg = s->cfg;
        int r;

        if (!cfg->admin_url || !cfg->admin_token_file) {
                snprintf(s->err, sizeof(s->err),
                         "edge %s: needs admin_url and admin_token_file (--admin-url, "
                         "--admin-token-file)",
                         cfg->id);
                s->rc = FILL_EXIT_USAGE;
                return -EINVAL;
        }
        r = fetch_token_read(cfg->admin_token_file, &s->bearer);
        if (r < 0) {
                snprintf(s->err, sizeof(s->err), "%s: %s", cfg->admin_token_file,
                         fetch_token_strerror(r));
                s->rc = FILL_EXIT_USAGE;
                return r;
        }
        return survey_refresh(s, o, rt);
}

int survey_refresh(struct survey *s, const struct fill_opts *o, const struct survey_retry *rt)
{
        int r;

        if (s->have_diff)
                diff_done(&s->diff);
        if (s->have_held)
                holdings_done(&s->held);
        s->have_diff = s->have_held = false;
        for (unsigned n = 0;; n++) {
                int64_t retry_after = 0;
                r = holdings_fetch(s->cfg->admin_url, s->bearer, NULL, (unsigned)o->cfg.list_page,
                                   (long)o->cfg.timeout_ms, &retry_after, &s->held, s->err,
                                   sizeof(s->err));
                if (r >= 0 || (r = retry_wait(s, rt, "holdings", r, retry_after, n)) < 0)
                        break;
        }
        if (r == -EINTR) {
                snprintf(s->err, sizeof(s->err), "interrupted while asking for the holdings");
                s->rc = FILL_EXIT_INTERRUPTED;
                return r;
        }
        if (r < 0) {
                s->rc = FILL_EXIT_ERROR;
                return r;
        }
        s->have_held = true;
        r = diff_compute(&s->plan, &s->held, o->cfg.evict, o->limit, &s->diff);
        if (r < 0) {
                snprintf(s->err, sizeof(s->err), "out of memory");
                s->rc = FILL_EXIT_ERROR;
                return r;
        }
        s->have_diff = true;
        return 0;
}

void survey_done(struct survey *s)
{
        if (s->have_diff)
                diff_done(&s->diff);
        if (s->have_held)
                holdings_done(&s->held);
        if (s->have_plan)
                plan_done(&s->plan);
        fetch_token_free(s->bearer);
        memset(s, 0, sizeof(*s));
}

int survey_cmd_plan(const struct fill_opts *o)
{
        int rc = FILL_EXIT_OK;

        for (size_t i = 0; i < o->n_edges; i++) {
                struct survey s;
                if (survey_load(&s, o, &o->edges[i], true, NULL) < 0) {
                        if (o->json) {
                                json_t *j =
                                    json_pack("{s:s,s:s}", "edge", o->edges[i].id, "error", s.err);
                                char *t = j ? json_dumps(j, JSON_COMPACT) : NULL;
                                if (t)
                                        printf("%s\n", t);
                                free(t);
                                json_decref(j);
                        }
                        fprintf(stderr, "sluice-fill: %s\n", s.err);
                        if (s.rc == FILL_EXIT_USAGE || rc == FILL_EXIT_OK)
                                rc = s.rc;
                        survey_done(&s);
                        continue;
                }
                if (o->json)
                        diff_print_json(stdout, o->edges[i].id, &s.diff, o->verbose);
                else
                        diff_print_table(stdout, o->edges[i].id, &s.diff, o->verbose);
                survey_done(&s);
        }
        return rc;
}
