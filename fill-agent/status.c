/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "diff.h"
#include "journal.h"
#include "status.h"
#include "survey.h"

static const char *when(int64_t t, char *buf, size_t cap)
{
        time_t tt = (time_t)t;
        struct tm tm;

        if (!t)
                return "-";
        gmtime_r(&tt, &tm);
        strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
        return buf;
}

int status_cmd(const struct fill_opts *o)
{
        int rc = FILL_EXIT_OK;

        for (size_t i = 0; i < o->n_edges; i++) {
                const struct fill_edge_cfg *e = &o->edges[i];
                struct journal_summary js = {.exit_code = -1};
                struct journal *j = NULL;
                struct survey s;
                char path[4200], a[32], b[32], why[256] = "", jerr[512] = "";
                bool live;
                int r;

                r = journal_open(opts_journal_path(o, e->id, path, sizeof(path)), false, &j, why,
                                 sizeof(why));
                if (r == 0)
                        journal_get_summary(j, &js);
                journal_free(j);
                if (r < 0) {
                        /* A journal that cannot be read is an error here, where it is the
                         * answer; run moves a corrupt one aside and starts afresh. */
                        snprintf(jerr, sizeof(jerr), "%.400s%s%s", path, r == -EINVAL ? ", " : ": ",
                                 r == -EINVAL ? why : strerror(-r));
                        rc = FILL_EXIT_ERROR;
                }
                /* Without admin access the edge's holdings cannot be known: the journal is
                 * the answer, and control is not asked for a plan nothing is compared with. */
                if (e->admin_url && e->admin_token_file) {
                        live = survey_load(&s, o, e, true, NULL) == 0;
                } else {
                        memset(&s, 0, sizeof(s));
                        snprintf(s.err, sizeof(s.err),
                                 "its admin API is not given (admin_url, admin_token_file)");
                        live = false;
                }
                if (!live)
                        rc = FILL_EXIT_ERROR;
                /* Planned and not held, whatever keeps it out (no room, --limit). */
                uint64_t miss_n = live ? s.diff.n - s.diff.held_objects : 0;
                uint64_t miss_b = live ? s.diff.add_bytes + s.diff.no_room_bytes +
                                             s.diff.over_limit_bytes
                                       : 0;
                if (o->json) {
                        json_t *x = json_object();
                        json_object_set_new(x, "edge", json_string(e->id));
                        json_object_set_new(x, "journal", json_string(path));
                        if (r < 0)
                                json_object_set_new(x, "journal_error", json_string(jerr));
                        json_object_set_new(x, "last_run_started", json_integer(js.started));
                        json_object_set_new(x, "last_run_ended", json_integer(js.ended));
                        json_object_set_new(x, "last_run_exit", json_integer(js.exit_code));
                        json_object_set_new(x, "last_run_resumed", json_boolean(js.resumed));
                        json_object_set_new(x, "committed", json_integer((json_int_t)js.committed));
                        json_object_set_new(x, "committed_bytes",
                                            json_integer((json_int_t)js.committed_bytes));
                        json_object_set_new(x, "refused", json_integer((json_int_t)js.refused));
                        if (live) {
                                json_object_set_new(x, "planned_objects",
                                                    json_integer((json_int_t)s.diff.n));
                                json_object_set_new(x, "held_objects",
                                                    json_integer((json_int_t)s.diff.held_objects));
                                json_object_set_new(x, "missing_objects",
                                                    json_integer((json_int_t)miss_n));
                                json_object_set_new(x, "missing_bytes",
                                                    json_integer((json_int_t)miss_b));
                                json_object_set_new(x, "coverage",
                                                    json_real(s.diff.coverage_before));
                        } else {
                                json_object_set_new(x, "error", json_string(s.err));
                        }
                        char *t = json_dumps(x, JSON_COMPACT);
                        if (t)
                                printf("%s\n", t);
                        free(t);
                        json_decref(x);
                } else {
                        printf("edge %s\n", e->id);
                        if (r < 0)
                                printf("  journal %s\n", jerr);
                        else if (!js.started)
                                printf("  no run recorded (%s)\n", path);
                        else
                                printf("  last run  started %s, %s%s\n",
                                       when(js.started, a, sizeof(a)),
                                       js.ended ? "ended " : "unfinished (a rerun resumes it)",
                                       js.ended ? when(js.ended, b, sizeof(b)) : "");
                        if (js.ended)
                                printf("  exit      %d\n", js.exit_code);
                        if (js.started)
                                printf("  committed %llu objects, %s; refused %llu\n",
                                       (unsigned long long)js.committed,
                                       diff_bytes_format(js.committed_bytes, a, sizeof(a)),
                                       (unsigned long long)js.refused);
                        if (live)
                                printf("  now       %llu of %zu planned objects held, %llu missing "
                                       "(%s); "
                                       "plan demand covered %.1f%%\n",
                                       (unsigned long long)s.diff.held_objects, s.diff.n,
                                       (unsigned long long)miss_n,
                                       diff_bytes_format(miss_b, a, sizeof(a)),
                                       s.diff.coverage_before * 100);
                        else
                                printf("  now       unknown: %s\n", s.err);
                }
                survey_done(&s);
        }
        return rc;
}
